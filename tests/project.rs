//! Annotation projects end to end on both engines: a SQLite project folder, and a real
//! PostgreSQL server (started by `scripts/pg_server.sh`, which exports `VOXMARK_TEST_PG`;
//! `REQUIRE_PG=1` makes its absence a failure instead of a skip). Every step runs the
//! `voxmark` binary as a user would; the checks read back through the CLI or the library.

mod common;

use common::{bin, ok, tempdir};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use voxmark_io::nifti::write_nifti;
use voxmark_project::db::Location;
use voxmark_project::Project;
use voxmark_volume::phantom::Phantom;
use voxmark_volume::{Metadata, Volume, VoxelData};

/// The restart test takes the server away: it runs alone (write lock), the others together.
static SERVER: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    SERVER.read().unwrap_or_else(|e| e.into_inner())
}

const SCHEMA: &str = r#"{"labels":[{"value":1,"name":"body","color":[0.9,0.4,0.3]},{"value":2,"name":"bone","color":[0.9,0.9,0.8],"instructions":"cortex and marrow"}]}"#;

fn engines(tag: &str, dir: &Path) -> Vec<(&'static str, String)> {
    common::project_engines(tag, dir)
}

/// Runs voxmark; returns stdout, panicking with stderr on failure.
fn vx<S: AsRef<str>>(args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (okay, out, err) = common::run(&args);
    assert!(okay, "voxmark {}: {err}", args.join(" "));
    out
}

/// Runs voxmark expecting a refusal; returns stderr.
fn vx_err<S: AsRef<str>>(args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (okay, _, err) = common::run(&args);
    assert!(!okay, "voxmark {} should fail", args.join(" "));
    err
}

fn json(s: &str) -> serde_json::Value {
    ok(serde_json::from_str(s))
}

/// `n` small phantom images `case00.nii.gz` … in `dir`, each slightly different.
fn images(dir: &Path, n: usize) -> Vec<Volume> {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    (0..n)
        .map(|i| {
            let v = ok(Phantom::new([12 + i % 3, 12, 6])).volume();
            ok(write_nifti(&dir.join(format!("case{i:02}.nii.gz")), &v));
            v
        })
        .collect()
}

/// A mask on `img`'s grid: 1 where the image is above `t`, 2 above `t + 500`.
fn mask_file(img: &Volume, t: f64, path: &Path) -> Vec<u8> {
    let d = img.grid.dims;
    let mut m = Vec::with_capacity(img.grid.voxel_count());
    for k in 0..d[2] {
        for j in 0..d[1] {
            for i in 0..d[0] {
                let v = img.value(i, j, k);
                m.push(if v > t + 500.0 { 2 } else { u8::from(v > t) });
            }
        }
    }
    let vol = ok(Volume::new(img.grid, VoxelData::U8(m), Metadata::default()));
    ok(write_nifti(path, &vol));
    ok(std::fs::read(path))
}

