//! The native half of the `assim` Python package (`assim._assim`): experiments and simulations
//! run from their files, the models' steps and the observation operators on numpy arrays.
//!
//! Every failure reaches Python as an exception carrying the Rust message: a missing file is
//! `FileNotFoundError`, another I/O failure `OSError`, everything else `assim.AssimError` (a
//! `ValueError`); arrays of the wrong dtype are refused by the conversion with a `TypeError`.
//! Long work releases the GIL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assim_core::dynamics::Model;
use assim_core::dynamics::shallow_water::{ForecastStirring, SwGridModel, grid_state};
use assim_core::experiment::{
    Experiment, PeSimulation, PeSimulationConfig, Simulation, SimulationConfig, read_text, run_experiment_in,
    write_run_outputs,
};
use faer::Mat;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    _assim,
    AssimError,
    PyValueError,
    "An error reported by assim's Rust core (bad input, a bad file, a failed computation); the message is the Rust one."
);

/// The Python exception for a core error.
fn to_py(e: assim_core::AssimError) -> PyErr {
    match &e {
        assim_core::AssimError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        assim_core::AssimError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => AssimError::new_err(e.to_string()),
    }
}

/// `FileNotFoundError` unless `path` is a file (the core's own message would be an
/// `AssimError`: Python code expects the built-in for a missing file).
fn require_file(path: &Path) -> PyResult<()> {
    if path.is_file() {
        return Ok(());
    }
    Err(PyFileNotFoundError::new_err(format!("{}: no such file", path.display())))
}

/// `assim.AssimError` with `msg`.
fn input(msg: String) -> PyErr {
    AssimError::new_err(msg)
}

/// Runs the experiment file `path` (every seed and method, as `assim run` does) and writes its
/// outputs (metrics.json/csv, series.csv, config.toml and the bed's files) into `out`.
#[pyfunction]
fn run_experiment(py: Python<'_>, path: PathBuf, out: PathBuf) -> PyResult<()> {
    require_file(&path)?;
    py.detach(|| {
        let exp = Experiment::load_with(&path, &assim_gen::methods())?;
        std::fs::create_dir_all(&out)
            .map_err(|source| assim_core::AssimError::Io { path: out.clone(), source })?;
        let report = run_experiment_in(&exp, |_, _| {}, &mut |_, _, _| {}, Some(&out))?;
        write_run_outputs(&out, &exp, &report)
    })
    .map_err(to_py)
}

/// Runs the simulation file `path` (shallow water, or the primitive equations when its
/// `[model] kind` says so) and writes its Zarr store at `out` (`force`: replace one that exists).
#[pyfunction]
#[pyo3(signature = (path, out, force = false))]
fn simulate(py: Python<'_>, path: PathBuf, out: PathBuf, force: bool) -> PyResult<()> {
    require_file(&path)?;
    py.detach(|| {
        let (text, file) = read_text(&path)?;
        assim_core::io::zarr::check_destination(&out, force)?;
        if assim_core::dynamics::primitive::is_primitive(&text) {
            PeSimulation::new(PeSimulationConfig::parse(&text, &file)?)?.run(&out, force, |_, _| {}).map(drop)
        } else {
            let base = path.parent().unwrap_or(Path::new("."));
            Simulation::new(SimulationConfig::parse(&text, &file)?, base)?
                .run(&out, force, |_, _| {})
                .map(drop)
        }
    })
    .map_err(to_py)
}

