//! The Gaussian toy shared by the sampler and guidance tests: a correlated prior N(μ, Σ) on six
//! variables, and sample moments.

use assim_core::rng::{fill_normal, stream};
use faer::Mat;

/// State dimension of the toy.
pub const NX: usize = 6;

/// μ and Σ = A Aᵀ/nx + 0.05 I (correlated, well conditioned, variances ≈ 1), seeded.
pub fn toy_prior() -> (Vec<f64>, Mat<f64>) {
    let mut rng = stream(3, "gaussian-prior-test");
    let mut a = vec![0.0; NX * NX];
    fill_normal(&mut rng, &mut a);
    let mut mean = vec![0.0; NX];
    fill_normal(&mut rng, &mut mean);
    let cov = Mat::from_fn(NX, NX, |i, j| {
        (0..NX).map(|k| a[i * NX + k] * a[j * NX + k]).sum::<f64>() / NX as f64
            + if i == j { 0.05 } else { 0.0 }
    });
    (mean, cov)
}

/// Sample mean and covariance of row-major samples of `NX` values.
pub fn moments(rows: &[f64]) -> (Vec<f64>, Mat<f64>) {
    let n = rows.len() / NX;
    let mean: Vec<f64> = (0..NX).map(|i| (0..n).map(|s| rows[s * NX + i]).sum::<f64>() / n as f64).collect();
    let cov = Mat::from_fn(NX, NX, |i, j| {
        (0..n).map(|s| (rows[s * NX + i] - mean[i]) * (rows[s * NX + j] - mean[j])).sum::<f64>()
            / (n - 1) as f64
    });
    (mean, cov)
}
