//! The finite-size ensemble Kalman filter, EnKF-N (Bocquet 2011; Bocquet, Raanes & Hannart
//! 2015): the symmetric square-root ETKF whose prior is not the ensemble's Gaussian but its
//! marginal over the unknown mean and covariance (a Jeffreys hyperprior), which makes the
//! analysis estimate its own inflation at every cycle: no `infl` to tune where the model is
//! perfect.
//!
//! In the dual form the inflation `l` (a factor on the forecast anomalies) is the minimiser of
//! `D(l) = Σᵢ duᵢ² / (l² sᵢ² + N − 1) + e_N / l² + c_L ln l²` over `l > 0`, where `sᵢ` are the
//! singular values of the normalised observation anomalies `Y = R^{-1/2}(HE − H̄)` and `duᵢ`
//! the normalised innovation's coordinates along their left singular vectors. With the
//! forecast anomalies multiplied by `l`, the update is the ETKF's. `e_N = (N+1)/N` and
//! `c_L = (N+g)/(N−1)` are the hyperprior's constants, corrected towards no inflation where
//! the observations carry little weight (Bocquet et al. 2015, eq. 36, as DAPPER does) and
//! multiplied by `x_N`, the hyperprior's confidence (1: fully agnostic; 2 for the nearly
//! linear, deterministic regimes of DAPPER's tables).

use faer::{Mat, MatRef};

use super::ensemble::{local_etkf, normalised_obs_anomalies, post_process};
use super::{EnsembleFilter, Setup};
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::experiment::{Method, MethodCheck, defaults};
use crate::linalg::{centre, sym_eig};
use crate::rng::AssimRng;

/// EnKF-N with `n` members.
pub struct EnKFN {
    /// Ensemble size `N`.
    pub n: usize,
    /// Confidence of the inflation hyperprior (`xN`).
    pub xn: f64,
    /// Nullity correction `g` of the hyperprior (DAPPER's default 0).
    pub g: f64,
    /// Factor on the analysis anomalies (1: none, as the method intends).
    pub infl: f64,
    /// Random mean-preserving rotation of the anomalies after each analysis.
    pub rot: bool,
    /// The inflation of the last analysis (a diagnostic).
    pub last_inflation: f64,
    e: Mat<f64>,
}

impl EnKFN {
    /// An EnKF-N of `n` members.
    pub fn new(n: usize, xn: f64, g: f64, infl: f64, rot: bool) -> Self {
        EnKFN { n, xn, g, infl, rot, last_inflation: 1.0, e: Mat::zeros(0, 0) }
    }
}

/// The hyperprior's constants `(e_N, c_L)` for `N` members whose normalised observation
/// anomalies have squared singular values `lambda` (`N` of them, zeros included).
pub fn hyperprior_coefficients(lambda: &[f64], n: usize, xn: f64, g: f64) -> (f64, f64) {
    let (nf, n1) = (n as f64, n as f64 - 1.0);
    let (mut e_n, mut c_l) = ((nf + 1.0) / nf, (nf + g) / n1);
    // The prior's mode of l is √(e_N/c_L) < 1; where the observations carry little weight
    // (I − KH ≈ I, here its mean eigenvalue) it is pulled to 1, for no update should then inflate.
    let prior_mode = e_n / c_l;
    let i_kh = lambda.iter().map(|l| n1 / (l + n1)).sum::<f64>() / lambda.len() as f64;
    let correction = prior_mode.powf(i_kh).sqrt();
    e_n /= correction;
    c_l *= correction;
    (e_n * xn, c_l * xn)
}

/// The minimiser `l > 0` of the dual cost for squared singular values `lambda` and the squared
/// projections `q² = λ du²` of the innovation (Newton on `D'(l) = 0` from `l = 1`, halving or
/// doubling where a step would leave `l > 0` or the curvature is not positive).
pub fn dual_inflation(lambda: &[f64], q2: &[f64], n1: f64, e_n: f64, c_l: f64) -> f64 {
    let derivatives = |l: f64| {
        let (mut s1, mut s2) = (0.0, 0.0);
        for (&lam, &q) in lambda.iter().zip(q2) {
            let d = l * l * lam + n1;
            s1 += q / (d * d);
            s2 += lam * q / (d * d * d);
        }
        let first = -2.0 * l * s1 - 2.0 * e_n / l.powi(3) + 2.0 * c_l / l;
        let second = -2.0 * s1 + 8.0 * l * l * s2 + 6.0 * e_n / l.powi(4) - 2.0 * c_l / (l * l);
        (first, second)
    };
    let mut l = 1.0f64;
    for _ in 0..100 {
        let (d1, d2) = derivatives(l);
        let next = if d2 > 0.0 && l - d1 / d2 > 0.0 {
            l - d1 / d2
        } else if d1 > 0.0 {
            0.5 * l
        } else {
            2.0 * l
        };
        let done = (next - l).abs() <= 1e-12 * l;
        l = next;
        if done {
            break;
        }
    }
    l
}

