//! Undo bricks kept on the GPU: the GPU label store's undo data never leaves the card while
//! it fits its budget.
//!
//! Before an op the box it can change is copied GPU-side ([`BrickUndoKernel::copy_box`], a
//! texture-to-texture copy queued ahead of the op, no wait). After it, `diff`
//! (`shaders/brick_diff.wgsl`) counts per 16³ brick the voxels that differ between that copy
//! and the labels (one small read-back: a u32 per brick), and `gather`
//! (`shaders/brick_gather.wgsl`) copies the changed bricks' previous contents into a
//! [`BrickSlots`] texture; the box copy is dropped. Undo and redo are one `swap` dispatch
//! (`shaders/brick_swap.wgsl`) exchanging the listed bricks of the labels with their slots:
//! after an undo the slots hold the undone contents, which is what redo puts back.
//!
//! CPU twins of the three ([`brick_diff_cpu`], [`brick_gather_cpu`], [`brick_swap_cpu`]) work
//! on u8 boxes and per-brick 16³ buffers laid out as a slot's bytes (x fastest, 16 per row);
//! tests compare them with the kernels. `edit::undo` moves slots to the host (compressed, as
//! the CPU session keeps them) when the GPU budget is exceeded ([`BrickSlots::download`]).

use crate::residency::PackedU8Volume;
use crate::{compute, readback, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

/// Brick edge in voxels.
pub const BRICK: usize = 16;
/// Bytes of one brick's slot (16³ voxels, one byte each).
pub const SLOT_BYTES: usize = BRICK * BRICK * BRICK;
/// Slots per 256-byte texel row of a slot texture.
const SLOTS_PER_ROW: usize = 16;
/// Most slot rows per 16-slice layer (1024 slots per layer).
const MAX_ROWS: usize = 64;

/// Keep in sync with `shaders/common/brick_slots.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct BrickParams {
    /// Box origin: x in texels, y and z in voxels; unused.
    pub origin: [u32; 4],
    /// Box size in bricks; unused.
    pub bricks: [u32; 4],
    /// Labels: texel width, ny, nz, nx.
    pub dims: [u32; 4],
    /// Slot count, slot rows per layer; unused ×2.
    pub slots: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<BrickParams>() == 64);

impl BrickParams {
    /// Params for the brick-aligned voxel box `lo..hi` of labels of `dims` (`lo` a multiple
    /// of 16 on every axis, `hi` one past the box's last voxel) and `slots` slots.
    pub fn new(dims: [usize; 3], lo: [usize; 3], hi: [usize; 3], slots: usize) -> Self {
        let nb = [0, 1, 2].map(|a| (hi[a] - lo[a]).div_ceil(BRICK) as u32);
        Self {
            origin: [(lo[0] / 4) as u32, lo[1] as u32, lo[2] as u32, 0],
            bricks: [nb[0], nb[1], nb[2], 0],
            dims: [
                dims[0].div_ceil(4) as u32,
                dims[1] as u32,
                dims[2] as u32,
                dims[0] as u32,
            ],
            slots: [slots as u32, slot_rows(slots) as u32, 0, 0],
        }
    }
}

/// Slot rows per layer for `n` slots.
fn slot_rows(n: usize) -> usize {
    n.div_ceil(SLOTS_PER_ROW).clamp(1, MAX_ROWS)
}

/// Texel extent of a slot texture for `n` slots.
fn slot_extent(n: usize) -> [usize; 3] {
    let rows = slot_rows(n);
    let layers = n.div_ceil(SLOTS_PER_ROW * rows).max(1);
    [SLOTS_PER_ROW * 4, BRICK * rows, BRICK * layers]
}

/// Voxel range of brick `b` of a volume of `dims` (`hi` clipped to the volume).
pub fn brick_range(b: [usize; 3], dims: [usize; 3]) -> ([usize; 3], [usize; 3]) {
    let lo = b.map(|v| v * BRICK);
    let hi = [0, 1, 2].map(|a| (lo[a] + BRICK).min(dims[a]));
    (lo, hi)
}

