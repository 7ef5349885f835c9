//! Observation guidance: a [`Denoiser`] that wraps the prior's and returns an estimate of
//! `E[x | x_t, y]` instead of `E[x | x_t]` (SDA's and Appa's design, DESIGN.md §7). Every
//! strategy works with nonlinear observation operators: gradients go through the network
//! (and `H`) by burn's autodiff.
//!
//! In score terms a likelihood term `∇ log p(y | x_t)` adds `σ² ∇ log p(y | x_t)` to the
//! denoiser (since `score = (d − x_t)/σ²`). Shapes: states `[n, nx]` normalised, observations
//! `y` `[1, P]` physical (shared by the members) or `[n, P]`.

use burn::tensor::Tensor;

use assim_core::experiment::{GuidanceConfig, Optimizer};

use crate::denoiser::Denoiser;
use crate::obs::Observe;

/// The prior denoiser guided towards observations `y` by one strategy.
pub struct Guided<'a> {
    prior: &'a dyn Denoiser,
    obs: &'a dyn Observe,
    y: Tensor<2>,
    guidance: GuidanceConfig,
}

impl<'a> Guided<'a> {
    /// Guides `prior` towards `y` (physical units, `[1, P]` or `[n, P]`) observed by `obs`.
    pub fn new(
        prior: &'a dyn Denoiser,
        obs: &'a dyn Observe,
        y: Tensor<2>,
        guidance: GuidanceConfig,
    ) -> Self {
        Guided { prior, obs, y, guidance }
    }

    /// Innovations `y − H(x̂)` in units of the observation-error std.
    fn standardised_innovation(&self, d: Tensor<2>) -> Tensor<2> {
        (self.y.clone() - self.obs.apply(d)) / self.obs.var().sqrt()
    }

    /// `x̂ = d(x)` and `∇_x f(d(x))`: one forward and one backward pass of the prior.
    fn value_and_grad(
        &self,
        x: &Tensor<2>,
        sigma: f64,
        cond: Option<&Tensor<2>>,
        f: impl FnOnce(Tensor<2>) -> Tensor<1>,
    ) -> (Tensor<2>, Tensor<2>) {
        let xg = x.clone().without_autodiff().autodiff().require_grad();
        let d = self.prior.denoise(xg.clone(), sigma, cond);
        let grads = f(d.clone()).backward();
        let g = xg.grad(&grads).expect("the input of a guided denoiser has a gradient");
        (d.without_autodiff(), g)
    }

    /// The vector–Jacobian product `(∂d/∂x)ᵀ u`.
    fn vjp(&self, x: &Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>, u: Tensor<2>) -> Tensor<2> {
        self.value_and_grad(x, sigma, cond, |d| (d * u).sum()).1
    }

    /// MMPS: `x̂ + σ² Jᵀ H'ᵀ v` with `(R + H' σ² J H'ᵀ) v = y − H(x̂)` solved by `iters` steps
    /// of conjugate gradients per member (J = ∂x̂/∂x_t, symmetric for an exact denoiser;
    /// H' the Jacobian of H at x̂).
    fn mmps(&self, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>, iters: usize) -> Tensor<2> {
        let d = self.prior.denoise(x.clone(), sigma, cond).without_autodiff();
        let s2 = sigma * sigma;
        let v = self.solve_gain(&d, iters, |u| self.vjp(&x, sigma, cond, u) * s2);
        d.clone() + self.vjp(&x, sigma, cond, self.obs.vjp(&d, v)) * s2
    }

    /// `v` with `(R + H' B H'ᵀ) v = y − H(d)` by `iters` conjugate-gradient iterations per
    /// member, H' the Jacobian of H at `d` and `b(u) = B u` a covariance on the state space
    /// (MMPS's Tweedie covariance, or Gauss–Newton's λ I).
    fn solve_gain(&self, d: &Tensor<2>, iters: usize, b: impl Fn(Tensor<2>) -> Tensor<2>) -> Tensor<2> {
        let r = self.y.clone() - self.obs.apply(d.clone());
        let var = self.obs.var();
        let apply_a = |v: Tensor<2>| -> Tensor<2> {
            let bu = b(self.obs.vjp(d, v.clone()));
            v * var.clone() + self.obs.jvp(d, bu)
        };
        let dot = |a: &Tensor<2>, b: &Tensor<2>| (a.clone() * b.clone()).sum_dim(1);
        let mut v = r.zeros_like();
        let mut res = r.clone();
        let mut p = r;
        let mut rr = dot(&res, &res);
        for k in 0..iters {
            let ap = apply_a(p.clone());
            // pᵀAp ≥ pᵀRp for a positive semi-definite B (the exact Tweedie covariance); a
            // learned Jacobian can break that, and the floor keeps the step bounded.
            let floor = dot(&p, &(p.clone() * var.clone()));
            let alpha = rr.clone() / (dot(&p, &ap).max_pair(floor) + 1e-30);
            v = v + p.clone() * alpha.clone();
            if k + 1 == iters {
                break;
            }
            res = res - ap * alpha;
            let rr_new = dot(&res, &res);
            let beta = rr_new.clone() / (rr.clone() + 1e-30);
            p = res.clone() + p * beta;
            rr = rr_new;
        }
        v
    }

