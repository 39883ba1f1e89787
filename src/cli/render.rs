//! `voxmark render PATH --view axial|coronal|sagittal ... -o OUT.png`: one MPR slice,
//! windowed, with the label overlay and orientation letters, rendered on the GPU (the same
//! renderer the desktop shell uses) without a window.

use super::BackendChoice;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use voxmark_gpu::kernels::histogram::{
    auto_window, histogram_cpu, HistogramKernel, HistogramParams,
};
use voxmark_gpu::kernels::mpr::LabelStyle;
use voxmark_gpu::kernels::raycast::RenderMode;
use voxmark_gpu::kernels::transfer::TfPreset;
use voxmark_gpu::kernels::window_level::Preset;
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_render::annotate::draw_orientation;
use voxmark_render::png_out::write_png;
use voxmark_render::slice::{render_rgba_cpu, HostOverlays, Overlays, SliceOptions, SliceRenderer};
use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
use voxmark_volume::{Volume, WindowPreset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Interp {
    Nearest,
    Linear,
}

/// The view `render` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderView {
    Axial,
    Coronal,
    Sagittal,
    /// Ray-cast 3D view (--mode, --azimuth, --elevation, --zoom).
    #[value(name = "3d")]
    ThreeD,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A .nii / .nii.gz, .nrrd / .nhdr or .mha / .mhd file, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// A plane of the voxel grid (chosen from the geometry, not the array order), or 3d.
    #[arg(long, value_enum)]
    pub view: RenderView,
    /// 3D: maximum intensity projection, volume rendering, or label surfaces only.
    #[arg(long, value_enum, default_value_t = RenderMode::Dvr)]
    pub mode: RenderMode,
    /// 3D: camera azimuth in degrees (0 = anterior view, 90 = from the patient's left).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub azimuth: f64,
    /// 3D: camera elevation in degrees (90 = from above).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub elevation: f64,
    /// 3D: zoom (1 = the whole volume fits).
    #[arg(long, default_value_t = 1.0)]
    pub zoom: f64,
    /// 3D: cut the volume to the voxel box i0,j0,k0,i1,j1,k1 (inclusive).
    #[arg(long, value_parser = super::grow::parse_roi)]
    pub clip: Option<[usize; 6]>,
    /// Slice index along the voxel axis normal to the view (default: the middle).
    #[arg(long)]
    pub slice: Option<usize>,
    /// Window width (real units); needs --level.
    #[arg(long, requires = "level", conflicts_with = "preset")]
    pub window: Option<f64>,
    /// Window centre/level (real units); needs --window.
    #[arg(long, requires = "window", allow_hyphen_values = true)]
    pub level: Option<f64>,
    /// Named window (brain, subdural, stroke, lung, mediastinum, abdomen, liver, bone, auto),
    /// or for 3D DVR a transfer function (ct-bone, ct-soft-tissue, ct-vessels, mr-default).
    /// Default: the file's own window, else auto (1st-99th percentile); DVR: ct-bone for CT,
    /// mr-default otherwise.
    #[arg(long)]
    pub preset: Option<String>,
    /// Label map on the same voxel grid, drawn over the image.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// Label opacity (0..1; default 0.5 on slices, 1 in 3D).
    #[arg(long)]
    pub opacity: Option<f32>,
    /// Draw label outlines instead of filled labels.
    #[arg(long)]
    pub outline: bool,
    /// Interpolation of image values.
    #[arg(long, value_enum, default_value_t = Interp::Nearest)]
    pub interp: Interp,
    /// Crosshair through voxel i,j,k.
    #[arg(long, value_parser = parse_ijk)]
    pub crosshair: Option<[f64; 3]>,
    /// Output size WxH (default: 512 px on the longer side, physical aspect kept; 3D 512x512).
    #[arg(long, value_parser = parse_wh)]
    pub size: Option<[u32; 2]>,
    /// Leave out the orientation letters.
    #[arg(long)]
    pub no_letters: bool,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Output PNG.
    #[arg(short, long)]
    pub out: PathBuf,
}

