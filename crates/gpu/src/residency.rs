//! GPU residency: the scan and its label volume live on the GPU as 3D textures.
//!
//! Why textures and not storage buffers: a 512×512×1024 int16 CT is 512 MiB, four times the
//! 128 MiB storage-binding limit of lavapipe and of WebGPU's defaults. Textures are not
//! subject to that limit (only to `max_texture_dimension_3d`: 2048 in WebGPU's defaults,
//! 4096 on lavapipe, 16384 on desktop GPUs), are addressed in 3D without slab arithmetic, and
//! cost exactly their texel bytes.
//!
//! * Image: one 3D texture in the volume's own integer/float format (R8Uint, R8Sint,
//!   R16Uint, R16Sint, R32Sint, R32Float), read with `textureLoad` (exact values).
//! * Labels: one 3D `R32Uint` texture holding 4 u8 labels per texel along i
//!   (width ⌈nx/4⌉), readable as a texture and writable as a storage texture by the editing
//!   kernels, so labels cost nx·ny·nz bytes (+ row padding to 4).
//!
//! Uploads go slab by slab (≤ 32 MiB each, submitted and waited for), so no second full copy
//! of the volume is ever held on the host or in staging memory.

use super::GpuContext;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, VoxelData};

/// Largest upload written to the queue at once.
const UPLOAD_CHUNK_BYTES: usize = 32 << 20;

/// Texel format used for a voxel type.
pub fn texture_format(dtype: DType) -> wgpu::TextureFormat {
    match dtype {
        DType::U8 => wgpu::TextureFormat::R8Uint,
        DType::I8 => wgpu::TextureFormat::R8Sint,
        DType::U16 => wgpu::TextureFormat::R16Uint,
        DType::I16 => wgpu::TextureFormat::R16Sint,
        DType::I32 => wgpu::TextureFormat::R32Sint,
        DType::F32 => wgpu::TextureFormat::R32Float,
    }
}

/// WGSL sample type of a texture of this voxel type (`texture_3d<T>`).
pub fn wgsl_sample_type(dtype: DType) -> &'static str {
    match dtype {
        DType::U8 | DType::U16 => "u32",
        DType::I8 | DType::I16 | DType::I32 => "i32",
        DType::F32 => "f32",
    }
}

fn check_dims(ctx: &GpuContext, dims: [u32; 3], what: &str) -> Result<()> {
    let max = ctx.device.limits().max_texture_dimension_3d;
    if dims.iter().any(|&d| d == 0 || d > max) {
        return Err(Error::Gpu(format!(
            "{what} of {dims:?} exceeds this adapter's 3D texture limit of {max} per side"
        )));
    }
    Ok(())
}

fn dims_u32(dims: [usize; 3]) -> Result<[u32; 3]> {
    let c = |d: usize| u32::try_from(d).map_err(|_| Error::Gpu(format!("dimension {d} too large")));
    Ok([c(dims[0])?, c(dims[1])?, c(dims[2])?])
}

/// Writes `z_count` slices of `bytes_per_slice` starting at slice `z0` into `texture`.
fn write_slices(
    ctx: &GpuContext,
    texture: &wgpu::Texture,
    extent_xy: [u32; 2],
    bytes_per_row: u32,
    z0: u32,
    z_count: u32,
    data: &[u8],
) {
    ctx.queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d { x: 0, y: 0, z: z0 },
            aspect: wgpu::TextureAspect::All,
        },
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(bytes_per_row),
            rows_per_image: Some(extent_xy[1]),
        },
        wgpu::Extent3d {
            width: extent_xy[0],
            height: extent_xy[1],
            depth_or_array_layers: z_count,
        },
    );
}

/// Submits pending uploads and waits, so staging memory is released before the next slab.
fn flush(ctx: &GpuContext) -> Result<()> {
    ctx.queue.submit([]);
    ctx.wait("upload")
}

/// The label volume is a packed u8 volume.
pub type ResidentLabels = PackedU8Volume;

/// The scan on the GPU.
pub struct ResidentVolume {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub dims: [u32; 3],
    pub dtype: DType,
}

