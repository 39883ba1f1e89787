//! The crash-safe journal: one JSON line per acknowledged operation (sequence number,
//! author, UTC timestamp, tool, op), appended and fsync'ed before the op is acknowledged.
//! Reopening a journal restores every complete line; an incomplete last line (a crash
//! mid-write) is dropped, reported, and cut off so appends continue cleanly. Opening a journal
//! that does not exist creates no journal file: it appears with the first op, so opening an
//! image and looking at it leaves no journal behind.
//!
//! An undo or redo of a step the journal can no longer rebuild (made before the last save)
//! carries the bricks it wrote ([`Restore`]), which replay writes back (`Session::apply`).
//!
//! One writer: an open [`Journal`] holds the journal's lock (`volume::fs::lock`, `<journal>.lock`,
//! released and deleted on drop, dropped by the kernel if the process dies). A second
//! process opening the same journal is refused with the owner's name; a lock left by a
//! crashed process is taken over and the journal recovered as usual, with a warning.

use super::ops::EditOp;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::lock::OwnerLock;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub time: String,
    pub author: String,
    pub tool: String,
    pub op: EditOp,
    /// For an undo or redo of a step the journal cannot replay (the step's op went into a
    /// saved mask and out of the journal): the contents of the bricks it wrote, which replay
    /// writes back instead of undoing or redoing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
}

/// Voxel contents of whole 16³ bricks (each clipped to the volume), for replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restore {
    /// Brick coordinates (voxel / 16), in the order of `data`.
    pub bricks: Vec<[usize; 3]>,
    /// The bricks' voxels one after the other (each i fastest), deflated, base64.
    pub deflate_base64: String,
    /// For the undo or redo of a markup step: the markup edit it applied (replay applies it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markup: Option<voxmark_volume::markup::MarkupEdit>,
}

/// An open journal. It owns the journal's lock (`volume::fs::lock`, file `<journal>.lock`) for as
/// long as it lives: one process writes a journal at a time.
pub struct Journal {
    /// None until the first append when the file did not exist at open.
    file: Option<File>,
    path: PathBuf,
    next_seq: u64,
    /// Ops appended to or found in this journal since it was opened (found ones first),
    /// never reset: the position [`Journal::append_entry`] returns.
    appended: u64,
    /// Position of the first op the file still holds (checkpoints cut ops before it).
    held_from: u64,
    /// [`marker`] of the last entry appended or found at open.
    last_marker: Option<String>,
    /// Held for as long as the journal is open; released (and its file deleted) on drop.
    _lock: OwnerLock,
}

/// A short fingerprint of a journal entry (16 hex digits of the SHA-256 of its JSON). A saved
/// mask carries the marker of the last op it holds (`io::label_file::save_labels_marked`),
/// so recovery after a crash between the save and the journal checkpoint skips the ops the
/// mask already holds instead of applying them twice.
pub fn marker(entry: &JournalEntry) -> String {
    marker_of_json(&serde_json::to_vec(entry).unwrap_or_default())
}

