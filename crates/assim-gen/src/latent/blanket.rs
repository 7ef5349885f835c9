//! SDA's trajectory prior in the latent, as SLAMS uses it: a denoiser over a "Markov
//! blanket" of `2k + 1` consecutive windows, the whole trajectory's denoiser built from local
//! ones ([`Trajectory`]), and what a filter needs to cycle it: the past windows it remembers
//! ([`History`]) and the operator that holds the trajectory's past states to them
//! ([`PinnedPast`]).
//!
//! Shapes: one window's latent is `nz` numbers (`[c, h, w]` channel-major); a trajectory of
//! `len` windows is their concatenation `[n, len·nz]`, oldest first, which is the latent grid
//! with `len·c` channels. Its condition is the windows' backgrounds `[n, len·nz]` followed by
//! their observation channels `[n, len·ne]` (`ne = 0` without them).
//!
//! Filtering with a trajectory prior: the window being analysed is the trajectory's last; its
//! past windows are the analyses already made, encoded, held by a Gaussian likelihood of
//! standard deviation `blanket_sigma` (in the prior's variable) beside the observations. The
//! first windows of a run have fewer past analyses than the trajectory: the missing ones are
//! unobserved (an infinite variance) and take the first remembered window's background, so the
//! prior samples them; with a classical spin-up, its analyses are remembered, and the
//! generative method starts with a full history.

use std::collections::VecDeque;

use burn::tensor::Tensor;

use crate::obs::Observe;
use crate::prior::denoiser::Denoiser;

/// The windows `s..s + 2k + 1` of every trajectory seen by the local denoiser: the layout of
/// a trajectory's denoiser in terms of its local ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Half-width `k` of the blanket (the local denoiser sees `2k + 1` windows).
    pub k: usize,
    /// Windows of the whole trajectory (`≥ 2k + 1`).
    pub len: usize,
    /// Latent numbers per window.
    pub nz: usize,
    /// Background numbers per window in the condition (`nz`, or 0 for an unconditional prior).
    pub nb: usize,
    /// Observation-channel numbers per window in the condition (0 without them).
    pub ne: usize,
}

impl Layout {
    /// Windows the local denoiser sees.
    pub fn blanket(&self) -> usize {
        2 * self.k + 1
    }

    /// The local window whose estimate of window `i` the trajectory takes, and `i`'s place in
    /// it: the blanket centred on `i`, moved inside the trajectory at its ends (SDA's
    /// construction: the score of `x_i` depends on its Markov blanket only).
    pub fn source(&self, i: usize) -> (usize, usize) {
        let last = self.len - self.blanket();
        let s = i.saturating_sub(self.k).min(last);
        (s, i - s)
    }

    /// The condition `[n, blanket·(nb + ne)]` of the local window starting at `s`, from the
    /// trajectory's `[n, len·(nb + ne)]`.
    fn local_condition(&self, c: &Tensor<2>, s: usize) -> Tensor<2> {
        let w = self.blanket();
        let mut parts = Vec::with_capacity(2);
        if self.nb > 0 {
            parts.push(c.clone().narrow(1, s * self.nb, w * self.nb));
        }
        if self.ne > 0 {
            parts.push(c.clone().narrow(1, self.len * self.nb + s * self.ne, w * self.ne));
        }
        Tensor::cat(parts, 1)
    }
}

/// The denoiser of a whole trajectory of `len` windows from a local denoiser over `2k + 1`:
/// each window's estimate is the local one of the blanket around it ([`Layout::source`]),
/// all local windows evaluated as one batch. With `len = 2k + 1` it is the local denoiser.
pub struct Trajectory<'a> {
    local: &'a dyn Denoiser,
    layout: Layout,
}

impl<'a> Trajectory<'a> {
    /// The trajectory denoiser of `layout` from `local`.
    pub fn new(local: &'a dyn Denoiser, layout: Layout) -> Self {
        Trajectory { local, layout }
    }
}

impl Denoiser for Trajectory<'_> {
    /// `x`: `[n, len·nz]`; `cond`: `[n, len·(nb + ne)]`.
    fn denoise(&self, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let l = &self.layout;
        let w = l.blanket();
        if l.len == w {
            return self.local.denoise(x, sigma, cond);
        }
        let n = x.dims()[0];
        let starts = l.len - w + 1;
        let xs = Tensor::cat((0..starts).map(|s| x.clone().narrow(1, s * l.nz, w * l.nz)).collect(), 0);
        let cs = cond.map(|c| Tensor::cat((0..starts).map(|s| l.local_condition(c, s)).collect(), 0));
        let d = self.local.denoise(xs, sigma, cs.as_ref());
        let blocks = (0..l.len)
            .map(|i| {
                let (s, j) = l.source(i);
                d.clone().narrow(0, s * n, n).narrow(1, j * l.nz, l.nz)
            })
            .collect();
        Tensor::cat(blocks, 1)
    }
}

