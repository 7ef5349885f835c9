//! The bootstrap particle filter with systematic resampling and regularisation jitter.

use faer::Mat;

use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::assimilator::weights_degenerate;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::rng::{AssimRng, uniform};

/// Bootstrap PF (DAPPER's `PartFilt`): reweight by the Gaussian likelihood, resample
/// systematically when `N_eff ≤ NER·N`, then jitter the duplicated particles with
/// `N(0, (reg·h)² C_w)`, `h = N^{-1/(Nx+4)}` (Scott's rule), `C_w` the weighted covariance.
///
/// The analysis it reports is the weighted posterior ensemble, before resampling and jitter
/// add their noise (as DAPPER scores it).
pub struct PartFilt {
    /// Number of particles.
    pub n: usize,
    /// Resampling threshold on the effective sample size, as a fraction of `N`.
    pub ner: f64,
    /// Regularisation (jitter) scale; 0 = none.
    pub reg: f64,
    /// Jitter only particles that were duplicated ("no unique jitter").
    pub nuj: bool,
    e: Mat<f64>,
    w: Vec<f64>,
    /// The weighted posterior of the last analysis, when resampling replaced it.
    posterior: Option<(Mat<f64>, Vec<f64>)>,
}

impl PartFilt {
    /// A particle filter with `n` particles.
    pub fn new(n: usize, ner: f64, reg: f64, nuj: bool) -> Self {
        PartFilt { n, ner, reg, nuj, e: Mat::zeros(0, 0), w: Vec::new(), posterior: None }
    }

    /// `√(ub·w_i) (x_i − x̄_w)` as columns: a square root of the weighted covariance.
    fn raw_sqrt_cov(&self) -> Mat<f64> {
        let n = self.n;
        let w: Vec<f64> = if weights_degenerate(&self.w) { vec![1.0 / n as f64; n] } else { self.w.clone() };
        let nx = self.e.nrows();
        let mu: Vec<f64> = (0..nx).map(|i| (0..n).map(|j| w[j] * self.e[(i, j)]).sum()).collect();
        let ww: f64 = w.iter().map(|x| x * x).sum();
        let ub = 1.0 / (1.0 - ww);
        Mat::from_fn(nx, n, |i, j| (ub * w[j]).sqrt() * (self.e[(i, j)] - mu[i]))
    }
}

/// Systematic resampling: `N` indices from one uniform offset on the weights' CDF.
pub fn resample_systematic(w: &[f64], rng: &mut AssimRng) -> Vec<usize> {
    let n = w.len();
    let u = uniform(rng);
    let mut cdf = Vec::with_capacity(n);
    let mut acc = 0.0;
    for &x in w {
        acc += x;
        cdf.push(acc);
    }
    (0..n)
        .map(|i| {
            let target = (u + i as f64) / n as f64;
            cdf.partition_point(|&c| c < target).min(n - 1)
        })
        .collect()
}

impl Assimilator for PartFilt {
    fn initialise(&mut self, setup: &Setup<'_>, rng: &mut AssimRng) -> Result<(), AssimError> {
        self.e = setup.x0.sample(self.n, rng)?;
        self.w = vec![1.0 / self.n as f64; self.n];
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        self.posterior = None;
        crate::distributed::advance_ensemble(setup.model, &mut self.e, t0, setup.dt, steps);
        Ok(())
    }

