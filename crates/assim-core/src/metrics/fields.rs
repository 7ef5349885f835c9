//! Scores of gridded multi-variable states on the sphere, WeatherBench2 style: area-weighted
//! RMSE, bias, anomaly correlation (against the climatological mean), ensemble spread and
//! fair CRPS per variable.

use crate::assimilator::Estimate;
use crate::grid::LatLonGrid;

use super::{Scores, crps_fair};

/// One variable's scores at one time (area-weighted over the grid).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VariableScores {
    /// `sqrt(Σ w (x̄ − x)²)`.
    pub rmse: f64,
    /// `Σ w (x̄ − x)`.
    pub bias: f64,
    /// Anomaly correlation of `x̄ − c` with `x − c`, `c` the climatological mean.
    pub acc: f64,
    /// `sqrt(Σ w var)` (ensemble variance with N − 1); NaN without an ensemble.
    pub spread: f64,
    /// `Σ w CRPS_fair`; NaN without an ensemble or when not asked for.
    pub crps: f64,
    /// The 1-D Wasserstein distance between the area-weighted distributions of the mean's
    /// and the truth's values ([`wasserstein1`], SLAMS's score).
    pub wasserstein: f64,
}

/// The 1-D Wasserstein distance `W₁ = ∫₀¹ |Q_a(u) − Q_b(u)| du` between the distributions of
/// the values of two fields, each value carrying the weight `w` of its point (area weights):
/// how far the analysed values are from the true ones as a distribution, wherever they lie
/// (SLAMS's measure of whether an analysis keeps the truth's extremes). Zero for a field and
/// any rearrangement of it among points of equal weight; `|c|` for a field and itself plus `c`.
/// `a`, `b`, `w` of one length, weights ≥ 0 with a positive sum.
pub fn wasserstein1(a: &[f64], b: &[f64], w: &[f64]) -> f64 {
    assert!(a.len() == b.len() && a.len() == w.len(), "two fields and their weights on one grid");
    let n = a.len();
    if n == 0 {
        return f64::NAN;
    }
    let order = |x: &[f64]| {
        let mut i: Vec<usize> = (0..n).collect();
        i.sort_by(|&p, &q| x[p].total_cmp(&x[q]));
        i
    };
    let (ia, ib) = (order(a), order(b));
    let total: f64 = w.iter().sum();
    // Walk both quantile functions: between consecutive breakpoints of the two cumulative
    // weights each is constant.
    let (mut i, mut j) = (0, 0);
    let (mut ca, mut cb) = (w[ia[0]], w[ib[0]]);
    let (mut u, mut d) = (0.0, 0.0);
    loop {
        let next = ca.min(cb);
        d += (next - u) * (a[ia[i]] - b[ib[j]]).abs();
        u = next;
        if ca <= next {
            i += 1;
            if i == n {
                break;
            }
            ca += w[ia[i]];
        }
        if cb <= next {
            j += 1;
            if j == n {
                break;
            }
            cb += w[ib[j]];
        }
    }
    d / total
}

/// Scores states `(variable, lat, lon)` on one grid; the headline RMSE, spread and CRPS are
/// each variable's score divided by its climatological standard deviation, averaged over the
/// variables (dimensionless: the climatological mean scores 1).
pub struct GridScorer {
    weights: Vec<f64>,
    n_vars: usize,
    clim_mean: Vec<f64>,
    clim_sd: Vec<f64>,
}

impl GridScorer {
    /// A scorer for `n_vars` fields on `grid`, with the climatological mean (length
    /// `n_vars × grid`) and variance per point.
    pub fn new(grid: &LatLonGrid, n_vars: usize, clim_mean: Vec<f64>, clim_var: &[f64]) -> Self {
        let g = grid.len();
        let weights: Vec<f64> = (0..g).map(|p| grid.area_weight(p / grid.nlon())).collect();
        let clim_sd = (0..n_vars)
            .map(|v| (0..g).map(|p| weights[p] * clim_var[v * g + p]).sum::<f64>().sqrt())
            .collect();
        GridScorer { weights, n_vars, clim_mean, clim_sd }
    }

    /// The area-weighted climatological standard deviation of each variable.
    pub fn clim_sd(&self) -> &[f64] {
        &self.clim_sd
    }

    /// Area weights per grid point (summing to 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Per-variable scores of a mean (and optional members) against `truth`.
    pub fn variables(
        &self,
        mean: &[f64],
        members: Option<faer::MatRef<'_, f64>>,
        truth: &[f64],
        with_crps: bool,
    ) -> Vec<VariableScores> {
        let g = self.weights.len();
        (0..self.n_vars)
            .map(|v| {
                let r = v * g..(v + 1) * g;
                let (mut se, mut b, mut aa, mut tt, mut at, mut var, mut crps) =
                    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
                let mut row = Vec::new();
                for (p, i) in r.enumerate() {
                    let w = self.weights[p];
                    let d = mean[i] - truth[i];
                    se += w * d * d;
                    b += w * d;
                    let (ma, ta) = (mean[i] - self.clim_mean[i], truth[i] - self.clim_mean[i]);
                    aa += w * ma * ma;
                    tt += w * ta * ta;
                    at += w * ma * ta;
                    if let Some(e) = members {
                        let n = e.ncols();
                        row.clear();
                        row.extend((0..n).map(|j| e[(i, j)]));
                        var += w * row.iter().map(|x| (x - mean[i]).powi(2)).sum::<f64>() / (n as f64 - 1.0);
                        if with_crps {
                            crps += w * crps_fair(&mut row, truth[i]);
                        }
                    }
                }
                let ens = members.is_some();
                VariableScores {
                    rmse: se.sqrt(),
                    bias: b,
                    acc: at / (aa * tt).sqrt(),
                    spread: if ens { var.sqrt() } else { f64::NAN },
                    crps: if ens && with_crps { crps } else { f64::NAN },
                    wasserstein: wasserstein1(
                        &mean[v * g..(v + 1) * g],
                        &truth[v * g..(v + 1) * g],
                        &self.weights,
                    ),
                }
            })
            .collect()
    }

