//! The alignment file of `assim train align FILE` (documented in `docs/training.md`): the
//! reference prior, the experiment and the generative method whose cycling makes the
//! preference data, the rewards that rank it, and the Diffusion-DPO fine-tuning.

use std::path::Path;

use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::sphere::SphereConfig;
use assim_core::experiment::{Experiment, MethodCheck, MethodEntry, parse_toml, read_text};

use super::rewards::RewardWeights;
use crate::filter::GenerativeConfig;
use crate::train::config::OptimConfig;

/// An alignment file (TOML).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlignConfig {
    /// Short name.
    pub name: String,
    /// The shallow-water experiment file (relative to this file) whose model, network and
    /// chronology the preference data are cycled in (on `pairs.seeds`, never its test seeds).
    pub experiment: String,
    /// The trained latent prior to align (`assim train denoiser`): the frozen reference and
    /// the policy's starting point (relative to the working directory).
    pub reference: String,
    /// The aligned checkpoint to write.
    pub out: String,
    /// The preference data: read when it exists and was made by these settings, else made
    /// and written there (so that alignments can be repeated without sampling again).
    pub pairs_file: String,
    /// Seed of the batches, the noise and the validation noise.
    #[serde(default = "one")]
    pub seed: u64,
    /// How the preference data are made.
    pub pairs: PairsConfig,
    /// The weights of the reward that ranks the candidates.
    pub rewards: RewardWeights,
    /// Which candidates become pairs.
    #[serde(default)]
    pub selection: Selection,
    /// Diffusion-DPO.
    pub dpo: DpoConfig,
    /// The optimiser (as the denoiser's: AdamW, warm-up, cosine decay, EMA, clipping).
    pub optim: OptimConfig,
    /// The files it was read from (set by [`AlignConfig::load`]; not a key).
    #[serde(skip)]
    pub provenance: crate::train::checkpoint::Provenance,
}

/// `[pairs]`: the cycling that makes the candidates.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PairsConfig {
    /// Seeds of the training truths.
    pub seeds: Vec<u64>,
    /// Analyses cycled before candidates are drawn (must cover the method's spin-up).
    pub burn_in_cycles: usize,
    /// Analysis times at which candidates are drawn, per seed.
    pub cycles: usize,
    /// Candidates `K` drawn at each of them, all given the same forecast (≥ 4).
    pub candidates: usize,
    /// Fraction of each window's observations held out of the candidates' guidance and used
    /// by the truth-free `accuracy_obs` reward (0 ≤ h < 0.5; the cycling itself sees them all).
    #[serde(default = "tenth")]
    pub holdout: f64,
    /// Lead of the `forecast` rewards (hours, a whole number of analysis windows).
    #[serde(default = "day")]
    pub lead_hours: f64,
    /// The generative `[[methods]]` entry being aligned, cycled as in an experiment; its
    /// `checkpoint` is `reference` (and may be left out).
    pub method: toml::Value,
}

/// `[selection]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// `"best_worst"`: one pair per analysis time, its best and worst candidate;
    /// `"margin"`: every pair whose reward gap exceeds `margin`.
    #[serde(default)]
    pub rule: Rule,
    /// The smallest reward gap of a pair (≥ 0).
    #[serde(default)]
    pub margin: f64,
    /// The last fraction of the analysis times (per seed) held out to validate the alignment.
    #[serde(default = "tenth")]
    pub valid_fraction: f64,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { rule: Rule::BestWorst, margin: 0.0, valid_fraction: tenth() }
    }
}

/// How candidates become pairs (see [`Selection::rule`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Best against worst.
    #[default]
    BestWorst,
    /// All pairs apart by more than the margin.
    Margin,
}

/// `[dpo]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DpoConfig {
    /// β: how far the policy may move from the reference (larger: sharper preferences, less
    /// regularisation), in units of the λ(σ)-weighted mean squared denoising error.
    pub beta: f64,
}

fn one() -> u64 {
    1
}
fn tenth() -> f64 {
    0.1
}
fn day() -> f64 {
    24.0
}

impl AlignConfig {
    /// Reads and validates an alignment file and its experiment.
    pub fn load(path: &Path) -> Result<(Self, Experiment), AssimError> {
        let (text, file) = read_text(path)?;
        let mut cfg: AlignConfig = parse_toml(&text, &file)?;
        let exp_path = path.parent().unwrap_or(Path::new(".")).join(&cfg.experiment);
        let exp = Experiment::load_with(&exp_path, &crate::methods())
            .map_err(|e| AssimError::config(&file, "experiment", e.to_string()))?;
        cfg.validate(&file, &exp)?;
        cfg.provenance = crate::train::checkpoint::Provenance::of(&[path, &exp_path])?;
        Ok((cfg, exp))
    }

