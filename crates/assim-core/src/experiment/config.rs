//! The experiment file (TOML): one file names a whole comparison, as in DAPPER.
//! Documented key by key in `docs/experiments.md`.

use serde::{Deserialize, Serialize};

use super::generative::GenerativeConfig;
use super::simulate::SimulationConfig;
use crate::AssimError;
use crate::obs::network::NetworkConfig;

/// Largest truth trajectory (model steps × variables) an experiment may ask for: 1e9 numbers,
/// 8 GB, a third of the standard 24 GiB machine.
const MAX_TRUTH_NUMBERS: f64 = 1e9;

/// A whole experiment: model, chronology, X0, observing system, seeds and methods.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Short name, copied into `metrics.json`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Each seed gives an independent truth, observations and method draws.
    pub seeds: Vec<u64>,
    /// The dynamical model (truth and forecasts).
    pub model: ModelConfig,
    /// Time stepping and observation times.
    pub chronology: ChronologyConfig,
    /// The initial distribution of truth and ensembles (Lorenz models; on the sphere X0 is
    /// the climate sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x0: Option<X0Config>,
    /// The observed state indices (Lorenz models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations: Option<ObsConfig>,
    /// The observing network on the sphere (stations, satellites, grid subsample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
    /// Forecasts from the analyses, scored against the truth (sphere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecasts: Option<ForecastConfig>,
    /// When a method is declared diverged.
    #[serde(default)]
    pub divergence: DivergenceConfig,
    /// The methods compared, each on the same truth and observations.
    pub methods: Vec<MethodConfig>,
    /// Directory that relative paths in the file are resolved against.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// The climate simulation file of a shallow-water model, read at validation.
    #[serde(skip)]
    pub climate: Option<Box<SimulationConfig>>,
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

/// The model and its parameters.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)]
pub enum ModelConfig {
    /// Lorenz-96 on a ring of `nx` variables with forcing `forcing`.
    Lorenz96 {
        /// Number of variables (≥ 4).
        #[serde(default = "default_l96_nx")]
        nx: usize,
        /// Forcing F.
        #[serde(default = "default_l96_forcing")]
        forcing: f64,
    },
    /// Lorenz-63 with parameters σ, ρ, β.
    Lorenz63 {
        /// σ.
        #[serde(default = "default_l63_sigma")]
        sigma: f64,
        /// ρ.
        #[serde(default = "default_l63_rho")]
        rho: f64,
        /// β.
        #[serde(default = "default_l63_beta")]
        beta: f64,
    },
    /// The shallow-water model on the sphere in the stirred climate of a simulation file:
    /// state `(geopotential, eastward_wind, northward_wind)` on its Gaussian grid.
    #[serde(rename = "shallow_water")]
    ShallowWater {
        /// The simulation file (model, forcing, initial state; `experiments/simulate_*.toml`),
        /// relative to the experiment file.
        climate: String,
        /// Days from the initial state to the climate sample (default: the file's spin-up).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spinup_days: Option<f64>,
        /// Days of climate sampled (climatology, X0, the spectra of `B`); the truth follows.
        #[serde(default = "default_climate_days")]
        climate_days: f64,
        /// Hours between climate samples.
        #[serde(default = "default_climate_interval")]
        climate_interval_hours: f64,
        /// What forecasts know of the truth's stirring: `"decaying"` (its state at the start,
        /// without future kicks; the default), `"truth"` (all of it: a perfect-model twin),
        /// `"random"` (an independent realisation) or `"none"`.
        #[serde(default)]
        forecast_stirring: crate::dynamics::shallow_water::ForecastStirring,
    },
}

fn default_climate_days() -> f64 {
    200.0
}
fn default_climate_interval() -> f64 {
    24.0
}

fn default_l96_nx() -> usize {
    40
}
fn default_l96_forcing() -> f64 {
    8.0
}
fn default_l63_sigma() -> f64 {
    10.0
}
fn default_l63_rho() -> f64 {
    28.0
}
fn default_l63_beta() -> f64 {
    8.0 / 3.0
}

