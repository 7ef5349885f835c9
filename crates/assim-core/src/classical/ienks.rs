//! The iterative ensemble Kalman smoother, iEnKS (Bocquet & Sakov 2014), in its square-root
//! ("Sqrt") form: each analysis minimises the cost of the window's initial state in the
//! ensemble's span, `J(w) = ½ ‖δ − Y(w)‖² + ½ (N−1) ‖w‖²`, by Gauss–Newton, rerunning the
//! model from the window's start at every iteration, so that a nonlinear model's forecast of
//! the observation is matched, not linearised once (with `lag = 1`: the iterative EnKF of
//! Sakov, Oliver & Bertino 2012).
//!
//! The window (DAW) spans the last `lag` cycles: its control ensemble lives at the start of
//! the window, `lag` analyses back (the initial time while fewer have passed), and only the
//! newest observations are assimilated (single data assimilation: each observation is
//! assimilated once, when it enters the window). After the analysis the smoothed ensemble at
//! the window's start is propagated one cycle to the next window's start. As in DAPPER:
//!
//! - the control is `E = x̄₀ + X₀ (w 1ᵀ + T)` at the window's start, `w` the mean's weights and
//!   `T` the square-root transform; the observation anomalies are "de-conditioned" by `T⁻¹`
//!   before each Gauss–Newton step, `w ← w + (Y₀ᵀY₀ + ζ I)⁻¹ (Y₀ᵀ δ − ζ w)`,
//!   `T = √(N−1) (Y₀ᵀY₀ + ζ I)^{-1/2}`, with `ζ = N − 1`, or EnKF-N's estimate with `xn`;
//! - the analysis scored at the observation time is the last forecast ensemble plus the
//!   linearised effect of the last step (`(Δw 1ᵀ + T − T_prev)` on the first forecast's
//!   anomalies), which saves a model run and makes one iteration the ETKF exactly;
//! - `infl` and `rot` act on the smoothed ensemble at the window's start.

use faer::{Mat, MatRef};

use super::enkf_n::hyperprior_coefficients;
use super::ensemble::{normalised_obs_anomalies, post_process};
use super::window::SlidingWindow;
use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::linalg::{centre, sym_eig};
use crate::rng::AssimRng;

/// The iEnKS (Sqrt) with `n` members over windows of `lag` cycles.
pub struct IEnKS {
    /// Ensemble size `N`.
    pub n: usize,
    /// Largest number of Gauss–Newton iterations per analysis.
    pub n_iter: usize,
    /// Stop when `Δw·Δw < wtol · N` (0: always `n_iter` iterations).
    pub wtol: f64,
    /// EnKF-N's hyperprior confidence, if the inflation is estimated.
    pub xn: Option<f64>,
    /// Factor on the smoothed anomalies.
    pub infl: f64,
    /// Random mean-preserving rotation of the smoothed anomalies.
    pub rot: bool,
    /// The control ensemble at the window's start (`Nx × N`).
    start: Mat<f64>,
    /// The window's cycles after its start.
    window: SlidingWindow,
    /// The estimate scored now: the forecast, then the analysis.
    current: Mat<f64>,
    /// Gauss–Newton iterations over all analyses (a diagnostic).
    iterations: usize,
}

impl IEnKS {
    /// An iEnKS of `n` members.
    pub fn new(
        n: usize,
        lag: usize,
        n_iter: usize,
        wtol: f64,
        xn: Option<f64>,
        infl: f64,
        rot: bool,
    ) -> Self {
        IEnKS {
            n,
            n_iter,
            wtol,
            xn,
            infl,
            rot,
            start: Mat::zeros(0, 0),
            window: SlidingWindow::new(lag),
            current: Mat::zeros(0, 0),
            iterations: 0,
        }
    }

    /// The window's control ensemble `x̄₀ + X₀ G` run through the window's cycles.
    fn run_window(&self, setup: &Setup<'_>, e: &mut Mat<f64>) {
        for &(t0, steps) in self.window.segments() {
            crate::distributed::advance_ensemble(setup.model, e, t0, setup.dt, steps);
        }
    }
}

/// `μ 1ᵀ + A G` for anomalies `A` (`Nx × N`) about `mu`.
fn transformed(a: MatRef<'_, f64>, mu: &[f64], g: MatRef<'_, f64>) -> Mat<f64> {
    let mut e = a * g;
    for j in 0..e.ncols() {
        for (i, m) in mu.iter().enumerate() {
            e[(i, j)] += m;
        }
    }
    e
}

