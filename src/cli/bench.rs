//! `voxmark bench [PATH | --phantom 512x512x1024] [--ops load,wl,mpr,grow,paint,undo,3d]
//! [--backend gpu|cpu|both] [--json OUT.json]`: the end-to-end timing table.

use crate::bench::cases::{run_bench, BenchConfig};
use crate::bench::{format_breakdown, format_table, BenchBackend, BenchOp};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A volume to benchmark on (.nii/.nii.gz, DICOM file or folder); default: the phantom.
    pub path: Option<PathBuf>,
    /// Phantom size X,Y,Z (or XxYxZ), each up to 512,512,2048.
    #[arg(long, value_parser = super::phantom::parse_size, default_value = "512x512x512", conflicts_with = "path")]
    pub phantom: [usize; 3],
    /// Operations to time (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = BenchOp::ALL)]
    pub ops: Vec<BenchOp>,
    /// Which implementations to time (`both`: the GPU path only on a hardware adapter).
    #[arg(long, value_enum, default_value_t = BenchBackend::Both)]
    pub backend: BenchBackend,
    /// Timed runs per case (after one warm-up run; `load` uses at most 3).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// SeriesInstanceUID when PATH holds several series.
    #[arg(long)]
    pub series: Option<String>,
    /// Folder for the phantom file `load` reads (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Also write the rows as JSON (atomically).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let cfg = BenchConfig {
        path: a.path.clone(),
        dims: a.phantom,
        series: a.series.clone(),
        ops: a.ops.clone(),
        backend: a.backend,
        runs: a.runs,
        work_dir: a.work_dir.clone(),
    };
    let (rows, file) = run_bench(&cfg, |r| {
        eprintln!(
            "  {:<40} {:<4} {:>10.2} ms  {}",
            r.op, r.backend, r.median_ms, r.note
        );
    })?;
    let cpu = crate::bench::cpu_name();
    let gpus: Vec<&str> = rows
        .iter()
        .filter(|r| r.backend == "gpu")
        .map(|r| r.device.as_str())
        .take(1)
        .collect();
    println!("\nvoxmark {} bench", env!("CARGO_PKG_VERSION"));
    println!("cpu: {cpu}");
    if let Some(g) = gpus.first() {
        println!("gpu: {g}");
    }
    println!();
    print!("{}", format_table(&rows));
    let breakdown = format_breakdown(&rows);
    if !breakdown.is_empty() {
        print!("\n{breakdown}");
    }
    if let Some(p) = &a.json {
        let doc = serde_json::json!({
            "voxmark": env!("CARGO_PKG_VERSION"),
            "cpu": cpu,
            "gpu": gpus.first(),
            "input": file,
            "phantom": a.path.is_none(),
            "rows": rows,
        });
        let bytes = serde_json::to_vec_pretty(&doc)?;
        voxmark_volume::fs::atomic::write_atomically(p, |w| w.write_all(&bytes))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
