//! Homogeneous, isotropic covariances on the sphere: diagonal in spherical harmonics, with a
//! variance that depends on the total wavenumber `n` only. The `B` of spectral 3D-Var.
//!
//! For a field with coefficients `a_n^m`, isotropy means `E|a_n^m|² = s_n` for every `m`.
//! `B^{1/2}` maps a real control vector `v` (one number per real degree of freedom) to the
//! grid: `a_n^0 = √s_n v`, `a_n^m = √(s_n/2) (v' + i v'')` for `m > 0`, then synthesis, so
//! that `B^{1/2} v` with `v ~ N(0, I)` has exactly the spectrum `s_n`.

use std::sync::Arc;

use super::{Complex64, SpectralTransform};
use crate::AssimError;

/// Variance spectra `s_n` (per total wavenumber) of `n_vars` scalar fields on one grid, stored
/// one after another as `(variable, lat, lon)`.
#[derive(Clone)]
pub struct VarianceSpectra {
    transform: Arc<SpectralTransform>,
    /// Per variable, per total wavenumber `n = 0..=T`: `s_n`.
    spectra: Vec<Vec<f64>>,
}

impl VarianceSpectra {
    /// Spectra given directly (per variable, `T + 1` non-negative values each).
    pub fn new(transform: Arc<SpectralTransform>, spectra: Vec<Vec<f64>>) -> Result<Self, AssimError> {
        let t = transform.truncation().t();
        if spectra.is_empty() || spectra.iter().any(|s| s.len() != t + 1) {
            return Err(AssimError::Input(format!(
                "variance spectra need T + 1 = {} values per variable",
                t + 1
            )));
        }
        if spectra.iter().flatten().any(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(AssimError::Input("variance spectra must be finite and ≥ 0".into()));
        }
        Ok(Self { transform, spectra })
    }

    /// The isotropic spectra that fit a sample of anomaly states (each `n_vars × grid` long):
    /// `s_n = mean over samples of (|a_n^0|² + 2 Σ_{m>0} |a_n^m|²)/(2n + 1)`.
    pub fn estimate(
        transform: Arc<SpectralTransform>,
        n_vars: usize,
        anomalies: &[Vec<f64>],
    ) -> Result<Self, AssimError> {
        let g = transform.grid().len();
        let tr = *transform.truncation();
        if anomalies.is_empty() || anomalies.iter().any(|a| a.len() != n_vars * g) {
            return Err(AssimError::Input(format!(
                "variance spectra need at least one sample of {n_vars} fields of {g} points"
            )));
        }
        let mut spectra = vec![vec![0.0; tr.t() + 1]; n_vars];
        for a in anomalies {
            for (v, s) in spectra.iter_mut().enumerate() {
                let c = transform.analysis(&a[v * g..(v + 1) * g]);
                for (k, (m, n)) in tr.modes().enumerate() {
                    let w = if m == 0 { 1.0 } else { 2.0 };
                    s[n] += w * c[k].norm_sqr() / ((2 * n + 1) as f64 * anomalies.len() as f64);
                }
            }
        }
        Self::new(transform, spectra)
    }

    /// Number of variables.
    pub fn n_vars(&self) -> usize {
        self.spectra.len()
    }

    /// The spectrum `s_n` of variable `v`.
    pub fn spectrum(&self, v: usize) -> &[f64] {
        &self.spectra[v]
    }

    /// The transform (grid and truncation) the spectra live on.
    pub fn transform(&self) -> &SpectralTransform {
        &self.transform
    }

    /// Real degrees of freedom per variable: one for each `m = 0` mode, two for the others.
    fn per_var(&self) -> usize {
        let tr = self.transform.truncation();
        tr.modes().map(|(m, _)| if m == 0 { 1 } else { 2 }).sum()
    }

    /// Length of the control vector `v`.
    pub fn control_len(&self) -> usize {
        self.n_vars() * self.per_var()
    }

    /// Grid variance of variable `v` at every point (the same everywhere: homogeneous), times
    /// `scale`: `Σ_n (2n+1) s_n / 2` in this transform's normalisation.
    pub fn point_variance(&self, v: usize) -> f64 {
        // A unit-variance control vector gives E[f²] = Σ_n s_n Σ_m c_m P̄²: by the addition
        // theorem Σ_m c_m P̄_n^m(μ)² = (2n+1)/2 for P̄ normalised to ∫P̄² dμ = 1.
        self.spectra[v].iter().enumerate().map(|(n, s)| s * (2 * n + 1) as f64 / 2.0).sum()
    }

