//! Saves that survive the machine (`volume::fs::atomic`'s `VOXMARK_FAULT` hook): `voxmark apply
//! --journal J -o MASK` killed at every step of writing the mask and of its label table
//! (after the temp write, the fsync, the rename, the folder fsync) leaves the previous mask or
//! the complete new one — never a torn file — and recovery from the journal then gives
//! exactly the uninterrupted result, with non-idempotent ops (dilate) applied once whatever
//! the crash point; a full disk and a read-only folder fail with one message naming the mask
//! and leave the previous one in place, the journal holding every acknowledged op. Exports
//! (`export-seg`, both formats) cut off at every step leave the earlier export or the new
//! one; a crashed write's temporary is removed by a later write into its folder.

mod common;

use common::ok;
use std::path::{Path, PathBuf};
use std::process::Command;

// The phantom at 36×32×24 has 11.1 × 12.5 × 20.8 mm voxels: each dilation grows by a voxel
// or more, so applying one twice would show.
const OPS: &str = r#"[
 {"op":"paint","shape":"sphere","points":[[14,14,12]],"radius_mm":30,"label":1},
 {"op":"dilate","label":1,"radius_mm":13},
 {"op":"threshold","range":[200,3000],"label":2,"editable":"empty_only"},
 {"op":"set_label","value":2,"name":"bone","color":[0.9,0.9,0.8]},
 {"op":"dilate","label":2,"radius_mm":12.6,"editable":"empty_only"}
]"#;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = common::tempdir();
        let d = dir.path();
        let img = d.join("img.nii.gz");
        assert!(
            common::run(&[
                "phantom",
                "--size",
                "36,32,24",
                "-o",
                &img.to_string_lossy()
            ])
            .0
        );
        ok(std::fs::write(d.join("ops.json"), OPS));
        ok(std::fs::write(d.join("none.json"), "[]"));
        Self { dir }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// `apply` of `ops` (a file in the case folder) with the journal `j`, to `out`.
    fn apply(&self, ops: &str, labels: Option<&Path>, j: &Path, out: &Path) -> Command {
        let mut c = Command::new(common::bin());
        c.args(["apply", &self.p("img.nii.gz").to_string_lossy()])
            .args(["--ops", &self.p(ops).to_string_lossy()])
            .args(["--journal", &j.to_string_lossy(), "--backend", "cpu", "-o"])
            .arg(out);
        if let Some(l) = labels {
            c.arg("--labels").arg(l);
        }
        c
    }
}

