//! The Lorenz twin (Lorenz-63, Lorenz-96): a truth run from `X0 = N(mean, var·I)` and noisy
//! observations of chosen state variables through a pointwise operator, as in DAPPER. Its
//! keys are `[model]` (`kind = "lorenz96"` or `"lorenz63"`), `[x0]` and `[observations]`.

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Need;
use super::{Bed, BedConfig, Covariance, FileContext, StageProgress, World, section};
use crate::AssimError;
use crate::assimilator::{Estimate, Gaussian, Setup};
use crate::dynamics::{Lorenz63, Lorenz96, Model};
use crate::experiment::{Chronology, Scenario};
use crate::metrics::{Scores, VariableScores};
use crate::obs::{
    ArcTan, ElementFn, Localizer, ObsOperator, PartialIdentity, PeriodicLine, Pointwise, Square,
};
use crate::rng::{AssimRng, normal, stream};

/// `[model]` of a Lorenz twin.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LorenzModel {
    /// Lorenz-96 on a ring.
    Lorenz96(Lorenz96),
    /// Lorenz-63.
    Lorenz63(Lorenz63),
}

/// `[x0]`: `X0 = N(mean, var·I)`.
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

/// `[observations]`: which variables are observed, how, and how accurately.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObsConfig {
    /// `"all"` or a list of 0-based state indices.
    pub indices: IndexSpec,
    /// Observation-error standard deviation (> 0); `R = sigma²·I`.
    pub sigma: f64,
    /// The function observed at each index (default `"identity"`).
    #[serde(default)]
    pub operator: ObsKind,
}

/// The pointwise observation operators `y = h(x_i)` a Lorenz twin offers: one line each.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ObsKind {
    /// `y = x_i`: linear.
    #[default]
    Identity,
    /// `y = arctan(x_i)`: nonlinear and saturating ([`ArcTan`]).
    Arctan,
    /// `y = x_i²`: nonlinear and non-invertible ([`Square`]).
    Square,
}

impl ObsKind {
    /// The function `h`; `None` for the identity.
    pub fn function(self) -> Option<Arc<dyn ElementFn>> {
        match self {
            ObsKind::Identity => None,
            ObsKind::Arctan => Some(Arc::new(ArcTan)),
            ObsKind::Square => Some(Arc::new(Square)),
        }
    }

    /// The operator observing `sites` through this function.
    pub fn operator(self, sites: PartialIdentity) -> Box<dyn ObsOperator> {
        match self.function() {
            None => Box::new(sites),
            Some(h) => Box::new(Pointwise { sites, h }),
        }
    }
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

/// A Lorenz twin as the experiment file gives it.
#[derive(Clone, Debug)]
pub struct LorenzConfig {
    /// The model.
    pub model: LorenzModel,
    /// The initial distribution of truth and ensembles.
    pub x0: X0Config,
    /// The observing system.
    pub observations: ObsConfig,
}

/// Reads a Lorenz twin: `[model]`, `[x0]` and `[observations]`.
pub fn read(
    model: toml::Value,
    sections: &mut toml::Table,
    ctx: &FileContext<'_>,
) -> Result<Arc<dyn BedConfig>, AssimError> {
    let model: LorenzModel = section(model, "model", ctx)?;
    let mut take = |key: &str, what: &str| {
        sections.remove(key).ok_or_else(|| ctx.error(key, format!("missing: give {what} [{key}]")))
    };
    let x0 = section(take("x0", "the initial distribution")?, "x0", ctx)?;
    let observations = section(take("observations", "the observed variables")?, "observations", ctx)?;
    Ok(Arc::new(LorenzConfig { model, x0, observations }))
}

impl LorenzConfig {
    /// The dynamical model.
    pub fn dynamics(&self) -> Box<dyn Model> {
        match &self.model {
            LorenzModel::Lorenz96(m) => Box::new(m.clone()),
            LorenzModel::Lorenz63(m) => Box::new(m.clone()),
        }
    }

    /// The observed indices, checked against the state dimension.
    pub fn obs_indices(&self) -> Result<Vec<usize>, String> {
        let nx = self.nx();
        match &self.observations.indices {
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
                PartialIdentity::new(nx, out.clone()).map_err(|e| e.to_string())?;
                Ok(out)
            }
        }
    }

    /// The X0 mean vector.
    pub fn x0_mean(&self) -> Vec<f64> {
        match &self.x0.mean {
            MeanSpec::Values(v) => v.clone(),
            MeanSpec::Named(n) => {
                let mut v = vec![0.0; self.nx()];
                if n == "e0" {
                    v[0] = 1.0;
                }
                v
            }
        }
    }
}

