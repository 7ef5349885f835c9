//! The spectral transform proper: tables, FFT plans and the three parallel stages.

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::legendre::legendre_at;
use super::{Complex64, Truncation};
use crate::AssimError;
use crate::grid::LatLonGrid;

/// Smallest truncation whose transform stages are split across threads.
pub const PARALLEL_MIN_TRUNCATION: usize = 42;

/// Which Legendre table a term uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// `P̄_n^m`.
    P,
    /// `H_n^m = (1 − μ²) dP̄_n^m/dμ`.
    H,
}

/// The factor a term's coefficients (synthesis) or quadrature sums (analysis) are multiplied by.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Factor {
    /// A real number.
    Real(f64),
    /// `s · i·m`: a zonal derivative ∂/∂λ times `s`.
    Im(f64),
}

/// One term of a Legendre sum: `factor · Σ field · table` (synthesis) or
/// `factor · ⟨field, table⟩` (analysis).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Term {
    /// Index of the input field (spectral field for synthesis, Fourier field for analysis).
    pub field: usize,
    /// The Legendre table.
    pub table: Table,
    /// The factor.
    pub factor: Factor,
}

/// The quadrature weight a grid field is analysed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Weighting {
    /// `w_k`: a scalar field.
    Scalar,
    /// `w_k / (1 − μ_k²)`: a component `(p cos φ)` of a vector field, for divergence and curl.
    Vector,
    /// No weight: the plain sums `Σ_i g_i e^{−imλ_i}` that the transposes of the syntheses need.
    Unit,
}

/// Spherical-harmonic transforms of triangular truncation `T` on its Gaussian grid, on a
/// sphere of radius `a` (derivatives are per metre when `a` is in metres).
pub struct SpectralTransform {
    tr: Truncation,
    grid: LatLonGrid,
    radius: f64,
    /// Number of northern latitudes (half the grid).
    nh: usize,
    /// `P̄_n^m(μ_k)` for northern latitudes: `p[index(m, n) * nh + k]`.
    p: Vec<f64>,
    /// `H_n^m(μ_k)`, same layout.
    h: Vec<f64>,
    /// `cos φ_j` per latitude.
    cos_lat: Vec<f64>,
    /// Analysis weights per latitude: `w_j / nlon` and `w_j / (nlon (1 − μ_j²))`.
    w_scalar: Vec<f64>,
    w_vector: Vec<f64>,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
    m_chunks: Vec<Range<usize>>,
    lat_chunks: Vec<Range<usize>>,
}

impl SpectralTransform {
    /// The transform of truncation `T` (21, 42, 63 or 85) on its standard Gaussian grid.
    pub fn new(truncation: usize, radius: f64) -> Result<Self, AssimError> {
        let grid = LatLonGrid::for_truncation(truncation)?;
        Self::on_grid(truncation, grid, radius)
    }

