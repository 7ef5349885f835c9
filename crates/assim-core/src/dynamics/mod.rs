//! Dynamical test beds: the forecast models that truth runs and every method share.

mod integrate;
mod linear;
mod lorenz63;
mod lorenz96;
pub mod primitive;
pub mod shallow_water;

pub use integrate::{rk4_adjoint, rk4_step, rk4_tangent};
pub use linear::LinearModel;
pub use lorenz63::Lorenz63;
pub use lorenz96::Lorenz96;
pub use shallow_water::ShallowWater;

use faer::Mat;
use rayon::prelude::*;

/// Ensemble forecasts with fewer than this many (state numbers × steps) run on one thread:
/// waking rayon's workers costs tens of µs, more than one step of 40 Lorenz-96 members
/// (≈ 8 µs), less than a 25-step window of 800 Lorenz-63 particles (≈ 1 ms).
pub const PARALLEL_MIN_WORK: usize = 20_000;

/// A discrete-time forecast model `x ← M(x, t, dt)` on a state of fixed dimension.
pub trait Model: Send + Sync {
    /// State dimension `Nx`.
    fn dim(&self) -> usize;

    /// Advances one state by one model step of length `dt`, in place.
    fn step(&self, x: &mut [f64], t: f64, dt: f64);

    /// Advances one state by `steps` steps from time `t0`.
    fn advance(&self, x: &mut [f64], t0: f64, dt: f64, steps: usize) {
        for k in 0..steps {
            self.step(x, t0 + k as f64 * dt, dt);
        }
    }

    /// Advances every member (column) of an `Nx × N` ensemble by `steps` steps from `t0`;
    /// members run in parallel when there is enough work for threads to pay
    /// (see [`PARALLEL_MIN_WORK`]).
    fn advance_ensemble(&self, e: &mut Mat<f64>, t0: f64, dt: f64, steps: usize) {
        let run = |col: faer::ColMut<'_, f64>| {
            let x = col.try_as_col_major_mut().expect("ensemble columns are contiguous").as_slice_mut();
            self.advance(x, t0, dt, steps);
        };
        if e.nrows() * e.ncols() * steps >= PARALLEL_MIN_WORK {
            e.par_col_iter_mut().for_each(run);
        } else {
            e.col_iter_mut().for_each(run);
        }
    }

    /// Jacobian `∂M/∂x` of one step at `x` (`Nx × Nx`), for the extended Kalman filter;
    /// `None` for models without one. Tendency models use their [`Resolvent`].
    fn step_jacobian(&self, x: &[f64], t: f64, dt: f64) -> Option<Mat<f64>> {
        let _ = (x, t, dt);
        None
    }

    /// The tangent-linear of one step at `x`: `dx ← M'(x) dx` (4D-Var); `false` (and `dx`
    /// untouched) for a model without one.
    fn step_tangent(&self, x: &[f64], dx: &mut [f64], t: f64, dt: f64) -> bool {
        let _ = (x, dx, t, dt);
        false
    }

    /// The adjoint of [`Model::step_tangent`] at `x`: `λ ← M'(x)ᵀ λ`; `false` for a model
    /// without one.
    fn step_adjoint(&self, x: &[f64], lam: &mut [f64], t: f64, dt: f64) -> bool {
        let _ = (x, lam, t, dt);
        false
    }

    /// Advances `x` by `steps` steps from `t0` as [`Model::advance`] does and returns the
    /// tangent-linear about that forecast (with its adjoint); `None`, and `x` untouched, for a
    /// model without one. The default keeps the state at every step and applies
    /// [`Model::step_tangent`] / [`Model::step_adjoint`] along it.
    fn linearise(
        &self,
        x: &mut [f64],
        t0: f64,
        dt: f64,
        steps: usize,
    ) -> Option<Box<dyn Linearisation + '_>> {
        let mut probe = vec![0.0; x.len()];
        if !self.step_tangent(x, &mut probe, t0, dt) {
            return None;
        }
        let mut trajectory = Vec::with_capacity(steps);
        for k in 0..steps {
            trajectory.push(x.to_vec());
            self.step(x, t0 + k as f64 * dt, dt);
        }
        Some(Box::new(Stepwise { model: self, trajectory, t0, dt }))
    }
}

