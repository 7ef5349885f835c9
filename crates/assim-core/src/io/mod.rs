//! Files in and out: configuration files read with one-line errors, outputs written
//! atomically so that a crash never leaves a half-written result, Zarr stores.

mod atomic;
pub mod config_file;
pub mod zarr;

pub use atomic::write_atomic;

use std::path::Path;

use crate::AssimError;

/// Reads a text file and parses it, naming the file in either error (a parser's message names
/// the line): how the observation files are read.
pub fn parse_text_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, AssimError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AssimError::Format { path: path.to_path_buf(), msg: format!("cannot read: {e}") })?;
    parse(&text).map_err(|msg| AssimError::Format { path: path.to_path_buf(), msg })
}
