//! The forced–dissipative climate of the shallow-water bed, after Vallis, Gerber, Kushner &
//! Cash (2004): stochastic stirring of vorticity in mid-latitudes plus a linear drag towards a
//! zonal jet. Eddies stirred in a band of wavenumbers cascade, converge momentum into the jets
//! and are removed by the drag, so the flow reaches a statistically stationary, turbulent state.

use crate::AssimError;
use crate::rng::{self, AssimRng};
use crate::spectral::{Complex64, Truncation};

/// The climate forcing: stirring, jet drag, or both.
#[derive(Clone, Debug, PartialEq)]
pub struct Forcing {
    /// Stochastic stirring of vorticity, if any.
    pub stirring: Option<Stirring>,
    /// Linear drag towards a zonal jet, if any.
    pub jet_drag: Option<JetDrag>,
}

/// An AR(1) random vorticity source in a band of total wavenumbers, masked to mid-latitudes
/// of both hemispheres.
#[derive(Clone, Debug, PartialEq)]
pub struct Stirring {
    /// Root-mean-square of the unmasked vorticity source over the sphere (s⁻²).
    pub strength: f64,
    /// Decorrelation time of the AR(1) process (s).
    pub lifetime: f64,
    /// Smallest stirred total wavenumber.
    pub n_min: usize,
    /// Largest stirred total wavenumber.
    pub n_max: usize,
    /// Smallest stirred zonal wavenumber (≥ 1 leaves the zonal mean to the eddies).
    pub m_min: usize,
    /// Centre latitude of the stirring in each hemisphere (radians).
    pub latitude: f64,
    /// e-folding half-width of the latitude mask (radians).
    pub width: f64,
}

/// Linear drag of the flow towards a zonal jet (and of the divergence towards zero).
#[derive(Clone, Debug, PartialEq)]
pub struct JetDrag {
    /// Damping time (s).
    pub timescale: f64,
    /// Peak speed of the target jet (m s⁻¹), eastward in both hemispheres.
    pub u0: f64,
    /// Latitude of the jet axis (radians, mirrored in the south).
    pub latitude: f64,
    /// e-folding half-width of the jet (radians).
    pub width: f64,
}

/// The random state of the stirring: its current spectral pattern and its generator.
#[derive(Clone, Debug)]
pub struct StirringState {
    tr: Truncation,
    pattern: Vec<Complex64>,
    rng: AssimRng,
}

impl Forcing {
    /// Checks every parameter against the truncation.
    pub fn validate(&self, truncation: usize) -> Result<(), AssimError> {
        let bad = |msg: String| Err(AssimError::Input(msg));
        if let Some(s) = &self.stirring {
            if !(s.strength.is_finite() && s.strength >= 0.0) {
                return bad(format!("stirring strength must be ≥ 0 (got {})", s.strength));
            }
            if !(s.lifetime.is_finite() && s.lifetime > 0.0) {
                return bad(format!("stirring lifetime must be positive (got {} s)", s.lifetime));
            }
            if s.n_min == 0 || s.n_min > s.n_max || s.n_max > truncation || s.m_min > s.n_max {
                return bad(format!(
                    "stirring wavenumbers need 1 ≤ n_min ≤ n_max ≤ T = {truncation} and m_min ≤ n_max \
                     (got n {}..={}, m ≥ {})",
                    s.n_min, s.n_max, s.m_min
                ));
            }
            if !(s.width.is_finite() && s.width > 0.0 && s.latitude.is_finite()) {
                return bad(format!(
                    "stirring mask needs a finite latitude and a positive width (got {})",
                    s.width
                ));
            }
        }
        if let Some(j) = &self.jet_drag
            && !(j.timescale.is_finite()
                && j.timescale > 0.0
                && j.u0.is_finite()
                && j.width.is_finite()
                && j.width > 0.0
                && j.latitude.is_finite())
        {
            return bad(format!(
                "jet drag needs a positive timescale and width and a finite jet (got {} s, width {})",
                j.timescale, j.width
            ));
        }
        Ok(())
    }
}

impl Stirring {
    /// The latitude mask (0..1) at latitude `lat` (radians).
    pub fn mask(&self, lat: f64) -> f64 {
        (-((lat.abs() - self.latitude) / self.width).powi(2)).exp()
    }

