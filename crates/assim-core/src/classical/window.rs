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
    ) -> Result<Vec<Box<dyn Linearisation + 's>>, AssimError> {
        self.segments
            .iter()
            .map(|&(t0, steps)| {
                setup.model.linearise(x, t0, setup.dt, steps).ok_or_else(|| {
                    AssimError::Input(
                        "a window method needs a model with a tangent-linear and an adjoint".into(),
                    )
                })
            })
            .collect()
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

/// One Gauss–Newton step of the variational methods in whitened control variables: with
/// `G` the linearised map from the control to `R^{-1/2}`-weighted observations (`g`, and its
/// adjoint `gt`) and `d` the weighted innovation at the current control `w`, solves
/// `(I + GᵀG) Δw = Gᵀd − w` by conjugate gradients from zero; returns `Δw` and the iterations.
pub fn gauss_newton_step(
    g: impl Fn(&[f64], &mut [f64]) -> Result<(), AssimError>,
    gt: impl Fn(&[f64], &mut [f64]) -> Result<(), AssimError>,
    d: &[f64],
    w: &[f64],
    cg_max_iter: usize,
    cg_tol: f64,
) -> Result<(Vec<f64>, usize), AssimError> {
    let mut rhs = vec![0.0; w.len()];
    gt(d, &mut rhs)?;
    rhs.iter_mut().zip(w).for_each(|(r, w)| *r -= w);
    let mut gv = vec![0.0; d.len()];
    let hessian = |v: &[f64], out: &mut [f64]| -> Result<(), AssimError> {
        g(v, &mut gv)?;
        gt(&gv, out)?;
        out.iter_mut().zip(v).for_each(|(o, v)| *o += v);
        Ok(())
    };
    let mut dw = vec![0.0; w.len()];
    let iterations = crate::linalg::conjugate_gradient(hessian, &rhs, &mut dw, cg_max_iter, cg_tol)?;
    Ok((dw, iterations))
}
