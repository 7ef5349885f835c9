//! Strong-constraint incremental 4D-Var: the initial state of a window of `lag` cycles that
//! fits the window's newest observations through the model, with a static `B = xb·cov(truth)`
//! (3D-Var's) at the window's start. Cycled as DAPPER's `Var4D`, whose windows slide one cycle
//! per analysis as the iEnKS's do (each observation assimilated once, when it enters the
//! window), so the two are compared like with like.
//!
//! In the control `w` (`δx₀ = B^{1/2} w`) each outer loop relinearises the model and `H` about
//! the current trajectory and takes the Gauss–Newton step `(I + GᵀG) Δw = Gᵀ d − w`, with
//! `G = R^{-1/2} H' M' B^{1/2}` applied through the model's tangent-linear and `Gᵀ` through its
//! adjoint, solved by conjugate gradients (the inner loop). The analysis scored at the
//! observation time is the last trajectory's end plus the tangent-linear of the last step (as
//! DAPPER's), the smoothed state at the window's start is `x₀ + B^{1/2} w`.

use faer::Mat;

use super::window::SlidingWindow;
use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::linalg::{conjugate_gradient, dot, sym_eig};
use crate::rng::AssimRng;

/// 4D-Var over windows of `lag` cycles with `B = xb·cov(truth)`.
pub struct Var4D {
    /// Factor on the climatological covariance.
    pub xb: f64,
    /// Largest number of outer loops (Gauss–Newton steps) per analysis.
    pub n_iter: usize,
    /// Stop the outer loops when `Δw·Δw < wtol · Nx` (0: always `n_iter`).
    pub wtol: f64,
    /// Largest number of CG iterations per outer loop.
    pub cg_max_iter: usize,
    /// CG stops at this relative residual.
    pub cg_tol: f64,
    b_sqrt: Mat<f64>,
    start: Vec<f64>,
    window: SlidingWindow,
    current: Vec<f64>,
    outer_loops: usize,
    cg_iterations: usize,
}

impl Var4D {
    /// A 4D-Var with the given settings.
    pub fn new(xb: f64, lag: usize, n_iter: usize, wtol: f64, cg_max_iter: usize, cg_tol: f64) -> Self {
        Var4D {
            xb,
            n_iter,
            wtol,
            cg_max_iter,
            cg_tol,
            b_sqrt: Mat::zeros(0, 0),
            start: Vec::new(),
            window: SlidingWindow::new(lag),
            current: Vec::new(),
            outer_loops: 0,
            cg_iterations: 0,
        }
    }

    fn b_half(&self, v: &[f64], out: &mut [f64]) {
        let n = v.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..n).map(|k| self.b_sqrt[(i, k)] * v[k]).sum();
        }
    }
}

/// The states of the trajectory from `x0` at the start of every step of `times`, and its end.
fn trajectory(setup: &Setup<'_>, x0: &[f64], times: &[f64]) -> Vec<Vec<f64>> {
    let mut traj = Vec::with_capacity(times.len() + 1);
    traj.push(x0.to_vec());
    for (s, &t) in times.iter().enumerate() {
        let mut x = traj[s].clone();
        setup.model.step(&mut x, t, setup.dt);
        traj.push(x);
    }
    traj
}

fn no_adjoint() -> AssimError {
    AssimError::Input("4D-Var needs a model with a tangent-linear and an adjoint".into())
}

fn no_obs_tangent() -> AssimError {
    AssimError::Input("4D-Var needs a linear or tangent-linear observation operator with an adjoint".into())
}

/// `dx ← M'(trajectory) dx` over the window.
fn tangent(setup: &Setup<'_>, traj: &[Vec<f64>], times: &[f64], dx: &mut [f64]) -> Result<(), AssimError> {
    for (s, &t) in times.iter().enumerate() {
        if !setup.model.step_tangent(&traj[s], dx, t, setup.dt) {
            return Err(no_adjoint());
        }
    }
    Ok(())
}

