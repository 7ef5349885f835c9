//! The cycling loop: forecast, score, analyse, score, for every step of the chronology.

use std::time::Instant;

use super::{Chronology, DivergenceConfig, Twin};
use crate::classical::{Assimilator, Setup};
use crate::metrics::score;
use crate::rng::AssimRng;

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
    /// Wall-clock seconds of the whole cycle (forecasts, analyses and scoring).
    pub wall_s: f64,
    /// Set when the run diverged; the series stop there.
    pub diverged: Option<Divergence>,
}

/// Cycles `method` through the chronology against `twin`. Never panics on a diverging
/// method: a numerical failure or a long stretch far worse than climatology (see
/// [`DivergenceConfig`]) ends the run with [`SeedRun::diverged`] set.
pub fn cycle(
    method: &mut dyn Assimilator,
    setup: &Setup<'_>,
    twin: &Twin,
    chrono: &Chronology,
    divergence: &DivergenceConfig,
    rng: &mut AssimRng,
) -> SeedRun {
    let start = Instant::now();
    let mut run = SeedRun::default();
    let window = divergence.window;
    let bar = divergence.factor * twin.clim_spread;
    let mut window_sum = 0.0;
    let fail = |run: &mut SeedRun, cycle: usize, reason: String| {
        run.diverged = Some(Divergence { cycle, reason });
    };
    if let Err(e) = method.initialise(setup, rng) {
        fail(&mut run, 0, format!("initialisation failed: {e}"));
        run.wall_s = start.elapsed().as_secs_f64();
        return run;
    }
    for ko in 0..chrono.n_obs_times() {
        let k = chrono.obs_step(ko);
        let t = k as f64 * chrono.dt;
        let t0 = (k - chrono.dko) as f64 * chrono.dt;
        if let Err(e) = method.forecast(setup, t0, chrono.dko) {
            fail(&mut run, ko, format!("forecast failed: {e}"));
            break;
        }
        let truth = &twin.truth[k];
        let f = score(&method.estimate(), truth, false);
        if let Err(e) = method.analyse(setup, &twin.obs[ko], t, rng) {
            fail(&mut run, ko, format!("analysis failed: {e}"));
            break;
        }
        // The CRPS (a sort per variable) only where it enters the time means.
        let a = score(&method.estimate(), truth, chrono.is_averaged(ko));
        run.rmse_f.push(f.rmse);
        run.spread_f.push(f.spread);
        run.rmse_a.push(a.rmse);
        run.spread_a.push(a.spread);
        run.crps_a.push(a.crps);
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
                twin.clim_spread
            );
            fail(&mut run, ko + 1 - window, reason);
            break;
        }
    }
    run.wall_s = start.elapsed().as_secs_f64();
    run
}
