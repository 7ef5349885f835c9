//! Training: the one training loop with checkpoints and exact resume ([`trainer`]), the
//! denoiser's objective (`assim train denoiser`), checkpoints, the optimiser and a module's
//! parameters as one flat vector. The autoencoder's objective is in
//! [`crate::latent::train`].

pub mod checkpoint;
pub mod config;
pub mod denoiser;
pub mod optim;
pub mod pairs;
pub mod params;
pub mod trainer;