impl ResidentVolume {
    /// Uploads `data` (i fastest) of `dims` in slabs.
    pub fn upload(ctx: &GpuContext, dims: [usize; 3], data: &VoxelData) -> Result<Self> {
        let d = dims_u32(dims)?;
        check_dims(ctx, d, "volume")?;
        if data.len() != dims[0] * dims[1] * dims[2] {
            return Err(Error::Mismatch(
                "volume data does not match its dims".into(),
            ));
        }
        let dtype = data.dtype();
        let texture = ctx.scoped("upload volume", || {
            ctx.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("volume"),
                size: wgpu::Extent3d {
                    width: d[0],
                    height: d[1],
                    depth_or_array_layers: d[2],
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format: texture_format(dtype),
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        })?;
        let bytes = data.as_bytes();
        let row = dims[0] * dtype.size();
        let slice = row * dims[1];
        let per_chunk = (UPLOAD_CHUNK_BYTES / slice).max(1);
        ctx.scoped("upload volume", || -> Result<()> {
            for z0 in (0..dims[2]).step_by(per_chunk) {
                let n = per_chunk.min(dims[2] - z0);
                let chunk = &bytes[z0 * slice..(z0 + n) * slice];
                write_slices(
                    ctx,
                    &texture,
                    [d[0], d[1]],
                    row as u32,
                    z0 as u32,
                    n as u32,
                    chunk,
                );
                flush(ctx)?;
            }
            Ok(())
        })??;
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(Self {
            texture,
            view,
            dims: d,
            dtype,
        })
    }

    /// GPU bytes held.
    pub fn gpu_bytes(&self) -> u64 {
        self.dims.iter().map(|&d| u64::from(d)).product::<u64>() * self.dtype.size() as u64
    }
}

/// A u8 volume on the GPU packed 4 voxels per R32Uint texel along i: the label volume, and
/// the 8-bit output of whole-volume window/level.
pub struct PackedU8Volume {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    /// Voxel dims (not texel dims).
    pub dims: [u32; 3],
}

impl PackedU8Volume {
    /// Texel width for `nx` voxels.
    pub fn texel_width(nx: u32) -> u32 {
        nx.div_ceil(4)
    }

