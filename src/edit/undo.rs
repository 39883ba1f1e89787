//! Undo/redo that stores only what changed: the previous contents of changed 16³ bricks,
//! compressed. Memory is proportional to the changed region, never a full copy; the stack is
//! trimmed from the oldest entry to stay within a byte budget (default 1 GiB).

use super::apply_cpu::VoxelBox;
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
    bricks: Vec<([usize; 3], Vec<u8>)>,
}

impl Snapshot {
    /// No bricks: for an op whose box is empty.
    pub fn empty() -> Self {
        Self { bricks: Vec::new() }
    }
}

fn brick_range(b: [usize; 3], d: [usize; 3]) -> ([usize; 3], [usize; 3]) {
    let lo = [b[0] * BRICK, b[1] * BRICK, b[2] * BRICK];
    let hi = [0, 1, 2].map(|a| (lo[a] + BRICK).min(d[a]));
    (lo, hi)
}

fn read_brick(labels: &[u8], d: [usize; 3], b: [usize; 3]) -> Vec<u8> {
    let (lo, hi) = brick_range(b, d);
    let mut out = Vec::with_capacity(BRICK * BRICK * BRICK);
    for z in lo[2]..hi[2] {
        for y in lo[1]..hi[1] {
            let row = lo[0] + d[0] * (y + d[1] * z);
            out.extend_from_slice(&labels[row..row + (hi[0] - lo[0])]);
        }
    }
    out
}

fn write_brick(labels: &mut [u8], d: [usize; 3], b: [usize; 3], data: &[u8]) {
    let (lo, hi) = brick_range(b, d);
    let w = hi[0] - lo[0];
    let mut k = 0;
    for z in lo[2]..hi[2] {
        for y in lo[1]..hi[1] {
            let row = lo[0] + d[0] * (y + d[1] * z);
            labels[row..row + w].copy_from_slice(&data[k..k + w]);
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
                .map_err(|e| Error::Invalid(format!("undo data corrupt: {e}")))?;
            if out.len() != len {
                return Err(Error::Invalid("undo data corrupt: wrong brick size".into()));
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
    /// Copies the bricks overlapping `bx` (before an op).
    pub fn snapshot(labels: &[u8], d: [usize; 3], bx: VoxelBox) -> Snapshot {
        let (lo, hi) = bx;
        let mut bricks = Vec::new();
        for bz in lo[2] / BRICK..=hi[2] / BRICK {
            for by in lo[1] / BRICK..=hi[1] / BRICK {
                for bxx in lo[0] / BRICK..=hi[0] / BRICK {
                    let b = [bxx, by, bz];
                    bricks.push((b, read_brick(labels, d, b)));
                }
            }
        }
        Snapshot { bricks }
    }

    /// Records a completed op: keeps the previous contents of the bricks that changed.
    /// Clears the redo stack (a new edit forks history).
    pub fn record(
        &mut self,
        name: &str,
        snap: Snapshot,
        labels: &[u8],
        d: [usize; 3],
        changed_voxels: u64,
    ) {
        let bricks: Vec<BrickData> = snap
            .bricks
            .into_iter()
            .filter(|(b, before)| read_brick(labels, d, *b) != *before)
            .map(|(b, before)| BrickData {
                brick: b,
                data: compress(&before),
            })
            .collect();
        self.redo.clear();
        self.undo.push(UndoEntry {
            name: name.to_string(),
            bricks,
            changed_voxels,
        });
        self.trim();
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

    fn swap(labels: &mut [u8], d: [usize; 3], e: &UndoEntry) -> Result<UndoEntry> {
        let mut back = Vec::with_capacity(e.bricks.len());
        for b in &e.bricks {
            let (lo, hi) = brick_range(b.brick, d);
            let len = (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
            let data = decompress(&b.data, len)?;
            back.push(BrickData {
                brick: b.brick,
                data: compress(&read_brick(labels, d, b.brick)),
            });
            write_brick(labels, d, b.brick, &data);
        }
        Ok(UndoEntry {
            name: e.name.clone(),
            bricks: back,
            changed_voxels: e.changed_voxels,
        })
    }

    /// Reverts the newest step; returns its name, or None when there is nothing to undo.
    pub fn undo(&mut self, labels: &mut [u8], d: [usize; 3]) -> Result<Option<String>> {
        let Some(e) = self.undo.pop() else {
            return Ok(None);
        };
        let r = Self::swap(labels, d, &e)?;
        self.redo.push(r);
        self.trim();
        Ok(Some(e.name))
    }

    /// Re-applies the newest undone step.
    pub fn redo(&mut self, labels: &mut [u8], d: [usize; 3]) -> Result<Option<String>> {
        let Some(e) = self.redo.pop() else {
            return Ok(None);
        };
        let u = Self::swap(labels, d, &e)?;
        self.undo.push(u);
        self.trim();
        Ok(Some(e.name))
    }
}
