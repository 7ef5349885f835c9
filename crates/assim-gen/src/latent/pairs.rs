//! Training pairs of a latent prior on a gridded bed (the shallow-water sphere, the
//! multi-level primitive equations): (truth, background) from cycling the classical methods
//! of the global OSSE, or a latent generative method already trained
//! (closed-loop training), on truths of their own (the training file's seeds, never the
//! experiment's test seeds), both encoded by the trained autoencoder.
//!
//! Per seed: a burn-in, a training period and a validation period after it; the pairs of the
//! last two are pooled over seeds and methods.

use assim_core::AssimError;
use assim_core::classical::Estimate;
use assim_core::experiment::Experiment;
use assim_core::linalg::row_mean;
use assim_core::rng::stream;

use crate::latent::obs_channels::{ObsChannelsMeta, innovation_channels};
use crate::latent::space::TrainedAutoencoder;
use crate::prior::normalise::Normalisation;
use crate::prior::trained::BackgroundMode;
use crate::train::config::TrainConfig;
use crate::train::pairs::{Pairs, TrainingData};

/// The states of one period: each truth once, each background with the index of its truth,
/// and (for an observation-conditioned prior) each background's raw observation channels;
/// `run` numbers each background's (seed, filter), whose backgrounds follow each other window
/// by window (a trajectory prior's pairs are runs of consecutive ones).
#[derive(Default)]
struct Period {
    truth: Vec<Vec<f64>>,
    background: Vec<(usize, Vec<f64>)>,
    channels: Vec<Vec<f64>>,
    run: Vec<usize>,
}

