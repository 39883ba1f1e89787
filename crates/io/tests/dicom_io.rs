//! DICOM: series assembly from the phantom writer, ordering independent of file names,
//! missing slices, multi-series folders, and pydicom's real test files in every encoding.

use voxmark_testkit as common;

use std::path::Path;
use voxmark_io::dicom_write::write_dicom_series;
use voxmark_io::{load_volume, open, LoadOptions, Opened};
use voxmark_volume::phantom::Phantom;
use voxmark_volume::Error;
use voxmark_volume::VoxelData;

fn phantom_series(dir: &Path, dims: [usize; 3]) -> voxmark_volume::Volume {
    let v = Phantom::new(dims)
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    write_dicom_series(dir, &v, "test").unwrap_or_else(|e| panic!("{e}"));
    v
}

fn load(p: &Path) -> voxmark_io::Loaded {
    load_volume(p, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_affine_close(a: &glam::DMat4, b: &glam::DMat4, tol: f64) {
    for (x, y) in a.to_cols_array().iter().zip(b.to_cols_array()) {
        assert!((x - y).abs() <= tol, "{a:?}\nvs\n{b:?}");
    }
}

#[test]
fn phantom_series_loads_back_identically() {
    let dir = common::tempdir();
    let v = phantom_series(dir.path(), [48, 40, 30]);
    let l = load(dir.path());
    assert_eq!(l.volume.data, v.data);
    assert_eq!(l.volume.grid.dims, v.grid.dims);
    assert_affine_close(
        &l.volume.grid.world_from_voxel,
        &v.grid.world_from_voxel,
        1e-4,
    );
    assert_eq!(l.volume.meta.modality, "CT");
    assert_eq!(l.volume.grid.axis_codes(), "LPS");
}

#[test]
fn order_comes_from_positions_not_file_names() {
    let dir = common::tempdir();
    let v = phantom_series(dir.path(), [16, 16, 12]);
    // Rename files so that name order is a scramble of slice order, inside a subfolder.
    let sub = dir.path().join("nested").join("deeper");
    std::fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("{e}"));
    for k in 0..12 {
        let from = dir.path().join(format!("slice_{k:04}.dcm"));
        let to = sub.join(format!("IMG{:03}", (k * 7) % 12));
        std::fs::rename(from, to).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(dir.path().join("README.txt"), "not dicom").unwrap_or_else(|e| panic!("{e}"));
    let l = load(dir.path());
    assert_eq!(l.volume.data, v.data);
    assert_eq!(l.skipped_files, 1);
}

#[test]
fn missing_slice_is_an_error_naming_the_neighbours() {
    let dir = common::tempdir();
    phantom_series(dir.path(), [16, 16, 10]);
    std::fs::remove_file(dir.path().join("slice_0004.dcm")).unwrap_or_else(|e| panic!("{e}"));
    let err = load_volume(dir.path(), &LoadOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("1 missing slice"), "{err}");
    assert!(
        err.contains("slice_0003.dcm") && err.contains("slice_0005.dcm"),
        "{err}"
    );
}

#[test]
fn two_series_need_a_choice() {
    let dir = common::tempdir();
    let a = phantom_series(&dir.path().join("a"), [16, 16, 8]);
    let b = phantom_series(&dir.path().join("b"), [20, 18, 6]);
    let err = load_volume(dir.path(), &LoadOptions::default()).err();
    let Some(Error::SeriesChoice { choices, .. }) = err else {
        panic!("expected SeriesChoice, got {err:?}")
    };
    assert_eq!(choices.len(), 2);
    let Ok(Opened::Ambiguous(list)) = open(dir.path(), &LoadOptions::default()) else {
        panic!("ambiguous")
    };
    for s in &list {
        let l = load_volume(
            dir.path(),
            &LoadOptions {
                series: Some(s.uid.clone()),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want = if s.dims == [16, 16, 8] { &a } else { &b };
        assert_eq!(l.volume.data, want.data);
        assert_eq!(s.slice_count, want.grid.dims[2]);
    }
    let err = load_volume(
        dir.path(),
        &LoadOptions {
            series: Some("1.2.3".into()),
        },
    )
    .err();
    assert!(matches!(err, Some(Error::SeriesNotFound { .. })), "{err:?}");
}

#[test]
fn mr_small_decodes_identically_in_every_encoding() {
    let Some(reference) = common::pydicom_file("MR_small.dcm") else {
        return;
    };
    let want = load(&reference).volume;
    assert_eq!(want.grid.dims, [64, 64, 1]);
    for name in [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_expb.dcm",
        "MR_small_implicit.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm",
    ] {
        let Some(p) = common::pydicom_file(name) else {
            return;
        };
        let got = load(&p).volume;
        assert_eq!(got.data, want.data, "{name}");
        assert_eq!(got.grid, want.grid, "{name}");
    }
}

#[test]
fn ct_small_is_in_hounsfield_units_with_geometry() {
    let Some(p) = common::pydicom_file("CT_small.dcm") else {
        return;
    };
    let v = load(&p).volume;
    assert_eq!(v.meta.modality, "CT");
    assert!(matches!(v.data, VoxelData::I16(_)));
    let (lo, hi) = v.data.min_max();
    assert!(lo >= -1100.0 && hi < 3000.0, "HU range {lo}..{hi}");
    // ImagePositionPatient of CT_small is (-158.135803, -179.035797, -75.699997) LPS.
    let origin = v.grid.world_from_voxel.w_axis;
    assert!((origin.x - 158.135803).abs() < 1e-4 && (origin.y - 179.035797).abs() < 1e-4);
    assert!((origin.z + 75.699997).abs() < 1e-4);
}

#[test]
fn truncated_and_unsupported_files_are_named_errors() {
    for (name, needle) in [
        ("MR_truncated.dcm", "truncated"),
        ("JPEG-lossy.dcm", "JPEG Extended (12-bit)"),
        ("SC_rgb_rle.dcm", "colour"),
        // Found by fuzzing (io::dicom_guard): dicom-rs read these as 1.2 GB and 3.7 GB values
        // and filled them before failing; now refused from their headers, naming the element.
        (
            "SC_rgb_jpeg.dcm",
            "(0008,0008) at byte 368 declares 1230128452 bytes",
        ),
        ("UN_sequence.dcm", "UN sequence of undefined length"),
    ] {
        let Some(p) = common::pydicom_file(name) else {
            return;
        };
        let err = load_volume(&p, &LoadOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    }
}

/// Found by the fuzz smoke: an RLE Lossless file whose segment decodes short makes dicom-rs
/// 0.10's RLE decoder index out of bounds (a panic). voxmark reports it as the file's error.
/// A compressed frame whose own header (JPEG 2000 SIZ) declares far more pixels than the
/// DICOM header's frame is refused before the decoder allocates them (fuzz finding: this
/// 3.5 KB file made openjp2 allocate 4.3 GB).
#[test]
fn a_codestream_larger_than_its_frame_is_refused_before_decoding() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fuzz/j2k_siz_bomb.dcm");
    let err = load_volume(&p, &LoadOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("j2k_siz_bomb.dcm") && err.contains("declares 2097664 × 512 pixels"),
        "{err}"
    );
}

#[test]
fn a_length_after_a_top_level_item_is_checked_before_parsing() {
    // Fuzz finding: dicom-parser reads an item tag outside a sequence as an element with a
    // 4-byte length, so the element after it declared 4 GB and the parser allocated it.
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fuzz/length_after_pixel_data.dcm");
    let err = load_volume(&p, &LoadOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("length_after_pixel_data.dcm")
            && err.contains("(FF3A,E000)")
            && err.contains("declares 4160740095 bytes"),
        "{err}"
    );
}

#[test]
fn a_frame_without_pixels_is_refused() {
    // Fuzz finding: Columns 0 reached the decoder's per-slice chunking and panicked.
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fuzz/zero_columns.dcm");
    let err = load_volume(&p, &LoadOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("zero_columns.dcm") && err.contains("an image without pixels"),
        "{err}"
    );
}

#[test]
fn implicit_vr_sequences_are_the_dictionarys() {
    // Fuzz finding: in an implicit-VR file, 324 bytes of a retired SH element starting with an
    // item tag were walked as a sequence; the parser read them as text and then met a
    // (0016,0004) declaring 1.4 GB, which it allocated.
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fuzz/implicit_text_like_a_sequence.dcm");
    let err = load_volume(&p, &LoadOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("implicit_text_like_a_sequence.dcm")
            && err.contains("(0016,0004)")
            && err.contains("declares 1414529024 bytes"),
        "{err}"
    );
}

#[test]
fn a_panicking_pixel_decoder_is_the_files_error() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fuzz/rle_short_segment.dcm");
    let err = load_volume(&p, &LoadOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("rle_short_segment.dcm")
            && err.contains("RLE Lossless")
            && err.contains("the decoder failed"),
        "{err}"
    );
}
