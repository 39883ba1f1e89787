//! The shell's state driven like a user would: wheel, Ctrl+wheel, right-drag, click, a
//! brush stroke on the axial pane, undo and redo — on the CPU session and the GPU session.

use voxmark_testkit as common;

use voxmark_app::state::AppState;
use voxmark_edit::session::Session;
use voxmark_edit::{apply_op_cpu, EditEnv};
use voxmark_volume::phantom::Phantom;
use voxmark_volume::WindowPreset;

const PANE: [u32; 2] = [200, 160];

fn window() -> WindowPreset {
    WindowPreset {
        center: 40.0,
        width: 400.0,
    }
}

/// The app on a CPU session, or on a GPU session when `gpu` and an adapter is present.
fn app_for<'a>(
    vol: &'a voxmark_volume::Volume,
    ctx: Option<&'a voxmark_gpu::GpuContext>,
    gpu: bool,
) -> Option<AppState<'a>> {
    let n = vol.grid.voxel_count();
    let s = match (ctx, gpu) {
        (Some(c), true) => Session::on_gpu(c, vol, &vec![0; n]),
        (None, true) => return None,
        _ => Session::new(vol, vec![0; n]),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    Some(AppState::new(s, window()).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn navigation_wheel_zoom_window_and_click() {
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let s = Session::new(&vol, vec![0; vol.grid.voxel_count()]).unwrap_or_else(|e| panic!("{e}"));
    let mut app = AppState::new(s, window()).unwrap_or_else(|e| panic!("{e}"));
    // The phantom is axial LPS-like: the axial pane's normal is k.
    assert_eq!(app.panes[0].slice, 20);
    app.scroll(0, 3).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((app.panes[0].slice, app.crosshair[2]), (23, 23.0));
    app.scroll(0, 1000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(app.panes[0].slice, 39, "clamped to the last slice");
    // Ctrl+wheel zooms about the cursor: the voxel under it stays put.
    let at = [150.0, 40.0];
    let span = |app: &AppState| {
        let l = app
            .voxel_at(1, PANE, [0.0, 80.0])
            .unwrap_or_else(|e| panic!("{e}"));
        let r = app
            .voxel_at(1, PANE, [200.0, 80.0])
            .unwrap_or_else(|e| panic!("{e}"));
        (r[0] - l[0]).abs()
    };
    let span1 = span(&app);
    let before = app.voxel_at(1, PANE, at).unwrap_or_else(|e| panic!("{e}"));
    app.zoom(1, PANE, at, 2.5).unwrap_or_else(|e| panic!("{e}"));
    let after = app.voxel_at(1, PANE, at).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (0..3).all(|a| (before[a] - after[a]).abs() < 1e-3),
        "{before:?} {after:?}"
    );
    assert!((span1 / span(&app) - 2.5).abs() < 1e-3, "zoomed in 2.5x");
    // Right-drag: right widens the window, down raises the level.
    app.drag_window([10.0, -4.0]);
    assert_eq!(app.window.width, 420.0);
    assert_eq!(app.window.center, 32.0);
    // A click in the coronal pane moves the crosshair; axial and sagittal follow it.
    app.click(1, PANE, [100.0, 80.0])
        .unwrap_or_else(|e| panic!("{e}"));
    let c = app.crosshair;
    assert_eq!(app.panes[0].slice as f64, c[2]);
    assert_eq!(app.panes[2].slice as f64, c[0]);
    assert_eq!(
        c[1], app.panes[1].slice as f64,
        "the coronal pane's own slice"
    );
}

#[test]
fn brush_stroke_paints_the_axial_slice_and_undo_restores() {
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let n = vol.grid.voxel_count();
    let ctx = common::gpu();
    let mut results = Vec::new();
    for gpu in [false, true] {
        let Some(mut app) = app_for(&vol, ctx.as_ref(), gpu) else {
            continue;
        };
        app.brush.radius_mm = 20.0;
        app.brush.label = 3;
        app.stroke_begin(0, PANE, [60.0, 60.0], false)
            .unwrap_or_else(|e| panic!("{e}"));
        app.stroke_extend(PANE, [90.0, 70.0])
            .unwrap_or_else(|e| panic!("{e}"));
        app.stroke_extend(PANE, [140.0, 75.0])
            .unwrap_or_else(|e| panic!("{e}"));
        let op = app
            .stroke_op()
            .unwrap_or_else(|| panic!("a stroke is in progress"));
        let r = app
            .stroke_end()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("applied"));
        assert!(r.changed_voxels > 50, "{}", r.changed_voxels);
        assert!(app.dirty);
        // Exactly the voxels of the same op applied by the engine's CPU reference.
        let mut want = vec![0u8; n];
        let env = EditEnv {
            image: &vol,
            locked: [false; 256],
        };
        apply_op_cpu(&env, &mut want, &op).unwrap_or_else(|e| panic!("{e}"));
        let got = app
            .session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_owned();
        assert!(got == want, "gpu={gpu}");
        // A disc: only the axial pane's slice is painted.
        let slice = app.panes[0].slice;
        let plane = 60 * 50;
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, &l)| l == 0 || i / plane == slice));
        app.undo().unwrap_or_else(|e| panic!("{e}"));
        assert!(app
            .session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .all(|&l| l == 0));
        app.redo().unwrap_or_else(|e| panic!("{e}"));
        assert!(*app.session.labels().unwrap_or_else(|e| panic!("{e}")) == *want);
        results.push(got);
    }
    if results.len() == 2 {
        assert!(
            results[0] == results[1],
            "GPU and CPU sessions paint the same"
        );
    }
}

