//! 3D-Var on the sphere with a spectral, homogeneous and isotropic `B` per variable,
//! minimised by conjugate gradients in `B^{1/2}` control variables.
//!
//! With `x = x_b + √xb · B^{1/2} v`, `d = y − H x_b` and `L = R^{-1/2} H √xb B^{1/2}`:
//! `J(v) = ½ vᵀv + ½ ‖R^{-1/2} d − L v‖²`, whose minimiser solves `(I + LᵀL) v = Lᵀ R^{-1/2} d`
//! (symmetric positive definite, eigenvalues ≥ 1: CG converges fast and monotonically).

use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::rng::AssimRng;
use crate::spectral::VarianceSpectra;

/// Spectral 3D-Var, cycled on the model forecast.
pub struct SpectralVar3D {
    /// Scale of the climatological variance spectra used as `B`.
    pub xb: f64,
    /// Largest number of CG iterations per analysis.
    pub max_iter: usize,
    /// CG stops when the residual norm falls below `tol` × its initial value.
    pub tol: f64,
    state: Vec<f64>,
    b: Option<VarianceSpectra>,
    analyses: usize,
    iterations: usize,
    cost_ratio: f64,
}

impl SpectralVar3D {
    /// 3D-Var with `B = xb · (climatological spectra)`.
    pub fn new(xb: f64, max_iter: usize, tol: f64) -> Self {
        SpectralVar3D {
            xb,
            max_iter,
            tol,
            state: Vec::new(),
            b: None,
            analyses: 0,
            iterations: 0,
            cost_ratio: 0.0,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Assimilator for SpectralVar3D {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        let b = setup.climatology.spectra().ok_or_else(|| {
            AssimError::Input(
                "spectral 3D-Var needs variance spectra of the climate (a model on the sphere)".into(),
            )
        })?;
        self.b = Some(b.clone());
        self.state = setup.climatology.mean().to_vec();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        setup.model.advance(&mut self.state, t0, setup.dt, steps);
        Ok(())
    }

    fn analyse(&mut self, setup: &Setup<'_>, y: &[f64], _t: f64, _: &mut AssimRng) -> Result<(), AssimError> {
        let b =
            self.b.as_ref().ok_or_else(|| AssimError::Input("3D-Var used before initialisation".into()))?;
        let (p, nx, nc) = (y.len(), self.state.len(), b.control_len());
        let scale = self.xb.sqrt();
        let inv_sd: Vec<f64> = setup.obs_var.iter().map(|v| 1.0 / v.sqrt()).collect();
        let mut hx = vec![0.0; p];
        setup.obs.apply(&self.state, &mut hx);
        // Normalised innovation R^{-1/2} d.
        let dn: Vec<f64> = (0..p).map(|k| (y[k] - hx[k]) * inv_sd[k]).collect();
        let (mut xs, mut ys, mut hts) = (vec![0.0; nx], vec![0.0; p], vec![0.0; nx]);
        let mut l = |v: &[f64], out: &mut [f64]| {
            b.sqrt_apply(v, scale, &mut xs);
            setup.obs.apply(&xs, out);
            out.iter_mut().zip(&inv_sd).for_each(|(o, s)| *o *= s);
        };
        let lt = |w: &[f64], out: &mut [f64], hts: &mut Vec<f64>| -> Result<(), AssimError> {
            let wr: Vec<f64> = w.iter().zip(&inv_sd).map(|(a, s)| a * s).collect();
            if !setup.obs.adjoint(&wr, hts) {
                return Err(AssimError::Input("3D-Var needs a linear observation operator".into()));
            }
            b.sqrt_adjoint(hts, scale, out);
            Ok(())
        };
        // CG on (I + LᵀL) v = Lᵀ dn from v = 0.
        let mut rhs = vec![0.0; nc];
        lt(&dn, &mut rhs, &mut hts)?;
        let mut v = vec![0.0; nc];
        let mut r = rhs.clone();
        let mut dir = r.clone();
        let (mut rr, r0) = (dot(&r, &r), dot(&r, &r).sqrt());
        let (mut q, mut lq) = (vec![0.0; nc], vec![0.0; nc]);
        let mut it = 0;
        while it < self.max_iter && rr.sqrt() > self.tol * r0 && r0 > 0.0 {
            l(&dir, &mut ys);
            lt(&ys, &mut lq, &mut hts)?;
            for k in 0..nc {
                q[k] = dir[k] + lq[k];
            }
            let alpha = rr / dot(&dir, &q);
            for k in 0..nc {
                v[k] += alpha * dir[k];
                r[k] -= alpha * q[k];
            }
            let rr_new = dot(&r, &r);
            let beta = rr_new / rr;
            rr = rr_new;
            for k in 0..nc {
                dir[k] = r[k] + beta * dir[k];
            }
            it += 1;
        }
        // Cost before and after.
        l(&v, &mut ys);
        let j0 = 0.5 * dot(&dn, &dn);
        let misfit: f64 = dn.iter().zip(&ys).map(|(a, b)| (a - b).powi(2)).sum();
        let j = 0.5 * dot(&v, &v) + 0.5 * misfit;
        b.sqrt_apply(&v, scale, &mut xs);
        for (x, dx) in self.state.iter_mut().zip(&xs) {
            *x += dx;
        }
        self.analyses += 1;
        self.iterations += it;
        self.cost_ratio += if j0 > 0.0 { j / j0 } else { 1.0 };
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.state, var: None }
    }

    fn diagnostics(&self) -> Vec<(&'static str, f64)> {
        let n = self.analyses.max(1) as f64;
        vec![("cg_iterations", self.iterations as f64 / n), ("cost_reduction", self.cost_ratio / n)]
    }
}
