//! The twin experiment: a truth run from X0 and noisy observations of it.

use super::{Chronology, Experiment, ModelConfig, ObsKind};
use crate::AssimError;
use crate::classical::{Gaussian, Setup};
use crate::dynamics::{Lorenz63, Lorenz96, Model};
use crate::obs::{Arctan, Localizer, ObsOperator, PartialIdentity, PeriodicLine};
use crate::rng::{AssimRng, normal, stream};

/// The seed-independent parts of an experiment: model, observing system, X0.
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
    /// Builds the set-up of a validated experiment.
    pub fn new(exp: &Experiment) -> Result<Self, AssimError> {
        let nx = exp.nx();
        let indices = exp.obs_indices().map_err(AssimError::Input)?;
        let sites = PartialIdentity::new(nx, indices.clone())?;
        let obs: Box<dyn ObsOperator> = match exp.obs().operator {
            ObsKind::Identity => Box::new(sites),
            ObsKind::Arctan => Box::new(Arctan { sites }),
        };
        let (model, localizer): (Box<dyn Model>, Option<Box<dyn Localizer>>) = match exp.model {
            ModelConfig::ShallowWater { .. } => {
                return Err(AssimError::Input("the Lorenz twin does not run the shallow-water model".into()));
            }
            ModelConfig::Lorenz96 { nx, forcing } => (
                Box::new(Lorenz96 { nx, forcing }),
                Some(Box::new(PeriodicLine::new(nx, indices.clone(), 2))),
            ),
            ModelConfig::Lorenz63 { sigma, rho, beta } => (Box::new(Lorenz63 { sigma, rho, beta }), None),
        };
        let var = exp.obs().sigma.powi(2);
        Ok(TwinSetup {
            model,
            obs_var: vec![var; obs.n_obs()],
            obs,
            x0: Gaussian::isotropic(exp.x0_mean(), exp.x0().var),
            localizer,
            chrono: exp.chronology(),
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

/// A Lorenz twin as the cycling loop sees it: one fixed set-up, unweighted scores.
pub struct LorenzScenario<'a> {
    /// The set-up for this twin.
    pub setup: Setup<'a>,
    /// The truth and observations.
    pub twin: &'a Twin,
    /// The chronology (truth is kept at every model step).
    pub chrono: Chronology,
}

impl super::Scenario for LorenzScenario<'_> {
    fn setup(&self, _ko: usize) -> Setup<'_> {
        self.setup
    }
    fn truth(&self, ko: usize) -> &[f64] {
        &self.twin.truth[self.chrono.obs_step(ko)]
    }
    fn observations(&self, ko: usize) -> &[f64] {
        &self.twin.obs[ko]
    }
    fn clim_spread(&self) -> f64 {
        self.twin.clim_spread
    }
    fn score(
        &self,
        est: &crate::classical::Estimate<'_>,
        ko: usize,
        with_crps: bool,
    ) -> (crate::metrics::Scores, Vec<crate::metrics::VariableScores>) {
        (crate::metrics::score(est, self.truth(ko), with_crps), Vec::new())
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
