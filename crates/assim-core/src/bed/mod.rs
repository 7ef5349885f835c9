//! Test beds: what an experiment runs on. A bed reads its own keys of the experiment file
//! (`[model]` and its sections), says which method needs it can meet and why it refuses the
//! others, makes one seed's truth and observations (its [`World`]), and adds the outputs and
//! diagnostics it reports to every method's cycle ([`Observer`]s). The runner
//! ([`crate::experiment::run_experiment`]) knows nothing else about it.
//!
//! Adding a bed is one module here and one line in [`BEDS`].

pub mod fields;
pub mod lorenz;
pub mod primitive;
pub mod sphere;
pub(crate) mod stores;

use std::any::Any;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use crate::AssimError;
use crate::experiment::{Chronology, Scenario, SeedRun};
use crate::metrics::VariableScores;

/// What a method may need of a test bed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A linear observation operator (gain-based methods).
    LinearObs,
    /// A linear observation operator or the tangent-linear of a nonlinear one, with its
    /// adjoint (incremental variational methods).
    TangentLinear,
    /// A state small enough for dense covariances and global updates (Kalman filters
    /// without localisation, particle filters).
    SmallState,
    /// A localisation geometry: distances between state variables and observations.
    Localisation,
    /// A spatial grid that a convolutional network runs on (generative methods).
    Grid,
    /// Observations of state components themselves, `y = x_i` (RePaint replaces them).
    StateObs,
    /// A forecast model with a tangent-linear and an adjoint (4D-Var).
    ModelAdjoint,
}

impl Need {
    /// What the need is, for refusal messages.
    pub fn describe(self) -> &'static str {
        match self {
            Need::LinearObs => "a linear observation operator",
            Need::TangentLinear => "a linear or tangent-linear observation operator with an adjoint",
            Need::SmallState => "a state small enough for dense covariances and a global update",
            Need::Localisation => "a localisation geometry",
            Need::Grid => "a spatial grid for its network",
            Need::StateObs => "observations of state components themselves",
            Need::ModelAdjoint => "a forecast model with a tangent-linear and an adjoint",
        }
    }
}

/// Progress of the set-up: (stage, done, total).
pub type StageProgress<'a> = dyn FnMut(&str, usize, usize) + 'a;

/// Where a bed's relative paths start and how its errors name the file.
pub struct FileContext<'a> {
    /// The file, for messages.
    pub file: &'a str,
    /// The directory relative paths are resolved against.
    pub base_dir: &'a Path,
}

impl FileContext<'_> {
    /// A configuration error at key `key`.
    pub fn error(&self, key: &str, msg: impl Into<String>) -> AssimError {
        AssimError::config(self.file, key, msg)
    }
}

/// Reads a bed from the `[model]` table (its `kind` chose the bed) and takes the bed's own
/// sections out of `sections` (what is left must be the experiment's common keys).
pub type BedReader = fn(
    model: toml::Value,
    sections: &mut toml::Table,
    ctx: &FileContext<'_>,
) -> Result<Arc<dyn BedConfig>, AssimError>;

/// The registered beds: `model.kind` → reader.
pub const BEDS: &[(&str, BedReader)] = &[
    ("lorenz96", lorenz::read),
    ("lorenz63", lorenz::read),
    ("shallow_water", sphere::read),
    ("primitive_dry", primitive::read),
    (fields::FIELDS_KIND, fields::read),
];

/// Reads the bed named by `model.kind`.
pub fn read_bed(
    model: toml::Value,
    sections: &mut toml::Table,
    ctx: &FileContext<'_>,
) -> Result<Arc<dyn BedConfig>, AssimError> {
    let kinds: Vec<&str> = BEDS.iter().map(|(k, _)| *k).collect();
    let kind = model.get("kind").and_then(toml::Value::as_str).map(str::to_string);
    let Some(kind) = kind else {
        return Err(ctx.error("model.kind", format!("missing: one of {}", kinds.join(", "))));
    };
    match BEDS.iter().find(|(k, _)| *k == kind) {
        Some((_, read)) => read(model, sections, ctx),
        None => {
            Err(ctx.error("model.kind", format!("unknown model {kind:?}: use one of {}", kinds.join(", "))))
        }
    }
}

