//! wgpu plumbing only: device selection, buffer readback, WGSL sources, the self-test.
//! No algorithm lives here; kernels live in `crate::kernels` (later issues).

pub mod compute;
pub mod context;
pub mod readback;
pub mod residency;
pub mod selftest;
pub mod shaders;

pub use context::{AdapterReport, GpuContext};