fn labels_of(p: &Path) -> Vec<u8> {
    let v = ok(voxmark_io::nifti::read_nifti(p));
    (0..v.data.len()).map(|i| v.data.get_f64(i) as u8).collect()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_crash_at_any_step_of_a_save_leaves_old_or_new_and_recovery_is_exact() {
    let case = Case::new();
    // The uninterrupted result, and a previous mask (with a table) to be replaced.
    let reference = case.p("ref.nii.gz");
    let o = ok(case
        .apply("ops.json", None, &case.p("ref.jsonl"), &reference)
        .output());
    assert!(o.status.success(), "{}", stderr(&o));
    let want = labels_of(&reference);
    assert!(want.contains(&1) && want.contains(&2));
    let old = case.p("old.nii.gz");
    ok(std::fs::write(
        case.p("old_ops.json"),
        r#"[{"op":"paint","shape":"sphere","points":[[20,20,12]],"radius_mm":4,"label":3},
            {"op":"set_label","value":3,"name":"old"}]"#,
    ));
    let o = ok(case
        .apply("old_ops.json", None, &case.p("old.jsonl"), &old)
        .output());
    assert!(o.status.success(), "{}", stderr(&o));
    let old_bytes = ok(std::fs::read(&old));
    let old_table = ok(std::fs::read(old.with_file_name("old.labels.json")));
    let mut seen = (0, 0);
    for nth in [1, 2] {
        for step in [
            "after-temp-write",
            "after-fsync",
            "after-rename",
            "after-dir-fsync",
        ] {
            let tag = format!("{step}@{nth}");
            let run = case.p(&format!("run-{step}-{nth}"));
            ok(std::fs::create_dir_all(&run));
            let mask = run.join("mask.nii.gz");
            let table = run.join("mask.labels.json");
            ok(std::fs::write(&mask, &old_bytes));
            ok(std::fs::write(&table, &old_table));
            let j = run.join("j.jsonl");
            let o = ok(case
                .apply("ops.json", None, &j, &mask)
                .env("VOXMARK_FAULT", &tag)
                .output());
            assert!(!o.status.success(), "{tag}: the process was killed");
            // The mask is the previous file or the complete new one.
            let now = ok(std::fs::read(&mask));
            let renamed = if now == old_bytes {
                seen.0 += 1;
                false
            } else {
                assert_eq!(labels_of(&mask), want, "{tag}: a new mask is complete");
                seen.1 += 1;
                true
            };
            // The table (1st write) before the mask (2nd, the commit point).
            let past_rename = matches!(step, "after-rename" | "after-dir-fsync");
            assert_eq!(renamed, nth == 2 && past_rename, "{tag}: mask");
            let table_new = ok(std::fs::read(&table)) != old_table;
            assert_eq!(table_new, nth == 2 || past_rename, "{tag}: table");
            // Recovery: the saved mask (old or new) + the journal = the uninterrupted result,
            // the dilations applied exactly once.
            let rec = run.join("rec.nii.gz");
            let o = ok(case.apply("none.json", Some(&mask), &j, &rec).output());
            let err = stderr(&o);
            assert!(o.status.success(), "{tag}: {err}");
            let rec_table = ok(std::fs::read_to_string(run.join("rec.labels.json")));
            assert!(rec_table.contains("\"bone\""), "{tag}: the recovered table");
            if renamed {
                assert!(
                    err.contains("5 operations") && err.contains("already in"),
                    "{tag}: {err}"
                );
                assert_eq!(labels_of(&rec), want, "{tag}: recovered");
            } else {
                // The old mask holds none of the journal's ops: all are replayed on it.
                let mut expected = labels_of(&mask);
                let img = ok(voxmark_io::nifti::read_nifti(&case.p("img.nii.gz")));
                let mut s = ok(voxmark_edit::session::Session::new(&img, expected.clone()));
                let ops = ok(voxmark_edit::ops::parse_ops(OPS, Path::new("ops.json")));
                for op in &ops {
                    ok(s.apply_unjournaled(op));
                }
                expected = ok(s.labels()).into_owned();
                assert!(err.contains("restored 5 operations"), "{tag}: {err}");
                assert_eq!(labels_of(&rec), expected, "{tag}: recovered");
            }
        }
    }
    assert!(
        seen.0 > 0 && seen.1 > 0,
        "both outcomes were exercised: {seen:?}"
    );
}

