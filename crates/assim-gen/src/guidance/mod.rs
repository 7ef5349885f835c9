//! Observation guidance: a [`Denoiser`] that wraps the prior's and returns an estimate of
//! `E[x | x_t, y]` instead of `E[x | x_t]` (SDA's and Appa's design, DESIGN.md §7). One file
//! per strategy, each a [`Strategy`] that says what it needs of the test bed; the
//! experiment-file entry [`GuidanceConfig`] names one. Every strategy works with nonlinear
//! observation operators: gradients go through the network (and `H`) by burn's autodiff.
//!
//! In score terms a likelihood term `∇ log p(y | x_t)` adds `σ² ∇ log p(y | x_t)` to the
//! denoiser (since `score = (d − x_t)/σ²`). Shapes: states `[n, nx]` normalised, observations
//! `y` `[1, P]` physical (shared by the members) or `[n, P]`.
//!
//! Adding a strategy: a file here with its parameters and its [`Strategy`], one variant of
//! [`GuidanceConfig`] and one arm of [`GuidanceConfig::strategy`].

mod dps;
mod lo;
mod mmps;
mod repaint;
mod sda;

pub use dps::Dps;
pub use lo::{LatentOptimization, Optimizer};
pub use mmps::Mmps;
pub use repaint::RePaint;
pub use sda::SdaGamma;

use assim_core::AssimError;
use assim_core::experiment::{MethodCheck, Need};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::obs::Observe;
use crate::prior::denoiser::Denoiser;

/// `guidance = { kind = "…", … }`: how the observations steer the reverse process.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GuidanceConfig {
    /// No guidance: samples of the prior alone (the background-conditioned p(x | x_b)).
    #[default]
    None,
    /// Diffusion posterior sampling ([`Dps`]).
    Dps(Dps),
    /// SDA's Γ-inflated Gaussian likelihood ([`SdaGamma`]).
    SdaGamma(SdaGamma),
    /// MMPS's Tweedie covariance ([`Mmps`]).
    Mmps(Mmps),
    /// LO-SDA's latent optimisation ([`LatentOptimization`]).
    LatentOptimization(LatentOptimization),
    /// RePaint ([`RePaint`]).
    #[serde(rename = "repaint")]
    RePaint,
}

impl GuidanceConfig {
    /// The strategy this entry names.
    pub fn strategy(&self) -> &dyn Strategy {
        match self {
            GuidanceConfig::None => &PriorOnly,
            GuidanceConfig::Dps(s) => s,
            GuidanceConfig::SdaGamma(s) => s,
            GuidanceConfig::Mmps(s) => s,
            GuidanceConfig::LatentOptimization(s) => s,
            GuidanceConfig::RePaint => &RePaint,
        }
    }

    /// Short name for tables.
    pub fn name(&self) -> String {
        self.strategy().name()
    }

    /// Checks the entry at key `at` (`guidance`, or `guidance.score` under a latent
    /// optimisation): what it needs of the bed, then its values.
    pub fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        let strategy = self.strategy();
        for need in strategy.needs() {
            if let Some(why) = check.bed.lacks(need) {
                return Err(check.error(
                    &format!("{at}.kind"),
                    format!("{} needs {}: {why}", strategy.name(), need.describe()),
                ));
            }
        }
        strategy.validate(at, check)
    }
}

/// The noise levels at which the guidance acts, `above < σ ≤ below` (default: every step);
/// at the others the prior's own estimate is used. Guidance is the dear part of a latent
/// analysis (a decoder pass per member and step), and at the largest σ its likelihood is
/// flattened by the denoiser's uncertainty while at the smallest its `σ²` factor makes it
/// vanish: a window skips the steps where it does least (BENCHMARKS.md, "Cheap guided
/// analyses", measures what it costs in accuracy).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuidanceWindow {
    /// Guide only above this noise level (normalised units; default 0).
    #[serde(default)]
    pub above: f64,
    /// Guide only at or below this noise level (default: no bound).
    #[serde(default = "assim_core::experiment::defaults::infinity")]
    pub below: f64,
}

impl Default for GuidanceWindow {
    fn default() -> Self {
        GuidanceWindow { above: 0.0, below: f64::INFINITY }
    }
}

impl GuidanceWindow {
    /// Whether the guidance acts at `sigma`.
    pub fn contains(&self, sigma: f64) -> bool {
        sigma > self.above && sigma <= self.below
    }

    /// Whether it is the default (every step).
    pub fn is_everywhere(&self) -> bool {
        *self == GuidanceWindow::default()
    }

    /// Checks the window at key `at`.
    pub fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        if !(self.above >= 0.0 && self.above.is_finite() && self.below > self.above) {
            return Err(check.error(
                at,
                format!("needs 0 ≤ above < below (got above = {}, below = {})", self.above, self.below),
            ));
        }
        Ok(())
    }

    /// How many of `sigmas` it guides.
    pub fn count(&self, sigmas: &[f64]) -> usize {
        sigmas.iter().filter(|&&s| s > 0.0 && self.contains(s)).count()
    }
}