impl Assimilator for IEnKS {
    fn initialise(&mut self, setup: &Setup<'_>, rng: &mut AssimRng) -> Result<(), AssimError> {
        self.start = setup.x0.sample(self.n, rng)?;
        self.current = self.start.clone();
        self.window.reset();
        self.iterations = 0;
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        self.window.push(t0, steps);
        let mut e = self.start.clone();
        self.run_window(setup, &mut e);
        self.current = e;
        Ok(())
    }

    fn analyse(
        &mut self,
        setup: &Setup<'_>,
        y: &[f64],
        _t: f64,
        rng: &mut AssimRng,
    ) -> Result<(), AssimError> {
        let n = self.n;
        let n1 = n as f64 - 1.0;
        let (x0_anom, x0_mean) = centre(self.start.as_ref());
        let mut w = vec![0.0; n];
        let mut t = Mat::<f64>::identity(n, n);
        let mut t_inv = Mat::<f64>::identity(n, n);
        // The first iteration's forecast is the one `forecast` made.
        let mut e = std::mem::replace(&mut self.current, Mat::zeros(0, 0));
        let (xf_anom, _) = centre(e.as_ref());
        let (mut dw, mut t_prev) = (vec![0.0; n], t.clone());
        for iteration in 0..self.n_iter {
            if iteration > 0 {
                let g = Mat::from_fn(n, n, |i, j| w[i] + t[(i, j)]);
                e = transformed(x0_anom.as_ref(), &x0_mean, g.as_ref());
                self.run_window(setup, &mut e);
            }
            let he = crate::distributed::observe_ensemble(setup.obs, e.as_ref());
            let (yn, dy) = normalised_obs_anomalies(he.as_ref(), y, setup.obs_var);
            // De-conditioned anomalies Y₀ = Y T⁻¹ (P × N) and Y₀ᵀY₀ = V Λ Vᵀ.
            let y0 = &yn * &t_inv;
            let (lambda, v) = sym_eig((y0.transpose() * &y0).as_ref())?;
            let lambda: Vec<f64> = lambda.into_iter().map(|l| l.max(0.0)).collect();
            let zeta = match self.xn {
                None => n1,
                Some(xn) => {
                    let (e_n, c_l) = hyperprior_coefficients(&lambda, n, xn, 0.0);
                    n1 * c_l / (e_n + w.iter().map(|x| x * x).sum::<f64>())
                }
            };
            let grad: Vec<f64> = (0..n)
                .map(|j| (0..dy.len()).map(|p| y0[(p, j)] * dy[p]).sum::<f64>() - zeta * w[j])
                .collect();
            let vt_grad: Vec<f64> = (0..n)
                .map(|k| (0..n).map(|j| v[(j, k)] * grad[j]).sum::<f64>() / (lambda[k] + zeta))
                .collect();
            dw = (0..n).map(|i| (0..n).map(|k| v[(i, k)] * vt_grad[k]).sum()).collect();
            t_prev = t;
            t = crate::linalg::sym_fn(&lambda, v.as_ref(), |l| (n1 / (l + zeta)).sqrt());
            t_inv = crate::linalg::sym_fn(&lambda, v.as_ref(), |l| ((l + zeta) / n1).sqrt());
            w.iter_mut().zip(&dw).for_each(|(a, b)| *a += b);
            self.iterations += 1;
            if dw.iter().map(|x| x * x).sum::<f64>() < self.wtol * n as f64 {
                break;
            }
        }
        // The analysis at the observation time: the last forecast plus the last step, linearised
        // on the first forecast's anomalies.
        let step = Mat::from_fn(n, n, |i, j| dw[i] + t[(i, j)] - t_prev[(i, j)]);
        let mut analysis = e;
        analysis += &xf_anom * step;
        if (0..n).any(|j| analysis.col(j).iter().any(|x| !x.is_finite())) {
            return Err(AssimError::Numerical("iEnKS: the analysis is not finite".into()));
        }
        self.current = analysis;
        // The smoothed ensemble at the window's start, moved on one cycle when the window slides.
        let g = Mat::from_fn(n, n, |i, j| w[i] + t[(i, j)]);
        let mut smoothed = transformed(x0_anom.as_ref(), &x0_mean, g.as_ref());
        post_process(&mut smoothed, self.infl, self.rot, rng);
        if let Some((t0, steps)) = self.window.after_analysis() {
            crate::distributed::advance_ensemble(setup.model, &mut smoothed, t0, setup.dt, steps);
        }
        self.start = smoothed;
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::Ensemble { members: self.current.as_ref(), weights: None }
    }

