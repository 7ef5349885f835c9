//! Runs every method of an experiment on every seed, on the same truth, and summarises.

use serde::Serialize;

use super::twin::LorenzScenario;
use super::{DivergenceConfig, Experiment, MethodConfig, SeedRun, TwinSetup, cycle};
use crate::AssimError;
use crate::classical::{
    Assimilator, Climatology, EnKF, EnKFUpdate, ExtKF, FreeRun, LETKF, PartFilt, SpectralVar3D, StaticGain,
};
use crate::metrics::series_mean;
use crate::rng::stream;

/// Builds a classical method; a generative entry is an error here (its engine, `assim-gen`,
/// passes its own builder to [`run_experiment_with`]).
pub fn build_classical(cfg: &MethodConfig, exp: &Experiment) -> Result<Box<dyn Assimilator>, AssimError> {
    Ok(match cfg {
        MethodConfig::Climatology { .. } => Box::new(Climatology::default()),
        MethodConfig::FreeRun { .. } => Box::new(FreeRun::default()),
        MethodConfig::OptInterp { .. } => Box::new(StaticGain::opt_interp()),
        MethodConfig::Var3D { xb, max_iter, tol, .. } if exp.is_sphere() => {
            Box::new(SpectralVar3D::new(*xb, max_iter.unwrap_or(100), tol.unwrap_or(1e-3)))
        }
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
        MethodConfig::LETKF { n, loc_rad, infl, rot, rtps, .. } => {
            Box::new(LETKF::new(*n, *loc_rad, *infl, *rot).with_rtps(*rtps))
        }
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
    /// Spread/skill `√((N+1)/N)·rms(spread)/rms(error)` of an ensemble (null otherwise).
    pub spread_skill: f64,
    /// Per-variable time means (sphere).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableSummary>,
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
    /// Mean wall-clock seconds per cycle (forecast, analysis and scoring).
    pub wall_s_per_cycle: f64,
    /// Of which in the forecast.
    pub forecast_s_per_cycle: f64,
    /// Of which in the analysis.
    pub analysis_s_per_cycle: f64,
    /// Spread/skill `√((N+1)/N)·rms(spread)/rms(error)`, mean over seeds (null without an ensemble).
    pub spread_skill: f64,
    /// Per-variable time means over the non-diverged seeds (sphere).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableSummary>,
    /// Forecast scores from the analyses per lead (sphere).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forecast: Vec<LeadScores>,
    /// Kinetic-energy spectra and balance of the analyses (sphere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physics: Option<Physics>,
    /// Method-specific statistics (e.g. 3D-Var's mean CG iterations), mean over seeds.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub diagnostics: std::collections::BTreeMap<String, f64>,
    /// Whether any seed diverged.
    pub diverged: bool,
    /// How many seeds diverged.
    pub n_diverged: usize,
    /// Per-seed rows.
    pub per_seed: Vec<SeedReport>,
}

/// One variable's time-mean scores (area-weighted, WeatherBench2 conventions).
#[derive(Clone, Debug, Serialize)]
pub struct VariableSummary {
    /// CF name.
    pub variable: String,
    /// Units of the RMSE, bias, spread and CRPS.
    pub units: String,
    /// Analysis RMSE.
    pub rmse_a: f64,
    /// 95% half-width of `rmse_a`, AR(1)-corrected.
    pub rmse_a_ci: f64,
    /// Analysis bias (mean − truth).
    pub bias_a: f64,
    /// Analysis anomaly correlation.
    pub acc_a: f64,
    /// Analysis spread (ensembles).
    pub spread_a: f64,
    /// Spread/skill of the analyses.
    pub spread_skill: f64,
    /// Analysis fair CRPS (ensembles).
    pub crps_a: f64,
    /// Background (forecast) RMSE.
    pub rmse_f: f64,
}

/// Scores of the forecasts from the analyses at one lead.
#[derive(Clone, Debug, Serialize)]
pub struct LeadScores {
    /// Lead time (hours).
    pub lead_hours: f64,
    /// RMSE per variable.
    pub rmse: std::collections::BTreeMap<String, f64>,
    /// Anomaly correlation per variable.
    pub acc: std::collections::BTreeMap<String, f64>,
}

/// Physical consistency of the analyses against the truth at the same times.
#[derive(Clone, Debug, Serialize)]
pub struct Physics {
    /// Kinetic-energy spectrum of the analyses per total wavenumber (m² s⁻²), time mean.
    pub ke_spectrum_analysis: Vec<f64>,
    /// The truth's, at the same times.
    pub ke_spectrum_truth: Vec<f64>,
    /// Analysis / truth kinetic energy in the upper half of the wavenumbers (n > T/2).
    pub small_scale_ke_ratio: f64,
    /// RMS ageostrophic wind of the analyses poleward of 20° (m s⁻¹).
    pub imbalance_analysis: f64,
    /// The truth's.
    pub imbalance_truth: f64,
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
    progress: impl FnMut(usize, usize),
) -> Result<RunReport, AssimError> {
    run_experiment_in(exp, build, progress, &mut |_, _, _| {}, None)
}

/// [`run_experiment_with`], with progress of the set-up stages (`stage(name, done, total)`:
/// the climate and truth runs on the sphere) and, with `out`, the files a run leaves besides
/// the metrics: on the sphere the analyses and truth as Zarr and the observations as CSV.
pub fn run_experiment_in(
    exp: &Experiment,
    build: &MethodBuilder<'_>,
    mut progress: impl FnMut(usize, usize),
    stage: &mut super::sphere::StageProgress<'_>,
    out: Option<&std::path::Path>,
) -> Result<RunReport, AssimError> {
    crate::linalg::init();
    for cfg in &exp.methods {
        build(cfg, exp)?;
    }
    if exp.is_sphere() {
        return super::sphere_run::run(exp, build, &mut progress, stage, out);
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
            let scenario = LorenzScenario { setup, twin: &twin, chrono };
            let divergence = match cfg {
                MethodConfig::FreeRun { .. } => {
                    DivergenceConfig { factor: f64::INFINITY, ..exp.divergence.clone() }
                }
                _ => exp.divergence.clone(),
            };
            let run = cycle(method.as_mut(), &scenario, &chrono, &divergence, &mut rng, &mut |_, _| {});
            per_method[mi].push(summarise_seed(seed, run, &averaged));
        }
    }
    let methods = exp
        .methods
        .iter()
        .zip(per_method)
        .map(|(cfg, seeds)| summarise_method(cfg, seeds, chrono.n_obs_times()))
        .collect();
    Ok(RunReport::new(exp, averaged.len(), methods))
}

/// The divergence test of a method: the experiment's, except for a free run, which is not a
/// filter and is never declared diverged.
pub(super) fn divergence_for(cfg: &MethodConfig, exp: &Experiment) -> DivergenceConfig {
    match cfg {
        MethodConfig::FreeRun { .. } => DivergenceConfig { factor: f64::INFINITY, ..exp.divergence.clone() },
        _ => exp.divergence.clone(),
    }
}

impl RunReport {
    /// The report of `exp` with `n_averaged` analyses in the time means.
    pub(super) fn new(exp: &Experiment, n_averaged: usize, methods: Vec<MethodReport>) -> Self {
        RunReport {
            experiment: exp.name.clone(),
            seeds: exp.seeds.clone(),
            n_analyses: exp.chronology().n_obs_times(),
            n_averaged,
            methods,
        }
    }
}

/// Spread/skill `√((N+1)/N)·rms(spread)/rms(error)` over the picked times.
fn spread_skill(members: Option<usize>, spread: &[f64], rmse: &[f64]) -> f64 {
    let Some(n) = members else { return f64::NAN };
    let ms = |xs: &[f64]| (xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64).sqrt();
    ((n as f64 + 1.0) / n as f64).sqrt() * ms(spread) / ms(rmse)
}

pub(super) fn summarise_seed(seed: u64, run: SeedRun, averaged: &[usize]) -> SeedReport {
    let pick = |xs: &[f64]| -> Vec<f64> { averaged.iter().filter_map(|&k| xs.get(k).copied()).collect() };
    let mean = |xs: &[f64]| series_mean(&pick(xs)).mean;
    let diverged = run.diverged.is_some();
    let rmse = series_mean(&pick(&run.rmse_a));
    let nan_if = |x: f64| if diverged { f64::NAN } else { x };
    let n_vars = run.variables_a.first().map_or(0, Vec::len);
    let variables = (0..n_vars)
        .map(|v| {
            let a = |f: &dyn Fn(&crate::metrics::VariableScores) -> f64| -> Vec<f64> {
                run.variables_a.iter().map(|s| f(&s[v])).collect()
            };
            let fc: Vec<f64> = run.variables_f.iter().map(|s| s[v].rmse).collect();
            let (rm, sp) = (pick(&a(&|s| s.rmse)), pick(&a(&|s| s.spread)));
            let (name, units) =
                crate::obs::Variable::ALL.get(v).map_or(("?", "?"), |x| (x.name(), x.units()));
            let r = series_mean(&rm);
            VariableSummary {
                variable: name.into(),
                units: units.into(),
                rmse_a: nan_if(r.mean),
                rmse_a_ci: nan_if(r.ci95),
                bias_a: nan_if(mean(&a(&|s| s.bias))),
                acc_a: nan_if(mean(&a(&|s| s.acc))),
                spread_a: nan_if(series_mean(&sp).mean),
                spread_skill: nan_if(spread_skill(run.members, &sp, &rm)),
                crps_a: nan_if(mean(&a(&|s| s.crps))),
                rmse_f: nan_if(mean(&fc)),
            }
        })
        .collect();
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
        spread_skill: nan_if(spread_skill(run.members, &pick(&run.spread_a), &pick(&run.rmse_a))),
        variables,
        diverged,
        diverged_at_cycle: run.diverged.as_ref().map(|d| d.cycle),
        divergence_reason: run.diverged.as_ref().map(|d| d.reason.clone()),
        run,
    }
}

