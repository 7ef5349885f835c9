//! Pieces shared by the ensemble filters: the ETKF transform and the post-processing of
//! anomalies (inflation and random rotation).

use faer::{Mat, MatMut, MatRef};

use crate::AssimError;
use crate::linalg::{random_mean_preserving_rotation, sym_eig};
use crate::rng::AssimRng;

/// The ensemble-space update of the ETKF: new member `j` is `μ + A (w + T[:, j])`.
pub struct EnsembleTransform {
    /// Mean-update weights `w = (YᵀY + (N−1)I)⁻¹ Yᵀ δ` (length `N`).
    pub w: Vec<f64>,
    /// Symmetric square-root transform `T = √(N−1) (YᵀY + (N−1)I)^{-1/2}` (`N × N`).
    pub t: Mat<f64>,
}

impl EnsembleTransform {
    /// `G = w 1ᵀ + T`, so that the analysis ensemble is `μ 1ᵀ + A G`.
    pub fn combined(&self) -> Mat<f64> {
        let n = self.w.len();
        Mat::from_fn(n, n, |i, j| self.w[i] + self.t[(i, j)])
    }
}

/// ETKF (symmetric square root) weights from normalised observation anomalies
/// `Y = R^{-1/2}(H E − H̄)` (`P × N`) and normalised innovation `δ = R^{-1/2}(y − H̄)`.
///
/// With `C = YᵀY + (N−1)I`: `w = C⁻¹Yᵀδ`, `T = √(N−1) C^{-1/2}`. Like DAPPER, the
/// decomposition is done in the smaller of ensemble space (`N × N`) and observation space
/// (`P × P`, via `G = YYᵀ`); the two agree to rounding (tested).
pub fn etkf_transform(y: MatRef<'_, f64>, dy: &[f64]) -> Result<EnsembleTransform, AssimError> {
    if y.nrows() < y.ncols() { etkf_obs_space(y, dy) } else { etkf_ensemble_space(y, dy) }
}

/// ETKF through the eigen-decomposition of `C = YᵀY + (N−1)I` (`N × N`).
fn etkf_ensemble_space(y: MatRef<'_, f64>, dy: &[f64]) -> Result<EnsembleTransform, AssimError> {
    let n = y.ncols();
    let n1 = n as f64 - 1.0;
    let mut c = y.transpose() * y;
    for i in 0..n {
        c[(i, i)] += n1;
    }
    let (d, v) = sym_eig(c.as_ref())?;
    if d.iter().any(|&x| x <= 0.0) {
        return Err(AssimError::Numerical("ETKF: ensemble-space matrix not positive".into()));
    }
    let t = crate::linalg::sym_fn(&d, v.as_ref(), |x| (n1 / x).sqrt());
    // w = V diag(1/d) Vᵀ Yᵀ δ
    let ytd: Vec<f64> = (0..n).map(|j| (0..dy.len()).map(|p| y[(p, j)] * dy[p]).sum()).collect();
    let vt_ytd: Vec<f64> = (0..n).map(|k| (0..n).map(|j| v[(j, k)] * ytd[j]).sum::<f64>() / d[k]).collect();
    let w = (0..n).map(|i| (0..n).map(|k| v[(i, k)] * vt_ytd[k]).sum()).collect();
    Ok(EnsembleTransform { w, t })
}

/// ETKF through `G = YYᵀ = U Λ Uᵀ` (`P × P`): `w = Yᵀ U (Λ + (N−1)I)⁻¹ Uᵀ δ` and
/// `T = I + Bᵀ diag(g(λ)) B` with `B = UᵀY`, `g(λ) = −1/(√(N−1+λ)(√(N−1) + √(N−1+λ)))`
/// (the exact `(f(N−1+λ) − f(N−1))/λ` for `f(x) = √((N−1)/x)`, stable as `λ → 0`).
fn etkf_obs_space(y: MatRef<'_, f64>, dy: &[f64]) -> Result<EnsembleTransform, AssimError> {
    let (p, n) = (y.nrows(), y.ncols());
    let n1 = n as f64 - 1.0;
    let g = y * y.transpose();
    let (lam, u) = sym_eig(g.as_ref())?;
    let lam: Vec<f64> = lam.into_iter().map(|l| l.max(0.0)).collect();
    let b = u.transpose() * y; // P × N
    let utd: Vec<f64> =
        (0..p).map(|k| (0..p).map(|i| u[(i, k)] * dy[i]).sum::<f64>() / (n1 + lam[k])).collect();
    let w = (0..n).map(|j| (0..p).map(|k| b[(k, j)] * utd[k]).sum()).collect();
    let gb = Mat::from_fn(p, n, |k, j| {
        let s = (n1 + lam[k]).sqrt();
        -b[(k, j)] / (s * (n1.sqrt() + s))
    });
    let mut t = b.transpose() * gb;
    for i in 0..n {
        t[(i, i)] += 1.0;
    }
    Ok(EnsembleTransform { w, t })
}

