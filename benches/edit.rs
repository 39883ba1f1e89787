//! Editing-engine benchmarks on a 512³ label volume (size from VOXMARK_BENCH_SIZE):
//! one brush stamp and a 20-stamp stroke at r = 10 and 30 voxels (1 mm voxels), undo
//! bytes per op, and journal append latency (write + fsync).

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use voxmark_edit::journal::Journal;
use voxmark_edit::ops::{EditOp, Editable, Shape, Stroke};
use voxmark_edit::session::Session;
use voxmark_edit::{apply_op_cpu, EditEnv};
use voxmark_volume::{Grid, Metadata, Volume, VoxelData};

fn size() -> [usize; 3] {
    std::env::var("VOXMARK_BENCH_SIZE")
        .ok()
        .and_then(|s| voxmark::cli::phantom::parse_size(&s).ok())
        .unwrap_or([512, 512, 512])
}

fn stroke(n: usize, r: f64, c: [f64; 3]) -> EditOp {
    let points = (0..n)
        .map(|k| [c[0] + 3.0 * k as f64, c[1], c[2]])
        .collect();
    EditOp::Paint(Stroke {
        shape: Shape::Sphere,
        plane: None,
        slice: None,
        points,
        radius_mm: r,
        label: 1,
        range: None,
        editable: Editable::Everywhere,
    })
}

fn benches(c: &mut Criterion) {
    let dims = size();
    let n = dims[0] * dims[1] * dims[2];
    let img = Volume::new(
        Grid::new(dims, glam::DMat4::IDENTITY),
        VoxelData::I16(vec![0; n]),
        Metadata::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let env = EditEnv {
        image: &img,
        locked: [false; 256],
    };
    let mut labels = vec![0u8; n];
    let centre = [
        dims[0] as f64 / 2.0 - 30.0,
        dims[1] as f64 / 2.0,
        dims[2] as f64 / 2.0,
    ];
    let mut g = c.benchmark_group(format!("edit cpu {}x{}x{}", dims[0], dims[1], dims[2]));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for r in [10.0, 30.0] {
        for stamps in [1usize, 20] {
            let op = stroke(stamps, r, centre);
            g.bench_function(format!("paint r={r} stamps={stamps}"), |b| {
                b.iter(|| apply_op_cpu(&env, &mut labels, &op).unwrap_or_else(|e| panic!("{e}")))
            });
        }
    }
    // A curved stroke (quarter circle of radius 60 voxels): no collinear shortcut.
    for r in [10.0, 30.0] {
        let points: Vec<[f64; 3]> = (0..20)
            .map(|k| {
                let t = k as f64 / 19.0 * std::f64::consts::FRAC_PI_2;
                [
                    centre[0] + 60.0 * t.cos(),
                    centre[1] + 60.0 * t.sin(),
                    centre[2],
                ]
            })
            .collect();
        let op = EditOp::Paint(Stroke {
            shape: Shape::Sphere,
            plane: None,
            slice: None,
            points,
            radius_mm: r,
            label: 2,
            range: None,
            editable: Editable::Everywhere,
        });
        g.bench_function(format!("paint r={r} curved stroke of 20 points"), |b| {
            b.iter(|| apply_op_cpu(&env, &mut labels, &op).unwrap_or_else(|e| panic!("{e}")))
        });
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (mut journal, _) =
        Journal::open(&dir.path().join("bench.jsonl"), "bench").unwrap_or_else(|e| panic!("{e}"));
    let op = stroke(20, 10.0, centre);
    g.bench_function("journal append (write + fsync)", |b| {
        b.iter(|| {
            journal
                .append(&op, "bench", "bench")
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.finish();
    // GPU: the same strokes as span writes (CPU rasterisation + GPU write + count readback).
    if let Ok(ctx) = voxmark_gpu::GpuContext::new() {
        use voxmark_edit::lower;
        use voxmark_gpu::kernels::span_write::SpanWriteKernel;
        use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
        let rv = ResidentVolume::upload(&ctx, dims, &img.data).unwrap_or_else(|e| panic!("{e}"));
        let gl = PackedU8Volume::zeros(&ctx, dims).unwrap_or_else(|e| panic!("{e}"));
        let k = SpanWriteKernel::new(&ctx, img.dtype()).unwrap_or_else(|e| panic!("{e}"));
        let mut g = c.benchmark_group(format!(
            "edit gpu {}x{}x{} on {}",
            dims[0],
            dims[1],
            dims[2],
            ctx.report().name
        ));
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        for r in [10.0, 30.0] {
            for stamps in [1usize, 20] {
                let op = stroke(stamps, r, centre);
                g.bench_function(format!("paint r={r} stamps={stamps}"), |b| {
                    b.iter(|| {
                        let w = lower(&env, &op)
                            .unwrap_or_else(|e| panic!("{e}"))
                            .into_spans()
                            .unwrap_or_else(|| panic!("span op"));
                        k.run(&ctx, &w, &rv, &gl).unwrap_or_else(|e| panic!("{e}"))
                    })
                });
            }
        }
        g.finish();
    }
    // Undo bytes per op against changed voxels (printed, not timed).
    let mut s = Session::new(&img, vec![0u8; n]).unwrap_or_else(|e| panic!("{e}"));
    for (r, stamps) in [(10.0, 1), (10.0, 20), (30.0, 1), (30.0, 20)] {
        let rep = s
            .apply_unjournaled(&stroke(
                stamps,
                r,
                [centre[0], centre[1] + 3.0 * r, centre[2]],
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        println!(
            "undo: r={r} stamps={stamps}: {} voxels changed, {} undo bytes ({:.3} bytes/voxel)",
            rep.changed_voxels,
            rep.undo_bytes,
            rep.undo_bytes as f64 / rep.changed_voxels.max(1) as f64
        );
    }
}

criterion_group!(edit_benches, benches);
criterion_main!(edit_benches);
