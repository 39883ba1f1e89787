//! Undo/redo that stores only what changed: the previous contents of changed 16³ bricks.
//! Memory is proportional to the changed region, never a full copy.
//!
//! Where the labels live decides where the bricks are kept. On the host they are compressed
//! (deflate, or one byte for a constant brick) and the stack is trimmed from the oldest entry
//! to stay within a byte budget (default 1 GiB). On the GPU (a store with a
//! [`Resident`] side) they never leave the card: the op's box is copied GPU-side before the
//! op, the changed bricks are found and gathered into a slot texture after it
//! (`gpu::kernels::brick_undo`), and undo/redo are one swap dispatch, with no read-back. GPU
//! entries have their own budget (default 1 GiB); past it the oldest are moved to the host,
//! compressed exactly as the host session keeps them.

use super::journal::Restore;
use super::lower::VoxelBox;
use super::store::{LabelStore, Resident, Snapshot};
use std::io::{Read, Write};
pub use voxmark_gpu::kernels::brick_undo::BRICK;
use voxmark_gpu::kernels::brick_undo::{BrickSlots, BrickUndoKernel, SLOT_BYTES};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::markup::{MarkupEdit, MarkupSet};

/// Default memory budget for the undo + redo stacks (host bytes, and GPU bytes apart).
pub const DEFAULT_BUDGET_BYTES: usize = 1 << 30;

/// One brick's contents (compressed, or a single repeated value).
#[derive(Debug, Clone)]
enum Stored {
    Constant(u8),
    Deflate(Vec<u8>),
}

