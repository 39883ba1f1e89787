//! The desktop shell (`voxmark view`). Without UI types, always built: `state` (the shell's
//! behaviour: panes, crosshair, window, strokes → journaled ops, grow preview, undo), `tools`
//! (tool settings and drafts: brush, polygon, ruler, grow) and `document` (one open image,
//! loaded off the UI thread; save). With the `gui` feature (default): `shell` is one egui frame
//! over them (menus, panels and dialogs in `panels`, the four GPU panes in `panes`, review mode
//! in `review`); `native` runs it in a window (eframe on the engine's wgpu device) and
//! `headless` offscreen (interaction tests, frame benchmark).

pub mod document;
#[cfg(feature = "gui")]
pub mod headless;
#[cfg(feature = "gui")]
pub mod native;
#[cfg(feature = "gui")]
pub mod panels;
#[cfg(feature = "gui")]
pub mod panes;
#[cfg(feature = "gui")]
pub mod review;
#[cfg(feature = "gui")]
pub mod shell;
pub mod state;
pub mod tools;
