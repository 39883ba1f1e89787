//! `voxmark render PATH --view axial|coronal|sagittal ... -o OUT.png`: one MPR slice,
//! windowed, with the label overlay and orientation letters, rendered on the GPU (the same
//! renderer the desktop shell uses) without a window.

use crate::gpu::residency::{PackedU8Volume, ResidentVolume};
use crate::gpu::GpuContext;
use crate::io::nifti::read_nifti;
use crate::kernels::histogram::{auto_window, histogram_cpu, HistogramKernel, HistogramParams};
use crate::kernels::mpr::LabelStyle;
use crate::kernels::window_level::Preset;
use crate::render::annotate::draw_orientation;
use crate::render::png_out::write_png;
use crate::render::slice::{render_rgba_cpu, HostOverlays, Overlays, SliceOptions, SliceRenderer};
use crate::render::view::{ViewGeometry, ViewKind};
use crate::volume::labels::labels_for;
use crate::volume::{Volume, WindowPreset};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// GPU when an adapter is available, else CPU (with a warning).
    Auto,
    Gpu,
    Cpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Interp {
    Nearest,
    Linear,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A .nii / .nii.gz file, a DICOM file or a folder of DICOM files.
    pub path: PathBuf,
    /// Which plane of the voxel grid (chosen from the geometry, not the array order).
    #[arg(long, value_enum)]
    pub view: ViewKind,
    /// Slice index along the voxel axis normal to the view (default: the middle).
    #[arg(long)]
    pub slice: Option<usize>,
    /// Window width (real units); needs --level.
    #[arg(long, requires = "level", conflicts_with = "preset")]
    pub window: Option<f64>,
    /// Window centre/level (real units); needs --window.
    #[arg(long, requires = "window", allow_hyphen_values = true)]
    pub level: Option<f64>,
    /// Named window. Default: the file's own WindowCenter/Width, else auto (1st-99th percentile).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Label map on the same voxel grid, drawn over the image.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Label overlay opacity (0..1).
    #[arg(long, default_value_t = 0.5)]
    pub opacity: f32,
    /// Draw label outlines instead of filled labels.
    #[arg(long)]
    pub outline: bool,
    /// Interpolation of image values.
    #[arg(long, value_enum, default_value_t = Interp::Nearest)]
    pub interp: Interp,
    /// Crosshair through voxel i,j,k.
    #[arg(long, value_parser = parse_ijk)]
    pub crosshair: Option<[f64; 3]>,
    /// Output size WxH (default: 512 px on the longer side, physical aspect kept).
    #[arg(long, value_parser = parse_wh)]
    pub size: Option<[u32; 2]>,
    /// Leave out the orientation letters.
    #[arg(long)]
    pub no_letters: bool,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Output PNG.
    #[arg(short, long)]
    pub out: PathBuf,
}

fn parse_wh(s: &str) -> Result<[u32; 2], String> {
    let v: Vec<&str> = s.split(['x', 'X', ',']).collect();
    match v.as_slice() {
        [a, b] => match (a.trim().parse(), b.trim().parse()) {
            (Ok(w), Ok(h)) if w > 0 && h > 0 && w <= 16384 && h <= 16384 => Ok([w, h]),
            _ => Err(format!("expected WxH with 1..16384 each, got {s:?}")),
        },
        _ => Err(format!("expected WxH, got {s:?}")),
    }
}

