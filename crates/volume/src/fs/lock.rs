//! One writer per file: an exclusive OS lock (`flock` on Unix, `LockFileEx` on Windows,
//! through `std::fs::File::try_lock`) on `<path>.lock`, held for as long as an
//! [`OwnerLock`] lives. The kernel drops the lock when the process ends however it ends, so a
//! crashed owner never blocks the next one. The lock file holds the owner (tool, user, host,
//! pid, start time, as one JSON line) so that a refusal can say who holds it; a clean release
//! deletes it, so a lock file with an owner in it that nobody holds is the trace of a crash,
//! reported by the next owner ([`OwnerLock::took_over`]).
//!
//! Deleting a lock file is safe against a process that opened it just before: after taking
//! the lock, the taker checks that the path still names the file it locked, and starts again
//! when it does not. Locks are advisory: they order voxmark processes (and any tool that
//! takes the same lock), not every program on the machine. On NFS, Linux maps `flock` to
//! POSIX byte-range locks served by the server's lock manager.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Who holds (or held) a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// What holds it: "voxmark apply", "voxmark shell".
    pub tool: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// UTC, RFC 3339.
    pub since: String,
}

impl Owner {
    /// This process, as `tool`.
    pub fn this_process(tool: &str) -> Self {
        Self {
            tool: tool.to_string(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown user".into()),
            host: host_name(),
            pid: std::process::id(),
            since: super::clock::now_rfc3339(),
        }
    }

    /// "voxmark shell (user ann, pid 4242 on ws-07, since 2026-12-04T08:00:00Z)".
    pub fn describe(&self) -> String {
        format!(
            "{} (user {}, pid {} on {}, since {})",
            self.tool, self.user, self.pid, self.host, self.since
        )
    }
}

/// The machine's name (Linux: the kernel's; else the environment's).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown host".into())
}

/// The lock file of `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// An exclusive lock on a file (module docs); released (and its lock file deleted) on drop.
#[derive(Debug)]
pub struct OwnerLock {
    file: File,
    lock_file: PathBuf,
    /// The owner recorded in the lock file when it was taken: a process that ended without
    /// releasing it (a crash, a kill, a power loss).
    pub took_over: Option<Owner>,
}

/// The owner recorded in an open lock file, if it holds one.
fn read_owner(mut f: &File) -> Option<Owner> {
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).ok()?;
    f.take(64 * 1024).read_to_string(&mut s).ok()?;
    serde_json::from_str(s.trim()).ok()
}

/// Whether `f` is still the file named `path` (it was not deleted or replaced).
fn still_named(f: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (f.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (f, path);
        true
    }
}

impl OwnerLock {
    /// Takes the lock of `path` for `tool`, or fails with [`Error::Locked`] naming the
    /// process that holds it. Creates the lock file's folder if needed.
    pub fn acquire(path: &Path, tool: &str) -> Result<Self> {
        let lock_file = lock_path(path);
        if let Some(dir) = lock_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        // A holder deleting the file between our open and our lock makes us start again;
        // a handful of rounds is plenty (each needs another process to finish in between).
        for _ in 0..16 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_file)
                .map_err(|e| Error::io(&lock_file, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    // The holder writes its record right after taking the lock: a process
                    // that lost a race by microseconds reads it a moment later (up to 0.2 s)
                    // rather than naming nobody.
                    let mut owner = read_owner(&file);
                    for _ in 0..100 {
                        if owner.is_some() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        owner = read_owner(&file);
                    }
                    let owner = owner
                        .map(|o| o.describe())
                        .unwrap_or_else(|| "another process (starting up)".into());
                    return Err(Error::Locked {
                        path: path.to_path_buf(),
                        owner,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&lock_file, e)),
            }
            if !still_named(&file, &lock_file) {
                continue;
            }
            let took_over = read_owner(&file);
            let mut line = serde_json::to_vec(&Owner::this_process(tool))
                .map_err(|e| Error::Corrupt(format!("lock owner: {e}")))?;
            line.push(b'\n');
            let mut f = &file;
            f.set_len(0)
                .and_then(|_| f.seek(SeekFrom::Start(0)))
                .and_then(|_| f.write_all(&line))
                .and_then(|_| f.sync_data())
                .map_err(|e| Error::io(&lock_file, e))?;
            return Ok(Self {
                file,
                lock_file,
                took_over,
            });
        }
        Err(Error::Locked {
            path: path.to_path_buf(),
            owner: "other processes (the lock file kept changing)".into(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.lock_file
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // Delete while still holding the lock (see the module docs), then unlock by closing.
        let _ = std::fs::remove_file(&self.lock_file);
        let _ = self.file.unlock();
    }
}

/// Who holds the lock of `path` now, without taking it: None when nobody does.
pub fn holder(path: &Path) -> Result<Option<Owner>> {
    let lock_file = lock_path(path);
    let file = match File::open(&lock_file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&lock_file, e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(read_owner(&file).unwrap_or(Owner {
            tool: "another process (starting up)".into(),
            user: String::new(),
            host: String::new(),
            pid: 0,
            since: String::new(),
        }))),
        Err(TryLockError::Error(e)) => Err(Error::io(&lock_file, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_owner_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("m.nii.gz");
        let a = OwnerLock::acquire(&p, "first tool").unwrap_or_else(|e| panic!("{e}"));
        assert!(a.took_over.is_none());
        // flock locks belong to open files: a second open in this process is refused too.
        let e = OwnerLock::acquire(&p, "second").expect_err("must be refused");
        let msg = e.to_string();
        assert!(
            msg.contains("m.nii.gz") && msg.contains("first tool"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        let h = holder(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.map(|o| o.tool), Some("first tool".to_string()));
        drop(a);
        assert!(
            !lock_path(&p).exists(),
            "a clean release deletes the lock file"
        );
        assert!(holder(&p).unwrap_or_else(|e| panic!("{e}")).is_none());
        let b = OwnerLock::acquire(&p, "second").unwrap_or_else(|e| panic!("{e}"));
        assert!(b.took_over.is_none(), "a clean release is not a crash");
    }

    #[test]
    fn an_unheld_lock_file_with_an_owner_is_taken_over_and_reported() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("j.jsonl");
        let dead = Owner {
            tool: "voxmark apply".into(),
            user: "x".into(),
            host: "h".into(),
            pid: 999_999,
            since: "2026-01-01T00:00:00Z".into(),
        };
        let text = serde_json::to_string(&dead).unwrap_or_default();
        std::fs::write(lock_path(&p), text).unwrap_or_else(|e| panic!("{e}"));
        let l = OwnerLock::acquire(&p, "me").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(l.took_over, Some(dead));
        let now = std::fs::read_to_string(l.path()).unwrap_or_default();
        assert!(now.contains("\"tool\":\"me\""), "{now}");
    }
}
