//! A trained denoiser as stored in a checkpoint: the network (EMA weights) with what it was
//! trained for (model, grid, conditioning, normalisation, EDM schedule), checked against the
//! experiment that wants to use it.

use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::BedConfig;

use crate::prior::network::{EdmNetwork, NetworkSize};
use crate::prior::normalise::Normalisation;
use crate::prior::schedule::Edm;
use crate::train::checkpoint::Checkpoint;
use crate::train::params::{count, load_flat};

/// Which forecast a background-conditioned prior was trained to condition on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackgroundMode {
    /// Each member's own forecast (one training pair per member of the generating filter).
    Member,
    /// The ensemble-mean forecast.
    Mean,
}

/// What a denoiser checkpoint was trained for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiserMeta {
    /// The dynamical model (the experiment's `[model]` table) of the training states.
    pub model: serde_json::Value,
    /// State dimension.
    pub nx: usize,
    /// p(x | x_b) (true) or p(x) (false).
    pub conditional: bool,
    /// What the condition was during training.
    pub background: BackgroundMode,
    /// The network's size.
    pub network: NetworkSize,
    /// The EDM schedule (σ_data, training and sampling noise levels).
    pub edm: Edm,
    /// State normalisation.
    pub normalisation: Normalisation,
    /// For a prior of background increments: the scale ρ of `(x̃ − x̃_b)` (normalised
    /// units); the network's variable is `z = (x̃ − x̃_b)/ρ`. `None`: the prior models x̃.
    #[serde(default)]
    pub increment_scale: Option<f64>,
    /// For a prior conditioned on observation channels (SLAMS's conditioning): their
    /// standardisation; the network's condition is `[z_b, channels]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obs_channels: Option<crate::latent::obs_channels::ObsChannelsMeta>,
    /// For a trajectory prior: the half-width `k` of its blanket; its states are `2k + 1`
    /// consecutive windows, `nx = (2k + 1)·nz` ([`crate::latent::blanket`]). 0: one window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blanket: usize,
    /// For a latent prior on the sphere: the autoencoder whose latent the states are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent: Option<LatentMeta>,
}

fn is_zero(k: &usize) -> bool {
    *k == 0
}

/// The autoencoder a latent prior was trained in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentMeta {
    /// Its checkpoint, as the training file gave it (relative to the working directory).
    pub autoencoder: String,
    /// The fingerprint of its weights: any other autoencoder is refused.
    pub fingerprint: String,
    /// The spectral truncation of its grid.
    pub truncation: usize,
}

impl DenoiserMeta {
    /// Windows one state of this prior spans (`2k + 1`; 1 for a one-window prior).
    pub fn windows(&self) -> usize {
        2 * self.blanket + 1
    }

    /// Refuses an experiment whose model or grid differ from the training ones.
    pub fn check_compatible(&self, bed: &dyn BedConfig, path: &Path) -> Result<(), AssimError> {
        let same = bed.same_model(&self.model)
            && match &self.latent {
                Some(l) => bed.field_grid().is_some_and(|g| g.truncation == l.truncation),
                None => self.nx == bed.nx(),
            };
        if let (Some(m), Some(g)) = (&self.obs_channels, bed.field_grid()) {
            m.check_modalities(&g.modalities)
                .map_err(|msg| AssimError::Format { path: path.to_path_buf(), msg })?;
        }
        if !same {
            return Err(AssimError::Format {
                path: path.to_path_buf(),
                msg: format!(
                    "this denoiser was trained for {} (nx = {}{}); the experiment runs {} (nx = {})",
                    self.model,
                    self.nx,
                    self.latent
                        .as_ref()
                        .map_or(String::new(), |l| format!(", latent of a T{} autoencoder", l.truncation)),
                    bed.model(),
                    bed.nx()
                ),
            });
        }
        Ok(())
    }
}

/// A trained, ready-to-sample denoiser (EMA weights on a plain, non-autodiff device).
pub struct TrainedDenoiser {
    /// The network under EDM preconditioning.
    pub network: EdmNetwork,
    /// What it was trained for.
    pub meta: DenoiserMeta,
}

impl TrainedDenoiser {
    /// Loads the EMA weights of a checkpoint written by `assim train denoiser`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, AssimError> {
        Self::from_checkpoint(&Checkpoint::load(path)?, path, device)
    }

    /// The denoiser of a checkpoint already read from `path` (named in errors).
    pub fn from_checkpoint(ckpt: &Checkpoint, path: &Path, device: &Device) -> Result<Self, AssimError> {
        let bad = |msg: String| AssimError::Format { path: path.to_path_buf(), msg };
        if ckpt.meta.get("kind").and_then(|k| k.as_str()) != Some("denoiser") {
            return Err(bad("not a denoiser checkpoint (its kind is not \"denoiser\")".into()));
        }
        let meta: DenoiserMeta = serde_json::from_value(ckpt.meta["denoiser"].clone())
            .map_err(|e| bad(format!("denoiser metadata unreadable: {e}")))?;
        let channels = (2 * meta.blanket + 1) * meta.obs_channels.as_ref().map_or(0, |m| m.channels());
        let cells = meta.network.grid.map_or(0, |[_, h, w]| h * w);
        if channels != meta.network.cond_channels
            || meta.obs_channels.as_ref().is_some_and(|m| {
                m.std.len() != m.channels()
                    || m.std.iter().chain(&m.mean).any(|v| !v.is_finite())
                    || cells == 0
            })
        {
            return Err(bad(format!(
                "its observation channels ({channels}, standardisation readable: {}) do not match the network's {}",
                meta.obs_channels.as_ref().is_none_or(|m| m.std.len() == m.channels()),
                meta.network.cond_channels
            )));
        }
        let network = EdmNetwork::new(meta.network, meta.conditional, &meta.edm, device);
        let ema = ckpt.array("ema").ok_or_else(|| bad("no EMA weights in the checkpoint".into()))?;
        if ema.len() != count(&network) {
            return Err(bad(format!(
                "{} weights stored, the network described by the metadata has {}",
                ema.len(),
                count(&network)
            )));
        }
        if ema.iter().any(|v| !v.is_finite()) {
            return Err(bad("non-finite weights".into()));
        }
        let network = load_flat(network, ema, device, false);
        Ok(TrainedDenoiser { network, meta })
    }
}
