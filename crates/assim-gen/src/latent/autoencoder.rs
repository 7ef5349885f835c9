//! The latent space of LO-SDA and Align-DA on the sphere: a variational autoencoder on
//! normalised `(geopotential, u, v)` grids that downsamples 4× in each direction (T42:
//! 64×128 → 16×32, T21: 32×64 → 8×16).
//!
//! Every convolution sees the sphere's topology: longitude is circular, and the rows beyond a
//! pole are the rows on the other side of it (the first rows, in reverse order, half a turn
//! away in longitude). Scalars are continuous across the pole that way; wind components change
//! sign there, which the network has to learn (it sees the channel).
//!
//! Shapes: fields `[n, c, nlat, nlon]` (`nlat`, `nlon` multiples of 4); latents
//! `[n, latent, nlat/4, nlon/4]`.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

/// Size of the autoencoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VaeSize {
    /// Physical channels (3: geopotential, u, v).
    pub channels: usize,
    /// Hidden channels at full resolution (twice that at the coarser levels).
    pub width: usize,
    /// Latent channels.
    pub latent: usize,
}

impl Default for VaeSize {
    fn default() -> Self {
        Self { channels: 3, width: 32, latent: 4 }
    }
}

/// How physical fields become the autoencoder's input: `(x_i − offset_i) / scale_v`, a
/// per-point offset and one divisor per variable `v` (fields are variable-major, `points`
/// numbers per variable). Training and every use of a trained autoencoder share it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldNormalisation {
    /// Per state number.
    pub offset: Vec<f64>,
    /// Per variable.
    pub scale: Vec<f64>,
}

impl FieldNormalisation {
    /// Grid points per variable.
    pub fn points(&self) -> usize {
        self.offset.len() / self.scale.len().max(1)
    }

    /// Physical → normalised.
    pub fn forward(&self, x: &[f64]) -> Vec<f32> {
        let g = self.points();
        x.iter().enumerate().map(|(i, v)| ((v - self.offset[i]) / self.scale[i / g]) as f32).collect()
    }

    /// Normalised → physical.
    pub fn inverse(&self, f: &[f32]) -> Vec<f64> {
        let g = self.points();
        f.iter().enumerate().map(|(i, &v)| self.offset[i] + self.scale[i / g] * f64::from(v)).collect()
    }
}

/// Pads `[n, c, h, w]` by `p` on every side as the sphere does: circularly in longitude,
/// across the poles in latitude (rows mirrored, rolled by half a turn). `w` must be even.
pub fn sphere_pad(x: Tensor<4>, p: usize) -> Tensor<4> {
    if p == 0 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    let half = (w / 2) as i64;
    let north = x.clone().narrow(2, 0, p).flip([2]).roll(&[half], &[3]);
    let south = x.clone().narrow(2, h - p, p).flip([2]).roll(&[half], &[3]);
    let y = Tensor::cat(vec![north, x, south], 2);
    let left = y.clone().narrow(3, w - p, p);
    let right = y.clone().narrow(3, 0, p);
    Tensor::cat(vec![left, y, right], 3)
}

/// Nearest-neighbour upsampling by 2 in both directions (the decoder's definition; it is
/// computed by [`conv_upsampled`], which never forms the upsampled grid).
#[cfg(test)]
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let x = x.reshape([n, c, h, w, 1]).repeat_dim(4, 2).reshape([n, c, h, 2 * w]);
    x.reshape([n, c, h, 1, 2 * w]).repeat_dim(3, 2).reshape([n, c, 2 * h, 2 * w])
}

/// The two taps along axis `dim` (2: rows, 3: columns) of a 3-tap kernel `[.., 3, ..]` seen
/// from the coarse grid at output parity `parity`: an even fine point sees coarse points
/// (−1, 0) with weights (k₋₁, k₀ + k₁), an odd one (0, +1) with (k₋₁ + k₀, k₁).
fn coarse_taps(k: Tensor<4>, dim: usize, parity: usize) -> Tensor<4> {
    let tap = |i| k.clone().narrow(dim, i, 1);
    match parity {
        0 => Tensor::cat(vec![tap(0), tap(1) + tap(2)], dim),
        _ => Tensor::cat(vec![tap(0) + tap(1), tap(2)], dim),
    }
}