    /// Headline and per-variable scores of an estimate.
    pub fn score(&self, est: &Estimate<'_>, truth: &[f64], with_crps: bool) -> (Scores, Vec<VariableScores>) {
        let (mean, members) = match *est {
            Estimate::State { mean, .. } => (mean.to_vec(), None),
            Estimate::Ensemble { members, .. } => {
                let n = members.ncols() as f64;
                (
                    (0..members.nrows())
                        .map(|i| (0..members.ncols()).map(|j| members[(i, j)]).sum::<f64>() / n)
                        .collect(),
                    Some(members),
                )
            }
        };
        let vars = self.variables(&mean, members, truth, with_crps);
        let norm = |f: &dyn Fn(&VariableScores) -> f64| {
            vars.iter().zip(&self.clim_sd).map(|(s, sd)| f(s) / sd).sum::<f64>() / self.n_vars as f64
        };
        let scores = Scores { rmse: norm(&|s| s.rmse), spread: norm(&|s| s.spread), crps: norm(&|s| s.crps) };
        (scores, vars)
    }
}

/// Per-lead scores of several forecasts (`runs[start][lead][variable]`, a run may stop short):
/// for each of `leads` leads and `n_vars` variables, the RMSE as a root mean square and the
/// bias and ACC as means over the starts that reached it (NaN where none did).
pub fn lead_means(
    runs: &[Vec<Vec<VariableScores>>],
    leads: usize,
    n_vars: usize,
) -> Vec<Vec<VariableScores>> {
    (0..leads)
        .map(|d| {
            let rows: Vec<&Vec<VariableScores>> = runs.iter().filter_map(|r| r.get(d)).collect();
            // No start reached this lead: NaN, not a zero error.
            let n = if rows.is_empty() { f64::NAN } else { rows.len() as f64 };
            (0..n_vars)
                .map(|v| VariableScores {
                    rmse: (rows.iter().map(|r| r[v].rmse.powi(2)).sum::<f64>() / n).sqrt(),
                    bias: rows.iter().map(|r| r[v].bias).sum::<f64>() / n,
                    acc: rows.iter().map(|r| r[v].acc).sum::<f64>() / n,
                    spread: f64::NAN,
                    crps: f64::NAN,
                    wasserstein: rows.iter().map(|r| r[v].wasserstein).sum::<f64>() / n,
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// W₁ against its closed forms: a shift by `c` costs `|c|`, a rearrangement among equal
    /// weights nothing, and with equal weights it is the mean gap between the sorted values
    /// (the definition for empirical distributions of as many points); unequal weights move
    /// mass as the quantile functions say (checked on three points by hand).
    #[test]
    fn wasserstein_matches_its_closed_forms() {
        let mut rng = crate::rng::stream(3, "wasserstein");
        let a: Vec<f64> = (0..257).map(|_| crate::rng::normal(&mut rng)).collect();
        let b: Vec<f64> = (0..257).map(|_| 2.0 * crate::rng::normal(&mut rng) + 0.3).collect();
        let w1 = vec![1.0; a.len()];
        let shifted: Vec<f64> = a.iter().map(|x| x - 0.7).collect();
        assert!((wasserstein1(&a, &shifted, &w1) - 0.7).abs() < 1e-12);
        let mut rev = a.clone();
        rev.reverse();
        assert!(wasserstein1(&a, &rev, &w1).abs() < 1e-12);
        let (mut sa, mut sb) = (a.clone(), b.clone());
        sa.sort_by(f64::total_cmp);
        sb.sort_by(f64::total_cmp);
        let direct = sa.iter().zip(&sb).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64;
        assert!((wasserstein1(&a, &b, &w1) - direct).abs() < 1e-12);
        // Weights (1/2, 1/4, 1/4) on the points, values a = (0, 1, 2), b = (2, 0, 1): Q_a = 0
        // on [0, ½), 1 on [½, ¾), 2 on [¾, 1]; Q_b = 0 on [0, ¼), 1 on [¼, ½), 2 on [½, 1]:
        // they differ by 1 on [¼, ¾), so W₁ = ½ (whatever the total weight).
        let w = [2.0, 1.0, 1.0];
        assert!((wasserstein1(&[0.0, 1.0, 2.0], &[2.0, 0.0, 1.0], &w) - 0.5).abs() < 1e-15);
    }
}
