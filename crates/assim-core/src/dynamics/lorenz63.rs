//! Lorenz (1963): the 3-variable butterfly, the smallest test bed with non-Gaussian filtering.

use faer::Mat;

use super::Tendency;

/// `dx = σ(y − x)`, `dy = ρx − y − xz`, `dz = xy − βz`.
#[derive(Clone, Debug)]
pub struct Lorenz63 {
    /// Prandtl number σ.
    pub sigma: f64,
    /// Rayleigh number ρ.
    pub rho: f64,
    /// Geometric factor β.
    pub beta: f64,
}

impl Default for Lorenz63 {
    /// The chaotic parameters σ = 10, ρ = 28, β = 8/3.
    fn default() -> Self {
        Lorenz63 { sigma: 10.0, rho: 28.0, beta: 8.0 / 3.0 }
    }
}

impl Tendency for Lorenz63 {
    fn dim(&self) -> usize {
        3
    }

    fn tendency(&self, s: &[f64], d: &mut [f64]) {
        let (x, y, z) = (s[0], s[1], s[2]);
        d[0] = self.sigma * (y - x);
        d[1] = self.rho * x - y - x * z;
        d[2] = x * y - self.beta * z;
    }

    fn tendency_jacobian(&self, s: &[f64]) -> Mat<f64> {
        let (x, y, z) = (s[0], s[1], s[2]);
        let rows = [[-self.sigma, self.sigma, 0.0], [self.rho - z, -1.0, -x], [y, x, -self.beta]];
        Mat::from_fn(3, 3, |i, j| rows[i][j])
    }
}