    /// The transform of truncation `T` on a given Gaussian grid (alias-free for quadratic
    /// terms when `nlat ≥ (3T+1)/2`; exact round trips need `nlat > T` and `nlon > 2T`).
    pub fn on_grid(truncation: usize, grid: LatLonGrid, radius: f64) -> Result<Self, AssimError> {
        if grid.kind() != crate::grid::GridKind::Gaussian {
            return Err(AssimError::Input("the spectral transform needs a Gaussian grid".into()));
        }
        if truncation < 1 || grid.nlat() <= truncation || grid.nlon() <= 2 * truncation {
            return Err(AssimError::Input(format!(
                "T{truncation} does not fit a {}×{} grid (need nlat > T and nlon > 2T)",
                grid.nlat(),
                grid.nlon()
            )));
        }
        if !(radius.is_finite() && radius > 0.0) {
            return Err(AssimError::Input(format!("sphere radius must be positive (got {radius})")));
        }
        let tr = Truncation::new(truncation);
        let (nlat, nlon) = (grid.nlat(), grid.nlon());
        let nh = nlat / 2;
        let mut p = vec![0.0; tr.len() * nh];
        let mut h = vec![0.0; tr.len() * nh];
        let (mut pk, mut hk) = (vec![0.0; tr.len()], vec![0.0; tr.len()]);
        for k in 0..nh {
            legendre_at(&tr, grid.lat()[k].sin(), &mut pk, &mut hk);
            for i in 0..tr.len() {
                p[i * nh + k] = pk[i];
                h[i * nh + k] = hk[i];
            }
        }
        let cos_lat: Vec<f64> = grid.lat().iter().map(|l| l.cos()).collect();
        let w_scalar: Vec<f64> = grid.row_weights().iter().map(|w| w / nlon as f64).collect();
        let w_vector = w_scalar.iter().zip(&cos_lat).map(|(w, c)| w / (c * c)).collect();
        let mut planner = RealFftPlanner::<f64>::new();
        let fwd = planner.plan_fft_forward(nlon);
        let inv = planner.plan_fft_inverse(nlon);
        // Below T42 a stage takes tens of µs, less than waking a second rayon worker costs
        // (measured: T21 runs 1.4× slower split in two), so small transforms stay sequential.
        let nchunks =
            if truncation < PARALLEL_MIN_TRUNCATION { 1 } else { rayon::current_num_threads().max(1) };
        let m_chunks = balanced_m_chunks(truncation, nchunks);
        let lat_chunks = (0..nchunks)
            .map(|c| c * nlat / nchunks..(c + 1) * nlat / nchunks)
            .filter(|r| !r.is_empty())
            .collect();
        Ok(Self { tr, grid, radius, nh, p, h, cos_lat, w_scalar, w_vector, fwd, inv, m_chunks, lat_chunks })
    }

    /// The truncation.
    pub fn truncation(&self) -> &Truncation {
        &self.tr
    }

    /// The Gaussian grid.
    pub fn grid(&self) -> &LatLonGrid {
        &self.grid
    }

    /// The sphere radius.
    pub fn radius(&self) -> f64 {
        self.radius
    }

    /// `cos φ` per latitude (north to south).
    pub fn cos_lat(&self) -> &[f64] {
        &self.cos_lat
    }

    // ---------------------------------------------------------------- user-facing operations

    /// Grid values of a spectral field.
    pub fn synthesis(&self, spec: &[Complex64]) -> Vec<f64> {
        self.synthesize(&[spec], &[&[Term { field: 0, table: Table::P, factor: Factor::Real(1.0) }]])
            .pop()
            .expect("one field")
    }

    /// Spectral coefficients of a grid field (exact for fields of degree ≤ T).
    pub fn analysis(&self, field: &[f64]) -> Vec<Complex64> {
        self.analyze(
            &[field],
            &[Weighting::Scalar],
            &[&[Term { field: 0, table: Table::P, factor: Factor::Real(1.0) }]],
        )
        .pop()
        .expect("one field")
    }

    /// Winds `(u, v)` on the grid from spectral vorticity and divergence.
    pub fn uv_from_vor_div(&self, vor: &[Complex64], div: &[Complex64]) -> (Vec<f64>, Vec<f64>) {
        let psi = self.tr.inverse_laplacian(vor, self.radius);
        let chi = self.tr.inverse_laplacian(div, self.radius);
        let [u_job, v_job] = self.wind_terms(0, 1);
        let mut out = self.synthesize(&[&psi, &chi], &[&u_job, &v_job]);
        let mut v = out.pop().expect("v");
        let mut u = out.pop().expect("u");
        self.divide_by_cos_lat(&mut u);
        self.divide_by_cos_lat(&mut v);
        (u, v)
    }

    /// Spectral vorticity and divergence of grid winds `(u, v)`.
    pub fn vor_div_from_uv(&self, u: &[f64], v: &[f64]) -> (Vec<Complex64>, Vec<Complex64>) {
        let (mut uc, mut vc) = (u.to_vec(), v.to_vec());
        self.multiply_by_cos_lat(&mut uc);
        self.multiply_by_cos_lat(&mut vc);
        let [div, curl] = self.div_curl_terms(0, 1);
        let mut out = self.analyze(&[&uc, &vc], &[Weighting::Vector, Weighting::Vector], &[&curl, &div]);
        let d = out.pop().expect("div");
        let z = out.pop().expect("vor");
        (z, d)
    }

