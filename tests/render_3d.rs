//! 3D ray casting: GPU frames equal the CPU twin, the brick map is exact and skipping never
//! changes a picture, anatomy lands on the correct side of the screen, labels update after
//! an edit, goldens for each mode, and the CLI.

mod common;
#[path = "common/images.rs"]
mod images;

use glam::DMat4;
use images::{assert_golden, compare};
use voxmark_edit::ops::parse_ops;
use voxmark_edit::session::Session;
use voxmark_gpu::kernels::bricks::{brick_map_cpu, BrickMap, BricksKernel};
use voxmark_gpu::kernels::mpr::LabelStyle;
use voxmark_gpu::kernels::raycast::{raycast_cpu, HostScene, RenderMode};
use voxmark_gpu::kernels::transfer::{TfPreset, TransferFunction};
use voxmark_gpu::readback::read_buffer;
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_render::volume_view::{render_3d_cpu, VolumeView, VolumeViewOptions};
use voxmark_volume::geometry::camera::Camera;
use voxmark_volume::phantom::Phantom;
use voxmark_volume::{Grid, Metadata, Volume, VoxelData, WindowPreset};

/// The phantom with two labels: bone (2) and the vessels (1).
fn phantom(dims: [usize; 3]) -> (Volume, Vec<u8>) {
    let v = Phantom::new(dims)
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let labels = (0..v.grid.voxel_count())
        .map(|i| match v.data.get_f64(i) {
            x if x > 550.0 => 2,
            x if x > 230.0 => 1,
            _ => 0,
        })
        .collect();
    (v, labels)
}

fn options(mode: RenderMode, camera: Camera, tf: TfPreset, labels: bool) -> VolumeViewOptions {
    VolumeViewOptions {
        mode,
        camera,
        window: WindowPreset {
            center: 300.0,
            width: 1500.0,
        },
        tf: TransferFunction::from_points(&tf.points((0.0, 1000.0))),
        labels: labels.then(|| LabelStyle {
            opacity: 0.8,
            ..LabelStyle::default()
        }),
        step_mm: None,
        clip: None,
    }
}

