//! The desktop shell driven by real egui input events (pointer, wheel, keys) through the
//! offscreen harness, against the real app state on the GPU session: painting on the axial
//! pane changes exactly the voxels of the engine's reference op, the wheel moves the slice,
//! right-drag changes the window, undo restores, grow preview + Enter commits exactly the
//! previewed region, polygons fill, save + reopen gives the same mask, a crashed session's
//! journal is offered and recovered, 3D double-click moves the crosshair, review mode finds
//! and jumps to disagreements.
#![cfg(feature = "gui")]

use voxmark_testkit as common;

use common::ok;

/// The open document's labels in the offscreen shell.
fn labels(h: &voxmark_app::headless::Headless) -> Vec<u8> {
    ok(h.labels())
}

use eframe::egui::{self, Key, Modifiers, PointerButton, Pos2};
use std::path::{Path, PathBuf};
use voxmark_app::document::OpenRequest;
use voxmark_app::headless::Headless;
use voxmark_app::shell::{Shell, Tool};
use voxmark_edit::ops::{EditOp, Editable, Shape, Stroke};
use voxmark_edit::{apply_op_cpu, EditEnv};
use voxmark_gpu::GpuContext;
use voxmark_volume::geometry::view::ViewKind;
use voxmark_volume::phantom::Phantom;
use voxmark_volume::Volume;

const WINDOW: [u32; 2] = [1200, 800];

fn gpu() -> Option<&'static GpuContext> {
    common::gpu().map(|g| &*Box::leak(Box::new(g)))
}

/// A phantom written as NIfTI into `dir` (so labels and journal land there too).
fn phantom_file(dir: &Path) -> (PathBuf, Volume) {
    let vol = ok(Phantom::new([64, 56, 40])).volume();
    let p = dir.join("phantom.nii.gz");
    ok(voxmark_io::nifti::write_nifti(&p, &vol));
    // Read back: what the shell sees (same grid and values).
    let vol = ok(voxmark_io::nifti::read_nifti(&p));
    (p, vol)
}

fn open(gpu: &'static GpuContext, path: &Path) -> Headless {
    let mut shell = Shell::empty(gpu);
    ok(shell.open_blocking(&OpenRequest {
        path: Some(path.to_path_buf()),
        ..Default::default()
    }));
    let mut h = Headless::new(shell, WINDOW);
    ok(h.idle(3));
    assert!(h.shell.dialog.is_none(), "no dialog at open");
    h
}

/// Pane `i`'s size in pixels and the voxel under `p` (independent of the shell's own
/// mapping code path: built from the pane geometry).
fn voxel_under(h: &Headless, i: usize, p: Pos2) -> [f64; 3] {
    let r = h.shell.panes.rects[i];
    let size = [r.width().round() as u32, r.height().round() as u32];
    let doc = h
        .shell
        .doc
        .as_ref()
        .unwrap_or_else(|| panic!("no document"));
    let g = ok(doc.state.geometry(i, size));
    g.voxel_at([f64::from(p.x - r.min.x), f64::from(p.y - r.min.y)])
}

fn reference(vol: &Volume, start: &[u8], op: &EditOp) -> Vec<u8> {
    let env = EditEnv {
        image: vol,
        locked: [false; 256],
    };
    let mut l = start.to_vec();
    ok(apply_op_cpu(&env, &mut l, op));
    l
}

/// A grow of label 2 through the phantom's soft tissue from its centre.
fn soft_tissue_grow() -> EditOp {
    EditOp::Grow {
        seeds: vec![[32, 28, 20]],
        lower: -100.0,
        upper: 200.0,
        connectivity: 6,
        label: 2,
        roi: None,
        editable: Editable::EmptyOnly,
    }
}

fn center(h: &Headless, i: usize) -> Pos2 {
    h.shell.panes.rects[i].center()
}

fn paint_axial(h: &mut Headless) -> (EditOp, Vec<Pos2>) {
    ok(h.key(Key::B, Modifiers::NONE));
    assert_eq!(h.shell.tools.tool, Tool::Brush);
    if let Some(d) = &mut h.shell.doc {
        d.state.brush.radius_mm = 12.0;
    }
    let c = center(h, 0);
    let path: Vec<Pos2> = (1..=3)
        .map(|s| c + egui::vec2(12.0 * s as f32, 5.0 * s as f32))
        .collect();
    let mut all = vec![c];
    all.extend(&path);
    let pts: Vec<[f64; 3]> = all.iter().map(|p| voxel_under(h, 0, *p)).collect();
    let doc = h
        .shell
        .doc
        .as_ref()
        .unwrap_or_else(|| panic!("no document"));
    let op = EditOp::Paint(Stroke {
        shape: Shape::Disc,
        plane: Some(ViewKind::Axial),
        slice: Some(doc.state.panes[0].slice),
        points: pts,
        radius_mm: doc.state.brush.radius_mm,
        label: doc.state.brush.label,
        range: None,
        editable: Editable::Everywhere,
    });
    ok(h.drag(PointerButton::Primary, c, &path));
    (op, all)
}

