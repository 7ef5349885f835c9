//! The denoising network, preconditioned as in EDM, with one of two backbones: a residual
//! convolutional network with circular padding for 1-D periodic states (Lorenz-96), or its
//! 2-D counterpart on a latent grid of the sphere ([`crate::prior::sphere_network`]).
//!
//! Shapes: states `[n, nx]`; the backbone sees channels `[n, c_in, nx]` (c_in = 1 for an
//! unconditional prior p(x), 2 when the background is concatenated as a second channel for
//! the background-conditioned prior p(x | x_b) of LO-SDA and Align-DA).

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::prior::denoiser::Denoiser;
pub use crate::prior::embedding::NetworkSize;
use crate::prior::embedding::NoiseEmbedding;
use crate::prior::schedule::Edm;
use crate::prior::sphere_network::SphereResNet;

/// The network under the preconditioning: a ring or a sphere backbone.
#[derive(Module, Debug)]
pub enum Backbone {
    /// 1-D periodic states.
    Ring(ResConvNet),
    /// Latent grids on the sphere.
    Sphere(SphereResNet),
}

impl Backbone {
    /// `x`: `[n, c_in, nx]` (already scaled by c_in); `c_noise`: `[n, 1]`; `extra`: the
    /// sphere backbone's extra conditioning channels. Returns `[n, nx]`.
    pub fn forward(&self, x: Tensor<3>, c_noise: Tensor<2>, extra: Option<Tensor<2>>) -> Tensor<2> {
        match self {
            Backbone::Ring(net) => net.forward(x, c_noise),
            Backbone::Sphere(net) => net.forward(x, c_noise, extra),
        }
    }
}

/// One residual block: `x + conv(silu(conv(silu(x)) + e(σ)))`, circular in space.
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv1d,
    conv2: Conv1d,
    emb: Linear,
}

/// The network `F_θ(c_in x, c_noise, x_b)`.
#[derive(Module, Debug)]
pub struct ResConvNet {
    input: Conv1d,
    blocks: Vec<ResBlock>,
    output: Conv1d,
    embed: NoiseEmbedding,
    /// Circular padding on each side (kernel / 2).
    pad: usize,
}

fn conv(c_in: usize, c_out: usize, kernel: usize, device: &Device) -> Conv1d {
    Conv1dConfig::new(c_in, c_out, kernel).with_padding(PaddingConfig1d::Valid).init(device)
}

/// Pads `[n, c, l]` circularly by `p` on each side.
fn circular_pad(x: Tensor<3>, p: usize) -> Tensor<3> {
    if p == 0 {
        return x;
    }
    let l = x.dims()[2];
    let left = x.clone().narrow(2, l - p, p);
    let right = x.clone().narrow(2, 0, p);
    Tensor::cat(vec![left, x, right], 2)
}

impl ResConvNet {
    /// A freshly initialised network with `channels_in` input channels (1 or 2).
    pub fn new(size: NetworkSize, channels_in: usize, device: &Device) -> Self {
        assert!(size.kernel % 2 == 1, "the kernel must be odd");
        let w = size.width;
        Self {
            input: conv(channels_in, w, size.kernel, device),
            blocks: (0..size.blocks)
                .map(|_| ResBlock {
                    conv1: conv(w, w, size.kernel, device),
                    conv2: conv(w, w, size.kernel, device),
                    emb: LinearConfig::new(w, w).init(device),
                })
                .collect(),
            output: conv(w, 1, size.kernel, device),
            embed: NoiseEmbedding::new(size.embedding, w, device),
            pad: size.kernel / 2,
        }
    }

