//! The in-memory form every reader produces: variables on a regular latitude–longitude grid with
//! their members, valid times and levels, named the CF way. One form, whatever the file format,
//! so that inspecting, comparing and regridding never depend on where a field came from.

use crate::calendar::format_iso;
use crate::error::{DataError, Result};
use std::path::PathBuf;

/// The file formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// WMO GRIB, edition 1 or 2 (the edition of the first message).
    Grib(u8),
    /// NetCDF-3 classic or 64-bit offset.
    NetCdf3,
    /// NetCDF-4 (HDF5).
    NetCdf4,
    /// A Zarr store (directory), format version 2 or 3.
    Zarr(u8),
}

impl Format {
    /// How `assim data inspect` names the format.
    pub fn describe(&self) -> String {
        match self {
            Format::Grib(e) => format!("GRIB edition {e}"),
            Format::NetCdf3 => "NetCDF-3 classic".into(),
            Format::NetCdf4 => "NetCDF-4 (HDF5)".into(),
            Format::Zarr(v) => format!("Zarr v{v} store"),
        }
    }
}

/// What a variable's vertical coordinate is.
#[derive(Debug, Clone, PartialEq)]
pub enum LevelKind {
    /// Isobaric levels; values in Pa.
    Pressure,
    /// The surface (one level, value 0).
    Surface,
    /// Mean sea level (one level, value 0).
    MeanSea,
    /// Height above ground; values in m.
    HeightAboveGround,
    /// Model (hybrid) levels; values are level numbers.
    Hybrid,
    /// σ levels (pressure over surface pressure), as assim's own multi-level stores write them.
    Sigma,
    /// No vertical coordinate in the file (one level, value 0).
    None,
    /// Anything else, described in words (e.g. `GRIB2 surface type 7`).
    Other(String),
}

impl LevelKind {
    /// The unit of the level values, for printing.
    pub fn unit(&self) -> &'static str {
        match self {
            LevelKind::Pressure => "Pa",
            LevelKind::HeightAboveGround => "m",
            _ => "",
        }
    }
}

/// One variable: `values` is `[member][time][level][latitude][longitude]`, row-major, NaN where
/// the file has no value. Axes are never empty (a field without members has member 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// The name in the file (`t`, `z`, GRIB's short name `gh`).
    pub name: String,
    /// The CF standard name (`air_temperature`, `geopotential`), when known.
    pub standard_name: Option<String>,
    /// The long name, when the file or the parameter table gives one.
    pub long_name: Option<String>,
    /// The units as in the file or the parameter table (`K`, `m2 s-2`, `gpm`).
    pub units: String,
    /// Ensemble member numbers.
    pub members: Vec<i64>,
    /// Valid times, seconds since 1970-01-01 00:00 UTC.
    pub times: Vec<i64>,
    /// What the levels are.
    pub level_kind: LevelKind,
    /// Level values (Pa for pressure levels), in the file's order.
    pub levels: Vec<f64>,
    /// Latitudes of the grid rows, degrees north, in the file's order.
    pub latitudes: Vec<f64>,
    /// Longitudes of the grid columns, degrees east, in the file's order.
    pub longitudes: Vec<f64>,
    /// The data, `[member][time][level][latitude][longitude]`.
    pub values: Vec<f32>,
}

impl Variable {
    /// `[members, times, levels, latitudes, longitudes]`.
    pub fn shape(&self) -> [usize; 5] {
        [self.members.len(), self.times.len(), self.levels.len(), self.latitudes.len(), self.longitudes.len()]
    }

    /// One horizontal field, `[latitude][longitude]`, of member index `m`, time index `t`,
    /// level index `l`.
    pub fn horizontal(&self, m: usize, t: usize, l: usize) -> &[f32] {
        let [_, nt, nl, ny, nx] = self.shape();
        let start = ((m * nt + t) * nl + l) * ny * nx;
        &self.values[start..start + ny * nx]
    }

    /// The plain mean of one horizontal field (what ecCodes prints as `average`), NaNs skipped.
    pub fn mean(&self, m: usize, t: usize, l: usize) -> f64 {
        let (sum, n) = self
            .horizontal(m, t, l)
            .iter()
            .filter(|v| v.is_finite())
            .fold((0.0, 0usize), |(s, n), &v| (s + v as f64, n + 1));
        sum / n as f64
    }

