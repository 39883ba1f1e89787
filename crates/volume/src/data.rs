//! Voxel values in their native storage type.
//!
//! voxmark keeps the narrowest type that holds the real-unit values exactly: a CT stays
//! int16 (256 MiB for 512³, not 512 MiB of f32). Types outside the native set are converted
//! by one documented rule, [`DType::narrow_for_range`]:
//! * integers (any width) whose real-unit range fits `i16`, `u16` or `i32` keep integers;
//! * everything else (float64, huge int64, non-integral rescale) becomes `f32`.

use rayon::prelude::*;
use serde::Serialize;

/// Storage type of a voxel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    U8,
    I8,
    U16,
    I16,
    I32,
    F32,
}

impl DType {
    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::I32 | DType::F32 => 4,
        }
    }

    /// Name as printed by `info` (`uint8`, `int16`, ...), as numpy spells it.
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::U16 => "uint16",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::F32 => "float32",
        }
    }

    /// Inclusive integer range the type holds (None for f32).
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            DType::U8 => Some((0, u8::MAX as i64)),
            DType::I8 => Some((i8::MIN as i64, i8::MAX as i64)),
            DType::U16 => Some((0, u16::MAX as i64)),
            DType::I16 => Some((i16::MIN as i64, i16::MAX as i64)),
            DType::I32 => Some((i32::MIN as i64, i32::MAX as i64)),
            DType::F32 => None,
        }
    }

    /// The storage type for integer values in `[lo, hi]`: `preferred` if it holds them,
    /// else the first of i16, u16, i32 that does, else f32.
    pub fn narrow_for_range(preferred: DType, lo: i64, hi: i64) -> DType {
        let fits = |t: DType| t.int_range().is_some_and(|(a, b)| lo >= a && hi <= b);
        if fits(preferred) {
            return preferred;
        }
        [DType::I16, DType::U16, DType::I32]
            .into_iter()
            .find(|&t| fits(t))
            .unwrap_or(DType::F32)
    }
}

/// Voxel values, i fastest, in real units (rescale already applied).
#[derive(Debug, Clone, PartialEq)]
pub enum VoxelData {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    F32(Vec<f32>),
}

/// Applies `$body` with `$v` bound to the inner `Vec` whatever its type.
#[macro_export]
macro_rules! with_voxels {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::VoxelData::U8($v) => $body,
            $crate::VoxelData::I8($v) => $body,
            $crate::VoxelData::U16($v) => $body,
            $crate::VoxelData::I16($v) => $body,
            $crate::VoxelData::I32($v) => $body,
            $crate::VoxelData::F32($v) => $body,
        }
    };
}

impl VoxelData {
    /// A zero-filled buffer of `n` voxels of type `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> Self {
        match dtype {
            DType::U8 => VoxelData::U8(vec![0; n]),
            DType::I8 => VoxelData::I8(vec![0; n]),
            DType::U16 => VoxelData::U16(vec![0; n]),
            DType::I16 => VoxelData::I16(vec![0; n]),
            DType::I32 => VoxelData::I32(vec![0; n]),
            DType::F32 => VoxelData::F32(vec![0.0; n]),
        }
    }

    /// Storage type.
    pub fn dtype(&self) -> DType {
        match self {
            VoxelData::U8(_) => DType::U8,
            VoxelData::I8(_) => DType::I8,
            VoxelData::U16(_) => DType::U16,
            VoxelData::I16(_) => DType::I16,
            VoxelData::I32(_) => DType::I32,
            VoxelData::F32(_) => DType::F32,
        }
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        with_voxels!(self, v => v.len())
    }

    /// True when there are no voxels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value of voxel `idx` as f64 (exact for every native type).
    pub fn get_f64(&self, idx: usize) -> f64 {
        with_voxels!(self, v => f64::from(v[idx]))
    }

    /// The raw bytes in native (little-endian on every supported host) order.
    pub fn as_bytes(&self) -> &[u8] {
        with_voxels!(self, v => bytemuck::cast_slice(v.as_slice()))
    }

    /// Minimum and maximum value (NaN ignored; `(NaN, NaN)` when there is no finite value).
    pub fn min_max(&self) -> (f64, f64) {
        with_voxels!(self, v => {
            v.par_chunks(1 << 16)
                .map(|c| {
                    c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                        let x = f64::from(x);
                        (lo.min(x), hi.max(x))
                    })
                })
                .reduce(
                    || (f64::INFINITY, f64::NEG_INFINITY),
                    |a, b| (a.0.min(b.0), a.1.max(b.1)),
                )
        })
        .pipe_nan()
    }
}

trait PipeNan {
    fn pipe_nan(self) -> (f64, f64);
}

impl PipeNan for (f64, f64) {
    fn pipe_nan(self) -> (f64, f64) {
        if self.0 > self.1 {
            (f64::NAN, f64::NAN)
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_rule() {
        assert_eq!(DType::narrow_for_range(DType::U16, -1024, 3000), DType::I16);
        assert_eq!(
            DType::narrow_for_range(DType::U16, -1024, 40000),
            DType::I32
        );
        assert_eq!(DType::narrow_for_range(DType::U8, 0, 255), DType::U8);
        assert_eq!(DType::narrow_for_range(DType::I32, 0, 60000), DType::I32);
        assert_eq!(DType::narrow_for_range(DType::I16, 0, 1 << 40), DType::F32);
    }

    #[test]
    fn min_max_ignores_nan_and_handles_all_nan() {
        let d = VoxelData::F32(vec![f32::NAN, -3.5, 7.0]);
        assert_eq!(d.min_max(), (-3.5, 7.0));
        let (a, b) = VoxelData::F32(vec![f32::NAN]).min_max();
        assert!(a.is_nan() && b.is_nan());
    }
}
