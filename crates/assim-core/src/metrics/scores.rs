//! Instantaneous scores: RMSE of the mean, ensemble spread and CRPS.

use crate::assimilator::Estimate;

/// Scores of one estimate at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// `sqrt(mean_i (x̄_i − x_i)²)`.
    pub rmse: f64,
    /// `sqrt(mean_i var_i)` with the ensemble variance (ddof = 1, or the weighted unbiased
    /// variance for weighted particles), or the method's claimed variance; NaN if none.
    pub spread: f64,
    /// Fair CRPS averaged over variables; NaN without an ensemble.
    pub crps: f64,
}

/// Scores `est` against `truth`; the CRPS only if `with_crps` (it costs a sort per variable).
pub fn score(est: &Estimate<'_>, truth: &[f64], with_crps: bool) -> Scores {
    let nx = truth.len();
    match *est {
        Estimate::State { mean, var } => {
            let rmse = rms_diff(mean, truth);
            let spread = var.map_or(f64::NAN, |v| (v.iter().sum::<f64>() / nx as f64).sqrt());
            Scores { rmse, spread, crps: f64::NAN }
        }
        Estimate::Ensemble { members, weights } => {
            let n = members.ncols();
            let mut mean = vec![0.0; nx];
            let mut var_sum = 0.0;
            let mut crps_sum = 0.0;
            let mut row = vec![0.0; n];
            for i in 0..nx {
                for (j, r) in row.iter_mut().enumerate() {
                    *r = members[(i, j)];
                }
                let (m, v) = match weights {
                    None => {
                        let m = row.iter().sum::<f64>() / n as f64;
                        let v = row.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n as f64 - 1.0);
                        (m, v)
                    }
                    Some(w) => {
                        let m: f64 = row.iter().zip(w).map(|(x, w)| x * w).sum();
                        let ww: f64 = w.iter().map(|w| w * w).sum();
                        let ub =
                            if crate::assimilator::weights_degenerate(w) { 1.0 } else { 1.0 / (1.0 - ww) };
                        let v = ub * row.iter().zip(w).map(|(x, w)| w * (x - m).powi(2)).sum::<f64>();
                        (m, v)
                    }
                };
                mean[i] = m;
                var_sum += v;
                if with_crps && weights.is_none() {
                    crps_sum += crps_fair(&mut row, truth[i]);
                }
            }
            let crps = if with_crps && weights.is_none() { crps_sum / nx as f64 } else { f64::NAN };
            Scores { rmse: rms_diff(&mean, truth), spread: (var_sum / nx as f64).sqrt(), crps }
        }
    }
}

fn rms_diff(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
}

/// The fair (unbiased for finite ensembles) CRPS of members `x` for the outcome `y`:
/// `mean|x_i − y| − Σ_{i,j}|x_i − x_j| / (2N(N−1))`. Small ensembles sum the pairs directly
/// (branch-free, vectorised: 4× faster than sorting at N = 40); large ones sort `x` in place
/// and use `Σ_{i,j}|x_i − x_j| = 2 Σ_i (2i − N + 1) x_(i)` (O(N log N)).
pub fn crps_fair(x: &mut [f64], y: f64) -> f64 {
    let n = x.len();
    if n < 2 {
        return x.first().map_or(f64::NAN, |v| (v - y).abs());
    }
    let skill = sum_abs_diff(x, y) / n as f64;
    let pair_sum = if n <= 64 {
        2.0 * (0..n - 1).map(|i| sum_abs_diff(&x[i + 1..], x[i])).sum::<f64>()
    } else {
        x.sort_unstable_by(f64::total_cmp);
        x.iter().enumerate().map(|(i, v)| (2.0 * i as f64 - n as f64 + 1.0) * v).sum::<f64>() * 2.0
    };
    skill - pair_sum / (2.0 * n as f64 * (n as f64 - 1.0))
}

/// `Σ_i |x_i − v|` with four partial sums (so it vectorises).
fn sum_abs_diff(x: &[f64], v: f64) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = x.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|a| (a - v).abs()).sum();
    for c in chunks {
        for k in 0..4 {
            acc[k] += (c[k] - v).abs();
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    #[test]
    fn crps_matches_brute_force() {
        let mut x = vec![0.3, -1.2, 2.5, 0.7, 0.0];
        let y = 0.4;
        let n = x.len() as f64;
        let skill: f64 = x.iter().map(|v: &f64| (v - y).abs()).sum::<f64>() / n;
        let mut pairs = 0.0;
        for a in &x {
            for b in &x {
                pairs += (a - b).abs();
            }
        }
        let brute = skill - pairs / (2.0 * n * (n - 1.0));
        assert!((crps_fair(&mut x, y) - brute).abs() < 1e-14);
    }

    #[test]
    fn crps_pairwise_and_sorted_forms_agree() {
        // N = 64 takes the pairwise path, N = 65 the sorted one; both against brute force.
        let mut rng = crate::rng::stream(2, "crps");
        for n in [2usize, 3, 40, 64, 65, 200] {
            let x: Vec<f64> = (0..n).map(|_| crate::rng::normal(&mut rng)).collect();
            let y = 0.3;
            let nf = n as f64;
            let skill: f64 = x.iter().map(|v| (v - y).abs()).sum::<f64>() / nf;
            let pairs: f64 = x.iter().flat_map(|a| x.iter().map(move |b| (a - b).abs())).sum();
            let brute = skill - pairs / (2.0 * nf * (nf - 1.0));
            assert!((crps_fair(&mut x.clone(), y) - brute).abs() < 1e-12, "n = {n}");
        }
    }

    #[test]
    fn crps_of_large_gaussian_ensemble_matches_closed_form() {
        // CRPS of N(0,1) at y = 0 is (√2 − 1)/√π ≈ 0.2337 (Gneiting & Raftery 2007);
        // with 20000 equiprobable quantiles the fair estimate is within 1e-3.
        let n = 20000;
        let mut x: Vec<f64> = (0..n).map(|i| inv_norm_cdf((i as f64 + 0.5) / n as f64)).collect();
        let exact = (2f64.sqrt() - 1.0) / std::f64::consts::PI.sqrt();
        assert!((crps_fair(&mut x, 0.0) - exact).abs() < 1e-3);
    }

    /// Inverse normal CDF by bisection on an erf with 1.5e-7 absolute error
    /// (Abramowitz & Stegun 7.1.26): ample for the 1e-3 tolerance above.
    fn inv_norm_cdf(p: f64) -> f64 {
        let erf = |x: f64| {
            let t = 1.0 / (1.0 + 0.3275911 * x.abs());
            let poly = t
                * (0.254829592
                    + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
            (1.0 - poly * (-x * x).exp()).copysign(x)
        };
        let cdf = |x: f64| 0.5 * (1.0 + erf(x / 2f64.sqrt()));
        let (mut lo, mut hi) = (-10.0, 10.0);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if cdf(mid) < p { lo = mid } else { hi = mid }
        }
        0.5 * (lo + hi)
    }

    #[test]
    fn ensemble_spread_is_ddof1() {
        let e = Mat::from_fn(2, 3, |i, j| (i + j) as f64);
        let s = score(&Estimate::Ensemble { members: e.as_ref(), weights: None }, &[1.0, 2.0], true);
        assert!((s.rmse - 0.0).abs() < 1e-15);
        assert!((s.spread - 1.0).abs() < 1e-15);
    }
}
