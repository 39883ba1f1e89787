//! Per-label statistics: voxel count, volume (mL), intensity mean/σ (sample, n − 1)/min/max,
//! bounding box. `label_stats_cpu` is the CPU reference; `LabelStatsKernel` computes the same on
//! the GPU from the resident image and labels for 8- and 16-bit volumes, with exact integer
//! sums (see shaders/label_stats.wgsl); other types use the CPU path.

use crate::readback::read_buffer;
use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;
use serde::Serialize;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, Grid, Volume};

/// Statistics of one label value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelStats {
    pub label: u8,
    pub voxels: u64,
    pub volume_ml: f64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Inclusive voxel box [i0, j0, k0, i1, j1, k1].
    pub bbox: [usize; 6],
}

#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    sum: f64,
    sq: f64,
    min: f64,
    max: f64,
    lo: [usize; 3],
    hi: [usize; 3],
}

impl Acc {
    const EMPTY: Acc = Acc {
        n: 0,
        sum: 0.0,
        sq: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        lo: [usize::MAX; 3],
        hi: [0; 3],
    };
    fn merge(mut self, o: &Acc) -> Acc {
        self.n += o.n;
        self.sum += o.sum;
        self.sq += o.sq;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        for a in 0..3 {
            self.lo[a] = self.lo[a].min(o.lo[a]);
            self.hi[a] = self.hi[a].max(o.hi[a]);
        }
        self
    }
}

/// Statistics of every non-zero label present (sorted by label).
pub fn label_stats_cpu(image: &Volume, labels: &[u8]) -> Vec<LabelStats> {
    let d = image.grid.dims;
    let plane = d[0] * d[1];
    let accs = (0..d[2])
        .into_par_iter()
        .map(|z| {
            let mut acc = vec![Acc::EMPTY; 256];
            for y in 0..d[1] {
                for x in 0..d[0] {
                    let i = x + d[0] * y + plane * z;
                    let l = labels[i];
                    if l == 0 {
                        continue;
                    }
                    let v = image.data.get_f64(i);
                    let a = &mut acc[usize::from(l)];
                    a.n += 1;
                    a.sum += v;
                    a.sq += v * v;
                    a.min = a.min.min(v);
                    a.max = a.max.max(v);
                    for (ax, c) in [x, y, z].into_iter().enumerate() {
                        a.lo[ax] = a.lo[ax].min(c);
                        a.hi[ax] = a.hi[ax].max(c);
                    }
                }
            }
            acc
        })
        .reduce(
            || vec![Acc::EMPTY; 256],
            |a, b| a.iter().zip(&b).map(|(x, y)| x.merge(y)).collect(),
        );
    let voxel_ml = voxel_ml(&image.grid);
    accs.iter()
        .enumerate()
        .filter(|(_, a)| a.n > 0)
        .map(|(l, a)| {
            let n = a.n as f64;
            let mean = a.sum / n;
            let var = if a.n > 1 {
                ((a.sq - a.sum * a.sum / n) / (n - 1.0)).max(0.0)
            } else {
                0.0
            };
            LabelStats {
                label: l as u8,
                voxels: a.n,
                volume_ml: n * voxel_ml,
                mean,
                std: var.sqrt(),
                min: a.min,
                max: a.max,
                bbox: [a.lo[0], a.lo[1], a.lo[2], a.hi[0], a.hi[1], a.hi[2]],
            }
        })
        .collect()
}

/// Volume of one voxel in mL (|det| of the affine's linear part, so sheared grids count
/// right).
fn voxel_ml(g: &Grid) -> f64 {
    g.linear().determinant().abs() / 1000.0
}

/// Keep in sync with `shaders/label_stats.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LabelStatsParams {
    /// nx, ny, nz, texel width.
    pub dims: [u32; 4],
    /// Value offset (the type's minimum), unused ×3.
    pub offset: [i32; 4],
}
const _: () = assert!(std::mem::size_of::<LabelStatsParams>() == 32);

const FIELDS: usize = 13;

