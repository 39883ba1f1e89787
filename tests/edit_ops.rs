//! The editing engine: every op against hand-computed results, write policies, locked
//! labels, undo/redo memory proportional to the change, journal replay and crash recovery.

mod common;

use glam::{DMat4, DVec4};
use voxmark_edit::journal::Journal;
use voxmark_edit::ops::{parse_ops, EditOp, Editable, Shape, Stroke};
use voxmark_edit::session::Session;
use voxmark_edit::{apply_op_cpu, EditEnv};
use voxmark_volume::geometry::view::ViewKind;
use voxmark_volume::{Grid, Metadata, Volume, VoxelData};

/// A volume with the given spacing (RAS-aligned) whose value at (i,j,k) is i + 10 j + 100 k.
fn image(dims: [usize; 3], spacing: [f64; 3]) -> Volume {
    let mut data = Vec::new();
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                data.push((i + 10 * j + 100 * k) as i16);
            }
        }
    }
    let g = Grid::new(
        dims,
        DMat4::from_diagonal(DVec4::new(spacing[0], spacing[1], spacing[2], 1.0)),
    );
    Volume::new(g, VoxelData::I16(data), Metadata::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn stroke(points: Vec<[f64; 3]>, r: f64, label: u8) -> Stroke {
    Stroke {
        shape: Shape::Sphere,
        plane: None,
        slice: None,
        points,
        radius_mm: r,
        label,
        range: None,
        editable: Editable::Everywhere,
    }
}

fn run(img: &Volume, labels: &mut [u8], op: EditOp, locked: &[u8]) -> u64 {
    let mut l = [false; 256];
    for &x in locked {
        l[usize::from(x)] = true;
    }
    apply_op_cpu(
        &EditEnv {
            image: img,
            locked: l,
        },
        labels,
        &op,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn count(labels: &[u8], v: u8) -> usize {
    labels.iter().filter(|&&x| x == v).count()
}

/// Integer points (x, y, z) with (sx x)² + (sy y)² + (sz z)² ≤ r² — the hand count.
fn ball_count(r: f64, s: [f64; 3]) -> usize {
    let mut n = 0;
    for z in -20i64..=20 {
        for y in -20i64..=20 {
            for x in -20i64..=20 {
                let (a, b, c) = (x as f64 * s[0], y as f64 * s[1], z as f64 * s[2]);
                if a * a + b * b + c * c <= r * r {
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn sphere_stamps_match_hand_counts_with_anisotropic_spacing() {
    for (spacing, r, want) in [
        ([1.0; 3], 1.0, 7),
        ([1.0; 3], 1.5, 19),
        ([1.0; 3], 2.0, 33),
        ([1.0, 1.0, 2.0], 2.0, 0),
    ] {
        let img = image([21, 21, 21], spacing);
        let mut labels = vec![0u8; 21 * 21 * 21];
        let n = run(
            &img,
            &mut labels,
            EditOp::Paint(stroke(vec![[10.0, 10.0, 10.0]], r, 1)),
            &[],
        );
        let expect = if want == 0 {
            ball_count(r, spacing)
        } else {
            want
        };
        assert_eq!(n as usize, expect, "spacing {spacing:?} r {r}");
        assert_eq!(count(&labels, 1), expect);
    }
}

#[test]
fn strokes_are_continuous_and_clipped() {
    let img = image([40, 10, 10], [1.0; 3]);
    let mut labels = vec![0u8; 4000];
    // A fast mouse move: two points 30 voxels apart, radius 0.5 -> every voxel on the line.
    run(
        &img,
        &mut labels,
        EditOp::Paint(stroke(vec![[2.0, 5.0, 5.0], [32.0, 5.0, 5.0]], 0.5, 2)),
        &[],
    );
    assert_eq!(count(&labels, 2), 31);
    // Partly outside: clipped, not an error; entirely outside: nothing.
    let n = run(
        &img,
        &mut labels,
        EditOp::Paint(stroke(vec![[-1.0, 5.0, 5.0]], 1.0, 3)),
        &[],
    );
    assert_eq!(n, 1);
    let n = run(
        &img,
        &mut labels,
        EditOp::Paint(stroke(vec![[500.0, 5.0, 5.0]], 1.0, 3)),
        &[],
    );
    assert_eq!(n, 0);
}

#[test]
fn disc_paints_one_slice_and_polygon_uses_even_odd_on_centres() {
    let img = image([20, 20, 20], [1.0; 3]);
    let mut labels = vec![0u8; 8000];
    let disc = Stroke {
        shape: Shape::Disc,
        plane: Some(ViewKind::Axial),
        slice: Some(7),
        ..stroke(vec![[10.0, 10.0, 3.0]], 2.0, 1)
    };
    assert_eq!(
        run(&img, &mut labels, EditOp::Paint(disc), &[]),
        13,
        "2D disc r=2: 13 pixels"
    );
    assert!(
        labels
            .iter()
            .enumerate()
            .all(|(i, &l)| l == 0 || i / 400 == 7),
        "only slice k = 7"
    );
    let square = EditOp::Polygon {
        plane: ViewKind::Axial,
        slice: 3,
        points: vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]],
        label: 2,
        range: None,
        editable: Editable::Everywhere,
    };
    assert_eq!(
        run(&img, &mut labels, square, &[]),
        16,
        "half-open square: x, y in 0..4"
    );
    let tri = EditOp::Polygon {
        plane: ViewKind::Coronal,
        slice: 5,
        points: vec![[0.5, 0.5], [10.5, 0.5], [0.5, 10.5]],
        label: 3,
        range: None,
        editable: Editable::Everywhere,
    };
    // Centres (u, v) with u, v >= 1 and u + v <= 10 plus the u+v < 11 rule: 45 voxels.
    assert_eq!(run(&img, &mut labels, tri, &[]), 45);
}

#[test]
fn range_policies_and_locked_labels() {
    let img = image([10, 10, 10], [1.0; 3]);
    let mut labels = vec![0u8; 1000];
    // Intensity-limited: values i + 10j + 100k in [500, 599] = slice k = 5 only.
    let mut s = stroke(vec![[5.0, 5.0, 5.0]], 3.0, 1);
    s.range = Some([500.0, 599.0]);
    run(&img, &mut labels, EditOp::Paint(s), &[]);
    assert!(labels
        .iter()
        .enumerate()
        .all(|(i, &l)| l == 0 || i / 100 == 5));
    let painted = count(&labels, 1);
    assert_eq!(painted, 29, "2D disc of radius 3 = 29 pixels in the slice");
    // empty_only never overwrites label 1; inside:1 only overwrites label 1.
    let mut s = stroke(vec![[5.0, 5.0, 5.0]], 4.0, 2);
    s.editable = Editable::EmptyOnly;
    run(&img, &mut labels, EditOp::Paint(s.clone()), &[]);
    assert_eq!(count(&labels, 1), painted);
    s.editable = Editable::Inside(2);
    s.label = 3;
    let n = run(&img, &mut labels, EditOp::Paint(s), &[]);
    assert_eq!(count(&labels, 1), painted);
    assert_eq!(n as usize, count(&labels, 3));
    // Locked labels never change, whatever the op; painting *with* a locked label is refused.
    let before = labels.clone();
    run(
        &img,
        &mut labels,
        EditOp::Paint(stroke(vec![[5.0, 5.0, 5.0]], 9.0, 4)),
        &[1, 3],
    );
    assert!(before
        .iter()
        .zip(&labels)
        .all(|(b, a)| (*b != 1 && *b != 3) || a == b));
    run(&img, &mut labels, EditOp::ClearLabel { label: 2 }, &[1, 3]);
    run(
        &img,
        &mut labels,
        EditOp::Erase(stroke(vec![[5.0, 5.0, 5.0]], 9.0, 0)),
        &[1, 3],
    );
    assert_eq!(count(&labels, 1), painted);
    let env = EditEnv {
        image: &img,
        locked: {
            let mut l = [false; 256];
            l[1] = true;
            l
        },
    };
    assert!(apply_op_cpu(
        &env,
        &mut labels,
        &EditOp::Paint(stroke(vec![[1.0, 1.0, 1.0]], 1.0, 1))
    )
    .is_err());
}

#[test]
fn threshold_merge_clear_dilate_erode_islands() {
    let img = image([10, 10, 10], [1.0; 3]);
    let mut labels = vec![0u8; 1000];
    // i + 10 j + 100 k in [0, 9] -> the row j = 0, k = 0 (10 voxels); ROI limits to i <= 4.
    let n = run(
        &img,
        &mut labels,
        EditOp::Threshold {
            range: [0.0, 9.0],
            label: 5,
            roi: Some([0, 0, 0, 4, 9, 9]),
            editable: Editable::Everywhere,
        },
        &[],
    );
    assert_eq!(n, 5);
    run(
        &img,
        &mut labels,
        EditOp::MergeLabels {
            from: vec![5],
            into: 6,
        },
        &[],
    );
    assert_eq!((count(&labels, 5), count(&labels, 6)), (0, 5));
    run(&img, &mut labels, EditOp::ClearLabel { label: 6 }, &[]);
    assert_eq!(count(&labels, 0), 1000);
    // A 3x3x3 cube dilated by 1 mm (6-neighbourhood ball) -> 27 + 6 * 9 = 81.
    for z in 3..6 {
        for y in 3..6 {
            for x in 3..6 {
                labels[x + 10 * (y + 10 * z)] = 1;
            }
        }
    }
    run(
        &img,
        &mut labels,
        EditOp::Dilate {
            label: 1,
            radius_mm: 1.0,
            editable: Editable::Everywhere,
        },
        &[],
    );
    assert_eq!(count(&labels, 1), 81);
    // Eroding by 1 mm gives the 3x3x3 cube back (its 6-neighbour closure is the 81 set).
    run(
        &img,
        &mut labels,
        EditOp::Erode {
            label: 1,
            radius_mm: 1.0,
        },
        &[],
    );
    assert_eq!(count(&labels, 1), 27);
    // Islands: add two isolated voxels; keep_largest removes them, min_voxels 2 too.
    labels[0] = 1;
    labels[999] = 1;
    let mut copy = labels.clone();
    run(
        &img,
        &mut labels,
        EditOp::Islands {
            label: 1,
            keep_largest: true,
            min_voxels: None,
            connectivity: 6,
        },
        &[],
    );
    assert_eq!(count(&labels, 1), 27);
    run(
        &img,
        &mut copy,
        EditOp::Islands {
            label: 1,
            keep_largest: false,
            min_voxels: Some(2),
            connectivity: 26,
        },
        &[],
    );
    assert_eq!(count(&copy, 1), 27);
}

#[test]
fn undo_redo_restore_exactly_with_memory_proportional_to_change() {
    let img = image([128, 128, 64], [1.0; 3]);
    let mut s = Session::new(&img, vec![0u8; 128 * 128 * 64]).unwrap_or_else(|e| panic!("{e}"));
    let empty = s.labels().unwrap_or_else(|e| panic!("{e}")).into_owned();
    let r1 = s
        .apply_unjournaled(&EditOp::Paint(stroke(vec![[20.0, 20.0, 20.0]], 3.0, 1)))
        .unwrap_or_else(|e| panic!("{e}"));
    let after_one = s.labels().unwrap_or_else(|e| panic!("{e}")).into_owned();
    let r8 = s
        .apply_unjournaled(&EditOp::Paint(stroke(
            (0..8)
                .map(|n| [10.0 + 14.0 * n as f64, 60.0, 30.0])
                .collect(),
            3.0,
            2,
        )))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "undo bytes: {} for {} voxels, {} for {} voxels",
        r1.undo_bytes, r1.changed_voxels, r8.undo_bytes, r8.changed_voxels
    );
    assert!(
        r1.undo_bytes < 2_000,
        "a small stamp costs little: {}",
        r1.undo_bytes
    );
    assert!(
        r8.undo_bytes > 3 * r1.undo_bytes,
        "a bigger change costs more"
    );
    assert!(
        r8.undo_bytes < 100 * 1024,
        "never a full copy (volume is 1 MiB)"
    );
    s.apply_unjournaled(&EditOp::Undo)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*s.labels().unwrap_or_else(|e| panic!("{e}")), *after_one);
    s.apply_unjournaled(&EditOp::Undo)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*s.labels().unwrap_or_else(|e| panic!("{e}")), *empty);
    let r = s
        .apply_unjournaled(&EditOp::Undo)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.step.is_none(), "nothing left to undo");
    s.apply_unjournaled(&EditOp::Redo)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*s.labels().unwrap_or_else(|e| panic!("{e}")), *after_one);
}

#[test]
fn journal_replay_is_bit_exact() {
    let dir = common::tempdir();
    let jp = dir.path().join("session.jsonl");
    let img = image([30, 30, 30], [0.8, 0.8, 1.5]);
    let ops = parse_ops(
        r#"[{"op":"paint","shape":"sphere","points":[[5,5,5],[20,25,10]],"radius_mm":3,"label":1},
            {"op":"set_label","value":1,"locked":true},
            {"op":"threshold","range":[100,900],"label":2,"editable":"empty_only"},
            {"op":"undo"},{"op":"redo"},
            {"op":"erase","shape":"disc","plane":"sagittal","slice":12,"points":[[12,15,15]],"radius_mm":6},
            {"op":"islands","label":2,"keep_largest":true}]"#,
        &jp,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let final_labels = {
        let mut s = Session::new(&img, vec![0; 27000]).unwrap_or_else(|e| panic!("{e}"));
        let (j, _) = Journal::open(&jp, "test").unwrap_or_else(|e| panic!("{e}"));
        s.set_journal(Some(j));
        for op in &ops {
            s.apply(op, "test").unwrap_or_else(|e| panic!("{e}"));
        }
        s.labels().unwrap_or_else(|e| panic!("{e}")).into_owned()
    };
    let (_, rec) = Journal::open(&jp, "test").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rec.entries.len(), ops.len());
    let mut replay = Session::new(&img, vec![0; 27000]).unwrap_or_else(|e| panic!("{e}"));
    replay
        .replay(&rec.entries)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        *replay.labels().unwrap_or_else(|e| panic!("{e}")),
        *final_labels
    );
    assert!(final_labels.contains(&1) && final_labels.contains(&2));
}

