//! Small helpers every compute kernel uses: parameter buffers, bind groups with bindings
//! numbered in order, and one-dispatch passes (with the 2-D fallback past 65,535 groups).

use super::GpuContext;
use bytemuck::Pod;
use wgpu::util::DeviceExt;

/// A uniform buffer holding `value`.
pub fn uniform<T: Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM,
        })
}

/// A storage buffer initialised with `bytes` (plus `extra` usages, e.g. COPY_SRC).
pub fn storage(
    ctx: &GpuContext,
    label: &str,
    bytes: &[u8],
    extra: wgpu::BufferUsages,
) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE | extra,
        })
}

/// A bind group for group 0 of `pipeline` with `resources` at bindings 0, 1, 2, ...
pub fn bind_group(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    label: &str,
    resources: &[wgpu::BindingResource],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: r.clone(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// Workgroup counts for `groups` 1-D groups: (x, y) with x ≤ 65,535 (shaders index with
/// `gid.x + gid.y * num_workgroups.x * workgroup_size`).
pub fn groups_1d(groups: u32) -> [u32; 3] {
    if groups > 65_535 {
        [65_535, groups.div_ceil(65_535), 1]
    } else {
        [groups.max(1), 1, 1]
    }
}

/// Records one compute pass with one dispatch.
pub fn encode_pass(
    encoder: &mut wgpu::CommandEncoder,
    pipeline: &wgpu::ComputePipeline,
    bind: &wgpu::BindGroup,
    label: &str,
    groups: [u32; 3],
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some(label),
        timestamp_writes: None,
    });
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, bind, &[]);
    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
}

/// Records and submits one dispatch.
pub fn submit_pass(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    bind: &wgpu::BindGroup,
    label: &str,
    groups: [u32; 3],
) {
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
    encode_pass(&mut enc, pipeline, bind, label, groups);
    ctx.queue.submit([enc.finish()]);
}

/// Runs ping-pong passes of `pipeline` (`binds[0]`: A → B, `binds[1]`: B → A) in batches of
/// `batch` (even: the result lands back in A) until a batch leaves `counter` (one u32 the
/// shader adds to for every change) at zero; returns the passes run. For block-local
/// fixed-point kernels (grow from seeds, fill holes).
pub fn ping_pong_until_stable(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    binds: &[wgpu::BindGroup],
    groups: [u32; 3],
    counter: &wgpu::Buffer,
    batch: usize,
) -> voxmark_volume::error::Result<usize> {
    let mut passes = 0;
    loop {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.clear_buffer(counter, 0, None);
        for b in 0..batch {
            encode_pass(&mut enc, pipeline, &binds[b % 2], "ping-pong pass", groups);
        }
        ctx.queue.submit([enc.finish()]);
        passes += batch;
        if super::readback::read_u32(ctx, counter)? == 0 {
            return Ok(passes);
        }
    }
}
