//! Crash-safe output: write into a temporary file beside the target, then rename.
//!
//! A reader never sees a half-written file, and a failure leaves no output at all. The
//! folder is fsynced after the rename so the new name survives a power loss too.
//!
//! Fault injection (tests; `VOXMARK_FAULT`, read once per process): `STEP[@N]` aborts the
//! process like `kill -9` at STEP of the N-th atomic write of this process (default 1) —
//! `after-temp-write`, `after-fsync`, `after-rename`, `after-dir-fsync`, or
//! `after-history` (the first journal checkpoint, between the history append and the
//! journal rewrite; N is ignored); `full@K` makes every atomic write fail as a full disk does (ENOSPC) once K bytes
//! are written.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fault `VOXMARK_FAULT` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    None,
    Abort { step: String, nth: usize },
    Full { after_bytes: u64 },
}

fn fault() -> &'static Fault {
    static F: std::sync::OnceLock<Fault> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let Ok(v) = std::env::var("VOXMARK_FAULT") else {
            return Fault::None;
        };
        let (step, n) = v.split_once('@').unwrap_or((v.as_str(), "1"));
        let n: u64 = n.parse().unwrap_or(1);
        if step == "full" {
            Fault::Full { after_bytes: n }
        } else {
            Fault::Abort {
                step: step.to_string(),
                nth: n.max(1) as usize,
            }
        }
    })
}

/// Atomic writes started by this process (1-based count of the current one).
static WRITES: AtomicUsize = AtomicUsize::new(0);

/// Aborts here when the fault asks for `step` of the current write (module docs).
pub fn fault_point(step: &str) {
    if let Fault::Abort { step: s, nth } = fault() {
        let here = step == "after-history" || WRITES.load(Ordering::SeqCst) == *nth;
        if s == step && here {
            std::process::abort();
        }
    }
}

/// A writer that fails with ENOSPC past `left` bytes (the `full@K` fault).
struct FullDisk<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for FullDisk<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // What a full disk reports (ENOSPC, "No space left on device").
            #[cfg(target_os = "linux")]
            return Err(std::io::Error::from_raw_os_error(28));
            #[cfg(not(target_os = "linux"))]
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        let n = (buf.len() as u64).min(self.left) as usize;
        let n = self.inner.write(&buf[..n])?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Creates `path` atomically: `write` fills a buffered temporary file in the same folder,
/// which is flushed, synced and renamed over `path` only when `write` succeeds.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".voxmark-").suffix(".partial");
    // tempfile creates 0600 files; outputs are ordinary files, readable like any other.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    WRITES.fetch_add(1, Ordering::SeqCst);
    remove_stale_partials(dir);
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    // Held while the write lasts (and released by the kernel if the process dies): how a
    // later writer tells a crashed write's leftover from one in progress.
    let _ = tmp.as_file().try_lock();
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        match fault() {
            Fault::Full { after_bytes } => {
                let mut full = FullDisk {
                    inner: &mut w,
                    left: *after_bytes,
                };
                write(&mut full).map_err(|e| Error::io(path, e))?;
            }
            _ => write(&mut w).map_err(|e| Error::io(path, e))?,
        }
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    fault_point("after-temp-write");
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    fault_point("after-fsync");
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    fault_point("after-rename");
    sync_dir(dir)?;
    fault_point("after-dir-fsync");
    Ok(())
}

/// Removes, once per folder and process, the `.voxmark-*.partial` temporaries of writes that
/// never finished (a crash between the temp write and the rename): a partial nobody holds
/// locked and untouched for a minute. They are incomplete copies of files whose previous
/// version is still in place, never annotation work. Failures are ignored.
fn remove_stale_partials(dir: &Path) {
    static DONE: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut done) = DONE.lock() else { return };
    if done.iter().any(|d| d == dir) {
        return;
    }
    done.push(dir.to_path_buf());
    drop(done);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".voxmark-") && name.ends_with(".partial")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= 60);
        if !old {
            continue;
        }
        let Ok(f) = std::fs::File::open(e.path()) else {
            continue;
        };
        if f.try_lock().is_ok() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// fsyncs a folder so that names created or renamed in it are durable (POSIX: the entry
/// lives in the directory, not in the file). A no-op where folders cannot be opened.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
        d.sync_all().map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