    /// The transpose of [`Self::synthesis`] (grid → spectral), for adjoint models: each
    /// coefficient pair `(re, im)` counts as two real numbers, the grid's values as one each.
    pub fn synthesis_adjoint(&self, grid: &[f64]) -> Vec<Complex64> {
        let job = [Term { field: 0, table: Table::P, factor: Factor::Real(1.0) }];
        self.synthesize_adjoint(&[grid], 1, &[&job]).pop().expect("one field")
    }

    /// The transpose of [`Self::analysis`] (spectral → grid), in the real inner products of
    /// [`Self::synthesis_adjoint`].
    pub fn analysis_adjoint(&self, spec: &[Complex64]) -> Vec<f64> {
        let job = [Term { field: 0, table: Table::P, factor: Factor::Real(1.0) }];
        self.analyze_adjoint(&[spec], &[Weighting::Scalar], &[&job]).pop().expect("one field")
    }

    /// The transpose of [`Self::uv_from_vor_div`]: `(ζ̂, D̂)` from `(û, v̂)`.
    pub fn uv_from_vor_div_adjoint(&self, u: &[f64], v: &[f64]) -> (Vec<Complex64>, Vec<Complex64>) {
        let (mut uc, mut vc) = (u.to_vec(), v.to_vec());
        self.divide_by_cos_lat(&mut uc);
        self.divide_by_cos_lat(&mut vc);
        let [u_job, v_job] = self.wind_terms(0, 1);
        let mut out = self.synthesize_adjoint(&[&uc, &vc], 2, &[&u_job, &v_job]);
        let chi = out.pop().expect("chi");
        let psi = out.pop().expect("psi");
        (self.tr.inverse_laplacian(&psi, self.radius), self.tr.inverse_laplacian(&chi, self.radius))
    }

    /// The transpose of [`Self::vor_div_from_uv`]: `(û, v̂)` from `(ζ̂, D̂)`.
    pub fn vor_div_from_uv_adjoint(&self, vor: &[Complex64], div: &[Complex64]) -> (Vec<f64>, Vec<f64>) {
        let [div_t, curl] = self.div_curl_terms(0, 1);
        let mut out =
            self.analyze_adjoint(&[vor, div], &[Weighting::Vector, Weighting::Vector], &[&curl, &div_t]);
        let mut v = out.pop().expect("v");
        let mut u = out.pop().expect("u");
        self.multiply_by_cos_lat(&mut u);
        self.multiply_by_cos_lat(&mut v);
        (u, v)
    }

    /// The gradient `(∂f/(a cos φ ∂λ), ∂f/(a ∂φ))` of a spectral field, on the grid.
    pub fn gradient(&self, spec: &[Complex64]) -> (Vec<f64>, Vec<f64>) {
        let ia = 1.0 / self.radius;
        let x = [Term { field: 0, table: Table::P, factor: Factor::Im(ia) }];
        let y = [Term { field: 0, table: Table::H, factor: Factor::Real(ia) }];
        let mut out = self.synthesize(&[spec], &[&x, &y]);
        let mut gy = out.pop().expect("gy");
        let mut gx = out.pop().expect("gx");
        self.divide_by_cos_lat(&mut gx);
        self.divide_by_cos_lat(&mut gy);
        (gx, gy)
    }

    /// The value of a spectral field at any point (latitude, longitude in degrees): exact
    /// spectral interpolation.
    pub fn evaluate_at(&self, spec: &[Complex64], lat_deg: f64, lon_deg: f64) -> f64 {
        let (mut p, mut h) = (vec![0.0; self.tr.len()], vec![0.0; self.tr.len()]);
        legendre_at(&self.tr, lat_deg.to_radians().sin(), &mut p, &mut h);
        let lam = lon_deg.to_radians();
        let mut total = 0.0;
        for m in 0..=self.tr.t() {
            let mut fm = Complex64::new(0.0, 0.0);
            for n in m..=self.tr.t() {
                let k = self.tr.index(m, n);
                fm += spec[k] * p[k];
            }
            let e = Complex64::from_polar(1.0, m as f64 * lam);
            total += if m == 0 { fm.re } else { 2.0 * (fm * e).re };
        }
        total
    }

