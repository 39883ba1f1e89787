//! Offscreen frames for the CLI and tests: record a render into a fresh `rgba8unorm`
//! storage texture, copy it out and return tightly packed RGBA rows. The interactive path
//! never does this; it shows the texture itself.

use voxmark_gpu::kernels::mpr::MprKernel;
use voxmark_gpu::readback::read_buffer;
use voxmark_gpu::GpuContext;
use voxmark_volume::error::Result;

/// Runs `record` against a new target of `size` and reads the pixels back.
pub fn render_offscreen(
    ctx: &GpuContext,
    size: [u32; 2],
    what: &str,
    record: impl FnOnce(&mut wgpu::CommandEncoder, &wgpu::TextureView) -> Result<()>,
) -> Result<Vec<u8>> {
    let texture = MprKernel::create_target(ctx, size);
    let target = texture.create_view(&Default::default());
    ctx.scoped(what, || -> Result<()> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        record(&mut enc, &target)?;
        ctx.queue.submit([enc.finish()]);
        Ok(())
    })??;
    read_texture(ctx, &texture, size)
}

/// Copies an RGBA8 texture (COPY_SRC) of `size` back to the host, rows packed.
pub fn read_texture(ctx: &GpuContext, texture: &wgpu::Texture, size: [u32; 2]) -> Result<Vec<u8>> {
    let [w, h] = size;
    let padded = (w as usize * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize);
    let bytes = (padded * h as usize) as u64;
    let buf = ctx.scoped("texture readback", || {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame readback"),
            size: bytes,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        enc.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buf,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded as u32),
                    rows_per_image: Some(h),
                },
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        ctx.queue.submit([enc.finish()]);
        buf
    })?;
    let raw = read_buffer(ctx, &buf, bytes)?;
    let mut out = Vec::with_capacity(w as usize * h as usize * 4);
    for row in raw.chunks(padded).take(h as usize) {
        out.extend_from_slice(&row[..w as usize * 4]);
    }
    Ok(out)
}
