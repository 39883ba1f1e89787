//! Load-path benchmarks: NIfTI (.nii.gz) and DICOM series of the CT phantom.
//!
//! Size from `VOXMARK_BENCH_SIZE` (default 256,256,256; the reference is
//! 512,512,512). Prints voxels/s through criterion's throughput. Never asserts times.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::time::Duration;
use voxmark_io::{dicom_write::write_dicom_series, load_volume, nifti::write_nifti, LoadOptions};
use voxmark_volume::phantom::Phantom;

fn size() -> [usize; 3] {
    std::env::var("VOXMARK_BENCH_SIZE")
        .ok()
        .and_then(|s| voxmark::cli::phantom::parse_size(&s).ok())
        .unwrap_or([256, 256, 256])
}

fn load_benches(c: &mut Criterion) {
    let dims = size();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let vol = Phantom::new(dims)
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let gz = dir.path().join("p.nii.gz");
    let raw = dir.path().join("p.nii");
    let series = dir.path().join("series");
    write_nifti(&gz, &vol).unwrap_or_else(|e| panic!("{e}"));
    write_nifti(&raw, &vol).unwrap_or_else(|e| panic!("{e}"));
    write_dicom_series(&series, &vol, "bench").unwrap_or_else(|e| panic!("{e}"));
    drop(vol);
    let n = (dims[0] * dims[1] * dims[2]) as u64;
    let mut g = c.benchmark_group(format!("load {}x{}x{} int16", dims[0], dims[1], dims[2]));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(n));
    let load = |p: &Path| load_volume(p, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("nii.gz", |b| b.iter(|| load(&gz)));
    g.bench_function("nii", |b| b.iter(|| load(&raw)));
    g.bench_function("dicom series", |b| b.iter(|| load(&series)));
    g.finish();
}

criterion_group!(benches, load_benches);
criterion_main!(benches);
