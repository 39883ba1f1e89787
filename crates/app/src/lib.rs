//! The desktop shell (`voxmark view`). Without UI types, always built: `state` (the shell's
//! behaviour: panes, crosshair, window, strokes → journaled ops, grow preview, undo), `tools`
//! (the `SliceTool` trait and one module per tool: pointer events → edits, Enter, overlays
//! as shapes; the Tools menu's operations; view settings), `document` (one open image, loaded off the UI thread; save) and
//! `project_session` (a project case's working copy, base version, store on save).
//!
//! With the `gui` feature (default), the egui layer: `shell` owns the document and the
//! components and runs one frame; each component owns its state, is lent the document, and
//! reports through `component::Feedback` — `panes` (the four GPU panes: egui input → the
//! active tool's `PanePointer`, the tools' shapes painted),
//! `tools_panel` (left panel, Tools menu), `labels_panel` (label table, statistics),
//! `review` (review mode and the review database), `project_panel` (queue, next case,
//! submit, progress), `dialogs`. `native` runs the shell in a
//! window (eframe on the engine's wgpu device), `headless` offscreen (interaction tests,
//! frame benchmark).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "gui")]
pub mod component;
#[cfg(feature = "gui")]
pub mod dialogs;
pub mod document;
#[cfg(feature = "gui")]
pub mod headless;
#[cfg(feature = "gui")]
pub mod labels_panel;
#[cfg(feature = "gui")]
pub mod native;
#[cfg(feature = "gui")]
pub mod panes;
#[cfg(feature = "gui")]
pub mod project_panel;
pub mod project_session;
#[cfg(feature = "gui")]
pub mod review;
#[cfg(feature = "gui")]
pub mod shell;
pub mod state;
pub mod tools;
#[cfg(feature = "gui")]
pub mod tools_panel;
