//! EDM noise levels, preconditioning and training weights (Karras, Aittala, Aila & Laine 2022).
//!
//! With data of standard deviation `σ_d` (1 for standardised states), a network `F_θ` becomes
//! the denoiser `d(x, σ) = c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x, c_noise(σ))` with
//! `c_skip = σ_d²/(σ²+σ_d²)`, `c_out = σ σ_d/√(σ²+σ_d²)`, `c_in = 1/√(σ²+σ_d²)`,
//! `c_noise = ln(σ)/4`; training draws `ln σ ~ N(P_mean, P_std²)` and weighs the squared error
//! by `λ(σ) = (σ²+σ_d²)/(σ σ_d)²`, which makes the effective target of `F_θ` unit-variance at
//! every σ. Sampling walks the Karras grid
//! `σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ`, then σ_N = 0.

use assim_core::AssimError;
use serde::{Deserialize, Serialize};

/// The EDM parameters (defaults: Karras et al. 2022, Table 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edm {
    /// Smallest noise level of the sampling grid.
    pub sigma_min: f64,
    /// Largest noise level (the prior is ≈ N(0, σ_max²) there).
    pub sigma_max: f64,
    /// Curvature of the grid: larger ρ spends more steps at small σ.
    pub rho: f64,
    /// Standard deviation of the (standardised) data.
    pub sigma_data: f64,
    /// Mean of ln σ during training.
    pub p_mean: f64,
    /// Standard deviation of ln σ during training.
    pub p_std: f64,
}

impl Default for Edm {
    fn default() -> Self {
        Self { sigma_min: 0.002, sigma_max: 80.0, rho: 7.0, sigma_data: 1.0, p_mean: -1.2, p_std: 1.2 }
    }
}

/// The four preconditioning coefficients at one noise level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preconditioning {
    /// Weight of the noisy input in the output (the skip connection).
    pub c_skip: f64,
    /// Scale of the network's output.
    pub c_out: f64,
    /// Scale of the network's input.
    pub c_in: f64,
    /// The noise level as the network sees it.
    pub c_noise: f64,
}

impl Edm {
    /// Checks the parameters (positive, ordered, finite).
    pub fn validate(&self) -> Result<(), AssimError> {
        let ok = self.sigma_min > 0.0
            && self.sigma_max > self.sigma_min
            && self.rho > 0.0
            && self.sigma_data > 0.0
            && self.p_std > 0.0
            && [self.sigma_min, self.sigma_max, self.rho, self.sigma_data, self.p_mean, self.p_std]
                .iter()
                .all(|v| v.is_finite());
        if ok {
            Ok(())
        } else {
            Err(AssimError::Input(format!(
                "EDM schedule needs 0 < sigma_min < sigma_max, rho, sigma_data, p_std > 0 (got {self:?})"
            )))
        }
    }

    /// The sampling grid: `steps` noise levels from σ_max down to σ_min, then 0
    /// (`steps + 1` values); an error for `steps = 0`.
    pub fn karras_sigmas(&self, steps: usize) -> Result<Vec<f64>, AssimError> {
        if steps == 0 {
            return Err(AssimError::Input("the number of sampling steps must be ≥ 1".into()));
        }
        let (a, b) = (self.sigma_max.powf(1.0 / self.rho), self.sigma_min.powf(1.0 / self.rho));
        let mut s: Vec<f64> = (0..steps)
            .map(|i| {
                let t = if steps == 1 { 0.0 } else { i as f64 / (steps - 1) as f64 };
                (a + t * (b - a)).powf(self.rho)
            })
            .collect();
        s.push(0.0);
        Ok(s)
    }

    /// The preconditioning at noise level `sigma` (> 0).
    pub fn preconditioning(&self, sigma: f64) -> Preconditioning {
        let sd2 = self.sigma_data * self.sigma_data;
        let r = (sigma * sigma + sd2).sqrt();
        Preconditioning {
            c_skip: sd2 / (sigma * sigma + sd2),
            c_out: sigma * self.sigma_data / r,
            c_in: 1.0 / r,
            c_noise: sigma.ln() / 4.0,
        }
    }

    /// The training loss weight `λ(σ)`.
    pub fn loss_weight(&self, sigma: f64) -> f64 {
        (sigma * sigma + self.sigma_data * self.sigma_data) / (sigma * self.sigma_data).powi(2)
    }

    /// A training noise level from a standard-normal draw `z`: `exp(P_mean + P_std z)`.
    pub fn training_sigma(&self, z: f64) -> f64 {
        (self.p_mean + self.p_std * z).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_runs_from_sigma_max_to_sigma_min_then_zero() {
        let e = Edm::default();
        let s = e.karras_sigmas(18).unwrap();
        assert_eq!(s.len(), 19);
        assert!((s[0] - 80.0).abs() < 1e-12 && (s[17] - 0.002).abs() < 1e-15 && s[18] == 0.0);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
        assert!(e.karras_sigmas(0).is_err());
        assert_eq!(e.karras_sigmas(1).unwrap(), vec![80.0, 0.0]);
    }

    #[test]
    fn preconditioning_makes_the_network_target_unit_variance() {
        // For data of std σ_d and noise σ, the network's ideal target
        // (x − c_skip (x + σ n)) / c_out has unit variance, and its input c_in (x + σ n) too.
        let e = Edm { sigma_data: 0.5, ..Edm::default() };
        for sigma in [0.01, 0.3, 2.0, 50.0] {
            let p = e.preconditioning(sigma);
            let sd2 = e.sigma_data * e.sigma_data;
            let target_var =
                ((1.0 - p.c_skip).powi(2) * sd2 + p.c_skip.powi(2) * sigma * sigma) / p.c_out.powi(2);
            assert!((target_var - 1.0).abs() < 1e-12, "σ = {sigma}: {target_var}");
            assert!((p.c_in.powi(2) * (sd2 + sigma * sigma) - 1.0).abs() < 1e-12);
            // λ(σ) c_out² = 1: the weighted loss is the network-space loss.
            assert!((e.loss_weight(sigma) * p.c_out * p.c_out - 1.0).abs() < 1e-12);
        }
        assert!(Edm { sigma_min: 0.0, ..Edm::default() }.validate().is_err());
    }
}
