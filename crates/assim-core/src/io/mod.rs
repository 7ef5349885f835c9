//! Files in and out: configuration files read with one-line errors, outputs written
//! atomically so that a crash never leaves a half-written result, Zarr stores.

mod atomic;
pub mod config_file;
mod metrics;
pub mod zarr;

pub use atomic::write_atomic;
pub use metrics::{metrics_csv, series_csv, write_run_outputs};
