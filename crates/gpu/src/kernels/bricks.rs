//! The 3D view's empty-space map (`shaders/bricks.wgsl`): per brick of `brick_edge()`³
//! voxels the value range and the largest label over its voxels plus one voxel beyond (the
//! trilinear and nearest footprints of samples inside it). Value ranges are built once per
//! volume, label maxima after every edit (one pass over the labels). [`brick_map_cpu`] is the
//! CPU twin; the ray caster (`raycast`) reads either.

use super::compute_pipeline_entry;
use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, VoxelData};

/// Default brick edge of the empty-space map, in voxels.
pub const BRICK: u32 = 8;

/// The brick edge in use: `VOXMARK_BRICK_EDGE` (2..=32, for tuning on a given GPU), else
/// [`BRICK`].
pub fn brick_edge() -> u32 {
    std::env::var("VOXMARK_BRICK_EDGE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|e| (2..=32).contains(e))
        .unwrap_or(BRICK)
}

/// Brick counts for `dims`.
pub fn brick_dims(dims: [usize; 3]) -> [u32; 3] {
    let e = brick_edge();
    dims.map(|d| (d as u32).div_ceil(e))
}

/// The empty-space map: per brick the value range and the largest label over its voxels
/// plus one voxel beyond (the trilinear and nearest footprints of samples inside it).
#[derive(Debug, Clone, PartialEq)]
pub struct BrickMap {
    pub dims: [u32; 3],
    /// (min, max) per brick, i fastest.
    pub range: Vec<[f32; 2]>,
    /// Largest label value per brick (0: no labels).
    pub labels: Vec<u32>,
}

fn brick_extent(b: u32, n: usize) -> std::ops::Range<usize> {
    let e = brick_edge();
    let lo = (b * e) as usize;
    lo..(lo + e as usize + 1).min(n)
}

/// CPU twin of the brick-map kernels.
pub fn brick_map_cpu(data: &VoxelData, labels: Option<&[u8]>, dims: [usize; 3]) -> BrickMap {
    let b = brick_dims(dims);
    let count = (b[0] * b[1] * b[2]) as usize;
    let mut range = vec![[f32::MAX, f32::MIN]; count];
    let mut lab = vec![0u32; count];
    for bz in 0..b[2] {
        for by in 0..b[1] {
            for bx in 0..b[0] {
                let i = (bx + b[0] * (by + b[1] * bz)) as usize;
                let (mut lo, mut hi, mut lmax) = (f32::MAX, f32::MIN, 0u32);
                for z in brick_extent(bz, dims[2]) {
                    for y in brick_extent(by, dims[1]) {
                        for x in brick_extent(bx, dims[0]) {
                            let idx = x + dims[0] * (y + dims[1] * z);
                            let v = data.get_f64(idx) as f32;
                            lo = lo.min(v);
                            hi = hi.max(v);
                            if let Some(l) = labels {
                                lmax = lmax.max(u32::from(l[idx]));
                            }
                        }
                    }
                }
                range[i] = [lo, hi];
                lab[i] = lmax;
            }
        }
    }
    BrickMap {
        dims: b,
        range,
        labels: lab,
    }
}

/// The GPU brick map: value ranges (rebuilt when the volume changes) and label maxima
/// (rebuilt after every edit: one pass over the labels).
pub struct GpuBrickMap {
    pub dims: [u32; 3],
    pub range: wgpu::Buffer,
    pub labels: wgpu::Buffer,
}

/// Keep in sync with `shaders/bricks.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct BricksParams {
    /// nx, ny, nz, brick edge.
    pub dims: [u32; 4],
    /// brick counts, unused.
    pub bricks: [u32; 4],
}

/// The brick-map kernels for one volume type.
pub struct BricksKernel {
    range: wgpu::ComputePipeline,
    labels: wgpu::ComputePipeline,
    /// Bound in the labels slot while building value ranges.
    empty_labels: PackedU8Volume,
}

impl BricksKernel {
    /// Compiles the range and label passes for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(shaders::BRICKS, wgsl_sample_type(dtype));
        Ok(Self {
            range: compute_pipeline_entry(ctx, "bricks range", &src, "range_main", None)?,
            labels: compute_pipeline_entry(ctx, "bricks labels", &src, "labels_main", None)?,
            empty_labels: PackedU8Volume::zeros(ctx, [1, 1, 1])?,
        })
    }

    /// Allocates a brick map for `volume` and fills its value ranges (labels: none).
    pub fn brick_map(&self, ctx: &GpuContext, volume: &ResidentVolume) -> Result<GpuBrickMap> {
        let dims = volume.dims.map(|d| d as usize);
        let b = brick_dims(dims);
        let count = u64::from(b[0]) * u64::from(b[1]) * u64::from(b[2]);
        let make = |label: &str, size: u64| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let map = ctx.scoped("brick map", || GpuBrickMap {
            dims: b,
            range: make("brick range", count * 8),
            labels: make("brick labels", count * 4),
        })?;
        self.run_bricks(ctx, &self.range, volume, None, &map)?;
        Ok(map)
    }

    /// Recomputes the label maxima of `map` from `labels` (after an edit).
    pub fn update_labels(
        &self,
        ctx: &GpuContext,
        volume: &ResidentVolume,
        labels: &PackedU8Volume,
        map: &GpuBrickMap,
    ) -> Result<()> {
        if labels.dims != volume.dims {
            return Err(Error::Mismatch(
                "bricks: labels and volume differ in dims".into(),
            ));
        }
        self.run_bricks(ctx, &self.labels, volume, Some(labels), map)
    }

    fn run_bricks(
        &self,
        ctx: &GpuContext,
        pipeline: &wgpu::ComputePipeline,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        map: &GpuBrickMap,
    ) -> Result<()> {
        let d = volume.dims;
        let p = BricksParams {
            dims: [d[0], d[1], d[2], brick_edge()],
            bricks: [map.dims[0], map.dims[1], map.dims[2], 0],
        };
        ctx.scoped("brick map pass", || {
            let uniform = compute::uniform(ctx, "bricks params", &p);
            let bind = compute::bind_group(
                ctx,
                pipeline,
                "bricks",
                &[
                    uniform.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&volume.view),
                    wgpu::BindingResource::TextureView(&labels.unwrap_or(&self.empty_labels).view),
                    map.range.as_entire_binding(),
                    map.labels.as_entire_binding(),
                ],
            );
            let g = [
                map.dims[0].div_ceil(4),
                map.dims[1].div_ceil(4),
                map.dims[2].div_ceil(4),
            ];
            compute::submit_pass(ctx, pipeline, &bind, "bricks", g);
        })
    }
}