impl Stored {
    fn bytes(&self) -> usize {
        match self {
            Stored::Constant(_) => 1,
            Stored::Deflate(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone)]
struct BrickData {
    brick: [usize; 3],
    data: Stored,
}

/// Where an entry's bricks are kept.
enum Payload {
    Host(Vec<BrickData>),
    Gpu(BrickSlots),
    /// A markup step: the edit that reverses it (swapped for its own inverse on each move).
    Markup(MarkupEdit),
}

/// One undoable step: the contents of the bricks it changed, from before (for undo) or after
/// (for redo) the step.
pub struct UndoEntry {
    pub name: String,
    payload: Payload,
    /// Voxels the step changed.
    pub changed_voxels: u64,
    /// Journal position (`Journal::append_entry`) of the op that last moved this step (made,
    /// undid or redid it) when every move so far is replayable from the journal; None when
    /// not journaled or moved by a restore. While the journal holds that position, replaying
    /// it rebuilds this step, so its undo/redo can be journaled as a plain op.
    pub position: Option<u64>,
}

impl UndoEntry {
    /// Host bytes held by this entry.
    pub fn bytes(&self) -> usize {
        match &self.payload {
            Payload::Host(b) => b.iter().map(|b| b.data.bytes() + 32).sum::<usize>() + 64,
            Payload::Gpu(s) => 64 + 24 * s.bricks.len(),
            Payload::Markup(e) => 256 + markup_points(e) * 24,
        }
    }

    /// GPU bytes held by this entry.
    pub fn gpu_bytes(&self) -> usize {
        match &self.payload {
            Payload::Host(_) | Payload::Markup(_) => 0,
            Payload::Gpu(s) => s.gpu_bytes(),
        }
    }

    /// Bricks this step changed.
    pub fn bricks(&self) -> usize {
        match &self.payload {
            Payload::Host(b) => b.len(),
            Payload::Gpu(s) => s.bricks.len(),
            Payload::Markup(_) => 0,
        }
    }

    /// Whether the bricks are kept on the GPU.
    pub fn on_gpu(&self) -> bool {
        matches!(self.payload, Payload::Gpu(_))
    }

    /// The bricks this step changed.
    pub fn brick_list(&self) -> Vec<[usize; 3]> {
        match &self.payload {
            Payload::Host(b) => b.iter().map(|b| b.brick).collect(),
            Payload::Gpu(s) => s.bricks.clone(),
            Payload::Markup(_) => Vec::new(),
        }
    }

    /// For a markup step, the edit its next move (undo or redo) applies.
    pub fn markup_edit(&self) -> Option<&MarkupEdit> {
        match &self.payload {
            Payload::Markup(e) => Some(e),
            _ => None,
        }
    }
}

/// Control points an edit holds (for its byte count).
fn markup_points(e: &MarkupEdit) -> usize {
    match e {
        MarkupEdit::Add { markup } => markup.points.len(),
        MarkupEdit::SetPoints { points, .. } => points.len(),
        _ => 1,
    }
}

/// The current contents of `bricks` (a journal entry's [`Restore`]): one read of their
/// bounding box.
pub fn capture(store: &dyn LabelStore, bricks: &[[usize; 3]]) -> Result<Restore> {
    let d = store.dims();
    let mut raw = Vec::new();
    if !bricks.is_empty() {
        let (lo, hi) = bounding(bricks, d);
        let data = store.read_box(lo, hi)?;
        for b in bricks {
            raw.extend_from_slice(&extract_brick(&data, lo, hi, *b, d));
        }
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(&raw);
    use base64::Engine;
    Ok(Restore {
        bricks: bricks.to_vec(),
        deflate_base64: base64::engine::general_purpose::STANDARD
            .encode(enc.finish().unwrap_or_default()),
        markup: None,
    })
}

/// Writes a [`Restore`]'s bricks back (replay of a journaled undo/redo that carries them).
pub fn restore(store: &mut dyn LabelStore, r: &Restore) -> Result<()> {
    let d = store.dims();
    let bad = |why: &str| Error::Corrupt(format!("journal: undo/redo restore data {why}"));
    if r.bricks.is_empty() {
        return Ok(());
    }
    let nb = d.map(|v| v.div_ceil(BRICK));
    if r.bricks.iter().any(|b| (0..3).any(|a| b[a] >= nb[a])) {
        return Err(bad("names a brick outside the volume"));
    }
    let lens: Vec<usize> = r
        .bricks
        .iter()
        .map(|b| {
            let (lo, hi) = brick_range(*b, d);
            (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2])
        })
        .collect();
    let total: usize = lens.iter().sum();
    use base64::Engine;
    let packed = base64::engine::general_purpose::STANDARD
        .decode(&r.deflate_base64)
        .map_err(|e| bad(&format!("is not base64 ({e})")))?;
    let mut raw = Vec::with_capacity(total);
    flate2::read::DeflateDecoder::new(&packed[..])
        .take(total as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| bad(&format!("is corrupt ({e})")))?;
    if raw.len() != total {
        return Err(bad("does not match its bricks"));
    }
    let (lo, hi) = bounding(&r.bricks, d);
    let mut data = store.read_box(lo, hi)?;
    let mut k = 0;
    for (b, len) in r.bricks.iter().zip(lens) {
        put_brick(&mut data, lo, hi, *b, d, &raw[k..k + len]);
        k += len;
    }
    store.write_box(lo, hi, &data)
}

/// The brick-aligned box covering `bricks` (not empty).
fn bounding(bricks: &[[usize; 3]], d: [usize; 3]) -> ([usize; 3], [usize; 3]) {
    let b0 = [0, 1, 2].map(|a| bricks.iter().map(|b| b[a]).min().unwrap_or(0));
    let b1 = [0, 1, 2].map(|a| bricks.iter().map(|b| b[a]).max().unwrap_or(0));
    bricks_region(b0, b1, d)
}

use voxmark_gpu::kernels::brick_undo::brick_range;

/// The brick-aligned voxel box covering bricks `b0..=b1`.
fn bricks_region(b0: [usize; 3], b1: [usize; 3], d: [usize; 3]) -> ([usize; 3], [usize; 3]) {
    (brick_range(b0, d).0, brick_range(b1, d).1)
}

/// Copies brick `b` out of `data` holding the voxel box `lo..hi`.
fn extract_brick(
    data: &[u8],
    lo: [usize; 3],
    hi: [usize; 3],
    b: [usize; 3],
    d: [usize; 3],
) -> Vec<u8> {
    let (blo, bhi) = brick_range(b, d);
    let (wx, wy) = (hi[0] - lo[0], hi[1] - lo[1]);
    let w = bhi[0] - blo[0];
    let mut out = Vec::with_capacity(BRICK * BRICK * BRICK);
    for z in blo[2]..bhi[2] {
        for y in blo[1]..bhi[1] {
            let row = (blo[0] - lo[0]) + wx * ((y - lo[1]) + wy * (z - lo[2]));
            out.extend_from_slice(&data[row..row + w]);
        }
    }
    out
}

/// Writes brick `b` into `data` holding the voxel box `lo..hi`.
fn put_brick(
    data: &mut [u8],
    lo: [usize; 3],
    hi: [usize; 3],
    b: [usize; 3],
    d: [usize; 3],
    brick: &[u8],
) {
    let (blo, bhi) = brick_range(b, d);
    let (wx, wy) = (hi[0] - lo[0], hi[1] - lo[1]);
    let w = bhi[0] - blo[0];
    let mut k = 0;
    for z in blo[2]..bhi[2] {
        for y in blo[1]..bhi[1] {
            let row = (blo[0] - lo[0]) + wx * ((y - lo[1]) + wy * (z - lo[2]));
            data[row..row + w].copy_from_slice(&brick[k..k + w]);
            k += w;
        }
    }
}

fn compress(raw: &[u8]) -> Stored {
    if raw.iter().all(|&v| v == raw[0]) {
        return Stored::Constant(raw[0]);
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(raw);
    Stored::Deflate(enc.finish().unwrap_or_default())
}

fn decompress(s: &Stored, len: usize) -> Result<Vec<u8>> {
    match s {
        Stored::Constant(v) => Ok(vec![*v; len]),
        Stored::Deflate(c) => {
            let mut out = Vec::with_capacity(len);
            flate2::read::DeflateDecoder::new(&c[..])
                .read_to_end(&mut out)
                .map_err(|e| Error::Corrupt(format!("undo data corrupt: {e}")))?;
            if out.len() != len {
                return Err(Error::Corrupt("undo data corrupt: wrong brick size".into()));
            }
            Ok(out)
        }
    }
}

/// The valid voxels of brick `b` from its 16³ slot bytes.
fn from_slot(slot: &[u8], b: [usize; 3], d: [usize; 3]) -> Vec<u8> {
    let (lo, hi) = brick_range(b, d);
    let w = hi[0] - lo[0];
    let mut out = Vec::with_capacity(SLOT_BYTES);
    for z in 0..hi[2] - lo[2] {
        for y in 0..hi[1] - lo[1] {
            out.extend_from_slice(&slot[BRICK * (y + BRICK * z)..][..w]);
        }
    }
    out
}

/// Undo and redo stacks within a byte budget.
pub struct UndoStack {
    undo: Vec<UndoEntry>,
    redo: Vec<UndoEntry>,
    /// Host bytes the stacks may hold; the oldest steps are dropped past it.
    pub budget: usize,
    /// GPU bytes the stacks may hold; the oldest GPU steps move to the host past it.
    pub gpu_budget: usize,
    /// Steps recorded so far (tells a caller whether an op made one).
    pub recorded: u64,
}

impl Default for UndoStack {
    fn default() -> Self {
        Self {
            undo: Vec::new(),
            redo: Vec::new(),
            budget: DEFAULT_BUDGET_BYTES,
            gpu_budget: DEFAULT_BUDGET_BYTES,
            recorded: 0,
        }
    }
}

impl UndoStack {
    /// Copies the bricks overlapping `bx` (before an op): GPU-side on a store with a
    /// resident side (when the box's bricks fit one slot texture), else in one read of
    /// their box.
    pub fn snapshot(store: &dyn LabelStore, bx: VoxelBox) -> Result<Snapshot> {
        let d = store.dims();
        let (lo, hi) = bx;
        let b0 = lo.map(|v| v / BRICK);
        let b1 = hi.map(|v| v / BRICK);
        let (rlo, rhi) = bricks_region(b0, b1, d);
        if let Some(r) = store.resident() {
            let n = (0..3).map(|a| b1[a] + 1 - b0[a]).product();
            if BrickUndoKernel::fits(r.ctx, n) {
                return Ok(Snapshot::Gpu(r.kernel.copy_box(r.ctx, r.labels, rlo, rhi)?));
            }
        }
        let data = store.read_box(rlo, rhi)?;
        let mut bricks = Vec::new();
        for bz in b0[2]..=b1[2] {
            for by in b0[1]..=b1[1] {
                for bxx in b0[0]..=b1[0] {
                    let b = [bxx, by, bz];
                    bricks.push((b, extract_brick(&data, rlo, rhi, b, d)));
                }
            }
        }
        Ok(Snapshot::Host {
            region: (rlo, rhi),
            bricks,
        })
    }

    /// Records a completed op: keeps the previous contents of the bricks that changed.
    /// Clears the redo stack (a new edit forks history). `diff`: the per-brick change counts
    /// of a GPU snapshot when the store measured them with the op (else measured here).
    pub fn record(
        &mut self,
        name: &str,
        snap: Snapshot,
        store: &dyn LabelStore,
        changed_voxels: u64,
        diff: Option<Vec<u32>>,
    ) -> Result<()> {
        let d = store.dims();
        let payload = match snap {
            _ if changed_voxels == 0 => Payload::Host(Vec::new()),
            Snapshot::Empty => Payload::Host(Vec::new()),
            Snapshot::Host {
                region: (lo, hi),
                bricks,
            } => {
                let now = store.read_box(lo, hi)?;
                Payload::Host(
                    bricks
                        .into_iter()
                        .filter(|(b, before)| extract_brick(&now, lo, hi, *b, d) != *before)
                        .map(|(b, before)| BrickData {
                            brick: b,
                            data: compress(&before),
                        })
                        .collect(),
                )
            }
            Snapshot::Gpu(copy) => {
                let r = resident(store)?;
                let counts = match diff {
                    Some(c) => c,
                    None => r.kernel.changed(r.ctx, r.labels, &copy)?,
                };
                let nb = copy.bricks();
                let list: Vec<[usize; 3]> = (0..counts.len())
                    .filter(|&i| counts[i] > 0)
                    .map(|i| [i % nb[0], (i / nb[0]) % nb[1], i / (nb[0] * nb[1])])
                    .collect();
                let payload = if list.is_empty() {
                    Payload::Host(Vec::new())
                } else {
                    Payload::Gpu(r.kernel.gather(r.ctx, r.labels, &copy, &list)?)
                };
                r.kernel.recycle(copy);
                payload
            }
        };
        self.redo.clear();
        self.undo.push(UndoEntry {
            name: name.to_string(),
            payload,
            changed_voxels,
            position: None,
        });
        self.recorded += 1;
        self.trim(store)
    }

    /// Records a markup edit just applied: `inverse` is the edit that reverses it. Clears
    /// the redo stack, as any new step does.
    pub fn record_markup(
        &mut self,
        name: &str,
        inverse: MarkupEdit,
        store: &dyn LabelStore,
    ) -> Result<()> {
        self.redo.clear();
        self.undo.push(UndoEntry {
            name: name.to_string(),
            payload: Payload::Markup(inverse),
            changed_voxels: 0,
            position: None,
        });
        self.recorded += 1;
        self.trim(store)
    }

    /// Moves the oldest GPU steps to the host past the GPU budget, then drops the oldest
    /// steps past the host budget.
    fn trim(&mut self, store: &dyn LabelStore) -> Result<()> {
        while self.gpu_bytes() > self.gpu_budget {
            let oldest = self
                .undo
                .iter_mut()
                .chain(self.redo.iter_mut())
                .find(|e| e.on_gpu());
            let Some(e) = oldest else { break };
            let Payload::Gpu(slots) = &e.payload else {
                break;
            };
            let d = store.dims();
            let raw = slots.download(resident(store)?.ctx)?;
            let bricks = slots
                .bricks
                .iter()
                .zip(&raw)
                .map(|(b, slot)| BrickData {
                    brick: *b,
                    data: compress(&from_slot(slot, *b, d)),
                })
                .collect();
            e.payload = Payload::Host(bricks);
        }
        while self.bytes() > self.budget && !self.undo.is_empty() {
            self.undo.remove(0);
        }
        while self.bytes() > self.budget && !self.redo.is_empty() {
            self.redo.remove(0);
        }
        Ok(())
    }

    /// Total host bytes held.
    pub fn bytes(&self) -> usize {
        self.undo
            .iter()
            .chain(&self.redo)
            .map(UndoEntry::bytes)
            .sum()
    }

    /// Total GPU bytes held.
    pub fn gpu_bytes(&self) -> usize {
        self.undo
            .iter()
            .chain(&self.redo)
            .map(UndoEntry::gpu_bytes)
            .sum()
    }

    /// The newest undoable step.
    pub fn last(&self) -> Option<&UndoEntry> {
        self.undo.last()
    }

    /// The step an undo (`undo` true) or a redo would move next.
    pub fn next_step(&self, undo: bool) -> Option<&UndoEntry> {
        if undo {
            self.undo.last()
        } else {
            self.redo.last()
        }
    }

    /// The step just moved: after an undo (`by_undo`) the top of the redo stack, after a
    /// redo or a new step the top of the undo stack.
    pub fn moved_mut(&mut self, by_undo: bool) -> Option<&mut UndoEntry> {
        if by_undo {
            self.redo.last_mut()
        } else {
            self.undo.last_mut()
        }
    }

    /// Number of steps that can be undone / redone.
    pub fn depth(&self) -> (usize, usize) {
        (self.undo.len(), self.redo.len())
    }

    /// Puts the entry's bricks back and keeps what they replace in it (so the same entry
    /// reverses the swap): GPU bricks by one swap dispatch; host bricks by one read + one
    /// write of their bounding box.
    fn swap(store: &mut dyn LabelStore, markups: &mut MarkupSet, e: &mut UndoEntry) -> Result<()> {
        let d = store.dims();
        let bricks = match &mut e.payload {
            Payload::Markup(edit) => {
                *edit = markups
                    .apply(edit)
                    .map_err(|why| Error::Invalid(format!("undo of a markup edit: {why}")))?;
                return Ok(());
            }
            Payload::Gpu(slots) => {
                let r = resident(store)?;
                return r.kernel.swap(r.ctx, r.labels, slots);
            }
            Payload::Host(b) if b.is_empty() => return Ok(()),
            Payload::Host(b) => b,
        };
        let list: Vec<[usize; 3]> = bricks.iter().map(|b| b.brick).collect();
        let (lo, hi) = bounding(&list, d);
        let mut data = store.read_box(lo, hi)?;
        let mut back = Vec::with_capacity(bricks.len());
        for b in bricks.iter() {
            let (blo, bhi) = brick_range(b.brick, d);
            let len = (bhi[0] - blo[0]) * (bhi[1] - blo[1]) * (bhi[2] - blo[2]);
            let stored = decompress(&b.data, len)?;
            back.push(compress(&extract_brick(&data, lo, hi, b.brick, d)));
            put_brick(&mut data, lo, hi, b.brick, d, &stored);
        }
        store.write_box(lo, hi, &data)?;
        // Only now: a failed write leaves the entry as it was.
        for (b, data) in bricks.iter_mut().zip(back) {
            b.data = data;
        }
        Ok(())
    }

    /// Reverts the newest step; returns its name, or None when there is nothing to undo.
    pub fn undo(
        &mut self,
        store: &mut dyn LabelStore,
        markups: &mut MarkupSet,
    ) -> Result<Option<String>> {
        let Some(mut e) = self.undo.pop() else {
            return Ok(None);
        };
        if let Err(err) = Self::swap(store, markups, &mut e) {
            self.undo.push(e);
            return Err(err);
        }
        let name = e.name.clone();
        self.redo.push(e);
        self.trim(store)?;
        Ok(Some(name))
    }

    /// Re-applies the newest undone step.
    pub fn redo(
        &mut self,
        store: &mut dyn LabelStore,
        markups: &mut MarkupSet,
    ) -> Result<Option<String>> {
        let Some(mut e) = self.redo.pop() else {
            return Ok(None);
        };
        if let Err(err) = Self::swap(store, markups, &mut e) {
            self.redo.push(e);
            return Err(err);
        }
        let name = e.name.clone();
        self.undo.push(e);
        self.trim(store)?;
        Ok(Some(name))
    }
}

/// The store's resident side, which a GPU entry needs.
fn resident(store: &dyn LabelStore) -> Result<Resident<'_>> {
    store
        .resident()
        .ok_or_else(|| Error::mismatch("undo: GPU bricks on a store without a GPU side"))
}
