//! Pieces shared by the ensemble filters: the ETKF transform and the post-processing of
//! anomalies (inflation and random rotation).

use faer::{Mat, MatRef};

use crate::AssimError;
use crate::linalg::{ChebyshevSeries, dot, rotate_columns_mean_preserving, spd_solve, sym_eig};
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

/// `g(λ) = −1/(√(N−1+λ)(√(N−1) + √(N−1+λ)))`: the eigenvalue map of the square-root
/// transform in observation space, `T = I + Yᵀ g(G) Y` (see [`etkf_obs_space`]).
fn sqrt_transform_correction(n1: f64, lambda: f64) -> f64 {
    let s = (n1 + lambda).sqrt();
    -1.0 / (s * (n1.sqrt() + s))
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
    let gb = Mat::from_fn(p, n, |k, j| sqrt_transform_correction(n1, lam[k]) * b[(k, j)]);
    let mut t = b.transpose() * gb;
    for i in 0..n {
        t[(i, i)] += 1.0;
    }
    Ok(EnsembleTransform { w, t })
}

/// The ETKF analysis of state rows (a local batch, or all of them): `μ 1ᵀ + A (w 1ᵀ + T)` for local anomalies `A`
/// (`b × N`, mean `μ`), given the local normalised (and tapered) `Y` (`P × N`) and `δ`.
///
/// With fewer observations than members it avoids any eigen-decomposition: `w` by a
/// Cholesky solve in observation space, and `A T = A + (A Yᵀ) g(G) Y` with `G = YYᵀ` and
/// `g` as in [`etkf_transform`], applied to the `b` rows by a Chebyshev series (exact to
/// ~1e-14, tested against the eigen path). It falls back to [`etkf_transform`] when the
/// series does not converge (a spectrum of `G` far above `N − 1`) or `P ≥ N`. The global
/// EnKF uses it too, with every state row as `A`.
pub fn local_etkf(
    a: MatRef<'_, f64>,
    mu: &[f64],
    y: MatRef<'_, f64>,
    dy: &[f64],
) -> Result<Mat<f64>, AssimError> {
    if y.nrows() < y.ncols()
        && let Some(e) = local_etkf_chebyshev(a, mu, y, dy)?
    {
        return Ok(e);
    }
    let g = etkf_transform(y, dy)?.combined();
    let mut e = a * g;
    for j in 0..e.ncols() {
        for (i, m) in mu.iter().enumerate() {
            e[(i, j)] += m;
        }
    }
    Ok(e)
}

fn local_etkf_chebyshev(
    a: MatRef<'_, f64>,
    mu: &[f64],
    y: MatRef<'_, f64>,
    dy: &[f64],
) -> Result<Option<Mat<f64>>, AssimError> {
    let (p, n) = (y.nrows(), y.ncols());
    let n1 = n as f64 - 1.0;
    let g = y * y.transpose();
    // Spectrum of G ⊂ [0, min(trace, Gershgorin)].
    let trace: f64 = (0..p).map(|i| g[(i, i)]).sum();
    let gersh = (0..p).map(|i| (0..p).map(|j| g[(i, j)].abs()).sum::<f64>()).fold(0.0, f64::max);
    let hi = trace.min(gersh);
    let hi = if hi > 0.0 { hi } else { 1.0 };
    let Some(series) = ChebyshevSeries::fit(|l| sqrt_transform_correction(n1, l), 0.0, hi, 1e-14) else {
        return Ok(None);
    };
    // w = Yᵀ (G + (N−1)I)⁻¹ δ
    let mut s = g.clone();
    for i in 0..p {
        s[(i, i)] += n1;
    }
    let sol = spd_solve(s.as_ref(), MatRef::from_column_major_slice(dy, p, 1))?;
    let sol = sol.col(0).try_as_col_major().expect("contiguous").as_slice();
    // The products below involve only b (= 2 for a local batch) state rows: plain loops over
    // the contiguous columns of Y beat a general matrix product's set-up at these sizes.
    let ycol = |j: usize| y.col(j).try_as_col_major().expect("contiguous column").as_slice();
    let b = a.nrows();
    let w: Vec<f64> = (0..n).map(|j| dot(ycol(j), sol)).collect(); // Yᵀ sol
    let aw: Vec<f64> = (0..b).map(|i| (0..n).map(|j| a[(i, j)] * w[j]).sum()).collect();
    let mut bt = Mat::<f64>::zeros(p, b); // (A Yᵀ)ᵀ = Y Aᵀ
    for c in 0..b {
        let out = bt.col_mut(c).try_as_col_major_mut().expect("contiguous").as_slice_mut();
        for j in 0..n {
            let coef = a[(c, j)];
            out.iter_mut().zip(ycol(j)).for_each(|(o, v)| *o += coef * v);
        }
    }
    let r = series.apply_sym(g.as_ref(), bt.as_ref()); // g(G) (A Yᵀ)ᵀ, P × b
    let rcol = |c: usize| r.col(c).try_as_col_major().expect("contiguous column").as_slice();
    Ok(Some(Mat::from_fn(b, n, |i, j| mu[i] + aw[i] + a[(i, j)] + dot(rcol(i), ycol(j)))))
}

/// Multiplies the anomalies by `infl` and, if `rot`, rotates them by a random mean-preserving
/// orthogonal matrix (DAPPER's `post_process`). `e` is `Nx × N`.
pub fn post_process(e: &mut Mat<f64>, infl: f64, rot: bool, rng: &mut AssimRng) {
    if infl == 1.0 && !rot {
        return;
    }
    let (mut a, mu) = crate::linalg::centre(e.as_ref());
    if rot {
        rotate_columns_mean_preserving(&mut a, rng);
    }
    for j in 0..e.ncols() {
        for (i, m) in mu.iter().enumerate() {
            e[(i, j)] = m + infl * a[(i, j)];
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
    fn chebyshev_local_update_matches_the_eigen_path() {
        let mut rng = crate::rng::stream(8, "local");
        // The third case has a spectrum of G far above N − 1: the series is refused and
        // local_etkf falls back to the eigen path; all three must agree with it.
        for (p, n, spread, converges) in [(26, 40, 0.2, true), (5, 12, 1.0, true), (10, 20, 30.0, false)] {
            let raw = Mat::from_fn(p, n, |_, _| spread * crate::rng::normal(&mut rng));
            let (y, _) = crate::linalg::centre(raw.as_ref());
            let araw = Mat::from_fn(2, n, |_, _| crate::rng::normal(&mut rng));
            let (a, _) = crate::linalg::centre(araw.as_ref());
            let mu = [0.7, -1.3];
            let dy: Vec<f64> = (0..p).map(|_| crate::rng::normal(&mut rng)).collect();
            let cheb = local_etkf_chebyshev(a.as_ref(), &mu, y.as_ref(), &dy).unwrap();
            assert_eq!(cheb.is_some(), converges, "p={p} n={n}");
            let fast = local_etkf(a.as_ref(), &mu, y.as_ref(), &dy).unwrap();
            let g = etkf_transform(y.as_ref(), &dy).unwrap().combined();
            let slow = &a * g;
            for i in 0..2 {
                for j in 0..n {
                    let want = mu[i] + slow[(i, j)];
                    assert!((fast[(i, j)] - want).abs() < 1e-12, "p={p} n={n}: {} vs {want}", fast[(i, j)]);
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