/// `x`'s states as the columns of an `nx × N` ensemble: `x` is one state of `shape` or a
/// stack `(N, *shape)`; also says which (for the result's shape).
fn ensemble_of(x: &PyReadonlyArrayDyn<'_, f64>, shape: &[usize], what: &str) -> PyResult<(Mat<f64>, bool)> {
    let dims = x.shape();
    let nx: usize = shape.iter().product();
    let single = dims == shape;
    let stack = dims.len() == shape.len() + 1 && &dims[1..] == shape;
    if !(single || stack) {
        return Err(input(format!(
            "{what}: an array of shape {shape:?} (one state) or (N, {}) (N states) was expected, got {dims:?}",
            shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    let n = if single { 1 } else { dims[0] };
    let values: Vec<f64> = x.as_array().iter().copied().collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(input(format!("{what}: value {i} (flat index) is {}; states must be finite", values[i])));
    }
    Ok((Mat::from_fn(nx, n, |i, j| values[j * nx + i]), single))
}

/// The array of an `rows × N` matrix, one row-major `(N, *shape)` stack (or one state).
fn array_of<'py>(
    py: Python<'py>,
    m: &Mat<f64>,
    shape: &[usize],
    single: bool,
) -> Bound<'py, PyArrayDyn<f64>> {
    let mut dims = if single { Vec::new() } else { vec![m.ncols()] };
    dims.extend_from_slice(shape);
    let values: Vec<f64> = (0..m.ncols()).flat_map(|j| (0..m.nrows()).map(move |i| m[(i, j)])).collect();
    ArrayD::from_shape_vec(IxDyn(&dims), values).expect("the shape holds the values").into_pyarray(py)
}

/// Advances `x` (one state or a stack) by `steps` model steps of `dt` from `t0`, the GIL released.
fn step_with<'py>(
    py: Python<'py>,
    model: &dyn Model,
    x: PyReadonlyArrayDyn<'py, f64>,
    shape: &[usize],
    t0: f64,
    dt: f64,
    steps: usize,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    if !(dt.is_finite() && dt > 0.0) {
        return Err(input(format!("dt must be positive (got {dt})")));
    }
    let (mut e, single) = ensemble_of(&x, shape, "x")?;
    py.detach(|| model.advance_ensemble(&mut e, t0, dt, steps));
    Ok(array_of(py, &e, shape, single))
}

/// Lorenz (1963): the three-variable convection model, RK4.
#[pyclass(frozen, module = "assim")]
struct Lorenz63 {
    model: assim_core::dynamics::Lorenz63,
}

#[pymethods]
impl Lorenz63 {
    /// Lorenz63(sigma=10, rho=28, beta=8/3): the chaotic parameters by default.
    #[new]
    #[pyo3(signature = (sigma = 10.0, rho = 28.0, beta = 8.0 / 3.0))]
    fn new(sigma: f64, rho: f64, beta: f64) -> PyResult<Self> {
        let model = assim_core::dynamics::Lorenz63 { sigma, rho, beta };
        model.validate().map_err(|(k, m)| input(format!("{k}: {m}")))?;
        Ok(Lorenz63 { model })
    }

    /// step(x, dt=0.01, steps=1, t0=0.0): `x` (shape (3,) or (N, 3), float64) advanced by
    /// `steps` RK4 steps of `dt`; a new array of the same shape.
    #[pyo3(signature = (x, dt = 0.01, steps = 1, t0 = 0.0))]
    fn step<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f64>,
        dt: f64,
        steps: usize,
        t0: f64,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        step_with(py, &self.model, x, &[3], t0, dt, steps)
    }
}

/// Lorenz (1996): `nx` variables on a circle with forcing `F`, RK4.
#[pyclass(frozen, module = "assim")]
struct Lorenz96 {
    model: assim_core::dynamics::Lorenz96,
}

#[pymethods]
impl Lorenz96 {
    /// Lorenz96(nx=40, forcing=8.0): DAPPER's standard set-up by default.
    #[new]
    #[pyo3(signature = (nx = 40, forcing = 8.0))]
    fn new(nx: usize, forcing: f64) -> PyResult<Self> {
        let model = assim_core::dynamics::Lorenz96 { nx, forcing };
        model.validate().map_err(|(k, m)| input(format!("{k}: {m}")))?;
        Ok(Lorenz96 { model })
    }

    /// The number of variables.
    #[getter]
    fn nx(&self) -> usize {
        self.model.nx
    }

    /// step(x, dt=0.05, steps=1, t0=0.0): `x` (shape (nx,) or (N, nx), float64) advanced by
    /// `steps` RK4 steps of `dt`; a new array of the same shape.
    #[pyo3(signature = (x, dt = 0.05, steps = 1, t0 = 0.0))]
    fn step<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f64>,
        dt: f64,
        steps: usize,
        t0: f64,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        step_with(py, &self.model, x, &[self.model.nx], t0, dt, steps)
    }
}

