//! Runs every method of an experiment on every seed, on the same truth, and summarises.

use serde::Serialize;

use super::{Experiment, MethodConfig, SeedRun, TwinSetup, cycle};
use crate::AssimError;
use crate::classical::{Assimilator, Climatology, EnKF, EnKFUpdate, ExtKF, LETKF, PartFilt, StaticGain};
use crate::metrics::series_mean;
use crate::rng::stream;

/// Builds a classical method; a generative entry is an error here (its engine, `assim-gen`,
/// passes its own builder to [`run_experiment_with`]).
pub fn build_classical(cfg: &MethodConfig, _exp: &Experiment) -> Result<Box<dyn Assimilator>, AssimError> {
    Ok(match cfg {
        MethodConfig::Climatology { .. } => Box::new(Climatology::default()),
        MethodConfig::OptInterp { .. } => Box::new(StaticGain::opt_interp()),
        MethodConfig::Var3D { xb, .. } => Box::new(StaticGain::var3d(*xb)),
        MethodConfig::ExtKF { infl, .. } => Box::new(ExtKF::new(*infl)),
        MethodConfig::EnKF { upd_a, n, infl, rot, .. } => {
            let update = match upd_a.as_str() {
                "PertObs" => EnKFUpdate::PertObs,
                "DEnKF" => EnKFUpdate::DEnKF,
                _ => EnKFUpdate::Sqrt,
            };
            Box::new(EnKF::new(update, *n, *infl, *rot))
        }
        MethodConfig::LETKF { n, loc_rad, infl, rot, .. } => Box::new(LETKF::new(*n, *loc_rad, *infl, *rot)),
        MethodConfig::PartFilt { n, ner, reg, nuj, .. } => Box::new(PartFilt::new(*n, *ner, *reg, *nuj)),
        MethodConfig::Generative(_) => {
            return Err(AssimError::Input(format!(
                "{}: generative methods need the generative engine (run through the `assim` program)",
                cfg.label()
            )));
        }
    })
}

/// Builds the assimilator of one method entry of an experiment.
pub type MethodBuilder<'a> =
    dyn Fn(&MethodConfig, &Experiment) -> Result<Box<dyn Assimilator>, AssimError> + 'a;

/// The scores of a method, on one seed or averaged over seeds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    /// Time-mean analysis RMSE after burn-in.
    pub rmse_a: f64,
    /// 95% half-width of `rmse_a`, AR(1)-corrected.
    pub rmse_a_ci: f64,
    /// Time-mean analysis spread (NaN → null without one).
    pub spread_a: f64,
    /// Time-mean forecast RMSE.
    pub rmse_f: f64,
    /// Time-mean forecast spread.
    pub spread_f: f64,
    /// Time-mean analysis CRPS (null without an ensemble).
    pub crps_a: f64,
    /// Wall-clock seconds of the cycle (forecasts, analyses, scoring).
    pub wall_s: f64,
}

/// One method on one seed, summarised (the `per_seed` rows of `metrics.json`).
#[derive(Clone, Debug, Serialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Time means after burn-in (null where diverged or undefined); `wall_s` of this seed.
    #[serde(flatten)]
    pub scores: Summary,
    /// Whether the run diverged.
    pub diverged: bool,
    /// The analysis index where it diverged.
    pub diverged_at_cycle: Option<usize>,
    /// Why it diverged.
    pub divergence_reason: Option<String>,
    /// The raw series (not serialised; for plots and tests).
    #[serde(skip)]
    pub run: SeedRun,
}

/// One method over all seeds (a row of `metrics.json` / `metrics.csv`).
#[derive(Clone, Debug, Serialize)]
pub struct MethodReport {
    /// Display name.
    pub name: String,
    /// Parameters as given (with defaults).
    pub params: serde_json::Value,
    /// Means over the non-diverged seeds (`rmse_a_ci` combines their standard errors);
    /// `wall_s` is the mean over all seeds.
    #[serde(flatten)]
    pub scores: Summary,
    /// Mean wall-clock seconds per 1001 cycles (the unit of DAPPER's benchmark table).
    pub wall_s_per_1001_cycles: f64,
    /// Whether any seed diverged.
    pub diverged: bool,
    /// How many seeds diverged.
    pub n_diverged: usize,
    /// Per-seed rows.
    pub per_seed: Vec<SeedReport>,
}

/// The whole comparison: what `metrics.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Experiment name.
    pub experiment: String,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Number of analyses per seed.
    pub n_analyses: usize,
    /// Number of analyses entering the time means.
    pub n_averaged: usize,
    /// One row per method, in the order of the experiment file.
    pub methods: Vec<MethodReport>,
}

