//! Latent 3D-Var and 4D-Var: the variational analysis with the autoencoder's latent as the
//! control (Melinc & Zaplotnik 2024; the latent variational baseline of the LO-SDA and
//! Align-DA group), the method that isolates what a diffusion prior adds over the latent space
//! alone.
//!
//! With `D` the decoder (physical units), `z_b = E(x_b)` the background's latent and
//! `B_z = xb · diag(σ²)`:
//!
//! ```text
//! J(z) = ½ (z − z_b)ᵀ B_z⁻¹ (z − z_b) + ½ ‖R^{-1/2} (y − H(M(c + D(z))))‖²
//! ```
//!
//! `c = x_b − D(z_b)` (the `"increment"` analysis: what the autoencoder cannot represent of the
//! background is kept, as the other latent methods do) or `0` (`"decoded"`: the analysis is
//! `D(z_a)`, bounded by the autoencoder's floor). Latent 3D-Var (`lag = 0`) has no model: `x_b`
//! is the forecast at the analysis time. Latent 4D-Var (`lag ≥ 1`) controls the window's start,
//! `M` is the forecast over the window's `lag` cycles, windows slide as 4D-Var's
//! ([`assim_core::classical::Var4D`]).
//!
//! In the control `w` (`z = z_b + √xb σ ⊙ w`), Gauss–Newton outer loops relinearise `D`, `M`
//! and `H`; each inner loop solves `(I + GᵀG) Δw = Gᵀd − w` by conjugate gradients, with `G`
//! applied through central differences of the decoder (burn has no forward-mode autodiff),
//! the model's tangent-linear and `H'`, and `Gᵀ` through `H'ᵀ`, the model's adjoint and the
//! decoder's reverse-mode gradient.
//!
//! `σ²` per latent number is the variance of the latent difference between climate states and
//! their forecasts one cycle on (the persistence-forecast differences Melinc & Zaplotnik
//! measure their `B` from), computed at the first forecast from up to 64 climate states.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::bed::{BedConfig, Need};
use assim_core::classical::{
    Assimilator, Estimate, LinearisedWindow, Setup, SlidingWindow, check_lag, gauss_newton_step,
};
use assim_core::experiment::{Method, MethodCheck};
use assim_core::rng::{AssimRng, stream};

use crate::latent::space::TrainedAutoencoder;
use crate::tensor::{from_rows, to_rows};

/// What a latent variational analysis returns.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LatentVarAnalysis {
    /// `x_b + D(z_a) − D(z_b)`: the latent increment, decoded, on the background.
    #[default]
    Increment,
    /// `D(z_a)`: the decoded latent.
    Decoded,
}

/// Climate states the latent background variances are estimated from (fewer if the climate
/// sample is smaller).
const B_SAMPLES: usize = 64;

/// Latent 3D-Var (`lag = 0`) or 4D-Var (`lag ≥ 1` cycles).
pub struct LatentVar {
    ae: Arc<TrainedAutoencoder>,
    cfg: LatentVarConfig,
    /// `√(xb σ²)` per latent number, once estimated.
    b_sd: Vec<f64>,
    /// 4D-Var's window (unused by 3D-Var).
    window: SlidingWindow,
    /// 4D-Var's state at the window's start (unused by 3D-Var).
    start: Vec<f64>,
    /// The estimate at the latest time (forecast, then analysis).
    current: Vec<f64>,
    outer_loops: usize,
    cg_iterations: usize,
    /// Sum over analyses of the final cost over the background's.
    cost_ratio: f64,
    analyses: usize,
}

impl LatentVar {
    /// The decoded physical state of latent `z` (length `nz`).
    fn decode(&self, z: &[f64]) -> Vec<f64> {
        let dev = self.ae.device();
        self.ae.decode_states(from_rows(z, 1, z.len(), dev)).pop().expect("one state")
    }

    /// `D'(z)ᵀ λ` (physical cotangent, latent gradient).
    fn decode_adjoint(&self, z: &[f64], lam: &[f64]) -> Vec<f64> {
        to_rows(&self.ae.decode_vjp(from_rows(z, 1, z.len(), self.ae.device()), lam))
    }