#[test]
fn brush_on_axial_changes_exactly_the_reference_voxels_and_undo_restores() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    let files = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = ok(std::fs::read_dir(d))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // Opening and looking writes nothing but the mask's lock: no journal, no review database.
    assert_eq!(
        files(dir.path()),
        ["phantom.labels.nii.gz.journal.jsonl.lock", "phantom.nii.gz"],
        "files after open"
    );
    let before = labels(&h);
    let (op, _) = paint_axial(&mut h);
    let after = labels(&h);
    // The first edit creates the journal beside the mask, and nothing else.
    assert_eq!(
        files(dir.path()),
        [
            "phantom.labels.nii.gz.journal.jsonl",
            "phantom.labels.nii.gz.journal.jsonl.lock",
            "phantom.nii.gz"
        ],
        "files after the first stroke"
    );
    let expected = reference(&vol, &before, &op);
    let changed = after.iter().filter(|&&v| v != 0).count();
    assert!(changed > 20, "the stroke painted {changed} voxels");
    assert_eq!(after, expected, "GUI stroke == engine reference op");
    // Only the axial slice under the pane changed.
    let d = vol.grid.dims;
    let slice = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.state.panes[0].slice)
        .unwrap_or(0);
    for (idx, v) in after.iter().enumerate() {
        if *v != 0 {
            assert_eq!(idx / (d[0] * d[1]), slice);
        }
    }
    assert!(h.shell.doc.as_ref().is_some_and(|d| d.state.dirty));
    // Ctrl+Z restores exactly; Ctrl+Y and Ctrl+Shift+Z re-apply.
    ok(h.key(Key::Z, Modifiers::COMMAND));
    assert_eq!(labels(&h), before);
    ok(h.key(Key::Y, Modifiers::COMMAND));
    assert_eq!(labels(&h), expected);
    ok(h.key(Key::Z, Modifiers::COMMAND));
    ok(h.key(Key::Z, Modifiers::COMMAND | Modifiers::SHIFT));
    assert_eq!(labels(&h), expected);
    // The frame shows it: the label colour (red, label 1) is on screen.
    let px = ok(h.read_rgba());
    let red = px
        .chunks(4)
        .filter(|p| p[0] > 150 && p[1] < 110 && p[2] < 110)
        .count();
    assert!(
        red > 20,
        "painted voxels visible in the frame ({red} red pixels)"
    );
    drop(h);
    assert_eq!(
        files(dir.path()),
        ["phantom.labels.nii.gz.journal.jsonl", "phantom.nii.gz"],
        "closing the window releases the lock"
    );
}

#[test]
fn wheel_moves_the_slice_ctrl_wheel_zooms_right_drag_windows() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, _) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    let st = |h: &Headless| {
        let d = h
            .shell
            .doc
            .as_ref()
            .unwrap_or_else(|| panic!("no document"));
        (d.state.panes, d.state.window, d.state.crosshair)
    };
    let (p0, w0, _) = st(&h);
    ok(h.move_to(center(&h, 0)));
    ok(h.wheel(3.0, Modifiers::NONE));
    let (p1, _, c1) = st(&h);
    assert_eq!(p1[0].slice, p0[0].slice + 3, "three notches, three slices");
    assert_eq!(c1[2], (p0[0].slice + 3) as f64, "the crosshair follows");
    assert_eq!(p1[1], p0[1], "other panes keep their view");
    ok(h.wheel(-1.0, Modifiers::NONE));
    assert_eq!(st(&h).0[0].slice, p0[0].slice + 2);
    // Up / Down arrows step the slice of the pane under the cursor.
    ok(h.key(Key::ArrowUp, Modifiers::NONE));
    ok(h.key(Key::ArrowUp, Modifiers::NONE));
    ok(h.key(Key::ArrowDown, Modifiers::NONE));
    assert_eq!(st(&h).0[0].slice, p0[0].slice + 3);
    ok(h.key(Key::ArrowDown, Modifiers::NONE));
    h.modifiers = Modifiers::COMMAND;
    ok(h.wheel(2.0, Modifiers::COMMAND));
    h.modifiers = Modifiers::NONE;
    let (p2, _, _) = st(&h);
    assert!(p2[0].zoom > 1.2, "Ctrl+wheel zooms ({})", p2[0].zoom);
    assert_eq!(p2[0].slice, p1[0].slice - 1, "Ctrl+wheel does not scroll");
    // Right-drag: right widens, down raises the level.
    let c = center(&h, 1);
    let path: Vec<Pos2> = (1..=4)
        .map(|s| c + egui::vec2(10.0 * s as f32, 6.0 * s as f32))
        .collect();
    ok(h.drag(PointerButton::Secondary, c, &path));
    let (_, w3, _) = st(&h);
    assert!(w3.width > w0.width, "width {} -> {}", w0.width, w3.width);
    assert!(
        w3.center > w0.center,
        "level {} -> {}",
        w0.center,
        w3.center
    );
    // Middle-drag pans.
    ok(h.drag(
        PointerButton::Middle,
        c,
        &[c + egui::vec2(30.0, 0.0), c + egui::vec2(40.0, 0.0)],
    ));
    assert!(st(&h).0[1].pan_px[0] > 10.0);
    // A click with the crosshair tool moves the crosshair; the other panes follow.
    let target = center(&h, 0) + egui::vec2(-20.0, 15.0);
    let v = voxel_under(&h, 0, target);
    ok(h.click(target));
    let (p4, _, c4) = st(&h);
    assert_eq!([c4[0], c4[1]], [v[0].round(), v[1].round()]);
    assert_eq!(
        p4[2].slice as f64, c4[0],
        "sagittal pane at the crosshair's i"
    );
    assert_eq!(
        p4[1].slice as f64, c4[1],
        "coronal pane at the crosshair's j"
    );
}

#[test]
fn grow_preview_then_enter_commits_exactly_the_preview() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    ok(h.key(Key::G, Modifiers::NONE));
    assert_eq!(h.shell.tools.tool, Tool::Grow);
    h.shell.tools.grow.lower = -150.0;
    h.shell.tools.grow.upper = 150.0;
    // As if set with the sliders: the first click keeps it.
    h.shell.tools.grow.range_from_user = true;
    let p = center(&h, 0) + egui::vec2(-15.0, 10.0);
    let v = voxel_under(&h, 0, p);
    let d = vol.grid.dims;
    let seed = [0, 1, 2].map(|a| v[a].round().clamp(0.0, (d[a] - 1) as f64) as usize);
    ok(h.click(p));
    assert_eq!(h.shell.tools.grow.seeds, vec![seed]);
    assert!(
        h.shell
            .doc
            .as_ref()
            .is_some_and(|d| d.state.grow_pending().is_some()),
        "a preview is shown"
    );
    assert!(
        labels(&h).iter().all(|&l| l == 0),
        "the preview does not edit"
    );
    ok(h.key(Key::Enter, Modifiers::NONE));
    let op = EditOp::Grow {
        seeds: vec![seed],
        lower: -150.0,
        upper: 150.0,
        connectivity: 6,
        label: 1,
        roi: None,
        editable: Editable::Everywhere,
    };
    let expected = reference(&vol, &vec![0; d.iter().product()], &op);
    let got = labels(&h);
    assert!(got.iter().filter(|&&l| l != 0).count() > 100);
    assert_eq!(got, expected, "accepted grow == engine reference grow");
    assert!(h
        .shell
        .doc
        .as_ref()
        .is_some_and(|d| d.state.grow_pending().is_none()));
}