    /// One Gauss–Newton step on ½‖z − d‖²/λ + ½‖(y − H(z))/σ_y‖² from z = d:
    /// `d + λ H'ᵀ (R + λ H'H'ᵀ)⁻¹ (y − H(d))` with `iters` conjugate-gradient iterations.
    fn gauss_newton(&self, d: Tensor<2>, iters: usize, lambda: f64) -> Tensor<2> {
        let v = self.solve_gain(&d, iters, |u| u * lambda);
        d.clone() + self.obs.vjp(&d, v) * lambda
    }

    /// LO-SDA's optimisation of the estimate: Adam on ½‖z − x̂‖²/λ + ½‖(y − H(z))/σ_y‖².
    fn optimise(&self, d: Tensor<2>, iters: usize, lr: f64, lambda: f64) -> Tensor<2> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let mut z = d.clone();
        let mut m = d.zeros_like();
        let mut v = d.zeros_like();
        for it in 1..=iters {
            let zg = z.clone().autodiff().require_grad();
            let prox = (zg.clone() - d.clone()).powf_scalar(2.0).sum() / (2.0 * lambda);
            let misfit = self.standardised_innovation(zg.clone()).powf_scalar(2.0).sum() / 2.0;
            let grads = (prox + misfit).backward();
            let g = zg.grad(&grads).expect("the iterate has a gradient");
            m = m * b1 + g.clone() * (1.0 - b1);
            v = v * b2 + g.powf_scalar(2.0) * (1.0 - b2);
            let mhat = m.clone() / (1.0 - b1.powi(it as i32));
            let vhat = v.clone() / (1.0 - b2.powi(it as i32));
            z = z - mhat / (vhat.sqrt() + eps) * lr;
        }
        z
    }
}

impl Denoiser for Guided<'_> {
    fn denoise(&self, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let s2 = sigma * sigma;
        match self.guidance {
            GuidanceConfig::None => self.prior.denoise(x, sigma, cond),
            GuidanceConfig::Dps { zeta } => {
                // DPS's normalised step: x̂ ← x̂ − ζ ∇_{x_t}‖r‖ (r the standardised innovation
                // of x̂(x_t)), i.e. score += −(ζ/σ²) ∇‖r‖: a pull of the same size at every σ,
                // as DPS's ζ/‖r‖-scaled gradient of ‖r‖² per step.
                let (d, g) = self.value_and_grad(&x, sigma, cond, |d| {
                    (self.standardised_innovation(d).powf_scalar(2.0).sum_dim(1) + 1e-12).sqrt().sum()
                });
                d - g * zeta
            }
            GuidanceConfig::SdaGamma { gamma } => {
                // log p(y | x_t) ≈ −½ Σ r²/(σ_y² + Γ h'² σ²/(1+σ²)): the Tweedie variance of
                // unit-variance data, inflated by Γ, carried to observation space.
                let tweedie = s2 / (1.0 + s2);
                let (d, g) = self.value_and_grad(&x, sigma, cond, |d| {
                    let var = self.obs.var() + self.obs.gain2(&d.clone().detach()) * (gamma * tweedie);
                    let r = self.y.clone() - self.obs.apply(d);
                    (r.powf_scalar(2.0) / var).sum() * -0.5
                });
                d + g * s2
            }
            GuidanceConfig::Mmps { cg_iters } => self.mmps(x, sigma, cond, cg_iters),
            GuidanceConfig::LatentOptimization { iters, lr, lambda, sigma_below, optimizer, ref score } => {
                let d = match score {
                    Some(score) => Guided::new(self.prior, self.obs, self.y.clone(), (**score).clone())
                        .denoise(x, sigma, cond),
                    None => self.prior.denoise(x, sigma, cond),
                }
                .without_autodiff();
                if sigma > sigma_below {
                    d
                } else {
                    match optimizer {
                        Optimizer::Adam => self.optimise(d, iters, lr, lambda),
                        Optimizer::GaussNewton => self.gauss_newton(d, iters, lambda),
                    }
                }
            }
            GuidanceConfig::RePaint => {
                let d = self.prior.denoise(x, sigma, cond).without_autodiff();
                self.obs
                    .paint(d, self.y.clone())
                    .expect("RePaint is refused at load for operators that do not select")
            }
        }
    }
}
