//! Bilinear interpolation from a lat-lon grid to arbitrary points, stored as a sparse matrix
//! so that observation operators get its adjoint for free.

use super::LatLonGrid;
use crate::AssimError;

/// Bilinear interpolation weights from one grid to a fixed list of points: `y = W f`.
///
/// Longitude wraps around; between the outermost latitude row and the pole the pole value is
/// taken as the zonal mean of that row (the continuous value of a smooth scalar field there;
/// for wind components near the poles use spectral interpolation instead).
#[derive(Clone, Debug)]
pub struct Bilinear {
    grid_len: usize,
    /// CSR row offsets: point `p` uses entries `offsets[p]..offsets[p + 1]`.
    offsets: Vec<usize>,
    index: Vec<usize>,
    weight: Vec<f64>,
}

impl Bilinear {
    /// Weights for `points` given as (latitude, longitude) in degrees; longitudes may be any
    /// finite value (taken modulo 360), latitudes must lie in [−90, 90].
    pub fn new(grid: &LatLonGrid, points: &[(f64, f64)]) -> Result<Self, AssimError> {
        let (nlat, nlon) = (grid.nlat(), grid.nlon());
        let lat = grid.lat();
        let dlon = 2.0 * std::f64::consts::PI / nlon as f64;
        let half_pi = std::f64::consts::FRAC_PI_2;
        let mut offsets = Vec::with_capacity(points.len() + 1);
        let mut index = Vec::new();
        let mut weight = Vec::new();
        offsets.push(0);
        for (p, &(la_deg, lo_deg)) in points.iter().enumerate() {
            if !la_deg.is_finite() || !lo_deg.is_finite() {
                return Err(AssimError::Input(format!(
                    "point {p}: non-finite location ({la_deg}, {lo_deg})"
                )));
            }
            if la_deg.abs() > 90.0 {
                return Err(AssimError::Input(format!("point {p}: latitude {la_deg}° is outside [-90, 90]")));
            }
            let phi = la_deg.to_radians();
            let lam = lo_deg.to_radians().rem_euclid(2.0 * std::f64::consts::PI);
            let x = lam / dlon;
            let i0 = (x.floor() as usize).min(nlon - 1);
            let fx = x - i0 as f64;
            let i1 = (i0 + 1) % nlon;
            // A row contribution: weight `wr` spread on the two longitudes of row j.
            let mut push_row = |j: usize, wr: f64| {
                if wr != 0.0 {
                    index.push(j * nlon + i0);
                    weight.push(wr * (1.0 - fx));
                    index.push(j * nlon + i1);
                    weight.push(wr * fx);
                }
            };
            // The pole pseudo-row (zonal mean of row j).
            let push_pole = |j: usize, wp: f64, index: &mut Vec<usize>, weight: &mut Vec<f64>| {
                if wp != 0.0 {
                    for i in 0..nlon {
                        index.push(j * nlon + i);
                        weight.push(wp / nlon as f64);
                    }
                }
            };
            if phi >= lat[0] {
                let t = if lat[0] >= half_pi { 0.0 } else { (half_pi - phi) / (half_pi - lat[0]) };
                push_row(0, t);
                push_pole(0, 1.0 - t, &mut index, &mut weight);
            } else if phi <= lat[nlat - 1] {
                let last = lat[nlat - 1];
                let t = if last <= -half_pi { 0.0 } else { (phi + half_pi) / (last + half_pi) };
                push_row(nlat - 1, t);
                push_pole(nlat - 1, 1.0 - t, &mut index, &mut weight);
            } else {
                // lat is descending: find j with lat[j] ≥ phi > lat[j+1].
                let j = lat.partition_point(|&l| l >= phi).saturating_sub(1).min(nlat - 2);
                let t = (lat[j] - phi) / (lat[j] - lat[j + 1]);
                push_row(j, 1.0 - t);
                push_row(j + 1, t);
            }
            offsets.push(index.len());
        }
        Ok(Self { grid_len: grid.len(), offsets, index, weight })
    }

