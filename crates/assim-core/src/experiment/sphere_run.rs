//! Runs a shallow-water experiment: every method on every seed's [`SphereTwin`], with the
//! scores of the cycle plus forecasts from the analyses, kinetic-energy spectra and balance;
//! with an output directory, also the analyses and truth as Zarr and the observations as CSV.

use std::collections::BTreeMap;
use std::path::Path;

use super::runner::{
    LeadScores, MethodBuilder, Physics, RunReport, SeedReport, divergence_for, summarise_method,
    summarise_seed,
};
use super::sphere::{
    FreeRunView, SphereTwin, StageProgress, forecast_skill, geostrophic_imbalance, ke_spectrum,
};
use super::{Experiment, cycle};
use crate::AssimError;
use crate::io::zarr::{GriddedZarrWriter, Precision};
use crate::metrics::VariableScores;
use crate::obs::Variable;
use crate::rng::stream;

/// What one seed adds to a method's forecast and physics means.
#[derive(Default)]
struct Extras {
    seeds: usize,
    forecast: Vec<Vec<VariableScores>>,
    ke_a: Vec<f64>,
    ke_t: Vec<f64>,
    imb_a: f64,
    imb_t: f64,
}

/// A file-name-safe version of a method label.
pub fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    s.trim_matches('_').to_string()
}

fn zarr_attrs(exp: &Experiment, what: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("title".into(), format!("assim {what}: {}", exp.name).into());
    m.insert("Conventions".into(), "CF-1.8".into());
    m.insert("source".into(), format!("assim {}", env!("CARGO_PKG_VERSION")).into());
    m.insert("config".into(), exp.to_toml().into());
    m
}

fn writer(
    exp: &Experiment,
    twin: &SphereTwin,
    path: &Path,
    what: &str,
) -> Result<GriddedZarrWriter, AssimError> {
    GriddedZarrWriter::create(
        path,
        true,
        twin.sw().grid(),
        twin.chrono.n_obs_times(),
        &super::SW_VARIABLES[..3],
        Precision::F32,
        zarr_attrs(exp, what),
    )
}

fn write_state(w: &mut GriddedZarrWriter, t: usize, hours: f64, x: &[f64]) -> Result<(), AssimError> {
    let g = x.len() / 3;
    w.write_slice(t, hours, &[&x[..g], &x[g..2 * g], &x[2 * g..]])
}

