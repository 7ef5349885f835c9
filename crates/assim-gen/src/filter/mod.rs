//! Generative analyses in the cycling harness: an ensemble forecast by the model, then at each
//! analysis time `N` members sampled as one batch from the (guided) diffusion prior, so that
//! spread and CRPS are scored exactly as the EnKF's. The prior lives in the state (Lorenz-96)
//! or in an autoencoder's latent (the sphere: LO-SDA, Align-DA), where the guidance sees
//! `H(D(z))` and the analysis members are `D(z)` (or, with `latent_analysis = "increment"`,
//! each forecast plus the decoded latent increment).

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use faer::Mat;
use rayon::prelude::*;

use assim_core::AssimError;
use assim_core::bed::BedConfig;
use assim_core::classical::{EnsembleFilter, Setup, post_process};
use assim_core::linalg::row_mean;
use assim_core::obs::{ObsOperator, SparseLinear};
use assim_core::rng::AssimRng;

mod config;
pub mod spinup;

pub use config::{GenerativeConfig, LatentAnalysis, SamplerKind, Spinup};
pub use spinup::SpunUp;

use crate::guidance::{GuidanceConfig, Guided};
use crate::latent::obs_channels::channels_of;
use crate::latent::space::{DecodedObs, Linearised, TrainedAutoencoder};
use crate::obs::{Observe, TensorObs};
use crate::prior::sampler::Sampler;
use crate::prior::schedule::Edm;
use crate::prior::trained::{BackgroundMode, TrainedDenoiser};
use crate::tensor::{from_rows, normal, to_rows};

/// Where the prior's states live.
enum Space {
    /// The model state, observed by the bed's pointwise operator (Lorenz-96), as tensors
    /// (set at the first analysis, from the operator itself).
    State(Option<Box<TensorObs>>),
    /// The latent of a sphere autoencoder: each window's operator is applied to the decoded
    /// fields, and the analysis members are `D(z)`.
    Latent(Box<TrainedAutoencoder>),
}

/// A generative filter: the trained prior, the guidance, the sampler and the ensemble.
pub struct GenerativeFilter {
    prior: TrainedDenoiser,
    cfg: GenerativeConfig,
    sampler: Sampler,
    edm: Edm,
    space: Space,
    members: Mat<f64>,
    device: Device,
}

impl GenerativeFilter {
    /// Loads the checkpoint of `cfg` (and, for a latent prior, its autoencoder) and checks
    /// them against the experiment.
    pub fn new(cfg: &GenerativeConfig, bed: &dyn BedConfig) -> Result<Self, AssimError> {
        let device = crate::tensor::compute_device()?;
        let path = Path::new(&cfg.checkpoint);
        let prior = TrainedDenoiser::load(path, &device)?;
        prior.meta.check_compatible(bed, path)?;
        let sampler = cfg.sampler();
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
        let space = match &prior.meta.latent {
            Some(l) => {
                let ae = load_autoencoder(&l.autoencoder, &l.fingerprint, path, &device)?;
                if ae.fingerprint != l.fingerprint {
                    return Err(AssimError::Format {
                        path: path.to_path_buf(),
                        msg: format!(
                            "was trained in the latent of another autoencoder than the one now at {} \
                             (fingerprint {} ≠ {}): retrain the denoiser",
                            ae.path.display(),
                            l.fingerprint,
                            ae.fingerprint
                        ),
                    });
                }
                ae.check_bed(bed)?;
                if ae.latent_dim() != prior.meta.nx {
                    return Err(AssimError::Format {
                        path: path.to_path_buf(),
                        msg: format!(
                            "has {} latent numbers, the autoencoder {}",
                            prior.meta.nx,
                            ae.latent_dim()
                        ),
                    });
                }
                if cfg.latent_analysis == LatentAnalysis::Increment && !prior.meta.conditional {
                    return Err(AssimError::Input(
                        "latent_analysis = \"increment\" needs a background-conditioned prior (it decodes z_b)".into(),
                    ));
                }
                if cfg.guide_on_analysis && prior.meta.background != BackgroundMode::Mean {
                    return Err(AssimError::Input(
                        "guide_on_analysis needs a mean-conditioned prior (one background to decode)".into(),
                    ));
                }
                if matches!(cfg.guidance, GuidanceConfig::RePaint) {
                    return Err(AssimError::Input(
                        "RePaint replaces observed state components; a latent prior has none (use dps, sda_gamma, mmps or latent_optimization)".into(),
                    ));
                }
                Space::Latent(Box::new(ae))
            }
            None => {
                if cfg.latent_analysis != LatentAnalysis::Decoded {
                    return Err(AssimError::Input(format!(
                        "{}: latent_analysis is for latent priors; this one models the state",
                        path.display()
                    )));
                }
                Space::State(None)
            }
        };
        Ok(GenerativeFilter {
            prior,
            cfg: cfg.clone(),
            sampler,
            edm,
            space,
            members: Mat::zeros(0, 0),
            device,
        })
    }

