//! `voxmark render PATH --view 3d [--mode mip|dvr|labels] [--preset NAME] [--labels MASK]
//! [--azimuth DEG --elevation DEG --zoom Z] [--size WxH] -o OUT.png`: one ray-cast frame,
//! on the GPU (the renderer of the desktop shell's 3D pane) or the CPU twin.

use super::render::{choose_window, load_labels, open_backend, upload, window_preset, RenderArgs};
use voxmark_gpu::kernels::histogram::{auto_window, histogram_cpu, HistogramParams};
use voxmark_gpu::kernels::mpr::LabelStyle;
use voxmark_gpu::kernels::raycast::{ClipBox, RenderMode};
use voxmark_gpu::kernels::transfer::{TfPreset, TransferFunction};
use voxmark_render::annotate::draw_orientation;
use voxmark_render::png_out::write_png;
use voxmark_render::volume_view::{render_3d_cpu, VolumeView, VolumeViewOptions};
use voxmark_volume::geometry::camera::Camera;

pub fn run(a: RenderArgs) -> anyhow::Result<()> {
    super::render::check_args(&a)?;
    if a.slice.is_some() || a.crosshair.is_some() || a.outline {
        anyhow::bail!("--slice, --crosshair and --outline apply to slice views, not --view 3d");
    }
    if !(a.zoom > 0.0 && a.zoom.is_finite()) {
        anyhow::bail!("--zoom must be positive, got {}", a.zoom);
    }
    let loaded = super::load_input(&a.path, a.series.clone())?;
    let vol = &loaded.volume;
    let labels = load_labels(&a, vol)?;
    if let Some(c) = a.clip {
        let d = vol.grid.dims;
        if (0..3).any(|t| c[t] > c[t + 3] || c[t + 3] >= d[t]) {
            anyhow::bail!(
                "--clip {c:?}: needs i0 <= i1 < {}, j0 <= j1 < {}, k0 <= k1 < {}",
                d[0],
                d[1],
                d[2]
            );
        }
    }
    if a.mode == RenderMode::Labels && labels.is_none() {
        anyhow::bail!("--mode labels needs --labels MASK.nii.gz");
    }
    let size = a.size.unwrap_or([512, 512]);
    // The transfer function: named, or the default for the modality.
    let tf_preset = match &a.preset {
        Some(n) if window_preset(&a)?.is_none() => TfPreset::from_name(n),
        _ => None,
    }
    .unwrap_or_else(|| TfPreset::default_for(&vol.data, &vol.meta.modality));
    if a.mode != RenderMode::Dvr && a.preset.as_deref().and_then(TfPreset::from_name).is_some() {
        anyhow::bail!(
            "--preset {}: transfer functions apply to --mode dvr",
            tf_preset.name()
        );
    }
    let (lo, hi) = vol.data.min_max();
    let hp = HistogramParams::for_range(vol.grid.dims, vol.dtype(), lo, hi);
    let p1_p99 = {
        let w = auto_window(&hp, &histogram_cpu(&hp, &vol.data));
        (w.center - w.width / 2.0, w.center + w.width / 2.0)
    };
    let tf = TransferFunction::from_points(&tf_preset.points(p1_p99));
    let style = labels.as_ref().map(|_| LabelStyle {
        opacity: a.opacity.unwrap_or(1.0),
        ..LabelStyle::default()
    });
    let camera = Camera {
        azimuth_deg: a.azimuth,
        elevation_deg: a.elevation,
        zoom: a.zoom,
        pan_mm: [0.0, 0.0],
    };
    let ctx = open_backend(a.backend)?;
    let (window, source) = choose_window(&a, vol, None)?;
    let opts = VolumeViewOptions {
        mode: a.mode,
        camera,
        window,
        tf,
        labels: style,
        step_mm: None,
        clip: a
            .clip
            .map(|c| ClipBox::voxels([c[0], c[1], c[2]], [c[3], c[4], c[5]])),
    };
    let t = std::time::Instant::now();
    let mut rgba = match &ctx {
        Some(ctx) => {
            let (rv, rl) = upload(ctx, vol, labels.as_deref())?;
            let view = VolumeView::new(ctx, &rv, rl.as_ref())?;
            eprintln!("3D on {}", ctx.report().name);
            view.render_rgba(ctx, &vol.grid, &rv, rl.as_ref(), &opts, size)?
        }
        None => {
            eprintln!("3D on the CPU");
            render_3d_cpu(&vol.grid, &vol.data, labels.as_deref(), &opts, size)
        }
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !a.no_letters {
        draw_orientation(&mut rgba, size[0], size[1], &camera.letters());
    }
    write_png(&a.out, &rgba, size[0], size[1])?;
    let what = match a.mode {
        RenderMode::Mip => format!("MIP, window {}/{} ({source})", window.center, window.width),
        RenderMode::Dvr => format!("DVR, transfer function {}", tf_preset.name()),
        RenderMode::Labels => "label surfaces".to_string(),
    };
    eprintln!(
        "wrote {} ({}x{}, {what}, azimuth {} elevation {} zoom {}, {ms:.0} ms incl. upload)",
        a.out.display(),
        size[0],
        size[1],
        a.azimuth,
        a.elevation,
        a.zoom
    );
    Ok(())
}
