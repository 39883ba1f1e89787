//! The CPU data model of a scan: a regular voxel grid placed in world space, voxel values
//! in real units, and the metadata a radiologist expects to keep (modality, window).
//!
//! World frame: voxmark's world is **RAS+** in millimetres, the NIfTI convention: +x toward
//! the patient's Right, +y Anterior, +z Superior. DICOM's LPS+ (+x Left, +y Posterior,
//! +z Superior) is converted once, at load, by negating x and y (see [`grid::RAS_FROM_LPS`]).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod data;
pub mod error;
pub mod fs;
pub mod geometry;
pub mod grid;
pub mod label_table;
pub mod labels;
pub mod markup;
pub mod phantom;
pub mod rescale;
#[allow(clippy::module_inception)]
pub mod volume;

pub use data::{DType, VoxelData};
pub use error::{Error, Result};
pub use grid::Grid;
pub use volume::{Metadata, Volume, WindowPreset};
