//! Why a real-data file could not be read: every error names the file and, where one is at
//! fault, the field, so that a user with a directory of downloads knows which one to fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// A file that could not be read, or a field in it that cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct DataError {
    /// The file (or Zarr store directory) read.
    pub path: PathBuf,
    /// The field (variable, coordinate or GRIB parameter) at fault, if one is.
    pub field: Option<String>,
    /// What is wrong, in words.
    pub reason: String,
}

impl DataError {
    /// An error about the file as a whole.
    pub fn file(path: &Path, reason: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), field: None, reason: reason.into() }
    }

    /// An error about one field of the file.
    pub fn field(path: &Path, field: &str, reason: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), field: Some(field.to_string()), reason: reason.into() }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field `{field}`: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for DataError {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, DataError>;
