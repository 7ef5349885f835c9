//! The global OSSE on the shallow-water model: a stirred climate gives the climatology, X0 and
//! the spectra of `B`; the truth follows it; the observing network samples the truth every
//! window ([`twin`]). Its keys are `[model]` (`kind = "shallow_water"`), `[network]` and
//! `[forecasts]`; it reports per-variable scores, forecasts from the analyses, kinetic-energy
//! spectra and balance, and writes the analyses and truth as Zarr ([`observers`]).

mod observers;
mod twin;

pub use crate::bed::slug;
pub use observers::{forecast_skill, geostrophic_imbalance, ke_spectrum};
pub(crate) use twin::global_twin_scenario;
pub use twin::{
    ClimateRun, FreeRunView, ObsWindow, SphereClimate, SphereTwin, climate_run, obs_window, simulate_values,
};

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Bed, BedConfig, Covariance, FileContext, Observers, StageProgress, World, section};
use super::{FieldGrid, Need, RunInfo};
use crate::AssimError;
use crate::dynamics::shallow_water::{ForecastStirring, SimulationConfig};
use crate::experiment::{Chronology, Scenario};
use crate::obs::network::{Network, NetworkConfig};

/// `[model]` of the sphere: the shallow-water model in the stirred climate of a simulation
/// file; the state is `(geopotential, eastward_wind, northward_wind)` on its Gaussian grid.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClimateModelConfig {
    /// The simulation file (model, forcing, initial state; `experiments/simulate_*.toml`),
    /// relative to the experiment file.
    pub climate: String,
    /// Days from the initial state to the climate sample (default: the file's spin-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spinup_days: Option<f64>,
    /// Days of climate sampled (climatology, X0, the spectra of `B`); the truth follows.
    #[serde(default = "default_climate_days")]
    pub climate_days: f64,
    /// Hours between climate samples.
    #[serde(default = "default_climate_interval")]
    pub climate_interval_hours: f64,
    /// What forecasts know of the truth's stirring: `"decaying"` (its state at the start,
    /// without future kicks; the default), `"truth"` (all of it: a perfect-model twin),
    /// `"random"` (an independent realisation) or `"none"`.
    #[serde(default)]
    pub forecast_stirring: ForecastStirring,
}

fn default_climate_days() -> f64 {
    200.0
}

fn default_climate_interval() -> f64 {
    24.0
}

/// `[forecasts]`: forecasts from the analyses, scored against the truth at each lead.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Longest lead (days); leads are scored every day.
    #[serde(default = "five")]
    pub lead_days: usize,
    /// A forecast starts from every `every`-th analysis after the burn-in.
    #[serde(default = "eight")]
    pub every: usize,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig { lead_days: five(), every: eight() }
    }
}

fn five() -> usize {
    5
}

fn eight() -> usize {
    8
}

/// The sphere bed as the experiment file gives it.
#[derive(Clone, Debug)]
pub struct SphereConfig {
    /// `[model]`.
    pub model: ClimateModelConfig,
    /// The simulation file it names, read with the experiment.
    pub climate: Box<SimulationConfig>,
    /// `[network]`: the observing network.
    pub network: NetworkConfig,
    /// `[forecasts]`, if given.
    pub forecasts: Option<ForecastConfig>,
}

/// The `kind` of the sphere's `[model]`.
const KIND: &str = "shallow_water";

/// Reads the sphere bed: `[model]` (and the simulation file it names), `[network]`,
/// `[forecasts]`.
pub fn read(
    model: toml::Value,
    sections: &mut toml::Table,
    ctx: &FileContext<'_>,
) -> Result<Arc<dyn BedConfig>, AssimError> {
    let model: ClimateModelConfig = super::model_section(model, ctx)?;
    for k in ["x0", "observations"] {
        if sections.contains_key(k) {
            return Err(ctx.error(
                k,
                "not used on the sphere: X0 is the climate sample and [network] gives the observations",
            ));
        }
    }
    let network = sections.remove("network").ok_or_else(|| {
        ctx.error("network", "missing: the shallow-water model needs an observing [network]")
    })?;
    let network = section(network, "network", ctx)?;
    let forecasts = sections.remove("forecasts").map(|f| section(f, "forecasts", ctx)).transpose()?;
    let climate = SimulationConfig::load(&ctx.base_dir.join(&model.climate))
        .map_err(|e| ctx.error("model.climate", e.to_string()))?;
    Ok(Arc::new(SphereConfig { model, climate: Box::new(climate), network, forecasts }))
}

