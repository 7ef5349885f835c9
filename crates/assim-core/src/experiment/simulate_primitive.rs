//! Primitive-equation simulation files (`assim simulate` with `[model] kind = "primitive_dry"`):
//! a Held–Suarez climate or a JW06 case, spun up, then written as (time, level, lat, lon)
//! snapshots to a Zarr store with CF names and a σ level coordinate, beside the global
//! diagnostics and the time- and zonal-mean cross sections. Documented in `docs/simulate.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::AssimError;
use crate::dynamics::primitive::{PeGridFields, PeSimulationConfig, PeState, PrimitiveDry};
use crate::io::zarr::{CfVariable, GriddedZarrWriter, Precision, SigmaCoordinate};

/// The strongest wind (m s⁻¹) the time step is checked against before a run: HS and JW06
/// winds stay below it.
pub const PE_DESIGN_WIND: f64 = 80.0;

/// The level variables of a primitive-equation store, in write order.
pub const PE_LEVEL_VARIABLES: [CfVariable; 3] = [
    CfVariable {
        name: "air_temperature",
        standard_name: "air_temperature",
        long_name: "temperature",
        units: "K",
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
];

/// The surface variables of a primitive-equation store.
pub const PE_SURFACE_VARIABLES: [CfVariable; 1] = [CfVariable {
    name: "surface_air_pressure",
    standard_name: "surface_air_pressure",
    long_name: "surface pressure",
    units: "Pa",
}];

/// Global diagnostics at every output interval (spin-up included).
#[derive(Clone, Debug, Default)]
pub struct PeDiagnosticSeries {
    /// Model time (days since the start).
    pub day: Vec<f64>,
    /// Global mean of the column kinetic energy (J m⁻²).
    pub kinetic: Vec<f64>,
    /// Global mean of the column enthalpy (J m⁻²).
    pub enthalpy: Vec<f64>,
    /// Global-mean surface pressure (Pa).
    pub mean_ps: Vec<f64>,
    /// Smallest and largest surface pressure (Pa).
    pub min_ps: Vec<f64>,
    /// Largest surface pressure (Pa).
    pub max_ps: Vec<f64>,
    /// Largest wind speed (m s⁻¹).
    pub max_wind: Vec<f64>,
}

/// What a finished primitive-equation simulation reports.
pub struct PeSimulationReport {
    /// Where the store went.
    pub store: PathBuf,
    /// Diagnostics over the whole run.
    pub series: PeDiagnosticSeries,
    /// Time- and zonal-mean u (m s⁻¹) over the written snapshots, `L × nlat`.
    pub zonal_u: Vec<f64>,
    /// Time- and zonal-mean T (K), `L × nlat`.
    pub zonal_t: Vec<f64>,
    /// Time-mean zonal variance of T about its zonal mean (K²), `L × nlat`: the eddy variance.
    pub eddy_t_variance: Vec<f64>,
    /// The last snapshot's grid fields, for maps.
    pub last: PeGridFields,
    /// Model days integrated.
    pub model_days: f64,
    /// Wall-clock seconds of the time integration alone.
    pub integration_seconds: f64,
}

/// A configured primitive-equation simulation.
pub struct PeSimulation {
    config: PeSimulationConfig,
    model: PrimitiveDry,
    initial: PeState,
}

impl PeSimulation {
    /// Builds the model and the initial state and checks the time step against the initial
    /// winds and [`PE_DESIGN_WIND`], before any work.
    pub fn new(config: PeSimulationConfig) -> Result<Self, AssimError> {
        let model = PrimitiveDry::new(config.params()?, config.orography(), config.forcing())?;
        let initial = model.initial_state(&config.initial())?;
        let wind = model.diagnostics(&initial).max_wind.max(PE_DESIGN_WIND);
        model.check_time_step(wind)?;
        Ok(Self { config, model, initial })
    }

    /// The model.
    pub fn model(&self) -> &PrimitiveDry {
        &self.model
    }

    /// The model and the initial state, for a caller that integrates them itself.
    pub fn into_parts(self) -> (PrimitiveDry, PeState) {
        (self.model, self.initial)
    }

    /// The configuration.
    pub fn config(&self) -> &PeSimulationConfig {
        &self.config
    }

    /// The initial spectral state.
    pub fn initial_state(&self) -> &PeState {
        &self.initial
    }

    /// Number of snapshots written (the first at the end of the spin-up).
    pub fn n_snapshots(&self) -> usize {
        (self.config.run.days * 24.0 / self.config.run.output_interval_hours).round() as usize + 1
    }

    /// Runs the simulation and writes the store at `out`; `progress(days_done, days_total)`
    /// is called at every output interval.
    pub fn run(
        &self,
        out: &Path,
        replace: bool,
        mut progress: impl FnMut(f64, f64),
    ) -> Result<PeSimulationReport, AssimError> {
        let r = &self.config.run;
        let dt = self.config.model.dt_seconds;
        let steps_per_out = (r.output_interval_hours * 3600.0 / dt).round() as u64;
        let n_spin = (r.spinup_days * 24.0 / r.output_interval_hours).round() as usize;
        let n_snap = self.n_snapshots();
        let total_days = r.spinup_days + r.days;
        let precision = if r.precision == "f64" { Precision::F64 } else { Precision::F32 };
        let grid = self.model.grid();
        let (n, l, nlat) = (grid.len(), self.model.nlev(), grid.nlat());
        let level = SigmaCoordinate { sigma: self.model.levels().full().to_vec() };
        let mut writer = GriddedZarrWriter::create_levelled(
            out,
            replace,
            grid,
            Some(&level),
            n_snap,
            &PE_LEVEL_VARIABLES,
            &PE_SURFACE_VARIABLES,
            precision,
            self.store_attrs(),
        )?;
        let mut integ = self.model.start(self.initial.clone())?;
        let mut series = PeDiagnosticSeries::default();
        let (mut zonal_u, mut zonal_t, mut eddy) =
            (vec![0.0; l * nlat], vec![0.0; l * nlat], vec![0.0; l * nlat]);
        let mut last = None;
        let mut integration = 0.0;
        for k in 0..(n_spin + n_snap) {
            if k > 0 {
                let t0 = Instant::now();
                self.model.run(&mut integ, steps_per_out);
                integration += t0.elapsed().as_secs_f64();
            }
            let day = k as f64 * r.output_interval_hours / 24.0;
            if !integ.is_finite() {
                return Err(AssimError::Numerical(format!(
                    "the model blew up before day {day:.2}: non-finite state"
                )));
            }
            let f = self.model.grid_fields(integ.state());
            let d = self.model.diagnostics_of(&f);
            if self.model.courant(d.max_wind) > 1.5 {
                return Err(AssimError::Numerical(format!(
                    "winds reached {:.0} m/s at day {day:.2}, too fast for dt = {dt} s (Courant number {:.2}); \
                     use a shorter time step",
                    d.max_wind,
                    self.model.courant(d.max_wind)
                )));
            }
            series.day.push(day);
            series.kinetic.push(d.kinetic);
            series.enthalpy.push(d.enthalpy);
            series.mean_ps.push(d.mean_ps);
            series.min_ps.push(f.ps.iter().copied().fold(f64::INFINITY, f64::min));
            series.max_ps.push(f.ps.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            series.max_wind.push(d.max_wind);
            if k >= n_spin {
                writer.write_slice(k - n_spin, day * 24.0, &[&f.temp, &f.u, &f.v, &f.ps])?;
                let w = 1.0 / n_snap as f64;
                for lev in 0..l {
                    let zu = grid.zonal_mean(&f.u[lev * n..(lev + 1) * n]);
                    let tl = &f.temp[lev * n..(lev + 1) * n];
                    let zt = grid.zonal_mean(tl);
                    for j in 0..nlat {
                        zonal_u[lev * nlat + j] += w * zu[j];
                        zonal_t[lev * nlat + j] += w * zt[j];
                        let row = &tl[j * grid.nlon()..(j + 1) * grid.nlon()];
                        let var = row.iter().map(|t| (t - zt[j]).powi(2)).sum::<f64>() / row.len() as f64;
                        eddy[lev * nlat + j] += w * var;
                    }
                }
                last = Some(f);
            }
            progress(day, total_days);
        }
        self.write_diagnostics(&mut writer, &series, &zonal_u, &zonal_t, &eddy)?;
        let store = writer.finish()?;
        Ok(PeSimulationReport {
            store,
            series,
            zonal_u,
            zonal_t,
            eddy_t_variance: eddy,
            last: last.expect("at least one snapshot"),
            model_days: total_days,
            integration_seconds: integration,
        })
    }

    fn store_attrs(&self) -> Map<String, Value> {
        let mut g = Map::new();
        g.insert("title".into(), json!(format!("assim primitive-equation run: {}", self.config.name)));
        g.insert("Conventions".into(), json!("CF-1.8"));
        g.insert(
            "source".into(),
            json!(format!(
                "assim {} spectral dry primitive-equation model (sigma levels)",
                env!("CARGO_PKG_VERSION")
            )),
        );
        g.insert("truncation".into(), json!(format!("T{}", self.config.model.truncation)));
        g.insert("levels".into(), json!(self.model.nlev()));
        g.insert("sigma_half_levels".into(), json!(self.model.levels().half()));
        g.insert("config".into(), Value::String(self.config.to_toml()));
        g
    }

    fn write_diagnostics(
        &self,
        writer: &mut GriddedZarrWriter,
        s: &PeDiagnosticSeries,
        zonal_u: &[f64],
        zonal_t: &[f64],
        eddy: &[f64],
    ) -> Result<(), AssimError> {
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        let hours: Vec<f64> = s.day.iter().map(|d| d * 24.0).collect();
        writer.write_array(
            "diag_time",
            &["diag_time"],
            &hours,
            obj(json!({"standard_name": "time", "units": crate::io::zarr::TIME_UNITS, "calendar": "proleptic_gregorian", "long_name": "time of the diagnostics (spin-up included)"})),
        )?;
        for (name, data, units, long) in [
            ("kinetic_energy", &s.kinetic, "J m-2", "global mean of the column kinetic energy"),
            ("enthalpy", &s.enthalpy, "J m-2", "global mean of the column enthalpy cp T"),
            ("mean_surface_pressure", &s.mean_ps, "Pa", "global-mean surface pressure (mass)"),
            ("min_surface_pressure", &s.min_ps, "Pa", "smallest surface pressure"),
            ("max_surface_pressure", &s.max_ps, "Pa", "largest surface pressure"),
            ("max_wind_speed", &s.max_wind, "m s-1", "largest wind speed"),
        ] {
            writer.write_array(
                name,
                &["diag_time"],
                data,
                obj(json!({"units": units, "long_name": long})),
            )?;
        }
        let (l, nlat) = (self.model.nlev(), self.model.grid().nlat());
        for (name, data, units, long) in [
            (
                "zonal_mean_eastward_wind",
                zonal_u,
                "m s-1",
                "time- and zonal-mean eastward wind of the snapshots",
            ),
            ("zonal_mean_air_temperature", zonal_t, "K", "time- and zonal-mean temperature of the snapshots"),
            ("eddy_variance_air_temperature", eddy, "K2", "time-mean zonal variance of temperature"),
        ] {
            writer.write_array_nd(
                name,
                &["level", "lat"],
                &[l, nlat],
                data,
                obj(json!({"units": units, "long_name": long})),
            )?;
        }
        Ok(())
    }
}
