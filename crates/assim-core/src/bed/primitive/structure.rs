//! Where the analysis error lies on the multi-level bed: its zonal-mean cross-section (RMSE per
//! field and latitude, over longitudes and the scored analyses) and its spectrum per field (the
//! error's power per total wavenumber), both time means over the scored analyses. SLAMS shows
//! the first as a figure; the second says whether a method corrects the large scales only.

use super::twin::PeTwin;
use crate::AssimError;
use crate::bed::{ErrorStructure, Observer, SeedExtras};
use crate::experiment::SeedRun;

/// Accumulates the analysis mean's error structure over one cycle's scored analyses.
pub struct StructureObserver<'a> {
    twin: &'a PeTwin,
    /// `[field][lat]`: sums over longitudes and analyses of the squared error.
    zonal: Vec<Vec<f64>>,
    /// `[field][n]`: sums over analyses of the error's power spectrum.
    spectra: Vec<Vec<f64>>,
    n: usize,
}

impl<'a> StructureObserver<'a> {
    /// The observer of one cycle on `twin`.
    pub fn new(twin: &'a PeTwin) -> Self {
        let lay = twin.model.layout();
        let fields = 3 * lay.nlev + 1;
        let nlat = twin.model.model().grid().nlat();
        let t = twin.model.model().transform().truncation().t();
        StructureObserver {
            twin,
            zonal: vec![vec![0.0; nlat]; fields],
            spectra: vec![vec![0.0; t + 1]; fields],
            n: 0,
        }
    }
}

impl Observer for StructureObserver<'_> {
    fn on_analysis(&mut self, ko: usize, mean: &[f64]) -> Result<(), AssimError> {
        let twin = self.twin;
        if !twin.chrono.is_averaged(ko) || !mean.iter().all(|x| x.is_finite()) {
            return Ok(());
        }
        let truth = &twin.truth[ko + 1];
        let model = twin.model.model();
        let (grid, tr) = (model.grid(), model.transform());
        let (nlat, nlon, g) = (grid.nlat(), grid.nlon(), grid.len());
        for (f, (zonal, spectrum)) in self.zonal.iter_mut().zip(&mut self.spectra).enumerate() {
            let err: Vec<f64> = (0..g).map(|p| mean[f * g + p] - truth[f * g + p]).collect();
            for (j, z) in zonal.iter_mut().enumerate() {
                *z += err[j * nlon..(j + 1) * nlon].iter().map(|e| e * e).sum::<f64>() / nlon as f64;
            }
            for (s, p) in spectrum.iter_mut().zip(tr.truncation().power_spectrum(&tr.analysis(&err))) {
                *s += p;
            }
        }
        debug_assert_eq!(self.zonal[0].len(), nlat);
        self.n += 1;
        Ok(())
    }

    fn finish(self: Box<Self>, run: &SeedRun, extras: &mut SeedExtras) -> Result<(), AssimError> {
        if run.diverged.is_some() || self.n == 0 {
            return Ok(());
        }
        let n = self.n as f64;
        let grid = self.twin.model.model().grid();
        extras.structure = Some(ErrorStructure {
            lat: grid.lat_degrees(),
            zonal_rmse: self.zonal.iter().map(|z| z.iter().map(|s| (s / n).sqrt()).collect()).collect(),
            spectra: self.spectra.iter().map(|s| s.iter().map(|p| p / n).collect()).collect(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The error's spectrum sums to its global mean square (Parseval, as `power_spectrum`
    /// promises) and the zonal-mean RMSE's area-weighted mean square is the same number: the
    /// two views of one error agree with the RMSE the scorer reports.
    #[test]
    fn zonal_and_spectral_views_add_up_to_the_mean_square() {
        use crate::spectral::SpectralTransform;
        let tr = SpectralTransform::new(21, 6.371e6).unwrap();
        let grid = tr.grid();
        let (nlat, nlon) = (grid.nlat(), grid.nlon());
        // A field inside the truncation (synthesised from random coefficients).
        let mut rng = crate::rng::stream(2, "structure");
        let spec = tr.analysis(&(0..grid.len()).map(|_| crate::rng::normal(&mut rng)).collect::<Vec<_>>());
        let err = tr.synthesis(&spec);
        let ms_spec: f64 = tr.truncation().power_spectrum(&tr.analysis(&err)).iter().sum();
        let zonal: Vec<f64> = (0..nlat)
            .map(|j| err[j * nlon..(j + 1) * nlon].iter().map(|e| e * e).sum::<f64>() / nlon as f64)
            .collect();
        let w: f64 = (0..nlat).map(|j| grid.area_weight(j) * nlon as f64).sum();
        let ms_zonal: f64 = (0..nlat).map(|j| grid.area_weight(j) * nlon as f64 * zonal[j]).sum::<f64>() / w;
        assert!((ms_spec - ms_zonal).abs() < 1e-10 * ms_zonal, "{ms_spec} vs {ms_zonal}");
    }
}