    /// The area-weighted (cos latitude) mean of one horizontal field, NaNs skipped.
    pub fn area_mean(&self, m: usize, t: usize, l: usize) -> f64 {
        let nx = self.longitudes.len();
        let (mut sum, mut weight) = (0.0, 0.0);
        for (row, lat) in self.horizontal(m, t, l).chunks(nx).zip(&self.latitudes) {
            let w = lat.to_radians().cos().max(0.0);
            for &v in row.iter().filter(|v| v.is_finite()) {
                sum += w * v as f64;
                weight += w;
            }
        }
        sum / weight
    }

    /// The index of a level value (Pa for pressure), if the variable has it.
    pub fn level_index(&self, value: f64) -> Option<usize> {
        self.levels.iter().position(|&l| (l - value).abs() <= 1e-6 * value.abs().max(1.0))
    }

    /// Whether the grid spans every longitude and reaches both poles to within one grid step:
    /// what a global model needs before a field can be regridded onto it.
    pub fn covers_globe(&self) -> bool {
        let step = |v: &[f64]| {
            if v.len() < 2 { f64::INFINITY } else { (v[1] - v[0]).abs() }
        };
        let (lat_step, lon_step) = (step(&self.latitudes), step(&self.longitudes));
        let lat_min = self.latitudes.iter().cloned().fold(f64::INFINITY, f64::min);
        let lat_max = self.latitudes.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let span = lon_step * self.longitudes.len() as f64;
        lat_min <= -90.0 + lat_step + 1e-6
            && lat_max >= 90.0 - lat_step - 1e-6
            && (span - 360.0).abs() <= 1e-6 * 360.0
    }

    /// Refuses a grid that does not cover the globe, naming the file and the field.
    pub fn require_global(&self, path: &std::path::Path) -> Result<()> {
        if self.covers_globe() {
            return Ok(());
        }
        let range = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            format!("{lo}…{hi}")
        };
        Err(DataError::field(
            path,
            &self.name,
            format!(
                "the grid does not cover the globe (latitudes {}, longitudes {}, {} columns): a global model needs a global field",
                range(&self.latitudes),
                range(&self.longitudes),
                self.longitudes.len()
            ),
        ))
    }

    /// The times as printed: the first, the last, and the step when regular.
    pub fn describe_times(&self) -> String {
        match self.times.as_slice() {
            [] => "none".into(),
            [t] => format_iso(*t),
            [first, .., last] => {
                let step = self.times[1] - first;
                let regular = self.times.windows(2).all(|w| w[1] - w[0] == step);
                let every =
                    if regular { format!(", every {} h", step as f64 / 3600.0) } else { String::new() };
                format!("{} … {}{}", format_iso(*first), format_iso(*last), every)
            }
        }
    }
}

/// A file's variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The file read.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Its gridded variables (coordinates excluded).
    pub variables: Vec<Variable>,
}

impl Dataset {
    /// Reads a GRIB, NetCDF-3 or NetCDF-4 file, telling them apart by their first bytes, or a
    /// Zarr store (a directory).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        if path.is_dir() {
            return crate::zarr::read(&path);
        }
        let mut head = [0u8; 8];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(&path)
                .map_err(|e| DataError::file(&path, format!("cannot open: {e}")))?;
            let n = f.read(&mut head).map_err(|e| DataError::file(&path, format!("cannot read: {e}")))?;
            if n < 4 {
                return Err(DataError::file(&path, "file is too short to hold any field"));
            }
        }
        if &head[..4] == b"GRIB" {
            crate::grib::read(&path)
        } else if &head[..3] == b"CDF" || &head[..4] == b"\x89HDF" {
            crate::netcdf::read(&path)
        } else if let Some(offset) = find_grib(&path) {
            Err(DataError::file(
                &path,
                format!(
                    "does not start with a GRIB message (the first `GRIB` is at byte {offset}): junk before the first message"
                ),
            ))
        } else {
            Err(DataError::file(&path, "not a GRIB, NetCDF-3 or NetCDF-4 file (unknown first bytes)"))
        }
    }

    /// The variable with this name or CF standard name.
    pub fn variable(&self, name: &str) -> Result<&Variable> {
        self.variables
            .iter()
            .find(|v| v.name == name)
            .or_else(|| self.variables.iter().find(|v| v.standard_name.as_deref() == Some(name)))
            .ok_or_else(|| {
                let have: Vec<_> = self.variables.iter().map(|v| v.name.as_str()).collect();
                DataError::field(
                    &self.path,
                    name,
                    format!("no such variable (the file has: {})", have.join(", ")),
                )
            })
    }
}

fn find_grib(path: &std::path::Path) -> Option<usize> {
    let bytes = std::fs::read(path).ok()?;
    bytes.windows(4).position(|w| w == b"GRIB")
}
