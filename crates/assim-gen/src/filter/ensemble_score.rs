//! A score-based analysis without a trained network: the reverse diffusion runs on the score of
//! the forecast ensemble's Gaussian, guided by the observations (the training-free route of the
//! ensemble score filter, Bao et al. 2024, in its Gaussian form). Where no prior can be trained,
//! as on the few real fields this project can reach, this is the generative analysis there is;
//! on a Gaussian prior with linear observations and MMPS its samples are the Kalman posterior's
//! (the engine's tested property), so it is the global, unlocalised stochastic EnKF reached by
//! sampling, and any gain of a learned prior over it is what the learning adds.
//!
//! Each analysis standardises the forecast members per component (`u = (x − x̄)/s`), takes the
//! prior `N(0, A Aᵀ + ε I)` with `A` the standardised anomalies over `√(N − 1)` and `ε` the
//! `ridge` (the variance of directions the ensemble does not span), and samples `n` members.

use assim_core::AssimError;
use assim_core::assimilator::{Assimilator, EnsembleFilter, Setup};
use assim_core::bed::BedConfig;
use assim_core::experiment::{Method, MethodCheck, Need};
use assim_core::obs::SparseLinear;
use assim_core::rng::AssimRng;
use burn::tensor::{Device, Tensor, TensorData};
use faer::Mat;
use serde::{Deserialize, Serialize};

use super::config::SamplerKind;
use crate::guidance::{GuidanceConfig, Guided, Mmps};
use crate::obs::Observe;
use crate::prior::denoiser::Denoiser;
use crate::prior::schedule::Edm;
use crate::tensor::{from_rows, normal, to_rows};

/// `method = "EnsembleScore"`: its `[[methods]]` entry (docs/experiments.md).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleScoreConfig {
    /// Members sampled per analysis (and forecast).
    pub n: usize,
    /// How the observations steer the reverse process (default MMPS with 10 conjugate-gradient
    /// iterations).
    #[serde(default = "default_guidance")]
    pub guidance: GuidanceConfig,
    /// `"heun"` or `"euler"`.
    #[serde(default = "default_sampler")]
    pub sampler: SamplerKind,
    /// Noise levels of the Karras grid.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Largest noise level, in standardised units (the prior's variances are 1 + ridge).
    #[serde(default = "default_sigma_max")]
    pub sigma_max: f64,
    /// ε: the prior variance, in standardised units, of the directions the ensemble does not
    /// span (without it the analysis cannot leave the ensemble's span).
    #[serde(default = "default_ridge")]
    pub ridge: f64,
}

fn default_guidance() -> GuidanceConfig {
    GuidanceConfig::Mmps(Mmps { cg_iters: 10 })
}

fn default_sampler() -> SamplerKind {
    SamplerKind::Heun
}

fn default_steps() -> usize {
    16
}

fn default_sigma_max() -> f64 {
    10.0
}

fn default_ridge() -> f64 {
    0.1
}

impl Method for EnsembleScoreConfig {
    const NAME: &'static str = "EnsembleScore";

    fn auto_label(&self) -> String {
        format!("EnsembleScore N={} {} ridge={}", self.n, self.guidance.name(), self.ridge)
    }

    fn needs(&self) -> Vec<Need> {
        let mut needs = vec![Need::LinearObs];
        needs.extend(self.guidance.strategy().needs());
        needs
    }

    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        if self.n < 2 {
            return Err(check.error("n", format!("must be ≥ 2 (got {})", self.n)));
        }
        if self.steps < 2 {
            return Err(check.error("steps", format!("must be ≥ 2 (got {})", self.steps)));
        }
        if !(self.ridge.is_finite() && self.ridge > 0.0) {
            return Err(check.error("ridge", format!("must be positive (got {})", self.ridge)));
        }
        if !(self.sigma_max.is_finite() && self.sigma_max > 0.0) {
            return Err(check.error("sigma_max", format!("must be positive (got {})", self.sigma_max)));
        }
        if self.sampler == SamplerKind::Pc {
            return Err(check.error("sampler", "use \"heun\" or \"euler\" (the ensemble prior is exact)"));
        }
        if matches!(self.guidance, GuidanceConfig::LatentOptimization(_) | GuidanceConfig::RePaint) {
            return Err(check.error("guidance", "use \"dps\", \"sda_gamma\", \"mmps\" or \"none\""));
        }
        self.guidance.strategy().validate("guidance", check)
    }

    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        Ok(Box::new(EnsembleScore {
            cfg: self.clone(),
            members: Mat::zeros(0, 0),
            device: crate::tensor::compute_device()?,
        }))
    }

    fn is_generative(&self) -> bool {
        true
    }
}

/// The filter: the members, sampled anew at every analysis.
struct EnsembleScore {
    cfg: EnsembleScoreConfig,
    members: Mat<f64>,
    device: Device,
}

