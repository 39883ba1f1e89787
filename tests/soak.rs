//! Soak: a long randomized editing session, not in CI's default run (`#[ignore]`; run it with
//! `bash scripts/soak.sh`, which writes the report under docs/soak/).
//!
//! SOAK_OPS operations (default 100,000) drawn from a seeded generator (SOAK_SEED) over every
//! op kind — strokes (sphere, disc, erase), polygons, threshold, grow, grow from seeds, fill
//! between slices, islands, dilate, erode, hollow, smoothing, fill holes, logical
//! operations, clear/merge labels, label-table changes including locks, markup edits (add,
//! move, delete, lock) — with bursts of undo and redo, on the phantom at SOAK_SIZE³ (default 256) in a CPU or GPU session
//! (SOAK_BACKEND), journaled like the shell (fsync per op). Every SOAK_SAVE_EVERY ops the
//! mask is saved (marker + checkpoint, as the shell does); every SOAK_CRASH_EVERY ops the
//! session is dropped without saving — a crash after the last acknowledged op — and
//! recovered from the saved mask and the journal, which must give exactly the labels, the
//! label table and the markups the user had. An op that is refused must leave the labels
//! and markups unchanged (checked on a sample). Resident memory is sampled; it must stay within the undo budgets
//! plus the session's own memory plus SOAK_OVERHEAD_MIB (default 512). Each op kind's
//! count, refusals, mean and max time go to the report (SOAK_REPORT, JSON) and stdout.
//! SOAK_SECONDS stops early (the report gives the ops that ran).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;
use voxmark_edit::journal::Journal;
use voxmark_edit::ops::EditOp;
use voxmark_edit::session::Session;
use voxmark_io::label_file::read_label_map;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// xorshift64*: a seeded, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn label(&mut self) -> u8 {
        1 + self.below(6) as u8
    }
}

/// Resident set size of this process (bytes).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn op(json: serde_json::Value) -> EditOp {
    serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("soak op {json}: {e}"))
}

