//! The experiment-file entry of a generative (score-based) method, `method = "Generative"`:
//! which trained denoiser, which guidance, which sampler, and how the sample returns to the
//! model state. Registered with the classical methods by [`crate::methods`].

use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::BedConfig;
use assim_core::classical::Assimilator;
use assim_core::classical::taper::{self, TaperConfig};
use assim_core::experiment::{Method, MethodCheck, MethodEntry, Need, defaults};

use crate::guidance::{GuidanceConfig, GuidanceWindow};
use crate::prior::sampler::Sampler;

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
    /// The noise levels at which the guidance acts, `{ above = a, below = b }` for
    /// `a < σ ≤ b` (default: every step); the prior alone elsewhere.
    #[serde(default, skip_serializing_if = "GuidanceWindow::is_everywhere")]
    pub guide_sigma: GuidanceWindow,
    /// `"heun"`, `"euler"` or `"pc"` (predictor–corrector).
    #[serde(default)]
    pub sampler: SamplerKind,
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
    #[serde(default = "defaults::one")]
    pub infl: f64,
    /// Widening of an increment prior: the analysis is `x_b + prior_infl·ρ·z`, so the prior's
    /// spread about the background grows by this factor (the generative counterpart of
    /// 3D-Var's `xb`; 1 = as trained; ignored by state priors).
    #[serde(default = "defaults::one")]
    pub prior_infl: f64,
    /// For a latent prior, what the sampled latent `z_a` becomes: `"decoded"` (default, LO-SDA's
    /// analysis `D(z_a)`, bounded by the autoencoder's reconstruction floor) or `"increment"`
    /// (the background the prior was conditioned on, the forecast mean or each member's
    /// forecast, plus the decoded latent increment, `x_b + D(z_a) − D(z_b)`: what the
    /// autoencoder cannot represent is kept from the forecast instead of lost).
    #[serde(default, skip_serializing_if = "LatentAnalysis::is_decoded")]
    pub latent_analysis: LatentAnalysis,
    /// With `latent_analysis = "increment"`: the fraction κ of the forecast's unrepresentable
    /// part that is kept, `x_a = D(z_a) + κ (x_b − D(z_b))` (1: the increment analysis,
    /// 0: `D(z_a)`). Observations never correct that part, so its error can only grow across
    /// cycles; κ < 1 damps it towards the decoder's smooth field.
    #[serde(default = "defaults::one")]
    pub keep: f64,
    /// With `latent_analysis = "increment"`: per-field weights on the returned increment,
    /// `x_a = x_b + w (x̃_a − x_b)`, keyed by a field's name or the end of it after `_`
    /// (`{ "50hPa" = 0.5 }` weighs every field of the 50 hPa level; a field two keys name takes
    /// the smaller weight; unnamed fields keep 1).
    /// The operational taper of increments where the analysis adds more noise than it removes
    /// (the model top, where the decoder's error changes with the latent and the forecast
    /// keeps it for weeks). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taper: Option<TaperConfig>,
    /// With `latent_analysis = "increment"` and a mean-conditioned prior: the guidance fits
    /// the observations with the analysis as it will be returned, `D(z) + κ (x_b − D(z_b))`,
    /// instead of the decoded `D(z)`; otherwise the fit leaves the analysis off the
    /// observations by `H (x_b − D(z_b))`, the background's reconstruction error (default
    /// false: every earlier run as it was).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guide_on_analysis: bool,
    /// The observing systems the guidance assimilates through their operators (names as in
    /// the bed's `modalities`, e.g. `["station", "sounder"]`; default: every one observed).
    /// With `channels_from`, each system can enter the analysis as a conditioning channel, through
    /// its operator, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guide_with: Option<Vec<String>>,
    /// For a prior conditioned on observation channels: the observing systems whose
    /// observations fill them (default: every one observed); the others' channels are empty,
    /// as where a system does not observe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels_from: Option<Vec<String>>,
    /// For a trajectory prior (one trained with `data.blanket = k`, [`crate::latent::blanket`]):
    /// the windows of the analysed trajectory, the current one last and the others the
    /// analyses already made (≥ 2k + 1; longer ones are denoised blanket by blanket, SDA's
    /// construction). Required for such a prior, refused for a one-window prior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<usize>,
    /// How closely a trajectory's past windows are held to the analyses made there: the
    /// standard deviation of their Gaussian likelihood in the prior's variable (its unit is
    /// the prior's training spread).
    #[serde(default = "default_blanket_sigma", skip_serializing_if = "is_default_blanket_sigma")]
    pub blanket_sigma: f64,
    /// A classical method that cycles in this one's place for its first analyses, whose last
    /// analysis then starts the generative ensemble (an operational system's cold start: a
    /// prior trained on spun-up backgrounds cannot pull in a climatological first guess).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spinup: Option<Spinup>,
}

