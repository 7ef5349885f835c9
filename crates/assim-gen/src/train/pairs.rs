//! Training pairs of a denoiser (truth, background) and, on the Lorenz beds, their making:
//! one truth run, each listed filter cycled on it, a training period followed by a separate
//! validation period. The sphere's latent pairs are made by [`crate::latent::pairs`].

use burn::tensor::{Device, Tensor, TensorData};

use assim_core::AssimError;
use assim_core::bed::lorenz::{LorenzConfig, TwinSetup};
use assim_core::classical::Estimate;
use assim_core::experiment::Experiment;
use assim_core::linalg::row_mean;
use assim_core::rng::stream;

use crate::prior::normalise::Normalisation;
use crate::prior::trained::BackgroundMode;

use super::config::TrainConfig;

/// Normalised training pairs: targets (truth) and conditions (backgrounds), `[len, nx]` each.
#[derive(Clone, Debug, Default)]
pub struct Pairs {
    /// Truth states.
    pub target: Vec<f32>,
    /// Background states.
    pub cond: Vec<f32>,
    /// State dimension.
    pub nx: usize,
    /// Extra conditions per pair (the standardised observation channels of an
    /// observation-conditioned prior), `[len, ne]`; empty when `ne = 0`.
    pub extra: Vec<f32>,
    /// Extra numbers per pair.
    pub ne: usize,
}

impl Pairs {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.target.len() / self.nx.max(1)
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// Replaces each target by its increment over the background, scaled by `rho` (by default
    /// the pooled standard deviation of the increments, which it returns).
    pub fn to_increments(&mut self, rho: Option<f64>) -> f64 {
        for (t, c) in self.target.iter_mut().zip(&self.cond) {
            *t -= c;
        }
        let rho = rho.unwrap_or_else(|| {
            let v: Vec<f64> = self.target.iter().map(|&v| f64::from(v)).collect();
            let n = Normalisation::of(&v);
            (n.std * n.std + n.mean * n.mean).sqrt()
        });
        self.target.iter_mut().for_each(|t| *t = (f64::from(*t) / rho) as f32);
        rho
    }

    pub(crate) fn push(&mut self, norm: &Normalisation, truth: &[f64], bg: &[f64]) {
        self.target.extend(truth.iter().map(|&v| norm.forward(v) as f32));
        self.cond.extend(bg.iter().map(|&v| norm.forward(v) as f32));
    }

    /// Pairs `rows` as tensors: targets `[n, nx]` and conditions `[n, nx + ne]` (the
    /// background, then the extra conditions).
    pub(crate) fn batch(&self, rows: &[usize], device: &Device) -> (Tensor<2>, Tensor<2>) {
        let gather = |src: &[f32], k: usize| {
            let mut v = Vec::with_capacity(rows.len() * k);
            for &r in rows {
                v.extend_from_slice(&src[r * k..(r + 1) * k]);
            }
            Tensor::<2>::from_data(TensorData::new(v, [rows.len(), k]), device)
        };
        let cond = gather(&self.cond, self.nx);
        let cond = if self.ne > 0 { Tensor::cat(vec![cond, gather(&self.extra, self.ne)], 1) } else { cond };
        (gather(&self.target, self.nx), cond)
    }
}

/// The training and validation pairs, with the normalisation of the training truth.
pub struct TrainingData {
    /// Training pairs.
    pub train: Pairs,
    /// Validation pairs (a later, separate period).
    pub valid: Pairs,
    /// Normalisation statistics (of the training-period truth).
    pub normalisation: Normalisation,
    /// Per filter: its label and forecast RMSE over the training period (a record of how
    /// large the background errors are).
    pub background_rmse: Vec<(String, f64)>,
    /// With `data.debias`, per filter as `background_rmse`: the RMS of the mean latent
    /// increment removed from its truths, as a fraction of its increments' RMS (how much of
    /// the training backgrounds' error was bias); empty otherwise.
    pub removed_bias: Vec<(String, f64)>,
    /// The standardisation of the observation channels, for an observation-conditioned prior.
    pub obs_channels: Option<crate::latent::obs_channels::ObsChannelsMeta>,
}

