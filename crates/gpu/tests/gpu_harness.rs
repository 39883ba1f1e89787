//! The GPU harness works: an adapter is found (or the test fails under REQUIRE_GPU=1), a
//! compute dispatch matches its CPU reference, and validation errors become `Error::Gpu`.

use voxmark_testkit as common;

use voxmark_gpu::selftest::{selftest_cpu, selftest_gpu, SelftestParams};

#[test]
fn compute_dispatch_matches_cpu_reference() {
    let Some(ctx) = common::gpu() else { return };
    let report = ctx.report();
    eprintln!(
        "adapter: {} ({}, {})",
        report.name, report.backend, report.device_type
    );
    assert!(report.max_storage_buffer_binding_size >= 128 << 20);
    // More than 65535 workgroups of 256 forces the 2-D dispatch path.
    let n: usize = 65_536 * 256 + 1234;
    let input: Vec<i32> = (0..n as i32)
        .map(|i| i.wrapping_mul(2_654_435_761_u32 as i32))
        .collect();
    let params = SelftestParams {
        scale: -7,
        offset: 1024,
        count: n as u32,
        _pad: 0,
    };
    let gpu = selftest_gpu(&ctx, &params, &input).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gpu, selftest_cpu(&params, &input));
}

#[test]
fn validation_error_is_an_error_not_a_panic() {
    let Some(ctx) = common::gpu() else { return };
    let r = ctx.scoped("bad shader", || {
        ctx.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("broken"),
                source: wgpu::ShaderSource::Wgsl("fn main( {".into()),
            })
    });
    let err = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("bad shader"),
        "expected a GPU error, got {err:?}"
    );
}

#[test]
fn every_shader_compiles() {
    let Some(ctx) = common::gpu() else { return };
    for (name, src) in voxmark_gpu::shaders::ALL {
        for sample in ["i32", "u32", "f32"] {
            let wgsl = voxmark_gpu::shaders::prepare(src, sample);
            let r = ctx.scoped(name, || {
                ctx.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(wgsl.into()),
                    })
            });
            assert!(r.is_ok(), "{name} ({sample}): {:?}", r.err());
        }
    }
}
