//! The local ensemble transform Kalman filter (Hunt et al. 2007), DAPPER's conventions.

use faer::Mat;
use rayon::prelude::*;

use super::ensemble::{local_etkf, normalised_obs_anomalies, post_process};
use super::{EnsembleFilter, Setup};
use crate::AssimError;
use crate::linalg::centre;
use crate::rng::AssimRng;

/// LETKF: an ETKF per state batch on Gaspari–Cohn-tapered local observations
/// (`√taper` scales the normalised anomalies and innovations), batches in parallel.
pub struct LETKF {
    /// Ensemble size `N`.
    pub n: usize,
    /// Localisation radius (taper `e^{-1/2}` at this distance); `f64::INFINITY` = global.
    pub loc_rad: f64,
    /// Factor on the analysis anomalies.
    pub infl: f64,
    /// Random mean-preserving rotation after each analysis.
    pub rot: bool,
    e: Mat<f64>,
    /// Per batch: the local observations and `√taper` (the network is fixed, so once).
    local_obs: Vec<(Vec<usize>, Vec<f64>)>,
}

impl LETKF {
    /// A LETKF with `n` members and localisation radius `loc_rad`.
    pub fn new(n: usize, loc_rad: f64, infl: f64, rot: bool) -> Self {
        LETKF { n, loc_rad, infl, rot, e: Mat::zeros(0, 0), local_obs: Vec::new() }
    }
}

impl EnsembleFilter for LETKF {
    fn size(&self) -> usize {
        self.n
    }

    fn members(&self) -> &Mat<f64> {
        &self.e
    }

    fn members_mut(&mut self) -> &mut Mat<f64> {
        &mut self.e
    }

    fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), AssimError> {
        let loc = setup
            .localizer
            .ok_or_else(|| AssimError::Input("LETKF needs a localisation geometry for this model".into()))?;
        self.local_obs = loc
            .batches()
            .iter()
            .map(|batch| {
                let (jj, coeff) = loc.obs_taper(batch, self.loc_rad);
                (jj, coeff.into_iter().map(f64::sqrt).collect())
            })
            .collect();
        Ok(())
    }

    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let loc = setup.localizer.ok_or_else(|| AssimError::Input("LETKF needs a localizer".into()))?;
        let he = setup.obs.apply_ensemble(self.e.as_ref());
        let (yr, dy) = normalised_obs_anomalies(he.as_ref(), y, setup.obs_var);
        let (a, mu) = centre(self.e.as_ref());
        let n = self.n;
        let updates: Vec<Option<Mat<f64>>> = loc
            .batches()
            .par_iter()
            .zip(&self.local_obs)
            .map(|(batch, (jj, sq))| {
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
        for (batch, upd) in loc.batches().iter().zip(updates) {
            if let Some(e_loc) = upd {
                for j in 0..n {
                    for (i, &b) in batch.iter().enumerate() {
                        self.e[(b, j)] = e_loc[(i, j)];
                    }
                }
            }
        }
        post_process(&mut self.e, self.infl, self.rot, rng);
        Ok(())
    }
}
