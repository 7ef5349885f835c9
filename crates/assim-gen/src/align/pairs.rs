//! Align-DA's preference data, made by the cycling itself: on training truths the method being
//! aligned is cycled as in an experiment; at each analysis time after the burn-in, `K`
//! candidates are drawn from the reference prior given one forecast member, with the method's
//! own guidance (seeing all but the held-out observations), and each is scored by every reward
//! component ([`super::rewards`]). The candidates, their shared condition and their rewards are
//! stored (a checksummed checkpoint file), so that pairs for any weights and selection rule are
//! chosen from them without sampling again ([`CandidateSet::pairs`]).

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::sphere::{ObsWindow, SphereConfig, obs_window};
use assim_core::classical::{Assimilator, Setup};
use assim_core::experiment::{Experiment, Scenario};
use assim_core::rng::{stream, uniform};

use super::config::{AlignConfig, Rule, Selection};
use super::rewards::{Components, RewardScorer, RewardWeights};
use crate::filter::{GenerativeConfig, GenerativeFilter, SpunUp};
use crate::train::checkpoint::{Checkpoint, model_record};

/// One analysis time's candidates.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Group {
    /// The truth's seed.
    pub seed: u64,
    /// The analysis index.
    pub ko: usize,
    /// The forecast member the candidates were conditioned on.
    pub member: usize,
}

/// The candidates of every analysis time, with their rewards.
#[derive(Debug)]
pub struct CandidateSet {
    /// Numbers per candidate (the network's variable).
    pub nz: usize,
    /// Candidates per group.
    pub k: usize,
    /// The analysis times, in order.
    pub groups: Vec<Group>,
    /// `[groups·k, nz]`: the candidates in the network's variable.
    pub samples: Vec<f32>,
    /// `[groups, nz]`: their conditions (empty for an unconditional prior).
    pub conditions: Vec<f32>,
    /// The reward components of each candidate (`groups·k`).
    pub rewards: Vec<Components>,
    /// What made them: the reference's fingerprint, the experiment's model and network, the
    /// `[pairs]` settings (compared when the file is read again).
    pub made_by: serde_json::Value,
}

/// A preference pair: in group `group`, candidate `win` is preferred to `lose`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    /// The group.
    pub group: usize,
    /// Index of the preferred candidate in the group.
    pub win: usize,
    /// Index of the other.
    pub lose: usize,
    /// Reward gap (> margin).
    pub gap: f64,
}

/// The record of what a candidate set is made by, for `cfg` and the reference's fingerprint.
/// The climate is recorded by its simulation file's content, not its name
/// ([`model_record`]).
pub fn made_by(cfg: &AlignConfig, exp: &Experiment, reference_fingerprint: &str) -> serde_json::Value {
    let sphere = exp.bed_as::<SphereConfig>();
    serde_json::json!({
        "reference_fingerprint": reference_fingerprint,
        "model": model_record(exp),
        "network": sphere.map(|s| serde_json::to_value(&s.network).unwrap_or_default()),
        "chronology": { "dt": exp.chronology().dt, "dko": exp.chronology().dko },
        "pairs": serde_json::to_value(&cfg.pairs).unwrap_or_default(),
    })
}

impl CandidateSet {
    /// The candidate `j` of group `g`.
    pub fn sample(&self, g: usize, j: usize) -> &[f32] {
        let i = g * self.k + j;
        &self.samples[i * self.nz..(i + 1) * self.nz]
    }

    /// The condition of group `g` (empty for an unconditional prior).
    pub fn condition(&self, g: usize) -> &[f32] {
        if self.conditions.is_empty() { &[] } else { &self.conditions[g * self.nz..(g + 1) * self.nz] }
    }

