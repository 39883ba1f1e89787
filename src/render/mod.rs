//! Rendering without any UI types: view geometry, the slice renderer the CLI and the desktop
//! shell share, orientation-letter annotation and PNG output.

pub mod annotate;
pub mod camera;
pub mod mesh;
pub mod offscreen;
pub mod png_out;
pub mod slice;
pub mod view;
pub mod volume_view;
