//! Diffusion posterior sampling (Chung et al. 2023): x̂₀ ← x̂₀ − ζ ∇_{x_t}‖(y − H(x̂₀))/σ_y‖.

use assim_core::AssimError;
use assim_core::experiment::MethodCheck;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Guided, Strategy};

/// `kind = "dps"`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dps {
    /// Step size ζ.
    pub zeta: f64,
}

impl Strategy for Dps {
    fn name(&self) -> String {
        format!("DPS ζ={}", self.zeta)
    }
    fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.positive(&format!("{at}.zeta"), self.zeta)
    }
    fn samples_posterior(&self) -> bool {
        true
    }
    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        // DPS's normalised step: x̂ ← x̂ − ζ ∇_{x_t}‖r‖ (r the standardised innovation of
        // x̂(x_t)), i.e. score += −(ζ/σ²) ∇‖r‖: a pull of the same size at every σ, as DPS's
        // ζ/‖r‖-scaled gradient of ‖r‖² per step.
        let (d, grad) = g.value_and_grad(&x, sigma, cond, |d| {
            (g.standardised_innovation(d).powf_scalar(2.0).sum_dim(1) + 1e-12).sqrt().sum()
        });
        d - grad * self.zeta
    }
}
