//! Label map readers onto a fixed image grid (`edit::label_file::read_label_map`): NIfTI and
//! NRRD masks, 3D Slicer `.seg.nrrd` (layers, extents, cropping), DICOM SEG (BINARY,
//! FRACTIONAL, LABELMAP), MetaImage — and `read_label_map_alone`, on the grid a file defines.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let p = common::as_file("labels", data);
    let grid = voxmark_volume::Grid::new(
        [8, 6, 4],
        glam::DMat4::from_diagonal(glam::DVec4::new(1.0, 1.0, 2.0, 1.0)),
    );
    let _ = voxmark_io::label_file::read_label_map(&p, &grid);
    let _ = voxmark_io::label_file::read_label_map_alone(&p, "--image");
});