impl EnsembleFilter for EnsembleScore {
    fn size(&self) -> usize {
        self.cfg.n
    }

    fn members(&self) -> &Mat<f64> {
        &self.members
    }

    fn members_mut(&mut self) -> &mut Mat<f64> {
        &mut self.members
    }

    fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), AssimError> {
        if setup.obs.as_sparse().is_none() {
            return Err(AssimError::Input(
                "EnsembleScore needs a linear observation operator given by rows".into(),
            ));
        }
        Ok(())
    }

    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let rows = setup.obs.as_sparse().ok_or_else(|| AssimError::Input("no observation rows".into()))?;
        let (nx, n) = (self.members.nrows(), self.members.ncols());
        // Standardise: x = x̄ + s ∘ u.
        let (dev, mean) = assim_core::linalg::centre(self.members.as_ref());
        let sd: Vec<f64> = (0..nx)
            .map(|i| ((0..n).map(|j| dev[(i, j)].powi(2)).sum::<f64>() / (n - 1) as f64).sqrt())
            .collect();
        let typical = sd.iter().sum::<f64>() / nx as f64;
        let sd: Vec<f64> = sd.into_iter().map(|s| s.max(1e-6 * typical).max(f64::MIN_POSITIVE)).collect();
        let scale = 1.0 / ((n - 1) as f64).sqrt();
        let anomalies: Vec<f64> = (0..nx)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| dev[(i, j)] / sd[i] * scale)
            .collect();
        let prior = EnsembleGaussian::new(&anomalies, nx, n, self.cfg.ridge, &self.device);
        let obs = ScaledRows::new(rows, &mean, &sd, setup.obs_var, &self.device);
        let yt = from_rows(y, 1, y.len(), &self.device);
        let guided = Guided::new(&prior, &obs, yt, self.cfg.guidance.clone());
        let edm = Edm { sigma_max: self.cfg.sigma_max, ..Edm::default() };
        // The predictor–corrector is refused by `validate`: its Langevin keys are not taken.
        let sampler = self.cfg.sampler.sampler(0, 0.0);
        let noise = normal(rng, n, nx, &self.device);
        let u = to_rows(&sampler.sample(&guided, &edm, self.cfg.steps, noise, None, rng)?);
        for j in 0..n {
            for i in 0..nx {
                self.members[(i, j)] = mean[i] + sd[i] * u[j * nx + i];
            }
        }
        assim_core::linalg::check_finite(self.members.as_ref(), "EnsembleScore analysis")
    }
}

/// The exact denoiser of `N(0, A Aᵀ + ε I)` (`A`: `[nx, N]`), by the Woodbury identity:
/// `E[x | x_t] = x_t − σ²/c (x_t − A (c I + AᵀA)⁻¹ Aᵀ x_t)`, `c = ε + σ²`; cost O(nx N) per state.
pub struct EnsembleGaussian {
    a: Tensor<2>,
    at: Tensor<2>,
    ata: Mat<f64>,
    ridge: f64,
    device: Device,
}

impl EnsembleGaussian {
    /// The prior of the anomalies `a` (row-major `[nx, N]`) and ridge ε.
    pub fn new(a: &[f64], nx: usize, n: usize, ridge: f64, device: &Device) -> Self {
        let ata = Mat::from_fn(n, n, |p, q| (0..nx).map(|i| a[i * n + p] * a[i * n + q]).sum());
        let at: Vec<f64> = (0..n).flat_map(|p| (0..nx).map(move |i| a[i * n + p])).collect();
        EnsembleGaussian {
            a: from_rows(a, nx, n, device),
            at: from_rows(&at, n, nx, device),
            ata,
            ridge,
            device: device.clone(),
        }
    }
}

impl Denoiser for EnsembleGaussian {
    fn denoise(&self, x: Tensor<2>, sigma: f64, _cond: Option<&Tensor<2>>) -> Tensor<2> {
        let n = self.ata.nrows();
        let c = self.ridge + sigma * sigma;
        let m = Mat::from_fn(n, n, |p, q| self.ata[(p, q)] + if p == q { c } else { 0.0 });
        let inv = assim_core::linalg::spd_solve(m.as_ref(), Mat::<f64>::identity(n, n).as_ref())
            .expect("c I + AᵀA is positive definite");
        let inv: Vec<f64> = (0..n * n).map(|k| inv[(k / n, k % n)]).collect();
        let inv = Tensor::<2>::from_data(
            TensorData::new(inv.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [n, n]),
            &self.device,
        );
        let projected = x.clone().matmul(self.a.clone()).matmul(inv).matmul(self.at.clone());
        x.clone() - (x - projected) * (sigma * sigma / c)
    }
}

/// A linear operator given by rows, seen from standardised states: `H(x̄ + s ∘ u)` for `u`
/// `[n, nx]`, as one dense `[nx, P]` matrix product.
pub struct ScaledRows {
    m: Tensor<2>,
    mt: Tensor<2>,
    offset: Tensor<2>,
    var: Tensor<2>,
    gain2: Tensor<2>,
}

