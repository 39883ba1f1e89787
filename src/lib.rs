//! voxmark: a GPU-first engine and desktop tool for annotating 3D CT and MRI volumes.
//!
//! Data flow, bottom to top (each module imports only those below it; `tests/layers.rs`):
//! 1. `io::load_volume(path)` sniffs the content (NIfTI-1 / DICOM file / DICOM folder), checks
//!    promised sizes before allocating and decodes in parallel into a [`volume::Volume`]: a
//!    [`volume::Grid`] (dims + `world_from_voxel`, RAS+ mm, voxel centres) and voxel data in
//!    real units (HU for CT), stored in the narrowest exact type.
//! 2. [`geometry`] maps screens to voxels (view planes, zoom/pan tables, camera rays, letters).
//! 3. [`gpu::GpuContext`] owns the wgpu device; `gpu::residency` keeps the image and the u8
//!    labels resident as 3D textures.
//! 4. [`kernels`]: every algorithm as `XxxParams` + a CPU twin `xxx_cpu` + a GPU `XxxKernel`.
//! 5. [`edit`]: an `EditOp` (JSON) is lowered once into a program the kernels run on a label
//!    store (host or GPU), with brick undo and an fsynced journal, in a `Session`.
//! 6. [`render`] draws slices and the 3D view into textures; [`qa`] measures agreement and
//!    keeps review records; [`app`] is the desktop shell (egui with the `gui` feature).
//! 7. `io::nifti::write_nifti` writes masks and images back on the same grid, atomically.
//!
//! The CLI (`src/cli`) and `voxmark bench` (`src/bench`) are thin layers over these.

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
pub mod project;
pub mod qa;
pub mod render;
pub mod volume;

pub use error::{Error, Result};
