//! Several observing systems of one window as one operator: their rows one after the other
//! (stations, radiosondes, sounder radiances, imagery), so that 3D-Var and the LETKF see one `H`.

use std::sync::Arc;

use faer::Mat;

use super::{ObsOperator, SparseLinear};

/// `H = [H_1; H_2; …]` on one state; rows of part `j` start at `offsets[j]`.
pub struct Stacked {
    parts: Vec<Arc<dyn ObsOperator>>,
    /// `offsets[j]..offsets[j + 1]` are the rows of part `j` (length parts + 1).
    offsets: Vec<usize>,
    /// The observing system of each part (empty: unnamed).
    names: Vec<String>,
}

impl Stacked {
    /// The parts in row order (shared: a fixed network's operator serves every window).
    pub fn new(parts: Vec<Arc<dyn ObsOperator>>) -> Self {
        let mut offsets = vec![0];
        for p in &parts {
            offsets.push(offsets.last().copied().unwrap_or(0) + p.n_obs());
        }
        Stacked { parts, offsets, names: Vec::new() }
    }

    /// The parts in row order, each with the name of its observing system
    /// ([`ObsOperator::systems`]).
    pub fn named(parts: Vec<(String, Arc<dyn ObsOperator>)>) -> Self {
        let (names, parts): (Vec<String>, Vec<_>) = parts.into_iter().unzip();
        Stacked { names, ..Stacked::new(parts) }
    }

    /// The rows of part `j`.
    pub fn rows(&self, j: usize) -> std::ops::Range<usize> {
        self.offsets[j]..self.offsets[j + 1]
    }

    /// Sums `f(part, rows of y, scratch)` over the parts into `out`; `false` if a part cannot.
    fn sum_back(
        &self,
        y: &[f64],
        out: &mut [f64],
        f: impl Fn(&dyn ObsOperator, &[f64], &mut [f64]) -> bool,
    ) -> bool {
        out.fill(0.0);
        let mut scratch = vec![0.0; out.len()];
        for (j, p) in self.parts.iter().enumerate() {
            if !f(p.as_ref(), &y[self.rows(j)], &mut scratch) {
                return false;
            }
            out.iter_mut().zip(&scratch).for_each(|(o, s)| *o += s);
        }
        true
    }
}

