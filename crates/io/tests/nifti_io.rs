//! NIfTI-1 reading and writing: every native type, rescale rules, qform/sform precedence,
//! 4-D input, hostile files, and round trips of real MRI (mricron-data).

use voxmark_testkit as common;

use glam::{DMat3, DMat4, DVec3, DVec4};
use std::path::Path;
use voxmark_io::nifti::{encode_header, read_nifti, write_nifti};
use voxmark_volume::Error;
use voxmark_volume::{DType, Grid, Metadata, Volume, VoxelData};

fn oblique_affine() -> DMat4 {
    let rot = DMat3::from_euler(glam::EulerRot::ZYX, 0.4, -0.15, 0.05);
    let mut a = DMat4::from_mat3(rot * DMat3::from_diagonal(DVec3::new(0.8, -0.9, 2.5)));
    a.w_axis = DVec4::new(-101.25, 37.5, -12.0, 1.0);
    a
}

fn f32_rounded(m: &DMat4) -> DMat4 {
    DMat4::from_cols_array(&m.to_cols_array().map(|x| f64::from(x as f32)))
}

fn meta() -> Metadata {
    Metadata {
        format: "test".into(),
        sform_code: 1,
        qform_code: 1,
        ..Default::default()
    }
}

fn volume(data: VoxelData, dims: [usize; 3]) -> Volume {
    Volume::new(Grid::new(dims, oblique_affine()), data, meta()).unwrap_or_else(|e| panic!("{e}"))
}

fn sample_data(dtype: DType, n: usize) -> VoxelData {
    let f = |i: usize| (i as i64 * 7919 % 1000) - 500;
    match dtype {
        DType::U8 => VoxelData::U8((0..n).map(|i| (f(i) + 500) as u8).collect()),
        DType::I8 => VoxelData::I8((0..n).map(|i| (f(i) / 4) as i8).collect()),
        DType::U16 => VoxelData::U16((0..n).map(|i| (f(i) + 40000) as u16).collect()),
        DType::I16 => VoxelData::I16((0..n).map(|i| (f(i) * 60) as i16).collect()),
        DType::I32 => VoxelData::I32((0..n).map(|i| (f(i) * 1_000_000) as i32).collect()),
        DType::F32 => VoxelData::F32((0..n).map(|i| f(i) as f32 * 0.37).collect()),
    }
}

