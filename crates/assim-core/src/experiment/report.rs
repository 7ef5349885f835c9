//! The report of a run: every method's scores on every seed and their means over seeds, as
//! `metrics.json` holds them (written by `assim run`, read back by `assim report`). NaN is
//! written as `null` and read back as NaN.

use serde::{Deserialize, Serialize};

use super::{Experiment, MethodEntry, SeedRun};
use crate::bed::SeedExtras;
use crate::metrics::series_mean;

/// The scores of a method, on one seed or averaged over seeds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Time-mean analysis RMSE after burn-in.
    #[serde(deserialize_with = "nullable::f64")]
    pub rmse_a: f64,
    /// 95% half-width of `rmse_a`, AR(1)-corrected.
    #[serde(deserialize_with = "nullable::f64")]
    pub rmse_a_ci: f64,
    /// Time-mean analysis spread (NaN → null without one).
    #[serde(deserialize_with = "nullable::f64")]
    pub spread_a: f64,
    /// Time-mean forecast RMSE.
    #[serde(deserialize_with = "nullable::f64")]
    pub rmse_f: f64,
    /// Time-mean forecast spread.
    #[serde(deserialize_with = "nullable::f64")]
    pub spread_f: f64,
    /// Time-mean analysis CRPS (null without an ensemble).
    #[serde(deserialize_with = "nullable::f64")]
    pub crps_a: f64,
    /// Wall-clock seconds of the cycle (forecasts, analyses, scoring).
    #[serde(deserialize_with = "nullable::f64")]
    pub wall_s: f64,
}

/// One method on one seed, summarised (the `per_seed` rows of `metrics.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Time means after burn-in (null where diverged or undefined); `wall_s` of this seed.
    #[serde(flatten)]
    pub scores: Summary,
    /// Spread/skill `√((N+1)/N)·rms(spread)/rms(error)` of an ensemble (null otherwise).
    #[serde(deserialize_with = "nullable::f64")]
    pub spread_skill: f64,
    /// Per-variable time means (sphere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    /// What the bed's observers measured (forecasts, physics), before the means over seeds.
    #[serde(skip)]
    pub extras: SeedExtras,
}

/// One method over all seeds (a row of `metrics.json` / `metrics.csv`).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    #[serde(deserialize_with = "nullable::f64")]
    pub wall_s_per_1001_cycles: f64,
    /// Mean wall-clock seconds per cycle (forecast, analysis and scoring).
    #[serde(deserialize_with = "nullable::f64")]
    pub wall_s_per_cycle: f64,
    /// Of which in the forecast.
    #[serde(deserialize_with = "nullable::f64")]
    pub forecast_s_per_cycle: f64,
    /// Of which in the analysis.
    #[serde(deserialize_with = "nullable::f64")]
    pub analysis_s_per_cycle: f64,
    /// Spread/skill `√((N+1)/N)·rms(spread)/rms(error)`, mean over seeds (null without an ensemble).
    #[serde(deserialize_with = "nullable::f64")]
    pub spread_skill: f64,
    /// Per-variable time means over the non-diverged seeds (sphere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<VariableSummary>,
    /// Forecast scores from the analyses per lead (sphere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forecast: Vec<LeadScores>,
    /// Kinetic-energy spectra and balance of the analyses (sphere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physics: Option<Physics>,
    /// Where the analysis error lies (the multi-level bed): zonal-mean RMSE per field and
    /// latitude, error spectra per field; over the seeds that have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_structure: Option<crate::bed::ErrorStructure>,
    /// Method-specific statistics (e.g. 3D-Var's mean CG iterations), mean over seeds.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[serde(deserialize_with = "nullable::map")]
    pub diagnostics: std::collections::BTreeMap<String, f64>,
    /// Whether any seed diverged.
    pub diverged: bool,
    /// How many seeds diverged.
    pub n_diverged: usize,
    /// Per-seed rows.
    pub per_seed: Vec<SeedReport>,
}

