//! Static-gain analyses: optimal interpolation and 3D-Var with a climatological `B`.

use faer::Mat;

use super::{Assimilator, Estimate, Setup, gain_update, kalman_gain, linear_h};
use crate::AssimError;
use crate::rng::AssimRng;

/// Where the background of a static-gain analysis comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// The climatological mean, whatever the forecast says (DAPPER's `OptInterp`).
    Climatology,
    /// The model forecast from the previous analysis (DAPPER's `Var3D`).
    Forecast,
}

/// `x_a = x_b + K (y − H x_b)` with the fixed gain `K = B Hᵀ (H B Hᵀ + R)⁻¹`,
/// `B = xb · cov(truth)`: for a linear `H`, the exact minimiser of the 3D-Var cost.
pub struct StaticGain {
    /// Scale of the climatological covariance used as `B`.
    pub xb: f64,
    /// The background the gain is applied to.
    pub background: Background,
    gain: Mat<f64>,
    state: Vec<f64>,
}

impl StaticGain {
    /// Optimal interpolation: climatological gain on the climatological mean.
    pub fn opt_interp() -> Self {
        Self::new(1.0, Background::Climatology)
    }

    /// 3D-Var with `B = xb · cov(truth)`, cycled on the model forecast.
    pub fn var3d(xb: f64) -> Self {
        Self::new(xb, Background::Forecast)
    }

    fn new(xb: f64, background: Background) -> Self {
        StaticGain { xb, background, gain: Mat::zeros(0, 0), state: Vec::new() }
    }
}

impl Assimilator for StaticGain {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        let h = linear_h(setup, "a static-gain analysis (OptInterp, Var3D)")?;
        let cov = setup.climatology.covariance().ok_or_else(|| {
            AssimError::Input("a static-gain analysis needs the dense climatological covariance".into())
        })?;
        let b = cov * faer::Scale(self.xb);
        self.gain = kalman_gain(b.as_ref(), h.as_ref(), setup.obs_var)?;
        self.state = setup.climatology.mean().to_vec();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        match self.background {
            Background::Climatology => self.state.copy_from_slice(setup.climatology.mean()),
            Background::Forecast => setup.model.advance(&mut self.state, t0, setup.dt, steps),
        }
        Ok(())
    }

    fn analyse(&mut self, setup: &Setup<'_>, y: &[f64], _t: f64, _: &mut AssimRng) -> Result<(), AssimError> {
        gain_update(setup, self.gain.as_ref(), &mut self.state, y);
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.state, var: None }
    }
}
