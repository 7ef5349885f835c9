//! Observation operators and the geometry that localisation needs.

mod arctan;
pub mod column;
mod localization;
pub mod network;
mod partial_identity;
mod pointwise;
pub mod records;
mod sparse;
mod square;
mod stacked;

pub use arctan::ArcTan;
pub use localization::{ColumnLocalizer, GreatCircle, Localizer, PeriodicLine, gaspari_cohn, unit_vector};
pub use partial_identity::PartialIdentity;
pub use pointwise::Pointwise;
pub use records::{Observation, Source, Variable};
pub use sparse::SparseLinear;
pub use square::Square;
pub use stacked::Stacked;

use std::fmt::Debug;
use std::sync::Arc;

use faer::{Mat, MatRef};

/// `y = H(x)`: maps a model state to observation space.
pub trait ObsOperator: Send + Sync {
    /// Number of observations `P` per analysis time.
    fn n_obs(&self) -> usize;

    /// Writes `H(x)` into `y` (length `P`).
    fn apply(&self, x: &[f64], y: &mut [f64]);

    /// `H` applied to every member (column) of an `Nx × N` ensemble: a `P × N` matrix.
    fn apply_ensemble(&self, e: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(self.n_obs(), e.ncols());
        let mut x = vec![0.0; e.nrows()];
        let mut y = vec![0.0; self.n_obs()];
        for j in 0..e.ncols() {
            for (i, xi) in x.iter_mut().enumerate() {
                *xi = e[(i, j)];
            }
            self.apply(&x, &mut y);
            for (i, yi) in y.iter().enumerate() {
                out[(i, j)] = *yi;
            }
        }
        out
    }

    /// The matrix of a linear operator (`P × Nx`); `None` for a nonlinear one (or a linear
    /// one too large to hold densely).
    fn matrix(&self) -> Option<Mat<f64>>;

    /// `out = Hᵀ y` for a linear operator (variational methods); `false` for a nonlinear one.
    fn adjoint(&self, y: &[f64], out: &mut [f64]) -> bool {
        let _ = (y, out);
        false
    }

    /// Whether `H` is linear (then its tangent-linear is itself, and one outer loop of an
    /// incremental minimisation is exact); `false` unless the operator says so.
    fn is_linear(&self) -> bool {
        false
    }

    /// `dy = H'(x) dx`, the tangent-linear at `x` (incremental variational methods): `H dx`
    /// for a linear operator, `false` for a nonlinear one without a tangent-linear.
    fn tangent_linear(&self, x: &[f64], dx: &[f64], dy: &mut [f64]) -> bool {
        let _ = x;
        if self.is_linear() {
            self.apply(dx, dy);
        }
        self.is_linear()
    }

    /// `out = H'(x)ᵀ dy`, the adjoint of the tangent-linear at `x`; `false` when there is none.
    /// A linear operator's is its adjoint.
    fn tangent_adjoint(&self, x: &[f64], dy: &[f64], out: &mut [f64]) -> bool {
        let _ = x;
        self.adjoint(dy, out)
    }

    /// The rows of a sparse linear operator (the sphere's networks), for engines that apply
    /// `H` themselves (the latent methods, on tensors); `None` otherwise.
    fn as_sparse(&self) -> Option<&SparseLinear> {
        None
    }

    /// The rows of `H'(x)`, the Jacobian at `x`, as a sparse matrix: what an engine that applies
    /// `H` itself on tensors (a latent method decoding its fields) needs of a nonlinear
    /// operator, `H(x') ≈ H(x) + H'(x)(x' − x)`. A sparse linear operator's rows are its own;
    /// `None` when the operator has no sparse Jacobian.
    fn jacobian(&self, x: &[f64]) -> Option<SparseLinear> {
        let _ = x;
        self.as_sparse().cloned()
    }

    /// The sites and function of a pointwise operator `y_p = h(x_{i_p})`, for engines that
    /// apply `H` themselves (the generative methods on a state, on tensors); `None` otherwise.
    fn pointwise(&self) -> Option<PointwiseView<'_>> {
        None
    }

    /// The rows of each observing system (its name in files, e.g. `"sounder"`), where the
    /// operator stacks named systems: how a method assimilates some systems one way and the
    /// others another. Empty when it does not know them.
    fn systems(&self) -> Vec<(String, std::ops::Range<usize>)> {
        Vec::new()
    }
}

/// The scalar function `h` of a pointwise operator, with its derivative.
pub trait ElementFn: Send + Sync + Debug {
    /// Its name in the experiment file (`observations.operator`).
    fn name(&self) -> &'static str;
    /// `h(x)`.
    fn value(&self, x: f64) -> f64;
    /// `h'(x)`.
    fn slope(&self, x: f64) -> f64;
}

/// What a pointwise operator is made of: the observed indices and `h` (`None`: the identity,
/// so the operator selects state components and is linear).
#[derive(Clone, Debug)]
pub struct PointwiseView<'a> {
    /// The observed state index of each observation (length `P`).
    pub indices: &'a [usize],
    /// The function, or `None` for the identity.
    pub h: Option<Arc<dyn ElementFn>>,
}