/// One variable's time-mean scores (area-weighted, WeatherBench2 conventions).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VariableSummary {
    /// CF name.
    pub variable: String,
    /// Units of the RMSE, bias, spread and CRPS.
    pub units: String,
    /// Analysis RMSE.
    #[serde(deserialize_with = "nullable::f64")]
    pub rmse_a: f64,
    /// 95% half-width of `rmse_a`, AR(1)-corrected.
    #[serde(deserialize_with = "nullable::f64")]
    pub rmse_a_ci: f64,
    /// Analysis bias (mean − truth).
    #[serde(deserialize_with = "nullable::f64")]
    pub bias_a: f64,
    /// Analysis anomaly correlation.
    #[serde(deserialize_with = "nullable::f64")]
    pub acc_a: f64,
    /// Analysis spread (ensembles).
    #[serde(deserialize_with = "nullable::f64")]
    pub spread_a: f64,
    /// Spread/skill of the analyses.
    #[serde(deserialize_with = "nullable::f64")]
    pub spread_skill: f64,
    /// Analysis fair CRPS (ensembles).
    #[serde(deserialize_with = "nullable::f64")]
    pub crps_a: f64,
    /// Background (forecast) RMSE.
    #[serde(deserialize_with = "nullable::f64")]
    pub rmse_f: f64,
    /// Time mean of the analysis mean's 1-D Wasserstein distance to the truth's values
    /// (SLAMS's score; `metrics::wasserstein1`). Absent from reports written before it.
    #[serde(default = "nan", deserialize_with = "nullable::f64")]
    pub wasserstein_a: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Scores of the forecasts from the analyses at one lead.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeadScores {
    /// Lead time (hours).
    #[serde(deserialize_with = "nullable::f64")]
    pub lead_hours: f64,
    /// RMSE per variable.
    #[serde(deserialize_with = "nullable::map")]
    pub rmse: std::collections::BTreeMap<String, f64>,
    /// Anomaly correlation per variable.
    #[serde(deserialize_with = "nullable::map")]
    pub acc: std::collections::BTreeMap<String, f64>,
}

/// Physical consistency of the analyses against the truth at the same times.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Physics {
    /// Kinetic-energy spectrum of the analyses per total wavenumber (m² s⁻²), time mean.
    #[serde(deserialize_with = "nullable::vec")]
    pub ke_spectrum_analysis: Vec<f64>,
    /// The truth's, at the same times.
    #[serde(deserialize_with = "nullable::vec")]
    pub ke_spectrum_truth: Vec<f64>,
    /// Analysis / truth kinetic energy in the upper half of the wavenumbers (n > T/2).
    #[serde(deserialize_with = "nullable::f64")]
    pub small_scale_ke_ratio: f64,
    /// RMS ageostrophic wind of the analyses poleward of 20° (m s⁻¹).
    #[serde(deserialize_with = "nullable::f64")]
    pub imbalance_analysis: f64,
    /// The truth's.
    #[serde(deserialize_with = "nullable::f64")]
    pub imbalance_truth: f64,
}

/// The whole comparison: what `metrics.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// One method's cycle on one seed, summarised over the `averaged` analyses; `names` are the
/// bed's (variable, units) of the per-variable scores.
pub(super) fn summarise_seed(
    seed: u64,
    run: SeedRun,
    extras: SeedExtras,
    averaged: &[usize],
    names: &[(String, String)],
) -> SeedReport {
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
            let (name, units) = names.get(v).map_or(("?", "?"), |(n, u)| (n.as_str(), u.as_str()));
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
                wasserstein_a: nan_if(mean(&a(&|s| s.wasserstein))),
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
        extras,
    }
}

/// One method over all seeds: means over the non-diverged ones.
pub(super) fn summarise_method(cfg: &MethodEntry, seeds: Vec<SeedReport>, n_cycles: usize) -> MethodReport {
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
                wasserstein_a: f(&|x| x.wasserstein_a),
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
        forecast: forecast_means(&seeds),
        physics: physics_means(&seeds),
        error_structure: structure_means(&seeds),
        diagnostics,
        diverged: n_diverged > 0,
        n_diverged,
        per_seed: seeds,
    }
}

