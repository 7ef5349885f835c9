//! Zarr v3 stores of gridded fields with CF metadata, the format xarray opens directly
//! (`xr.open_zarr`): dimensions (time, lat, lon), coordinates in degrees, CF standard names
//! and units on every variable, the run's configuration as a global attribute.
//!
//! A store is written into a hidden temporary directory beside its destination, one time
//! slice (chunk) at a time, and moved into place only by [`GriddedZarrWriter::finish`]: a run
//! that fails or is killed leaves any earlier store at the destination untouched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::GroupBuilder;

use crate::AssimError;
use crate::grid::LatLonGrid;

/// The CF description of one gridded variable.
#[derive(Clone, Copy, Debug)]
pub struct CfVariable {
    /// Variable name in the store.
    pub name: &'static str,
    /// CF standard name.
    pub standard_name: &'static str,
    /// Human-readable description.
    pub long_name: &'static str,
    /// UDUNITS units.
    pub units: &'static str,
}

/// Storage precision of the gridded variables (coordinates and series are always f64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: half the size, ≈ 7 significant digits (data sets, training).
    F32,
    /// 64-bit floats: bit-for-bit restarts.
    F64,
}

/// Units of the `time` coordinate of every assim store.
pub const TIME_UNITS: &str = "hours since 2000-01-01 00:00:00";

/// The vertical coordinate of a multi-level store: σ of the full levels (top first).
#[derive(Clone, Debug)]
pub struct SigmaCoordinate {
    /// σ of each full level, top to surface.
    pub sigma: Vec<f64>,
}

/// Writes a (time, lat, lon) store slice by slice, with (time, level, lat, lon) variables
/// when it has a vertical coordinate; see the module documentation.
pub struct GriddedZarrWriter {
    store: Arc<FilesystemStore>,
    tmp: PathBuf,
    dest: PathBuf,
    replace: bool,
    vars: Vec<Array<FilesystemStore>>,
    /// Levels of each variable (0: a surface field of (time, lat, lon)).
    var_levels: Vec<usize>,
    times: Vec<f64>,
    n_time: usize,
    slice_len: usize,
    precision: Precision,
}

fn format_err(path: &Path, e: impl std::fmt::Display) -> AssimError {
    AssimError::Format { path: path.to_path_buf(), msg: e.to_string() }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> AssimError + '_ {
    move |source| AssimError::Io { path: path.to_path_buf(), source }
}

