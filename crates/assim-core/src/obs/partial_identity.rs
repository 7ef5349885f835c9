//! Direct observation of a subset of the state variables (`H` = rows of the identity).

use faer::Mat;

use super::ObsOperator;
use crate::AssimError;

/// Observes `x[indices[p]]` for each `p`: the Lorenz test beds' observing network.
#[derive(Clone, Debug)]
pub struct PartialIdentity {
    /// State dimension `Nx`.
    pub nx: usize,
    /// Observed state indices (each `< nx`, in observation order).
    pub indices: Vec<usize>,
}

impl PartialIdentity {
    /// Observes every variable.
    pub fn all(nx: usize) -> Self {
        PartialIdentity { nx, indices: (0..nx).collect() }
    }

    /// Observes the listed variables, rejecting indices off the state and duplicates.
    pub fn new(nx: usize, indices: Vec<usize>) -> Result<Self, AssimError> {
        if indices.is_empty() {
            return Err(AssimError::Input("no observed index".into()));
        }
        let mut seen = vec![false; nx];
        for &i in &indices {
            if i >= nx {
                return Err(AssimError::Input(format!(
                    "observed index {i} is out of range for a state of {nx} variables (0..{})",
                    nx - 1
                )));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(AssimError::Input(format!("observed index {i} is listed twice")));
            }
        }
        Ok(PartialIdentity { nx, indices })
    }
}

impl ObsOperator for PartialIdentity {
    fn n_obs(&self) -> usize {
        self.indices.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        for (yp, &i) in y.iter_mut().zip(&self.indices) {
            *yp = x[i];
        }
    }

    fn apply_ensemble(&self, e: faer::MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(self.indices.len(), e.ncols(), |p, j| e[(self.indices[p], j)])
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        Some(Mat::from_fn(self.indices.len(), self.nx, |p, j| if self.indices[p] == j { 1.0 } else { 0.0 }))
    }

    fn adjoint(&self, y: &[f64], out: &mut [f64]) -> bool {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (yp, &i) in y.iter().zip(&self.indices) {
            out[i] += yp;
        }
        true
    }

    fn is_linear(&self) -> bool {
        true
    }

    fn pointwise(&self) -> Option<super::PointwiseView<'_>> {
        Some(super::PointwiseView { indices: &self.indices, h: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adjoint_is_the_transpose() {
        let h = PartialIdentity::new(5, vec![3, 0, 4]).unwrap();
        let (x, y) = ([0.3, -1.0, 2.0, 0.7, 1.1], [2.0, -0.5, 0.25]);
        let (mut hx, mut hty) = (vec![0.0; 3], vec![9.0; 5]);
        h.apply(&x, &mut hx);
        assert!(h.adjoint(&y, &mut hty));
        let lhs: f64 = hx.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&hty).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
        assert_eq!(hty, vec![-0.5, 0.0, 0.0, 2.0, 0.25]);
    }

    #[test]
    fn rejects_out_of_range_and_duplicates() {
        assert!(PartialIdentity::new(4, vec![0, 4]).is_err());
        assert!(PartialIdentity::new(4, vec![1, 1]).is_err());
        assert!(PartialIdentity::new(4, vec![]).is_err());
        assert!(PartialIdentity::new(4, vec![3, 0]).is_ok());
    }

    #[test]
    fn adjoint_dot_product() {
        // <Hx, y> = <x, Hᵀy> for the matrix form.
        let h = PartialIdentity::new(5, vec![4, 1, 2]).unwrap();
        let x = [0.3, -1.0, 2.0, 0.5, 7.0];
        let y = [1.5, -0.25, 3.0];
        let mut hx = [0.0; 3];
        h.apply(&x, &mut hx);
        let m = h.matrix().unwrap();
        let lhs: f64 = hx.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = (0..5).map(|j| x[j] * (0..3).map(|p| m[(p, j)] * y[p]).sum::<f64>()).sum();
        assert!((lhs - rhs).abs() < 1e-14);
    }
}
