//! Label-store backends: where a session's labels live and how a lowered [`Program`] runs
//! there. [`HostLabels`] runs the CPU twins on a host `[u8]`; [`GpuEdit`] keeps the image and
//! the labels resident and runs the GPU kernels. Both read and write voxel boxes for undo.
//! Neither looks at an [`EditOp`](super::ops::EditOp): ops are lowered once in `lower`.

use super::lower::Program;
use voxmark_gpu::kernels::brick_undo::BrickUndoKernel;
use voxmark_gpu::kernels::commit_mask::{commit_mask_cpu, CommitMaskKernel, CommitMaskParams};
use voxmark_gpu::kernels::fill_holes::{fill_holes_cpu, FillHolesKernel, FillHolesState};
use voxmark_gpu::kernels::grow_cut::{grow_cut_cpu, GrowCutKernel, GrowCutState};
use voxmark_gpu::kernels::interpolate::{interpolate_cpu, interpolate_plan, InterpolateKernel};
use voxmark_gpu::kernels::islands::{islands_cpu, Islands};
use voxmark_gpu::kernels::label_stats::LabelStatsKernel;
use voxmark_gpu::kernels::logical::{logical_cpu, LogicalKernel, LogicalParams};
use voxmark_gpu::kernels::morphology::{morphology_cpu, MorphologyKernel};
use voxmark_gpu::kernels::region_grow::region_grow_cpu;
use voxmark_gpu::kernels::region_grow_gpu::RegionGrowKernel;
use voxmark_gpu::kernels::smooth::{smooth_cpu, SmoothKernel};
use voxmark_gpu::kernels::span_write::{span_write_cpu, SpanWriteKernel};
use voxmark_gpu::readback::map_read;
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, Volume};

/// Where the labels live (host memory or the GPU texture): the label-store backend. It runs
/// lowered programs and reads and writes boxes of voxels (`hi` exclusive, i fastest) for undo,
/// so the same session and brick logic serve both.
pub trait LabelStore {
    fn dims(&self) -> [usize; 3];
    fn read_box(&self, lo: [usize; 3], hi: [usize; 3]) -> Result<Vec<u8>>;
    fn write_box(&mut self, lo: [usize; 3], hi: [usize; 3], data: &[u8]) -> Result<()>;
    /// Runs a lowered program on these labels (of `image`); returns the voxels changed.
    fn execute(&mut self, image: &Volume, program: &Program) -> Result<u64>;
    /// The GPU side undo keeps its bricks on (None: undo bricks go to host memory).
    fn resident(&self) -> Option<Resident<'_>> {
        None
    }
    /// Runs `program` after the undo snapshot `snap` was taken; for a GPU snapshot a store
    /// may also return the per-brick change counts against it (`BrickUndoKernel::changed`'s
    /// result), measured in the same submission as the op, which saves the undo step a
    /// read-back.
    fn execute_snapshotted(
        &mut self,
        image: &Volume,
        program: &Program,
        snap: &Snapshot,
    ) -> Result<(u64, Option<Vec<u32>>)> {
        let _ = snap;
        Ok((self.execute(image, program)?, None))
    }
    /// A `Grow` program's commit step alone, on a region already grown for its preview
    /// (`region` from the same store kind); returns the voxels changed.
    fn commit_region(&mut self, commit: &CommitMaskParams, region: &GrowPreview) -> Result<u64>;
}

/// What a previewed op writes where its preview mask is set: one label (a grow, fill between
/// slices), or each structure's own label with the background strokes cleared (grow from
/// seeds).
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewWrites {
    Label(u8),
    Structures { labels: Vec<u8>, background: u8 },
}

/// A region computed without changing the labels, shown before it is accepted (a grow's or
/// a fill between slices'): a packed mask on the GPU, or on the host a u8 mask (non-zero on
/// the region) with its voxel count.
pub enum GrowPreview {
    Gpu(PackedU8Volume),
    Host { mask: Vec<u8>, voxels: u64 },
}

/// A GPU store's labels and the kernels that keep undo bricks beside them.
pub struct Resident<'a> {
    pub ctx: &'a GpuContext,
    pub kernel: &'a BrickUndoKernel,
    pub labels: &'a PackedU8Volume,
}

