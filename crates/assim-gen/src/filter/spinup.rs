//! The cold start of a generative method: a classical method cycles in its place for the
//! first analyses (all inside the burn-in), and its last analysis becomes the generative
//! ensemble. A background-conditioned prior is trained on spun-up backgrounds, so from a
//! climatological first guess it has nothing to condition on; an operational system is
//! started from another system's analysis in the same way. A trajectory prior remembers the
//! helper's last analyses as the past windows of its first trajectories.

use faer::Mat;

use assim_core::AssimError;
use assim_core::classical::{Assimilator, EnsembleFilter, Estimate, Setup};
use assim_core::rng::AssimRng;

use crate::filter::GenerativeFilter;

/// A generative filter that `helper` spins up for `windows` analyses.
pub struct SpunUp {
    helper: Box<dyn Assimilator>,
    main: GenerativeFilter,
    windows: usize,
    done: usize,
}

impl SpunUp {
    /// `main` takes over after `helper`'s `windows`-th analysis.
    pub fn new(helper: Box<dyn Assimilator>, main: GenerativeFilter, windows: usize) -> Self {
        SpunUp { helper, main, windows, done: 0 }
    }

    /// The generative filter once it has taken over (`None` while the helper cycles).
    pub fn generative(&self) -> Option<&GenerativeFilter> {
        (!self.spinning()).then_some(&self.main)
    }

    fn spinning(&self) -> bool {
        self.done < self.windows
    }

    /// The generative members from the helper's analysis: its first `N` members, or `N`
    /// copies of its state (or mean) when it has fewer.
    fn hand_over(&mut self) {
        let n = self.main.size();
        let members = match self.helper.estimate() {
            Estimate::Ensemble { members, .. } if members.ncols() >= n => {
                Mat::from_fn(members.nrows(), n, |i, j| members[(i, j)])
            }
            est => {
                let mean = est.mean();
                Mat::from_fn(mean.len(), n, |i, _| mean[i])
            }
        };
        *self.main.members_mut() = members;
    }
}

impl Assimilator for SpunUp {
    fn initialise(&mut self, setup: &Setup<'_>, rng: &mut AssimRng) -> Result<(), AssimError> {
        self.done = 0;
        self.main.prepare(setup)?;
        self.helper.initialise(setup, rng)
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        if self.spinning() {
            self.helper.forecast(setup, t0, steps)
        } else {
            self.main.forecast(setup, t0, steps)
        }
    }

    fn analyse(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        t: f64,
        rng: &mut AssimRng,
    ) -> Result<(), AssimError> {
        if !self.spinning() {
            return self.main.analyse(setup, y, t, rng);
        }
        // A trajectory prior remembers the helper's last windows as its past.
        let remembered = self.windows - self.done <= self.main.memory();
        let xb = remembered.then(|| self.helper.estimate().mean());
        self.helper.analyse(setup, y, t, rng)?;
        if let Some(xb) = xb {
            let xa = self.helper.estimate().mean();
            self.main.remember(setup, y, &xb, &xa)?;
        }
        self.done += 1;
        if !self.spinning() {
            self.hand_over();
        }
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        if self.spinning() { self.helper.estimate() } else { self.main.estimate() }
    }

    fn diagnostics(&self) -> Vec<(&'static str, f64)> {
        let mut d = self.main.diagnostics();
        d.push(("spinup_windows", self.windows as f64));
        d
    }
}