/// Time stepping: `dt`, `dko`, and either `ko` or the total time `t`; and the burn-in.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChronologyConfig {
    /// Model time step.
    pub dt: f64,
    /// Model steps between observation times.
    pub dko: usize,
    /// Index of the last observation time (`Ko + 1` analyses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ko: Option<usize>,
    /// Total time; `Ko = round(T/(dt·dko)) − 1`. Give `ko` or `t`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// Time before which analyses are not averaged.
    pub burn_in: f64,
}

/// `X0 = N(mean, var·I)`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct X0Config {
    /// `"e0"` (first unit vector), `"zero"`, or a list of `Nx` values.
    pub mean: MeanSpec,
    /// Variance of every component (> 0).
    pub var: f64,
}

/// The mean of X0.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MeanSpec {
    /// A named vector: `"e0"` or `"zero"`.
    Named(String),
    /// Explicit values.
    Values(Vec<f64>),
}

/// Which variables are observed, and how accurately.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObsConfig {
    /// `"all"` or a list of 0-based state indices.
    pub indices: IndexSpec,
    /// Observation-error standard deviation (> 0); `R = sigma²·I`.
    pub sigma: f64,
    /// `"identity"` (y = x at the observed indices, the default) or `"arctan"`
    /// (y = arctan(x), nonlinear).
    #[serde(default)]
    pub operator: ObsKind,
}

/// The observation operator applied at the observed indices.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ObsKind {
    /// `y = x_i`: linear.
    #[default]
    Identity,
    /// `y = arctan(x_i)`: nonlinear and saturating.
    Arctan,
}

/// Observed state indices.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum IndexSpec {
    /// `"all"`.
    Named(String),
    /// Explicit 0-based indices.
    List(Vec<i64>),
}

/// A method counts as diverged when its state is non-finite, or when its analysis RMSE,
/// averaged over the last `window` analyses, exceeds `factor` × the climatological spread
/// (a filter that lost the truth has RMSE ≈ √2 × that spread; Climatology itself sits at 1×).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DivergenceConfig {
    /// Number of analyses in the moving average.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Multiple of the climatological spread that the moving average must exceed.
    #[serde(default = "default_factor")]
    pub factor: f64,
}

impl Default for DivergenceConfig {
    fn default() -> Self {
        DivergenceConfig { window: default_window(), factor: default_factor() }
    }
}

fn default_window() -> usize {
    200
}

fn default_factor() -> f64 {
    1.25
}

fn one() -> f64 {
    1.0
}
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
fn yes() -> bool {
    true
}

