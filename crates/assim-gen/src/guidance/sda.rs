//! SDA (Rozet & Louppe 2023): a Gaussian likelihood with variance σ_y² + Γ h'² σ²/(1+σ²), the
//! Tweedie variance of unit-variance data inflated by Γ and carried to observation space.

use assim_core::AssimError;
use assim_core::experiment::MethodCheck;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{Guided, Strategy};

/// `kind = "sda_gamma"`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SdaGamma {
    /// The inflation Γ of the denoiser's uncertainty (normalised units).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
}

fn default_gamma() -> f64 {
    1e-2
}

impl Strategy for SdaGamma {
    fn name(&self) -> String {
        format!("SDA Γ={}", self.gamma)
    }
    fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(check.error(&format!("{at}.gamma"), format!("must be ≥ 0 (got {})", self.gamma)));
        }
        Ok(())
    }
    fn samples_posterior(&self) -> bool {
        true
    }
    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        // log p(y | x_t) ≈ −½ Σ r²/(σ_y² + Γ h'² σ²/(1+σ²)).
        let s2 = sigma * sigma;
        let tweedie = s2 / (1.0 + s2);
        let (d, grad) = g.value_and_grad(&x, sigma, cond, |d| {
            let var = g.obs.var() + g.obs.gain2(&d.clone().detach()) * (self.gamma * tweedie);
            let r = g.y.clone() - g.obs.apply(d);
            (r.powf_scalar(2.0) / var).sum() * -0.5
        });
        d + grad * s2
    }
}
