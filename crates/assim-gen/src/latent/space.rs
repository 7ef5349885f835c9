//! The latent space of a trained sphere autoencoder, as the latent methods use it: physical
//! grid states ⇄ normalised fields ⇄ latent grids, and the observation operator seen from the
//! latent, `H(D(z))` (LO-SDA's and SLAMS's composition of the decoder with the station and
//! satellite operators).
//!
//! Shapes: physical states are assim's grid states (`c·nlat·nlon`, the bed's `c` fields: geopotential,
//! u, v on the shallow-water bed; T, u, v per level and p_s on the multi-level one);
//! latents are flat `[n, nz]` with `nz = latent·nlat/4·nlon/4` (row-major `[c, h, w]`).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};

use assim_core::AssimError;
use assim_core::bed::BedConfig;
use assim_core::bed::StageProgress;
use assim_core::bed::sphere::{SphereConfig, SphereTwin};
use assim_core::experiment::Experiment;
use assim_core::obs::{ObsOperator, SparseLinear};
use assim_core::rng::stream;

use crate::latent::autoencoder::{FieldNormalisation, SphereVae, VaeSize};
use crate::obs::Observe;
use crate::tensor::normal;
use crate::train::checkpoint::Checkpoint;
use crate::train::params::{count, load_flat};

/// A trained autoencoder with its normalisation, on a plain (inference) device.
pub struct TrainedAutoencoder {
    vae: SphereVae,
    /// The network's size.
    pub size: VaeSize,
    /// Spectral truncation of the grid it was trained on.
    pub truncation: usize,
    /// `[nlat, nlon]`.
    pub shape: [usize; 2],
    /// Physical fields ⇄ the network's input.
    norm: FieldNormalisation,
    /// Fingerprint of the weights: a denoiser trained on this latent records it.
    pub fingerprint: String,
    /// Where it was read from.
    pub path: PathBuf,
    device: Device,
}