/// One random op (or a burst of undo/redo).
fn random_ops(r: &mut Rng, d: [usize; 3]) -> Vec<EditOp> {
    let p = |r: &mut Rng| [0, 1, 2].map(|a| r.range(0.0, (d[a] - 1) as f64));
    let roi = |c: [usize; 3], h: usize| {
        let lo = c.map(|v| v.saturating_sub(h));
        let hi = [0, 1, 2].map(|a| (c[a] + h).min(d[a] - 1));
        [lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]]
    };
    let planes = ["axial", "coronal", "sagittal"];
    let editable = |r: &mut Rng| {
        if r.below(4) == 0 {
            "empty_only"
        } else {
            "everywhere"
        }
    };
    let k = r.below(100);
    let one = match k {
        // Strokes: a short polyline of sphere or disc stamps.
        0..=34 => {
            let mut pts = vec![p(r)];
            for _ in 0..r.below(4) {
                let last = pts[pts.len() - 1];
                pts.push(
                    [0, 1, 2].map(|a| (last[a] + r.range(-8.0, 8.0)).clamp(0.0, (d[a] - 1) as f64)),
                );
            }
            let disc = r.below(2) == 0;
            let kind = if r.below(5) == 0 { "erase" } else { "paint" };
            let plane = r.below(3);
            let n = [2, 1, 0][plane];
            let slice = pts[0][n].round() as usize;
            if disc {
                for q in &mut pts {
                    q[n] = slice as f64;
                }
            }
            let mut j = serde_json::json!({
                "op": kind, "shape": if disc { "disc" } else { "sphere" }, "points": pts,
                "radius_mm": r.range(1.0, 9.0), "label": r.label(), "editable": editable(r),
            });
            if disc {
                j["plane"] = planes[plane].into();
                j["slice"] = slice.into();
            }
            op(j)
        }
        35..=39 => {
            let plane = r.below(3);
            let (u, v, n) = [(0, 1, 2), (0, 2, 1), (1, 2, 0)][plane];
            let c = p(r);
            let pts: Vec<[f64; 2]> = (0..3 + r.below(4))
                .map(|_| {
                    [
                        (c[u] + r.range(-20.0, 20.0)).clamp(0.0, (d[u] - 1) as f64),
                        (c[v] + r.range(-20.0, 20.0)).clamp(0.0, (d[v] - 1) as f64),
                    ]
                })
                .collect();
            op(serde_json::json!({"op": "polygon", "plane": planes[plane],
                "slice": c[n].round() as usize, "points": pts, "label": r.label()}))
        }
        40..=42 => {
            let c = p(r).map(|v| v as usize);
            let lo = r.range(-200.0, 600.0);
            op(
                serde_json::json!({"op": "threshold", "range": [lo, lo + r.range(50.0, 800.0)],
                "label": r.label(), "roi": roi(c, 20), "editable": editable(r)}),
            )
        }
        43..=47 => {
            let c = p(r).map(|v| v as usize);
            let (lo, hi) = [(-100.0, 150.0), (150.0, 2000.0), (-1100.0, -400.0)][r.below(3)];
            let mut j = serde_json::json!({"op": "grow", "seeds": [c], "lower": lo,
                "upper": hi, "label": r.label(), "connectivity": ([6, 18, 26][r.below(3)]),
                "editable": editable(r)});
            if r.below(2) == 0 {
                j["roi"] = roi(c, 30).to_vec().into();
            }
            op(j)
        }
        48..=49 => op(serde_json::json!({"op": "islands", "label": r.label(),
            "min_voxels": 1 + r.below(200)})),
        50 => op(serde_json::json!({"op": "islands", "label": r.label(), "keep_largest": true})),
        51..=53 => op(serde_json::json!({"op": "dilate", "label": r.label(),
            "radius_mm": r.range(1.0, 4.0)})),
        54..=55 => op(serde_json::json!({"op": "erode", "label": r.label(),
            "radius_mm": r.range(1.0, 3.0)})),
        56 => op(serde_json::json!({"op": "hollow", "label": r.label(),
            "thickness_mm": r.range(1.0, 3.0)})),
        57 => op(serde_json::json!({"op": "smooth", "label": r.label(),
            "method": (["median", "opening", "closing", "gaussian"][r.below(4)]),
            "radius_mm": r.range(1.0, 3.0)})),
        58..=59 => op(serde_json::json!({"op": "fill_holes", "label": r.label()})),
        60 => op(serde_json::json!({"op": "interpolate", "label": r.label(),
            "axis": planes[r.below(3)]})),
        61 => {
            let c = p(r).map(|v| v as usize);
            op(
                serde_json::json!({"op": "grow_cut", "labels": [r.label(), r.label()],
                "background": r.label(), "roi": roi(c, 24)}),
            )
        }
        62..=63 => op(serde_json::json!({"op": "logical",
            "operation": (["union", "intersect", "subtract", "copy"][r.below(4)]),
            "label": r.label(), "other": r.label()})),
        64 => op(serde_json::json!({"op": "clear_label", "label": r.label()})),
        65 => op(serde_json::json!({"op": "merge_labels", "from": [r.label()], "into": r.label()})),
        66..=68 => op(serde_json::json!({"op": "set_label", "value": r.label(),
            "name": format!("structure {}", r.below(1000)),
            "color": [r.range(0.0, 1.0), r.range(0.0, 1.0), r.range(0.0, 1.0)],
            // Locks are set and lifted: ops on locked labels are refused or skip them.
            "locked": r.below(3) == 0})),
        69..=86 => return vec![EditOp::Undo; 1 + r.below(6)],
        // Markups: added, moved, deleted, locked and unlocked (ids drawn from the first 60,
        // so some name no markup and are refused).
        87..=91 => {
            let id = 1 + r.below(60);
            match r.below(6) {
                0..=1 => {
                    let kind = ["point", "line", "box", "angle", "polyline"][r.below(5)];
                    let n = match kind {
                        "point" => 1,
                        "line" | "box" => 2,
                        "angle" => 3,
                        _ => 2 + r.below(4),
                    };
                    let pts: Vec<[f64; 3]> = (0..n).map(|_| p(r)).collect();
                    op(serde_json::json!({"op": "markup", "action": "add",
                        "markup": {"id": 0, "kind": kind, "points": pts, "label": r.label()}}))
                }
                2..=3 => op(serde_json::json!({"op": "markup", "action": "move_point",
                    "id": id, "index": r.below(2), "to": p(r)})),
                4 => op(serde_json::json!({"op": "markup", "action": "delete", "id": id})),
                _ => op(
                    serde_json::json!({"op": "markup", "action": "set_props", "id": id,
                    "props": {"locked": r.below(2) == 0}}),
                ),
            }
        }
        _ => return vec![EditOp::Redo; 1 + r.below(4)],
    };
    vec![one]
}

