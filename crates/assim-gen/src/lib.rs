//! assim-gen: generative (score-based) data assimilation on burn (DESIGN.md §7), laid out as
//! the maths:
//!
//! - [`prior`]: the diffusion prior. A [`Denoiser`](prior::denoiser::Denoiser)
//!   `d(x_t, σ, c) ≈ E[x | x_t, c]` for states perturbed by Gaussian noise of standard
//!   deviation σ, its networks, the EDM noise levels and preconditioning ([`prior::schedule`],
//!   Karras et al. 2022) and the samplers that integrate the reverse process.
//! - [`guidance`]: wrappers of the prior's denoiser whose samples follow the posterior given
//!   observations, one file per strategy (DPS, SDA, MMPS, latent optimisation, RePaint).
//! - [`latent`]: the sphere autoencoder, its latent space with `H(D(z))`, its training, and
//!   latent 3D-Var/4D-Var (the latent baseline without a diffusion prior).
//! - [`train`]: the denoiser's training, its checkpoints, optimiser and flat parameters.
//! - [`filter`]: the generative method in the cycling harness and its experiment-file entry,
//!   registered with the classical ones by [`methods`].
//!
//! States are batches `[n, nx]` of f32 (networks run in f32, physics in f64; conversion
//! happens at this crate's boundary). Backend: burn 0.22's pure-Rust `flex` CPU backend,
//! chosen at run time through [`burn::tensor::Device`].

#![warn(missing_docs)]

pub mod align;
pub mod filter;
pub mod guidance;
pub mod latent;
pub mod obs;
pub mod prior;
pub mod tensor;
pub mod train;

/// Every method an experiment file may name: the classical ones, the generative one and the
/// training-free ensemble-score analysis, and latent 3D-Var/4D-Var.
pub fn methods() -> assim_core::experiment::MethodRegistry {
    assim_core::classical::registry()
        .with::<filter::GenerativeConfig>()
        .with::<filter::ensemble_score::EnsembleScoreConfig>()
        .with::<latent::variational::LatentVarConfig>()
}
