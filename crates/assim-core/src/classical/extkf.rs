//! The extended Kalman filter: covariance propagated by the tangent-linear model.

use faer::Mat;

use super::{Assimilator, Estimate, Setup, kalman_gain, linear_h};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::rng::AssimRng;

/// EKF with multiplicative covariance inflation `infl^dt` per model step (DAPPER's `ExtKF`,
/// whose Jacobian is the "approx" resolvent `I + dt·J` evaluated at the forecast state).
/// With a linear model and `infl = 1` it is the exact Kalman filter.
pub struct ExtKF {
    /// Covariance inflation per unit model time.
    pub infl: f64,
    mean: Vec<f64>,
    cov: Mat<f64>,
    var: Vec<f64>,
}

impl ExtKF {
    /// An EKF with inflation `infl` (1 = none).
    pub fn new(infl: f64) -> Self {
        ExtKF { infl, mean: Vec::new(), cov: Mat::zeros(0, 0), var: Vec::new() }
    }

    fn refresh_var(&mut self) {
        self.var = (0..self.mean.len()).map(|i| self.cov[(i, i)]).collect();
    }
}

impl Assimilator for ExtKF {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        self.mean = setup.x0.mean().to_vec();
        self.cov = setup
            .x0
            .covariance()
            .ok_or_else(|| AssimError::Input("ExtKF needs a dense initial covariance".into()))?
            .clone();
        self.refresh_var();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        let infl = self.infl.powf(setup.dt);
        for k in 0..steps {
            let t = t0 + k as f64 * setup.dt;
            setup.model.step(&mut self.mean, t, setup.dt);
            // DAPPER linearises at the state after the step.
            let f = setup
                .model
                .step_jacobian(&self.mean, t, setup.dt)
                .ok_or_else(|| AssimError::Input("ExtKF needs a model with a Jacobian".into()))?;
            self.cov = (&f * &self.cov * f.transpose()) * faer::Scale(infl);
        }
        self.refresh_var();
        Ok(())
    }

    fn analyse(&mut self, setup: &Setup<'_>, y: &[f64], _t: f64, _: &mut AssimRng) -> Result<(), AssimError> {
        let h = linear_h(setup, "ExtKF")?;
        let k = kalman_gain(self.cov.as_ref(), h.as_ref(), setup.obs_var)?;
        super::gain_update(setup, k.as_ref(), &mut self.mean, y);
        let nx = self.mean.len();
        let kh = &k * &h;
        let i_kh = Mat::from_fn(nx, nx, |i, j| if i == j { 1.0 } else { 0.0 } - kh[(i, j)]);
        self.cov = &i_kh * &self.cov;
        // Keep P symmetric against rounding.
        self.cov = Mat::from_fn(nx, nx, |i, j| 0.5 * (self.cov[(i, j)] + self.cov[(j, i)]));
        self.refresh_var();
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.mean, var: Some(&self.var) }
    }
}

/// `method = "ExtKF"`.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExtKFConfig {
    /// Covariance inflation per unit time.
    #[serde(default = "defaults::one")]
    pub infl: f64,
}

impl Method for ExtKFConfig {
    const NAME: &'static str = "ExtKF";
    fn auto_label(&self) -> String {
        format!("ExtKF infl={}", self.infl)
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState, Need::LinearObs]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.inflation("infl", self.infl)
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(ExtKF::new(self.infl)))
    }
}
