//! Dilate / erode on the GPU (`shaders/morph.wgsl`): a mark pass (boundary voxels of the
//! source set stamp the ball of offsets into a bit mask) and an apply pass (one invocation
//! per packed texel). The CPU twin is `apply_cpu` (`dilate`/`erode` ops); results are equal.

use super::apply_cpu::{ball_offsets, EditEnv};
use super::ops::{EditOp, Editable};
use crate::error::{Error, Result};
use crate::gpu::residency::PackedU8Volume;
use crate::gpu::{compute, readback::read_u32, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};

/// Keep in sync with `shaders/morph.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct MorphParams {
    /// nx, ny, nz, mode (0 dilate, 1 erode).
    pub dims: [u32; 4],
    /// label, offset count, unused, unused.
    pub misc: [u32; 4],
    /// Dilate: the labels that may be overwritten (policy minus locked), 256 bits.
    pub source: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<MorphParams>() == 64);

/// GPU dilate/erode.
pub struct MorphKernel {
    mark: wgpu::ComputePipeline,
    apply: wgpu::ComputePipeline,
}

fn bind(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    entries: &[(u32, wgpu::BindingResource)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = entries
        .iter()
        .map(|(b, r)| wgpu::BindGroupEntry {
            binding: *b,
            resource: r.clone(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("morph"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

impl MorphKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::MORPH, "u32");
        let p = |e: &str| crate::kernels::compute_pipeline_entry(ctx, "morph", &src, e, None);
        Ok(Self {
            mark: p("mark")?,
            apply: p("apply")?,
        })
    }

    /// Runs a `dilate` or `erode` op on GPU labels; returns the voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        env: &EditEnv,
        op: &EditOp,
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        let (dilate, label, radius_mm, editable) = match op {
            EditOp::Dilate {
                label,
                radius_mm,
                editable,
            } => (true, *label, *radius_mm, *editable),
            EditOp::Erode { label, radius_mm } => (false, *label, *radius_mm, Editable::Everywhere),
            _ => return Err(Error::Invalid("morph: only dilate and erode".into())),
        };
        op.validate()?;
        env.require_unlocked(op, label)?;
        let d = labels.dims;
        let n = u64::from(d[0]) * u64::from(d[1]) * u64::from(d[2]);
        let offsets: Vec<[i32; 4]> = ball_offsets(env, radius_mm)
            .iter()
            .map(|o| [o[0] as i32, o[1] as i32, o[2] as i32, 0])
            .collect();
        let allowed = env.allowed_labels(editable);
        let source = super::label_bits(&allowed);
        let p = MorphParams {
            dims: [d[0], d[1], d[2], u32::from(!dilate)],
            misc: [u32::from(label), offsets.len() as u32, 0, 0],
            source,
        };
        let offsets = if offsets.is_empty() {
            vec![[0i32; 4]]
        } else {
            offsets
        };
        let counter = ctx.scoped("morph", || {
            let uniform = compute::uniform(ctx, "morph params", &p);
            let offs = compute::storage(
                ctx,
                "morph offsets",
                bytemuck::cast_slice(&offsets),
                wgpu::BufferUsages::empty(),
            );
            let marks = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("morph marks"),
                size: n.div_ceil(32).max(1) * 4,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let counter =
                compute::storage(ctx, "morph count", &[0u8; 4], wgpu::BufferUsages::COPY_SRC);
            let b1 = bind(
                ctx,
                &self.mark,
                &[
                    (0, uniform.as_entire_binding()),
                    (1, wgpu::BindingResource::TextureView(&labels.view)),
                    (2, offs.as_entire_binding()),
                    (3, marks.as_entire_binding()),
                ],
            );
            let b2 = bind(
                ctx,
                &self.apply,
                &[
                    (0, uniform.as_entire_binding()),
                    (3, marks.as_entire_binding()),
                    (4, wgpu::BindingResource::TextureView(&labels.view)),
                    (5, counter.as_entire_binding()),
                ],
            );
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            compute::encode_pass(
                &mut enc,
                &self.mark,
                &b1,
                "morph mark",
                compute::groups_1d(n.div_ceil(256) as u32),
            );
            let groups = [
                d[0].div_ceil(4).div_ceil(8),
                d[1].div_ceil(8),
                d[2].div_ceil(4),
            ];
            compute::encode_pass(&mut enc, &self.apply, &b2, "morph apply", groups);
            ctx.queue.submit([enc.finish()]);
            counter
        })?;
        Ok(u64::from(read_u32(ctx, &counter)?))
    }
}
