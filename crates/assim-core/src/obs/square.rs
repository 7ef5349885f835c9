//! `y = x_i²` at observed state variables: nonlinear and non-invertible (the sign of `x_i`
//! is not observed), the case where a Gaussian update of the ensemble is at its weakest and
//! a bimodal posterior is the rule near `x_i = 0`.

use super::ElementFn;

/// `h(x) = x²`.
#[derive(Clone, Copy, Debug)]
pub struct Square;

impl ElementFn for Square {
    fn name(&self) -> &'static str {
        "square"
    }
    fn value(&self, x: f64) -> f64 {
        x * x
    }
    fn slope(&self, x: f64) -> f64 {
        2.0 * x
    }
}
