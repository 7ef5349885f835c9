//! The assimilation window of the smoothers and 4D-Var: the last `lag` cycles before the
//! newest observation (fewer while the run is younger), sliding one cycle per analysis, as
//! DAPPER's `iEnKS` and `Var4D` do. Its control state lives at the window's start; every
//! analysis reruns the model over the window's cycles.

use crate::AssimError;
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
