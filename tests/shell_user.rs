//! A new user's session through the real shell (offscreen window, real egui events): open
//! ch2 (MRI) and a CT DICOM series, segment with grow + brush + polygon, undo, save,
//! reopen, and find the mask identical; review the result against a second annotation.
//! With `VOXMARK_SHOT_DIR` set, the frames are written there as PNGs to look at.
#![cfg(feature = "gui")]

mod common;

use common::{ok, shell_labels as labels};

use eframe::egui::{self, Key, Modifiers, PointerButton, Pos2};
use std::path::Path;
use voxmark_app::document::OpenRequest;
use voxmark_app::headless::Headless;
use voxmark_app::shell::{Shell, Tool};
use voxmark_gpu::GpuContext;

fn shot(h: &Headless, name: &str) {
    if let Ok(dir) = std::env::var("VOXMARK_SHOT_DIR") {
        let px = ok(h.read_rgba());
        let p = Path::new(&dir).join(format!("{name}.png"));
        ok(voxmark_render::png_out::write_png(
            &p, &px, h.size[0], h.size[1],
        ));
    }
}

fn wait_save(h: &mut Headless) {
    assert!(
        ok(h.frames_until(5000, |s| !s.is_saving())),
        "save did not finish"
    );
}

fn open(gpu: &'static GpuContext, req: OpenRequest) -> Headless {
    let mut shell = Shell::empty(gpu);
    ok(shell.open_blocking(&req));
    let mut h = Headless::new(shell, [1400, 900]);
    ok(h.idle(3));
    h
}

/// Grow from a click with the auto range, accept; brush a stroke; polygon; undo the
/// polygon; save; reopen; identical.
fn segment_save_reopen(gpu: &'static GpuContext, req: OpenRequest, name: &str, seed_at: Pos2) {
    let mut h = open(gpu, req.clone());
    shot(&h, &format!("{name}_0_open"));
    ok(h.key(Key::G, Modifiers::NONE));
    ok(h.click(seed_at));
    h.shell.auto_grow_range();
    ok(h.idle(2));
    shot(&h, &format!("{name}_1_grow_preview"));
    ok(h.key(Key::Enter, Modifiers::NONE));
    let grown = labels(&h).iter().filter(|&&l| l != 0).count();
    assert!(grown > 100, "{name}: grow accepted {grown} voxels");
    // A second label for the brush.
    h.shell.apply(voxmark_edit::ops::EditOp::SetLabel {
        value: 2,
        name: Some("brushed".into()),
        color: None,
        visible: Some(true),
        locked: None,
    });
    if let Some(d) = &mut h.shell.doc {
        d.state.brush.label = 2;
        d.state.brush.radius_mm = 6.0;
    }
    ok(h.key(Key::B, Modifiers::NONE));
    let c = h.shell.panes.rects[1].center();
    let path: Vec<Pos2> = (1..=5)
        .map(|s| c + egui::vec2(8.0 * s as f32, 0.0))
        .collect();
    ok(h.drag(PointerButton::Primary, c, &path));
    let after_brush = labels(&h);
    assert!(after_brush.contains(&2), "{name}: brush painted");
    // Polygon on the sagittal pane, then undo it.
    ok(h.key(Key::P, Modifiers::NONE));
    let s = h.shell.panes.rects[2].center();
    for d in [(-30.0, -30.0), (30.0, -25.0), (25.0, 30.0)] {
        ok(h.click(s + egui::vec2(d.0, d.1)));
    }
    ok(h.key(Key::Enter, Modifiers::NONE));
    assert_ne!(labels(&h), after_brush, "{name}: polygon filled");
    shot(&h, &format!("{name}_2_edited"));
    ok(h.key(Key::Z, Modifiers::COMMAND));
    assert_eq!(labels(&h), after_brush, "{name}: undo restores");
    ok(h.key(Key::S, Modifiers::COMMAND));
    wait_save(&mut h);
    assert!(
        h.shell.doc.as_ref().is_some_and(|d| !d.state.dirty),
        "{name}: saved"
    );
    let saved = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.labels_path.clone())
        .unwrap_or_default();
    drop(h);
    let h2 = open(
        gpu,
        OpenRequest {
            labels: Some(saved.clone()),
            ..req
        },
    );
    assert_eq!(labels(&h2), after_brush, "{name}: reopened mask identical");
    let names: Vec<String> = h2
        .shell
        .doc
        .as_ref()
        .map(|d| {
            d.state
                .session
                .table()
                .iter()
                .map(|l| l.name.clone())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.contains(&"brushed".to_string()), "{names:?}");
    shot(&h2, &format!("{name}_3_reopened"));
    review(h2, &saved, name);
}