    /// An all-zero volume.
    pub fn zeros(ctx: &GpuContext, dims: [usize; 3]) -> Result<Self> {
        let d = dims_u32(dims)?;
        let w = Self::texel_width(d[0]);
        check_dims(ctx, [w, d[1], d[2]], "label volume")?;
        let texture = ctx.scoped("create labels", || {
            ctx.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("labels"),
                size: wgpu::Extent3d {
                    width: w,
                    height: d[1],
                    depth_or_array_layers: d[2],
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format: wgpu::TextureFormat::R32Uint,
                usage: wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::COPY_DST
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        })?;
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(Self {
            texture,
            view,
            dims: d,
        })
    }

    /// Uploads u8 labels (i fastest), packing each slab on the fly.
    pub fn upload(ctx: &GpuContext, dims: [usize; 3], labels: &[u8]) -> Result<Self> {
        let me = Self::zeros(ctx, dims)?;
        if labels.len() != dims[0] * dims[1] * dims[2] {
            return Err(Error::Mismatch("label data does not match its dims".into()));
        }
        let w = Self::texel_width(me.dims[0]) as usize;
        let row_bytes = w * 4;
        let slice_bytes = row_bytes * dims[1];
        let per_chunk = (UPLOAD_CHUNK_BYTES / slice_bytes).max(1);
        let mut packed = vec![0u8; per_chunk.min(dims[2]) * slice_bytes];
        ctx.scoped("upload labels", || -> Result<()> {
            for z0 in (0..dims[2]).step_by(per_chunk) {
                let n = per_chunk.min(dims[2] - z0);
                for dz in 0..n {
                    for j in 0..dims[1] {
                        let src = &labels[((z0 + dz) * dims[1] + j) * dims[0]..][..dims[0]];
                        let dst = &mut packed[dz * slice_bytes + j * row_bytes..][..row_bytes];
                        dst[..dims[0]].copy_from_slice(src);
                        dst[dims[0]..].fill(0);
                    }
                }
                let d = me.dims;
                write_slices(
                    ctx,
                    &me.texture,
                    [w as u32, d[1]],
                    row_bytes as u32,
                    z0 as u32,
                    n as u32,
                    &packed[..n * slice_bytes],
                );
                flush(ctx)?;
            }
            Ok(())
        })??;
        Ok(me)
    }

    /// A GPU-side copy (no host round trip).
    pub fn duplicate(&self, ctx: &GpuContext) -> Result<Self> {
        let out = Self::zeros(ctx, self.dims.map(|d| d as usize))?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_texture_to_texture(
            self.texture.as_image_copy(),
            out.texture.as_image_copy(),
            self.texture.size(),
        );
        ctx.queue.submit([enc.finish()]);
        Ok(out)
    }

    /// Copies the labels back to the host (u8, i fastest). Not for the interactive path.
    pub fn download(&self, ctx: &GpuContext) -> Result<Vec<u8>> {
        let d = self.dims.map(|d| d as usize);
        self.read_box(ctx, [0, 0, 0], d)
    }

    /// Copies voxels `lo..hi` (exclusive; i fastest) back to the host, in slabs of at most
    /// 32 MiB of staging memory. Undo snapshots and saves use it; the frame loop never does.
    pub fn read_box(&self, ctx: &GpuContext, lo: [usize; 3], hi: [usize; 3]) -> Result<Vec<u8>> {
        self.check_box(lo, hi)?;
        let [bx, by, bz] = [0, 1, 2].map(|a| hi[a] - lo[a]);
        let tx0 = lo[0] / 4;
        let tx1 = hi[0].div_ceil(4);
        let row = (tx1 - tx0) * 4;
        let padded_row = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize);
        let per_chunk = (UPLOAD_CHUNK_BYTES / (padded_row * by)).max(1);
        let skip = lo[0] - tx0 * 4;
        let mut out = vec![0u8; bx * by * bz];
        for z0 in (0..bz).step_by(per_chunk) {
            let n = per_chunk.min(bz - z0);
            let size = (padded_row * by * n) as u64;
            let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("labels read_box"),
                size,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            });
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            enc.copy_texture_to_buffer(
                self.at([tx0, lo[1], lo[2] + z0]),
                wgpu::TexelCopyBufferInfo {
                    buffer: &buf,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(padded_row as u32),
                        rows_per_image: Some(by as u32),
                    },
                },
                wgpu::Extent3d {
                    width: (tx1 - tx0) as u32,
                    height: by as u32,
                    depth_or_array_layers: n as u32,
                },
            );
            ctx.queue.submit([enc.finish()]);
            let bytes = super::readback::map_read(ctx, &buf)?;
            for dz in 0..n {
                for j in 0..by {
                    let src = &bytes[(dz * by + j) * padded_row + skip..][..bx];
                    out[((z0 + dz) * by + j) * bx..][..bx].copy_from_slice(src);
                }
            }
        }
        Ok(out)
    }

    /// Writes voxels `lo..hi` (exclusive; i fastest) from the host. A box whose x edges do
    /// not fall on packed texels is widened by reading the edge texels first.
    pub fn write_box(
        &self,
        ctx: &GpuContext,
        lo: [usize; 3],
        hi: [usize; 3],
        data: &[u8],
    ) -> Result<()> {
        self.check_box(lo, hi)?;
        let nx = self.dims[0] as usize;
        let [bx, by, bz] = [0, 1, 2].map(|a| hi[a] - lo[a]);
        if data.len() != bx * by * bz {
            return Err(Error::Invalid(
                "write_box: data does not match the box".into(),
            ));
        }
        let tx0 = lo[0] / 4;
        let tx1 = hi[0].div_ceil(4);
        let wx0 = tx0 * 4;
        let wx1 = (tx1 * 4).min(nx);
        // Whole texels: copy straight; else merge with the current edge voxels.
        let base = if wx0 == lo[0] && wx1 == hi[0] {
            None
        } else {
            Some(self.read_box(ctx, [wx0, lo[1], lo[2]], [wx1, hi[1], hi[2]])?)
        };
        let row = (tx1 - tx0) * 4;
        let ww = wx1 - wx0;
        let mut packed = vec![0u8; row * by * bz];
        for z in 0..bz {
            for j in 0..by {
                let dst = &mut packed[(z * by + j) * row..][..row];
                if let Some(b) = &base {
                    dst[..ww].copy_from_slice(&b[(z * by + j) * ww..][..ww]);
                }
                dst[lo[0] - wx0..][..bx].copy_from_slice(&data[(z * by + j) * bx..][..bx]);
            }
        }
        ctx.scoped("labels write_box", || {
            ctx.queue.write_texture(
                self.at([tx0, lo[1], lo[2]]),
                &packed,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row as u32),
                    rows_per_image: Some(by as u32),
                },
                wgpu::Extent3d {
                    width: (tx1 - tx0) as u32,
                    height: by as u32,
                    depth_or_array_layers: bz as u32,
                },
            );
        })
    }

    /// The texel at `t` (x in texels) as a copy endpoint.
    fn at(&self, t: [usize; 3]) -> wgpu::TexelCopyTextureInfo<'_> {
        wgpu::TexelCopyTextureInfo {
            texture: &self.texture,
            mip_level: 0,
            origin: wgpu::Origin3d {
                x: t[0] as u32,
                y: t[1] as u32,
                z: t[2] as u32,
            },
            aspect: wgpu::TextureAspect::All,
        }
    }

    fn check_box(&self, lo: [usize; 3], hi: [usize; 3]) -> Result<()> {
        let d = self.dims.map(|d| d as usize);
        if (0..3).any(|a| lo[a] >= hi[a] || hi[a] > d[a]) {
            return Err(Error::Invalid(format!(
                "label box {lo:?}..{hi:?} is empty or outside the volume {d:?}"
            )));
        }
        Ok(())
    }

    /// GPU bytes held.
    pub fn gpu_bytes(&self) -> u64 {
        u64::from(Self::texel_width(self.dims[0]))
            * 4
            * u64::from(self.dims[1])
            * u64::from(self.dims[2])
    }
}