impl TrainedAutoencoder {
    /// Loads a checkpoint written by `assim train autoencoder`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, AssimError> {
        let ckpt = Checkpoint::load(path)?;
        let bad = |msg: String| AssimError::Format { path: path.to_path_buf(), msg };
        if ckpt.meta["kind"] != "autoencoder" {
            return Err(bad(format!("is not an autoencoder checkpoint (kind {})", ckpt.meta["kind"])));
        }
        let m = &ckpt.meta["autoencoder"];
        let size: VaeSize =
            serde_json::from_value(m["size"].clone()).map_err(|e| bad(format!("size unreadable: {e}")))?;
        let shape: [usize; 2] =
            serde_json::from_value(m["grid"].clone()).map_err(|e| bad(format!("grid unreadable: {e}")))?;
        let truncation = m["truncation"].as_u64().ok_or_else(|| bad("no truncation".into()))? as usize;
        let scale: Vec<f64> =
            serde_json::from_value(m["scale"].clone()).map_err(|e| bad(format!("scale unreadable: {e}")))?;
        let params = ckpt.array("params").ok_or_else(|| bad("no weights".into()))?;
        let offset = ckpt.array("norm_offset").ok_or_else(|| bad("no normalisation offset".into()))?;
        let template = SphereVae::new(size, device);
        let g = shape[0] * shape[1];
        if params.len() != count(&template)
            || offset.len() != size.channels * g
            || scale.len() != size.channels
            || !shape[0].is_multiple_of(4)
            || !shape[1].is_multiple_of(4)
        {
            return Err(bad("weights or normalisation do not match the stored size and grid".into()));
        }
        if params.iter().chain(offset).any(|v| !v.is_finite())
            || scale.iter().any(|s| !s.is_finite() || *s <= 0.0)
        {
            return Err(bad("non-finite weights or normalisation".into()));
        }
        Ok(TrainedAutoencoder {
            vae: load_flat(template, params, device, false),
            size,
            truncation,
            shape,
            norm: FieldNormalisation { offset: offset.iter().map(|&v| f64::from(v)).collect(), scale },
            fingerprint: ckpt.fingerprint("params").expect("read above"),
            path: path.to_path_buf(),
            device: device.clone(),
        })
    }

    /// An autoencoder from weights in memory, with the identity normalisation (benchmarks,
    /// tests): no checkpoint, so no truncation (0) and the fingerprint `"in-memory"`.
    pub fn from_parts(vae: SphereVae, size: VaeSize, shape: [usize; 2], device: &Device) -> Self {
        TrainedAutoencoder {
            vae,
            size,
            truncation: 0,
            shape,
            norm: FieldNormalisation {
                offset: vec![0.0; size.channels * shape[0] * shape[1]],
                scale: vec![1.0; size.channels],
            },
            fingerprint: "in-memory".into(),
            path: PathBuf::new(),
            device: device.clone(),
        }
    }

    /// The divisor of each field in the network's normalisation (physical units per unit).
    pub fn field_scale(&self) -> &[f64] {
        &self.norm.scale
    }

    /// The latent grid `[latent, nlat/4, nlon/4]`.
    pub fn latent_grid(&self) -> [usize; 3] {
        [self.size.latent, self.shape[0] / 4, self.shape[1] / 4]
    }

    /// Latent numbers per state.
    pub fn latent_dim(&self) -> usize {
        self.latent_grid().iter().product()
    }

    /// Physical numbers per state.
    pub fn state_dim(&self) -> usize {
        self.size.channels * self.shape[0] * self.shape[1]
    }

    /// Refuses an experiment on another grid (a latent checkpoint for another resolution).
    pub fn check_experiment(&self, exp: &Experiment) -> Result<(), AssimError> {
        self.check_bed(exp.bed.as_ref())
    }

    /// Refuses a bed on another grid, or with other fields.
    pub fn check_bed(&self, bed: &dyn BedConfig) -> Result<(), AssimError> {
        let grid = bed.field_grid();
        let t = grid.as_ref().map(|g| g.truncation);
        let fields = grid.as_ref().map_or(0, |g| g.fields.len());
        if t != Some(self.truncation) || fields != self.size.channels || bed.nx() != self.state_dim() {
            return Err(AssimError::Format {
                path: self.path.clone(),
                msg: format!(
                    "this autoencoder was trained at T{} ({}×{} grid) on {} fields; the experiment runs {}",
                    self.truncation,
                    self.shape[0],
                    self.shape[1],
                    self.size.channels,
                    t.map_or("a model that is not on the sphere".into(), |t| format!(
                        "{} at T{t} ({fields} fields, {} numbers)",
                        bed.name(),
                        bed.nx()
                    ))
                ),
            });
        }
        Ok(())
    }

    /// The normalised fields `[n, c·nlat·nlon]` of physical states.
    fn normalise(&self, states: &[&[f64]]) -> Tensor<2> {
        let nx = self.state_dim();
        let mut v = Vec::with_capacity(states.len() * nx);
        for s in states {
            assert_eq!(s.len(), nx, "a state of {} numbers on a grid of {nx}", s.len());
            v.extend(self.norm.forward(s));
        }
        Tensor::from_data(TensorData::new(v, [states.len(), nx]), &self.device)
    }

    /// The latent means `μ(E(x))` of physical states: `[n, nz]`.
    pub fn encode(&self, states: &[&[f64]]) -> Tensor<2> {
        let [h, w] = self.shape;
        let c = self.size.channels;
        let parts: Vec<Tensor<2>> = states
            .chunks(32)
            .map(|chunk| {
                let x = self.normalise(chunk).reshape([chunk.len(), c, h, w]);
                let mu = self.vae.encode(x).0;
                mu.reshape([chunk.len(), self.latent_dim()])
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// The normalised fields `[n, c·nlat·nlon]` decoded from latents `[n, nz]`
    /// (differentiable: autodiff follows `z` through the decoder).
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        let n = z.dims()[0];
        let [c, h, w] = self.latent_grid();
        self.vae.decode(z.reshape([n, c, h, w])).reshape([n, self.state_dim()])
    }

    /// The device the network runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `D'(z) dz` of the physical decoding of one latent `z` (length `nz`), by central
    /// differences with a step of 1 % of `dz`'s RMS (the decoder is smooth: SiLU; burn has no
    /// forward-mode autodiff), both sides decoded as one batch.
    pub fn decode_tangent(&self, z: &[f64], dz: &[f64]) -> Vec<f64> {
        let nz = z.len();
        let rms = (dz.iter().map(|v| v * v).sum::<f64>() / nz as f64).sqrt();
        if rms == 0.0 {
            return vec![0.0; self.state_dim()];
        }
        let h = 1e-2 / rms;
        let mut both = Vec::with_capacity(2 * nz);
        both.extend(z.iter().zip(dz).map(|(a, d)| a + h * d));
        both.extend(z.iter().zip(dz).map(|(a, d)| a - h * d));
        let out = self.decode_states(crate::tensor::from_rows(&both, 2, nz, &self.device));
        out[0].iter().zip(&out[1]).map(|(p, m)| (p - m) / (2.0 * h)).collect()
    }

    /// `D'(z)ᵀ λ`: the gradient of `⟨λ, x(z)⟩` in the latents `z` `[n, nz]`, for physical
    /// cotangents `λ` (`n` row-major states), by reverse-mode autodiff through the decoder
    /// (the latent variational methods' adjoint).
    pub fn decode_vjp(&self, z: Tensor<2>, lam: &[f64]) -> Tensor<2> {
        let [n, _] = z.dims();
        let g = self.shape[0] * self.shape[1];
        let nx = self.state_dim();
        let cot: Vec<f64> = lam.iter().enumerate().map(|(i, l)| l * self.norm.scale[(i % nx) / g]).collect();
        let cot = crate::tensor::from_rows(&cot, n, nx, &self.device);
        let zg = z.without_autodiff().autodiff().require_grad();
        let grads = (self.decode(zg.clone()) * cot).sum().backward();
        zg.grad(&grads).expect("the decoder's input has a gradient")
    }

    /// Physical states (row-major, `n × c·nlat·nlon`) of latents `[n, nz]`.
    pub fn decode_states(&self, z: Tensor<2>) -> Vec<Vec<f64>> {
        let nx = self.state_dim();
        let v = self.decode(z).to_data().iter::<f32>().collect::<Vec<f32>>();
        v.chunks(nx).map(|f| self.norm.inverse(f)).collect()
    }
}

/// `H` linearised about a state `x̄`: the rows of `H'(x̄)` and the value `H(x̄)`, what both the
/// guidance through the decoder (a nonlinear operator) and SLAMS's observation channels need,
/// computed once per analysis.
pub struct Linearised {
    /// The rows of `H'(x̄)`.
    pub rows: SparseLinear,
    /// `H(x̄)`.
    pub value: Vec<f64>,
    /// `x̄`.
    pub at: Vec<f64>,
}

impl Linearised {
    /// `op` linearised about `at`; an error for an operator without a sparse Jacobian.
    pub fn new(op: &dyn ObsOperator, at: Vec<f64>) -> Result<Self, AssimError> {
        let rows = op.jacobian(&at).ok_or_else(|| {
            AssimError::Input(
                "a latent prior needs an observation operator with sparse rows or a sparse Jacobian".into(),
            )
        })?;
        let mut value = vec![0.0; op.n_obs()];
        op.apply(&at, &mut value);
        Ok(Linearised { rows, value, at })
    }

    /// `H(x̄) − H'(x̄) x̄`: with the rows, `H(x) ≈ H(x̄) + H'(x̄)(x − x̄)`.
    pub fn intercept(&self) -> Vec<f64> {
        let mut jx = vec![0.0; self.value.len()];
        self.rows.apply(&self.at, &mut jx);
        self.value.iter().zip(&jx).map(|(h, j)| h - j).collect()
    }
}

/// `H(D(z))` seen from a network's variable `x`: the latent is `z = base + a·x` (`base`
/// `[1, nz]` or `[n, nz]`), the decoder gives normalised fields, and the sparse rows of the
/// window's operator (interpolation, footprints; a nonlinear operator's Jacobian about the
/// forecast, with [`DecodedObs::with_intercept`]) are applied to the physical fields. Rows are
/// grouped by length ([`RowGroup`]) and padded with zero weights to their group's, so `H` is a
/// gather, a product and a sum per group that autodiff differentiates.
pub struct DecodedObs<'a> {
    ae: &'a TrainedAutoencoder,
    base: Tensor<2>,
    a: f64,
    /// The rows, grouped by length.
    groups: Vec<RowGroup>,
    /// Where each observation's value lies in the groups' concatenated output `[P]`.
    order: Tensor<1, Int>,
    /// `Σ_k w_k · offset_k` `[1, P]`.
    constant: Tensor<2>,
    var: Tensor<2>,
    /// The mean latent of the whole batch `[1, nz]`, where `diag(H'H'ᵀ)` is linearised.
    mean_base: Tensor<2>,
    /// `diag(H'H'ᵀ)` at `x = 0`, computed once and shared by the batch's parts (see
    /// [`Observe::gain2`] below and [`DecodedObs::rows`]).
    gain2: std::sync::Arc<std::sync::OnceLock<Tensor<2>>>,
}

