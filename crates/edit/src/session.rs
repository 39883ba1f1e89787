//! An editing session: image + labels + label table + undo + journal. Every op goes through
//! [`Session::apply`], which applies it, records its undo data, appends it to the journal
//! (fsync) and only then reports success.
//!
//! An op is lowered once (`lower`: validation, locks, rasterisation → a [`Program`] and the box
//! it can change); the session snapshots that box for undo, has the label store run the
//! program, and records the step. The labels live either in host memory (CPU twins) or on the
//! GPU next to the resident image ([`Session::on_gpu`], [`GpuEdit`]): then every program runs
//! as compute kernels and undo keeps the op's changed bricks on the GPU (`gpu::kernels::brick_undo`;
//! undo/redo swap them back in one dispatch). Both paths produce identical masks (tests).
//!
//! [`Session::apply`] journals undo/redo so that replaying the journal on top of the saved
//! mask gives what the user saw (module `undo`, `UndoEntry::position`); every
//! [`OpReport`] carries where the op's time went ([`OpTiming`]).

use super::journal::{Journal, JournalEntry};
use super::lower::{lower, EditEnv, Lowered, Program};
use super::ops::EditOp;
pub use super::store::GpuEdit;
use super::store::Snapshot;
use super::store::{execute_cpu, HostLabels, LabelStore, PreviewWrites};
use super::undo::UndoStack;
use std::borrow::Cow;
use voxmark_gpu::kernels::interpolate::{
    interpolate_cpu, interpolate_plan, InterpolatePlan, InterpolateRequest,
};
use voxmark_gpu::kernels::label_stats::{label_stats_cpu, LabelStats};
use voxmark_gpu::kernels::region_grow::{region_grow_cpu, RegionGrowParams};
use voxmark_gpu::residency::PackedU8Volume;
use voxmark_gpu::GpuContext;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::label_table::LabelInfo;
use voxmark_volume::markup::{MarkupEdit, MarkupSet};
use voxmark_volume::Volume;

/// What one op did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpReport {
    pub op: &'static str,
    pub changed_voxels: u64,
    /// Bytes of undo data this op added, host + GPU (0 for undo/redo/set_label).
    pub undo_bytes: usize,
    /// 16³ bricks this op's undo step holds (0 for undo/redo/set_label).
    pub undo_bricks: usize,
    /// Total undo + redo bytes held after the op, host + GPU.
    pub undo_total_bytes: usize,
    /// Of which on the GPU.
    pub undo_gpu_bytes: usize,
    /// For undo/redo: which step was reverted or re-applied (None: nothing to do).
    pub step: Option<String>,
    /// Where the op's time went.
    pub timing: OpTiming,
}

/// Where one op's time went (host clock, ms). `gpu_wait_ms` is the part of the op the host
/// spent blocked on the GPU (kernels, copies, read-backs: [`voxmark_gpu::context::wait_clock`]),
/// over `gpu_waits` waits; the rest of each phase is host work.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct OpTiming {
    /// Validation, lock check, rasterisation (strokes), plans.
    pub lower_ms: f64,
    /// Undo snapshot of the op's box before it runs.
    pub snapshot_ms: f64,
    /// The op itself (uploads, kernels, read-backs of counts; the CPU twin on the host).
    pub run_ms: f64,
    /// Undo step: which bricks changed, and keeping them (or the undo/redo swap).
    pub undo_ms: f64,
    /// Appending the op to the journal (fsync).
    pub journal_ms: f64,
    pub gpu_waits: u64,
    pub gpu_wait_ms: f64,
}

fn ms_since(t: &std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Why fill between slices has nothing to fill: what the user must draw.
fn no_gap_message(req: &InterpolateRequest, plan: &InterpolatePlan) -> String {
    let axis = ["i", "j", "k"][req.n];
    match plan.key_slices.len() {
        0 => format!(
            "fill between slices: label {} is on no slice — draw it on two or more slices \
             with empty slices between",
            req.label
        ),
        1 => format!(
            "fill between slices: label {} is only on slice {} (voxel axis {axis}) — draw it \
             on another slice too, with empty slices between",
            req.label, plan.key_slices[0]
        ),
        _ => format!(
            "fill between slices: label {} is on slices {:?} (voxel axis {axis}) with no empty \
             slice between them — nothing to fill",
            req.label, plan.key_slices
        ),
    }
}

/// A grow (or fill-between-slices) result shown before it is accepted (defined beside the
/// stores, which commit a grow's preview without growing again).
pub use super::store::GrowPreview;

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

impl Labels<'_> {
    /// Lends `f` these labels as a label store (volume `dims`): the one place that picks
    /// the store; everything else runs on either.
    fn with_store<R>(&mut self, dims: [usize; 3], f: impl FnOnce(&mut dyn LabelStore) -> R) -> R {
        match self {
            Labels::Host(v) => f(&mut HostLabels { data: v, dims }),
            Labels::Gpu(g) => f(g.as_mut()),
        }
    }
}

