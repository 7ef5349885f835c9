//! Align-DA's three rewards of an analysis on the sphere, each a dimensionless number that is
//! larger for a better analysis, and their weighted sum (`[rewards]` of an alignment file,
//! documented in `docs/training.md`):
//!
//! - **accuracy** `r_acc = −RMSE(x_a, x_t)`: area-weighted RMSE per variable over its
//!   climatological standard deviation, averaged over (Φ, u, v) (the OSSE's headline unit);
//!   **accuracy_obs** `r_acc,y = −√(mean_i ((y_i − H_i x_a)/σ_i)²)`: the same with observations
//!   held out of the assimilation in place of the truth (what a user with real data has);
//! - **forecast** `r_fc = −RMSE(M_L(x_a), x_t(t + L))` for the model forecast at lead `L`
//!   (`lead_hours`), in the same unit; **forecast_obs**: against the observations valid at
//!   `t + L`, normalised by their σ as above;
//! - **balance** `r_bal = −|I(x_a) − Ī| / Ī`, `I` the geostrophic imbalance (RMS ageostrophic
//!   wind poleward of 20°, m s⁻¹) and `Ī` its mean over the climate sample: two-sided, so an
//!   over-balanced (smoothed) analysis is punished as much as a noisy one;
//!   **spectrum** `r_spec = −mean_{n > T/2} |ln(E_a(n)/Ē(n))|`, `E` the kinetic-energy spectrum
//!   and `Ē` the climate's: damping the small scales lowers it, it is never rewarded.

use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::sphere::{ObsWindow, SphereTwin, geostrophic_imbalance, ke_spectrum};
use assim_core::classical::Estimate;
use assim_core::experiment::Scenario;
use assim_core::obs::ObsOperator;

/// The reward components, in the order [`Components`] stores them.
pub const NAMES: [&str; 6] = ["accuracy", "accuracy_obs", "forecast", "forecast_obs", "balance", "spectrum"];

/// One analysis's reward components, in the order of [`NAMES`].
pub type Components = [f64; 6];

/// `[rewards]`: the weight of each component in the reward that ranks the candidates.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RewardWeights {
    /// Weight of `−RMSE(x_a, x_t)`.
    #[serde(default)]
    pub accuracy: f64,
    /// Weight of the held-out observations' normalised misfit.
    #[serde(default)]
    pub accuracy_obs: f64,
    /// Weight of `−RMSE` of the forecast at `lead_hours` against the truth.
    #[serde(default)]
    pub forecast: f64,
    /// Weight of the forecast's normalised misfit to the observations at its valid time.
    #[serde(default)]
    pub forecast_obs: f64,
    /// Weight of the geostrophic-balance reward.
    #[serde(default)]
    pub balance: f64,
    /// Weight of the small-scale kinetic-energy spectrum reward.
    #[serde(default)]
    pub spectrum: f64,
}

impl RewardWeights {
    /// The weights in the order of [`NAMES`].
    pub fn as_array(&self) -> Components {
        [self.accuracy, self.accuracy_obs, self.forecast, self.forecast_obs, self.balance, self.spectrum]
    }

    /// The weighted sum of `c` (a component without weight is left out, so that one that
    /// could not be computed, NaN, does not poison the sum).
    pub fn combine(&self, c: &Components) -> f64 {
        self.as_array().iter().zip(c).filter(|(w, _)| **w != 0.0).map(|(w, r)| w * r).sum()
    }