#[test]
fn grow_preview_then_accept_commits_and_cancel_does_not() {
    use voxmark_edit::session::GrowPreview;
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let ctx = common::gpu();
    for gpu in [false, true] {
        let Some(mut app) = app_for(&vol, ctx.as_ref(), gpu) else {
            continue;
        };
        app.brush.label = 7;
        // Soft tissue under the middle of the axial pane.
        let preview = app
            .grow_preview(0, PANE, [100.0, 80.0], -200.0, 200.0, 6)
            .unwrap_or_else(|e| panic!("{e}"));
        let grown = match preview {
            GrowPreview::Host { voxels, .. } => Some(*voxels),
            GrowPreview::Gpu(m) => {
                let c = ctx.as_ref().unwrap_or_else(|| panic!("gpu"));
                Some(
                    m.download(c)
                        .unwrap_or_else(|e| panic!("{e}"))
                        .iter()
                        .filter(|&&v| v != 0)
                        .count() as u64,
                )
            }
        };
        let labels = |app: &AppState| {
            app.session
                .labels()
                .unwrap_or_else(|e| panic!("{e}"))
                .into_owned()
        };
        assert!(
            labels(&app).iter().all(|&l| l == 0),
            "a preview changes nothing"
        );
        app.cancel_grow();
        assert!(app.grow_pending().is_none());
        assert!(app
            .accept_grow()
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none());
        app.grow_preview(0, PANE, [100.0, 80.0], -200.0, 200.0, 6)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = app
            .accept_grow()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(Some(r.changed_voxels), grown, "gpu={gpu}");
        assert!(r.changed_voxels > 1000);
        let l = labels(&app);
        assert_eq!(
            l.iter().filter(|&&v| v == 7).count() as u64,
            r.changed_voxels
        );
        app.undo().unwrap_or_else(|e| panic!("{e}"));
        assert!(labels(&app).iter().all(|&v| v == 0));
    }
}

