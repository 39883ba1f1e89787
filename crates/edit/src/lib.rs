//! The editing engine. An [`ops::EditOp`] (the JSON format of scripts, the journal and the
//! shell) is lowered once ([`lower`]: validation, locks, geometry → a [`lower::Program`] of
//! voxel writes and the box it can change); a label store ([`store::LabelStore`]: host labels
//! with the CPU twins, or [`store::GpuEdit`] with the kernels) runs it; [`session::Session`]
//! snapshots the box for undo ([`undo`]), journals the op ([`journal`], fsync) and only then
//! acknowledges it. [`label_volume`] holds the label table and the GPU preview layer. No file
//! format lives here (label maps on disk are `voxmark_io::label_file`): an op naming a second
//! label map reads it through the reader the program registers
//! ([`lower::register_map_reader`]).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod journal;
pub mod label_volume;
pub mod lower;
pub mod ops;
pub mod session;
pub mod store;
pub mod undo;

pub use label_volume::LabelVolume;
pub use lower::{lower, EditEnv, Lowered, Program};
pub use session::apply_op_cpu;
pub use store::LabelStore;