impl SphereConfig {
    /// The spectral truncation of the grid.
    pub fn truncation(&self) -> usize {
        self.climate.model.truncation
    }

    /// The forecasts scored from the analyses.
    pub fn forecasts(&self) -> ForecastConfig {
        self.forecasts.clone().unwrap_or_default()
    }
}

impl BedConfig for SphereConfig {
    fn name(&self) -> String {
        format!("shallow-water T{}", self.truncation())
    }

    fn model(&self) -> serde_json::Value {
        super::model_json(KIND, &self.model)
    }

    /// A latent prior checks its own grid against the autoencoder's (the truncation).
    fn same_model(&self, trained: &serde_json::Value) -> bool {
        trained.get("kind").and_then(serde_json::Value::as_str) == Some(KIND)
    }

    fn nx(&self) -> usize {
        let t = self.truncation();
        let (nlat, nlon) =
            crate::grid::STANDARD_GAUSSIAN.iter().find(|g| g.0 == t).map_or((0, 0), |g| (g.1, g.2));
        3 * nlat * nlon
    }

    fn field_grid(&self) -> Option<FieldGrid> {
        let n = &self.network;
        let modalities = [
            ("station", n.stations.is_some()),
            ("satellite", n.satellites.is_some()),
            ("gridded", n.gridded.is_some()),
            ("file", n.file.is_some()),
        ];
        Some(FieldGrid {
            truncation: self.truncation(),
            fields: self.variables(),
            modalities: modalities.iter().filter(|(_, on)| *on).map(|(m, _)| m.to_string()).collect(),
        })
    }

    fn lacks(&self, need: Need) -> Option<String> {
        match need {
            Need::SmallState => Some(format!(
                "not available on the sphere, whose state of {} numbers holds no dense covariance and needs a \
                 localised update (use Climatology, FreeRun, Var3D, LETKF or a latent generative method)",
                self.nx()
            )),
            Need::StateObs => Some(
                "the sphere's observations are interpolated to stations and averaged over footprints, not state \
                 components (use dps, sda_gamma, mmps or latent_optimization)"
                    .into(),
            ),
            Need::LinearObs | Need::TangentLinear | Need::Localisation | Need::Grid | Need::ModelAdjoint => None,
        }
    }

    fn covariance(&self) -> Covariance {
        Covariance::Spectral
    }

