//! `voxmark stats PATH --labels MASK.nii.gz [--json]`: per-label statistics.

use clap::Args;
use std::path::PathBuf;
use voxmark_gpu::kernels::label_stats::{label_stats_cpu, LabelStatsKernel};
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_io::{load_volume, LoadOptions};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The image: .nii / .nii.gz, .nrrd / .nhdr, .mha / .mhd, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// Label map on the same grid.
    #[arg(long)]
    pub labels: PathBuf,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    #[arg(long)]
    pub json: bool,
    /// Where the statistics are computed (GPU: 8- and 16-bit volumes).
    #[arg(long, value_enum, default_value_t = super::BackendChoice::Auto)]
    pub backend: super::BackendChoice,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
}

pub fn run(a: StatsArgs) -> anyhow::Result<()> {
    let loaded = load_volume(
        &a.path,
        &LoadOptions {
            series: a.series.clone(),
        },
    )?;
    let image = &loaded.volume;
    let m = voxmark_io::label_file::read_label_map_with(&a.labels, &image.grid, a.resample.get())?;
    super::print_warnings(&m.warnings);
    let labels = m.labels;
    let ctx = a.backend.open()?;
    let t = std::time::Instant::now();
    let stats = match &ctx {
        Some(ctx) if LabelStatsKernel::supports(image.dtype()) => {
            let rv = ResidentVolume::upload(ctx, image.grid.dims, &image.data)?;
            let rl = PackedU8Volume::upload(ctx, image.grid.dims, &labels)?;
            let k = LabelStatsKernel::new(ctx, image.dtype())?;
            let t = std::time::Instant::now();
            let s = k.run(ctx, &image.grid, &rv, &rl)?;
            eprintln!(
                "statistics on {} in {:.2} ms (resident image and labels)",
                ctx.report().name,
                t.elapsed().as_secs_f64() * 1e3
            );
            s
        }
        Some(_) if a.backend == super::BackendChoice::Gpu => anyhow::bail!(
            "--backend gpu: GPU statistics need an 8- or 16-bit volume, this one is {}",
            image.dtype().name()
        ),
        _ => {
            let s = label_stats_cpu(image, &labels);
            eprintln!(
                "statistics on the CPU in {:.2} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
            s
        }
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "labels": stats }))?
        );
    } else {
        println!(
            "{:>5} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}  bbox",
            "label", "voxels", "mL", "mean", "std", "min", "max"
        );
        for s in &stats {
            println!(
                "{:>5} {:>12} {:>12.3} {:>10.2} {:>10.2} {:>10.1} {:>10.1}  {:?}",
                s.label, s.voxels, s.volume_ml, s.mean, s.std, s.min, s.max, s.bbox
            );
        }
    }
    Ok(())
}
