//! Lorenz (1996): the standard 1-D chaotic test bed of data assimilation.

use faer::Mat;

use super::{Resolvent, Tendency};

/// `dx_i/dt = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F` on a periodic ring of `nx` variables.
/// Also its `[model]` entry (`kind = "lorenz96"`; defaults `nx = 40`, `forcing = 8`).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lorenz96 {
    /// Number of variables (≥ 4 so that the stencil is well defined).
    #[serde(default = "default_nx")]
    pub nx: usize,
    /// Forcing `F` (8 gives the classic chaotic regime).
    #[serde(default = "default_forcing")]
    pub forcing: f64,
}

fn default_nx() -> usize {
    40
}

fn default_forcing() -> f64 {
    8.0
}

impl Lorenz96 {
    /// The classic set-up used by Sakov & Oke (2008) and DAPPER: `Nx = 40`, `F = 8`.
    pub fn standard() -> Self {
        Lorenz96 { nx: default_nx(), forcing: default_forcing() }
    }

    /// Checks the parameters; an error is the key (`nx`, `forcing`) and the message.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.nx < 4 {
            return Err(("nx", format!("must be ≥ 4 (got {})", self.nx)));
        }
        if !self.forcing.is_finite() {
            return Err(("forcing", "must be finite".into()));
        }
        Ok(())
    }
}

impl Tendency for Lorenz96 {
    fn dim(&self) -> usize {
        self.nx
    }

    fn tendency(&self, x: &[f64], dxdt: &mut [f64]) {
        let n = self.nx;
        let f = self.forcing;
        // Wrapped edges first, then the interior without index arithmetic (vectorises).
        dxdt[0] = (x[1] - x[n - 2]) * x[n - 1] - x[0] + f;
        dxdt[1] = (x[2] - x[n - 1]) * x[0] - x[1] + f;
        dxdt[n - 1] = (x[0] - x[n - 3]) * x[n - 2] - x[n - 1] + f;
        // dxdt[i] for i in 2..n-1, written over aligned slices so the bounds checks vanish.
        let (xp1, xm2, xm1, xi) = (&x[3..n], &x[..n - 3], &x[1..n - 2], &x[2..n - 1]);
        for ((((d, a), b), c), xv) in dxdt[2..n - 1].iter_mut().zip(xp1).zip(xm2).zip(xm1).zip(xi) {
            *d = (a - b) * c - xv + f;
        }
    }

    fn resolvent(&self) -> Resolvent {
        Resolvent::Exponential
    }

    /// `(J v)_i = (v_{i+1} − v_{i−2}) x_{i−1} + (x_{i+1} − x_{i−2}) v_{i−1} − v_i`.
    fn tendency_tangent(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.nx;
        for i in 0..n {
            let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
            out[i] = (v[ip1] - v[im2]) * x[im1] + (x[ip1] - x[im2]) * v[im1] - v[i];
        }
    }

    /// `Jᵀ v`, scattering each row of [`Tendency::tendency_tangent`].
    fn tendency_adjoint(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let n = self.nx;
        out.iter_mut().for_each(|o| *o = 0.0);
        for i in 0..n {
            let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
            out[ip1] += x[im1] * v[i];
            out[im2] -= x[im1] * v[i];
            out[im1] += (x[ip1] - x[im2]) * v[i];
            out[i] -= v[i];
        }
    }

    fn tendency_jacobian(&self, x: &[f64]) -> Mat<f64> {
        let n = self.nx;
        let mut j = Mat::zeros(n, n);
        for i in 0..n {
            let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
            j[(i, i)] -= 1.0;
            j[(i, ip1)] += x[im1];
            j[(i, im2)] -= x[im1];
            j[(i, im1)] += x[ip1] - x[im2];
        }
        j
    }
}
