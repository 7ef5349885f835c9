//! The local ensemble transform Kalman filter (Hunt et al. 2007), DAPPER's conventions.

use faer::Mat;
use rayon::prelude::*;

use super::ensemble::{local_etkf, normalised_obs_anomalies, post_process};
use super::{EnsembleFilter, Setup};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::linalg::centre;
use crate::rng::AssimRng;

/// LETKF: an ETKF per state batch on Gaspari–Cohn-tapered local observations
/// (`√taper` scales the normalised anomalies and innovations), batches in parallel; then
/// relaxation to prior spread (optional) and multiplicative inflation.
pub struct LETKF {
    /// Ensemble size `N`.
    pub n: usize,
    /// Localisation radius (taper `e^{-1/2}` at this distance); `f64::INFINITY` = global.
    pub loc_rad: f64,
    /// Factor on the analysis anomalies.
    pub infl: f64,
    /// Random mean-preserving rotation after each analysis.
    pub rot: bool,
    /// Relaxation to prior spread α (Whitaker & Hamill 2012; 0 = off): each state
    /// component's analysis anomalies are scaled by `α σ_b/σ_a + 1 − α`.
    pub rtps: f64,
    e: Mat<f64>,
}

impl LETKF {
    /// A LETKF with `n` members and localisation radius `loc_rad`.
    pub fn new(n: usize, loc_rad: f64, infl: f64, rot: bool) -> Self {
        LETKF { n, loc_rad, infl, rot, rtps: 0.0, e: Mat::zeros(0, 0) }
    }

    /// The same with relaxation to prior spread `alpha`.
    pub fn with_rtps(mut self, alpha: f64) -> Self {
        self.rtps = alpha;
        self
    }
}

