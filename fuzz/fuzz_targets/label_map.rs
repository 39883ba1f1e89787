//! Label map readers onto a fixed image grid (`edit::label_file::read_label_map`): NIfTI and
//! NRRD masks, 3D Slicer `.seg.nrrd` (layers, extents, cropping), DICOM SEG (BINARY,
//! FRACTIONAL, LABELMAP), MetaImage — and `label_map_grid`, the grid a file defines alone.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let p = common::as_file("labels", data);
    let grid = voxmark::volume::Grid::new(
        [8, 6, 4],
        glam::DMat4::from_diagonal(glam::DVec4::new(1.0, 1.0, 2.0, 1.0)),
    );
    let _ = voxmark::edit::label_file::read_label_map(&p, &grid);
    if let Ok(g) = voxmark::edit::label_file::label_map_grid(&p, "--image") {
        // A grid small enough to read onto (the reader guards the rest).
        if g.voxel_count() <= 1 << 16 {
            let _ = voxmark::edit::label_file::read_label_map(&p, &g);
        }
    }
});
