//! Homogeneous, isotropic covariances on the sphere: diagonal in spherical harmonics, with a
//! variance that depends on the total wavenumber `n` only. The `B` of spectral 3D-Var.
//!
//! For a field with coefficients `a_n^m`, isotropy means `E|a_n^m|² = s_n` for every `m`.
//! `B^{1/2}` maps a real control vector `v` (one number per real degree of freedom) to the
//! grid: `a_n^0 = √s_n v`, `a_n^m = √(s_n/2) (v' + i v'')` for `m > 0`, then synthesis, so
//! that `B^{1/2} v` with `v ~ N(0, I)` has exactly the spectrum `s_n`.
//!
//! Fields may be coupled in **blocks** (a temperature profile and the surface pressure, say):
//! within a block, the coefficients of one mode `(m, n)` of all its fields share a covariance
//! matrix `C_n` per total wavenumber, `E[a_{f,n}^m conj(a_{g,n}^m)] = C_n[f, g]`, and `√s_n`
//! becomes a factor `S_n` with `S_n S_nᵀ = C_n`. So the vertical correlations of a
//! multi-level field depend on the horizontal scale (deep at planetary scales, shallow at
//! small ones), as they do in the atmosphere. A block of one field is the isotropic case.

use std::sync::Arc;

use faer::Mat;

use super::{Complex64, SpectralTransform};
use crate::AssimError;

/// Fields coupled in one block: their indices and, per total wavenumber `n = 0..=T`, the factor
/// `S_n` (`G × G`, `S_n S_nᵀ = C_n`).
#[derive(Clone)]
struct Block {
    fields: Vec<usize>,
    factors: Vec<Mat<f64>>,
}

/// Variance spectra `s_n` (per total wavenumber) of `n_vars` scalar fields on one grid, stored
/// one after another as `(variable, lat, lon)`, and the blocks of fields they couple.
#[derive(Clone)]
pub struct VarianceSpectra {
    transform: Arc<SpectralTransform>,
    /// Per variable, per total wavenumber `n = 0..=T`: `s_n` (the diagonal of the blocks).
    spectra: Vec<Vec<f64>>,
    blocks: Vec<Block>,
}