/// A method and its parameters (DAPPER's names). `label` overrides the generated name.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "method", deny_unknown_fields)]
pub enum MethodConfig {
    /// The truth's mean and covariance.
    Climatology {
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Climatological gain on the climatological mean.
    OptInterp {
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// 3D-Var with `B = xb·cov(truth)`; on the sphere `B = xb·` the climate's isotropic
    /// variance spectra, minimised by conjugate gradients.
    Var3D {
        /// Scale of `B`.
        #[serde(default = "one")]
        xb: f64,
        /// Largest number of CG iterations (sphere; default 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_iter: Option<usize>,
        /// CG stopping tolerance on the relative residual (sphere; default 1e-3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tol: Option<f64>,
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Extended Kalman filter.
    ExtKF {
        /// Covariance inflation per unit time.
        #[serde(default = "one")]
        infl: f64,
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Global EnKF.
    EnKF {
        /// `"Sqrt"`, `"PertObs"` or `"DEnKF"`.
        upd_a: String,
        /// Ensemble size.
        n: usize,
        /// Anomaly inflation factor.
        #[serde(default = "one")]
        infl: f64,
        /// Random rotation.
        #[serde(default)]
        rot: bool,
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Local ETKF.
    LETKF {
        /// Ensemble size.
        n: usize,
        /// Localisation radius (`inf` for global).
        loc_rad: f64,
        /// Anomaly inflation factor.
        #[serde(default = "one")]
        infl: f64,
        /// Random rotation.
        #[serde(default)]
        rot: bool,
        /// Relaxation to prior spread α (0 = off).
        #[serde(default, skip_serializing_if = "is_zero")]
        rtps: f64,
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// No assimilation: a forecast from one draw of X0.
    FreeRun {
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// A generative (score-based) analysis: see [`GenerativeConfig`].
    Generative(GenerativeConfig),
    /// Bootstrap particle filter.
    PartFilt {
        /// Number of particles.
        n: usize,
        /// Resampling threshold on `N_eff / N`.
        #[serde(default = "one")]
        ner: f64,
        /// Regularisation jitter scale.
        #[serde(default)]
        reg: f64,
        /// Jitter only duplicated particles.
        #[serde(default = "yes")]
        nuj: bool,
        /// Display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
}

impl MethodConfig {
    /// The display name: the user's `label`, or a DAPPER-style summary of the parameters.
    pub fn label(&self) -> String {
        use MethodConfig::*;
        let (given, auto) = match self {
            Climatology { label } => (label, "Climatology".to_string()),
            OptInterp { label } => (label, "OptInterp".to_string()),
            Var3D { xb, label, .. } => (label, format!("Var3D xB={xb}")),
            FreeRun { label } => (label, "FreeRun".to_string()),
            ExtKF { infl, label } => (label, format!("ExtKF infl={infl}")),
            EnKF { upd_a, n, infl, rot, label } => {
                (label, with_infl_rot(format!("EnKF {upd_a} N={n}"), *infl, *rot))
            }
            LETKF { n, loc_rad, infl, rot, rtps, label } => {
                let mut s = with_infl_rot(format!("LETKF N={n} loc_rad={loc_rad}"), *infl, *rot);
                if *rtps != 0.0 {
                    s.push_str(&format!(" rtps={rtps}"));
                }
                (label, s)
            }
            PartFilt { n, ner, reg, nuj, label } => {
                let mut s = format!("PartFilt N={n} NER={ner} reg={reg}");
                if !nuj {
                    s.push_str(" nuj=false");
                }
                (label, s)
            }
            Generative(g) => (&g.label, g.auto_label()),
        };
        given.clone().unwrap_or(auto)
    }

    /// The parameters as JSON (for `metrics.json`), without the label.
    pub fn params(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.remove("label");
        }
        v
    }
}

fn with_infl_rot(mut s: String, infl: f64, rot: bool) -> String {
    if infl != 1.0 {
        s.push_str(&format!(" infl={infl}"));
    }
    if rot {
        s.push_str(" rot");
    }
    s
}

impl Experiment {
    /// Reads and validates an experiment file; every error names the file and the key.
    pub fn load(path: &std::path::Path) -> Result<Self, AssimError> {
        let (text, file) = read_text(path)?;
        let dir = path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        Self::parse_in(&text, &file, &dir)
    }

    /// Parses and validates experiment text; `file` is used in error messages, and relative
    /// paths are resolved against the current directory.
    pub fn parse(text: &str, file: &str) -> Result<Self, AssimError> {
        Self::parse_in(text, file, std::path::Path::new(""))
    }

    /// Parses and validates experiment text whose relative paths start from `base_dir`.
    pub fn parse_in(text: &str, file: &str, base_dir: &std::path::Path) -> Result<Self, AssimError> {
        let mut exp: Experiment = parse_toml(text, file)?;
        exp.base_dir = base_dir.to_path_buf();
        if let ModelConfig::ShallowWater { climate, .. } = &exp.model {
            let path = exp.base_dir.join(climate);
            let sim = SimulationConfig::load(&path)
                .map_err(|e| AssimError::config(file, "model.climate", e.to_string()))?;
            exp.climate = Some(Box::new(sim));
        }
        exp.validate(file)?;
        Ok(exp)
    }

    /// Whether the model is the shallow-water model on the sphere.
    pub fn is_sphere(&self) -> bool {
        matches!(self.model, ModelConfig::ShallowWater { .. })
    }

    /// The `[observations]` of a Lorenz experiment (present once validated).
    pub fn obs(&self) -> &ObsConfig {
        self.observations.as_ref().expect("validated: a Lorenz experiment has [observations]")
    }

    /// The `[x0]` of a Lorenz experiment (present once validated).
    pub fn x0(&self) -> &X0Config {
        self.x0.as_ref().expect("validated: a Lorenz experiment has [x0]")
    }

    /// The experiment as TOML (with defaults filled in): what was actually run.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# could not serialise the experiment: {e}\n"))
    }

    /// The state dimension implied by the model.
    pub fn nx(&self) -> usize {
        match self.model {
            ModelConfig::Lorenz96 { nx, .. } => nx,
            ModelConfig::Lorenz63 { .. } => 3,
            ModelConfig::ShallowWater { .. } => {
                let t = self.climate.as_ref().map_or(21, |c| c.model.truncation);
                let (nlat, nlon) =
                    crate::grid::STANDARD_GAUSSIAN.iter().find(|g| g.0 == t).map_or((0, 0), |g| (g.1, g.2));
                3 * nlat * nlon
            }
        }
    }

    /// The resolved chronology.
    pub fn chronology(&self) -> super::Chronology {
        let c = &self.chronology;
        let ko = c.ko.unwrap_or_else(|| {
            let t = c.t.unwrap_or(0.0);
            ((t / (c.dt * c.dko as f64)).round() as usize).saturating_sub(1)
        });
        super::Chronology { dt: c.dt, dko: c.dko, ko, burn_in: c.burn_in }
    }

    /// Checks every value that the types alone do not; the first problem is reported.
    pub fn validate(&self, file: &str) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| Err(AssimError::config(file, key, msg));
        if self.seeds.is_empty() {
            return err("seeds", "give at least one seed".into());
        }
        match &self.model {
            ModelConfig::Lorenz96 { nx, forcing } => {
                if *nx < 4 {
                    return err("model.nx", format!("must be ≥ 4 (got {nx})"));
                }
                if !forcing.is_finite() {
                    return err("model.forcing", "must be finite".into());
                }
            }
            ModelConfig::Lorenz63 { sigma, rho, beta } => {
                for (k, v) in [("model.sigma", sigma), ("model.rho", rho), ("model.beta", beta)] {
                    if !v.is_finite() {
                        return err(k, "must be finite".into());
                    }
                }
            }
            ModelConfig::ShallowWater { spinup_days, climate_days, climate_interval_hours, .. } => {
                let sim = self.climate.as_ref().expect("read by parse_in");
                if sim.forcing.is_none() {
                    return err(
                        "model.climate",
                        "the simulation file has no [forcing]: a climate needs one".into(),
                    );
                }
                if spinup_days.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
                    return err("model.spinup_days", "must be ≥ 0".into());
                }
                if !(climate_interval_hours.is_finite() && *climate_interval_hours > 0.0) {
                    return err("model.climate_interval_hours", "must be positive".into());
                }
                if !(climate_days.is_finite() && climate_days * 24.0 >= 20.0 * climate_interval_hours) {
                    return err("model.climate_days", "must hold at least 20 climate samples".into());
                }
                if (self.chronology.dt - sim.model.dt_seconds).abs() > 1e-9 {
                    return err(
                        "chronology.dt",
                        format!(
                            "must equal the model's time step dt_seconds = {} s of {}",
                            sim.model.dt_seconds,
                            self.model_climate_name()
                        ),
                    );
                }
                if self.x0.is_some() || self.observations.is_some() {
                    return err(
                        if self.x0.is_some() { "x0" } else { "observations" },
                        "not used on the sphere: X0 is the climate sample and [network] gives the observations"
                            .into(),
                    );
                }
                let Some(net) = &self.network else {
                    return err(
                        "network",
                        "missing: the shallow-water model needs an observing [network]".into(),
                    );
                };
                crate::obs::network::Network::new(net).map_err(|m| AssimError::config(file, "network", m))?;
                if let Some(obs_file) = &net.file {
                    crate::obs::records::read_csv(&self.base_dir.join(obs_file))
                        .map_err(|e| AssimError::config(file, "network.file", e.to_string()))?;
                }
                if let Some(f) = &self.forecasts
                    && (f.lead_days == 0 || f.every == 0)
                {
                    return err("forecasts", "lead_days and every must be ≥ 1".into());
                }
            }
        }
        if !self.is_sphere() {
            if self.x0.is_none() {
                return err("x0", "missing: give the initial distribution [x0]".into());
            }
            if self.observations.is_none() {
                return err("observations", "missing: give [observations]".into());
            }
            if self.network.is_some() || self.forecasts.is_some() {
                return err("network", "[network] and [forecasts] are for the shallow-water model".into());
            }
        }
        let c = &self.chronology;
        if !(c.dt.is_finite() && c.dt > 0.0) {
            return err("chronology.dt", format!("must be a positive number (got {})", c.dt));
        }
        if c.dko == 0 {
            return err("chronology.dko", "must be ≥ 1".into());
        }
        match (c.ko, c.t) {
            (Some(_), Some(_)) => return err("chronology.t", "give either `ko` or `t`, not both".into()),
            (None, None) => return err("chronology.ko", "missing: give `ko` (or `t`)".into()),
            (Some(0), _) => {
                return err("chronology.ko", "must be ≥ 1 (Ko = 0 gives a single analysis)".into());
            }
            (None, Some(t)) if !(t.is_finite() && t >= 2.0 * c.dt * c.dko as f64) => {
                return err("chronology.t", format!("must span at least two observation times (got {t})"));
            }
            _ => {}
        }
        if !(c.burn_in.is_finite() && c.burn_in >= 0.0) {
            return err("chronology.burn_in", format!("must be ≥ 0 (got {})", c.burn_in));
        }
        let chrono = self.chronology();
        // The truth is kept at every model step (at every analysis time on the sphere): refuse,
        // up front, a run that cannot fit.
        let kept = if self.is_sphere() { chrono.n_obs_times() + 1 } else { chrono.k() + 1 };
        let numbers = kept as f64 * self.nx() as f64;
        if numbers > MAX_TRUTH_NUMBERS {
            return err(
                if c.ko.is_some() { "chronology.ko" } else { "chronology.t" },
                format!(
                    "the truth run would hold {numbers:.3e} numbers ({:.0} GB); the limit is {MAX_TRUTH_NUMBERS:.0e}",
                    numbers * 8e-9
                ),
            );
        }
        if !(0..chrono.n_obs_times()).any(|ko| chrono.is_averaged(ko)) {
            return err("chronology.burn_in", "no analysis time falls after the burn-in".into());
        }
        if self.is_sphere() {
            return self.validate_methods(file);
        }
        if self.is_sphere() {
            return self.validate_methods(file);
        }
        let nx = self.nx();
        match &self.x0().mean {
            MeanSpec::Named(n) if n == "e0" || n == "zero" => {}
            MeanSpec::Named(n) => {
                return err("x0.mean", format!("unknown name {n:?}: use \"e0\", \"zero\" or a list"));
            }
            MeanSpec::Values(v) if v.len() != nx => {
                return err("x0.mean", format!("has {} values but the model has {nx} variables", v.len()));
            }
            MeanSpec::Values(v) if v.iter().any(|x| !x.is_finite()) => {
                return err("x0.mean", "values must be finite".into());
            }
            _ => {}
        }
        if !(self.x0().var.is_finite() && self.x0().var > 0.0) {
            return err("x0.var", format!("must be a positive variance (got {})", self.x0().var));
        }
        if !(self.obs().sigma.is_finite() && self.obs().sigma > 0.0) {
            return err(
                "observations.sigma",
                format!("observation-error std must be positive (got {})", self.obs().sigma),
            );
        }
        self.obs_indices().map_err(|m| AssimError::config(file, "observations.indices", m))?;
        self.validate_methods(file)
    }

    fn model_climate_name(&self) -> String {
        match &self.model {
            ModelConfig::ShallowWater { climate, .. } => climate.clone(),
            _ => String::new(),
        }
    }

    /// Checks the divergence settings and every method entry against the model.
    fn validate_methods(&self, file: &str) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| Err(AssimError::config(file, key, msg));
        if self.divergence.window == 0 {
            return err("divergence.window", "must be ≥ 1".into());
        }
        if !(self.divergence.factor.is_finite() && self.divergence.factor > 0.0) {
            return err("divergence.factor", format!("must be positive (got {})", self.divergence.factor));
        }
        if self.methods.is_empty() {
            return err("methods", "list at least one method ([[methods]])".into());
        }
        let mut labels = std::collections::HashSet::new();
        for (i, m) in self.methods.iter().enumerate() {
            let key = |k: &str| format!("methods[{i}].{k}");
            if !labels.insert(m.label()) {
                return err(
                    &key("label"),
                    format!("two methods are named {:?}; give one a `label`", m.label()),
                );
            }
            self.validate_method(file, &key, m)?;
        }
        Ok(())
    }

    /// Checks one method entry against the model; `key(k)` names its key `k` in messages.
    fn validate_method(
        &self,
        file: &str,
        key: &dyn Fn(&str) -> String,
        m: &MethodConfig,
    ) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| Err(AssimError::config(file, key, msg));
        let sphere = self.is_sphere();
        let linear = sphere || self.obs().operator == ObsKind::Identity;
        let check_infl = |infl: f64| -> Result<(), AssimError> {
            if infl.is_finite() && infl > 0.0 {
                Ok(())
            } else {
                Err(AssimError::config(file, key("infl"), format!("must be a positive factor (got {infl})")))
            }
        };
        let check_n = |n: usize| -> Result<(), AssimError> {
            if n >= 2 {
                Ok(())
            } else {
                Err(AssimError::config(file, key("n"), format!("ensemble size must be ≥ 2 (got {n})")))
            }
        };
        match m {
            MethodConfig::Climatology { .. } | MethodConfig::FreeRun { .. } => {}
            MethodConfig::OptInterp { .. }
            | MethodConfig::ExtKF { .. }
            | MethodConfig::EnKF { .. }
            | MethodConfig::PartFilt { .. }
                if sphere =>
            {
                return err(
                    &key("method"),
                    format!(
                        "{} is not available on the sphere (use Climatology, FreeRun, Var3D, LETKF or a latent generative method)",
                        m.label()
                    ),
                );
            }
            MethodConfig::OptInterp { .. } | MethodConfig::ExtKF { .. } | MethodConfig::Var3D { .. }
                if !linear =>
            {
                return err(
                    &key("method"),
                    format!(
                        "{} needs a linear observation operator (observations.operator = \"identity\")",
                        m.label()
                    ),
                );
            }
            MethodConfig::OptInterp { .. } => {}
            MethodConfig::Generative(g) => {
                check_n(g.n)?;
                check_infl(g.infl)?;
                g.validate(file, &|k| key(k), linear)?;
                if !matches!(self.model, ModelConfig::Lorenz96 { .. }) && !sphere {
                    return err(
                        &key("method"),
                        "generative methods need a spatial model (lorenz96 or shallow_water)".into(),
                    );
                }
                if !sphere && g.latent_analysis != super::LatentAnalysis::Decoded {
                    return err(
                        &key("latent_analysis"),
                        "is for latent priors on the sphere (shallow_water)".into(),
                    );
                }
                if sphere && matches!(g.guidance, super::GuidanceConfig::RePaint) {
                    return err(
                        &key("guidance"),
                        "RePaint needs observations of state components; the sphere's are interpolated \
                         (use dps, sda_gamma, mmps or latent_optimization)"
                            .into(),
                    );
                }
                if let Some(sp) = &g.spinup {
                    if matches!(*sp.method, MethodConfig::Generative(_)) {
                        return err(&key("spinup.method"), "must be a classical method".into());
                    }
                    let chrono = self.chronology();
                    if sp.windows == 0
                        || sp.windows > chrono.n_obs_times()
                        || chrono.is_averaged(sp.windows - 1)
                    {
                        let scored = (0..chrono.n_obs_times()).find(|&k| chrono.is_averaged(k)).unwrap_or(0);
                        return err(
                            &key("spinup.windows"),
                            format!(
                                "must be in 1..={scored}: the spin-up's analyses must all fall inside the burn-in \
                                 (got {})",
                                sp.windows
                            ),
                        );
                    }
                    self.validate_method(file, &|k| key(&format!("spinup.method.{k}")), &sp.method)?;
                }
            }
            MethodConfig::Var3D { xb, max_iter, tol, .. } => {
                if !(xb.is_finite() && *xb > 0.0) {
                    return err(&key("xb"), format!("must be positive (got {xb})"));
                }
                if max_iter.is_some_and(|m| m == 0) {
                    return err(&key("max_iter"), "must be ≥ 1".into());
                }
                if tol.is_some_and(|t| !(t.is_finite() && t > 0.0 && t < 1.0)) {
                    return err(&key("tol"), "must be in (0, 1)".into());
                }
                if !sphere && (max_iter.is_some() || tol.is_some()) {
                    return err(
                        &key("max_iter"),
                        "max_iter and tol are for the spectral 3D-Var on the sphere".into(),
                    );
                }
            }
            MethodConfig::ExtKF { infl, .. } => check_infl(*infl)?,
            MethodConfig::EnKF { upd_a, n, infl, .. } => {
                if !["Sqrt", "PertObs", "DEnKF"].contains(&upd_a.as_str()) {
                    return err(
                        &key("upd_a"),
                        format!("unknown update {upd_a:?}: use \"Sqrt\", \"PertObs\" or \"DEnKF\""),
                    );
                }
                check_n(*n)?;
                check_infl(*infl)?;
            }
            MethodConfig::LETKF { n, loc_rad, infl, rtps, .. } => {
                check_n(*n)?;
                check_infl(*infl)?;
                if loc_rad.is_nan() || *loc_rad <= 0.0 {
                    return err(&key("loc_rad"), format!("must be positive or inf (got {loc_rad})"));
                }
                if !(rtps.is_finite() && (0.0..=1.0).contains(rtps)) {
                    return err(&key("rtps"), format!("must be in [0, 1] (got {rtps})"));
                }
                if matches!(self.model, ModelConfig::Lorenz63 { .. }) {
                    return err(
                        &key("method"),
                        "LETKF needs a spatial model (lorenz96, shallow_water)".into(),
                    );
                }
            }
            MethodConfig::PartFilt { n, ner, reg, .. } => {
                check_n(*n)?;
                if !(ner.is_finite() && (0.0..=1.0).contains(ner)) {
                    return err(&key("ner"), format!("must be in [0, 1] (got {ner})"));
                }
                if !(reg.is_finite() && *reg >= 0.0) {
                    return err(&key("reg"), format!("must be ≥ 0 (got {reg})"));
                }
            }
        }
        Ok(())
    }

    /// The observed indices, checked against the state dimension.
    pub fn obs_indices(&self) -> Result<Vec<usize>, String> {
        let nx = self.nx();
        match &self.obs().indices {
            IndexSpec::Named(s) if s == "all" => Ok((0..nx).collect()),
            IndexSpec::Named(s) => Err(format!("unknown name {s:?}: use \"all\" or a list of indices")),
            IndexSpec::List(v) => {
                let mut out = Vec::with_capacity(v.len());
                for &i in v {
                    if i < 0 || i as usize >= nx {
                        return Err(format!(
                            "index {i} is out of range for a state of {nx} variables (0..={})",
                            nx - 1
                        ));
                    }
                    out.push(i as usize);
                }
                crate::obs::PartialIdentity::new(nx, out.clone()).map_err(|e| e.to_string())?;
                Ok(out)
            }
        }
    }

    /// The X0 mean vector.
    pub fn x0_mean(&self) -> Vec<f64> {
        let nx = self.nx();
        match &self.x0().mean {
            MeanSpec::Values(v) => v.clone(),
            MeanSpec::Named(n) => {
                let mut v = vec![0.0; nx];
                if n == "e0" {
                    v[0] = 1.0;
                }
                v
            }
        }
    }
}

/// The text of a configuration file and its name for error messages.
pub fn read_text(path: &std::path::Path) -> Result<(String, String), AssimError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| AssimError::config(&file, "<file>", format!("cannot read: {e}")))?;
    Ok((text, file))
}

