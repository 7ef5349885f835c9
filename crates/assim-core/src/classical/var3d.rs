//! 3D-Var with a static background-error covariance `B = xB · cov(truth)`.

use faer::Mat;

use super::{Assimilator, Estimate, Setup, gain_update, kalman_gain, linear_h};
use crate::AssimError;
use crate::rng::AssimRng;

/// Forecast with the model, analyse with the static gain `B Hᵀ (H B Hᵀ + R)⁻¹`
/// (the exact minimiser of the 3D-Var cost for a linear `H`, as DAPPER's `Var3D`).
pub struct Var3D {
    /// Scale of the climatological covariance used as `B`.
    pub xb: f64,
    gain: Mat<f64>,
    state: Vec<f64>,
}

impl Var3D {
    /// 3D-Var with `B = xb · cov(truth)`.
    pub fn new(xb: f64) -> Self {
        Var3D { xb, gain: Mat::zeros(0, 0), state: Vec::new() }
    }
}

impl Assimilator for Var3D {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        let h = linear_h(setup, "Var3D")?;
        let b = &setup.climatology.cov * faer::Scale(self.xb);
        self.gain = kalman_gain(b.as_ref(), h.as_ref(), setup.obs_var)?;
        self.state = setup.climatology.mean.clone();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        setup.model.advance(&mut self.state, t0, setup.dt, steps);
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
