//! `assim train autoencoder`: the sphere VAE trained on a gridded experiment's climate sample
//! (shallow water: geopotential, u, v; primitive equations: T, u, v per level and p_s, the
//! levels as channels), the days before its truth, so never on the test period, with normalisation,
//! validation, checksummed atomic checkpoints, exact `--resume`, and the reconstruction floor
//! (area-weighted RMSE per variable and its spectrum) that bounds every latent method.
//! Keys are documented in `docs/training.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use assim_core::AssimError;
use assim_core::bed::FieldGrid;
use assim_core::classical::taper::{names_no_field, tapers};
use assim_core::dynamics::shallow_water::EARTH_RADIUS;
use assim_core::experiment::{Experiment, parse_toml, read_text};
use assim_core::rng::{fill_normal, stream, uniform};
use assim_core::spectral::SpectralTransform;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::latent::autoencoder::{FieldNormalisation, SphereVae, VaeSize, train_step};
use crate::train::checkpoint::Checkpoint;
use crate::train::optim::{AdamW, check_optim};
use crate::train::params::{init_values, load_flat};
use crate::train::trainer::{Objective, Plan, TrainState, resumable, run, save_with_log};

/// An autoencoder training file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderConfig {
    /// The checkpoint to write (relative to the current directory).
    pub out: String,
    /// Seed of the weights, batches and noise.
    #[serde(default = "one")]
    pub seed: u64,
    /// Where the fields come from.
    pub data: VaeData,
    /// The network.
    #[serde(default)]
    pub network: VaeNetwork,
    /// The optimiser.
    pub optim: VaeOptim,
    /// The files it was read from (set by [`AutoencoderConfig::load`]; not a key).
    #[serde(skip)]
    pub provenance: crate::train::checkpoint::Provenance,
}

/// `[data]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VaeData {
    /// An experiment file on a gridded bed (shallow water or primitive equations; relative to
    /// this file): its climate sample is the data.
    pub experiment: String,
    /// The experiment seeds whose climate samples are used.
    #[serde(default = "seeds")]
    pub seeds: Vec<u64>,
    /// Training truths: the experiment's truth at every analysis time of these seeds joins
    /// the fields (never a test seed of the experiment). The climate samples end where a
    /// truth begins, so without them the autoencoder never sees the cycling period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truth_seeds: Vec<u64>,
    /// The last fraction of each seed's sample (in time) is held out for validation.
    #[serde(default = "tenth")]
    pub valid_fraction: f64,
    /// `"anomaly"` (default): each point's time mean removed, each variable divided by its
    /// climatological sd; `"pooled"`: one mean and sd per variable over grid and samples.
    #[serde(default)]
    pub normalise: Normalise,
}

/// How fields are normalised before the autoencoder sees them.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Normalise {
    /// Anomalies from each point's climatological mean, over the climatological sd.
    #[default]
    Anomaly,
    /// One mean and standard deviation per variable.
    Pooled,
}

/// `[network]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VaeNetwork {
    /// Hidden channels at full resolution.
    #[serde(default = "width")]
    pub width: usize,
    /// Latent channels.
    #[serde(default = "latent")]
    pub latent: usize,
}

impl Default for VaeNetwork {
    fn default() -> Self {
        VaeNetwork { width: width(), latent: latent() }
    }
}

/// `[optim]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VaeOptim {
    /// Optimiser steps.
    pub steps: usize,
    /// Fields per batch.
    #[serde(default = "batch")]
    pub batch: usize,
    /// AdamW learning rate.
    #[serde(default = "lr")]
    pub lr: f64,
    /// Decay the rate along a cosine to `lr/20` over the steps (the denoisers' schedule,
    /// without warm-up); `false` (default) keeps it constant, as the earlier files were trained.
    #[serde(default)]
    pub cosine: bool,
    /// Weight of the KL divergence (small).
    #[serde(default = "beta")]
    pub beta: f64,
    /// Global gradient-norm clip.
    #[serde(default = "clip")]
    pub clip: f64,
    /// Steps between validation losses.
    #[serde(default = "hundred")]
    pub valid_every: usize,
    /// Steps between checkpoints.
    #[serde(default = "two_hundred")]
    pub checkpoint_every: usize,
    /// Weights (> 0) of the reconstruction loss per field, keyed like an increment taper by a
    /// field's name or its end after `_` (`{ "50hPa" = 4.0 }` weighs T, u and v of that level);
    /// fields no key names weigh 1, a field two keys name takes the larger. For a latent whose
    /// decoder must be most exact where the analyses are most sensitive to its error (the
    /// model top). The validation MSE stays unweighted, comparable across trainings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_weights: BTreeMap<String, f64>,
}

