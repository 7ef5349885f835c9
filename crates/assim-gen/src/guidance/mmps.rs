//! MMPS (Appa; Rozet et al. 2024): the Tweedie covariance σ² ∂x̂₀/∂x_t by vector–Jacobian
//! products, and conjugate gradients on (R + H Σ Hᵀ) v = y − H(x̂₀).

use assim_core::AssimError;
use assim_core::experiment::MethodCheck;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Guided, Strategy};

/// `kind = "mmps"`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mmps {
    /// Conjugate-gradient iterations (1–3 in Appa).
    #[serde(default = "default_cg")]
    pub cg_iters: usize,
}

fn default_cg() -> usize {
    1
}

impl Strategy for Mmps {
    fn name(&self) -> String {
        format!("MMPS cg={}", self.cg_iters)
    }
    fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        if self.cg_iters == 0 {
            return Err(check.error(&format!("{at}.cg_iters"), "must be ≥ 1"));
        }
        Ok(())
    }
    fn samples_posterior(&self) -> bool {
        true
    }
    /// `x̂ + σ² Jᵀ H'ᵀ v` with `(R + H' σ² J H'ᵀ) v = y − H(x̂)` solved by `cg_iters` steps of
    /// conjugate gradients per member (J = ∂x̂/∂x_t, symmetric for an exact denoiser; H' the
    /// Jacobian of H at x̂).
    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let d = g.prior.denoise(x.clone(), sigma, cond).without_autodiff();
        let s2 = sigma * sigma;
        let v = g.solve_gain(&d, self.cg_iters, |u| g.vjp(&x, sigma, cond, u) * s2);
        d.clone() + g.vjp(&x, sigma, cond, g.obs.vjp(&d, v)) * s2
    }
}
