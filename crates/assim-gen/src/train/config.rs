//! The training file of a denoiser (`assim train denoiser FILE`, documented in
//! `docs/training.md`): the experiment whose model and observations make the data, the filters
//! whose forecasts are the backgrounds, the network and the optimiser.

use std::path::Path;

use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::lorenz::{LorenzConfig, LorenzModel};
use assim_core::experiment::{Experiment, MethodCheck, MethodEntry, parse_toml, read_text};

use crate::prior::network::NetworkSize;
use crate::prior::trained::BackgroundMode;
use crate::train::optim::check_optim;

/// A training file (TOML, documented in `docs/training.md`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Short name.
    pub name: String,
    /// The experiment file whose model, observing network, X0, dt and dko generate the data
    /// (relative to this file).
    pub experiment: String,
    /// The checkpoint to write (relative to the working directory).
    pub out: String,
    /// On the sphere: the trained autoencoder (relative to the working directory) whose latent
    /// the prior lives in. Required for a shallow-water experiment, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoencoder: Option<String>,
    /// Seed of the truth, the filters, the initial weights and every batch.
    pub seed: u64,
    /// Training data.
    pub data: DataConfig,
    /// The network.
    pub network: NetworkConfig,
    /// The optimiser and its schedule.
    pub optim: OptimConfig,
    /// The files it was read from (set by [`TrainConfig::load`]; not a key).
    #[serde(skip)]
    pub provenance: crate::train::checkpoint::Provenance,
}

/// Where the training pairs come from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Analyses discarded while the filters spin up.
    pub burn_in_cycles: usize,
    /// Analysis times of the training period.
    pub train_cycles: usize,
    /// Analysis times of the validation period (after the training period).
    pub valid_cycles: usize,
    /// `"member"` (each member's forecast is a background) or `"mean"`.
    pub background: BackgroundMode,
    /// Filters whose forecasts are the backgrounds (pairs from all are pooled): classical ones,
    /// and on the sphere also a latent `Generative` method already trained (closed-loop
    /// training on the backgrounds the prior will meet in its own cycling). `[[methods]]`
    /// entries, written back with their defaults.
    #[serde(serialize_with = "crate::filter::serialize_entries")]
    pub methods: Vec<toml::Value>,
    /// On the sphere: the seeds of the training truths (default `[seed]`); pick seeds the
    /// experiments do not test on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// A trajectory prior (SDA's, SLAMS's): the half-width `k` of its Markov blanket, so that
    /// each pair is `2k + 1` consecutive windows of one filter's cycling (truths, backgrounds
    /// and observation channels stacked as channels; [`crate::latent::blanket`]). 0 (default):
    /// one window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blanket: usize,
    /// On the gridded beds: a file (relative to the working directory) that keeps the encoded
    /// cycling of `methods` (truths, backgrounds, observation channels), so that priors trained
    /// from the same data (one window or a blanket, with or without channels) cycle the filters
    /// once; read when it exists and was made by the same data settings, bed and autoencoder
    /// ([`crate::latent::pairs`]), else made and written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs_file: Option<String>,
    /// On the gridded beds: subtract from each training run's truths (one filter on one seed)
    /// that run's mean latent increment `z_t − z_b` over the training period, so that the
    /// prior learns unbiased background errors instead of the training filters' biases, which
    /// it would otherwise add to its own backgrounds (docs/validation.md, "A bias learned from
    /// the training filters").
    /// Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub debias: bool,
}

fn is_zero(k: &usize) -> bool {
    *k == 0
}

impl DataConfig {
    /// The filters of `methods`, read with every method the program knows; `file` names them
    /// in errors.
    pub fn entries(&self, file: &str) -> Result<Vec<MethodEntry>, AssimError> {
        let registry = crate::methods();
        self.methods
            .iter()
            .enumerate()
            .map(|(i, v)| {
                registry.parse(v).map_err(|m| AssimError::config(file, format!("data.methods[{i}]"), m))
            })
            .collect()
    }
}