/// `conv(sphere_pad(upsample2(h), 1))` for a 3×3 convolution `conv` and `h` `[n, c, h, w]`
/// (`w` even), computed on the coarse grid: each of the four fine points above a coarse one
/// sees a 2×2 patch of coarse points, with the 3×3 kernel's taps summed into a 2×2 kernel, so
/// the layer costs 4 taps per fine point instead of 9 and the upsampled grid is never formed.
/// Exact: the sphere's halo of the coarse grid is the coarse version of the fine grid's
/// (longitude wraps; the row across a pole, half a turn away, is the same coarse row).
fn conv_upsampled(conv: &Conv2d, h: Tensor<4>) -> Tensor<4> {
    let [n, _, rows, cols] = h.dims();
    let k = conv.weight.val();
    let co = k.dims()[0];
    let bias = conv.bias.as_ref().map(|b| b.val());
    let hp = sphere_pad(h, 1);
    let options = || burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let parity = |a: usize| -> Tensor<5> {
        let ka = coarse_taps(k.clone(), 2, a);
        let row = hp.clone().narrow(2, a, rows + 1);
        let per_column: Vec<Tensor<4>> = (0..2)
            .map(|b| {
                let kab = coarse_taps(ka.clone(), 3, b);
                burn::tensor::module::conv2d(row.clone().narrow(3, b, cols + 1), kab, bias.clone(), options())
            })
            .collect();
        Tensor::stack(per_column, 4)
    };
    // [n, co, rows, 2 (row parity), cols, 2 (column parity)] is the fine grid, row-major.
    let fine: Tensor<6> = Tensor::stack(vec![parity(0), parity(1)], 3);
    fine.reshape([n, co, 2 * rows, 2 * cols])
}

fn conv3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Valid)
        .init(device)
}

/// The encoder `q(z | x) = N(μ(x), diag exp(logvar(x)))` and decoder `x̂ = D(z)`.
#[derive(Module, Debug)]
pub struct SphereVae {
    enc_in: Conv2d,
    enc_down1: Conv2d,
    enc_down2: Conv2d,
    enc_out: Conv2d,
    dec_in: Conv2d,
    dec_up1: Conv2d,
    dec_up2: Conv2d,
    dec_out: Conv2d,
}

impl SphereVae {
    /// A freshly initialised autoencoder (burn's default initialisation; training replaces it).
    pub fn new(size: VaeSize, device: &Device) -> Self {
        let (c, w, z) = (size.channels, size.width, size.latent);
        Self {
            enc_in: conv3(c, w, 1, device),
            enc_down1: conv3(w, 2 * w, 2, device),
            enc_down2: conv3(2 * w, 2 * w, 2, device),
            enc_out: conv3(2 * w, 2 * z, 1, device),
            dec_in: conv3(z, 2 * w, 1, device),
            dec_up1: conv3(2 * w, 2 * w, 1, device),
            dec_up2: conv3(2 * w, w, 1, device),
            dec_out: conv3(w, c, 1, device),
        }
    }

    /// The posterior mean and log-variance of the latent, each `[n, latent, h/4, w/4]`.
    pub fn encode(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let h = silu(self.enc_in.forward(sphere_pad(x, 1)));
        let h = silu(self.enc_down1.forward(sphere_pad(h, 1)));
        let h = silu(self.enc_down2.forward(sphere_pad(h, 1)));
        let out = self.enc_out.forward(sphere_pad(h, 1));
        let z = out.dims()[1] / 2;
        (out.clone().narrow(1, 0, z), out.narrow(1, z, z))
    }