#[test]
fn a_team_takes_a_project_from_empty_to_approved() {
    let _shared = shared();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let imgs = images(&data, 20);
    // The second annotator's machine mounts the same images elsewhere.
    let other_root = tmp.path().join("mnt-elsewhere");
    #[cfg(unix)]
    ok(std::os::unix::fs::symlink(&data, &other_root));
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    let by_name: BTreeMap<String, &Volume> = imgs
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("case{i:02}"), v))
        .collect();
    for (engine, p) in engines("team", tmp.path()) {
        let p = p.as_str();
        let work = tmp.path().join(format!("work-{engine}"));
        ok(std::fs::create_dir_all(&work));
        vx(&[
            "project",
            "init",
            p,
            "--schema",
            &schema.display().to_string(),
            "--name",
            "liver-ct",
            "--rounds",
            "2",
        ]);
        let added = json(&vx(&[
            "project",
            "add-cases",
            p,
            &data.display().to_string(),
            "--data-root",
            &data.display().to_string(),
            "--json",
        ]));
        assert_eq!(added.as_array().map(Vec::len), Some(20), "{engine}");
        let roots = [("ann", data.clone()), ("bob", other_root.clone())];
        // Every saved version: (case, annotator, version) → the exact bytes.
        let mut saved: BTreeMap<(String, String, i64), Vec<u8>> = BTreeMap::new();
        // Both annotators work through the queue until it is empty.
        let mut done = [false, false];
        let mut step = 0usize;
        while !done.iter().all(|d| *d) {
            let w = step % 2;
            step += 1;
            if done[w] {
                continue;
            }
            let (who, root) = &roots[w];
            let root_s = root.display().to_string();
            let n = json(&vx(&[
                "project",
                "next",
                p,
                "--annotator",
                who,
                "--data-root",
                &root_s,
                "--json",
            ]));
            if n.is_null() {
                done[w] = true;
                continue;
            }
            let case = n["case"].as_str().unwrap_or_default().to_string();
            assert_eq!(n["annotator"], *who);
            assert_eq!(
                (n["round"].as_i64(), n["version"].as_i64()),
                (Some(1), Some(0))
            );
            // The image is where this machine mounts the data.
            let at = PathBuf::from(n["image_path"].as_str().unwrap_or_default());
            assert!(
                at.starts_with(root) && at.exists(),
                "{engine}: {}",
                at.display()
            );
            let mask = work.join(format!("{case}-{who}.nii.gz"));
            let bytes = mask_file(by_name[&case], -100.0, &mask);
            let v = json(&vx(&[
                "project",
                "save",
                p,
                &case,
                "--annotator",
                who,
                "--mask",
                &mask.display().to_string(),
                "--base-version",
                "0",
                "--data-root",
                &root_s,
                "--json",
            ]));
            assert_eq!(v["version"].as_i64(), Some(1));
            saved.insert((case.clone(), who.to_string(), 1), bytes);
            vx(&["project", "submit", p, &case, "--annotator", who]);
        }
        let rows = json(&vx(&[
            "project",
            "cases",
            p,
            "--status",
            "submitted",
            "--json",
        ]));
        let rows = rows.as_array().cloned().unwrap_or_default();
        assert_eq!(
            rows.len(),
            20,
            "{engine}: every case claimed once and submitted"
        );
        let claimed: BTreeSet<&str> = rows.iter().filter_map(|r| r["case"].as_str()).collect();
        assert_eq!(claimed.len(), 20);
        for r in &rows {
            for k in ["case", "image", "annotator", "status", "round", "version"] {
                assert!(!r[k].is_null(), "{engine}: cases --json lacks {k}: {r}");
            }
        }
        // The reviewer sends three back; one annotator may not review their own work.
        let back: Vec<(String, String)> = rows
            .iter()
            .take(3)
            .map(|r| {
                (
                    r["case"].as_str().unwrap_or_default().to_string(),
                    r["annotator"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let (c0, a0) = &back[0];
        let e = vx_err(&["project", "approve", p, c0, "--annotator", a0, "--by", a0]);
        assert!(e.contains("another person reviews it"), "{e}");
        for (c, a) in &back {
            vx(&[
                "project",
                "request-changes",
                p,
                c,
                "--annotator",
                a,
                "--by",
                "rev",
                "--note",
                "bone edge",
            ]);
            vx(&[
                "project",
                "comment",
                p,
                c,
                "--annotator",
                a,
                "--by",
                "rev",
                "--text",
                "missed the rib",
                "--at",
                "3,4,2",
                "--label",
                "2",
            ]);
        }
        // Changes requested come first in the annotator's queue; a save from a stale base
        // is refused naming who saved the newer version.
        for (_, a) in &back {
            let root_s = roots
                .iter()
                .find(|r| r.0 == a.as_str())
                .map(|r| r.1.display().to_string())
                .unwrap_or_default();
            let n = json(&vx(&[
                "project",
                "next",
                p,
                "--annotator",
                a,
                "--data-root",
                &root_s,
                "--json",
            ]));
            assert_eq!(n["status"], "changes_requested", "{engine}");
            let case = n["case"].as_str().unwrap_or_default().to_string();
            assert!(back.iter().any(|(bc, ba)| *bc == case && ba == a));
            // A mask with a value outside the schema, or on another grid, is refused.
            let img = by_name[&case];
            let bad = work.join("bad.nii.gz");
            let sevens = VoxelData::U8(vec![7; img.grid.voxel_count()]);
            ok(write_nifti(
                &bad,
                &ok(Volume::new(img.grid, sevens, Metadata::default())),
            ));
            let bad_s = bad.display().to_string();
            let save = |mask: &str, more: &[&str]| -> Vec<String> {
                let mut v: Vec<String> = ["project", "save", p, &case, "--annotator", a]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                v.extend(["--mask", mask, "--data-root", &root_s].map(String::from));
                v.extend(more.iter().map(|s| s.to_string()));
                v
            };
            let e = vx_err(&save(&bad_s, &[]));
            assert!(e.contains("not in the project's schema"), "{engine}: {e}");
            let other = by_name
                .values()
                .find(|v| v.grid.dims != img.grid.dims)
                .copied();
            let other = other.unwrap_or_else(|| panic!("images of several sizes"));
            mask_file(other, 0.0, &bad);
            let e = vx_err(&save(&bad_s, &[]));
            assert!(e.contains("bad.nii.gz"), "{engine}: {e}");
            let mask = work.join(format!("{case}-{a}-v2.nii.gz"));
            let bytes = mask_file(img, 0.0, &mask);
            let mask_s = mask.display().to_string();
            let e = vx_err(&save(&mask_s, &["--base-version", "0"]));
            assert!(
                e.contains(&format!("version 1 was saved by {a}")),
                "{engine}: {e}"
            );
            let v = json(&vx(&save(&mask_s, &["--base-version", "1", "--json"])));
            assert_eq!(v["version"].as_i64(), Some(2));
            saved.insert((case.clone(), a.clone(), 2), bytes);
            let s = json(&vx(&[
                "project",
                "submit",
                p,
                &case,
                "--annotator",
                a,
                "--json",
            ]));
            assert_eq!(
                s["round"].as_i64(),
                Some(2),
                "{engine}: resubmission starts round 2"
            );
        }
        // Round 2 is the last: changes can no longer be requested.
        let e = vx_err(&[
            "project",
            "request-changes",
            p,
            c0,
            "--annotator",
            a0,
            "--by",
            "rev",
        ]);
        assert!(e.contains("last"), "{e}");
        for r in &rows {
            let (c, a) = (
                r["case"].as_str().unwrap_or_default(),
                r["annotator"].as_str().unwrap_or_default(),
            );
            vx(&["project", "approve", p, c, "--annotator", a, "--by", "rev"]);
        }
        let st = json(&vx(&["project", "status", p, "--json"]));
        assert_eq!(st["cases"].as_i64(), Some(20));
        assert_eq!(st["cases_done"].as_i64(), Some(20), "{engine}: {st}");
        assert_eq!(st["by_status"]["approved"].as_i64(), Some(20));
        assert_eq!(st["by_round"]["2"].as_i64(), Some(3));
        let per: i64 = ["ann", "bob"]
            .iter()
            .map(|a| st["by_annotator"][a]["approved"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(per, 20);
        // Every version comes back bit for bit.
        for ((c, a, v), bytes) in &saved {
            let out = work.join("got.nii.gz");
            vx(&[
                "project",
                "get",
                p,
                c,
                "--annotator",
                a,
                "--version",
                &v.to_string(),
                "-o",
                &out.display().to_string(),
            ]);
            assert!(ok(std::fs::read(&out)) == *bytes, "{engine}: {c} {a} v{v}");
        }
        assert_eq!(saved.len(), 23);
    }
}

#[test]
fn concurrent_next_claims_every_case_exactly_once() {
    let _shared = shared();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let one = ok(Phantom::new([8, 8, 4])).volume();
    ok(std::fs::create_dir_all(&data));
    let cases = 300;
    for i in 0..cases {
        ok(write_nifti(&data.join(format!("c{i:03}.nii.gz")), &one));
    }
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    for (engine, p) in engines("claims", tmp.path()) {
        vx(&[
            "project",
            "init",
            &p,
            "--schema",
            &schema.display().to_string(),
        ]);
        vx(&["project", "add-cases", &p, &data.display().to_string()]);
        // 8 processes at a time, 50 `next` calls each, every call a different annotator:
        // each call must claim a fresh case or find none.
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..50 {
                        let out = Command::new(bin())
                            .args([
                                "project",
                                "next",
                                &p,
                                "--annotator",
                                &format!("w{w}-{i}"),
                                "--json",
                            ])
                            .output()
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert!(
                            out.status.success(),
                            "{}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        let v: serde_json::Value = ok(serde_json::from_slice(&out.stdout));
                        if let Some(c) = v["case"].as_str() {
                            got.push(c.to_string());
                        }
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().unwrap_or_else(|_| panic!("a worker panicked")));
        }
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(
            all.len(),
            cases,
            "{engine}: 400 calls, {cases} cases: each case once"
        );
        assert_eq!(unique.len(), cases, "{engine}: a case was claimed twice");
        let rows = json(&vx(&["project", "cases", &p, "--json"]));
        let rows = rows.as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), cases);
        assert!(rows.iter().all(|r| r["status"] == "draft"), "{engine}");
    }
}

#[test]
fn a_save_killed_midway_leaves_the_previous_or_the_new_version() {
    let _shared = shared();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    ok(std::fs::create_dir_all(&data));
    let img = ok(Phantom::new([96, 96, 64])).volume();
    ok(write_nifti(&data.join("big.nii.gz"), &img));
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    // A mask that does not compress much, so the save has megabytes to write.
    let n = img.grid.voxel_count();
    let mut x = 0x9e3779b97f4a7c15u64;
    let noisy: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 3) as u8
        })
        .collect();
    let mask = tmp.path().join("noisy.nii");
    ok(write_nifti(
        &mask,
        &ok(Volume::new(
            img.grid,
            VoxelData::U8(noisy),
            Metadata::default(),
        )),
    ));
    let want = ok(std::fs::read(&mask));
    for (engine, p) in engines("kill", tmp.path()) {
        vx(&[
            "project",
            "init",
            &p,
            "--schema",
            &schema.display().to_string(),
        ]);
        vx(&["project", "add-cases", &p, &data.display().to_string()]);
        vx(&["project", "next", &p, "--annotator", "ann"]);
        vx(&[
            "project",
            "save",
            &p,
            "big",
            "--annotator",
            "ann",
            "--mask",
            &mask.display().to_string(),
        ]);
        // Kill -9 saves at different moments: each ends with the old or the new version
        // complete (its bytes and sha256 intact), never a torn one.
        let mut killed = 0;
        for round in 0..6u32 {
            let mut child = Command::new(bin())
                .args([
                    "project",
                    "save",
                    &p,
                    "big",
                    "--annotator",
                    "ann",
                    "--mask",
                    &mask.display().to_string(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"));
            // Let it run for a varying amount of its own work: wait until it has read
            // `round` × 64 KiB of input (from /proc; falls back to no wait elsewhere).
            let io = PathBuf::from(format!("/proc/{}/io", child.id()));
            loop {
                let read = std::fs::read_to_string(&io).ok().and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("rchar:"))
                        .and_then(|l| l[6..].trim().parse::<u64>().ok())
                });
                match (read, child.try_wait()) {
                    (_, Ok(Some(_))) => break,
                    (Some(r), _) if r >= u64::from(round) * 2_000_000 => break,
                    (None, _) => break,
                    _ => std::thread::yield_now(),
                }
            }
            if child.try_wait().ok().flatten().is_none() {
                killed += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
            let mut proj = ok(Project::open(&ok(Location::parse(&p))));
            let versions = ok(proj.versions("big", "ann"));
            let latest = versions.last().map_or(0, |v| v.version);
            assert_eq!(
                versions.iter().map(|v| v.version).collect::<Vec<_>>(),
                (1..=latest).collect::<Vec<_>>(),
                "{engine}: versions numbered without gaps"
            );
            let slot = ok(proj.cases(None, Some("ann")));
            assert_eq!(
                slot[0].version, latest,
                "{engine}: the annotation points at its last version"
            );
            for v in 1..=latest {
                let (_, bytes) = ok(proj.get_version("big", "ann", Some(v)));
                assert!(bytes == want, "{engine}: version {v} intact");
            }
        }
        assert!(killed > 0, "{engine}: no save was killed while running");
    }
}

#[test]
fn a_project_from_a_newer_voxmark_is_refused_and_left_untouched() {
    let _shared = shared();
    let tmp = tempdir();
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    for (engine, p) in engines("newer", tmp.path()) {
        vx(&[
            "project",
            "init",
            &p,
            "--schema",
            &schema.display().to_string(),
        ]);
        let bump = "UPDATE meta SET value = '99' WHERE key = 'schema_version'";
        match ok(Location::parse(&p)) {
            Location::Folder(d) => {
                let c = ok(rusqlite::Connection::open(
                    d.join(voxmark_project::db::SQLITE_FILE),
                ));
                ok(c.execute(bump, []));
            }
            Location::Server(_) => {
                let mut db = ok(voxmark_project::db::Db::open(
                    &ok(Location::parse(&p)),
                    false,
                ));
                ok(db.exec(bump, &[]));
            }
        }
        let e = vx_err(&["project", "status", &p]);
        assert!(
            e.contains("newer than this voxmark") && e.contains("not modified"),
            "{engine}: {e}"
        );
        let e = vx_err(&["project", "next", &p, "--annotator", "ann"]);
        assert!(e.contains("newer"), "{engine}: {e}");
        let mut db = ok(voxmark_project::db::Db::open(
            &ok(Location::parse(&p)),
            false,
        ));
        let v = ok(db.query("SELECT value FROM meta WHERE key = 'schema_version'", &[]));
        assert_eq!(v[0][0].text(), Some("99"), "{engine}: untouched");
        assert!(ok(db.query("SELECT id FROM annotations", &[])).is_empty());
    }
}

#[test]
fn a_server_restart_between_saves_reconnects() {
    let _alone = SERVER.write().unwrap_or_else(|e| e.into_inner());
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let imgs = images(&data, 1);
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    let Ok(restart) = std::env::var("VOXMARK_TEST_PG_RESTART") else {
        assert!(
            std::env::var("REQUIRE_PG").as_deref() != Ok("1"),
            "REQUIRE_PG=1 but VOXMARK_TEST_PG_RESTART is not set (source scripts/pg_server.sh)"
        );
        return;
    };
    for (engine, p) in engines("restart", tmp.path()) {
        if engine != "postgres" {
            continue;
        }
        vx(&[
            "project",
            "init",
            &p,
            "--schema",
            &schema.display().to_string(),
        ]);
        vx(&["project", "add-cases", &p, &data.display().to_string()]);
        let mut proj = ok(Project::open(&ok(Location::parse(&p))));
        let case = ok(proj.next("ann")).map(|r| r.case).unwrap_or_default();
        let m1 = mask_file(&imgs[0], -100.0, &tmp.path().join("m1.nii.gz"));
        ok(proj.save_version(&case, "ann", &m1, None, Some(0), "ann"));
        let st = Command::new("sh")
            .args(["-c", &restart])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            st.status.success(),
            "restart: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        // The same Project (its connection was cut by the restart) saves again.
        let m2 = mask_file(&imgs[0], 0.0, &tmp.path().join("m2.nii.gz"));
        let v = ok(proj.save_version(&case, "ann", &m2, None, Some(1), "ann"));
        assert_eq!(v.version, 2);
        assert!(ok(proj.get_version(&case, "ann", Some(2))).1 == m2);
    }
}

/// A DICOM series folder is one case (its series UID recorded); a mask saved on it is checked
/// against the series' own grid, so a mask written on the series' grid is accepted and one
/// on the NIfTI phantom of the same size but another orientation is refused.
#[test]
fn a_dicom_series_is_a_case_and_masks_are_checked_on_its_grid() {
    let _shared = shared();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let series = data.join("ct-series");
    ok(std::fs::create_dir_all(&data));
    vx(&[
        "phantom",
        "--size",
        "16,14,6",
        "-o",
        &format!("{}/", series.display()),
    ]);
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    let img = ok(voxmark_io::load_volume(
        &series,
        &voxmark_io::LoadOptions { series: None },
    ))
    .volume;
    for (engine, p) in engines("dicom", tmp.path()) {
        vx(&[
            "project",
            "init",
            &p,
            "--schema",
            &schema.display().to_string(),
        ]);
        let added = json(&vx(&[
            "project",
            "add-cases",
            &p,
            &data.display().to_string(),
            "--json",
        ]));
        let rows = added.as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{engine}: one series, one case");
        assert_eq!(rows[0]["case"], "ct-series");
        assert_eq!(rows[0]["image"], "ct-series");
        assert_eq!(
            rows[0]["series_uid"].as_str(),
            img.meta.series_uid.as_deref()
        );
        vx(&["project", "next", &p, "--annotator", "ann"]);
        let good = tmp.path().join("good.nii.gz");
        let bytes = mask_file(&img, -100.0, &good);
        vx(&[
            "project",
            "save",
            &p,
            "ct-series",
            "--annotator",
            "ann",
            "--mask",
            &good.display().to_string(),
        ]);
        let out = tmp.path().join("back.nii.gz");
        vx(&[
            "project",
            "get",
            &p,
            "ct-series",
            "--annotator",
            "ann",
            "-o",
            &out.display().to_string(),
        ]);
        assert!(ok(std::fs::read(&out)) == bytes, "{engine}");
        // The same dims placed 5 mm elsewhere: refused, naming the mask.
        let shifted = voxmark_volume::Grid::new(
            img.grid.dims,
            glam::DMat4::from_translation(glam::DVec3::new(0.0, 0.0, 5.0))
                * img.grid.world_from_voxel,
        );
        let other = ok(Volume::new(shifted, img.data.clone(), Metadata::default()));
        let bad = tmp.path().join("bad.nii.gz");
        mask_file(&other, -100.0, &bad);
        let e = vx_err(&[
            "project",
            "save",
            &p,
            "ct-series",
            "--annotator",
            "ann",
            "--mask",
            &bad.display().to_string(),
        ]);
        assert!(e.contains("bad.nii.gz"), "{engine}: {e}");
        // Exported for nnU-Net: the DICOM modality names the channel (CT normalisation),
        // the image is what `convert` writes (HU), the label is the mask on its grid.
        vx(&["project", "submit", &p, "ct-series", "--annotator", "ann"]);
        vx(&[
            "project",
            "approve",
            &p,
            "ct-series",
            "--annotator",
            "ann",
            "--by",
            "rev",
        ]);
        let out = tmp.path().join(format!("raw-{engine}"));
        let s = json(&vx(&[
            "project",
            "export",
            &p,
            "--format",
            "nnunet",
            "-o",
            &out.display().to_string(),
            "--json",
        ]));
        let root = PathBuf::from(s["root"].as_str().unwrap_or_default());
        assert!(
            root.starts_with(&out) && root.join("dataset.json").is_file(),
            "{engine}: {s}"
        );
        let ds = json(&ok(std::fs::read_to_string(root.join("dataset.json"))));
        assert_eq!(ds["channel_names"]["0"], "CT", "{engine}");
        let conv = tmp.path().join(format!("convert-{engine}.nii.gz"));
        vx(&[
            "convert",
            &series.display().to_string(),
            &conv.display().to_string(),
        ]);
        let exported = root.join("imagesTr/ct-series_0000.nii.gz");
        assert!(
            ok(std::fs::read(&exported)) == ok(std::fs::read(&conv)),
            "{engine}"
        );
        let lab = ok(voxmark_io::nifti::read_nifti(
            &root.join("labelsTr/ct-series.nii.gz"),
        ));
        assert!(voxmark_volume::labels::same_grid(&lab.grid, &img.grid));
        let want = ok(voxmark_volume::labels::labels_for(
            &ok(voxmark_io::nifti::read_nifti(&good)),
            &good,
            &img.grid,
        ));
        assert_eq!(
            ok(voxmark_volume::labels::labels_for(&lab, &good, &lab.grid)),
            want
        );
    }
}

/// TLS as libpq's sslmode says: `disable` is plain; `require` is encrypted; `verify-full`
/// with the server's CA connects to the name in its certificate and refuses another name.
#[test]
fn postgresql_connections_use_tls_as_the_url_asks() {
    let _shared = shared();
    let (Ok(url), Ok(ca)) = (
        std::env::var("VOXMARK_TEST_PG"),
        std::env::var("VOXMARK_TEST_PG_CA"),
    ) else {
        assert!(
            std::env::var("REQUIRE_PG").as_deref() != Ok("1"),
            "REQUIRE_PG=1 but VOXMARK_TEST_PG / VOXMARK_TEST_PG_CA are not set"
        );
        return;
    };
    use voxmark_project::db::Db;
    let ssl = |u: &str| -> voxmark_volume::Result<String> {
        let mut db = Db::open(&Location::parse(u)?, false)?;
        let r = db.query(
            "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )?;
        Ok(r[0][0].text().unwrap_or_default().to_string())
    };
    assert_eq!(ok(ssl(&format!("{url}?sslmode=disable"))), "false");
    assert_eq!(ok(ssl(&format!("{url}?sslmode=require"))), "true");
    let by_name = url.replace("@127.0.0.1:", "@localhost:");
    assert_eq!(
        ok(ssl(&format!(
            "{by_name}?sslmode=verify-full&sslrootcert={ca}"
        ))),
        "true"
    );
    let e = ssl(&format!("{url}?sslmode=verify-full&sslrootcert={ca}"));
    assert!(e.is_err(), "127.0.0.1 is not the certificate's name");
    let e = ssl(&format!("{by_name}?sslmode=verify-full"));
    assert!(
        e.is_err(),
        "without the CA the self-signed chain is refused"
    );
}

/// Labels of a NIfTI file as u8, with its grid.
fn read_labels(path: &Path) -> (voxmark_volume::Grid, Vec<u8>) {
    let v = ok(voxmark_io::nifti::read_nifti(path));
    let l = ok(voxmark_volume::labels::labels_for(&v, path, &v.grid));
    (v.grid, l)
}

#[test]
fn approved_work_and_gold_cases_become_an_nnunet_and_monai_training_set() {
    let _shared = shared();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let imgs = images(&data, 4);
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    let d = data.display().to_string();
    for (engine, p) in engines("export", tmp.path()) {
        let p = p.as_str();
        let masks = tmp.path().join(format!("masks-{engine}"));
        ok(std::fs::create_dir_all(&masks));
        vx(&[
            "project",
            "init",
            p,
            "--schema",
            &schema.display().to_string(),
            "--name",
            "ct body",
            "--annotators-per-case",
            "2",
        ]);
        vx(&["project", "add-cases", p, &d, "--data-root", &d]);
        vx(&[
            "project",
            "assign",
            p,
            "--annotator",
            "alice",
            "--cases",
            "case00,case01,case02",
        ]);
        vx(&[
            "project",
            "assign",
            p,
            "--annotator",
            "bob",
            "--cases",
            "case00,case01",
        ]);
        // alice and bob disagree on case00 (thresholds), agree on case01; case02 is alice's.
        let mut kept: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
        for (case, who, t) in [
            ("case00", "alice", 100.0),
            ("case00", "bob", 300.0),
            ("case01", "alice", 100.0),
            ("case01", "bob", 100.0),
            ("case02", "alice", 100.0),
        ] {
            let i: usize = ok(case[4..].parse());
            let m = masks.join(format!("{case}-{who}.nii.gz"));
            mask_file(&imgs[i], t, &m);
            kept.insert((case.into(), who.into()), read_labels(&m).1);
            vx(&[
                "project",
                "save",
                p,
                case,
                "--annotator",
                who,
                "--mask",
                &m.display().to_string(),
                "--data-root",
                &d,
            ]);
            vx(&["project", "submit", p, case, "--annotator", who]);
            if case != "case02" {
                vx(&[
                    "project",
                    "approve",
                    p,
                    case,
                    "--annotator",
                    who,
                    "--by",
                    "rev",
                ]);
            }
        }
        // case03 is gold (reference: threshold 100); carol must pass one gold case first.
        let reference = masks.join("gold.nii.gz");
        mask_file(&imgs[3], 100.0, &reference);
        vx(&[
            "project",
            "gold",
            p,
            "case03",
            "--mask",
            &reference.display().to_string(),
            "--by",
            "expert",
            "--data-root",
            &d,
        ]);
        vx(&[
            "project",
            "gold-settings",
            p,
            "--required",
            "1",
            "--min-dice",
            "0.9",
        ]);
        let first = json(&vx(&[
            "project",
            "next",
            p,
            "--annotator",
            "carol",
            "--json",
        ]));
        assert_eq!(first["case"], "case03", "{engine}: gold comes first");
        let bad = masks.join("carol-gold.nii.gz");
        mask_file(&imgs[3], 1200.0, &bad);
        vx(&[
            "project",
            "save",
            p,
            "case03",
            "--annotator",
            "carol",
            "--mask",
            &bad.display().to_string(),
            "--data-root",
            &d,
        ]);
        let sub = json(&vx(&[
            "project",
            "submit",
            p,
            "case03",
            "--annotator",
            "carol",
            "--json",
        ]));
        assert_eq!(sub["gold_score"]["passed"], false, "{engine}: {sub}");
        // The score is the Dice of carol's mask against the reference, per label.
        let (g, r) = read_labels(&reference);
        let (_, c) = read_labels(&bad);
        let want = voxmark_qa::metrics::compare_masks(&r, &c, &g, &[1, 2], 1.0);
        let got = sub["gold_score"]["labels"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(got.len(), want.len());
        for (x, w) in got.iter().zip(&want) {
            assert!((x["dice"].as_f64().unwrap_or(-1.0) - w.dice).abs() < 1e-12);
        }
        // No gold case left and none passed: carol gets no real case.
        let refused = vx_err(&["project", "next", p, "--annotator", "carol"]);
        assert!(refused.contains("passed 0 of the 1 gold case"), "{refused}");
        vx(&["project", "gold-settings", p, "--required", "0"]);
        let real = json(&vx(&[
            "project",
            "next",
            p,
            "--annotator",
            "carol",
            "--json",
        ]));
        assert_eq!(real["case"], "case02", "{engine}");

        // nnU-Net export: approved cases (case00 fused, case01) and the gold case.
        let out = tmp.path().join(format!("nnunet-{engine}"));
        let o = out.display().to_string();
        let export_with = |extra: &[&str]| {
            let mut args = vec![
                "project",
                "export",
                p,
                "--format",
                "nnunet",
                "-o",
                &o,
                "--dataset-id",
                "7",
                "--channel-name",
                "CT",
                "--data-root",
                &d,
                "--json",
            ];
            args.extend_from_slice(extra);
            json(&vx(&args))
        };
        let export = || export_with(&[]);
        let s = export();
        let root = out.join("Dataset007_ct_body");
        assert_eq!(s["cases"], 3, "{engine}: {s}");
        let ds: serde_json::Value = json(&ok(std::fs::read_to_string(root.join("dataset.json"))));
        assert_eq!(
            ds["labels"],
            serde_json::json!({"background": 0, "body": 1, "bone": 2})
        );
        assert_eq!(ds["channel_names"]["0"], "CT");
        assert_eq!(ds["numTraining"], 3);
        assert_eq!(ds["file_ending"], ".nii.gz");
        for case in ["case00", "case01", "case03"] {
            let img = ok(voxmark_io::nifti::read_nifti(
                &root.join(format!("imagesTr/{case}_0000.nii.gz")),
            ));
            let (lg, lab) = read_labels(&root.join(format!("labelsTr/{case}.nii.gz")));
            assert!(
                voxmark_volume::labels::same_grid(&img.grid, &lg),
                "{engine} {case}"
            );
            let i: usize = ok(case[4..].parse());
            assert_eq!(img.data.len(), imgs[i].data.len());
            let want: Vec<u8> = match case {
                "case00" => {
                    ok(voxmark_qa::consensus::majority_vote(&[
                        &kept[&("case00".into(), "alice".into())],
                        &kept[&("case00".into(), "bob".into())],
                    ]))
                    .labels
                }
                "case01" => kept[&("case01".into(), "alice".into())].clone(),
                _ => r.clone(),
            };
            assert_eq!(lab, want, "{engine} {case}");
        }
        let manifest: serde_json::Value = json(&ok(std::fs::read_to_string(
            root.join("voxmark-manifest.json"),
        )));
        assert_eq!(manifest["cases"]["case00"]["method"], "majority");
        assert_eq!(manifest["cases"]["case03"]["method"], "gold");
        assert_eq!(
            manifest["cases"]["case00"]["masks"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let v = json(&vx(&[
            "project",
            "versions",
            p,
            "case00",
            "--annotator",
            "bob",
            "--json",
        ]));
        let bob = manifest["cases"]["case00"]["masks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(bob
            .iter()
            .any(|m| m["annotator"] == "bob" && m["sha256"] == v[0]["sha256"]));

        // Re-run: nothing changes. Approving case02 adds it and nothing else.
        let again = export();
        assert_eq!(
            (
                again["unchanged"].as_u64(),
                again["written"].as_array().map(Vec::len)
            ),
            (Some(3), Some(0)),
            "{engine}"
        );
        vx(&[
            "project",
            "approve",
            p,
            "case02",
            "--annotator",
            "alice",
            "--by",
            "rev",
        ]);
        // case02 has one of its two slots approved: not done, so left out (and said why)
        // unless --include-partial.
        let more = export();
        assert_eq!(more["written"], serde_json::json!([]), "{engine}");
        assert_eq!(more["left_out"][0][0], "case02", "{engine}: {more}");
        let why = more["left_out"][0][1].as_str().unwrap_or_default();
        assert!(
            why.contains("1 of 2") && why.contains("carol is draft"),
            "{why}"
        );
        let status = json(&vx(&["project", "status", p, "--json"]));
        assert_eq!(status["cases_done"], 2, "{engine}: status and export agree");
        let more = export_with(&["--include-partial"]);
        assert_eq!(more["written"], serde_json::json!(["case02"]), "{engine}");
        assert_eq!(
            json(&ok(std::fs::read_to_string(root.join("dataset.json"))))["numTraining"],
            4
        );

        // MONAI with folds and STAPLE for the case with two annotators.
        let mo = tmp.path().join(format!("monai-{engine}"));
        vx(&[
            "project",
            "export",
            p,
            "--format",
            "monai",
            "-o",
            &mo.display().to_string(),
            "--folds",
            "2",
            "--consensus",
            "staple",
            "--channel-name",
            "CT",
            "--data-root",
            &d,
            "--include-partial",
        ]);
        let dl: serde_json::Value = json(&ok(std::fs::read_to_string(mo.join("datalist.json"))));
        let items = dl["training"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 4);
        for it in &items {
            let f = it["fold"].as_u64().unwrap_or(9);
            assert!(f < 2);
            for k in ["image", "label"] {
                assert!(mo.join(it[k].as_str().unwrap_or("")).is_file(), "{it}");
            }
        }
        let st = ok(voxmark_qa::staple::staple(
            &[
                &kept[&("case00".into(), "alice".into())],
                &kept[&("case00".into(), "bob".into())],
            ],
            &Default::default(),
        ));
        assert_eq!(
            read_labels(&mo.join("labels/case00.nii.gz")).1,
            st.labels,
            "{engine}"
        );

        // The QA report: HTML with its plots, the gold failure, the JSON numbers.
        let html = tmp.path().join(format!("report-{engine}.html"));
        let rep = json(&vx(&[
            "project",
            "report",
            p,
            "-o",
            &html.display().to_string(),
            "--data-root",
            &d,
            "--json",
        ]));
        let page = ok(std::fs::read_to_string(&html));
        assert!(page.matches("<svg").count() >= 4, "{engine}");
        assert!(page.contains("Gold-standard") && page.contains("<b>failed</b>"));
        assert!(!page.contains("<script"));
        let carol = rep["annotators"].as_array().cloned().unwrap_or_default();
        let carol = carol
            .iter()
            .find(|a| a["name"] == "carol")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (carol["gold_scored"].as_i64(), carol["gold_passed"].as_i64()),
            (Some(1), Some(0))
        );
        // case00's pair is the only disagreement; its Dice per label is compare's.
        let pair = rep["pairs"].as_array().cloned().unwrap_or_default();
        let c00 = pair
            .iter()
            .find(|x| x["case"] == "case00")
            .cloned()
            .unwrap_or_default();
        let want = voxmark_qa::metrics::compare_masks(
            &kept[&("case00".into(), "alice".into())],
            &kept[&("case00".into(), "bob".into())],
            &imgs[0].grid,
            &[1, 2],
            1.0,
        );
        assert!(
            (c00["labels"]["1"][0].as_f64().unwrap_or(-1.0) - want[0].dice).abs() < 1e-12,
            "{c00}"
        );
    }
}

#[test]
fn markups_are_versioned_with_masks_exported_and_counted() {
    use voxmark_volume::markup::{Markup, MarkupEdit, MarkupKind, MarkupSet};
    let _shared = shared();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let imgs = images(&data, 1);
    let schema = tmp.path().join("schema.json");
    ok(std::fs::write(&schema, SCHEMA));
    let d = data.display().to_string();
    // Markups of a version: landmarks (and a box in version 2) placed in the image.
    let set = |n: usize, with_box: bool| {
        let mut s = MarkupSet::default();
        let c = imgs[0]
            .grid
            .world_from_index(glam::DVec3::new(5.0, 6.0, 2.0));
        for k in 0..n {
            let p = [c.x + k as f64, c.y, c.z];
            let add = MarkupEdit::Add {
                markup: Markup::new(MarkupKind::Point, vec![p]),
            };
            ok(s.apply(&add));
        }
        if with_box {
            let b = Markup {
                label: Some(2),
                ..Markup::new(MarkupKind::Box, vec![c.to_array(), (c + 9.0).to_array()])
            };
            ok(s.apply(&MarkupEdit::Add { markup: b }));
        }
        s
    };
    for (engine, p) in engines("markups", tmp.path()) {
        let p = p.as_str();
        let dir = tmp.path().join(format!("m-{engine}"));
        ok(std::fs::create_dir_all(&dir));
        let s = schema.display().to_string();
        vx(&["project", "init", p, "--schema", &s]);
        vx(&["project", "add-cases", p, &d, "--data-root", &d]);
        vx(&[
            "project",
            "assign",
            p,
            "--annotator",
            "ann",
            "--cases",
            "case00",
        ]);
        let m = dir.join("m.nii.gz");
        mask_file(&imgs[0], 100.0, &m);
        let mk = voxmark_io::label_file::markups_path(&m);
        let save = |v: &MarkupSet| {
            ok(voxmark_io::markups::write_slicer(&mk, v, &|_| None));
            let mp = m.display().to_string();
            vx(&[
                "project",
                "save",
                p,
                "case00",
                "--annotator",
                "ann",
                "--mask",
                &mp,
                "--data-root",
                &d,
            ]);
        };
        save(&set(2, false));
        save(&set(3, true));
        // Each version gives back its own markups beside its mask.
        for (v, want) in [(1, set(2, false)), (2, set(3, true))] {
            let out = dir.join(format!("v{v}.nii.gz"));
            let o = out.display().to_string();
            vx(&[
                "project",
                "get",
                p,
                "case00",
                "--annotator",
                "ann",
                "--version",
                &v.to_string(),
                "-o",
                &o,
            ]);
            let got = ok(voxmark_io::markups::read_slicer(
                &voxmark_io::label_file::markups_path(&out),
            ));
            assert_eq!(got.markups, want.markups, "{engine}: version {v}");
        }
        vx(&["project", "submit", p, "case00", "--annotator", "ann"]);
        vx(&[
            "project",
            "approve",
            p,
            "case00",
            "--annotator",
            "ann",
            "--by",
            "rev",
        ]);
        let out = dir.join("export");
        let o = out.display().to_string();
        let summary = json(&vx(&[
            "project",
            "export",
            p,
            "--format",
            "folder",
            "-o",
            &o,
            "--markups",
            "--json",
            "--data-root",
            &d,
        ]));
        assert_eq!(summary["markups_written"], 1, "{engine}: {summary}");
        assert_eq!(summary["markups"], 4, "{engine}: {summary}");
        let root = std::path::PathBuf::from(ok(summary["root"]
            .as_str()
            .ok_or("no root")
            .map(str::to_string)));
        let files: Vec<_> = ok(std::fs::read_dir(root.join("markups")))
            .flatten()
            .flat_map(|c| ok(std::fs::read_dir(c.path())).flatten().map(|f| f.path()))
            .collect();
        assert_eq!(files.len(), 2, "{engine}: {files:?}");
        let ml = files
            .iter()
            .find(|f| !f.to_string_lossy().ends_with(".mrk.json"))
            .map(|f| json(&ok(std::fs::read_to_string(f))))
            .unwrap_or_default();
        let bx = &ml["markups"][3];
        assert_eq!(bx["kind"], "box");
        assert_eq!(bx["label_name"], "bone", "{engine}: names from the schema");
        assert_eq!(
            bx["points_voxel"][0][0].as_f64().map(|x| x.round()),
            Some(5.0)
        );
        // The report counts the markups of the latest versions.
        let rep = json(&vx(&[
            "project",
            "report",
            p,
            "--json",
            "--data-root",
            &d,
            "-o",
            &dir.join("r.html").display().to_string(),
        ]));
        let ann = rep["annotators"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "ann"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(ann["markups"], 4, "{engine}: {ann}");
    }
}
