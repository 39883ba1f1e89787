//! The desktop shell. `state` holds its behaviour without UI types (tested directly); the
//! winit + egui layer that draws it comes with the shell issue.

pub mod state;