/// Deserialises one section of the file, naming it in the error.
pub fn section<T: serde::de::DeserializeOwned>(
    v: toml::Value,
    key: &str,
    ctx: &FileContext<'_>,
) -> Result<T, AssimError> {
    v.try_into().map_err(|e: toml::de::Error| ctx.error(key, e.message().trim().replace('\n', " ")))
}

/// Deserialises a bed's `[model]` table without its `kind` (which chose the bed).
pub fn model_section<T: serde::de::DeserializeOwned>(
    model: toml::Value,
    ctx: &FileContext<'_>,
) -> Result<T, AssimError> {
    let mut model = model;
    if let Some(t) = model.as_table_mut() {
        t.remove("kind");
    }
    section(model, "model", ctx)
}

/// A bed's `[model]` as JSON with its `kind` put back (what [`BedConfig::model`] returns for
/// the beds whose model table is one struct): the inverse of [`model_section`].
pub fn model_json(kind: &str, model: &impl serde::Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(model).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert("kind".into(), kind.into());
    }
    v
}

/// The background covariance a bed gives 3D-Var.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Covariance {
    /// The truth trajectory's dense covariance (small states).
    Dense,
    /// Isotropic variance spectra per variable, on the sphere.
    Spectral,
}

/// The grid a bed's states live on, seen as images by a network: a state is
/// `fields.len() × nlat × nlon` numbers, field-major, on the Gaussian grid of `truncation`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldGrid {
    /// Spectral truncation (the grid is its standard Gaussian grid).
    pub truncation: usize,
    /// (CF name, units) of each field, in state order: the network's channels.
    pub fields: Vec<(String, String)>,
    /// The observing systems (modalities) of the experiment, by name: a prior conditioned on
    /// observation channels refuses one it was not trained with.
    pub modalities: Vec<String>,
}

/// A test bed as read from an experiment file: what it offers methods, its keys, and how it
/// prepares a run.
pub trait BedConfig: Debug + Send + Sync {
    /// Short name for messages (`"Lorenz-96"`, `"the sphere"`).
    fn name(&self) -> String;
    /// The `[model]` table (with defaults), as experiment copies and checkpoints store it.
    fn model(&self) -> serde_json::Value;
    /// Whether a prior trained on the model `trained` (a checkpoint's `model`) may run here.
    fn same_model(&self, trained: &serde_json::Value) -> bool {
        *trained == self.model()
    }
    /// The state dimension `Nx`.
    fn nx(&self) -> usize;
    /// The (name, units) of the fields its per-variable scores are of, in state order (the
    /// shallow-water fields unless the bed says otherwise; unused where there are none).
    fn variables(&self) -> Vec<(String, String)> {
        crate::obs::Variable::ALL.iter().map(|v| (v.name().to_string(), v.units().to_string())).collect()
    }
    /// The grid its states live on, for networks (autoencoders, priors); `None` on a bed
    /// without one.
    fn field_grid(&self) -> Option<FieldGrid> {
        None
    }
    /// Why the bed cannot give `need`; `None` when it can.
    fn lacks(&self, need: Need) -> Option<String>;
    /// The background covariance it gives 3D-Var.
    fn covariance(&self) -> Covariance;
    /// Checks the bed against the chronology; `ctx` names the keys.
    fn validate(&self, chrono: &Chronology, ctx: &FileContext<'_>) -> Result<(), AssimError>;
    /// Numbers of the truth it keeps for `chrono` (the memory bar of the experiment).
    fn truth_numbers(&self, chrono: &Chronology) -> f64;
    /// Writes its keys (`model` and its sections) into the experiment actually run.
    fn write(&self, table: &mut toml::Table);
    /// The seed-independent set-up of a run of `chrono`; relative paths start at `base_dir`.
    fn prepare<'a>(&'a self, chrono: Chronology, base_dir: &Path) -> Result<Box<dyn Bed + 'a>, AssimError>;
    /// The concrete configuration, for code that knows the bed (`downcast_ref`).
    fn as_any(&self) -> &dyn Any;
}

impl dyn BedConfig + '_ {
    /// The configuration as the concrete type `B`, for code that knows the bed.
    pub fn downcast<B: 'static>(&self) -> Option<&B> {
        self.as_any().downcast_ref::<B>()
    }
}

