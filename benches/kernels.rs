//! Kernel benchmarks, CPU and GPU groups: whole-volume window/level and one 512×512 slice
//! render. Size from `VOXMARK_BENCH_SIZE` (default 256,256,256; the reference is
//! 512,512,512). GPU timings include submit + wait (no readback). The adapter is printed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use voxmark::gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark::gpu::GpuContext;
use voxmark::kernels::mpr::{LabelStyle, MprKernel};
use voxmark::kernels::window_level::{window_level_cpu, WindowLevelKernel, WindowLevelParams};
use voxmark::phantom::Phantom;
use voxmark::render::slice::{render_rgba_cpu, SliceOptions, SliceRenderer};
use voxmark::render::view::{ViewGeometry, ViewKind};
use voxmark::volume::WindowPreset;

fn size() -> [usize; 3] {
    std::env::var("VOXMARK_BENCH_SIZE")
        .ok()
        .and_then(|s| voxmark::cli::phantom::parse_size(&s).ok())
        .unwrap_or([256, 256, 256])
}

fn benches(c: &mut Criterion) {
    let dims = size();
    let vol = Phantom::new(dims)
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let n = vol.grid.voxel_count() as u64;
    let window = WindowPreset {
        center: 40.0,
        width: 400.0,
    };
    let p = WindowLevelParams::new(dims, window);
    let label = format!("{}x{}x{}", dims[0], dims[1], dims[2]);
    let view = ViewGeometry::new(&vol.grid, ViewKind::Axial, None, Some([512, 512]))
        .unwrap_or_else(|e| panic!("{e}"));
    let labels = vec![0u8; vol.grid.voxel_count()];
    let opts = SliceOptions {
        window,
        linear: true,
        labels: Some(LabelStyle::default()),
        crosshair: Some([10.0, 10.0, 10.0]),
    };

    let mut g = c.benchmark_group(format!("cpu {label}"));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n));
    g.bench_function("window_level volume", |b| {
        b.iter(|| window_level_cpu(&p, &vol.data))
    });
    g.throughput(Throughput::Elements(512 * 512));
    g.bench_function("slice 512x512 linear+labels", |b| {
        b.iter(|| render_rgba_cpu(&vol.data, dims, Some(&labels), &view, &opts))
    });
    g.finish();

    let Ok(ctx) = GpuContext::new() else {
        eprintln!("no GPU adapter: GPU group skipped");
        return;
    };
    let adapter = ctx.report().name;
    let rv = ResidentVolume::upload(&ctx, dims, &vol.data).unwrap_or_else(|e| panic!("{e}"));
    let rl = PackedU8Volume::upload(&ctx, dims, &labels).unwrap_or_else(|e| panic!("{e}"));
    let out = PackedU8Volume::zeros(&ctx, dims).unwrap_or_else(|e| panic!("{e}"));
    let wl = WindowLevelKernel::new(&ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let renderer = SliceRenderer::new(&ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let target = MprKernel::create_target(&ctx, [512, 512]);
    let target_view = target.create_view(&Default::default());
    let wait = |ctx: &GpuContext| {
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let mut g = c.benchmark_group(format!("gpu {label} on {adapter}"));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n));
    g.bench_function("window_level volume", |b| {
        b.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            wl.encode(&ctx, &mut enc, &p, &rv, &out)
                .unwrap_or_else(|e| panic!("{e}"));
            ctx.queue.submit([enc.finish()]);
            wait(&ctx);
        })
    });
    g.throughput(Throughput::Elements(512 * 512));
    g.bench_function("slice 512x512 linear+labels", |b| {
        b.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            renderer
                .encode(&ctx, &mut enc, &rv, Some(&rl), &view, &opts, &target_view)
                .unwrap_or_else(|e| panic!("{e}"));
            ctx.queue.submit([enc.finish()]);
            wait(&ctx);
        })
    });
    g.finish();
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);