/// CPU twin of `diff`: per brick of the box `lo..hi` (x fastest), the voxels that differ
/// between `before` and `after` (both that box's voxels, i fastest).
pub fn brick_diff_cpu(before: &[u8], after: &[u8], lo: [usize; 3], hi: [usize; 3]) -> Vec<u32> {
    let s = [0, 1, 2].map(|a| hi[a] - lo[a]);
    let nb = s.map(|v| v.div_ceil(BRICK));
    let mut counts = vec![0u32; nb[0] * nb[1] * nb[2]];
    for z in 0..s[2] {
        for y in 0..s[1] {
            for x in 0..s[0] {
                let i = x + s[0] * (y + s[1] * z);
                if before[i] != after[i] {
                    counts[x / BRICK + nb[0] * (y / BRICK + nb[1] * (z / BRICK))] += 1;
                }
            }
        }
    }
    counts
}

/// CPU twin of `gather`: the slot bytes of each listed brick (coordinates relative to the
/// box) of `before` (the box `lo..hi`'s voxels); voxels outside the box are 0.
pub fn brick_gather_cpu(
    before: &[u8],
    lo: [usize; 3],
    hi: [usize; 3],
    list: &[[usize; 3]],
) -> Vec<Vec<u8>> {
    let s = [0, 1, 2].map(|a| hi[a] - lo[a]);
    list.iter()
        .map(|b| {
            let mut slot = vec![0u8; SLOT_BYTES];
            for z in 0..BRICK {
                for y in 0..BRICK {
                    for x in 0..BRICK {
                        let p = [b[0] * BRICK + x, b[1] * BRICK + y, b[2] * BRICK + z];
                        if p[0] < s[0] && p[1] < s[1] && p[2] < s[2] {
                            slot[x + BRICK * (y + BRICK * z)] =
                                before[p[0] + s[0] * (p[1] + s[1] * p[2])];
                        }
                    }
                }
            }
            slot
        })
        .collect()
}

/// CPU twin of `swap`: exchanges each listed brick (absolute coordinates) of `labels`
/// (`dims`, i fastest) with its slot, voxels inside the volume only.
pub fn brick_swap_cpu(
    labels: &mut [u8],
    dims: [usize; 3],
    list: &[[usize; 3]],
    slots: &mut [Vec<u8>],
) {
    for (b, slot) in list.iter().zip(slots.iter_mut()) {
        let (lo, hi) = brick_range(*b, dims);
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    let i = x + dims[0] * (y + dims[1] * z);
                    let s = (x - lo[0]) + BRICK * ((y - lo[1]) + BRICK * (z - lo[2]));
                    std::mem::swap(&mut labels[i], &mut slot[s]);
                }
            }
        }
    }
}

/// The labels of a brick-aligned box, copied on the GPU before an op.
pub struct BoxCopy {
    texture: wgpu::Texture,
    /// Voxel box (`lo` brick-aligned, `hi` exclusive, clipped to the volume).
    pub lo: [usize; 3],
    pub hi: [usize; 3],
}

impl BoxCopy {
    /// The box's size in bricks.
    pub fn bricks(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| (self.hi[a] - self.lo[a]).div_ceil(BRICK))
    }
}

/// Bricks kept in a slot texture: slot k holds brick `bricks[k]` (absolute brick
/// coordinates).
pub struct BrickSlots {
    texture: wgpu::Texture,
    pub bricks: Vec<[usize; 3]>,
}

impl BrickSlots {
    /// GPU bytes held.
    pub fn gpu_bytes(&self) -> usize {
        let e = slot_extent(self.bricks.len());
        e[0] * 4 * e[1] * e[2]
    }

