//! Commit a mask to the label volume: `label := value` where the mask is set and the current
//! label is not locked. GPU kernel (one invocation per packed texel, so no write races) and
//! its CPU twin.

use crate::error::{Error, Result};
use crate::gpu::residency::PackedU8Volume;
use crate::gpu::{readback::read_buffer, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

/// Keep in sync with `shaders/commit_mask.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct CommitParams {
    /// texel width, ny, nz, label value.
    pub dims: [u32; 4],
    /// 256-bit set of locked label values.
    pub locked: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<CommitParams>() == 48);

impl CommitParams {
    /// Params for volumes of `dims`.
    pub fn new(dims: [u32; 3], value: u8, locked: &[bool; 256]) -> Self {
        let mut bits = [0u32; 8];
        for (l, &on) in locked.iter().enumerate() {
            if on {
                bits[l / 32] |= 1 << (l % 32);
            }
        }
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
pub fn commit_mask_cpu(p: &CommitParams, mask: &[u8], labels: &mut [u8]) -> u64 {
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
pub struct CommitKernel {
    pipeline: wgpu::ComputePipeline,
}

impl CommitKernel {
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

    /// Applies `mask` to `labels` and returns the number of voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        p: &CommitParams,
        mask: &PackedU8Volume,
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        if mask.dims != labels.dims {
            return Err(Error::Invalid(
                "commit: mask and labels differ in dims".into(),
            ));
        }
        let counter = ctx.scoped("commit_mask", || {
            let uniform = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("commit params"),
                    contents: bytemuck::bytes_of(p),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let counter = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("commit count"),
                    contents: &[0u8; 4],
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                });
            let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("commit_mask"),
                layout: &self.pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: uniform.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(&mask.view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::TextureView(&labels.view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: counter.as_entire_binding(),
                    },
                ],
            });
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("commit_mask"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(
                    p.dims[0].div_ceil(8),
                    p.dims[1].div_ceil(8),
                    p.dims[2].div_ceil(4),
                );
            }
            ctx.queue.submit([enc.finish()]);
            counter
        })?;
        let b = read_buffer(ctx, &counter, 4)?;
        Ok(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }
}