    /// The autoencoder of a latent prior (`None` for a state prior), for diagnostics that
    /// decode or encode in the same latent.
    pub fn autoencoder(&self) -> Option<&TrainedAutoencoder> {
        match &self.space {
            Space::Latent(ae) => Some(ae),
            Space::State(_) => None,
        }
    }

    /// The backgrounds the prior is conditioned on: each member's forecast or the ensemble
    /// mean (the latter encoded once), as physical states (one per member, or the one mean)
    /// and as `[N, nx_prior]` in the prior's normalised variable.
    fn condition(&self) -> (Vec<Vec<f64>>, Tensor<2>) {
        let n = self.members.ncols();
        let columns: Vec<Vec<f64>> = match self.prior.meta.background {
            BackgroundMode::Member => (0..n).map(|j| self.member(j)).collect(),
            BackgroundMode::Mean => vec![row_mean(self.members.as_ref())],
        };
        let states = self.encode_condition(&columns);
        let states = if columns.len() == n { states } else { states.repeat_dim(0, n) };
        (columns, states)
    }

    /// Member `j` of the ensemble.
    fn member(&self, j: usize) -> Vec<f64> {
        (0..self.members.nrows()).map(|i| self.members[(i, j)]).collect()
    }

    /// Physical states as `[n, nx_prior]` in the prior's normalised variable.
    fn encode_condition(&self, columns: &[Vec<f64>]) -> Tensor<2> {
        let norm = self.prior.meta.normalisation;
        match &self.space {
            Space::State(_) => {
                let nx = columns.first().map_or(0, Vec::len);
                let v: Vec<f64> = columns.iter().flatten().map(|&b| norm.forward(b)).collect();
                from_rows(&v, columns.len(), nx, &self.device)
            }
            Space::Latent(ae) => {
                let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
                (ae.encode(&refs) - norm.mean) / norm.std
            }
        }
    }