#[test]
fn crash_after_acknowledged_ops_loses_nothing() {
    let dir = common::tempdir();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(
        common::run(&[
            "phantom",
            "--size",
            "40,40,30",
            "-o",
            &format!("{d}/img.nii.gz")
        ])
        .0
    );
    let ops = r#"[{"op":"paint","shape":"sphere","points":[[10,10,10]],"radius_mm":20,"label":1},
                  {"op":"paint","shape":"sphere","points":[[25,25,15]],"radius_mm":25,"label":2},
                  {"op":"threshold","range":[600,900],"label":3},
                  {"op":"erase","shape":"sphere","points":[[20,20,15]],"radius_mm":30}]"#;
    std::fs::write(format!("{d}/ops.json"), ops).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(format!("{d}/none.json"), "[]").unwrap_or_else(|e| panic!("{e}"));
    // The process dies (abort, like kill -9) right after the 3rd op is acknowledged.
    let status = std::process::Command::new(common::bin())
        .args([
            "apply",
            &format!("{d}/img.nii.gz"),
            "--ops",
            &format!("{d}/ops.json"),
            "--journal",
            &format!("{d}/j.jsonl"),
            "-o",
            &format!("{d}/out.nii.gz"),
        ])
        .env("VOXMARK_CRASH_AFTER_OPS", "3")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!status.status.success());
    assert!(
        !std::path::Path::new(&format!("{d}/out.nii.gz")).exists(),
        "no half-written output"
    );
    // Reopen with the journal: the three acknowledged ops are restored.
    let (ok, _, err) = common::run(&[
        "apply",
        &format!("{d}/img.nii.gz"),
        "--ops",
        &format!("{d}/none.json"),
        "--journal",
        &format!("{d}/j.jsonl"),
        "-o",
        &format!("{d}/recovered.nii.gz"),
    ]);
    assert!(ok && err.contains("restored 3 operations"), "{err}");
    // Reference: the first three ops applied without any crash.
    let three = r#"[{"op":"paint","shape":"sphere","points":[[10,10,10]],"radius_mm":20,"label":1},
                    {"op":"paint","shape":"sphere","points":[[25,25,15]],"radius_mm":25,"label":2},
                    {"op":"threshold","range":[600,900],"label":3}]"#;
    std::fs::write(format!("{d}/three.json"), three).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        common::run(&[
            "apply",
            &format!("{d}/img.nii.gz"),
            "--ops",
            &format!("{d}/three.json"),
            "-o",
            &format!("{d}/ref.nii.gz")
        ])
        .0
    );
    let a = voxmark_io::nifti::read_nifti(std::path::Path::new(&format!("{d}/recovered.nii.gz")))
        .unwrap_or_else(|e| panic!("{e}"));
    let b = voxmark_io::nifti::read_nifti(std::path::Path::new(&format!("{d}/ref.nii.gz")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.data, b.data);
    assert_eq!(a.grid, b.grid);
}

