//! Dense linear algebra used by the classical methods, on top of `faer`.
//!
//! Conventions: an ensemble is an `Nx × N` matrix whose columns are members (column-major, so a
//! member is a contiguous slice the model can step in place); observation-space anomalies are
//! `P × N`.

use faer::{Mat, MatRef, Side};

use crate::AssimError;

/// Runs faer single-threaded: our matrices are small and the parallelism lives one level up
/// (ensemble members, local analyses), where it pays.
pub fn init() {
    faer::set_global_parallelism(faer::Par::Seq);
}

/// Eigen-decomposition of a symmetric matrix: eigenvalues (ascending) and eigenvectors.
pub fn sym_eig(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>), AssimError> {
    check_finite(a, "symmetric eigen-decomposition")?;
    let evd = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| AssimError::Numerical(format!("eigen-decomposition failed: {e:?}")))?;
    let d: Vec<f64> = (0..a.nrows()).map(|i| evd.S()[i]).collect();
    Ok((d, evd.U().to_owned()))
}

/// `V diag(f(d)) Vᵀ` for a symmetric eigen-decomposition `(d, V)`: matrix functions such as
/// the inverse and the symmetric square root.
pub fn sym_fn(d: &[f64], v: MatRef<'_, f64>, f: impl Fn(f64) -> f64) -> Mat<f64> {
    let n = v.nrows();
    let scaled = Mat::from_fn(n, d.len(), |i, j| v[(i, j)] * f(d[j]));
    &scaled * v.transpose()
}

/// Solves `A X = B` for a symmetric positive-definite `A` by Cholesky.
pub fn spd_solve(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<Mat<f64>, AssimError> {
    use faer::linalg::solvers::Solve;
    check_finite(a, "Cholesky factorisation")?;
    let llt = a
        .llt(Side::Lower)
        .map_err(|e| AssimError::Numerical(format!("matrix not positive definite: {e:?}")))?;
    Ok(llt.solve(b))
}

/// Lower Cholesky factor `L` with `A = L Lᵀ` (used to sample `N(μ, A)`).
pub fn cholesky_lower(a: MatRef<'_, f64>) -> Result<Mat<f64>, AssimError> {
    check_finite(a, "Cholesky factorisation")?;
    let llt = a
        .llt(Side::Lower)
        .map_err(|e| AssimError::Numerical(format!("matrix not positive definite: {e:?}")))?;
    Ok(llt.L().to_owned())
}

/// Column means of the rows: the ensemble mean of an `Nx × N` ensemble.
pub fn row_mean(e: MatRef<'_, f64>) -> Vec<f64> {
    let n = e.ncols() as f64;
    (0..e.nrows())
        .map(|i| (0..e.ncols()).map(|j| e[(i, j)]).sum::<f64>() / n)
        .collect()
}

/// The ensemble minus its mean, and the mean: `(A, μ)` with `E = μ 1ᵀ + A`.
pub fn centre(e: MatRef<'_, f64>) -> (Mat<f64>, Vec<f64>) {
    let mu = row_mean(e);
    let a = Mat::from_fn(e.nrows(), e.ncols(), |i, j| e[(i, j)] - mu[i]);
    (a, mu)
}

/// Sample covariance (ddof = 1) of the rows of `xs`, each row one sample: `(μ, C)`.
pub fn sample_cov(xs: &[Vec<f64>]) -> (Vec<f64>, Mat<f64>) {
    let n = xs.len();
    let m = xs.first().map_or(0, Vec::len);
    let mut mu = vec![0.0; m];
    for x in xs {
        for (a, b) in mu.iter_mut().zip(x) {
            *a += b;
        }
    }
    mu.iter_mut().for_each(|v| *v /= n as f64);
    let a = Mat::from_fn(m, n, |i, j| xs[j][i] - mu[i]);
    let c = (&a * a.transpose()) * faer::Scale(1.0 / (n as f64 - 1.0));
    (mu, c)
}

/// Errors out if any entry is NaN or infinite, naming the operation that would have failed.
pub fn check_finite(a: MatRef<'_, f64>, what: &str) -> Result<(), AssimError> {
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            if !a[(i, j)].is_finite() {
                return Err(AssimError::Numerical(format!("non-finite input to {what}")));
            }
        }
    }
    Ok(())
}

/// A Haar-random orthogonal `N × N` matrix that keeps the vector of ones fixed, so that
/// rotating ensemble anomalies by it preserves their zero mean (DAPPER's `genOG_1`).
pub fn random_mean_preserving_rotation(n: usize, rng: &mut crate::rng::AssimRng) -> Mat<f64> {
    if n < 2 {
        return Mat::identity(n, n);
    }
    // Orthonormal basis whose first vector is 1/√n: a Householder reflection of e_0 onto it.
    let s = 1.0 / (n as f64).sqrt();
    let mut v = vec![s; n];
    v[0] -= 1.0;
    let vv: f64 = v.iter().map(|x| x * x).sum();
    let basis = Mat::from_fn(n, n, |i, j| {
        let id = if i == j { 1.0 } else { 0.0 };
        id - 2.0 * v[i] * v[j] / vv
    });
    // Haar orthogonal Q on the (n-1)-dimensional complement: QR of a Gaussian, signs fixed.
    let m = n - 1;
    let mut g = Mat::<f64>::zeros(m, m);
    for j in 0..m {
        for i in 0..m {
            g[(i, j)] = crate::rng::normal(rng);
        }
    }
    let qr = g.qr();
    let q = qr.compute_Q();
    let r = qr.R();
    let q = Mat::from_fn(m, m, |i, j| q[(i, j)] * r[(j, j)].signum());
    let mut block = Mat::<f64>::zeros(n, n);
    block[(0, 0)] = 1.0;
    for j in 0..m {
        for i in 0..m {
            block[(i + 1, j + 1)] = q[(i, j)];
        }
    }
    &basis * &block * basis.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_orthogonal_and_preserves_ones() {
        let mut rng = crate::rng::stream(1, "rot");
        let q = random_mean_preserving_rotation(7, &mut rng);
        let qtq = q.transpose() * &q;
        for i in 0..7 {
            for j in 0..7 {
                let id = if i == j { 1.0 } else { 0.0 };
                assert!((qtq[(i, j)] - id).abs() < 1e-12);
            }
            let row: f64 = (0..7).map(|j| q[(i, j)]).sum();
            assert!((row - 1.0).abs() < 1e-12, "Q 1 = 1");
        }
    }

    #[test]
    fn sym_fn_inverse_sqrt() {
        let a = Mat::from_fn(3, 3, |i, j| if i == j { 4.0 } else { 1.0 });
        let (d, v) = sym_eig(a.as_ref()).unwrap();
        let s = sym_fn(&d, v.as_ref(), |x| x.sqrt());
        let back = &s * &s;
        for i in 0..3 {
            for j in 0..3 {
                assert!((back[(i, j)] - a[(i, j)]).abs() < 1e-12);
            }
        }
        let x = spd_solve(a.as_ref(), Mat::<f64>::identity(3, 3).as_ref()).unwrap();
        let id = &a * &x;
        assert!((id[(1, 1)] - 1.0).abs() < 1e-12 && id[(0, 1)].abs() < 1e-12);
    }
}
