//! Observation operators on batches of network states, as guidance needs them ([`Observe`]),
//! and the one that observes the state itself ([`TensorObs`]): `H(x) = h(s x̃_i + μ)` at the
//! observed indices, with `h` the identity or arctan. The operator through a latent decoder
//! is [`crate::latent::DecodedObs`].

use burn::tensor::{Device, Tensor, TensorData};

use assim_core::experiment::ObsKind;

use crate::normalise::Normalisation;

/// What a guidance strategy needs of `H` on network states `x` (`[n, nx]`) giving physical
/// observations `[n, P]`: the map (differentiable by autodiff), `R`, and its linearisation.
pub trait Observe {
    /// `H(x)`.
    fn apply(&self, x: Tensor<2>) -> Tensor<2>;
    /// Observation-error variances `[1, P]`.
    fn var(&self) -> Tensor<2>;
    /// `H'(x)ᵀ v` for `v` `[n, P]`.
    fn vjp(&self, x: &Tensor<2>, v: Tensor<2>) -> Tensor<2>;
    /// `H'(x) w` for `w` `[n, nx]`.
    fn jvp(&self, x: &Tensor<2>, w: Tensor<2>) -> Tensor<2>;
    /// `diag(H'(x) H'(x)ᵀ)` `[n, P]`: how a unit variance in `x` shows in each observation.
    fn gain2(&self, x: &Tensor<2>) -> Tensor<2>;
    /// RePaint's estimate: `d` with its observed components replaced by `y` (`[1, P]` or
    /// `[n, P]`, physical); `None` when `H` does not observe components of `x`.
    fn paint(&self, d: Tensor<2>, y: Tensor<2>) -> Option<Tensor<2>> {
        let _ = (d, y);
        None
    }
}

/// `H` for batches `[n, nx]` of normalised states, giving `[n, P]` observations in physical
/// units; the selection is a one-hot matrix `S` (`[nx, P]`), so `H` and its adjoint are
/// matrix products that autodiff differentiates.
#[derive(Clone, Debug)]
pub struct TensorObs {
    select: Tensor<2>,
    indices: Vec<usize>,
    kind: ObsKind,
    /// The observed physical values are `scale · S x + offset` (`offset`: `[1, P]` or `[n, P]`).
    scale: f64,
    offset: Tensor<2>,
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
            scale: norm.std,
            offset: Tensor::ones([1, p], device) * norm.mean,
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

    /// The same operator on increments `z` about `base` (`[n, nx]`, in this operator's
    /// state units): the state is `base + rho·z`. This is how a prior of background
    /// increments is guided.
    pub fn about(&self, base: Tensor<2>, rho: f64) -> TensorObs {
        TensorObs {
            offset: self.gather(base) * self.scale + self.offset.clone(),
            scale: self.scale * rho,
            ..self.clone()
        }
    }

    /// The observed variables of `x` (normalised), in physical units: `[n, P]`.
    fn physical(&self, x: Tensor<2>) -> Tensor<2> {
        self.gather(x) * self.scale + self.offset.clone()
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
            ObsKind::Identity => Tensor::ones([x.dims()[0], self.n_obs()], &x.device()) * self.scale,
            ObsKind::Arctan => {
                let v = self.physical(x);
                (v.powf_scalar(2.0) + 1.0).recip() * self.scale
            }
        }
    }

    /// The adjoint of the selection: `[n, P]` → `[n, nx]`, zero off the observed indices.
    pub fn scatter(&self, v: Tensor<2>) -> Tensor<2> {
        v.matmul(self.select.clone().transpose())
    }

    /// The observations `y` (physical, `[n, P]`) as values of the network's state, for
    /// operators that observe the state itself.
    pub fn y_normalised(&self, y: Tensor<2>) -> Tensor<2> {
        (y - self.offset.clone()) / self.scale
    }

    /// A `[n, nx]` mask: 1 at the observed indices.
    pub fn mask(&self, n: usize, device: &Device) -> Tensor<2> {
        self.scatter(Tensor::ones([n, self.n_obs()], device))
    }
}

impl Observe for TensorObs {
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        TensorObs::apply(self, x)
    }
    fn var(&self) -> Tensor<2> {
        self.var.clone()
    }
    fn vjp(&self, x: &Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        self.scatter(self.slope(x.clone()) * v)
    }
    fn jvp(&self, x: &Tensor<2>, w: Tensor<2>) -> Tensor<2> {
        self.slope(x.clone()) * self.gather(w)
    }
    fn gain2(&self, x: &Tensor<2>) -> Tensor<2> {
        self.slope(x.clone()).powf_scalar(2.0)
    }
    fn paint(&self, d: Tensor<2>, y: Tensor<2>) -> Option<Tensor<2>> {
        let [n, _] = d.dims();
        let mask = self.mask(n, &d.device());
        let y = self.scatter(self.y_normalised(y));
        Some(d * (mask.neg() + 1.0) + y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{from_rows, to_rows};

    #[test]
    fn adjoint_and_slope_match_their_definitions() {
        let device = Device::flex();
        let norm = Normalisation { mean: 1.5, std: 2.0 };
        let idx = [4, 0, 2];
        let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
        let y = [0.3, -1.2, 2.0, 0.7, 0.1, -0.4];
        let xt = from_rows(&x, 2, 5, &device);
        let yt = from_rows(&y, 2, 3, &device);
        for kind in [ObsKind::Identity, ObsKind::Arctan] {
            let h = TensorObs::new(5, &idx, kind, &[1.0; 3], norm, &device);
            // ⟨S x, y⟩ = ⟨x, Sᵀ y⟩ for the selection and its scatter.
            let lhs: f64 = to_rows(&h.gather(xt.clone())).iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = to_rows(&h.scatter(yt.clone())).iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
            // H at the observed indices, and its slope against central differences.
            let hx = to_rows(&h.apply(xt.clone()));
            let slope = to_rows(&h.slope(xt.clone()));
            for (p, &i) in idx.iter().enumerate() {
                let phys = norm.inverse(x[i]);
                let f = |v: f64| if kind == ObsKind::Arctan { v.atan() } else { v };
                assert!((hx[p] - f(phys)).abs() < 1e-5);
                let e = 1e-3;
                let fd = (f(norm.inverse(x[i] + e)) - f(norm.inverse(x[i] - e))) / (2.0 * e);
                assert!((slope[p] - fd).abs() < 1e-4, "{kind:?}: slope {} vs {fd}", slope[p]);
            }
        }
    }
}