    /// `σ²` of the latent differences between climate states and their forecasts over one
    /// cycle of `steps` model steps.
    fn estimate_b(&mut self, setup: &Setup<'_>, steps: usize) -> Result<(), AssimError> {
        // As many climate states as the sample holds, up to B_SAMPLES.
        let avail = (2..=B_SAMPLES)
            .rev()
            .find(|&n| setup.climatology.sample(n, &mut stream(0, "latent-var-b")).is_ok())
            .ok_or_else(|| {
                AssimError::Input("latent Var needs at least 2 climate states for its B".into())
            })?;
        let sample = setup.climatology.sample(avail, &mut stream(0, "latent-var-b"))?;
        let states: Vec<Vec<f64>> = (0..avail).map(|j| sample.col(j).iter().copied().collect()).collect();
        let forecasts: Vec<Vec<f64>> = states
            .iter()
            .map(|x| {
                let mut f = x.clone();
                setup.model.advance(&mut f, 0.0, setup.dt, steps);
                f
            })
            .collect();
        let enc =
            |xs: &[Vec<f64>]| to_rows(&self.ae.encode(&xs.iter().map(|x| x.as_slice()).collect::<Vec<_>>()));
        let (a, b) = (enc(&states), enc(&forecasts));
        let nz = self.ae.latent_dim();
        let diffs: Vec<f64> = a.iter().zip(&b).map(|(p, q)| q - p).collect();
        let xb = self.cfg.xb;
        self.b_sd = (0..nz)
            .map(|j| {
                let col: Vec<f64> = (0..avail).map(|i| diffs[i * nz + j]).collect();
                let mean = col.iter().sum::<f64>() / avail as f64;
                let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (avail - 1) as f64;
                (xb * var).sqrt()
            })
            .collect();
        Ok(())
    }
}

fn no_adjoint() -> AssimError {
    AssimError::Input("latent 4D-Var needs a model with a tangent-linear and an adjoint".into())
}

impl Assimilator for LatentVar {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        if setup.model.dim() != self.ae.state_dim() {
            return Err(AssimError::Input(format!(
                "the autoencoder's grid has {} numbers, the model's state {}",
                self.ae.state_dim(),
                setup.model.dim()
            )));
        }
        self.start = setup.x0.mean().to_vec();
        self.current = self.start.clone();
        self.window.reset();
        self.b_sd.clear();
        if self.cfg.lag > 0 && setup.model.linearise(&mut self.start.clone(), 0.0, setup.dt, 0).is_none() {
            return Err(no_adjoint());
        }
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        if self.b_sd.is_empty() {
            self.estimate_b(setup, steps)?;
        }
        if self.cfg.lag == 0 {
            setup.model.advance(&mut self.current, t0, setup.dt, steps);
            return Ok(());
        }
        self.window.push(t0, steps);
        self.current = self.start.clone();
        self.window.advance(setup, &mut self.current);
        Ok(())
    }

    fn analyse(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        _t: f64,
        _rng: &mut AssimRng,
    ) -> Result<(), AssimError> {
        let four_d = self.cfg.lag > 0;
        // The background where the control lives: the window's start, or the forecast.
        let xb = if four_d { self.start.clone() } else { self.current.clone() };
        let nz = self.ae.latent_dim();
        let nx = xb.len();
        let p = y.len();
        let zb = to_rows(&self.ae.encode(&[&xb]));
        let offset: Vec<f64> = match self.cfg.analysis {
            LatentVarAnalysis::Increment => xb.iter().zip(self.decode(&zb)).map(|(a, d)| a - d).collect(),
            LatentVarAnalysis::Decoded => vec![0.0; nx],
        };
        let latent = |w: &[f64]| -> Vec<f64> { (0..nz).map(|j| zb[j] + self.b_sd[j] * w[j]).collect() };
        let state =
            |z: &[f64]| -> Vec<f64> { self.decode(z).iter().zip(&offset).map(|(d, c)| d + c).collect() };
        let mut w = vec![0.0; nz];
        let mut j0 = None;
        let mut cg_iterations = 0;
        for _ in 0..self.cfg.n_iter {
            let z = latent(&w);
            let mut x_end = state(&z);
            let window =
                if four_d { self.window.linearise(setup, &mut x_end)? } else { LinearisedWindow::default() };
            // F' = M' D'(z) diag(σ_b) and its adjoint.
            let forward = |v: &[f64]| {
                let dz: Vec<f64> = v.iter().zip(&self.b_sd).map(|(a, s)| a * s).collect();
                let mut dx = self.ae.decode_tangent(&z, &dz);
                window.tangent(&mut dx);
                dx
            };
            let backward = |lam: &[f64], out: &mut [f64]| {
                let mut lam = lam.to_vec();
                window.adjoint(&mut lam);
                let gz = self.decode_adjoint(&z, &lam);
                out.iter_mut().zip(gz.iter().zip(&self.b_sd)).for_each(|(o, (g, s))| *o = g * s);
            };
            let (dw, iterations, jo) = gauss_newton_step(
                setup,
                y,
                &x_end,
                &w,
                forward,
                backward,
                self.cfg.cg_max_iter,
                self.cfg.cg_tol,
            )?;
            j0.get_or_insert(jo);
            cg_iterations += iterations;
            w.iter_mut().zip(&dw).for_each(|(a, b)| *a += b);
        }
        // The analysis (3D) or the smoothed window start (4D), decoded without linearisation.
        let analysed = state(&latent(&w));
        self.cg_iterations += cg_iterations;
        self.outer_loops += self.cfg.n_iter;
        if analysed.iter().any(|v| !v.is_finite()) {
            return Err(AssimError::Numerical("latent Var: the analysis is not finite".into()));
        }
        // The cost at the analysis (its observation term through the nonlinear forecast).
        let mut x_end = analysed.clone();
        if four_d {
            self.window.advance(setup, &mut x_end);
        }
        let mut hx = vec![0.0; p];
        setup.obs.apply(&x_end, &mut hx);
        let misfit: f64 = (0..p).map(|k| ((y[k] - hx[k]) * (1.0 / setup.obs_var[k].sqrt())).powi(2)).sum();
        let j = 0.5 * w.iter().map(|v| v * v).sum::<f64>() + 0.5 * misfit;
        let j0 = j0.unwrap_or(j);
        self.cost_ratio += if j0 > 0.0 { j / j0 } else { 1.0 };
        self.analyses += 1;
        if !four_d {
            self.current = analysed;
            return Ok(());
        }
        self.current = x_end;
        let mut smoothed = analysed;
        if let Some((t0, steps)) = self.window.after_analysis() {
            setup.model.advance(&mut smoothed, t0, setup.dt, steps);
        }
        self.start = smoothed;
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.current, var: None }
    }

    fn diagnostics(&self) -> Vec<(&'static str, f64)> {
        let loops = self.outer_loops.max(1) as f64;
        vec![
            ("cg_iterations_per_outer_loop", self.cg_iterations as f64 / loops),
            ("cost_reduction", self.cost_ratio / self.analyses.max(1) as f64),
        ]
    }
}