/// The tools without egui: a grow seed takes the seed's value as its first range and the
/// preview holds exactly the voxels the CPU reference grows; a polygon with two vertices is
/// dropped, one with four fills exactly what the CPU reference fills; Esc forgets the seeds.
#[test]
fn tool_state_drives_grow_and_polygon_without_ui() {
    use voxmark_app::tools::ToolState;
    use voxmark_gpu::kernels::region_grow::{region_grow_cpu, GrowRequest, RegionGrowParams};
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let n = vol.grid.voxel_count();
    let mut app = app_for(&vol, None, false).unwrap_or_else(|| panic!("cpu app"));
    let mut tools = ToolState::default();
    let seed = [30, 25, 20];
    let value = vol.value(seed[0], seed[1], seed[2]);
    // A first click sets the range as Auto range does (not the window's default), and says so.
    let first = tools
        .add_seed(&mut app, seed)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a status"));
    assert!(first.starts_with("first seed: auto range"), "{first}");
    let mut auto = ToolState::default();
    auto.grow.seeds.push(seed);
    auto.auto_grow_range(&mut app)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (tools.grow.lower, tools.grow.upper),
        (auto.grow.lower, auto.grow.upper)
    );
    assert!(tools.grow.lower <= value && value <= tools.grow.upper);
    tools.cancel(Some(&mut app));
    // A range the user set is kept by the first click.
    tools.grow.lower = value;
    tools.grow.upper = value;
    tools.grow.range_from_user = true;
    let status = tools
        .add_seed(&mut app, seed)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a preview"));
    assert_eq!((tools.grow.lower, tools.grow.upper), (value, value));
    let req = GrowRequest {
        seeds: vec![seed],
        lower: value,
        upper: value,
        connectivity: voxmark_gpu::kernels::region_grow::Connectivity::Six,
        roi: None,
        label: 1,
    };
    let p =
        RegionGrowParams::new(vol.grid.dims, vol.dtype(), &req).unwrap_or_else(|e| panic!("{e}"));
    let want = region_grow_cpu(&p, &vol.data, &[seed]);
    let grown = want.iter().filter(|&&v| v != 0).count();
    assert_eq!(status, format!("grow preview: {grown} voxels"));
    tools.cancel(Some(&mut app));
    assert!(tools.grow.seeds.is_empty() && app.grow_pending().is_none());

    let k = app.panes[0].slice;
    let v = |i: f64, j: f64| [i, j, k as f64];
    tools.polygon_click(0, k, v(10.0, 10.0));
    tools.polygon_click(0, k, v(20.0, 10.0));
    assert_eq!(
        tools.close_polygon(&app).unwrap_or_else(|e| panic!("{e}")),
        None
    );
    assert!(tools.polygon.is_none());
    for (i, j) in [(10.0, 10.0), (20.0, 10.0), (20.0, 18.0), (10.0, 18.0)] {
        tools.polygon_click(0, k, v(i, j));
    }
    let op = tools
        .close_polygon(&app)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a polygon op"));
    let r = app.apply(&op).unwrap_or_else(|e| panic!("{e}"));
    let mut want = vec![0u8; n];
    let env = EditEnv {
        image: &vol,
        locked: [false; 256],
    };
    let changed = apply_op_cpu(&env, &mut want, &op).unwrap_or_else(|e| panic!("{e}"));
    assert!(changed > 0 && r.changed_voxels == changed);
    let got = app
        .session
        .labels()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_owned();
    assert!(got == want);
}