fn gpu_frame(
    ctx: &GpuContext,
    vol: &Volume,
    labels: Option<&[u8]>,
    opts: &VolumeViewOptions,
    size: [u32; 2],
) -> Vec<u8> {
    let rv =
        ResidentVolume::upload(ctx, vol.grid.dims, &vol.data).unwrap_or_else(|e| panic!("{e}"));
    let rl = labels
        .map(|l| PackedU8Volume::upload(ctx, vol.grid.dims, l).unwrap_or_else(|e| panic!("{e}")));
    let view = VolumeView::new(ctx, &rv, rl.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    view.render_rgba(ctx, &vol.grid, &rv, rl.as_ref(), opts, size)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cameras() -> [Camera; 3] {
    [
        Camera::default(),
        Camera {
            azimuth_deg: 37.0,
            elevation_deg: 21.0,
            zoom: 1.3,
            pan_mm: [0.0, 0.0],
        },
        Camera {
            azimuth_deg: -120.0,
            elevation_deg: -60.0,
            zoom: 0.8,
            pan_mm: [12.0, -5.0],
        },
    ]
}

#[test]
fn gpu_frames_equal_the_cpu_twin_in_every_mode() {
    let Some(ctx) = common::gpu() else { return };
    let (vol, labels) = phantom([40, 36, 50]);
    for (m, tf, with_labels) in [
        (RenderMode::Mip, TfPreset::CtBone, false),
        (RenderMode::Mip, TfPreset::CtBone, true),
        (RenderMode::Dvr, TfPreset::CtBone, false),
        (RenderMode::Dvr, TfPreset::CtSoftTissue, true),
        (RenderMode::Dvr, TfPreset::CtVessels, false),
        (RenderMode::Labels, TfPreset::CtBone, true),
    ] {
        for cam in cameras() {
            let o = options(m, cam, tf, with_labels);
            let l = with_labels.then_some(&labels[..]);
            let g = gpu_frame(&ctx, &vol, l, &o, [48, 40]);
            let c = render_3d_cpu(&vol.grid, &vol.data, l, &o, [48, 40]);
            let (max, bad) = compare(&g, &c, 1);
            // Float rounding differs between the shader compiler and Rust; a handful of
            // pixels may cross a grey level, none by much.
            assert!(
                max <= 3 && bad <= g.len() / 4 / 100,
                "{m:?} {tf:?} labels={with_labels} {cam:?}: max diff {max}, {bad} pixels > 1"
            );
            assert!(
                c.chunks(4).any(|p| p[0] > 40),
                "{m:?}: the frame shows something"
            );
        }
    }
}

#[test]
fn brick_map_gpu_equals_cpu_and_skipping_never_changes_the_picture() {
    let Some(ctx) = common::gpu() else { return };
    let (vol, labels) = phantom([37, 29, 43]);
    let d = vol.grid.dims;
    let rv = ResidentVolume::upload(&ctx, d, &vol.data).unwrap_or_else(|e| panic!("{e}"));
    let rl = PackedU8Volume::upload(&ctx, d, &labels).unwrap_or_else(|e| panic!("{e}"));
    let bk = BricksKernel::new(&ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let map = bk.brick_map(&ctx, &rv).unwrap_or_else(|e| panic!("{e}"));
    bk.update_labels(&ctx, &rv, &rl, &map)
        .unwrap_or_else(|e| panic!("{e}"));
    let cpu = brick_map_cpu(&vol.data, Some(&labels), d);
    let n = cpu.range.len() as u64;
    let range: Vec<[f32; 2]> = bytemuck::cast_slice(
        &read_buffer(&ctx, &map.range, n * 8).unwrap_or_else(|e| panic!("{e}")),
    )
    .to_vec();
    let lab: Vec<u32> = bytemuck::cast_slice(
        &read_buffer(&ctx, &map.labels, n * 4).unwrap_or_else(|e| panic!("{e}")),
    )
    .to_vec();
    assert_eq!(range, cpu.range);
    assert_eq!(lab, cpu.labels);
    assert!(lab.contains(&0) && lab.contains(&2));
    // A map that allows no skipping gives the identical picture.
    let never = BrickMap {
        dims: cpu.dims,
        range: vec![[f32::MIN, f32::MAX]; cpu.range.len()],
        labels: vec![255; cpu.labels.len()],
    };
    for (m, tf) in [
        (RenderMode::Mip, TfPreset::CtBone),
        (RenderMode::Dvr, TfPreset::CtBone),
        (RenderMode::Dvr, TfPreset::CtVessels),
        (RenderMode::Labels, TfPreset::CtBone),
    ] {
        for cam in cameras() {
            let o = options(m, cam, tf, true);
            let p = o.params(&vol.grid, [40, 40]);
            let colors = LabelStyle::default().colors;
            let scene = |bricks| HostScene {
                data: &vol.data,
                labels: Some(&labels),
                bricks,
                colors: &colors,
                tf: &o.tf,
            };
            assert!(
                raycast_cpu(&p, &scene(&cpu)) == raycast_cpu(&p, &scene(&never)),
                "{m:?} {cam:?}: skipping changed the picture"
            );
        }
    }
}

/// A bright block on a DICOM-like (LPS) grid: i runs to the patient's left, j posterior,
/// with anisotropic spacing. In the anterior view the patient's right is on screen left.
#[test]
fn anatomy_lands_on_the_correct_side() {
    let d = [30usize, 20, 16];
    // RAS from LPS: x = -i·0.8, y = -j·1.2, z = k·2.5.
    let affine = DMat4::from_cols_array(&[
        -0.8, 0.0, 0.0, 0.0, 0.0, -1.2, 0.0, 0.0, 0.0, 0.0, 2.5, 0.0, 10.0, 20.0, -30.0, 1.0,
    ]);
    let mut v = vec![0i16; d[0] * d[1] * d[2]];
    // Block at small i (patient's right, RAS x > centre) and large k (superior).
    for k in 11..15 {
        for j in 8..12 {
            for i in 2..7 {
                v[i + d[0] * (j + d[1] * k)] = 1000;
            }
        }
    }
    let vol = Volume::new(Grid::new(d, affine), VoxelData::I16(v), Metadata::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let centroid = |rgba: &[u8], w: usize| {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (i, p) in rgba.chunks(4).enumerate() {
            if p[0] > 128 {
                sx += (i % w) as f64;
                sy += (i / w) as f64;
                n += 1.0;
            }
        }
        assert!(n > 0.0, "block not visible");
        (sx / n / w as f64, sy / n / w as f64)
    };
    let o = |az: f64| VolumeViewOptions {
        window: WindowPreset {
            center: 500.0,
            width: 1000.0,
        },
        ..options(
            RenderMode::Mip,
            Camera {
                azimuth_deg: az,
                ..Camera::default()
            },
            TfPreset::CtBone,
            false,
        )
    };
    let front = render_3d_cpu(&vol.grid, &vol.data, None, &o(0.0), [64, 64]);
    let (x, y) = centroid(&front, 64);
    assert!(
        x < 0.45 && y < 0.45,
        "anterior view: right+superior block at ({x:.2}, {y:.2})"
    );
    // From behind (azimuth 180) the patient's right is on screen right.
    let back = render_3d_cpu(&vol.grid, &vol.data, None, &o(180.0), [64, 64]);
    let (xb, _) = centroid(&back, 64);
    assert!(
        xb > 0.55,
        "posterior view: the patient's right is on screen right ({xb:.2})"
    );
    if let Some(ctx) = common::gpu() {
        let g = gpu_frame(&ctx, &vol, None, &o(0.0), [64, 64]);
        assert!(compare(&g, &front, 1).0 <= 3);
    }
}

#[test]
fn labels_update_in_the_next_frame_after_an_edit() {
    let Some(ctx) = common::gpu() else { return };
    let (vol, _) = phantom([40, 40, 40]);
    let n = vol.grid.voxel_count();
    let mut s = Session::on_gpu(&ctx, &vol, &vec![0u8; n]).unwrap_or_else(|e| panic!("{e}"));
    let Some(g) = s.gpu() else {
        panic!("GPU session")
    };
    let view = VolumeView::new(&ctx, &g.image, Some(&g.labels)).unwrap_or_else(|e| panic!("{e}"));
    let o = options(
        RenderMode::Labels,
        Camera::default(),
        TfPreset::CtBone,
        true,
    );
    let before = view
        .render_rgba(&ctx, &vol.grid, &g.image, Some(&g.labels), &o, [48, 48])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        before.chunks(4).all(|p| p[..3] == [0, 0, 0]),
        "no labels yet"
    );
    let op = parse_ops(
        r#"[{"op":"paint","shape":"sphere","points":[[20,20,20]],"radius_mm":150,"label":3}]"#,
        std::path::Path::new("ops.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    s.apply_unjournaled(&op[0])
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(g) = s.gpu() else {
        panic!("GPU session")
    };
    view.labels_changed(&ctx, &g.image, &g.labels)
        .unwrap_or_else(|e| panic!("{e}"));
    let after = view
        .render_rgba(&ctx, &vol.grid, &g.image, Some(&g.labels), &o, [48, 48])
        .unwrap_or_else(|e| panic!("{e}"));
    let lit = after.chunks(4).filter(|p| p[..3] != [0, 0, 0]).count();
    assert!(lit > 150, "the painted sphere shows ({lit} pixels)");
    let host = s.labels().unwrap_or_else(|e| panic!("{e}")).into_owned();
    let cpu = render_3d_cpu(&vol.grid, &vol.data, Some(&host), &o, [48, 48]);
    assert!(compare(&after, &cpu, 1).0 <= 3);
}

#[test]
fn golden_3d_frames() {
    let Some(ctx) = common::gpu() else { return };
    let (vol, labels) = phantom([48, 48, 60]);
    let cam = Camera {
        azimuth_deg: 30.0,
        elevation_deg: 15.0,
        ..Camera::default()
    };
    for (name, m, tf, with_labels) in [
        ("phantom_3d_mip", RenderMode::Mip, TfPreset::CtBone, false),
        (
            "phantom_3d_dvr_bone",
            RenderMode::Dvr,
            TfPreset::CtBone,
            false,
        ),
        (
            "phantom_3d_dvr_soft_labels",
            RenderMode::Dvr,
            TfPreset::CtSoftTissue,
            true,
        ),
        (
            "phantom_3d_labels",
            RenderMode::Labels,
            TfPreset::CtBone,
            true,
        ),
    ] {
        let o = options(m, cam, tf, with_labels);
        let rgba = gpu_frame(&ctx, &vol, with_labels.then_some(&labels[..]), &o, [96, 96]);
        assert_golden(name, &rgba, 96, 96, 2);
    }
}

#[test]
fn cli_renders_3d_and_rejects_bad_combinations() {
    let dir = common::tempdir();
    let p = |x: &std::path::Path| x.to_string_lossy().into_owned();
    let img = dir.path().join("ph.nii.gz");
    let (ok, _, err) = common::run(&["phantom", "--size", "40,40,48", "-o", &p(&img)]);
    assert!(ok, "{err}");
    let out = dir.path().join("dvr.png");
    let (ok, _, err) = common::run(&[
        "render",
        &p(&img),
        "--view",
        "3d",
        "--mode",
        "dvr",
        "--preset",
        "ct-vessels",
        "--azimuth",
        "-30",
        "--size",
        "64x48",
        "--backend",
        "cpu",
        "-o",
        &p(&out),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("ct-vessels"), "{err}");
    let (rgba, w, h) = voxmark_render::png_out::read_png(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((w, h), (64, 48));
    assert!(rgba.chunks(4).any(|px| px[0] > 100));
    for (args, msg) in [
        (vec!["--mode", "labels"], "needs --labels"),
        (vec!["--preset", "ct-nonsense"], "not a window preset"),
        (
            vec!["--mode", "mip", "--preset", "ct-bone"],
            "apply to --mode dvr",
        ),
        (vec!["--slice", "3"], "slice views"),
        (vec!["--zoom", "0"], "--zoom must be positive"),
        (vec!["--clip", "0,0,0,40,10,10"], "--clip"),
    ] {
        let img_s = p(&img);
        let mut a = vec!["render", &img_s, "--view", "3d", "--backend", "cpu", "-o"];
        let o = p(&dir.path().join("x.png"));
        a.push(&o);
        a.extend(args.iter().copied());
        let (ok, _, err) = common::run(&a);
        assert!(!ok && err.contains(msg), "{args:?}: {err}");
    }
}

/// Clipping cuts the picture to the box (GPU == CPU), and picking returns what a pixel
/// shows: the same point on the GPU and the CPU, on the label surface facing the camera.
#[test]
fn clip_and_pick() {
    use voxmark_gpu::kernels::raycast::ClipBox;
    use voxmark_render::volume_view::pick_3d_cpu;
    let (vol, labels) = phantom([40, 36, 50]);
    let d = vol.grid.dims;
    // Keep the patient's left half only (i >= the centre: LPS-like phantom, i -> left).
    let clip = ClipBox::crosshair(d, [20.0, 18.0, 25.0], [true, true, true]);
    let mut o = options(
        RenderMode::Dvr,
        Camera::default(),
        TfPreset::CtSoftTissue,
        false,
    );
    let full = render_3d_cpu(&vol.grid, &vol.data, None, &o, [48, 48]);
    o.clip = Some(ClipBox {
        lo: [clip.lo[0], -0.5, -0.5],
        hi: clip.hi,
    });
    let cut = render_3d_cpu(&vol.grid, &vol.data, None, &o, [48, 48]);
    let lit = |img: &[u8], x0: usize, x1: usize| {
        (0..48)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| img[(y * 48 + x) * 4] > 20)
            .count()
    };
    // Anterior view: the patient's left is on screen right; the right half goes dark.
    assert!(lit(&full, 0, 20) > 100 && lit(&full, 28, 48) > 100);
    assert_eq!(lit(&cut, 0, 20), 0, "clipped half is empty");
    assert!(lit(&cut, 28, 48) > 100);
    if let Some(ctx) = common::gpu() {
        let g = gpu_frame(&ctx, &vol, None, &o, [48, 48]);
        assert!(compare(&g, &cut, 1).0 <= 3);
    }
    // Pick on label surfaces from the front: the hit is a labelled voxel, the same on the
    // GPU and the CPU.
    let ol = options(
        RenderMode::Labels,
        Camera::default(),
        TfPreset::CtBone,
        true,
    );
    let mut hits = 0;
    for px in [[24, 24], [20, 30], [30, 18], [24, 10]] {
        let c = pick_3d_cpu(&vol.grid, &vol.data, Some(&labels), &ol, [48, 48], px);
        if let Some(h) = c {
            let v = h.map(|x| x as usize);
            let l = labels[v[0] + d[0] * (v[1] + d[1] * v[2])];
            assert!(l != 0, "{px:?}: picked an unlabelled voxel {v:?}");
            hits += 1;
        }
        if let Some(ctx) = common::gpu() {
            let rv = ResidentVolume::upload(&ctx, d, &vol.data).unwrap_or_else(|e| panic!("{e}"));
            let rl = PackedU8Volume::upload(&ctx, d, &labels).unwrap_or_else(|e| panic!("{e}"));
            let view = VolumeView::new(&ctx, &rv, Some(&rl)).unwrap_or_else(|e| panic!("{e}"));
            let g = view
                .pick(&ctx, &vol.grid, &rv, Some(&rl), &ol, [48, 48], px)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(g, c, "{px:?}: GPU and CPU picks differ");
        }
    }
    assert!(hits >= 2, "the centre rays hit the vessels or bone");
    // A ray that misses everything picks nothing.
    assert_eq!(
        pick_3d_cpu(&vol.grid, &vol.data, Some(&labels), &ol, [48, 48], [0, 0]),
        None
    );
}