impl ObsOperator for Stacked {
    fn n_obs(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    fn systems(&self) -> Vec<(String, std::ops::Range<usize>)> {
        self.names.iter().enumerate().map(|(j, n)| (n.clone(), self.rows(j))).collect()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        for (j, p) in self.parts.iter().enumerate() {
            p.apply(x, &mut y[self.rows(j)]);
        }
    }

    /// The stacked matrices when every part is linear.
    fn matrix(&self) -> Option<Mat<f64>> {
        let mats: Vec<Mat<f64>> = self.parts.iter().map(|p| p.matrix()).collect::<Option<_>>()?;
        let nx = mats.first().map_or(0, |m| m.ncols());
        let mut out = Mat::zeros(self.n_obs(), nx);
        for (j, m) in mats.iter().enumerate() {
            let r0 = self.offsets[j];
            for c in 0..m.ncols() {
                for r in 0..m.nrows() {
                    out[(r0 + r, c)] = m[(r, c)];
                }
            }
        }
        Some(out)
    }

    fn adjoint(&self, y: &[f64], out: &mut [f64]) -> bool {
        self.sum_back(y, out, |p, yj, s| p.adjoint(yj, s))
    }

    fn is_linear(&self) -> bool {
        self.parts.iter().all(|p| p.is_linear())
    }

    fn tangent_linear(&self, x: &[f64], dx: &[f64], dy: &mut [f64]) -> bool {
        self.parts.iter().enumerate().all(|(j, p)| p.tangent_linear(x, dx, &mut dy[self.rows(j)]))
    }

    fn tangent_adjoint(&self, x: &[f64], dy: &[f64], out: &mut [f64]) -> bool {
        self.sum_back(dy, out, |p, yj, s| p.tangent_adjoint(x, yj, s))
    }

    /// The parts' Jacobians, one after the other.
    fn jacobian(&self, x: &[f64]) -> Option<SparseLinear> {
        let mut out = SparseLinear::new(x.len());
        for p in &self.parts {
            out.append(&p.jacobian(x)?);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obs::SparseLinear;
    use crate::obs::column::{Channel, ColumnLayout, Olr};
    use crate::rng::{normal, stream};

    fn parts() -> (ColumnLayout, Stacked) {
        let layout = ColumnLayout { nlev: 2, npts: 6 };
        let mut lin = SparseLinear::new(layout.nx());
        lin.push_row([(layout.ps(0), 1.0)]);
        lin.push_row([(layout.u(1, 3), 0.5), (layout.v(1, 4), 0.5)]);
        let channel = Channel::peaking_at(0.5, &[0.0, 0.5, 1.0]).unwrap();
        let olr = Olr::new(layout, &[vec![0, 1, 2], vec![3, 4, 5]], &channel).unwrap();
        (layout, Stacked::new(vec![Arc::new(lin.clone()), Arc::new(olr), Arc::new(lin)]))
    }

    #[test]
    fn rows_follow_the_parts_and_the_tangent_adjoint_passes_the_dot_product_test() {
        let (layout, h) = parts();
        assert_eq!(h.n_obs(), 6);
        assert_eq!(h.rows(1), 2..4);
        let mut rng = stream(1, "stacked");
        let x: Vec<f64> = (0..layout.nx()).map(|_| 250.0 + 10.0 * normal(&mut rng)).collect();
        let dx: Vec<f64> = (0..layout.nx()).map(|_| normal(&mut rng)).collect();
        let dy: Vec<f64> = (0..h.n_obs()).map(|_| normal(&mut rng)).collect();
        let (mut tl, mut adj) = (vec![0.0; h.n_obs()], vec![0.0; layout.nx()]);
        assert!(h.tangent_linear(&x, &dx, &mut tl));
        assert!(h.tangent_adjoint(&x, &dy, &mut adj));
        let lhs: f64 = tl.iter().zip(&dy).map(|(a, b)| a * b).sum();
        let rhs: f64 = dx.iter().zip(&adj).map(|(a, b)| a * b).sum();
        // Both sides are sums of a few dozen products of size ~1e2: round-off ~1e-13 relative.
        assert!((lhs - rhs).abs() < 1e-11 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        // The first and last parts are the same linear rows: the same values.
        let mut y = vec![0.0; h.n_obs()];
        h.apply(&x, &mut y);
        assert_eq!(&y[0..2], &y[4..6]);
        // Nonlinear OLR: no matrix and no plain adjoint; the tangent-linear is still there.
        assert!(h.matrix().is_none());
        assert!(!h.adjoint(&dy, &mut adj));
    }

    #[test]
    fn linear_parts_stack_their_matrices() {
        let layout = ColumnLayout { nlev: 1, npts: 3 };
        let mut a = SparseLinear::new(layout.nx());
        a.push_row([(0, 2.0)]);
        let mut b = SparseLinear::new(layout.nx());
        b.push_row([(5, -1.0), (1, 3.0)]);
        let h = Stacked::new(vec![Arc::new(a), Arc::new(b)]);
        let m = h.matrix().unwrap();
        assert_eq!((m.nrows(), m.ncols()), (2, layout.nx()));
        assert_eq!((m[(0, 0)], m[(1, 5)], m[(1, 1)], m[(1, 0)]), (2.0, -1.0, 3.0, 0.0));
        let mut out = vec![0.0; layout.nx()];
        assert!(h.adjoint(&[1.0, 1.0], &mut out));
        assert_eq!(out, vec![2.0, 3.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