#[test]
fn polygon_fills_on_enter_and_save_reopen_is_identical() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    ok(h.key(Key::P, Modifiers::NONE));
    let c = center(&h, 0);
    let corners = [
        c + egui::vec2(-40.0, -30.0),
        c + egui::vec2(35.0, -25.0),
        c + egui::vec2(30.0, 40.0),
        c + egui::vec2(-30.0, 30.0),
    ];
    let slice = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.state.panes[0].slice)
        .unwrap_or(0);
    let pts: Vec<[f64; 2]> = corners
        .iter()
        .map(|p| {
            let v = voxel_under(&h, 0, *p);
            [v[0], v[1]]
        })
        .collect();
    for p in corners {
        ok(h.click(p));
    }
    assert_eq!(
        h.shell.tools.polygon.as_ref().map(|p| p.points.len()),
        Some(4)
    );
    ok(h.key(Key::Enter, Modifiers::NONE));
    let op = EditOp::Polygon {
        plane: ViewKind::Axial,
        slice,
        points: pts,
        label: 1,
        range: None,
        editable: Editable::Everywhere,
    };
    let n = vol.grid.voxel_count();
    let expected = reference(&vol, &vec![0; n], &op);
    let got = labels(&h);
    assert!(got.iter().filter(|&&l| l != 0).count() > 100);
    assert_eq!(got, expected, "polygon == engine reference");
    // Save, then reopen: the saved mask loads by default and is identical.
    ok(h.key(Key::S, Modifiers::COMMAND));
    // The mask is written by a worker thread; the UI keeps drawing meanwhile.
    assert!(
        ok(h.frames_until(2000, |s| !s.is_saving())),
        "save finished"
    );
    let saved = dir.path().join("phantom.labels.nii.gz");
    assert!(saved.exists(), "Ctrl+S wrote {}", saved.display());
    assert!(!h.shell.doc.as_ref().is_some_and(|d| d.state.dirty));
    let journal = voxmark_app::document::journal_path(&saved);
    assert_eq!(
        ok(std::fs::metadata(&journal)).len(),
        0,
        "saved ops leave the journal"
    );
    let hist = ok(std::fs::read_to_string(
        voxmark_app::document::history_path(&saved),
    ));
    assert!(hist.contains("\"polygon\""), "the history keeps the op");
    let on_disk = ok(voxmark_io::nifti::read_nifti(&saved));
    assert_eq!(on_disk.grid.world_from_voxel, vol.grid.world_from_voxel);
    drop(h);
    let h2 = open(gpu, &path);
    assert_eq!(labels(&h2), expected, "reopened mask is identical");
    assert!(h2.shell.doc.as_ref().is_some_and(|d| d.recovery.is_none()));
}

#[test]
fn a_crashed_sessions_journal_is_offered_and_recovered() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, _) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    paint_axial(&mut h);
    let painted = labels(&h);
    // No save: the process "dies" here (the journal was fsynced before the op returned).
    drop(h);
    let mut shell = Shell::empty(gpu);
    ok(shell.open_blocking(&OpenRequest {
        path: Some(path.clone()),
        ..Default::default()
    }));
    assert!(matches!(
        shell.dialog,
        Some(voxmark_app::shell::Dialog::Recovery)
    ));
    let doc = shell.doc.as_mut().unwrap_or_else(|| panic!("no document"));
    assert_eq!(doc.recovery.as_ref().map(|r| r.entries.len()), Some(1));
    assert_eq!(ok(doc.recover()), 1);
    assert_eq!(ok(doc.state.session.labels()).into_owned(), painted);
    assert!(doc.state.dirty, "recovered work is unsaved work");
}

#[test]
fn double_click_on_a_3d_label_surface_moves_the_crosshair() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    let d = vol.grid.dims;
    let c = [d[0] / 2, d[1] / 2, d[2] / 2].map(|x| x as f64);
    let pane3d = |h: &Headless| {
        let r = h.shell.panes.rects[3];
        let px = ok(h.read_rgba());
        let mut out = Vec::new();
        for y in r.min.y as u32 + 25..r.max.y as u32 - 25 {
            for x in r.min.x as u32 + 5..r.max.x as u32 - 5 {
                let i = ((y * WINDOW[0] + x) * 4) as usize;
                out.extend_from_slice(&px[i..i + 3]);
            }
        }
        out
    };
    let before_edit = pane3d(&h);
    h.shell.apply(EditOp::Paint(Stroke {
        shape: Shape::Sphere,
        plane: None,
        slice: None,
        points: vec![c],
        radius_mm: 40.0,
        label: 1,
        range: None,
        editable: Editable::Everywhere,
    }));
    ok(h.idle(1));
    assert_ne!(
        pane3d(&h),
        before_edit,
        "the edit shows in the 3D pane in the next frame"
    );
    h.shell.panes.view.mode3d = voxmark_gpu::kernels::raycast::RenderMode::Labels;
    ok(h.click(center(&h, 0) + egui::vec2(-60.0, -60.0)));
    let before = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.state.crosshair)
        .unwrap_or_default();
    // Half a second later (else egui counts a triple click).
    ok(h.idle(30));
    let p = center(&h, 3);
    ok(h.click(p));
    ok(h.click(p));
    let after = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.state.crosshair)
        .unwrap_or_default();
    assert_ne!(before, after, "the crosshair moved ({})", h.shell.status);
    let sp = vol.grid.spacing_mm();
    let dist: f64 = (0..3)
        .map(|a| ((after[a] - c[a]) * sp[a]).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        (dist - 40.0).abs() < 2.0 * sp.iter().cloned().fold(0.0, f64::max),
        "on the sphere's surface ({dist:.1} mm from its centre, radius 40 mm)"
    );
}