fn read_ok(p: &Path) -> Volume {
    read_nifti(p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_native_dtype_round_trips_bit_exact_with_affine() {
    let dir = common::tempdir();
    let dims = [7, 5, 3];
    for dtype in [
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::I32,
        DType::F32,
    ] {
        for ext in ["nii", "nii.gz"] {
            let v = volume(sample_data(dtype, 105), dims);
            let p = dir.path().join(format!("{}.{ext}", dtype.name()));
            write_nifti(&p, &v).unwrap_or_else(|e| panic!("{e}"));
            let back = read_ok(&p);
            assert_eq!(back.data, v.data, "{dtype:?} {ext}");
            assert_eq!(back.grid.dims, dims);
            // sform takes precedence and holds the f32-rounded affine exactly.
            assert_eq!(
                back.grid.world_from_voxel,
                f32_rounded(&v.grid.world_from_voxel)
            );
        }
    }
}

/// Offsets of NIfTI-1 header fields (nifti1.h).
mod off {
    pub const DIM: usize = 40;
    pub const DATATYPE: usize = 70;
    pub const BITPIX: usize = 72;
    pub const SCL_SLOPE: usize = 112;
    pub const SCL_INTER: usize = 116;
    pub const QFORM_CODE: usize = 252;
    pub const SFORM_CODE: usize = 254;
}

fn put_i16(h: &mut [u8], at: usize, v: i16) {
    h[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_f32(h: &mut [u8], at: usize, v: f32) {
    h[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn raw_file(dir: &Path, name: &str, header: &[u8], data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
    p
}

#[test]
fn ct_uint16_with_intercept_loads_as_int16_hu() {
    let dir = common::tempdir();
    let v = volume(VoxelData::U16(vec![0, 1024, 2000, 4095, 24, 1]), [3, 2, 1]);
    let mut h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    put_f32(&mut h, off::SCL_SLOPE, 1.0);
    put_f32(&mut h, off::SCL_INTER, -1024.0);
    let p = raw_file(dir.path(), "ct.nii", &h, v.data.as_bytes());
    let back = read_ok(&p);
    assert_eq!(
        back.data,
        VoxelData::I16(vec![-1024, 0, 976, 3071, -1000, -1023])
    );
    assert_eq!(back.meta.rescale, Some((1.0, -1024.0)));
}

#[test]
fn fractional_slope_gives_f32_and_zero_slope_means_none() {
    let dir = common::tempdir();
    let v = volume(VoxelData::I16(vec![0, 10, -20, 3]), [2, 2, 1]);
    let mut h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    put_f32(&mut h, off::SCL_SLOPE, 0.5);
    put_f32(&mut h, off::SCL_INTER, 1.0);
    let p = raw_file(dir.path(), "a.nii", &h, v.data.as_bytes());
    assert_eq!(read_ok(&p).data, VoxelData::F32(vec![1.0, 6.0, -9.0, 2.5]));
    put_f32(&mut h, off::SCL_SLOPE, 0.0);
    put_f32(&mut h, off::SCL_INTER, 55.0);
    let p = raw_file(dir.path(), "b.nii", &h, v.data.as_bytes());
    assert_eq!(
        read_ok(&p).data,
        v.data,
        "nibabel: slope 0 means no scaling"
    );
}

#[test]
fn float64_and_int64_follow_the_narrowing_rule() {
    let dir = common::tempdir();
    let v = volume(VoxelData::I16(vec![0; 4]), [2, 2, 1]);
    let mut h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    put_i16(&mut h, off::DATATYPE, 64);
    put_i16(&mut h, off::BITPIX, 64);
    let vals = [1.5f64, -2.25, 1e6, 0.0];
    let data: Vec<u8> = vals.iter().flat_map(|x| x.to_le_bytes()).collect();
    let p = raw_file(dir.path(), "f64.nii", &h, &data);
    assert_eq!(read_ok(&p).data, VoxelData::F32(vec![1.5, -2.25, 1e6, 0.0]));
    put_i16(&mut h, off::DATATYPE, 1024);
    let ints = [5i64, -70000, 3, 0];
    let data: Vec<u8> = ints.iter().flat_map(|x| x.to_le_bytes()).collect();
    let p = raw_file(dir.path(), "i64.nii", &h, &data);
    assert_eq!(read_ok(&p).data, VoxelData::I32(vec![5, -70000, 3, 0]));
}

#[test]
fn qform_is_used_when_sform_code_is_zero_and_base_affine_when_both_are() {
    let dir = common::tempdir();
    let v = volume(VoxelData::U8(vec![1; 8]), [2, 2, 2]);
    let mut h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    put_i16(&mut h, off::SFORM_CODE, 0);
    let p = raw_file(dir.path(), "q.nii", &h, v.data.as_bytes());
    let q = read_ok(&p).grid.world_from_voxel;
    let want = v.grid.world_from_voxel;
    for (a, b) in q.to_cols_array().iter().zip(want.to_cols_array()) {
        assert!((a - b).abs() < 1e-4, "qform {q:?} vs {want:?}");
    }
    put_i16(&mut h, off::QFORM_CODE, 0);
    let p = raw_file(dir.path(), "none.nii", &h, v.data.as_bytes());
    let base = read_ok(&p);
    assert!(
        base.grid.world_from_voxel.x_axis.x < 0.0,
        "Analyze base affine flips x"
    );
    assert!(!base.meta.warnings.is_empty());
}

#[test]
fn four_d_file_loads_first_volume_with_warning() {
    let dir = common::tempdir();
    let v = volume(VoxelData::U8(vec![0; 4]), [2, 2, 1]);
    let mut h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    put_i16(&mut h, off::DIM, 4);
    put_i16(&mut h, off::DIM + 8, 3);
    let data: Vec<u8> = (0..12).collect();
    let p = raw_file(dir.path(), "4d.nii", &h, &data);
    let back = read_ok(&p);
    assert_eq!(back.data, VoxelData::U8(vec![0, 1, 2, 3]));
    assert!(back.meta.warnings.iter().any(|w| w.contains("3 volumes")));
}

fn expect_err(p: &Path, needle: &str) {
    match read_nifti(p) {
        Ok(_) => panic!("{} loaded but should fail", p.display()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&p.display().to_string()),
                "message names the file: {msg}"
            );
            assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
        }
    }
}

#[test]
fn hostile_files_give_clear_errors() {
    let dir = common::tempdir();
    let d = dir.path();
    std::fs::write(d.join("empty.nii"), b"").unwrap_or_else(|e| panic!("{e}"));
    expect_err(&d.join("empty.nii"), "empty");
    std::fs::write(d.join("text.nii.gz"), b"this is not a nifti file at all\n")
        .unwrap_or_else(|e| panic!("{e}"));
    expect_err(&d.join("text.nii.gz"), "NIfTI");

    let v = volume(VoxelData::I16(vec![7; 64]), [4, 4, 4]);
    write_nifti(&d.join("ok.nii.gz"), &v).unwrap_or_else(|e| panic!("{e}"));
    let gz = std::fs::read(d.join("ok.nii.gz")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(d.join("cut.nii.gz"), &gz[..gz.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    assert!(read_nifti(&d.join("cut.nii.gz")).is_err());

    // A header promising 32767³ int16 voxels (64 TiB) in a few bytes: refused before allocating.
    let mut h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    for a in 1..=3 {
        put_i16(&mut h, off::DIM + 2 * a, 32767);
    }
    let p = raw_file(d, "bomb.nii", &h, &[0u8; 16]);
    expect_err(&p, "truncated");
    let gzp = d.join("bomb.nii.gz");
    {
        use std::io::Write;
        let f = std::fs::File::create(&gzp).unwrap_or_else(|e| panic!("{e}"));
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        enc.write_all(&h).unwrap_or_else(|e| panic!("{e}"));
        enc.finish().unwrap_or_else(|e| panic!("{e}"));
    }
    expect_err(&gzp, "cannot hold");

    // Data shorter than the header says.
    let h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    let p = raw_file(d, "short.nii", &h, &[0u8; 100]);
    expect_err(&p, "truncated");
    // Unknown datatype.
    let mut h2 = h.clone();
    put_i16(&mut h2, off::DATATYPE, 999);
    let p = raw_file(d, "dt.nii", &h2, &[0u8; 128]);
    expect_err(&p, "datatype");
}

#[test]
fn real_mri_round_trips_exactly() {
    let dir = common::tempdir();
    for name in [
        "ch2.nii.gz",
        "ch2better.nii.gz",
        "aal.nii.gz",
        "brodmann.nii.gz",
    ] {
        let Some(src) = common::mricron(name) else {
            return;
        };
        let v = read_ok(&src);
        let out = dir.path().join(name);
        write_nifti(&out, &v).unwrap_or_else(|e| panic!("{e}"));
        let back = read_ok(&out);
        assert_eq!(back.data, v.data, "{name}");
        assert_eq!(back.grid, v.grid, "{name}");
    }
}

#[test]
fn multi_member_gzip_streams_and_matches() {
    use std::io::Write;
    let dir = common::tempdir();
    let v = volume(sample_data(DType::I16, 4000), [20, 20, 10]);
    let h = encode_header(&v).unwrap_or_else(|e| panic!("{e}"));
    let mut bytes = h.clone();
    bytes.extend_from_slice(v.data.as_bytes());
    let mut file = Vec::new();
    for part in bytes.chunks(3000) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(part).unwrap_or_else(|e| panic!("{e}"));
        file.extend(enc.finish().unwrap_or_else(|e| panic!("{e}")));
    }
    let p = dir.path().join("multi.nii.gz");
    std::fs::write(&p, &file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_ok(&p).data, v.data);
    // Cut inside the last member: a clear error, never a panic.
    std::fs::write(&p, &file[..file.len() - 100]).unwrap_or_else(|e| panic!("{e}"));
    let err = read_nifti(&p)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("multi.nii.gz"), "{err}");
}

#[test]
fn written_files_are_world_readable() {
    let dir = common::tempdir();
    let p = dir.path().join("perm.nii.gz");
    write_nifti(&p, &volume(VoxelData::U8(vec![0; 8]), [2, 2, 2]))
        .unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
    }
}

#[test]
fn failed_write_leaves_no_file() {
    let dir = common::tempdir();
    let v = volume(VoxelData::U8(vec![0; 8]), [2, 2, 2]);
    let target = dir.path().join("missing-folder").join("out.nii.gz");
    let err = write_nifti(&target, &v).err();
    assert!(matches!(err, Some(Error::Io { .. })), "{err:?}");
    assert!(!target.exists());
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(99),
        0
    );
}