/// Review: register the mask, comment at the crosshair, compare with a second annotation
/// (the saved one with label 2 removed and a blob added), jump to a disagreement.
fn review(mut h: Headless, saved: &Path, name: &str) {
    let vol = ok(voxmark_io::nifti::read_nifti(saved));
    let d = vol.grid.dims;
    let mut b = match &vol.data {
        voxmark_volume::VoxelData::U8(v) => v.clone(),
        _ => panic!("labels are u8"),
    };
    for v in b.iter_mut().filter(|v| **v == 2) {
        *v = 0;
    }
    for k in d[2] / 2..d[2] / 2 + 4 {
        for j in 4..12 {
            for i in 4..12 {
                b[i + d[0] * (j + d[1] * k)] = 1;
            }
        }
    }
    let bp = saved.with_file_name(format!("{name}_b.nii.gz"));
    let bvol = ok(voxmark_volume::Volume::new(
        vol.grid,
        voxmark_volume::VoxelData::U8(b),
        Default::default(),
    ));
    ok(voxmark_io::nifti::write_nifti(&bp, &bvol));
    ok(h.idle(1));
    let db = voxmark_app::review::review_db_path(saved);
    let rdb = ok(voxmark_project::review_db::ReviewDb::open(&db));
    let id = ok(rdb.add_annotation(Path::new("image"), saved, "tester"));
    ok(rdb.comment(
        id,
        "reviewer",
        "check the border here",
        Some([5, 5, 5]),
        Some("axial"),
        Some(1),
    ));
    drop(rdb);
    h.shell.review.records = Default::default();
    ok(h.idle(2));
    assert_eq!(
        h.shell.review.records.comments.len(),
        1,
        "{name}: the comment is listed"
    );
    h.shell.jump_comment(0);
    let c = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.state.crosshair)
        .unwrap_or_default();
    assert_eq!(c, [5.0, 5.0, 5.0], "{name}: jumped to the comment");
    ok(h.shell.start_review(bp));
    let r = h
        .shell
        .review
        .mode
        .as_ref()
        .unwrap_or_else(|| panic!("review mode"));
    assert!(
        r.regions.len() >= 2,
        "{name}: the blob and the brush stroke differ"
    );
    assert!(r.metrics.iter().any(|m| m.label == 2 && m.dice == 0.0));
    h.shell.jump_region(0);
    ok(h.idle(2));
    shot(&h, &format!("{name}_4_review"));
}

#[test]
fn new_user_on_ch2_and_a_ct_series() {
    let Some(g) = common::gpu() else { return };
    let gpu: &'static GpuContext = Box::leak(Box::new(g));
    let Some(ch2) = common::mricron("ch2.nii.gz") else {
        return;
    };
    let dir = common::tempdir();
    // ch2 lives in a read-only folder for users: labels go to the working folder; use a
    // copy here so the test controls where.
    let img = dir.path().join("ch2.nii.gz");
    ok(std::fs::copy(&ch2, &img));
    let req = OpenRequest {
        path: Some(img),
        ..Default::default()
    };
    // White matter beside the crosshair in the axial pane.
    let h = open(gpu, req.clone());
    let seed = h.shell.panes.rects[0].center() + egui::vec2(-40.0, -20.0);
    assert_eq!(h.shell.tools.tool, Tool::Crosshair);
    drop(h);
    segment_save_reopen(gpu, req, "ch2", seed);

    let series = dir.path().join("ct");
    let (okr, _, err) = common::run(&[
        "phantom",
        "--size",
        "128,128,80",
        "-o",
        &format!("{}/", series.display()),
    ]);
    assert!(okr, "{err}");
    let req = OpenRequest {
        path: Some(series),
        ..Default::default()
    };
    let h = open(gpu, req.clone());
    // Soft tissue of the body, left of centre in the axial pane.
    let seed = h.shell.panes.rects[0].center() + egui::vec2(-25.0, 40.0);
    drop(h);
    segment_save_reopen(gpu, req, "ct", seed);
}