#[test]
fn review_mode_finds_and_jumps_to_disagreements() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    paint_axial(&mut h);
    let a = labels(&h);
    // B: A plus a separate blob, minus nothing.
    let d = vol.grid.dims;
    let mut b = a.clone();
    for k in 5..8 {
        for j in 5..9 {
            for i in 5..10 {
                b[i + d[0] * (j + d[1] * k)] = 1;
            }
        }
    }
    let b_vol = ok(Volume::new(
        vol.grid,
        voxmark_volume::VoxelData::U8(b),
        Default::default(),
    ));
    let bp = dir.path().join("b.nii.gz");
    ok(voxmark_io::nifti::write_nifti(&bp, &b_vol));
    ok(h.shell.start_review(bp));
    let r = h
        .shell
        .review
        .mode
        .as_ref()
        .unwrap_or_else(|| panic!("review mode"));
    assert_eq!(r.regions.len(), 1);
    assert_eq!(r.regions[0].voxels, 60);
    let m = &r.metrics[0];
    let inter = a.iter().filter(|&&v| v == 1).count() as f64;
    assert!((m.dice - 2.0 * inter / (2.0 * inter + 60.0)).abs() < 1e-12);
    h.shell.jump_region(0);
    let c = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.state.crosshair)
        .unwrap_or_default();
    assert_eq!(c, [5.0, 5.0, 5.0], "jumped to the disagreement");
    ok(h.idle(2));
    // The disagreement layer is drawn (cyan preview colour) on the axial slice at k = 5.
    let px = ok(h.read_rgba());
    let cyan = px
        .chunks(4)
        .filter(|p| p[2] > 100 && p[1] > 100 && p[0] < 60)
        .count();
    assert!(cyan > 10, "{cyan} cyan pixels");
}

#[test]
fn opening_another_image_with_unsaved_edits_asks_then_saves_first() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, _) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    paint_axial(&mut h);
    let painted = labels(&h);
    let other = dir.path().join("other.nii.gz");
    ok(voxmark_io::nifti::write_nifti(
        &other,
        &ok(Phantom::new([32, 30, 20])).volume(),
    ));
    h.shell.open(OpenRequest {
        path: Some(other),
        ..Default::default()
    });
    let Some(voxmark_app::shell::Dialog::ConfirmOpen(req)) = h.shell.dialog.take() else {
        panic!("no unsaved-changes question");
    };
    assert!(!h.shell.is_loading(), "nothing loads before the answer");
    h.shell.confirm_open(req, true);
    assert!(ok(
        h.frames_until(3000, |s| !s.is_saving() && !s.is_loading())
    ));
    let doc = h
        .shell
        .doc
        .as_ref()
        .unwrap_or_else(|| panic!("no document"));
    assert_eq!(doc.title, "other.nii.gz");
    let saved = ok(voxmark_io::nifti::read_nifti(
        &dir.path().join("phantom.labels.nii.gz"),
    ));
    match saved.data {
        voxmark_volume::VoxelData::U8(v) => assert_eq!(v, painted, "saved before switching"),
        _ => panic!("labels are u8"),
    }
}

/// Fill between slices as a user does it: two key slices painted with the brush, the
/// preview started, a third key slice painted while it is on (the preview follows, cyan,
/// without editing), Enter commits exactly the engine's `interpolate` op.
#[test]
fn fill_between_slices_preview_follows_new_key_slices_and_enter_commits_the_reference() {
    use voxmark_edit::session::GrowPreview;
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    ok(h.key(Key::B, Modifiers::NONE));
    if let Some(d) = &mut h.shell.doc {
        d.state.brush.radius_mm = 6.0;
        d.state.brush.shape = Shape::Disc;
    }
    let c = center(&h, 0);
    let slice = |h: &Headless| h.shell.doc.as_ref().map_or(0, |d| d.state.panes[0].slice);
    let mut keys = Vec::new();
    let key_slice = |h: &mut Headless, at: Pos2, keys: &mut Vec<usize>| {
        ok(h.click(at));
        keys.push(slice(h));
        ok(h.move_to(c));
        for _ in 0..6 {
            ok(h.key(Key::ArrowUp, Modifiers::NONE));
        }
    };
    ok(h.move_to(c));
    key_slice(&mut h, c, &mut keys);
    key_slice(&mut h, c + egui::vec2(8.0, 4.0), &mut keys);
    h.shell.start_fill_between(ViewKind::Axial);
    ok(h.idle(1));
    let preview = |h: &Headless| -> Vec<u8> {
        match h.shell.doc.as_ref().and_then(|d| d.state.grow_pending()) {
            Some(GrowPreview::Gpu(m)) => ok(m.download(gpu)),
            Some(GrowPreview::Host { mask, .. }) => mask.clone(),
            None => panic!("no preview: {}", h.shell.status),
        }
    };
    let d = vol.grid.dims;
    let plane = d[0] * d[1];
    let filled_slices = |m: &[u8]| -> Vec<usize> {
        (0..d[2])
            .filter(|&z| m[z * plane..(z + 1) * plane].iter().any(|&x| x != 0))
            .collect()
    };
    assert_eq!(
        filled_slices(&preview(&h)),
        (keys[0] + 1..keys[1]).collect::<Vec<_>>(),
        "the preview fills the slices between the key slices: {}",
        h.shell.status
    );
    // A third key slice: the preview follows on the next frame; the labels hold only strokes.
    key_slice(&mut h, c + egui::vec2(-6.0, 8.0), &mut keys);
    ok(h.idle(1));
    assert_eq!(
        filled_slices(&preview(&h)),
        (keys[0] + 1..keys[2])
            .filter(|z| *z != keys[1])
            .collect::<Vec<_>>()
    );
    let strokes = labels(&h);
    assert_eq!(filled_slices(&strokes), keys, "the preview does not edit");
    ok(h.key(Key::Enter, Modifiers::NONE));
    let op = EditOp::Interpolate {
        label: 1,
        axis: ViewKind::Axial,
        editable: Editable::Everywhere,
    };
    let got = labels(&h);
    assert_eq!(
        got,
        reference(&vol, &strokes, &op),
        "Enter == the interpolate op"
    );
    assert_eq!(filled_slices(&got), (keys[0]..=keys[2]).collect::<Vec<_>>());
    assert!(
        h.shell.status.contains("interpolate accepted"),
        "{}",
        h.shell.status
    );
    assert!(
        !h.shell.tools.fill_between,
        "fill between slices stops on Enter"
    );
}

