//! Logical operations on a label (Slicer's Logical operators effect) in a label map, where a
//! voxel holds one label: `label` L is changed using a modifier set M — the voxels of label
//! `other` in the current map, or the voxels of label `other` in a second label map on the
//! same grid (another annotator's mask, a model's prediction, a body mask).
//!
//! Per voxel, with c its current label and m whether it is in M:
//!
//! | operation | becomes L | L cleared to 0 |
//! |---|---|---|
//! | `union` | m, c ≠ L, c writable | — |
//! | `intersect` | — | c = L, not m |
//! | `subtract` | — | c = L, m |
//! | `copy` | m, c ≠ L, c writable | c = L, not m |
//! | `invert` | not m is ignored: c ≠ L, c writable | c = L |
//!
//! "Writable" is the editable policy without locked labels ([`LogicalParams::writable`]);
//! clearing L needs only L unlocked (the op refuses a locked L). With a `range`, a voxel
//! changes (either way) only when its image value lies in it. Within one map, `union` moves
//! the other label's voxels into L (a voxel cannot hold both), `intersect` clears L (two labels
//! of one map never overlap) and `subtract` changes nothing: those two are for a second map.
//!
//! GPU: `shaders/logical.wgsl` ([`LogicalKernel`], one invocation per packed texel, so no two
//! invocations touch the same texel); CPU twin: [`logical_cpu`]. Same params struct.

use super::span_write::range_f32;
use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, Volume};

/// The operation (codes as in `shaders/logical.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalOperation {
    Union = 0,
    Intersect = 1,
    Subtract = 2,
    Invert = 3,
    Copy = 4,
}

/// Keep in sync with `shaders/logical.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct LogicalParams {
    /// nx, ny, nz, label L.
    pub dims: [u32; 4],
    /// operation code, other label, 1 when the modifier set comes from a second map, 1 when
    /// `range` applies.
    pub head: [u32; 4],
    /// range lo, hi (f32 bounds from [`range_f32`]), unused, unused.
    pub range: [f32; 4],
    /// 256-bit set of current labels that may become L.
    pub writable: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<LogicalParams>() == 80);

impl LogicalParams {
    /// Params for `label` changed by `operation` with the voxels of `other` (in a second map
    /// when `second_map`), writing only over `writable` labels, within `range` (real units).
    pub fn new(
        image: &Volume,
        operation: LogicalOperation,
        label: u8,
        other: u8,
        second_map: bool,
        writable: &[bool; 256],
        range: Option<[f64; 2]>,
    ) -> Self {
        let d = image.grid.dims;
        let r = range
            .map(|r| range_f32(image.dtype(), r))
            .unwrap_or([0.0, 0.0]);
        Self {
            dims: [d[0] as u32, d[1] as u32, d[2] as u32, u32::from(label)],
            head: [
                operation as u32,
                u32::from(other),
                u32::from(second_map),
                u32::from(range.is_some()),
            ],
            range: [r[0], r[1], 0.0, 0.0],
            writable: super::label_bits(writable),
        }
    }

    /// `label` gains the voxels where a second map holds `other`, over `writable` labels
    /// (no range): how a preview is laid over the labels for the 3D view.
    pub fn union_from_map(dims: [u32; 3], label: u8, other: u8, writable: &[bool; 256]) -> Self {
        Self {
            dims: [dims[0], dims[1], dims[2], u32::from(label)],
            head: [LogicalOperation::Union as u32, u32::from(other), 1, 0],
            range: [0.0; 4],
            writable: super::label_bits(writable),
        }
    }

    /// `label` cleared everywhere (`subtract` with itself in the same map; no range).
    pub fn clear_label(dims: [u32; 3], label: u8) -> Self {
        Self {
            dims: [dims[0], dims[1], dims[2], u32::from(label)],
            head: [LogicalOperation::Subtract as u32, u32::from(label), 0, 0],
            range: [0.0; 4],
            writable: [0; 8],
        }
    }