    /// The reconstruction `[n, c, h, w]` of latents `[n, latent, h/4, w/4]`.
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        let h = silu(self.dec_in.forward(sphere_pad(z, 1)));
        let h = silu(conv_upsampled(&self.dec_up1, h));
        let h = silu(conv_upsampled(&self.dec_up2, h));
        self.dec_out.forward(sphere_pad(h, 1))
    }

    /// The β-VAE loss of a batch: the area-weighted mean squared reconstruction error of the
    /// decoded sample `μ + exp(logvar/2)·ε` (`eps` like the latent) plus `beta` × the KL
    /// divergence to N(0, I) per latent number. `row_weights` `[1, 1, h, 1]` are the area
    /// weights of the rows, normalised to mean 1.
    pub fn loss(&self, x: Tensor<4>, eps: Tensor<4>, row_weights: Tensor<4>, beta: f64) -> Tensor<1> {
        let (mu, logvar) = self.encode(x.clone());
        let z = mu.clone() + (logvar.clone() * 0.5).exp() * eps;
        let rec = (self.decode(z) - x).powi_scalar(2) * row_weights;
        let kl = (mu.powi_scalar(2) + logvar.clone().exp() - logvar - 1.0) * 0.5;
        rec.mean() + kl.mean() * beta
    }
}

/// One AdamW step of the autoencoder with weights `params` (flat, updated in place) on the
/// batch `x` `[n, c, h, w]` with reparameterisation noise `eps` (both on an autodiff
/// device); returns the loss before the step, or an error if it is not finite.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    template: &SphereVae,
    params: &mut [f32],
    adam: &mut crate::train::optim::AdamW,
    x: Tensor<4>,
    eps: Tensor<4>,
    row_weights: Tensor<4>,
    hyper: (f64, f64, f64),
    step: usize,
) -> Result<f64, assim_core::AssimError> {
    use crate::train::params::{flatten_grads, load_flat};
    let (beta, clip, lr) = hyper;
    let net = load_flat(template.clone(), params, &x.device(), true);
    let loss = net.loss(x, eps, row_weights, beta);
    let value = f64::from(loss.clone().into_scalar::<f32>());
    if !value.is_finite() {
        return Err(assim_core::AssimError::Numerical(format!(
            "autoencoder loss became non-finite at step {step}"
        )));
    }
    let mut g = flatten_grads(&net, &loss.backward());
    crate::train::optim::clip_global_norm(&mut g, clip);
    adam.step(params, &g, lr, step + 1);
    Ok(value)
}

/// Settings of [`fit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Fields per batch.
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// Weight of the KL term (small: the latent is for diffusion, not for sampling from N(0, I)).
    pub beta: f64,
    /// Seed of the initial weights, the batches and the reparameterisation noise.
    pub seed: u64,
}

