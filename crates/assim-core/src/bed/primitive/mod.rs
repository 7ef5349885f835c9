//! The multi-level global OSSE on the dry primitive equations: a Held–Suarez climate gives the
//! climatology, X0 and the multivariate `B`; the truth follows it; four observing systems
//! sample it every window ([`twin`]). Its keys are `[model]` (`kind = "primitive_dry"`),
//! `[observing]` and `[forecasts]` (`docs/osse.md`); it scores every field on every level (the
//! temperature RMSE per level) and forecasts from the analyses.
//!
//! The state is `T`, `u`, `v` on the σ levels (top first), then `p_s`, on the Gaussian grid
//! ([`crate::obs::column::ColumnLayout`]); a level's field is named by its nominal pressure
//! `σ_k · 1000 hPa` (`air_temperature_850hPa`).

pub mod observation_file;
mod observing;
mod structure;
mod twin;

pub use observing::{
    ImageryConfig, ObservingConfig, RadiosondesConfig, Row, SounderConfig, StationsConfig, System,
};
pub use twin::{PeTwin, PeWindow};

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::sphere::{ClimateKeys, ForecastConfig, check_climate_keys, check_forecasts, write_sections};
use super::{
    Bed, BedConfig, Covariance, FieldGrid, FileContext, Need, Observers, RunInfo, StageProgress, World,
    section,
};
use crate::AssimError;
use crate::dynamics::primitive::{PE_KIND, PeSimulationConfig, SigmaLevels};
use crate::experiment::Chronology;

/// `[model]` of the multi-level bed: the primitive equations in the Held–Suarez climate of a
/// simulation file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeModelConfig {
    /// The simulation file (`experiments/simulate_held_suarez_*.toml`), relative to the
    /// experiment file; it must have `[forcing.held_suarez]`.
    pub climate: String,
    /// Days from the initial state to the climate sample (default: the file's spin-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spinup_days: Option<f64>,
    /// Days of climate sampled (climatology, X0, `B`); the truth follows.
    #[serde(default = "default_climate_days")]
    pub climate_days: f64,
    /// Hours between climate samples.
    #[serde(default = "default_climate_interval")]
    pub climate_interval_hours: f64,
}

fn default_climate_days() -> f64 {
    200.0
}

fn default_climate_interval() -> f64 {
    24.0
}

/// The multi-level bed as the experiment file gives it.
#[derive(Clone, Debug)]
pub struct PeBedConfig {
    /// `[model]`.
    pub model: PeModelConfig,
    /// The simulation file it names, read with the experiment.
    pub climate: Box<PeSimulationConfig>,
    /// `[observing]`: the observing systems.
    pub observing: ObservingConfig,
    /// `[forecasts]`, if given.
    pub forecasts: Option<ForecastConfig>,
    /// The records of `observing.file`, read with the experiment.
    pub records: Option<Arc<Vec<observation_file::Record>>>,
}

/// Reads the multi-level bed: `[model]` (and the simulation file it names), `[observing]`,
/// `[forecasts]`.
pub fn read(
    model: toml::Value,
    sections: &mut toml::Table,
    ctx: &FileContext<'_>,
) -> Result<Arc<dyn BedConfig>, AssimError> {
    let model: PeModelConfig = super::model_section(model, ctx)?;
    for (k, why) in [
        ("x0", "X0 is the climate sample"),
        ("observations", "[observing] gives the observations"),
        ("network", "the shallow-water bed's [network] is single-layer: use [observing]"),
    ] {
        if sections.contains_key(k) {
            return Err(ctx.error(k, format!("not used on the primitive-equation bed: {why}")));
        }
    }
    let observing = sections.remove("observing").ok_or_else(|| {
        ctx.error("observing", "missing: the primitive-equation bed needs its observing systems")
    })?;
    let observing: ObservingConfig = section(observing, "observing", ctx)?;
    let forecasts = sections.remove("forecasts").map(|f| section(f, "forecasts", ctx)).transpose()?;
    let climate = PeSimulationConfig::load(&ctx.base_dir.join(&model.climate))
        .map_err(|e| ctx.error("model.climate", e.to_string()))?;
    let records = observing
        .file
        .as_ref()
        .map(|f| observation_file::read(&ctx.base_dir.join(f)).map(Arc::new))
        .transpose()
        .map_err(|e| ctx.error("observing.file", e.to_string()))?;
    Ok(Arc::new(PeBedConfig { model, climate: Box::new(climate), observing, forecasts, records }))
}

