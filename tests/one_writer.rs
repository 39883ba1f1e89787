//! One writer per journal (`volume::fs::lock`): processes racing on one `--journal` never interleave
//! or lose acknowledged ops — each either owns the journal for its whole run or is refused
//! with a message naming the owner — and the journal replays bit-exact to what the last
//! writer saved; a journal held by another owner refuses every other writer; a crashed
//! owner's lock is taken over with a warning and its journal recovered.

mod common;

use common::ok;
use std::path::Path;
use std::process::{Command, Output};
use voxmark_edit::journal::Journal;
use voxmark_edit::session::Session;

const OPS_PER_PROCESS: usize = 30;

/// A 40×40×30 phantom image and, per writer `p`, an ops file of small strokes of label p+1.
fn setup(d: &Path, writers: usize) {
    let img = d.join("img.nii.gz");
    assert!(
        common::run(&[
            "phantom",
            "--size",
            "40,40,30",
            "-o",
            &img.to_string_lossy()
        ])
        .0
    );
    for p in 0..writers {
        let ops: Vec<String> = (0..OPS_PER_PROCESS)
            .map(|n| {
                format!(
                    r#"{{"op":"paint","shape":"sphere","points":[[{},{},{}]],"radius_mm":3,"label":{}}}"#,
                    4 + (n * 7 + p * 3) % 32,
                    4 + (n * 5 + p * 11) % 32,
                    3 + (n * 3 + p) % 24,
                    p + 1
                )
            })
            .collect();
        ok(std::fs::write(
            d.join(format!("ops{p}.json")),
            format!("[{}]", ops.join(",\n")),
        ));
    }
}

fn apply(d: &Path, p: usize) -> std::process::Child {
    ok(Command::new(common::bin())
        .args(["apply", &d.join("img.nii.gz").to_string_lossy()])
        .args(["--ops", &d.join(format!("ops{p}.json")).to_string_lossy()])
        .args(["--journal", &d.join("j.jsonl").to_string_lossy()])
        .args(["--backend", "cpu", "-o"])
        .arg(d.join(format!("out{p}.nii.gz")))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_held_journal_refuses_every_other_writer_naming_the_owner() {
    let dir = common::tempdir();
    let d = dir.path();
    setup(d, 4);
    let (held, _) = ok(Journal::open(&d.join("j.jsonl"), "the test's own session"));
    let children: Vec<_> = (0..4).map(|p| apply(d, p)).collect();
    for (p, c) in children.into_iter().enumerate() {
        let o = ok(c.wait_with_output());
        let err = stderr(&o);
        assert!(!o.status.success(), "writer {p} must be refused: {err}");
        assert!(
            err.contains("j.jsonl is being edited by the test's own session")
                && err.contains(&format!("pid {}", std::process::id())),
            "the refusal names the owner: {err}"
        );
        assert!(!d.join(format!("out{p}.nii.gz")).exists(), "no output");
    }
    assert!(!d.join("j.jsonl").exists(), "nothing was journaled");
    drop(held);
    // Released: the next writer proceeds.
    let o = ok(apply(d, 0).wait_with_output());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn racing_writers_never_interleave_and_the_journal_replays_exactly() {
    const WRITERS: usize = 6;
    let dir = common::tempdir();
    let d = dir.path();
    setup(d, WRITERS);
    let children: Vec<_> = (0..WRITERS).map(|p| apply(d, p)).collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| ok(c.wait_with_output()))
        .collect();
    let mut winners = Vec::new();
    for (p, o) in outputs.iter().enumerate() {
        let err = stderr(o);
        if o.status.success() {
            winners.push(p);
        } else {
            assert!(
                err.contains("is being edited by voxmark apply") && err.contains("pid "),
                "a loser is refused, naming the owner: {err}"
            );
            assert!(!d.join(format!("out{p}.nii.gz")).exists());
        }
    }
    assert!(!winners.is_empty(), "someone wrote");
    eprintln!(
        "{} of {WRITERS} writers won the journal in turn: {winners:?}",
        winners.len()
    );
    let (_, rec) = ok(Journal::open(&d.join("j.jsonl"), "check"));
    assert!(rec.warning.is_none(), "{:?}", rec.warning);
    let entries = rec.entries;
    // Every acknowledged op is there once, in whole blocks of one writer each.
    assert_eq!(entries.len(), OPS_PER_PROCESS * winners.len());
    for (n, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, n as u64 + 1, "sequence numbers run without gaps");
    }
    let label_of = |e: &voxmark_edit::journal::JournalEntry| match &e.op {
        voxmark_edit::ops::EditOp::Paint(s) => s.label,
        other => panic!("unexpected op {other:?}"),
    };
    let img = ok(voxmark_io::nifti::read_nifti(&d.join("img.nii.gz")));
    let mut blocks = Vec::new();
    for (b, block) in entries.chunks(OPS_PER_PROCESS).enumerate() {
        let l = label_of(&block[0]);
        assert!(
            block.iter().all(|e| label_of(e) == l),
            "block {b} mixes writers"
        );
        let p = usize::from(l) - 1;
        assert!(winners.contains(&p) && !blocks.contains(&p));
        blocks.push(p);
        // What writer p saved = the journal replayed up to the end of its block.
        let mut s = ok(Session::new(&img, vec![0u8; img.grid.voxel_count()]));
        ok(s.replay(&entries[..(b + 1) * OPS_PER_PROCESS]));
        let saved = ok(voxmark_io::nifti::read_nifti(
            &d.join(format!("out{p}.nii.gz")),
        ));
        let want = ok(s.labels()).into_owned();
        let got: Vec<u8> = (0..want.len())
            .map(|i| saved.data.get_f64(i) as u8)
            .collect();
        assert!(got == want, "writer {p}'s mask equals the journal replay");
        let restored = format!("restored {} operations", b * OPS_PER_PROCESS);
        assert!(
            b == 0 || stderr(&outputs[p]).contains(&restored),
            "writer {p} replayed the earlier blocks first"
        );
    }
}

#[test]
fn a_crashed_writers_lock_is_taken_over_and_its_journal_recovered() {
    let dir = common::tempdir();
    let d = dir.path();
    setup(d, 1);
    let o = ok(Command::new(common::bin())
        .args(["apply", &d.join("img.nii.gz").to_string_lossy()])
        .args(["--ops", &d.join("ops0.json").to_string_lossy()])
        .args(["--journal", &d.join("j.jsonl").to_string_lossy()])
        .args(["--backend", "cpu", "-o"])
        .arg(d.join("out.nii.gz"))
        .env("VOXMARK_CRASH_AFTER_OPS", "5")
        .output());
    assert!(!o.status.success());
    let lock = voxmark_volume::fs::lock::lock_path(&d.join("j.jsonl"));
    assert!(lock.exists(), "an aborted process leaves its lock file");
    assert!(
        ok(voxmark_volume::fs::lock::holder(&d.join("j.jsonl"))).is_none(),
        "but not its lock: the kernel released it"
    );
    ok(std::fs::write(d.join("none.json"), "[]"));
    let (success, _, err) = common::run(&[
        "apply",
        &d.join("img.nii.gz").to_string_lossy(),
        "--ops",
        &d.join("none.json").to_string_lossy(),
        "--journal",
        &d.join("j.jsonl").to_string_lossy(),
        "-o",
        &d.join("rec.nii.gz").to_string_lossy(),
    ]);
    assert!(success, "{err}");
    assert!(
        err.contains("taken over from voxmark apply") && err.contains("restored 5 operations"),
        "{err}"
    );
    assert!(!lock.exists(), "a clean exit removes the lock file");
}