/// Runs the experiment's classical methods. `progress(seed_index, method_index)` is called
/// before each run.
pub fn run_experiment(exp: &Experiment, progress: impl FnMut(usize, usize)) -> Result<RunReport, AssimError> {
    run_experiment_with(exp, &build_classical, progress)
}

/// Runs the experiment with methods made by `build`. Every method is built once before any
/// work, so a bad entry (a missing checkpoint, say) fails fast.
pub fn run_experiment_with(
    exp: &Experiment,
    build: &MethodBuilder<'_>,
    mut progress: impl FnMut(usize, usize),
) -> Result<RunReport, AssimError> {
    crate::linalg::init();
    for cfg in &exp.methods {
        build(cfg, exp)?;
    }
    let twin_setup = TwinSetup::new(exp)?;
    let chrono = twin_setup.chrono;
    let averaged: Vec<usize> = (0..chrono.n_obs_times()).filter(|&ko| chrono.is_averaged(ko)).collect();
    let mut per_method: Vec<Vec<SeedReport>> = vec![Vec::new(); exp.methods.len()];
    for (si, &seed) in exp.seeds.iter().enumerate() {
        let twin = twin_setup.simulate(seed)?;
        let setup = twin_setup.setup(&twin);
        for (mi, cfg) in exp.methods.iter().enumerate() {
            progress(si, mi);
            let mut method = build(cfg, exp)?;
            let mut rng = stream(seed, &format!("method:{}", cfg.label()));
            let run = cycle(method.as_mut(), &setup, &twin, &chrono, &exp.divergence, &mut rng);
            per_method[mi].push(summarise_seed(seed, run, &averaged));
        }
    }
    let methods = exp
        .methods
        .iter()
        .zip(per_method)
        .map(|(cfg, seeds)| summarise_method(cfg, seeds, chrono.n_obs_times()))
        .collect();
    Ok(RunReport {
        experiment: exp.name.clone(),
        seeds: exp.seeds.clone(),
        n_analyses: chrono.n_obs_times(),
        n_averaged: averaged.len(),
        methods,
    })
}

fn summarise_seed(seed: u64, run: SeedRun, averaged: &[usize]) -> SeedReport {
    let pick = |xs: &[f64]| -> Vec<f64> { averaged.iter().filter_map(|&k| xs.get(k).copied()).collect() };
    let mean = |xs: &[f64]| series_mean(&pick(xs)).mean;
    let diverged = run.diverged.is_some();
    let rmse = series_mean(&pick(&run.rmse_a));
    let nan_if = |x: f64| if diverged { f64::NAN } else { x };
    SeedReport {
        seed,
        scores: Summary {
            rmse_a: nan_if(rmse.mean),
            rmse_a_ci: nan_if(rmse.ci95),
            spread_a: nan_if(mean(&run.spread_a)),
            rmse_f: nan_if(mean(&run.rmse_f)),
            spread_f: nan_if(mean(&run.spread_f)),
            crps_a: nan_if(mean(&run.crps_a)),
            wall_s: run.wall_s,
        },
        diverged,
        diverged_at_cycle: run.diverged.as_ref().map(|d| d.cycle),
        divergence_reason: run.diverged.as_ref().map(|d| d.reason.clone()),
        run,
    }
}

fn summarise_method(cfg: &MethodConfig, seeds: Vec<SeedReport>, n_cycles: usize) -> MethodReport {
    let ok: Vec<&SeedReport> = seeds.iter().filter(|s| !s.diverged).collect();
    let avg = |f: &dyn Fn(&Summary) -> f64| -> f64 {
        if ok.is_empty() { f64::NAN } else { ok.iter().map(|s| f(&s.scores)).sum::<f64>() / ok.len() as f64 }
    };
    // Independent seeds: the standard error of their mean is sqrt(Σ se²)/n.
    let ci = (ok.iter().map(|s| s.scores.rmse_a_ci.powi(2)).sum::<f64>()).sqrt() / ok.len() as f64;
    let wall_s = seeds.iter().map(|s| s.scores.wall_s).sum::<f64>() / seeds.len() as f64;
    let n_diverged = seeds.len() - ok.len();
    MethodReport {
        name: cfg.label(),
        params: cfg.params(),
        scores: Summary {
            rmse_a: avg(&|s| s.rmse_a),
            rmse_a_ci: if ok.is_empty() { f64::NAN } else { ci },
            spread_a: avg(&|s| s.spread_a),
            rmse_f: avg(&|s| s.rmse_f),
            spread_f: avg(&|s| s.spread_f),
            crps_a: avg(&|s| s.crps_a),
            wall_s,
        },
        wall_s_per_1001_cycles: wall_s / n_cycles as f64 * 1001.0,
        diverged: n_diverged > 0,
        n_diverged,
        per_seed: seeds,
    }
}
