//! An editing session: image + labels + label table + undo + journal. Every op goes through
//! [`Session::apply`], which applies it, records its undo data, appends it to the journal
//! (fsync) and only then reports success.
//!
//! The labels live either in host memory (CPU reference path) or on the GPU next to the
//! resident image ([`Session::on_gpu`]): then every op runs as a compute kernel over its
//! bounding box, undo snapshots read back only the op's bricks, and undo/redo write them
//! back into the texture. Both paths produce identical masks (tests).

use super::apply_cpu::{apply_op_cpu, grow_params, op_box, spans_for, EditEnv};
use super::commit::{CommitKernel, CommitParams};
use super::journal::{Journal, JournalEntry};
use super::label_volume::LabelInfo;
use super::morph::MorphKernel;
use super::ops::EditOp;
use super::spans::SpanWriteKernel;
use super::undo::{GpuLabels, HostLabels, LabelStore, Snapshot, UndoStack};
use crate::error::Result;
use crate::gpu::residency::{PackedU8Volume, ResidentVolume};
use crate::gpu::GpuContext;
use crate::kernels::region_grow::{Connectivity, GrowKernel, IslandRule, Islands};
use crate::volume::DType;
use crate::volume::Volume;
use std::borrow::Cow;

/// What one op did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpReport {
    pub op: &'static str,
    pub changed_voxels: u64,
    /// Bytes of undo data this op added (0 for undo/redo/set_label).
    pub undo_bytes: usize,
    /// Total undo + redo bytes held after the op.
    pub undo_total_bytes: usize,
    /// For undo/redo: which step was reverted or re-applied (None: nothing to do).
    pub step: Option<String>,
}

/// The GPU half of a session: image and labels resident, and the edit kernels.
pub struct GpuEdit<'a> {
    pub ctx: &'a GpuContext,
    pub image: ResidentVolume,
    pub labels: PackedU8Volume,
    spans: SpanWriteKernel,
    morph: MorphKernel,
    grow: GrowKernel,
    commit: CommitKernel,
    /// Connected components of labels (built on first use).
    islands: std::cell::OnceCell<Result<GrowKernel>>,
    /// Per-label statistics (built on first use; the shell refreshes them after each edit).
    stats: std::cell::OnceCell<Result<super::stats::LabelStatsKernel>>,
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
            morph: MorphKernel::new(ctx)?,
            grow: GrowKernel::new(ctx, image.dtype())?,
            commit: CommitKernel::new(ctx)?,
            islands: std::cell::OnceCell::new(),
            stats: std::cell::OnceCell::new(),
        })
    }

    /// The region-growing kernel for this image's type.
    pub fn grow_kernel(&self) -> &GrowKernel {
        &self.grow
    }

    fn store(&self) -> GpuLabels<'_> {
        GpuLabels {
            ctx: self.ctx,
            volume: &self.labels,
        }
    }

    /// Runs one content op on the GPU labels; returns the voxels changed.
    pub fn apply_op(&self, env: &EditEnv, op: &EditOp) -> Result<u64> {
        let ctx = self.ctx;
        if let Some(w) = spans_for(env, op)? {
            return self.spans.run(ctx, &w, &self.image, &self.labels);
        }
        match op {
            EditOp::Grow {
                seeds,
                label,
                editable,
                ..
            } => {
                let p = grow_params(env, op)?;
                let mask = self.grow.run(ctx, &p, seeds, &self.image, None)?;
                // The commit kernel keeps every label the editable policy protects.
                let blocked = env.allowed_labels(*editable).map(|a| !a);
                let cp = CommitParams::new(self.labels.dims, *label, &blocked);
                self.commit.run(ctx, &cp, &mask, &self.labels)
            }
            EditOp::Dilate { .. } | EditOp::Erode { .. } => {
                self.morph.run(ctx, env, op, &self.labels)
            }
            EditOp::Islands {
                label,
                keep_largest,
                min_voxels,
                connectivity,
            } => {
                env.require_unlocked(op, *label)?;
                let conn = Connectivity::from_number(*connectivity)?;
                let rule = if *keep_largest {
                    IslandRule::KeepLargest
                } else {
                    IslandRule::MinVoxels(min_voxels.unwrap_or(0) as u64)
                };
                let k = self.islands.get_or_init(|| GrowKernel::new(ctx, DType::U8));
                let k = k.as_ref().map_err(|e| crate::Error::Gpu(e.to_string()))?;
                match k.islands(ctx, &self.labels, *label, conn, rule, None)? {
                    Islands::Nothing => Ok(0),
                    Islands::Remove { mask, .. } => {
                        // Clear the rejected components' voxels (label unlocked, checked above).
                        let cp = CommitParams::new(self.labels.dims, 0, &env.locked);
                        self.commit.run(ctx, &cp, &mask, &self.labels)
                    }
                    Islands::TooManyComponents(_) => {
                        // Millions of components in one slab: the CPU reference decides.
                        let d = env.dims();
                        let mut host = self.labels.download(ctx)?;
                        let changed = apply_op_cpu(env, &mut host, op)?;
                        if changed > 0 {
                            self.labels.write_box(ctx, [0, 0, 0], d, &host)?;
                        }
                        Ok(changed)
                    }
                }
            }
            _ => Ok(0),
        }
    }
}

