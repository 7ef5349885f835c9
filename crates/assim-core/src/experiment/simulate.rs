//! Simulation files (`assim simulate`): a shallow-water run from a test-case initial condition
//! or an earlier run's snapshot, spun up, then written as snapshots to a Zarr store with
//! global diagnostics and kinetic-energy spectra. Documented in `docs/simulate.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::AssimError;
use crate::dynamics::shallow_water::{InitialCondition, ShallowWater, SimulationConfig, SwState};
use crate::io::zarr::{CfVariable, GriddedZarrWriter, Precision, ZarrReader};

/// The wind (m s⁻¹) every time step is checked against before a run, besides the initial
/// state's own: the strongest winds of the test cases and of the stirred climate stay below it.
pub const DESIGN_WIND: f64 = 80.0;

/// The gridded variables of a shallow-water store, in write order.
pub const SW_VARIABLES: [CfVariable; 5] = [
    CfVariable {
        name: "geopotential",
        standard_name: "geopotential",
        long_name: "geopotential of the free surface",
        units: "m2 s-2",
    },
    CfVariable {
        name: "eastward_wind",
        standard_name: "eastward_wind",
        long_name: "eastward wind",
        units: "m s-1",
    },
    CfVariable {
        name: "northward_wind",
        standard_name: "northward_wind",
        long_name: "northward wind",
        units: "m s-1",
    },
    CfVariable {
        name: "relative_vorticity",
        standard_name: "atmosphere_relative_vorticity",
        long_name: "relative vorticity",
        units: "s-1",
    },
    CfVariable {
        name: "divergence",
        standard_name: "divergence_of_wind",
        long_name: "divergence",
        units: "s-1",
    },
];

/// Global diagnostics sampled at every output interval (spin-up included).
#[derive(Clone, Debug, Default)]
pub struct DiagnosticSeries {
    /// Model time (days since the start, spin-up included).
    pub day: Vec<f64>,
    /// Kinetic energy (m³ s⁻²).
    pub kinetic: Vec<f64>,
    /// Available potential energy (m³ s⁻²).
    pub potential: Vec<f64>,
    /// Largest wind speed (m s⁻¹).
    pub max_wind: Vec<f64>,
    /// Global-mean depth (m).
    pub mean_depth: Vec<f64>,
    /// Potential enstrophy (m⁻¹ s⁻²).
    pub potential_enstrophy: Vec<f64>,
}

/// What a finished simulation reports.
pub struct SimulationReport {
    /// Where the store went.
    pub store: PathBuf,
    /// Diagnostics over the whole run.
    pub series: DiagnosticSeries,
    /// Time-mean kinetic-energy spectrum over the written snapshots (m² s⁻², n = 0..=T).
    pub mean_ke_spectrum: Vec<f64>,
    /// Time-mean zonal-mean eastward wind over the written snapshots (m s⁻¹), per latitude.
    pub mean_zonal_wind: Vec<f64>,
    /// Grid vorticity of the last snapshot (s⁻¹), for a map.
    pub last_vorticity: Vec<f64>,
    /// Model days integrated.
    pub model_days: f64,
    /// Wall-clock seconds of the time integration alone (no output, no diagnostics).
    pub integration_seconds: f64,
}

/// A configured simulation: model, initial state and schedule, ready to run.
pub struct Simulation {
    config: SimulationConfig,
    model: ShallowWater,
    initial: SwState,
}

impl Simulation {
    /// Builds the model and the initial state (reading an earlier store if asked), and checks
    /// the time step against the initial winds and [`DESIGN_WIND`], before any work.
    pub fn new(config: SimulationConfig, base_dir: &Path) -> Result<Self, AssimError> {
        let model = ShallowWater::new(config.params(), config.orography(), config.forcing())?;
        let i = &config.initial;
        let initial = match i.case.as_str() {
            "rest" => {
                model.initial_state(&InitialCondition::Rest { depth: i.depth_m.unwrap_or(10_000.0) })?
            }
            "williamson2" => model.initial_state(&InitialCondition::Williamson2)?,
            "williamson5" => model.initial_state(&InitialCondition::Williamson5)?,
            "williamson6" => model.initial_state(&InitialCondition::Williamson6)?,
            "galewsky" => {
                model.initial_state(&InitialCondition::Galewsky { bump: i.bump.unwrap_or(true) })?
            }
            _ => {
                let p = i.path.as_ref().expect("validated");
                let path = if p.is_absolute() { p.clone() } else { base_dir.join(p) };
                state_from_store(&model, &path, i.time_index.unwrap_or(-1))?
            }
        };
        let d = model.diagnostics(&initial);
        model.check_time_step(d.max_wind.max(DESIGN_WIND))?;
        Ok(Self { config, model, initial })
    }

