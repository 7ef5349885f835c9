//! The assimilation window of the smoothers and 4D-Var: the last `lag` cycles before the
//! newest observation (fewer while the run is younger), sliding one cycle per analysis, as
//! DAPPER's `iEnKS` and `Var4D` do. Its control state lives at the window's start; every
//! analysis reruns the model over the window's cycles.

use super::Setup;
use crate::AssimError;
use crate::dynamics::Linearisation;
use crate::experiment::MethodCheck;

/// Refuses a window of no cycles or of more cycles than the run has analyses (key `lag`).
pub fn check_lag(check: &MethodCheck<'_>, lag: usize) -> Result<(), AssimError> {
    if lag == 0 {
        return Err(check.error("lag", "must be ≥ 1 (the window's cycles)"));
    }
    let analyses = check.chrono.n_obs_times();
    if lag > analyses {
        return Err(check
            .error("lag", format!("a window of {lag} cycles is longer than the run's {analyses} analyses")));
    }
    Ok(())
}

/// The cycles after the window's start, and when the start moves on.
#[derive(Clone, Debug)]
pub struct SlidingWindow {
    /// Cycles in a full window (≥ 1).
    pub lag: usize,
    /// `(t0, steps)` of each forecast after the window's start.
    segments: Vec<(f64, usize)>,
    /// Analyses so far.
    analyses: usize,
}

impl SlidingWindow {
    /// An empty window of up to `lag` cycles.
    pub fn new(lag: usize) -> Self {
        SlidingWindow { lag, segments: Vec::new(), analyses: 0 }
    }

    /// Back to the start of a run.
    pub fn reset(&mut self) {
        self.segments.clear();
        self.analyses = 0;
    }

    /// A forecast of `steps` model steps from `t0` joins the window.
    pub fn push(&mut self, t0: f64, steps: usize) {
        self.segments.push((t0, steps));
    }

    /// The window's cycles, `(t0, steps)` each, in order.
    pub fn segments(&self) -> &[(f64, usize)] {
        &self.segments
    }

    /// Advances `x` from the window's start over its cycles.
    pub fn advance(&self, setup: &Setup<'_>, x: &mut [f64]) {
        for &(t0, steps) in &self.segments {
            setup.model.advance(x, t0, setup.dt, steps);
        }
    }

    /// The forecast from the window's start `x` (which becomes its end), linearised cycle by
    /// cycle; an error for a model without a tangent-linear.
    pub fn linearise<'s>(
        &self,
        setup: &'s Setup<'_>,
        x: &mut [f64],
    ) -> Result<LinearisedWindow<'s>, AssimError> {
        let cycles = self
            .segments
            .iter()
            .map(|&(t0, steps)| {
                setup.model.linearise(x, t0, setup.dt, steps).ok_or_else(|| {
                    AssimError::Input(
                        "a window method needs a model with a tangent-linear and an adjoint".into(),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(LinearisedWindow(cycles))
    }

    /// Analyses so far.
    pub fn analyses(&self) -> usize {
        self.analyses
    }

    /// Records an analysis; once the window is full its start moves on by its first cycle,
    /// returned for the caller to propagate the smoothed state over.
    pub fn after_analysis(&mut self) -> Option<(f64, usize)> {
        self.analyses += 1;
        (self.analyses >= self.lag && !self.segments.is_empty()).then(|| self.segments.remove(0))
    }
}

/// The tangent-linear of a window's forecast, cycle by cycle, and its adjoint; empty (the
/// identity) for a method without a window.
#[derive(Default)]
pub struct LinearisedWindow<'s>(Vec<Box<dyn Linearisation + 's>>);

impl LinearisedWindow<'_> {
    /// `dx ← M' dx` over the window.
    pub fn tangent(&self, dx: &mut [f64]) {
        self.0.iter().for_each(|l| l.tangent(dx));
    }

    /// `λ ← M'ᵀ λ` over the window, backwards.
    pub fn adjoint(&self, lam: &mut [f64]) {
        self.0.iter().rev().for_each(|l| l.adjoint(lam));
    }
}

/// One Gauss–Newton step of a variational analysis in whitened control variables `w`.
///
/// `forward` carries a control increment to a state increment at the observation time
/// (`F' v`) and `backward` a state gradient there back to the control (`F'ᵀ λ`); `H` is
/// linearised at `x_end`, the forecast of the current control. With `d = R^{-1/2}(y − H(x_end))`
/// and `G = R^{-1/2} H' F'`, solves `(I + GᵀG) Δw = Gᵀd − w` by conjugate gradients from zero.
/// Returns `Δw`, the CG iterations and `½‖d‖²`, the observation cost at `x_end`.
#[allow(clippy::too_many_arguments)]
pub fn gauss_newton_step(
    setup: &Setup<'_>,
    y: &[f64],
    x_end: &[f64],
    w: &[f64],
    forward: impl Fn(&[f64]) -> Vec<f64>,
    backward: impl Fn(&[f64], &mut [f64]),
    cg_max_iter: usize,
    cg_tol: f64,
) -> Result<(Vec<f64>, usize, f64), AssimError> {
    let p = y.len();
    let no_tl = || {
        AssimError::Input("a variational method needs a linear or tangent-linear observation operator".into())
    };
    let inv_sd: Vec<f64> = setup.obs_var.iter().map(|v| 1.0 / v.sqrt()).collect();
    let mut hx = vec![0.0; p];
    setup.obs.apply(x_end, &mut hx);
    let d: Vec<f64> = (0..p).map(|k| (y[k] - hx[k]) * inv_sd[k]).collect();
    // G v = R^{-1/2} H' F' v and its adjoint.
    let g = |v: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
        let dx = forward(v);
        if !setup.obs.tangent_linear(x_end, &dx, out) {
            return Err(no_tl());
        }
        out.iter_mut().zip(&inv_sd).for_each(|(o, s)| *o *= s);
        Ok(())
    };
    let gt = |u: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
        let ur: Vec<f64> = u.iter().zip(&inv_sd).map(|(a, s)| a * s).collect();
        let mut lam = vec![0.0; x_end.len()];
        if !setup.obs.tangent_adjoint(x_end, &ur, &mut lam) {
            return Err(no_tl());
        }
        backward(&lam, out);
        Ok(())
    };
    let mut rhs = vec![0.0; w.len()];
    gt(&d, &mut rhs)?;
    rhs.iter_mut().zip(w).for_each(|(r, w)| *r -= w);
    let mut gv = vec![0.0; p];
    let hessian = |v: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
        g(v, &mut gv)?;
        gt(&gv, out)?;
        out.iter_mut().zip(v).for_each(|(o, v)| *o += v);
        Ok(())
    };
    let mut dw = vec![0.0; w.len()];
    let iterations = crate::linalg::conjugate_gradient(hessian, &rhs, &mut dw, cg_max_iter, cg_tol)?;
    Ok((dw, iterations, 0.5 * d.iter().map(|v| v * v).sum::<f64>()))
}
