//! assim-gen: generative (score-based) data assimilation on burn (DESIGN.md §7).
//!
//! A diffusion prior is a [`Denoiser`](denoiser::Denoiser) `d(x_t, σ, c) ≈ E[x | x_t, c]`
//! for states perturbed by Gaussian noise of standard deviation σ; [`schedule`] holds the EDM
//! noise levels and preconditioning (Karras et al. 2022), [`sampler`] integrates the reverse
//! process from pure noise to a sample, and [`guidance`] wraps the prior's denoiser so that the
//! samples follow the posterior given observations. [`train`] makes the priors (`assim train
//! denoiser`), [`filter`] cycles them in experiments (`assim run`). States are batches
//! `[n, nx]` of f32 (networks run in f32, physics in f64; conversion happens at this crate's
//! boundary). Backend: burn 0.22's pure-Rust `flex` CPU backend, chosen at run time through
//! [`burn::tensor::Device`].

#![warn(missing_docs)]

pub mod autoencoder;
pub mod autoencoder_train;
pub mod checkpoint;
pub mod denoiser;
pub mod filter;
pub mod guidance;
pub mod latent;
pub mod latent_pairs;
pub mod network;
pub mod normalise;
pub mod obs;
pub mod optim;
pub mod params;
pub mod sampler;
pub mod schedule;
pub mod sphere_network;
pub mod spinup;
pub mod tensor;
pub mod train;
pub mod trained;
