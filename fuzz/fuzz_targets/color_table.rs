//! Label colour tables (`edit::color_table::read_color_table`): ITK-SNAP, 3D Slicer `.ctbl`,
//! FreeSurfer LUT, mricron `.nii.txt` text and binary `.lut` palettes.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The name picks the binary palette reading for `.lut` files; try both.
    for name in ["table.txt", "table.lut"] {
        let p = common::as_file(name, data);
        let _ = voxmark_io::color_table::read_color_table(&p);
    }
});
