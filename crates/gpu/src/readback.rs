//! Copying GPU buffers back to the host (tests, CLI output; never the interactive path).

use super::GpuContext;
use voxmark_volume::error::{Error, Result};

/// Reads `size` bytes from `src` (which needs `COPY_SRC` usage) into a Vec.
pub fn read_buffer(ctx: &GpuContext, src: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
    read_buffer_range(ctx, src, 0, size)
}

/// Reads `size` bytes starting at byte `offset` of `src` (both multiples of 4).
pub fn read_buffer_range(
    ctx: &GpuContext,
    src: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>> {
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback staging"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    enc.copy_buffer_to_buffer(src, offset, &staging, 0, size);
    ctx.queue.submit([enc.finish()]);
    map_read(ctx, &staging)
}

/// Maps a `MAP_READ` buffer whose copies have been submitted, and returns its contents.
pub fn map_read(ctx: &GpuContext, staging: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.wait("read-back")?;
    rx.recv()
        .map_err(|e| Error::Gpu(format!("map callback dropped: {e}")))?
        .map_err(|e| Error::Gpu(format!("map: {e}")))?;
    let bytes = staging
        .slice(..)
        .get_mapped_range()
        .map_err(|e| Error::Gpu(format!("mapped range: {e}")))?
        .to_vec();
    staging.unmap();
    Ok(bytes)
}

/// Reads the first u32 of `src` (a counter).
pub fn read_u32(ctx: &GpuContext, src: &wgpu::Buffer) -> Result<u32> {
    let b = read_buffer(ctx, src, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `run` of every kernel that counts what it changed: records the work with `encode`
/// into a fresh encoder, submits it and reads back the one-u32 counter `encode` returned.
/// `encode` returning None means nothing was recorded (count 0, nothing submitted).
pub fn submit_counted(
    ctx: &GpuContext,
    encode: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<Option<wgpu::Buffer>>,
) -> Result<u64> {
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    let Some(counter) = encode(&mut enc)? else {
        return Ok(0);
    };
    ctx.queue.submit([enc.finish()]);
    Ok(u64::from(read_u32(ctx, &counter)?))
}
