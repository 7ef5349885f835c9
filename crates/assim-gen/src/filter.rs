//! Generative analyses in the cycling harness: an ensemble forecast by the model, then at each
//! analysis time `N` members sampled as one batch from the (guided) diffusion prior, so that
//! spread and CRPS are scored exactly as the EnKF's.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use faer::Mat;

use assim_core::AssimError;
use assim_core::classical::{Assimilator, EnsembleFilter, Setup, post_process};
use assim_core::experiment::{Experiment, GenerativeConfig, MethodConfig, build_classical};
use assim_core::linalg::row_mean;
use assim_core::rng::AssimRng;

use crate::guidance::Guided;
use crate::obs::TensorObs;
use crate::sampler::Sampler;
use crate::schedule::Edm;
use crate::tensor::normal;
use crate::trained::{BackgroundMode, TrainedDenoiser};

/// A generative filter: the trained prior, the guidance, the sampler and the ensemble.
pub struct GenerativeFilter {
    prior: TrainedDenoiser,
    cfg: GenerativeConfig,
    sampler: Sampler,
    edm: Edm,
    obs: TensorObs,
    members: Mat<f64>,
    device: Device,
}

impl GenerativeFilter {
    /// Loads the checkpoint of `cfg` and checks it against the experiment.
    pub fn new(cfg: &GenerativeConfig, exp: &Experiment) -> Result<Self, AssimError> {
        let device = crate::tensor::compute_device()?;
        let path = Path::new(&cfg.checkpoint);
        let prior = TrainedDenoiser::load(path, &device)?;
        prior.meta.check_compatible(exp, path)?;
        let sampler = match cfg.sampler.as_str() {
            "euler" => Sampler::Euler,
            "pc" => Sampler::PredictorCorrector { corrections: cfg.corrections, snr: cfg.snr },
            _ => Sampler::Heun,
        };
        let mut edm = prior.meta.edm;
        if let Some(s) = cfg.sigma_max {
            if s <= edm.sigma_min {
                return Err(AssimError::Input(format!(
                    "sigma_max = {s} is not above the checkpoint's sigma_min = {}",
                    edm.sigma_min
                )));
            }
            edm.sigma_max = s;
        }
        let indices = exp.obs_indices().map_err(AssimError::Input)?;
        let var = vec![exp.obs().sigma.powi(2); indices.len()];
        let obs =
            TensorObs::new(exp.nx(), &indices, exp.obs().operator, &var, prior.meta.normalisation, &device);
        Ok(GenerativeFilter { prior, cfg: cfg.clone(), sampler, edm, obs, members: Mat::zeros(0, 0), device })
    }

    /// The normalised backgrounds `[N, nx]` the prior is conditioned on.
    fn condition(&self) -> Tensor<2> {
        let (nx, n) = (self.members.nrows(), self.members.ncols());
        let norm = self.prior.meta.normalisation;
        let mean = match self.prior.meta.background {
            BackgroundMode::Member => None,
            BackgroundMode::Mean => Some(row_mean(self.members.as_ref())),
        };
        let mut v = vec![0f32; n * nx];
        for j in 0..n {
            for i in 0..nx {
                let b = mean.as_ref().map_or(self.members[(i, j)], |m| m[i]);
                v[j * nx + i] = norm.forward(b) as f32;
            }
        }
        Tensor::from_data(TensorData::new(v, [n, nx]), &self.device)
    }
}

impl EnsembleFilter for GenerativeFilter {
    fn size(&self) -> usize {
        self.cfg.n
    }

    fn members(&self) -> &Mat<f64> {
        &self.members
    }

    fn members_mut(&mut self) -> &mut Mat<f64> {
        &mut self.members
    }

    fn update(&mut self, _setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let (nx, n) = (self.members.nrows(), self.members.ncols());
        let cond = self.prior.meta.conditional.then(|| self.condition());
        let yt = Tensor::<2>::from_data(
            TensorData::new(y.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [1, y.len()]),
            &self.device,
        );
        let noise = normal(rng, n, nx, &self.device);
        let x = match (self.prior.meta.increment_scale, cond) {
            (Some(rho), Some(base)) => {
                let rho = rho * self.cfg.prior_infl;
                // Sample the increment z, guided through H(x̃_b + ρ z); then x̃ = x̃_b + ρ z.
                let obs = self.obs.about(base.clone(), rho);
                let guided = Guided::new(&self.prior.network, &obs, yt, self.cfg.guidance.clone());
                let z = self.sampler.sample(&guided, &self.edm, self.cfg.steps, noise, Some(&base), rng)?;
                base + z * rho
            }
            (_, cond) => {
                let guided = Guided::new(&self.prior.network, &self.obs, yt, self.cfg.guidance.clone());
                self.sampler.sample(&guided, &self.edm, self.cfg.steps, noise, cond.as_ref(), rng)?
            }
        };
        let values = x.to_data().iter::<f32>().collect::<Vec<f32>>();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(AssimError::Numerical("the sampled analysis is non-finite".into()));
        }
        let norm = self.prior.meta.normalisation;
        for j in 0..n {
            for i in 0..nx {
                self.members[(i, j)] = norm.inverse(f64::from(values[j * nx + i]));
            }
        }
        post_process(&mut self.members, self.cfg.infl, false, rng);
        Ok(())
    }
}

/// Builds any method of an experiment: generative entries here, the rest by assim-core.
pub fn build_method(cfg: &MethodConfig, exp: &Experiment) -> Result<Box<dyn Assimilator>, AssimError> {
    match cfg {
        MethodConfig::Generative(g) => Ok(Box::new(GenerativeFilter::new(g, exp)?)),
        _ => build_classical(cfg, exp),
    }
}