    /// Each slot's 16³ bytes (x fastest, 16 per row), in slot order: one read-back.
    pub fn download(&self, ctx: &GpuContext) -> Result<Vec<Vec<u8>>> {
        let e = slot_extent(self.bricks.len());
        let row = e[0] * 4; // 256 bytes: no padding
        let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("undo slots read-back"),
            size: (row * e[1] * e[2]) as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buf,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row as u32),
                    rows_per_image: Some(e[1] as u32),
                },
            },
            self.texture.size(),
        );
        ctx.queue.submit([enc.finish()]);
        let bytes = readback::map_read(ctx, &buf)?;
        let rows = slot_rows(self.bricks.len());
        Ok((0..self.bricks.len())
            .map(|k| {
                let (sx, sy, sz) = (
                    k % SLOTS_PER_ROW,
                    (k / SLOTS_PER_ROW) % rows,
                    k / (SLOTS_PER_ROW * rows),
                );
                let mut slot = Vec::with_capacity(SLOT_BYTES);
                for z in 0..BRICK {
                    for y in 0..BRICK {
                        let r = (sz * BRICK + z) * e[1] + sy * BRICK + y;
                        slot.extend_from_slice(&bytes[r * row + sx * BRICK..][..BRICK]);
                    }
                }
                slot
            })
            .collect())
    }
}

/// The three undo-brick kernels.
pub struct BrickUndoKernel {
    diff: wgpu::ComputePipeline,
    gather: wgpu::ComputePipeline,
    swap: wgpu::ComputePipeline,
    /// The last box copy's texture, kept for the next op with a box of the same size
    /// (whole-volume ops: allocating 256 MiB took 9.7 ms of a 10 ms snapshot on an H200).
    spare: std::cell::RefCell<Option<wgpu::Texture>>,
}

