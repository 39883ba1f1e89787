//! `voxmark grow PATH --seed i,j,k ... (--lower L --upper U | --auto ...) -o MASK.nii.gz`.

use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use voxmark_gpu::kernels::region_grow::{
    confidence_range, region_grow_cpu, Connectivity, GrowRequest, RegionGrowParams,
};
use voxmark_gpu::kernels::region_grow_gpu::RegionGrowKernel;
use voxmark_gpu::residency::ResidentVolume;
use voxmark_gpu::GpuContext;
use voxmark_io::nifti::write_nifti;
use voxmark_volume::{Metadata, Volume, VoxelData};

#[derive(Debug, Args)]
pub struct GrowArgs {
    /// A .nii / .nii.gz, .nrrd / .nhdr or .mha / .mhd file, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// Seed voxel i,j,k in the input's index space (as `info` documents); repeatable.
    #[arg(long = "seed", required = true, value_parser = parse_seed)]
    pub seeds: Vec<[usize; 3]>,
    /// Lower threshold, inclusive, real units (HU for CT).
    #[arg(
        long,
        allow_hyphen_values = true,
        requires = "upper",
        conflicts_with = "auto"
    )]
    pub lower: Option<f64>,
    /// Upper threshold, inclusive, real units.
    #[arg(long, allow_hyphen_values = true, requires = "lower")]
    pub upper: Option<f64>,
    /// Choose the range from seed statistics (ITK ConfidenceConnected).
    #[arg(long, required_unless_present = "lower")]
    pub auto: bool,
    /// K in mean ± K·σ for --auto.
    #[arg(long, default_value_t = 2.5, requires = "auto")]
    pub multiplier: f64,
    /// Neighbourhood radius (voxels) around each seed for the initial statistics.
    #[arg(long, default_value_t = 1, requires = "auto")]
    pub radius: usize,
    /// Re-estimation rounds for --auto.
    #[arg(long, default_value_t = 4, requires = "auto")]
    pub iterations: u32,
    /// Voxel connectivity: 6 (faces), 18 (faces + edges) or 26 (faces + edges + corners).
    #[arg(long, default_value_t = 6, value_parser = parse_connectivity)]
    pub connectivity: u32,
    /// Label value written on grown voxels.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub label: u8,
    /// Restrict to the inclusive box i0,j0,k0,i1,j1,k1.
    #[arg(long, value_parser = parse_roi)]
    pub roi: Option<[usize; 6]>,
    #[arg(long, value_enum, default_value_t = super::BackendChoice::Auto)]
    pub backend: super::BackendChoice,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
    /// Output label map (.nii / .nii.gz) on the input's exact grid.
    #[arg(short, long)]
    pub out: PathBuf,
}

fn parse_connectivity(s: &str) -> Result<u32, String> {
    match s.trim() {
        "6" => Ok(6),
        "18" => Ok(18),
        "26" => Ok(26),
        _ => Err(format!("connectivity must be 6, 18 or 26, got {s:?}")),
    }
}