fn one() -> u64 {
    1
}
fn seeds() -> Vec<u64> {
    vec![1]
}
fn tenth() -> f64 {
    0.1
}
fn width() -> usize {
    32
}
fn latent() -> usize {
    4
}
fn batch() -> usize {
    16
}
fn lr() -> f64 {
    2e-3
}
fn beta() -> f64 {
    1e-4
}
fn clip() -> f64 {
    1.0
}
fn hundred() -> usize {
    100
}
fn two_hundred() -> usize {
    200
}

impl AutoencoderConfig {
    /// Reads and validates a training file and its experiment.
    pub fn load(path: &Path) -> Result<(Self, Experiment), AssimError> {
        let (text, file) = read_text(path)?;
        let mut cfg: AutoencoderConfig = parse_toml(&text, &file)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let exp_path = dir.join(&cfg.data.experiment);
        let exp = Experiment::load_with(&exp_path, &crate::methods())
            .map_err(|e| AssimError::config(&file, "data.experiment", e.to_string()))?;
        cfg.validate(&file, &exp)?;
        cfg.provenance = crate::train::checkpoint::Provenance::of(&[path, &exp_path])?;
        Ok((cfg, exp))
    }

    /// Checks every value the types do not.
    pub fn validate(&self, file: &str, exp: &Experiment) -> Result<(), AssimError> {
        let err = |k: &str, m: String| Err(AssimError::config(file, k, m));
        if exp.bed.field_grid().is_none() {
            return err(
                "data.experiment",
                format!(
                    "needs an experiment on a grid (model.kind = \"shallow_water\" or \"primitive_dry\"), not {}",
                    exp.bed.name()
                ),
            );
        }
        if self.data.seeds.is_empty() {
            return err("data.seeds", "give at least one seed".into());
        }
        if let Some(s) = self.data.truth_seeds.iter().find(|s| exp.seeds.contains(s)) {
            return err(
                "data.truth_seeds",
                format!(
                    "seed {s} is a test seed of {}: its truth would leak into training",
                    self.data.experiment
                ),
            );
        }
        if !(self.data.valid_fraction > 0.0 && self.data.valid_fraction < 0.5) {
            return err(
                "data.valid_fraction",
                format!("must be in (0, 0.5) (got {})", self.data.valid_fraction),
            );
        }
        if self.network.width == 0 || self.network.latent == 0 {
            return err("network", "width and latent must be ≥ 1".into());
        }
        let o = &self.optim;
        check_optim([o.steps, o.batch, o.valid_every, o.checkpoint_every], o.lr, o.clip, file)?;
        if !(o.beta.is_finite() && o.beta >= 0.0) {
            return err("optim.beta", format!("must be ≥ 0 (got {})", o.beta));
        }
        let fields = exp.bed.field_grid().map(|g| g.fields).unwrap_or_default();
        for (key, w) in &o.field_weights {
            let at = format!("optim.field_weights.{key}");
            if !(w.is_finite() && *w > 0.0) {
                return err(&at, format!("must be > 0 (got {w})"));
            }
            if let Some(msg) = names_no_field(key, &fields) {
                return err(&at, msg);
            }
        }
        Ok(())
    }

    /// The network size for states of `channels` fields.
    pub fn size(&self, channels: usize) -> VaeSize {
        VaeSize { channels, width: self.network.width, latent: self.network.latent }
    }
}

/// One row of the training log.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct VaeLogRow {
    /// Steps done.
    pub step: usize,
    /// Mean training loss since the previous row.
    pub train_loss: f64,
    /// Area-weighted reconstruction MSE of the validation fields (posterior mean, normalised).
    pub valid_mse: f64,
    /// Seconds since the start of training (over resumes).
    pub elapsed_s: f64,
}