/// Labels in host memory.
pub struct HostLabels<'a> {
    pub data: &'a mut [u8],
    pub dims: [usize; 3],
}

impl LabelStore for HostLabels<'_> {
    fn dims(&self) -> [usize; 3] {
        self.dims
    }
    fn read_box(&self, lo: [usize; 3], hi: [usize; 3]) -> Result<Vec<u8>> {
        let d = self.dims;
        let w = hi[0] - lo[0];
        let mut out = Vec::with_capacity(w * (hi[1] - lo[1]) * (hi[2] - lo[2]));
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                let row = lo[0] + d[0] * (y + d[1] * z);
                out.extend_from_slice(&self.data[row..row + w]);
            }
        }
        Ok(out)
    }
    fn write_box(&mut self, lo: [usize; 3], hi: [usize; 3], data: &[u8]) -> Result<()> {
        let d = self.dims;
        let w = hi[0] - lo[0];
        let mut k = 0;
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                let row = lo[0] + d[0] * (y + d[1] * z);
                self.data[row..row + w].copy_from_slice(&data[k..k + w]);
                k += w;
            }
        }
        Ok(())
    }
    fn execute(&mut self, image: &Volume, program: &Program) -> Result<u64> {
        execute_cpu(image, self.data, program)
    }
    fn commit_region(&mut self, commit: &CommitMaskParams, region: &GrowPreview) -> Result<u64> {
        match region {
            GrowPreview::Host { mask, .. } if mask.len() == self.data.len() => {
                Ok(commit_mask_cpu(commit, mask, self.data))
            }
            _ => Err(Error::mismatch(
                "host labels commit a host region of the same size",
            )),
        }
    }
}

/// Runs `program` on host labels with the CPU twins; returns the voxels changed.
pub fn execute_cpu(image: &Volume, labels: &mut [u8], program: &Program) -> Result<u64> {
    let d = image.grid.dims;
    if labels.len() != image.grid.voxel_count() {
        return Err(Error::mismatch(format!(
            "labels hold {} voxels, the image {}",
            labels.len(),
            image.grid.voxel_count()
        )));
    }
    Ok(match program {
        Program::Spans(w) => span_write_cpu(image, labels, w),
        Program::Grow {
            params,
            seeds,
            commit,
        } => {
            let mask = region_grow_cpu(params, &image.data, seeds);
            commit_mask_cpu(commit, &mask, labels)
        }
        Program::Morphology { params, offsets } => morphology_cpu(params, offsets, labels),
        Program::Interpolate(req) => interpolate_cpu(&interpolate_plan(req, labels)?, labels),
        Program::GrowCut(req) => grow_cut_cpu(req, image, labels)?,
        Program::FillHoles(req) => fill_holes_cpu(req, labels)?,
        Program::Logical { params, other_map } => logical_cpu(
            params,
            image,
            other_map.as_ref().map(|m| m.0.as_slice()),
            labels,
        ),
        Program::Smooth {
            method,
            params,
            offsets,
        } => smooth_cpu(method, params, offsets, labels),
        Program::Islands {
            label,
            connectivity,
            rule,
            ..
        } => islands_cpu(labels, d, *label, *connectivity, *rule),
    })
}

/// A kernel compiled on first use (a failure is kept and reported again).
fn cached<K>(
    cell: &std::cell::OnceCell<Result<K>>,
    make: impl FnOnce() -> Result<K>,
) -> Result<&K> {
    cell.get_or_init(make).as_ref().map_err(Error::again)
}

