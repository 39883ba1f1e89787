//! The CPU data model of a scan, the floor every other voxmark crate stands on: a regular
//! voxel grid placed in world space ([`grid`]), voxel values in real units ([`data`],
//! [`rescale`], [`volume`]), label maps on the image's grid ([`labels`]), taken across
//! reoriented grids exactly or resampled on request ([`reorient`]), their label table
//! ([`label_table`]), markups ([`markup`]), how views and the 3D camera map screens to
//! voxels ([`geometry`]), the synthetic CT ([`phantom`]), crash-safe files, locks, clock and
//! hashes ([`fs`]), and the one [`Error`] type. Pure CPU, no file format, no GPU.
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
pub mod reorient;
pub mod rescale;
#[allow(clippy::module_inception)]
pub mod volume;

pub use data::{DType, VoxelData};
pub use error::{Error, Result};
pub use grid::Grid;
pub use volume::{Metadata, Volume, WindowPreset};
