//! When the model steps and when observations arrive (DAPPER's `Chronology`).

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
