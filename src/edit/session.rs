//! An editing session: image + labels + label table + undo + journal. Every op goes through
//! [`Session::apply`], which applies it, records its undo data, appends it to the journal
//! (fsync) and only then reports success.

use super::apply_cpu::{apply_op_cpu, op_box, EditEnv};
use super::journal::{Journal, JournalEntry};
use super::label_volume::LabelInfo;
use super::ops::EditOp;
use super::undo::{Snapshot, UndoStack};
use crate::error::Result;
use crate::volume::Volume;

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

/// The editing session.
pub struct Session<'a> {
    pub image: &'a Volume,
    pub labels: Vec<u8>,
    pub table: Vec<LabelInfo>,
    pub undo: UndoStack,
    pub journal: Option<Journal>,
    pub author: String,
}

impl<'a> Session<'a> {
    /// A session on `image` starting from `labels` (same voxel count).
    pub fn new(image: &'a Volume, labels: Vec<u8>) -> Result<Self> {
        if labels.len() != image.grid.voxel_count() {
            return Err(crate::Error::Invalid(
                "labels do not match the image".into(),
            ));
        }
        let author = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Ok(Self {
            image,
            labels,
            table: Vec::new(),
            undo: UndoStack::default(),
            journal: None,
            author,
        })
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
                let step = if matches!(op, EditOp::Undo) {
                    self.undo.undo(&mut self.labels, d)?
                } else {
                    self.undo.redo(&mut self.labels, d)?
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
                    image: self.image,
                    locked: self.locked(),
                };
                let bx = op_box(&env, op)?;
                // An op that can change nothing still records an (empty) undo step.
                let snap =
                    bx.map_or_else(Snapshot::empty, |b| UndoStack::snapshot(&self.labels, d, b));
                let changed = apply_op_cpu(&env, &mut self.labels, op)?;
                let before = self.undo.bytes();
                self.undo.record(op.name(), snap, &self.labels, d, changed);
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