/// The offset that makes every value of `dtype` a non-negative 16-bit number, if any.
fn offset_for(dtype: DType) -> Option<i32> {
    match dtype {
        DType::U8 | DType::U16 => Some(0),
        DType::I8 => Some(-128),
        DType::I16 => Some(-32768),
        DType::I32 | DType::F32 => None,
    }
}

/// GPU per-label statistics for one volume type.
pub struct LabelStatsKernel {
    pipeline: wgpu::ComputePipeline,
    dtype: DType,
    offset: i32,
}

impl LabelStatsKernel {
    /// True when the GPU kernel handles `dtype` (8- and 16-bit integers).
    pub fn supports(dtype: DType) -> bool {
        offset_for(dtype).is_some()
    }

    /// Compiles the kernel; errors for 32-bit volumes (use `label_stats_cpu`).
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let offset = offset_for(dtype).ok_or_else(|| {
            Error::Invalid(format!(
                "GPU label statistics need an 8- or 16-bit volume, not {}",
                dtype.name()
            ))
        })?;
        let src = shaders::prepare(shaders::LABEL_STATS, wgsl_sample_type(dtype));
        Ok(Self {
            pipeline: crate::kernels::compute_pipeline(ctx, "label_stats", &src)?,
            dtype,
            offset,
        })
    }

    /// Statistics of every non-zero label of `labels` over `image` (sorted by label).
    pub fn run(
        &self,
        ctx: &GpuContext,
        grid: &Grid,
        image: &ResidentVolume,
        labels: &PackedU8Volume,
    ) -> Result<Vec<LabelStats>> {
        if image.dtype != self.dtype || image.dims != labels.dims {
            return Err(Error::Invalid(
                "label_stats: image type or dims do not match".into(),
            ));
        }
        let d = labels.dims;
        let tw = PackedU8Volume::texel_width(d[0]);
        let p = LabelStatsParams {
            dims: [d[0], d[1], d[2], tw],
            offset: [self.offset, 0, 0, 0],
        };
        let mut init = vec![0u32; 256 * FIELDS];
        for l in 0..256 {
            for f in [5, 7, 8, 9] {
                init[l * FIELDS + f] = u32::MAX;
            }
        }
        let size = (init.len() * 4) as u64;
        let acc = ctx.scoped("label_stats", || {
            let uniform = compute::uniform(ctx, "label_stats params", &p);
            let acc = compute::storage(
                ctx,
                "label_stats acc",
                bytemuck::cast_slice(&init),
                wgpu::BufferUsages::COPY_SRC,
            );
            let bind = compute::bind_group(
                ctx,
                &self.pipeline,
                "label_stats",
                &[
                    uniform.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&image.view),
                    wgpu::BindingResource::TextureView(&labels.view),
                    acc.as_entire_binding(),
                ],
            );
            let groups = [tw.div_ceil(4), d[1].div_ceil(4), d[2].div_ceil(4)];
            compute::submit_pass(ctx, &self.pipeline, &bind, "label_stats", groups);
            acc
        })?;
        let raw = read_buffer(ctx, &acc, size)?;
        let v: &[u32] = bytemuck::cast_slice(&raw);
        let voxel_ml = voxel_ml(grid);
        let off = f64::from(self.offset);
        Ok((1..256usize)
            .filter(|&l| v[l * FIELDS] > 0)
            .map(|l| {
                let f = &v[l * FIELDS..(l + 1) * FIELDS];
                let n = u128::from(f[0]);
                let s = u128::from(f[1]) | (u128::from(f[2]) << 32);
                let q = u128::from(f[3]) | (u128::from(f[4]) << 32);
                // Exact: n·Σd² − (Σd)² = n(n − 1)·σ²; one rounding.
                let var = if n > 1 {
                    (n * q - s * s) as f64 / (n * (n - 1)) as f64
                } else {
                    0.0
                };
                LabelStats {
                    label: l as u8,
                    voxels: u64::from(f[0]),
                    volume_ml: f64::from(f[0]) * voxel_ml,
                    mean: off + s as f64 / n as f64,
                    std: var.sqrt(),
                    min: off + f64::from(f[5]),
                    max: off + f64::from(f[6]),
                    bbox: [f[7], f[8], f[9], f[10], f[11], f[12]].map(|x| x as usize),
                }
            })
            .collect())
    }
}
