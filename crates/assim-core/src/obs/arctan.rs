//! `y = arctan(x_i)` at observed state variables: the nonlinear observation operator of the
//! score-based filter papers, where a Gaussian-linear update (the EnKF) is known to suffer.

use super::ElementFn;

/// `h(x) = arctan x`: a bounded, saturating measurement.
#[derive(Clone, Copy, Debug)]
pub struct ArcTan;

impl ElementFn for ArcTan {
    fn name(&self) -> &'static str {
        "arctan"
    }
    fn value(&self, x: f64) -> f64 {
        x.atan()
    }
    fn slope(&self, x: f64) -> f64 {
        1.0 / (1.0 + x * x)
    }
}
