//! Diffusion-DPO fine-tuning of a trained latent prior (`assim train align`). The reference
//! `d_ref` is the prior as trained, frozen; the policy `d_θ` starts from it. For a pair
//! (z_w, z_l) with condition c, one σ ~ EDM's training law and one ε shared by both,
//!
//! `L = −log sigmoid(−β λ(σ) [(e_θ(z_w) − e_ref(z_w)) − (e_θ(z_l) − e_ref(z_l))])`,
//! `e(z) = mean_i (d(z + σε, σ, c) − z)_i²`,
//!
//! with EDM's loss weight `λ(σ) = (σ² + σ_d²)/(σ σ_d)²`: the prior was trained on `λ(σ) e`,
//! whose target is unit-variance at every σ, so the same β means the same pull at every noise
//! level (Wallace et al.'s `T ω(λ_t)` for ε-prediction plays the same part). The error is a mean
//! over the latent's numbers, so β does not scale with the latent size. At the start
//! `L = ln 2`; it falls as the policy denoises winners better than the reference, relative to
//! losers.

use std::path::{Path, PathBuf};

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::experiment::Experiment;
use assim_core::rng::{fill_normal, stream, uniform};

use super::config::AlignConfig;
use super::pairs::{CandidateSet, Pair, generate, made_by};
use crate::prior::network::EdmNetwork;
use crate::prior::schedule::Edm;
use crate::prior::trained::{DenoiserMeta, TrainedDenoiser};
use crate::train::checkpoint::Checkpoint;
use crate::train::optim::{AdamW, clip_global_norm, ema_update};
use crate::train::params::{count, flatten_grads, load_flat};
use crate::train::trainer::{Objective, Plan, TrainState, resume_with_ema, run, save_with_log};

/// One row of the alignment log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AlignLogRow {
    /// Steps done.
    pub step: usize,
    /// Mean DPO loss of the training batches since the previous row.
    pub train_loss: f64,
    /// DPO loss of the EMA weights on the validation pairs (fixed noise; ln 2 at the start).
    pub valid_loss: f64,
    /// Fraction of validation pairs whose winner the EMA policy prefers (`u < 0`).
    pub valid_accuracy: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Wall-clock seconds of training (across resumes).
    pub elapsed_s: f64,
}

/// What a finished alignment returns.
pub struct AlignOutcome {
    /// The log.
    pub log: Vec<AlignLogRow>,
    /// The aligned checkpoint.
    pub path: PathBuf,
    /// Training and validation pairs.
    pub n_pairs: (usize, usize),
    /// Analysis times with candidates.
    pub n_groups: usize,
    /// Whether the candidates were made in this run (else read from `pairs_file`).
    pub generated: bool,
}

/// A batch of pairs as tensors: winners, losers, conditions `[b, nz]`, noise `[b, nz]`, σ `[b, 1]`.
struct Batch {
    win: Tensor<2>,
    lose: Tensor<2>,
    cond: Option<Tensor<2>>,
    eps: Tensor<2>,
    sigma: Tensor<2>,
}

fn batch(set: &CandidateSet, pairs: &[&Pair], edm: &Edm, seed: u64, label: &str, device: &Device) -> Batch {
    let (b, nz) = (pairs.len(), set.nz);
    let rows = |pick: &dyn Fn(&Pair) -> (usize, Option<usize>)| -> Tensor<2> {
        let v: Vec<f32> = pairs
            .iter()
            .flat_map(|p| match pick(p) {
                (g, Some(j)) => set.sample(g, j).to_vec(),
                (g, None) => set.condition(g).to_vec(),
            })
            .collect();
        Tensor::from_data(TensorData::new(v, [b, nz]), device)
    };
    let win = rows(&|p| (p.group, Some(p.win)));
    let lose = rows(&|p| (p.group, Some(p.lose)));
    let cond = (!set.conditions.is_empty()).then(|| rows(&|p| (p.group, None)));
    let mut rng = stream(seed, label);
    let mut e = vec![0.0; b * nz];
    fill_normal(&mut rng, &mut e);
    let mut z = vec![0.0; b];
    fill_normal(&mut rng, &mut z);
    let e: Vec<f32> = e.iter().map(|&v| v as f32).collect();
    let s: Vec<f32> = z.iter().map(|&z| edm.training_sigma(z) as f32).collect();
    Batch {
        win,
        lose,
        cond,
        eps: Tensor::from_data(TensorData::new(e, [b, nz]), device),
        sigma: Tensor::from_data(TensorData::new(s, [b, 1]), device),
    }
}

