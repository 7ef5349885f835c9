//! What a data assimilation method is to the rest of assim: an [`Assimilator`] the cycling loop
//! drives, the [`Setup`] it sees at each analysis time (model, observations, X0, climatology,
//! localisation), the [`Estimate`] it is scored by, and the shared ensemble-filter skeleton. The
//! methods themselves are in [`crate::classical`] and the generative engine.

use faer::{Mat, MatRef};

use crate::AssimError;
use crate::dynamics::Model;
use crate::obs::{Localizer, ObsOperator};
use crate::rng::AssimRng;

/// A Gaussian distribution `N(mean, cov)`, e.g. the initial distribution X0.
#[derive(Clone, Debug)]
pub struct Gaussian {
    /// Mean (length `Nx`).
    pub mean: Vec<f64>,
    /// Covariance (`Nx × Nx`).
    pub cov: Mat<f64>,
}

impl Gaussian {
    /// `N(mean, var·I)`.
    pub fn isotropic(mean: Vec<f64>, var: f64) -> Self {
        let n = mean.len();
        Gaussian { mean, cov: Mat::from_fn(n, n, |i, j| if i == j { var } else { 0.0 }) }
    }

    /// `n` independent draws, as the columns of an `Nx × n` matrix.
    pub fn sample(&self, n: usize, rng: &mut AssimRng) -> Result<Mat<f64>, AssimError> {
        let l = crate::linalg::cholesky_lower(self.cov.as_ref())?;
        let nx = self.mean.len();
        let mut z = Mat::<f64>::zeros(nx, n);
        for j in 0..n {
            for i in 0..nx {
                z[(i, j)] = crate::rng::normal(rng);
            }
        }
        let mut e = &l * &z;
        for j in 0..n {
            for i in 0..nx {
                e[(i, j)] += self.mean[i];
            }
        }
        Ok(e)
    }
}

/// A distribution of states that methods draw from or read statistics of: the initial
/// distribution X0 and the climatology. A [`Gaussian`] on the Lorenz beds; a sample of
/// climate states (with variance spectra) on the sphere, where no dense covariance fits.
pub trait StateDistribution: Send + Sync {
    /// The mean (length `Nx`).
    fn mean(&self) -> &[f64];
    /// The variance of every state component (length `Nx`).
    fn variance(&self) -> Vec<f64>;
    /// `n` independent draws, as the columns of an `Nx × n` matrix.
    fn sample(&self, n: usize, rng: &mut AssimRng) -> Result<Mat<f64>, AssimError>;
    /// The dense covariance (`Nx × Nx`), where the state is small enough to have one.
    fn covariance(&self) -> Option<&Mat<f64>>;
    /// Homogeneous, isotropic variance spectra per variable, on the sphere.
    fn spectra(&self) -> Option<&crate::spectral::VarianceSpectra> {
        None
    }
}

impl StateDistribution for Gaussian {
    fn mean(&self) -> &[f64] {
        &self.mean
    }
    fn variance(&self) -> Vec<f64> {
        (0..self.mean.len()).map(|i| self.cov[(i, i)]).collect()
    }
    fn sample(&self, n: usize, rng: &mut AssimRng) -> Result<Mat<f64>, AssimError> {
        Gaussian::sample(self, n, rng)
    }
    fn covariance(&self) -> Option<&Mat<f64>> {
        Some(&self.cov)
    }
}

/// Everything a method may know about the experiment at one analysis time: the twin set-up
/// of DAPPER's `HMM` (on the sphere the observing network changes from window to window).
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    /// The forecast model (the same as the truth's: a perfect-model twin experiment).
    pub model: &'a dyn Model,
    /// Model time step.
    pub dt: f64,
    /// The observation operator `H`.
    pub obs: &'a dyn ObsOperator,
    /// Observation-error variances (diagonal of `R`, length `P`, all > 0).
    pub obs_var: &'a [f64],
    /// The initial distribution X0 that truth and ensembles are drawn from.
    pub x0: &'a dyn StateDistribution,
    /// Statistics of the truth's climate (Climatology, OptInterp and Var3D use them): on the
    /// Lorenz beds the truth trajectory's mean and covariance, as in DAPPER.
    pub climatology: &'a dyn StateDistribution,
    /// Localisation geometry, for local methods.
    pub localizer: Option<&'a dyn Localizer>,
}

