//! A gridded bed's states at the analysis times as Zarr stores, for the first seed of
//! `assim run --out`: `truth.zarr` and each method's analysis mean in
//! `analyses/<slug>.zarr` (NaN after a divergence), f32, CF names, the store's `method`
//! attribute the method's label. The shallow-water and the multi-level beds each describe their
//! state once ([`StateStore`]); the writing is this module's.

use std::path::Path;

use crate::AssimError;
use crate::bed::{Observer, RunInfo, SeedExtras, slug, store_attrs};
use crate::experiment::{Chronology, SeedRun};
use crate::grid::LatLonGrid;
use crate::io::zarr::{CfVariable, GriddedZarrWriter, Precision, SigmaCoordinate};

/// How a bed's grid state is laid out in a store: `level_vars` on `level`'s levels (each
/// `nlev · npts` numbers), then `surface_vars` (each `npts`), in state order.
pub(crate) struct StateStore<'a> {
    /// The horizontal grid.
    pub grid: &'a LatLonGrid,
    /// The σ levels of a multi-level state; `None` for a single-layer one.
    pub level: Option<SigmaCoordinate>,
    /// The variables on levels (state order).
    pub level_vars: &'a [CfVariable],
    /// The variables of one layer (state order, after the levelled ones).
    pub surface_vars: &'a [CfVariable],
    /// When the analyses are (one store slice each).
    pub chrono: Chronology,
}

impl StateStore<'_> {
    /// A store of `what` at `path` with one slice per analysis time.
    fn create(
        &self,
        run: &RunInfo<'_>,
        path: &Path,
        what: &str,
        method: Option<&str>,
    ) -> Result<GriddedZarrWriter, AssimError> {
        GriddedZarrWriter::create_levelled(
            path,
            true,
            self.grid,
            self.level.as_ref(),
            self.chrono.n_obs_times(),
            self.level_vars,
            self.surface_vars,
            Precision::F32,
            store_attrs(run, what, method),
        )
    }

    /// Writes the state `x` as the slice of analysis `ko`.
    fn write(&self, w: &mut GriddedZarrWriter, ko: usize, x: &[f64]) -> Result<(), AssimError> {
        let npts = self.grid.len();
        let levelled = npts * self.level.as_ref().map_or(1, |l| l.sigma.len());
        let sizes = self.level_vars.iter().map(|_| levelled).chain(self.surface_vars.iter().map(|_| npts));
        let mut fields = Vec::with_capacity(self.level_vars.len() + self.surface_vars.len());
        let mut rest = x;
        for size in sizes {
            let (field, tail) = rest.split_at(size);
            fields.push(field);
            rest = tail;
        }
        let hours = self.chrono.obs_step(ko) as f64 * self.chrono.dt / 3600.0;
        w.write_slice(ko, hours, &fields)
    }
}

/// `truth.zarr` in `dir` from `truth[ko]`, the truth at analysis `ko`, and the `analyses`
/// folder the methods' stores go in.
pub(crate) fn write_truth(
    store: &StateStore<'_>,
    run: &RunInfo<'_>,
    dir: &Path,
    truth: &[Vec<f64>],
) -> Result<(), AssimError> {
    std::fs::create_dir_all(dir.join("analyses"))
        .map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    let mut w = store.create(run, &dir.join("truth.zarr"), "truth", None)?;
    for (ko, x) in truth.iter().take(store.chrono.n_obs_times()).enumerate() {
        store.write(&mut w, ko, x)?;
    }
    w.finish().map(drop)
}

/// Writes a method's analysis means to `analyses/<slug of its label>.zarr`.
pub(crate) struct AnalysisWriter<'a> {
    store: StateStore<'a>,
    zarr: GriddedZarrWriter,
    /// Numbers per state (for the NaN slices after a divergence).
    nx: usize,
}

impl<'a> AnalysisWriter<'a> {
    /// The store of the method `label` in `dir`, for states of `nx` numbers.
    pub(crate) fn create(
        store: StateStore<'a>,
        run: &RunInfo<'_>,
        dir: &Path,
        label: &str,
        nx: usize,
    ) -> Result<Self, AssimError> {
        let path = dir.join("analyses").join(format!("{}.zarr", slug(label)));
        let zarr = store.create(run, &path, &format!("analyses of {label}"), Some(label))?;
        Ok(AnalysisWriter { store, zarr, nx })
    }
}

impl Observer for AnalysisWriter<'_> {
    fn on_analysis(&mut self, ko: usize, mean: &[f64]) -> Result<(), AssimError> {
        self.store.write(&mut self.zarr, ko, mean)
    }

    fn finish(mut self: Box<Self>, run: &SeedRun, _extras: &mut SeedExtras) -> Result<(), AssimError> {
        let nan = vec![f64::NAN; self.nx];
        for ko in run.rmse_a.len()..self.store.chrono.n_obs_times() {
            self.store.write(&mut self.zarr, ko, &nan)?;
        }
        self.zarr.finish().map(drop)
    }
}