    /// The observation operator seen from the prior's variable `x`, whose normalised state is
    /// `base + rho·x` (an increment prior) or `x` itself (`base = None`).
    fn observe<'a>(&'a self, setup: &Setup<'_>, seen: Seen<'_>) -> Result<Box<dyn Observe + 'a>, AssimError> {
        match &self.space {
            Space::State(obs) => {
                let obs = obs.as_ref().expect("the tensor operator is set when the filter is prepared");
                Ok(match seen.base {
                    Some((b, rho)) => Box::new(obs.about(b.clone(), rho)),
                    None => Box::new(obs.as_ref().clone()),
                })
            }
            Space::Latent(ae) => Ok(Box::new(self.decoded_obs(ae, setup, seen)?)),
        }
    }

    /// The window's operator through `ae`'s decoder, seen from the prior's variable as
    /// [`GenerativeFilter::observe`] describes; with a `residual` `r` (physical state), the
    /// operator observes `D(z) + r` instead of `D(z)` (see [`GenerativeConfig::guide_on_analysis`]).
    /// A nonlinear operator is seen through its linearisation about the forecast mean.
    fn decoded_obs<'a>(
        &'a self,
        ae: &'a TrainedAutoencoder,
        setup: &Setup<'_>,
        seen: Seen<'_>,
    ) -> Result<DecodedObs<'a>, AssimError> {
        let Seen { base, residual, lin } = seen;
        // The latent is mean + std·(base + rho·x).
        let norm = self.prior.meta.normalisation;
        let (b, a) = match base {
            Some((b, rho)) => (b.clone() * norm.std + norm.mean, norm.std * rho),
            None => (Tensor::<2>::full([1, ae.latent_dim()], norm.mean, &self.device), norm.std),
        };
        // H(D(z) + r) = H(D(z)) + H' r for the rows H' (exact for a linear operator).
        let shift = |rows: &SparseLinear, intercept: &mut [f64]| {
            if let Some(r) = residual {
                let mut hr = vec![0.0; intercept.len()];
                rows.apply(r, &mut hr);
                intercept.iter_mut().zip(&hr).for_each(|(c, h)| *c += h);
            }
        };
        match setup.obs.as_sparse() {
            Some(op) if residual.is_none() => DecodedObs::new(ae, op, setup.obs_var, b, a),
            Some(op) => {
                let mut intercept = vec![0.0; op.n_obs()];
                shift(op, &mut intercept);
                DecodedObs::new(ae, op, setup.obs_var, b, a)?.with_intercept(&intercept)
            }
            None => {
                let lin = lin.expect("a nonlinear operator is linearised before sampling");
                let mut intercept = lin.intercept();
                shift(&lin.rows, &mut intercept);
                DecodedObs::new(ae, &lin.rows, setup.obs_var, b, a)?.with_intercept(&intercept)
            }
        }
    }
}

/// How the observation operator sees the prior's variable `x` (see
/// [`GenerativeFilter::observe`]): the normalised state is `base + rho·x` (an increment prior)
/// or `x` itself (`base = None`); a `residual` (physical) is added to the decoded fields; `lin`
/// is the window's operator linearised about the forecast mean, where the latent space needs it.
#[derive(Clone, Copy)]
struct Seen<'b> {
    base: Option<(&'b Tensor<2>, f64)>,
    residual: Option<&'b [f64]>,
    lin: Option<&'b Linearised>,
}

/// Independent batches a latent analysis's members are sampled in, one rayon task each: burn's
/// `flex` backend keeps most of a batch's operations on one core, and members do not interact
/// in a deterministic sampler, so parts on the machine's cores give the same members as one
/// batch. A fixed number (not the thread count) keeps the numbers the same on every machine.
const PARTS: usize = 4;

