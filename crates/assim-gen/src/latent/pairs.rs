//! Training pairs of a latent prior on a gridded bed (the shallow-water sphere, the
//! multi-level primitive equations): (truth, background) from cycling the classical methods
//! of the global OSSE, or a latent generative method already trained
//! (closed-loop training), on truths of their own (the training file's seeds, never the
//! experiment's test seeds), both encoded by the trained autoencoder.
//!
//! Per seed: a burn-in, a training period and a validation period after it; the pairs of the
//! last two are pooled over seeds and methods.

use std::collections::BTreeMap;
use std::path::Path;

use assim_core::AssimError;
use assim_core::classical::Estimate;
use assim_core::experiment::Experiment;
use assim_core::linalg::row_mean;
use assim_core::rng::stream;

use crate::latent::obs_channels::{ObsChannelsMeta, innovation_channels};
use crate::latent::space::TrainedAutoencoder;
use crate::prior::normalise::Normalisation;
use crate::prior::trained::BackgroundMode;
use crate::train::checkpoint::{Checkpoint, model_record};
use crate::train::config::TrainConfig;
use crate::train::pairs::{Pairs, TrainingData};

/// The states of one period: each truth once, each background with the index of its truth,
/// and (for an observation-conditioned prior) each background's raw observation channels;
/// `run` numbers each background's (seed, filter), whose backgrounds follow each other window
/// by window (a trajectory prior's pairs are runs of consecutive ones). Cycled in the bed's
/// state, then encoded in place into the autoencoder's latent.
#[derive(Default)]
struct Period {
    truth: Vec<Vec<f64>>,
    background: Vec<(usize, Vec<f64>)>,
    channels: Vec<Vec<f64>>,
    run: Vec<usize>,
}

/// The training filters' encoded cycling: what `data.pairs_file` keeps.
struct Cycled {
    train: Period,
    valid: Period,
    /// Each (filter, seed)'s background RMSE over its training period.
    background_rmse: Vec<(String, f64)>,
}