/// Grow from seeds as a user does it: brush strokes of a structure (label 1, the aorta) and
/// of the background (label 9), Initialise shows a preview without editing, a further stroke
/// updates it incrementally, Enter applies exactly the engine's `grow_cut` op on the preview's
/// ROI (journaled): the background strokes are gone, the structure grew.
#[test]
fn grow_from_seeds_preview_updates_on_a_stroke_and_enter_applies_the_reference() {
    use voxmark_edit::session::GrowPreview;
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    ok(h.key(Key::B, Modifiers::NONE));
    let set_brush = |h: &mut Headless, label: u8, r: f64| {
        if let Some(d) = &mut h.shell.doc {
            d.state.brush.label = label;
            d.state.brush.radius_mm = r;
            d.state.brush.shape = Shape::Disc;
        }
    };
    let c = center(&h, 0);
    // The aorta of the 64x56x40 phantom is at voxel (33.3, 33.1): find it on screen.
    let aorta = {
        let mut best = (f64::INFINITY, c);
        for dy in -60..60 {
            for dx in -60..60 {
                let p = c + egui::vec2(dx as f32, dy as f32);
                let v = voxel_under(&h, 0, p);
                let e = (v[0] - 33.3).hypot(v[1] - 33.1);
                if e < best.0 {
                    best = (e, p);
                }
            }
        }
        best.1
    };
    set_brush(&mut h, 1, 5.0);
    ok(h.click(aorta));
    set_brush(&mut h, 9, 4.0);
    ok(h.drag(
        PointerButton::Primary,
        c + egui::vec2(-40.0, -30.0),
        &[c + egui::vec2(-20.0, -30.0)],
    ));
    let painted = labels(&h);
    assert!(
        painted.contains(&1) && painted.contains(&9),
        "strokes of 1 and 9: {}",
        h.shell.status
    );
    h.shell.start_grow_cut();
    ok(h.idle(1));
    let preview = |h: &Headless| -> Vec<u8> {
        match h.shell.doc.as_ref().and_then(|d| d.state.grow_pending()) {
            Some(GrowPreview::Gpu(m)) => ok(m.download(gpu)),
            Some(GrowPreview::Host { mask, .. }) => mask.clone(),
            None => panic!("no preview: {}", h.shell.status),
        }
    };
    let first = preview(&h);
    assert!(
        first.iter().filter(|&&l| l == 1).count() > 50,
        "the preview grows label 1: {}",
        h.shell.status
    );
    // A second structure stroke on another slice: the preview is updated, not recomputed.
    ok(h.move_to(c));
    ok(h.key(Key::ArrowUp, Modifiers::NONE));
    set_brush(&mut h, 1, 5.0);
    ok(h.click(aorta));
    ok(h.idle(1));
    assert!(h.shell.status.contains("updated"), "{}", h.shell.status);
    let strokes = labels(&h);
    assert!(strokes.contains(&9) && !preview(&h).contains(&9));
    let op = h
        .shell
        .doc
        .as_ref()
        .and_then(|d| d.state.pending_op().cloned())
        .unwrap_or_else(|| panic!("a pending grow_cut op"));
    assert!(matches!(op, EditOp::GrowCut { .. }), "{op:?}");
    let shown = preview(&h).iter().filter(|&&l| l == 1).count();
    let painted = strokes.iter().filter(|&&l| l == 1).count();
    // The 3D pane draws the preview as the labels Enter will write.
    let layer = h
        .shell
        .doc
        .as_ref()
        .and_then(|d| d.view3d_preview.as_ref())
        .map(|m| ok(m.download(gpu)))
        .unwrap_or_else(|| panic!("the 3D pane shows the preview"));
    assert!(
        layer == reference(&vol, &strokes, &op),
        "the 3D preview layer is what Enter applies"
    );
    if let Ok(dir) = std::env::var("VOXMARK_SHOT_DIR") {
        let px = ok(h.read_rgba());
        let p = Path::new(&dir).join("grow_from_seeds_preview.png");
        ok(voxmark_render::png_out::write_png(
            &p, &px, h.size[0], h.size[1],
        ));
    }
    ok(h.key(Key::Enter, Modifiers::NONE));
    let got = labels(&h);
    assert_eq!(
        got,
        reference(&vol, &strokes, &op),
        "Enter == the grow_cut op"
    );
    assert!(!got.contains(&9), "the background strokes are cleared");
    let grown = got.iter().filter(|&&l| l == 1).count();
    assert_eq!(grown, shown + painted, "what was shown is what was applied");
    assert!(
        !h.shell.tools.grow_cut.active(),
        "grow from seeds stops on Enter"
    );
}

