//! voxmark: a GPU-first engine for annotating 3D CT and MRI volumes.
//!
//! Data flow (this crate, so far):
//! 1. `io::load_volume(path)` sniffs the content (NIfTI-1 / DICOM file / DICOM folder),
//!    reads headers, checks promised sizes before allocating, decodes voxels in parallel.
//! 2. The result is a [`volume::Volume`]: a [`volume::Grid`] (dims + `world_from_voxel`,
//!    RAS+ mm, voxel centres) and [`volume::VoxelData`] in real units (HU for CT), stored in
//!    the narrowest exact type.
//! 3. `io::nifti::write_nifti` writes it back on the same grid (sform + qform), atomically.
//! 4. [`gpu::GpuContext`] owns the wgpu device every kernel will run on.
//! 5. [`phantom::Phantom`] makes deterministic CT test volumes of any size.
//!
//! The CLI (`src/cli`) is a thin layer over these.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod bench;
pub mod cli;
pub mod edit;
pub mod error;
pub mod geometry;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod phantom;
pub mod qa;
pub mod render;
pub mod volume;

pub use error::{Error, Result};
