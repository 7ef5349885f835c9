//! Static-gain analyses: optimal interpolation and 3D-Var with a climatological `B`.

use faer::Mat;

use super::{Assimilator, Estimate, Setup, gain_update, kalman_gain, linear_h};
use crate::AssimError;
use crate::bed::{BedConfig, Covariance, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::rng::AssimRng;

/// Where the background of a static-gain analysis comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// The climatological mean, whatever the forecast says (DAPPER's `OptInterp`).
    Climatology,
    /// The model forecast from the previous analysis (DAPPER's `Var3D`).
    Forecast,
}

/// `x_a = x_b + K (y − H x_b)` with the fixed gain `K = B Hᵀ (H B Hᵀ + R)⁻¹`,
/// `B = xb · cov(truth)`: for a linear `H`, the exact minimiser of the 3D-Var cost.
pub struct StaticGain {
    /// Scale of the climatological covariance used as `B`.
    pub xb: f64,
    /// The background the gain is applied to.
    pub background: Background,
    gain: Mat<f64>,
    state: Vec<f64>,
}

impl StaticGain {
    /// Optimal interpolation: climatological gain on the climatological mean.
    pub fn opt_interp() -> Self {
        Self::new(1.0, Background::Climatology)
    }

    /// 3D-Var with `B = xb · cov(truth)`, cycled on the model forecast.
    pub fn var3d(xb: f64) -> Self {
        Self::new(xb, Background::Forecast)
    }

    fn new(xb: f64, background: Background) -> Self {
        StaticGain { xb, background, gain: Mat::zeros(0, 0), state: Vec::new() }
    }
}

impl Assimilator for StaticGain {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        let h = linear_h(setup, "a static-gain analysis (OptInterp, Var3D)")?;
        let cov = setup.climatology.covariance().ok_or_else(|| {
            AssimError::Input("a static-gain analysis needs the dense climatological covariance".into())
        })?;
        let b = cov * faer::Scale(self.xb);
        self.gain = kalman_gain(b.as_ref(), h.as_ref(), setup.obs_var)?;
        self.state = setup.climatology.mean().to_vec();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        match self.background {
            Background::Climatology => self.state.copy_from_slice(setup.climatology.mean()),
            Background::Forecast => setup.model.advance(&mut self.state, t0, setup.dt, steps),
        }
        Ok(())
    }

    fn analyse(&mut self, setup: &Setup<'_>, y: &[f64], _t: f64, _: &mut AssimRng) -> Result<(), AssimError> {
        gain_update(setup, self.gain.as_ref(), &mut self.state, y);
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.state, var: None }
    }
}

/// `method = "OptInterp"`: no parameters.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OptInterpConfig {}

impl Method for OptInterpConfig {
    const NAME: &'static str = "OptInterp";
    fn auto_label(&self) -> String {
        "OptInterp".into()
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState, Need::LinearObs]
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        Ok(Box::new(StaticGain::opt_interp()))
    }
}

/// `method = "Var3D"`: `B = xb·cov(truth)` on a small state; on the sphere `B = xb·` the
/// climate's isotropic variance spectra, minimised by conjugate gradients
/// ([`super::SpectralVar3D`]).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Var3DConfig {
    /// Scale of `B`.
    #[serde(default = "defaults::one")]
    pub xb: f64,
    /// Largest number of CG iterations (spectral `B`; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iter: Option<usize>,
    /// CG stopping tolerance on the relative residual (spectral `B`; default 1e-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tol: Option<f64>,
    /// Outer loops of the incremental minimisation, relinearising a nonlinear `H` (spectral
    /// `B`; default 1, exact for a linear `H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_loops: Option<usize>,
    /// Per-field weights on the increment (spectral `B`; [`super::taper`]; default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taper: Option<super::taper::TaperConfig>,
}

impl Var3DConfig {
    /// The spectral 3D-Var on the sphere this entry describes on `bed`, its defaults filled in.
    fn spectral(&self, bed: &dyn BedConfig) -> Result<super::SpectralVar3D, AssimError> {
        let mut v =
            super::SpectralVar3D::new(self.xb, self.max_iter.unwrap_or(100), self.tol.unwrap_or(1e-3));
        v.outer_loops = self.outer_loops.unwrap_or(1);
        v.taper = self.taper.as_ref().map(|t| super::taper::Taper::new(t, bed)).transpose()?;
        Ok(v)
    }
}

impl Method for Var3DConfig {
    const NAME: &'static str = "Var3D";
    fn auto_label(&self) -> String {
        match &self.taper {
            None => format!("Var3D xB={}", self.xb),
            Some(t) => format!("Var3D xB={} taper {}", self.xb, super::taper::describe(t)),
        }
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::TangentLinear]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.positive("xb", self.xb)?;
        if self.max_iter.is_some_and(|m| m == 0) {
            return Err(check.error("max_iter", "must be ≥ 1"));
        }
        if self.tol.is_some_and(|t| !(t.is_finite() && t > 0.0 && t < 1.0)) {
            return Err(check.error("tol", "must be in (0, 1)"));
        }
        if self.outer_loops.is_some_and(|m| m == 0 || m > 20) {
            return Err(check.error("outer_loops", "must be 1 to 20"));
        }
        if let Some(t) = &self.taper {
            super::taper::validate(t, "taper", check)?;
        }
        if check.bed.covariance() == Covariance::Dense
            && (self.max_iter.is_some()
                || self.tol.is_some()
                || self.outer_loops.is_some()
                || self.taper.is_some())
        {
            return Err(check.error(
                "max_iter",
                "max_iter, tol, outer_loops and taper are for the spectral 3D-Var on the sphere",
            ));
        }
        Ok(())
    }
    fn build(&self, bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        Ok(match bed.covariance() {
            Covariance::Dense => Box::new(StaticGain::var3d(self.xb)),
            Covariance::Spectral => Box::new(self.spectral(bed)?),
        })
    }
}