/// [`marker`] of an entry already serialised (its journal line without the newline).
fn marker_of_json(json: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(json);
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub use voxmark_volume::fs::clock::{civil_from_days, now_rfc3339};

/// What reopening found.
pub struct Recovered {
    pub entries: Vec<JournalEntry>,
    /// Set when an incomplete or corrupt tail was dropped (names the line), or when the
    /// journal's lock was taken over from a process that ended without releasing it.
    pub warning: Option<String>,
}

impl Recovered {
    /// Drops the entries a mask saved with `mask_marker` already holds — those up to the
    /// marked one when the journal holds it (the save finished, its checkpoint did not) —
    /// and returns how many; the rest are what recovery replays on that mask.
    pub fn drop_saved(&mut self, mask_marker: Option<&str>) -> usize {
        let done = mask_marker
            .and_then(|m| self.entries.iter().position(|e| marker(e) == m))
            .map_or(0, |i| i + 1);
        self.entries.drain(..done);
        done
    }
}

/// The complete entries of a journal's bytes, the length they span, and a warning naming
/// the first incomplete or corrupt line (everything from it on is dropped).
fn parse(path: &Path, text: &[u8]) -> (Vec<JournalEntry>, usize, Option<String>) {
    let mut entries = Vec::new();
    let mut valid_len = 0usize;
    let mut warning = None;
    let mut pos = 0usize;
    let mut line_no = 0;
    while pos < text.len() {
        line_no += 1;
        let end = text[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|e| pos + e);
        let (line, next, complete) = match end {
            Some(e) => (&text[pos..e], e + 1, true),
            None => (&text[pos..], text.len(), false),
        };
        let parsed: Option<JournalEntry> = if complete {
            serde_json::from_slice(line).ok()
        } else {
            None
        };
        match parsed {
            Some(e) => {
                entries.push(e);
                valid_len = next;
            }
            None if line.iter().all(|b| b.is_ascii_whitespace()) && complete => valid_len = next,
            None => {
                warning = Some(format!(
                    "{}: line {line_no} is incomplete or corrupt (a crash during a write?); restored the {} complete operations before it",
                    path.display(),
                    entries.len()
                ));
                break;
            }
        }
        pos = next;
    }
    (entries, valid_len, warning)
}

/// The bytes of a journal, or None when there is no journal.
fn read_if_any(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl Journal {
    /// Takes the journal's lock for `tool` (refused with [`Error::Locked`] naming the owner
    /// when another process holds it), then returns the entries it already holds; a missing
    /// journal file is created only by the first [`Journal::append`] (its folder is created
    /// for the lock file, which is deleted again when the journal is dropped).
    pub fn open(path: &Path, tool: &str) -> Result<(Self, Recovered)> {
        let lock = OwnerLock::acquire(path, tool)?;
        let took_over = lock.took_over.as_ref().map(|o| {
            format!(
                "{}: taken over from {}, which ended without releasing it (a crash?); its journal is recovered",
                lock.path().display(),
                o.describe()
            )
        });
        let Some(text) = read_if_any(path)? else {
            let journal = Self {
                file: None,
                path: path.to_path_buf(),
                next_seq: 1,
                appended: 0,
                held_from: 0,
                last_marker: None,
                _lock: lock,
            };
            let none = Recovered {
                entries: Vec::new(),
                warning: took_over,
            };
            return Ok((journal, none));
        };
        let (entries, valid_len, warning) = parse(path, &text);
        let warning = match (took_over, warning) {
            (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
            (a, b) => a.or(b),
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // Drop the bad tail so new lines follow the last good one.
        file.set_len(valid_len as u64)
            .map_err(|e| Error::io(path, e))?;
        let mut file = file;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        let next_seq = entries.last().map_or(1, |e| e.seq + 1);
        let last_marker = entries.last().map(marker);
        Ok((
            Self {
                file: Some(file),
                path: path.to_path_buf(),
                next_seq,
                appended: entries.len() as u64,
                held_from: 0,
                last_marker,
                _lock: lock,
            },
            Recovered { entries, warning },
        ))
    }

    /// The complete entries of the journal at `path` without opening it for writing: no
    /// lock, nothing truncated (to decide what to do with a working copy).
    pub fn peek(path: &Path) -> Result<Recovered> {
        let Some(text) = read_if_any(path)? else {
            return Ok(Recovered {
                entries: Vec::new(),
                warning: None,
            });
        };
        let (entries, _, warning) = parse(path, &text);
        Ok(Recovered { entries, warning })
    }

    /// Moves the journal file out of the way (never deleted: it is annotation work), keeping
    /// the lock, and starts an empty journal at the same path; returns where the file went.
    pub fn set_aside(&mut self) -> Result<Option<PathBuf>> {
        self.file = None;
        self.next_seq = 1;
        self.held_from = self.appended;
        self.last_marker = None;
        if !self.path.exists() {
            return Ok(None);
        }
        set_aside(&self.path).map(Some)
    }

    /// The marker of the last op journaled (module [`marker`]), for a save to record.
    pub fn last_marker(&self) -> Option<&str> {
        self.last_marker.as_deref()
    }

    /// Appends one op and fsyncs; only then is the op acknowledged.
    pub fn append(&mut self, op: &EditOp, author: &str, tool: &str) -> Result<JournalEntry> {
        self.append_entry(op, author, tool, None).map(|(e, _)| e)
    }

    /// Ops appended or found since open: the position the next op gets (the entries
    /// [`Journal::open`] found are positions 0, 1, ...).
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Whether the op at `position` is still in the journal (not cut by a checkpoint or set
    /// aside): replaying the journal reaches it.
    pub fn holds(&self, position: u64) -> bool {
        (self.held_from..self.appended).contains(&position)
    }

    /// [`Journal::append`] with an undo/redo's restore data; also returns the op's position
    /// (for [`Journal::holds`]).
    pub fn append_entry(
        &mut self,
        op: &EditOp,
        author: &str,
        tool: &str,
        restore: Option<Restore>,
    ) -> Result<(JournalEntry, u64)> {
        let entry = JournalEntry {
            seq: self.next_seq,
            time: now_rfc3339(),
            author: author.into(),
            tool: tool.into(),
            op: op.clone(),
            restore,
        };
        let mut line =
            serde_json::to_vec(&entry).map_err(|e| Error::Corrupt(format!("journal: {e}")))?;
        let marker = marker_of_json(&line);
        line.push(b'\n');
        let path = self.path.clone();
        let file = self.file_for_append()?;
        file.write_all(&line).map_err(|e| Error::io(&path, e))?;
        file.sync_data().map_err(|e| Error::io(&path, e))?;
        self.next_seq += 1;
        self.appended += 1;
        self.last_marker = Some(marker);
        Ok((entry, self.appended - 1))
    }

    /// The open file, created (with its folder, both fsynced) on the first append.
    fn file_for_append(&mut self) -> Result<&mut File> {
        if self.file.is_none() {
            let dir = self
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e))?;
            // The new name must survive a crash as well as the line written into it.
            voxmark_volume::fs::atomic::sync_dir(dir)?;
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| Error::Corrupt(format!("{}: journal not open", self.path.display())))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the journal file now (a save records it: the ops up to here are in the mask
    /// being written).
    pub fn len(&self) -> Result<u64> {
        match &self.file {
            Some(f) => f
                .metadata()
                .map(|m| m.len())
                .map_err(|e| Error::io(&self.path, e)),
            None => Ok(0),
        }
    }

    /// True when the journal holds no operations.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// After the labels were saved: the first `upto` bytes (the ops the saved mask holds;
    /// all when None) are appended to `history` (the audit trail, fsynced) and removed from
    /// the journal, which keeps only ops not yet in the saved mask (what recovery replays on
    /// top of it). Ops appended while the save ran stay, rewritten through a temporary file
    /// and a rename so a crash leaves either the old or the new journal.
    pub fn checkpoint(&mut self, history: &Path, upto: Option<u64>) -> Result<()> {
        use std::io::Seek;
        let Some(file) = self.file.as_mut() else {
            return Ok(()); // nothing was ever journaled
        };
        let all = std::fs::read(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let cut = upto.map_or(all.len(), |u| (u as usize).min(all.len()));
        let (done, rest) = all.split_at(cut);
        // Every cut line is one op (lines are whole: `upto` is a length taken between appends).
        self.held_from += done.iter().filter(|&&b| b == b'\n').count() as u64;
        if !done.is_empty() {
            let mut h = OpenOptions::new()
                .create(true)
                .append(true)
                .open(history)
                .map_err(|e| Error::io(history, e))?;
            h.write_all(done).map_err(|e| Error::io(history, e))?;
            h.sync_data().map_err(|e| Error::io(history, e))?;
            voxmark_volume::fs::atomic::fault_point("after-history");
        }
        if rest.is_empty() {
            file.set_len(0).map_err(|e| Error::io(&self.path, e))?;
            file.seek(std::io::SeekFrom::Start(0))
                .map_err(|e| Error::io(&self.path, e))?;
            return file.sync_all().map_err(|e| Error::io(&self.path, e));
        }
        voxmark_volume::fs::atomic::write_atomically(&self.path, |w| w.write_all(rest))?;
        self.file = Some(
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e))?,
        );
        Ok(())
    }
}

/// Moves a journal the user chose not to recover out of the way (never deleted: it is
/// annotation work) and returns where it went.
pub fn set_aside(path: &Path) -> Result<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".discarded-{}", now_rfc3339().replace(':', "")));
    let to = PathBuf::from(name);
    std::fs::rename(path, &to).map_err(|e| Error::io(path, e))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_creates_nothing_until_the_first_op() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("sub").join("j.jsonl");
        let (mut j, rec) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
        assert!(rec.entries.is_empty());
        assert!(!p.exists(), "no journal file before the first op");
        // The journal is locked while open: a second writer is refused.
        let second = Journal::open(&p, "second");
        assert!(matches!(second, Err(Error::Locked { .. })));
        assert_eq!(j.len().unwrap_or(1), 0);
        j.checkpoint(&dir.path().join("h.jsonl"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !dir.path().join("h.jsonl").exists(),
            "nothing to checkpoint"
        );
        j.append(&EditOp::ClearLabel { label: 1 }, "me", "t")
            .unwrap_or_else(|e| panic!("{e}"));
        drop(j);
        let lock = voxmark_volume::fs::lock::lock_path(&p);
        assert!(!lock.exists(), "closing removes the lock file");
        let (_, rec) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rec.entries.len(),
            1,
            "the first op created the file and its folder"
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn checkpoint_moves_the_saved_prefix_and_keeps_later_ops() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (p, h) = (dir.path().join("j.jsonl"), dir.path().join("h.jsonl"));
        let (mut j, _) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
        let op = |l| EditOp::ClearLabel { label: l };
        j.append(&op(1), "me", "t")
            .unwrap_or_else(|e| panic!("{e}"));
        let saved_at = j.len().unwrap_or_else(|e| panic!("{e}"));
        // An op made while the save was running is not in the saved mask.
        j.append(&op(2), "me", "t")
            .unwrap_or_else(|e| panic!("{e}"));
        j.checkpoint(&h, Some(saved_at))
            .unwrap_or_else(|e| panic!("{e}"));
        let hist = std::fs::read_to_string(&h).unwrap_or_default();
        assert!(hist.contains("\"label\":1") && !hist.contains("\"label\":2"));
        j.append(&op(3), "me", "t")
            .unwrap_or_else(|e| panic!("{e}"));
        drop(j);
        let (_, r) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
        let left: Vec<EditOp> = r.entries.into_iter().map(|e| e.op).collect();
        assert_eq!(left, vec![op(2), op(3)], "unsaved ops stay for recovery");
        assert!(r.warning.is_none());
    }

    #[test]
    fn truncated_tail_is_dropped_and_reported() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("j.jsonl");
        {
            let (mut j, r) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
            assert!(r.entries.is_empty() && r.warning.is_none());
            j.append(&EditOp::ClearLabel { label: 1 }, "me", "test")
                .unwrap_or_else(|e| panic!("{e}"));
            j.append(&EditOp::ClearLabel { label: 2 }, "me", "test")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut bytes = std::fs::read(&p).unwrap_or_default();
        bytes.extend_from_slice(b"{\"seq\":3,\"time\":\"x\",\"auth");
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
        let (mut j, r) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.entries.len(), 2);
        assert!(r.warning.is_some_and(|w| w.contains("line 3")));
        j.append(&EditOp::Undo, "me", "test")
            .unwrap_or_else(|e| panic!("{e}"));
        drop(j);
        let (_, r) = Journal::open(&p, "test").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.entries.len(), 3);
        assert_eq!(r.entries[2].seq, 3);
    }
}