    fn analyse(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        _t: f64,
        rng: &mut AssimRng,
    ) -> Result<(), AssimError> {
        let n = self.n;
        self.posterior = None;
        let he = crate::distributed::observe_ensemble(setup.obs, self.e.as_ref());
        // log-weights: log w + log-likelihood, stabilised by the maximum.
        let mut logw: Vec<f64> = (0..n)
            .map(|j| {
                let ll: f64 = (0..y.len()).map(|p| (y[p] - he[(p, j)]).powi(2) / setup.obs_var[p]).sum();
                self.w[j].ln() - 0.5 * ll
            })
            .collect();
        let mx = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if !mx.is_finite() {
            return Err(AssimError::Numerical("particle filter: all weights vanished".into()));
        }
        logw.iter_mut().for_each(|l| *l = (*l - mx).exp());
        let s: f64 = logw.iter().sum();
        self.w = logw.into_iter().map(|x| x / s).collect();
        let n_eff = 1.0 / self.w.iter().map(|x| x * x).sum::<f64>();
        if n_eff <= n as f64 * self.ner {
            let nx = self.e.nrows();
            let bandwidth = (n as f64).powf(-1.0 / (nx as f64 + 4.0));
            let c12 = self.raw_sqrt_cov() * faer::Scale(self.reg * bandwidth);
            let idx = resample_systematic(&self.w, rng);
            let mut e = Mat::from_fn(nx, n, |i, j| self.e[(i, idx[j])]);
            if self.reg > 0.0 {
                // Jitter ~ N(0, C12 C12ᵀ). With more particles than 2·Nx, draw it through the
                // Nx × Nx Cholesky factor instead of N weights per particle (same law).
                let factor = if n > 2 * nx {
                    crate::linalg::cholesky_lower((&c12 * c12.transpose()).as_ref()).unwrap_or(c12)
                } else {
                    c12
                };
                let mut d = vec![0.0; factor.ncols()];
                for j in 0..n {
                    let duplicated = (j > 0 && idx[j - 1] == idx[j]) || (j + 1 < n && idx[j + 1] == idx[j]);
                    if self.nuj && !duplicated {
                        continue;
                    }
                    crate::rng::fill_normal(rng, &mut d);
                    for i in 0..nx {
                        e[(i, j)] += (0..d.len()).map(|k| factor[(i, k)] * d[k]).sum::<f64>();
                    }
                }
            }
            let weighted = std::mem::replace(&mut self.e, e);
            let w = std::mem::replace(&mut self.w, vec![1.0 / n as f64; n]);
            self.posterior = Some((weighted, w));
        }
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        let (e, w) = self.posterior.as_ref().map_or((&self.e, &self.w), |(e, w)| (e, w));
        Estimate::Ensemble { members: e.as_ref(), weights: Some(w) }
    }
}

/// `method = "PartFilt"`: the bootstrap particle filter.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartFiltConfig {
    /// Number of particles.
    pub n: usize,
    /// Resampling threshold on `N_eff / N`.
    #[serde(default = "defaults::one")]
    pub ner: f64,
    /// Regularisation jitter scale.
    #[serde(default)]
    pub reg: f64,
    /// Jitter only duplicated particles.
    #[serde(default = "defaults::yes")]
    pub nuj: bool,
}

impl Method for PartFiltConfig {
    const NAME: &'static str = "PartFilt";
    fn auto_label(&self) -> String {
        let mut s = format!("PartFilt N={} NER={} reg={}", self.n, self.ner, self.reg);
        if !self.nuj {
            s.push_str(" nuj=false");
        }
        s
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.ensemble_size("n", self.n)?;
        if !(self.ner.is_finite() && (0.0..=1.0).contains(&self.ner)) {
            return Err(check.error("ner", format!("must be in [0, 1] (got {})", self.ner)));
        }
        if !(self.reg.is_finite() && self.reg >= 0.0) {
            return Err(check.error("reg", format!("must be ≥ 0 (got {})", self.reg)));
        }
        Ok(())
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(PartFilt::new(self.n, self.ner, self.reg, self.nuj)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systematic_resampling_counts() {
        // Each particle is copied floor(N w) or ceil(N w) times.
        let w = [0.1, 0.45, 0.05, 0.4];
        let mut rng = crate::rng::stream(7, "pf");
        for _ in 0..50 {
            let idx = resample_systematic(&w, &mut rng);
            let mut counts = [0usize; 4];
            idx.iter().for_each(|&i| counts[i] += 1);
            for (c, wi) in counts.iter().zip(w) {
                let x = 4.0 * wi;
                assert!(*c as f64 >= x.floor() && *c as f64 <= x.ceil(), "{counts:?}");
            }
            assert!(idx.windows(2).all(|p| p[0] <= p[1]));
        }
    }
}