    /// The model.
    pub fn model(&self) -> &ShallowWater {
        &self.model
    }

    /// The model and the initial state, for a caller that integrates them itself.
    pub fn into_parts(self) -> (ShallowWater, SwState) {
        (self.model, self.initial)
    }

    /// The initial spectral state.
    pub fn initial_state(&self) -> &SwState {
        &self.initial
    }

    /// The configuration.
    pub fn config(&self) -> &SimulationConfig {
        &self.config
    }

    /// Number of snapshots written (the first at the end of the spin-up).
    pub fn n_snapshots(&self) -> usize {
        (self.config.run.days * 24.0 / self.config.run.output_interval_hours).round() as usize + 1
    }

    /// Runs the simulation and writes the store at `out` (`replace`: an existing store is
    /// replaced once the new one is complete). `progress(days_done, days_total)` is called at
    /// every output interval.
    pub fn run(
        &self,
        out: &Path,
        replace: bool,
        mut progress: impl FnMut(f64, f64),
    ) -> Result<SimulationReport, AssimError> {
        let r = &self.config.run;
        let dt = self.config.model.dt_seconds;
        let steps_per_out = (r.output_interval_hours * 3600.0 / dt).round() as u64;
        let n_spin = (r.spinup_days * 24.0 / r.output_interval_hours).round() as usize;
        let n_snap = self.n_snapshots();
        let total_days = r.spinup_days + r.days;
        let precision = if r.precision == "f64" { Precision::F64 } else { Precision::F32 };
        let global = self.store_attrs();
        let mut writer = GriddedZarrWriter::create(
            out,
            replace,
            self.model.grid(),
            n_snap,
            &SW_VARIABLES,
            precision,
            global,
        )?;

        let mut integ = self.model.start(self.initial.clone(), r.seed)?;
        let mut series = DiagnosticSeries::default();
        let t_max = self.model.truncation().t();
        let mut spectra: Vec<f64> = Vec::with_capacity(n_snap * (t_max + 1));
        let mut last_vorticity = Vec::new();
        let mut mean_zonal_wind = vec![0.0; self.model.grid().nlat()];
        let mut integration = 0.0;
        for k in 0..=(n_spin + n_snap - 1) {
            if k > 0 {
                let t0 = Instant::now();
                self.model.run(&mut integ, steps_per_out);
                integration += t0.elapsed().as_secs_f64();
            }
            let day = k as f64 * r.output_interval_hours / 24.0;
            let state = integ.state();
            let d = self.model.diagnostics(state);
            if !integ.is_finite() || !d.energy().is_finite() {
                return Err(AssimError::Numerical(format!(
                    "the model blew up before day {day:.2}: non-finite state"
                )));
            }
            if self.model.courant(d.max_wind) > 1.5 * crate::dynamics::shallow_water::MAX_COURANT {
                return Err(AssimError::Numerical(format!(
                    "winds reached {:.0} m/s at day {day:.2}, too fast for dt = {} s (Courant number {:.2}); \
                     use a shorter time step",
                    d.max_wind,
                    dt,
                    self.model.courant(d.max_wind)
                )));
            }
            series.day.push(day);
            series.kinetic.push(d.kinetic);
            series.potential.push(d.potential);
            series.max_wind.push(d.max_wind);
            series.mean_depth.push(d.mean_depth);
            series.potential_enstrophy.push(d.potential_enstrophy);
            if k >= n_spin {
                let f = self.model.grid_fields(state);
                let slice = k - n_spin;
                writer.write_slice(slice, day * 24.0, &[&f.geopotential, &f.u, &f.v, &f.vor, &f.div])?;
                spectra.extend(self.model.kinetic_energy_spectrum(state));
                for (m, z) in mean_zonal_wind.iter_mut().zip(self.model.grid().zonal_mean(&f.u)) {
                    *m += z / n_snap as f64;
                }
                if slice + 1 == n_snap {
                    last_vorticity = f.vor;
                }
            }
            progress(day, total_days);
        }
        write_diagnostics(&mut writer, &series, &spectra, n_snap, t_max)?;
        let store = writer.finish()?;
        let mut mean_ke_spectrum = vec![0.0; t_max + 1];
        for row in spectra.chunks_exact(t_max + 1) {
            for (m, x) in mean_ke_spectrum.iter_mut().zip(row) {
                *m += x / n_snap as f64;
            }
        }
        Ok(SimulationReport {
            store,
            series,
            mean_ke_spectrum,
            mean_zonal_wind,
            last_vorticity,
            model_days: total_days,
            integration_seconds: integration,
        })
    }

