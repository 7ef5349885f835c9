//! Lorenz (1963): the 3-variable butterfly, the smallest test bed with non-Gaussian filtering.

use faer::Mat;

use super::Model;

/// `dx = σ(y − x)`, `dy = ρx − y − xz`, `dz = xy − βz`. Also its `[model]` entry
/// (`kind = "lorenz63"`; defaults the chaotic σ = 10, ρ = 28, β = 8/3).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
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

impl Lorenz63 {
    /// Checks the parameters; an error is the key (`sigma`, `rho`, `beta`) and the message.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (k, v) in [("sigma", self.sigma), ("rho", self.rho), ("beta", self.beta)] {
            if !v.is_finite() {
                return Err((k, "must be finite".into()));
            }
        }
        Ok(())
    }

    /// The tendency `f(s)`.
    pub fn tendency(&self, s: [f64; 3]) -> [f64; 3] {
        let [x, y, z] = s;
        [self.sigma * (y - x), self.rho * x - y - x * z, x * y - self.beta * z]
    }

    /// The Jacobian `∂f/∂s`.
    pub fn tendency_jacobian(&self, s: [f64; 3]) -> Mat<f64> {
        let [x, y, z] = s;
        let rows = [[-self.sigma, self.sigma, 0.0], [self.rho - z, -1.0, -x], [y, x, -self.beta]];
        Mat::from_fn(3, 3, |i, j| rows[i][j])
    }

    /// One RK4 step on a fixed-size state: no slices, no scratch, fully unrolled (particle
    /// filters step thousands of these per cycle). Same order of operations as
    /// [`super::rk4_step`], hence as DAPPER.
    /// `out = J v` (or `Jᵀ v` when `transpose`), `J` the tendency Jacobian at `s`.
    fn jacobian_apply(&self, s: &[f64], v: &[f64], out: &mut [f64], transpose: bool) {
        let j = self.tendency_jacobian([s[0], s[1], s[2]]);
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..3).map(|k| if transpose { j[(k, i)] } else { j[(i, k)] } * v[k]).sum();
        }
    }

    fn rk4(&self, s: [f64; 3], dt: f64) -> [f64; 3] {
        let add = |a: [f64; 3], k: [f64; 3], c: f64| std::array::from_fn(|i| a[i] + k[i] * c);
        let scale = |k: [f64; 3]| k.map(|v| v * dt);
        let k1 = scale(self.tendency(s));
        let k2 = scale(self.tendency(add(s, k1, 0.5)));
        let k3 = scale(self.tendency(add(s, k2, 0.5)));
        let k4 = scale(self.tendency(add(s, k3, 1.0)));
        std::array::from_fn(|i| s[i] + (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i]) / 6.0)
    }
}

/// Particles advanced together by [`Lorenz63::advance_lanes`]: independent RK4 chains
/// interleaved, so the CPU overlaps their latencies and vectorises across them.
const LANES: usize = 4;

impl Lorenz63 {
    /// `LANES` states (`s[v][lane]`) advanced `steps` steps at once; lane by lane the same
    /// arithmetic as [`Lorenz63::rk4`] (bitwise identical results).
    fn advance_lanes(&self, mut s: [[f64; LANES]; 3], dt: f64, steps: usize) -> [[f64; LANES]; 3] {
        type Lanes = [[f64; LANES]; 3];
        let (sigma, rho, beta) = (self.sigma, self.rho, self.beta);
        // The tendency of `Lorenz63::tendency`, lane-wise (so it vectorises), times dt.
        let f = |s: &Lanes| -> Lanes {
            let [x, y, z] = s;
            [
                std::array::from_fn(|l| sigma * (y[l] - x[l]) * dt),
                std::array::from_fn(|l| (rho * x[l] - y[l] - x[l] * z[l]) * dt),
                std::array::from_fn(|l| (x[l] * y[l] - beta * z[l]) * dt),
            ]
        };
        let add = |a: &Lanes, k: &Lanes, c: f64| -> Lanes {
            std::array::from_fn(|v| std::array::from_fn(|l| a[v][l] + k[v][l] * c))
        };
        for _ in 0..steps {
            let k1 = f(&s);
            let k2 = f(&add(&s, &k1, 0.5));
            let k3 = f(&add(&s, &k2, 0.5));
            let k4 = f(&add(&s, &k3, 1.0));
            s = std::array::from_fn(|v| {
                std::array::from_fn(|l| s[v][l] + (k1[v][l] + 2.0 * (k2[v][l] + k3[v][l]) + k4[v][l]) / 6.0)
            });
        }
        s
    }

    /// Advances the columns of `chunk` (≤ `LANES` members) together.
    fn advance_chunk(&self, mut chunk: faer::MatMut<'_, f64>, dt: f64, steps: usize) {
        let mut s = [[0.0; LANES]; 3];
        for j in 0..chunk.ncols() {
            for v in 0..3 {
                s[v][j] = chunk[(v, j)];
            }
        }
        let s = self.advance_lanes(s, dt, steps);
        for j in 0..chunk.ncols() {
            for v in 0..3 {
                chunk[(v, j)] = s[v][j];
            }
        }
    }
}

impl Model for Lorenz63 {
    fn dim(&self) -> usize {
        3
    }

    fn step(&self, x: &mut [f64], _t: f64, dt: f64) {
        let s = self.rk4([x[0], x[1], x[2]], dt);
        x.copy_from_slice(&s);
    }

    fn advance(&self, x: &mut [f64], _t0: f64, dt: f64, steps: usize) {
        let mut s = [x[0], x[1], x[2]];
        for _ in 0..steps {
            s = self.rk4(s, dt);
        }
        x.copy_from_slice(&s);
    }

    fn advance_ensemble(&self, e: &mut Mat<f64>, _t0: f64, dt: f64, steps: usize) {
        use rayon::prelude::*;
        if e.nrows() * e.ncols() * steps >= super::PARALLEL_MIN_WORK {
            e.as_mut().par_col_chunks_mut(LANES).for_each(|c| self.advance_chunk(c, dt, steps));
        } else {
            let n = e.ncols();
            for start in (0..n).step_by(LANES) {
                let width = LANES.min(n - start);
                self.advance_chunk(e.as_mut().subcols_mut(start, width), dt, steps);
            }
        }
    }

    /// The exact tangent-linear of the RK4 step (4D-Var).
    fn step_tangent(&self, x: &[f64], dx: &mut [f64], _t: f64, dt: f64) -> bool {
        let jv = |s: &[f64], v: &[f64], out: &mut [f64]| self.jacobian_apply(s, v, out, false);
        super::rk4_tangent(|s, out| out.copy_from_slice(&self.tendency([s[0], s[1], s[2]])), jv, x, dx, dt);
        true
    }

    /// The adjoint of [`Model::step_tangent`].
    fn step_adjoint(&self, x: &[f64], lam: &mut [f64], _t: f64, dt: f64) -> bool {
        let jtv = |s: &[f64], v: &[f64], out: &mut [f64]| self.jacobian_apply(s, v, out, true);
        super::rk4_adjoint(|s, out| out.copy_from_slice(&self.tendency([s[0], s[1], s[2]])), jtv, x, lam, dt);
        true
    }

    /// DAPPER's Lorenz-63 resolvent: `I + dt·J` at the state after the step.
    fn step_jacobian(&self, x: &[f64], _t: f64, dt: f64) -> Option<Mat<f64>> {
        let j = self.tendency_jacobian([x[0], x[1], x[2]]);
        Some(Mat::from_fn(3, 3, |r, c| if r == c { 1.0 } else { 0.0 } + dt * j[(r, c)]))
    }
}