/// The forecast scores per lead over the seeds that have them: RMSEs combined as a root mean
/// square, ACCs as a mean.
fn forecast_means(seeds: &[SeedReport]) -> Vec<LeadScores> {
    let mut runs = seeds.iter().filter_map(|s| s.extras.forecast.as_ref());
    let Some(first) = runs.next() else { return Vec::new() };
    let mut sum = first.clone();
    let mut n = 1usize;
    for f in runs {
        for (acc, new) in sum.iter_mut().zip(f) {
            for (a, b) in acc.iter_mut().zip(new) {
                a.rmse = (a.rmse.powi(2) + b.rmse.powi(2)).sqrt();
                a.acc += b.acc;
            }
        }
        n += 1;
    }
    let n = n as f64;
    let name = |v: usize| {
        seeds.iter().find_map(|s| s.variables.get(v)).map_or_else(|| "?".to_string(), |x| x.variable.clone())
    };
    sum.iter()
        .enumerate()
        .map(|(d, vars)| LeadScores {
            lead_hours: 24.0 * (d + 1) as f64,
            rmse: vars.iter().enumerate().map(|(v, s)| (name(v), s.rmse / n.sqrt())).collect(),
            acc: vars.iter().enumerate().map(|(v, s)| (name(v), s.acc / n)).collect(),
        })
        .collect()
}

/// The error structure over the seeds that have it: zonal RMSEs combined as a root mean square,
/// spectra (mean squares) as a mean.
fn structure_means(seeds: &[SeedReport]) -> Option<crate::bed::ErrorStructure> {
    let all: Vec<_> = seeds.iter().filter_map(|s| s.extras.structure.as_ref()).collect();
    let first = all.first()?;
    let n = all.len() as f64;
    let combine = |get: &dyn Fn(&crate::bed::ErrorStructure) -> &Vec<Vec<f64>>, sq: bool| -> Vec<Vec<f64>> {
        (0..get(first).len())
            .map(|f| {
                (0..get(first)[f].len())
                    .map(|k| {
                        let m = all
                            .iter()
                            .map(|s| if sq { get(s)[f][k].powi(2) } else { get(s)[f][k] })
                            .sum::<f64>()
                            / n;
                        if sq { m.sqrt() } else { m }
                    })
                    .collect()
            })
            .collect()
    };
    Some(crate::bed::ErrorStructure {
        lat: first.lat.clone(),
        zonal_rmse: combine(&|s| &s.zonal_rmse, true),
        spectra: combine(&|s| &s.spectra, false),
    })
}

/// The physical diagnostics, means over the seeds that have them.
fn physics_means(seeds: &[SeedReport]) -> Option<Physics> {
    let all: Vec<_> = seeds.iter().filter_map(|s| s.extras.physics.as_ref()).collect();
    let first = all.first()?;
    let (mut ke_a, mut ke_t) = (vec![0.0; first.ke_a.len()], vec![0.0; first.ke_t.len()]);
    let (mut imb_a, mut imb_t) = (0.0, 0.0);
    for p in &all {
        ke_a.iter_mut().zip(&p.ke_a).for_each(|(a, b)| *a += b);
        ke_t.iter_mut().zip(&p.ke_t).for_each(|(a, b)| *a += b);
        imb_a += p.imb_a;
        imb_t += p.imb_t;
    }
    let n = all.len() as f64;
    let ke_a: Vec<f64> = ke_a.iter().map(|x| x / n).collect();
    let ke_t: Vec<f64> = ke_t.iter().map(|x| x / n).collect();
    let half = ke_a.len() / 2;
    let small = |k: &[f64]| k[half + 1..].iter().sum::<f64>();
    Some(Physics {
        small_scale_ke_ratio: small(&ke_a) / small(&ke_t),
        ke_spectrum_analysis: ke_a,
        ke_spectrum_truth: ke_t,
        imbalance_analysis: imb_a / n,
        imbalance_truth: imb_t / n,
    })
}

/// Reading back numbers that were NaN when written (`null` in JSON).
mod nullable {
    use serde::{Deserialize, Deserializer};

    /// A number, or NaN for `null`.
    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    /// Numbers, NaN for each `null`.
    pub fn vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }

    /// Named numbers, NaN for each `null`.
    pub fn map<'de, D: Deserializer<'de>>(d: D) -> Result<std::collections::BTreeMap<String, f64>, D::Error> {
        Ok(std::collections::BTreeMap::<String, Option<f64>>::deserialize(d)?
            .into_iter()
            .map(|(k, x)| (k, x.unwrap_or(f64::NAN)))
            .collect())
    }
}
