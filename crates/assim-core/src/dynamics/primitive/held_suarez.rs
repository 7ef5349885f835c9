//! Held & Suarez (1994) forcing, Bull. Amer. Meteor. Soc. 75, 1825–1830: Newtonian relaxation
//! to a zonally symmetric radiative-equilibrium temperature and Rayleigh friction in the
//! boundary layer, the standard benchmark climate of dry dynamical cores.
//!
//! ```text
//! T_eq(φ, p) = max(200 K, [315 K − ΔT_y sin²φ − Δθ_z ln(p/p0) cos²φ] (p/p0)^κ)
//! k_T(φ, σ) = k_a + (k_s − k_a) max(0, (σ − σ_b)/(1 − σ_b)) cos⁴φ
//! k_v(σ)    = k_f max(0, (σ − σ_b)/(1 − σ_b))
//! ```

use serde::{Deserialize, Serialize};

use crate::AssimError;

const DAY: f64 = 86400.0;

/// The Held–Suarez forcing with the paper's constants as defaults.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeldSuarez {
    /// Equator-to-pole equilibrium temperature difference ΔT_y (K).
    #[serde(default = "delta_t_y")]
    pub delta_t_y: f64,
    /// Equilibrium static stability Δθ_z (K).
    #[serde(default = "delta_theta_z")]
    pub delta_theta_z: f64,
    /// Top of the boundary layer σ_b.
    #[serde(default = "sigma_b")]
    pub sigma_b: f64,
    /// Surface friction rate k_f (day⁻¹).
    #[serde(default = "one")]
    pub friction_per_day: f64,
    /// Free-atmosphere relaxation rate k_a (day⁻¹).
    #[serde(default = "k_a")]
    pub relaxation_free_per_day: f64,
    /// Tropical surface relaxation rate k_s (day⁻¹).
    #[serde(default = "k_s")]
    pub relaxation_surface_per_day: f64,
}

fn delta_t_y() -> f64 {
    60.0
}
fn delta_theta_z() -> f64 {
    10.0
}
fn sigma_b() -> f64 {
    0.7
}
fn one() -> f64 {
    1.0
}
fn k_a() -> f64 {
    1.0 / 40.0
}
fn k_s() -> f64 {
    1.0 / 4.0
}

impl Default for HeldSuarez {
    fn default() -> Self {
        Self {
            delta_t_y: delta_t_y(),
            delta_theta_z: delta_theta_z(),
            sigma_b: sigma_b(),
            friction_per_day: one(),
            relaxation_free_per_day: k_a(),
            relaxation_surface_per_day: k_s(),
        }
    }
}

impl HeldSuarez {
    /// Checks the constants: rates ≥ 0, `σ_b` in (0, 1), finite temperatures.
    pub fn validate(&self) -> Result<(), AssimError> {
        let rates = [self.friction_per_day, self.relaxation_free_per_day, self.relaxation_surface_per_day];
        if rates.iter().any(|r| !(r.is_finite() && *r >= 0.0)) {
            return Err(AssimError::Input(format!("Held–Suarez rates must be ≥ 0 per day (got {rates:?})")));
        }
        if !(self.sigma_b > 0.0 && self.sigma_b < 1.0) {
            return Err(AssimError::Input(format!(
                "Held–Suarez σ_b must be in (0, 1) (got {})",
                self.sigma_b
            )));
        }
        if !(self.delta_t_y.is_finite() && self.delta_theta_z.is_finite()) {
            return Err(AssimError::Input("Held–Suarez temperature differences must be finite".into()));
        }
        Ok(())
    }

    fn boundary_layer(&self, sigma: f64) -> f64 {
        ((sigma - self.sigma_b) / (1.0 - self.sigma_b)).max(0.0)
    }

    /// Rayleigh friction rate `k_v(σ)` (s⁻¹).
    pub fn friction_rate(&self, sigma: f64) -> f64 {
        self.friction_per_day / DAY * self.boundary_layer(sigma)
    }

    /// Newtonian relaxation rate `k_T(φ, σ)` (s⁻¹) at latitude `lat` (radians).
    pub fn relaxation_rate(&self, lat: f64, sigma: f64) -> f64 {
        let (ka, ks) = (self.relaxation_free_per_day / DAY, self.relaxation_surface_per_day / DAY);
        ka + (ks - ka) * self.boundary_layer(sigma) * lat.cos().powi(4)
    }

    /// Radiative-equilibrium temperature `T_eq` (K) at latitude `lat` (radians) and pressure
    /// `p` (Pa), with `p0 = 1000 hPa` and the model's κ.
    pub fn equilibrium_temperature(&self, lat: f64, p: f64, kappa: f64) -> f64 {
        let r = p / 1.0e5;
        self.equilibrium_from(lat.sin().powi(2), lat.cos().powi(2), r.ln(), r.powf(kappa))
    }

    /// `T_eq` from its pieces, `sin²φ`, `cos²φ`, `ln(p/p0)` and `(p/p0)^κ`, for the model's
    /// point loop, which has them at hand.
    pub fn equilibrium_from(&self, sin2: f64, cos2: f64, ln_ratio: f64, ratio_kappa: f64) -> f64 {
        (200.0f64).max((315.0 - self.delta_t_y * sin2 - self.delta_theta_z * ln_ratio * cos2) * ratio_kappa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HS94's equation values: T_eq = 315 K at the equator's surface, 255 K at the pole's,
    /// the 200 K floor aloft; k_T = k_s = 1/4 day⁻¹ at the equator's surface.
    #[test]
    fn paper_values() {
        let hs = HeldSuarez::default();
        let kappa = 2.0 / 7.0;
        assert!((hs.equilibrium_temperature(0.0, 1.0e5, kappa) - 315.0).abs() < 1e-12);
        assert!((hs.equilibrium_temperature(std::f64::consts::FRAC_PI_2, 1.0e5, kappa) - 255.0).abs() < 1e-9);
        assert_eq!(hs.equilibrium_temperature(0.3, 5.0e3, kappa), 200.0);
        assert!((hs.relaxation_rate(0.0, 1.0) - 0.25 / DAY).abs() < 1e-18);
        assert!((hs.relaxation_rate(0.0, 0.5) - 1.0 / 40.0 / DAY).abs() < 1e-18);
        assert!((hs.friction_rate(1.0) - 1.0 / DAY).abs() < 1e-18);
        assert_eq!(hs.friction_rate(0.6), 0.0);
    }
}
