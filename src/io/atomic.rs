//! Crash-safe output: write into a temporary file beside the target, then rename.
//!
//! A reader never sees a half-written file, and a failure leaves no output at all. The
//! folder is fsynced after the rename so the new name survives a power loss too.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

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
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        write(&mut w).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
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