/// Runs every method of a validated shallow-water experiment.
pub(super) fn run(
    exp: &Experiment,
    build: &MethodBuilder<'_>,
    progress: &mut dyn FnMut(usize, usize),
    stage: &mut StageProgress<'_>,
    out: Option<&Path>,
) -> Result<RunReport, AssimError> {
    let chrono = exp.chronology();
    let fc = exp.forecasts.clone().unwrap_or_default();
    let window_s = chrono.dko as f64 * chrono.dt;
    let per_day = (86400.0 / window_s).round().max(1.0) as usize;
    let extra = fc.lead_days * per_day;
    let averaged: Vec<usize> = (0..chrono.n_obs_times()).filter(|&ko| chrono.is_averaged(ko)).collect();
    let first_avg = averaged[0];
    let hours = |ko: usize| chrono.obs_step(ko) as f64 * chrono.dt / 3600.0;
    let mut per_method: Vec<Vec<SeedReport>> = vec![Vec::new(); exp.methods.len()];
    let mut extras: Vec<Extras> = (0..exp.methods.len()).map(|_| Extras::default()).collect();
    for (si, &seed) in exp.seeds.iter().enumerate() {
        let twin = SphereTwin::new(exp, seed, extra, stage)?;
        let outputs = out.filter(|_| si == 0);
        if let Some(dir) = outputs {
            std::fs::create_dir_all(dir.join("analyses"))
                .map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
            let recs: Vec<_> = twin.windows.iter().flat_map(|w| w.records.iter().cloned()).collect();
            crate::obs::records::write_csv(&dir.join("observations.csv"), &recs)?;
            let mut w = writer(exp, &twin, &dir.join("truth.zarr"), "truth")?;
            for ko in 0..chrono.n_obs_times() {
                write_state(&mut w, ko, hours(ko), &twin.truth[ko + 1])?;
            }
            w.finish()?;
        }
        for (mi, cfg) in exp.methods.iter().enumerate() {
            progress(si, mi);
            let mut method = build(cfg, exp)?;
            let mut rng = stream(seed, &format!("method:{}", cfg.label()));
            let mut zarr = match outputs {
                Some(dir) => {
                    let path = dir.join("analyses").join(format!("{}.zarr", slug(&cfg.label())));
                    Some(writer(exp, &twin, &path, &format!("analyses of {}", cfg.label()))?)
                }
                None => None,
            };
            let mut io_error = None;
            let mut starts = Vec::new();
            let t = twin.sw().truncation().t();
            let (mut ke_a, mut ke_t) = (vec![0.0; t + 1], vec![0.0; t + 1]);
            let (mut imb_a, mut imb_t, mut n_phys) = (0.0, 0.0, 0usize);
            let mut hook = |ko: usize, est: &crate::classical::Estimate<'_>| {
                let mean = est.mean();
                if let Some(w) = zarr.as_mut()
                    && io_error.is_none()
                    && let Err(e) = write_state(w, ko, hours(ko), &mean)
                {
                    io_error = Some(e);
                }
                if chrono.is_averaged(ko)
                    && (ko - first_avg).is_multiple_of(fc.every)
                    && mean.iter().all(|x| x.is_finite())
                {
                    let truth = &twin.truth[ko + 1];
                    for (acc, x) in [(&mut ke_a, &mean), (&mut ke_t, truth)] {
                        for (a, e) in acc.iter_mut().zip(ke_spectrum(twin.sw(), x)) {
                            *a += e;
                        }
                    }
                    imb_a += geostrophic_imbalance(twin.sw(), &mean);
                    imb_t += geostrophic_imbalance(twin.sw(), truth);
                    n_phys += 1;
                    if ko + 1 + extra < twin.truth.len() {
                        starts.push((ko, mean));
                    }
                }
            };
            // A free run is not a filter: it is never declared diverged, and it runs the free
            // model (no knowledge of the truth's forcing).
            let free_view = FreeRunView(&twin);
            let scenario: &dyn super::Scenario = match cfg {
                super::MethodConfig::FreeRun { .. } => &free_view,
                _ => &twin,
            };
            let run =
                cycle(method.as_mut(), scenario, &chrono, &divergence_for(cfg, exp), &mut rng, &mut hook);
            if let Some(e) = io_error {
                return Err(e);
            }
            if let Some(mut w) = zarr {
                let nan = vec![f64::NAN; twin.truth[0].len()];
                for ko in run.rmse_a.len()..chrono.n_obs_times() {
                    write_state(&mut w, ko, hours(ko), &nan)?;
                }
                w.finish()?;
            }
            if run.diverged.is_none() && n_phys > 0 {
                let e = &mut extras[mi];
                // The free run goes on with its own forcing; the others forecast with the
                // forecast model from their analyses.
                let model = match cfg {
                    super::MethodConfig::FreeRun { .. } => &twin.free_model,
                    _ => &twin.model,
                };
                let f = forecast_skill(&twin, model, &starts, fc.lead_days);
                if e.forecast.is_empty() {
                    e.forecast = f;
                    e.ke_a = vec![0.0; t + 1];
                    e.ke_t = vec![0.0; t + 1];
                } else {
                    for (acc, new) in e.forecast.iter_mut().zip(f) {
                        for (a, b) in acc.iter_mut().zip(new) {
                            a.rmse = (a.rmse.powi(2) + b.rmse.powi(2)).sqrt();
                            a.acc += b.acc;
                        }
                    }
                }
                let k = n_phys as f64;
                e.ke_a.iter_mut().zip(&ke_a).for_each(|(a, b)| *a += b / k);
                e.ke_t.iter_mut().zip(&ke_t).for_each(|(a, b)| *a += b / k);
                e.imb_a += imb_a / k;
                e.imb_t += imb_t / k;
                e.seeds += 1;
            }
            per_method[mi].push(summarise_seed(seed, run, &averaged));
        }
    }
    let methods = exp
        .methods
        .iter()
        .zip(per_method)
        .zip(extras)
        .map(|((cfg, seeds), e)| {
            let mut m = summarise_method(cfg, seeds, chrono.n_obs_times());
            if e.seeds > 0 {
                let n = e.seeds as f64;
                m.forecast = e
                    .forecast
                    .iter()
                    .enumerate()
                    .map(|(d, vars)| {
                        let name = |v: usize| Variable::ALL[v].name().to_string();
                        LeadScores {
                            lead_hours: 24.0 * (d + 1) as f64,
                            // Seeds were combined as a root sum of squares; back to an RMS.
                            rmse: vars
                                .iter()
                                .enumerate()
                                .map(|(v, s)| (name(v), s.rmse / n.sqrt()))
                                .collect::<BTreeMap<_, _>>(),
                            acc: vars.iter().enumerate().map(|(v, s)| (name(v), s.acc / n)).collect(),
                        }
                    })
                    .collect();
                let ke_a: Vec<f64> = e.ke_a.iter().map(|x| x / n).collect();
                let ke_t: Vec<f64> = e.ke_t.iter().map(|x| x / n).collect();
                let half = ke_a.len() / 2;
                let small = |k: &[f64]| k[half + 1..].iter().sum::<f64>();
                m.physics = Some(Physics {
                    small_scale_ke_ratio: small(&ke_a) / small(&ke_t),
                    ke_spectrum_analysis: ke_a,
                    ke_spectrum_truth: ke_t,
                    imbalance_analysis: e.imb_a / n,
                    imbalance_truth: e.imb_t / n,
                });
            }
            m
        })
        .collect();
    Ok(RunReport::new(exp, averaged.len(), methods))
}
