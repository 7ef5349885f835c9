//! AdamW (Loshchilov & Hutter 2019), global-norm clipping and an EMA of the weights, on flat
//! f32 vectors (see [`crate::train::params`]): the whole optimiser state is three vectors and a step
//! count, which the checkpoints store as they are.

/// Adam's moments with decoupled weight decay.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    /// First moments.
    pub m: Vec<f32>,
    /// Second moments.
    pub v: Vec<f32>,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl AdamW {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    /// Fresh moments for `n` parameters.
    pub fn new(n: usize, weight_decay: f64) -> Self {
        AdamW { m: vec![0.0; n], v: vec![0.0; n], weight_decay }
    }

    /// Step `t` (1-based) with learning rate `lr`: `θ ← θ − lr (m̂/(√v̂ + ε) + wd θ)`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64, t: usize) {
        let (b1, b2) = (Self::BETA1, Self::BETA2);
        let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
        let wd = self.weight_decay;
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            let g = f64::from(g);
            let mn = b1 * f64::from(*m) + (1.0 - b1) * g;
            let vn = b2 * f64::from(*v) + (1.0 - b2) * g * g;
            let pv = f64::from(*p);
            *p = (pv - lr * (mn / c1 / ((vn / c2).sqrt() + Self::EPS) + wd * pv)) as f32;
            *m = mn as f32;
            *v = vn as f32;
        }
    }
}

/// Rescales `grads` so that their global norm is at most `max_norm`; returns the norm before.
pub fn clip_global_norm(grads: &mut [f32], max_norm: f64) -> f64 {
    let norm = grads.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    if norm > max_norm {
        let f = (max_norm / norm) as f32;
        grads.iter_mut().for_each(|v| *v *= f);
    }
    norm
}

/// `ema ← β ema + (1 − β) θ` with `β = min(decay, (1+k)/(10+k))` at step `k` (0-based): the
/// ramp keeps the first weights, which are noise, from dominating the average.
pub fn ema_update(ema: &mut [f32], params: &[f32], decay: f64, k: usize) {
    let b = decay.min((1.0 + k as f64) / (10.0 + k as f64));
    for (e, &p) in ema.iter_mut().zip(params) {
        *e = (b * f64::from(*e) + (1.0 - b) * f64::from(p)) as f32;
    }
}

/// The checks every training file's `[optim]` shares: counts ≥ 1, a positive learning rate
/// and clip. `err(key, message)` makes the error.
pub fn check_optim(counts: [usize; 4], lr: f64, clip: f64, file: &str) -> Result<(), assim_core::AssimError> {
    let err = |k: &str, m: String| assim_core::AssimError::config(file, k, m);
    if counts.contains(&0) {
        return Err(err("optim", "steps, batch, valid_every and checkpoint_every must be ≥ 1".into()));
    }
    for (k, v) in [("optim.lr", lr), ("optim.clip", clip)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(err(k, format!("must be positive (got {v})")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_minimises_a_quadratic_and_clipping_bounds_the_norm() {
        // f(θ) = ½‖θ − c‖²: Adam's first step moves each coordinate by lr (sign of the gradient).
        let c = [1.0f32, -2.0, 3.0];
        let mut p = vec![0.0f32; 3];
        let mut opt = AdamW::new(3, 0.0);
        let g: Vec<f32> = p.iter().zip(&c).map(|(a, b)| a - b).collect();
        opt.step(&mut p, &g, 0.1, 1);
        for (a, b) in p.iter().zip(&c) {
            assert!((a - 0.1 * b.signum()).abs() < 1e-6, "{p:?}");
        }
        for t in 2..2000 {
            let g: Vec<f32> = p.iter().zip(&c).map(|(a, b)| a - b).collect();
            opt.step(&mut p, &g, 0.01, t);
        }
        assert!(p.iter().zip(&c).all(|(a, b)| (a - b).abs() < 1e-2), "{p:?}");
        let mut g = vec![3.0f32, 4.0];
        assert!((clip_global_norm(&mut g, 1.0) - 5.0).abs() < 1e-12);
        assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
    }
}
