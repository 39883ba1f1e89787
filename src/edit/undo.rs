//! Undo/redo that stores only what changed: the previous contents of changed 16³ bricks,
//! compressed. Memory is proportional to the changed region, never a full copy; the stack is
//! trimmed from the oldest entry to stay within a byte budget (default 1 GiB).

use super::lower::VoxelBox;
use super::store::LabelStore;
use crate::error::{Error, Result};
use std::io::{Read, Write};

/// Brick edge in voxels.
pub const BRICK: usize = 16;
/// Default memory budget for the undo + redo stacks.
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

/// One undoable step: the contents of the bricks it changed, from before (for undo) or after
/// (for redo) the step.
#[derive(Debug, Clone)]
pub struct UndoEntry {
    pub name: String,
    bricks: Vec<BrickData>,
    /// Voxels the step changed.
    pub changed_voxels: u64,
}

impl UndoEntry {
    /// Bytes held by this entry.
    pub fn bytes(&self) -> usize {
        self.bricks
            .iter()
            .map(|b| b.data.bytes() + 32)
            .sum::<usize>()
            + 64
    }
}

/// Raw copies of the bricks overlapping a box, taken before an op.
pub struct Snapshot {
    /// The brick-aligned box read (voxels, `hi` exclusive); None when empty.
    region: Option<([usize; 3], [usize; 3])>,
    bricks: Vec<([usize; 3], Vec<u8>)>,
}

impl Snapshot {
    /// No bricks: for an op whose box is empty.
    pub fn empty() -> Self {
        Self {
            region: None,
            bricks: Vec::new(),
        }
    }
}

fn brick_range(b: [usize; 3], d: [usize; 3]) -> ([usize; 3], [usize; 3]) {
    let lo = [b[0] * BRICK, b[1] * BRICK, b[2] * BRICK];
    let hi = [0, 1, 2].map(|a| (lo[a] + BRICK).min(d[a]));
    (lo, hi)
}

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

/// Undo and redo stacks within a byte budget.
pub struct UndoStack {
    undo: Vec<UndoEntry>,
    redo: Vec<UndoEntry>,
    pub budget: usize,
}

impl Default for UndoStack {
    fn default() -> Self {
        Self {
            undo: Vec::new(),
            redo: Vec::new(),
            budget: DEFAULT_BUDGET_BYTES,
        }
    }
}

impl UndoStack {
    /// Copies the bricks overlapping `bx` (before an op), in one read of their box.
    pub fn snapshot(store: &dyn LabelStore, bx: VoxelBox) -> Result<Snapshot> {
        let d = store.dims();
        let (lo, hi) = bx;
        let b0 = lo.map(|v| v / BRICK);
        let b1 = hi.map(|v| v / BRICK);
        let (rlo, rhi) = bricks_region(b0, b1, d);
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
        Ok(Snapshot {
            region: Some((rlo, rhi)),
            bricks,
        })
    }

    /// Records a completed op: keeps the previous contents of the bricks that changed.
    /// Clears the redo stack (a new edit forks history).
    pub fn record(
        &mut self,
        name: &str,
        snap: Snapshot,
        store: &dyn LabelStore,
        changed_voxels: u64,
    ) -> Result<()> {
        let d = store.dims();
        let after = match snap.region {
            Some((lo, hi)) if changed_voxels > 0 => Some((lo, hi, store.read_box(lo, hi)?)),
            _ => None,
        };
        let bricks: Vec<BrickData> = match &after {
            None => Vec::new(),
            Some((lo, hi, now)) => snap
                .bricks
                .into_iter()
                .filter(|(b, before)| extract_brick(now, *lo, *hi, *b, d) != *before)
                .map(|(b, before)| BrickData {
                    brick: b,
                    data: compress(&before),
                })
                .collect(),
        };
        self.redo.clear();
        self.undo.push(UndoEntry {
            name: name.to_string(),
            bricks,
            changed_voxels,
        });
        self.trim();
        Ok(())
    }

    fn trim(&mut self) {
        while self.bytes() > self.budget && !self.undo.is_empty() {
            self.undo.remove(0);
        }
        while self.bytes() > self.budget && !self.redo.is_empty() {
            self.redo.remove(0);
        }
    }

    /// Total bytes held.
    pub fn bytes(&self) -> usize {
        self.undo
            .iter()
            .chain(&self.redo)
            .map(UndoEntry::bytes)
            .sum()
    }

    /// The newest undoable step.
    pub fn last(&self) -> Option<&UndoEntry> {
        self.undo.last()
    }

    /// Number of steps that can be undone / redone.
    pub fn depth(&self) -> (usize, usize) {
        (self.undo.len(), self.redo.len())
    }

    /// Puts the entry's bricks back (one read + one write of their bounding box) and returns
    /// the entry that reverses it.
    fn swap(store: &mut dyn LabelStore, e: &UndoEntry) -> Result<UndoEntry> {
        let d = store.dims();
        let mut back = Vec::with_capacity(e.bricks.len());
        if e.bricks.is_empty() {
            return Ok(UndoEntry {
                name: e.name.clone(),
                bricks: back,
                changed_voxels: e.changed_voxels,
            });
        }
        let b0 = [0, 1, 2].map(|a| e.bricks.iter().map(|b| b.brick[a]).min().unwrap_or(0));
        let b1 = [0, 1, 2].map(|a| e.bricks.iter().map(|b| b.brick[a]).max().unwrap_or(0));
        let (lo, hi) = bricks_region(b0, b1, d);
        let mut data = store.read_box(lo, hi)?;
        for b in &e.bricks {
            let (blo, bhi) = brick_range(b.brick, d);
            let len = (bhi[0] - blo[0]) * (bhi[1] - blo[1]) * (bhi[2] - blo[2]);
            let stored = decompress(&b.data, len)?;
            back.push(BrickData {
                brick: b.brick,
                data: compress(&extract_brick(&data, lo, hi, b.brick, d)),
            });
            put_brick(&mut data, lo, hi, b.brick, d, &stored);
        }
        store.write_box(lo, hi, &data)?;
        Ok(UndoEntry {
            name: e.name.clone(),
            bricks: back,
            changed_voxels: e.changed_voxels,
        })
    }

    /// Reverts the newest step; returns its name, or None when there is nothing to undo.
    pub fn undo(&mut self, store: &mut dyn LabelStore) -> Result<Option<String>> {
        let Some(e) = self.undo.pop() else {
            return Ok(None);
        };
        let r = Self::swap(store, &e)?;
        self.redo.push(r);
        self.trim();
        Ok(Some(e.name))
    }

    /// Re-applies the newest undone step.
    pub fn redo(&mut self, store: &mut dyn LabelStore) -> Result<Option<String>> {
        let Some(e) = self.redo.pop() else {
            return Ok(None);
        };
        let u = Self::swap(store, &e)?;
        self.undo.push(u);
        self.trim();
        Ok(Some(e.name))
    }
}