/// The GPU label store: image and labels resident, and the edit kernels.
pub struct GpuEdit<'a> {
    pub ctx: &'a GpuContext,
    pub image: ResidentVolume,
    pub labels: PackedU8Volume,
    spans: SpanWriteKernel,
    morphology: MorphologyKernel,
    grow: RegionGrowKernel,
    commit: CommitMaskKernel,
    /// Connected components of labels (built on first use).
    islands: std::cell::OnceCell<Result<RegionGrowKernel>>,
    /// Per-label statistics (built on first use; the shell refreshes them after each edit).
    stats: std::cell::OnceCell<Result<LabelStatsKernel>>,
    /// Fill between slices (built on first use).
    interpolate: std::cell::OnceCell<Result<InterpolateKernel>>,
    /// Grow from seeds (built on first use).
    grow_cut: std::cell::OnceCell<Result<GrowCutKernel>>,
    /// Fill holes (built on first use).
    fill_holes: std::cell::OnceCell<Result<FillHolesKernel>>,
    /// Smoothing (built on first use).
    smooth: std::cell::OnceCell<Result<SmoothKernel>>,
    /// Logical operations (built on first use).
    logical: std::cell::OnceCell<Result<LogicalKernel>>,
    /// Undo bricks kept on the GPU (built on first use; when it fails to build, undo bricks
    /// go to host memory).
    undo_bricks: std::cell::OnceCell<Result<BrickUndoKernel>>,
}

impl<'a> GpuEdit<'a> {
    /// Uploads `image` and `labels` and compiles the kernels.
    pub fn new(ctx: &'a GpuContext, image: &Volume, labels: &[u8]) -> Result<Self> {
        let d = image.grid.dims;
        Ok(Self {
            ctx,
            image: ResidentVolume::upload(ctx, d, &image.data)?,
            labels: PackedU8Volume::upload(ctx, d, labels)?,
            spans: SpanWriteKernel::new(ctx, image.dtype())?,
            morphology: MorphologyKernel::new(ctx)?,
            grow: RegionGrowKernel::new(ctx, image.dtype())?,
            commit: CommitMaskKernel::new(ctx)?,
            islands: std::cell::OnceCell::new(),
            stats: std::cell::OnceCell::new(),
            interpolate: std::cell::OnceCell::new(),
            grow_cut: std::cell::OnceCell::new(),
            fill_holes: std::cell::OnceCell::new(),
            smooth: std::cell::OnceCell::new(),
            logical: std::cell::OnceCell::new(),
            undo_bricks: std::cell::OnceCell::new(),
        })
    }

    /// The region-growing kernel for this image's type.
    pub fn grow_kernel(&self) -> &RegionGrowKernel {
        &self.grow
    }

    /// The label-statistics kernel (compiled once per session).
    pub fn stats_kernel(&self, dtype: DType) -> Result<&LabelStatsKernel> {
        cached(&self.stats, || LabelStatsKernel::new(self.ctx, dtype))
    }

    /// The fill-between-slices kernel (compiled once per session).
    pub fn interpolate_kernel(&self) -> Result<&InterpolateKernel> {
        cached(&self.interpolate, || InterpolateKernel::new(self.ctx))
    }

    /// The grow-from-seeds kernel (compiled once per session).
    pub fn grow_cut_kernel(&self) -> Result<&GrowCutKernel> {
        cached(&self.grow_cut, || GrowCutKernel::new(self.ctx))
    }

    /// The fill-holes kernel (compiled once per session).
    pub fn fill_holes_kernel(&self) -> Result<&FillHolesKernel> {
        cached(&self.fill_holes, || FillHolesKernel::new(self.ctx))
    }

    /// The smoothing kernels (compiled once per session).
    pub fn smooth_kernel(&self) -> Result<&SmoothKernel> {
        cached(&self.smooth, || SmoothKernel::new(self.ctx))
    }

    /// The logical-operations kernel for this image's type (compiled once per session).
    pub fn logical_kernel(&self) -> Result<&LogicalKernel> {
        cached(&self.logical, || {
            LogicalKernel::new(self.ctx, self.image.dtype)
        })
    }

