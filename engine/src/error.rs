//! The engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with the file it concerns.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Bytes read from disk are not what was written.
    #[error("corrupted data in {path} at offset {offset}: {reason}")]
    Corrupted {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A caller-supplied argument is not acceptable (bad regex, bad range, bad option).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A read or write goes beyond a limit set on it (such as a tenant's query range): the
    /// message names the limit and how to raise it.
    #[error("{0}")]
    LimitExceeded(String),
    /// The database is closed or one of its threads stopped.
    #[error("database is closed")]
    Closed,
    /// Another process holds the data directory.
    #[error("data directory {0} is locked by another process")]
    Locked(PathBuf),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupted(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corrupted {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