/// Scissors through real events: X, four clicks on the axial pane, Enter erases the active
/// label inside the polygon through every axial slice — exactly the engine's `scissors` op.
#[test]
fn scissors_cut_through_every_slice_on_enter() {
    use voxmark_edit::ops::{ScissorsAction, ScissorsRegion};
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    // The body as label 1 (a threshold), then cut a prism out of it.
    h.shell.apply(EditOp::Threshold {
        range: [-500.0, 3000.0],
        label: 1,
        roi: None,
        editable: Editable::Everywhere,
    });
    let start = labels(&h);
    ok(h.key(Key::X, Modifiers::NONE));
    assert_eq!(h.shell.tools.tool, Tool::Scissors);
    let c = center(&h, 0);
    let corners = [
        c + egui::vec2(-25.0, -20.0),
        c + egui::vec2(30.0, -15.0),
        c + egui::vec2(20.0, 30.0),
        c + egui::vec2(-20.0, 25.0),
    ];
    let pts: Vec<[f64; 2]> = corners
        .iter()
        .map(|p| {
            let v = voxel_under(&h, 0, *p);
            [v[0], v[1]]
        })
        .collect();
    for p in corners {
        ok(h.click(p));
    }
    ok(h.key(Key::Enter, Modifiers::NONE));
    let op = EditOp::Scissors {
        plane: ViewKind::Axial,
        points: pts,
        region: ScissorsRegion::Inside,
        action: ScissorsAction::Erase,
        label: 1,
        depth: None,
        range: None,
        editable: Editable::Everywhere,
    };
    let got = labels(&h);
    assert_eq!(
        got,
        reference(&vol, &start, &op),
        "Enter == the scissors op"
    );
    let d = vol.grid.dims;
    let plane = d[0] * d[1];
    let cut_per_slice: Vec<usize> = (0..d[2])
        .map(|z| {
            (0..plane)
                .filter(|&i| start[z * plane + i] == 1 && got[z * plane + i] == 0)
                .count()
        })
        .collect();
    assert!(
        cut_per_slice.iter().filter(|&&n| n > 20).count() > d[2] / 2,
        "cut through the slices: {cut_per_slice:?}"
    );
}

/// File ▸ Export segmentation (`Document::export_segmentation`, what its dialog runs) after a
/// brush stroke (label 1) and a grow (label 2, journaled): each format's file reads back onto
/// the image's grid as exactly the shell's labels; the DICOM SEG marks the grown label
/// SEMIAUTOMATIC and the painted one MANUAL.
#[test]
fn export_segmentation_from_the_file_menu_round_trips() {
    use dicom_dictionary_std::tags;
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    paint_axial(&mut h);
    let grow = soft_tissue_grow();
    if let Some(d) = &mut h.shell.doc {
        ok(d.state.apply(&grow));
    }
    ok(h.idle(1));
    let want = labels(&h);
    assert!(want.contains(&1) && want.contains(&2));
    for (dicom, name) in [(true, "out.seg.dcm"), (false, "out.seg.nrrd")] {
        let out = dir.path().join(name);
        let d = h.shell.doc.as_ref().unwrap_or_else(|| panic!("document"));
        let msg = ok(d.export_segmentation(&out, dicom));
        assert!(msg.contains("wrote"), "{msg}");
        let back = ok(voxmark_io::label_file::read_label_map(&out, &vol.grid));
        assert!(
            back.labels == want,
            "{name}: read back == the shell's labels"
        );
        if dicom {
            let obj = ok(dicom_object::open_file(&out).map_err(|e| e.to_string()));
            let segs = obj
                .element(tags::SEGMENT_SEQUENCE)
                .ok()
                .and_then(|e| e.items().map(|v| v.to_vec()))
                .unwrap_or_default();
            let kinds: Vec<(String, String)> = segs
                .iter()
                .map(|s| {
                    let t = |tag| {
                        s.element(tag)
                            .ok()
                            .and_then(|e| e.to_str().ok())
                            .map(|v| v.trim().to_string())
                            .unwrap_or_default()
                    };
                    (
                        t(tags::SEGMENT_DESCRIPTION),
                        t(tags::SEGMENT_ALGORITHM_TYPE),
                    )
                })
                .collect();
            assert!(
                kinds.contains(&("voxmark label 1".into(), "MANUAL".into())),
                "{kinds:?}"
            );
            assert!(
                kinds.contains(&("voxmark label 2".into(), "SEMIAUTOMATIC".into())),
                "{kinds:?}"
            );
        }
    }
}

