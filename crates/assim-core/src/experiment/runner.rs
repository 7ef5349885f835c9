//! The one runner: every method of an experiment on every seed of its test bed, on the same
//! truth and observations, with the bed's observers on every cycle, summarised into a
//! [`RunReport`]. Nothing here knows a bed or a method: both come through their traits.

use std::path::Path;

use super::report::{summarise_method, summarise_seed};
use super::{Experiment, RunReport, SeedReport, cycle};
use crate::AssimError;
use crate::bed::{RunInfo, SeedExtras, StageProgress};
use crate::classical::Estimate;
use crate::rng::stream;

/// Runs every method of the experiment. `progress(seed_index, method_index)` is called
/// before each run.
pub fn run_experiment(exp: &Experiment, progress: impl FnMut(usize, usize)) -> Result<RunReport, AssimError> {
    run_experiment_in(exp, progress, &mut |_, _, _| {}, None)
}

/// [`run_experiment`], with progress of the set-up stages (`stage(name, done, total)`:
/// the climate and truth runs on the sphere) and, with `out`, the files the bed leaves
/// besides the metrics (on the sphere the analyses and truth as Zarr and the observations as
/// CSV, of the first seed). Every method is built once before any work, so a bad entry (a
/// missing checkpoint, say) fails fast.
pub fn run_experiment_in(
    exp: &Experiment,
    mut progress: impl FnMut(usize, usize),
    stage: &mut StageProgress<'_>,
    out: Option<&Path>,
) -> Result<RunReport, AssimError> {
    crate::linalg::init();
    for m in &exp.methods {
        m.build(exp.bed.as_ref())?;
    }
    let bed = exp.bed.prepare(exp.chronology(), &exp.base_dir)?;
    let config = exp.to_toml();
    let info = RunInfo { name: &exp.name, config: &config };
    let chrono = exp.chronology();
    let averaged = chrono.averaged();
    let names = exp.bed.variables();
    let mut per_method: Vec<Vec<SeedReport>> = vec![Vec::new(); exp.methods.len()];
    for (si, &seed) in exp.seeds.iter().enumerate() {
        let world = bed.world(seed, stage)?;
        let outputs = out.filter(|_| si == 0);
        if let Some(dir) = outputs {
            world.write_outputs(&info, dir)?;
        }
        let free = world.free_run();
        for (mi, spec) in exp.methods.iter().enumerate() {
            progress(si, mi);
            let mut method = spec.build(exp.bed.as_ref())?;
            let mut rng = stream(seed, &format!("method:{}", spec.label()));
            let scenario: &dyn super::Scenario = match (&free, spec.is_filter()) {
                (Some(f), false) => f.as_ref(),
                _ => &*world,
            };
            let mut observers = world.observers(&info, &spec.label(), spec.is_filter(), outputs)?;
            let mut failure = None;
            let mut hook = |ko: usize, est: &Estimate<'_>| {
                if failure.is_none() && !observers.is_empty() {
                    let mean = est.mean();
                    failure = observers.iter_mut().find_map(|o| o.on_analysis(ko, &mean).err());
                }
            };
            let divergence = exp.divergence.for_method(spec.is_filter());
            let run = cycle(method.as_mut(), scenario, &chrono, &divergence, &mut rng, &mut hook);
            if let Some(e) = failure {
                return Err(e);
            }
            let mut extras = SeedExtras::default();
            for o in observers {
                o.finish(&run, &mut extras)?;
            }
            per_method[mi].push(summarise_seed(seed, run, extras, &averaged, &names));
        }
    }
    let methods = exp
        .methods
        .iter()
        .zip(per_method)
        .map(|(spec, seeds)| summarise_method(spec, seeds, chrono.n_obs_times()))
        .collect();
    Ok(RunReport::new(exp, averaged.len(), methods))
}