impl PeBedConfig {
    /// The spectral truncation.
    pub fn truncation(&self) -> usize {
        self.climate.model.truncation
    }

    /// The number of σ levels.
    pub fn nlev(&self) -> usize {
        self.climate.model.levels
    }

    /// The σ levels of the simulation file.
    pub fn levels(&self) -> Result<SigmaLevels, AssimError> {
        Ok(self.climate.params()?.levels)
    }

    /// Grid points of the truncation's Gaussian grid.
    fn npts(&self) -> usize {
        let t = self.truncation();
        crate::grid::STANDARD_GAUSSIAN.iter().find(|g| g.0 == t).map_or(0, |g| g.1 * g.2)
    }

    /// The forecasts scored from the analyses.
    pub fn forecasts(&self) -> ForecastConfig {
        self.forecasts.clone().unwrap_or_default()
    }
}

impl BedConfig for PeBedConfig {
    fn name(&self) -> String {
        format!("primitive-equation T{} L{}", self.truncation(), self.nlev())
    }

    fn model(&self) -> serde_json::Value {
        super::model_json(PE_KIND, &self.model)
    }

    fn nx(&self) -> usize {
        (3 * self.nlev() + 1) * self.npts()
    }

    fn variables(&self) -> Vec<(String, String)> {
        let levels = self.levels().map(|l| l.full().to_vec()).unwrap_or_default();
        let mut out = Vec::with_capacity(3 * levels.len() + 1);
        for (name, units) in
            [("air_temperature", "K"), ("eastward_wind", "m s-1"), ("northward_wind", "m s-1")]
        {
            out.extend(levels.iter().map(|s| (format!("{name}_{:.0}hPa", s * 1000.0), units.to_string())));
        }
        out.push(("surface_air_pressure".into(), "Pa".into()));
        out
    }

    fn field_grid(&self) -> Option<FieldGrid> {
        let o = &self.observing;
        let in_file =
            |s: observing::System| self.records.as_ref().is_some_and(|r| r.iter().any(|r| r.row.system == s));
        let modalities = [
            (observing::System::Stations, o.stations.is_some() || in_file(observing::System::Stations)),
            (
                observing::System::Radiosondes,
                o.radiosondes.is_some() || in_file(observing::System::Radiosondes),
            ),
            (observing::System::Aircraft, in_file(observing::System::Aircraft)),
            (observing::System::Sounder, o.sounder.is_some()),
            (observing::System::Imagery, o.imagery.is_some()),
        ];
        Some(FieldGrid {
            truncation: self.truncation(),
            fields: self.variables(),
            modalities: modalities.iter().filter(|(_, on)| *on).map(|(m, _)| m.name().to_string()).collect(),
        })
    }

    fn lacks(&self, need: Need) -> Option<String> {
        let o = &self.observing;
        match need {
            Need::SmallState => Some(format!(
                "not available on the primitive-equation bed, whose state of {} numbers holds no dense covariance \
                 (use Climatology, FreeRun, Var3D or LETKF)",
                self.nx()
            )),
            Need::StateObs => Some("the bed observes interpolated values, radiances and imagery, not state components".into()),
            Need::LinearObs if o.imagery.is_some() || o.radiosondes.is_some() || o.file.is_some() => Some(
                "the OLR imagery and the radiosondes and aircraft (interpolated in log-pressure) are nonlinear (use \
                 Var3D, which relinearises them, or the LETKF)"
                    .into(),
            ),
            Need::ModelAdjoint => Some(
                "the primitive-equation model's tangent-linear and adjoint are not built (4D-Var runs on Lorenz-96 and the shallow-water bed)"
                    .into(),
            ),
            Need::LinearObs | Need::TangentLinear | Need::Localisation | Need::Grid => None,
        }
    }

    fn covariance(&self) -> Covariance {
        Covariance::Spectral
    }

