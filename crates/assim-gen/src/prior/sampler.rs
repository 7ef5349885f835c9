//! Samplers of the reverse diffusion process: from `x = σ_max ε` down the Karras grid to a
//! sample of the prior (or, through a guiding denoiser, of the posterior).
//!
//! - **Euler** (deterministic, DDIM-equivalent): `x ← x + (σ_{i+1} − σ_i) (x − d(x, σ_i))/σ_i`;
//!   one denoiser evaluation per step.
//! - **Heun** (Karras et al. 2022, Algorithm 1 without churn): the Euler step corrected by the
//!   slope at its end point, except on the last step to σ = 0; 2N − 1 evaluations.
//! - **Predictor–corrector** (Song et al. 2021): each Euler step followed by Langevin steps
//!   `x ← x + ε s + √(2ε) z` at the new noise level, with score `s = (d − x)/σ²` and `ε` from
//!   the signal-to-noise rule `ε = 2 (r ⟨‖z‖⟩/⟨‖s‖⟩)²` (norms averaged over the batch).

use assim_core::AssimError;
use assim_core::rng::AssimRng;
use burn::tensor::Tensor;

use crate::prior::denoiser::Denoiser;
use crate::prior::schedule::Edm;
use crate::tensor::normal;

/// Which integrator walks the noise levels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// First-order deterministic (probability-flow ODE, DDIM).
    Euler,
    /// Second-order deterministic (EDM's Heun).
    Heun,
    /// Euler predictor plus Langevin corrections.
    PredictorCorrector {
        /// Langevin steps after each predictor step.
        corrections: usize,
        /// Target signal-to-noise ratio `r` of a Langevin step.
        snr: f64,
    },
}

impl Sampler {
    /// Denoiser evaluations for `steps` noise levels (the cost unit of every benchmark).
    pub fn evaluations(&self, steps: usize) -> usize {
        match self {
            Sampler::Euler => steps,
            Sampler::Heun => 2 * steps - 1,
            Sampler::PredictorCorrector { corrections, .. } => steps + corrections * (steps - 1),
        }
    }

    /// Draws a batch of samples: `noise` (`[n, nx]`, standard normal) is scaled to σ_max and
    /// integrated down `steps` Karras noise levels to σ = 0. `rng` feeds the Langevin noise of
    /// the predictor–corrector (the deterministic samplers do not use it).
    pub fn sample(
        &self,
        denoiser: &dyn Denoiser,
        edm: &Edm,
        steps: usize,
        noise: Tensor<2>,
        cond: Option<&Tensor<2>>,
        rng: &mut AssimRng,
    ) -> Result<Tensor<2>, AssimError> {
        edm.validate()?;
        let sigmas = edm.karras_sigmas(steps)?;
        let [n, nx] = noise.dims();
        let device = noise.device();
        let mut x = noise * sigmas[0];
        let slope =
            |x: &Tensor<2>, sigma: f64| (x.clone() - denoiser.denoise(x.clone(), sigma, cond)) / sigma;
        for w in sigmas.windows(2) {
            let (s, s_next) = (w[0], w[1]);
            let d = slope(&x, s);
            let euler = x.clone() + d.clone() * (s_next - s);
            x = match self {
                Sampler::Heun if s_next > 0.0 => {
                    let d2 = slope(&euler, s_next);
                    x + (d + d2) * (0.5 * (s_next - s))
                }
                _ => euler,
            };
            if let Sampler::PredictorCorrector { corrections, snr } = *self
                && s_next > 0.0
            {
                for _ in 0..corrections {
                    let score = (denoiser.denoise(x.clone(), s_next, cond) - x.clone()) / (s_next * s_next);
                    let z = normal(rng, n, nx, &device);
                    // Step size from the SNR rule with batch-mean norms (Song et al.): a
                    // per-member ratio explodes for members near the mode, where ‖s‖ → 0.
                    let zn: f64 =
                        z.clone().powf_scalar(2.0).sum_dim(1).sqrt().mean().into_scalar::<f32>().into();
                    let sn: f64 =
                        score.clone().powf_scalar(2.0).sum_dim(1).sqrt().mean().into_scalar::<f32>().into();
                    let eps = 2.0 * (snr * zn / sn.max(1e-30)).powi(2);
                    x = x + score * eps + z * (2.0 * eps).sqrt();
                }
            }
        }
        Ok(x)
    }
}