    fn validate(&self, chrono: &Chronology, ctx: &FileContext<'_>) -> Result<(), AssimError> {
        let m = &self.model;
        let sim = &self.climate;
        if sim.forcing.is_none() {
            return Err(
                ctx.error("model.climate", "the simulation file has no [forcing]: a climate needs one")
            );
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
        Network::new(&self.network).map_err(|msg| ctx.error("network", msg))?;
        if let Some(obs_file) = &self.network.file {
            let recs = crate::obs::records::read_csv(&ctx.base_dir.join(obs_file))
                .map_err(|e| ctx.error("network.file", e.to_string()))?;
            crate::obs::records::require_single_layer(&recs)
                .map_err(|msg| ctx.error("network.file", format!("{obs_file}: {msg}")))?;
        }
        check_forecasts(self.forecasts.as_ref(), ctx)
    }

    fn truth_numbers(&self, chrono: &Chronology) -> f64 {
        (chrono.n_obs_times() + 1) as f64 * self.nx() as f64
    }

    fn write(&self, table: &mut toml::Table) {
        write_sections(table, KIND, &self.model, ("network", &self.network), self.forecasts.as_ref());
    }

    fn prepare<'a>(&'a self, chrono: Chronology, base_dir: &Path) -> Result<Box<dyn Bed + 'a>, AssimError> {
        Ok(Box::new(SphereBed { cfg: self, chrono, base_dir: base_dir.to_path_buf() }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Writes a global bed's resolved sections into `table`: `[model]` with its `kind`, the
/// observing section `(name, value)` and `[forecasts]` when set.
pub fn write_sections(
    table: &mut toml::Table,
    kind: &str,
    model: &impl serde::Serialize,
    observing: (&str, &impl serde::Serialize),
    forecasts: Option<&ForecastConfig>,
) {
    if let Ok(toml::Value::Table(m)) = toml::Value::try_from(model) {
        let mut t = toml::Table::new();
        t.insert("kind".into(), kind.into());
        t.extend(m);
        table.insert("model".into(), toml::Value::Table(t));
    }
    if let Ok(v) = toml::Value::try_from(observing.1) {
        table.insert(observing.0.into(), v);
    }
    if let Some(Ok(v)) = forecasts.map(toml::Value::try_from) {
        table.insert("forecasts".into(), v);
    }
}

/// The climate-sample keys of a global bed's `[model]`.
pub struct ClimateKeys {
    /// `model.spinup_days`.
    pub spinup_days: Option<f64>,
    /// `model.climate_days`.
    pub climate_days: f64,
    /// `model.climate_interval_hours`.
    pub climate_interval_hours: f64,
}

/// Checks a global bed's climate-sample keys, and that the chronology steps at the model's
/// `dt_seconds` of the simulation file `file`.
pub fn check_climate_keys(
    keys: ClimateKeys,
    dt_seconds: f64,
    file: &str,
    chrono: &Chronology,
    ctx: &FileContext<'_>,
) -> Result<(), AssimError> {
    if keys.spinup_days.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
        return Err(ctx.error("model.spinup_days", "must be ≥ 0"));
    }
    if !(keys.climate_interval_hours.is_finite() && keys.climate_interval_hours > 0.0) {
        return Err(ctx.error("model.climate_interval_hours", "must be positive"));
    }
    if !(keys.climate_days.is_finite() && keys.climate_days * 24.0 >= 20.0 * keys.climate_interval_hours) {
        return Err(ctx.error("model.climate_days", "must hold at least 20 climate samples"));
    }
    if (chrono.dt - dt_seconds).abs() > 1e-9 {
        return Err(ctx.error(
            "chronology.dt",
            format!("must equal the model's time step dt_seconds = {dt_seconds} s of {file}"),
        ));
    }
    Ok(())
}

/// Checks `[forecasts]`, if given.
pub fn check_forecasts(forecasts: Option<&ForecastConfig>, ctx: &FileContext<'_>) -> Result<(), AssimError> {
    if let Some(f) = forecasts
        && (f.lead_days == 0 || f.every == 0)
    {
        return Err(ctx.error("forecasts", "lead_days and every must be ≥ 1"));
    }
    Ok(())
}

/// Analysis windows per day (at least one), the unit of the forecast leads.
fn windows_per_day(c: &Chronology) -> usize {
    (86400.0 / (c.dko as f64 * c.dt)).round().max(1.0) as usize
}

/// The prepared sphere bed: every seed runs its own climate, so nothing is shared.
struct SphereBed<'a> {
    cfg: &'a SphereConfig,
    chrono: Chronology,
    base_dir: PathBuf,
}

impl Bed for SphereBed<'_> {
    fn world(&self, seed: u64, stage: &mut StageProgress<'_>) -> Result<Box<dyn World + '_>, AssimError> {
        let (fc, c) = (self.cfg.forecasts(), self.chrono);
        let extra = fc.lead_days * windows_per_day(&c);
        Ok(Box::new(SphereTwin::new(self.cfg, c, &self.base_dir, seed, extra, stage)?))
    }
}

impl World for SphereTwin {
    fn free_run(&self) -> Option<Box<dyn Scenario + '_>> {
        Some(Box::new(FreeRunView(self)))
    }

    fn climate_sample(&self) -> Option<&[Vec<f64>]> {
        Some(self.climate.samples())
    }

    fn write_outputs(&self, run: &RunInfo<'_>, dir: &Path) -> Result<(), AssimError> {
        observers::write_seed_outputs(run, self, dir)
    }

    fn observers(
        &self,
        run: &RunInfo<'_>,
        label: &str,
        filter: bool,
        out: Option<&Path>,
    ) -> Result<Observers<'_>, AssimError> {
        let mut obs: Observers<'_> = Vec::new();
        if let Some(dir) = out {
            let store = observers::state_store(self);
            obs.push(Box::new(crate::bed::stores::AnalysisWriter::create(
                store,
                run,
                dir,
                label,
                self.truth[0].len(),
            )?));
        }
        let model = if filter { &self.model } else { &self.free_model };
        obs.push(Box::new(observers::Diagnostics::new(self, model, self.forecasts.clone())));
        Ok(obs)
    }
}