    /// Terms of `(U, V) = cos φ (u, v)` from streamfunction (field `psi`) and velocity
    /// potential (field `chi`): `U = (im χ P − ψ H)/a`, `V = (im ψ P + χ H)/a`.
    pub(crate) fn wind_terms(&self, psi: usize, chi: usize) -> [[Term; 2]; 2] {
        let ia = 1.0 / self.radius;
        [
            [
                Term { field: chi, table: Table::P, factor: Factor::Im(ia) },
                Term { field: psi, table: Table::H, factor: Factor::Real(-ia) },
            ],
            [
                Term { field: psi, table: Table::P, factor: Factor::Im(ia) },
                Term { field: chi, table: Table::H, factor: Factor::Real(ia) },
            ],
        ]
    }

    /// Analysis terms of the divergence and the curl of a vector field given on the grid as
    /// `(P, Q) = cos φ (p, q)` (Fourier fields `pf`, `qf`, both with [`Weighting::Vector`]).
    ///
    /// `D = (im⟨P, P̄⟩ − ⟨Q, H⟩)/a` and `ζ = (im⟨Q, P̄⟩ + ⟨P, H⟩)/a` (by parts in μ, `P`, `Q`
    /// vanishing at the poles) are the terms of [`wind_terms`](Self::wind_terms) with `χ → P`
    /// and `ψ → Q`.
    pub(crate) fn div_curl_terms(&self, pf: usize, qf: usize) -> [[Term; 2]; 2] {
        self.wind_terms(qf, pf)
    }

    fn divide_by_cos_lat(&self, f: &mut [f64]) {
        for (row, c) in f.chunks_exact_mut(self.grid.nlon()).zip(&self.cos_lat) {
            row.iter_mut().for_each(|x| *x /= c);
        }
    }

    fn multiply_by_cos_lat(&self, f: &mut [f64]) {
        for (row, c) in f.chunks_exact_mut(self.grid.nlon()).zip(&self.cos_lat) {
            row.iter_mut().for_each(|x| *x *= c);
        }
    }

    /// Grid fields from spectral fields: one output per job.
    fn synthesize(&self, coefs: &[&[Complex64]], jobs: &[&[Term]]) -> Vec<Vec<f64>> {
        let nj = jobs.len();
        let nlon = self.grid.nlon();
        let mut four = vec![0.0; self.fourier_len(nj)];
        self.legendre_synthesis(coefs, jobs, &mut four);
        let mut rows = vec![0.0; self.grid.len() * nj];
        self.latitude_pass(&four, nj, &[], &mut [], &mut rows, nj * nlon, |_, input, _, store| {
            store.copy_from_slice(input);
        });
        (0..nj).map(|f| rows.chunks_exact(nlon).skip(f).step_by(nj).flatten().copied().collect()).collect()
    }

    /// Spectral fields from grid fields: one output per job.
    fn analyze(&self, fields: &[&[f64]], weights: &[Weighting], jobs: &[&[Term]]) -> Vec<Vec<Complex64>> {
        let nlon = self.grid.nlon();
        for f in fields {
            assert_eq!(f.len(), self.grid.len(), "field does not match the transform's grid");
        }
        let mut q = vec![Complex64::new(0.0, 0.0); self.spectral_input_len(fields.len())];
        self.latitude_pass(&[], 0, weights, &mut q, &mut [], 0, |j, _, out, _| {
            for (g, f) in fields.iter().enumerate() {
                out[g * nlon..(g + 1) * nlon].copy_from_slice(&f[j * nlon..(j + 1) * nlon]);
            }
        });
        let mut outs: Vec<Vec<Complex64>> = (0..jobs.len()).map(|_| self.tr.zeros()).collect();
        let mut refs: Vec<&mut [Complex64]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.legendre_analysis(&q, fields.len(), jobs, &mut refs);
        outs
    }

