//! NetCDF-3 and NetCDF-4 into [`Dataset`] through the pure-Rust `netcdf-reader`; the CF layout
//! (which dimension is what, canonical order) is [`crate::gridded`]'s, shared with Zarr.

use crate::error::{DataError, Result};
use crate::field::{Dataset, Format};
use crate::gridded::{self, Store};
use netcdf_reader::{NcFile, NcFormat};
use std::path::{Path, PathBuf};

/// An open NetCDF file seen as a [`Store`].
struct NetCdf {
    path: PathBuf,
    file: NcFile,
}

impl Store for NetCdf {
    fn path(&self) -> &Path {
        &self.path
    }

    fn names(&self) -> Vec<String> {
        self.file.variables().map(|vs| vs.iter().map(|v| v.name().to_string()).collect()).unwrap_or_default()
    }

    fn dims(&self, name: &str) -> Option<Vec<(String, usize)>> {
        let var = self.file.variable(name).ok()?;
        Some(var.dimensions().iter().map(|d| (d.name.clone(), d.size as usize)).collect())
    }

    fn text(&self, name: &str, attr: &str) -> Option<String> {
        let var = self.file.variable(name).ok()?;
        var.attribute(attr).and_then(|a| a.value.as_string()).map(|s| s.trim_end_matches('\0').to_string())
    }

    fn read(&self, name: &str) -> Result<Vec<f64>> {
        // Order: `_Unsigned`, fill and missing values masked, then scale and offset applied.
        let values = self
            .file
            .read_variable_unpacked_masked(name)
            .map_err(|e| DataError::field(&self.path, name, e.to_string()))?;
        Ok(values.iter().copied().collect())
    }
}

/// Reads every gridded variable (one with a latitude and a longitude dimension).
pub fn read(path: &Path) -> Result<Dataset> {
    let file =
        NcFile::open(path).map_err(|e| DataError::file(path, format!("not a readable NetCDF file: {e}")))?;
    let format = match file.format() {
        NcFormat::Nc4 | NcFormat::Nc4Classic => Format::NetCdf4,
        _ => Format::NetCdf3,
    };
    let store = NetCdf { path: path.to_path_buf(), file };
    let variables = gridded::variables(&store)?;
    Ok(Dataset { path: path.to_path_buf(), format, variables })
}