/// Deserialises TOML text; a syntax error, an unknown key or a bad value becomes one line
/// naming the file, the line and the key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, AssimError> {
    toml::from_str(text).map_err(|e| toml_error(text, file, &e))
}

/// Turns a TOML/serde error into one line: file, line, the key on that line, the message.
fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> AssimError {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("");
            let key = line.split('=').next().unwrap_or("").trim().trim_matches(['[', ']']);
            let key = if key.is_empty() { "<file>".to_string() } else { key.to_string() };
            AssimError::config(file, format!("line {line_no}: {key}"), msg)
        }
        None => AssimError::config(file, "<file>", msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
seeds = [1]
[model]
kind = "lorenz96"
[chronology]
dt = 0.05
dko = 1
ko = 100
burn_in = 1.0
[x0]
mean = "e0"
var = 0.001
[observations]
indices = "all"
sigma = 1.0
[[methods]]
method = "EnKF"
upd_a = "Sqrt"
n = 10
"#;

    fn err_of(text: &str) -> String {
        Experiment::parse(text, "x.toml").unwrap_err().to_string()
    }

    #[test]
    fn good_file_parses() {
        let e = Experiment::parse(GOOD, "x.toml").unwrap();
        assert_eq!(e.nx(), 40);
        assert_eq!(e.methods[0].label(), "EnKF Sqrt N=10");
        // round trip through the written copy
        let again = Experiment::parse(&e.to_toml(), "copy.toml").unwrap();
        assert_eq!(again.to_toml(), e.to_toml());
    }

    #[test]
    fn bad_values_name_file_and_key() {
        let m = err_of(&GOOD.replace("sigma = 1.0", "sigma = -1.0"));
        assert!(m.starts_with("x.toml: observations.sigma:"), "{m}");
        let m = err_of(&GOOD.replace("sigma = 1.0", "sigma = 0.0"));
        assert!(m.contains("observations.sigma"), "{m}");
        let m = err_of(&GOOD.replace("n = 10", "n = 1"));
        assert!(m.contains("methods[0].n") && m.contains("≥ 2"), "{m}");
        let m = err_of(&GOOD.replace("ko = 100", "ko = 0"));
        assert!(m.contains("chronology.ko"), "{m}");
        let m = err_of(&GOOD.replace("indices = \"all\"", "indices = [0, 40]"));
        assert!(m.contains("observations.indices") && m.contains("40"), "{m}");
        let m = err_of(&GOOD.replace("ko = 100", "ko = 100000000"));
        assert!(m.contains("chronology.ko") && m.contains("GB"), "{m}");
        let m = err_of(&GOOD.replace("upd_a = \"Sqrt\"", "upd_a = \"Foo\""));
        assert!(m.contains("methods[0].upd_a"), "{m}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let m = err_of(&GOOD.replace("var = 0.001", "var = 0.001\nvariance = 2"));
        assert!(m.contains("variance") && m.contains("x.toml"), "{m}");
        let m = err_of(&GOOD.replace("n = 10", "n = 10\ninflation = 1.1"));
        assert!(m.contains("inflation"), "{m}");
        let m = err_of(&GOOD.replace("kind = \"lorenz96\"", "kind = \"lorenz97\""));
        assert!(m.contains("lorenz97"), "{m}");
        let m = err_of("name = ");
        assert!(m.starts_with("x.toml: line 1"), "{m}");
        assert!(!m.contains('\n'));
    }
}
