//! QA commands end to end: compare on hand-made masks (empty and missing labels included),
//! consensus, and the review database through the CLI (lifecycle, bad moves, a locked and a
//! corrupt database).

mod common;

use glam::{DMat4, DVec3};
use voxmark_io::nifti::write_nifti;
use voxmark_volume::{Grid, Metadata, Volume, VoxelData};

fn mask(path: &std::path::Path, dims: [usize; 3], f: impl Fn(usize, usize, usize) -> u8) {
    let mut v = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                v.push(f(i, j, k));
            }
        }
    }
    let g = Grid::new(dims, DMat4::from_scale(DVec3::new(0.5, 0.5, 2.0)));
    let vol =
        Volume::new(g, VoxelData::U8(v), Metadata::default()).unwrap_or_else(|e| panic!("{e}"));
    write_nifti(path, &vol).unwrap_or_else(|e| panic!("{e}"));
}

fn p(x: &std::path::Path) -> String {
    x.to_string_lossy().into_owned()
}

#[test]
fn compare_reports_hand_computed_values_and_empty_labels() {
    let dir = common::tempdir();
    let (a, b, empty) = (
        dir.path().join("a.nii.gz"),
        dir.path().join("b.nii.gz"),
        dir.path().join("empty.nii.gz"),
    );
    let d = [20, 20, 10];
    // Label 1: a 10x10x4 block; in B shifted by one slice (2 mm). Label 2 only in A.
    mask(&a, d, |i, j, k| {
        if (5..15).contains(&i) && (5..15).contains(&j) && (3..7).contains(&k) {
            1
        } else if i < 2 && j < 2 {
            2
        } else {
            0
        }
    });
    mask(&b, d, |i, j, k| {
        u8::from((5..15).contains(&i) && (5..15).contains(&j) && (4..8).contains(&k))
    });
    mask(&empty, d, |_, _, _| 0);
    let (ok, out, err) = common::run(&["compare", &p(&a), &p(&b), "--json", "--labels", "1,2,3"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let l = &v["labels"];
    assert_eq!(l[0]["voxels_a"], 400);
    assert_eq!(l[0]["intersection"], 300);
    assert_eq!(l[0]["dice"], 0.75);
    assert_eq!(l[0]["hausdorff_mm"], 2.0);
    // 400 voxels of 0.5 mm³.
    assert!((l[0]["volume_a_ml"].as_f64().unwrap_or(0.0) - 0.2).abs() < 1e-12);
    assert_eq!(l[1]["empty"], "b");
    assert_eq!(l[1]["dice"], 0.0);
    assert!(l[1]["hausdorff_mm"].is_null());
    assert_eq!(l[2]["empty"], "both");
    assert_eq!(l[2]["dice"], 1.0);
    // Two empty masks: nothing to compare, documented as perfect agreement of nothing.
    let (ok, out, err) = common::run(&["compare", &p(&empty), &p(&empty)]);
    assert!(ok, "{err}");
    assert!(out.contains("mean over 0 labels"), "{out}");
    // Consensus of A, B, B = B; of A, B = the intersection.
    let c = dir.path().join("c.nii.gz");
    let (ok, _, err) = common::run(&["consensus", &p(&a), &p(&b), &p(&b), "-o", &p(&c)]);
    assert!(ok, "{err}");
    let (ok, out, _) = common::run(&["compare", &p(&b), &p(&c), "--json"]);
    assert!(ok);
    assert!(out.contains("\"mean_dice\": 1.0"), "{out}");
    let (ok, _, err) = common::run(&["consensus", &p(&a), "-o", &p(&c)]);
    assert!(!ok && err.contains("required"), "{err}");
}

#[test]
fn review_lifecycle_through_the_cli() {
    let dir = common::tempdir();
    let db = dir.path().join("project.db");
    let img = dir.path().join("img.nii.gz");
    let m = dir.path().join("ann.nii.gz");
    mask(&img, [4, 4, 4], |_, _, _| 0);
    mask(&m, [4, 4, 4], |i, _, _| u8::from(i > 1));
    let r = |args: &[&str]| {
        let mut a = vec!["review", "--db"];
        let dbs = p(&db);
        a.push(&dbs);
        a.extend_from_slice(args);
        common::run(&a)
    };
    let (ok, out, err) = r(&["add", &p(&img), &p(&m), "--annotator", "ana"]);
    assert!(ok, "{err}");
    let id = out.trim().to_string();
    let (ok, _, err) = r(&["set-status", &id, "approved"]);
    assert!(!ok && err.contains("can move to submitted"), "{err}");
    assert!(r(&["set-status", &id, "submitted", "--by", "ana"]).0);
    let (ok, cid, err) = r(&[
        "comment",
        &id,
        "--text",
        "tumour margin too tight",
        "--at",
        "1,2,3",
        "--view",
        "axial",
        "--label",
        "1",
        "--by",
        "rad",
    ]);
    assert!(ok, "{err}");
    assert!(
        r(&[
            "set-status",
            &id,
            "changes-requested",
            "--by",
            "rad",
            "--note",
            "margin"
        ])
        .0
    );
    assert!(r(&["resolve", cid.trim()]).0);
    assert!(r(&["set-status", &id, "submitted"]).0);
    let (ok, out, _) = r(&["show", &id, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["annotation"]["round"], 2);
    assert_eq!(v["comments"][0]["voxel"], serde_json::json!([1, 2, 3]));
    assert_eq!(v["comments"][0]["resolved"], true);
    assert_eq!(v["history"].as_array().map(Vec::len), Some(4));
    let (ok, out, _) = r(&["list", "--status", "submitted"]);
    assert!(ok && out.contains("ann.nii.gz"), "{out}");
    let exp = dir.path().join("export.json");
    assert!(r(&["export", "-o", &p(&exp)]).0);
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&exp).unwrap_or_default()).unwrap_or_default();
    assert_eq!(e["schema_version"], 1);
    // A database another process holds locked: a clear error after the busy timeout.
    let conn = rusqlite::Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
    conn.execute_batch("BEGIN EXCLUSIVE")
        .unwrap_or_else(|e| panic!("{e}"));
    let (ok, _, err) = r(&["set-status", &id, "approved"]);
    assert!(!ok && err.contains("locked by another process"), "{err}");
    conn.execute_batch("ROLLBACK")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(conn);
    assert!(
        r(&["set-status", &id, "approved", "--by", "rad"]).0,
        "nothing was lost"
    );
    // A file that is not a database.
    let bad = dir.path().join("bad.db");
    std::fs::write(&bad, vec![b'x'; 4096]).unwrap_or_else(|e| panic!("{e}"));
    let (ok, _, err) = common::run(&["review", "--db", &p(&bad), "list"]);
    assert!(
        !ok && err.contains("bad.db") && err.contains("not a usable review database"),
        "{err}"
    );
}

#[test]
fn disagreement_regions_are_26_connected_and_sorted() {
    let d = [6, 5, 4];
    let mut m = vec![0u8; 120];
    let at = |i: usize, j: usize, k: usize| i + 6 * (j + 5 * k);
    m[at(0, 0, 0)] = 1;
    m[at(1, 1, 1)] = 1; // diagonal neighbour: same region
    m[at(5, 4, 3)] = 1;
    m[at(4, 4, 3)] = 1;
    m[at(3, 4, 3)] = 1;
    let r = voxmark_qa::disagreement::disagreement_regions(&m, d, 10);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].voxels, r[0].at), (3, [3, 4, 3]));
    assert_eq!((r[1].voxels, r[1].at), (2, [0, 0, 0]));
}