/// A model on the sphere's Gaussian grid, its states `(fields, nlat, nlon)` in SI units: what
/// [`ShallowWater`] and [`PrimitiveEquations`] share (grid, time step, initial state, step).
#[pyclass(frozen, subclass, module = "assim")]
struct SphereModel {
    model: Arc<dyn Model>,
    shape: [usize; 3],
    lat: Vec<f64>,
    lon: Vec<f64>,
    initial: Vec<f64>,
    dt: f64,
}

impl SphereModel {
    /// The base of a model on `grid` with `fields` fields per state.
    fn new(
        model: Arc<dyn Model>,
        grid: &assim_core::grid::LatLonGrid,
        fields: usize,
        initial: Vec<f64>,
        dt: f64,
    ) -> Self {
        SphereModel {
            model,
            shape: [fields, grid.nlat(), grid.nlon()],
            lat: grid.lat_degrees(),
            lon: grid.lon().iter().map(|l| l.to_degrees()).collect(),
            initial,
            dt,
        }
    }
}

#[pymethods]
impl SphereModel {
    /// The model time step, seconds.
    #[getter]
    fn dt(&self) -> f64 {
        self.dt
    }

    /// Latitudes of the grid rows, degrees north (north to south).
    #[getter]
    fn lat<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f64>> {
        ArrayD::from_shape_vec(IxDyn(&[self.lat.len()]), self.lat.clone())
            .expect("one value per row")
            .into_pyarray(py)
    }

    /// Longitudes of the grid columns, degrees east.
    #[getter]
    fn lon<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f64>> {
        ArrayD::from_shape_vec(IxDyn(&[self.lon.len()]), self.lon.clone())
            .expect("one value per column")
            .into_pyarray(py)
    }

    /// The shape of one state, (fields, nlat, nlon).
    #[getter]
    fn state_shape(&self) -> Vec<usize> {
        self.shape.to_vec()
    }

    /// The simulation's initial state, shape (fields, nlat, nlon).
    fn initial_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDyn<f64>> {
        let m = Mat::from_fn(self.initial.len(), 1, |i, _| self.initial[i]);
        array_of(py, &m, &self.shape, true)
    }

    /// step(x, steps=1): `x` (one state or a stack of N, float64) advanced by `steps` model
    /// steps. Each call starts the leapfrog afresh (one forward step first), as a forecast from
    /// an analysis does; a state the model cannot start from, or a run that blows up, comes back
    /// as NaN.
    #[pyo3(signature = (x, steps = 1))]
    fn step<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f64>,
        steps: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        step_with(py, self.model.as_ref(), x, &self.shape, 0.0, self.dt, steps)
    }
}

/// The spectral shallow-water model of a simulation file, on its Gaussian grid: states are
/// (geopotential, eastward wind, northward wind), shape (3, nlat, nlon), in SI units.
#[pyclass(frozen, extends = SphereModel, module = "assim")]
struct ShallowWater {}

#[pymethods]
impl ShallowWater {
    /// ShallowWater.from_simulation(path): the model, time step and initial state of a
    /// simulation file (docs/simulate.md); its stochastic stirring, if any, is left out (the
    /// forcing's mean: a deterministic step).
    #[staticmethod]
    fn from_simulation(py: Python<'_>, path: PathBuf) -> PyResult<Py<ShallowWater>> {
        require_file(&path)?;
        let (text, file) = read_text(&path).map_err(to_py)?;
        if assim_core::dynamics::primitive::is_primitive(&text) {
            return Err(input(format!(
                "{}: a primitive-equation file, not a shallow-water one",
                path.display()
            )));
        }
        let cfg = SimulationConfig::parse(&text, &file).map_err(to_py)?;
        let dt = cfg.model.dt_seconds;
        let sim = Simulation::new(cfg, path.parent().unwrap_or(Path::new("."))).map_err(to_py)?;
        let (model, state) = sim.into_parts();
        let initial = grid_state(&model, &state);
        let model = Arc::new(model);
        let grid_model =
            SwGridModel::new(model.clone(), 1, Vec::new(), ForecastStirring::None).map_err(to_py)?;
        let base = SphereModel::new(Arc::new(grid_model), model.grid(), 3, initial, dt);
        Py::new(py, PyClassInitializer::from(base).add_subclass(ShallowWater {}))
    }
}

