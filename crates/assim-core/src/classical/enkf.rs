//! The global ensemble Kalman filter in its three classic forms.

use faer::Mat;

use super::ensemble::{local_etkf, normalised_obs_anomalies, post_process};
use super::{EnsembleFilter, Setup};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::linalg::{centre, spd_solve};
use crate::rng::{AssimRng, normal};

/// Which analysis update the EnKF uses (`upd_a`, DAPPER's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum EnKFUpdate {
    /// Symmetric square-root ETKF (deterministic, mean-preserving).
    Sqrt,
    /// Stochastic EnKF with perturbed observations (Burgers et al. 1998), perturbations
    /// drawn from `R` and centred.
    PertObs,
    /// Deterministic EnKF of Sakov & Oke (2008): half the gain on the anomalies.
    DEnKF,
}

/// An EnKF with `n` members, anomaly inflation `infl` and optional random rotation.
pub struct EnKF {
    /// Analysis update form.
    pub update: EnKFUpdate,
    /// Ensemble size `N`.
    pub n: usize,
    /// Factor on the analysis anomalies (1 = none).
    pub infl: f64,
    /// Random mean-preserving rotation of the anomalies after each analysis.
    pub rot: bool,
    e: Mat<f64>,
}

impl EnKF {
    /// An EnKF of the given form and size.
    pub fn new(update: EnKFUpdate, n: usize, infl: f64, rot: bool) -> Self {
        EnKF { update, n, infl, rot, e: Mat::zeros(0, 0) }
    }
}

impl EnsembleFilter for EnKF {
    ensemble_accessors!(n, e);

    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let he = crate::distributed::observe_ensemble(setup.obs, self.e.as_ref());
        let (a, mu) = centre(self.e.as_ref());
        let n1 = self.n as f64 - 1.0;
        match self.update {
            EnKFUpdate::Sqrt => {
                let (yr, dy) = normalised_obs_anomalies(he.as_ref(), y, setup.obs_var);
                self.e = local_etkf(a.as_ref(), &mu, yr.as_ref(), &dy)?;
            }
            EnKFUpdate::PertObs | EnKFUpdate::DEnKF => {
                let (yo, ybar) = centre(he.as_ref());
                // C = Y Yᵀ + (N−1) R  (P × P);  K = A Yᵀ C⁻¹  (Nx × P)
                let mut c = &yo * yo.transpose();
                for (p, v) in setup.obs_var.iter().enumerate() {
                    c[(p, p)] += n1 * v;
                }
                let kt = spd_solve(c.as_ref(), (&yo * a.transpose()).as_ref())?;
                let k = kt.transpose();
                let p = y.len();
                if self.update == EnKFUpdate::PertObs {
                    let mut d = Mat::<f64>::zeros(p, self.n);
                    for j in 0..self.n {
                        for i in 0..p {
                            d[(i, j)] = setup.obs_var[i].sqrt() * normal(rng);
                        }
                    }
                    let (d, _) = centre(d.as_ref());
                    let innov = Mat::from_fn(p, self.n, |i, j| y[i] - d[(i, j)] - he[(i, j)]);
                    self.e += k * innov;
                } else {
                    let innov = Mat::from_fn(p, self.n, |i, j| y[i] - ybar[i] - 0.5 * yo[(i, j)]);
                    self.e += k * innov;
                }
            }
        }
        post_process(&mut self.e, self.infl, self.rot, rng);
        Ok(())
    }
}

/// `method = "EnKF"`: the global EnKF.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnKFConfig {
    /// `"Sqrt"`, `"PertObs"` or `"DEnKF"`.
    pub upd_a: EnKFUpdate,
    /// Ensemble size.
    pub n: usize,
    /// Anomaly inflation factor.
    #[serde(default = "defaults::one")]
    pub infl: f64,
    /// Random rotation.
    #[serde(default)]
    pub rot: bool,
}

impl Method for EnKFConfig {
    const NAME: &'static str = "EnKF";
    fn auto_label(&self) -> String {
        super::with_infl_rot(format!("EnKF {:?} N={}", self.upd_a, self.n), self.infl, self.rot)
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.ensemble_size("n", self.n)?;
        check.inflation("infl", self.infl)
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(EnKF::new(self.upd_a, self.n, self.infl, self.rot)))
    }
}
