//! A linear observation operator stored as a sparse matrix: interpolation to stations,
//! footprint averages and grid subsamples are all rows of a few weights.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::ObsOperator;

/// Largest `P × Nx` for which [`ObsOperator::matrix`] builds the dense matrix (80 MB).
const MAX_DENSE: usize = 10_000_000;

/// `y = H x` with `H` in compressed rows (`P × Nx`); the adjoint is `Hᵀ y`.
#[derive(Clone, Debug, Default)]
pub struct SparseLinear {
    nx: usize,
    offsets: Vec<usize>,
    index: Vec<usize>,
    weight: Vec<f64>,
}

impl SparseLinear {
    /// An operator with no rows on a state of `nx` numbers.
    pub fn new(nx: usize) -> Self {
        SparseLinear { nx, offsets: vec![0], index: Vec::new(), weight: Vec::new() }
    }

    /// Appends the row `Σ w_k x[i_k]`; indices must be `< nx`.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (usize, f64)>) {
        for (i, w) in entries {
            assert!(i < self.nx, "row entry {i} is off a state of {}", self.nx);
            self.index.push(i);
            self.weight.push(w);
        }
        self.offsets.push(self.index.len());
    }

    /// Appends the rows of `other` (same state) after these.
    pub fn append(&mut self, other: &SparseLinear) {
        assert_eq!(self.nx, other.nx, "rows of another state");
        let base = self.index.len();
        self.index.extend_from_slice(&other.index);
        self.weight.extend_from_slice(&other.weight);
        self.offsets.extend(other.offsets[1..].iter().map(|o| o + base));
    }

    /// The rows `rows` of this operator, in that order: the part of a window's operator that
    /// one route of an analysis uses (some observing systems).
    pub fn select(&self, rows: &[usize]) -> SparseLinear {
        let mut out = SparseLinear::new(self.nx);
        for &r in rows {
            let (i, w) = self.row(r);
            out.push_row(i.iter().copied().zip(w.iter().copied()));
        }
        out
    }

    /// The state dimension.
    pub fn nx(&self) -> usize {
        self.nx
    }

    /// The entries of row `p`.
    pub fn row(&self, p: usize) -> (&[usize], &[f64]) {
        let r = self.offsets[p]..self.offsets[p + 1];
        (&self.index[r.clone()], &self.weight[r])
    }

    /// `out = Hᵀ y`.
    pub fn transpose_apply(&self, y: &[f64], out: &mut [f64]) {
        assert_eq!(y.len(), self.n_obs());
        assert_eq!(out.len(), self.nx);
        out.fill(0.0);
        for (p, &yp) in y.iter().enumerate() {
            let (idx, w) = self.row(p);
            for (&i, &wi) in idx.iter().zip(w) {
                out[i] += wi * yp;
            }
        }
    }
}

impl ObsOperator for SparseLinear {
    fn n_obs(&self) -> usize {
        self.offsets.len() - 1
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        assert_eq!(x.len(), self.nx, "state does not match the observation operator");
        for (p, yp) in y.iter_mut().enumerate() {
            let (idx, w) = self.row(p);
            *yp = idx.iter().zip(w).map(|(&i, &wi)| wi * x[i]).sum();
        }
    }

    fn apply_ensemble(&self, e: MatRef<'_, f64>) -> Mat<f64> {
        let cols: Vec<Vec<f64>> = (0..e.ncols())
            .into_par_iter()
            .map(|j| {
                let x = e.col(j).try_as_col_major().expect("contiguous column").as_slice();
                let mut y = vec![0.0; self.n_obs()];
                self.apply(x, &mut y);
                y
            })
            .collect();
        Mat::from_fn(self.n_obs(), e.ncols(), |p, j| cols[j][p])
    }

    fn adjoint(&self, y: &[f64], out: &mut [f64]) -> bool {
        self.transpose_apply(y, out);
        true
    }

    fn is_linear(&self) -> bool {
        true
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        (self.n_obs() * self.nx <= MAX_DENSE).then(|| {
            let mut h = Mat::zeros(self.n_obs(), self.nx);
            for p in 0..self.n_obs() {
                let (idx, w) = self.row(p);
                for (&i, &wi) in idx.iter().zip(w) {
                    h[(p, i)] += wi;
                }
            }
            h
        })
    }

    fn as_sparse(&self) -> Option<&SparseLinear> {
        Some(self)
    }
}