/// Trains `size`'s autoencoder on `fields` (each `channels × nlat × nlon` normalised values,
/// `(channel, lat, lon)`), with the loss weighted by the rows' area `row_weights` (length
/// `nlat`); returns the flat weights and the loss at every step. Deterministic for a seed.
pub fn fit(
    size: VaeSize,
    fields: &[Vec<f32>],
    shape: [usize; 2],
    row_weights: &[f64],
    cfg: &FitConfig,
    device: &Device,
) -> (Vec<f32>, Vec<f64>) {
    use crate::train::optim::AdamW;
    use crate::train::params::init_values;
    use assim_core::rng::{fill_normal, stream, uniform};
    let [h, w] = shape;
    let c = size.channels;
    let ad = device.clone().autodiff();
    let template = SphereVae::new(size, device);
    let mut params = init_values(&template, &mut stream(cfg.seed, "vae-initial-weights"));
    let mut adam = AdamW::new(params.len(), 0.0);
    let mean_w = row_weights.iter().sum::<f64>() / h as f64;
    let rw: Vec<f32> = row_weights.iter().map(|x| (x / mean_w) as f32).collect();
    let rw = Tensor::<4>::from_data(TensorData::new(rw, [1, 1, h, 1]), &ad);
    let mut log = Vec::with_capacity(cfg.steps);
    for k in 0..cfg.steps {
        let mut rng = stream(cfg.seed, &format!("vae batch {k}"));
        let mut x = Vec::with_capacity(cfg.batch * c * h * w);
        for _ in 0..cfg.batch {
            let i = ((uniform(&mut rng) * fields.len() as f64) as usize).min(fields.len() - 1);
            x.extend_from_slice(&fields[i]);
        }
        let mut eps = vec![0.0; cfg.batch * size.latent * (h / 4) * (w / 4)];
        fill_normal(&mut rng, &mut eps);
        let eps: Vec<f32> = eps.iter().map(|&e| e as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [cfg.batch, c, h, w]), &ad);
        let eps = Tensor::<4>::from_data(TensorData::new(eps, [cfg.batch, size.latent, h / 4, w / 4]), &ad);
        let loss =
            train_step(&template, &mut params, &mut adam, x, eps, rw.clone(), (cfg.beta, 1.0, cfg.lr), k)
                .expect("finite loss on the test fields");
        log.push(loss);
    }
    (params, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn field(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        f: impl Fn(usize, usize, usize, usize) -> f32,
    ) -> Tensor<4> {
        let mut v = Vec::with_capacity(n * c * h * w);
        for a in 0..n {
            for b in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        v.push(f(a, b, i, j));
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(v, [n, c, h, w]), &device())
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.to_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn coarse_grid_convolution_equals_convolving_the_upsampled_grid() {
        // The decoder's definition, conv(sphere_pad(upsample2(h))), against conv_upsampled on
        // random weights and fields: the same sums in another order, so f32 round-off
        // (|values| ≲ 10, 9·5 terms: ≲ 1e-5 relative) is all that may differ.
        let dev = device();
        let conv = conv3(5, 3, 1, &dev);
        let h = field(2, 5, 4, 8, |a, b, i, j| ((a * 7 + b * 3 + i * 5 + j * 11) % 13) as f32 - 6.0);
        let reference = values(conv.forward(sphere_pad(upsample2(h.clone()), 1)));
        let fast = values(conv_upsampled(&conv, h));
        assert_eq!(reference.len(), 2 * 3 * 8 * 16);
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = reference.iter().zip(&fast).fold(0f32, |m, (r, f)| m.max((r - f).abs()));
        assert!(scale > 1.0 && worst <= 1e-5 * scale, "max difference {worst} at scale {scale}");
    }

    #[test]
    fn sphere_padding_wraps_longitude_and_crosses_the_poles() {
        let (h, w) = (4, 8);
        let x = field(1, 1, h, w, |_, _, i, j| (10 * i + j) as f32);
        let y = values(sphere_pad(x, 1));
        let (hp, wp) = (h + 2, w + 2);
        let at = |i: usize, j: usize| y[i * wp + j];
        // Interior unchanged.
        assert_eq!(at(1, 1), 0.0);
        assert_eq!(at(4, 8), 37.0);
        // Longitude wraps: the left halo of row 0 is its last column, the right its first.
        assert_eq!(at(1, 0), 7.0);
        assert_eq!(at(1, 9), 0.0);
        // Across the north pole, above (row 0, lon j) is row 0 at lon j + w/2.
        assert_eq!(at(0, 1), 4.0);
        assert_eq!(at(0, 5), 0.0);
        // Across the south pole likewise with the last row.
        assert_eq!(at(hp - 1, 1 + 2), 36.0);
        assert_eq!(y.len(), hp * wp);
    }

    #[test]
    fn training_learns_to_reconstruct_smooth_fields() {
        // Smooth random fields (a few zonal waves with random phases and latitude structure),
        // 16 × 32, 3 channels: after 300 steps the posterior-mean reconstruction of held-out
        // fields must beat the zero field (their own RMS) by a factor of 3.
        use assim_core::rng::{stream, uniform};
        let (h, w, c) = (16, 32, 3);
        let mut rng = stream(2, "vae-fields");
        let mut make = || -> Vec<f32> {
            let mut v = vec![0.0f32; c * h * w];
            for ch in 0..c {
                for m in 1..=3 {
                    let (a, ph, l) =
                        (uniform(&mut rng) - 0.5, 6.3 * uniform(&mut rng), 1.0 + 2.0 * uniform(&mut rng));
                    for i in 0..h {
                        let lat = (i as f64 + 0.5) / h as f64 * std::f64::consts::PI;
                        for j in 0..w {
                            let lon = j as f64 / w as f64 * std::f64::consts::TAU;
                            v[(ch * h + i) * w + j] +=
                                (a * (m as f64 * lon + ph).sin() * (l * lat).sin()) as f32;
                        }
                    }
                }
            }
            v
        };
        let train: Vec<Vec<f32>> = (0..256).map(|_| make()).collect();
        let test: Vec<Vec<f32>> = (0..16).map(|_| make()).collect();
        let size = VaeSize { channels: c, width: 8, latent: 4 };
        let cfg = FitConfig { steps: 300, batch: 16, lr: 3e-3, beta: 1e-4, seed: 1 };
        let dev = device();
        let (weights, log) = fit(size, &train, [h, w], &vec![1.0; h], &cfg, &dev);
        let first = log[..10].iter().sum::<f64>() / 10.0;
        let last = log[log.len() - 10..].iter().sum::<f64>() / 10.0;
        assert!(last < 0.3 * first, "loss {first} -> {last}");
        let vae = crate::train::params::load_flat(SphereVae::new(size, &dev), &weights, &dev, false);
        let x: Vec<f32> = test.iter().flatten().copied().collect();
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [16, c, h, w]), &dev);
        let rec = values(vae.decode(vae.encode(xt).0));
        let rms = |v: &[f32]| (v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let err: Vec<f32> = rec.iter().zip(&x).map(|(a, b)| a - b).collect();
        assert!(rms(&err) < rms(&x) / 3.0, "reconstruction RMSE {} vs field RMS {}", rms(&err), rms(&x));
        // Same seed, same weights.
        let (again, _) = fit(size, &train, [h, w], &vec![1.0; h], &FitConfig { steps: 3, ..cfg }, &dev);
        let (again2, _) = fit(size, &train, [h, w], &vec![1.0; h], &FitConfig { steps: 3, ..cfg }, &dev);
        assert_eq!(again, again2);
    }

    #[test]
    fn shapes_and_longitude_equivariance() {
        let dev = device();
        let vae = SphereVae::new(VaeSize { channels: 3, width: 8, latent: 2 }, &dev);
        let x =
            field(2, 3, 32, 64, |a, b, i, j| ((i as f32 * 0.3 + j as f32 * 0.1 + b as f32) + a as f32).sin());
        let (mu, logvar) = vae.encode(x.clone());
        assert_eq!(mu.dims(), [2, 2, 8, 16]);
        assert_eq!(logvar.dims(), [2, 2, 8, 16]);
        let rec = vae.decode(mu.clone());
        assert_eq!(rec.dims(), [2, 3, 32, 64]);
        // Rotating the input by 4 grid columns (one latent column) rotates the latent by one
        // and the reconstruction by 4: the network has no preferred longitude.
        let (mu_r, _) = vae.encode(x.roll(&[4i64], &[3]));
        let a = values(mu.roll(&[1i64], &[3]));
        let b = values(mu_r.clone());
        let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "latent not equivariant: {worst}");
        let c = values(rec.roll(&[4i64], &[3]));
        let d = values(vae.decode(mu_r));
        let worst = c.iter().zip(&d).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "decoder not equivariant: {worst}");
    }
}