    /// The transpose of [`Self::synthesize`]: one spectral field per input coefficient field
    /// (`n_coefs` of them) from one grid field per job. A synthesis sums `c_m Re(F_m e^{imλ})`
    /// (`c_0 = 1`, `c_m = 2`), so its transpose is the unweighted analysis with each term's
    /// factor transposed, times `c_m`.
    pub(crate) fn synthesize_adjoint(
        &self,
        grids: &[&[f64]],
        n_coefs: usize,
        jobs: &[&[Term]],
    ) -> Vec<Vec<Complex64>> {
        let transposed = transpose_jobs(jobs, n_coefs);
        let refs: Vec<&[Term]> = transposed.iter().map(|j| j.as_slice()).collect();
        let mut out = self.analyze(grids, &vec![Weighting::Unit; grids.len()], &refs);
        out.iter_mut().for_each(|spec| self.double_waves(spec));
        out
    }

    /// The transpose of [`Self::analyze`]: one grid field per analysed field (`weights`) from
    /// one spectral field per job: the synthesis of the coefficients over `c_m` with each
    /// term's factor transposed, times the field's quadrature weight.
    pub(crate) fn analyze_adjoint(
        &self,
        specs: &[&[Complex64]],
        weights: &[Weighting],
        jobs: &[&[Term]],
    ) -> Vec<Vec<f64>> {
        let halved: Vec<Vec<Complex64>> = specs.iter().map(|s| self.halve_waves(s)).collect();
        let coefs: Vec<&[Complex64]> = halved.iter().map(|s| s.as_slice()).collect();
        let transposed = transpose_jobs(jobs, weights.len());
        let refs: Vec<&[Term]> = transposed.iter().map(|j| j.as_slice()).collect();
        let mut out = self.synthesize(&coefs, &refs);
        let nlon = self.grid.nlon();
        for (field, &wt) in out.iter_mut().zip(weights) {
            for (j, row) in field.chunks_exact_mut(nlon).enumerate() {
                let w = self.weight(wt, j);
                row.iter_mut().for_each(|x| *x *= w);
            }
        }
        out
    }

    /// `spec` with every `m > 0` coefficient halved: the `1/c_m` of the analyses' transposes.
    pub(crate) fn halve_waves(&self, spec: &[Complex64]) -> Vec<Complex64> {
        self.tr.modes().zip(spec).map(|((m, _), c)| if m > 0 { c * 0.5 } else { *c }).collect()
    }

    /// Every `m > 0` coefficient of `spec` doubled: the `c_m` of the syntheses' transposes.
    pub(crate) fn double_waves(&self, spec: &mut [Complex64]) {
        for (c, (m, _)) in spec.iter_mut().zip(self.tr.modes()) {
            if m > 0 {
                *c *= 2.0;
            }
        }
    }

    /// The quadrature weight of latitude `j` under a weighting.
    pub(crate) fn weight(&self, w: Weighting, j: usize) -> f64 {
        match w {
            Weighting::Scalar => self.w_scalar[j],
            Weighting::Vector => self.w_vector[j],
            Weighting::Unit => 1.0,
        }
    }

    // ---------------------------------------------------------------- the three stages

    /// Length of the synthesis Fourier buffer for `nj` jobs: `[m][job][re, im][lat]`.
    pub(crate) fn fourier_len(&self, nj: usize) -> usize {
        (self.tr.t() + 1) * nj * 2 * self.grid.nlat()
    }

    /// Length of the analysis input buffer for `ng` fields: `[lat][field][m]`, complex.
    pub(crate) fn spectral_input_len(&self, ng: usize) -> usize {
        self.grid.nlat() * ng * (self.tr.t() + 1)
    }

    /// Stage 1: Fourier coefficients `F_m(μ_j)` of each job's field, into `four`
    /// (`[m][job][re, im][lat]`), in parallel over chunks of `m`.
    pub(crate) fn legendre_synthesis(&self, coefs: &[&[Complex64]], jobs: &[&[Term]], four: &mut [f64]) {
        let nlat = self.grid.nlat();
        let block = jobs.len() * 2 * nlat;
        assert_eq!(four.len(), (self.tr.t() + 1) * block);
        for c in coefs {
            assert_eq!(c.len(), self.tr.len(), "spectral field does not match the truncation");
        }
        let work = |ms: Range<usize>, out: &mut [f64]| {
            let mut acc = vec![0.0; 4 * self.nh];
            for m in ms.clone() {
                let out_m = &mut out[(m - ms.start) * block..(m - ms.start + 1) * block];
                for (jb, job) in jobs.iter().enumerate() {
                    self.synthesis_one(
                        m,
                        coefs,
                        job,
                        &mut acc,
                        &mut out_m[jb * 2 * nlat..(jb + 1) * 2 * nlat],
                    );
                }
            }
        };
        self.run_m_chunks(four, block, work);
    }

