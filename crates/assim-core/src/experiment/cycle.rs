//! The cycling loop: forecast, score, analyse, score, for every analysis time of the
//! chronology, against one seed's [`Scenario`] (truth, observations, scoring).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Chronology;
use crate::assimilator::{Assimilator, Estimate, Setup};
use crate::metrics::{Scores, VariableScores};
use crate::rng::AssimRng;

/// One seed's world as the cycling loop sees it: at each analysis time `ko`, the set-up
/// (model and that window's observing network), the truth, the observations, and how an
/// estimate is scored.
pub trait Scenario: Sync {
    /// The set-up valid for the analysis at `ko` (the network may change every window).
    fn setup(&self, ko: usize) -> Setup<'_>;
    /// The truth at analysis time `ko`.
    fn truth(&self, ko: usize) -> &[f64];
    /// The observations at analysis time `ko`.
    fn observations(&self, ko: usize) -> &[f64];
    /// The RMSE of the climatological mean in the headline score's units: the divergence bar.
    fn clim_spread(&self) -> f64;
    /// The headline scores of `est` at `ko` and, on a multi-variable state, the scores of
    /// each variable (empty otherwise); the CRPS only if `with_crps`.
    fn score(&self, est: &Estimate<'_>, ko: usize, with_crps: bool) -> (Scores, Vec<VariableScores>);
}

/// `[divergence]`: a method counts as diverged when its state is non-finite, or when its
/// analysis RMSE, averaged over the last `window` analyses, exceeds `factor` × the
/// climatological spread (a filter that lost the truth has RMSE ≈ √2 × that spread;
/// Climatology itself sits at 1×).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DivergenceConfig {
    /// Number of analyses in the moving average.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Multiple of the climatological spread that the moving average must exceed.
    #[serde(default = "default_factor")]
    pub factor: f64,
}

impl Default for DivergenceConfig {
    fn default() -> Self {
        DivergenceConfig { window: default_window(), factor: default_factor() }
    }
}

fn default_window() -> usize {
    200
}

fn default_factor() -> f64 {
    1.25
}

impl DivergenceConfig {
    /// The one divergence rule: the file's, except for a method that is not a filter (a free
    /// run), which is never declared diverged on its error (only on a non-finite state).
    pub fn for_method(&self, filter: bool) -> DivergenceConfig {
        if filter { self.clone() } else { DivergenceConfig { factor: f64::INFINITY, ..self.clone() } }
    }

    /// Checks the values; `err(key, message)` builds the error.
    pub fn validate(&self, err: &dyn Fn(&str, String) -> crate::AssimError) -> Result<(), crate::AssimError> {
        if self.window == 0 {
            return Err(err("divergence.window", "must be ≥ 1".into()));
        }
        if !(self.factor.is_finite() && self.factor > 0.0) {
            return Err(err("divergence.factor", format!("must be positive (got {})", self.factor)));
        }
        Ok(())
    }
}

/// Why and when a run stopped being a filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The analysis index `ko` where the divergence began.
    pub cycle: usize,
    /// What happened.
    pub reason: String,
}

