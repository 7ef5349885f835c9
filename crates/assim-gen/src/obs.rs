//! The observation operator on normalised network states, differentiable through burn's
//! autodiff: `H(x) = h(s x̃_i + μ)` at the observed indices, with `h` the identity or arctan.

use burn::tensor::{Device, Tensor, TensorData};

use assim_core::experiment::ObsKind;

use crate::normalise::Normalisation;

/// `H` for batches `[n, nx]` of normalised states, giving `[n, P]` observations in physical
/// units; the selection is a one-hot matrix `S` (`[nx, P]`), so `H` and its adjoint are
/// matrix products that autodiff differentiates.
#[derive(Clone, Debug)]
pub struct TensorObs {
    select: Tensor<2>,
    indices: Vec<usize>,
    kind: ObsKind,
    norm: Normalisation,
    /// Observation-error variances `[1, P]`.
    pub var: Tensor<2>,
}

impl TensorObs {
    /// Observes `indices` (each < `nx`) with `kind`, errors of variance `obs_var` (length P).
    pub fn new(
        nx: usize,
        indices: &[usize],
        kind: ObsKind,
        obs_var: &[f64],
        norm: Normalisation,
        device: &Device,
    ) -> Self {
        let p = indices.len();
        assert_eq!(obs_var.len(), p, "one error variance per observation");
        let mut s = vec![0f32; nx * p];
        for (j, &i) in indices.iter().enumerate() {
            s[i * p + j] = 1.0;
        }
        let var: Vec<f32> = obs_var.iter().map(|&v| v as f32).collect();
        TensorObs {
            select: Tensor::from_data(TensorData::new(s, [nx, p]), device),
            indices: indices.to_vec(),
            kind,
            norm,
            var: Tensor::from_data(TensorData::new(var, [1, p]), device),
        }
    }

    /// Number of observations P.
    pub fn n_obs(&self) -> usize {
        self.indices.len()
    }

    /// The observed indices.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The operator kind.
    pub fn kind(&self) -> ObsKind {
        self.kind
    }

    /// The observed components of `x`: `[n, nx]` → `[n, P]` (the selection, linear).
    pub fn gather(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.select.clone())
    }

    /// The observed variables of `x` (normalised), in physical units: `[n, P]`.
    fn physical(&self, x: Tensor<2>) -> Tensor<2> {
        self.gather(x) * self.norm.std + self.norm.mean
    }

    /// `H(x)`: `[n, nx]` normalised → `[n, P]` physical.
    pub fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let v = self.physical(x);
        match self.kind {
            ObsKind::Identity => v,
            ObsKind::Arctan => v.atan(),
        }
    }

    /// The diagonal of the Jacobian `∂H/∂x̃` at `x` (`[n, P]`): `s h'(s x̃ + μ)`, the scale of
    /// the linearised operator that MMPS and SDA's inflated likelihood need.
    pub fn slope(&self, x: Tensor<2>) -> Tensor<2> {
        match self.kind {
            ObsKind::Identity => Tensor::ones([x.dims()[0], self.n_obs()], &x.device()) * self.norm.std,
            ObsKind::Arctan => {
                let v = self.physical(x);
                (v.powf_scalar(2.0) + 1.0).recip() * self.norm.std
            }
        }
    }

    /// The adjoint of the selection: `[n, P]` → `[n, nx]`, zero off the observed indices.
    pub fn scatter(&self, v: Tensor<2>) -> Tensor<2> {
        v.matmul(self.select.clone().transpose())
    }

    /// The observations `y` (physical, `[n, P]`) as normalised state values, for operators
    /// that observe the state itself.
    pub fn y_normalised(&self, y: Tensor<2>) -> Tensor<2> {
        (y - self.norm.mean) / self.norm.std
    }

    /// A `[n, nx]` mask: 1 at the observed indices.
    pub fn mask(&self, n: usize, device: &Device) -> Tensor<2> {
        self.scatter(Tensor::ones([n, self.n_obs()], device))
    }
}