#[test]
fn bad_ops_files_and_grids_are_clear_errors() {
    let dir = common::tempdir();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(
        common::run(&[
            "phantom",
            "--size",
            "20,20,10",
            "-o",
            &format!("{d}/img.nii.gz")
        ])
        .0
    );
    assert!(
        common::run(&[
            "phantom",
            "--size",
            "10,10,10",
            "-o",
            &format!("{d}/other.nii.gz")
        ])
        .0
    );
    for (text, needle) in [
        (r#"[{"op":"explode"}]"#, "explode"),
        (
            r#"[{"op":"paint","shape":"sphere","points":[[1,1,1]],"radius_mm":1,"label":300}]"#,
            "300",
        ),
        (
            r#"[{"op":"polygon","plane":"axial","slice":1,"points":[[0,0],[1,1]],"label":1}]"#,
            "at least 3 points",
        ),
    ] {
        std::fs::write(format!("{d}/bad.json"), text).unwrap_or_else(|e| panic!("{e}"));
        let (ok, _, err) = common::run(&[
            "apply",
            &format!("{d}/img.nii.gz"),
            "--ops",
            &format!("{d}/bad.json"),
            "-o",
            &format!("{d}/o.nii.gz"),
        ]);
        assert!(
            !ok && err.contains("bad.json") && err.contains(needle),
            "{err}"
        );
    }
    std::fs::write(format!("{d}/ok.json"), "[]").unwrap_or_else(|e| panic!("{e}"));
    let (ok, _, err) = common::run(&[
        "apply",
        &format!("{d}/img.nii.gz"),
        "--ops",
        &format!("{d}/ok.json"),
        "--labels",
        &format!("{d}/other.nii.gz"),
        "-o",
        &format!("{d}/o.nii.gz"),
    ]);
    assert!(
        !ok && err.contains("other.nii.gz") && err.contains("different grid"),
        "{err}"
    );
    assert!(!std::path::Path::new(&format!("{d}/o.nii.gz")).exists());
}

#[test]
fn label_table_travels_in_a_sidecar_and_locks_persist() {
    let dir = common::tempdir();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(
        common::run(&[
            "phantom",
            "--size",
            "20,20,10",
            "-o",
            &format!("{d}/img.nii.gz")
        ])
        .0
    );
    std::fs::write(
        format!("{d}/a.json"),
        r#"[{"op":"paint","shape":"sphere","points":[[5,5,5]],"radius_mm":40,"label":3},
            {"op":"set_label","value":3,"name":"liver","locked":true}]"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        common::run(&[
            "apply",
            &format!("{d}/img.nii.gz"),
            "--ops",
            &format!("{d}/a.json"),
            "-o",
            &format!("{d}/m.nii.gz")
        ])
        .0
    );
    let side = std::fs::read_to_string(format!("{d}/m.labels.json")).unwrap_or_default();
    assert!(
        side.contains("liver") && side.contains("\"locked\": true"),
        "{side}"
    );
    // A later session starting from m.nii.gz keeps label 3 locked: painting over it changes nothing there.
    std::fs::write(
        format!("{d}/b.json"),
        r#"[{"op":"paint","shape":"sphere","points":[[5,5,5]],"radius_mm":150,"label":4}]"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (ok, _, err) = common::run(&[
        "apply",
        &format!("{d}/img.nii.gz"),
        "--ops",
        &format!("{d}/b.json"),
        "--labels",
        &format!("{d}/m.nii.gz"),
        "-o",
        &format!("{d}/n.nii.gz"),
    ]);
    assert!(ok, "{err}");
    let m = voxmark_io::nifti::read_nifti(std::path::Path::new(&format!("{d}/m.nii.gz")))
        .unwrap_or_else(|e| panic!("{e}"));
    let n = voxmark_io::nifti::read_nifti(std::path::Path::new(&format!("{d}/n.nii.gz")))
        .unwrap_or_else(|e| panic!("{e}"));
    let (VoxelData::U8(m), VoxelData::U8(n)) = (m.data, n.data) else {
        panic!("u8 masks")
    };
    assert!(
        m.iter().zip(&n).all(|(a, b)| *a != 3 || *b == 3),
        "locked label 3 untouched"
    );
    assert!(n.contains(&4));
}

