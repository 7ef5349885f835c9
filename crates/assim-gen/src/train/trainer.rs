//! The one training loop every trainer shares (the denoiser's, the autoencoder's, and any
//! later one): steps, the mean training loss between log rows, validation rows, atomic
//! checkpoints every `checkpoint_every` steps, at the end and at an interruption, and an
//! exact resume (the stored training file must match but for the step count). What a trainer
//! supplies is an [`Objective`]: its step, its log row and its checkpoint.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use assim_core::AssimError;

use super::checkpoint::Checkpoint;
use super::optim::AdamW;

/// The weights and optimiser state being trained, as flat vectors.
pub struct TrainState {
    /// The weights.
    pub params: Vec<f32>,
    /// Their exponential moving average (empty for a trainer without one).
    pub ema: Vec<f32>,
    /// AdamW's moments.
    pub adam: AdamW,
    /// Steps done.
    pub step: usize,
}

impl TrainState {
    /// The checkpoint arrays of a trainer with an EMA: `params`, `ema`, `adam_m`, `adam_v`.
    pub fn arrays(&self) -> Vec<(String, Vec<f32>)> {
        vec![
            ("params".into(), self.params.clone()),
            ("ema".into(), self.ema.clone()),
            ("adam_m".into(), self.adam.m.clone()),
            ("adam_v".into(), self.adam.v.clone()),
        ]
    }
}

/// When the loop logs and saves.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Steps in all.
    pub steps: usize,
    /// Steps between validation rows of the log.
    pub valid_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// What one trainer supplies to the shared loop.
pub trait Objective {
    /// A row of its log.
    type Row;
    /// Step `k`: updates the weights (and moments, EMA) in `state`; returns the training loss.
    fn step(&mut self, k: usize, state: &mut TrainState) -> Result<f64, AssimError>;
    /// The log row after `state.step` steps, from the mean training loss since the last row.
    fn row(&self, state: &TrainState, train_loss: f64, elapsed_s: f64) -> Self::Row;
    /// Wall-clock seconds of training when `row` was written (across resumes).
    fn elapsed(row: &Self::Row) -> f64;
    /// Writes the checkpoint; `last` on the plan's final step.
    fn save(&mut self, state: &TrainState, log: &[Self::Row], last: bool) -> Result<(), AssimError>;
}

/// Runs `objective` from `state.step` to `plan.steps`; `stop_after` ends the run after that
/// many steps of this invocation as if it had been killed (a checkpoint is written first),
/// which is how tests interrupt it. `progress(step, steps, loss)` sees every step.
pub fn run<O: Objective>(
    objective: &mut O,
    state: &mut TrainState,
    log: &mut Vec<O::Row>,
    plan: Plan,
    stop_after: Option<usize>,
    progress: &mut dyn FnMut(usize, usize, f64),
) -> Result<(), AssimError> {
    let elapsed0 = log.last().map_or(0.0, O::elapsed);
    let clock = Instant::now();
    let (mut loss_sum, mut loss_n, mut done_here) = (0.0, 0usize, 0usize);
    while state.step < plan.steps {
        let loss = objective.step(state.step, state)?;
        state.step += 1;
        done_here += 1;
        loss_sum += loss;
        loss_n += 1;
        progress(state.step, plan.steps, loss);
        let last = state.step == plan.steps;
        let interrupted = stop_after.is_some_and(|s| done_here >= s);
        if state.step.is_multiple_of(plan.valid_every) || last {
            log.push(objective.row(
                state,
                loss_sum / loss_n.max(1) as f64,
                elapsed0 + clock.elapsed().as_secs_f64(),
            ));
            (loss_sum, loss_n) = (0.0, 0);
        }
        if state.step.is_multiple_of(plan.checkpoint_every) || last || interrupted {
            objective.save(state, log, last)?;
        }
        if interrupted {
            break;
        }
    }
    Ok(())
}

/// The training file with the step count removed: what must match for a resume.
fn resume_key(cfg: &impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    v["optim"]["steps"] = serde_json::Value::Null;
    v
}

/// The step and log of `ckpt` (read from `out`) to resume `cfg` from, once its stored
/// training file (`C`) is checked to match `cfg` but for `optim.steps`.
pub fn resumable<C: Serialize + DeserializeOwned, R: DeserializeOwned>(
    ckpt: &Checkpoint,
    cfg: &C,
    out: &Path,
) -> Result<(usize, Vec<R>), AssimError> {
    let bad = |msg: String| AssimError::Format { path: out.to_path_buf(), msg };
    let stored: C = serde_json::from_value(ckpt.meta["training"]["config"].clone())
        .map_err(|e| bad(format!("no readable training configuration: {e}")))?;
    if resume_key(&stored) != resume_key(cfg) {
        return Err(bad(
            "was written by a different training configuration (only optim.steps may change on --resume)"
                .into(),
        ));
    }
    let step = ckpt.meta["training"]["step"].as_u64().ok_or_else(|| bad("no training step".into()))? as usize;
    let log =
        serde_json::from_value(ckpt.meta["training"]["log"].clone()).map_err(|e| bad(format!("log: {e}")))?;
    Ok((step, log))
}

/// The state and log to resume `cfg` from the checkpoint at `out` of a trainer with an EMA
/// (the arrays of [`TrainState::arrays`], each of `n_params` values), once [`resumable`].
pub fn resume_with_ema<C: Serialize + DeserializeOwned, R: DeserializeOwned>(
    cfg: &C,
    out: &Path,
    n_params: usize,
    weight_decay: f64,
) -> Result<(TrainState, Vec<R>), AssimError> {
    let ckpt = Checkpoint::load(out)?;
    let (step, log) = resumable(&ckpt, cfg, out)?;
    let bad = |msg: String| AssimError::Format { path: out.to_path_buf(), msg };
    let get = |name: &str| -> Result<Vec<f32>, AssimError> {
        let a = ckpt.array(name).ok_or_else(|| bad(format!("no {name} array")))?;
        if a.len() != n_params {
            return Err(bad(format!("{name} has {} values, the network {n_params}", a.len())));
        }
        Ok(a.to_vec())
    };
    let adam = AdamW { m: get("adam_m")?, v: get("adam_v")?, weight_decay };
    Ok((TrainState { params: get("params")?, ema: get("ema")?, adam, step }, log))
}

/// Writes `ckpt` to `out` and its `training` record beside it as `out.log.json`, for plots and
/// for people; both atomically.
pub fn save_with_log(ckpt: &Checkpoint, out: &Path) -> Result<(), AssimError> {
    ckpt.save(out)?;
    let log = serde_json::to_vec_pretty(&ckpt.meta["training"]).unwrap_or_default();
    assim_core::io::write_atomic(&out.with_extension("log.json"), &log)
}