    /// The store's global attributes (CF conventions, the model, the file as run).
    fn store_attrs(&self) -> Map<String, Value> {
        let mut global = Map::new();
        global.insert("title".into(), json!(format!("assim shallow-water run: {}", self.config.name)));
        global.insert("Conventions".into(), json!("CF-1.8"));
        global.insert(
            "source".into(),
            json!(format!("assim {} spectral shallow-water model", env!("CARGO_PKG_VERSION"))),
        );
        global.insert("truncation".into(), json!(format!("T{}", self.config.model.truncation)));
        global.insert("gravity".into(), json!(self.model.params().gravity));
        global.insert("config".into(), Value::String(self.config.to_toml()));
        global
    }
}

/// The diagnostics beside the snapshots: the global series (spin-up included) and the
/// kinetic-energy spectrum of every snapshot.
fn write_diagnostics(
    writer: &mut GriddedZarrWriter,
    series: &DiagnosticSeries,
    spectra: &[f64],
    n_snap: usize,
    t_max: usize,
) -> Result<(), AssimError> {
    let hours: Vec<f64> = series.day.iter().map(|d| d * 24.0).collect();
    let t_attrs = json!({"standard_name": "time", "units": crate::io::zarr::TIME_UNITS, "calendar": "proleptic_gregorian", "long_name": "time of the diagnostics (spin-up included)"});
    writer.write_array("diag_time", &["diag_time"], &hours, obj(t_attrs))?;
    for (name, data, units, long) in [
        ("kinetic_energy", &series.kinetic, "m3 s-2", "global mean of h|v|^2/2"),
        ("available_potential_energy", &series.potential, "m3 s-2", "global mean of g(h+hs-mean)^2/2"),
        ("max_wind_speed", &series.max_wind, "m s-1", "largest wind speed"),
        ("mean_depth", &series.mean_depth, "m", "global-mean fluid depth (mass)"),
        ("potential_enstrophy", &series.potential_enstrophy, "m-1 s-2", "global mean of (zeta+f)^2/(2h)"),
    ] {
        writer.write_array(name, &["diag_time"], data, obj(json!({"units": units, "long_name": long})))?;
    }
    let wn: Vec<f64> = (0..=t_max).map(|n| n as f64).collect();
    writer.write_array(
        "wavenumber",
        &["wavenumber"],
        &wn,
        obj(json!({"long_name": "total spherical wavenumber", "units": "1"})),
    )?;
    writer.write_array_nd(
        "kinetic_energy_spectrum",
        &["time", "wavenumber"],
        &[n_snap, t_max + 1],
        spectra,
        obj(json!({"units": "m2 s-2", "long_name": "contribution of each total wavenumber to the global mean of |v|^2/2"})),
    )?;
    Ok(())
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The spectral state of snapshot `time_index` of an earlier run's store (negative counts from
/// the end); the store must be on this model's grid.
pub fn state_from_store(model: &ShallowWater, path: &Path, time_index: i64) -> Result<SwState, AssimError> {
    let z = ZarrReader::open(path)?;
    let shape = z.shape("eastward_wind")?;
    let grid = model.grid();
    if shape.len() != 3 || shape[1] != grid.nlat() || shape[2] != grid.nlon() {
        return Err(AssimError::Format {
            path: path.to_path_buf(),
            msg: format!(
                "holds {:?} (time, lat, lon) fields; the model's T{} grid is {}×{}",
                shape,
                model.truncation().t(),
                grid.nlat(),
                grid.nlon()
            ),
        });
    }
    let nt = shape[0] as i64;
    let t = if time_index < 0 { nt + time_index } else { time_index };
    if !(0..nt).contains(&t) {
        return Err(AssimError::Format {
            path: path.to_path_buf(),
            msg: format!("no snapshot {time_index} (it has {nt})"),
        });
    }
    let t = t as usize;
    let u = z.read_slice("eastward_wind", t)?;
    let v = z.read_slice("northward_wind", t)?;
    let geo = z.read_slice("geopotential", t)?;
    let g = model.params().gravity;
    let phi: Vec<f64> = match model.surface_height() {
        Some(hs) => geo.iter().zip(&hs).map(|(p, h)| p - g * h).collect(),
        None => geo,
    };
    model
        .state_from_grid(&u, &v, &phi)
        .map_err(|e| AssimError::Format { path: path.to_path_buf(), msg: e.to_string() })
}
