//! Pure CPU geometry of what is shown: which voxel plane a 2D view shows and how it lies on
//! screen (`view`: screen ↔ voxel tables, zoom/pan, orientation letters), and the 3D view's
//! orbit camera and per-pixel rays in voxel space (`camera`). No wgpu, no UI types: kernels,
//! edits and renderers all read these, so it sits directly above `volume`.

pub mod camera;
pub mod view;

pub use camera::{Camera, RayFrame};
pub use view::{direction_letters, ViewGeometry, ViewKind};