    fn diagnostics(&self) -> Vec<(&'static str, f64)> {
        vec![("iterations_per_analysis", self.iterations as f64 / self.window.analyses().max(1) as f64)]
    }
}

/// `method = "iEnKS"`: the iterative ensemble Kalman smoother (DAPPER's `iEnKS("Sqrt", …)`).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IEnKSConfig {
    /// The update form: only `"Sqrt"` (the square-root transform) is built.
    pub upd_a: String,
    /// Ensemble size.
    pub n: usize,
    /// Cycles in the window (DAPPER's `Lag`; 1: the iterative EnKF).
    #[serde(default = "one_usize")]
    pub lag: usize,
    /// Largest number of Gauss–Newton iterations (DAPPER's `nIter`).
    #[serde(default = "ten")]
    pub n_iter: usize,
    /// Convergence tolerance on `Δw·Δw / N` (0: always `n_iter` iterations).
    #[serde(default)]
    pub wtol: f64,
    /// Estimate the inflation as EnKF-N does, with this hyperprior confidence (DAPPER's `xN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xn: Option<f64>,
    /// Anomaly inflation factor on the smoothed ensemble.
    #[serde(default = "defaults::one")]
    pub infl: f64,
    /// Random rotation.
    #[serde(default)]
    pub rot: bool,
}

fn one_usize() -> usize {
    1
}

fn ten() -> usize {
    10
}

impl Method for IEnKSConfig {
    const NAME: &'static str = "iEnKS";
    fn auto_label(&self) -> String {
        let mut s = format!("iEnKS {} N={} Lag={} nIter={}", self.upd_a, self.n, self.lag, self.n_iter);
        if let Some(xn) = self.xn {
            s.push_str(&format!(" xN={xn}"));
        }
        super::with_infl_rot(s, self.infl, self.rot)
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        if self.upd_a != "Sqrt" {
            return Err(check.error(
                "upd_a",
                format!("only \"Sqrt\" (the square-root iEnKS) is built (got {:?})", self.upd_a),
            ));
        }
        check.ensemble_size("n", self.n)?;
        check.inflation("infl", self.infl)?;
        super::window::check_lag(check, self.lag)?;
        if self.n_iter == 0 {
            return Err(check.error("n_iter", "must be ≥ 1"));
        }
        if !(self.wtol.is_finite() && self.wtol >= 0.0) {
            return Err(check.error("wtol", format!("must be ≥ 0 (got {})", self.wtol)));
        }
        if let Some(xn) = self.xn {
            check.positive("xn", xn)?;
        }
        Ok(())
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        Ok(Box::new(IEnKS::new(self.n, self.lag, self.n_iter, self.wtol, self.xn, self.infl, self.rot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classical::Gaussian;
    use crate::dynamics::LinearModel;
    use crate::obs::PartialIdentity;

    /// The window holds the last `lag` cycles: after analysis `j` its start is analysis
    /// `max(0, j + 1 − lag)`, so `min(j, lag − 1)` cycles wait for the next one.
    #[test]
    fn the_window_slides_one_cycle_per_analysis_once_full() {
        let model = LinearModel { m: Mat::from_fn(2, 2, |i, j| if i == j { 0.9 } else { 0.1 }) };
        let obs = PartialIdentity::new(2, vec![0]).unwrap();
        let x0 = Gaussian::isotropic(vec![1.0, -1.0], 1.0);
        let setup = Setup {
            model: &model,
            dt: 1.0,
            obs: &obs,
            obs_var: &[0.5],
            x0: &x0,
            climatology: &x0,
            localizer: None,
        };
        let mut rng = crate::rng::stream(1, "ienks-window");
        for lag in [1, 2, 4] {
            let mut f = IEnKS::new(5, lag, 2, 0.0, None, 1.0, false);
            f.initialise(&setup, &mut rng).unwrap();
            for j in 1..=7 {
                f.forecast(&setup, (j - 1) as f64, 1).unwrap();
                assert_eq!(f.window.segments().len(), j.min(lag), "lag {lag}, forecast {j}");
                f.analyse(&setup, &[0.3], j as f64, &mut rng).unwrap();
                assert_eq!(f.window.segments().len(), j.min(lag - 1), "lag {lag}, analysis {j}");
                // The first waiting cycle starts at the window's start.
                let start = (j + 1).saturating_sub(lag) as f64;
                assert_eq!(f.window.segments().first().map(|s| s.0), (j.min(lag - 1) > 0).then_some(start));
            }
        }
    }
}