/// An operator on trajectories `[n, past + nz]` that observes the past windows themselves
/// (the identity, variances `var`) and the last window through `inner`: how the analysed
/// trajectory is held to the analyses already made.
pub struct PinnedPast<'a> {
    inner: &'a dyn Observe,
    past: usize,
    var: Tensor<2>,
}

impl<'a> PinnedPast<'a> {
    /// `inner` observes the last window; the first `past` numbers are observed with
    /// variances `var` (`[1, past]`).
    pub fn new(inner: &'a dyn Observe, past: usize, var: Tensor<2>) -> Self {
        debug_assert_eq!(var.dims()[1], past, "one variance per pinned number");
        PinnedPast { inner, past, var }
    }

    fn split(&self, x: &Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [_, m] = x.dims();
        (x.clone().narrow(1, 0, self.past), x.clone().narrow(1, self.past, m - self.past))
    }
}

impl Observe for PinnedPast<'_> {
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let (p, last) = self.split(&x);
        Tensor::cat(vec![p, self.inner.apply(last)], 1)
    }

    fn var(&self) -> Tensor<2> {
        Tensor::cat(vec![self.var.clone(), self.inner.var()], 1)
    }

    fn vjp(&self, x: &Tensor<2>, v: Tensor<2>) -> Tensor<2> {
        let (_, last) = self.split(x);
        let p = v.dims()[1];
        let v_past = v.clone().narrow(1, 0, self.past);
        Tensor::cat(vec![v_past, self.inner.vjp(&last, v.narrow(1, self.past, p - self.past))], 1)
    }

    fn jvp(&self, x: &Tensor<2>, w: Tensor<2>) -> Tensor<2> {
        let (_, last) = self.split(x);
        let (w_past, w_last) = self.split(&w);
        Tensor::cat(vec![w_past, self.inner.jvp(&last, w_last)], 1)
    }

    fn gain2(&self, x: &Tensor<2>) -> Tensor<2> {
        let (_, last) = self.split(x);
        let g = self.inner.gain2(&last);
        let ones = Tensor::<2>::ones([g.dims()[0], self.past], &g.device());
        Tensor::cat(vec![ones, g], 1)
    }
}

/// One past window as a trajectory prior remembers it, in the prior's normalised latent
/// (`[1, nz]` each; channels `[1, ne]`).
#[derive(Clone)]
pub struct Window {
    /// The background (forecast mean) the window was analysed from.
    pub background: Tensor<2>,
    /// The analysis (mean) it ended with.
    pub analysis: Tensor<2>,
    /// Its standardised observation channels (a prior conditioned on them).
    pub channels: Option<Tensor<2>>,
}

/// The last `keep` windows a filter analysed (oldest first).
#[derive(Clone, Default)]
pub struct History {
    windows: VecDeque<Window>,
    keep: usize,
}

impl History {
    /// A history of the last `keep` windows.
    pub fn new(keep: usize) -> Self {
        History { windows: VecDeque::with_capacity(keep + 1), keep }
    }

    /// Remembers one more window, forgetting the oldest beyond `keep`.
    pub fn push(&mut self, w: Window) {
        self.windows.push_back(w);
        while self.windows.len() > self.keep {
            self.windows.pop_front();
        }
    }

    /// Forgets every window (a new run).
    pub fn clear(&mut self) {
        self.windows.clear();
    }

