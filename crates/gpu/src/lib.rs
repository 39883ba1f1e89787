//! The GPU floor: wgpu plumbing (device selection and error scopes, residency of volumes and
//! labels as 3D textures, buffer readback, compute helpers, WGSL sources, the self-test) and
//! every algorithm in [`kernels`], each with its CPU twin. No file format, database or UI.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod compute;
pub mod context;
pub mod kernels;
pub mod readback;
pub mod residency;
pub mod selftest;
pub mod shaders;

pub use context::{AdapterReport, GpuContext};