/// `voxmark apply --backend gpu` (labels resident on the GPU) writes the same file as
/// `--backend cpu`, and a journal written by one replays to the same mask on the other.
#[test]
fn apply_on_gpu_writes_the_same_mask_as_on_cpu() {
    if common::gpu_shared().is_none() {
        return;
    }
    let dir = common::tempdir();
    let img = dir.path().join("ph.nii.gz");
    let p = |x: &std::path::Path| x.to_string_lossy().into_owned();
    let (ok, _, err) = common::run(&["phantom", "--size", "61,50,33", "-o", &p(&img)]);
    assert!(ok, "{err}");
    let ops = dir.path().join("ops.json");
    std::fs::write(
        &ops,
        r#"[{"op":"grow","seeds":[[30,25,16]],"lower":-100,"upper":150,"label":1},
            {"op":"paint","shape":"sphere","points":[[10,10,10],[40,30,20]],"radius_mm":12,"label":2,"range":[-900,2000]},
            {"op":"undo"},{"op":"redo"},
            {"op":"dilate","label":2,"radius_mm":8,"editable":"empty_only"},
            {"op":"islands","label":1,"keep_largest":true},
            {"op":"polygon","plane":"coronal","slice":20,"points":[[3,3],[50,4],[30,30]],"label":3}]"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut outs = Vec::new();
    for backend in ["cpu", "gpu"] {
        let out = dir.path().join(format!("{backend}.nii"));
        let j = dir.path().join(format!("{backend}.jsonl"));
        let (ok, _, err) = common::run(&[
            "apply",
            &p(&img),
            "--ops",
            &p(&ops),
            "--backend",
            backend,
            "--journal",
            &p(&j),
            "-o",
            &p(&out),
        ]);
        assert!(ok, "{backend}: {err}");
        assert!(err.contains(&format!("editing on the {backend}")), "{err}");
        // The voxels (the header's description holds the journal marker, which has the
        // op's time in it).
        outs.push(
            voxmark_io::nifti::read_nifti(&out)
                .unwrap_or_else(|e| panic!("{e}"))
                .data,
        );
    }
    assert!(outs[0] == outs[1], "GPU and CPU apply differ");
    // The GPU journal replayed on the CPU reproduces the mask bit for bit.
    let replayed = dir.path().join("replayed.nii");
    let (ok, _, err) = common::run(&[
        "apply",
        &p(&img),
        "--ops",
        &p(&dir.path().join("gpu.jsonl")),
        "--backend",
        "cpu",
        "-o",
        &p(&replayed),
    ]);
    assert!(ok, "{err}");
    let replayed = voxmark_io::nifti::read_nifti(&replayed).unwrap_or_else(|e| panic!("{e}"));
    assert!(replayed.data == outs[0]);
}