/// Which integrator walks the noise levels (see [`Sampler`]).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// EDM's second-order Heun.
    #[default]
    Heun,
    /// First-order Euler (DDIM).
    Euler,
    /// Euler predictor with Langevin corrections.
    Pc,
}

impl SamplerKind {
    /// Its name in labels and files.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::Heun => "heun",
            SamplerKind::Euler => "euler",
            SamplerKind::Pc => "pc",
        }
    }

    /// The integrator; `corrections` and `snr` are the predictor–corrector's Langevin steps.
    pub fn sampler(self, corrections: usize, snr: f64) -> Sampler {
        match self {
            SamplerKind::Heun => Sampler::Heun,
            SamplerKind::Euler => Sampler::Euler,
            SamplerKind::Pc => Sampler::PredictorCorrector { corrections, snr },
        }
    }
}

/// The cold start of a generative method (see [`GenerativeConfig::spinup`]). Written back
/// with the classical method's defaults filled in.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spinup {
    /// Analyses made by `method` (all inside the burn-in, so none is scored as this one's).
    pub windows: usize,
    /// The classical method, as a `[[methods]]` entry (e.g. `{ method = "Var3D", xb = 0.01 }`).
    pub method: toml::Value,
}

impl Spinup {
    /// The classical method of the spin-up.
    pub fn entry(&self) -> Result<MethodEntry, String> {
        assim_core::classical::registry().parse(&self.method)
    }
}

impl Serialize for Spinup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let method = self.entry().map_or_else(|_| self.method.clone(), |e| e.entry());
        let mut st = s.serialize_struct("Spinup", 2)?;
        st.serialize_field("windows", &self.windows)?;
        st.serialize_field("method", &method)?;
        st.end()
    }
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