fn parse_seed(s: &str) -> Result<[usize; 3], String> {
    let v: Result<Vec<usize>, _> = s.split(',').map(|p| p.trim().parse::<usize>()).collect();
    match v {
        Ok(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
        _ => Err(format!("expected i,j,k (non-negative integers), got {s:?}")),
    }
}

pub(crate) fn parse_roi(s: &str) -> Result<[usize; 6], String> {
    let v: Result<Vec<usize>, _> = s.split(',').map(|p| p.trim().parse::<usize>()).collect();
    match v {
        Ok(v) if v.len() == 6 => Ok([v[0], v[1], v[2], v[3], v[4], v[5]]),
        _ => Err(format!("expected i0,j0,k0,i1,j1,k1, got {s:?}")),
    }
}

/// The chosen backend and, for the GPU, its context and resident volume.
enum Engine {
    Cpu,
    Gpu(Box<(GpuContext, ResidentVolume, RegionGrowKernel)>),
}

pub fn run(a: GrowArgs) -> anyhow::Result<()> {
    super::require_nifti_output(&a.out)?;
    let loaded = super::load_input(&a.path, a.series.clone())?;
    let vol = &loaded.volume;
    let dims = vol.grid.dims;
    let conn = Connectivity::from_number(a.connectivity)?;
    let base = GrowRequest {
        seeds: a.seeds.clone(),
        lower: a.lower.unwrap_or(0.0),
        upper: a.upper.unwrap_or(0.0),
        connectivity: conn,
        roi: a.roi,
        label: a.label,
    };
    // Validate seeds/ROI before any heavy work.
    RegionGrowParams::new(
        dims,
        vol.dtype(),
        &GrowRequest {
            lower: 0.0,
            upper: 0.0,
            ..base.clone()
        },
    )?;
    let engine = match a.backend.open_noting("growing", false)? {
        Some(ctx) => gpu_engine(ctx, vol)?,
        None => Engine::Cpu,
    };
    let t = Instant::now();
    let mut grow = |lower: f64, upper: f64| -> voxmark_volume::Result<Vec<u8>> {
        let req = GrowRequest {
            lower,
            upper,
            ..base.clone()
        };
        let p = RegionGrowParams::new(dims, vol.dtype(), &req)?;
        match &engine {
            Engine::Cpu => Ok(region_grow_cpu(&p, &vol.data, &req.seeds)),
            Engine::Gpu(g) => {
                let (ctx, rv, k) = &**g;
                let mask = k.run(ctx, &p, &req.seeds, rv, None)?;
                eprintln!("GPU dispatches: {}", k.last_dispatches.get());
                mask.download(ctx)
            }
        }
    };
    let (mask, range_note) = if a.auto {
        let (r, m) = confidence_range(
            &vol.data,
            dims,
            &a.seeds,
            a.multiplier,
            a.radius,
            a.iterations,
            &mut grow,
        )?;
        (
            m,
            format!(
                "auto range [{}, {}] (mean {:.3}, sigma {:.3}, {} re-estimations)",
                r.lower, r.upper, r.mean, r.sigma, r.iterations
            ),
        )
    } else {
        let (lo, hi) = (a.lower.unwrap_or(0.0), a.upper.unwrap_or(0.0));
        if lo > hi {
            anyhow::bail!("--lower {lo} is above --upper {hi}");
        }
        (grow(lo, hi)?, format!("range [{lo}, {hi}]"))
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let count = mask.iter().filter(|&&m| m != 0).count();
    let sp = vol.grid.spacing_mm();
    let ml = count as f64 * sp[0] * sp[1] * sp[2] / 1000.0;
    let backend = match &engine {
        Engine::Cpu => "CPU".to_string(),
        Engine::Gpu(g) => format!("GPU {}", g.0.report().name),
    };
    eprintln!("{range_note}; {count} voxels ({ml:.3} mL) grown in {ms:.1} ms on {backend}");
    for s in &a.seeds {
        let v = vol.value(s[0], s[1], s[2]);
        if mask[vol.grid.index(s[0], s[1], s[2])] == 0 {
            eprintln!(
                "voxmark: warning: seed {s:?} has value {v}, outside the range: it grows nothing"
            );
        }
    }
    if count == 0 {
        eprintln!("voxmark: warning: the result is empty");
    }
    let out = Volume::new(
        vol.grid,
        VoxelData::U8(mask),
        Metadata {
            format: "nifti".into(),
            description: "voxmark grow".into(),
            sform_code: vol.meta.sform_code,
            qform_code: vol.meta.qform_code,
            ..Default::default()
        },
    )?;
    // DICOM/phantom sources carry codes 1/1; NIfTI sources keep theirs (the grid is identical).
    let mut out = out;
    if vol.meta.format != "nifti" {
        out.meta.format = vol.meta.format.clone();
    }
    write_nifti(&a.out, &out)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

fn gpu_engine(ctx: GpuContext, vol: &Volume) -> anyhow::Result<Engine> {
    let rv = ResidentVolume::upload(&ctx, vol.grid.dims, &vol.data)?;
    let k = RegionGrowKernel::new(&ctx, vol.dtype())?;
    Ok(Engine::Gpu(Box::new((ctx, rv, k))))
}
