//! Image comparison and golden snapshots.
//!
//! Goldens live in `tests/golden/NAME.png`, generated on lavapipe. A missing golden fails
//! unless `UPDATE_SNAPSHOTS=1` (which writes it). On mismatch `NAME.actual.png` and
//! `NAME.diff.png` are written next to it (git-ignored) and the test fails.
#![allow(dead_code)]

use std::path::PathBuf;
use voxmark_render::png_out::{read_png, write_png};

/// Largest per-channel difference and the number of pixels that differ by more than `tol`.
pub fn compare(a: &[u8], b: &[u8], tol: u8) -> (u8, usize) {
    assert_eq!(a.len(), b.len(), "image sizes differ");
    let mut max = 0u8;
    let mut bad = 0usize;
    for (pa, pb) in a.chunks(4).zip(b.chunks(4)) {
        let d = pa
            .iter()
            .zip(pb)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0);
        max = max.max(d);
        if d > tol {
            bad += 1;
        }
    }
    (max, bad)
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// Checks `rgba` against the golden `name` with at most `tol` per channel anywhere.
pub fn assert_golden(name: &str, rgba: &[u8], w: u32, h: u32, tol: u8) {
    let dir = golden_dir();
    let path = dir.join(format!("{name}.png"));
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    if update {
        write_png(&path, rgba, w, h).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("updated golden {}", path.display());
        return;
    }
    let Ok((want, gw, gh)) = read_png(&path) else {
        panic!(
            "golden {} is missing; run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        );
    };
    let actual = dir.join(format!("{name}.actual.png"));
    let diffp = dir.join(format!("{name}.diff.png"));
    if (gw, gh) != (w, h) {
        write_png(&actual, rgba, w, h).unwrap_or_else(|e| panic!("{e}"));
        panic!(
            "golden {name}: size {gw}x{gh}, rendered {w}x{h}; wrote {}",
            actual.display()
        );
    }
    let (max, bad) = compare(rgba, &want, tol);
    if bad > 0 {
        let diff: Vec<u8> = rgba
            .chunks(4)
            .zip(want.chunks(4))
            .flat_map(|(a, b)| {
                let d = a
                    .iter()
                    .zip(b)
                    .take(3)
                    .map(|(x, y)| x.abs_diff(*y))
                    .max()
                    .unwrap_or(0);
                let v = if d > tol { 255 } else { d.saturating_mul(40) };
                [v, 0, 0, 255]
            })
            .collect();
        write_png(&actual, rgba, w, h).unwrap_or_else(|e| panic!("{e}"));
        write_png(&diffp, &diff, w, h).unwrap_or_else(|e| panic!("{e}"));
        panic!(
            "golden {name}: {bad} pixels differ by more than {tol} (max {max}); wrote {} and {}",
            actual.display(),
            diffp.display()
        );
    }
    let _ = std::fs::remove_file(actual);
    let _ = std::fs::remove_file(diffp);
}