impl GenerativeFilter {
    /// The reverse process from `noise` (`[N, nx_prior]`) guided towards `yt` through the
    /// operator seen from `base` ([`GenerativeFilter::observe`]): a latent prior with a
    /// deterministic sampler in [`PARTS`] parallel parts of the ensemble, otherwise one batch
    /// (the predictor–corrector's Langevin noise and step sizes are drawn for the batch).
    fn sample(
        &self,
        setup: &Setup<'_>,
        yt: Tensor<2>,
        noise: Tensor<2>,
        cond: Option<&Tensor<2>>,
        seen: Seen<'_>,
        rng: &mut AssimRng,
    ) -> Result<Tensor<2>, AssimError> {
        let n = noise.dims()[0];
        let deterministic = !matches!(self.sampler, Sampler::PredictorCorrector { .. });
        let whole = match &self.space {
            Space::Latent(ae) if deterministic && n > 1 => self.decoded_obs(ae, setup, seen)?,
            _ => {
                let obs = self.observe(setup, seen)?;
                let guided = Guided::new(&self.prior.network, obs.as_ref(), yt, self.cfg.guidance.clone())
                    .within(self.cfg.guide_sigma);
                return self.sampler.sample(&guided, &self.edm, self.cfg.steps, noise, cond, rng);
            }
        };
        let parts = PARTS.min(n);
        let ranges: Vec<(usize, usize)> =
            (0..parts).map(|k| (k * n / parts, (k + 1) * n / parts - k * n / parts)).collect();
        let samples = ranges
            .par_iter()
            .map(|&(start, len)| {
                let obs = whole.rows(start, len);
                let guided = Guided::new(&self.prior.network, &obs, yt.clone(), self.cfg.guidance.clone())
                    .within(self.cfg.guide_sigma);
                let cond = cond.map(|c| c.clone().narrow(0, start, len));
                // A deterministic sampler draws nothing: each part gets a copy of the stream.
                let mut rng = rng.clone();
                let noise = noise.clone().narrow(0, start, len);
                self.sampler.sample(&guided, &self.edm, self.cfg.steps, noise, cond.as_ref(), &mut rng)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tensor::cat(samples, 0))
    }
}

/// The autoencoder of a latent denoiser at `checkpoint` whose weights have `fingerprint`: the
/// file recorded when the denoiser was trained or, where that one is gone or another (models
/// copied or shipped to another machine), the file of the same name beside the denoiser.
pub(crate) fn load_autoencoder(
    recorded: &str,
    fingerprint: &str,
    checkpoint: &Path,
    device: &Device,
) -> Result<TrainedAutoencoder, AssimError> {
    let recorded = Path::new(recorded);
    let beside = match (recorded.file_name(), checkpoint.parent()) {
        (Some(name), Some(dir)) => Some(dir.join(name)),
        _ => None,
    };
    let first = TrainedAutoencoder::load(recorded, device);
    if matches!(&first, Ok(ae) if ae.fingerprint == fingerprint) {
        return first;
    }
    if let Some(b) = beside.filter(|b| b.as_path() != recorded && b.exists()) {
        let ae = TrainedAutoencoder::load(&b, device)?;
        if ae.fingerprint == fingerprint || first.is_err() {
            return Ok(ae);
        }
    }
    first
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

    /// A state prior observes through the bed's operator: its tensor form, once.
    fn prepare(&mut self, setup: &Setup<'_>) -> Result<(), AssimError> {
        if let Space::State(obs) = &mut self.space {
            let view = setup.obs.pointwise().ok_or_else(|| {
                AssimError::Input("a state prior needs a pointwise observation operator y = h(x_i)".into())
            })?;
            let norm = self.prior.meta.normalisation;
            let nx = self.prior.meta.nx;
            *obs =
                Some(Box::new(TensorObs::new(nx, view.indices, view.h, setup.obs_var, norm, &self.device)));
        }
        Ok(())
    }

    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let n = self.members.ncols();
        let (backgrounds, cond) = match self.prior.meta.conditional.then(|| self.condition()) {
            Some((b, c)) => (b, Some(c)),
            None => (Vec::new(), None),
        };
        let noise = normal(rng, n, self.prior.meta.nx, &self.device);
        let (_, states) = self.draw(setup, y, &backgrounds, cond, noise, rng)?;
        for (j, s) in states.iter().enumerate() {
            for (i, &v) in s.iter().enumerate() {
                self.members[(i, j)] = v;
            }
        }
        post_process(&mut self.members, self.cfg.infl, false, rng);
        Ok(())
    }
}

/// `k` guided analyses given one forecast (see [`GenerativeFilter::candidates`]).
pub struct Candidates {
    /// The samples in the network's own variable (the increment `z` of an increment prior),
    /// `[k, nx_prior]`: what its denoiser was trained to denoise.
    pub samples: Tensor<2>,
    /// The condition they share, `[1, nx_prior]` (`None` for an unconditional prior).
    pub condition: Option<Tensor<2>>,
    /// The analyses as model states, as the cycling would make them (decoded, or the
    /// background plus the decoded increment), before any inflation.
    pub states: Vec<Vec<f64>>,
}

