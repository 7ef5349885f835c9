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
use assim_core::classical::taper::Taper;
use assim_core::classical::{EnsembleFilter, Setup, post_process};
use assim_core::linalg::row_mean;
use assim_core::obs::{ObsOperator, SparseLinear};
use assim_core::rng::AssimRng;

mod config;
pub mod ensemble_score;
pub mod spinup;

pub use config::{GenerativeConfig, LatentAnalysis, SamplerKind, Spinup};
pub use spinup::SpunUp;

use crate::guidance::{GuidanceConfig, Guided};
use crate::latent::blanket::{History, Layout, PinnedPast, Trajectory, Window};
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
    /// A trajectory prior's layout and the past windows it remembers (`None`: one window).
    trajectory: Option<(Layout, History)>,
    /// The weight of each state element's increment, `[nx]` (see [`GenerativeConfig::taper`]).
    taper: Option<Taper>,
}

/// A trajectory's past windows as the guidance observes them: values `[1, past]` in the
/// prior's variable and their variances `[1, past]`.
struct Pinned {
    values: Tensor<2>,
    var: Tensor<2>,
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
                if ae.latent_dim() * prior.meta.windows() != prior.meta.nx {
                    return Err(AssimError::Format {
                        path: path.to_path_buf(),
                        msg: format!(
                            "has {} latent numbers for {} window(s), the autoencoder {} per window",
                            prior.meta.nx,
                            prior.meta.windows(),
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
            None if prior.meta.blanket > 0 => {
                return Err(AssimError::Format {
                    path: path.to_path_buf(),
                    msg: "a trajectory prior without an autoencoder".into(),
                });
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
        let trajectory = trajectory_layout(cfg, &prior.meta, path)?.map(|l| (l, History::new(l.len - 1)));
        let taper = cfg.taper.as_ref().map(|t| Taper::new(t, bed)).transpose()?;
        Ok(GenerativeFilter {
            prior,
            cfg: cfg.clone(),
            sampler,
            edm,
            space,
            members: Mat::zeros(0, 0),
            device,
            trajectory,
            taper,
        })
    }

    /// Numbers of one sample in the network's variable: a trajectory's windows, or one state.
    fn sample_dim(&self) -> usize {
        match &self.trajectory {
            Some((l, _)) => l.len * l.nz,
            None => self.prior.meta.nx,
        }
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
        let Seen { base, residual, lin, keep, .. } = seen;
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
        let (rows, intercept) = match setup.obs.as_sparse() {
            Some(op) if residual.is_none() => (op, None),
            Some(op) => {
                let mut intercept = vec![0.0; op.n_obs()];
                shift(op, &mut intercept);
                (op, Some(intercept))
            }
            None => {
                let lin = lin.expect("a nonlinear operator is linearised before sampling");
                let mut intercept = lin.intercept();
                shift(&lin.rows, &mut intercept);
                (&lin.rows, Some(intercept))
            }
        };
        // Only the rows of the systems the guidance assimilates (`guide_with`).
        let obs = match keep {
            None => DecodedObs::new(ae, rows, setup.obs_var, b, a)?,
            Some(k) => {
                let var: Vec<f64> = k.iter().map(|&r| setup.obs_var[r]).collect();
                DecodedObs::new(ae, &rows.select(k), &var, b, a)?
            }
        };
        match (intercept, keep) {
            (None, _) => Ok(obs),
            (Some(c), None) => obs.with_intercept(&c),
            (Some(c), Some(k)) => obs.with_intercept(&k.iter().map(|&r| c[r]).collect::<Vec<_>>()),
        }
    }

    /// The rows of the window's operator that belong to the observing systems `names`, or an
    /// error when the operator does not name its systems.
    fn rows_of(setup: &Setup<'_>, names: &[String]) -> Result<Vec<usize>, AssimError> {
        let systems = setup.obs.systems();
        if systems.is_empty() {
            return Err(AssimError::Input(
                "guide_with / channels_from: this window's operator does not name its observing systems"
                    .into(),
            ));
        }
        Ok(systems.into_iter().filter(|(n, _)| names.contains(n)).flat_map(|(_, r)| r).collect())
    }
}

/// How the observation operator sees the prior's variable `x` (see
/// [`GenerativeFilter::observe`]): the normalised state is `base + rho·x` (an increment prior)
/// or `x` itself (`base = None`); a `residual` (physical) is added to the decoded fields; `lin`
/// is the window's operator linearised about the forecast mean, where the latent space needs it;
/// `keep`, the rows the guidance assimilates (all when `None`; see
/// [`GenerativeConfig::guide_with`]); `pinned`, a trajectory's past windows as observed.
#[derive(Clone, Copy)]
struct Seen<'b> {
    base: Option<(&'b Tensor<2>, f64)>,
    residual: Option<&'b [f64]>,
    lin: Option<&'b Linearised>,
    keep: Option<&'b [usize]>,
    pinned: Option<&'b Pinned>,
}

/// Independent batches a latent analysis's members are sampled in, one rayon task each (and
/// shared among the ranks of a distributed job): burn's
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
        let pinned = seen.pinned;
        let deterministic = !matches!(self.sampler, Sampler::PredictorCorrector { .. });
        let whole = match &self.space {
            Space::Latent(ae) if deterministic && n > 1 => self.decoded_obs(ae, setup, seen)?,
            _ => {
                let obs = self.observe(setup, seen)?;
                return self.guided_sample(obs.as_ref(), yt, pinned, noise, cond, rng);
            }
        };
        let parts = PARTS.min(n);
        let ranges: Vec<(usize, usize)> =
            (0..parts).map(|k| (k * n / parts, (k + 1) * n / parts - k * n / parts)).collect();
        let run_parts = |ranges: &[(usize, usize)]| {
            ranges
                .par_iter()
                .map(|&(start, len)| {
                    let obs = whole.rows(start, len);
                    let cond = cond.map(|c| c.clone().narrow(0, start, len));
                    // A deterministic sampler draws nothing: each part gets a copy of the stream.
                    let mut rng = rng.clone();
                    let noise = noise.clone().narrow(0, start, len);
                    self.guided_sample(&obs, yt.clone(), pinned, noise, cond.as_ref(), &mut rng)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        if assim_core::distributed::team().size() == 1 {
            return Ok(Tensor::cat(run_parts(&ranges)?, 0));
        }
        // The parts shared among the ranks of a distributed job, gathered as f32 values in f64
        // (exact both ways).
        let values = assim_core::distributed::gather_blocks(parts, |mine| {
            Ok(run_parts(&ranges[mine])?.iter().flat_map(to_rows).collect())
        })?;
        Ok(from_rows(&values, n, values.len() / n, &self.device))
    }

    /// The reverse process of one batch, guided through `obs`; a trajectory prior denoises the
    /// whole trajectory from its local denoiser and holds its past windows to `pinned`.
    fn guided_sample(
        &self,
        obs: &dyn Observe,
        yt: Tensor<2>,
        pinned: Option<&Pinned>,
        noise: Tensor<2>,
        cond: Option<&Tensor<2>>,
        rng: &mut AssimRng,
    ) -> Result<Tensor<2>, AssimError> {
        let (g, w) = (self.cfg.guidance.clone(), self.cfg.guide_sigma);
        match (&self.trajectory, pinned) {
            (Some((layout, _)), Some(p)) => {
                let prior = Trajectory::new(&self.prior.network, *layout);
                let obs = PinnedPast::new(obs, p.var.dims()[1], p.var.clone());
                let yt = Tensor::cat(vec![p.values.clone(), yt], 1);
                let guided = Guided::new(&prior, &obs, yt, g).within(w);
                self.sampler.sample(&guided, &self.edm, self.cfg.steps, noise, cond, rng)
            }
            _ => {
                let guided = Guided::new(&self.prior.network, obs, yt, g).within(w);
                self.sampler.sample(&guided, &self.edm, self.cfg.steps, noise, cond, rng)
            }
        }
    }
}

/// The trajectory of a prior trained with a blanket, as the entry `cfg` asks for it: `None`
/// for a one-window prior; an error when the entry and the checkpoint at `path` disagree.
fn trajectory_layout(
    cfg: &GenerativeConfig,
    meta: &crate::prior::trained::DenoiserMeta,
    path: &Path,
) -> Result<Option<Layout>, AssimError> {
    let w = meta.windows();
    match (meta.blanket, cfg.trajectory) {
        (0, None | Some(1)) => Ok(None),
        (0, Some(l)) => Err(AssimError::Input(format!(
            "trajectory = {l}: {} is a one-window prior (train one with data.blanket = k)",
            path.display()
        ))),
        (k, None) => Err(AssimError::Input(format!(
            "{} is a trajectory prior over a blanket of {w} windows (k = {k}): give trajectory = L (≥ {w}) in the entry",
            path.display()
        ))),
        (k, Some(l)) if l < w => Err(AssimError::Input(format!(
            "trajectory = {l} is shorter than the blanket of {w} windows (k = {k}) of {}",
            path.display()
        ))),
        (k, Some(len)) => {
            if meta.conditional && meta.background != BackgroundMode::Mean {
                return Err(AssimError::Format {
                    path: path.to_path_buf(),
                    msg: "a trajectory prior conditions on the forecast mean".into(),
                });
            }
            let nz = meta.nx / w;
            let ne = meta.obs_channels.as_ref().map_or(0, |m| m.channels())
                * meta.network.grid.map_or(0, |[_, h, wd]| h * wd);
            Ok(Some(Layout { k, len, nz, nb: if meta.conditional { nz } else { 0 }, ne }))
        }
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
        self.forget();
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
        // A trajectory prior remembers the window's background (the forecast mean's latent).
        let background = match (&self.trajectory, &cond) {
            (None, _) => None,
            (Some(_), Some(c)) => Some(c.clone().narrow(0, 0, 1)),
            (Some(_), None) => Some(self.encode_condition(&[row_mean(self.members.as_ref())])),
        };
        let noise = normal(rng, n, self.sample_dim(), &self.device);
        let drawn = self.draw(setup, y, &backgrounds, cond, noise, rng)?;
        for (j, s) in drawn.states.iter().enumerate() {
            for (i, &v) in s.iter().enumerate() {
                self.members[(i, j)] = v;
            }
        }
        if let Some(background) = background {
            let analysis = self.encode_condition(&[row_mean(self.members.as_ref())]);
            if let Some((_, h)) = &mut self.trajectory {
                h.push(Window { background, analysis, channels: drawn.channels });
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
        let noise = normal(rng, k, self.sample_dim(), &self.device);
        let Drawn { sample: samples, states, .. } = self.draw(setup, y, &backgrounds, cond, noise, rng)?;
        Ok(Candidates { samples, condition, states })
    }

    /// The prior's trained denoiser (the reference model of an alignment).
    pub fn prior(&self) -> &TrainedDenoiser {
        &self.prior
    }

    /// With [`GenerativeConfig::guide_on_analysis`]: the part `κ (x_b − D(z_b))` of the
    /// increment analysis that the decoder does not give, from the one background and its
    /// decoded latent `decoded` (an increment analysis's), so that the guidance observes the
    /// analysis itself; `None` otherwise.
    fn analysis_residual(&self, backgrounds: &[Vec<f64>], decoded: Option<&[Vec<f64>]>) -> Option<Vec<f64>> {
        let ([xb], Some([db])) = (backgrounds, decoded) else {
            return None;
        };
        self.cfg.guide_on_analysis.then(|| xb.iter().zip(db).map(|(x, d)| self.cfg.keep * (x - d)).collect())
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
        // The systems left out of the channels look unobserved: an infinite error variance.
        let var = match &self.cfg.channels_from {
            Some(names) => {
                let mut var = vec![f64::INFINITY; setup.obs_var.len()];
                for r in Self::rows_of(setup, names)? {
                    var[r] = setup.obs_var[r];
                }
                var
            }
            None => setup.obs_var.to_vec(),
        };
        let raw = channels_of(ae, lin, y, &var)?;
        let v = meta.standardise(&raw);
        let n = v.len();
        Ok(Some(Tensor::from_data(TensorData::new(v, [1, n]), &self.device)))
    }

    /// A trajectory prior's network condition (`[n, len·(nz + ne)]`: the windows'
    /// backgrounds, then their channels) and its past windows as the guidance holds them, from
    /// the current window's condition `cond` (`[n, nz]`) and channels `extra` (`[1, ne]`) and
    /// the remembered windows; `None` for a one-window prior.
    fn trajectory_inputs(
        &self,
        cond: Option<&Tensor<2>>,
        extra: Option<&Tensor<2>>,
    ) -> Option<(Option<Tensor<2>>, Pinned)> {
        let (l, history) = self.trajectory.as_ref()?;
        let past = history.past();
        let dev = &self.device;
        let zeros = |m: usize| Tensor::<2>::zeros([1, m], dev);
        // A missing window takes the first remembered background (or the current one).
        let fallback = past
            .iter()
            .flatten()
            .next()
            .map(|w| w.background.clone())
            .or_else(|| cond.map(|c| c.clone().narrow(0, 0, 1)))
            .unwrap_or_else(|| zeros(l.nz));
        let rho = self.prior.meta.increment_scale.map(|r| r * self.cfg.prior_infl);
        let sigma2 = self.cfg.blanket_sigma * self.cfg.blanket_sigma;
        let (mut values, mut var, mut backgrounds, mut channels) = (vec![], vec![], vec![], vec![]);
        for w in &past {
            match w {
                Some(w) => {
                    values.push(match rho {
                        Some(r) => (w.analysis.clone() - w.background.clone()) / r,
                        None => w.analysis.clone(),
                    });
                    var.push(Tensor::<2>::full([1, l.nz], sigma2, dev));
                    backgrounds.push(w.background.clone());
                    channels.push(w.channels.clone().unwrap_or_else(|| zeros(l.ne)));
                }
                None => {
                    // Unobserved: the prior samples it.
                    values.push(zeros(l.nz));
                    var.push(Tensor::<2>::full([1, l.nz], 1e12, dev));
                    backgrounds.push(fallback.clone());
                    channels.push(zeros(l.ne));
                }
            }
        }
        let net_cond = cond.map(|c| {
            let n = c.dims()[0];
            let mut b: Vec<Tensor<2>> = backgrounds.into_iter().map(|b| b.repeat_dim(0, n)).collect();
            b.push(c.clone());
            let mut parts = vec![Tensor::cat(b, 1)];
            if let Some(e) = extra {
                channels.push(e.clone());
                parts.push(Tensor::cat(channels, 1).repeat_dim(0, n));
            }
            Tensor::cat(parts, 1)
        });
        Some((net_cond, Pinned { values: Tensor::cat(values, 1), var: Tensor::cat(var, 1) }))
    }

    /// Samples from `noise` (`[n, nx_prior]`; a trajectory prior's `[n, len·nz]`) given the
    /// conditions `cond` (`[n, nz]`, or none) of the physical `backgrounds` (one per row, or
    /// one for all), guided towards `y`.
    fn draw(
        &self,
        setup: &Setup<'_>,
        y: &[f64],
        backgrounds: &[Vec<f64>],
        cond: Option<Tensor<2>>,
        noise: Tensor<2>,
        rng: &mut AssimRng,
    ) -> Result<Drawn, AssimError> {
        let nx = self.members.nrows();
        let norm = self.prior.meta.normalisation;
        // D(z_b) of an increment analysis, decoded once for the guidance's residual and for the
        // analysis (a mean-conditioned prior has one background).
        let decoded_backgrounds = match (&self.space, self.cfg.latent_analysis, &cond) {
            (Space::Latent(ae), LatentAnalysis::Increment, Some(zb)) => {
                Some(ae.decode_states(zb.clone().narrow(0, 0, backgrounds.len()) * norm.std + norm.mean))
            }
            _ => None,
        };
        let keep = match (&self.cfg.guide_with, &self.space) {
            (Some(names), Space::Latent(_)) => Some(Self::rows_of(setup, names)?),
            _ => None,
        };
        let guided_y: Vec<f32> = match &keep {
            Some(k) => k.iter().map(|&r| y[r] as f32).collect(),
            None => y.iter().map(|&v| v as f32).collect(),
        };
        let p = guided_y.len();
        let yt = Tensor::<2>::from_data(TensorData::new(guided_y, [1, p]), &self.device);
        let keep = keep.as_deref();
        // The network's condition: the background, then any observation channels.
        let lin = self.linearisation(setup)?;
        let extra = self.obs_channels(setup, y, lin.as_ref())?;
        let (net_cond, pinned) = match self.trajectory_inputs(cond.as_ref(), extra.as_ref()) {
            Some((c, p)) => (c, Some(p)),
            None => {
                let c = cond.as_ref().map(|c| match &extra {
                    Some(e) => Tensor::cat(vec![c.clone(), e.clone().repeat_dim(0, c.dims()[0])], 1),
                    None => c.clone(),
                });
                (c, None)
            }
        };
        let pinned = pinned.as_ref();
        // The analysed window is a trajectory's last.
        let last = |x: Tensor<2>| match &self.trajectory {
            Some((l, _)) => x.narrow(1, (l.len - 1) * l.nz, l.nz),
            None => x,
        };
        let residual = self.analysis_residual(backgrounds, decoded_backgrounds.as_deref());
        let residual = residual.as_deref();
        let (sample, x) = match (self.prior.meta.increment_scale, cond) {
            (Some(rho), Some(base)) => {
                let rho = rho * self.cfg.prior_infl;
                // Sample the increment z, guided through H(x̃_b + ρ z); then x̃ = x̃_b + ρ z.
                let seen = Seen { base: Some((&base, rho)), residual, lin: lin.as_ref(), keep, pinned };
                let z = self.sample(setup, yt, noise, net_cond.as_ref(), seen, rng)?;
                (z.clone(), base + last(z) * rho)
            }
            (_, _) => {
                let seen = Seen { base: None, residual, lin: lin.as_ref(), keep, pinned };
                let x = self.sample(setup, yt, noise, net_cond.as_ref(), seen, rng)?;
                (x.clone(), last(x))
            }
        };
        let states: Vec<Vec<f64>> = match &self.space {
            Space::State(_) => {
                to_rows(&x).chunks(nx).map(|c| c.iter().map(|&v| norm.inverse(v)).collect()).collect()
            }
            Space::Latent(ae) => {
                let decoded = ae.decode_states(x * norm.std + norm.mean);
                match &decoded_backgrounds {
                    Some(db) => {
                        // x_a = D(z_a) + κ (x_b − D(z_b)), with x_b what the prior was
                        // conditioned on: the forecast mean (members would otherwise keep their
                        // whole forecast spread) or each member's forecast.
                        // κ = 1 keeps the increment form's arithmetic, so earlier runs
                        // reproduce bit for bit. A taper then weighs the increment per field.
                        let keep = self.cfg.keep;
                        decoded
                            .iter()
                            .enumerate()
                            .map(|(j, a)| {
                                let k = if backgrounds.len() == 1 { 0 } else { j };
                                let mut xa: Vec<f64> = backgrounds[k]
                                    .iter()
                                    .zip(a)
                                    .zip(&db[k])
                                    .map(
                                        |((xb, a), b)| {
                                            if keep == 1.0 { xb + a - b } else { a + keep * (xb - b) }
                                        },
                                    )
                                    .collect();
                                if let Some(taper) = &self.taper {
                                    taper.apply(&backgrounds[k], &mut xa);
                                }
                                xa
                            })
                            .collect()
                    }
                    None => decoded,
                }
            }
        };
        if states.iter().flatten().any(|v| !v.is_finite()) {
            return Err(AssimError::Numerical("the sampled analysis is non-finite".into()));
        }
        Ok(Drawn { sample, states, channels: extra })
    }

    /// Whether this filter remembers past windows (a trajectory prior), and how many.
    pub fn memory(&self) -> usize {
        self.trajectory.as_ref().map_or(0, |(l, _)| l.len - 1)
    }

    /// Remembers a window another method analysed (a classical spin-up), from its forecast
    /// mean `xb` and analysis mean `xa` (physical states) and the window's observations: the
    /// first trajectories then have a full past. A one-window prior remembers nothing.
    pub fn remember(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        xb: &[f64],
        xa: &[f64],
    ) -> Result<(), AssimError> {
        if self.trajectory.is_none() {
            return Ok(());
        }
        let background = self.encode_condition(&[xb.to_vec()]);
        let analysis = self.encode_condition(&[xa.to_vec()]);
        let channels = match &self.space {
            Space::Latent(_) if self.prior.meta.obs_channels.is_some() => {
                let lin = Linearised::new(setup.obs, xb.to_vec())?;
                self.obs_channels(setup, y, Some(&lin))?
            }
            _ => None,
        };
        if let Some((_, h)) = &mut self.trajectory {
            h.push(Window { background, analysis, channels });
        }
        Ok(())
    }
}

/// One analysis's draw: the samples in the network's variable, the analyses as model states,
/// and the window's standardised observation channels (a prior conditioned on them).
struct Drawn {
    sample: Tensor<2>,
    states: Vec<Vec<f64>>,
    channels: Option<Tensor<2>>,
}

impl GenerativeFilter {
    /// Forgets the remembered windows (a new run).
    fn forget(&mut self) {
        if let Some((_, h)) = &mut self.trajectory {
            h.clear();
        }
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