impl BedConfig for LorenzConfig {
    fn name(&self) -> String {
        match self.model {
            LorenzModel::Lorenz96(_) => "Lorenz-96".into(),
            LorenzModel::Lorenz63(_) => "Lorenz-63".into(),
        }
    }

    fn model(&self) -> serde_json::Value {
        serde_json::to_value(&self.model).unwrap_or_default()
    }

    fn nx(&self) -> usize {
        match &self.model {
            LorenzModel::Lorenz96(m) => m.nx,
            LorenzModel::Lorenz63(_) => 3,
        }
    }

    fn lacks(&self, need: Need) -> Option<String> {
        let op = self.observations.operator;
        match need {
            Need::LinearObs | Need::TangentLinear | Need::StateObs if op != ObsKind::Identity => {
                Some(format!(
                    "observations.operator = {:?} is nonlinear (use \"identity\")",
                    op.function().map_or("identity", |h| h.name())
                ))
            }
            Need::Localisation | Need::Grid if matches!(self.model, LorenzModel::Lorenz63(_)) => {
                Some("Lorenz-63 has no spatial structure (use lorenz96)".into())
            }
            _ => None,
        }
    }

    fn covariance(&self) -> Covariance {
        Covariance::Dense
    }

    fn validate(&self, _chrono: &Chronology, ctx: &FileContext<'_>) -> Result<(), AssimError> {
        let model = match &self.model {
            LorenzModel::Lorenz96(m) => m.validate(),
            LorenzModel::Lorenz63(m) => m.validate(),
        };
        model.map_err(|(k, m)| ctx.error(&format!("model.{k}"), m))?;
        let nx = self.nx();
        match &self.x0.mean {
            MeanSpec::Named(n) if n == "e0" || n == "zero" => {}
            MeanSpec::Named(n) => {
                return Err(
                    ctx.error("x0.mean", format!("unknown name {n:?}: use \"e0\", \"zero\" or a list"))
                );
            }
            MeanSpec::Values(v) if v.len() != nx => {
                return Err(
                    ctx.error("x0.mean", format!("has {} values but the model has {nx} variables", v.len()))
                );
            }
            MeanSpec::Values(v) if v.iter().any(|x| !x.is_finite()) => {
                return Err(ctx.error("x0.mean", "values must be finite"));
            }
            _ => {}
        }
        if !(self.x0.var.is_finite() && self.x0.var > 0.0) {
            return Err(ctx.error("x0.var", format!("must be a positive variance (got {})", self.x0.var)));
        }
        let sigma = self.observations.sigma;
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(ctx.error(
                "observations.sigma",
                format!("observation-error std must be positive (got {sigma})"),
            ));
        }
        self.obs_indices().map_err(|m| ctx.error("observations.indices", m))?;
        Ok(())
    }

    fn truth_numbers(&self, chrono: &Chronology) -> f64 {
        (chrono.k() + 1) as f64 * self.nx() as f64
    }

    fn write(&self, table: &mut toml::Table) {
        for (k, v) in [
            ("model", toml::Value::try_from(&self.model)),
            ("x0", toml::Value::try_from(&self.x0)),
            ("observations", toml::Value::try_from(&self.observations)),
        ] {
            if let Ok(v) = v {
                table.insert(k.into(), v);
            }
        }
    }

    fn prepare<'a>(&'a self, chrono: Chronology, _base_dir: &Path) -> Result<Box<dyn Bed + 'a>, AssimError> {
        Ok(Box::new(TwinSetup::new(self, chrono)?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The seed-independent parts of a Lorenz twin: model, observing system, X0.
pub struct TwinSetup {
    /// The model.
    pub model: Box<dyn Model>,
    /// The observation operator.
    pub obs: Box<dyn ObsOperator>,
    /// Observation-error variances (length `P`).
    pub obs_var: Vec<f64>,
    /// The initial distribution.
    pub x0: Gaussian,
    /// Localisation geometry (for LETKF), where the model has one.
    pub localizer: Option<Box<dyn Localizer>>,
    /// The chronology.
    pub chrono: Chronology,
}

impl TwinSetup {
    /// Builds the set-up of a validated Lorenz twin.
    pub fn new(cfg: &LorenzConfig, chrono: Chronology) -> Result<Self, AssimError> {
        let nx = cfg.nx();
        let indices = cfg.obs_indices().map_err(AssimError::Input)?;
        let obs = cfg.observations.operator.operator(PartialIdentity::new(nx, indices.clone())?);
        let localizer: Option<Box<dyn Localizer>> = match cfg.model {
            LorenzModel::Lorenz96(_) => Some(Box::new(PeriodicLine::new(nx, indices, 2))),
            LorenzModel::Lorenz63(_) => None,
        };
        let var = cfg.observations.sigma.powi(2);
        Ok(TwinSetup {
            model: cfg.dynamics(),
            obs_var: vec![var; obs.n_obs()],
            obs,
            x0: Gaussian::isotropic(cfg.x0_mean(), cfg.x0.var),
            localizer,
            chrono,
        })
    }

    /// Simulates the truth and observations for one seed.
    pub fn simulate(&self, seed: u64) -> Result<Twin, AssimError> {
        let c = &self.chrono;
        let mut rng = stream(seed, "truth");
        let x = self.x0.sample(1, &mut rng)?;
        let mut state: Vec<f64> = (0..x.nrows()).map(|i| x[(i, 0)]).collect();
        let mut truth = Vec::with_capacity(c.k() + 1);
        truth.push(state.clone());
        for k in 1..=c.k() {
            self.model.step(&mut state, (k - 1) as f64 * c.dt, c.dt);
            if state.iter().any(|v| !v.is_finite()) {
                return Err(AssimError::Numerical(format!("truth run became non-finite at step {k}")));
            }
            truth.push(state.clone());
        }
        let mut orng = stream(seed, "observations");
        let obs = (0..c.n_obs_times()).map(|ko| self.observe(&truth[c.obs_step(ko)], &mut orng)).collect();
        let (mean, cov) = crate::linalg::sample_cov(&truth);
        let clim_spread = ((0..mean.len()).map(|i| cov[(i, i)]).sum::<f64>() / mean.len() as f64).sqrt();
        Ok(Twin { truth, obs, climatology: Gaussian { mean, cov }, clim_spread })
    }

    fn observe(&self, x: &[f64], rng: &mut AssimRng) -> Vec<f64> {
        let mut y = vec![0.0; self.obs.n_obs()];
        self.obs.apply(x, &mut y);
        for (yp, v) in y.iter_mut().zip(&self.obs_var) {
            *yp += v.sqrt() * normal(rng);
        }
        y
    }

    /// The method-facing view of this set-up for one twin.
    pub fn setup<'a>(&'a self, twin: &'a Twin) -> Setup<'a> {
        Setup {
            model: self.model.as_ref(),
            dt: self.chrono.dt,
            obs: self.obs.as_ref(),
            obs_var: &self.obs_var,
            x0: &self.x0,
            climatology: &twin.climatology,
            localizer: self.localizer.as_deref(),
        }
    }
}

impl Bed for TwinSetup {
    fn world(&self, seed: u64, _stage: &mut StageProgress<'_>) -> Result<Box<dyn World + '_>, AssimError> {
        Ok(Box::new(LorenzWorld { setup: self, twin: self.simulate(seed)? }))
    }
}

/// One seed's truth and observations.
pub struct Twin {
    /// Truth at every model step `k = 0..=K` (each length `Nx`).
    pub truth: Vec<Vec<f64>>,
    /// Observations at each observation time `ko` (each length `P`).
    pub obs: Vec<Vec<f64>>,
    /// Mean and covariance of the truth trajectory.
    pub climatology: Gaussian,
    /// `sqrt(mean diag cov(truth))`: the RMSE of the climatological mean, the divergence bar.
    pub clim_spread: f64,
}

/// One seed of a Lorenz twin: one fixed set-up, unweighted scores. A free run sees the same
/// world (the Lorenz models have no forcing to know or miss).
pub struct LorenzWorld<'a> {
    /// The seed-independent set-up.
    pub setup: &'a TwinSetup,
    /// The truth and observations.
    pub twin: Twin,
}

impl Scenario for LorenzWorld<'_> {
    fn setup(&self, _ko: usize) -> Setup<'_> {
        self.setup.setup(&self.twin)
    }
    fn truth(&self, ko: usize) -> &[f64] {
        &self.twin.truth[self.setup.chrono.obs_step(ko)]
    }
    fn observations(&self, ko: usize) -> &[f64] {
        &self.twin.obs[ko]
    }
    fn clim_spread(&self) -> f64 {
        self.twin.clim_spread
    }
    fn score(&self, est: &Estimate<'_>, ko: usize, with_crps: bool) -> (Scores, Vec<VariableScores>) {
        (crate::metrics::score(est, self.truth(ko), with_crps), Vec::new())
    }
}

impl World for LorenzWorld<'_> {}
