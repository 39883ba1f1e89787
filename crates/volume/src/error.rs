//! The one error type of the library.
//!
//! Every variant that concerns a file carries its path, so that the CLI can print one
//! line naming the file and the problem (`voxmark: <path>: <problem>`).

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading, converting or computing on a volume.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O failure on a file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the format its content or name claims, or its header is invalid.
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
    /// The file ends before the data its header promises.
    #[error(
        "{path}: truncated: header promises {expected} bytes of voxel data, only {got} present"
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        got: u64,
    },
    /// A valid file using a feature voxmark does not support (named).
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: PathBuf, what: String },
    /// The slices of a DICOM series do not form one regular volume.
    #[error("{path}: inconsistent series {series_uid}: {problem}")]
    Series {
        path: PathBuf,
        series_uid: String,
        problem: String,
    },
    /// A folder holds several series and the command needs one.
    #[error("{path}: holds {} series; choose one with --series UID:\n{}", .choices.len(), .choices.join("\n"))]
    SeriesChoice { path: PathBuf, choices: Vec<String> },
    /// `--series UID` names a series that is not in the folder.
    #[error("{path}: no series with UID {uid}; available:\n{}", .choices.join("\n"))]
    SeriesNotFound {
        path: PathBuf,
        uid: String,
        choices: Vec<String>,
    },
    /// Bad input from the caller (not a file problem): an op with an empty range, a seed
    /// outside the volume, a polygon with two points. Fix the request and retry.
    #[error("{0}")]
    Invalid(String),
    /// Two things that must agree do not (label voxels vs image voxels, a kernel built for
    /// another volume type, buffers of different dims): a caller's wiring error.
    #[error("{0}")]
    Mismatch(String),
    /// The op would write or remove a locked label: unlock it (`set_label ... locked: false`).
    #[error("{op}: label {label} is locked")]
    LockedLabel { op: &'static str, label: u8 },
    /// Something the request refers to does not exist (now): a review annotation or comment
    /// id, a preview to commit, an open document, a journal to discard.
    #[error("{0}")]
    NotFound(String),
    /// The request was right when it was made but someone else changed the thing first (a
    /// save on top of a version that is no longer the latest): reload, then retry.
    #[error("{0}")]
    Conflict(String),
    /// Stored data that voxmark wrote itself is damaged (undo bricks, a journal entry that
    /// does not serialise): a bug or memory corruption, never the user's input.
    #[error("{0}")]
    Corrupt(String),
    /// A project database (SQLite file or PostgreSQL server) failed a request: the engine's
    /// message, prefixed with where.
    #[error("{0}")]
    Db(String),
    /// A background thread (loading, saving) could not start, or ended without a result.
    #[error("{0}")]
    Worker(String),
    /// No usable GPU: no adapter, or the device could not be created. The CPU path works.
    #[error("GPU: {0}")]
    NoGpu(String),
    /// The GPU ran out of memory (caught by an error scope): a smaller volume or ROI, or
    /// another adapter.
    #[error("GPU: {what}: out of memory: {message}")]
    GpuOutOfMemory { what: String, message: String },
    /// A GPU validation or driver failure caught by an error scope, or a failed readback.
    #[error("GPU: {0}")]
    Gpu(String),
    /// Another process owns the file (`volume::fs::lock`): one writer per mask and journal.
    #[error("{path} is being edited by {owner}; only one process may write it at a time — close that one, or work on a copy")]
    Locked { path: PathBuf, owner: String },
    /// The document is open read-only (another process owns its mask): the message says
    /// whose it is and how to edit a copy.
    #[error("read-only: {0}")]
    ReadOnly(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// Shorthand for [`Error::Mismatch`].
    pub fn mismatch(message: impl Into<String>) -> Self {
        Error::Mismatch(message.into())
    }

    /// The same kind of error again, for an error kept in a cache (a kernel that failed to
    /// compile once) and reported at each later use. Errors are not `Clone` (they may hold
    /// an `io::Error`); the copy keeps the variant where it can and the message always.
    pub fn again(e: &Error) -> Self {
        match e {
            Error::NoGpu(m) => Error::NoGpu(m.clone()),
            Error::GpuOutOfMemory { what, message } => Error::GpuOutOfMemory {
                what: what.clone(),
                message: message.clone(),
            },
            Error::Invalid(m) => Error::Invalid(m.clone()),
            Error::Mismatch(m) => Error::Mismatch(m.clone()),
            other => Error::Gpu(other.to_string().trim_start_matches("GPU: ").to_string()),
        }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.into(),
            what: what.into(),
        }
    }
}