/// `method = "LatentVar"`: latent 3D-Var (`lag = 0`) or 4D-Var (`lag ≥ 1`) in an autoencoder's
/// latent, Gauss–Newton with conjugate-gradient inner loops.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatentVarConfig {
    /// The autoencoder checkpoint written by `assim train autoencoder` (relative paths are
    /// relative to the working directory).
    pub autoencoder: String,
    /// Scale of `B_z` (the latent forecast-difference variances).
    #[serde(default = "one")]
    pub xb: f64,
    /// 0: latent 3D-Var at the analysis time; `k ≥ 1`: latent 4D-Var over windows of `k`
    /// cycles (sliding as 4D-Var's).
    #[serde(default)]
    pub lag: usize,
    /// Outer loops (Gauss–Newton relinearisations).
    #[serde(default = "two")]
    pub n_iter: usize,
    /// Largest number of CG iterations per outer loop.
    #[serde(default = "twenty")]
    pub cg_max_iter: usize,
    /// CG stops at this relative residual.
    #[serde(default = "cg_tol")]
    pub cg_tol: f64,
    /// `"increment"` (default) or `"decoded"`.
    #[serde(default)]
    pub analysis: LatentVarAnalysis,
}

fn one() -> f64 {
    1.0
}

fn two() -> usize {
    2
}

fn twenty() -> usize {
    20
}

fn cg_tol() -> f64 {
    1e-3
}

impl Method for LatentVarConfig {
    const NAME: &'static str = "LatentVar";
    fn auto_label(&self) -> String {
        match self.lag {
            0 => format!("Latent 3D-Var xB={}", self.xb),
            k => format!("Latent 4D-Var Lag={k} xB={}", self.xb),
        }
    }
    fn needs(&self) -> Vec<Need> {
        let mut needs = vec![Need::Grid, Need::TangentLinear];
        if self.lag > 0 {
            needs.push(Need::ModelAdjoint);
        }
        needs
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.positive("xb", self.xb)?;
        if self.lag > 0 {
            check_lag(check, self.lag)?;
        }
        if self.n_iter == 0 || self.cg_max_iter == 0 {
            return Err(check.error("n_iter", "n_iter and cg_max_iter must be ≥ 1"));
        }
        check.positive("cg_tol", self.cg_tol)?;
        if self.autoencoder.trim().is_empty() {
            return Err(check.error("autoencoder", "give the path of a trained autoencoder"));
        }
        // The checkpoint itself is read (and checked against the bed's grid) when the method is
        // built, as the generative methods' are: files name it relative to where `assim run`
        // runs.
        Ok(())
    }
    fn build(&self, bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        let device = crate::tensor::compute_device()?;
        let ae = TrainedAutoencoder::load(Path::new(&self.autoencoder), &device)?;
        ae.check_bed(bed)?;
        Ok(Box::new(LatentVar {
            ae: Arc::new(ae),
            cfg: self.clone(),
            b_sd: Vec::new(),
            window: SlidingWindow::new(self.lag.max(1)),
            start: Vec::new(),
            current: Vec::new(),
            outer_loops: 0,
            cg_iterations: 0,
            cost_ratio: 0.0,
            analyses: 0,
        }))
    }
}
