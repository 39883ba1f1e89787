//! Kernel benchmarks, CPU and GPU groups: whole-volume window/level and one 512×512 slice
//! render. Size from `VOXMARK_BENCH_SIZE` (default 256,256,256; the reference is
//! 512,512,512). GPU timings include submit + wait (no readback). The adapter is printed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use voxmark_gpu::kernels::mpr::{LabelStyle, MprKernel};
use voxmark_gpu::kernels::region_grow::{
    region_grow_cpu, Connectivity, GrowRequest, RegionGrowParams,
};
use voxmark_gpu::kernels::region_grow_gpu::RegionGrowKernel;
use voxmark_gpu::kernels::window_level::{window_level_cpu, WindowLevelKernel, WindowLevelParams};
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_render::slice::{render_rgba_cpu, HostOverlays, Overlays, SliceOptions, SliceRenderer};
use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
use voxmark_volume::phantom::{Phantom, Tissue};
use voxmark_volume::WindowPreset;

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

    // Grow cases: a helix/aorta vessel seed ([200, 500] HU) and a soft-tissue body seed.
    let ph = Phantom::new(dims).unwrap_or_else(|e| panic!("{e}"));
    let find = |t: Tissue, lo: f64, hi: f64| -> [usize; 3] {
        ph.seed_in(&vol, t, lo, hi, dims[2] / 2)
            .unwrap_or([dims[0] / 2, dims[1] / 2, dims[2] / 2])
    };
    let grow_cases: Vec<(&str, RegionGrowParams, [usize; 3])> = [
        ("vessel", Tissue::Vessel, 200.0, 500.0),
        ("body", Tissue::Body, -200.0, 200.0),
    ]
    .into_iter()
    .map(|(name, t, lo, hi)| {
        let seed = find(t, lo, hi);
        let req = GrowRequest {
            seeds: vec![seed],
            lower: lo,
            upper: hi,
            connectivity: Connectivity::Six,
            roi: None,
            label: 1,
        };
        (
            name,
            RegionGrowParams::new(dims, vol.dtype(), &req).unwrap_or_else(|e| panic!("{e}")),
            seed,
        )
    })
    .collect();

    let mut g = c.benchmark_group(format!("cpu {label}"));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n));
    g.bench_function("window_level volume", |b| {
        b.iter(|| window_level_cpu(&p, &vol.data))
    });
    g.throughput(Throughput::Elements(512 * 512));
    g.bench_function("slice 512x512 linear+labels", |b| {
        b.iter(|| {
            render_rgba_cpu(
                &vol.data,
                dims,
                HostOverlays {
                    labels: Some(&labels),
                    preview: None,
                },
                &view,
                &opts,
            )
        })
    });
    g.throughput(Throughput::Elements(n));
    for (name, gp, seed) in &grow_cases {
        g.bench_function(format!("grow {name} 6-conn"), |b| {
            b.iter(|| region_grow_cpu(gp, &vol.data, &[*seed]))
        });
    }
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
                .encode(
                    &ctx,
                    &mut enc,
                    &rv,
                    Overlays {
                        labels: Some(&rl),
                        preview: None,
                    },
                    &view,
                    &opts,
                    &target_view,
                )
                .unwrap_or_else(|e| panic!("{e}"));
            ctx.queue.submit([enc.finish()]);
            wait(&ctx);
        })
    });
    let gk = RegionGrowKernel::new(&ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    g.throughput(Throughput::Elements(n));
    for (name, gp, seed) in &grow_cases {
        g.bench_function(format!("grow {name} 6-conn"), |b| {
            b.iter(|| {
                gk.run(&ctx, gp, &[*seed], &rv, None)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    g.finish();
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);
