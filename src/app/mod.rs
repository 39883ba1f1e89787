//! The desktop shell (`voxmark view`). `state` holds its behaviour without UI types (tested
//! directly); `shell` is one egui frame over it (menus, panels, dialogs in `panels`, the four
//! GPU panes in `panes`, review mode in `review`); `document` loads an image off the UI
//! thread; `native` runs it in a window (eframe on the engine's wgpu device) and `headless`
//! offscreen (interaction tests, frame benchmark).

pub mod document;
pub mod headless;
pub mod native;
pub mod panels;
pub mod panes;
pub mod review;
pub mod shell;
pub mod state;