    /// `x`: `[n, c_in, nx]` (already scaled by c_in); `c_noise`: `[n, 1]`. Returns `[n, nx]`.
    pub fn forward(&self, x: Tensor<3>, c_noise: Tensor<2>) -> Tensor<2> {
        let [n, _, nx] = x.dims();
        let e = self.embed.forward(c_noise);
        let mut h = self.input.forward(circular_pad(x, self.pad));
        for b in &self.blocks {
            let bias: Tensor<3> = b.emb.forward(e.clone()).unsqueeze_dim(2);
            let r = b.conv1.forward(circular_pad(silu(h.clone()), self.pad)) + bias;
            let r = b.conv2.forward(circular_pad(silu(r), self.pad));
            h = h + r;
        }
        self.output.forward(circular_pad(silu(h), self.pad)).reshape([n, nx])
    }
}

/// A network wrapped in EDM's preconditioning: a [`Denoiser`], optionally conditioned on the
/// background (channel concatenation).
#[derive(Module, Debug)]
pub struct EdmNetwork {
    net: Backbone,
    sigma_data: f64,
    conditional: bool,
}

impl EdmNetwork {
    /// A new network; `conditional` adds the background as a second input channel; the
    /// backbone is the sphere's when `size.grid` is set.
    pub fn new(size: NetworkSize, conditional: bool, edm: &Edm, device: &Device) -> Self {
        let c_in = 1 + usize::from(conditional);
        let net = match size.grid {
            Some(grid) => Backbone::Sphere(SphereResNet::new(size, grid, c_in, device)),
            None => Backbone::Ring(ResConvNet::new(size, c_in, device)),
        };
        Self { net, sigma_data: edm.sigma_data, conditional }
    }

    /// Whether the network expects a background.
    pub fn conditional(&self) -> bool {
        self.conditional
    }

    /// `d(x, σ_i, c)` for a batch with one noise level per member (`sigma`: `[n, 1]`).
    pub fn denoise_batch(&self, x: Tensor<2>, sigma: Tensor<2>, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let sd2 = self.sigma_data * self.sigma_data;
        let s2 = sigma.clone().powf_scalar(2.0);
        let c_skip = (s2.clone() + sd2).recip() * sd2;
        let c_out = sigma.clone() * self.sigma_data / (s2.clone() + sd2).sqrt();
        let c_in = (s2 + sd2).sqrt().recip();
        let c_noise = sigma.log() / 4.0;
        let xin: Tensor<3> = (x.clone() * c_in).unsqueeze_dim(1);
        let nx = x.dims()[1];
        // The condition is the background, then any observation channels.
        let (input, extra) = match (self.conditional, cond) {
            (true, Some(b)) => {
                let extra = (b.dims()[1] > nx).then(|| b.clone().narrow(1, nx, b.dims()[1] - nx));
                (Tensor::cat(vec![xin, b.clone().narrow(1, 0, nx).unsqueeze_dim(1)], 1), extra)
            }
            (true, None) => panic!("a background-conditioned denoiser needs the background"),
            (false, _) => (xin, None),
        };
        x * c_skip + self.net.forward(input, c_noise, extra) * c_out
    }

    /// EDM's weighted loss `mean λ(σ) ‖d(x + σ ε, σ) − x‖²` for clean states `x`, noise `eps`
    /// and per-member noise levels `sigma` (`[n, 1]`), averaged over members and variables.
    pub fn loss(
        &self,
        x: Tensor<2>,
        eps: Tensor<2>,
        sigma: Tensor<2>,
        cond: Option<&Tensor<2>>,
    ) -> Tensor<1> {
        let sd2 = self.sigma_data * self.sigma_data;
        let weight = (sigma.clone().powf_scalar(2.0) + sd2) / (sigma.clone().powf_scalar(2.0) * sd2);
        let noisy = x.clone() + eps * sigma.clone();
        let d = self.denoise_batch(noisy, sigma, cond);
        ((d - x).powf_scalar(2.0) * weight).mean()
    }
}

impl Denoiser for EdmNetwork {
    fn denoise(&self, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let n = x.dims()[0];
        let s = Tensor::<2>::full([n, 1], sigma, &x.device());
        self.denoise_batch(x, s, cond)
    }
}