    /// Refuses negative, non-finite or all-zero weights (`key` names the table in errors).
    pub fn validate(&self, file: &str, key: &str) -> Result<(), AssimError> {
        for (name, w) in NAMES.iter().zip(self.as_array()) {
            if !(w.is_finite() && w >= 0.0) {
                return Err(AssimError::config(
                    file,
                    format!("{key}.{name}"),
                    format!(
                        "a reward weight must be ≥ 0 (got {w}): a negative weight would prefer worse analyses"
                    ),
                ));
            }
        }
        if self.as_array().iter().all(|&w| w == 0.0) {
            return Err(AssimError::config(
                file,
                key,
                format!(
                    "every reward weight is zero: give at least one of {} a positive weight",
                    NAMES.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// A short name for labels: the components with a weight, e.g. `accuracy+forecast`.
    pub fn name(&self) -> String {
        let used: Vec<&str> =
            NAMES.iter().zip(self.as_array()).filter(|(_, w)| *w > 0.0).map(|(n, _)| *n).collect();
        used.join("+")
    }
}

/// What the rewards compare against on one seed: the climate's imbalance and spectrum.
pub struct RewardScorer<'a> {
    twin: &'a SphereTwin,
    /// Mean geostrophic imbalance of the climate sample (m s⁻¹).
    imbalance: f64,
    /// Mean kinetic-energy spectrum of the climate sample (m² s⁻² per total wavenumber).
    spectrum: Vec<f64>,
    /// Model steps of the forecast lead.
    lead_steps: u64,
    /// Analysis windows in the lead.
    lead_windows: usize,
}

/// Climate states used for the reference levels (evenly spaced through the sample).
const CLIMATE_STATES: usize = 64;

impl<'a> RewardScorer<'a> {
    /// The reference levels of `twin`'s climate, for forecasts of `lead_windows` windows.
    pub fn new(twin: &'a SphereTwin, lead_windows: usize) -> Result<Self, AssimError> {
        let samples = twin.climate.samples();
        if samples.is_empty() {
            return Err(AssimError::Input("the climate sample is empty".into()));
        }
        let n = samples.len().min(CLIMATE_STATES);
        let picked: Vec<&Vec<f64>> = (0..n).map(|i| &samples[i * samples.len() / n]).collect();
        let sw = twin.sw();
        let imbalance = picked.iter().map(|x| geostrophic_imbalance(sw, x)).sum::<f64>() / n as f64;
        let mut spectrum = vec![0.0; sw.truncation().t() + 1];
        for x in &picked {
            for (a, b) in spectrum.iter_mut().zip(ke_spectrum(sw, x)) {
                *a += b / n as f64;
            }
        }
        let c = &twin.chrono;
        Ok(RewardScorer {
            twin,
            imbalance,
            spectrum,
            lead_steps: (lead_windows * c.dko) as u64,
            lead_windows,
        })
    }

    /// The components of analysis `x_a` valid at analysis `ko`; `held_out` is the window's
    /// share of observations the analysis did not see (`None`: that component is NaN, as is
    /// any whose verifying time lies past the run).
    pub fn components(&self, ko: usize, x_a: &[f64], held_out: Option<&ObsWindow>) -> Components {
        let tw = self.twin;
        let rmse = |x: &[f64], truth: &[f64]| {
            tw.scorer.score(&Estimate::State { mean: x, var: None }, truth, false).0.rmse
        };
        let accuracy = -rmse(x_a, tw.truth(ko));
        let accuracy_obs = held_out.map_or(f64::NAN, |w| -misfit(w, x_a));
        let mut fc = x_a.to_vec();
        let k0 = ((ko + 1) * tw.chrono.dko) as u64;
        let ok = tw.model.forecast(&mut fc, k0, self.lead_steps);
        let w = ko + self.lead_windows;
        let forecast = match tw.truth.get(w + 1) {
            Some(t) if ok => -rmse(&fc, t),
            _ => f64::NAN,
        };
        let forecast_obs = match tw.windows.get(w) {
            Some(win) if ok => -misfit(win, &fc),
            _ => f64::NAN,
        };
        let sw = tw.sw();
        let balance = -(geostrophic_imbalance(sw, x_a) - self.imbalance).abs() / self.imbalance;
        let e = ke_spectrum(sw, x_a);
        let half = self.spectrum.len() / 2;
        let tail: Vec<f64> = (half + 1..self.spectrum.len())
            .filter(|&n| self.spectrum[n] > 0.0)
            .map(|n| (e[n].max(1e-300) / self.spectrum[n]).ln().abs())
            .collect();
        let spectrum = -tail.iter().sum::<f64>() / tail.len().max(1) as f64;
        [accuracy, accuracy_obs, forecast, forecast_obs, balance, spectrum]
    }
}

/// `√(mean_i ((y_i − H_i x)/σ_i)²)` over a window's observations.
pub fn misfit(w: &ObsWindow, x: &[f64]) -> f64 {
    let mut hx = vec![0.0; w.op.n_obs()];
    w.op.apply(x, &mut hx);
    let s: f64 = hx.iter().zip(&w.y).zip(&w.var).map(|((h, y), v)| (y - h).powi(2) / v).sum();
    (s / hx.len().max(1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_refuse_negative_and_all_zero_and_combine_linearly() {
        let w = RewardWeights { accuracy: 1.0, forecast: 0.5, ..Default::default() };
        assert!(w.validate("f", "rewards").is_ok());
        assert_eq!(w.name(), "accuracy+forecast");
        let c = [-0.1, f64::NAN, -0.2, f64::NAN, -0.3, -0.4];
        // A NaN component with zero weight must not poison the sum.
        assert!((w.combine(&c) - (-0.2)).abs() < 1e-12);
        let neg = RewardWeights { balance: -1.0, accuracy: 1.0, ..Default::default() };
        let e = neg.validate("f", "rewards").unwrap_err().to_string();
        assert!(e.contains("rewards.balance") && e.contains("≥ 0"), "{e}");
        let zero = RewardWeights::default();
        assert!(
            zero.validate("f", "rewards").unwrap_err().to_string().contains("every reward weight is zero")
        );
    }
}