    /// The generative method of `[pairs]`, its checkpoint set to `reference`.
    pub fn method(&self, file: &str) -> Result<(MethodEntry, GenerativeConfig), AssimError> {
        let key = "pairs.method";
        let mut v = self.pairs.method.clone();
        let t = v.as_table_mut().ok_or_else(|| AssimError::config(file, key, "must be a table"))?;
        match t.get("checkpoint").and_then(toml::Value::as_str) {
            Some(c) if Path::new(c) != Path::new(&self.reference) => {
                return Err(AssimError::config(
                    file,
                    format!("{key}.checkpoint"),
                    format!("is {c}, but the reference being aligned is {}: leave it out", self.reference),
                ));
            }
            _ => {
                t.insert("checkpoint".into(), toml::Value::String(self.reference.clone()));
            }
        }
        let entry = crate::methods().parse(&v).map_err(|m| AssimError::config(file, key, m))?;
        let g = entry.downcast::<GenerativeConfig>().cloned().ok_or_else(|| {
            AssimError::config(file, key, "must be a Generative method (the one being aligned)")
        })?;
        Ok((entry, g))
    }

    /// Analysis windows in the forecast lead.
    pub fn lead_windows(&self, exp: &Experiment) -> usize {
        let c = exp.chronology();
        (self.pairs.lead_hours * 3600.0 / (c.dko as f64 * c.dt)).round() as usize
    }

    /// Checks every value the types do not.
    pub fn validate(&self, file: &str, exp: &Experiment) -> Result<(), AssimError> {
        let err = |k: &str, m: String| Err(AssimError::config(file, k, m));
        if exp.bed_as::<SphereConfig>().is_none() {
            return err(
                "experiment",
                "alignment needs a shallow-water experiment (its rewards are the sphere's)".into(),
            );
        }
        for (k, v) in [("reference", &self.reference), ("out", &self.out), ("pairs_file", &self.pairs_file)] {
            if v.trim().is_empty() {
                return err(k, "give a path".into());
            }
        }
        if Path::new(&self.out) == Path::new(&self.reference) {
            return err(
                "out",
                "is the reference: the reference stays as trained, write the aligned prior elsewhere".into(),
            );
        }
        if Path::new(&self.pairs_file) == Path::new(&self.out)
            || Path::new(&self.pairs_file) == Path::new(&self.reference)
        {
            return err("pairs_file", "must be a file of its own".into());
        }
        let (entry, g) = self.method(file)?;
        let check =
            MethodCheck { file, at: "pairs.method".into(), bed: exp.bed.as_ref(), chrono: exp.chronology() };
        check.check(&entry)?;
        let p = &self.pairs;
        if p.seeds.is_empty() {
            return err("pairs.seeds", "give at least one training seed".into());
        }
        if let Some(s) = p.seeds.iter().find(|s| exp.seeds.contains(s)) {
            return err(
                "pairs.seeds",
                format!("seed {s} is one the experiment tests on: align on truths of their own"),
            );
        }
        if p.candidates < 4 {
            return err(
                "pairs.candidates",
                format!("draw at least 4 candidates per analysis (got {})", p.candidates),
            );
        }
        if p.cycles < 10 {
            return err("pairs.cycles", format!("need ≥ 10 analysis times (got {})", p.cycles));
        }
        let spin = g.spinup.as_ref().map_or(0, |s| s.windows);
        if p.burn_in_cycles < spin {
            return err(
                "pairs.burn_in_cycles",
                format!("must cover the method's spin-up ({spin} windows; got {})", p.burn_in_cycles),
            );
        }
        if !(0.0..0.5).contains(&p.holdout) {
            return err("pairs.holdout", format!("must be in [0, 0.5) (got {})", p.holdout));
        }
        if self.rewards.accuracy_obs > 0.0 && p.holdout == 0.0 {
            return err("rewards.accuracy_obs", "needs held-out observations: set pairs.holdout > 0".into());
        }
        let c = exp.chronology();
        let window_h = c.dko as f64 * c.dt / 3600.0;
        let lw = p.lead_hours / window_h;
        if !(p.lead_hours > 0.0 && (lw - lw.round()).abs() < 1e-9) {
            return err(
                "pairs.lead_hours",
                format!("must be a positive multiple of the {window_h} h window (got {})", p.lead_hours),
            );
        }
        self.rewards.validate(file, "rewards")?;
        let s = &self.selection;
        if !(s.margin.is_finite() && s.margin >= 0.0) {
            return err("selection.margin", format!("must be ≥ 0 (got {})", s.margin));
        }
        if !(s.valid_fraction > 0.0 && s.valid_fraction < 0.5) {
            return err(
                "selection.valid_fraction",
                format!("must be in (0, 0.5) (got {})", s.valid_fraction),
            );
        }
        if !(self.dpo.beta.is_finite() && self.dpo.beta > 0.0) {
            return err(
                "dpo.beta",
                format!("must be positive (got {}): β ≤ 0 would not prefer the winners", self.dpo.beta),
            );
        }
        self.optim.validate(file)
    }
}