/// One writer per mask: a second window on a mask another window edits opens it read-only
/// (a dialog says whose it is); its strokes and saves are refused and change nothing; "Open
/// a copy" saves what it shows under a new name that it then owns and edits; both windows'
/// saves land in their own files.
#[test]
fn a_second_window_on_the_same_mask_is_read_only_until_it_opens_a_copy() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let mut a = open(gpu, &path);
    paint_axial(&mut a);
    if let Some(d) = &mut a.shell.doc {
        ok(d.save());
    }
    let saved_a = labels(&a);
    // Unsaved work in A: B must not see it or write over it.
    let grow = soft_tissue_grow();
    if let Some(d) = &mut a.shell.doc {
        ok(d.state.apply(&grow));
    }
    let mut shell = Shell::empty(gpu);
    ok(shell.open_blocking(&OpenRequest {
        path: Some(path.clone()),
        ..Default::default()
    }));
    let why = match &shell.dialog {
        Some(voxmark_app::shell::Dialog::ReadOnly(w)) => w.clone(),
        other => panic!("expected the read-only dialog, got {other:?}"),
    };
    assert!(
        why.contains("voxmark shell") && why.contains(&format!("pid {}", std::process::id())),
        "{why}"
    );
    let mut b = Headless::new(shell, WINDOW);
    ok(b.idle(2));
    assert_eq!(labels(&b), saved_a, "B shows the last saved mask");
    b.shell.dialog = None; // "Look read-only"
    paint_axial(&mut b);
    assert_eq!(
        labels(&b),
        saved_a,
        "a stroke in a read-only window changes nothing"
    );
    let doc_b = b.shell.doc.as_mut().unwrap_or_else(|| panic!("document"));
    assert!(matches!(
        doc_b.save(),
        Err(voxmark_volume::Error::ReadOnly(_))
    ));
    assert!(!doc_b.state.dirty);
    // Open a copy: B owns a new file with what it showed, and edits it.
    let copy = ok(doc_b.edit_a_copy());
    assert!(doc_b.read_only().is_none());
    assert_eq!(copy.parent(), path.parent());
    let on_disk = |p: &Path| -> Vec<u8> {
        let v = ok(voxmark_io::nifti::read_nifti(p));
        (0..v.data.len()).map(|i| v.data.get_f64(i) as u8).collect()
    };
    assert_eq!(on_disk(&copy), saved_a);
    ok(b.idle(1));
    let (op_b, _) = paint_axial(&mut b);
    let want_b = reference(&vol, &saved_a, &op_b);
    assert_eq!(labels(&b), want_b);
    if let Some(d) = &mut b.shell.doc {
        ok(d.save());
    }
    // A saves its own work over its own mask; the copy keeps B's.
    let want_a = labels(&a);
    if let Some(d) = &mut a.shell.doc {
        ok(d.save());
    }
    let mask_a = a
        .shell
        .doc
        .as_ref()
        .map(|d| d.labels_path.clone())
        .unwrap_or_default();
    assert_eq!(on_disk(&mask_a), want_a);
    assert_eq!(on_disk(&copy), want_b);
    assert!(want_a.contains(&2) && !want_b.contains(&2));
    // A closes: the mask is free again.
    drop(a);
    let c = open(gpu, &path);
    assert!(c
        .shell
        .doc
        .as_ref()
        .is_some_and(|d| d.read_only().is_none()));
}

/// A crash after the mask was saved but before the journal checkpoint: the saved mask says
/// which journaled op it holds last, so reopening offers nothing to recover and the
/// (non-idempotent) dilation is not applied a second time.
#[test]
fn a_crash_between_save_and_checkpoint_applies_nothing_twice() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, _) = phantom_file(dir.path());
    let mut h = open(gpu, &path);
    paint_axial(&mut h);
    let dilate = EditOp::Dilate {
        label: 1,
        radius_mm: 6.0,
        editable: Editable::Everywhere,
    };
    let doc = h.shell.doc.as_mut().unwrap_or_else(|| panic!("document"));
    ok(doc.state.apply(&dilate));
    let want = ok(doc.state.session.labels()).into_owned();
    let job = ok(doc.begin_save());
    ok(ok(job.rx.recv()));
    // The process dies here: finish_save (the checkpoint) never runs.
    let journal = voxmark_app::document::journal_path(&doc.labels_path);
    drop(h);
    let (_, rec) = ok(voxmark_edit::journal::Journal::open(&journal, "check"));
    assert_eq!(rec.entries.len(), 2, "the journal still holds both ops");
    drop(rec);
    let h2 = open(gpu, &path);
    let doc = h2.shell.doc.as_ref().unwrap_or_else(|| panic!("document"));
    assert!(doc.recovery.is_none(), "nothing to recover");
    assert!(
        doc.notes
            .iter()
            .any(|n| n.contains("2 journaled operations are already in the saved mask")),
        "{:?}",
        doc.notes
    );
    assert_eq!(labels(&h2), want, "the dilation is applied once");
}

/// The markups of the shell's session.
fn markups(h: &Headless) -> Vec<voxmark_volume::markup::Markup> {
    h.shell
        .doc
        .as_ref()
        .map(|d| d.state.session.markups().markups.clone())
        .unwrap_or_default()
}