impl GenerativeFilter {
    /// `k` analyses drawn from the prior given the forecast member `member` (or the forecast
    /// mean, for a mean-conditioned prior), with this method's guidance, sampler and return to
    /// the model state: the candidates Align-DA's preference pairs are made of. The ensemble
    /// is left as it was.
    pub fn candidates(
        &self,
        setup: &Setup<'_>,
        y: &[f64],
        member: usize,
        k: usize,
        rng: &mut AssimRng,
    ) -> Result<Candidates, AssimError> {
        let background = match self.prior.meta.background {
            BackgroundMode::Member => self.member(member.min(self.members.ncols().saturating_sub(1))),
            BackgroundMode::Mean => row_mean(self.members.as_ref()),
        };
        let backgrounds = vec![background];
        let condition = self.prior.meta.conditional.then(|| self.encode_condition(&backgrounds));
        let cond = condition.as_ref().map(|c| c.clone().repeat_dim(0, k));
        let noise = normal(rng, k, self.prior.meta.nx, &self.device);
        let (samples, states) = self.draw(setup, y, &backgrounds, cond, noise, rng)?;
        Ok(Candidates { samples, condition, states })
    }

    /// The prior's trained denoiser (the reference model of an alignment).
    pub fn prior(&self) -> &TrainedDenoiser {
        &self.prior
    }

    /// With [`GenerativeConfig::guide_on_analysis`]: the part `κ (x_b − D(z_b))` of the
    /// increment analysis that the decoder does not give, so that the guidance observes the
    /// analysis itself; `None` otherwise.
    fn analysis_residual(
        &self,
        backgrounds: &[Vec<f64>],
        cond: Option<&Tensor<2>>,
    ) -> Result<Option<Vec<f64>>, AssimError> {
        let (Space::Latent(ae), Some(zb), [xb]) = (&self.space, cond, backgrounds) else {
            return Ok(None);
        };
        if !self.cfg.guide_on_analysis || self.cfg.latent_analysis != LatentAnalysis::Increment {
            return Ok(None);
        }
        let norm = self.prior.meta.normalisation;
        let db = ae.decode_states(zb.clone().narrow(0, 0, 1) * norm.std + norm.mean).remove(0);
        Ok(Some(xb.iter().zip(&db).map(|(x, d)| self.cfg.keep * (x - d)).collect()))
    }

    /// The window's operator linearised about the forecast mean, where a latent prior needs it:
    /// a nonlinear operator for the guidance, any operator for the observation channels (once
    /// for both); `None` otherwise.
    fn linearisation(&self, setup: &Setup<'_>) -> Result<Option<Linearised>, AssimError> {
        let needed = matches!(self.space, Space::Latent(_))
            && (setup.obs.as_sparse().is_none() || self.prior.meta.obs_channels.is_some());
        if !needed {
            return Ok(None);
        }
        Linearised::new(setup.obs, row_mean(self.members.as_ref())).map(Some)
    }

    /// The standardised observation channels of the window (`[1, channels·cells]`) for a prior
    /// conditioned on them (SLAMS's conditioning), linearised about the forecast mean; `None`
    /// for any other prior.
    fn obs_channels(
        &self,
        setup: &Setup<'_>,
        y: &[f64],
        lin: Option<&Linearised>,
    ) -> Result<Option<Tensor<2>>, AssimError> {
        let (Some(meta), Space::Latent(ae), Some(lin)) = (&self.prior.meta.obs_channels, &self.space, lin)
        else {
            return Ok(None);
        };
        let raw = channels_of(ae, lin, y, setup.obs_var)?;
        let v = meta.standardise(&raw);
        let n = v.len();
        Ok(Some(Tensor::from_data(TensorData::new(v, [1, n]), &self.device)))
    }