/// `λ ← M'(trajectory)ᵀ λ` over the window, backwards.
fn adjoint(setup: &Setup<'_>, traj: &[Vec<f64>], times: &[f64], lam: &mut [f64]) -> Result<(), AssimError> {
    for (s, &t) in times.iter().enumerate().rev() {
        if !setup.model.step_adjoint(&traj[s], lam, t, setup.dt) {
            return Err(no_adjoint());
        }
    }
    Ok(())
}

impl Assimilator for Var4D {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        let cov = setup.climatology.covariance().ok_or_else(|| {
            AssimError::Input("4D-Var needs the climatological covariance of a small state for its B".into())
        })?;
        let (d, v) = sym_eig(cov.as_ref())?;
        let xb = self.xb;
        self.b_sqrt = crate::linalg::sym_fn(&d, v.as_ref(), |l| (xb * l.max(0.0)).sqrt());
        self.start = setup.x0.mean().to_vec();
        self.current = self.start.clone();
        self.window.reset();
        let mut probe = vec![0.0; self.start.len()];
        if !setup.model.step_tangent(&self.start, &mut probe, 0.0, setup.dt) {
            return Err(no_adjoint());
        }
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        self.window.push(t0, steps);
        // The forecast needs only the window's end, not its trajectory.
        self.current = self.start.clone();
        for &(t0, steps) in self.window.segments() {
            setup.model.advance(&mut self.current, t0, setup.dt, steps);
        }
        Ok(())
    }

    fn analyse(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        _t: f64,
        _rng: &mut AssimRng,
    ) -> Result<(), AssimError> {
        let nx = self.start.len();
        let p = y.len();
        let inv_sd: Vec<f64> = setup.obs_var.iter().map(|v| 1.0 / v.sqrt()).collect();
        let times = self.window.step_times(setup.dt);
        let mut w = vec![0.0; nx];
        let mut dw = vec![0.0; nx];
        let mut traj = Vec::new();
        let mut x_init = vec![0.0; nx];
        for _ in 0..self.n_iter.max(1) {
            self.b_half(&w, &mut x_init);
            x_init.iter_mut().zip(&self.start).for_each(|(a, b)| *a += b);
            traj = trajectory(setup, &x_init, &times);
            let x_end = traj.last().expect("a trajectory has its start").clone();
            let mut hx = vec![0.0; p];
            setup.obs.apply(&x_end, &mut hx);
            let d: Vec<f64> = (0..p).map(|k| (y[k] - hx[k]) * inv_sd[k]).collect();
            // G v = R^{-1/2} H' M' B^{1/2} v and its adjoint.
            let g = |v: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
                let mut dx = vec![0.0; nx];
                self.b_half(v, &mut dx);
                tangent(setup, &traj, &times, &mut dx)?;
                if !setup.obs.tangent_linear(&x_end, &dx, out) {
                    return Err(no_obs_tangent());
                }
                out.iter_mut().zip(&inv_sd).for_each(|(o, s)| *o *= s);
                Ok(())
            };
            let gt = |u: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
                let ur: Vec<f64> = u.iter().zip(&inv_sd).map(|(a, s)| a * s).collect();
                let mut lam = vec![0.0; nx];
                if !setup.obs.tangent_adjoint(&x_end, &ur, &mut lam) {
                    return Err(no_obs_tangent());
                }
                adjoint(setup, &traj, &times, &mut lam)?;
                self.b_half(&lam, out);
                Ok(())
            };
            let mut rhs = vec![0.0; nx];
            gt(&d, &mut rhs)?;
            rhs.iter_mut().zip(&w).for_each(|(r, w)| *r -= w);
            let mut gv = vec![0.0; p];
            let hessian = |v: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
                g(v, &mut gv)?;
                gt(&gv, out)?;
                out.iter_mut().zip(v).for_each(|(o, v)| *o += v);
                Ok(())
            };
            dw.iter_mut().for_each(|x| *x = 0.0);
            self.cg_iterations += conjugate_gradient(hessian, &rhs, &mut dw, self.cg_max_iter, self.cg_tol)?;
            w.iter_mut().zip(&dw).for_each(|(a, b)| *a += b);
            self.outer_loops += 1;
            if dot(&dw, &dw) < self.wtol * nx as f64 {
                break;
            }
        }
        // The analysis at the observation time: the last trajectory's end plus the last step,
        // through the tangent-linear.
        let mut inc = vec![0.0; nx];
        self.b_half(&dw, &mut inc);
        tangent(setup, &traj, &times, &mut inc)?;
        let x_end = traj.last().expect("a trajectory has its start");
        self.current = x_end.iter().zip(&inc).map(|(a, b)| a + b).collect();
        if self.current.iter().any(|x| !x.is_finite()) {
            return Err(AssimError::Numerical("4D-Var: the analysis is not finite".into()));
        }
        // The smoothed state at the window's start, moved on one cycle when the window slides.
        let mut smoothed = vec![0.0; nx];
        self.b_half(&w, &mut smoothed);
        smoothed.iter_mut().zip(&self.start).for_each(|(a, b)| *a += b);
        if let Some((t0, steps)) = self.window.after_analysis() {
            setup.model.advance(&mut smoothed, t0, setup.dt, steps);
        }
        self.start = smoothed;
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.current, var: None }
    }

    fn diagnostics(&self) -> Vec<(&'static str, f64)> {
        let n = self.window.analyses().max(1) as f64;
        vec![
            ("outer_loops_per_analysis", self.outer_loops as f64 / n),
            ("cg_iterations_per_outer_loop", self.cg_iterations as f64 / self.outer_loops.max(1) as f64),
        ]
    }
}