    fn writable(&self, l: u8) -> bool {
        self.writable[usize::from(l) / 32] & (1 << (l % 32)) != 0
    }

    /// The new label of a voxel labelled `cur` whose membership of the modifier set is `m`
    /// (the table in the module docs; the range is checked by the caller).
    pub fn decide(&self, cur: u8, m: bool) -> u8 {
        let l = self.dims[3] as u8;
        let op = self.head[0];
        let fill = cur != l
            && self.writable(cur)
            && match op {
                0 | 4 => m,
                3 => true,
                _ => false,
            };
        let clear = cur == l
            && match op {
                1 | 4 => !m,
                2 => m,
                3 => true,
                _ => false,
            };
        if fill {
            l
        } else if clear {
            0
        } else {
            cur
        }
    }
}

/// CPU twin: applies the op to `labels` (the modifier set from `other_map` when given, else
/// from `labels` themselves); returns the voxels changed.
pub fn logical_cpu(
    p: &LogicalParams,
    image: &Volume,
    other_map: Option<&[u8]>,
    labels: &mut [u8],
) -> u64 {
    let other = p.head[1] as u8;
    let range = (p.head[3] != 0).then_some([p.range[0], p.range[1]]);
    let mut changed = 0;
    for (i, lab) in labels.iter_mut().enumerate() {
        let cur = *lab;
        let m = match other_map {
            Some(o) => o[i] == other,
            None => cur == other,
        };
        let new = p.decide(cur, m);
        if new == cur {
            continue;
        }
        if let Some([lo, hi]) = range {
            let v = image.data.get_f64(i) as f32;
            if !(v >= lo && v <= hi) {
                continue;
            }
        }
        *lab = new;
        changed += 1;
    }
    changed
}

/// GPU logical operation.
pub struct LogicalKernel {
    pipeline: wgpu::ComputePipeline,
    dtype: DType,
}

impl LogicalKernel {
    /// Compiles the kernel for images of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(shaders::LOGICAL, wgsl_sample_type(dtype));
        Ok(Self {
            pipeline: crate::kernels::compute_pipeline(ctx, "logical", &src)?,
            dtype,
        })
    }

    /// Applies the op to the GPU labels (the modifier set from `other_map` when given);
    /// returns the voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        p: &LogicalParams,
        other_map: Option<&PackedU8Volume>,
        image: &ResidentVolume,
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        let d = labels.dims;
        if image.dtype != self.dtype
            || image.dims != d
            || [p.dims[0], p.dims[1], p.dims[2]] != d
            || other_map.is_some_and(|o| o.dims != d)
            || other_map.is_some() != (p.head[2] != 0)
        {
            return Err(Error::Mismatch(
                "logical: image, labels, second map or params do not match".into(),
            ));
        }
        // Without a second map the shader reads nothing from this one-texel stand-in.
        let stand_in;
        let other = match other_map {
            Some(o) => o,
            None => {
                stand_in = PackedU8Volume::zeros(ctx, [1, 1, 1])?;
                &stand_in
            }
        };
        submit_counted(ctx, |enc| {
            ctx.scoped("logical", || {
                let uniform = compute::uniform(ctx, "logical params", p);
                let counter = compute::storage(
                    ctx,
                    "logical count",
                    &[0u8; 4],
                    wgpu::BufferUsages::COPY_SRC,
                );
                let bind = compute::bind_group(
                    ctx,
                    &self.pipeline,
                    "logical",
                    &[
                        uniform.as_entire_binding(),
                        wgpu::BindingResource::TextureView(&image.view),
                        wgpu::BindingResource::TextureView(&other.view),
                        wgpu::BindingResource::TextureView(&labels.view),
                        counter.as_entire_binding(),
                    ],
                );
                compute::encode_pass(
                    enc,
                    &self.pipeline,
                    &bind,
                    "logical",
                    [
                        d[0].div_ceil(4).div_ceil(8),
                        d[1].div_ceil(8),
                        d[2].div_ceil(4),
                    ],
                );
                Some(counter)
            })
        })
    }
}