    /// The labels as the 3D view shows them while a preview `mask` waits for Accept: a GPU
    /// copy of the labels with the previewed voxels given what the op writes there
    /// (`writes`), locked labels kept — what Enter will apply (under the default
    /// `everywhere` policy).
    pub fn preview_layer(
        &self,
        writes: &PreviewWrites,
        mask: &PackedU8Volume,
        locked: &[bool; 256],
    ) -> Result<PackedU8Volume> {
        let ctx = self.ctx;
        let d = self.labels.dims;
        let merged = match writes {
            PreviewWrites::Label(label) => {
                let merged = self.labels.duplicate(ctx)?;
                let p = CommitMaskParams::new(d, *label, locked);
                self.commit.run(ctx, &p, mask, &merged)?;
                merged
            }
            PreviewWrites::Structures { labels, background } => {
                let merged = self.labels.duplicate(ctx)?;
                let writable = std::array::from_fn(|l| !locked[l]);
                let k = self.logical_kernel()?;
                for &l in labels {
                    let p = LogicalParams::union_from_map(d, l, l, &writable);
                    k.run(ctx, &p, Some(mask), &self.image, &merged)?;
                }
                // The background strokes go, as Enter clears them (the shell's ROI holds
                // every seed).
                if !locked[usize::from(*background)] {
                    let p = LogicalParams::clear_label(d, *background);
                    k.run(ctx, &p, None, &self.image, &merged)?;
                }
                merged
            }
        };
        Ok(merged)
    }

    fn islands_kernel(&self) -> Result<&RegionGrowKernel> {
        cached(&self.islands, || RegionGrowKernel::new(self.ctx, DType::U8))
    }

    /// Reads the labels back, lets `f` change them on the host (returning how many voxels it
    /// changed) and writes them back when it changed any.
    fn through_host(
        &self,
        image: &Volume,
        f: impl FnOnce(&mut [u8]) -> Result<u64>,
    ) -> Result<u64> {
        let mut host = self.labels.download(self.ctx)?;
        let changed = f(&mut host)?;
        if changed > 0 {
            self.labels
                .write_box(self.ctx, [0, 0, 0], image.grid.dims, &host)?;
        }
        Ok(changed)
    }

    /// Runs one program on the GPU labels; returns the voxels changed.
    pub fn run(&self, image: &Volume, program: &Program) -> Result<u64> {
        let ctx = self.ctx;
        match program {
            Program::Spans(w) => self.spans.run(ctx, w, &self.image, &self.labels),
            Program::Grow {
                params,
                seeds,
                commit,
            } => {
                let mask = self.grow.run(ctx, params, seeds, &self.image, None)?;
                self.commit.run(ctx, commit, &mask, &self.labels)
            }
            Program::Morphology { params, offsets } => {
                self.morphology.run(ctx, params, offsets, &self.labels)
            }
            Program::Smooth {
                method,
                params,
                offsets,
            } => self
                .smooth_kernel()?
                .run(ctx, method, params, offsets, &self.labels),
            // The label's box is read on the host; the flood (every pass) runs on the GPU;
            // the holes are written back.
            Program::FillHoles(req) => self.through_host(image, |host| {
                let Some(mut st) = FillHolesState::init(req, host)? else {
                    return Ok(0);
                };
                match self.fill_holes_kernel()?.solve(ctx, &mut st) {
                    Ok(()) => {}
                    // A box above the adapter's binding limit: the CPU twin.
                    Err(Error::Gpu(_)) => st.solve_cpu(),
                    Err(e) => return Err(e),
                }
                Ok(st.commit(req, host))
            }),
            // The ROI's seeds and walls are read on the host from the labels; the solve
            // (every pass over the ROI) runs on the GPU; the result is written back.
            Program::GrowCut(req) => self.through_host(image, |host| {
                let mut st = GrowCutState::init(req, image, host)?;
                let k = self.grow_cut_kernel()?;
                match k.upload(ctx, &st) {
                    Ok(mut g) => {
                        k.solve(ctx, &mut g)?;
                        k.download(ctx, &g, &mut st)?;
                    }
                    // A ROI above the adapter's binding limit: the CPU twin.
                    Err(Error::Gpu(_)) => st.solve_cpu(),
                    Err(e) => return Err(e),
                }
                Ok(st.commit(req.background, host, image.grid.dims))
            }),
            Program::Logical { params, other_map } => {
                let other = match other_map {
                    Some(m) => Some(PackedU8Volume::upload(ctx, image.grid.dims, &m.0)?),
                    None => None,
                };
                self.logical_kernel()?
                    .run(ctx, params, other.as_ref(), &self.image, &self.labels)
            }
            Program::Interpolate(req) => {
                // The plan needs the key slices: read the labels back (the per-voxel work,
                // every gap voxel, runs on the GPU).
                let host = self.labels.download(ctx)?;
                let plan = interpolate_plan(req, &host)?;
                self.interpolate_kernel()?.run(ctx, &plan, &self.labels)
            }
            Program::Islands {
                label,
                connectivity,
                rule,
                commit,
            } => {
                let k = self.islands_kernel()?;
                match k.islands(ctx, &self.labels, *label, *connectivity, *rule, None)? {
                    Islands::Nothing => Ok(0),
                    Islands::Remove { mask, .. } => {
                        self.commit.run(ctx, commit, &mask, &self.labels)
                    }
                    // Millions of components in one slab: the CPU twin decides.
                    Islands::TooManyComponents(_) => {
                        self.through_host(image, |host| execute_cpu(image, host, program))
                    }
                }
            }
        }
    }
}

