//! assim-core: the model-agnostic heart of assim.
//!
//! Test-bed models ([`dynamics`]) on their grids ([`grid`], [`spectral`]), observation
//! operators ([`obs`]), classical data assimilation methods ([`classical`]), the test beds
//! that turn a model and an observing system into an experiment ([`bed`]), the experiment
//! files, cycling loop and runner ([`experiment`]), scores ([`metrics`]) and files in and
//! out ([`io`]). No ML dependency,
//! so it builds fast and every generative method can be scored against these baselines.

#![warn(missing_docs)]

pub mod assimilator;
pub mod bed;
pub mod classical;
pub mod distributed;
pub mod dynamics;
pub mod error;
pub mod experiment;
pub mod grid;
pub mod io;
pub mod linalg;
pub mod metrics;
pub mod obs;
pub mod rng;
pub mod spectral;

pub use error::AssimError;
