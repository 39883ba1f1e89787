//! The editing engine (started): the label volume on the GPU, its preview layer, and
//! committing a preview (a region-grow result) as an edit to a label. Undo, journal and the
//! full operation set come with the editing-engine issue.

pub mod apply_cpu;
pub mod commit;
pub mod journal;
pub mod label_file;
pub mod label_volume;
pub mod morph;
pub mod ops;
pub mod session;
pub mod spans;
pub mod stats;
pub mod undo;

pub use label_volume::LabelVolume;

/// A 256-entry label set as the 256-bit mask the shaders read (bit `l % 32` of word `l / 32`).
pub fn label_bits(set: &[bool; 256]) -> [u32; 8] {
    let mut bits = [0u32; 8];
    for (l, &on) in set.iter().enumerate() {
        if on {
            bits[l / 32] |= 1 << (l % 32);
        }
    }
    bits
}
