//! Stored values -> real units (`real = stored * slope + intercept`), choosing storage.
//!
//! Used by both readers: NIfTI `scl_slope`/`scl_inter` and DICOM Rescale Slope/Intercept
//! (PS3.3 C.11.1.1.2). Integral slope and intercept keep integer storage, in the narrowest
//! type that holds the actual scaled range ([`DType::narrow_for_range`]); anything else
//! becomes f32, computed in f64 and rounded once.

use super::{DType, VoxelData};
use rayon::prelude::*;

/// Stored values before the rescale, including the wide types voxmark does not keep.
#[derive(Debug)]
pub enum Stored {
    Native(VoxelData),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

/// True when `(slope, intercept)` leaves values unchanged.
pub fn is_identity(slope: f64, inter: f64) -> bool {
    slope == 1.0 && inter == 0.0
}

fn integral(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15
}

macro_rules! map_into {
    ($src:expr, $dtype:expr, |$x:ident| $f:expr) => {{
        let src = $src;
        match $dtype {
            DType::U8 => VoxelData::U8(src.par_iter().map(|&$x| ($f) as u8).collect()),
            DType::I8 => VoxelData::I8(src.par_iter().map(|&$x| ($f) as i8).collect()),
            DType::U16 => VoxelData::U16(src.par_iter().map(|&$x| ($f) as u16).collect()),
            DType::I16 => VoxelData::I16(src.par_iter().map(|&$x| ($f) as i16).collect()),
            DType::I32 => VoxelData::I32(src.par_iter().map(|&$x| ($f) as i32).collect()),
            DType::F32 => VoxelData::F32(src.par_iter().map(|&$x| ($f) as f32).collect()),
        }
    }};
}

fn int_min_max(v: &[i64]) -> (i64, i64) {
    v.par_iter()
        .fold(|| (i64::MAX, i64::MIN), |(a, b), &x| (a.min(x), b.max(x)))
        .reduce(|| (i64::MAX, i64::MIN), |p, q| (p.0.min(q.0), p.1.max(q.1)))
}

/// Applies `real = stored * slope + inter` and returns real-unit values in the storage
/// type chosen by the module rule.
pub fn apply(stored: Stored, slope: f64, inter: f64) -> VoxelData {
    let keep_int = integral(slope) && integral(inter);
    match stored {
        Stored::Native(data) if is_identity(slope, inter) => data,
        Stored::Native(VoxelData::F32(v)) => VoxelData::F32(
            v.par_iter()
                .map(|&x| (f64::from(x) * slope + inter) as f32)
                .collect(),
        ),
        Stored::Native(data) if keep_int => {
            let (lo, hi) = data.min_max();
            if lo.is_nan() {
                return data;
            }
            let (s, b) = (slope as i64, inter as i64);
            let (a, z) = (lo as i64 * s + b, hi as i64 * s + b);
            let out = DType::narrow_for_range(data.dtype(), a.min(z), a.max(z));
            crate::with_voxels!(&data, v => map_into!(v, out, |x| f64::from(x) as i64 * s + b))
        }
        Stored::Native(data) => crate::with_voxels!(&data, v => {
            VoxelData::F32(v.par_iter().map(|&x| (f64::from(x) * slope + inter) as f32).collect())
        }),
        Stored::I64(v) => {
            let (lo, hi) = int_min_max(&v);
            let scaled = |x: i64| x as i128 * slope as i128 + inter as i128;
            let (a, z) = if v.is_empty() {
                (0, 0)
            } else {
                (scaled(lo), scaled(hi))
            };
            let (a, z) = (a.min(z), a.max(z));
            if keep_int && a >= i64::MIN as i128 && z <= i64::MAX as i128 {
                let out = DType::narrow_for_range(DType::I32, a as i64, z as i64);
                let (s, b) = (slope as i64, inter as i64);
                map_into!(&v, out, |x| x * s + b)
            } else {
                map_into!(&v, DType::F32, |x| x as f64 * slope + inter)
            }
        }
        Stored::F64(v) => map_into!(&v, DType::F32, |x| x * slope + inter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_unsigned_with_intercept_becomes_int16() {
        let d = apply(
            Stored::Native(VoxelData::U16(vec![0, 1024, 3000])),
            1.0,
            -1024.0,
        );
        assert_eq!(d, VoxelData::I16(vec![-1024, 0, 1976]));
    }

    #[test]
    fn fractional_slope_becomes_f32() {
        let d = apply(Stored::Native(VoxelData::I16(vec![0, 10])), 0.5, 1.0);
        assert_eq!(d, VoxelData::F32(vec![1.0, 6.0]));
    }

    #[test]
    fn wide_integers_narrow_when_they_fit() {
        let d = apply(Stored::I64(vec![0, 70000]), 1.0, 0.0);
        assert_eq!(d, VoxelData::I32(vec![0, 70000]));
        let d = apply(Stored::I64(vec![0, 1 << 40]), 1.0, 0.0);
        assert_eq!(d.dtype(), DType::F32);
    }

    #[test]
    fn negative_slope_orders_range() {
        let d = apply(Stored::Native(VoxelData::U8(vec![0, 200])), -1.0, 0.0);
        assert_eq!(d, VoxelData::I16(vec![0, -200]));
    }
}
