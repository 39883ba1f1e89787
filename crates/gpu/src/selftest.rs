//! The smallest real compute kernel: `out = in * scale + offset` on i32, with its CPU
//! reference. Proves that shader compilation, dispatch and readback work on an adapter.

use super::{compute, readback::read_buffer, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

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
        let uniform = compute::uniform(ctx, "selftest params", params);
        let inbuf = compute::storage(
            ctx,
            "selftest in",
            bytemuck::cast_slice(input),
            wgpu::BufferUsages::empty(),
        );
        let output = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("selftest out"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let bind = compute::bind_group(
            ctx,
            &pipeline,
            "selftest",
            &[
                uniform.as_entire_binding(),
                inbuf.as_entire_binding(),
                output.as_entire_binding(),
            ],
        );
        compute::submit_pass(
            ctx,
            &pipeline,
            &bind,
            "selftest",
            compute::groups_1d(params.count.div_ceil(256)),
        );
        output
    })?;
    let out = read_buffer(ctx, &output, bytes)?;
    Ok(bytemuck::cast_slice(&out).to_vec())
}