#[test]
fn a_full_disk_fails_naming_the_mask_and_keeps_the_previous_one() {
    let case = Case::new();
    let mask = case.p("mask.nii.gz");
    let o = ok(case
        .apply("none.json", None, &case.p("a.jsonl"), &mask)
        .output());
    assert!(o.status.success());
    let before = ok(std::fs::read(&mask));
    let j = case.p("j.jsonl");
    for after in [0u64, 100, 600] {
        let o = ok(case
            .apply("ops.json", None, &j, &mask)
            .env("VOXMARK_FAULT", format!("full@{after}"))
            .output());
        let err = stderr(&o);
        assert!(!o.status.success());
        assert!(
            err.contains("mask.nii.gz: not saved")
                && err.contains("No space left on device")
                && err.contains("j.jsonl"),
            "one message naming the mask, the cause and where the work is: {err}"
        );
        assert_eq!(ok(std::fs::read(&mask)), before, "the previous mask stays");
        let left: Vec<String> = ok(std::fs::read_dir(case.dir.path()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(left.is_empty(), "no temporary file left: {left:?}");
        // The run journaled its ops before failing to save: all are there.
        let (journal, rec) = ok(voxmark_edit::journal::Journal::open(&j, "check"));
        assert_eq!(rec.entries.len(), 5);
        drop(journal);
        ok(std::fs::remove_file(&j));
    }
}

#[test]
fn a_read_only_folder_fails_naming_the_mask_and_keeps_the_previous_one() {
    let case = Case::new();
    let ro = case.p("ro");
    ok(std::fs::create_dir_all(&ro));
    let mask = ro.join("mask.nii.gz");
    let o = ok(case
        .apply("none.json", None, &case.p("a.jsonl"), &mask)
        .output());
    assert!(o.status.success());
    let before = ok(std::fs::read(&mask));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m| {
        ok(std::fs::set_permissions(
            p,
            std::fs::Permissions::from_mode(m),
        ))
    };
    mode(case.dir.path(), 0o755);
    mode(&ro, 0o555);
    // The journal lives in a writable folder; the mask's folder is read-only.
    let jdir = case.p("journal");
    ok(std::fs::create_dir_all(&jdir));
    mode(&jdir, 0o777);
    for f in ["img.nii.gz", "ops.json"] {
        mode(&case.p(f), 0o644);
    }
    let mut c = case.apply("ops.json", None, &jdir.join("j.jsonl"), &mask);
    // root ignores folder permissions: run as nobody (setpriv, util-linux).
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if is_root {
        let mut s = Command::new("setpriv");
        s.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(c.get_program())
            .args(c.get_args());
        c = s;
    }
    let o = ok(c.output());
    let err = stderr(&o);
    mode(&ro, 0o755);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("mask.nii.gz: not saved") && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(ok(std::fs::read(&mask)), before, "the previous mask stays");
    // Nothing acknowledged was lost: the journal holds every op.
    let (_, rec) = ok(voxmark_edit::journal::Journal::open(
        &jdir.join("j.jsonl"),
        "check",
    ));
    assert_eq!(rec.entries.len(), 5);
}

/// Exports go through the same atomic write: `export-seg` killed at every step of writing a
/// Slicer `.seg.nrrd` or a DICOM SEG over an earlier export leaves that export or the
/// complete new one (byte for byte what an uninterrupted run writes); a full disk fails
/// naming the output and keeps the earlier file.
#[test]
fn an_export_cut_off_at_any_step_leaves_the_old_or_the_new_file() {
    let case = Case::new();
    let (old_mask, new_mask) = (case.p("old.nii.gz"), case.p("new.nii.gz"));
    ok(std::fs::write(
        case.p("old_ops.json"),
        r#"[{"op":"paint","shape":"sphere","points":[[20,20,12]],"radius_mm":25,"label":3}]"#,
    ));
    for (ops, out) in [("old_ops.json", &old_mask), ("ops.json", &new_mask)] {
        let o = ok(case
            .apply(ops, None, &case.p(&format!("{ops}.j")), out)
            .output());
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let img = case.p("img.nii.gz");
    let export = |mask: &Path, format: &str, out: &Path| {
        let mut c = Command::new(common::bin());
        c.args([
            "export-seg",
            &mask.to_string_lossy(),
            "--image",
            &img.to_string_lossy(),
        ])
        .args(["--format", format, "-o", &out.to_string_lossy()]);
        c
    };
    for (format, name) in [("seg-nrrd", "out.seg.nrrd"), ("dicom-seg", "out.dcm")] {
        // What an uninterrupted export of each mask writes.
        let (old_ref, new_ref) = (
            case.p(&format!("old-{name}")),
            case.p(&format!("new-{name}")),
        );
        for (m, r) in [(&old_mask, &old_ref), (&new_mask, &new_ref)] {
            let o = ok(export(m, format, r).output());
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let (old_bytes, new_bytes) = (ok(std::fs::read(&old_ref)), ok(std::fs::read(&new_ref)));
        let comparable = |b: &[u8]| -> Vec<u8> {
            if format == "dicom-seg" {
                // A DICOM SEG carries fresh UIDs and times per run: compare its segments'
                // frames and their positions instead.
                let out = case.p("cmp.nii.gz");
                let _ = std::fs::remove_file(&out);
                let f = case.p("cmp.dcm");
                ok(std::fs::write(&f, b));
                let o = ok(Command::new(common::bin())
                    .args(["apply", &img.to_string_lossy(), "--ops"])
                    .arg(case.p("none.json"))
                    .args(["--labels", &f.to_string_lossy(), "--backend", "cpu", "-o"])
                    .arg(&out)
                    .output());
                assert!(o.status.success(), "{}", stderr(&o));
                labels_of(&out)
            } else {
                b.to_vec()
            }
        };
        let (old_c, new_c) = (comparable(&old_bytes), comparable(&new_bytes));
        assert_ne!(old_c, new_c);
        let mut outcomes = (0, 0);
        for step in [
            "after-temp-write",
            "after-fsync",
            "after-rename",
            "after-dir-fsync",
        ] {
            let out = case.p(name);
            ok(std::fs::write(&out, &old_bytes));
            let o = ok(export(&new_mask, format, &out)
                .env("VOXMARK_FAULT", step)
                .output());
            assert!(
                !o.status.success(),
                "{format} {step}: the process was killed"
            );
            let now = comparable(&ok(std::fs::read(&out)));
            if now == old_c {
                outcomes.0 += 1;
                assert!(!step.contains("rename"), "{format} {step}: renamed but old");
            } else {
                assert!(now == new_c, "{format} {step}: a torn or different file");
                outcomes.1 += 1;
            }
        }
        assert_eq!(outcomes, (2, 2), "{format}");
        // A full disk: one message naming the output; the earlier export stays.
        let out = case.p(name);
        ok(std::fs::write(&out, &old_bytes));
        let o = ok(export(&new_mask, format, &out)
            .env("VOXMARK_FAULT", "full@1000")
            .output());
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(name), "{format}: {err}");
        assert_eq!(
            ok(std::fs::read(&out)),
            old_bytes,
            "{format}: the earlier export stays"
        );
    }
}

/// A crash between the temp write and the rename leaves a `.voxmark-*.partial` beside the
/// file; the next write into that folder removes it once nobody holds it and it is a minute
/// old — a young one, or one a live writer holds locked, stays.
#[test]
fn a_crashed_write_leaves_a_partial_that_a_later_write_removes() {
    let case = Case::new();
    let run = case.p("run");
    ok(std::fs::create_dir_all(&run));
    let mask = run.join("mask.nii.gz");
    let o = ok(case
        .apply("ops.json", None, &run.join("j.jsonl"), &mask)
        .env("VOXMARK_FAULT", "after-fsync@2")
        .output());
    assert!(!o.status.success());
    let partials = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = ok(std::fs::read_dir(&run))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".partial"))
            .collect();
        v.sort();
        v
    };
    let left = partials();
    assert_eq!(left.len(), 1, "{left:?}");
    let minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    let age = |p: &Path| {
        let f = ok(std::fs::OpenOptions::new().write(true).open(p));
        ok(f.set_modified(minutes_ago));
    };
    age(&left[0]);
    // One old partial held locked (a writer still at it) and one young one stay.
    let held = run.join(".voxmark-held.partial");
    let young = run.join(".voxmark-young.partial");
    ok(std::fs::write(&held, b"x"));
    ok(std::fs::write(&young, b"x"));
    age(&held);
    let lock = ok(std::fs::File::open(&held));
    ok(lock.try_lock().map_err(|e| format!("{e:?}")));
    let o = ok(case
        .apply(
            "none.json",
            None,
            &run.join("j2.jsonl"),
            &run.join("b.nii.gz"),
        )
        .output());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(partials(), vec![held.clone(), young.clone()]);
    drop(lock);
}