/// Generates the pairs: one truth run, each listed filter cycled on it.
pub fn generate_data(cfg: &TrainConfig, exp: &Experiment) -> Result<TrainingData, AssimError> {
    assim_core::linalg::init();
    let d = &cfg.data;
    let cycles = d.burn_in_cycles + d.train_cycles + d.valid_cycles;
    let mut exp = exp.clone();
    exp.chronology.ko = Some(cycles - 1);
    exp.chronology.t = None;
    exp.chronology.burn_in = 0.0;
    let lorenz =
        exp.bed_as::<LorenzConfig>().ok_or_else(|| AssimError::Input("needs a Lorenz experiment".into()))?;
    let twin_setup = TwinSetup::new(lorenz, exp.chronology())?;
    let twin = twin_setup.simulate(cfg.seed)?;
    let setup = twin_setup.setup(&twin);
    let chrono = twin_setup.chrono;
    let nx = exp.nx();
    let train_end = d.burn_in_cycles + d.train_cycles;
    let mut truth_train = Vec::with_capacity(d.train_cycles * nx);
    for ko in d.burn_in_cycles..train_end {
        truth_train.extend_from_slice(&twin.truth[chrono.obs_step(ko)]);
    }
    let norm = Normalisation::of(&truth_train);
    let mut train = Pairs { nx, ..Default::default() };
    let mut valid = Pairs { nx, ..Default::default() };
    let mut background_rmse = Vec::new();
    for m in d.entries("data.methods")? {
        let mut method = m.build(exp.bed.as_ref())?;
        let mut rng = stream(cfg.seed, &format!("training-backgrounds:{}", m.label()));
        method.initialise(&setup, &mut rng)?;
        let (mut se, mut count) = (0.0, 0usize);
        for ko in 0..cycles {
            let k = chrono.obs_step(ko);
            method.forecast(&setup, (k - chrono.dko) as f64 * chrono.dt, chrono.dko)?;
            if ko >= d.burn_in_cycles {
                let truth = &twin.truth[k];
                let pairs = if ko < train_end { &mut train } else { &mut valid };
                let mean = match method.estimate() {
                    Estimate::State { mean, .. } => {
                        pairs.push(&norm, truth, mean);
                        mean.to_vec()
                    }
                    Estimate::Ensemble { members, .. } => {
                        let mean = row_mean(members);
                        match d.background {
                            BackgroundMode::Member => {
                                let mut col = vec![0.0; nx];
                                for j in 0..members.ncols() {
                                    col.iter_mut().enumerate().for_each(|(i, c)| *c = members[(i, j)]);
                                    pairs.push(&norm, truth, &col);
                                }
                            }
                            BackgroundMode::Mean => pairs.push(&norm, truth, &mean),
                        }
                        mean
                    }
                };
                if ko < train_end {
                    se += mean.iter().zip(truth).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / nx as f64;
                    count += 1;
                }
            }
            let t = k as f64 * chrono.dt;
            method.analyse(&setup, &twin.obs[ko], t, &mut rng)?;
        }
        let rmse = (se / count.max(1) as f64).sqrt();
        let bar = exp.divergence.factor * twin.clim_spread;
        if rmse.is_nan() || rmse > bar {
            // A filter that lost the truth would teach the prior that backgrounds say nothing.
            return Err(AssimError::Numerical(format!(
                "the training filter {} diverged: mean background RMSE {rmse:.3} over the training period \
                 exceeds {} × climatological spread {:.3}",
                m.label(),
                exp.divergence.factor,
                twin.clim_spread
            )));
        }
        background_rmse.push((m.label(), rmse));
    }
    Ok(TrainingData {
        train,
        valid,
        normalisation: norm,
        background_rmse,
        removed_bias: vec![],
        obs_channels: None,
    })
}
