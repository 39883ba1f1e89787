//! GPU kernels against their CPU twins (window/level, histogram, MPR) on the phantom, an
//! oblique synthetic volume and real MRI; golden images of rendered slices; residency of a
//! 512×512×1024 CT with labels on a device whose storage-binding limit is 128 MiB.

mod common;
#[path = "common/images.rs"]
mod images;

use glam::{DMat3, DMat4, DVec3, DVec4};
use voxmark_gpu::kernels::histogram::{histogram_cpu, HistogramKernel, HistogramParams};
use voxmark_gpu::kernels::mpr::LabelStyle;
use voxmark_gpu::kernels::window_level::{window_level_cpu, WindowLevelKernel, WindowLevelParams};
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_render::annotate::draw_orientation;
use voxmark_render::slice::{render_rgba_cpu, HostOverlays, Overlays, SliceOptions, SliceRenderer};
use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
use voxmark_volume::phantom::{Phantom, Tissue};
use voxmark_volume::{Grid, Metadata, Volume, VoxelData, WindowPreset};

fn phantom(dims: [usize; 3]) -> (Volume, Vec<u8>) {
    let p = Phantom::new(dims).unwrap_or_else(|e| panic!("{e}"));
    let v = p.volume();
    let mut labels = vec![0u8; v.grid.voxel_count()];
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                labels[v.grid.index(i, j, k)] = match p.tissue(i, j, k) {
                    Tissue::Vessel => 1,
                    Tissue::Bone => 2,
                    Tissue::Lung => 3,
                    _ => 0,
                };
            }
        }
    }
    (v, labels)
}

/// An oblique, anisotropic float volume with a flipped axis.
fn oblique() -> Volume {
    let dims = [40, 28, 22];
    let rot = DMat3::from_euler(glam::EulerRot::ZYX, 0.5, 0.2, -0.3);
    let mut a = DMat4::from_mat3(rot * DMat3::from_diagonal(DVec3::new(0.8, -1.1, 2.0)));
    a.w_axis = DVec4::new(10.0, -20.0, 5.0, 1.0);
    let mut data = Vec::new();
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                let x = (i as f32 - 20.0) / 8.0;
                let y = (j as f32 - 14.0) / 6.0;
                data.push(1000.0 * (-(x * x + y * y)).exp() + 10.0 * k as f32 + 0.25 * i as f32);
            }
        }
    }
    let meta = Metadata {
        format: "test".into(),
        ..Default::default()
    };
    Volume::new(Grid::new(dims, a), VoxelData::F32(data), meta).unwrap_or_else(|e| panic!("{e}"))
}