/// Rows of the operator whose lengths round up to the same power of two, padded to it: a
/// station interpolates 4 grid points and a footprint 28 at mid-latitudes but up to 910 near a
/// pole at T42, and one padding for all (3224 rows × 910) made the gather and its adjoint
/// 30 times the work of the rows themselves.
#[derive(Clone)]
struct RowGroup {
    /// Flat field indices `[rows·k]`.
    index: Tensor<1, Int>,
    /// Weights times the variable's scale `[1, rows·k]`.
    weight: Tensor<2>,
    rows: usize,
    k: usize,
}

/// Random probes of the Hutchinson estimate of `diag(H' H'ᵀ)` (SDA's Γ term).
const PROBES: usize = 8;

impl<'a> DecodedObs<'a> {
    /// The operator `op` (on physical grid states) with error variances `obs_var`, seen
    /// through `ae`'s decoder from `x`, where the latent is `base + a·x`.
    pub fn new(
        ae: &'a TrainedAutoencoder,
        op: &SparseLinear,
        obs_var: &[f64],
        base: Tensor<2>,
        a: f64,
    ) -> Result<Self, AssimError> {
        if op.nx() != ae.state_dim() {
            return Err(AssimError::Input(format!(
                "the observation operator acts on {} numbers, the autoencoder's grid has {}",
                op.nx(),
                ae.state_dim()
            )));
        }
        let p = op.n_obs();
        let g = ae.shape[0] * ae.shape[1];
        let dev = &ae.device;
        let mut constant = vec![0f32; p];
        let mut by_length: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for r in 0..p {
            by_length.entry(op.row(r).0.len().max(1).next_power_of_two()).or_default().push(r);
        }
        let mut order = vec![0i64; p];
        let mut groups = Vec::with_capacity(by_length.len());
        let mut first = 0;
        for (k, rows) in by_length {
            let mut index = vec![0i64; rows.len() * k];
            let mut weight = vec![0f32; rows.len() * k];
            for (q, &r) in rows.iter().enumerate() {
                order[r] = (first + q) as i64;
                let (idx, w) = op.row(r);
                for (j, (&i, &wi)) in idx.iter().zip(w).enumerate() {
                    index[q * k + j] = i as i64;
                    weight[q * k + j] = (wi * ae.norm.scale[i / g]) as f32;
                }
                constant[r] = idx.iter().zip(w).map(|(&i, &wi)| wi * ae.norm.offset[i]).sum::<f64>() as f32;
            }
            first += rows.len();
            groups.push(RowGroup {
                index: Tensor::from_data(TensorData::new(index, [rows.len() * k]), dev),
                weight: Tensor::from_data(TensorData::new(weight, [1, rows.len() * k]), dev),
                rows: rows.len(),
                k,
            });
        }
        let var: Vec<f32> = obs_var.iter().map(|&v| v as f32).collect();
        Ok(DecodedObs {
            ae,
            groups,
            order: Tensor::from_data(TensorData::new(order, [p]), dev),
            constant: Tensor::from_data(TensorData::new(constant, [1, p]), dev),
            var: Tensor::from_data(TensorData::new(var, [1, p]), dev),
            mean_base: base.clone().mean_dim(0),
            base,
            a,
            gain2: Default::default(),
        })
    }