    fn synthesis_one(
        &self,
        m: usize,
        coefs: &[&[Complex64]],
        job: &[Term],
        acc: &mut [f64],
        out: &mut [f64],
    ) {
        let nh = self.nh;
        let nlat = 2 * nh;
        acc.iter_mut().for_each(|a| *a = 0.0);
        let (even, odd) = acc.split_at_mut(2 * nh);
        let (er, ei) = even.split_at_mut(nh);
        let (or, oi) = odd.split_at_mut(nh);
        for term in job {
            let c = coefs[term.field];
            let table = match term.table {
                Table::P => &self.p,
                Table::H => &self.h,
            };
            for n in m..=self.tr.t() {
                let k = self.tr.index(m, n);
                let v = apply_factor(term.factor, m, c[k]);
                let row = &table[k * nh..(k + 1) * nh];
                let symmetric = (n + m).is_multiple_of(2) == (term.table == Table::P);
                let (ar, ai) = if symmetric { (&mut *er, &mut *ei) } else { (&mut *or, &mut *oi) };
                for ((r, i), p) in ar.iter_mut().zip(ai.iter_mut()).zip(row) {
                    *r += v.re * p;
                    *i += v.im * p;
                }
            }
        }
        let (out_re, out_im) = out.split_at_mut(nlat);
        for k in 0..nh {
            out_re[k] = er[k] + or[k];
            out_re[nlat - 1 - k] = er[k] - or[k];
            out_im[k] = ei[k] + oi[k];
            out_im[nlat - 1 - k] = ei[k] - oi[k];
        }
    }