/// `method = "Var4D"`: strong-constraint incremental 4D-Var (DAPPER's `Var4D`).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Var4DConfig {
    /// `B = xb · cov(truth)`.
    #[serde(default = "defaults::one")]
    pub xb: f64,
    /// Cycles in the window (DAPPER's `Lag`).
    #[serde(default = "one_usize")]
    pub lag: usize,
    /// Largest number of outer loops (DAPPER's `nIter`).
    #[serde(default = "ten")]
    pub n_iter: usize,
    /// Outer-loop tolerance on `Δw·Δw / Nx` (0: always `n_iter`).
    #[serde(default)]
    pub wtol: f64,
    /// Largest number of CG iterations per outer loop.
    #[serde(default = "cg_max_iter")]
    pub cg_max_iter: usize,
    /// Relative residual at which CG stops.
    #[serde(default = "cg_tol")]
    pub cg_tol: f64,
}

fn one_usize() -> usize {
    1
}

fn ten() -> usize {
    10
}

fn cg_max_iter() -> usize {
    200
}

fn cg_tol() -> f64 {
    1e-10
}

impl Method for Var4DConfig {
    const NAME: &'static str = "Var4D";
    fn auto_label(&self) -> String {
        format!("Var4D Lag={} xB={}", self.lag, self.xb)
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState, Need::TangentLinear, Need::ModelAdjoint]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.positive("xb", self.xb)?;
        super::window::check_lag(check, self.lag)?;
        if self.n_iter == 0 || self.cg_max_iter == 0 {
            return Err(check.error("n_iter", "n_iter and cg_max_iter must be ≥ 1"));
        }
        if !(self.wtol.is_finite() && self.wtol >= 0.0) {
            return Err(check.error("wtol", format!("must be ≥ 0 (got {})", self.wtol)));
        }
        check.positive("cg_tol", self.cg_tol)
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        Ok(Box::new(Var4D::new(self.xb, self.lag, self.n_iter, self.wtol, self.cg_max_iter, self.cg_tol)))
    }
}