/// The dry primitive-equation model of a simulation file (σ levels, Held–Suarez or JW06), on its
/// Gaussian grid: states are (T on the levels, u on the levels, v on the levels, p_s), shape
/// (3 L + 1, nlat, nlon), top level first, in SI units.
#[pyclass(frozen, extends = SphereModel, module = "assim")]
struct PrimitiveEquations {
    grid_model: Arc<assim_core::dynamics::primitive::PeGridModel>,
}

impl PrimitiveEquations {
    fn shape(&self) -> [usize; 3] {
        let g = self.grid_model.model().grid();
        [3 * self.grid_model.model().nlev() + 1, g.nlat(), g.nlon()]
    }

    /// The bilinear weights of sites on the model's grid.
    fn sites(&self, lat: &[f64], lon: &[f64]) -> PyResult<assim_core::grid::Bilinear> {
        check_sites(lat, lon)?;
        let points: Vec<(f64, f64)> = lat.iter().copied().zip(lon.iter().copied()).collect();
        assim_core::grid::Bilinear::new(self.grid_model.model().grid(), &points).map_err(to_py)
    }
}

/// Refuses site lists of different lengths, latitudes off [−90, 90] and non-finite positions.
fn check_sites(lat: &[f64], lon: &[f64]) -> PyResult<()> {
    if lat.len() != lon.len() {
        return Err(input(format!("{} latitudes but {} longitudes", lat.len(), lon.len())));
    }
    if let Some(k) =
        (0..lat.len()).find(|&k| !(lat[k].is_finite() && lat[k].abs() <= 90.0 && lon[k].is_finite()))
    {
        return Err(input(format!(
            "station {k} at ({}, {}) is off the globe (latitude in [-90, 90], finite longitude)",
            lat[k], lon[k]
        )));
    }
    Ok(())
}

#[pymethods]
impl PrimitiveEquations {
    /// PrimitiveEquations.from_simulation(path): the model, time step and initial state of a
    /// primitive-equation simulation file (`[model] kind = "primitive_dry"`, docs/simulate.md).
    #[staticmethod]
    fn from_simulation(py: Python<'_>, path: PathBuf) -> PyResult<Py<PrimitiveEquations>> {
        require_file(&path)?;
        let (text, file) = read_text(&path).map_err(to_py)?;
        if !assim_core::dynamics::primitive::is_primitive(&text) {
            return Err(input(format!(
                "{}: a shallow-water file, not a primitive-equation one",
                path.display()
            )));
        }
        let cfg = PeSimulationConfig::parse(&text, &file).map_err(to_py)?;
        let dt = cfg.model.dt_seconds;
        let (model, state) = PeSimulation::new(cfg).map_err(to_py)?.into_parts();
        let grid_model = Arc::new(assim_core::dynamics::primitive::PeGridModel::new(Arc::new(model)));
        let initial = grid_model.grid_state(&state);
        let fields = 3 * grid_model.model().nlev() + 1;
        let base = SphereModel::new(grid_model.clone(), grid_model.model().grid(), fields, initial, dt);
        Py::new(py, PyClassInitializer::from(base).add_subclass(PrimitiveEquations { grid_model }))
    }

    /// The full σ levels, top first.
    #[getter]
    fn sigma(&self) -> Vec<f64> {
        self.grid_model.model().levels().full().to_vec()
    }

    /// The half levels σ_{k+½} (L + 1, 0 at the top to 1 at the surface).
    #[getter]
    fn sigma_half(&self) -> Vec<f64> {
        self.grid_model.model().levels().half().to_vec()
    }