/// A grow result shown before it is accepted.
pub enum GrowPreview {
    Gpu(PackedU8Volume),
    Host { mask: Vec<u8>, voxels: u64 },
}

/// The image a session edits: borrowed (CLI, tests) or shared (the desktop shell, whose
/// documents outlive any one stack frame).
pub enum ImageRef<'a> {
    Borrowed(&'a Volume),
    Shared(std::sync::Arc<Volume>),
}

impl std::ops::Deref for ImageRef<'_> {
    type Target = Volume;
    fn deref(&self) -> &Volume {
        match self {
            ImageRef::Borrowed(v) => v,
            ImageRef::Shared(v) => v,
        }
    }
}

impl ImageRef<'_> {
    /// A shared handle (a copy only for a borrowed image).
    pub fn to_arc(&self) -> std::sync::Arc<Volume> {
        match self {
            ImageRef::Borrowed(v) => std::sync::Arc::new((*v).clone()),
            ImageRef::Shared(v) => v.clone(),
        }
    }
}

impl<'a> From<&'a Volume> for ImageRef<'a> {
    fn from(v: &'a Volume) -> Self {
        ImageRef::Borrowed(v)
    }
}

impl From<std::sync::Arc<Volume>> for ImageRef<'_> {
    fn from(v: std::sync::Arc<Volume>) -> Self {
        ImageRef::Shared(v)
    }
}

/// Where a session's labels live.
pub enum Labels<'a> {
    Host(Vec<u8>),
    Gpu(Box<GpuEdit<'a>>),
}

/// The editing session.
pub struct Session<'a> {
    pub image: ImageRef<'a>,
    pub labels: Labels<'a>,
    pub table: Vec<LabelInfo>,
    pub undo: UndoStack,
    pub journal: Option<Journal>,
    pub author: String,
}

impl<'a> Session<'a> {
    /// A session on `image` starting from `labels` (same voxel count), in host memory.
    pub fn new(image: impl Into<ImageRef<'a>>, labels: Vec<u8>) -> Result<Self> {
        let image = image.into();
        Self::check_len(&image, labels.len())?;
        Ok(Self::with_labels(image, Labels::Host(labels)))
    }

    /// A session whose labels live on the GPU (uploaded with the image).
    pub fn on_gpu(
        ctx: &'a GpuContext,
        image: impl Into<ImageRef<'a>>,
        labels: &[u8],
    ) -> Result<Self> {
        let image = image.into();
        Self::check_len(&image, labels.len())?;
        let g = GpuEdit::new(ctx, &image, labels)?;
        Ok(Self::with_labels(image, Labels::Gpu(Box::new(g))))
    }

    fn check_len(image: &Volume, n: usize) -> Result<()> {
        if n != image.grid.voxel_count() {
            return Err(crate::Error::Invalid(format!(
                "labels hold {n} voxels, the image {}",
                image.grid.voxel_count()
            )));
        }
        Ok(())
    }

