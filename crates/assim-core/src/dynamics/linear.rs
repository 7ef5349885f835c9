//! A linear model `x ← M x`: the case where the Kalman filter is exact, used to check the
//! ensemble filters against it.

use faer::Mat;

use super::Model;

/// `x_{k+1} = M x_k` with a fixed matrix `M`.
#[derive(Clone, Debug)]
pub struct LinearModel {
    /// The propagator `M` (`Nx × Nx`).
    pub m: Mat<f64>,
}

impl Model for LinearModel {
    fn dim(&self) -> usize {
        self.m.nrows()
    }

    fn step(&self, x: &mut [f64], _t: f64, _dt: f64) {
        let n = x.len();
        let y: Vec<f64> = (0..n).map(|i| (0..n).map(|j| self.m[(i, j)] * x[j]).sum()).collect();
        x.copy_from_slice(&y);
    }

    fn step_jacobian(&self, _x: &[f64], _t: f64, _dt: f64) -> Option<Mat<f64>> {
        Some(self.m.clone())
    }

    fn step_tangent(&self, x: &[f64], dx: &mut [f64], t: f64, dt: f64) -> bool {
        let _ = x;
        self.step(dx, t, dt);
        true
    }

    fn step_adjoint(&self, _x: &[f64], lam: &mut [f64], _t: f64, _dt: f64) -> bool {
        let n = lam.len();
        let y: Vec<f64> = (0..n).map(|i| (0..n).map(|j| self.m[(j, i)] * lam[j]).sum()).collect();
        lam.copy_from_slice(&y);
        true
    }
}