    /// Stage 2: per latitude, inverse FFTs of the `n_in` synthesised fields of `four` into
    /// grid rows, `f(lat, in_rows, out_rows, store_row)` computes `weights.len()` output rows
    /// (and may keep anything in its `store_width` slice of `store`), whose forward FFTs,
    /// weighted for the quadrature, go to `q` (`[lat][field][m]`). Parallel over latitudes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn latitude_pass<F>(
        &self,
        four: &[f64],
        n_in: usize,
        weights: &[Weighting],
        q: &mut [Complex64],
        store: &mut [f64],
        store_width: usize,
        f: F,
    ) where
        F: Fn(usize, &[f64], &mut [f64], &mut [f64]) + Sync,
    {
        let (nlat, nlon, t1) = (self.grid.nlat(), self.grid.nlon(), self.tr.t() + 1);
        let n_out = weights.len();
        assert_eq!(four.len(), self.fourier_len(n_in));
        assert_eq!(q.len(), self.spectral_input_len(n_out));
        assert_eq!(store.len(), nlat * store_width);
        let work = |lats: Range<usize>, q: &mut [Complex64], store: &mut [f64]| {
            let mut input = vec![0.0; n_in * nlon];
            let mut output = vec![0.0; n_out * nlon];
            let mut spectrum = vec![Complex64::new(0.0, 0.0); nlon / 2 + 1];
            let scratch_len = self.inv.get_scratch_len().max(self.fwd.get_scratch_len());
            let mut scratch = vec![Complex64::new(0.0, 0.0); scratch_len];
            for j in lats.clone() {
                let jl = j - lats.start;
                for (fi, row) in input.chunks_exact_mut(nlon).enumerate() {
                    spectrum.iter_mut().for_each(|s| *s = Complex64::new(0.0, 0.0));
                    for (m, s) in spectrum.iter_mut().take(t1).enumerate() {
                        let base = (m * n_in + fi) * 2 * nlat;
                        *s = Complex64::new(four[base + j], four[base + nlat + j]);
                    }
                    spectrum[0].im = 0.0;
                    self.inv
                        .process_with_scratch(&mut spectrum, row, &mut scratch)
                        .expect("inverse FFT sizes");
                }
                f(j, &input, &mut output, &mut store[jl * store_width..(jl + 1) * store_width]);
                for (g, row) in output.chunks_exact_mut(nlon).enumerate() {
                    self.fwd
                        .process_with_scratch(row, &mut spectrum, &mut scratch)
                        .expect("forward FFT sizes");
                    let w = self.weight(weights[g], j);
                    let dst = &mut q[(jl * n_out + g) * t1..(jl * n_out + g + 1) * t1];
                    for (d, s) in dst.iter_mut().zip(&spectrum) {
                        *d = s * w;
                    }
                }
            }
        };
        if self.lat_chunks.len() <= 1 {
            work(0..nlat, q, store);
            return;
        }
        let q_parts = split_by_ranges(q, &self.lat_chunks, n_out * t1);
        let s_parts = split_by_ranges(store, &self.lat_chunks, store_width);
        self.lat_chunks
            .par_iter()
            .zip(q_parts)
            .zip(s_parts)
            .for_each(|((lats, q), s)| work(lats.clone(), q, s));
    }

    /// Stage 3: spectral coefficients of each job from the weighted Fourier coefficients `q`
    /// (`[lat][field][m]`, `ng` fields), in parallel over chunks of `m`.
    pub(crate) fn legendre_analysis(
        &self,
        q: &[Complex64],
        ng: usize,
        jobs: &[&[Term]],
        out: &mut [&mut [Complex64]],
    ) {
        assert_eq!(q.len(), self.spectral_input_len(ng));
        assert_eq!(out.len(), jobs.len());
        let t = self.tr.t();
        let nh = self.nh;
        let nlat = 2 * nh;
        let work = |ms: Range<usize>, outs: Vec<&mut [Complex64]>| {
            let mut outs = outs;
            // sym/anti re/im per field: [field][4][nh]
            let mut parts = vec![0.0; ng * 4 * nh];
            let base_off = self.tr.offset(ms.start);
            for m in ms {
                for g in 0..ng {
                    let pg = &mut parts[g * 4 * nh..(g + 1) * 4 * nh];
                    for k in 0..nh {
                        let qn = q[(k * ng + g) * (t + 1) + m];
                        let qs = q[((nlat - 1 - k) * ng + g) * (t + 1) + m];
                        pg[k] = qn.re + qs.re;
                        pg[nh + k] = qn.im + qs.im;
                        pg[2 * nh + k] = qn.re - qs.re;
                        pg[3 * nh + k] = qn.im - qs.im;
                    }
                }
                for (job, out) in jobs.iter().zip(outs.iter_mut()) {
                    for n in m..=t {
                        let k = self.tr.index(m, n);
                        let mut acc = Complex64::new(0.0, 0.0);
                        for term in job.iter() {
                            let table = match term.table {
                                Table::P => &self.p,
                                Table::H => &self.h,
                            };
                            let row = &table[k * nh..(k + 1) * nh];
                            let symmetric = (n + m).is_multiple_of(2) == (term.table == Table::P);
                            let pg = &parts[term.field * 4 * nh..(term.field + 1) * 4 * nh];
                            let (xr, xi) = if symmetric {
                                (&pg[..nh], &pg[nh..2 * nh])
                            } else {
                                (&pg[2 * nh..3 * nh], &pg[3 * nh..])
                            };
                            let (dr, di) = dot2(xr, xi, row);
                            acc += apply_factor(term.factor, m, Complex64::new(dr, di));
                        }
                        if m == 0 {
                            acc.im = 0.0;
                        }
                        out[k - base_off] = acc;
                    }
                }
            }
        };
        let bounds: Vec<Range<usize>> =
            self.m_chunks.iter().map(|r| self.tr.offset(r.start)..self.tr.offset(r.end)).collect();
        let mut per_chunk: Vec<Vec<&mut [Complex64]>> = (0..bounds.len()).map(|_| Vec::new()).collect();
        for o in out.iter_mut() {
            assert_eq!(o.len(), self.tr.len());
            for (c, part) in split_by_ranges(o, &bounds, 1).into_iter().enumerate() {
                per_chunk[c].push(part);
            }
        }
        if self.m_chunks.len() <= 1 {
            let chunk = per_chunk.pop().expect("one chunk");
            work(0..t + 1, chunk);
            return;
        }
        self.m_chunks.par_iter().zip(per_chunk).for_each(|(ms, outs)| work(ms.clone(), outs));
    }

    /// Runs `work(m_range, slice)` over the `m` chunks, each with its part of `buf` (`block`
    /// numbers per `m`).
    fn run_m_chunks<F>(&self, buf: &mut [f64], block: usize, work: F)
    where
        F: Fn(Range<usize>, &mut [f64]) + Sync,
    {
        if self.m_chunks.len() <= 1 {
            work(0..self.tr.t() + 1, buf);
            return;
        }
        let parts = split_by_ranges(buf, &self.m_chunks, block);
        self.m_chunks.par_iter().zip(parts).for_each(|(ms, part)| work(ms.clone(), part));
    }
}

