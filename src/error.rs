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
    /// Invalid argument from the caller (not a file problem).
    #[error("{0}")]
    Invalid(String),
    /// No GPU adapter, device creation failure, or a validation error caught by an error scope.
    #[error("GPU: {0}")]
    Gpu(String),
}

impl Error {
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