/// Per state component: the ensemble spread (standard deviation over the columns).
fn row_spread(e: &Mat<f64>) -> Vec<f64> {
    let n = e.ncols() as f64;
    (0..e.nrows())
        .map(|i| {
            let m = (0..e.ncols()).map(|j| e[(i, j)]).sum::<f64>() / n;
            ((0..e.ncols()).map(|j| (e[(i, j)] - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        })
        .collect()
}

impl EnsembleFilter for LETKF {
    ensemble_accessors!(n, e);

    fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), AssimError> {
        setup
            .localizer
            .ok_or_else(|| AssimError::Input("LETKF needs a localisation geometry for this model".into()))?;
        Ok(())
    }

    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let loc = setup.localizer.ok_or_else(|| AssimError::Input("LETKF needs a localizer".into()))?;
        let he = crate::distributed::observe_ensemble(setup.obs, self.e.as_ref());
        let (yr, dy) = normalised_obs_anomalies(he.as_ref(), y, setup.obs_var);
        let (a, mu) = centre(self.e.as_ref());
        let n = self.n;
        let prior_spread = (self.rtps > 0.0).then(|| row_spread(&self.e));
        let loc_rad = self.loc_rad;
        // Batches in runs that share a horizontal position (a column's levels): one search
        // for nearby observations per run. The network may change between analyses: taper
        // afresh each time. Runs are shared among the ranks of a distributed job, each rank
        // returning its batches' analysis members (batch by batch, member by member).
        let run = loc.run_len().max(1);
        let batches = loc.batches();
        let prior = &self.e;
        let analysed = crate::distributed::gather_blocks(batches.len().div_ceil(run), |runs| {
            let mine = &batches[(runs.start * run).min(batches.len())..(runs.end * run).min(batches.len())];
            let updates: Vec<Option<Mat<f64>>> = mine
                .par_chunks(run)
                .flat_map_iter(|batches| batches.iter().zip(loc.obs_tapers(batches, loc_rad)))
                .map(|(batch, (jj, coeff))| {
                    let sq: Vec<f64> = coeff.into_iter().map(f64::sqrt).collect();
                    let (jj, sq) = (&jj, &sq);
                    if jj.is_empty() {
                        return Ok(None);
                    }
                    let mut y_loc = Mat::<f64>::zeros(jj.len(), n);
                    for j in 0..n {
                        let src = yr.col(j).try_as_col_major().expect("contiguous column").as_slice();
                        let dst = y_loc.col_mut(j).try_as_col_major_mut().expect("contiguous").as_slice_mut();
                        for ((d, &p), s) in dst.iter_mut().zip(jj).zip(sq) {
                            *d = src[p] * s;
                        }
                    }
                    let dy_loc: Vec<f64> = jj.iter().zip(sq).map(|(&p, s)| dy[p] * s).collect();
                    let a_loc = Mat::from_fn(batch.len(), n, |i, j| a[(batch[i], j)]);
                    let mu_loc: Vec<f64> = batch.iter().map(|&b| mu[b]).collect();
                    local_etkf(a_loc.as_ref(), &mu_loc, y_loc.as_ref(), &dy_loc).map(Some)
                })
                .collect::<Result<_, AssimError>>()?;
            let mut out = Vec::with_capacity(mine.iter().map(Vec::len).sum::<usize>() * n);
            for (batch, upd) in mine.iter().zip(&updates) {
                for j in 0..n {
                    out.extend(
                        batch
                            .iter()
                            .enumerate()
                            .map(|(i, &b)| upd.as_ref().map_or(prior[(b, j)], |u| u[(i, j)])),
                    );
                }
            }
            Ok(out)
        })?;
        let mut values = analysed.into_iter();
        for batch in batches {
            for j in 0..n {
                for &b in batch {
                    self.e[(b, j)] = values.next().expect("every rank returns its batches' members");
                }
            }
        }
        if let Some(sb) = prior_spread {
            let sa = row_spread(&self.e);
            let alpha = self.rtps;
            for i in 0..self.e.nrows() {
                if sa[i] > 0.0 {
                    let f = alpha * sb[i] / sa[i] + 1.0 - alpha;
                    let m = (0..n).map(|j| self.e[(i, j)]).sum::<f64>() / n as f64;
                    for j in 0..n {
                        self.e[(i, j)] = m + f * (self.e[(i, j)] - m);
                    }
                }
            }
        }
        post_process(&mut self.e, self.infl, self.rot, rng);
        Ok(())
    }
}

/// `method = "LETKF"`.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LETKFConfig {
    /// Ensemble size.
    pub n: usize,
    /// Localisation radius (`inf` for global).
    pub loc_rad: f64,
    /// Anomaly inflation factor.
    #[serde(default = "defaults::one")]
    pub infl: f64,
    /// Random rotation.
    #[serde(default)]
    pub rot: bool,
    /// Relaxation to prior spread α (0 = off).
    #[serde(default, skip_serializing_if = "defaults::is_zero")]
    pub rtps: f64,
}

impl Method for LETKFConfig {
    const NAME: &'static str = "LETKF";
    fn auto_label(&self) -> String {
        let mut s =
            super::with_infl_rot(format!("LETKF N={} loc_rad={}", self.n, self.loc_rad), self.infl, self.rot);
        if self.rtps != 0.0 {
            s.push_str(&format!(" rtps={}", self.rtps));
        }
        s
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::Localisation]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.ensemble_size("n", self.n)?;
        check.inflation("infl", self.infl)?;
        if self.loc_rad.is_nan() || self.loc_rad <= 0.0 {
            return Err(check.error("loc_rad", format!("must be positive or inf (got {})", self.loc_rad)));
        }
        if !(self.rtps.is_finite() && (0.0..=1.0).contains(&self.rtps)) {
            return Err(check.error("rtps", format!("must be in [0, 1] (got {})", self.rtps)));
        }
        Ok(())
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(LETKF::new(self.n, self.loc_rad, self.infl, self.rot).with_rtps(self.rtps)))
    }
}
