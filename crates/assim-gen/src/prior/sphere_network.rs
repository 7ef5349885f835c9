//! The denoiser backbone on a latent grid of the sphere (LO-SDA's and Align-DA's latent
//! prior): residual 2-D convolutions that pad as the sphere does (circular in longitude,
//! across the poles in latitude, [`sphere_pad`]), with the noise-level embedding added in
//! every block.
//!
//! Shapes: the flat states `[n, c·h·w]` of [`crate::prior::denoiser::Denoiser`] are latent grids
//! `[n, c, h, w]` in row-major order; the input `[n, c_in, c·h·w]` (the state and, for a
//! background-conditioned prior, the background) becomes `[n, c_in·c, h, w]`, followed by the
//! `e` extra conditioning channels `[n, e·h·w]` → `[n, e, h, w]` of an observation-conditioned
//! prior.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::latent::autoencoder::sphere_pad;
use crate::prior::embedding::{NetworkSize, NoiseEmbedding};

/// One residual block: `x + conv(silu(conv(silu(x)) + e(σ)))`.
#[derive(Module, Debug)]
pub struct SphereBlock {
    conv1: Conv2d,
    conv2: Conv2d,
    emb: Linear,
}

/// The 2-D residual network `F_θ(c_in x, c_noise, x_b)` on a `[c, h, w]` latent grid.
#[derive(Module, Debug)]
pub struct SphereResNet {
    input: Conv2d,
    blocks: Vec<SphereBlock>,
    output: Conv2d,
    embed: NoiseEmbedding,
    /// Padding on each side (kernel / 2).
    pad: usize,
    channels: usize,
    /// Extra conditioning channels.
    extra: usize,
    nlat: usize,
    nlon: usize,
}

fn conv(c_in: usize, c_out: usize, kernel: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel]).with_padding(PaddingConfig2d::Valid).init(device)
}

impl SphereResNet {
    /// A freshly initialised network on the grid `[channels, nlat, nlon]` (`nlon` even) with
    /// `c_in` stacked inputs (1, or 2 with the background) and `size.cond_channels` extra
    /// conditioning channels.
    pub fn new(size: NetworkSize, grid: [usize; 3], c_in: usize, device: &Device) -> Self {
        assert!(size.kernel % 2 == 1, "the kernel must be odd");
        let [c, h, w] = grid;
        assert!(w % 2 == 0 && size.kernel / 2 <= h, "latent grid {h}×{w} too small or odd");
        let k = size.kernel;
        let width = size.width;
        Self {
            input: conv(c_in * c + size.cond_channels, width, k, device),
            blocks: (0..size.blocks)
                .map(|_| SphereBlock {
                    conv1: conv(width, width, k, device),
                    conv2: conv(width, width, k, device),
                    emb: LinearConfig::new(width, width).init(device),
                })
                .collect(),
            output: conv(width, c, k, device),
            embed: NoiseEmbedding::new(size.embedding, width, device),
            pad: k / 2,
            channels: c,
            extra: size.cond_channels,
            nlat: h,
            nlon: w,
        }
    }

    /// `x`: `[n, c_in, c·h·w]` (already scaled by c_in); `c_noise`: `[n, 1]`; `extra`:
    /// `[n, e·h·w]` when the network has extra channels. Returns `[n, c·h·w]`.
    pub fn forward(&self, x: Tensor<3>, c_noise: Tensor<2>, extra: Option<Tensor<2>>) -> Tensor<2> {
        let [n, c_in, nx] = x.dims();
        let (c, h, w) = (self.channels, self.nlat, self.nlon);
        assert_eq!(nx, c * h * w, "a state of {nx} numbers is not a {c}×{h}×{w} latent grid");
        let e = self.embed.forward(c_noise);
        let x: Tensor<4> = x.reshape([n, c_in * c, h, w]);
        let x = match (self.extra, extra) {
            (0, _) => x,
            (k, Some(ex)) => Tensor::cat(vec![x, ex.reshape([n, k, h, w])], 1),
            (k, None) => panic!("a network with {k} observation channels needs them"),
        };
        let p = self.pad;
        let mut a = self.input.forward(sphere_pad(x, p));
        for b in &self.blocks {
            let bias: Tensor<4> = b.emb.forward(e.clone()).unsqueeze_dim::<3>(2).unsqueeze_dim(3);
            let r = b.conv1.forward(sphere_pad(silu(a.clone()), p)) + bias;
            let r = b.conv2.forward(sphere_pad(silu(r), p));
            a = a + r;
        }
        self.output.forward(sphere_pad(silu(a), p)).reshape([n, nx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::denoiser::Denoiser;
    use crate::prior::network::EdmNetwork;
    use crate::prior::schedule::Edm;
    use crate::tensor::{from_rows, to_rows};

    /// Rolling the latent grid in longitude rolls the denoised state the same way: the
    /// network has no preferred meridian (exactly, up to f32 rounding).
    #[test]
    fn the_latent_denoiser_is_equivariant_in_longitude() {
        let device = Device::flex();
        let grid = [2, 4, 8];
        let size =
            NetworkSize { width: 8, blocks: 2, kernel: 3, embedding: 4, grid: Some(grid), cond_channels: 0 };
        let net = EdmNetwork::new(size, true, &Edm::default(), &device);
        let nx = 2 * 4 * 8;
        let x: Vec<f64> = (0..nx).map(|i| ((i * 7919) % 23) as f64 / 11.0 - 1.0).collect();
        let b: Vec<f64> = (0..nx).map(|i| ((i * 104_729) % 17) as f64 / 8.0 - 1.0).collect();
        let roll = |v: &[f64], s: usize| -> Vec<f64> {
            (0..nx).map(|i| v[(i / 8) * 8 + (i % 8 + 8 - s) % 8]).collect()
        };
        let d = |x: &[f64], b: &[f64]| {
            let c = from_rows(b, 1, nx, &device);
            to_rows(&net.denoise(from_rows(x, 1, nx, &device), 0.7, Some(&c)))
        };
        let shifted = d(&roll(&x, 3), &roll(&b, 3));
        let expected = roll(&d(&x, &b), 3);
        for (a, e) in shifted.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-5, "{a} vs {e}");
        }
    }
}