/// The current estimate of a method, as the statistics see it.
pub enum Estimate<'a> {
    /// An ensemble (`Nx × N`, columns are members), with optional importance weights.
    Ensemble {
        /// The members.
        members: MatRef<'a, f64>,
        /// Normalised weights (particle filters); `None` means equal weights.
        weights: Option<&'a [f64]>,
    },
    /// A single state with, optionally, the variance it claims (for a spread).
    State {
        /// The estimate (length `Nx`).
        mean: &'a [f64],
        /// Claimed error variances (length `Nx`), if the method has them.
        var: Option<&'a [f64]>,
    },
}

impl Estimate<'_> {
    /// The estimate's mean state: the state, or the ensemble's mean (weighted by a particle
    /// filter's importance weights where it has them, as the scores weigh it).
    pub fn mean(&self) -> Vec<f64> {
        match *self {
            Estimate::State { mean, .. } => mean.to_vec(),
            Estimate::Ensemble { members, weights: Some(w) } => (0..members.nrows())
                .map(|i| (0..members.ncols()).map(|j| w[j] * members[(i, j)]).sum())
                .collect(),
            Estimate::Ensemble { members, weights: None } => {
                let n = members.ncols() as f64;
                (0..members.nrows())
                    .map(|i| (0..members.ncols()).map(|j| members[(i, j)]).sum::<f64>() / n)
                    .collect()
            }
        }
    }
}

/// One data assimilation method: cycled by [`crate::experiment::cycle`], which knows nothing
/// else about it.
pub trait Assimilator: Send {
    /// Draws or sets the initial estimate.
    fn initialise(&mut self, setup: &Setup<'_>, rng: &mut AssimRng) -> Result<(), AssimError>;

    /// Advances the estimate by `steps` model steps starting at time `t0`.
    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError>;

    /// Updates the estimate with the observations `y` (length `P`) valid at time `t`.
    fn analyse(&mut self, setup: &Setup<'_>, y: &[f64], t: f64, rng: &mut AssimRng)
    -> Result<(), AssimError>;

    /// The current estimate.
    fn estimate(&self) -> Estimate<'_>;

    /// Method-specific statistics of the run so far (e.g. 3D-Var's mean CG iterations), for
    /// `metrics.json`; none by default.
    fn diagnostics(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// An ensemble Kalman-type filter: members drawn from X0, forecast member by member, scored
/// with equal weights; only the analysis differs between EnKF flavours and the LETKF.
/// Every `EnsembleFilter` is an [`Assimilator`].
pub trait EnsembleFilter: Send {
    /// Ensemble size `N`.
    fn size(&self) -> usize;
    /// The members (`Nx × N`, columns).
    fn members(&self) -> &Mat<f64>;
    /// The members, for the shared initialisation and forecast.
    fn members_mut(&mut self) -> &mut Mat<f64>;
    /// Checks the set-up before any member is drawn (default: nothing to check).
    fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), AssimError> {
        let _ = setup;
        Ok(())
    }
    /// Replaces the forecast members by the analysis members, given the observations `y`.
    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError>;
}

impl<F: EnsembleFilter> Assimilator for F {
    fn initialise(&mut self, setup: &Setup<'_>, rng: &mut AssimRng) -> Result<(), AssimError> {
        self.prepare(setup)?;
        *self.members_mut() = setup.x0.sample(self.size(), rng)?;
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        crate::distributed::advance_ensemble(setup.model, self.members_mut(), t0, setup.dt, steps);
        Ok(())
    }

    fn analyse(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        _t: f64,
        rng: &mut AssimRng,
    ) -> Result<(), AssimError> {
        self.update(setup, y, rng)
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::Ensemble { members: self.members().as_ref(), weights: None }
    }
}

/// Whether one weight carries (almost) all the mass, so that weighted covariances collapse
/// (DAPPER's `weight_degeneracy`: `1 − max w < 1e-10`).
pub fn weights_degenerate(w: &[f64]) -> bool {
    1.0 - w.iter().cloned().fold(0.0, f64::max) < 1e-10
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A particle filter's mean is its weighted mean, as its scores have it.
    #[test]
    fn an_ensemble_mean_honours_importance_weights() {
        let members = Mat::from_fn(2, 3, |i, j| (i * 10 + j) as f64);
        let w = [0.5, 0.25, 0.25];
        let weighted = Estimate::Ensemble { members: members.as_ref(), weights: Some(&w) }.mean();
        assert_eq!(weighted, vec![0.75, 10.75]);
        let plain = Estimate::Ensemble { members: members.as_ref(), weights: None }.mean();
        assert_eq!(plain, vec![1.0, 11.0]);
        let scored = crate::metrics::score(
            &Estimate::Ensemble { members: members.as_ref(), weights: Some(&w) },
            &weighted,
            false,
        );
        assert!(scored.rmse.abs() < 1e-15, "the scores and the mean agree");
    }
}
