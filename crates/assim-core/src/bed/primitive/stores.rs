//! The multi-level bed's stores, for the first seed of `assim run --out`: the truth and each
//! method's analysis (ensemble mean) at every analysis time, as (time, level, lat, lon) Zarr with
//! CF names and a σ level coordinate, the layout `assim simulate` writes (xarray opens them).

use std::path::Path;

use super::twin::PeTwin;
use crate::AssimError;
use crate::bed::{Observer, RunInfo, SeedExtras, slug, store_attrs};
use crate::experiment::{PE_LEVEL_VARIABLES, PE_SURFACE_VARIABLES, SeedRun};
use crate::io::zarr::{GriddedZarrWriter, Precision, SigmaCoordinate};

/// A store of one state per analysis time, in f32.
fn writer(
    run: &RunInfo<'_>,
    twin: &PeTwin,
    path: &Path,
    what: &str,
    method: Option<&str>,
) -> Result<GriddedZarrWriter, AssimError> {
    let model = twin.model.model();
    GriddedZarrWriter::create_levelled(
        path,
        true,
        model.grid(),
        Some(&SigmaCoordinate { sigma: model.levels().full().to_vec() }),
        twin.chrono.n_obs_times(),
        &PE_LEVEL_VARIABLES,
        &PE_SURFACE_VARIABLES,
        Precision::F32,
        store_attrs(run, what, method),
    )
}

/// Writes the grid state `x` (T, u, v on the levels, then p_s) as time slice `ko`.
fn write_state(w: &mut GriddedZarrWriter, twin: &PeTwin, ko: usize, x: &[f64]) -> Result<(), AssimError> {
    let f = twin.model.layout().nlev * twin.model.layout().npts;
    let hours = twin.chrono.obs_step(ko) as f64 * twin.chrono.dt / 3600.0;
    w.write_slice(ko, hours, &[&x[..f], &x[f..2 * f], &x[2 * f..3 * f], &x[3 * f..]])
}

/// `truth.zarr` in `dir`: the truth at every analysis time (and the `analyses` folder the
/// methods' stores go in).
pub(super) fn write_truth(run: &RunInfo<'_>, twin: &PeTwin, dir: &Path) -> Result<(), AssimError> {
    std::fs::create_dir_all(dir.join("analyses"))
        .map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    let mut w = writer(run, twin, &dir.join("truth.zarr"), "truth", None)?;
    for ko in 0..twin.chrono.n_obs_times() {
        write_state(&mut w, twin, ko, &twin.truth[ko + 1])?;
    }
    w.finish().map(drop)
}

/// Writes a method's analysis means to `analyses/<label>.zarr` (NaN after a divergence).
pub(super) struct AnalysisWriter<'a> {
    twin: &'a PeTwin,
    zarr: GriddedZarrWriter,
}

impl<'a> AnalysisWriter<'a> {
    /// The store of the method `label` in `dir`.
    pub(super) fn create(
        run: &RunInfo<'_>,
        twin: &'a PeTwin,
        dir: &Path,
        label: &str,
    ) -> Result<Self, AssimError> {
        let path = dir.join("analyses").join(format!("{}.zarr", slug(label)));
        Ok(AnalysisWriter {
            twin,
            zarr: writer(run, twin, &path, &format!("analyses of {label}"), Some(label))?,
        })
    }
}

impl Observer for AnalysisWriter<'_> {
    fn on_analysis(&mut self, ko: usize, mean: &[f64]) -> Result<(), AssimError> {
        write_state(&mut self.zarr, self.twin, ko, mean)
    }

    fn finish(mut self: Box<Self>, run: &SeedRun, _extras: &mut SeedExtras) -> Result<(), AssimError> {
        let nan = vec![f64::NAN; self.twin.truth[0].len()];
        for ko in run.rmse_a.len()..self.twin.chrono.n_obs_times() {
            write_state(&mut self.zarr, self.twin, ko, &nan)?;
        }
        self.zarr.finish().map(drop)
    }
}
