//! Commit a mask to the label volume: `label := value` where the mask is set and the current
//! label is not locked. GPU kernel (one invocation per packed texel, so no write races) and
//! its CPU twin.

use crate::residency::PackedU8Volume;
use crate::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

/// Keep in sync with `shaders/commit_mask.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct CommitMaskParams {
    /// texel width, ny, nz, label value.
    pub dims: [u32; 4],
    /// 256-bit set of locked label values.
    pub locked: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<CommitMaskParams>() == 48);

impl CommitMaskParams {
    /// Params for volumes of `dims`.
    pub fn new(dims: [u32; 3], value: u8, locked: &[bool; 256]) -> Self {
        let bits = super::label_bits(locked);
        Self {
            dims: [dims[0].div_ceil(4), dims[1], dims[2], u32::from(value)],
            locked: bits,
        }
    }

    fn is_locked(&self, l: u8) -> bool {
        self.locked[usize::from(l) / 32] & (1 << (l % 32)) != 0
    }
}

/// CPU twin: applies the commit to u8 labels; returns how many voxels changed.
pub fn commit_mask_cpu(p: &CommitMaskParams, mask: &[u8], labels: &mut [u8]) -> u64 {
    let value = p.dims[3] as u8;
    let mut n = 0;
    for (l, &m) in labels.iter_mut().zip(mask) {
        if m != 0 && *l != value && !p.is_locked(*l) {
            *l = value;
            n += 1;
        }
    }
    n
}

/// GPU commit kernel.
pub struct CommitMaskKernel {
    pipeline: wgpu::ComputePipeline,
}

impl CommitMaskKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::COMMIT_MASK, "u32");
        Ok(Self {
            pipeline: crate::kernels::compute_pipeline_entry(
                ctx,
                "commit_mask",
                &src,
                "main",
                None,
            )?,
        })
    }

    /// Applies `mask` to `labels` and returns the number of voxels changed ([`Self::encode`],
    /// submitted, and the count read back).
    pub fn run(
        &self,
        ctx: &GpuContext,
        p: &CommitMaskParams,
        mask: &PackedU8Volume,
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        submit_counted(ctx, |enc| self.encode(ctx, enc, p, mask, labels).map(Some))
    }

    /// Records the commit into `enc`; returns the buffer that will hold the number of voxels
    /// changed (one u32, COPY_SRC).
    pub fn encode(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &CommitMaskParams,
        mask: &PackedU8Volume,
        labels: &PackedU8Volume,
    ) -> Result<wgpu::Buffer> {
        if mask.dims != labels.dims {
            return Err(Error::Mismatch(
                "commit: mask and labels differ in dims".into(),
            ));
        }
        ctx.scoped("commit_mask", || {
            let uniform = compute::uniform(ctx, "commit params", p);
            let counter =
                compute::storage(ctx, "commit count", &[0u8; 4], wgpu::BufferUsages::COPY_SRC);
            let bind = compute::bind_group(
                ctx,
                &self.pipeline,
                "commit_mask",
                &[
                    uniform.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&mask.view),
                    wgpu::BindingResource::TextureView(&labels.view),
                    counter.as_entire_binding(),
                ],
            );
            let groups = [
                p.dims[0].div_ceil(8),
                p.dims[1].div_ceil(8),
                p.dims[2].div_ceil(4),
            ];
            compute::encode_pass(enc, &self.pipeline, &bind, "commit_mask", groups);
            counter
        })
    }
}
