//! Algorithms, each as a `XxxParams` struct shared by a CPU reference `xxx_cpu` and a GPU
//! kernel `XxxKernel` (`shaders/xxx.wgsl`). Tests compare the two. Mostly one module per
//! algorithm; the region grow spans three: `region_grow` (params, CPU twin, ITK's
//! confidence range), `region_grow_gpu` (`RegionGrowKernel`: union-find labelling, its
//! slab runs) and `slabs` (the slab plan and the cross-slab union-find on the CPU);
//! `islands` reuses `RegionGrowKernel`, and `brick_undo` drives three shaders (diff,
//! gather, swap).
//! Calling style: kernels that write a texture or a buffer record into a caller's encoder
//! (`encode`); `run` is encode + submit + read back the result where a caller needs one.
//! Kernels whose work needs host round trips between passes (region growing across slabs,
//! islands, statistics, histogram) expose `run` only.

pub mod brick_undo;
pub mod bricks;
pub mod commit_mask;
pub mod fill_holes;
pub mod grow_cut;
pub mod histogram;
pub mod interpolate;
pub mod islands;
pub mod label_stats;
pub mod logical;
pub mod morphology;
pub mod mpr;
pub mod raycast;
pub mod region_grow;
pub mod region_grow_gpu;
pub mod slabs;
pub mod smooth;
pub mod span_write;
pub mod transfer;
pub mod window_level;

use crate::GpuContext;
use voxmark_volume::error::Result;

/// Compiles a compute pipeline from prepared WGSL, turning validation errors into `Error::Gpu`.
pub(crate) fn compute_pipeline(
    ctx: &GpuContext,
    label: &str,
    wgsl: &str,
) -> Result<wgpu::ComputePipeline> {
    compute_pipeline_entry(ctx, label, wgsl, "main", None)
}

/// Like [`compute_pipeline`] for a named entry point and an optional explicit layout.
pub(crate) fn compute_pipeline_entry(
    ctx: &GpuContext,
    label: &str,
    wgsl: &str,
    entry: &str,
    layout: Option<&wgpu::PipelineLayout>,
) -> Result<wgpu::ComputePipeline> {
    ctx.scoped(label, || {
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(wgsl.into()),
            });
        ctx.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
    })
}

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