/// The denoiser network.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Background-conditioned p(x | x_b) (true) or unconditional p(x).
    pub conditional: bool,
    /// Model the background increment `z = (x − x_b)/ρ` instead of the state (conditional
    /// priors only): the network then works at the scale of the background error, not of
    /// the climate.
    #[serde(default)]
    pub increment: bool,
    /// SLAMS's conditioning (latent priors with a background): the window's observations,
    /// mapped onto the latent grid through their operators ([`crate::latent::obs_channels`]),
    /// as extra input channels.
    #[serde(default)]
    pub obs_channels: bool,
    /// Hidden channels.
    pub width: usize,
    /// Residual blocks.
    pub blocks: usize,
    /// Convolution kernel (odd).
    pub kernel: usize,
    /// Fourier features of the noise level.
    pub embedding: usize,
}

/// AdamW with linear warm-up then cosine decay to `lr/20`, EMA and clipping.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Pairs per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up steps.
    pub warmup: usize,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// EMA decay of the weights used for sampling.
    pub ema: f64,
    /// Largest global gradient norm (gradients above are rescaled).
    pub clip: f64,
    /// Steps between validation losses (and log rows).
    pub valid_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl TrainConfig {
    /// The seeds of the sphere's training truths: `data.seeds`, or `[seed]` when it is empty.
    pub fn training_seeds(&self) -> Vec<u64> {
        if self.data.seeds.is_empty() { vec![self.seed] } else { self.data.seeds.clone() }
    }

    /// Reads and validates a training file.
    pub fn load(path: &Path) -> Result<(Self, Experiment), AssimError> {
        let (text, file) = read_text(path)?;
        let mut cfg: TrainConfig = parse_toml(&text, &file)?;
        let exp_path = path.parent().unwrap_or(Path::new(".")).join(&cfg.experiment);
        let exp = Experiment::load_with(&exp_path, &crate::methods())?;
        cfg.validate(&file, &exp)?;
        cfg.provenance = crate::train::checkpoint::Provenance::of(&[path, &exp_path])?;
        Ok((cfg, exp))
    }

    /// Checks every value the types do not.
    pub fn validate(&self, file: &str, exp: &Experiment) -> Result<(), AssimError> {
        let err = |k: &str, m: String| Err(AssimError::config(file, k, m));
        let entries = self.data.entries(file)?;
        for (i, m) in entries.iter().enumerate() {
            let check = MethodCheck {
                file,
                at: format!("data.methods[{i}]"),
                bed: exp.bed.as_ref(),
                chrono: exp.chronology(),
            };
            check.check(m)?;
        }
        if exp.bed.field_grid().is_some() {
            if self.autoencoder.is_none() {
                return err(
                    "autoencoder",
                    format!(
                        "a prior on the {} bed lives in a latent: give the autoencoder checkpoint",
                        exp.bed.name()
                    ),
                );
            }
            if let Some(s) = self.training_seeds().iter().find(|s| exp.seeds.contains(s)) {
                return err(
                    "data.seeds",
                    format!("seed {s} is one the experiment tests on: train on truths of their own"),
                );
            }
            for (i, m) in entries.iter().enumerate() {
                // Closed-loop training: the backgrounds of a latent method already trained.
                if let Some(g) = m.downcast::<crate::filter::GenerativeConfig>() {
                    if Path::new(&g.checkpoint) == Path::new(&self.out) {
                        return err(
                            &format!("data.methods[{i}].checkpoint"),
                            "is this file's `out`: cycle an earlier prior and write the new one elsewhere"
                                .into(),
                        );
                    }
                } else if !["Var3D", "LETKF"].contains(&m.name()) {
                    return err(
                        &format!("data.methods[{i}]"),
                        "on a gridded bed use Var3D, LETKF or a trained latent Generative method".into(),
                    );
                }
            }
        } else {
            let l96 =
                exp.bed_as::<LorenzConfig>().is_some_and(|c| matches!(c.model, LorenzModel::Lorenz96(_)));
            if !l96 {
                return err(
                    "experiment",
                    "the denoiser needs a periodic model (lorenz96) or a gridded bed (shallow_water, primitive_dry)"
                        .into(),
                );
            }
            if self.autoencoder.is_some()
                || !self.data.seeds.is_empty()
                || self.data.pairs_file.is_some()
                || self.data.debias
            {
                return err(
                    "autoencoder",
                    "autoencoder, data.seeds, data.pairs_file and data.debias are for the gridded beds' latent priors"
                        .into(),
                );
            }
            if let Some(i) = entries.iter().position(|m| m.is_generative()) {
                return err(&format!("data.methods[{i}]"), "must be a classical method".into());
            }
        }
        if self.out.trim().is_empty() {
            return err("out", "give the checkpoint path".into());
        }
        if let Some(f) = &self.data.pairs_file {
            let clash = [Some(&self.out), self.autoencoder.as_ref()].into_iter().flatten();
            if f.trim().is_empty() || clash.into_iter().any(|o| Path::new(o) == Path::new(f)) {
                return err(
                    "data.pairs_file",
                    "give a file of its own (not the checkpoint written or the autoencoder read)".into(),
                );
            }
        }
        let d = &self.data;
        if d.train_cycles < 10 || d.valid_cycles == 0 {
            return err("data.train_cycles", "need ≥ 10 training and ≥ 1 validation cycles".into());
        }
        if d.methods.is_empty() {
            return err("data.methods", "list at least one filter".into());
        }
        let n = &self.network;
        if n.increment && !n.conditional {
            return err("network.increment", "an increment prior needs conditional = true".into());
        }
        if n.obs_channels && !(n.conditional && self.autoencoder.is_some()) {
            return err(
                "network.obs_channels",
                "observation channels condition a latent prior with a background: set conditional = true and \
                 give the autoencoder"
                    .into(),
            );
        }
        if d.blanket > 0 {
            if self.autoencoder.is_none() || (n.conditional && d.background != BackgroundMode::Mean) {
                return err(
                    "data.blanket",
                    "a trajectory prior is a latent prior, and a conditional one conditions on the forecast \
                     mean (background = \"mean\"): one background per window"
                        .into(),
                );
            }
            if 2 * d.blanket + 1 > d.train_cycles.min(d.valid_cycles) {
                return err(
                    "data.blanket",
                    format!(
                        "a blanket of {} windows is longer than the training ({}) or validation ({}) period",
                        2 * d.blanket + 1,
                        d.train_cycles,
                        d.valid_cycles
                    ),
                );
            }
        }
        if n.width == 0 || n.blocks == 0 || n.embedding == 0 || n.kernel.is_multiple_of(2) {
            return err("network", "width, blocks, embedding ≥ 1 and an odd kernel".into());
        }
        self.optim.validate(file)
    }

    /// The network size.
    pub fn size(&self) -> NetworkSize {
        let n = &self.network;
        NetworkSize {
            width: n.width,
            blocks: n.blocks,
            kernel: n.kernel,
            embedding: n.embedding,
            grid: None,
            cond_channels: 0,
        }
    }

    /// The learning rate at step `k` (0-based).
    pub fn lr_at(&self, k: usize) -> f64 {
        self.optim.lr_at(k)
    }
}