/// A prepared bed: makes the worlds of its seeds.
pub trait Bed: Sync {
    /// One seed's truth and observations; `stage` reports the set-up's progress.
    fn world(&self, seed: u64, stage: &mut StageProgress<'_>) -> Result<Box<dyn World + '_>, AssimError>;
}

/// One seed of a bed, as the runner sees it: the scenario every filter cycles against, and
/// what the bed adds to each method's cycle.
pub trait World: Scenario {
    /// The scenario of a method that is not a filter (a free run), where it differs: on a
    /// forced model, the free model knows nothing of the truth's forcing.
    fn free_run(&self) -> Option<Box<dyn Scenario + '_>> {
        None
    }
    /// The climate sample the seed was built from (grid states, oldest first; the days before
    /// its truth), the training data of networks; `None` where the bed has none.
    fn climate_sample(&self) -> Option<&[Vec<f64>]> {
        None
    }
    /// Writes the seed's own outputs (the truth, the observations) into `dir`.
    fn write_outputs(&self, run: &RunInfo<'_>, dir: &Path) -> Result<(), AssimError> {
        let _ = (run, dir);
        Ok(())
    }
    /// The observers of the cycle of the method `label` (`filter`: not a free run); `out` is
    /// where files go (first seed only).
    fn observers(
        &self,
        _: &RunInfo<'_>,
        _: &str,
        _: bool,
        _: Option<&Path>,
    ) -> Result<Observers<'_>, AssimError> {
        Ok(Vec::new())
    }
}

/// What output files say of the run they come from.
#[derive(Clone, Copy, Debug)]
pub struct RunInfo<'a> {
    /// The experiment's name.
    pub name: &'a str,
    /// The experiment as run (TOML).
    pub config: &'a str,
}

/// A file-name-safe version of a method label (the name of its analysis store and figures).
pub fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    s.trim_matches('_').to_string()
}

/// The global attributes of a bed's Zarr store of `what` (the truth, or the analyses of the
/// method labelled `method`): CF convention, title, source and the experiment as run.
pub(crate) fn store_attrs(
    run: &RunInfo<'_>,
    what: &str,
    method: Option<&str>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    if let Some(label) = method {
        m.insert("method".into(), label.into());
    }
    m.insert("title".into(), format!("assim {what}: {}", run.name).into());
    m.insert("Conventions".into(), "CF-1.8".into());
    m.insert("source".into(), format!("assim {}", env!("CARGO_PKG_VERSION")).into());
    m.insert("config".into(), run.config.into());
    m
}

/// The observers of one method's cycle on one seed.
pub type Observers<'a> = Vec<Box<dyn Observer + 'a>>;

/// Sees every analysis of one method's cycle on one seed, then adds what it measured to the
/// seed's [`SeedExtras`] (an output file, forecast skill, physical diagnostics).
pub trait Observer {
    /// The analysis mean at `ko` (computed once for all observers).
    fn on_analysis(&mut self, ko: usize, mean: &[f64]) -> Result<(), AssimError>;
    /// After the cycle (`run` may have diverged).
    fn finish(self: Box<Self>, run: &SeedRun, extras: &mut SeedExtras) -> Result<(), AssimError>;
}

/// What observers measured on one seed, beyond the cycle's own scores.
#[derive(Clone, Debug, Default)]
pub struct SeedExtras {
    /// Forecast scores from the analyses: per daily lead, per variable.
    pub forecast: Option<Vec<Vec<VariableScores>>>,
    /// Kinetic-energy spectra and balance, time means.
    pub physics: Option<PhysicsMeans>,
    /// Where the analysis error lies (the multi-level bed), time means.
    pub structure: Option<ErrorStructure>,
}

/// The analysis error's zonal-mean cross-section and spectra, time means over the scored
/// analyses (per field in state order).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ErrorStructure {
    /// Latitudes of the rows (degrees north, north first).
    pub lat: Vec<f64>,
    /// `[field][lat]`: RMSE over longitudes and analyses.
    pub zonal_rmse: Vec<Vec<f64>>,
    /// `[field][n]`: the error's power per total wavenumber `n = 0..=T` (summing to its
    /// global mean square), time mean.
    pub spectra: Vec<Vec<f64>>,
}

/// One seed's time means of the physical diagnostics.
#[derive(Clone, Debug)]
pub struct PhysicsMeans {
    /// Analysis KE spectrum.
    pub ke_a: Vec<f64>,
    /// Truth KE spectrum.
    pub ke_t: Vec<f64>,
    /// Analysis imbalance.
    pub imb_a: f64,
    /// Truth imbalance.
    pub imb_t: f64,
}