    /// `x = scale · B^{1/2} v`: grid fields (`n_vars × grid`) from a control vector.
    pub fn sqrt_apply(&self, v: &[f64], scale: f64, x: &mut [f64]) {
        let tr = *self.transform.truncation();
        let (g, nv) = (self.transform.grid().len(), self.per_var());
        assert_eq!(v.len(), self.control_len(), "control vector length");
        assert_eq!(x.len(), self.n_vars() * g, "state length");
        for (var, s) in self.spectra.iter().enumerate() {
            let cv = &v[var * nv..(var + 1) * nv];
            let mut spec = tr.zeros();
            let mut i = 0;
            for (k, (m, n)) in tr.modes().enumerate() {
                if m == 0 {
                    spec[k] = Complex64::new(scale * s[n].sqrt() * cv[i], 0.0);
                    i += 1;
                } else {
                    let f = scale * (0.5 * s[n]).sqrt();
                    spec[k] = Complex64::new(f * cv[i], f * cv[i + 1]);
                    i += 2;
                }
            }
            x[var * g..(var + 1) * g].copy_from_slice(&self.transform.synthesis(&spec));
        }
    }

    /// `v = scale · (B^{1/2})ᵀ x`: the transpose of [`Self::sqrt_apply`] (dot-product tested).
    pub fn sqrt_adjoint(&self, x: &[f64], scale: f64, v: &mut [f64]) {
        let tr = *self.transform.truncation();
        let grid = self.transform.grid();
        let (g, nlon, nv) = (grid.len(), grid.nlon(), self.per_var());
        assert_eq!(v.len(), self.control_len(), "control vector length");
        assert_eq!(x.len(), self.n_vars() * g, "state length");
        // The synthesis transpose is the quadrature analysis of x / w_j, times nlon (and 2 for
        // m > 0, where a coefficient stands for itself and its conjugate).
        let w = grid.row_weights();
        for (var, s) in self.spectra.iter().enumerate() {
            let field: Vec<f64> =
                x[var * g..(var + 1) * g].iter().enumerate().map(|(p, xi)| xi / w[p / nlon]).collect();
            let c = self.transform.analysis(&field);
            let cv = &mut v[var * nv..(var + 1) * nv];
            let mut i = 0;
            for (k, (m, n)) in tr.modes().enumerate() {
                if m == 0 {
                    cv[i] = scale * s[n].sqrt() * nlon as f64 * c[k].re;
                    i += 1;
                } else {
                    let f = scale * (0.5 * s[n]).sqrt() * 2.0 * nlon as f64;
                    cv[i] = f * c[k].re;
                    cv[i + 1] = f * c[k].im;
                    i += 2;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal, stream};

    fn spectra() -> VarianceSpectra {
        let sht = Arc::new(SpectralTransform::new(21, 1.0).unwrap());
        let s = (0..=21).map(|n| 1.0 / (1.0 + n as f64).powi(2)).collect::<Vec<_>>();
        VarianceSpectra::new(sht, vec![s.clone(), s.iter().map(|x| 2.0 * x).collect()]).unwrap()
    }

    #[test]
    fn sqrt_adjoint_passes_the_dot_product_test() {
        let b = spectra();
        let g = b.transform().grid().len();
        let mut rng = stream(3, "dot");
        let v: Vec<f64> = (0..b.control_len()).map(|_| normal(&mut rng)).collect();
        let y: Vec<f64> = (0..2 * g).map(|_| normal(&mut rng)).collect();
        let mut bv = vec![0.0; 2 * g];
        b.sqrt_apply(&v, 1.5, &mut bv);
        let mut bty = vec![0.0; b.control_len()];
        b.sqrt_adjoint(&y, 1.5, &mut bty);
        let lhs: f64 = bv.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = v.iter().zip(&bty).map(|(a, b)| a * b).sum();
        // Both sums are O(100); rounding in the transforms is ~1e-13 relative.
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
    }

    #[test]
    fn sampled_fields_have_the_spectrum_and_point_variance() {
        let b = spectra();
        let g = b.transform().grid().len();
        let mut rng = stream(4, "spec");
        let draws: Vec<Vec<f64>> = (0..400)
            .map(|_| {
                let v: Vec<f64> = (0..b.control_len()).map(|_| normal(&mut rng)).collect();
                let mut x = vec![0.0; 2 * g];
                b.sqrt_apply(&v, 1.0, &mut x);
                x
            })
            .collect();
        let est = VarianceSpectra::estimate(b.transform.clone(), 2, &draws).unwrap();
        // s_n from 400 draws of (2n+1) χ² degrees of freedom: relative error ≤ 3·√(2/(400·(2n+1))).
        for v in 0..2 {
            for n in 0..=21 {
                let bound = 3.0 * (2.0 / (400.0 * (2 * n + 1) as f64)).sqrt();
                let r = est.spectrum(v)[n] / b.spectrum(v)[n] - 1.0;
                assert!(r.abs() < bound, "var {v} n {n}: ratio error {r} > {bound}");
            }
            // Pointwise variance: average over the grid and the draws.
            let pv: f64 =
                draws.iter().map(|x| x[v * g..(v + 1) * g].iter().map(|a| a * a).sum::<f64>()).sum::<f64>()
                    / (400.0 * g as f64);
            assert!((pv / b.point_variance(v) - 1.0).abs() < 0.05, "{pv} vs {}", b.point_variance(v));
        }
    }
}