impl VarianceSpectra {
    /// Spectra given directly (per variable, `T + 1` non-negative values each), uncoupled.
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
        let blocks = spectra
            .iter()
            .enumerate()
            .map(|(v, s)| Block {
                fields: vec![v],
                factors: s.iter().map(|x| Mat::from_fn(1, 1, |_, _| x.sqrt())).collect(),
            })
            .collect();
        Ok(Self { transform, spectra, blocks })
    }

    /// The isotropic spectra that fit a sample of anomaly states (each `n_vars × grid` long):
    /// `s_n = mean over samples of (|a_n^0|² + 2 Σ_{m>0} |a_n^m|²)/(2n + 1)`.
    pub fn estimate(
        transform: Arc<SpectralTransform>,
        n_vars: usize,
        anomalies: &[Vec<f64>],
    ) -> Result<Self, AssimError> {
        let blocks: Vec<Vec<usize>> = (0..n_vars).map(|v| vec![v]).collect();
        Self::estimate_blocks(transform, n_vars, &blocks, anomalies)
    }

    /// The spectra and within-block covariances per total wavenumber that fit a sample of
    /// anomaly states (each `n_vars × grid` long): `C_n[f, g] = mean over samples of
    /// Re(a_f,n^0 a_g,n^0 + 2 Σ_{m>0} a_f,n^m conj(a_g,n^m))/(2n + 1)`. `blocks` partitions the
    /// fields; `S_n = D_n R_n^{1/2}` with `D_n` the standard deviations and `R_n` the
    /// correlations (symmetric square root, negative eigenvalues of a short sample set to 0).
    pub fn estimate_blocks(
        transform: Arc<SpectralTransform>,
        n_vars: usize,
        blocks: &[Vec<usize>],
        anomalies: &[Vec<f64>],
    ) -> Result<Self, AssimError> {
        let g = transform.grid().len();
        let tr = *transform.truncation();
        if anomalies.is_empty() || anomalies.iter().any(|a| a.len() != n_vars * g) {
            return Err(AssimError::Input(format!(
                "variance spectra need at least one sample of {n_vars} fields of {g} points"
            )));
        }
        let mut seen = vec![false; n_vars];
        for f in blocks.iter().flatten() {
            if *f >= n_vars || std::mem::replace(&mut seen[*f], true) {
                return Err(AssimError::Input(format!(
                    "covariance blocks must partition the {n_vars} fields (field {f} is out of range or listed twice)"
                )));
            }
        }
        if seen.iter().any(|s| !s) {
            return Err(AssimError::Input(format!("covariance blocks must cover all {n_vars} fields")));
        }
        let nt = tr.t() + 1;
        let ns = anomalies.len() as f64;
        let mut out_blocks = Vec::with_capacity(blocks.len());
        let mut spectra = vec![vec![0.0; nt]; n_vars];
        for fields in blocks {
            let gsz = fields.len();
            if let [f] = fields[..] {
                // One field: the isotropic spectrum, accumulated as it always was.
                let s = &mut spectra[f];
                for a in anomalies {
                    let c = transform.analysis(&a[f * g..(f + 1) * g]);
                    for (k, (m, n)) in tr.modes().enumerate() {
                        let w = if m == 0 { 1.0 } else { 2.0 };
                        s[n] += w * c[k].norm_sqr() / ((2 * n + 1) as f64 * ns);
                    }
                }
                let factors = s.iter().map(|x| Mat::from_fn(1, 1, |_, _| x.max(0.0).sqrt())).collect();
                out_blocks.push(Block { fields: fields.clone(), factors });
                continue;
            }
            let mut cov = vec![Mat::<f64>::zeros(gsz, gsz); nt];
            for a in anomalies {
                let coef: Vec<Vec<Complex64>> =
                    fields.iter().map(|&f| transform.analysis(&a[f * g..(f + 1) * g])).collect();
                for (k, (m, n)) in tr.modes().enumerate() {
                    let w = if m == 0 { 1.0 } else { 2.0 } / ((2 * n + 1) as f64 * ns);
                    for i in 0..gsz {
                        for j in 0..=i {
                            let c = w * (coef[i][k] * coef[j][k].conj()).re;
                            cov[n][(i, j)] += c;
                        }
                    }
                }
            }
            let mut factors = Vec::with_capacity(nt);
            for (n, c) in cov.iter_mut().enumerate() {
                for i in 0..gsz {
                    for j in 0..i {
                        c[(j, i)] = c[(i, j)];
                    }
                    spectra[fields[i]][n] = c[(i, i)];
                }
                factors.push(block_factor(c)?);
            }
            out_blocks.push(Block { fields: fields.clone(), factors });
        }
        if spectra.iter().flatten().any(|s| !s.is_finite()) {
            return Err(AssimError::Input("variance spectra of the sample are not finite".into()));
        }
        Ok(Self { transform, spectra, blocks: out_blocks })
    }

    /// Number of variables.
    pub fn n_vars(&self) -> usize {
        self.spectra.len()
    }

    /// The spectrum `s_n` of variable `v`.
    pub fn spectrum(&self, v: usize) -> &[f64] {
        &self.spectra[v]
    }

    /// The correlation of fields `f` and `h` at total wavenumber `n` (`None` when they are not
    /// in one block, so uncorrelated): the vertical correlations of a multi-level `B`.
    pub fn correlation(&self, f: usize, h: usize, n: usize) -> Option<f64> {
        let b = self.blocks.iter().find(|b| b.fields.contains(&f) && b.fields.contains(&h))?;
        let (i, j) = (b.fields.iter().position(|&x| x == f)?, b.fields.iter().position(|&x| x == h)?);
        let s = &b.factors[n];
        let dot = |a: usize, c: usize| (0..s.ncols()).map(|k| s[(a, k)] * s[(c, k)]).sum::<f64>();
        let d = (dot(i, i) * dot(j, j)).sqrt();
        Some(if d > 0.0 { dot(i, j) / d } else { 0.0 })
    }

    /// The transform (grid and truncation) the spectra live on.
    pub fn transform(&self) -> &SpectralTransform {
        &self.transform
    }

    /// Real degrees of freedom per field: one for each `m = 0` mode, two for the others.
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

    /// `x = scale · B^{1/2} v`: grid fields (`n_vars × grid`) from a control vector (block by
    /// block; within a block, mode by mode, the `G` real parts then the `G` imaginary ones).
    pub fn sqrt_apply(&self, v: &[f64], scale: f64, x: &mut [f64]) {
        let tr = *self.transform.truncation();
        let (g, nv) = (self.transform.grid().len(), self.per_var());
        assert_eq!(v.len(), self.control_len(), "control vector length");
        assert_eq!(x.len(), self.n_vars() * g, "state length");
        let mut offset = 0;
        for b in &self.blocks {
            let gsz = b.fields.len();
            let cv = &v[offset..offset + gsz * nv];
            offset += gsz * nv;
            if let [f] = b.fields[..] {
                x[f * g..(f + 1) * g].copy_from_slice(&self.sqrt_apply_one(&self.spectra[f], cv, scale));
                continue;
            }
            let mut spec: Vec<Vec<Complex64>> = (0..gsz).map(|_| tr.zeros()).collect();
            let mut i = 0;
            for (k, (m, n)) in tr.modes().enumerate() {
                let s = &b.factors[n];
                if m == 0 {
                    for (f, sp) in spec.iter_mut().enumerate() {
                        let re: f64 = (0..gsz).map(|h| s[(f, h)] * cv[i + h]).sum();
                        sp[k] = Complex64::new(scale * re, 0.0);
                    }
                    i += gsz;
                } else {
                    let fac = scale * 0.5f64.sqrt();
                    for (f, sp) in spec.iter_mut().enumerate() {
                        let re: f64 = (0..gsz).map(|h| s[(f, h)] * cv[i + h]).sum();
                        let im: f64 = (0..gsz).map(|h| s[(f, h)] * cv[i + gsz + h]).sum();
                        sp[k] = Complex64::new(fac * re, fac * im);
                    }
                    i += 2 * gsz;
                }
            }
            for (f, sp) in b.fields.iter().zip(&spec) {
                x[f * g..(f + 1) * g].copy_from_slice(&self.transform.synthesis(sp));
            }
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
        let mut offset = 0;
        for b in &self.blocks {
            let gsz = b.fields.len();
            let c: Vec<Vec<Complex64>> = b
                .fields
                .iter()
                .map(|&f| {
                    let field: Vec<f64> =
                        x[f * g..(f + 1) * g].iter().enumerate().map(|(p, xi)| xi / w[p / nlon]).collect();
                    self.transform.analysis(&field)
                })
                .collect();
            let cv = &mut v[offset..offset + gsz * nv];
            offset += gsz * nv;
            if let [f] = b.fields[..] {
                self.sqrt_adjoint_one(&self.spectra[f], &c[0], scale, cv);
                continue;
            }
            let mut i = 0;
            for (k, (m, n)) in tr.modes().enumerate() {
                let s = &b.factors[n];
                if m == 0 {
                    let fac = scale * nlon as f64;
                    for h in 0..gsz {
                        cv[i + h] = fac * (0..gsz).map(|f| s[(f, h)] * c[f][k].re).sum::<f64>();
                    }
                    i += gsz;
                } else {
                    let fac = scale * 0.5f64.sqrt() * 2.0 * nlon as f64;
                    for h in 0..gsz {
                        cv[i + h] = fac * (0..gsz).map(|f| s[(f, h)] * c[f][k].re).sum::<f64>();
                        cv[i + gsz + h] = fac * (0..gsz).map(|f| s[(f, h)] * c[f][k].im).sum::<f64>();
                    }
                    i += 2 * gsz;
                }
            }
        }
    }
}