    fn with_labels(image: ImageRef<'a>, labels: Labels<'a>) -> Self {
        let author = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            image,
            labels,
            table: Vec::new(),
            undo: UndoStack::default(),
            journal: None,
            author,
        }
    }

    /// The labels as u8 (i fastest): borrowed on the host path, read back from the GPU.
    pub fn labels(&self) -> Result<Cow<'_, [u8]>> {
        match &self.labels {
            Labels::Host(v) => Ok(Cow::Borrowed(v)),
            Labels::Gpu(g) => Ok(Cow::Owned(g.labels.download(g.ctx)?)),
        }
    }

    /// Per-label statistics: on the GPU from the resident image and labels when the labels
    /// live there and the volume is 8- or 16-bit, else the CPU reference.
    pub fn stats(&self) -> Result<Vec<super::stats::LabelStats>> {
        use super::stats::{label_stats, LabelStatsKernel};
        match &self.labels {
            Labels::Gpu(g) if LabelStatsKernel::supports(self.image.dtype()) => {
                let k = g
                    .stats
                    .get_or_init(|| LabelStatsKernel::new(g.ctx, self.image.dtype()));
                let k = k.as_ref().map_err(|e| crate::Error::Gpu(e.to_string()))?;
                k.run(g.ctx, &self.image.grid, &g.image, &g.labels)
            }
            _ => Ok(label_stats(&self.image, &self.labels()?)),
        }
    }

    /// The region a `grow` op would add, without changing the labels (the preview layer):
    /// a packed mask on the GPU, or u8 (label value on grown voxels) with its voxel count on
    /// the host.
    pub fn grow_preview(&self, op: &EditOp) -> Result<GrowPreview> {
        let env = EditEnv {
            image: &self.image,
            locked: self.locked(),
        };
        let p = grow_params(&env, op)?;
        let EditOp::Grow { seeds, .. } = op else {
            return Err(crate::Error::Invalid("grow_preview needs a grow op".into()));
        };
        Ok(match &self.labels {
            Labels::Gpu(g) => GrowPreview::Gpu(g.grow.run(g.ctx, &p, seeds, &g.image, None)?),
            Labels::Host(_) => {
                let mask = crate::kernels::region_grow::grow_cpu(&p, &self.image.data, seeds);
                let voxels = mask.iter().filter(|&&m| m != 0).count() as u64;
                GrowPreview::Host { mask, voxels }
            }
        })
    }

    /// The GPU half (resident image and labels), when the labels live on the GPU.
    pub fn gpu(&self) -> Option<&GpuEdit<'a>> {
        match &self.labels {
            Labels::Gpu(g) => Some(g),
            Labels::Host(_) => None,
        }
    }

    /// "gpu" or "cpu".
    pub fn backend(&self) -> &'static str {
        match self.labels {
            Labels::Host(_) => "cpu",
            Labels::Gpu(_) => "gpu",
        }
    }

    fn locked(&self) -> [bool; 256] {
        super::label_volume::locked_set(&self.table)
    }

    /// Applies `op` in memory without journaling (replay, recovery).
    pub fn apply_unjournaled(&mut self, op: &EditOp) -> Result<OpReport> {
        let d = self.image.grid.dims;
        let total = |s: &Self| s.undo.bytes();
        match op {
            EditOp::Undo | EditOp::Redo => {
                let undo = matches!(op, EditOp::Undo);
                let step = match &mut self.labels {
                    Labels::Host(v) => {
                        let mut st = HostLabels { data: v, dims: d };
                        swap_step(&mut self.undo, &mut st, undo)?
                    }
                    Labels::Gpu(g) => swap_step(&mut self.undo, &mut g.store(), undo)?,
                };
                Ok(OpReport {
                    op: op.name(),
                    changed_voxels: 0,
                    undo_bytes: 0,
                    undo_total_bytes: total(self),
                    step,
                })
            }
            EditOp::SetLabel {
                value,
                name,
                color,
                visible,
                locked,
            } => {
                op.validate()?;
                let i = match self.table.iter().position(|l| l.value == *value) {
                    Some(i) => i,
                    None => {
                        let pal = crate::kernels::mpr::default_palette();
                        let c = pal[usize::from(*value)];
                        self.table.push(LabelInfo {
                            value: *value,
                            name: format!("label {value}"),
                            color: [c[0], c[1], c[2]],
                            visible: true,
                            locked: false,
                        });
                        self.table.len() - 1
                    }
                };
                let l = &mut self.table[i];
                if let Some(n) = name {
                    l.name = n.clone();
                }
                if let Some(c) = color {
                    l.color = *c;
                }
                if let Some(v) = visible {
                    l.visible = *v;
                }
                if let Some(k) = locked {
                    l.locked = *k;
                }
                Ok(OpReport {
                    op: op.name(),
                    changed_voxels: 0,
                    undo_bytes: 0,
                    undo_total_bytes: total(self),
                    step: None,
                })
            }
            _ => {
                op.validate()?;
                let env = EditEnv {
                    image: &self.image,
                    locked: self.locked(),
                };
                let bx = op_box(&env, op)?;
                let before = self.undo.bytes();
                // An op that can change nothing still records an (empty) undo step.
                let changed = match &mut self.labels {
                    Labels::Host(v) => {
                        let snap = match bx {
                            Some(b) => UndoStack::snapshot(&HostLabels { data: v, dims: d }, b)?,
                            None => Snapshot::empty(),
                        };
                        let changed = apply_op_cpu(&env, v, op)?;
                        let st = HostLabels { data: v, dims: d };
                        self.undo.record(op.name(), snap, &st, changed)?;
                        changed
                    }
                    Labels::Gpu(g) => {
                        let st = g.store();
                        let snap = match bx {
                            Some(b) => UndoStack::snapshot(&st, b)?,
                            None => Snapshot::empty(),
                        };
                        let changed = g.apply_op(&env, op)?;
                        self.undo.record(op.name(), snap, &st, changed)?;
                        changed
                    }
                };
                let after = self.undo.bytes();
                Ok(OpReport {
                    op: op.name(),
                    changed_voxels: changed,
                    undo_bytes: after.saturating_sub(before),
                    undo_total_bytes: after,
                    step: None,
                })
            }
        }
    }

    /// Applies `op`, journals it (fsync), and only then returns: an acknowledged op survives
    /// a crash.
    pub fn apply(&mut self, op: &EditOp, tool: &str) -> Result<OpReport> {
        let report = self.apply_unjournaled(op)?;
        if let Some(j) = self.journal.as_mut() {
            j.append(op, &self.author, tool)?;
        }
        Ok(report)
    }

    /// Replays recovered journal entries (no journaling).
    pub fn replay(&mut self, entries: &[JournalEntry]) -> Result<()> {
        for e in entries {
            self.apply_unjournaled(&e.op)?;
        }
        Ok(())
    }
}

fn swap_step(
    undo: &mut UndoStack,
    store: &mut dyn LabelStore,
    is_undo: bool,
) -> Result<Option<String>> {
    if is_undo {
        undo.undo(store)
    } else {
        undo.redo(store)
    }
}
