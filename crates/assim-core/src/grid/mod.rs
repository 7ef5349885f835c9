//! Latitude–longitude grids of the global test beds: Gaussian grids for the spectral model,
//! equiangular grids for data files, quadrature weights and interpolation to arbitrary points.
//!
//! Convention (DESIGN.md §3): latitudes run north to south, longitudes east from 0; a grid
//! field is a `Vec<f64>` of `nlat × nlon` values, latitude-major (`field[j * nlon + i]`).

mod gauss;
mod interp;

pub use gauss::gauss_legendre;
pub use interp::Bilinear;

use crate::AssimError;

/// How the latitudes of a [`LatLonGrid`] are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridKind {
    /// Gauss–Legendre latitudes: exact quadrature for the spherical-harmonic transform.
    Gaussian,
    /// Equally spaced latitudes, with or without rows at the poles (data files, plots).
    Equiangular {
        /// Whether the first and last rows lie on the poles (±90°).
        poles: bool,
    },
}

/// A global regular latitude–longitude grid with its area (quadrature) weights.
#[derive(Clone, Debug)]
pub struct LatLonGrid {
    kind: GridKind,
    /// Latitudes in radians, north to south.
    lat: Vec<f64>,
    /// Longitudes in radians, east from 0, equally spaced.
    lon: Vec<f64>,
    /// Per-row weights summing to 2 (Gaussian weights; cos-latitude cell widths otherwise).
    row_weights: Vec<f64>,
}

/// The Gaussian grids of the usual triangular truncations: (truncation, nlat, nlon).
///
/// Each is the smallest "quadratic" grid (nlat ≥ (3T+1)/2, nlon = 2·nlat) that computes the
/// quadratic terms of a T-truncated model without aliasing.
pub const STANDARD_GAUSSIAN: [(usize, usize, usize); 5] =
    [(21, 32, 64), (31, 48, 96), (42, 64, 128), (63, 96, 192), (85, 128, 256)];

impl LatLonGrid {
    /// A Gaussian grid with `nlat` (even, ≥ 2) latitudes and `nlon` (≥ 1) longitudes.
    pub fn gaussian(nlat: usize, nlon: usize) -> Result<Self, AssimError> {
        if nlat < 2 || !nlat.is_multiple_of(2) || nlon == 0 {
            return Err(AssimError::Input(format!(
                "a Gaussian grid needs an even number of latitudes ≥ 2 and ≥ 1 longitude (got {nlat}×{nlon})"
            )));
        }
        let (mu, w) = gauss_legendre(nlat);
        // gauss_legendre returns nodes in increasing μ = sin(lat): reverse to run north to south.
        let lat = mu.iter().rev().map(|m| m.asin()).collect();
        let row_weights = w.into_iter().rev().collect();
        Ok(Self { kind: GridKind::Gaussian, lat, lon: equal_longitudes(nlon), row_weights })
    }

    /// The standard Gaussian grid of triangular truncation `T` (21, 42, 63 or 85).
    pub fn for_truncation(truncation: usize) -> Result<Self, AssimError> {
        let (_, nlat, nlon) =
            STANDARD_GAUSSIAN.iter().copied().find(|&(t, _, _)| t == truncation).ok_or_else(|| {
                AssimError::Input(format!(
                    "unknown truncation T{truncation}: supported are {}",
                    STANDARD_GAUSSIAN.iter().map(|(t, _, _)| format!("T{t}")).collect::<Vec<_>>().join(", ")
                ))
            })?;
        Self::gaussian(nlat, nlon)
    }

    /// An equiangular grid: `nlat` rows equally spaced (including both poles when `poles`,
    /// else at cell centres, as in WeatherBench's 1.5° or 5.625° files) and `nlon` longitudes.
    pub fn equiangular(nlat: usize, nlon: usize, poles: bool) -> Result<Self, AssimError> {
        if nlat < 2 || nlon == 0 {
            return Err(AssimError::Input(format!(
                "an equiangular grid needs ≥ 2 latitudes and ≥ 1 longitude (got {nlat}×{nlon})"
            )));
        }
        let pi = std::f64::consts::PI;
        let lat: Vec<f64> = if poles {
            let d = pi / (nlat - 1) as f64;
            (0..nlat).map(|j| pi / 2.0 - j as f64 * d).collect()
        } else {
            let d = pi / nlat as f64;
            (0..nlat).map(|j| pi / 2.0 - (j as f64 + 0.5) * d).collect()
        };
        // Cell weights: the area of each latitude band between mid-points (sin difference),
        // so that the weights sum to 2 exactly, like the Gaussian weights.
        let edge = |j: usize| -> f64 {
            if j == 0 {
                pi / 2.0
            } else if j == nlat {
                -pi / 2.0
            } else {
                0.5 * (lat[j - 1] + lat[j])
            }
        };
        let row_weights = (0..nlat).map(|j| edge(j).sin() - edge(j + 1).sin()).collect();
        Ok(Self { kind: GridKind::Equiangular { poles }, lat, lon: equal_longitudes(nlon), row_weights })
    }