impl VarianceSpectra {
    /// `B^{1/2}` of one uncoupled field with spectrum `s`: `a_n^0 = √s_n v`,
    /// `a_n^m = √(s_n/2)(v' + i v'')`, then synthesis.
    fn sqrt_apply_one(&self, s: &[f64], cv: &[f64], scale: f64) -> Vec<f64> {
        let tr = *self.transform.truncation();
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
        self.transform.synthesis(&spec)
    }

    /// The transpose of [`Self::sqrt_apply_one`] from the field's weighted analysis `c`.
    fn sqrt_adjoint_one(&self, s: &[f64], c: &[Complex64], scale: f64, cv: &mut [f64]) {
        let tr = *self.transform.truncation();
        let nlon = self.transform.grid().nlon() as f64;
        let mut i = 0;
        for (k, (m, n)) in tr.modes().enumerate() {
            if m == 0 {
                cv[i] = scale * s[n].sqrt() * nlon * c[k].re;
                i += 1;
            } else {
                let f = scale * (0.5 * s[n]).sqrt() * 2.0 * nlon;
                cv[i] = f * c[k].re;
                cv[i + 1] = f * c[k].im;
                i += 2;
            }
        }
    }
}

/// `S = D R^{1/2}` for a covariance `C = D R D` (`D` the standard deviations, `R` the
/// correlations; a field of zero variance gets a zero row).
fn block_factor(c: &Mat<f64>) -> Result<Mat<f64>, AssimError> {
    let n = c.nrows();
    let d: Vec<f64> = (0..n).map(|i| c[(i, i)].max(0.0).sqrt()).collect();
    if n == 1 {
        return Ok(Mat::from_fn(1, 1, |_, _| d[0]));
    }
    let r = Mat::from_fn(n, n, |i, j| {
        if i == j {
            1.0
        } else if d[i] > 0.0 && d[j] > 0.0 {
            c[(i, j)] / (d[i] * d[j])
        } else {
            0.0
        }
    });
    let (ev, vecs) = crate::linalg::sym_eig(r.as_ref())?;
    let root = crate::linalg::sym_fn(&ev, vecs.as_ref(), |x| x.max(0.0).sqrt());
    Ok(Mat::from_fn(n, n, |i, j| d[i] * root[(i, j)]))
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

    /// Two fields with correlation ρ = 0.8 at every scale: the block estimate recovers ρ per
    /// total wavenumber, and its square root passes the dot-product test.
    #[test]
    fn coupled_blocks_recover_the_correlation_and_pass_the_dot_product_test() {
        let b = spectra();
        let g = b.transform().grid().len();
        let mut rng = stream(5, "blocks");
        let rho: f64 = 0.8;
        let draws: Vec<Vec<f64>> = (0..200)
            .map(|_| {
                let v: Vec<f64> = (0..b.control_len()).map(|_| normal(&mut rng)).collect();
                let mut x = vec![0.0; 2 * g];
                b.sqrt_apply(&v, 1.0, &mut x);
                // Field 1 has field 0's spectrum times 2: mix it with field 0 scaled to match.
                let (f0, f1) = x.split_at_mut(g);
                for (a, c) in f1.iter_mut().zip(f0.iter()) {
                    *a = rho * 2f64.sqrt() * c + (1.0 - rho * rho).sqrt() * *a;
                }
                x
            })
            .collect();
        let est = VarianceSpectra::estimate_blocks(b.transform.clone(), 2, &[vec![0, 1]], &draws).unwrap();
        for n in 1..=21 {
            // (2n+1)·200 complex-mode samples: the sample correlation's sd is (1−ρ²)/√dof.
            let sd = (1.0 - rho * rho) / (200.0 * (2 * n + 1) as f64).sqrt();
            let r = est.correlation(0, 1, n).unwrap();
            assert!((r - rho).abs() < 4.0 * sd + 1e-9, "n {n}: {r} vs {rho} (sd {sd})");
        }
        assert!(VarianceSpectra::estimate_blocks(b.transform.clone(), 2, &[vec![0, 0]], &draws).is_err());
        assert!(VarianceSpectra::estimate_blocks(b.transform.clone(), 2, &[vec![0]], &draws).is_err());
        let v: Vec<f64> = (0..est.control_len()).map(|_| normal(&mut rng)).collect();
        let y: Vec<f64> = (0..2 * g).map(|_| normal(&mut rng)).collect();
        let mut bv = vec![0.0; 2 * g];
        est.sqrt_apply(&v, 0.7, &mut bv);
        let mut bty = vec![0.0; est.control_len()];
        est.sqrt_adjoint(&y, 0.7, &mut bty);
        let lhs: f64 = bv.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = v.iter().zip(&bty).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
    }
}
