//! Writing a volume as a DICOM CT series (one single-frame file per slice, explicit VR
//! little endian, signed 16-bit, identity rescale). Used by `voxmark phantom OUT_DIR/` so
//! tests and benchmarks exercise the real DICOM path without downloading data.
//!
//! Geometry written per PS3.3 C.7.6.2: voxmark's RAS affine is turned back into LPS;
//! ImageOrientationPatient from the first two columns, PixelSpacing = [|col j|, |col i|],
//! ImagePositionPatient of slice k = affine · (0, 0, k).

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use glam::DVec3;
use rayon::prelude::*;
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::atomic::write_atomically;
use voxmark_volume::grid::RAS_FROM_LPS;
use voxmark_volume::{Volume, VoxelData};

/// A decimal string value (VR DS) of at most 16 characters.
pub(crate) fn ds(x: f64) -> String {
    for prec in (0..=10).rev() {
        let s = format!("{x:.prec$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s.len() <= 16 {
            return if s == "-0" { "0".into() } else { s };
        }
    }
    format!("{x:.3e}")
}

fn ds_multi(v: &[f64]) -> String {
    v.iter().map(|&x| ds(x)).collect::<Vec<_>>().join("\\")
}

/// A deterministic UID under the UUID-derived root 2.25 (PS3.5 B.2).
fn uid(seed: u64, salt: u64) -> String {
    let mut h: u128 = 0x6a09e667f3bcc908b2fb1366ea957d3e;
    for v in [seed, salt] {
        h ^= u128::from(v);
        h = h.wrapping_mul(0x0000_0001_0000_0000_0000_0000_0000_013b);
        h ^= h >> 61;
    }
    format!("2.25.{}", h >> 2)
}

fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, s: impl Into<String>) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(s.into())));
}

/// Writes `vol` (int16 only) as a CT series into `dir` (created if needed), files
/// `slice_0000.dcm` ... Each file is written atomically.
pub fn write_dicom_series(dir: &Path, vol: &Volume, description: &str) -> Result<()> {
    let VoxelData::I16(values) = &vol.data else {
        return Err(Error::Invalid(format!(
            "DICOM series output supports int16 volumes only (got {})",
            vol.dtype().name()
        )));
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let [nx, ny, nz] = vol.grid.dims;
    if nx > u16::MAX as usize || ny > u16::MAX as usize {
        return Err(Error::Invalid(
            "DICOM rows/columns are limited to 65535".into(),
        ));
    }
    let lps = RAS_FROM_LPS * vol.grid.world_from_voxel;
    let col_i = lps.x_axis.truncate();
    let col_j = lps.y_axis.truncate();
    let (di, dj) = (col_i.length(), col_j.length());
    let (row_cos, col_cos) = (col_i / di, col_j / dj);
    let dk = lps.z_axis.truncate().length();
    let seed = (nx as u64) << 40 ^ (ny as u64) << 20 ^ nz as u64;
    let (study, series, frame) = (uid(seed, 1), uid(seed, 2), uid(seed, 3));
    let per_slice = nx * ny;
    (0..nz).into_par_iter().try_for_each(|k| {
        let ipp: DVec3 = lps.transform_point3(DVec3::new(0.0, 0.0, k as f64));
        let sop = uid(seed, 1000 + k as u64);
        let mut obj = InMemDicomObject::new_empty();
        put_str(
            &mut obj,
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::CT_IMAGE_STORAGE,
        );
        put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, sop.clone());
        put_str(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, study.clone());
        put_str(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, series.clone());
        put_str(
            &mut obj,
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            frame.clone(),
        );
        put_str(&mut obj, tags::MODALITY, VR::CS, "CT");
        put_str(&mut obj, tags::PATIENT_NAME, VR::PN, "VOXMARK^PHANTOM");
        put_str(&mut obj, tags::PATIENT_ID, VR::LO, "VOXMARK-PHANTOM");
        // Type 2 attributes of the Patient and General Study modules (present, may be empty).
        put_str(&mut obj, tags::PATIENT_BIRTH_DATE, VR::DA, "");
        put_str(&mut obj, tags::PATIENT_SEX, VR::CS, "O");
        put_str(&mut obj, tags::STUDY_DATE, VR::DA, "20260101");
        put_str(&mut obj, tags::STUDY_TIME, VR::TM, "000000");
        put_str(&mut obj, tags::STUDY_ID, VR::SH, "1");
        put_str(&mut obj, tags::ACCESSION_NUMBER, VR::SH, "");
        put_str(&mut obj, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "");
        put_str(&mut obj, tags::SERIES_DESCRIPTION, VR::LO, description);
        put_str(&mut obj, tags::SERIES_NUMBER, VR::IS, "1");
        put_str(&mut obj, tags::INSTANCE_NUMBER, VR::IS, (k + 1).to_string());
        put_str(
            &mut obj,
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            ds_multi(&ipp.to_array()),
        );
        let iop = [
            row_cos.x, row_cos.y, row_cos.z, col_cos.x, col_cos.y, col_cos.z,
        ];
        put_str(
            &mut obj,
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            ds_multi(&iop),
        );
        put_str(&mut obj, tags::PIXEL_SPACING, VR::DS, ds_multi(&[dj, di]));
        put_str(&mut obj, tags::SLICE_THICKNESS, VR::DS, ds(dk));
        put_str(
            &mut obj,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2",
        );
        put_str(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, "0");
        put_str(&mut obj, tags::RESCALE_SLOPE, VR::DS, "1");
        put_str(&mut obj, tags::RESCALE_TYPE, VR::LO, "HU");
        put_str(&mut obj, tags::WINDOW_CENTER, VR::DS, "40");
        put_str(&mut obj, tags::WINDOW_WIDTH, VR::DS, "400");
        let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        obj.put(us(tags::SAMPLES_PER_PIXEL, 1));
        obj.put(us(tags::ROWS, ny as u16));
        obj.put(us(tags::COLUMNS, nx as u16));
        obj.put(us(tags::BITS_ALLOCATED, 16));
        obj.put(us(tags::BITS_STORED, 16));
        obj.put(us(tags::HIGH_BIT, 15));
        obj.put(us(tags::PIXEL_REPRESENTATION, 1));
        let slice = &values[k * per_slice..(k + 1) * per_slice];
        let words: Vec<u16> = slice.iter().map(|&v| v as u16).collect();
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(words.into()),
        ));
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid(sop),
            )
            .map_err(|e| Error::Invalid(format!("DICOM meta: {e}")))?;
        let path = dir.join(format!("slice_{k:04}.dcm"));
        write_atomically(&path, |w| {
            file.write_all(w)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds_fits_sixteen_chars() {
        for x in [-123.456_789_012_345_f64, 0.7, 1e-9, -0.0, 99999.123456789] {
            let s = ds(x);
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap_or(f64::NAN);
            assert!((back - x).abs() < 1e-4, "{x} -> {s}");
        }
    }
}
