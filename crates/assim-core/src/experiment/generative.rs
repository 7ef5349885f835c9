//! The experiment-file entry of a generative (score-based) method: which trained denoiser,
//! which guidance, which sampler. Pure data: the engine that runs it lives in `assim-gen`, so
//! that assim-core keeps no ML dependency and still validates every key of the file.

use serde::{Deserialize, Serialize};

use super::MethodConfig;
use crate::AssimError;

/// A generative analysis: `n` members sampled as one batch from the diffusion prior of
/// `checkpoint`, guided towards the observations by `guidance`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenerativeConfig {
    /// The denoiser checkpoint written by `assim train denoiser` (relative paths are relative
    /// to the working directory).
    pub checkpoint: String,
    /// Ensemble size: members sampled per analysis.
    pub n: usize,
    /// How the observations steer the reverse process.
    #[serde(default)]
    pub guidance: GuidanceConfig,
    /// `"heun"`, `"euler"` or `"pc"` (predictor–corrector).
    #[serde(default = "default_sampler")]
    pub sampler: String,
    /// Noise levels of the Karras grid (≥ 1).
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Langevin corrections per step (`sampler = "pc"` only).
    #[serde(default = "default_corrections")]
    pub corrections: usize,
    /// Signal-to-noise ratio of a Langevin step (`sampler = "pc"` only).
    #[serde(default = "default_snr")]
    pub snr: f64,
    /// Largest noise level of the sampling grid, in normalised units (default: the
    /// checkpoint's). A background-conditioned prior is narrow, so a few units suffice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_max: Option<f64>,
    /// Multiplicative inflation of the analysis anomalies about their mean (1 = none).
    #[serde(default = "one")]
    pub infl: f64,
    /// Widening of an increment prior: the analysis is `x_b + prior_infl·ρ·z`, so the prior's
    /// spread about the background grows by this factor (the generative counterpart of
    /// 3D-Var's `xb`; 1 = as trained; ignored by state priors).
    #[serde(default = "one")]
    pub prior_infl: f64,
    /// On the sphere, what the sampled latent `z_a` becomes: `"decoded"` (default, LO-SDA's
    /// analysis `D(z_a)`, bounded by the autoencoder's reconstruction floor) or `"increment"`
    /// (the background the prior was conditioned on, the forecast mean or each member's
    /// forecast, plus the decoded latent increment, `x_b + D(z_a) − D(z_b)`:
    /// what the autoencoder cannot represent is kept from the forecast instead of lost).
    #[serde(default, skip_serializing_if = "LatentAnalysis::is_decoded")]
    pub latent_analysis: LatentAnalysis,
    /// With `latent_analysis = "increment"`: the fraction κ of the forecast's unrepresentable
    /// part that is kept, `x_a = D(z_a) + κ (x_b − D(z_b))` (1: the increment analysis,
    /// 0: `D(z_a)`). Observations never correct that part, so its error can only grow
    /// across cycles; κ < 1 damps it towards the decoder's smooth field.
    #[serde(default = "one")]
    pub keep: f64,
    /// A classical method that cycles in this one's place for its first analyses, whose last
    /// analysis then starts the generative ensemble (an operational system's cold start: a
    /// prior trained on spun-up backgrounds cannot pull in a climatological first guess).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spinup: Option<Spinup>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The cold start of a generative method (see [`GenerativeConfig::spinup`]).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spinup {
    /// Analyses made by `method` (all inside the burn-in, so none is scored as this one's).
    pub windows: usize,
    /// The classical method, as a `[[methods]]` entry (e.g. `{ method = "Var3D", xb = 0.01 }`).
    pub method: Box<MethodConfig>,
}

/// How a latent analysis returns to the model state (see [`GenerativeConfig::latent_analysis`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LatentAnalysis {
    /// `D(z_a)`.
    #[default]
    Decoded,
    /// `x_b + D(z_a) − D(z_b)`.
    Increment,
}

impl LatentAnalysis {
    fn is_decoded(&self) -> bool {
        *self == LatentAnalysis::Decoded
    }
}

/// How latent optimisation minimises its objective.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// `iters` Adam steps of size about `lr` (LO-SDA's choice): every component moves by about
    /// `lr` per step, however weak its gradient.
    #[default]
    Adam,
    /// One Gauss–Newton step, linearised at x̂₀: `z = x̂₀ + λ H'ᵀ (R + λ H'H'ᵀ)⁻¹ (y − H(x̂₀))`,
    /// solved by `iters` conjugate-gradient iterations in observation space; components the
    /// observations do not see stay at x̂₀.
    GaussNewton,
}