/// `voxmark stats --backend gpu` reports what `--backend cpu` does.
#[test]
fn stats_on_gpu_match_cpu_through_the_cli() {
    if common::gpu_shared().is_none() {
        return;
    }
    let dir = common::tempdir();
    let p = |x: &std::path::Path| x.to_string_lossy().into_owned();
    let img = dir.path().join("ph.nii.gz");
    let mask = dir.path().join("m.nii.gz");
    assert!(common::run(&["phantom", "--size", "50,40,30", "-o", &p(&img)]).0);
    let (ok, _, err) = common::run(&[
        "grow",
        &p(&img),
        "--seed",
        "25,20,15",
        "--lower",
        "-200",
        "--upper",
        "200",
        "-o",
        &p(&mask),
    ]);
    assert!(ok, "{err}");
    let stats = |backend: &str| -> serde_json::Value {
        let (ok, out, err) = common::run(&[
            "stats",
            &p(&img),
            "--labels",
            &p(&mask),
            "--json",
            "--backend",
            backend,
        ]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"))
    };
    let (c, g) = (stats("cpu"), stats("gpu"));
    let (c, g) = (&c["labels"][0], &g["labels"][0]);
    for k in ["label", "voxels", "min", "max", "bbox"] {
        assert_eq!(c[k], g[k], "{k}");
    }
    for k in ["mean", "std", "volume_ml"] {
        let (a, b) = (c[k].as_f64().unwrap_or(0.0), g[k].as_f64().unwrap_or(1.0));
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{k}: {a} vs {b}");
    }
    assert!(c["voxels"].as_u64().unwrap_or(0) > 1000);
}

/// Logical ops refuse what they cannot mean, each with a message saying what is needed; a
/// second map on another grid is refused naming both grids; a locked label is refused.
#[test]
fn logical_ops_refuse_bad_input_with_clear_messages() {
    let bad = |json: &str| -> String {
        let ops =
            parse_ops(json, std::path::Path::new("ops.json")).unwrap_or_else(|e| panic!("{e}"));
        match ops[0].validate() {
            Ok(()) => panic!("{json} validated"),
            Err(e) => e.to_string(),
        }
    };
    let e = bad(r#"[{"op":"logical","operation":"union","label":1}]"#);
    assert!(e.contains("union needs \"other\""), "{e}");
    let e = bad(r#"[{"op":"logical","operation":"invert","label":1,"other":2}]"#);
    assert!(e.contains("invert takes no"), "{e}");
    let e = bad(r#"[{"op":"logical","operation":"copy","label":0,"other":2}]"#);
    assert!(e.contains("label 1..=255"), "{e}");
    let e = bad(r#"[{"op":"logical","operation":"copy","label":1,"other":2,"range":[5,1]}]"#);
    assert!(e.contains("empty"), "{e}");

    let vol = image([12, 10, 8], [1.0, 1.0, 2.0]);
    let dir = common::tempdir();
    let path = dir.path().join("other.nii.gz");
    let other = Volume::new(
        Grid::new([12, 10, 8], DMat4::IDENTITY),
        VoxelData::U8(vec![1; 960]),
        Metadata::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    voxmark_io::nifti::write_nifti(&path, &other).unwrap_or_else(|e| panic!("{e}"));
    common::register_map_reader();
    let mut s = Session::new(&vol, vec![0; 960]).unwrap_or_else(|e| panic!("{e}"));
    let op = format!(
        r#"[{{"op":"logical","operation":"union","label":1,"other":{{"mask":"{}","label":1}}}}]"#,
        path.display()
    );
    let ops = parse_ops(&op, std::path::Path::new("ops.json")).unwrap_or_else(|e| panic!("{e}"));
    let e = s
        .apply(&ops[0], "test")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("other.nii.gz") && e.contains("different grid"),
        "{e}"
    );
    let lock = parse_ops(
        r#"[{"op":"set_label","value":2,"locked":true},{"op":"logical","operation":"invert","label":2}]"#,
        std::path::Path::new("ops.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    s.apply(&lock[0], "test").unwrap_or_else(|e| panic!("{e}"));
    let e = s
        .apply(&lock[1], "test")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("locked"), "{e}");
}

/// Undo and redo reaching past a save survive a crash: the saved mask plus the journal
/// replayed give exactly what the user saw (before, an undo of a saved step was journaled
/// as a bare "undo" that replay, with no such step, ignored — the undone stroke came back).
/// On the host and, when there is one, the GPU session.
/// The host session, and the GPU one when there is a GPU.
fn host_and_gpu() -> Vec<Option<&'static voxmark_gpu::GpuContext>> {
    match common::gpu_shared() {
        Some(c) => vec![None, Some(c)],
        None => vec![None],
    }
}

/// The 40×36×24 phantom.
fn phantom_40() -> voxmark_volume::Volume {
    voxmark_volume::phantom::Phantom::new([40, 36, 24])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume()
}

/// A session on `ph` starting from `labels`: on the host, or on `gpu`.
fn session_on<'a>(
    ph: &'a voxmark_volume::Volume,
    gpu: Option<&'a voxmark_gpu::GpuContext>,
    labels: Vec<u8>,
) -> voxmark_volume::Result<Session<'a>> {
    match gpu {
        Some(c) => Session::on_gpu(c, ph, &labels),
        None => Session::new(ph, labels),
    }
}

/// A mask, its journal and its history in `dir`.
fn session_files(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    (
        dir.join("m.nii.gz"),
        dir.join("m.nii.gz.journal.jsonl"),
        dir.join("m.nii.gz.history.jsonl"),
    )
}

/// A 6 mm sphere stroke of `label` along x at height `y`, mid-volume of the 40×36×24 phantom.
fn stroke_along_x(label: u8, y: f64) -> EditOp {
    EditOp::Paint(Stroke {
        shape: Shape::Sphere,
        plane: None,
        slice: None,
        points: vec![[8.0, y, 12.0], [30.0, y, 12.0]],
        radius_mm: 6.0,
        label,
        range: None,
        editable: Editable::Everywhere,
    })
}

#[test]
fn undo_and_redo_across_a_save_survive_a_crash() {
    use voxmark_io::label_file::read_label_map;
    let ph = phantom_40();
    let stroke = stroke_along_x;
    for gpu in host_and_gpu() {
        let dir = common::tempdir();
        let (mask, jp, hist) = session_files(dir.path());
        let open = |labels: Vec<u8>| session_on(&ph, gpu, labels);
        let mut s = common::ok(open(vec![0u8; ph.grid.voxel_count()]));
        s.set_journal(Some(common::ok(Journal::open(&jp, "test")).0));
        common::ok(s.apply(&stroke(1, 10.0), "test"));
        common::ok(s.apply(&stroke(2, 20.0), "test"));
        // Save, as the shell does: the mask with the journal's marker, then the checkpoint.
        common::save_session(&mut s, &ph, &mask, &hist);
        // Past the save and back: undo the saved stroke 2, a new stroke 3, undo it, undo the
        // saved stroke 1, redo it, redo 3; nothing left to redo after that.
        for op in [
            EditOp::Undo,
            stroke(3, 28.0),
            EditOp::Undo,
            EditOp::Undo,
            EditOp::Redo,
            EditOp::Redo,
            EditOp::Redo,
        ] {
            common::ok(s.apply(&op, "test"));
        }
        let seen = common::ok(s.labels()).into_owned();
        assert!(!seen.contains(&2) && seen.contains(&1) && seen.contains(&3));
        drop(s); // the crash: nothing saved since
        let text = common::ok(std::fs::read_to_string(&jp));
        let lines: Vec<&str> = text.lines().collect();
        // 6 ops journaled (the redo that found nothing is not); the undos of the saved
        // steps and the redo of stroke 1 carry their bricks, the moves of stroke 3 do not.
        assert_eq!(lines.len(), 6, "{text}");
        let restores: Vec<bool> = lines.iter().map(|l| l.contains("\"restore\"")).collect();
        assert_eq!(restores, [true, false, false, true, true, false], "{text}");
        // Reopen: the saved mask, the ops it lacks replayed on top.
        let m = common::ok(read_label_map(&mask, &ph.grid));
        let (j, mut rec) = common::ok(Journal::open(&jp, "test"));
        assert_eq!(rec.drop_saved(m.journal_marker.as_deref()), 0);
        let mut r = common::ok(open(m.labels));
        r.set_journal(Some(j));
        common::ok(r.replay(&rec.entries));
        let back = common::ok(r.labels()).into_owned();
        assert!(
            back == seen,
            "recovered labels differ from what the user saw"
        );
        // After recovery, undo still works for the replayed stroke 3's step.
        common::ok(r.apply(&EditOp::Undo, "test"));
        assert!(!common::ok(r.labels()).contains(&3));
    }
}

#[test]
fn markups_are_journaled_undoable_and_survive_crashes() {
    use voxmark_io::label_file::{read_label_map, read_markups_for, save_markups};
    use voxmark_volume::markup::{Markup, MarkupEdit, MarkupKind, MarkupProps};
    let ph = voxmark_volume::phantom::Phantom::new([40, 36, 24])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let add = |kind, points: Vec<[f64; 3]>| {
        EditOp::Markup(MarkupEdit::Add {
            markup: Markup {
                label: Some(1),
                ..Markup::new(kind, points)
            },
        })
    };
    let stroke = stroke_along_x;
    for gpu in host_and_gpu() {
        let dir = common::tempdir();
        let (mask, jp, hist) = session_files(dir.path());
        let open = |labels: Vec<u8>| match gpu {
            Some(c) => Session::on_gpu(c, &ph, &labels),
            None => Session::new(&ph, labels),
        };
        let mut s = common::ok(open(vec![0u8; ph.grid.voxel_count()]));
        s.set_journal(Some(common::ok(Journal::open(&jp, "test")).0));
        for op in [
            add(MarkupKind::Point, vec![[1.0, 2.0, 3.0]]),
            add(MarkupKind::Line, vec![[0.0; 3], [10.0, 0.0, 0.0]]),
            stroke(1, 10.0),
            EditOp::Markup(MarkupEdit::MovePoint {
                id: 2,
                index: 1,
                to: [0.0, 30.0, 40.0],
            }),
        ] {
            common::ok(s.apply(&op, "test"));
        }
        assert_eq!(s.markups().markups[1].path_length_mm(), 50.0);
        common::save_session(&mut s, &ph, &mask, &hist);
        // Past the save: undo the saved move, a box, rename it and undo that, delete the
        // saved point, undo and redo the delete, a stroke.
        for op in [
            EditOp::Undo,
            add(MarkupKind::Box, vec![[0.0; 3], [5.0, 6.0, 7.0]]),
            EditOp::Markup(MarkupEdit::SetProps {
                id: 3,
                props: MarkupProps {
                    name: Some("nodule".into()),
                    ..Default::default()
                },
            }),
            EditOp::Undo,
            EditOp::Markup(MarkupEdit::Delete { id: 1 }),
            EditOp::Undo,
            EditOp::Redo,
            stroke(2, 20.0),
        ] {
            common::ok(s.apply(&op, "test"));
        }
        let seen = s.markups().clone();
        assert_eq!(seen.markups.len(), 2);
        assert_eq!(seen.markups[0].path_length_mm(), 10.0); // the move undone
        assert_eq!(seen.markups[1].kind, MarkupKind::Box);
        assert_eq!(seen.markups[1].name, "");
        let labels = common::ok(s.labels()).into_owned();
        drop(s); // the crash
        let text = common::ok(std::fs::read_to_string(&jp));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8, "{text}");
        // Only the undo of the saved move carries restore data (the edit it applied).
        let restores: Vec<bool> = lines.iter().map(|l| l.contains("\"restore\"")).collect();
        assert_eq!(
            restores,
            [true, false, false, false, false, false, false, false],
            "{text}"
        );
        assert!(
            lines[1].contains("\"id\":3"),
            "an add is journaled with its id: {}",
            lines[1]
        );
        let recover = |expect_warning: bool| {
            let m = common::ok(read_label_map(&mask, &ph.grid));
            let (set, warnings) = common::ok(read_markups_for(&mask, m.journal_marker.as_deref()));
            assert_eq!(!warnings.is_empty(), expect_warning, "{warnings:?}");
            let (j, mut rec) = common::ok(Journal::open(&jp, "test"));
            rec.drop_saved(m.journal_marker.as_deref());
            let mut r = common::ok(open(m.labels));
            r.set_markups(set);
            r.set_journal(Some(j));
            common::ok(r.replay(&rec.entries));
            r
        };
        let mut r = recover(false);
        assert_eq!(
            *r.markups(),
            seen,
            "recovered markups differ from what the user saw"
        );
        assert_eq!(common::ok(r.labels()).into_owned(), labels);
        // Undo after recovery: the stroke, then the redone delete (the point comes back).
        common::ok(r.apply(&EditOp::Undo, "test"));
        common::ok(r.apply(&EditOp::Undo, "test"));
        assert_eq!(r.markups().markups.len(), 3);
        assert_eq!(r.markups().markups[0].points, vec![[1.0, 2.0, 3.0]]);
        drop(r);
        // A save interrupted after the markups were written, before the mask: the markups
        // file is ahead of the mask; recovery reads the previous one and replays the rest.
        let (j, _) = common::ok(Journal::open(&jp, "test"));
        let marker = j.last_marker().map(String::from);
        drop(j);
        let mut ahead = seen.clone();
        ahead.markups.clear();
        common::ok(save_markups(
            &mask,
            Some(&ahead),
            &|_| None,
            marker.as_deref(),
        ));
        let r = recover(true);
        assert_eq!(
            r.markups().markups.len(),
            3,
            "the journal after recovery holds 2 undos"
        );
    }
}
