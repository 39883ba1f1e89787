//! Every image reader behind `io::load_volume` (content sniffing; NIfTI-1/-2, DICOM file with
//! its pixel decoders — RLE, JPEG, JPEG-LS, JPEG 2000 — and enhanced multi-frame expansion,
//! NRRD, MetaImage): any bytes give a volume or an error, never a panic or a huge allocation.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    let p = common::as_file("image", data);
    let _ = voxmark_io::load_volume(&p, &voxmark_io::LoadOptions::default());
});