/// Observation guidance of the reverse process (DESIGN.md §7); each wraps the prior denoiser.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GuidanceConfig {
    /// No guidance: samples of the prior alone (the background-conditioned p(x | x_b)).
    #[default]
    None,
    /// Diffusion posterior sampling (Chung et al. 2023): x̂₀ ← x̂₀ − ζ ∇_{x_t}‖(y − H(x̂₀))/σ_y‖.
    Dps {
        /// Step size ζ.
        zeta: f64,
    },
    /// SDA (Rozet & Louppe 2023): Gaussian likelihood with variance σ_y² + Γ h'² σ²/(1+σ²).
    SdaGamma {
        /// The inflation Γ of the denoiser's uncertainty (normalised units).
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// MMPS (Appa; Rozet et al. 2024): Tweedie covariance σ² ∂x̂₀/∂x_t by VJPs, conjugate
    /// gradients on (R + H Σ Hᵀ) v = r.
    Mmps {
        /// Conjugate-gradient iterations (1–3 in Appa).
        #[serde(default = "default_cg")]
        cg_iters: usize,
    },
    /// LO-SDA's latent optimisation (of the state, or of the latent through the decoder):
    /// ½‖z − x̂₀‖²/λ + ½‖(y − H(z))/σ_y‖² minimised from z = x̂₀ at the steps with
    /// σ ≤ `sigma_below`, by a few Adam steps or by one Gauss–Newton step.
    LatentOptimization {
        /// Adam iterations, or conjugate-gradient iterations of the Gauss–Newton solve.
        #[serde(default = "default_iters")]
        iters: usize,
        /// Adam learning rate (normalised units; unused by Gauss–Newton).
        #[serde(default = "default_lr")]
        lr: f64,
        /// Proximity weight λ (normalised units²): small keeps z near the prior's estimate.
        #[serde(default = "one")]
        lambda: f64,
        /// Optimise only at noise levels at or below this one (default: every step).
        #[serde(default = "infinity")]
        sigma_below: f64,
        /// How the objective is minimised (default Adam, as in LO-SDA).
        #[serde(default)]
        optimizer: Optimizer,
        /// The posterior-sampling guidance followed at every step before the optimisation
        /// (`dps`, `sda_gamma` or `mmps`; default none: the prior's estimate alone). LO-SDA
        /// pairs a score-based sampler with the latent optimisation, so the optimisation
        /// corrects an estimate the observations already steer at large σ.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        score: Option<Box<GuidanceConfig>>,
    },
    /// RePaint (Lugmayr et al. 2022; DiffDA): observed variables of the estimate replaced by
    /// the observations. Needs observations of state variables (the identity operator).
    #[serde(rename = "repaint")]
    RePaint,
}

impl GuidanceConfig {
    /// Short name for tables.
    pub fn name(&self) -> String {
        match self {
            GuidanceConfig::None => "prior".into(),
            GuidanceConfig::Dps { zeta } => format!("DPS ζ={zeta}"),
            GuidanceConfig::SdaGamma { gamma } => format!("SDA Γ={gamma}"),
            GuidanceConfig::Mmps { cg_iters } => format!("MMPS cg={cg_iters}"),
            GuidanceConfig::LatentOptimization { iters, lambda, sigma_below, optimizer, score, .. } => {
                let mut s = match optimizer {
                    Optimizer::Adam => format!("LO it={iters} λ={lambda}"),
                    Optimizer::GaussNewton => format!("LO-GN cg={iters} λ={lambda}"),
                };
                if sigma_below.is_finite() {
                    s.push_str(&format!(" σ≤{sigma_below}"));
                }
                if let Some(g) = score {
                    s.push_str(&format!(" on {}", g.name()));
                }
                s
            }
            GuidanceConfig::RePaint => "RePaint".into(),
        }
    }
}

fn default_sampler() -> String {
    "heun".into()
}
fn default_steps() -> usize {
    32
}
fn default_corrections() -> usize {
    1
}
fn default_snr() -> f64 {
    0.16
}
fn default_gamma() -> f64 {
    1e-2
}
fn default_cg() -> usize {
    1
}
fn default_iters() -> usize {
    5
}
fn default_lr() -> f64 {
    0.1
}
fn one() -> f64 {
    1.0
}
fn infinity() -> f64 {
    f64::INFINITY
}