/// `e(z_w) − e(z_l)` of `net` on a batch, `[b, 1]`.
fn error_gap(net: &EdmNetwork, x: &Batch) -> Tensor<2> {
    let b = x.win.dims()[0];
    let clean = Tensor::cat(vec![x.win.clone(), x.lose.clone()], 0);
    let eps = x.eps.clone().repeat_dim(0, 2);
    let sigma = x.sigma.clone().repeat_dim(0, 2);
    let cond = x.cond.as_ref().map(|c| c.clone().repeat_dim(0, 2));
    let d = net.denoise_batch(clean.clone() + eps * sigma.clone(), sigma, cond.as_ref());
    let e = (d - clean).powf_scalar(2.0).mean_dim(1);
    e.clone().narrow(0, 0, b) - e.narrow(0, b, b)
}

/// The DPO margins `u = λ(σ) (gap_θ − gap_ref)` `[b, 1]` and the loss `mean softplus(β u)`.
fn dpo_loss(
    gap_policy: Tensor<2>,
    gap_ref: Tensor<2>,
    sigma: Tensor<2>,
    sigma_data: f64,
    beta: f64,
) -> (Tensor<2>, Tensor<1>) {
    let sd2 = sigma_data * sigma_data;
    let s2 = sigma.powf_scalar(2.0);
    let lambda = (s2.clone() + sd2) / (s2 * sd2);
    let u = (gap_policy - gap_ref) * lambda;
    let x = u.clone() * beta;
    // softplus(x) = ln(1 + eˣ), linear above 30 against overflow. (Not max(x, 0) + ln(1 + e^{−|x|}):
    // its autodiff gradient at x = 0, where every pair starts since the policy is the
    // reference, is 0 instead of ½.)
    let sp = (x.clone().clamp_max(30.0).exp() + 1.0).log() + relu(x - 30.0);
    (u, sp.mean())
}

/// The alignment's step, log row and checkpoint, for the shared loop.
struct DpoObjective<'a> {
    cfg: &'a AlignConfig,
    set: CandidateSet,
    train: Vec<Pair>,
    valid: Vec<Pair>,
    template: EdmNetwork,
    reference: TrainedDenoiser,
    /// The reference checkpoint's `denoiser` metadata, copied into the aligned one.
    meta: DenoiserMeta,
    lineage: serde_json::Value,
    ad: Device,
    device: Device,
    out: PathBuf,
}

impl DpoObjective<'_> {
    /// Validation loss and accuracy of `weights` (fixed noise, batches of 32).
    fn validate(&self, weights: &[f32]) -> (f64, f64) {
        let net = load_flat(self.template.clone(), weights, &self.device, false);
        let edm = &self.meta.edm;
        let (mut loss, mut right, mut n) = (0.0, 0usize, 0usize);
        for (i, chunk) in self.valid.chunks(32).enumerate() {
            let refs: Vec<&Pair> = chunk.iter().collect();
            let x = batch(&self.set, &refs, edm, self.cfg.seed, &format!("dpo validation {i}"), &self.device);
            let (u, l) = dpo_loss(
                error_gap(&net, &x),
                error_gap(&self.reference.network, &x),
                x.sigma.clone(),
                edm.sigma_data,
                self.cfg.dpo.beta,
            );
            loss += f64::from(l.into_scalar::<f32>()) * chunk.len() as f64;
            right += u.to_data().iter::<f32>().filter(|&v| v < 0.0).count();
            n += chunk.len();
        }
        (loss / n.max(1) as f64, right as f64 / n.max(1) as f64)
    }
}