    /// radiosondes(lat, lon, pressures_hpa, variables=["temperature"]): the bed's radiosonde
    /// operator on this model's states: at each site (degrees) and pressure (hPa), each of
    /// "temperature", "eastward_wind", "northward_wind", interpolated linearly in ln p between
    /// the full levels p_k = σ_k p_s; rows site-major, then pressure, then variable.
    #[pyo3(signature = (lat, lon, pressures_hpa, variables = vec!["temperature".to_string()]))]
    fn radiosondes(
        &self,
        lat: Vec<f64>,
        lon: Vec<f64>,
        pressures_hpa: Vec<f64>,
        variables: Vec<String>,
    ) -> PyResult<ObsOperator> {
        use assim_core::obs::column::{ProfileVariable, Radiosondes};
        let points = self.sites(&lat, &lon)?;
        let variables = variables
            .iter()
            .map(|v| match v.as_str() {
                "temperature" => Ok(ProfileVariable::Temperature),
                "eastward_wind" => Ok(ProfileVariable::EastwardWind),
                "northward_wind" => Ok(ProfileVariable::NorthwardWind),
                other => Err(input(format!(
                    "variable {other:?}: expected \"temperature\", \"eastward_wind\" or \"northward_wind\""
                ))),
            })
            .collect::<PyResult<Vec<_>>>()?;
        if let Some(p) = pressures_hpa.iter().find(|p| !(p.is_finite() && **p > 0.0)) {
            return Err(input(format!("pressure {p} hPa: pressures must be positive")));
        }
        let pa: Vec<f64> = pressures_hpa.iter().map(|p| p * 100.0).collect();
        let model = self.grid_model.model();
        let op = Radiosondes::new(self.grid_model.layout(), model.levels().full(), points, &pa, &variables)
            .map_err(to_py)?;
        Ok(ObsOperator { op: Box::new(op), shape: self.shape().to_vec() })
    }

    /// sounder(lat, lon, peaks_sigma): the bed's sounder operator: at each site (degrees), one
    /// brightness temperature (K) per channel, the channel of transmittance exp(−τ0 σ²) whose
    /// weighting function peaks at σ = peak (0 < peak ≤ 1), over the layers between the half
    /// levels (the surface term folded into the lowest); rows site-major.
    fn sounder(&self, lat: Vec<f64>, lon: Vec<f64>, peaks_sigma: Vec<f64>) -> PyResult<ObsOperator> {
        use assim_core::obs::column::{Channel, Sounder};
        let points = self.sites(&lat, &lon)?;
        let half = self.grid_model.model().levels().half();
        let channels = peaks_sigma
            .iter()
            .map(|&p| Channel::peaking_at(p, half))
            .collect::<Result<Vec<_>, _>>()
            .map_err(to_py)?;
        let op = Sounder::new(self.grid_model.layout(), points, &channels).map_err(to_py)?;
        Ok(ObsOperator { op: Box::new(op), shape: self.shape().to_vec() })
    }
}

/// An observation operator `H` on states of a fixed shape.
#[pyclass(frozen, module = "assim")]
struct ObsOperator {
    op: Box<dyn assim_core::obs::ObsOperator>,
    shape: Vec<usize>,
}

#[pymethods]
impl ObsOperator {
    /// ObsOperator.pointwise(nx, indices=None, kind="identity"): `y_k = h(x[indices[k]])` on
    /// Lorenz states of `nx` variables, `h` the identity, "arctan" or "square" (every index when
    /// `indices` is None).
    #[staticmethod]
    #[pyo3(signature = (nx, indices = None, kind = "identity"))]
    fn pointwise(nx: usize, indices: Option<Vec<i64>>, kind: &str) -> PyResult<Self> {
        use assim_core::bed::lorenz::ObsKind;
        let kind = match kind {
            "identity" => ObsKind::Identity,
            "arctan" => ObsKind::Arctan,
            "square" => ObsKind::Square,
            other => {
                return Err(input(format!(
                    "kind = {other:?}: expected \"identity\", \"arctan\" or \"square\""
                )));
            }
        };
        let sites = match indices {
            None => assim_core::obs::PartialIdentity::all(nx),
            Some(ix) => {
                let ix = ix
                    .into_iter()
                    .map(|i| usize::try_from(i).ok().filter(|&u| u < nx).ok_or(i))
                    .collect::<Result<Vec<usize>, i64>>()
                    .map_err(|i| input(format!("index {i} is outside the state's 0..{nx}")))?;
                assim_core::obs::PartialIdentity::new(nx, ix).map_err(to_py)?
            }
        };
        Ok(ObsOperator { op: kind.operator(sites), shape: vec![nx] })
    }

