//! Training: the denoiser trainer (`assim train denoiser`), checkpoints, the optimiser and a
//! module's parameters as one flat vector.

pub mod checkpoint;
pub mod denoiser;
pub mod optim;
pub mod params;
