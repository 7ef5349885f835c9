//! 3D-Var on the sphere with a spectral, homogeneous and isotropic `B` per variable,
//! minimised by conjugate gradients in `B^{1/2}` control variables.
//!
//! With `x = x_b + √xb · B^{1/2} v`, `d = y − H x_b` and `L = R^{-1/2} H √xb B^{1/2}`:
//! `J(v) = ½ vᵀv + ½ ‖R^{-1/2} d − L v‖²`, whose minimiser solves `(I + LᵀL) v = Lᵀ R^{-1/2} d`
//! (symmetric positive definite, eigenvalues ≥ 1: CG converges fast and monotonically).
//!
//! A nonlinear `H` (radiances of emission, radiosondes interpolated in log-pressure) is
//! handled incrementally (Courtier et al. 1994): each outer loop linearises `H` at the current
//! guess `x_g = x_b + √xb B^{1/2} v_g`, with `d_g = y − H(x_g)` and `L_g` from the tangent-linear
//! `H'(x_g)`, and solves `(I + L_gᵀL_g) v = L_gᵀ (R^{-1/2} d_g + L_g v_g)` by CG from `v_g`. One
//! outer loop of a linear `H` is the exact minimiser.

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
    /// Outer loops (relinearisations of a nonlinear `H`; 1 for a linear one).
    pub outer_loops: usize,
    /// Weights on the increment per field ([`super::taper`]; `None`: the whole increment).
    pub taper: Option<super::taper::Taper>,
    state: Vec<f64>,
    b: Option<VarianceSpectra>,
    analyses: usize,
    iterations: usize,
    cost_ratio: f64,
}

impl SpectralVar3D {
    /// 3D-Var with `B = xb · (climatological spectra)` and one outer loop.
    pub fn new(xb: f64, max_iter: usize, tol: f64) -> Self {
        SpectralVar3D {
            xb,
            max_iter,
            tol,
            outer_loops: 1,
            taper: None,
            state: Vec::new(),
            b: None,
            analyses: 0,
            iterations: 0,
            cost_ratio: 0.0,
        }
    }

    /// The 3D-Var analysis of `background` (`[nx]`) given `y` (`[p]`) with `B = xb·b`: the
    /// step a cycle makes, from any state (another method's analysis can take it too).
    pub fn solve(
        &self,
        b: &VarianceSpectra,
        setup: &Setup<'_>,
        y: &[f64],
        background: &[f64],
    ) -> Result<Var3DStep, AssimError> {
        let (p, nx, nc) = (y.len(), background.len(), b.control_len());
        let scale = self.xb.sqrt();
        let inv_sd: Vec<f64> = setup.obs_var.iter().map(|v| 1.0 / v.sqrt()).collect();
        let no_tl =
            || AssimError::Input("3D-Var needs a linear or tangent-linear observation operator".into());
        let (mut xs, mut ys, mut hts) = (vec![0.0; nx], vec![0.0; p], vec![0.0; nx]);
        let mut v = vec![0.0; nc];
        let mut guess = background.to_vec();
        let mut hx = vec![0.0; p];
        let (mut j0, mut j) = (0.0, 0.0);
        let mut iterations = 0;
        // A linear H is solved exactly by the first loop.
        let linear = setup.obs.is_linear();
        let loops = if linear { 1 } else { self.outer_loops.max(1) };
        for outer in 0..loops {
            setup.obs.apply(&guess, &mut hx);
            // Normalised innovation at the guess, R^{-1/2} d_g.
            let dn: Vec<f64> = (0..p).map(|k| (y[k] - hx[k]) * inv_sd[k]).collect();
            let xg = &guess;
            let mut l = |v: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
                b.sqrt_apply(v, scale, &mut xs);
                if !setup.obs.tangent_linear(xg, &xs, out) {
                    return Err(no_tl());
                }
                out.iter_mut().zip(&inv_sd).for_each(|(o, s)| *o *= s);
                Ok(())
            };
            let lt = |w: &[f64], out: &mut [f64], hts: &mut Vec<f64>| -> Result<(), AssimError> {
                let wr: Vec<f64> = w.iter().zip(&inv_sd).map(|(a, s)| a * s).collect();
                if !setup.obs.tangent_adjoint(xg, &wr, hts) {
                    return Err(no_tl());
                }
                b.sqrt_adjoint(hts, scale, out);
                Ok(())
            };
            if outer == 0 {
                j0 = 0.5 * dot(&dn, &dn);
            }
            // CG on (I + LᵀL) v = Lᵀ (dn + L v_g), from v = v_g.
            let mut target = dn.clone();
            if outer > 0 {
                l(&v, &mut ys)?;
                target.iter_mut().zip(&ys).for_each(|(t, a)| *t += a);
            }
            let mut rhs = vec![0.0; nc];
            lt(&target, &mut rhs, &mut hts)?;
            let mut lq = vec![0.0; nc];
            let apply_a = |x: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
                l(x, &mut ys)?;
                lt(&ys, &mut lq, &mut hts)?;
                for k in 0..nc {
                    out[k] = x[k] + lq[k];
                }
                Ok(())
            };
            let it = crate::linalg::conjugate_gradient(apply_a, &rhs, &mut v, self.max_iter, self.tol)?;
            iterations += it;
            // A linear H's quadratic cost is its cost, ‖R^{-1/2} d − L v‖²; a nonlinear one's is
            // evaluated at the new guess.
            let linear_misfit = if linear {
                l(&v, &mut ys)?;
                Some(dn.iter().zip(&ys).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
            } else {
                None
            };
            b.sqrt_apply(&v, scale, &mut xs);
            guess = background.iter().zip(&xs).map(|(a, d)| a + d).collect();
            let misfit = linear_misfit.unwrap_or_else(|| {
                setup.obs.apply(&guess, &mut hx);
                (0..p).map(|k| ((y[k] - hx[k]) * inv_sd[k]).powi(2)).sum()
            });
            j = 0.5 * dot(&v, &v) + 0.5 * misfit;
        }
        let cost_ratio = if j0 > 0.0 { j / j0 } else { 1.0 };
        Ok(Var3DStep { analysis: guess, iterations, cost_ratio })
    }
}

/// What one 3D-Var analysis made: the state and how the minimisation went.
pub struct Var3DStep {
    /// The analysis, `[nx]`.
    pub analysis: Vec<f64>,
    /// CG iterations over all outer loops.
    pub iterations: usize,
    /// Final over initial cost, `J(x_a) / J(x_b)`.
    pub cost_ratio: f64,
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
        let mut step = self.solve(b, setup, y, &self.state)?;
        if let Some(t) = &self.taper {
            t.apply(&self.state, &mut step.analysis);
        }
        self.state = step.analysis;
        self.analyses += 1;
        self.iterations += step.iterations;
        self.cost_ratio += step.cost_ratio;
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
