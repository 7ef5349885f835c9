//! Normalisation of states for the networks: `x̃ = (x − μ)/s`, with statistics computed once
//! from the training truth and stored in the checkpoint (DESIGN.md §3).

use serde::{Deserialize, Serialize};

/// Pooled mean and standard deviation: Lorenz-96 is homogeneous on its ring, so one pair for
/// every variable (per-variable estimates would only add sampling noise).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    /// Mean μ.
    pub mean: f64,
    /// Standard deviation s (> 0).
    pub std: f64,
}

impl Normalisation {
    /// The statistics of `values` (all variables of all states pooled).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Normalisation { mean, std: var.sqrt().max(1e-12) }
    }

    /// Physical → normalised.
    pub fn forward(&self, x: f64) -> f64 {
        (x - self.mean) / self.std
    }

    /// Normalised → physical.
    pub fn inverse(&self, z: f64) -> f64 {
        self.mean + self.std * z
    }
}