impl GenerativeConfig {
    /// The generated display name.
    pub fn auto_label(&self) -> String {
        let mut s = format!("Gen {} N={} {}{}", self.guidance.name(), self.n, self.sampler, self.steps);
        if self.latent_analysis == LatentAnalysis::Increment {
            s.push_str(" x_b+ΔD");
            if self.keep != 1.0 {
                s.push_str(&format!(" keep={}", self.keep));
            }
        }
        if self.prior_infl != 1.0 {
            s.push_str(&format!(" pinfl={}", self.prior_infl));
        }
        if self.infl != 1.0 {
            s.push_str(&format!(" infl={}", self.infl));
        }
        if let Some(sp) = &self.spinup {
            s.push_str(&format!(" from {} ({})", sp.method.label(), sp.windows));
        }
        s
    }

    /// Checks the generative keys (`n` and `infl` are checked with every method's, by
    /// [`super::Experiment::validate`]); `key(k)` names a key in error messages.
    pub fn validate(
        &self,
        file: &str,
        key: &dyn Fn(&str) -> String,
        linear_identity_obs: bool,
    ) -> Result<(), AssimError> {
        let err = |k: &str, msg: String| Err(AssimError::config(file, key(k), msg));
        if self.checkpoint.trim().is_empty() {
            return err("checkpoint", "give the path of a trained denoiser".into());
        }
        if !["heun", "euler", "pc"].contains(&self.sampler.as_str()) {
            return err(
                "sampler",
                format!("unknown sampler {:?}: use \"heun\", \"euler\" or \"pc\"", self.sampler),
            );
        }
        if self.steps == 0 {
            return err("steps", "the number of sampling steps must be ≥ 1".into());
        }
        if !(self.snr.is_finite() && self.snr > 0.0) {
            return err("snr", format!("must be positive (got {})", self.snr));
        }
        if let Some(s) = self.sigma_max
            && !(s.is_finite() && s > 0.0)
        {
            return err("sigma_max", format!("must be positive (got {s})"));
        }
        if !(self.prior_infl.is_finite() && self.prior_infl > 0.0) {
            return err("prior_infl", format!("must be a positive factor (got {})", self.prior_infl));
        }
        if !(0.0..=1.0).contains(&self.keep) {
            return err("keep", format!("must be in [0, 1] (got {})", self.keep));
        }
        if self.keep != 1.0 && self.latent_analysis != LatentAnalysis::Increment {
            return err("keep", "applies to latent_analysis = \"increment\" only".into());
        }
        validate_guidance(&self.guidance, "guidance", &err, linear_identity_obs)
    }
}

/// Checks one guidance entry; `at` is its key (`guidance`, or `guidance.score` for the
/// posterior-sampling guidance under a latent optimisation), and `err(key, message)` builds
/// the error.
fn validate_guidance(
    g: &GuidanceConfig,
    at: &str,
    err: &dyn Fn(&str, String) -> Result<(), AssimError>,
    linear_identity_obs: bool,
) -> Result<(), AssimError> {
    let k = |name: &str| format!("{at}.{name}");
    let positive = |name: &str, v: f64| -> Result<(), AssimError> {
        if v.is_finite() && v > 0.0 { Ok(()) } else { err(&k(name), format!("must be positive (got {v})")) }
    };
    match g {
        GuidanceConfig::None => {}
        GuidanceConfig::Dps { zeta } => positive("zeta", *zeta)?,
        GuidanceConfig::SdaGamma { gamma } => {
            if !(gamma.is_finite() && *gamma >= 0.0) {
                return err(&k("gamma"), format!("must be ≥ 0 (got {gamma})"));
            }
        }
        GuidanceConfig::Mmps { cg_iters } => {
            if *cg_iters == 0 {
                return err(&k("cg_iters"), "must be ≥ 1".into());
            }
        }
        GuidanceConfig::LatentOptimization { iters, lr, lambda, sigma_below, score, .. } => {
            if *iters == 0 {
                return err(&k("iters"), "must be ≥ 1".into());
            }
            positive("lr", *lr)?;
            positive("lambda", *lambda)?;
            if sigma_below.is_nan() || *sigma_below <= 0.0 {
                return err(&k("sigma_below"), format!("must be positive or inf (got {sigma_below})"));
            }
            if let Some(score) = score {
                if !matches!(
                    **score,
                    GuidanceConfig::Dps { .. }
                        | GuidanceConfig::SdaGamma { .. }
                        | GuidanceConfig::Mmps { .. }
                ) {
                    return err(
                        &k("score.kind"),
                        format!("must be dps, sda_gamma or mmps (got {:?})", score.name()),
                    );
                }
                validate_guidance(score, &k("score"), err, linear_identity_obs)?;
            }
        }
        GuidanceConfig::RePaint => {
            if !linear_identity_obs {
                return err(
                    &k("kind"),
                    "RePaint replaces observed state variables, so it needs observations of the state itself \
                     (observations.operator = \"identity\")"
                        .into(),
                );
            }
        }
    }
    Ok(())
}
