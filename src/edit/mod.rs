//! The editing engine (started): the label volume on the GPU, its preview layer, and
//! committing a preview (a region-grow result) as an edit to a label. Undo, journal and the
//! full operation set come with the editing-engine issue.

pub mod apply_cpu;
pub mod commit;
pub mod journal;
pub mod label_volume;
pub mod morph;
pub mod ops;
pub mod session;
pub mod spans;
pub mod stats;
pub mod undo;

pub use label_volume::LabelVolume;
