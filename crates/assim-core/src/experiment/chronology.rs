//! When the model steps and when observations arrive (DAPPER's `Chronology`), and its
//! `[chronology]` entry in the experiment file.

use serde::{Deserialize, Serialize};

use crate::AssimError;

/// `[chronology]`: time stepping `dt`, `dko`, and either `ko` or the total time `t`; and the
/// burn-in.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChronologyConfig {
    /// Model time step.
    pub dt: f64,
    /// Model steps between observation times.
    pub dko: usize,
    /// Index of the last observation time (`Ko + 1` analyses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ko: Option<usize>,
    /// Total time; `Ko = round(T/(dt·dko)) − 1`. Give `ko` or `t`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// Time before which analyses are not averaged.
    pub burn_in: f64,
}

impl ChronologyConfig {
    /// The resolved chronology.
    pub fn resolve(&self) -> Chronology {
        let ko = self.ko.unwrap_or_else(|| {
            let t = self.t.unwrap_or(0.0);
            ((t / (self.dt * self.dko as f64)).round() as usize).saturating_sub(1)
        });
        Chronology { dt: self.dt, dko: self.dko, ko, burn_in: self.burn_in }
    }

    /// The key that sets the run's length (`chronology.ko` or `chronology.t`), for messages.
    pub fn length_key(&self) -> &'static str {
        if self.ko.is_some() { "chronology.ko" } else { "chronology.t" }
    }

    /// Checks every value; `err(key, message)` builds the error.
    pub fn validate(&self, err: &dyn Fn(&str, String) -> AssimError) -> Result<(), AssimError> {
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(err("chronology.dt", format!("must be a positive number (got {})", self.dt)));
        }
        if self.dko == 0 {
            return Err(err("chronology.dko", "must be ≥ 1".into()));
        }
        match (self.ko, self.t) {
            (Some(_), Some(_)) => {
                return Err(err("chronology.t", "give either `ko` or `t`, not both".into()));
            }
            (None, None) => return Err(err("chronology.ko", "missing: give `ko` (or `t`)".into())),
            (Some(0), _) => {
                return Err(err("chronology.ko", "must be ≥ 1 (Ko = 0 gives a single analysis)".into()));
            }
            (None, Some(t)) if !(t.is_finite() && t >= 2.0 * self.dt * self.dko as f64) => {
                return Err(err(
                    "chronology.t",
                    format!("must span at least two observation times (got {t})"),
                ));
            }
            _ => {}
        }
        if !(self.burn_in.is_finite() && self.burn_in >= 0.0) {
            return Err(err("chronology.burn_in", format!("must be ≥ 0 (got {})", self.burn_in)));
        }
        let chrono = self.resolve();
        if !(0..chrono.n_obs_times()).any(|ko| chrono.is_averaged(ko)) {
            return Err(err("chronology.burn_in", "no analysis time falls after the burn-in".into()));
        }
        Ok(())
    }
}

/// `K = dko·(Ko+1)` model steps of length `dt`; observations at steps `dko, 2·dko, …, K`
/// (none at `t = 0`); time means over analysis times `t > burn_in`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chronology {
    /// Model time step.
    pub dt: f64,
    /// Model steps between observations.
    pub dko: usize,
    /// Index of the last observation time (there are `Ko + 1` of them).
    pub ko: usize,
    /// Time before which analyses are not averaged.
    pub burn_in: f64,
}

impl Chronology {
    /// Total number of model steps `K`.
    pub fn k(&self) -> usize {
        self.dko * (self.ko + 1)
    }

    /// Number of observation (analysis) times, `Ko + 1`.
    pub fn n_obs_times(&self) -> usize {
        self.ko + 1
    }

    /// Model step index of observation time `ko`.
    pub fn obs_step(&self, ko: usize) -> usize {
        self.dko * (ko + 1)
    }

    /// The observation index at model step `k`, if `k` is an observation time.
    pub fn obs_index(&self, k: usize) -> Option<usize> {
        (k > 0 && k.is_multiple_of(self.dko)).then(|| k / self.dko - 1)
    }

    /// Whether analysis `ko` enters time means (strictly after the burn-in).
    pub fn is_averaged(&self, ko: usize) -> bool {
        self.obs_step(ko) as f64 * self.dt > self.burn_in
    }

    /// The analysis indices that enter time means.
    pub fn averaged(&self) -> Vec<usize> {
        (0..self.n_obs_times()).filter(|&ko| self.is_averaged(ko)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sakov2008_counts() {
        let c = Chronology { dt: 0.05, dko: 1, ko: 2000, burn_in: 20.0 };
        assert_eq!(c.k(), 2001);
        let averaged = (0..c.n_obs_times()).filter(|&ko| c.is_averaged(ko)).count();
        assert_eq!(averaged, 1601, "as in the DAPPER reference run");
        assert_eq!(c.obs_index(0), None);
        assert_eq!(c.obs_index(1), Some(0));
    }
}