    /// The same operator plus `intercept` (`[P]`, physical): a nonlinear `H` linearised about
    /// a state `x̄` is `H(x̄) − H'(x̄) x̄ + H'(x̄) x`, the rows given to [`DecodedObs::new`]
    /// being `H'(x̄)`.
    pub fn with_intercept(mut self, intercept: &[f64]) -> Result<Self, AssimError> {
        let p = self.var.dims()[1];
        if intercept.len() != p || intercept.iter().any(|v| !v.is_finite()) {
            return Err(AssimError::Input(format!(
                "the linearised operator's intercept has {} values (finite: {}) for {p} observations",
                intercept.len(),
                intercept.iter().all(|v| v.is_finite())
            )));
        }
        let c: Vec<f32> = intercept.iter().map(|&v| v as f32).collect();
        self.constant = self.constant + Tensor::from_data(TensorData::new(c, [1, p]), &self.ae.device);
        Ok(self)
    }

    /// The same operator for members `start..start + len` of the batch (a `base` of one row
    /// is shared), sharing the batch's `diag(H'H'ᵀ)`: a part of the batch sampled on its own
    /// thread sees exactly what the whole batch would.
    pub fn rows(&self, start: usize, len: usize) -> DecodedObs<'a> {
        let base = if self.base.dims()[0] == 1 {
            self.base.clone()
        } else {
            self.base.clone().narrow(0, start, len)
        };
        DecodedObs {
            ae: self.ae,
            base,
            a: self.a,
            groups: self.groups.clone(),
            order: self.order.clone(),
            constant: self.constant.clone(),
            var: self.var.clone(),
            mean_base: self.mean_base.clone(),
            gain2: self.gain2.clone(),
        }
    }

    /// The latent `base + a·x`.
    pub fn latent(&self, x: Tensor<2>) -> Tensor<2> {
        self.base.clone() + x * self.a
    }

    /// `H(D(z))` of latents `z` `[n, nz]`: `[n, P]` physical.
    fn observe_latent(&self, z: Tensor<2>) -> Tensor<2> {
        let n = z.dims()[0];
        let fields = self.ae.decode(z);
        let parts: Vec<Tensor<2>> = self
            .groups
            .iter()
            .map(|g| {
                let picked = fields.clone().select(1, g.index.clone()) * g.weight.clone();
                picked.reshape([n, g.rows, g.k]).sum_dim(2).reshape([n, g.rows])
            })
            .collect();
        Tensor::cat(parts, 1).select(1, self.order.clone()) + self.constant.clone()
    }
}

