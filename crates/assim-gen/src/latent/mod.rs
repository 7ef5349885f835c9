//! The latent space of LO-SDA and Align-DA on the sphere: the variational autoencoder, the
//! trained autoencoder as the latent methods use it (with `H(D(z))`), its training, and the
//! latent training pairs of the priors, and the trajectory (blanket) prior's machinery.

pub mod autoencoder;
pub mod blanket;
pub mod obs_channels;
pub mod pairs;
pub mod space;
pub mod train;
pub mod variational;