/// The jobs of the transposed transform: one per input field of `jobs` (`n_inputs` of them),
/// gathering every term that reads that field, re-indexed by its job and with its factor
/// transposed (`i·s·m` becomes `−i·s·m`; a real factor is its own transpose).
pub(crate) fn transpose_jobs(jobs: &[&[Term]], n_inputs: usize) -> Vec<Vec<Term>> {
    (0..n_inputs)
        .map(|input| {
            jobs.iter()
                .enumerate()
                .flat_map(|(jb, job)| {
                    job.iter().filter(move |t| t.field == input).map(move |t| Term {
                        field: jb,
                        table: t.table,
                        factor: match t.factor {
                            Factor::Real(s) => Factor::Real(s),
                            Factor::Im(s) => Factor::Im(-s),
                        },
                    })
                })
                .collect()
        })
        .collect()
}

fn apply_factor(f: Factor, m: usize, c: Complex64) -> Complex64 {
    match f {
        Factor::Real(s) => c * s,
        Factor::Im(s) => {
            let sm = s * m as f64;
            Complex64::new(-sm * c.im, sm * c.re)
        }
    }
}

/// `(Σ xr·row, Σ xi·row)` with four-way split accumulators so the loop vectorises.
#[inline]
fn dot2(xr: &[f64], xi: &[f64], row: &[f64]) -> (f64, f64) {
    let mut ar = [0.0; 4];
    let mut ai = [0.0; 4];
    let n4 = row.len() / 4 * 4;
    for ((r4, i4), p4) in
        xr[..n4].chunks_exact(4).zip(xi[..n4].chunks_exact(4)).zip(row[..n4].chunks_exact(4))
    {
        for l in 0..4 {
            ar[l] += r4[l] * p4[l];
            ai[l] += i4[l] * p4[l];
        }
    }
    let mut sr = (ar[0] + ar[1]) + (ar[2] + ar[3]);
    let mut si = (ai[0] + ai[1]) + (ai[2] + ai[3]);
    for k in n4..row.len() {
        sr += xr[k] * row[k];
        si += xi[k] * row[k];
    }
    (sr, si)
}

/// Chunks of zonal wavenumbers `0..=T` with about equal Legendre work (∝ T + 1 − m each).
fn balanced_m_chunks(t: usize, nchunks: usize) -> Vec<Range<usize>> {
    let total: usize = (0..=t).map(|m| t + 1 - m).sum();
    let mut chunks = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for m in 0..=t {
        acc += t + 1 - m;
        if acc * nchunks >= total * (chunks.len() + 1) && chunks.len() + 1 < nchunks {
            chunks.push(start..m + 1);
            start = m + 1;
        }
    }
    if start <= t {
        chunks.push(start..t + 1);
    }
    chunks
}

/// Splits `buf` into consecutive disjoint parts, one per range (`width` items per index).
fn split_by_ranges<'a, T>(buf: &'a mut [T], ranges: &[Range<usize>], width: usize) -> Vec<&'a mut [T]> {
    let mut parts = Vec::with_capacity(ranges.len());
    let mut rest = buf;
    for r in ranges {
        let (head, tail) = rest.split_at_mut((r.end - r.start) * width);
        parts.push(head);
        rest = tail;
    }
    parts
}
