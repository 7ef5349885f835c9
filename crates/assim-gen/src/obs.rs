//! Observation operators on batches of network states, as guidance needs them ([`Observe`]),
//! and the one that observes the state itself ([`TensorObs`]): `H(x) = h(s x̃_i + μ)` at the
//! observed indices, with `h` the function of the bed's pointwise operator
//! ([`assim_core::obs::ElementFn`]: the same definition every ensemble method applies). The
//! operator through a latent decoder is [`crate::latent::space::DecodedObs`].

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use assim_core::obs::ElementFn;

use crate::prior::normalise::Normalisation;
use crate::tensor::{from_rows, to_rows};

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
    /// `diag(H'(x) H'(x)ᵀ)` `[n, P]` (or `[1, P]`, one estimate for the batch): how a unit
    /// variance in `x` shows in each observation.
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
    /// The function `h`; `None` for the identity.
    h: Option<Arc<dyn ElementFn>>,
    /// The observed physical values are `scale · S x + offset` (`offset`: `[1, P]` or `[n, P]`).
    scale: f64,
    offset: Tensor<2>,
    /// Observation-error variances `[1, P]`.
    pub var: Tensor<2>,
}

impl TensorObs {
    /// Observes `h(x_i)` at `indices` (each < `nx`; `h = None`: the identity), errors of
    /// variance `obs_var` (length P).
    pub fn new(
        nx: usize,
        indices: &[usize],
        h: Option<Arc<dyn ElementFn>>,
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
            h,
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

    /// Whether it observes the state components themselves (`h` the identity).
    pub fn selects(&self) -> bool {
        self.h.is_none()
    }

    /// `f` of every value `x` (read from `like`, `[n, P]`), as a tensor of `like`'s shape:
    /// the bed's definition of `h`, evaluated in f64.
    fn map_values(x: &[f64], like: &Tensor<2>, f: impl Fn(f64) -> f64) -> Tensor<2> {
        let [n, p] = like.dims();
        from_rows(&x.iter().map(|&v| f(v)).collect::<Vec<_>>(), n, p, &like.device())
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

    /// `H(x)`: `[n, nx]` normalised → `[n, P]` physical. For a nonlinear `h` the value is
    /// `h(v)` and the gradient `h'(v)` (as `h(v₀) + h'(v₀)(v − v₀)` at `v₀ = v`, whose value
    /// is exact and whose derivative autodiff carries), so any [`ElementFn`] is
    /// differentiable without a tensor form of its own.
    pub fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let v = self.physical(x);
        match &self.h {
            None => v,
            Some(h) => {
                let v0 = v.clone().detach();
                let x = to_rows(&v0);
                let value = Self::map_values(&x, &v, |x| h.value(x));
                let slope = Self::map_values(&x, &v, |x| h.slope(x));
                value + slope * (v - v0)
            }
        }
    }

    /// The diagonal of the Jacobian `∂H/∂x̃` at `x` (`[n, P]`): `s h'(s x̃ + μ)`, the scale of
    /// the linearised operator that MMPS and SDA's inflated likelihood need.
    pub fn slope(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.h {
            None => Tensor::ones([x.dims()[0], self.n_obs()], &x.device()) * self.scale,
            Some(h) => {
                let v = self.physical(x).detach();
                Self::map_values(&to_rows(&v), &v, |x| h.slope(x)) * self.scale
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
        if !self.selects() {
            return None;
        }
        let [n, _] = d.dims();
        let mask = self.mask(n, &d.device());
        let y = self.scatter(self.y_normalised(y));
        Some(d * (mask.neg() + 1.0) + y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assim_core::obs::{ArcTan, Square};

    #[test]
    fn adjoint_and_slope_match_their_definitions() {
        let device = Device::flex();
        let norm = Normalisation { mean: 1.5, std: 2.0 };
        let idx = [4, 0, 2];
        let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
        let y = [0.3, -1.2, 2.0, 0.7, 0.1, -0.4];
        let xt = from_rows(&x, 2, 5, &device);
        let yt = from_rows(&y, 2, 3, &device);
        let fns: [Option<Arc<dyn ElementFn>>; 3] = [None, Some(Arc::new(ArcTan)), Some(Arc::new(Square))];
        for kind in fns {
            let f = |v: f64| kind.as_ref().map_or(v, |h| h.value(v));
            let h = TensorObs::new(5, &idx, kind.clone(), &[1.0; 3], norm, &device);
            // ⟨S x, y⟩ = ⟨x, Sᵀ y⟩ for the selection and its scatter.
            let lhs: f64 = to_rows(&h.gather(xt.clone())).iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = to_rows(&h.scatter(yt.clone())).iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
            // H at the observed indices, and its slope against central differences.
            let hx = to_rows(&h.apply(xt.clone()));
            let slope = to_rows(&h.slope(xt.clone()));
            for (p, &i) in idx.iter().enumerate() {
                let phys = norm.inverse(x[i]);
                assert!((hx[p] - f(phys)).abs() < 1e-5);
                let e = 1e-3;
                let fd = (f(norm.inverse(x[i] + e)) - f(norm.inverse(x[i] - e))) / (2.0 * e);
                assert!(
                    (slope[p] - fd).abs() < 1e-3 * (1.0 + fd.abs()),
                    "{kind:?}: slope {} vs {fd}",
                    slope[p]
                );
            }
        }
    }

    /// The gradient that autodiff carries through a nonlinear `h` is `h'` (the value-exact
    /// linearisation of `apply`), the same as the operator's own adjoint.
    #[test]
    fn autodiff_through_a_nonlinear_h_gives_its_slope() {
        let device = Device::flex();
        let norm = Normalisation { mean: 0.5, std: 3.0 };
        let x: Vec<f64> = (0..8).map(|i| (i as f64 * 0.61).cos()).collect();
        let v = [0.7, -1.1, 0.2, 1.9];
        for h in [Arc::new(ArcTan) as Arc<dyn ElementFn>, Arc::new(Square)] {
            let op = TensorObs::new(4, &[3, 1], Some(h), &[1.0; 2], norm, &device);
            let xt = from_rows(&x, 2, 4, &device).autodiff().require_grad();
            let vt = from_rows(&v, 2, 2, &device);
            let grads = (op.apply(xt.clone()) * vt.clone()).sum().backward();
            let g = to_rows(&xt.grad(&grads).unwrap());
            let adjoint = to_rows(&op.vjp(&xt.clone().without_autodiff(), vt));
            for (a, b) in g.iter().zip(&adjoint) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
            }
            assert!(g.iter().any(|&a| a.abs() > 1e-3));
        }
    }
}