    fn stirred(&self, m: usize, n: usize) -> bool {
        n >= self.n_min && n <= self.n_max && m >= self.m_min
    }

    /// A zero pattern and a generator seeded from `seed` (its own stream).
    pub fn start(&self, tr: &Truncation, seed: u64) -> StirringState {
        StirringState { tr: *tr, pattern: tr.zeros(), rng: rng::stream(seed, "shallow-water-stirring") }
    }

    /// A pattern drawn from the stationary distribution of the AR(1) (as if it had run for
    /// ever), with its generator seeded from `seed`: the stirring of a forecast that does not
    /// know the truth's.
    pub fn start_stationary(&self, tr: &Truncation, seed: u64) -> StirringState {
        let mut st = self.start(tr, seed);
        // One advance with a → 0 draws the stationary pattern exactly.
        let long = Stirring { lifetime: f64::MIN_POSITIVE, ..self.clone() };
        long.advance(&mut st, 1.0);
        st
    }

    /// Advances the AR(1) pattern by `dt`: `S ← a S + √(1 − a²) A ξ`, `a = exp(−dt/τ)`, with
    /// `A` such that the stationary mean square of the unmasked pattern is `strength²`.
    pub fn advance(&self, st: &mut StirringState, dt: f64) {
        let tr = st.tr;
        let n_modes = tr.modes().filter(|&(m, n)| self.stirred(m, n)).count().max(1);
        let amp = self.strength / (n_modes as f64).sqrt();
        let a = (-dt / self.lifetime).exp();
        let b = (1.0 - a * a).sqrt() * amp;
        for (k, (m, n)) in tr.modes().enumerate() {
            if !self.stirred(m, n) {
                continue;
            }
            // Each mode contributes |c|² (m > 0) or |c|²/2 (m = 0) to the mean square.
            let xi = if m == 0 {
                Complex64::new(rng::normal(&mut st.rng) * std::f64::consts::SQRT_2, 0.0)
            } else {
                Complex64::new(rng::normal(&mut st.rng), rng::normal(&mut st.rng))
                    * std::f64::consts::FRAC_1_SQRT_2
            };
            st.pattern[k] = st.pattern[k] * a + xi * b;
        }
    }
}

impl StirringState {
    /// The same pattern with a generator seeded from `seed`: the pattern's future kicks
    /// become a new draw (an ensemble member's stochastic forcing).
    pub fn reseeded(&self, seed: u64) -> StirringState {
        StirringState {
            tr: self.tr,
            pattern: self.pattern.clone(),
            rng: rng::stream(seed, "shallow-water-stirring"),
        }
    }

    /// The current spectral pattern (s⁻², before the latitude mask).
    pub fn pattern(&self) -> &[Complex64] {
        &self.pattern
    }
}

impl JetDrag {
    /// The target zonal wind (m s⁻¹) at latitude `lat` (radians).
    pub fn wind(&self, lat: f64) -> f64 {
        self.u0 * (-((lat.abs() - self.latitude) / self.width).powi(2)).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stationary_pattern_has_the_requested_mean_square() {
        let s = Stirring {
            strength: 2e-11,
            lifetime: 2.0 * 86400.0,
            n_min: 8,
            n_max: 20,
            m_min: 1,
            latitude: 0.8,
            width: 0.3,
        };
        let tr = Truncation::new(42);
        let mut st = s.start(&tr, 1);
        let dt = 86400.0; // one day: a ≈ 0.61, samples nearly independent after a few steps
        let mut acc = 0.0;
        let n = 4000;
        for k in 0..n + 50 {
            s.advance(&mut st, dt);
            if k >= 50 {
                acc += tr.power_spectrum(st.pattern()).iter().sum::<f64>();
            }
        }
        let ms = acc / n as f64;
        // 4000 correlated samples of a χ²-like sum over 300+ modes: a few % sampling error.
        assert!(
            (ms / (s.strength * s.strength) - 1.0).abs() < 0.05,
            "ratio {}",
            ms / (s.strength * s.strength)
        );
        assert!(tr.modes().zip(st.pattern()).all(|((m, n), c)| s.stirred(m, n) || c.norm() == 0.0));
    }
}
