//! Real atmospheric data in and out (issue 23): GRIB 1/2, NetCDF-3/4 and Zarr fields read into
//! one CF-named form ([`field::Dataset`]), described by `assim data inspect`. Pure Rust: no
//! ecCodes, netCDF-C or HDF5 library is needed to build or run it.

#![warn(missing_docs)]

pub mod bufr;
pub mod calendar;
pub mod cf;
pub mod codec;
pub mod crossval;
pub mod error;
pub mod field;
pub mod grib;
mod gridded;
pub mod inspect;
pub mod netcdf;
pub mod observations;
pub mod regrid;
pub mod vertical;
pub mod zarr;

pub use error::DataError;
pub use field::{Dataset, Format, LevelKind, Variable};
