//! Time means of score series, with confidence intervals corrected for autocorrelation.

/// A time mean and the half-width of its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanWithCi {
    /// The mean.
    pub mean: f64,
    /// Standard error of the mean, inflated for AR(1) autocorrelation.
    pub std_err: f64,
    /// Half-width of the 95% interval (`1.96·std_err`).
    pub ci95: f64,
}

/// Mean of `xs` with an AR(1)-corrected standard error (as DAPPER's `series_mean_with_conf`):
/// `se² = var/n · (1 + a)/(1 − a)` with `a` the lag-1 autocorrelation (clamped to
/// `[0, 0.99]`). NaN error for fewer than 6 values or a non-finite mean.
pub fn series_mean(xs: &[f64]) -> MeanWithCi {
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n <= 5 || !mean.is_finite() {
        return MeanWithCi { mean, std_err: f64::NAN, ci95: f64::NAN };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    if var == 0.0 {
        return MeanWithCi { mean, std_err: 0.0, ci95: 0.0 };
    }
    let cov1 = xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / n as f64;
    let a = (cov1 / var).clamp(0.0, 0.99);
    let std_err = (var / n as f64 * (1.0 + a) / (1.0 - a)).sqrt();
    MeanWithCi { mean, std_err, ci95: 1.96 * std_err }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal, stream};

    #[test]
    fn ar1_error_bar_covers_truth_at_nominal_rate() {
        // AR(1) with a = 0.9: the naive error bar is √19 ≈ 4.4× too small; the corrected one
        // must cover the true mean 0 in about 95% of 400 independent series.
        let mut rng = stream(11, "ar1");
        let mut covered = 0;
        let trials = 400;
        for _ in 0..trials {
            let mut x = 0.0;
            let xs: Vec<f64> = (0..2000)
                .map(|_| {
                    x = 0.9 * x + normal(&mut rng);
                    x
                })
                .collect();
            let m = series_mean(&xs);
            if m.mean.abs() <= m.ci95 {
                covered += 1;
            }
        }
        let rate = covered as f64 / trials as f64;
        // binomial sd at p = 0.95, n = 400 is 0.011: accept 0.91..0.99
        assert!((0.91..=0.99).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn constant_series_has_zero_error() {
        let m = series_mean(&[2.0; 10]);
        assert_eq!((m.mean, m.std_err), (2.0, 0.0));
    }
}