impl ScaledRows {
    /// The rows `h` about `mean` with scales `sd`, errors of variance `obs_var`.
    pub fn new(h: &SparseLinear, mean: &[f64], sd: &[f64], obs_var: &[f64], device: &Device) -> Self {
        let (nx, p) = (h.nx(), obs_var.len());
        let mut m = vec![0.0; nx * p];
        let mut offset = vec![0.0; p];
        for (k, o) in offset.iter_mut().enumerate() {
            let (idx, w) = h.row(k);
            for (&i, &wi) in idx.iter().zip(w) {
                m[i * p + k] += wi * sd[i];
                *o += wi * mean[i];
            }
        }
        let gain2: Vec<f64> = (0..p).map(|k| (0..nx).map(|i| m[i * p + k].powi(2)).sum()).collect();
        let mt: Vec<f64> =
            (0..p).flat_map(|k| (0..nx).map(move |i| (i, k))).map(|(i, k)| m[i * p + k]).collect();
        ScaledRows {
            m: from_rows(&m, nx, p, device),
            mt: from_rows(&mt, p, nx, device),
            offset: from_rows(&offset, 1, p, device),
            var: from_rows(obs_var, 1, p, device),
            gain2: from_rows(&gain2, 1, p, device),
        }
    }
}

impl Observe for ScaledRows {
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.m.clone()) + self.offset.clone()
    }
    fn var(&self) -> Tensor<2> {
        self.var.clone()
    }
    fn vjp(&self, _x: &Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        v.matmul(self.mt.clone())
    }
    fn jvp(&self, _x: &Tensor<2>, w: Tensor<2>) -> Tensor<2> {
        w.matmul(self.m.clone())
    }
    fn gain2(&self, _x: &Tensor<2>) -> Tensor<2> {
        self.gain2.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::denoiser::GaussianPrior;

    #[test]
    fn the_ensemble_denoiser_is_the_exact_gaussian_one() {
        // Against the eigen-decomposition denoiser of the same covariance A Aᵀ + ε I.
        let (nx, n, ridge) = (12, 4, 0.3);
        let mut rng = assim_core::rng::stream(5, "ensemble denoiser");
        let mut a = vec![0.0; nx * n];
        assim_core::rng::fill_normal(&mut rng, &mut a);
        let cov = Mat::from_fn(nx, nx, |i, j| {
            (0..n).map(|p| a[i * n + p] * a[j * n + p]).sum::<f64>() + if i == j { ridge } else { 0.0 }
        });
        let device = Device::flex();
        let exact = GaussianPrior::new(vec![0.0; nx], &cov, &device).unwrap();
        let ours = EnsembleGaussian::new(&a, nx, n, ridge, &device);
        let x = normal(&mut rng, 3, nx, &device);
        for sigma in [0.05, 0.7, 4.0] {
            let d0 = to_rows(&exact.denoise(x.clone(), sigma, None));
            let d1 = to_rows(&ours.denoise(x.clone(), sigma, None));
            let err = d0.iter().zip(&d1).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
            assert!(err < 1e-4, "σ = {sigma}: {err}");
        }
    }

    #[test]
    fn the_scaled_rows_are_h_of_the_unstandardised_state_and_their_adjoint() {
        // H x for x = x̄ + s ∘ u, and ⟨H' w, v⟩ = ⟨w, H'ᵀ v⟩.
        let mut h = SparseLinear::new(5);
        h.push_row([(0, 0.5), (3, 0.5)]);
        h.push_row([(4, 1.0)]);
        let (mean, sd) = ([1.0, 2.0, 3.0, 4.0, 5.0], [0.1, 0.2, 0.3, 0.4, 0.5]);
        let device = Device::flex();
        let obs = ScaledRows::new(&h, &mean, &sd, &[1.0, 1.0], &device);
        let u = [1.0, -1.0, 2.0, 0.5, -2.0];
        let x: Vec<f64> = (0..5).map(|i| mean[i] + sd[i] * u[i]).collect();
        let got = to_rows(&obs.apply(from_rows(&u, 1, 5, &device)));
        assert!((got[0] - 0.5 * (x[0] + x[3])).abs() < 1e-5 && (got[1] - x[4]).abs() < 1e-5, "{got:?}");
        let (w, v) = (from_rows(&u, 1, 5, &device), from_rows(&[0.3, -0.7], 1, 2, &device));
        let hw = to_rows(&obs.jvp(&w, w.clone()));
        let htv = to_rows(&obs.vjp(&w, v.clone()));
        let lhs: f64 = hw.iter().zip([0.3, -0.7]).map(|(a, b)| a * b).sum();
        let rhs: f64 = htv.iter().zip(u).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
    }
}
