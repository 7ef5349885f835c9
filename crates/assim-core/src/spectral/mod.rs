//! Spherical-harmonic transforms on Gaussian grids: the spectral space every global model,
//! B-matrix and spectrum of assim works in.
//!
//! A field `f(λ, μ)` (μ = sin latitude) of triangular truncation `T` is
//! `f = Σ_{n=0}^{T} Σ_{m=−n}^{n} f_n^m P̄_n^m(μ) e^{imλ}` with `f_n^{−m} = conj(f_n^m)`, so only
//! `m ≥ 0` is stored, as [`Complex64`] in the order of [`Truncation::index`]. `P̄_n^m` is
//! orthonormal on [−1, 1] (see `legendre`), which makes the mean square of a field over the
//! sphere `½ Σ_n (|f_n^0|² + 2 Σ_{m>0} |f_n^m|²)` ([`SpectralTransform::power_spectrum`]).
//!
//! The transform is a real FFT in longitude (realfft) and a Legendre transform by Gaussian
//! quadrature using the equatorial symmetry of `P̄_n^m`, run in three stages (Legendre synthesis,
//! a per-latitude pass of FFTs and grid-point work, Legendre analysis) that the shallow-water
//! model fuses so that all its fields share one pass per step. Stages run over balanced chunks
//! of zonal wavenumbers or latitudes in parallel.

mod covariance;
mod legendre;
mod transform;

pub use covariance::VarianceSpectra;
pub use realfft::num_complex::Complex64;
pub(crate) use transform::{Factor, Table, Term, Weighting, transpose_jobs};
pub use transform::{PARALLEL_MIN_TRUNCATION, SpectralTransform};

/// The triangular truncation `T`: coefficients `(m, n)` with `0 ≤ m ≤ n ≤ T`, stored m-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    t: usize,
}

impl Truncation {
    /// Truncation `T` (any `T ≥ 1`).
    pub fn new(t: usize) -> Self {
        Self { t }
    }

    /// The largest total wavenumber `T`.
    pub fn t(&self) -> usize {
        self.t
    }

    /// Number of stored coefficients `(T+1)(T+2)/2`.
    pub fn len(&self) -> usize {
        (self.t + 1) * (self.t + 2) / 2
    }

    /// Always false: a truncation has at least the mean coefficient.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Index of the first coefficient of zonal wavenumber `m`.
    pub fn offset(&self, m: usize) -> usize {
        m * (self.t + 1) - m * m.saturating_sub(1) / 2
    }

    /// Index of coefficient `(m, n)`, `m ≤ n ≤ T`.
    pub fn index(&self, m: usize, n: usize) -> usize {
        debug_assert!(m <= n && n <= self.t);
        self.offset(m) + n - m
    }

    /// `(m, n)` of every stored coefficient, in storage order.
    pub fn modes(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..=self.t).flat_map(move |m| (m..=self.t).map(move |n| (m, n)))
    }

    /// A zero field of this truncation.
    pub fn zeros(&self) -> Vec<Complex64> {
        vec![Complex64::new(0.0, 0.0); self.len()]
    }

    /// `spec` re-truncated (or zero-padded) to truncation `to`: spectral interpolation
    /// between resolutions.
    pub fn retruncate(&self, spec: &[Complex64], to: &Truncation) -> Vec<Complex64> {
        assert_eq!(spec.len(), self.len());
        let mut out = to.zeros();
        for (m, n) in to.modes() {
            if n <= self.t {
                out[to.index(m, n)] = spec[self.index(m, n)];
            }
        }
        out
    }

    /// The contribution of each total wavenumber `n = 0..=T` to the global mean square of the
    /// field (so the entries sum to the mean of `f²` over the sphere).
    pub fn power_spectrum(&self, spec: &[Complex64]) -> Vec<f64> {
        assert_eq!(spec.len(), self.len());
        let mut e = vec![0.0; self.t + 1];
        for (k, (m, n)) in self.modes().enumerate() {
            let w = if m == 0 { 0.5 } else { 1.0 };
            e[n] += w * spec[k].norm_sqr();
        }
        e
    }

    /// `∇²` on a sphere of radius `a`: multiplies `(m, n)` by `−n(n+1)/a²`.
    pub fn laplacian(&self, spec: &[Complex64], a: f64) -> Vec<Complex64> {
        self.scale_by_degree(spec, |n| -((n * (n + 1)) as f64) / (a * a))
    }

    /// `∇⁻²` on a sphere of radius `a`, with the (undetermined) global mean set to zero.
    pub fn inverse_laplacian(&self, spec: &[Complex64], a: f64) -> Vec<Complex64> {
        self.scale_by_degree(spec, |n| if n == 0 { 0.0 } else { -(a * a) / ((n * (n + 1)) as f64) })
    }

    /// Each coefficient multiplied by `f(n)` of its total wavenumber.
    pub fn scale_by_degree(&self, spec: &[Complex64], f: impl Fn(usize) -> f64) -> Vec<Complex64> {
        assert_eq!(spec.len(), self.len());
        let factors: Vec<f64> = (0..=self.t).map(f).collect();
        self.modes().zip(spec).map(|((_, n), c)| c * factors[n]).collect()
    }
}
