//! Output files: written atomically so that a crash never leaves a half-written result.

mod atomic;
mod metrics;
pub mod zarr;

pub use atomic::write_atomic;
pub use metrics::{metrics_csv, series_csv, write_run_outputs};