/// One guidance strategy: its estimate of `E[x | x_t, y]` from the prior's, and what it needs.
pub trait Strategy: Send + Sync {
    /// Short name for tables (e.g. `DPS ζ=0.3`).
    fn name(&self) -> String;
    /// What it needs of the test bed beyond the method's own needs.
    fn needs(&self) -> Vec<Need> {
        Vec::new()
    }
    /// Checks its values; `at` is its key (`check.error(&format!("{at}.zeta"), …)`).
    fn validate(&self, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        let _ = (at, check);
        Ok(())
    }
    /// Whether it is a posterior-sampling guidance (one a latent optimisation may follow).
    fn samples_posterior(&self) -> bool {
        false
    }
    /// The guided estimate at `x` (`[n, nx]`) and noise level `sigma`.
    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2>;
}

/// No guidance: the prior's own estimate.
struct PriorOnly;

impl Strategy for PriorOnly {
    fn name(&self) -> String {
        "prior".into()
    }
    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        g.prior.denoise(x, sigma, cond)
    }
}

/// The prior denoiser guided towards observations `y` by one strategy.
pub struct Guided<'a> {
    prior: &'a dyn Denoiser,
    obs: &'a dyn Observe,
    y: Tensor<2>,
    guidance: GuidanceConfig,
    window: GuidanceWindow,
}

impl<'a> Guided<'a> {
    /// Guides `prior` towards `y` (physical units, `[1, P]` or `[n, P]`) observed by `obs`.
    pub fn new(
        prior: &'a dyn Denoiser,
        obs: &'a dyn Observe,
        y: Tensor<2>,
        guidance: GuidanceConfig,
    ) -> Self {
        Guided { prior, obs, y, guidance, window: GuidanceWindow::default() }
    }

    /// The same guidance, acting only at the noise levels of `window`.
    pub fn within(self, window: GuidanceWindow) -> Self {
        Guided { window, ..self }
    }

    /// The same prior, operator and observations under another strategy.
    fn with(&self, guidance: GuidanceConfig) -> Guided<'a> {
        Guided { prior: self.prior, obs: self.obs, y: self.y.clone(), guidance, window: self.window }
    }

    /// Innovations `y − H(x̂)` in units of the observation-error std.
    fn standardised_innovation(&self, d: Tensor<2>) -> Tensor<2> {
        (self.y.clone() - self.obs.apply(d)) / self.obs.var().sqrt()
    }

    /// `x̂ = d(x)` and `∇_x f(d(x))`: one forward and one backward pass of the prior.
    fn value_and_grad(
        &self,
        x: &Tensor<2>,
        sigma: f64,
        cond: Option<&Tensor<2>>,
        f: impl FnOnce(Tensor<2>) -> Tensor<1>,
    ) -> (Tensor<2>, Tensor<2>) {
        let xg = x.clone().without_autodiff().autodiff().require_grad();
        let d = self.prior.denoise(xg.clone(), sigma, cond);
        let grads = f(d.clone()).backward();
        let g = xg.grad(&grads).expect("the input of a guided denoiser has a gradient");
        (d.without_autodiff(), g)
    }

    /// The vector–Jacobian product `(∂d/∂x)ᵀ u`.
    fn vjp(&self, x: &Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>, u: Tensor<2>) -> Tensor<2> {
        self.value_and_grad(x, sigma, cond, |d| (d * u).sum()).1
    }

    /// `v` with `(R + H' B H'ᵀ) v = y − H(d)` by `iters` conjugate-gradient iterations per
    /// member, H' the Jacobian of H at `d` and `b(u) = B u` a covariance on the state space
    /// (MMPS's Tweedie covariance, or Gauss–Newton's λ I).
    fn solve_gain(&self, d: &Tensor<2>, iters: usize, b: impl Fn(Tensor<2>) -> Tensor<2>) -> Tensor<2> {
        let r = self.y.clone() - self.obs.apply(d.clone());
        let var = self.obs.var();
        let apply_a = |v: Tensor<2>| -> Tensor<2> {
            let bu = b(self.obs.vjp(d, v.clone()));
            v * var.clone() + self.obs.jvp(d, bu)
        };
        let dot = |a: &Tensor<2>, b: &Tensor<2>| (a.clone() * b.clone()).sum_dim(1);
        let mut v = r.zeros_like();
        let mut res = r.clone();
        let mut p = r;
        let mut rr = dot(&res, &res);
        for k in 0..iters {
            let ap = apply_a(p.clone());
            // pᵀAp ≥ pᵀRp for a positive semi-definite B (the exact Tweedie covariance); a
            // learned Jacobian can break that, and the floor keeps the step bounded.
            let floor = dot(&p, &(p.clone() * var.clone()));
            let alpha = rr.clone() / (dot(&p, &ap).max_pair(floor) + 1e-30);
            v = v + p.clone() * alpha.clone();
            if k + 1 == iters {
                break;
            }
            res = res - ap * alpha;
            let rr_new = dot(&res, &res);
            let beta = rr_new.clone() / (rr.clone() + 1e-30);
            p = res.clone() + p * beta;
            rr = rr_new;
        }
        v
    }
}

impl Denoiser for Guided<'_> {
    fn denoise(&self, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        if self.window.contains(sigma) {
            self.guidance.strategy().denoise(self, x, sigma, cond)
        } else {
            self.prior.denoise(x, sigma, cond)
        }
    }
}