    /// The `keep` past windows of the trajectory, oldest first: `None` for the ones before
    /// the first remembered window.
    pub fn past(&self) -> Vec<Option<&Window>> {
        let missing = self.keep - self.windows.len();
        (0..missing).map(|_| None).chain(self.windows.iter().map(Some)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior::denoiser::GaussianPrior;
    use burn::tensor::TensorData;
    use faer::Mat;

    fn device() -> burn::tensor::Device {
        crate::tensor::compute_device().unwrap()
    }

    /// A stationary Gaussian AR(1) chain `x_{i+1} = a x_i + e` of `len` scalar windows (unit
    /// variance): covariance `a^|i−j|`.
    fn ar1(len: usize, a: f64) -> Mat<f64> {
        Mat::from_fn(len, len, |i, j| a.powi((i as i32 - j as i32).abs()))
    }

    fn rows(t: &Tensor<2>) -> Vec<f64> {
        t.to_data().iter::<f32>().map(f64::from).collect()
    }

    #[test]
    fn a_trajectory_as_long_as_its_blanket_is_the_local_denoiser() {
        let dev = device();
        let local = GaussianPrior::new(vec![0.0; 3], &ar1(3, 0.8), &dev).unwrap();
        let t = Trajectory::new(&local, Layout { k: 1, len: 3, nz: 1, nb: 0, ne: 0 });
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.3f32, -1.0, 2.0], [1, 3]), &dev);
        assert_eq!(rows(&t.denoise(x.clone(), 0.7, None)), rows(&local.denoise(x, 0.7, None)));
    }

    /// SDA's construction is exact for a Markov chain whose windows are known exactly: at a
    /// small noise level each window's posterior mean depends on its blanket only, so the
    /// composed denoiser of a long AR(1) trajectory (k = 1, the exact local denoiser of 3
    /// windows) matches the exact denoiser of the whole trajectory; at a large noise level the
    /// far windows matter and it does not (the approximation SDA makes, larger for k = 1
    /// than k = 2).
    #[test]
    fn the_composed_denoiser_of_a_markov_chain_approaches_the_exact_one_at_small_noise() {
        let dev = device();
        let (len, a) = (9, 0.8);
        let whole = GaussianPrior::new(vec![0.0; len], &ar1(len, a), &dev).unwrap();
        let x: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.7).sin() * 1.5).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [1, len]), &dev);
        let err = |k: usize, sigma: f64| {
            let local = GaussianPrior::new(vec![0.0; 2 * k + 1], &ar1(2 * k + 1, a), &dev).unwrap();
            let t = Trajectory::new(&local, Layout { k, len, nz: 1, nb: 0, ne: 0 });
            let (c, e) =
                (rows(&t.denoise(x.clone(), sigma, None)), rows(&whole.denoise(x.clone(), sigma, None)));
            c.iter().zip(&e).map(|(c, e)| (c - e).abs()).fold(0.0, f64::max)
        };
        // x̂ = x − σ² Σ⁻¹ x + O(σ⁴) and an AR(1)'s precision Σ⁻¹ is tridiagonal, so the blanket
        // gives the exact σ² term; the σ⁴ term (Σ⁻² is pentadiagonal, entries ≤ 30 here) is
        // ≈ 1e-5 at σ = 0.02, and the f32 arithmetic ≈ 1e-6.
        assert!(err(1, 0.02) < 1e-4, "k = 1, σ = 0.02: {}", err(1, 0.02));
        // At σ = 2 the observations of far windows carry weight: a visible error, smaller
        // with a wider blanket.
        assert!(err(1, 2.0) > 1e-2, "k = 1, σ = 2: {}", err(1, 2.0));
        assert!(err(2, 2.0) < err(1, 2.0), "k = 2 {} against k = 1 {}", err(2, 2.0), err(1, 2.0));
    }

    #[test]
    fn each_window_takes_the_blanket_centred_on_it_moved_inside_at_the_ends() {
        let l = Layout { k: 1, len: 5, nz: 4, nb: 4, ne: 2 };
        let got: Vec<(usize, usize)> = (0..5).map(|i| l.source(i)).collect();
        assert_eq!(got, vec![(0, 0), (0, 1), (1, 1), (2, 1), (2, 2)]);
        // The local condition takes the window's backgrounds, then its channels.
        let dev = device();
        let c: Vec<f32> = (0..5 * 4 + 5 * 2).map(|v| v as f32).collect();
        let c = Tensor::<2>::from_data(TensorData::new(c, [1, 30]), &dev);
        let local = rows(&l.local_condition(&c, 2));
        let want: Vec<f64> = (8..20).chain(24..30).map(f64::from).collect();
        assert_eq!(local, want);
    }

    #[test]
    fn a_history_keeps_the_last_windows_and_marks_the_missing_ones() {
        let dev = device();
        let w = |v: f32| Window {
            background: Tensor::<2>::full([1, 1], v, &dev),
            analysis: Tensor::<2>::full([1, 1], v, &dev),
            channels: None,
        };
        let mut h = History::new(2);
        assert!(h.past().iter().all(Option::is_none));
        h.push(w(1.0));
        assert_eq!(h.past().iter().map(Option::is_some).collect::<Vec<_>>(), vec![false, true]);
        h.push(w(2.0));
        h.push(w(3.0));
        let past: Vec<f64> = h.past().iter().map(|p| rows(&p.unwrap().analysis)[0]).collect();
        assert_eq!(past, vec![2.0, 3.0]);
    }
}
