//! The smallest real compute kernel: `out = in * scale + offset` on i32, with its CPU
//! reference. Proves that shader compilation, dispatch and readback work on an adapter.

use super::{readback::read_buffer, shaders, GpuContext};
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

/// Keep in sync with `shaders/selftest.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct SelftestParams {
    pub scale: i32,
    pub offset: i32,
    pub count: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<SelftestParams>() == 16);

/// CPU reference.
pub fn selftest_cpu(params: &SelftestParams, input: &[i32]) -> Vec<i32> {
    input
        .iter()
        .map(|&x| x.wrapping_mul(params.scale).wrapping_add(params.offset))
        .collect()
}

/// GPU version.
pub fn selftest_gpu(ctx: &GpuContext, params: &SelftestParams, input: &[i32]) -> Result<Vec<i32>> {
    if input.len() != params.count as usize {
        return Err(Error::Invalid(
            "selftest: count does not match input length".into(),
        ));
    }
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let dev = &ctx.device;
    let bytes = std::mem::size_of_val(input) as u64;
    let output = ctx.scoped("selftest", || {
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("selftest.wgsl"),
            source: wgpu::ShaderSource::Wgsl(shaders::SELFTEST.into()),
        });
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("selftest"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let uniform = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("selftest params"),
            contents: bytemuck::bytes_of(params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let inbuf = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("selftest in"),
            contents: bytemuck::cast_slice(input),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let output = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("selftest out"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let bind = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("selftest"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: inbuf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: output.as_entire_binding(),
                },
            ],
        });
        let groups = params.count.div_ceil(256);
        let (gx, gy) = if groups > 65535 {
            (65535, groups.div_ceil(65535))
        } else {
            (groups, 1)
        };
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("selftest"),
        });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("selftest"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        ctx.queue.submit([enc.finish()]);
        output
    })?;
    let out = read_buffer(ctx, &output, bytes)?;
    Ok(bytemuck::cast_slice(&out).to_vec())
}