impl OptimConfig {
    /// Checks the values (counts ≥ 1, positive rate and clip, decay ≥ 0, EMA in [0, 1)).
    pub fn validate(&self, file: &str) -> Result<(), AssimError> {
        let err = |k: &str, m: String| Err(AssimError::config(file, k, m));
        let o = self;
        check_optim([o.steps, o.batch, o.valid_every, o.checkpoint_every], o.lr, o.clip, file)?;
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return err("optim.weight_decay", "must be ≥ 0".into());
        }
        if !(0.0..1.0).contains(&o.ema) {
            return err("optim.ema", format!("must be in [0, 1) (got {})", o.ema));
        }
        Ok(())
    }

    /// The learning rate at step `k` (0-based): linear warm-up, then cosine decay to `lr/20`.
    pub fn lr_at(&self, k: usize) -> f64 {
        let o = self;
        if k < o.warmup {
            return o.lr * (k + 1) as f64 / o.warmup as f64;
        }
        Self::cosine_lr(o.lr, k - o.warmup, o.steps.saturating_sub(o.warmup))
    }

    /// The rate at step `k` of a cosine decay from `lr` to `lr/20` over `steps` steps.
    pub fn cosine_lr(lr: f64, k: usize, steps: usize) -> f64 {
        let t = k as f64 / steps.max(1) as f64;
        let floor = lr / 20.0;
        floor + 0.5 * (lr - floor) * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}