    /// Number of points.
    pub fn n_points(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The grid indices and weights of point `p` (a row of `W`).
    pub fn row(&self, p: usize) -> (&[usize], &[f64]) {
        let r = self.offsets[p]..self.offsets[p + 1];
        (&self.index[r.clone()], &self.weight[r])
    }

    /// Interpolated values at the points (`W f`).
    pub fn apply(&self, field: &[f64]) -> Vec<f64> {
        assert_eq!(field.len(), self.grid_len, "field does not match the interpolation grid");
        (0..self.n_points())
            .map(|p| {
                let r = self.offsets[p]..self.offsets[p + 1];
                self.index[r.clone()].iter().zip(&self.weight[r]).map(|(&k, &w)| w * field[k]).sum()
            })
            .collect()
    }

    /// Adds `Wᵀ y` to `out` (the adjoint, for variational methods and the dot-product test).
    pub fn adjoint_add(&self, y: &[f64], out: &mut [f64]) {
        assert_eq!(y.len(), self.n_points());
        assert_eq!(out.len(), self.grid_len);
        for (p, &yp) in y.iter().enumerate() {
            let r = self.offsets[p]..self.offsets[p + 1];
            for (&k, &w) in self.index[r.clone()].iter().zip(&self.weight[r]) {
                out[k] += w * yp;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_fields_linear_in_the_grid_coordinates() {
        let g = LatLonGrid::for_truncation(21).unwrap();
        // A field linear in latitude (within rows) and periodic-linear in longitude per cell is
        // reproduced exactly at interior points; check with f = lat (radians).
        let f = g.field_from_fn(|la, _| la);
        let pts = [(10.3, 5.0), (-45.7, 359.9), (0.0, -20.0), (80.0, 720.5)];
        let y = Bilinear::new(&g, &pts).unwrap().apply(&f);
        for ((la, _), v) in pts.iter().zip(&y) {
            assert!((v - la.to_radians()).abs() < 1e-14, "{la}: {v}");
        }
        // Values at grid points are returned exactly.
        let h = g.field_from_fn(|la, lo| la.sin() * lo.cos() + 2.0);
        let (j, i) = (7, 13);
        let y = Bilinear::new(&g, &[(g.lat_degrees()[j], g.lon_degrees()[i])]).unwrap().apply(&h);
        assert!((y[0] - h[j * g.nlon() + i]).abs() < 1e-14);
    }

    #[test]
    fn pole_caps_use_the_ring_mean_and_weights_sum_to_one() {
        let g = LatLonGrid::for_truncation(21).unwrap();
        let f = g.field_from_fn(|la, lo| 1.0 + la.cos() * lo.sin());
        let w = Bilinear::new(&g, &[(90.0, 0.0), (-90.0, 123.0), (89.0, 40.0)]).unwrap();
        let y = w.apply(&f);
        assert!((y[0] - 1.0).abs() < 1e-14 && (y[1] - 1.0).abs() < 1e-14);
        let ones = vec![1.0; g.len()];
        assert!(w.apply(&ones).iter().all(|v| (v - 1.0).abs() < 1e-14));
    }

    #[test]
    fn adjoint_passes_the_dot_product_test() {
        let g = LatLonGrid::equiangular(37, 72, true).unwrap();
        let pts: Vec<(f64, f64)> =
            (0..50).map(|k| (-90.0 + 3.6 * k as f64, 7.3 * k as f64 - 100.0)).collect();
        let w = Bilinear::new(&g, &pts).unwrap();
        let x: Vec<f64> = (0..g.len()).map(|k| ((k * 7919) % 113) as f64 / 113.0 - 0.5).collect();
        let y: Vec<f64> = (0..pts.len()).map(|k| ((k * 31) % 17) as f64 - 8.0).collect();
        let lhs: f64 = w.apply(&x).iter().zip(&y).map(|(a, b)| a * b).sum();
        let mut aty = vec![0.0; g.len()];
        w.adjoint_add(&y, &mut aty);
        let rhs: f64 = aty.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0));
    }

    #[test]
    fn bad_locations_are_errors_naming_the_point() {
        let g = LatLonGrid::for_truncation(21).unwrap();
        let e = Bilinear::new(&g, &[(0.0, 0.0), (91.0, 0.0)]).unwrap_err().to_string();
        assert!(e.contains("point 1") && e.contains("91"), "{e}");
        assert!(Bilinear::new(&g, &[(f64::NAN, 0.0)]).is_err());
        assert!(Bilinear::new(&g, &[(0.0, f64::INFINITY)]).is_err());
    }
}