pub(crate) fn parse_wh(s: &str) -> Result<[u32; 2], String> {
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
pub(crate) fn choose_window(
    a: &RenderArgs,
    vol: &Volume,
    gpu: Option<(&GpuContext, &ResidentVolume)>,
) -> anyhow::Result<(WindowPreset, &'static str)> {
    if let (Some(width), Some(center)) = (a.window, a.level) {
        return Ok((WindowPreset { center, width }, "explicit"));
    }
    if let Some(w) = window_preset(a)?.and_then(Preset::window) {
        return Ok((w, "preset"));
    }
    if window_preset(a)?.is_none() {
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

/// The GPU for `--backend` (None: render on the CPU; `auto` notes why).
pub(crate) fn open_backend(b: BackendChoice) -> anyhow::Result<Option<GpuContext>> {
    b.open_noting("rendering", true)
}

/// The image and its labels (if any) resident on the GPU.
pub(crate) fn upload(
    ctx: &GpuContext,
    vol: &Volume,
    labels: Option<&[u8]>,
) -> anyhow::Result<(ResidentVolume, Option<PackedU8Volume>)> {
    let rv = ResidentVolume::upload(ctx, vol.grid.dims, &vol.data)?;
    let rl = match labels {
        Some(l) => Some(PackedU8Volume::upload(ctx, vol.grid.dims, l)?),
        None => None,
    };
    Ok((rv, rl))
}

/// `--labels`, checked against the image grid.
pub(crate) fn load_labels(a: &RenderArgs, vol: &Volume) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(match &a.labels {
        Some(p) => {
            let m = voxmark_io::label_file::read_label_map_with(p, &vol.grid, a.resample.get())?;
            super::print_warnings(&m.warnings);
            Some(m.labels)
        }
        None => None,
    })
}

/// `--preset` as a window preset (None: not given, or a transfer function in 3D DVR).
pub(crate) fn window_preset(a: &RenderArgs) -> anyhow::Result<Option<Preset>> {
    let Some(name) = &a.preset else {
        return Ok(None);
    };
    if let Ok(p) = Preset::from_str(name, true) {
        return Ok(Some(p));
    }
    if TfPreset::from_name(name).is_some() && a.view == RenderView::ThreeD {
        return Ok(None);
    }
    anyhow::bail!(
        "--preset {name:?}: not a window preset ({}){}",
        Preset::value_variants()
            .iter()
            .filter_map(|p| p.to_possible_value().map(|v| v.get_name().to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        if a.view == RenderView::ThreeD {
            " nor a transfer function (ct-bone, ct-soft-tissue, ct-vessels, mr-default)"
        } else {
            ""
        }
    )
}

/// Checks common to every view, before anything is read: a `.png` output, a valid window.
pub fn check_args(a: &RenderArgs) -> anyhow::Result<()> {
    let name = a.out.to_string_lossy().to_lowercase();
    if !name.ends_with(".png") {
        anyhow::bail!("{}: output must end in .png", a.out.display());
    }
    window_preset(a)?;
    Ok(())
}

/// `voxmark render` of a slice view (the 3D view is `render_3d::run`; `cli::run` picks).
pub fn run(a: RenderArgs) -> anyhow::Result<()> {
    check_args(&a)?;
    let view_kind = match a.view {
        RenderView::Axial => ViewKind::Axial,
        RenderView::Coronal => ViewKind::Coronal,
        RenderView::Sagittal => ViewKind::Sagittal,
        RenderView::ThreeD => anyhow::bail!("render: --view 3d is drawn by render_3d::run"),
    };
    let loaded = super::load_input(&a.path, a.series.clone())?;
    let vol = &loaded.volume;
    let labels = load_labels(&a, vol)?;
    let view = ViewGeometry::new(&vol.grid, view_kind, a.slice, a.size)?;
    let style = labels.as_ref().map(|_| LabelStyle {
        opacity: a.opacity.unwrap_or(0.5),
        outline: a.outline,
        ..LabelStyle::default()
    });
    let ctx = open_backend(a.backend)?;
    let mut rgba = match &ctx {
        Some(ctx) => {
            let (rv, rl) = upload(ctx, vol, labels.as_deref())?;
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
        view_kind,
        view.slice,
        view.axis_n,
        view.letters[0],
        view.letters[1],
        view.letters[2],
        view.letters[3]
    );
    Ok(())
}
