//! `voxmark bench` end to end on a tiny phantom: every operation on both backends, the
//! table, the JSON with each case's inputs, and bad sizes.

mod common;

#[test]
fn bench_runs_every_case_on_both_backends_and_writes_json() {
    let dir = common::tempdir();
    let json = dir.path().join("b.json");
    let j = json.to_string_lossy().into_owned();
    let gpu = common::gpu().is_some();
    let mut rows = Vec::new();
    // `--backend gpu` times even a software adapter (lavapipe in CI); `both` would skip it.
    for backend in if gpu { vec!["cpu", "gpu"] } else { vec!["cpu"] } {
        let args = [
            "bench",
            "--phantom",
            "40x36x24",
            "--runs",
            "1",
            "--ops",
            "load,wl,mpr,grow,paint,undo",
            "--backend",
            backend,
            "--json",
            &j,
        ];
        let (ok, out, err) = common::run(&args);
        assert!(ok, "{err}");
        assert!(
            out.contains("| operation") && out.contains("grow vessel 5 seeds"),
            "{out}"
        );
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap_or_default()).unwrap_or_default();
        rows.extend(v["rows"].as_array().cloned().unwrap_or_default());
    }
    for backend in if gpu { vec!["cpu", "gpu"] } else { vec!["cpu"] } {
        let ops: Vec<String> = rows
            .iter()
            .filter(|r| r["backend"] == backend)
            .map(|r| r["op"].as_str().unwrap_or("").to_string())
            .collect();
        for want in [
            "load",
            "window/level volume",
            "window/level one slice",
            "MPR frame 512x512",
            "grow vessel 1 seed",
            "grow body 5 seeds",
            "paint 20-stamp stroke r=10 mm",
            "undo 20-stamp stroke r=30 mm",
        ] {
            assert!(
                ops.iter().any(|o| o.starts_with(want)),
                "{backend}: {want} missing in {ops:?}"
            );
        }
    }
    for r in &rows {
        assert!(r["median_ms"].as_f64().unwrap_or(-1.0) >= 0.0);
        assert!(r["voxels"].as_u64().unwrap_or(0) > 0, "{r}");
        let op = r["op"].as_str().unwrap_or("");
        if op.starts_with("grow") {
            assert!(
                r["params"]["seeds"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{r}"
            );
            assert!(r["note"].as_str().unwrap_or("").ends_with("voxels"), "{r}");
        }
    }
    // GPU and CPU grow the same voxels.
    if gpu {
        for name in ["grow vessel 1 seed", "grow body 5 seeds"] {
            let notes: Vec<&str> = rows
                .iter()
                .filter(|r| r["op"] == name)
                .map(|r| r["note"].as_str().unwrap_or(""))
                .collect();
            assert_eq!(notes.len(), 2);
            assert_eq!(notes[0], notes[1], "{name}");
        }
    }
    // `both` on a software adapter: CPU rows only, with a note.
    if common::gpu().is_some_and(|c| c.is_software()) {
        let (ok, out, err) = common::run(&[
            "bench",
            "--phantom",
            "24x24x20",
            "--runs",
            "1",
            "--ops",
            "wl",
            "--backend",
            "both",
        ]);
        assert!(ok && err.contains("software rasterizer"), "{err}");
        assert!(!out.contains("| gpu "), "{out}");
    }
    // 3D frames on the CPU twin; a phantom too large is refused.
    let (ok, out, err) = common::run(&[
        "bench",
        "--phantom",
        "24x24x20",
        "--runs",
        "1",
        "--ops",
        "3d",
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("| 3D ").count(), 3, "{out}");
    let (ok, _, err) = common::run(&["bench", "--phantom", "600x10x10", "--backend", "cpu"]);
    assert!(!ok && err.contains("512"), "{err}");
    // Whole shell frames (GPU only): unchanged and with every pane re-rendered.
    if gpu {
        let (ok, out, err) = common::run(&[
            "bench",
            "--phantom",
            "32x32x24",
            "--runs",
            "1",
            "--ops",
            "frame",
            "--backend",
            "gpu",
        ]);
        assert!(ok, "{err}");
        assert!(out.contains("| shell frame, unchanged"), "{out}");
        assert!(out.contains("| shell frame, 4 panes re-rendered"), "{out}");
    }
}
