//! The diffusion prior: the denoiser trait, its networks (on a ring and on the sphere's latent
//! grid), the EDM schedule, the samplers of the reverse process, the state normalisation and
//! a trained denoiser as a checkpoint stores it.

pub mod denoiser;
pub mod embedding;
pub mod network;
pub mod normalise;
pub mod sampler;
pub mod schedule;
pub mod sphere_network;
pub mod trained;
