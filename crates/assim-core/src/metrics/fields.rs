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
                })
                .collect()
        })
        .collect()
}
