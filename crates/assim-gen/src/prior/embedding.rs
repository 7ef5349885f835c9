//! What the two denoiser backbones share: their size, and the embedding of the noise level.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

/// Size of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkSize {
    /// Hidden channels.
    pub width: usize,
    /// Residual blocks.
    pub blocks: usize,
    /// Convolution kernel (odd).
    pub kernel: usize,
    /// Fourier features of the noise level.
    pub embedding: usize,
    /// The latent grid `[channels, nlat, nlon]` of a sphere prior (the 2-D backbone, states
    /// of `channels·nlat·nlon` numbers); `None`: the 1-D ring backbone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<[usize; 3]>,
    /// Extra conditioning channels on the latent grid (the observations mapped to it, SLAMS's
    /// conditioning), after the background in the condition: `[n, nx + cond_channels·nlat·nlon]`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cond_channels: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Default for NetworkSize {
    fn default() -> Self {
        Self { width: 32, blocks: 4, kernel: 5, embedding: 16, grid: None, cond_channels: 0 }
    }
}

/// The noise-level embedding shared by both backbones: Fourier features
/// `sin/cos(2π f_k c_noise)`, `f_k = 2^(k/2)/4`, through two linear layers.
#[derive(Module, Debug)]
pub struct NoiseEmbedding {
    first: Linear,
    second: Linear,
    n_freq: usize,
}

impl NoiseEmbedding {
    /// `embedding` frequencies mapped to `width` features.
    pub fn new(embedding: usize, width: usize, device: &Device) -> Self {
        Self {
            first: LinearConfig::new(2 * embedding, width).init(device),
            second: LinearConfig::new(width, width).init(device),
            n_freq: embedding,
        }
    }

    /// `[n, 1]` noise levels (EDM's `c_noise`) → `[n, width]` features.
    pub fn forward(&self, c_noise: Tensor<2>) -> Tensor<2> {
        let freqs: Vec<f32> =
            (0..self.n_freq).map(|k| 2f32.powf(k as f32 / 2.0) / 4.0 * std::f32::consts::TAU).collect();
        let f = Tensor::<2>::from_data(TensorData::new(freqs, [1, self.n_freq]), &c_noise.device());
        let arg = c_noise.matmul(f);
        let feats = Tensor::cat(vec![arg.clone().sin(), arg.cos()], 1);
        self.second.forward(silu(self.first.forward(feats)))
    }
}
