//! `voxmark gpu [--json]`: which adapter voxmark uses, its limits, and a compute self-test.

use clap::Args;
use voxmark_gpu::selftest::{selftest_cpu, selftest_gpu, SelftestParams};
use voxmark_gpu::GpuContext;

#[derive(Debug, Args)]
pub struct GpuArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: GpuArgs) -> anyhow::Result<()> {
    let ctx = GpuContext::new()?;
    let report = ctx.report();
    let input: Vec<i32> = (0..1_000_003).map(|i| i * 7 - 3_000_000).collect();
    let params = SelftestParams {
        scale: -3,
        offset: 1024,
        count: input.len() as u32,
        _pad: 0,
    };
    let ok = selftest_gpu(&ctx, &params, &input)? == selftest_cpu(&params, &input);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"adapter": report, "selftest_ok": ok})
        );
    } else {
        println!(
            "adapter:  {} ({}, {})",
            report.name, report.backend, report.device_type
        );
        println!("driver:   {}", report.driver);
        println!(
            "limits:   storage binding {} MiB, buffer {} MiB, 3D texture {} per side",
            report.max_storage_buffer_binding_size >> 20,
            report.max_buffer_size >> 20,
            report.max_texture_dimension_3d
        );
        println!("selftest: {}", if ok { "ok" } else { "MISMATCH" });
    }
    if !ok {
        anyhow::bail!("GPU self-test result differs from the CPU reference");
    }
    Ok(())
}