fn gpu_window_level(ctx: &GpuContext, vol: &Volume, w: WindowPreset) -> Vec<u8> {
    let rv =
        ResidentVolume::upload(ctx, vol.grid.dims, &vol.data).unwrap_or_else(|e| panic!("{e}"));
    let p = WindowLevelParams::new(vol.grid.dims, w);
    let k = WindowLevelKernel::new(ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let out = k.run(ctx, &p, &rv).unwrap_or_else(|e| panic!("{e}"));
    out.download(ctx).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_within_one(gpu: &[u8], cpu: &[u8], what: &str) {
    assert_eq!(gpu.len(), cpu.len());
    let worst = gpu
        .iter()
        .zip(cpu)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    assert!(
        worst <= 1,
        "{what}: GPU and CPU differ by {worst} grey levels"
    );
}

#[test]
fn window_level_gpu_matches_cpu() {
    let Some(ctx) = common::gpu() else { return };
    let (ph, _) = phantom([61, 50, 33]); // odd width exercises the 4-voxel packing edge
    let ob = oblique();
    let mut cases = vec![
        (
            ph,
            WindowPreset {
                center: 40.0,
                width: 400.0,
            },
        ),
        (
            ob,
            WindowPreset {
                center: 600.0,
                width: 700.5,
            },
        ),
    ];
    if let Some(p) = common::mricron("ch2better.nii.gz") {
        let v = voxmark_io::nifti::read_nifti(&p).unwrap_or_else(|e| panic!("{e}"));
        cases.push((
            v,
            WindowPreset {
                center: 80.0,
                width: 150.0,
            },
        ));
    }
    for (vol, w) in &mut cases {
        if vol.meta.format == "nifti" {
            // Half the real range, centred: both ends of the 8-bit range must appear.
            let (lo, hi) = vol.data.min_max();
            *w = WindowPreset {
                center: (lo + hi) / 2.0,
                width: (hi - lo) / 2.0,
            };
        }
        let p = WindowLevelParams::new(vol.grid.dims, *w);
        let cpu = window_level_cpu(&p, &vol.data);
        let gpu = gpu_window_level(&ctx, vol, *w);
        assert_within_one(&gpu, &cpu, vol.dtype().name());
        // The window is really applied: both ends of the range are used.
        assert!(
            cpu.contains(&0) && cpu.contains(&255),
            "{}",
            vol.dtype().name()
        );
    }
}

#[test]
fn histogram_gpu_matches_cpu_exactly() {
    let Some(ctx) = common::gpu() else { return };
    let (ph, _) = phantom([64, 48, 20]);
    let mut vols = vec![ph, oblique()];
    if let Some(p) = common::mricron("ch2.nii.gz") {
        vols.push(voxmark_io::nifti::read_nifti(&p).unwrap_or_else(|e| panic!("{e}")));
    }
    for vol in &vols {
        let (lo, hi) = vol.data.min_max();
        let p = HistogramParams::for_range(vol.grid.dims, vol.dtype(), lo, hi);
        let rv = ResidentVolume::upload(&ctx, vol.grid.dims, &vol.data)
            .unwrap_or_else(|e| panic!("{e}"));
        let gpu = HistogramKernel::new(&ctx, vol.dtype())
            .and_then(|k| k.run(&ctx, &p, &rv))
            .unwrap_or_else(|e| panic!("{e}"));
        let cpu = histogram_cpu(&p, &vol.data);
        assert_eq!(gpu, cpu, "{}", vol.dtype().name());
        assert_eq!(
            cpu.iter().map(|&c| c as usize).sum::<usize>(),
            vol.grid.voxel_count()
        );
    }
}

fn render_both(
    ctx: &GpuContext,
    vol: &Volume,
    labels: Option<&[u8]>,
    view: &ViewGeometry,
    opts: &SliceOptions,
) -> (Vec<u8>, Vec<u8>) {
    let rv =
        ResidentVolume::upload(ctx, vol.grid.dims, &vol.data).unwrap_or_else(|e| panic!("{e}"));
    let rl = labels
        .map(|l| PackedU8Volume::upload(ctx, vol.grid.dims, l).unwrap_or_else(|e| panic!("{e}")));
    let r = SliceRenderer::new(ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let gpu = r
        .render_rgba(
            ctx,
            &rv,
            Overlays {
                labels: rl.as_ref(),
                preview: None,
            },
            view,
            opts,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let host = HostOverlays {
        labels,
        preview: None,
    };
    let cpu = render_rgba_cpu(&vol.data, vol.grid.dims, host, view, opts)
        .unwrap_or_else(|e| panic!("{e}"));
    (gpu, cpu)
}

#[test]
fn mpr_gpu_matches_cpu_in_every_view_and_mode() {
    let Some(ctx) = common::gpu() else { return };
    let (ph, labels) = phantom([48, 40, 36]);
    let ob = oblique();
    for (vol, labels, w) in [
        (
            &ph,
            Some(labels.as_slice()),
            WindowPreset {
                center: 40.0,
                width: 400.0,
            },
        ),
        (
            &ob,
            None,
            WindowPreset {
                center: 400.0,
                width: 900.0,
            },
        ),
    ] {
        for kind in [ViewKind::Axial, ViewKind::Coronal, ViewKind::Sagittal] {
            for (linear, outline, size) in [
                (false, false, None),
                (true, true, Some([97, 61])),
                (true, false, Some([40, 90])),
            ] {
                let view = ViewGeometry::new(&vol.grid, kind, None, size)
                    .unwrap_or_else(|e| panic!("{e}"));
                let style = labels.map(|_| LabelStyle {
                    outline,
                    opacity: 0.6,
                    ..LabelStyle::default()
                });
                let opts = SliceOptions {
                    window: w,
                    linear,
                    labels: style,
                    crosshair: Some([10.0, 12.0, 7.0]),
                };
                let (gpu, cpu) = render_both(&ctx, vol, labels, &view, &opts);
                let (max, bad) = images::compare(&gpu, &cpu, 1);
                assert_eq!(
                    bad, 0,
                    "{kind:?} linear={linear} outline={outline}: max diff {max}"
                );
            }
        }
    }
}

#[test]
fn mpr_gpu_matches_cpu_on_real_mri_with_atlas() {
    let Some(ctx) = common::gpu() else { return };
    let (Some(ch2), Some(aal)) = (common::mricron("ch2.nii.gz"), common::mricron("aal.nii.gz"))
    else {
        return;
    };
    let vol = voxmark_io::nifti::read_nifti(&ch2).unwrap_or_else(|e| panic!("{e}"));
    let mask = voxmark_io::nifti::read_nifti(&aal).unwrap_or_else(|e| panic!("{e}"));
    let labels = voxmark_volume::labels::labels_for(&mask, &aal, &vol.grid)
        .unwrap_or_else(|e| panic!("{e}"));
    for kind in [ViewKind::Axial, ViewKind::Coronal, ViewKind::Sagittal] {
        let view = ViewGeometry::new(&vol.grid, kind, None, None).unwrap_or_else(|e| panic!("{e}"));
        let opts = SliceOptions {
            window: WindowPreset {
                center: 80.0,
                width: 160.0,
            },
            linear: true,
            labels: Some(LabelStyle {
                outline: kind == ViewKind::Coronal,
                ..LabelStyle::default()
            }),
            crosshair: None,
        };
        let (gpu, cpu) = render_both(&ctx, &vol, Some(&labels), &view, &opts);
        let (max, bad) = images::compare(&gpu, &cpu, 1);
        assert_eq!(bad, 0, "{kind:?}: max diff {max}");
    }
}

fn golden_case(
    ctx: &GpuContext,
    name: &str,
    vol: &Volume,
    labels: Option<&[u8]>,
    kind: ViewKind,
    opts: &SliceOptions,
    size: [u32; 2],
) {
    let view =
        ViewGeometry::new(&vol.grid, kind, None, Some(size)).unwrap_or_else(|e| panic!("{e}"));
    let (mut gpu, _) = render_both(ctx, vol, labels, &view, opts);
    draw_orientation(&mut gpu, size[0], size[1], &view.letters);
    images::assert_golden(name, &gpu, size[0], size[1], 1);
}

#[test]
fn golden_slices() {
    let Some(ctx) = common::gpu() else { return };
    let (ph, labels) = phantom([64, 64, 48]);
    let ct = SliceOptions {
        window: WindowPreset {
            center: 40.0,
            width: 400.0,
        },
        linear: false,
        labels: Some(LabelStyle::default()),
        crosshair: Some([32.0, 32.0, 24.0]),
    };
    golden_case(
        &ctx,
        "phantom_axial",
        &ph,
        Some(&labels),
        ViewKind::Axial,
        &ct,
        [128, 128],
    );
    golden_case(
        &ctx,
        "phantom_coronal",
        &ph,
        Some(&labels),
        ViewKind::Coronal,
        &ct,
        [128, 128],
    );
    golden_case(
        &ctx,
        "phantom_sagittal_outline",
        &ph,
        Some(&labels),
        ViewKind::Sagittal,
        &SliceOptions {
            labels: Some(LabelStyle {
                outline: true,
                ..LabelStyle::default()
            }),
            ..ct.clone()
        },
        [128, 128],
    );
    let ob = oblique();
    let mr = SliceOptions {
        window: WindowPreset {
            center: 400.0,
            width: 900.0,
        },
        linear: true,
        labels: None,
        crosshair: None,
    };
    golden_case(
        &ctx,
        "oblique_axial_linear",
        &ob,
        None,
        ViewKind::Axial,
        &mr,
        [120, 96],
    );
    if let (Some(ch2), Some(aal)) = (common::mricron("ch2.nii.gz"), common::mricron("aal.nii.gz")) {
        let vol = voxmark_io::nifti::read_nifti(&ch2).unwrap_or_else(|e| panic!("{e}"));
        let mask = voxmark_io::nifti::read_nifti(&aal).unwrap_or_else(|e| panic!("{e}"));
        let l = voxmark_volume::labels::labels_for(&mask, &aal, &vol.grid)
            .unwrap_or_else(|e| panic!("{e}"));
        let opts = SliceOptions {
            window: WindowPreset {
                center: 80.0,
                width: 160.0,
            },
            linear: false,
            labels: Some(LabelStyle {
                outline: true,
                opacity: 0.8,
                ..LabelStyle::default()
            }),
            crosshair: None,
        };
        golden_case(
            &ctx,
            "ch2_axial_aal",
            &vol,
            Some(&l),
            ViewKind::Axial,
            &opts,
            [110, 128],
        );
    }
}

#[test]
fn ct_of_512x512x1024_with_labels_is_resident_beyond_the_binding_limit() {
    let Some(ctx) = common::gpu() else { return };
    let dims = [512usize, 512, 1024];
    let n = dims[0] * dims[1] * dims[2];
    let binding = ctx.device.limits().max_storage_buffer_binding_size;
    // A cheap deterministic pattern (the phantom is slow in debug builds).
    let data: Vec<i16> = (0..n).map(|x| ((x % 4093) as i16) - 1000).collect();
    let bytes = (n * 2) as u64;
    eprintln!(
        "volume {} MiB, storage binding limit {} MiB",
        bytes >> 20,
        binding >> 20
    );
    let vd = VoxelData::I16(data);
    let rv = ResidentVolume::upload(&ctx, dims, &vd).unwrap_or_else(|e| panic!("{e}"));
    let mut labels = vec![0u8; n];
    for (k, chunk) in labels.chunks_mut(dims[0] * dims[1]).enumerate() {
        chunk[..dims[0] * 8].fill((k % 7) as u8 + 1);
    }
    let rl = PackedU8Volume::upload(&ctx, dims, &labels).unwrap_or_else(|e| panic!("{e}"));
    let gpu_bytes = rv.gpu_bytes() + rl.gpu_bytes();
    assert!(
        gpu_bytes as f64 <= 1.1 * (bytes + n as u64) as f64,
        "GPU memory {gpu_bytes}"
    );
    // A sagittal slice spans all 1024 slices: every part of the volume is reachable.
    let grid = Grid::new(dims, DMat4::from_diagonal(DVec4::new(-0.7, -0.7, 0.5, 1.0)));
    let view = ViewGeometry::new(&grid, ViewKind::Sagittal, Some(3), Some([256, 512]))
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = SliceOptions {
        window: WindowPreset {
            center: 0.0,
            width: 4000.0,
        },
        linear: false,
        labels: Some(LabelStyle::default()),
        crosshair: None,
    };
    let r = SliceRenderer::new(&ctx, voxmark_volume::DType::I16).unwrap_or_else(|e| panic!("{e}"));
    let gpu = r
        .render_rgba(
            &ctx,
            &rv,
            Overlays {
                labels: Some(&rl),
                preview: None,
            },
            &view,
            &opts,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let host = HostOverlays {
        labels: Some(&labels),
        preview: None,
    };
    let cpu = render_rgba_cpu(&vd, dims, host, &view, &opts).unwrap_or_else(|e| panic!("{e}"));
    let (max, bad) = images::compare(&gpu, &cpu, 1);
    assert_eq!(bad, 0, "max diff {max}");
    // Labels survive the round trip through the packed texture.
    assert_eq!(rl.download(&ctx).unwrap_or_else(|e| panic!("{e}")), labels);
}
