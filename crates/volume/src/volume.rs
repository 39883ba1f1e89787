//! A loaded scan: grid + voxel values in real units + metadata.

use super::{DType, Grid, VoxelData};
use crate::error::{Error, Result};
use serde::Serialize;

/// A window (DICOM PS3.3 C.11.2.1.2: centre and width, in real units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowPreset {
    pub center: f64,
    pub width: f64,
}

/// What voxmark knows about where the values came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metadata {
    /// `nifti`, `dicom` or `phantom`.
    pub format: String,
    /// DICOM Modality (CT, MR, ...); for NIfTI "unknown" unless the producer says so.
    pub modality: String,
    /// SeriesDescription (DICOM) or `descrip` (NIfTI).
    pub description: String,
    /// SeriesInstanceUID for DICOM.
    pub series_uid: Option<String>,
    /// Storage type in the file before the rescale (e.g. `uint16` for CT with intercept -1024).
    pub stored_dtype: String,
    /// Rescale slope and intercept applied at load (None when identity).
    pub rescale: Option<(f64, f64)>,
    /// The file's own window (DICOM WindowCenter/Width, first value), if any.
    pub window: Option<WindowPreset>,
    /// NIfTI sform_code / qform_code to write back (1 = scanner anatomical).
    pub sform_code: i16,
    pub qform_code: i16,
    /// Problems that did not stop the load (gantry tilt, 4-D input, ...), each naming where.
    pub warnings: Vec<String>,
}

/// A scan in memory: the model every other module works on.
#[derive(Debug, Clone)]
pub struct Volume {
    pub grid: Grid,
    pub data: VoxelData,
    pub meta: Metadata,
}

impl Volume {
    /// Builds a volume, checking that the data holds exactly one value per voxel.
    pub fn new(grid: Grid, data: VoxelData, meta: Metadata) -> Result<Self> {
        if data.len() != grid.voxel_count() {
            return Err(Error::Invalid(format!(
                "volume data holds {} voxels but dims {:?} need {}",
                data.len(),
                grid.dims,
                grid.voxel_count()
            )));
        }
        Ok(Self { grid, data, meta })
    }

    /// Storage type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Value at voxel (i, j, k) in real units.
    pub fn value(&self, i: usize, j: usize, k: usize) -> f64 {
        self.data.get_f64(self.grid.index(i, j, k))
    }
}