/// Multiplies the anomalies by `infl` and, if `rot`, rotates them by a random mean-preserving
/// orthogonal matrix (DAPPER's `post_process`). `e` is `Nx × N`.
pub fn post_process(e: &mut Mat<f64>, infl: f64, rot: bool, rng: &mut AssimRng) {
    if infl == 1.0 && !rot {
        return;
    }
    let (a, mu) = crate::linalg::centre(e.as_ref());
    let n = e.ncols();
    let mut g = Mat::<f64>::zeros(n, n);
    if rot {
        g = random_mean_preserving_rotation(n, rng) * faer::Scale(infl);
    } else {
        for i in 0..n {
            g[(i, i)] = infl;
        }
    }
    apply_transform(e.as_mut(), &mu, a.as_ref(), g.as_ref());
}

/// Writes `μ 1ᵀ + A G` into `e` (every argument in ensemble-column layout).
pub fn apply_transform(mut e: MatMut<'_, f64>, mu: &[f64], a: MatRef<'_, f64>, g: MatRef<'_, f64>) {
    let ag = a * g;
    for j in 0..e.ncols() {
        for i in 0..e.nrows() {
            e[(i, j)] = mu[i] + ag[(i, j)];
        }
    }
}

/// Normalised observation anomalies and innovation of an ensemble: `(Y, δ, Ȳ)` with
/// `Y = R^{-1/2}(HE − H̄)`, `δ = R^{-1/2}(y − H̄)`.
pub fn normalised_obs_anomalies(he: MatRef<'_, f64>, y: &[f64], obs_var: &[f64]) -> (Mat<f64>, Vec<f64>) {
    let (mut yo, ybar) = crate::linalg::centre(he);
    let inv_sd: Vec<f64> = obs_var.iter().map(|v| 1.0 / v.sqrt()).collect();
    for j in 0..yo.ncols() {
        for p in 0..yo.nrows() {
            yo[(p, j)] *= inv_sd[p];
        }
    }
    let dy = (0..y.len()).map(|p| (y[p] - ybar[p]) * inv_sd[p]).collect();
    (yo, dy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_and_ensemble_space_forms_agree() {
        let mut rng = crate::rng::stream(3, "etkf");
        for (p, n) in [(5, 12), (29, 40), (1, 3)] {
            let raw = Mat::from_fn(p, n, |_, _| 0.4 * crate::rng::normal(&mut rng));
            let (y, _) = crate::linalg::centre(raw.as_ref());
            let dy: Vec<f64> = (0..p).map(|_| crate::rng::normal(&mut rng)).collect();
            let a = etkf_obs_space(y.as_ref(), &dy).unwrap();
            let b = etkf_ensemble_space(y.as_ref(), &dy).unwrap();
            for i in 0..n {
                assert!((a.w[i] - b.w[i]).abs() < 1e-13, "w p={p} n={n}");
                for j in 0..n {
                    assert!((a.t[(i, j)] - b.t[(i, j)]).abs() < 1e-13, "T p={p} n={n}");
                }
            }
        }
    }

    #[test]
    fn transform_preserves_the_mean() {
        // Centred Y ⇒ T 1 = 1 (symmetric square root), so the anomalies stay centred.
        let mut rng = crate::rng::stream(4, "etkf");
        let raw = Mat::from_fn(8, 10, |_, _| crate::rng::normal(&mut rng));
        let (y, _) = crate::linalg::centre(raw.as_ref());
        let tr = etkf_transform(y.as_ref(), &[0.0; 8]).unwrap();
        for i in 0..10 {
            let row: f64 = (0..10).map(|j| tr.t[(i, j)]).sum();
            assert!((row - 1.0).abs() < 1e-12);
        }
    }
}