/// Cycles `cfg.data.methods` on each training seed's truth and encodes the pairs;
/// `progress(stage, done, total)` reports the simulation and the cycling.
pub fn latent_pairs(
    cfg: &TrainConfig,
    exp: &Experiment,
    ae: &TrainedAutoencoder,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<TrainingData, AssimError> {
    assim_core::linalg::init();
    let d = &cfg.data;
    let cycles = d.burn_in_cycles + d.train_cycles + d.valid_cycles;
    let train_end = d.burn_in_cycles + d.train_cycles;
    let mut exp = exp.clone();
    exp.chronology.ko = Some(cycles - 1);
    exp.chronology.t = None;
    exp.chronology.burn_in = 0.0;
    let chrono = exp.chronology();
    ae.check_bed(exp.bed.as_ref())?;
    let bed = exp.bed.prepare(chrono, &exp.base_dir)?;
    let seeds = cfg.training_seeds();
    let (mut train, mut valid) = (Period::default(), Period::default());
    let mut background_rmse = Vec::new();
    let mut run = 0;
    for &seed in &seeds {
        let twin = bed.world(seed, &mut |s, a, b| progress(s, a, b))?;
        let first = (train.truth.len(), valid.truth.len());
        for ko in d.burn_in_cycles..cycles {
            let p = if ko < train_end { &mut train } else { &mut valid };
            p.truth.push(twin.truth(ko).to_vec());
        }
        for m in d.entries("data.methods")? {
            run += 1;
            let mut method = m.build(exp.bed.as_ref())?;
            let mut rng = stream(seed, &format!("training-backgrounds:{}", m.label()));
            method.initialise(&twin.setup(0), &mut rng)?;
            let (mut se, mut count) = (0.0, 0usize);
            for ko in 0..cycles {
                let setup = twin.setup(ko);
                let k = chrono.obs_step(ko);
                method.forecast(&setup, (k - chrono.dko) as f64 * chrono.dt, chrono.dko)?;
                if ko >= d.burn_in_cycles {
                    let est = method.estimate();
                    let (p, i) = if ko < train_end {
                        (&mut train, first.0 + ko - d.burn_in_cycles)
                    } else {
                        (&mut valid, first.1 + ko - train_end)
                    };
                    let first_new = p.background.len();
                    match (&est, d.background) {
                        (Estimate::Ensemble { members, .. }, BackgroundMode::Member) => {
                            for j in 0..members.ncols() {
                                p.background
                                    .push((i, (0..members.nrows()).map(|r| members[(r, j)]).collect()));
                            }
                        }
                        (Estimate::Ensemble { members, .. }, BackgroundMode::Mean) => {
                            p.background.push((i, row_mean(*members)));
                        }
                        (Estimate::State { mean, .. }, _) => p.background.push((i, mean.to_vec())),
                    }
                    p.run.resize(p.background.len(), run);
                    if cfg.network.obs_channels {
                        // The analysis sees the forecast mean's innovations (every member's too).
                        let mean = match &est {
                            Estimate::Ensemble { members, .. } => row_mean(*members),
                            Estimate::State { mean, .. } => mean.to_vec(),
                        };
                        let raw =
                            innovation_channels(ae, setup.obs, twin.observations(ko), setup.obs_var, &mean)?;
                        for _ in first_new..p.background.len() {
                            p.channels.push(raw.clone());
                        }
                    }
                    if ko < train_end {
                        se += twin.score(&est, ko, false).0.rmse.powi(2);
                        count += 1;
                    }
                }
                method.analyse(&setup, twin.observations(ko), k as f64 * chrono.dt, &mut rng)?;
                progress(&format!("cycle {} seed {seed}", m.label()), ko + 1, cycles);
            }
            let rmse = (se / count.max(1) as f64).sqrt();
            if rmse.is_nan() || rmse > exp.divergence.factor {
                return Err(AssimError::Numerical(format!(
                    "the training filter {} diverged on seed {seed}: background RMSE {rmse:.3} of the \
                     climatological sd over the training period (bar {})",
                    m.label(),
                    exp.divergence.factor
                )));
            }
            background_rmse.push((format!("{} seed {seed}", m.label()), rmse));
        }
    }
    let encode = |states: Vec<&[f64]>| -> Vec<Vec<f64>> {
        let z = ae.encode(&states);
        let nz = ae.latent_dim();
        let v: Vec<f32> = z.to_data().iter::<f32>().collect();
        v.chunks(nz).map(|c| c.iter().map(|&x| f64::from(x)).collect()).collect()
    };
    progress("encode", 0, 1);
    let latent = |p: &Period| {
        let truth = encode(p.truth.iter().map(Vec::as_slice).collect());
        let bg = encode(p.background.iter().map(|(_, b)| b.as_slice()).collect());
        (truth, bg)
    };
    let (train_truth, train_bg) = latent(&train);
    let (valid_truth, valid_bg) = latent(&valid);
    progress("encode", 1, 1);
    let pooled: Vec<f64> = train_truth.iter().flatten().copied().collect();
    let norm = Normalisation::of(&pooled);
    let nx = ae.latent_dim();
    let modalities = exp.bed.field_grid().map_or_else(Vec::new, |g| g.modalities);
    let obs_channels = cfg
        .network
        .obs_channels
        .then(|| ObsChannelsMeta::of(&train.channels, 2 * ae.size.channels, modalities));
    // A pair is the windows j − 2k ..= j of one run: truths, backgrounds and channels stacked.
    let w = 2 * d.blanket + 1;
    let pairs = |p: &Period, truth: &[Vec<f64>], bg: &[Vec<f64>]| {
        let mut out = Pairs { nx: w * nx, ..Default::default() };
        let ends: Vec<usize> =
            (w - 1..p.background.len()).filter(|&j| p.run[j + 1 - w] == p.run[j]).collect();
        for &j in &ends {
            let blanket = j + 1 - w..=j;
            let t: Vec<f64> =
                blanket.clone().flat_map(|b| truth[p.background[b].0].iter().copied()).collect();
            let c: Vec<f64> = blanket.flat_map(|b| bg[b].iter().copied()).collect();
            out.push(&norm, &t, &c);
        }
        if let Some(m) = &obs_channels {
            out.ne = w * p.channels.first().map_or(0, Vec::len);
            out.extra = ends
                .iter()
                .flat_map(|&j| (j + 1 - w..=j).flat_map(|b| m.standardise(&p.channels[b])))
                .collect();
        }
        out
    };
    Ok(TrainingData {
        train: pairs(&train, &train_truth, &train_bg),
        valid: pairs(&valid, &valid_truth, &valid_bg),
        normalisation: norm,
        background_rmse,
        obs_channels,
    })
}