pub(super) fn summarise_method(cfg: &MethodConfig, seeds: Vec<SeedReport>, n_cycles: usize) -> MethodReport {
    let ok: Vec<&SeedReport> = seeds.iter().filter(|s| !s.diverged).collect();
    let avg_of = |xs: Vec<f64>| -> f64 {
        if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 }
    };
    let avg = |f: &dyn Fn(&Summary) -> f64| -> f64 { avg_of(ok.iter().map(|s| f(&s.scores)).collect()) };
    // Independent seeds: the standard error of their mean is sqrt(Σ se²)/n.
    let ci = (ok.iter().map(|s| s.scores.rmse_a_ci.powi(2)).sum::<f64>()).sqrt() / ok.len() as f64;
    let wall_s = seeds.iter().map(|s| s.scores.wall_s).sum::<f64>() / seeds.len() as f64;
    let n_diverged = seeds.len() - ok.len();
    let n_vars = ok.first().map_or(0, |s| s.variables.len());
    let variables = (0..n_vars)
        .map(|v| {
            let f =
                |g: &dyn Fn(&VariableSummary) -> f64| avg_of(ok.iter().map(|s| g(&s.variables[v])).collect());
            let first = &ok[0].variables[v];
            VariableSummary {
                variable: first.variable.clone(),
                units: first.units.clone(),
                rmse_a: f(&|x| x.rmse_a),
                rmse_a_ci: (ok.iter().map(|s| s.variables[v].rmse_a_ci.powi(2)).sum::<f64>()).sqrt()
                    / ok.len() as f64,
                bias_a: f(&|x| x.bias_a),
                acc_a: f(&|x| x.acc_a),
                spread_a: f(&|x| x.spread_a),
                spread_skill: f(&|x| x.spread_skill),
                crps_a: f(&|x| x.crps_a),
                rmse_f: f(&|x| x.rmse_f),
            }
        })
        .collect();
    let mut diagnostics = std::collections::BTreeMap::new();
    for s in &seeds {
        for (k, v) in &s.run.diagnostics {
            *diagnostics.entry(k.to_string()).or_insert(0.0) += v / seeds.len() as f64;
        }
    }
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
        wall_s_per_cycle: wall_s / n_cycles as f64,
        forecast_s_per_cycle: seeds.iter().map(|s| s.run.forecast_s).sum::<f64>()
            / (seeds.len() * n_cycles) as f64,
        analysis_s_per_cycle: seeds.iter().map(|s| s.run.analysis_s).sum::<f64>()
            / (seeds.len() * n_cycles) as f64,
        spread_skill: avg_of(ok.iter().map(|s| s.spread_skill).collect()),
        variables,
        forecast: Vec::new(),
        physics: None,
        diagnostics,
        diverged: n_diverged > 0,
        n_diverged,
        per_seed: seeds,
    }
}