/// Fails up front when `dest` cannot be written: it exists and `replace` is off, or its
/// parent directory is missing or read-only.
pub fn check_destination(dest: &Path, replace: bool) -> Result<(), AssimError> {
    if dest.exists() && !replace {
        return Err(AssimError::Input(format!(
            "{}: already exists (pass --force to replace it; it is kept until the new run has finished)",
            dest.display()
        )));
    }
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let md = std::fs::metadata(parent).map_err(io_err(parent))?;
    if !md.is_dir() {
        return Err(AssimError::Input(format!("{}: not a directory", parent.display())));
    }
    let probe = parent.join(format!(".assim-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(io_err(parent))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn attrs(pairs: Value) -> Map<String, Value> {
    pairs.as_object().cloned().unwrap_or_default()
}

impl GriddedZarrWriter {
    /// Starts a store for `n_time` slices of `vars` on `grid`, with `global` attributes.
    pub fn create(
        dest: &Path,
        replace: bool,
        grid: &LatLonGrid,
        n_time: usize,
        vars: &[CfVariable],
        precision: Precision,
        global: Map<String, Value>,
    ) -> Result<Self, AssimError> {
        Self::create_levelled(dest, replace, grid, None, n_time, &[], vars, precision, global)
    }

    /// Starts a store with a σ `level` coordinate: `level_vars` are (time, level, lat, lon),
    /// `surface_vars` (time, lat, lon); a slice gives the level variables first.
    #[allow(clippy::too_many_arguments)]
    pub fn create_levelled(
        dest: &Path,
        replace: bool,
        grid: &LatLonGrid,
        level: Option<&SigmaCoordinate>,
        n_time: usize,
        level_vars: &[CfVariable],
        surface_vars: &[CfVariable],
        precision: Precision,
        global: Map<String, Value>,
    ) -> Result<Self, AssimError> {
        check_destination(dest, replace)?;
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("run.zarr");
        let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let store = Arc::new(FilesystemStore::new(&tmp).map_err(|e| format_err(&tmp, e))?);
        let mut root = GroupBuilder::new();
        root.attributes(global);
        root.build(store.clone(), "/")
            .map_err(|e| format_err(&tmp, e))?
            .store_metadata()
            .map_err(|e| format_err(&tmp, e))?;
        let mut w = Self {
            store,
            tmp,
            dest: dest.to_path_buf(),
            replace,
            vars: Vec::new(),
            var_levels: Vec::new(),
            times: Vec::with_capacity(n_time),
            n_time,
            slice_len: grid.len(),
            precision,
        };
        w.write_array(
            "lat",
            &["lat"],
            &grid.lat_degrees(),
            attrs(json!({"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"})),
        )?;
        w.write_array(
            "lon",
            &["lon"],
            &grid.lon_degrees(),
            attrs(json!({"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"})),
        )?;
        let dtype = match precision {
            Precision::F32 => data_type::float32(),
            Precision::F64 => data_type::float64(),
        };
        let nlev = level.map_or(0, |l| l.sigma.len());
        if let Some(l) = level {
            w.write_array(
                "level",
                &["level"],
                &l.sigma,
                attrs(json!({
                    "standard_name": "atmosphere_sigma_coordinate",
                    "long_name": "sigma (pressure over surface pressure) of the full levels",
                    "units": "1",
                    "positive": "down",
                    "axis": "Z",
                    "formula_terms": "sigma: level ps: surface_air_pressure ptop: ptop",
                })),
            )?;
            w.write_array_nd(
                "ptop",
                &[],
                &[],
                &[0.0],
                attrs(json!({"long_name": "pressure at the model top", "units": "Pa"})),
            )?;
        } else if !level_vars.is_empty() {
            return Err(AssimError::Input("level variables need a level coordinate".into()));
        }
        let all = level_vars.iter().map(|v| (v, nlev)).chain(surface_vars.iter().map(|v| (v, 0)));
        for (v, levels) in all {
            let (shape, chunk, dims): (Vec<u64>, Vec<u64>, Vec<&str>) = if levels > 0 {
                (
                    vec![n_time as u64, levels as u64, grid.nlat() as u64, grid.nlon() as u64],
                    vec![1u64, levels as u64, grid.nlat() as u64, grid.nlon() as u64],
                    vec!["time", "level", "lat", "lon"],
                )
            } else {
                (
                    vec![n_time as u64, grid.nlat() as u64, grid.nlon() as u64],
                    vec![1u64, grid.nlat() as u64, grid.nlon() as u64],
                    vec!["time", "lat", "lon"],
                )
            };
            let mut b = ArrayBuilder::new(shape, chunk, dtype.clone(), f64::NAN);
            b.dimension_names(Some(dims));
            b.attributes(attrs(json!({
                "standard_name": v.standard_name,
                "long_name": v.long_name,
                "units": v.units,
            })));
            let path = format!("/{}", v.name);
            let arr = b.build(w.store.clone(), &path).map_err(|e| format_err(&w.tmp, e))?;
            arr.store_metadata().map_err(|e| format_err(&w.tmp, e))?;
            w.vars.push(arr);
            w.var_levels.push(levels);
        }
        Ok(w)
    }

    /// Writes time slice `t` (at `time_hours` in [`TIME_UNITS`]): one grid field per variable,
    /// in the order given to [`create`](Self::create).
    pub fn write_slice(&mut self, t: usize, time_hours: f64, fields: &[&[f64]]) -> Result<(), AssimError> {
        assert_eq!(fields.len(), self.vars.len(), "one field per variable");
        if t >= self.n_time || t != self.times.len() {
            return Err(AssimError::Input(format!(
                "time slice {t} written out of order (expected {})",
                self.times.len()
            )));
        }
        for ((arr, f), &levels) in self.vars.iter().zip(fields).zip(&self.var_levels) {
            assert_eq!(f.len(), self.slice_len * levels.max(1));
            let at: &[u64] = if levels > 0 { &[t as u64, 0, 0, 0] } else { &[t as u64, 0, 0] };
            let r = match self.precision {
                Precision::F32 => arr.store_chunk(at, f.iter().map(|&x| x as f32).collect::<Vec<f32>>()),
                Precision::F64 => arr.store_chunk(at, f.to_vec()),
            };
            r.map_err(|e| format_err(&self.tmp, e))?;
        }
        self.times.push(time_hours);
        Ok(())
    }

    /// Writes a whole f64 array (a coordinate, a time series, a spectrum) in one chunk.
    pub fn write_array(
        &mut self,
        name: &str,
        dims: &[&str],
        data: &[f64],
        attributes: Map<String, Value>,
    ) -> Result<(), AssimError> {
        self.write_array_nd(name, dims, &[data.len()], data, attributes)
    }

    /// Writes a whole f64 array of `shape` (row-major `data`) in one chunk.
    pub fn write_array_nd(
        &mut self,
        name: &str,
        dims: &[&str],
        shape: &[usize],
        data: &[f64],
        attributes: Map<String, Value>,
    ) -> Result<(), AssimError> {
        assert_eq!(shape.iter().product::<usize>(), data.len());
        let shape: Vec<u64> = shape.iter().map(|&s| s.max(1) as u64).collect();
        let mut b = ArrayBuilder::new(shape.clone(), shape, data_type::float64(), f64::NAN);
        b.dimension_names(Some(dims.to_vec()));
        b.attributes(attributes);
        let arr = b.build(self.store.clone(), &format!("/{name}")).map_err(|e| format_err(&self.tmp, e))?;
        arr.store_metadata().map_err(|e| format_err(&self.tmp, e))?;
        if !data.is_empty() {
            arr.store_chunk(&vec![0u64; dims.len()], data.to_vec()).map_err(|e| format_err(&self.tmp, e))?;
        }
        Ok(())
    }

    /// Writes the time coordinate and moves the store to its destination (replacing an earlier
    /// store only now, when the new one is complete).
    pub fn finish(mut self) -> Result<PathBuf, AssimError> {
        if self.times.len() != self.n_time {
            return Err(AssimError::Input(format!(
                "store finished after {} of {} time slices",
                self.times.len(),
                self.n_time
            )));
        }
        let times = std::mem::take(&mut self.times);
        self.write_array(
            "time",
            &["time"],
            &times,
            attrs(json!({"standard_name": "time", "long_name": "time", "units": TIME_UNITS, "calendar": "proleptic_gregorian", "axis": "T"})),
        )?;
        self.consolidate()?;
        let dest = self.dest.clone();
        let old = if dest.exists() {
            if !self.replace {
                return Err(AssimError::Input(format!(
                    "{}: appeared during the run; not replaced",
                    dest.display()
                )));
            }
            let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("run.zarr");
            let old = dest.with_file_name(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(&dest, &old).map_err(io_err(&dest))?;
            Some(old)
        } else {
            None
        };
        std::fs::rename(&self.tmp, &dest).map_err(io_err(&dest))?;
        if let Some(old) = old {
            let _ = if old.is_dir() { std::fs::remove_dir_all(&old) } else { std::fs::remove_file(&old) };
        }
        self.tmp = PathBuf::new();
        Ok(dest)
    }
}

impl GriddedZarrWriter {
    /// Copies every array's metadata into the root `zarr.json` (consolidated metadata), so
    /// that xarray opens the store with one read and without a warning.
    fn consolidate(&self) -> Result<(), AssimError> {
        use zarrs::metadata_ext::group::consolidated_metadata::{
            ConsolidatedMetadata, ConsolidatedMetadataKind,
        };
        let err = |e: &dyn std::fmt::Display| format_err(&self.tmp, e);
        let node = zarrs::node::Node::open(&self.store, "/").map_err(|e| err(&e))?;
        let metadata = node.consolidate_metadata().ok_or_else(|| err(&"root is not a group"))?;
        let mut group = zarrs::group::Group::open(self.store.clone(), "/").map_err(|e| err(&e))?;
        group.set_consolidated_metadata(Some(ConsolidatedMetadata {
            metadata,
            kind: ConsolidatedMetadataKind::Inline,
        }));
        group.store_metadata().map_err(|e| err(&e))
    }
}

impl Drop for GriddedZarrWriter {
    /// A store that was never finished is removed: no half-written run is left behind.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// A store opened for reading.
pub struct ZarrReader {
    path: PathBuf,
    store: Arc<FilesystemStore>,
}

impl ZarrReader {
    /// Opens the store at `path` (a directory written by assim or any Zarr v3 store).
    pub fn open(path: &Path) -> Result<Self, AssimError> {
        if !path.join("zarr.json").is_file() {
            return Err(AssimError::Format {
                path: path.to_path_buf(),
                msg: "not a Zarr v3 store (no zarr.json)".into(),
            });
        }
        let store = Arc::new(FilesystemStore::new(path).map_err(|e| format_err(path, e))?);
        Ok(Self { path: path.to_path_buf(), store })
    }

    /// The root group's attributes.
    pub fn global_attributes(&self) -> Result<Map<String, Value>, AssimError> {
        let g = zarrs::group::Group::open(self.store.clone(), "/").map_err(|e| format_err(&self.path, e))?;
        Ok(g.attributes().clone())
    }

    /// The attributes of array `name` (`units`, `standard_name`, `_ARRAY_DIMENSIONS`).
    pub fn attributes(&self, name: &str) -> Result<Map<String, Value>, AssimError> {
        Ok(self.array(name)?.attributes().clone())
    }

    /// The shape of array `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, AssimError> {
        Ok(self.array(name)?.shape().iter().map(|&s| s as usize).collect())
    }

    /// The whole of array `name` as f64 (f32 arrays are widened).
    pub fn read_all(&self, name: &str) -> Result<Vec<f64>, AssimError> {
        let arr = self.array(name)?;
        let ranges: Vec<std::ops::Range<u64>> = arr.shape().iter().map(|&s| 0..s).collect();
        self.read_ranges(&arr, name, ranges)
    }

    /// Slice `t` of a (time, lat, lon) or (time, level, lat, lon) array, as f64.
    pub fn read_slice(&self, name: &str, t: usize) -> Result<Vec<f64>, AssimError> {
        let arr = self.array(name)?;
        let shape = arr.shape().to_vec();
        if !(3..=4).contains(&shape.len()) || t as u64 >= shape[0] {
            return Err(AssimError::Format {
                path: self.path.clone(),
                msg: format!("{name}: no time slice {t} in an array of shape {shape:?}"),
            });
        }
        let ranges: Vec<std::ops::Range<u64>> =
            std::iter::once(t as u64..t as u64 + 1).chain(shape[1..].iter().map(|&s| 0..s)).collect();
        self.read_ranges(&arr, name, ranges)
    }

    fn array(&self, name: &str) -> Result<Array<FilesystemStore>, AssimError> {
        Array::open(self.store.clone(), &format!("/{name}"))
            .map_err(|e| AssimError::Format { path: self.path.clone(), msg: format!("array {name}: {e}") })
    }

    fn read_ranges(
        &self,
        arr: &Array<FilesystemStore>,
        name: &str,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> Result<Vec<f64>, AssimError> {
        let err = |e: zarrs::array::ArrayError| AssimError::Format {
            path: self.path.clone(),
            msg: format!("array {name}: {e} (truncated or corrupt store?)"),
        };
        let dt = arr.data_type().clone();
        if dt == data_type::float32() {
            let v: Vec<f32> = arr.retrieve_array_subset(&ranges).map_err(err)?;
            Ok(v.into_iter().map(f64::from).collect())
        } else if dt == data_type::float64() {
            arr.retrieve_array_subset(&ranges).map_err(err)
        } else {
            Err(AssimError::Format {
                path: self.path.clone(),
                msg: format!("array {name}: data type is not float32/float64"),
            })
        }
    }
}
