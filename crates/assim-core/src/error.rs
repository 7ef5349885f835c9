//! One error type for the whole engine, so that the CLI can print one clear line.

use std::path::PathBuf;

/// Everything that can go wrong in assim-core; each variant says where, so a user can fix it.
#[derive(Debug, thiserror::Error)]
pub enum AssimError {
    /// An experiment or config file that cannot be used as written.
    #[error("{file}: {key}: {msg}")]
    Config {
        /// The file the bad value came from.
        file: String,
        /// The dotted key (or `<file>` when the whole file is unreadable).
        key: String,
        /// What is wrong and what is expected.
        msg: String,
    },
    /// Inputs that are inconsistent with each other (shapes, indices, variances).
    #[error("invalid input: {0}")]
    Input(String),
    /// A numerical failure (non-finite numbers, failed factorisation).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// A data file (Zarr store, checkpoint) that is missing pieces, corrupt, or made for
    /// another model or grid.
    #[error("{path}: {msg}")]
    Format {
        /// The file or store.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A file-system failure, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path that could not be read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl AssimError {
    /// Shorthand for a config error naming its file and key.
    pub fn config(file: impl Into<String>, key: impl Into<String>, msg: impl Into<String>) -> Self {
        AssimError::Config { file: file.into(), key: key.into(), msg: msg.into() }
    }
}