/// The reconstruction floor of one variable on the validation fields.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FloorRow {
    /// CF name.
    pub variable: String,
    /// Units.
    pub units: String,
    /// Area-weighted RMSE of the reconstruction (posterior mean).
    pub rmse: f64,
    /// The same over the climatological standard deviation (each point's variance in time,
    /// area-averaged: the unit of the OSSE's headline scores).
    pub rmse_over_clim_sd: f64,
    /// Power spectrum of the error per total wavenumber (mean over the fields).
    pub error_spectrum: Vec<f64>,
}

/// What a training run did.
pub struct VaeOutcome {
    /// The log.
    pub log: Vec<VaeLogRow>,
    /// The checkpoint.
    pub path: PathBuf,
    /// Trainable numbers.
    pub n_params: usize,
    /// Training and validation fields.
    pub n_train: usize,
    /// Validation fields.
    pub n_valid: usize,
    /// The reconstruction floor (after the last step).
    pub floor: Option<Vec<FloorRow>>,
}

/// Normalised fields, their grid, and the normalisation.
struct Data {
    train: Vec<Vec<f32>>,
    valid: Vec<Vec<f32>>,
    /// The per-point offset (a per-variable or a per-point mean) and per-variable divisor.
    norm: FieldNormalisation,
    /// Per variable: the climatological standard deviation (area-weighted mean of each
    /// point's variance in time), the unit the OSSE's scores use.
    clim_sd: Vec<f64>,
    transform: Arc<SpectralTransform>,
    /// The fields (channels) of a state.
    grid: FieldGrid,
}