#[derive(Default, serde::Serialize)]
struct Kind {
    count: u64,
    refused: u64,
    total_ms: f64,
    max_ms: f64,
}

#[test]
#[ignore = "long: bash scripts/soak.sh"]
fn soak() {
    let ops: u64 = env_or("SOAK_OPS", 100_000);
    let size: usize = env_or("SOAK_SIZE", 256);
    let seed: u64 = env_or("SOAK_SEED", 1);
    let save_every: u64 = env_or("SOAK_SAVE_EVERY", 997);
    let crash_every: u64 = env_or("SOAK_CRASH_EVERY", 3001);
    let undo_mib: usize = env_or("SOAK_UNDO_MIB", 256);
    let overhead_mib: u64 = env_or("SOAK_OVERHEAD_MIB", 512);
    // A time limit (s) for a machine lent for a while: the report says how many ops ran.
    let seconds: f64 = env_or("SOAK_SECONDS", f64::INFINITY);
    let backend = std::env::var("SOAK_BACKEND").unwrap_or_else(|_| "cpu".into());
    let ctx = match backend.as_str() {
        "gpu" => Some(common::gpu().unwrap_or_else(|| panic!("SOAK_BACKEND=gpu: no GPU"))),
        _ => None,
    };
    let image = common::ok(voxmark_volume::phantom::Phantom::new([size; 3])).volume();
    let d = image.grid.dims;
    let n = image.grid.voxel_count();
    let dir = common::tempdir();
    let mask = dir.path().join("soak.nii.gz");
    let jp = dir.path().join("soak.nii.gz.journal.jsonl");
    let hist = dir.path().join("soak.nii.gz.history.jsonl");
    let open = |labels: Vec<u8>| -> Session {
        let mut s = match &ctx {
            Some(c) => common::ok(Session::on_gpu(c, &image, &labels)),
            None => common::ok(Session::new(&image, labels)),
        };
        s.undo_stack_mut().budget = undo_mib << 20;
        s.undo_stack_mut().gpu_budget = undo_mib << 20;
        s
    };
    let mut s = open(vec![0u8; n]);
    s.set_journal(Some(common::ok(Journal::open(&jp, "soak")).0));
    common::save_session(&mut s, &image, &mask, &hist);
    let rss0 = rss();
    let mut rng = Rng(seed.max(1));
    let mut kinds: BTreeMap<&'static str, Kind> = BTreeMap::new();
    let (mut done, mut crashes, mut saves, mut refusals_checked) = (0u64, 0u64, 0u64, 0u64);
    let (mut rss_max, mut undo_max, mut recover_max_ms, mut save_max_ms) =
        (0u64, 0usize, 0f64, 0f64);
    let mut acknowledged = 0u64;
    let started = Instant::now();
    while done < ops && started.elapsed().as_secs_f64() < seconds {
        for o in random_ops(&mut rng, d) {
            let check = done % 10 == 0;
            let before = check.then(|| (common::ok(s.labels()).into_owned(), s.markups().clone()));
            let t = Instant::now();
            let r = s.apply(&o, "soak");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let k = kinds.entry(o.name()).or_default();
            k.count += 1;
            k.total_ms += ms;
            k.max_ms = k.max_ms.max(ms);
            match r {
                Ok(_) => acknowledged += 1,
                Err(e) => {
                    k.refused += 1;
                    assert!(
                        !matches!(
                            e,
                            voxmark_volume::Error::Gpu(_) | voxmark_volume::Error::Io { .. }
                        ),
                        "op {done} ({}): {e}",
                        o.name()
                    );
                    if let Some((b, m)) = before {
                        refusals_checked += 1;
                        assert!(
                            *common::ok(s.labels()) == *b && *s.markups() == m,
                            "op {done} ({}) was refused ({e}) but changed labels or markups",
                            o.name()
                        );
                    }
                }
            }
            done += 1;
            if done % save_every == 0 {
                let t = Instant::now();
                common::save_session(&mut s, &image, &mask, &hist);
                save_max_ms = save_max_ms.max(t.elapsed().as_secs_f64() * 1e3);
                saves += 1;
            }
            if done % crash_every == 0 {
                // A crash after the last acknowledged op: nothing saved since the last save.
                let seen = common::ok(s.labels()).into_owned();
                let table = s.table().to_vec();
                let markups = s.markups().clone();
                drop(s);
                let t = Instant::now();
                let m = common::ok(read_label_map(&mask, &image.grid));
                let (j, mut rec) = common::ok(Journal::open(&jp, "soak"));
                rec.drop_saved(m.journal_marker.as_deref());
                s = open(m.labels);
                s.set_table(m.table.unwrap_or_default());
                s.set_markups(
                    common::ok(voxmark_io::label_file::read_markups_for(
                        &mask,
                        m.journal_marker.as_deref(),
                    ))
                    .0,
                );
                s.set_journal(Some(j));
                common::ok(s.replay(&rec.entries));
                recover_max_ms = recover_max_ms.max(t.elapsed().as_secs_f64() * 1e3);
                let back = common::ok(s.labels()).into_owned();
                assert!(
                    back == seen,
                    "crash {crashes} at op {done}: recovered labels differ"
                );
                assert_eq!(
                    s.table(),
                    table,
                    "crash {crashes} at op {done}: label table"
                );
                assert_eq!(
                    *s.markups(),
                    markups,
                    "crash {crashes} at op {done}: markups"
                );
                crashes += 1;
            }
            if done % 500 == 0 {
                rss_max = rss_max.max(rss());
                undo_max = undo_max.max(s.undo_stack().bytes() + s.undo_stack().gpu_bytes());
            }
            if done % 10_000 == 0 {
                eprintln!(
                    "soak: {done} ops, {:.0} s, RSS {} MiB, undo {} MiB",
                    started.elapsed().as_secs_f64(),
                    rss() >> 20,
                    (s.undo_stack().bytes() + s.undo_stack().gpu_bytes()) >> 20
                );
            }
            if done >= ops {
                break;
            }
        }
    }
    // The end: saved, reopened, equal.
    let last = common::ok(s.labels()).into_owned();
    common::save_session(&mut s, &image, &mask, &hist);
    drop(s);
    let m = common::ok(read_label_map(&mask, &image.grid));
    assert!(
        m.labels == last,
        "the final save differs from the session's labels"
    );
    // The audit trail holds every acknowledged op but undo/redo that moved nothing.
    let trail = std::fs::read_to_string(&hist)
        .unwrap_or_default()
        .lines()
        .count() as u64;
    let secs = started.elapsed().as_secs_f64();
    // Memory: the image and labels (and, on the host session, their working copies) plus
    // the undo budgets plus the stated overhead.
    let session_bytes = (image.data.as_bytes().len() + 3 * n) as u64;
    let bound = rss0 + session_bytes + 2 * ((undo_mib as u64) << 20) + (overhead_mib << 20);
    let report = serde_json::json!({
        "backend": backend,
        "adapter": ctx.as_ref().map(|c| c.report().name),
        "size": ([size; 3]),
        "seed": seed,
        "ops": done,
        "acknowledged": acknowledged,
        "journaled_ops_in_history": trail,
        "saves": saves,
        "crashes_recovered": crashes,
        "refusals_checked_unchanged": refusals_checked,
        "seconds": secs,
        "rss_start_mib": rss0 >> 20,
        "rss_max_mib": rss_max >> 20,
        "rss_bound_mib": bound >> 20,
        "undo_max_mib": undo_max >> 20,
        "undo_budget_mib": undo_mib,
        "save_max_ms": save_max_ms,
        "recover_max_ms": recover_max_ms,
        "kinds": kinds,
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    if let Ok(p) = std::env::var("SOAK_REPORT") {
        common::ok(std::fs::write(&p, &text));
    }
    assert!(rss_max <= bound, "RSS {rss_max} B over the bound {bound} B");
    assert!(
        trail <= acknowledged && trail > 0,
        "audit trail {trail} of {acknowledged}"
    );
}