/// The tangent-linear model about one forecast and its adjoint: 4D-Var's inner loop applies
/// them many times per relinearisation, so the forecast is run (and kept) once.
pub trait Linearisation: Send + Sync {
    /// `dx ← M' dx`: a perturbation of the forecast's start carried to its end.
    fn tangent(&self, dx: &mut [f64]);
    /// `λ ← M'ᵀ λ`: the adjoint of [`Linearisation::tangent`].
    fn adjoint(&self, lam: &mut [f64]);
}

/// [`Model::linearise`]'s default: the states before each step, for the per-step tangent-linear.
struct Stepwise<'a, M: ?Sized> {
    model: &'a M,
    trajectory: Vec<Vec<f64>>,
    t0: f64,
    dt: f64,
}

impl<M: Model + ?Sized> Linearisation for Stepwise<'_, M> {
    fn tangent(&self, dx: &mut [f64]) {
        for (k, x) in self.trajectory.iter().enumerate() {
            self.model.step_tangent(x, dx, self.t0 + k as f64 * self.dt, self.dt);
        }
    }

    fn adjoint(&self, lam: &mut [f64]) {
        for (k, x) in self.trajectory.iter().enumerate().rev() {
            self.model.step_adjoint(x, lam, self.t0 + k as f64 * self.dt, self.dt);
        }
    }
}

/// How the step Jacobian is built from the tendency Jacobian `J` (DAPPER's `integrate_TLM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolvent {
    /// `I + dt·J`, from the forward-Euler scheme (DAPPER's `"approx"`; its Lorenz-63 choice).
    Euler,
    /// `exp(dt·J)`, exact for a constant `J` (DAPPER's `"analytic"`; its Lorenz-96 choice).
    Exponential,
}

/// A model given by a tendency `dx/dt = f(x)` and integrated with classical RK4.
pub trait Tendency: Send + Sync {
    /// State dimension.
    fn dim(&self) -> usize;
    /// Writes `f(x)` into `dxdt`.
    fn tendency(&self, x: &[f64], dxdt: &mut [f64]);
    /// The Jacobian `∂f/∂x` at `x`.
    fn tendency_jacobian(&self, x: &[f64]) -> Mat<f64>;
    /// Which resolvent [`Model::step_jacobian`] uses, as DAPPER does for this model.
    fn resolvent(&self) -> Resolvent {
        Resolvent::Euler
    }
    /// `out = ∂f/∂x(x) v` (default: through the dense Jacobian; override where the stencil is
    /// cheaper).
    fn tendency_tangent(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let j = self.tendency_jacobian(x);
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..v.len()).map(|k| j[(i, k)] * v[k]).sum();
        }
    }
    /// `out = ∂f/∂x(x)ᵀ v` (default: through the dense Jacobian).
    fn tendency_adjoint(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let j = self.tendency_jacobian(x);
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..v.len()).map(|k| j[(k, i)] * v[k]).sum();
        }
    }
}

impl<T: Tendency> Model for T {
    fn dim(&self) -> usize {
        Tendency::dim(self)
    }

    fn step(&self, x: &mut [f64], _t: f64, dt: f64) {
        rk4_step(|x, dxdt| self.tendency(x, dxdt), x, dt, &mut Vec::new());
    }

    fn advance(&self, x: &mut [f64], _t0: f64, dt: f64, steps: usize) {
        let mut scratch = Vec::with_capacity(5 * x.len());
        for _ in 0..steps {
            rk4_step(|x, dxdt| self.tendency(x, dxdt), x, dt, &mut scratch);
        }
    }

    fn step_jacobian(&self, x: &[f64], _t: f64, dt: f64) -> Option<Mat<f64>> {
        let j = self.tendency_jacobian(x) * faer::Scale(dt);
        let n = x.len();
        Some(match self.resolvent() {
            Resolvent::Euler => Mat::from_fn(n, n, |r, c| if r == c { 1.0 } else { 0.0 } + j[(r, c)]),
            Resolvent::Exponential => crate::linalg::expm(j.as_ref()),
        })
    }

    fn step_tangent(&self, x: &[f64], dx: &mut [f64], _t: f64, dt: f64) -> bool {
        rk4_tangent(|x, d| self.tendency(x, d), |x, v, o| self.tendency_tangent(x, v, o), x, dx, dt);
        true
    }

    fn step_adjoint(&self, x: &[f64], lam: &mut [f64], _t: f64, dt: f64) -> bool {
        rk4_adjoint(|x, d| self.tendency(x, d), |x, v, o| self.tendency_adjoint(x, v, o), x, lam, dt);
        true
    }
}
