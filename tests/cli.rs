//! The command-line interface as a user sees it: JSON keys, exit codes, one-line errors,
//! and no output file when anything goes wrong.

mod common;

#[test]
fn info_json_has_the_documented_keys() {
    let dir = common::tempdir();
    let out = dir.path().join("p.nii.gz");
    let (ok, _, err) = common::run(&[
        "phantom",
        "--size",
        "24,20,16",
        "-o",
        out.to_str().unwrap_or_default(),
    ]);
    assert!(ok, "{err}");
    let (ok, stdout, err) = common::run(&["info", "--json", out.to_str().unwrap_or_default()]);
    assert!(ok, "{err}");
    let j: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(j["dims"], serde_json::json!([24, 20, 16]));
    assert_eq!(j["world_frame"], "RAS");
    assert_eq!(j["dtype"], "int16");
    assert_eq!(j["world_from_voxel"].as_array().map(|r| r.len()), Some(4));
    assert!(j["min"].as_f64().unwrap_or(0.0) < -900.0);
    assert!(j["max"].as_f64().unwrap_or(0.0) > 600.0);
    assert!(j["spacing_mm"].is_array() && j["modality"].is_string() && j["series"].is_array());
}

#[test]
fn convert_of_dicom_folder_matches_the_nifti_phantom() {
    let dir = common::tempdir();
    let d = dir.path();
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let series = format!("{}/", s(&d.join("series")));
    assert!(common::run(&["phantom", "--size", "20,24,10", "-o", &series]).0);
    assert!(common::run(&["phantom", "--size", "20,24,10", "-o", &s(&d.join("p.nii"))]).0);
    let (ok, _, err) = common::run(&["convert", &series, &s(&d.join("c.nii.gz"))]);
    assert!(ok, "{err}");
    let a = voxmark_io::nifti::read_nifti(&d.join("p.nii")).unwrap_or_else(|e| panic!("{e}"));
    let b = voxmark_io::nifti::read_nifti(&d.join("c.nii.gz")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.data, b.data);
    for (x, y) in a
        .grid
        .world_from_voxel
        .to_cols_array()
        .iter()
        .zip(b.grid.world_from_voxel.to_cols_array())
    {
        assert!((x - y).abs() < 1e-4);
    }
}

#[test]
fn bad_input_fails_with_one_line_and_no_output() {
    let dir = common::tempdir();
    let d = dir.path();
    let bad = d.join("bad.nii.gz");
    std::fs::write(&bad, "hello").unwrap_or_else(|e| panic!("{e}"));
    let out = d.join("out.nii.gz");
    let (ok, _, err) = common::run(&[
        "convert",
        bad.to_str().unwrap_or_default(),
        out.to_str().unwrap_or_default(),
    ]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.nii.gz") && !err.contains("panicked"),
        "{err}"
    );
    assert!(!out.exists());
    let names: Vec<_> = std::fs::read_dir(d)
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(names.len(), 1, "no temporary left behind: {names:?}");
    let (ok, _, err) = common::run(&["info", d.join("nope.nii").to_str().unwrap_or_default()]);
    assert!(!ok && err.contains("nope.nii"), "{err}");
}

#[test]
fn folder_with_two_series_lists_them() {
    let dir = common::tempdir();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(common::run(&["phantom", "--size", "8,8,4", "-o", &format!("{d}/a/")]).0);
    assert!(common::run(&["phantom", "--size", "10,8,5", "-o", &format!("{d}/b/")]).0);
    let (ok, stdout, _) = common::run(&["info", "--json", &d]);
    assert!(ok);
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j["series"].as_array().map(|a| a.len()), Some(2));
    let (ok, _, err) = common::run(&["convert", &d, &format!("{d}/x.nii.gz")]);
    assert!(!ok && err.contains("--series"), "{err}");
}

#[test]
fn render_writes_a_png_of_a_dicom_series_and_refuses_foreign_labels() {
    let dir = common::tempdir();
    let d = dir.path().to_string_lossy().into_owned();
    assert!(common::run(&["phantom", "--size", "32,32,24", "-o", &format!("{d}/ct/")]).0);
    let png = format!("{d}/ax.png");
    let (ok, _, err) = common::run(&[
        "render",
        &format!("{d}/ct"),
        "--view",
        "axial",
        "--preset",
        "abdomen",
        "--size",
        "64x64",
        "--backend",
        "cpu",
        "-o",
        &png,
    ]);
    assert!(ok, "{err}");
    let (rgba, w, h) = voxmark_render::png_out::read_png(std::path::Path::new(&png))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((w, h), (64, 64));
    assert!(
        rgba.chunks(4).any(|p| p[0] > 100),
        "something bright was drawn"
    );
    assert!(err.contains("R/L/A/P"), "orientation reported: {err}");
    // A mask on another grid is refused, naming the mask, and nothing is written.
    assert!(
        common::run(&[
            "phantom",
            "--size",
            "16,16,8",
            "-o",
            &format!("{d}/small.nii.gz")
        ])
        .0
    );
    let out = format!("{d}/bad.png");
    let (ok, _, err) = common::run(&[
        "render",
        &format!("{d}/ct"),
        "--view",
        "coronal",
        "--labels",
        &format!("{d}/small.nii.gz"),
        "--backend",
        "cpu",
        "-o",
        &out,
    ]);
    assert!(
        !ok && err.contains("small.nii.gz") && err.contains("different grid"),
        "{err}"
    );
    assert!(!std::path::Path::new(&out).exists());
    let (ok, _, err) = common::run(&[
        "render",
        &format!("{d}/ct"),
        "--view",
        "axial",
        "--slice",
        "99",
        "--backend",
        "cpu",
        "-o",
        &out,
    ]);
    assert!(!ok && err.contains("slice 99"), "{err}");
}

/// The headless build (`cargo build --no-default-features`) has every command but `view`,
/// which says why instead of failing to link a window system.
#[cfg(not(feature = "gui"))]
#[test]
fn view_in_the_headless_build_says_it_was_built_without_the_gui() {
    let (ok, _, err) = common::run(&["view"]);
    assert!(!ok);
    assert!(err.contains("built without the GUI"), "{err}");
}

/// A volume that does not fit the host's available memory is refused before its voxels are
/// allocated, with one message naming the file, the size it needs and what is available
/// (the available memory set low through VOXMARK_MEM_AVAILABLE_MIB).
#[test]
fn a_volume_larger_than_available_memory_is_refused_before_loading() {
    let dir = common::tempdir();
    let img = dir.path().join("p.nii.gz");
    let (ok, _, err) = common::run(&[
        "phantom",
        "--size",
        "128,128,96",
        "-o",
        img.to_str().unwrap_or_default(),
    ]);
    assert!(ok, "{err}");
    let out = std::process::Command::new(common::bin())
        .args(["info", img.to_str().unwrap_or_default()])
        .env("VOXMARK_MEM_AVAILABLE_MIB", "2")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // 128 × 128 × 96 int16 + labels = 4.5 MiB.
    assert!(
        err.contains("p.nii.gz")
            && err.contains("needs 4.5 MiB in memory")
            && err.contains("only 2.0 MiB is available"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // With the memory it needs, it loads.
    let out = std::process::Command::new(common::bin())
        .args(["info", img.to_str().unwrap_or_default()])
        .env("VOXMARK_MEM_AVAILABLE_MIB", "8")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