impl EnsembleFilter for EnKFN {
    ensemble_accessors!(n, e);

    fn update(&mut self, setup: &Setup<'_>, y: &[f64], rng: &mut AssimRng) -> Result<(), AssimError> {
        let he = crate::distributed::observe_ensemble(setup.obs, self.e.as_ref());
        let (mut a, mu) = centre(self.e.as_ref());
        let (mut yn, dy) = normalised_obs_anomalies(he.as_ref(), y, setup.obs_var);
        let n = self.n;
        let (lambda, q2) = spectrum(yn.as_ref(), &dy)?;
        let (e_n, c_l) = hyperprior_coefficients(&lambda, n, self.xn, self.g);
        let l = dual_inflation(&lambda, &q2, n as f64 - 1.0, e_n, c_l);
        if !l.is_finite() {
            return Err(AssimError::Numerical("EnKF-N: the inflation is not finite".into()));
        }
        self.last_inflation = l;
        // The forecast anomalies (and so Y) inflated by l, then the ETKF.
        a *= faer::Scale(l);
        yn *= faer::Scale(l);
        self.e = local_etkf(a.as_ref(), &mu, yn.as_ref(), &dy)?;
        post_process(&mut self.e, self.infl, self.rot, rng);
        Ok(())
    }
}

/// The squared singular values `λ` of the normalised observation anomalies `Y` (`P × N`),
/// padded with zeros to `N`, and the squared projections `q² = λ du²` of the normalised
/// innovation `δ` on them: from `Y Yᵀ` (`P × P`) when `P < N`, otherwise from `YᵀY`.
fn spectrum(y: MatRef<'_, f64>, dy: &[f64]) -> Result<(Vec<f64>, Vec<f64>), AssimError> {
    if y.nrows() < y.ncols() { spectrum_obs_space(y, dy) } else { spectrum_ensemble_space(y, dy) }
}

/// [`spectrum`] from `Y Yᵀ = U Λ Uᵀ`: `q² = λ (Uᵀδ)²`.
fn spectrum_obs_space(y: MatRef<'_, f64>, dy: &[f64]) -> Result<(Vec<f64>, Vec<f64>), AssimError> {
    let (p, n) = (y.nrows(), y.ncols());
    let (lam, u) = sym_eig((y * y.transpose()).as_ref())?;
    let mut lambda: Vec<f64> = lam.into_iter().map(|l| l.max(0.0)).collect();
    let mut q2: Vec<f64> =
        (0..p).map(|k| lambda[k] * (0..p).map(|i| u[(i, k)] * dy[i]).sum::<f64>().powi(2)).collect();
    lambda.resize(n.max(p), 0.0);
    q2.resize(n.max(p), 0.0);
    Ok((lambda, q2))
}

/// [`spectrum`] from `YᵀY = V Λ Vᵀ`: `q² = (Vᵀ Yᵀ δ)²`.
fn spectrum_ensemble_space(y: MatRef<'_, f64>, dy: &[f64]) -> Result<(Vec<f64>, Vec<f64>), AssimError> {
    let (p, n) = (y.nrows(), y.ncols());
    let (lam, v) = sym_eig((y.transpose() * y).as_ref())?;
    let lambda: Vec<f64> = lam.into_iter().map(|l| l.max(0.0)).collect();
    let ytd: Vec<f64> = (0..n).map(|j| (0..p).map(|i| y[(i, j)] * dy[i]).sum()).collect();
    let q2 = (0..n).map(|k| (0..n).map(|j| v[(j, k)] * ytd[j]).sum::<f64>().powi(2)).collect();
    Ok((lambda, q2))
}

/// `method = "EnKF_N"`: the finite-size EnKF (DAPPER's `EnKF_N`, dual form).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnKFNConfig {
    /// Ensemble size.
    pub n: usize,
    /// Confidence of the inflation hyperprior (DAPPER's `xN`; 1 agnostic, 2 for near-linear
    /// regimes).
    #[serde(default = "defaults::one")]
    pub xn: f64,
    /// Nullity correction of the hyperprior (DAPPER's `g`).
    #[serde(default)]
    pub g: f64,
    /// Anomaly inflation factor after the analysis (1: none, as the method intends).
    #[serde(default = "defaults::one")]
    pub infl: f64,
    /// Random rotation.
    #[serde(default)]
    pub rot: bool,
}