    /// The preference pairs under `weights` and `selection`: per group the best against the
    /// worst, or every pair apart by more than the margin (ties and NaN rewards make none).
    pub fn pairs(&self, weights: &RewardWeights, selection: &Selection) -> Vec<Pair> {
        let mut out = Vec::new();
        for g in 0..self.groups.len() {
            let r: Vec<f64> = (0..self.k).map(|j| weights.combine(&self.rewards[g * self.k + j])).collect();
            if r.iter().any(|v| !v.is_finite()) {
                continue;
            }
            match selection.rule {
                Rule::BestWorst => {
                    let best = (0..self.k).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0);
                    let worst = (0..self.k).min_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0);
                    let gap = r[best] - r[worst];
                    if gap > selection.margin {
                        out.push(Pair { group: g, win: best, lose: worst, gap });
                    }
                }
                Rule::Margin => {
                    for a in 0..self.k {
                        for b in 0..self.k {
                            if r[a] - r[b] > selection.margin {
                                out.push(Pair { group: g, win: a, lose: b, gap: r[a] - r[b] });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Writes the set atomically (a checksummed checkpoint of kind `align_candidates`).
    pub fn save(&self, path: &Path) -> Result<(), AssimError> {
        let flat: Vec<f32> = self.rewards.iter().flatten().map(|&v| v as f32).collect();
        Checkpoint {
            meta: serde_json::json!({
                "kind": "align_candidates",
                "nz": self.nz,
                "k": self.k,
                "groups": self.groups,
                "made_by": self.made_by,
                "reward_names": super::rewards::NAMES,
            }),
            arrays: vec![
                ("samples".into(), self.samples.clone()),
                ("conditions".into(), self.conditions.clone()),
                ("rewards".into(), flat),
            ],
        }
        .save(path)
    }

    /// Reads a set and refuses one made by other settings than `expected` ([`made_by`]), or
    /// whose arrays do not match its description.
    pub fn load(path: &Path, expected: &serde_json::Value) -> Result<Self, AssimError> {
        let ckpt = Checkpoint::load(path)?;
        let bad = |msg: String| AssimError::Format { path: path.to_path_buf(), msg };
        ckpt.check_made_by(
            path,
            ("align_candidates", "preference-pairs file"),
            expected,
            &["reference_fingerprint", "model", "network", "chronology", "pairs"],
            "move it away or point pairs_file elsewhere to make new pairs",
        )?;
        let made = &ckpt.meta["made_by"];
        let nz = ckpt.meta["nz"].as_u64().ok_or_else(|| bad("no nz".into()))? as usize;
        let k = ckpt.meta["k"].as_u64().ok_or_else(|| bad("no k".into()))? as usize;
        let groups: Vec<Group> =
            serde_json::from_value(ckpt.meta["groups"].clone()).map_err(|e| bad(format!("groups: {e}")))?;
        let get = |n: &str| ckpt.array(n).map(<[f32]>::to_vec).ok_or_else(|| bad(format!("no {n} array")));
        let (samples, conditions, flat) = (get("samples")?, get("conditions")?, get("rewards")?);
        let g = groups.len();
        if samples.len() != g * k * nz
            || !(conditions.is_empty() || conditions.len() == g * nz)
            || flat.len() != g * k * 6
        {
            return Err(bad("its arrays do not match its groups, candidates and latent size".into()));
        }
        let rewards = flat.chunks(6).map(|c| std::array::from_fn(|i| f64::from(c[i]))).collect();
        Ok(CandidateSet { nz, k, groups, samples, conditions, rewards, made_by: made.clone() })
    }
}

/// The method being aligned, with or without its classical spin-up.
enum Cycler {
    Plain(Box<GenerativeFilter>),
    Spun(Box<SpunUp>),
}

impl Cycler {
    fn new(g: &GenerativeConfig, exp: &Experiment) -> Result<Self, AssimError> {
        let main = GenerativeFilter::new(g, exp.bed.as_ref())?;
        Ok(match &g.spinup {
            Some(sp) => {
                let first = sp.entry().map_err(AssimError::Input)?.build(exp.bed.as_ref())?;
                Cycler::Spun(Box::new(SpunUp::new(first, main, sp.windows)))
            }
            None => Cycler::Plain(Box::new(main)),
        })
    }

    fn assimilator(&mut self) -> &mut dyn Assimilator {
        match self {
            Cycler::Plain(f) => f.as_mut(),
            Cycler::Spun(s) => s.as_mut(),
        }
    }

    fn generative(&self) -> Option<&GenerativeFilter> {
        match self {
            Cycler::Plain(f) => Some(f),
            Cycler::Spun(s) => s.generative(),
        }
    }
}

/// Splits a window's observations: each held out with probability `fraction` (`rng`).
fn split(
    w: &ObsWindow,
    grid: &assim_core::grid::LatLonGrid,
    fraction: f64,
    rng: &mut assim_core::rng::AssimRng,
) -> Result<(ObsWindow, Option<ObsWindow>), AssimError> {
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    for r in &w.records {
        if uniform(rng) < fraction { held.push(r.clone()) } else { kept.push(r.clone()) }
    }
    let held = if held.is_empty() { None } else { Some(obs_window(grid, held)?) };
    Ok((obs_window(grid, kept)?, held))
}

/// Cycles `cfg`'s method on each training seed and draws and scores the candidates;
/// `progress(stage, done, total)` reports the simulation and the cycling.
pub fn generate(
    cfg: &AlignConfig,
    exp: &Experiment,
    made_by: serde_json::Value,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<CandidateSet, AssimError> {
    assim_core::linalg::init();
    let (_, g) = cfg.method(&cfg.name)?;
    let p = &cfg.pairs;
    let lead = cfg.lead_windows(exp);
    let cycles = p.burn_in_cycles + p.cycles;
    let mut exp = exp.clone();
    exp.chronology.ko = Some(cycles + lead - 1);
    exp.chronology.t = None;
    exp.chronology.burn_in = 0.0;
    let chrono = exp.chronology();
    let (mut groups, mut samples, mut conditions, mut rewards) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut nz = 0;
    for &seed in &p.seeds {
        let twin = crate::latent::space::sphere_twin(&exp, seed, 0, &mut |s, a, b| progress(s, a, b))?;
        let scorer = RewardScorer::new(&twin, lead)?;
        let grid = twin.sw().grid().clone();
        let mut method = Cycler::new(&g, &exp)?;
        let mut rng = stream(seed, "align-cycling");
        method.assimilator().initialise(&twin.setup(0), &mut rng)?;
        for ko in 0..cycles {
            let setup = twin.setup(ko);
            let k = chrono.obs_step(ko);
            method.assimilator().forecast(&setup, (k - chrono.dko) as f64 * chrono.dt, chrono.dko)?;
            if ko >= p.burn_in_cycles {
                let filter = method.generative().ok_or_else(|| {
                    AssimError::Input(format!("the method is still spinning up at analysis {ko}"))
                })?;
                let mut hrng = stream(seed, &format!("holdout {ko}"));
                let (kept, held) = split(&twin.windows[ko], &grid, p.holdout, &mut hrng)?;
                let seen =
                    Setup { obs: &kept.op, obs_var: &kept.var, localizer: Some(&kept.localizer), ..setup };
                let member = ko % g.n;
                let mut crng = stream(seed, &format!("candidates {ko}"));
                let c = filter.candidates(&seen, &kept.y, member, p.candidates, &mut crng)?;
                let comps: Vec<Components> =
                    c.states.par_iter().map(|x| scorer.components(ko, x, held.as_ref())).collect();
                nz = c.samples.dims()[1];
                samples.extend(c.samples.to_data().iter::<f32>());
                if let Some(cond) = &c.condition {
                    conditions.extend(cond.to_data().iter::<f32>());
                }
                rewards.extend(comps);
                groups.push(Group { seed, ko, member });
            }
            method.assimilator().analyse(&setup, twin.observations(ko), k as f64 * chrono.dt, &mut rng)?;
            progress(&format!("candidates seed {seed}"), ko + 1, cycles);
        }
    }
    Ok(CandidateSet { nz, k: p.candidates, groups, samples, conditions, rewards, made_by })
}
