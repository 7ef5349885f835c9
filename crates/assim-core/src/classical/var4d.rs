//! Strong-constraint incremental 4D-Var: the initial state of a window of `lag` cycles that
//! fits the window's newest observations through the model, with 3D-Var's static `B` at the
//! window's start: `xb·cov(truth)` on a small state, `xb·` the climate's variance spectra on
//! the sphere. Cycled as DAPPER's `Var4D`, whose windows slide one cycle
//! per analysis as the iEnKS's do (each observation assimilated once, when it enters the
//! window), so the two are compared like with like.
//!
//! In the control `w` (`δx₀ = B^{1/2} w`) each outer loop relinearises the model and `H` about
//! the current trajectory and takes the Gauss–Newton step `(I + GᵀG) Δw = Gᵀ d − w`, with
//! `G = R^{-1/2} H' M' B^{1/2}` applied through the model's tangent-linear and `Gᵀ` through its
//! adjoint ([`Model::linearise`](crate::dynamics::Model::linearise): the forecast is run once
//! per outer loop and kept), solved by conjugate gradients (the inner loop). The analysis scored at the
//! observation time is the last trajectory's end plus the tangent-linear of the last step (as
//! DAPPER's), the smoothed state at the window's start is `x₀ + B^{1/2} w`.

use faer::Mat;

use super::window::{LinearisedWindow, SlidingWindow, gauss_newton_step};
use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::linalg::{dot, sym_eig};
use crate::rng::AssimRng;
use crate::spectral::VarianceSpectra;

/// 4D-Var over windows of `lag` cycles with 3D-Var's `B` times `xb`.
pub struct Var4D {
    /// Factor on the climatological covariance.
    pub xb: f64,
    /// Largest number of outer loops (Gauss–Newton steps) per analysis.
    pub n_iter: usize,
    /// Stop the outer loops when `Δw·Δw < wtol · N_w` (`N_w` the control's length; 0: always
    /// `n_iter`).
    pub wtol: f64,
    /// Largest number of CG iterations per outer loop.
    pub cg_max_iter: usize,
    /// CG stops at this relative residual.
    pub cg_tol: f64,
    b_sqrt: BackgroundSqrt,
    start: Vec<f64>,
    window: SlidingWindow,
    current: Vec<f64>,
    outer_loops: usize,
    cg_iterations: usize,
}

/// `B^{1/2}` of the window's start, from the control `w` to a state increment.
enum BackgroundSqrt {
    /// A dense symmetric square root (`Nx × Nx`).
    Dense(Mat<f64>),
    /// `√xb ·` the spectral square root of the climate's variance spectra.
    Spectral(VarianceSpectra, f64),
}

impl BackgroundSqrt {
    fn control_len(&self) -> usize {
        match self {
            BackgroundSqrt::Dense(m) => m.ncols(),
            BackgroundSqrt::Spectral(b, _) => b.control_len(),
        }
    }

    /// `out = B^{1/2} v`.
    fn apply(&self, v: &[f64], out: &mut [f64]) {
        match self {
            BackgroundSqrt::Dense(m) => dense_apply(m, v, out),
            BackgroundSqrt::Spectral(b, scale) => b.sqrt_apply(v, *scale, out),
        }
    }

    /// `out = (B^{1/2})ᵀ x`.
    fn adjoint(&self, x: &[f64], out: &mut [f64]) {
        match self {
            // Symmetric.
            BackgroundSqrt::Dense(m) => dense_apply(m, x, out),
            BackgroundSqrt::Spectral(b, scale) => b.sqrt_adjoint(x, *scale, out),
        }
    }
}

fn dense_apply(m: &Mat<f64>, v: &[f64], out: &mut [f64]) {
    let n = v.len();
    for (i, o) in out.iter_mut().enumerate() {
        *o = (0..n).map(|k| m[(i, k)] * v[k]).sum();
    }
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
            b_sqrt: BackgroundSqrt::Dense(Mat::zeros(0, 0)),
            start: Vec::new(),
            window: SlidingWindow::new(lag),
            current: Vec::new(),
            outer_loops: 0,
            cg_iterations: 0,
        }
    }
}

fn no_adjoint() -> AssimError {
    AssimError::Input("4D-Var needs a model with a tangent-linear and an adjoint".into())
}

impl Assimilator for Var4D {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        self.b_sqrt = if let Some(cov) = setup.climatology.covariance() {
            let (d, v) = sym_eig(cov.as_ref())?;
            let xb = self.xb;
            BackgroundSqrt::Dense(crate::linalg::sym_fn(&d, v.as_ref(), |l| (xb * l.max(0.0)).sqrt()))
        } else if let Some(spectra) = setup.climatology.spectra() {
            BackgroundSqrt::Spectral(spectra.clone(), self.xb.sqrt())
        } else {
            return Err(AssimError::Input(
                "4D-Var needs the climate's covariance (a small state) or variance spectra (the sphere) for its B"
                    .into(),
            ));
        };
        self.start = setup.x0.mean().to_vec();
        self.current = self.start.clone();
        self.window.reset();
        // A forecast of no steps: does the model linearise at all?
        if setup.model.linearise(&mut self.start.clone(), 0.0, setup.dt, 0).is_none() {
            return Err(no_adjoint());
        }
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        self.window.push(t0, steps);
        // The forecast needs only the window's end, not its trajectory.
        self.current = self.start.clone();
        self.window.advance(setup, &mut self.current);
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
        let nw = self.b_sqrt.control_len();
        let mut w = vec![0.0; nw];
        let mut dw = vec![0.0; nw];
        let mut window = LinearisedWindow::default();
        let mut x_end = vec![0.0; nx];
        for _ in 0..self.n_iter.max(1) {
            self.b_sqrt.apply(&w, &mut x_end);
            x_end.iter_mut().zip(&self.start).for_each(|(a, b)| *a += b);
            window = self.window.linearise(setup, &mut x_end)?;
            // F' = M' B^{1/2} and its adjoint.
            let forward = |v: &[f64]| {
                let mut dx = vec![0.0; nx];
                self.b_sqrt.apply(v, &mut dx);
                window.tangent(&mut dx);
                dx
            };
            let backward = |lam: &[f64], out: &mut [f64]| {
                let mut lam = lam.to_vec();
                window.adjoint(&mut lam);
                self.b_sqrt.adjoint(&lam, out);
            };
            let (step, iterations, _) =
                gauss_newton_step(setup, y, &x_end, &w, forward, backward, self.cg_max_iter, self.cg_tol)?;
            self.cg_iterations += iterations;
            dw = step;
            w.iter_mut().zip(&dw).for_each(|(a, b)| *a += b);
            self.outer_loops += 1;
            if dot(&dw, &dw) < self.wtol * nw as f64 {
                break;
            }
        }
        // The analysis at the observation time: the last trajectory's end plus the last step,
        // through the tangent-linear.
        let mut inc = vec![0.0; nx];
        self.b_sqrt.apply(&dw, &mut inc);
        window.tangent(&mut inc);
        self.current = x_end.iter().zip(&inc).map(|(a, b)| a + b).collect();
        if self.current.iter().any(|x| !x.is_finite()) {
            return Err(AssimError::Numerical("4D-Var: the analysis is not finite".into()));
        }
        // The smoothed state at the window's start, moved on one cycle when the window slides.
        let mut smoothed = vec![0.0; nx];
        self.b_sqrt.apply(&w, &mut smoothed);
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
    /// `B = xb · cov(truth)` (on the sphere `xb ·` the climate's variance spectra, as 3D-Var's).
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
        vec![Need::TangentLinear, Need::ModelAdjoint]
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