    /// Samples from `noise` (`[n, nx_prior]`) given the conditions `cond` (`[n, nx_prior]`, or
    /// none) of the physical `backgrounds` (one per row, or one for all), guided towards `y`;
    /// returns the samples in the network's variable and the analyses as model states.
    fn draw(
        &self,
        setup: &Setup<'_>,
        y: &[f64],
        backgrounds: &[Vec<f64>],
        cond: Option<Tensor<2>>,
        noise: Tensor<2>,
        rng: &mut AssimRng,
    ) -> Result<(Tensor<2>, Vec<Vec<f64>>), AssimError> {
        let nx = self.members.nrows();
        let cond_latent = cond.clone();
        let yt = Tensor::<2>::from_data(
            TensorData::new(y.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [1, y.len()]),
            &self.device,
        );
        // The network's condition: the background, then any observation channels.
        let lin = self.linearisation(setup)?;
        let extra = self.obs_channels(setup, y, lin.as_ref())?;
        let net_cond = cond.as_ref().map(|c| match &extra {
            Some(e) => Tensor::cat(vec![c.clone(), e.clone().repeat_dim(0, c.dims()[0])], 1),
            None => c.clone(),
        });
        let residual = self.analysis_residual(backgrounds, cond.as_ref())?;
        let residual = residual.as_deref();
        let (sample, x) = match (self.prior.meta.increment_scale, cond) {
            (Some(rho), Some(base)) => {
                let rho = rho * self.cfg.prior_infl;
                // Sample the increment z, guided through H(x̃_b + ρ z); then x̃ = x̃_b + ρ z.
                let seen = Seen { base: Some((&base, rho)), residual, lin: lin.as_ref() };
                let z = self.sample(setup, yt, noise, net_cond.as_ref(), seen, rng)?;
                (z.clone(), base + z * rho)
            }
            (_, _) => {
                let seen = Seen { base: None, residual, lin: lin.as_ref() };
                let x = self.sample(setup, yt, noise, net_cond.as_ref(), seen, rng)?;
                (x.clone(), x)
            }
        };
        let norm = self.prior.meta.normalisation;
        let states: Vec<Vec<f64>> = match &self.space {
            Space::State(_) => {
                to_rows(&x).chunks(nx).map(|c| c.iter().map(|&v| norm.inverse(v)).collect()).collect()
            }
            Space::Latent(ae) => {
                let decoded = ae.decode_states(x * norm.std + norm.mean);
                match (self.cfg.latent_analysis, &cond_latent) {
                    (LatentAnalysis::Increment, Some(zb)) => {
                        // x_a = D(z_a) + κ (x_b − D(z_b)), with x_b what the prior was
                        // conditioned on: the forecast mean (members would otherwise keep their
                        // whole forecast spread) or each member's forecast. A mean-conditioned
                        // prior has one background: it is decoded once.
                        let zb = zb.clone().narrow(0, 0, backgrounds.len());
                        let db = ae.decode_states(zb * norm.std + norm.mean);
                        // κ = 1 keeps the increment form's arithmetic, so earlier runs
                        // reproduce bit for bit.
                        let keep = self.cfg.keep;
                        decoded
                            .iter()
                            .enumerate()
                            .map(|(j, a)| {
                                let k = if backgrounds.len() == 1 { 0 } else { j };
                                backgrounds[k]
                                    .iter()
                                    .zip(a)
                                    .zip(&db[k])
                                    .map(
                                        |((xb, a), b)| {
                                            if keep == 1.0 { xb + a - b } else { a + keep * (xb - b) }
                                        },
                                    )
                                    .collect()
                            })
                            .collect()
                    }
                    _ => decoded,
                }
            }
        };
        if states.iter().flatten().any(|v| !v.is_finite()) {
            return Err(AssimError::Numerical("the sampled analysis is non-finite".into()));
        }
        Ok((sample, states))
    }
}

/// Writes `[[methods]]` entries with their defaults filled in (read with every method the
/// program knows; an entry that does not read is written as given).
pub fn serialize_entries<S: serde::Serializer>(entries: &[toml::Value], s: S) -> Result<S::Ok, S::Error> {
    let registry = crate::methods();
    let full: Vec<toml::Value> =
        entries.iter().map(|v| registry.parse(v).map_or_else(|_| v.clone(), |e| e.entry())).collect();
    serde::Serialize::serialize(&full, s)
}