impl LabelStore for GpuEdit<'_> {
    fn dims(&self) -> [usize; 3] {
        self.labels.dims.map(|d| d as usize)
    }
    fn read_box(&self, lo: [usize; 3], hi: [usize; 3]) -> Result<Vec<u8>> {
        self.labels.read_box(self.ctx, lo, hi)
    }
    fn write_box(&mut self, lo: [usize; 3], hi: [usize; 3], data: &[u8]) -> Result<()> {
        self.labels.write_box(self.ctx, lo, hi, data)
    }
    fn execute(&mut self, image: &Volume, program: &Program) -> Result<u64> {
        self.run(image, program)
    }
    fn resident(&self) -> Option<Resident<'_>> {
        let kernel = cached(&self.undo_bricks, || BrickUndoKernel::new(self.ctx)).ok()?;
        Some(Resident {
            ctx: self.ctx,
            kernel,
            labels: &self.labels,
        })
    }
    fn commit_region(&mut self, commit: &CommitMaskParams, region: &GrowPreview) -> Result<u64> {
        match region {
            GrowPreview::Gpu(mask) => self.commit.run(self.ctx, commit, mask, &self.labels),
            GrowPreview::Host { .. } => Err(Error::mismatch(
                "GPU labels commit a region resident on the GPU",
            )),
        }
    }
    /// Strokes: the span write and the undo diff in one submission, one read-back.
    fn execute_snapshotted(
        &mut self,
        image: &Volume,
        program: &Program,
        snap: &Snapshot,
    ) -> Result<(u64, Option<Vec<u32>>)> {
        let (Program::Spans(w), Snapshot::Gpu(copy), Some(r)) = (program, snap, self.resident())
        else {
            return Ok((self.run(image, program)?, None));
        };
        let ctx = self.ctx;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let counter = self
            .spans
            .encode(ctx, &mut enc, w, &self.image, &self.labels)?;
        let (counts, n) = r.kernel.encode_diff(ctx, &mut enc, &self.labels, copy)?;
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("stroke read-back"),
            size: 4 * (n as u64 + 1),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(c) = &counter {
            enc.copy_buffer_to_buffer(c, 0, &staging, 0, 4);
        }
        enc.copy_buffer_to_buffer(&counts, 0, &staging, 4, 4 * n as u64);
        ctx.queue.submit([enc.finish()]);
        let v: Vec<u32> = bytemuck::pod_collect_to_vec(&map_read(ctx, &staging)?);
        Ok((u64::from(v[0]), Some(v[1..].to_vec())))
    }
}

/// The bricks overlapping a box, taken before an op (`UndoStack::snapshot`): raw copies on
/// the host, or a GPU-side copy of the box. The store reads it when it runs the op with
/// its undo diff in the same submission (`GpuEdit::execute_snapshotted`).
pub enum Snapshot {
    /// The op's box is empty.
    Empty,
    Host {
        /// The brick-aligned box read (voxels, `hi` exclusive).
        region: ([usize; 3], [usize; 3]),
        bricks: Vec<([usize; 3], Vec<u8>)>,
    },
    Gpu(voxmark_gpu::kernels::brick_undo::BoxCopy),
}

impl Snapshot {
    /// No bricks: for an op whose box is empty.
    pub fn empty() -> Self {
        Snapshot::Empty
    }
}
