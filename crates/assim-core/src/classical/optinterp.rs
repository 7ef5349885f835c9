//! Optimal interpolation: the climatological Kalman gain applied to the climatological mean.

use faer::Mat;

use super::{Assimilator, Estimate, Setup, gain_update, kalman_gain, linear_h};
use crate::AssimError;
use crate::rng::AssimRng;

/// `x_a = μ_C + K_C (y − H μ_C)`: ignores the forecast (DAPPER's `OptInterp`).
pub struct OptInterp {
    gain: Mat<f64>,
    state: Vec<f64>,
}

impl Default for OptInterp {
    fn default() -> Self {
        OptInterp { gain: Mat::zeros(0, 0), state: Vec::new() }
    }
}

impl Assimilator for OptInterp {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        let h = linear_h(setup, "OptInterp")?;
        self.gain = kalman_gain(setup.climatology.cov.as_ref(), h.as_ref(), setup.obs_var)?;
        self.state = setup.climatology.mean.clone();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, _t0: f64, _steps: usize) -> Result<(), AssimError> {
        // The forecast is not used: the background is always the climatological mean.
        self.state.copy_from_slice(&setup.climatology.mean);
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