    /// How the latitudes are placed.
    pub fn kind(&self) -> GridKind {
        self.kind
    }

    /// Number of latitudes.
    pub fn nlat(&self) -> usize {
        self.lat.len()
    }

    /// Number of longitudes.
    pub fn nlon(&self) -> usize {
        self.lon.len()
    }

    /// Number of grid points `nlat × nlon`.
    pub fn len(&self) -> usize {
        self.nlat() * self.nlon()
    }

    /// Whether the grid has no points (never true for a constructed grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Latitudes in radians, north to south.
    pub fn lat(&self) -> &[f64] {
        &self.lat
    }

    /// Longitudes in radians, east from 0.
    pub fn lon(&self) -> &[f64] {
        &self.lon
    }

    /// Latitudes in degrees north, north to south (for files and plots).
    pub fn lat_degrees(&self) -> Vec<f64> {
        self.lat.iter().map(|l| l.to_degrees()).collect()
    }

    /// Longitudes in degrees east.
    pub fn lon_degrees(&self) -> Vec<f64> {
        self.lon.iter().map(|l| l.to_degrees()).collect()
    }

    /// Per-row quadrature weights (they sum to 2, the integral of dμ over [−1, 1]).
    pub fn row_weights(&self) -> &[f64] {
        &self.row_weights
    }

    /// Per-point area weights normalised to sum to 1 (the weights of every global mean and
    /// of latitude-weighted scores).
    pub fn area_weight(&self, j: usize) -> f64 {
        self.row_weights[j] / (2.0 * self.nlon() as f64)
    }

    /// The area-weighted global mean of a grid field.
    pub fn global_mean(&self, field: &[f64]) -> f64 {
        assert_eq!(field.len(), self.len(), "field does not match the grid");
        let nlon = self.nlon();
        field
            .chunks_exact(nlon)
            .enumerate()
            .map(|(j, row)| self.area_weight(j) * row.iter().sum::<f64>())
            .sum()
    }

    /// The zonal mean of a grid field, one value per latitude.
    pub fn zonal_mean(&self, field: &[f64]) -> Vec<f64> {
        assert_eq!(field.len(), self.len(), "field does not match the grid");
        field.chunks_exact(self.nlon()).map(|row| row.iter().sum::<f64>() / row.len() as f64).collect()
    }

    /// A field evaluated point by point from `f(lat, lon)` (radians).
    pub fn field_from_fn(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        for &la in &self.lat {
            for &lo in &self.lon {
                out.push(f(la, lo));
            }
        }
        out
    }

    /// Whether two grids have the same points (within rounding).
    pub fn same_points(&self, other: &LatLonGrid) -> bool {
        let close =
            |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        close(&self.lat, &other.lat) && close(&self.lon, &other.lon)
    }
}

fn equal_longitudes(nlon: usize) -> Vec<f64> {
    let d = 2.0 * std::f64::consts::PI / nlon as f64;
    (0..nlon).map(|i| i as f64 * d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_grids_have_their_sizes_and_unit_area() {
        for (t, nlat, nlon) in STANDARD_GAUSSIAN {
            let g = LatLonGrid::for_truncation(t).unwrap();
            assert_eq!((g.nlat(), g.nlon()), (nlat, nlon));
            assert!(2 * nlat > 3 * t, "T{t} grid is not alias-free for quadratic terms");
            let total: f64 = (0..nlat).map(|j| g.area_weight(j) * nlon as f64).sum();
            assert!((total - 1.0).abs() < 1e-14);
            assert!(g.lat().windows(2).all(|w| w[0] > w[1]), "latitudes must run north to south");
        }
        assert!(LatLonGrid::for_truncation(30).unwrap_err().to_string().contains("T42"));
    }

    #[test]
    fn equiangular_weights_integrate_cos_latitude() {
        for poles in [true, false] {
            let g = LatLonGrid::equiangular(121, 240, poles).unwrap();
            let s: f64 = g.row_weights().iter().sum();
            assert!((s - 2.0).abs() < 1e-13);
            // Mean of sin²(lat) over the sphere is 1/3; cell weights are second-order accurate.
            let f = g.field_from_fn(|la, _| la.sin().powi(2));
            assert!((g.global_mean(&f) - 1.0 / 3.0).abs() < 1e-4);
        }
        let g = LatLonGrid::equiangular(32, 64, false).unwrap();
        assert!((g.lat_degrees()[0] - (90.0 - 180.0 / 64.0)).abs() < 1e-12);
    }

    #[test]
    fn gaussian_global_mean_is_exact_for_polynomials() {
        let g = LatLonGrid::for_truncation(21).unwrap();
        // ∫ μ^4 dμ / 2 = 1/5, exact for a 32-point rule (degree ≤ 63).
        let f = g.field_from_fn(|la, lo| la.sin().powi(4) + lo.cos());
        assert!((g.global_mean(&f) - 0.2).abs() < 1e-15);
    }
}