fn data(
    cfg: &AutoencoderConfig,
    exp: &Experiment,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Data, AssimError> {
    let grid = exp
        .bed
        .field_grid()
        .ok_or_else(|| AssimError::Input(format!("{} has no grid for an autoencoder", exp.bed.name())))?;
    let c = grid.fields.len();
    let bed = exp.bed.prepare(exp.chronology(), &exp.base_dir)?;
    let n_truths = exp.chronology().n_obs_times();
    let truths_of = |world: &dyn assim_core::bed::World| -> Vec<Vec<f64>> {
        (0..n_truths).map(|ko| world.truth(ko).to_vec()).collect()
    };
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    // A seed in both lists is simulated once: its truths are kept for later.
    let mut kept_truths = std::collections::HashMap::new();
    for &seed in &cfg.data.seeds {
        let world = bed.world(seed, progress)?;
        let samples = world
            .climate_sample()
            .ok_or_else(|| AssimError::Input(format!("{} keeps no climate sample", exp.bed.name())))?;
        split_in_time(samples, cfg.data.valid_fraction, &mut train, &mut valid);
        if cfg.data.truth_seeds.contains(&seed) {
            kept_truths.insert(seed, truths_of(world.as_ref()));
        }
    }
    let transform = Arc::new(SpectralTransform::new(grid.truncation, EARTH_RADIUS)?);
    // The normalisation and the climatological sd come from the climate samples alone.
    let n_climate = train.len();
    for &seed in &cfg.data.truth_seeds {
        let truths = match kept_truths.remove(&seed) {
            Some(t) => t,
            None => truths_of(bed.world(seed, progress)?.as_ref()),
        };
        split_in_time(&truths, cfg.data.valid_fraction, &mut train, &mut valid);
    }
    let g = transform.grid().len();
    if let Some(s) = train.iter().chain(&valid).find(|s| s.len() != c * g) {
        return Err(AssimError::Input(format!(
            "a state of {} numbers is not {c} fields of {g} points",
            s.len()
        )));
    }
    let pooled: Vec<(f64, f64)> = (0..c)
        .map(|v| {
            let vals = train[..n_climate].iter().flat_map(|s| s[v * g..(v + 1) * g].iter());
            let n = (n_climate * g) as f64;
            let m = vals.clone().sum::<f64>() / n;
            let sd = (vals.map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt().max(1e-12);
            (m, sd)
        })
        .collect();
    let climate = &train[..n_climate];
    let point_mean: Vec<f64> =
        (0..c * g).map(|i| climate.iter().map(|s| s[i]).sum::<f64>() / n_climate as f64).collect();
    let lat_lon = transform.grid();
    let clim_sd: Vec<f64> = (0..c)
        .map(|v| {
            let n = n_climate as f64;
            (0..g)
                .map(|p| {
                    let i = v * g + p;
                    let m = climate.iter().map(|s| s[i]).sum::<f64>() / n;
                    let var = climate.iter().map(|s| (s[i] - m).powi(2)).sum::<f64>() / (n - 1.0);
                    lat_lon.area_weight(p / lat_lon.nlon()) * var
                })
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let (offset, scale): (Vec<f64>, Vec<f64>) = match cfg.data.normalise {
        Normalise::Anomaly => (point_mean, clim_sd.iter().map(|s| s.max(1e-12)).collect()),
        Normalise::Pooled => {
            ((0..c * g).map(|i| pooled[i / g].0).collect(), pooled.iter().map(|p| p.1).collect())
        }
    };
    let norm = FieldNormalisation { offset, scale };
    Ok(Data {
        train: train.iter().map(|s| norm.forward(s)).collect(),
        valid: valid.iter().map(|s| norm.forward(s)).collect(),
        norm,
        clim_sd,
        transform,
        grid,
    })
}

/// Appends a time series of fields to the training set, its last `fraction` (at least one
/// field) to the validation set.
fn split_in_time(fields: &[Vec<f64>], fraction: f64, train: &mut Vec<Vec<f64>>, valid: &mut Vec<Vec<f64>>) {
    let n_valid = ((fields.len() as f64 * fraction).round() as usize).max(1);
    let (a, b) = fields.split_at(fields.len() - n_valid);
    train.extend_from_slice(a);
    valid.extend_from_slice(b);
}

/// `fields` (each `c × h × w`, normalised) as one batch `[n, c, h, w]`.
fn batch_tensor(fields: &[&Vec<f32>], shape: [usize; 2], device: &Device) -> Tensor<4> {
    let [h, w] = shape;
    let c = fields.first().map_or(0, |f| f.len() / (h * w));
    let v: Vec<f32> = fields.iter().flat_map(|f| f.iter().copied()).collect();
    Tensor::from_data(TensorData::new(v, [fields.len(), c, h, w]), device)
}

/// The posterior-mean reconstructions of `fields` (normalised), in chunks.
fn reconstruct(vae: &SphereVae, fields: &[Vec<f32>], shape: [usize; 2], device: &Device) -> Vec<Vec<f32>> {
    let per = fields.first().map_or(0, Vec::len);
    fields
        .chunks(16)
        .flat_map(|chunk| {
            let refs: Vec<&Vec<f32>> = chunk.iter().collect();
            let rec = vae.decode(vae.encode(batch_tensor(&refs, shape, device)).0);
            let v = rec.to_data().try_to_vec::<f32>().expect("f32");
            v.chunks(per).map(<[f32]>::to_vec).collect::<Vec<_>>()
        })
        .collect()
}

/// The autoencoder's step, log row and checkpoint (with its reconstruction floor at the end),
/// for the shared loop.
struct VaeObjective<'a> {
    cfg: &'a AutoencoderConfig,
    template: SphereVae,
    data: Data,
    shape: [usize; 2],
    /// Weights of the loss `[1, c, h, 1]` (each field's weight times its row's area) on the
    /// autodiff device, and the rows' area weights as numbers (the unweighted validation MSE).
    row_weights: (Tensor<4>, Vec<f32>),
    ad: Device,
    device: Device,
    out: PathBuf,
    floor: Option<Vec<FloorRow>>,
}

impl VaeObjective<'_> {
    /// The latitude-weighted reconstruction MSE of the validation fields (normalised units).
    fn valid_mse(&self, params: &[f32]) -> f64 {
        let [h, w] = self.shape;
        let vae = load_flat(self.template.clone(), params, &self.device, false);
        let rec = reconstruct(&vae, &self.data.valid, self.shape, &self.device);
        let mut acc = 0.0;
        for (r, x) in rec.iter().zip(&self.data.valid) {
            for (i, (a, b)) in r.iter().zip(x).enumerate() {
                acc += f64::from(self.row_weights.1[(i / w) % h]) * f64::from(a - b).powi(2);
            }
        }
        acc / (self.data.valid.len() * self.data.grid.fields.len() * h * w) as f64
    }
}

impl Objective for VaeObjective<'_> {
    type Row = VaeLogRow;

    fn step(&mut self, k: usize, state: &mut TrainState) -> Result<f64, AssimError> {
        let (o, size, train) =
            (&self.cfg.optim, self.cfg.size(self.data.grid.fields.len()), &self.data.train);
        let [h, w] = self.shape;
        let mut rng = stream(self.cfg.seed, &format!("vae batch {k}"));
        let rows: Vec<&Vec<f32>> = (0..o.batch)
            .map(|_| &train[((uniform(&mut rng) * train.len() as f64) as usize).min(train.len() - 1)])
            .collect();
        let x = batch_tensor(&rows, self.shape, &self.ad);
        let mut eps = vec![0.0; o.batch * size.latent * (h / 4) * (w / 4)];
        fill_normal(&mut rng, &mut eps);
        let eps: Vec<f32> = eps.iter().map(|&e| e as f32).collect();
        let eps =
            Tensor::<4>::from_data(TensorData::new(eps, [o.batch, size.latent, h / 4, w / 4]), &self.ad);
        let rw = self.row_weights.0.clone();
        let lr = if o.cosine { crate::train::config::OptimConfig::cosine_lr(o.lr, k, o.steps) } else { o.lr };
        train_step(&self.template, &mut state.params, &mut state.adam, x, eps, rw, (o.beta, o.clip, lr), k)
    }

    fn row(&self, state: &TrainState, train_loss: f64, elapsed_s: f64) -> VaeLogRow {
        VaeLogRow { step: state.step, train_loss, valid_mse: self.valid_mse(&state.params), elapsed_s }
    }

    fn elapsed(row: &VaeLogRow) -> f64 {
        row.elapsed_s
    }

    fn save(&mut self, s: &TrainState, log: &[VaeLogRow], last: bool) -> Result<(), AssimError> {
        if last {
            self.floor = Some(floor(&self.template, &s.params, &self.data, self.shape, &self.device));
        }
        let (d, cfg) = (&self.data, self.cfg);
        let ckpt = Checkpoint {
            meta: serde_json::json!({
                "kind": "autoencoder",
                "autoencoder": {
                    "size": cfg.size(d.grid.fields.len()),
                    "truncation": d.transform.truncation().t(),
                    "grid": self.shape,
                    "variables": d.grid.fields.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
                    "normalise": cfg.data.normalise,
                    "scale": d.norm.scale,
                },
                "training": {
                    "config": cfg,
                    "provenance": cfg.provenance,
                    "step": s.step,
                    "n_train": d.train.len(),
                    "n_valid": d.valid.len(),
                    "log": log,
                    "floor": self.floor,
                },
            }),
            arrays: vec![
                ("params".into(), s.params.clone()),
                ("adam_m".into(), s.adam.m.clone()),
                ("adam_v".into(), s.adam.v.clone()),
                ("norm_offset".into(), d.norm.offset.iter().map(|&x| x as f32).collect()),
            ],
        };
        save_with_log(&ckpt, &self.out)
    }
}

/// Trains (or with `resume` continues) the autoencoder of `cfg`; `stop_after` ends the run
/// after that many steps as if it had been killed (for tests). `progress(stage, done, total)`
/// reports the climate runs and then the steps (`"train"`).
pub fn train_autoencoder(
    cfg: &AutoencoderConfig,
    exp: &Experiment,
    resume: bool,
    stop_after: Option<usize>,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<VaeOutcome, AssimError> {
    let out = PathBuf::from(&cfg.out);
    let device = crate::tensor::compute_device()?;
    let ad = device.clone().autodiff();
    let fields = exp.bed.field_grid().map(|g| g.fields).unwrap_or_default();
    let channels = fields.len();
    let template = SphereVae::new(cfg.size(channels), &device);
    let (mut state, mut log) = if resume {
        resume_state(cfg, &out)?
    } else {
        let params = init_values(&template, &mut stream(cfg.seed, "vae-initial-weights"));
        let n = params.len();
        (TrainState { params, ema: Vec::new(), adam: AdamW::new(n, 0.0), step: 0 }, Vec::new())
    };
    let n_params = state.params.len();
    let data = data(cfg, exp, progress)?;
    let grid = data.transform.grid().clone();
    let shape = [grid.nlat(), grid.nlon()];
    let rw_mean = grid.row_weights().iter().sum::<f64>() / shape[0] as f64;
    let rw: Vec<f32> = grid.row_weights().iter().map(|x| (x / rw_mean) as f32).collect();
    // The loss's weight per (field, row): the field's weight times the row's area.
    let weights: Vec<f32> = fields
        .iter()
        .flat_map(|(name, _)| {
            let f = field_weight(&cfg.optim.field_weights, name);
            rw.iter().map(move |&r| (f * f64::from(r)) as f32)
        })
        .collect();
    let rw_ad = Tensor::<4>::from_data(TensorData::new(weights, [1, channels, shape[0], 1]), &ad);
    let o = &cfg.optim;
    let plan = Plan { steps: o.steps, valid_every: o.valid_every, checkpoint_every: o.checkpoint_every };
    let mut objective =
        VaeObjective { cfg, template, data, shape, row_weights: (rw_ad, rw), ad, device, out, floor: None };
    run(&mut objective, &mut state, &mut log, plan, stop_after, &mut |step, steps, _| {
        progress("train", step, steps)
    })?;
    let d = &objective.data;
    Ok(VaeOutcome {
        log,
        path: objective.out,
        n_params,
        n_train: d.train.len(),
        n_valid: d.valid.len(),
        floor: objective.floor,
    })
}

/// The loss weight of the field `name` under `weights` (the largest of the keys naming it, else 1).
fn field_weight(weights: &BTreeMap<String, f64>, name: &str) -> f64 {
    weights.iter().filter(|(k, _)| tapers(k, name)).map(|(_, &w)| w).reduce(f64::max).unwrap_or(1.0)
}

/// The reconstruction floor on the validation fields, in physical units.
fn floor(
    template: &SphereVae,
    params: &[f32],
    d: &Data,
    shape: [usize; 2],
    device: &Device,
) -> Vec<FloorRow> {
    let vae = load_flat(template.clone(), params, device, false);
    let rec = reconstruct(&vae, &d.valid, shape, device);
    let grid = d.transform.grid();
    let g = grid.len();
    let tr = *d.transform.truncation();
    d.grid
        .fields
        .iter()
        .enumerate()
        .map(|(v, (name, units))| {
            let sd = d.norm.scale[v];
            let mut se = 0.0;
            let mut spec = vec![0.0; tr.t() + 1];
            for (r, x) in rec.iter().zip(&d.valid) {
                let err: Vec<f64> = (0..g).map(|p| f64::from(r[v * g + p] - x[v * g + p]) * sd).collect();
                se += (0..g).map(|p| grid.area_weight(p / grid.nlon()) * err[p] * err[p]).sum::<f64>();
                for (a, b) in spec.iter_mut().zip(tr.power_spectrum(&d.transform.analysis(&err))) {
                    *a += b / d.valid.len() as f64;
                }
            }
            let rmse = (se / d.valid.len() as f64).sqrt();
            FloorRow {
                variable: name.clone(),
                units: units.clone(),
                rmse,
                rmse_over_clim_sd: rmse / d.clim_sd[v],
                error_spectrum: spec,
            }
        })
        .collect()
}

fn resume_state(cfg: &AutoencoderConfig, out: &Path) -> Result<(TrainState, Vec<VaeLogRow>), AssimError> {
    let bad = |msg: String| AssimError::Format { path: out.to_path_buf(), msg };
    let ckpt = Checkpoint::load(out)?;
    if ckpt.meta["kind"] != "autoencoder" {
        return Err(bad(format!("is not an autoencoder checkpoint (kind {})", ckpt.meta["kind"])));
    }
    let (step, log) = resumable(&ckpt, cfg, out)?;
    let get = |name: &str| -> Result<Vec<f32>, AssimError> {
        Ok(ckpt.array(name).ok_or_else(|| bad(format!("no {name} array")))?.to_vec())
    };
    let params = get("params")?;
    let (m, v) = (get("adam_m")?, get("adam_v")?);
    if m.len() != params.len() || v.len() != params.len() {
        return Err(bad("optimiser moments do not match the weights".into()));
    }
    Ok((TrainState { params, ema: Vec::new(), adam: AdamW { m, v, weight_decay: 0.0 }, step }, log))
}