    /// ObsOperator.stations(truncation, lat, lon, variable="geopotential"): point values of one
    /// variable ("geopotential", "eastward_wind", "northward_wind") at stations (degrees), by
    /// bilinear interpolation on the shallow-water model's grid at that truncation (21, 42, 63, 85).
    #[staticmethod]
    #[pyo3(signature = (truncation, lat, lon, variable = "geopotential"))]
    fn stations(truncation: usize, lat: Vec<f64>, lon: Vec<f64>, variable: &str) -> PyResult<Self> {
        use assim_core::obs::{Observation, Source, Variable};
        check_sites(&lat, &lon)?;
        let variable = Variable::parse(variable).map_err(input)?;
        let grid = assim_core::grid::LatLonGrid::for_truncation(truncation).map_err(to_py)?;
        let records: Vec<Observation> = lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| Observation {
                time_hours: 0.0,
                lat,
                lon,
                variable,
                value: 0.0,
                sigma: 1.0,
                source: Source::Station,
                footprint_km: 0.0,
                pressure_hpa: None,
            })
            .collect();
        let op = assim_core::obs::records::operator(&grid, &records).map_err(to_py)?;
        Ok(ObsOperator { op: Box::new(op), shape: vec![3, grid.nlat(), grid.nlon()] })
    }

    /// The number of observations `P`.
    #[getter]
    fn n_obs(&self) -> usize {
        self.op.n_obs()
    }

    /// The shape of one state it observes.
    #[getter]
    fn state_shape(&self) -> Vec<usize> {
        self.shape.clone()
    }

    /// apply(x): `H(x)`, shape (P,) for one state, (N, P) for a stack of N.
    fn apply<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f64>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let (e, single) = ensemble_of(&x, &self.shape, "x")?;
        let hx = py.detach(|| self.op.apply_ensemble(e.as_ref()));
        Ok(array_of(py, &hx, &[self.op.n_obs()], single))
    }

    /// departures(x, y): the innovations `y − H(x)` (observation minus background), shape as
    /// `apply`'s; `y` (shape (P,)) must be finite: a NaN or infinite observation is refused.
    fn departures<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f64>,
        y: PyReadonlyArrayDyn<'py, f64>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let p = self.op.n_obs();
        if y.shape() != [p] {
            return Err(input(format!("y: shape ({p},) expected, got {:?}", y.shape())));
        }
        let y: Vec<f64> = y.as_array().iter().copied().collect();
        if let Some(k) = y.iter().position(|v| !v.is_finite()) {
            return Err(input(format!("observation {k} is {}: observations must be finite", y[k])));
        }
        let (e, single) = ensemble_of(&x, &self.shape, "x")?;
        let mut d = py.detach(|| self.op.apply_ensemble(e.as_ref()));
        for j in 0..d.ncols() {
            for (k, yk) in y.iter().enumerate() {
                d[(k, j)] = yk - d[(k, j)];
            }
        }
        Ok(array_of(py, &d, &[p], single))
    }
}

/// The native module `assim._assim`.
#[pymodule]
fn _assim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AssimError", m.py().get_type::<AssimError>())?;
    m.add_function(wrap_pyfunction!(run_experiment, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_class::<Lorenz63>()?;
    m.add_class::<Lorenz96>()?;
    m.add_class::<SphereModel>()?;
    m.add_class::<ShallowWater>()?;
    m.add_class::<PrimitiveEquations>()?;
    m.add_class::<ObsOperator>()?;
    Ok(())
}