/// One method on one seed: the score series (one value per analysis time) and the cost.
#[derive(Clone, Debug, Default)]
pub struct SeedRun {
    /// Analysis RMSE per analysis time.
    pub rmse_a: Vec<f64>,
    /// Analysis spread per analysis time (NaN without one).
    pub spread_a: Vec<f64>,
    /// Forecast (background) RMSE per analysis time.
    pub rmse_f: Vec<f64>,
    /// Forecast spread per analysis time.
    pub spread_f: Vec<f64>,
    /// Analysis CRPS per analysis time (NaN without an ensemble).
    pub crps_a: Vec<f64>,
    /// Per analysis time, the analysis scores of each variable (empty on a single-variable bed).
    pub variables_a: Vec<Vec<VariableScores>>,
    /// Per analysis time, the forecast scores of each variable.
    pub variables_f: Vec<Vec<VariableScores>>,
    /// Ensemble size, for an ensemble method.
    pub members: Option<usize>,
    /// Method-specific statistics at the end of the run.
    pub diagnostics: Vec<(&'static str, f64)>,
    /// Wall-clock seconds of the whole cycle (forecasts, analyses and scoring).
    pub wall_s: f64,
    /// Of which in the forecasts.
    pub forecast_s: f64,
    /// Of which in the analyses.
    pub analysis_s: f64,
    /// Set when the run diverged; the series stop there.
    pub diverged: Option<Divergence>,
}

/// Cycles `method` through the chronology against `scenario`; `on_analysis(ko, estimate)` sees
/// every analysis. Never panics on a diverging method: a numerical failure or a long stretch
/// far worse than climatology (see [`DivergenceConfig`]) ends the run with
/// [`SeedRun::diverged`] set.
pub fn cycle(
    method: &mut dyn Assimilator,
    scenario: &dyn Scenario,
    chrono: &Chronology,
    divergence: &DivergenceConfig,
    rng: &mut AssimRng,
    on_analysis: &mut dyn FnMut(usize, &Estimate<'_>),
) -> SeedRun {
    let start = Instant::now();
    let mut run = SeedRun::default();
    let window = divergence.window;
    let bar = divergence.factor * scenario.clim_spread();
    let mut window_sum = 0.0;
    let fail = |run: &mut SeedRun, cycle: usize, reason: String| {
        run.diverged = Some(Divergence { cycle, reason });
    };
    if let Err(e) = method.initialise(&scenario.setup(0), rng) {
        fail(&mut run, 0, format!("initialisation failed: {e}"));
        run.wall_s = start.elapsed().as_secs_f64();
        return run;
    }
    for ko in 0..chrono.n_obs_times() {
        let setup = scenario.setup(ko);
        let k = chrono.obs_step(ko);
        let t = k as f64 * chrono.dt;
        let t0 = (k - chrono.dko) as f64 * chrono.dt;
        let clock = Instant::now();
        if let Err(e) = method.forecast(&setup, t0, chrono.dko) {
            fail(&mut run, ko, format!("forecast failed: {e}"));
            break;
        }
        run.forecast_s += clock.elapsed().as_secs_f64();
        let (f, fv) = scenario.score(&method.estimate(), ko, false);
        let clock = Instant::now();
        if let Err(e) = method.analyse(&setup, scenario.observations(ko), t, rng) {
            fail(&mut run, ko, format!("analysis failed: {e}"));
            break;
        }
        run.analysis_s += clock.elapsed().as_secs_f64();
        // The CRPS (a sort per variable) only where it enters the time means.
        let est = method.estimate();
        let (a, av) = scenario.score(&est, ko, chrono.is_averaged(ko));
        if let Estimate::Ensemble { members, .. } = &est {
            run.members = Some(members.ncols());
        }
        on_analysis(ko, &est);
        run.rmse_f.push(f.rmse);
        run.spread_f.push(f.spread);
        run.rmse_a.push(a.rmse);
        run.spread_a.push(a.spread);
        run.crps_a.push(a.crps);
        run.variables_a.push(av);
        run.variables_f.push(fv);
        if !a.rmse.is_finite() || !f.rmse.is_finite() {
            fail(&mut run, ko, "non-finite state".into());
            break;
        }
        window_sum += a.rmse;
        if ko >= window {
            window_sum -= run.rmse_a[ko - window];
        }
        if ko + 1 >= window && window_sum / window as f64 > bar {
            let reason = format!(
                "mean analysis RMSE {:.3} over {window} analyses exceeds {} × climatological spread {:.3}",
                window_sum / window as f64,
                divergence.factor,
                scenario.clim_spread()
            );
            fail(&mut run, ko + 1 - window, reason);
            break;
        }
    }
    run.diagnostics = method.diagnostics();
    run.wall_s = start.elapsed().as_secs_f64();
    run
}