fn parse_ijk(s: &str) -> Result<[f64; 3], String> {
    let v: Result<Vec<f64>, _> = s.split(',').map(|p| p.trim().parse::<f64>()).collect();
    match v {
        Ok(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
        _ => Err(format!("expected i,j,k, got {s:?}")),
    }
}

/// The window to use: explicit > preset > the file's own > auto from the histogram.
fn choose_window(
    a: &RenderArgs,
    vol: &Volume,
    gpu: Option<(&GpuContext, &ResidentVolume)>,
) -> anyhow::Result<(WindowPreset, &'static str)> {
    if let (Some(width), Some(center)) = (a.window, a.level) {
        return Ok((WindowPreset { center, width }, "explicit"));
    }
    if let Some(w) = a.preset.and_then(Preset::window) {
        return Ok((w, "preset"));
    }
    if a.preset.is_none() {
        if let Some(w) = vol.meta.window {
            return Ok((w, "file"));
        }
    }
    let (lo, hi) = vol.data.min_max();
    let p = HistogramParams::for_range(vol.grid.dims, vol.dtype(), lo, hi);
    let counts = match gpu {
        Some((ctx, rv)) => HistogramKernel::new(ctx, vol.dtype())?.run(ctx, &p, rv)?,
        None => histogram_cpu(&p, &vol.data),
    };
    Ok((auto_window(&p, &counts), "auto 1st-99th percentile"))
}

pub fn run(a: RenderArgs) -> anyhow::Result<()> {
    let name = a.out.to_string_lossy().to_lowercase();
    if !name.ends_with(".png") {
        anyhow::bail!("{}: output must end in .png", a.out.display());
    }
    let loaded = super::load_input(&a.path, a.series.clone())?;
    let vol = &loaded.volume;
    let labels = match &a.labels {
        Some(p) => {
            let mask = read_nifti(p)?;
            Some(labels_for(&mask, p, &vol.grid)?)
        }
        None => None,
    };
    let view = ViewGeometry::new(&vol.grid, a.view, a.slice, a.size)?;
    let style = labels.as_ref().map(|_| LabelStyle {
        opacity: a.opacity,
        outline: a.outline,
        ..LabelStyle::default()
    });
    let ctx = match a.backend {
        Backend::Cpu => None,
        Backend::Gpu => Some(GpuContext::new().context("--backend gpu")?),
        Backend::Auto => match GpuContext::new() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("voxmark: warning: {e}; rendering on the CPU");
                None
            }
        },
    };
    let mut rgba = match &ctx {
        Some(ctx) => {
            let rv = ResidentVolume::upload(ctx, vol.grid.dims, &vol.data)?;
            let rl = match &labels {
                Some(l) => Some(PackedU8Volume::upload(ctx, vol.grid.dims, l)?),
                None => None,
            };
            let gpu_mib =
                (rv.gpu_bytes() + rl.as_ref().map_or(0, |l| l.gpu_bytes())) as f64 / 1048576.0;
            eprintln!(
                "GPU memory: {gpu_mib:.1} MiB (volume{})",
                if rl.is_some() { " + labels" } else { "" }
            );
            let (window, source) = choose_window(&a, vol, Some((ctx, &rv)))?;
            eprintln!(
                "window: centre {} width {} ({source}); adapter {}",
                window.center,
                window.width,
                ctx.report().name
            );
            let opts = SliceOptions {
                window,
                linear: a.interp == Interp::Linear,
                labels: style,
                crosshair: a.crosshair,
            };
            SliceRenderer::new(ctx, vol.dtype())?.render_rgba(
                ctx,
                &rv,
                Overlays {
                    labels: rl.as_ref(),
                    preview: None,
                },
                &view,
                &opts,
            )?
        }
        None => {
            let (window, source) = choose_window(&a, vol, None)?;
            eprintln!(
                "window: centre {} width {} ({source}); CPU",
                window.center, window.width
            );
            let opts = SliceOptions {
                window,
                linear: a.interp == Interp::Linear,
                labels: style,
                crosshair: a.crosshair,
            };
            render_rgba_cpu(
                &vol.data,
                vol.grid.dims,
                HostOverlays {
                    labels: labels.as_deref(),
                    preview: None,
                },
                &view,
                &opts,
            )?
        }
    };
    let [w, h] = view.size;
    if !a.no_letters {
        draw_orientation(&mut rgba, w, h, &view.letters);
    }
    write_png(&a.out, &rgba, w, h)?;
    eprintln!(
        "wrote {} ({w}x{h}, {:?} slice {} of voxel axis {}, left/right/top/bottom {}/{}/{}/{})",
        a.out.display(),
        a.view,
        view.slice,
        view.axis_n,
        view.letters[0],
        view.letters[1],
        view.letters[2],
        view.letters[3]
    );
    Ok(())
}