#[test]
fn markups_place_move_undo_save_and_reopen() {
    use voxmark_app::tools::world_of;
    use voxmark_volume::markup::MarkupKind;
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let g = vol.grid;
    let mut h = open(gpu, &path);
    let c = center(&h, 0);
    let close = |a: [f64; 3], b: [f64; 3]| (0..3).all(|k| (a[k] - b[k]).abs() < 1e-9);
    // A landmark (L): one click.
    ok(h.key(Key::L, Modifiers::NONE));
    let p1 = c + egui::vec2(-30.0, -20.0);
    let v1 = voxel_under(&h, 0, p1);
    ok(h.click(p1));
    // A line (R, the ruler): a drag.
    ok(h.key(Key::R, Modifiers::NONE));
    assert_eq!(h.shell.tools.tool, Tool::Markup(MarkupKind::Line));
    let (a, b) = (c + egui::vec2(-40.0, 30.0), c + egui::vec2(40.0, 36.0));
    let (va, vb) = (voxel_under(&h, 0, a), voxel_under(&h, 0, b));
    ok(h.drag(PointerButton::Primary, a, &[c, b]));
    // A 3D box: a drag in the coronal pane.
    h.shell.tools.tool = Tool::Markup(MarkupKind::Box);
    let cc = center(&h, 1);
    let (q0, q1) = (cc + egui::vec2(-20.0, -15.0), cc + egui::vec2(25.0, 10.0));
    let (w0, w1) = (voxel_under(&h, 1, q0), voxel_under(&h, 1, q1));
    ok(h.drag(PointerButton::Primary, q0, &[q1]));
    let m = markups(&h);
    assert_eq!(
        m.iter().map(|m| m.kind).collect::<Vec<_>>(),
        [MarkupKind::Point, MarkupKind::Line, MarkupKind::Box]
    );
    assert!(close(m[0].points[0], world_of(&g, v1)), "{:?}", m[0].points);
    assert!(close(m[1].points[0], world_of(&g, va)) && close(m[1].points[1], world_of(&g, vb)));
    let len = glam::DVec3::from(world_of(&g, va)).distance(glam::DVec3::from(world_of(&g, vb)));
    assert!((m[1].path_length_mm() - len).abs() < 1e-9);
    // The box spans the drag in the coronal plane (x and z here) and has depth along y.
    let (lo, hi) = m[2].box_min_max();
    let (e0, e1) = (world_of(&g, w0), world_of(&g, w1));
    for k in [0, 2] {
        assert!((lo[k] - e0[k].min(e1[k])).abs() < 1e-9 && (hi[k] - e0[k].max(e1[k])).abs() < 1e-9);
    }
    assert!(hi[1] - lo[1] > 1.0, "the box has depth: {lo} {hi}");
    // Move the line's end by dragging its handle; undo puts it back, redo moves it again.
    h.shell.tools.tool = Tool::Markup(MarkupKind::Line);
    let b2 = b + egui::vec2(0.0, 25.0);
    let vb2 = voxel_under(&h, 0, b2);
    ok(h.drag(PointerButton::Primary, b, &[b2]));
    let m = markups(&h);
    assert_eq!(m.len(), 3, "a handle drag moves, it does not draw");
    assert!(close(m[1].points[1], world_of(&g, vb2)));
    ok(h.key(Key::Z, Modifiers::COMMAND));
    assert!(close(markups(&h)[1].points[1], world_of(&g, vb)));
    ok(h.key(Key::Y, Modifiers::COMMAND));
    let seen = markups(&h);
    assert!(close(seen[1].points[1], world_of(&g, vb2)));
    if let Ok(dir) = std::env::var("VOXMARK_SHOT_DIR") {
        ok(h.idle(2));
        let px = ok(h.read_rgba());
        let p = Path::new(&dir).join("markups.png");
        ok(voxmark_render::png_out::write_png(
            &p, &px, h.size[0], h.size[1],
        ));
    }
    // Delete removes the selected markup (the line, just moved); undo brings it back.
    ok(h.key(Key::Delete, Modifiers::NONE));
    assert_eq!(markups(&h).len(), 2);
    ok(h.key(Key::Z, Modifiers::COMMAND));
    assert_eq!(markups(&h), seen);
    // Save; the markups file is Slicer's JSON beside the mask; reopen: the same markups.
    ok(h.key(Key::S, Modifiers::COMMAND));
    assert!(
        ok(h.frames_until(2000, |s| !s.is_saving())),
        "save finished"
    );
    let saved = dir.path().join("phantom.labels.mrk.json");
    let on_disk = ok(voxmark_io::markups::read_slicer(&saved));
    assert_eq!(on_disk.markups, seen);
    drop(h);
    let h2 = open(gpu, &path);
    assert_eq!(markups(&h2), seen, "reopened markups are identical");
}

/// A label map on a grid shifted by 0.6 voxel: the window says what differs and what
/// nearest-neighbour resampling changes, and resamples only when asked (the dialog's
/// request); the labels are then the map shifted by one voxel (worked out by hand: image
/// voxel i takes the map's voxel round-half-up(i − 0.6) = i − 1), and Save writes a new
/// file, leaving the map as it was.
#[test]
fn a_label_map_on_another_grid_is_resampled_only_after_asking() {
    let Some(gpu) = gpu() else { return };
    let dir = common::tempdir();
    let (path, vol) = phantom_file(dir.path());
    let [nx, ny, nz] = vol.grid.dims;
    let mut lab = vec![0u8; vol.grid.voxel_count()];
    for k in 10..20 {
        for j in 10..30 {
            for i in 5..25 {
                lab[vol.grid.index(i, j, k)] = 3;
            }
        }
    }
    lab[vol.grid.index(0, 0, 0)] = 1;
    let mut shifted = vol.grid;
    let step = shifted.world_from_voxel.x_axis;
    shifted.world_from_voxel.w_axis += step * 0.6;
    let lab_path = dir.path().join("shifted.nii.gz");
    ok(voxmark_io::nifti::write_nifti(
        &lab_path,
        &ok(Volume::new(
            shifted,
            voxmark_volume::VoxelData::U8(lab.clone()),
            voxmark_volume::Metadata {
                format: "nifti".into(),
                sform_code: 1,
                qform_code: 1,
                ..Default::default()
            },
        )),
    ));
    let before = std::fs::read(&lab_path).unwrap_or_else(|e| panic!("{e}"));
    let mut shell = Shell::empty(gpu);
    shell.open(OpenRequest {
        path: Some(path.clone()),
        labels: Some(lab_path.clone()),
        ..Default::default()
    });
    let mut h = Headless::new(shell, WINDOW);
    assert!(ok(h.frames_until(3000, |s| !s.is_loading())));
    assert!(h.shell.doc.is_none(), "nothing opened before the answer");
    let Some(voxmark_app::shell::Dialog::ConfirmResample {
        request,
        refusal,
        note,
    }) = h.shell.dialog.take()
    else {
        panic!("no resampling question: {:?}", h.shell.dialog);
    };
    assert!(
        refusal.contains("different grid") && refusal.contains("mm in"),
        "{refusal}"
    );
    // Every map voxel i lands on image voxel i + 1 and comes back (map voxel nx − 1, which
    // would fall off the image, is unlabelled).
    assert!(
        note.contains("0 of its 4001 labelled voxels change label"),
        "{note}"
    );
    h.shell.open(request);
    assert!(ok(h.frames_until(3000, |s| !s.is_loading())));
    let mut want = vec![0u8; vol.grid.voxel_count()];
    for k in 0..nz {
        for j in 0..ny {
            for i in 1..nx {
                want[vol.grid.index(i, j, k)] = lab[vol.grid.index(i - 1, j, k)];
            }
        }
    }
    assert_eq!(labels(&h), want);
    let doc = h.shell.doc.as_mut().unwrap_or_else(|| panic!("document"));
    assert_eq!(
        doc.labels_path,
        dir.path().join("shifted.image-grid.nii.gz"),
        "a resampled map saves to a new file"
    );
    ok(doc.save());
    assert_eq!(
        std::fs::read(&lab_path).unwrap_or_else(|e| panic!("{e}")),
        before,
        "the map itself is kept"
    );
}