/// Cycles `cfg.data.methods` on each training seed's truth and encodes the pairs, or reads
/// them from `cfg.data.pairs_file` (made and written there first when it does not exist);
/// `progress(stage, done, total)` reports the simulation and the cycling.
pub fn latent_pairs(
    cfg: &TrainConfig,
    exp: &Experiment,
    ae: &TrainedAutoencoder,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<TrainingData, AssimError> {
    ae.check_bed(exp.bed.as_ref())?;
    let cycled = match &cfg.data.pairs_file {
        None => cycle(cfg, exp, ae, cfg.network.obs_channels, progress)?,
        Some(file) => {
            let path = Path::new(file);
            let made = made_by(cfg, exp, ae);
            if path.exists() {
                progress("read pairs_file", 0, 1);
                let c = Cycled::load(path, &made, ae.latent_dim())?;
                progress("read pairs_file", 1, 1);
                c
            } else {
                // Every prior of the same data may read the file: keep the channels.
                let c = cycle(cfg, exp, ae, true, progress)?;
                c.save(path, &made)?;
                c
            }
        }
    };
    Ok(assemble(cfg, exp, ae, cycled))
}

/// What makes a pairs file: the bed (model, observing systems, and the simulation file's
/// content, not its name: an edited climate under the same name makes other truths), the
/// chronology, the autoencoder's weights and the `[data]` settings that shape the cycling (not
/// `blanket`, which only groups the windows, nor `debias`, which only shifts the truths).
fn made_by(cfg: &TrainConfig, exp: &Experiment, ae: &TrainedAutoencoder) -> serde_json::Value {
    let mut bed = toml::Table::new();
    exp.bed.write(&mut bed);
    let d = &cfg.data;
    serde_json::json!({
        "bed": serde_json::to_value(&bed).unwrap_or_default(),
        "model": model_record(exp),
        "chronology": { "dt": exp.chronology().dt, "dko": exp.chronology().dko },
        "autoencoder": ae.fingerprint,
        "data": {
            "burn_in_cycles": d.burn_in_cycles,
            "train_cycles": d.train_cycles,
            "valid_cycles": d.valid_cycles,
            "background": d.background,
            "methods": serde_json::to_value(&d.methods).unwrap_or_default(),
            "seeds": cfg.training_seeds(),
        },
    })
}

/// Cycles the filters and encodes the periods; `channels`: whether to compute each window's
/// observation channels (kept in f32, as the network sees them, so that a pairs file read
/// back gives the same data as the cycling).
fn cycle(
    cfg: &TrainConfig,
    exp: &Experiment,
    ae: &TrainedAutoencoder,
    channels: bool,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Cycled, AssimError> {
    assim_core::linalg::init();
    let d = &cfg.data;
    let cycles = d.burn_in_cycles + d.train_cycles + d.valid_cycles;
    let train_end = d.burn_in_cycles + d.train_cycles;
    let mut exp = exp.clone();
    exp.chronology.ko = Some(cycles - 1);
    exp.chronology.t = None;
    exp.chronology.burn_in = 0.0;
    let chrono = exp.chronology();
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
                    if channels {
                        // The analysis sees the forecast mean's innovations (every member's too).
                        let mean = match &est {
                            Estimate::Ensemble { members, .. } => row_mean(*members),
                            Estimate::State { mean, .. } => mean.to_vec(),
                        };
                        let raw: Vec<f64> =
                            innovation_channels(ae, setup.obs, twin.observations(ko), setup.obs_var, &mean)?
                                .into_iter()
                                .map(|v| f64::from(v as f32))
                                .collect();
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
    for p in [&mut train, &mut valid] {
        p.truth = encode(p.truth.iter().map(Vec::as_slice).collect());
        let bg = encode(p.background.iter().map(|(_, b)| b.as_slice()).collect());
        p.background.iter_mut().zip(bg).for_each(|(b, z)| b.1 = z);
    }
    progress("encode", 1, 1);
    Ok(Cycled { train, valid, background_rmse })
}

/// The training data of `cfg`'s prior from the encoded cycling: the pairs (one window or a
/// blanket of `2k + 1`), the latent's normalisation and, for SLAMS's conditioning, the
/// standardised observation channels.
fn assemble(cfg: &TrainConfig, exp: &Experiment, ae: &TrainedAutoencoder, cycled: Cycled) -> TrainingData {
    let Cycled { train, valid, background_rmse } = cycled;
    let d = &cfg.data;
    let pooled: Vec<f64> = train.truth.iter().flatten().copied().collect();
    let norm = Normalisation::of(&pooled);
    let nx = ae.latent_dim();
    let modalities = exp.bed.field_grid().map_or_else(Vec::new, |g| g.modalities);
    let obs_channels = cfg
        .network
        .obs_channels
        .then(|| ObsChannelsMeta::of(&train.channels, 2 * ae.size.channels, modalities));
    // A pair is the windows j − 2k ..= j of one run: truths, backgrounds and channels stacked.
    let w = 2 * d.blanket + 1;
    let bias = if d.debias { run_means(&train) } else { BTreeMap::new() };
    let removed_bias = background_rmse
        .iter()
        .zip(bias.values())
        .map(|((label, _), (_, fraction))| (label.clone(), *fraction))
        .collect();
    let pairs = |p: &Period| {
        let mut out = Pairs { nx: w * nx, ..Default::default() };
        let ends: Vec<usize> =
            (w - 1..p.background.len()).filter(|&j| p.run[j + 1 - w] == p.run[j]).collect();
        for &j in &ends {
            let blanket = j + 1 - w..=j;
            let t: Vec<f64> = blanket
                .clone()
                .flat_map(|b| {
                    let mean = bias.get(&p.run[b]).map(|(m, _)| m.as_slice());
                    p.truth[p.background[b].0]
                        .iter()
                        .enumerate()
                        .map(move |(k, v)| v - mean.map_or(0.0, |m| m[k]))
                })
                .collect();
            let c: Vec<f64> = blanket.flat_map(|b| p.background[b].1.iter().copied()).collect();
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
    TrainingData {
        train: pairs(&train),
        valid: pairs(&valid),
        normalisation: norm,
        background_rmse,
        removed_bias,
        obs_channels,
    }
}

/// Each run's (one filter on one seed) mean latent increment `z_t − z_b` over the period `p`
/// (`[nz]`), with its RMS as a fraction of the run's increment RMS; keyed by run, in run order.
fn run_means(p: &Period) -> BTreeMap<usize, (Vec<f64>, f64)> {
    let mut sums: BTreeMap<usize, (Vec<f64>, f64, usize)> = BTreeMap::new();
    for ((i, b), &r) in p.background.iter().zip(&p.run) {
        let (sum, ss, n) = sums.entry(r).or_insert_with(|| (vec![0.0; b.len()], 0.0, 0));
        for ((s, t), z) in sum.iter_mut().zip(&p.truth[*i]).zip(b) {
            *s += t - z;
            *ss += (t - z) * (t - z);
        }
        *n += 1;
    }
    sums.into_iter()
        .map(|(r, (sum, ss, n))| {
            let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
            let ms = mean.iter().map(|m| m * m).sum::<f64>() / mean.len().max(1) as f64;
            let total = ss / (n * mean.len()).max(1) as f64;
            (r, (mean, (ms / total.max(f64::MIN_POSITIVE)).sqrt()))
        })
        .collect()
}

impl Cycled {
    /// Writes the periods atomically (a checksummed checkpoint of kind `latent_pairs`).
    fn save(&self, path: &Path, made_by: &serde_json::Value) -> Result<(), AssimError> {
        let flat = |v: &mut dyn Iterator<Item = &Vec<f64>>| -> Vec<f32> {
            v.flat_map(|x| x.iter().map(|&f| f as f32)).collect()
        };
        let mut arrays = Vec::new();
        let mut periods = serde_json::Map::new();
        for (name, p) in [("train", &self.train), ("valid", &self.valid)] {
            arrays.push((format!("{name}_truth"), flat(&mut p.truth.iter())));
            arrays.push((format!("{name}_background"), flat(&mut p.background.iter().map(|(_, b)| b))));
            arrays.push((format!("{name}_channels"), flat(&mut p.channels.iter())));
            periods.insert(
                name.into(),
                serde_json::json!({
                    "truths": p.truth.len(),
                    "truth_of": p.background.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
                    "run": p.run,
                }),
            );
        }
        Checkpoint {
            meta: serde_json::json!({
                "kind": "latent_pairs",
                "made_by": made_by,
                "periods": periods,
                "background_rmse": self.background_rmse,
            }),
            arrays,
        }
        .save(path)
    }

    /// Reads a pairs file and refuses one made by other settings than `expected` ([`made_by`]),
    /// or whose arrays do not match its description and the latent's `nz` numbers.
    fn load(path: &Path, expected: &serde_json::Value, nz: usize) -> Result<Self, AssimError> {
        let ckpt = Checkpoint::load(path)?;
        let bad = |msg: String| AssimError::Format { path: path.to_path_buf(), msg };
        ckpt.check_made_by(
            path,
            ("latent_pairs", "latent pairs file"),
            expected,
            &["bed", "model", "chronology", "autoencoder", "data"],
            "move it away or point data.pairs_file elsewhere to cycle the filters again",
        )?;
        let period = |name: &str| -> Result<Period, AssimError> {
            let m = &ckpt.meta["periods"][name];
            let list = |k: &str| -> Result<Vec<usize>, AssimError> {
                serde_json::from_value(m[k].clone()).map_err(|e| bad(format!("periods.{name}.{k}: {e}")))
            };
            let (truth_of, run) = (list("truth_of")?, list("run")?);
            let truths =
                m["truths"].as_u64().ok_or_else(|| bad(format!("periods.{name}: no truths")))? as usize;
            let get = |a: &str| {
                ckpt.array(&format!("{name}_{a}")).ok_or_else(|| bad(format!("no {name}_{a} array")))
            };
            let rows = |v: &[f32], n: usize| -> Vec<Vec<f64>> {
                if n == 0 {
                    return Vec::new();
                }
                v.chunks(v.len() / n).map(|c| c.iter().map(|&x| f64::from(x)).collect()).collect()
            };
            let (t, b, c) = (get("truth")?, get("background")?, get("channels")?);
            let n = truth_of.len();
            if t.len() != truths * nz
                || b.len() != n * nz
                || run.len() != n
                || (n > 0 && (c.is_empty() || !c.len().is_multiple_of(n)))
                || truth_of.iter().any(|&i| i >= truths)
            {
                return Err(bad(format!(
                    "its {name} arrays do not match its {truths} truths, {n} backgrounds and the \
                     autoencoder's latent of {nz} numbers"
                )));
            }
            Ok(Period {
                truth: rows(t, truths),
                background: truth_of.into_iter().zip(rows(b, n)).collect(),
                channels: rows(c, n),
                run,
            })
        };
        let (train, valid) = (period("train")?, period("valid")?);
        let background_rmse = serde_json::from_value(ckpt.meta["background_rmse"].clone())
            .map_err(|e| bad(format!("background_rmse: {e}")))?;
        Ok(Cycled { train, valid, background_rmse })
    }
}