impl Objective for DpoObjective<'_> {
    type Row = AlignLogRow;

    fn step(&mut self, k: usize, state: &mut TrainState) -> Result<f64, AssimError> {
        let o = &self.cfg.optim;
        let mut rng = stream(self.cfg.seed, &format!("dpo batch {k}"));
        let picked: Vec<&Pair> = (0..o.batch)
            .map(|_| {
                &self.train
                    [((uniform(&mut rng) * self.train.len() as f64) as usize).min(self.train.len() - 1)]
            })
            .collect();
        let edm = self.meta.edm;
        let label = format!("dpo noise {k}");
        let plain = batch(&self.set, &picked, &edm, self.cfg.seed, &label, &self.device);
        let gap_ref = error_gap(&self.reference.network, &plain);
        let gap_ref = Tensor::<2>::from_data(gap_ref.to_data(), &self.ad);
        let x = batch(&self.set, &picked, &edm, self.cfg.seed, &label, &self.ad);
        let net = load_flat(self.template.clone(), &state.params, &self.ad, true);
        let (_, loss) =
            dpo_loss(error_gap(&net, &x), gap_ref, x.sigma.clone(), edm.sigma_data, self.cfg.dpo.beta);
        let loss_v = f64::from(loss.clone().into_scalar::<f32>());
        if !loss_v.is_finite() {
            return Err(AssimError::Numerical(format!("the DPO loss became non-finite at step {k}")));
        }
        let mut g = flatten_grads(&net, &loss.backward());
        clip_global_norm(&mut g, o.clip);
        state.adam.step(&mut state.params, &g, o.lr_at(k), k + 1);
        ema_update(&mut state.ema, &state.params, o.ema, k);
        Ok(loss_v)
    }

    fn row(&self, state: &TrainState, train_loss: f64, elapsed_s: f64) -> AlignLogRow {
        let (valid_loss, valid_accuracy) = self.validate(&state.ema);
        AlignLogRow {
            step: state.step,
            train_loss,
            valid_loss,
            valid_accuracy,
            lr: self.cfg.optim.lr_at(state.step - 1),
            elapsed_s,
        }
    }

    fn elapsed(row: &AlignLogRow) -> f64 {
        row.elapsed_s
    }

    fn save(&mut self, s: &TrainState, log: &[AlignLogRow], _last: bool) -> Result<(), AssimError> {
        let ckpt = Checkpoint {
            meta: serde_json::json!({
                "kind": "denoiser",
                "denoiser": self.meta,
                "alignment": self.lineage,
                "training": {
                    "config": self.cfg,
                    "provenance": self.cfg.provenance,
                    "step": s.step,
                    "n_pairs": self.train.len(),
                    "n_valid_pairs": self.valid.len(),
                    "log": log,
                },
            }),
            arrays: s.arrays(),
        };
        save_with_log(&ckpt, &self.out)
    }
}