/// The editing session: the image, its labels in one label store (host or GPU), their label
/// table and markups, the undo stack and the journal. Every change goes through
/// [`Session::apply`] (or is a set-up step before the first op: table, markups, journal,
/// author, read-only), so the journal, undo and labels cannot disagree.
pub struct Session<'a> {
    image: ImageRef<'a>,
    labels: Labels<'a>,
    table: Vec<LabelInfo>,
    /// The markups of this annotation (points, lines, boxes, …), edited by
    /// [`EditOp::Markup`] ops: journaled and undoable like voxel edits.
    markups: MarkupSet,
    undo: UndoStack,
    journal: Option<Journal>,
    author: String,
    /// Set when another process owns this mask (its journal is locked): every op is
    /// refused with [`Error::ReadOnly`] carrying this message.
    read_only: Option<String>,
}

impl<'a> Session<'a> {
    /// The image being edited.
    pub fn image(&self) -> &ImageRef<'a> {
        &self.image
    }

    /// The label table (names, colours, visibility, locks).
    pub fn table(&self) -> &[LabelInfo] {
        &self.table
    }

    /// Replaces the label table: when a document or a project case is opened, before edits
    /// (a journaled change of one label is a `set_label` op).
    pub fn set_table(&mut self, table: Vec<LabelInfo>) {
        self.table = table;
    }

    /// The markups (changed by `markup` ops).
    pub fn markups(&self) -> &MarkupSet {
        &self.markups
    }

    /// Replaces the markups: when a document is opened, before edits.
    pub fn set_markups(&mut self, markups: MarkupSet) {
        self.markups = markups;
    }

    /// The undo stack (its budgets are set when the session is made).
    pub fn undo_stack(&self) -> &UndoStack {
        &self.undo
    }

    /// The undo stack, to set its budgets.
    pub fn undo_stack_mut(&mut self) -> &mut UndoStack {
        &mut self.undo
    }

    /// The journal ops are appended to, if any.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The journal, to checkpoint it on a save.
    pub fn journal_mut(&mut self) -> Option<&mut Journal> {
        self.journal.as_mut()
    }

    /// Sets the journal ops are appended to (None: not journaled); returns the previous one.
    pub fn set_journal(&mut self, journal: Option<Journal>) -> Option<Journal> {
        std::mem::replace(&mut self.journal, journal)
    }

    /// Who the journal records as the author of each op.
    pub fn author(&self) -> &str {
        &self.author
    }

    pub fn set_author(&mut self, author: impl Into<String>) {
        self.author = author.into();
    }

    /// Why every op is refused (another process owns the mask), if it is.
    pub fn read_only(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    /// Makes the session read-only with this reason, or writable again (None); returns the
    /// previous reason.
    pub fn set_read_only(&mut self, why: Option<String>) -> Option<String> {
        std::mem::replace(&mut self.read_only, why)
    }

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
            return Err(Error::mismatch(format!(
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
            markups: MarkupSet::default(),
            undo: UndoStack::default(),
            journal: None,
            read_only: None,
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
    pub fn stats(&self) -> Result<Vec<LabelStats>> {
        let dtype = self.image.dtype();
        match &self.labels {
            Labels::Gpu(g)
                if voxmark_gpu::kernels::label_stats::LabelStatsKernel::supports(dtype) =>
            {
                g.stats_kernel(dtype)?
                    .run(g.ctx, &self.image.grid, &g.image, &g.labels)
            }
            _ => Ok(label_stats_cpu(&self.image, &self.labels()?)),
        }
    }

    /// The region a `grow` or `interpolate` op would add, without changing the labels (the
    /// preview layer): a packed mask on the GPU, or u8 (label value on previewed voxels) with
    /// its voxel count on the host. A fill-between-slices preview shows the interpolated
    /// shape; locked voxels inside it keep their label when the op is applied.
    pub fn preview(&self, op: &EditOp) -> Result<GrowPreview> {
        let env = EditEnv {
            image: &self.image,
            locked: self.locked(),
        };
        match lower(&env, op)? {
            Lowered::Voxels {
                program: Program::Grow { params, seeds, .. },
                ..
            } => Ok(match &self.labels {
                Labels::Gpu(g) => GrowPreview::Gpu(
                    g.grow_kernel()
                        .run(g.ctx, &params, &seeds, &g.image, None)?,
                ),
                Labels::Host(_) => {
                    let mask = region_grow_cpu(&params, &self.image.data, &seeds);
                    let voxels = mask.iter().filter(|&&m| m != 0).count() as u64;
                    GrowPreview::Host { mask, voxels }
                }
            }),
            Lowered::Voxels {
                program: Program::Interpolate(req),
                ..
            } => {
                let mut plan = interpolate_plan(&req, &self.labels()?)?;
                if plan.tasks.is_empty() {
                    return Err(Error::invalid(no_gap_message(&req, &plan)));
                }
                // Evaluated on empty labels: every voxel of the interpolated shape shows.
                plan.params.blocked = [0; 8];
                Ok(match &self.labels {
                    Labels::Gpu(g) => {
                        let mask = PackedU8Volume::zeros(g.ctx, self.image.grid.dims)?;
                        g.interpolate_kernel()?.run(g.ctx, &plan, &mask)?;
                        GrowPreview::Gpu(mask)
                    }
                    Labels::Host(_) => {
                        let mut mask = vec![0u8; self.image.grid.voxel_count()];
                        let voxels = interpolate_cpu(&plan, &mut mask);
                        GrowPreview::Host { mask, voxels }
                    }
                })
            }
            _ => Err(Error::invalid("a preview needs a grow or interpolate op")),
        }
    }

    /// The region a grow with `params` from `seeds` covers, as a host mask (for estimates
    /// that read it back: ITK's ConfidenceConnected re-estimate): grown by the kernel and
    /// read back on a hardware GPU, by the CPU twin otherwise (the same voxels; a software
    /// adapter is slower than the twin).
    pub fn grow_mask(&self, params: &RegionGrowParams, seeds: &[[usize; 3]]) -> Result<Vec<u8>> {
        match &self.labels {
            Labels::Gpu(g) if !g.ctx.is_software() => g
                .grow_kernel()
                .run(g.ctx, params, seeds, &g.image, None)?
                .download(g.ctx),
            _ => Ok(region_grow_cpu(params, &self.image.data, seeds)),
        }
    }

    /// The labels as the 3D view shows them while `op`'s preview `mask` waits for Accept
    /// (`GpuEdit::preview_layer` with this session's locks). None for ops without a preview
    /// or a session whose labels are on the host.
    pub fn labels_with_preview(
        &self,
        op: &EditOp,
        mask: &PackedU8Volume,
    ) -> Result<Option<PackedU8Volume>> {
        match (self.gpu(), preview_writes(op)) {
            (Some(g), Some(w)) => g.preview_layer(&w, mask, &self.locked()).map(Some),
            _ => Ok(None),
        }
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

    /// The locked label values (from the label table).
    pub fn locked(&self) -> [bool; 256] {
        voxmark_volume::label_table::locked_set(&self.table)
    }

    /// Applies `op` in memory without journaling (replay, recovery).
    pub fn apply_unjournaled(&mut self, op: &EditOp) -> Result<OpReport> {
        self.apply_in_memory(op, None)
    }

    /// [`Session::apply_unjournaled`]; a grow whose region `premade` already holds (its
    /// preview, made by [`Session::preview`] for this op) commits that region instead of
    /// growing again — the same voxels: the region depends only on the op and the image.
    fn apply_in_memory(&mut self, op: &EditOp, premade: Option<&GrowPreview>) -> Result<OpReport> {
        let clock0 = voxmark_gpu::context::wait_clock();
        let mut timing = OpTiming::default();
        let t = std::time::Instant::now();
        let env = EditEnv {
            image: &self.image,
            locked: self.locked(),
        };
        let lowered = lower(&env, op)?;
        timing.lower_ms = ms_since(&t);
        let d = self.image.grid.dims;
        let image: &Volume = &self.image;
        let undo = &mut self.undo;
        let table = &mut self.table;
        let markups = &mut self.markups;
        // (changed voxels, undo bytes and bricks this op added, the undo/redo step)
        let t = std::time::Instant::now();
        let (changed, added, bricks, step) = self.labels.with_store(d, |store| {
            Ok::<_, Error>(match lowered {
                Lowered::Undo => (0, 0, 0, undo.undo(store, markups)?),
                Lowered::Redo => (0, 0, 0, undo.redo(store, markups)?),
                Lowered::Markup(edit) => {
                    let before = undo.bytes();
                    let inverse = markups.apply(&edit).map_err(|why| {
                        Error::Invalid(format!("markup: {why} (nothing changed)"))
                    })?;
                    undo.record_markup(&edit.describe(), inverse, store)?;
                    (0, undo.bytes().saturating_sub(before), 0, None)
                }
                Lowered::Table(change) => {
                    change.apply_to(table);
                    (0, 0, 0, None)
                }
                Lowered::Voxels { region, program } => {
                    let before = undo.bytes() + undo.gpu_bytes();
                    // An op that can change nothing still records an (empty) undo step.
                    let snap = match region {
                        Some(b) => UndoStack::snapshot(store, b)?,
                        None => Snapshot::empty(),
                    };
                    timing.snapshot_ms = ms_since(&t);
                    let t = std::time::Instant::now();
                    let (changed, diff) = match (&program, premade) {
                        (Program::Grow { commit, .. }, Some(region)) => {
                            (store.commit_region(commit, region)?, None)
                        }
                        _ => store.execute_snapshotted(image, &program, &snap)?,
                    };
                    timing.run_ms = ms_since(&t);
                    let t = std::time::Instant::now();
                    undo.record(op.name(), snap, store, changed, diff)?;
                    timing.undo_ms = ms_since(&t);
                    let after = undo.bytes() + undo.gpu_bytes();
                    let bricks = undo.last().map_or(0, |e| e.bricks());
                    (changed, after.saturating_sub(before), bricks, None)
                }
            })
        })?;
        if step.is_some() {
            timing.undo_ms = ms_since(&t);
        }
        let clock1 = voxmark_gpu::context::wait_clock();
        timing.gpu_waits = clock1.waits - clock0.waits;
        timing.gpu_wait_ms = (clock1.ns - clock0.ns) as f64 / 1e6;
        Ok(OpReport {
            op: op.name(),
            changed_voxels: changed,
            undo_bytes: added,
            undo_bricks: bricks,
            undo_total_bytes: self.undo.bytes() + self.undo.gpu_bytes(),
            undo_gpu_bytes: self.undo.gpu_bytes(),
            step,
            timing,
        })
    }

    /// Applies `op`, journals it (fsync), and only then returns: an acknowledged op survives
    /// a crash.
    ///
    /// Undo and redo are journaled so that replaying the journal on top of the saved mask
    /// gives what the user saw: one that moves a step the journal can rebuild (its op and
    /// every undo/redo of it since are still journaled) is journaled as is; one that reaches
    /// past the last save carries the contents of the bricks it wrote (`restore`), which
    /// replay writes back; one that finds nothing to undo or redo is not journaled.
    pub fn apply(&mut self, op: &EditOp, tool: &str) -> Result<OpReport> {
        self.apply_with(op, tool, None)
    }

    /// Accepts a previewed op: [`Session::apply`], except that a grow commits `preview` (its
    /// region, made by [`Session::preview`] for this op) instead of growing a second time.
    /// Journaled as the op itself, so replay grows it again, to the same voxels.
    pub fn apply_previewed(
        &mut self,
        op: &EditOp,
        preview: &GrowPreview,
        tool: &str,
    ) -> Result<OpReport> {
        self.apply_with(op, tool, Some(preview))
    }

    fn apply_with(
        &mut self,
        op: &EditOp,
        tool: &str,
        premade: Option<&GrowPreview>,
    ) -> Result<OpReport> {
        if let Some(why) = &self.read_only {
            return Err(Error::ReadOnly(why.clone()));
        }
        // The op as journaled (a second label map pinned by path and SHA-256; a markup added
        // with the id it gets, so replay gives it the same), applied as such.
        let pinned = op.pinned()?;
        let concrete;
        let op = match pinned.as_ref() {
            EditOp::Markup(MarkupEdit::Add { markup }) if markup.id == 0 => {
                let mut m = markup.clone();
                m.id = self.markups.new_id();
                concrete = EditOp::Markup(MarkupEdit::Add { markup: m });
                &concrete
            }
            op => op,
        };
        let step = match op {
            EditOp::Undo => Some(true),
            EditOp::Redo => Some(false),
            _ => None,
        };
        // For an undo/redo: whether replaying the journal rebuilds the step it moves, and
        // the bricks it will write (taken now: a budget trim after the move may drop it).
        let target = step.and_then(|u| self.undo.next_step(u)).map(|e| {
            let replayable = match (e.position, &self.journal) {
                (Some(p), Some(j)) => j.holds(p),
                _ => false,
            };
            (replayable, e.brick_list(), e.markup_edit().cloned())
        });
        let recorded = self.undo.recorded;
        let mut report = self.apply_in_memory(op, premade)?;
        if self.journal.is_none() || (step.is_some() && report.step.is_none()) {
            return Ok(report);
        }
        let t = std::time::Instant::now();
        let restore = match target {
            Some((false, bricks, markup)) => {
                let d = self.image.grid.dims;
                let mut r = self
                    .labels
                    .with_store(d, |store| super::undo::capture(store, &bricks))?;
                r.markup = markup;
                Some(r)
            }
            _ => None,
        };
        let plain = restore.is_none();
        let (author, journal) = (&self.author, self.journal.as_mut());
        let Some(j) = journal else {
            return Ok(report);
        };
        let (_, position) = j.append_entry(op, author, tool, restore)?;
        report.timing.journal_ms = ms_since(&t);
        // The step this op made or moved: replayable from this entry while it is journaled.
        let moved = match step {
            Some(by_undo) => self.undo.moved_mut(by_undo),
            None if self.undo.recorded != recorded => self.undo.moved_mut(false),
            None => None,
        };
        if let Some(e) = moved {
            e.position = plain.then_some(position);
        }
        Ok(report)
    }

    /// Replays recovered journal entries (no journaling): the journal's last entries, so
    /// the steps they make are marked replayable from their positions. An undo/redo that
    /// carries restore data writes it back.
    pub fn replay(&mut self, entries: &[JournalEntry]) -> Result<()> {
        let first = self
            .journal
            .as_ref()
            .map(|j| j.appended().saturating_sub(entries.len() as u64));
        for (i, e) in entries.iter().enumerate() {
            if let Some(r) = &e.restore {
                let d = self.image.grid.dims;
                self.labels
                    .with_store(d, |store| super::undo::restore(store, r))?;
                if let Some(edit) = &r.markup {
                    self.markups.apply(edit).map_err(|why| {
                        Error::Corrupt(format!("journal entry {}: markup restore: {why}", e.seq))
                    })?;
                }
                continue;
            }
            let recorded = self.undo.recorded;
            let rep = self.apply_unjournaled(&e.op)?;
            let moved = match e.op {
                EditOp::Undo if rep.step.is_some() => self.undo.moved_mut(true),
                EditOp::Redo if rep.step.is_some() => self.undo.moved_mut(false),
                _ if self.undo.recorded != recorded => self.undo.moved_mut(false),
                _ => None,
            };
            if let (Some(m), Some(f)) = (moved, first) {
                m.position = Some(f + i as u64);
            }
        }
        Ok(())
    }
}

/// Applies `op` to host `labels` (lowered, then run by the CPU twins); returns the voxels
/// changed. Undo, redo, label-table and markup changes change no voxels here (a session
/// owns them).
pub fn apply_op_cpu(env: &EditEnv, labels: &mut [u8], op: &EditOp) -> Result<u64> {
    match lower(env, op)? {
        Lowered::Voxels { program, .. } => execute_cpu(env.image, labels, &program),
        Lowered::Table(_) | Lowered::Markup(_) | Lowered::Undo | Lowered::Redo => Ok(0),
    }
}

/// What a previewed op writes where its preview is set (None: the op has no preview).
pub fn preview_writes(op: &EditOp) -> Option<PreviewWrites> {
    match op {
        EditOp::Grow { label, .. } | EditOp::Interpolate { label, .. } => {
            Some(PreviewWrites::Label(*label))
        }
        EditOp::GrowCut {
            labels, background, ..
        } => Some(PreviewWrites::Structures {
            labels: labels.clone(),
            background: *background,
        }),
        _ => None,
    }
}