impl Observe for DecodedObs<'_> {
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        self.observe_latent(self.latent(x))
    }

    fn var(&self) -> Tensor<2> {
        self.var.clone()
    }

    fn vjp(&self, x: &Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        let xg = x.clone().without_autodiff().autodiff().require_grad();
        let grads = (self.apply(xg.clone()) * v).sum().backward();
        xg.grad(&grads).expect("the decoder's input has a gradient")
    }

    /// Central differences along `w`, with a step of 1 % of `w`'s RMS per member: burn has no
    /// forward-mode autodiff, and the decoder is smooth (SiLU), so the error is O(step²).
    fn jvp(&self, x: &Tensor<2>, w: Tensor<2>) -> Tensor<2> {
        let x = x.clone().without_autodiff();
        let rms = (w.clone().powf_scalar(2.0).mean_dim(1) + 1e-30).sqrt();
        let h = rms.recip() * 1e-2;
        let step = w * h.clone();
        (self.apply(x.clone() + step.clone()) - self.apply(x - step)) / (h * 2.0)
    }

    /// Hutchinson's estimate `mean_k (H' ε_k)²` over [`PROBES`] fixed Gaussian probes, `[1, P]`
    /// for the whole batch: linearised once per analysis about `x = 0` at the mean of the
    /// batch's latents (the background latent of an increment prior, the mean of the members'
    /// backgrounds for a member-conditioned one), the probes as one batch. The term only sets
    /// the scale of SDA's inflated variance, so one estimate serves every member and step:
    /// 2 decoder passes of [`PROBES`] latents per analysis instead of 2·[`PROBES`] passes of
    /// the whole ensemble (BENCHMARKS.md, "Cheap guided analyses").
    fn gain2(&self, x: &Tensor<2>) -> Tensor<2> {
        let nx = x.dims()[1];
        self.gain2
            .get_or_init(|| {
                let mut rng = stream(0, "decoded-obs probes");
                let e = normal(&mut rng, PROBES, nx, &x.device());
                // Central differences with a step of 1 % of each probe's RMS, as `jvp`.
                let rms = (e.clone().powf_scalar(2.0).mean_dim(1) + 1e-30).sqrt();
                let h = rms.recip() * 1e-2;
                let dz = e * h.clone() * self.a;
                let z0 = self.mean_base.clone().repeat_dim(0, PROBES);
                let j =
                    (self.observe_latent(z0.clone() + dz.clone()) - self.observe_latent(z0 - dz)) / (h * 2.0);
                j.powf_scalar(2.0).mean_dim(0)
            })
            .clone()
    }
}

/// One seed of the sphere experiment `exp` (its truth running `extra_windows` past the last
/// analysis), or an error for another bed.
pub fn sphere_twin(
    exp: &Experiment,
    seed: u64,
    extra_windows: usize,
    progress: &mut StageProgress<'_>,
) -> Result<SphereTwin, AssimError> {
    let cfg = exp
        .bed_as::<SphereConfig>()
        .ok_or_else(|| AssimError::Input("the sphere OSSE needs model.kind = \"shallow_water\"".into()))?;
    SphereTwin::new(cfg, exp.chronology(), &exp.base_dir, seed, extra_windows, progress)
}