    fn validate(&self, chrono: &Chronology, ctx: &FileContext<'_>) -> Result<(), AssimError> {
        let m = &self.model;
        let sim = &self.climate;
        if sim.forcing.is_none() {
            return Err(ctx.error(
                "model.climate",
                "the simulation file has no [forcing.held_suarez]: a climate needs one",
            ));
        }
        check_climate_keys(
            ClimateKeys {
                spinup_days: m.spinup_days,
                climate_days: m.climate_days,
                climate_interval_hours: m.climate_interval_hours,
            },
            sim.model.dt_seconds,
            &m.climate,
            chrono,
            ctx,
        )?;
        let levels = self.levels().map_err(|e| ctx.error("model.climate", e.to_string()))?;
        self.observing
            .validate(&levels, chrono.dko as f64 * chrono.dt)
            .map_err(|(k, msg)| ctx.error(&k, msg))?;
        if let Some(records) = &self.records {
            check_records(records, &levels, chrono).map_err(|msg| ctx.error("observing.file", msg))?;
        }
        check_forecasts(self.forecasts.as_ref(), ctx)
    }

    fn truth_numbers(&self, chrono: &Chronology) -> f64 {
        (chrono.n_obs_times() + 1) as f64 * self.nx() as f64
    }

    fn write(&self, table: &mut toml::Table) {
        write_sections(table, PE_KIND, &self.model, ("observing", &self.observing), self.forecasts.as_ref());
    }

    /// The simulation file was read with the experiment: nothing else is resolved here.
    fn prepare<'a>(&'a self, chrono: Chronology, _base_dir: &Path) -> Result<Box<dyn Bed + 'a>, AssimError> {
        Ok(Box::new(PeBed { cfg: self, chrono }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Every record of an observation file on an analysis time of the run, and assimilable on the
/// model's levels; the error names the first that is not (its number among the records).
fn check_records(
    records: &[observation_file::Record],
    levels: &SigmaLevels,
    chrono: &Chronology,
) -> Result<(), String> {
    let window_h = chrono.dko as f64 * chrono.dt / 3600.0;
    let n = chrono.n_obs_times();
    for (i, r) in records.iter().enumerate() {
        let record = i + 1;
        if observation_file::analysis_index(r.time_hours, window_h).is_none_or(|k| k > n) {
            return Err(format!(
                "record {record}: time_hours {} is not an analysis time of the run ({window_h} h, {}, …, {} h)",
                r.time_hours,
                2.0 * window_h,
                n as f64 * window_h
            ));
        }
        if let Some(why) = observation_file::unusable(r, levels) {
            return Err(format!("record {record} ({} {}): {why}", r.row.system.name(), r.row.quantity));
        }
    }
    if records.is_empty() {
        return Err("the file holds no records".into());
    }
    Ok(())
}

/// The prepared bed: every seed runs its own climate.
struct PeBed<'a> {
    cfg: &'a PeBedConfig,
    chrono: Chronology,
}

impl Bed for PeBed<'_> {
    fn world(&self, seed: u64, stage: &mut StageProgress<'_>) -> Result<Box<dyn World + '_>, AssimError> {
        Ok(Box::new(PeTwin::new(self.cfg, self.chrono, seed, stage)?))
    }
}

impl PeTwin {
    /// The multi-level state (T, u, v on the σ levels, then p_s) as the run's stores lay it
    /// out: (time, level, lat, lon) and (time, lat, lon), as `assim simulate` writes.
    fn state_store(&self) -> crate::bed::stores::StateStore<'_> {
        let model = self.model.model();
        crate::bed::stores::StateStore {
            grid: model.grid(),
            level: Some(crate::io::zarr::SigmaCoordinate { sigma: model.levels().full().to_vec() }),
            level_vars: &crate::experiment::PE_LEVEL_VARIABLES,
            surface_vars: &crate::experiment::PE_SURFACE_VARIABLES,
            chrono: self.chrono,
        }
    }
}

impl World for PeTwin {
    fn climate_sample(&self) -> Option<&[Vec<f64>]> {
        Some(self.climate.samples())
    }

    fn write_outputs(&self, run: &RunInfo<'_>, dir: &Path) -> Result<(), AssimError> {
        self.write_observations(&dir.join("observations.csv"))?;
        crate::bed::stores::write_truth(&self.state_store(), run, dir, &self.truth[1..])
    }

    fn observers(
        &self,
        run: &RunInfo<'_>,
        label: &str,
        _filter: bool,
        out: Option<&Path>,
    ) -> Result<Observers<'_>, AssimError> {
        let mut obs: Observers<'_> =
            vec![Box::new(twin::Forecasts::new(self)), Box::new(structure::StructureObserver::new(self))];
        if let Some(dir) = out {
            let nx = self.truth[0].len();
            obs.push(Box::new(crate::bed::stores::AnalysisWriter::create(
                self.state_store(),
                run,
                dir,
                label,
                nx,
            )?));
        }
        Ok(obs)
    }
}
