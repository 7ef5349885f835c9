//! LO-SDA's latent optimisation (of the state, or of the latent through the decoder):
//! ½‖z − x̂₀‖²/λ + ½‖(y − H(z))/σ_y‖² minimised from z = x̂₀ at the steps with σ ≤
//! `sigma_below`, by a few Adam steps or by one Gauss–Newton step, optionally after a
//! posterior-sampling guidance at every step (LO on SDA).

use assim_core::AssimError;
use assim_core::experiment::MethodCheck;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{GuidanceConfig, Guided, Strategy};
use crate::prior::denoiser::Denoiser;

/// How latent optimisation minimises its objective.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// `iters` Adam steps of size about `lr` (LO-SDA's choice): every component moves by about
    /// `lr` per step, however weak its gradient.
    #[default]
    Adam,
    /// One Gauss–Newton step, linearised at x̂₀: `z = x̂₀ + λ H'ᵀ (R + λ H'H'ᵀ)⁻¹ (y − H(x̂₀))`,
    /// solved by `iters` conjugate-gradient iterations in observation space; components the
    /// observations do not see stay at x̂₀.
    GaussNewton,
}

/// `kind = "latent_optimization"`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatentOptimization {
    /// Adam iterations, or conjugate-gradient iterations of the Gauss–Newton solve.
    #[serde(default = "default_iters")]
    pub iters: usize,
    /// Adam learning rate (normalised units; unused by Gauss–Newton).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Proximity weight λ (normalised units²): small keeps z near the prior's estimate.
    #[serde(default = "assim_core::experiment::defaults::one")]
    pub lambda: f64,
    /// Optimise only at noise levels at or below this one (default: every step).
    #[serde(default = "assim_core::experiment::defaults::infinity")]
    pub sigma_below: f64,
    /// How the objective is minimised (default Adam, as in LO-SDA).
    #[serde(default)]
    pub optimizer: Optimizer,
    /// The posterior-sampling guidance followed at every step before the optimisation (`dps`,
    /// `sda_gamma` or `mmps`; default none: the prior's estimate alone). LO-SDA pairs a
    /// score-based sampler with the latent optimisation, so the optimisation corrects an
    /// estimate the observations already steer at large σ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Box<GuidanceConfig>>,
}

fn default_iters() -> usize {
    5
}

fn default_lr() -> f64 {
    0.1
}

impl Strategy for LatentOptimization {
    fn name(&self) -> String {
        let mut s = match self.optimizer {
            Optimizer::Adam => format!("LO it={} λ={}", self.iters, self.lambda),
            Optimizer::GaussNewton => format!("LO-GN cg={} λ={}", self.iters, self.lambda),
        };
        if self.sigma_below.is_finite() {
            s.push_str(&format!(" σ≤{}", self.sigma_below));
        }
        if let Some(g) = &self.score {
            s.push_str(&format!(" on {}", g.name()));
        }
        s
    }

    fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        let k = |name: &str| format!("{at}.{name}");
        if self.iters == 0 {
            return Err(check.error(&k("iters"), "must be ≥ 1"));
        }
        for (name, v) in [("lr", self.lr), ("lambda", self.lambda)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(check.error(&k(name), format!("must be positive (got {v})")));
            }
        }
        if self.sigma_below.is_nan() || self.sigma_below <= 0.0 {
            return Err(
                check.error(&k("sigma_below"), format!("must be positive or inf (got {})", self.sigma_below))
            );
        }
        if let Some(score) = &self.score {
            if !score.strategy().samples_posterior() {
                return Err(check.error(
                    &k("score.kind"),
                    format!("must be dps, sda_gamma or mmps (got {:?})", score.name()),
                ));
            }
            score.validate(&k("score"), check)?;
        }
        Ok(())
    }

    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let d = match &self.score {
            Some(score) => g.with((**score).clone()).denoise(x, sigma, cond),
            None => g.prior.denoise(x, sigma, cond),
        }
        .without_autodiff();
        if sigma > self.sigma_below {
            return d;
        }
        match self.optimizer {
            Optimizer::Adam => adam(g, d, self.iters, self.lr, self.lambda),
            Optimizer::GaussNewton => {
                // d + λ H'ᵀ (R + λ H'H'ᵀ)⁻¹ (y − H(d)), by `iters` conjugate-gradient iterations.
                let lambda = self.lambda;
                let v = g.solve_gain(&d, self.iters, |u| u * lambda);
                d.clone() + g.obs.vjp(&d, v) * lambda
            }
        }
    }
}

/// LO-SDA's optimisation of the estimate: Adam on ½‖z − x̂‖²/λ + ½‖(y − H(z))/σ_y‖².
fn adam(g: &Guided<'_>, d: Tensor<2>, iters: usize, lr: f64, lambda: f64) -> Tensor<2> {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut z = d.clone();
    let mut m = d.zeros_like();
    let mut v = d.zeros_like();
    for it in 1..=iters {
        let zg = z.clone().autodiff().require_grad();
        let prox = (zg.clone() - d.clone()).powf_scalar(2.0).sum() / (2.0 * lambda);
        let misfit = g.standardised_innovation(zg.clone()).powf_scalar(2.0).sum() / 2.0;
        let grads = (prox + misfit).backward();
        let grad = zg.grad(&grads).expect("the iterate has a gradient");
        m = m * b1 + grad.clone() * (1.0 - b1);
        v = v * b2 + grad.powf_scalar(2.0) * (1.0 - b2);
        let mhat = m.clone() / (1.0 - b1.powi(it as i32));
        let vhat = v.clone() / (1.0 - b2.powi(it as i32));
        z = z - mhat / (vhat.sqrt() + eps) * lr;
    }
    z
}