fn default_blanket_sigma() -> f64 {
    0.5
}
fn is_default_blanket_sigma(s: &f64) -> bool {
    *s == default_blanket_sigma()
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

impl GenerativeConfig {
    /// The sampler this entry names.
    pub fn sampler(&self) -> Sampler {
        self.sampler.sampler(self.corrections, self.snr)
    }

    /// Checks the spin-up entry: a classical method whose analyses all fall in the burn-in.
    fn validate_spinup(&self, sp: &Spinup, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        let entry = sp
            .entry()
            .map_err(|m| check.error("spinup.method", format!("must be a classical method: {m}")))?;
        let chrono = check.chrono;
        if sp.windows == 0 || sp.windows > chrono.n_obs_times() || chrono.is_averaged(sp.windows - 1) {
            let scored = (0..chrono.n_obs_times()).find(|&k| chrono.is_averaged(k)).unwrap_or(0);
            return Err(check.error(
                "spinup.windows",
                format!(
                    "must be in 1..={scored}: the spin-up's analyses must all fall inside the burn-in (got {})",
                    sp.windows
                ),
            ));
        }
        check.nested("spinup.method").check(&entry)
    }
}

impl Method for GenerativeConfig {
    const NAME: &'static str = "Generative";

    fn auto_label(&self) -> String {
        let mut s =
            format!("Gen {} N={} {}{}", self.guidance.name(), self.n, self.sampler.name(), self.steps);
        if !self.guide_sigma.is_everywhere() {
            s.push_str(&format!(" guided σ∈({},{}]", self.guide_sigma.above, self.guide_sigma.below));
        }
        if self.latent_analysis == LatentAnalysis::Increment {
            s.push_str(" x_b+ΔD");
            if self.keep != 1.0 {
                s.push_str(&format!(" keep={}", self.keep));
            }
            if self.guide_on_analysis {
                s.push_str(" guided on x_a");
            }
            if let Some(t) = &self.taper {
                s.push_str(&format!(" taper {}", taper::describe(t)));
            }
        }
        if self.prior_infl != 1.0 {
            s.push_str(&format!(" pinfl={}", self.prior_infl));
        }
        if self.infl != 1.0 {
            s.push_str(&format!(" infl={}", self.infl));
        }
        if let Some(l) = self.trajectory {
            s.push_str(&format!(" trajectory {l}"));
        }
        if let Some(g) = &self.guide_with {
            s.push_str(&format!(" guided with {}", g.join("+")));
        }
        if let Some(c) = &self.channels_from {
            s.push_str(&format!(" channels from {}", c.join("+")));
        }
        if let Some(sp) = &self.spinup {
            let label = sp.entry().map_or_else(|_| "?".into(), |m| m.label());
            s.push_str(&format!(" from {label} ({})", sp.windows));
        }
        s
    }

    fn needs(&self) -> Vec<Need> {
        vec![Need::Grid]
    }

    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.ensemble_size("n", self.n)?;
        check.inflation("infl", self.infl)?;
        if self.checkpoint.trim().is_empty() {
            return Err(check.error("checkpoint", "give the path of a trained denoiser"));
        }
        if self.steps == 0 {
            return Err(check.error("steps", "the number of sampling steps must be ≥ 1"));
        }
        check.positive("snr", self.snr)?;
        if let Some(s) = self.sigma_max {
            check.positive("sigma_max", s)?;
        }
        if !(self.prior_infl.is_finite() && self.prior_infl > 0.0) {
            return Err(
                check.error("prior_infl", format!("must be a positive factor (got {})", self.prior_infl))
            );
        }
        if !(0.0..=1.0).contains(&self.keep) {
            return Err(check.error("keep", format!("must be in [0, 1] (got {})", self.keep)));
        }
        if self.keep != 1.0 && self.latent_analysis != LatentAnalysis::Increment {
            return Err(check.error("keep", "applies to latent_analysis = \"increment\" only"));
        }
        if self.guide_on_analysis && self.latent_analysis != LatentAnalysis::Increment {
            return Err(check.error("guide_on_analysis", "applies to latent_analysis = \"increment\" only"));
        }
        if let Some(t) = &self.taper {
            if self.latent_analysis != LatentAnalysis::Increment {
                return Err(check.error("taper", "applies to latent_analysis = \"increment\" only"));
            }
            taper::validate(t, "taper", check)?;
        }
        check.positive("blanket_sigma", self.blanket_sigma)?;
        for (key, names) in [("guide_with", &self.guide_with), ("channels_from", &self.channels_from)] {
            let Some(names) = names else { continue };
            let known = check.bed.field_grid().map(|g| g.modalities).unwrap_or_default();
            if known.is_empty() {
                return Err(check.error(key, "this bed does not name its observing systems"));
            }
            if let Some(n) = names.iter().find(|n| !known.contains(n)) {
                return Err(check.error(
                    key,
                    format!("\"{n}\" is not an observing system of this experiment ([{}])", known.join(", ")),
                ));
            }
        }
        if self.guide_with.as_ref().is_some_and(Vec::is_empty) {
            return Err(
                check.error("guide_with", "lists no system: leave guidance out (kind = \"none\") instead")
            );
        }
        if let Some(l) = self.trajectory {
            let windows = check.chrono.n_obs_times();
            if l == 0 || l > windows {
                return Err(check.error(
                    "trajectory",
                    format!("must be in 1..={windows}: a trajectory longer than the run's {windows} analyses (got {l})"),
                ));
            }
        }
        self.guidance.validate("guidance", check)?;
        self.guide_sigma.validate("guide_sigma", check)?;
        if let Some(sp) = &self.spinup {
            self.validate_spinup(sp, check)?;
        }
        Ok(())
    }

    fn build(&self, bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        let main = super::GenerativeFilter::new(self, bed)?;
        Ok(match &self.spinup {
            Some(sp) => {
                let first = sp.entry().map_err(AssimError::Input)?.build(bed)?;
                Box::new(super::spinup::SpunUp::new(first, main, sp.windows))
            }
            None => Box::new(main),
        })
    }

    fn is_generative(&self) -> bool {
        true
    }
}