impl BrickUndoKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let p = |label: &str, src: &str| {
            super::compute_pipeline(ctx, label, &shaders::prepare(src, "u32"))
        };
        Ok(Self {
            diff: p("brick_diff", shaders::BRICK_DIFF)?,
            gather: p("brick_gather", shaders::BRICK_GATHER)?,
            swap: p("brick_swap", shaders::BRICK_SWAP)?,
            spare: std::cell::RefCell::new(None),
        })
    }

    /// Hands a box copy's texture back for reuse once its bricks were gathered (queue
    /// order keeps the gather ahead of the next copy into it).
    pub fn recycle(&self, copy: BoxCopy) {
        *self.spare.borrow_mut() = Some(copy.texture);
    }

    /// Whether `n` bricks fit one slot texture on this adapter.
    pub fn fits(ctx: &GpuContext, n: usize) -> bool {
        let max = ctx.device.limits().max_texture_dimension_3d as usize;
        slot_extent(n).iter().all(|&e| e <= max)
    }

    /// Queues a GPU copy of the labels' bricks covering `lo..hi` (no wait).
    pub fn copy_box(
        &self,
        ctx: &GpuContext,
        labels: &PackedU8Volume,
        lo: [usize; 3],
        hi: [usize; 3],
    ) -> Result<BoxCopy> {
        let d = labels.dims.map(|v| v as usize);
        let lo = lo.map(|v| v / BRICK * BRICK);
        let hi = [0, 1, 2].map(|a| hi[a].div_ceil(BRICK).saturating_mul(BRICK).min(d[a]));
        if (0..3).any(|a| lo[a] >= hi[a]) {
            return Err(Error::Invalid(format!(
                "undo box {lo:?}..{hi:?} is empty or outside the volume {d:?}"
            )));
        }
        let tx = [lo[0] / 4, hi[0].div_ceil(4)];
        let size = wgpu::Extent3d {
            width: (tx[1] - tx[0]) as u32,
            height: (hi[1] - lo[1]) as u32,
            depth_or_array_layers: (hi[2] - lo[2]) as u32,
        };
        let spare = self.spare.borrow_mut().take().filter(|t| t.size() == size);
        let texture = ctx.scoped("undo box copy", || {
            let t = spare.unwrap_or_else(|| {
                ctx.device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("undo box copy"),
                    size,
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D3,
                    format: wgpu::TextureFormat::R32Uint,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                })
            });
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            enc.copy_texture_to_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &labels.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: tx[0] as u32,
                        y: lo[1] as u32,
                        z: lo[2] as u32,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                t.as_image_copy(),
                size,
            );
            ctx.queue.submit([enc.finish()]);
            t
        })?;
        Ok(BoxCopy { texture, lo, hi })
    }

    /// Per brick of the copy's box (x fastest), the voxels that now differ from it: one
    /// dispatch and a read-back of one u32 per brick.
    pub fn changed(
        &self,
        ctx: &GpuContext,
        labels: &PackedU8Volume,
        copy: &BoxCopy,
    ) -> Result<Vec<u32>> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let (counts, n) = self.encode_diff(ctx, &mut enc, labels, copy)?;
        ctx.queue.submit([enc.finish()]);
        let bytes = readback::read_buffer(ctx, &counts, (n * 4) as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Records the `diff` dispatch into `enc` (after the op that changes the labels, so a
    /// caller reads the counts back with its own results); returns the counts buffer
    /// (`COPY_SRC`) and its length in u32.
    pub fn encode_diff(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        labels: &PackedU8Volume,
        copy: &BoxCopy,
    ) -> Result<(wgpu::Buffer, usize)> {
        let d = labels.dims.map(|v| v as usize);
        let nb = copy.bricks();
        let n = nb[0] * nb[1] * nb[2];
        let p = BrickParams::new(d, copy.lo, copy.hi, 0);
        ctx.scoped("brick_diff", || {
            let uniform = compute::uniform(ctx, "brick_diff params", &p);
            let counts = compute::storage(
                ctx,
                "brick_diff counts",
                &vec![0u8; n * 4],
                wgpu::BufferUsages::COPY_SRC,
            );
            let view = copy.texture.create_view(&Default::default());
            let bind = compute::bind_group(
                ctx,
                &self.diff,
                "brick_diff",
                &[
                    uniform.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&view),
                    wgpu::BindingResource::TextureView(&labels.view),
                    counts.as_entire_binding(),
                ],
            );
            let groups = [nb[0] as u32, 2 * nb[1] as u32, 2 * nb[2] as u32];
            compute::encode_pass(enc, &self.diff, &bind, "brick_diff", groups);
            (counts, n)
        })
    }

    /// Queues a copy of the listed bricks (coordinates relative to the box) of `copy` into a
    /// new slot texture (no wait); the slots are listed by absolute brick coordinates.
    pub fn gather(
        &self,
        ctx: &GpuContext,
        labels: &PackedU8Volume,
        copy: &BoxCopy,
        list: &[[usize; 3]],
    ) -> Result<BrickSlots> {
        let d = labels.dims.map(|v| v as usize);
        let n = list.len();
        let texture = slot_texture(ctx, n)?;
        let p = BrickParams::new(d, copy.lo, copy.hi, n);
        ctx.scoped("brick_gather", || {
            let uniform = compute::uniform(ctx, "brick_gather params", &p);
            let listed = compute::storage(
                ctx,
                "brick_gather list",
                bytemuck::cast_slice(&brick_list(list)),
                wgpu::BufferUsages::empty(),
            );
            let src = copy.texture.create_view(&Default::default());
            let dst = texture.create_view(&Default::default());
            let bind = compute::bind_group(
                ctx,
                &self.gather,
                "brick_gather",
                &[
                    uniform.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&src),
                    listed.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&dst),
                ],
            );
            let groups = compute::groups_1d((4 * n) as u32);
            compute::submit_pass(ctx, &self.gather, &bind, "brick_gather", groups);
        })?;
        let b0 = copy.lo.map(|v| v / BRICK);
        Ok(BrickSlots {
            texture,
            bricks: list
                .iter()
                .map(|b| [b[0] + b0[0], b[1] + b0[1], b[2] + b0[2]])
                .collect(),
        })
    }

    /// Exchanges the slots' bricks with the labels' (no wait).
    pub fn swap(
        &self,
        ctx: &GpuContext,
        labels: &PackedU8Volume,
        slots: &BrickSlots,
    ) -> Result<()> {
        let d = labels.dims.map(|v| v as usize);
        let n = slots.bricks.len();
        if n == 0 {
            return Ok(());
        }
        let p = BrickParams::new(d, [0; 3], d, n);
        ctx.scoped("brick_swap", || {
            let uniform = compute::uniform(ctx, "brick_swap params", &p);
            let listed = compute::storage(
                ctx,
                "brick_swap list",
                bytemuck::cast_slice(&brick_list(&slots.bricks)),
                wgpu::BufferUsages::empty(),
            );
            let view = slots.texture.create_view(&Default::default());
            let bind = compute::bind_group(
                ctx,
                &self.swap,
                "brick_swap",
                &[
                    uniform.as_entire_binding(),
                    listed.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&labels.view),
                    wgpu::BindingResource::TextureView(&view),
                ],
            );
            let groups = compute::groups_1d((4 * n) as u32);
            compute::submit_pass(ctx, &self.swap, &bind, "brick_swap", groups);
        })
    }
}

