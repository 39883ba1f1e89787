//! Smoke test of the real binary in a real window: `voxmark view` under Xvfb on the same
//! Vulkan adapter as the other GPU tests (lavapipe in CI), on ch2 + the aal label map and on
//! a CT DICOM series, with `--screenshot`. The picture must show four panes with content and
//! the label colours. Needs `xvfb-run` (installed by scripts/setup.sh); with REQUIRE_GPU=1 a
//! missing one is a failure.
#![cfg(feature = "gui")]

mod common;

use std::path::Path;
use std::process::Command;

fn xvfb() -> bool {
    let ok = Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("REQUIRE_GPU").as_deref() != Ok("1"),
            "REQUIRE_GPU=1 but xvfb-run is missing (apt install xvfb)"
        );
        eprintln!("skipping: no xvfb-run");
    }
    ok
}

fn shoot(args: &[&str], out: &Path, cwd: &Path) -> (u32, u32, Vec<u8>) {
    let o = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(common::bin())
        .arg("view")
        .args(args)
        .arg("--screenshot")
        .arg(out)
        .args(["--frames", "4"])
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("xvfb-run: {e}"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "voxmark view failed: {err}");
    assert!(err.contains("frames:"), "frame report: {err}");
    let bytes = std::fs::read(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let d = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = d.read_info().unwrap_or_else(|e| panic!("{e}"));
    let mut buf = vec![0; r.output_buffer_size().unwrap_or(0)];
    let info = r.next_frame(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Checks the four quadrants of the pane area each hold a picture (not flat).
fn four_panes_with_content(w: u32, h: u32, px: &[u8]) {
    let (x0, x1) = ((w as f64 * 0.24) as u32, (w as f64 * 0.78) as u32);
    let (y0, y1) = ((h as f64 * 0.06) as u32, (h as f64 * 0.90) as u32);
    let (xm, ym) = ((x0 + x1) / 2, (y0 + y1) / 2);
    for (qx, qy) in [(x0, y0), (xm, y0), (x0, ym), (xm, ym)] {
        let mut lum = Vec::new();
        for y in qy + 10..qy + (ym - y0) - 10 {
            for x in qx + 10..qx + (xm - x0) - 10 {
                let p = &px[((y * w + x) * 4) as usize..][..4];
                lum.push(f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2]));
            }
        }
        let n = lum.len() as f64;
        let mean = lum.iter().sum::<f64>() / n;
        let var = lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
        let lit = lum.iter().filter(|&&l| l > 60.0).count() as f64 / n;
        assert!(
            var.sqrt() > 20.0 && lit > 0.05,
            "pane at ({qx}, {qy}) looks empty: σ {:.1}, {:.0}% lit",
            var.sqrt(),
            lit * 100.0
        );
    }
}

/// Pixels in saturated colours (label overlays; the UI itself is grey).
fn coloured(px: &[u8]) -> usize {
    px.chunks(4)
        .filter(|p| {
            let mx = p[0].max(p[1]).max(p[2]);
            let mn = p[0].min(p[1]).min(p[2]);
            mx - mn > 90
        })
        .count()
}

#[test]
fn view_screenshot_of_ch2_with_aal_labels() {
    let (Some(ch2), Some(aal)) = (common::mricron("ch2.nii.gz"), common::mricron("aal.nii.gz"))
    else {
        return;
    };
    if common::gpu().is_none() || !xvfb() {
        return;
    }
    let dir = common::tempdir();
    let out = dir.path().join("ch2.png");
    let (w, h, px) = shoot(
        &[
            ch2.to_str().unwrap_or_default(),
            "--labels",
            aal.to_str().unwrap_or_default(),
        ],
        &out,
        dir.path(),
    );
    assert!(w >= 1000 && h >= 700, "window {w}x{h}");
    four_panes_with_content(w, h, &px);
    let c = coloured(&px);
    assert!(c > 20_000, "label colours on screen: {c} pixels");
    // Nothing was saved: no mask written into the working folder.
    assert!(!dir.path().join("aal.nii.gz").exists());
    // Looking writes nothing anywhere: no journal or review database beside the installed
    // atlas (a system folder) or in the working folder, which holds only the screenshot.
    let atlas_dir = aal.parent().unwrap_or(Path::new("/"));
    for f in ["aal.nii.gz.journal.jsonl", "voxmark-review.db"] {
        assert!(!atlas_dir.join(f).exists(), "{f} written beside the atlas");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ch2.png"], "working folder after viewing");
}

#[test]
fn view_screenshot_of_a_ct_dicom_series() {
    if common::gpu().is_none() || !xvfb() {
        return;
    }
    let dir = common::tempdir();
    let series = dir.path().join("ct");
    let (ok, _, err) = common::run(&[
        "phantom",
        "--size",
        "96,96,64",
        "-o",
        &format!("{}/", series.display()),
    ]);
    assert!(ok, "{err}");
    let out = dir.path().join("ct.png");
    let (w, h, px) = shoot(&[series.to_str().unwrap_or_default()], &out, dir.path());
    four_panes_with_content(w, h, &px);
}

#[test]
fn view_screenshot_of_a_multi_series_folder_needs_series() {
    if common::gpu().is_none() || !xvfb() {
        return;
    }
    let dir = common::tempdir();
    let root = dir.path().join("two");
    for (sub, size) in [("a", "24,24,6"), ("b", "28,28,6")] {
        let out = format!("{}/{sub}/", root.display());
        let (ok, _, err) = common::run(&["phantom", "--size", size, "-o", &out]);
        assert!(ok, "{err}");
    }
    let o = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(common::bin())
        .arg("view")
        .arg(&root)
        .arg("--screenshot")
        .arg(dir.path().join("x.png"))
        .args(["--frames", "2"])
        .output()
        .unwrap_or_else(|e| panic!("xvfb-run: {e}"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("--series") && err.contains("24x24x6") && err.contains("28x28x6"),
        "{err}"
    );
    assert!(!dir.path().join("x.png").exists());
}