/// The Tools menu's logical operations without egui: with the other label of this map and
/// with a second label map typed as a path, each op the menu builds changes the labels as the
/// set algebra of its definition says (union: the label gains the other's voxels; subtract
/// with the second map: the label loses exactly the voxels the map gives the other label),
/// and undo restores them.
#[test]
fn tools_menu_logical_ops_change_the_labels_by_their_definition() {
    use voxmark_app::tools::{Cleanup, ToolState};
    use voxmark_edit::ops::{Editable, LogicalOperation};
    use voxmark_volume::{Metadata, Volume, VoxelData};
    let vol = Phantom::new([40, 36, 30])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let n = vol.grid.voxel_count();
    let start: Vec<u8> = (0..n).map(|i| [0, 1, 2, 0, 3][i % 5]).collect();
    let s = Session::new(&vol, start.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut app = AppState::new(s, window()).unwrap_or_else(|e| panic!("{e}"));
    let mut tools = ToolState::default();
    let labels = |app: &AppState| {
        app.session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec()
    };

    // Union with label 2 of this map: label 1 = old 1 ∪ old 2, nothing else changes.
    tools.logical_other = 2;
    let op = tools.cleanup_op(
        Cleanup::Logical(LogicalOperation::Union),
        1,
        Editable::Everywhere,
    );
    app.apply(&op).unwrap_or_else(|e| panic!("{e}"));
    let got = labels(&app);
    for i in 0..n {
        let want = if start[i] == 2 { 1 } else { start[i] };
        assert_eq!(got[i], want, "voxel {i}");
    }
    app.undo().unwrap_or_else(|e| panic!("{e}"));
    assert!(labels(&app) == start, "undo restores the labels");

    // Subtract label 7 of a second map (a file on the same grid): label 1 loses those voxels.
    let dir = common::tempdir();
    let path = dir.path().join("pred.nii.gz");
    let second: Vec<u8> = (0..n).map(|i| if i % 3 == 0 { 7 } else { 0 }).collect();
    let m = Volume::new(vol.grid, VoxelData::U8(second.clone()), Metadata::default())
        .unwrap_or_else(|e| panic!("{e}"));
    voxmark_io::nifti::write_nifti(&path, &m).unwrap_or_else(|e| panic!("{e}"));
    tools.logical_other = 7;
    tools.logical_map = path.display().to_string();
    let op = tools.cleanup_op(
        Cleanup::Logical(LogicalOperation::Subtract),
        1,
        Editable::Everywhere,
    );
    let r = app.apply(&op).unwrap_or_else(|e| panic!("{e}"));
    let got = labels(&app);
    let mut lost = 0;
    for i in 0..n {
        let want = if start[i] == 1 && second[i] == 7 {
            lost += 1;
            0
        } else {
            start[i]
        };
        assert_eq!(got[i], want, "voxel {i}");
    }
    assert!(lost > 0 && r.changed_voxels == lost);
    // Invert takes no other label: every voxel not 1 becomes 1 under empty_only.
    let op = tools.cleanup_op(
        Cleanup::Logical(LogicalOperation::Invert),
        3,
        Editable::EmptyOnly,
    );
    app.apply(&op).unwrap_or_else(|e| panic!("{e}"));
    let after = labels(&app);
    for i in 0..n {
        let want = match got[i] {
            3 => 0,
            0 => 3,
            l => l,
        };
        assert_eq!(after[i], want, "voxel {i}");
    }
}

#[test]
fn measure_label_finds_the_recist_slice_moves_there_and_keeps_the_axes_as_lines() {
    use voxmark_app::tools::ToolState;
    use voxmark_edit::ops::EditOp;
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let ctx = common::gpu_shared();
    for gpu in [false, true] {
        let Some(mut app) = app_for(&vol, ctx, gpu) else {
            continue;
        };
        // An ellipsoid-ish blob: two overlapping spheres of label 3 off the centre.
        let op: EditOp = serde_json::from_value(serde_json::json!({"op": "paint",
            "shape": "sphere", "points": [[20.0, 22.0, 18.0], [28.0, 26.0, 21.0]],
            "radius_mm": 14.0, "label": 3}))
        .unwrap_or_else(|e| panic!("{e}"));
        app.apply(&op).unwrap_or_else(|e| panic!("{e}"));
        let mut tools = ToolState::default();
        assert!(tools
            .measure_label(&mut app, 7)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none());
        let line = tools
            .measure_label(&mut app, 3)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default();
        let m = tools.measured.clone().unwrap_or_else(|| panic!("measured"));
        let r = &m.m.recist;
        assert!(line.contains("RECIST") && r.axis == 2, "{line}");
        // The long axis, by brute force over the reported slice's voxel centres; no slice has
        // a longer one.
        let labels = app
            .session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_owned();
        let d = vol.grid.dims;
        let longest_on = |k: usize| {
            let pts: Vec<glam::DVec3> = (0..d[0] * d[1])
                .filter(|&i| labels[i + d[0] * d[1] * k] == 3)
                .map(|i| {
                    vol.grid.world_from_index(glam::DVec3::new(
                        (i % d[0]) as f64,
                        (i / d[0]) as f64,
                        k as f64,
                    ))
                })
                .collect();
            let mut best = 0.0f64;
            for a in &pts {
                for b in &pts {
                    best = best.max(a.distance(*b));
                }
            }
            best
        };
        assert!((r.long_axis.length_mm - longest_on(r.slice)).abs() < 1e-9);
        assert!((0..d[2]).all(|k| longest_on(k) <= r.long_axis.length_mm + 1e-9));
        assert!(r.short_axis.length_mm > 0.0 && r.short_axis.length_mm <= r.long_axis.length_mm);
        // The crosshair went to that slice (the axial pane shows it).
        assert_eq!(app.panes[0].slice, r.slice);
        // Kept as two journaled line markups; undo takes the short one back.
        for op in tools.keep_measured_axes() {
            app.apply(&op).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(tools.measured.is_none());
        let lines = app.session.markups().markups.clone();
        assert_eq!(lines.len(), 2);
        assert!((lines[0].path_length_mm() - r.long_axis.length_mm).abs() < 1e-9);
        assert!((lines[1].path_length_mm() - r.short_axis.length_mm).abs() < 1e-9);
        assert_eq!(lines[0].label, Some(3));
        app.undo().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(app.session.markups().markups.len(), 1);
    }
}

/// The slice-pane tools behind `SliceTool`, driven by pane events as the panes send them (no
/// egui): a brush press–drag–release paints what the state's stroke calls paint; polygon
/// presses draw their edges and vertices, Enter fills the polygon the clicked voxels make;
/// a grow press adds a seed drawn as a ring on its slice; the brush's outline follows the
/// pointer with the brush's radius in mm.
#[test]
fn slice_tools_take_pane_events_and_describe_what_they_draw() {
    use voxmark_app::tools::{PanePointer, PaneSlice, Radius, Shape, Tool, ToolState};
    use voxmark_edit::ops::EditOp;
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let n = vol.grid.voxel_count();
    let mut app = app_for(&vol, None, false).unwrap_or_else(|| panic!("a CPU app"));
    let mut by_calls = app_for(&vol, None, false).unwrap_or_else(|| panic!("a CPU app"));
    let ev = |hover: [f64; 2]| PanePointer {
        pane: 0,
        size: PANE,
        hover: Some(hover),
        drag: Some(hover),
        pressed: false,
        down: false,
        down_on_pane: false,
        released: false,
        double_clicked: false,
        shift: false,
        pixels_per_point: 1.0,
    };
    let labels = |a: &AppState| {
        a.session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec()
    };

    // Brush: press, drag, release through the tool == the state's stroke calls.
    let mut tools = ToolState::default();
    tools.tool = Tool::Brush;
    let (p1, p2) = ([60.0, 70.0], [120.0, 90.0]);
    let press = PanePointer {
        pressed: true,
        down: true,
        down_on_pane: true,
        ..ev(p1)
    };
    let drag = PanePointer {
        down: true,
        down_on_pane: true,
        ..ev(p2)
    };
    let release = PanePointer {
        released: true,
        ..ev(p2)
    };
    for e in [press, drag] {
        let o = tools
            .pointer(&mut app, &e)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.errors.is_empty(), "{o:?}");
    }
    let o = tools
        .pointer(&mut app, &release)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        o.status
            .as_deref()
            .is_some_and(|s| s.contains("voxels changed")),
        "{o:?}"
    );
    by_calls
        .stroke_begin(0, PANE, p1, false)
        .unwrap_or_else(|e| panic!("{e}"));
    by_calls
        .stroke_extend(PANE, p2)
        .unwrap_or_else(|e| panic!("{e}"));
    let r = by_calls
        .stroke_end()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a stroke"));
    assert!(r.changed_voxels > 0);
    assert!(
        labels(&app) == labels(&by_calls),
        "tool stroke != state stroke"
    );
    let view = PaneSlice {
        pane: 0,
        slice: app.panes[0].slice,
        axis_n: 2,
    };
    let hover = app.voxel_at(0, PANE, p1).unwrap_or_else(|e| panic!("{e}"));
    let shapes = tools.overlays(&app, &view, Some(hover));
    assert!(
        shapes.iter().any(
            |s| matches!(s, Shape::Circle { at, radius: Radius::Mm(r), .. }
            if *at == hover && *r == app.brush.radius_mm)
        ),
        "brush outline: {shapes:?}"
    );

    // Polygon: four presses, then Enter.
    app.undo().unwrap_or_else(|e| panic!("{e}"));
    tools.tool = Tool::Polygon;
    let corners = [[40.0, 40.0], [150.0, 45.0], [140.0, 120.0], [50.0, 110.0]];
    let mut vox = Vec::new();
    for c in corners {
        let press = PanePointer {
            pressed: true,
            down: true,
            ..ev(c)
        };
        tools
            .pointer(&mut app, &press)
            .unwrap_or_else(|e| panic!("{e}"));
        vox.push(app.voxel_at(0, PANE, c).unwrap_or_else(|e| panic!("{e}")));
    }
    let shapes = tools.overlays(&app, &view, None);
    let segments = shapes
        .iter()
        .filter(|s| matches!(s, Shape::Segment { .. }))
        .count();
    let vertices = shapes
        .iter()
        .filter(|s| {
            matches!(
                s,
                Shape::Circle {
                    radius: Radius::Points(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!((segments, vertices), (3, 4), "{shapes:?}");
    let before = labels(&app);
    let o = tools.enter(&mut app);
    assert!(o.errors.is_empty(), "{o:?}");
    assert!(tools.polygon.is_none());
    let geom = app.geometry(0, PANE).unwrap_or_else(|e| panic!("{e}"));
    let op = EditOp::Polygon {
        plane: app.panes[0].kind,
        slice: view.slice,
        points: vox
            .iter()
            .map(|v| [v[geom.axis_u], v[geom.axis_v]])
            .collect(),
        label: app.brush.label,
        range: app.brush.range,
        editable: app.brush.editable,
    };
    let mut want = before;
    let env = EditEnv {
        image: &vol,
        locked: [false; 256],
    };
    let changed = apply_op_cpu(&env, &mut want, &op).unwrap_or_else(|e| panic!("{e}"));
    assert!(changed > 0);
    assert!(labels(&app) == want, "Enter filled another polygon");
    assert_eq!(
        o.status,
        Some(format!("polygon: {changed} voxels changed")),
        "{o:?}"
    );

    // Grow: a press adds a seed, drawn as a ring on its slice and not on another.
    tools.tool = Tool::Grow;
    tools.grow.range_from_user = true;
    let press = PanePointer {
        pressed: true,
        down: true,
        ..ev([100.0, 80.0])
    };
    tools
        .pointer(&mut app, &press)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tools.grow.seeds.len(), 1);
    let seed = tools.grow.seeds[0].map(|x| x as f64);
    let rings = |view: &PaneSlice| {
        tools
            .overlays(&app, view, None)
            .into_iter()
            .filter(|s| matches!(s, Shape::Circle { at, .. } if *at == seed))
            .count()
    };
    assert_eq!(rings(&view), 1);
    let other = PaneSlice {
        slice: view.slice + 1,
        ..view
    };
    assert_eq!(rings(&other), 0);
    assert!(app.grow_pending().is_some(), "the grow previews");
    assert_eq!(n, labels(&app).len());
}

/// Enter ends the topmost work in progress first: a curve being placed before a polygon
/// being drawn (whichever tool is active), then the polygon, then a waiting preview.
#[test]
fn enter_finishes_a_markup_before_a_polygon_whatever_the_active_tool() {
    use voxmark_app::tools::{PanePointer, Tool, ToolState};
    use voxmark_volume::markup::MarkupKind;
    let vol = Phantom::new([60, 50, 40])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let mut app = app_for(&vol, None, false).unwrap_or_else(|| panic!("a CPU app"));
    let press = |p: [f64; 2]| PanePointer {
        pane: 0,
        size: PANE,
        hover: Some(p),
        drag: Some(p),
        pressed: true,
        down: true,
        down_on_pane: true,
        released: false,
        double_clicked: false,
        shift: false,
        pixels_per_point: 1.0,
    };
    let mut tools = ToolState::default();
    tools.tool = Tool::Markup(MarkupKind::ClosedCurve);
    for p in [[30.0, 30.0], [90.0, 35.0], [70.0, 90.0]] {
        tools
            .pointer(&mut app, &press(p))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    tools.tool = Tool::Polygon;
    for p in [[40.0, 40.0], [150.0, 45.0], [140.0, 120.0]] {
        tools
            .pointer(&mut app, &press(p))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(tools.markup_draft.is_some() && tools.polygon.is_some());
    let before = app
        .session
        .labels()
        .unwrap_or_else(|e| panic!("{e}"))
        .to_vec();
    let o = tools.enter(&mut app);
    assert!(o.errors.is_empty(), "{o:?}");
    assert_eq!(
        app.session.markups().markups.len(),
        1,
        "the curve is added first"
    );
    assert!(tools.markup_draft.is_none() && tools.polygon.is_some());
    assert!(
        app.session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec()
            == before
    );
    let o = tools.enter(&mut app);
    assert!(o.errors.is_empty(), "{o:?}");
    assert!(tools.polygon.is_none());
    assert!(
        app.session
            .labels()
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec()
            != before,
        "then the polygon is filled"
    );
}