/// Aligns (or with `resume` continues aligning) the reference prior of `cfg`: reads the
/// candidates of `pairs_file` or makes them, selects the pairs, runs Diffusion-DPO.
/// `stop_after` ends the run after that many steps as if killed (tests).
pub fn align(
    cfg: &AlignConfig,
    exp: &Experiment,
    resume: bool,
    stop_after: Option<usize>,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<AlignOutcome, AssimError> {
    let device = crate::tensor::compute_device()?;
    let ref_path = Path::new(&cfg.reference);
    let ref_ckpt = Checkpoint::load(ref_path)?;
    let reference = TrainedDenoiser::from_checkpoint(&ref_ckpt, ref_path, &device)?;
    reference.meta.check_compatible(exp.bed.as_ref(), ref_path)?;
    if reference.meta.latent.is_none() {
        return Err(AssimError::Format {
            path: ref_path.to_path_buf(),
            msg: "is not a latent prior on the sphere: Align-DA aligns latent priors".into(),
        });
    }
    let fingerprint = ref_ckpt.fingerprint("ema").unwrap_or_default();
    let made = made_by(cfg, exp, &fingerprint);
    let pairs_path = Path::new(&cfg.pairs_file);
    let (set, generated) = if pairs_path.exists() {
        (CandidateSet::load(pairs_path, &made)?, false)
    } else {
        let set = generate(cfg, exp, made, progress)?;
        set.save(pairs_path)?;
        (set, true)
    };
    if set.nz != reference.meta.nx {
        return Err(AssimError::Format {
            path: pairs_path.to_path_buf(),
            msg: format!(
                "holds candidates of {} numbers, the reference prior's latent has {}",
                set.nz, reference.meta.nx
            ),
        });
    }
    // Validation: the last fraction of each seed's analysis times.
    let mut valid_group = vec![false; set.groups.len()];
    for seed in &cfg.pairs.seeds {
        let own: Vec<usize> = (0..set.groups.len()).filter(|&g| set.groups[g].seed == *seed).collect();
        let n_valid = ((own.len() as f64 * cfg.selection.valid_fraction).round() as usize).max(1);
        for &g in own.iter().rev().take(n_valid) {
            valid_group[g] = true;
        }
    }
    let all = set.pairs(&cfg.rewards, &cfg.selection);
    let is_valid = |p: &Pair| valid_group[p.group];
    let (valid, train): (Vec<Pair>, Vec<Pair>) = all.into_iter().partition(is_valid);
    if train.is_empty() || valid.is_empty() {
        return Err(AssimError::Input(format!(
            "{} training and {} validation pairs under these rewards and selection: nothing to align on",
            train.len(),
            valid.len()
        )));
    }
    let mut meta = reference.meta.clone();
    // The aligned prior lives in the latent the reference was found to use (the recorded
    // autoencoder, or the one beside the reference once models have moved): record where.
    if let Some(l) = meta.latent.as_mut() {
        let ae = crate::filter::load_autoencoder(&l.autoencoder, &l.fingerprint, ref_path, &device)?;
        l.autoencoder = ae.path.display().to_string();
    }
    let template = EdmNetwork::new(meta.network, meta.conditional, &meta.edm, &device);
    let out = PathBuf::from(&cfg.out);
    let (mut state, mut log) = if resume {
        resume_with_ema(cfg, &out, count(&template), cfg.optim.weight_decay)?
    } else {
        let w = ref_ckpt.array("ema").expect("checked by TrainedDenoiser::from_checkpoint").to_vec();
        let adam = AdamW::new(w.len(), cfg.optim.weight_decay);
        (TrainState { params: w.clone(), ema: w, adam, step: 0 }, Vec::new())
    };
    let lineage = serde_json::json!({
        "reference": cfg.reference,
        "reference_fingerprint": fingerprint,
        "pairs_file": cfg.pairs_file,
        "pairs_fingerprint": crate::train::checkpoint::checksum(
            &set.samples.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
        "rewards": cfg.rewards,
        "selection": cfg.selection,
        "beta": cfg.dpo.beta,
        "method": set.made_by["pairs"]["method"],
    });
    let o = &cfg.optim;
    let plan = Plan { steps: o.steps, valid_every: o.valid_every, checkpoint_every: o.checkpoint_every };
    let n_groups = set.groups.len();
    let mut objective = DpoObjective {
        cfg,
        set,
        train,
        valid,
        template,
        reference,
        meta,
        lineage,
        ad: device.clone().autodiff(),
        device,
        out,
    };
    run(&mut objective, &mut state, &mut log, plan, stop_after, &mut |step, steps, _| {
        progress("align", step, steps)
    })?;
    Ok(AlignOutcome {
        log,
        path: objective.out,
        n_pairs: (objective.train.len(), objective.valid.len()),
        n_groups,
        generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_starts_at_ln2_with_a_gradient_and_prefers_winners() {
        let device = crate::tensor::compute_device().unwrap().autodiff();
        let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 1]), &device);
        // Policy equal to the reference: u = 0 and L = ln 2, but the gradient is β λ / 2 (not 0).
        let gap = t(vec![0.3, -0.2]).require_grad();
        let sigma = t(vec![1.0, 0.5]);
        let (u, loss) = dpo_loss(gap.clone(), t(vec![0.3, -0.2]), sigma.clone(), 1.0, 10.0);
        assert!(u.to_data().iter::<f32>().all(|v| v == 0.0));
        assert!((f64::from(loss.clone().into_scalar::<f32>()) - 2f64.ln()).abs() < 1e-6);
        let g = gap.grad(&loss.backward()).unwrap().to_data().iter::<f32>().collect::<Vec<_>>();
        // dL/dgap_i = (1/2) β λ(σ_i) σ(0) with λ(1) = 2, λ(0.5) = 5.
        assert!(
            (g[0] - 0.5 * 10.0 * 2.0 * 0.5).abs() < 1e-4 && (g[1] - 0.5 * 10.0 * 5.0 * 0.5).abs() < 1e-4,
            "{g:?}"
        );
        // A policy that denoises the winner better than the reference (gap below) lowers L.
        let (_, better) = dpo_loss(t(vec![0.2, -0.3]), t(vec![0.3, -0.2]), sigma.clone(), 1.0, 10.0);
        assert!(f64::from(better.into_scalar::<f32>()) < 2f64.ln());
        // And it stays finite far out.
        let (_, far) = dpo_loss(t(vec![100.0, 100.0]), t(vec![0.0, 0.0]), sigma, 1.0, 10.0);
        assert!(f64::from(far.into_scalar::<f32>()).is_finite());
    }
}
