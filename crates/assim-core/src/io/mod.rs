//! Files in and out: configuration files read with one-line errors, outputs written
//! atomically so that a crash never leaves a half-written result, Zarr stores.

mod atomic;
pub mod config_file;
pub mod zarr;

pub use atomic::write_atomic;