fn brick_list(list: &[[usize; 3]]) -> Vec<[u32; 4]> {
    let mut v: Vec<[u32; 4]> = list
        .iter()
        .map(|b| [b[0] as u32, b[1] as u32, b[2] as u32, 0])
        .collect();
    if v.is_empty() {
        v.push([0; 4]);
    }
    v
}

fn slot_texture(ctx: &GpuContext, n: usize) -> Result<wgpu::Texture> {
    if !BrickUndoKernel::fits(ctx, n) {
        return Err(Error::Gpu(format!(
            "{n} undo bricks exceed this adapter's 3D texture limit"
        )));
    }
    let e = slot_extent(n);
    ctx.scoped("undo slots", || {
        ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("undo slots"),
            size: wgpu::Extent3d {
                width: e[0] as u32,
                height: e[1] as u32,
                depth_or_array_layers: e[2] as u32,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D3,
            format: wgpu::TextureFormat::R32Uint,
            usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_layout_reads_back_without_padding() {
        assert_eq!(slot_extent(1), [64, 16, 16]);
        assert_eq!(slot_extent(17), [64, 32, 16]);
        assert_eq!(slot_extent(1024), [64, 1024, 16]);
        assert_eq!(slot_extent(1025), [64, 1024, 32]);
        // 256-byte rows: copy_texture_to_buffer needs no padding.
        assert_eq!(
            slot_extent(5)[0] * 4,
            wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize
        );
    }

    #[test]
    fn cpu_twins_undo_and_redo_a_change() {
        let d = [37, 20, 18];
        let n = d[0] * d[1] * d[2];
        let before: Vec<u8> = (0..n).map(|i| (i * 7 % 5) as u8).collect();
        let mut labels = before.clone();
        // Change voxels in two bricks.
        labels[3 + d[0] * (4 + d[1] * 5)] = 9;
        labels[36 + d[0] * (19 + d[1] * 17)] = 9;
        labels[35 + d[0] * (19 + d[1] * 17)] = 9;
        let after = labels.clone();
        let counts = brick_diff_cpu(&before, &labels, [0; 3], d);
        assert_eq!(counts.len(), 3 * 2 * 2);
        assert_eq!(counts.iter().sum::<u32>(), 3);
        let list: Vec<[usize; 3]> = (0..counts.len())
            .filter(|&i| counts[i] > 0)
            .map(|i| [i % 3, (i / 3) % 2, i / 6])
            .collect();
        assert_eq!(list, vec![[0, 0, 0], [2, 1, 1]]);
        let mut slots = brick_gather_cpu(&before, [0; 3], d, &list);
        brick_swap_cpu(&mut labels, d, &list, &mut slots);
        assert_eq!(labels, before, "undo");
        brick_swap_cpu(&mut labels, d, &list, &mut slots);
        assert_eq!(labels, after, "redo");
    }
}