impl Method for EnKFNConfig {
    const NAME: &'static str = "EnKF_N";
    fn auto_label(&self) -> String {
        let mut s = format!("EnKF_N N={}", self.n);
        if self.xn != 1.0 {
            s.push_str(&format!(" xN={}", self.xn));
        }
        super::with_infl_rot(s, self.infl, self.rot)
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::SmallState]
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        check.ensemble_size("n", self.n)?;
        check.inflation("infl", self.infl)?;
        check.positive("xn", self.xn)?;
        if !(self.g.is_finite() && self.g >= 0.0) {
            return Err(check.error("g", format!("must be ≥ 0 (got {})", self.g)));
        }
        Ok(())
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(EnKFN::new(self.n, self.xn, self.g, self.infl, self.rot)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inflation is the stationary point of the dual cost: D'(l) = 0 by central
    /// differences of D itself, and D is larger on both sides.
    #[test]
    fn the_inflation_minimises_the_dual_cost() {
        let lambda = [0.0, 0.3, 2.0, 9.0, 40.0];
        let du2 = [0.0, 1.3, 0.2, 5.0, 2.5];
        let q2: Vec<f64> = lambda.iter().zip(du2).map(|(l, d)| l * d).collect();
        let n1 = 4.0;
        let (e_n, c_l) = hyperprior_coefficients(&lambda, 5, 1.0, 0.0);
        let cost = |l: f64| {
            lambda.iter().zip(du2).map(|(lam, d)| d / (l * l * lam + n1)).sum::<f64>()
                + e_n / (l * l)
                + c_l * (l * l).ln()
        };
        let l = dual_inflation(&lambda, &q2, n1, e_n, c_l);
        let h = 1e-5;
        assert!(((cost(l + h) - cost(l - h)) / (2.0 * h)).abs() < 1e-8, "{l}");
        assert!(cost(l * 1.01) > cost(l) && cost(l * 0.99) > cost(l), "{l}");
        // Innovations far larger than the spread ask for inflation; none ask for deflation.
        let big: Vec<f64> = q2.iter().map(|x| 100.0 * x).collect();
        assert!(dual_inflation(&lambda, &big, n1, e_n, c_l) > 1.5);
        assert!(dual_inflation(&lambda, &[0.0; 5], n1, e_n, c_l) < 1.0);
    }

    /// The observation-space and ensemble-space spectra agree (sorted, zeros padded), and so
    /// does the inflation computed from them.
    #[test]
    fn both_spectra_give_the_same_inflation() {
        let mut rng = crate::rng::stream(5, "enkf-n");
        let (p, n) = (6, 15);
        let raw = Mat::from_fn(p, n, |_, _| 0.7 * crate::rng::normal(&mut rng));
        let (y, _) = centre(raw.as_ref());
        let dy: Vec<f64> = (0..p).map(|_| 2.0 * crate::rng::normal(&mut rng)).collect();
        let sorted = |(l, q): (Vec<f64>, Vec<f64>)| {
            let mut pairs: Vec<(f64, f64)> = l.into_iter().zip(q).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            pairs
        };
        let a = sorted(spectrum_obs_space(y.as_ref(), &dy).unwrap());
        let b = sorted(spectrum_ensemble_space(y.as_ref(), &dy).unwrap());
        assert_eq!(a.len(), n);
        for ((la, qa), (lb, qb)) in a.iter().zip(&b) {
            assert!(
                (la - lb).abs() < 1e-10 * (1.0 + la) && (qa - qb).abs() < 1e-9 * (1.0 + qa),
                "{la} {lb} {qa} {qb}"
            );
        }
        let l = |s: &[(f64, f64)]| {
            let lam: Vec<f64> = s.iter().map(|x| x.0).collect();
            let q2: Vec<f64> = s.iter().map(|x| x.1).collect();
            let (e_n, c_l) = hyperprior_coefficients(&lam, n, 1.0, 0.0);
            dual_inflation(&lam, &q2, n as f64 - 1.0, e_n, c_l)
        };
        assert!((l(&a) - l(&b)).abs() < 1e-10, "{} {}", l(&a), l(&b));
    }

    /// Without observation weight (I − KH = I) the corrected prior mode of l is 1, and the
    /// constants are the uncorrected ones times xN where the correction is neutral.
    #[test]
    fn the_hyperprior_correction_vanishes_without_observation_weight() {
        let (e_n, c_l) = hyperprior_coefficients(&[0.0; 10], 10, 2.0, 0.0);
        assert!((e_n / c_l - 1.0).abs() < 1e-12, "{e_n} {c_l}");
        let (e1, c1) = hyperprior_coefficients(&[1e12; 10], 10, 1.0, 0.0);
        assert!((e1 - 1.1).abs() < 1e-9 && (c1 - 10.0 / 9.0).abs() < 1e-9, "{e1} {c1}");
    }
}
