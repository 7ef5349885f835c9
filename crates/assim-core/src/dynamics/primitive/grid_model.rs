//! The primitive-equation model as a [`Model`] on grid states, for cycling: the state is
//! `(T, u, v)` on the σ levels and `p_s` on the Gaussian grid, laid out as
//! [`ColumnLayout`] (`(variable, level, lat, lon)`, SI units). Each forecast restarts the
//! leapfrog with one forward step, as a forecast from an analysis does; the truth is made by the
//! same calls, so a forecast from the true state reproduces the truth.

use std::sync::Arc;

use super::{PeState, PrimitiveDry};
use crate::AssimError;
use crate::dynamics::Model;
use crate::obs::column::ColumnLayout;

/// A grid-state view of a [`PrimitiveDry`] model.
pub struct PeGridModel {
    model: Arc<PrimitiveDry>,
}

impl PeGridModel {
    /// The grid view of `model`.
    pub fn new(model: Arc<PrimitiveDry>) -> Self {
        Self { model }
    }

    /// The spectral model.
    pub fn model(&self) -> &PrimitiveDry {
        &self.model
    }

    /// The layout of the grid state.
    pub fn layout(&self) -> ColumnLayout {
        ColumnLayout { nlev: self.model.nlev(), npts: self.model.grid().len() }
    }

    /// The spectral state of a grid state (its projection on the truncation).
    pub fn state_of(&self, x: &[f64]) -> Result<PeState, AssimError> {
        let lay = self.layout();
        if x.len() != lay.nx() {
            return Err(AssimError::Input(format!(
                "a state of {} numbers does not match {} levels of {} points ({} numbers)",
                x.len(),
                lay.nlev,
                lay.npts,
                lay.nx()
            )));
        }
        let f = lay.nlev * lay.npts;
        self.model.state_from_grid(&x[f..2 * f], &x[2 * f..3 * f], &x[..f], &x[3 * f..])
    }

    /// The grid state of a spectral state.
    pub fn grid_state(&self, s: &PeState) -> Vec<f64> {
        let g = self.model.grid_fields(s);
        let mut x = g.temp;
        x.extend(g.u);
        x.extend(g.v);
        x.extend(g.ps);
        x
    }

    /// Advances a grid state by `steps` model steps; `false` (and the state set to NaN) when
    /// the state was not valid or the run blew up.
    pub fn forecast(&self, x: &mut [f64], steps: u64) -> bool {
        let Ok(mut integ) = self.state_of(x).and_then(|s| self.model.start(s)) else {
            x.fill(f64::NAN);
            return false;
        };
        self.model.run(&mut integ, steps);
        if !integ.is_finite() {
            x.fill(f64::NAN);
            return false;
        }
        x.copy_from_slice(&self.grid_state(integ.state()));
        true
    }
}

impl Model for PeGridModel {
    fn dim(&self) -> usize {
        self.layout().nx()
    }

    fn step(&self, x: &mut [f64], _t: f64, _dt: f64) {
        self.forecast(x, 1);
    }

    fn advance(&self, x: &mut [f64], _t0: f64, _dt: f64, steps: usize) {
        self.forecast(x, steps as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamics::primitive::{PeInitial, PeOrography, PeParams};

    /// A grid state of the model's truncation survives the round trip through spectral space,
    /// and a forecast on the grid equals the spectral run it wraps (to the round trip's
    /// rounding, grown over one JW06 day: < 1e-8 K).
    #[test]
    fn grid_forecast_matches_the_spectral_run() {
        let p = PeParams::earth(21, 8, 1800.0).unwrap();
        let m = Arc::new(PrimitiveDry::new(p, PeOrography::JablonowskiWilliamson, None).unwrap());
        let s0 = m.initial_state(&PeInitial::JablonowskiWilliamson { perturbation: true }).unwrap();
        let gm = PeGridModel::new(m.clone());
        let x0 = gm.grid_state(&s0);
        let back = gm.grid_state(&gm.state_of(&x0).unwrap());
        let err = x0.iter().zip(&back).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0.0, f64::max);
        assert!(err < 1e-10, "round trip {err:e}");
        let mut x = x0.clone();
        gm.advance(&mut x, 0.0, 1800.0, 48);
        let mut it = m.start(s0).unwrap();
        m.run(&mut it, 48);
        let direct = gm.grid_state(it.state());
        let n = gm.layout().nlev * gm.layout().npts;
        let dt = x[..n].iter().zip(&direct[..n]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(dt < 1e-8, "grid and spectral forecasts differ by {dt:e} K");
        let mut bad = vec![1.0; 5];
        assert!(!gm.forecast(&mut bad, 1) && bad.iter().all(|v| v.is_nan()));
    }
}
