//! Rendering without any UI types: the slice renderer the CLI and the desktop shell share, the
//! 3D volume view, meshes, orientation-letter annotation and PNG output. View geometry and the
//! camera live below, in `voxmark_volume::geometry`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod annotate;
pub mod mesh;
pub mod offscreen;
pub mod png_out;
pub mod slice;
pub mod volume_view;
