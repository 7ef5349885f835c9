//! Dense linear algebra used by the classical methods, on top of `faer`.
//!
//! Conventions: an ensemble is an `Nx × N` matrix whose columns are members (column-major, so a
//! member is a contiguous slice the model can step in place); observation-space anomalies are
//! `P × N`.

mod chebyshev;

pub use chebyshev::ChebyshevSeries;

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
    let l = llt.L();
    // Only the lower triangle is the factor: never trust what is stored above it.
    Ok(Mat::from_fn(l.nrows(), l.ncols(), |i, j| if i >= j { l[(i, j)] } else { 0.0 }))
}

/// Matrix exponential by scaling and squaring of a Taylor series (to rounding for the
/// small, moderately scaled matrices of tangent-linear resolvents).
pub fn expm(a: MatRef<'_, f64>) -> Mat<f64> {
    let n = a.nrows();
    let norm1 = (0..n).map(|j| (0..n).map(|i| a[(i, j)].abs()).sum::<f64>()).fold(0.0, f64::max);
    // Scale so that ‖A/2^s‖₁ ≤ 1/2; then 20 Taylor terms are below 2^-20/20! ≈ 4e-25.
    let s = if norm1 > 0.5 { (norm1 / 0.5).log2().ceil() as i32 } else { 0 };
    let scaled = a * faer::Scale(0.5f64.powi(s));
    let mut result = Mat::<f64>::identity(n, n);
    let mut term = Mat::<f64>::identity(n, n);
    for k in 1..=20 {
        term = (&term * &scaled) * faer::Scale(1.0 / k as f64);
        result += &term;
    }
    for _ in 0..s {
        result = &result * &result;
    }
    result
}

/// Column means of the rows: the ensemble mean of an `Nx × N` ensemble.
pub fn row_mean(e: MatRef<'_, f64>) -> Vec<f64> {
    let n = e.ncols() as f64;
    (0..e.nrows()).map(|i| (0..e.ncols()).map(|j| e[(i, j)]).sum::<f64>() / n).collect()
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

/// Conjugate gradients on `A x = b` for a symmetric positive definite `A` given by its action
/// `apply(v, out)`, from the `x` passed in, until the residual's norm is below `tol` × `‖b‖` or
/// after `max_iter` iterations; returns the iterations taken. The variational methods' inner
/// loop (their Hessians `I + LᵀL` have eigenvalues ≥ 1, so it converges fast and monotonically).
/// Its inner products sum in order (not [`dot`]'s four partial sums): the operator applications
/// dominate the cost, and the 3D-Var runs pinned before it was shared keep their numbers.
pub fn conjugate_gradient(
    mut apply: impl FnMut(&[f64], &mut [f64]) -> Result<(), AssimError>,
    b: &[f64],
    x: &mut [f64],
    max_iter: usize,
    tol: f64,
) -> Result<usize, AssimError> {
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let n = b.len();
    let mut q = vec![0.0; n];
    apply(x, &mut q)?;
    let mut r: Vec<f64> = b.iter().zip(&q).map(|(b, q)| b - q).collect();
    let mut dir = r.clone();
    let (mut rr, b_norm) = (dot(&r, &r), dot(b, b).sqrt());
    let mut it = 0;
    while it < max_iter && rr.sqrt() > tol * b_norm && b_norm > 0.0 {
        apply(&dir, &mut q)?;
        let alpha = rr / dot(&dir, &q);
        for k in 0..n {
            x[k] += alpha * dir[k];
            r[k] -= alpha * q[k];
        }
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        rr = rr_new;
        for k in 0..n {
            dir[k] = r[k] + beta * dir[k];
        }
        it += 1;
    }
    Ok(it)
}

/// Dot product with four independent partial sums, so the compiler can vectorise it
/// (a plain `.sum()` must keep the sequential order of additions).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// A Haar-random orthogonal `N × N` matrix that keeps the vector of ones fixed (DAPPER's
/// `genOG_1`), as a matrix; see [`rotate_columns_mean_preserving`] for how it is drawn.
pub fn random_mean_preserving_rotation(n: usize, rng: &mut crate::rng::AssimRng) -> Mat<f64> {
    let mut r = Mat::<f64>::identity(n, n);
    rotate_columns_mean_preserving(&mut r, rng);
    r
}

/// Right-multiplies `a` (`rows × N`) by a Haar-random orthogonal `R` with `R 1 = 1`, without
/// forming `R`: rotating ensemble anomalies by it keeps their mean at zero.
///
/// `R = H diag(1, Q) H`, with `H` the Householder reflection exchanging `e₀` and `1/√N`, and
/// `Q` Haar on the `(N−1)`-dimensional complement, drawn as Stewart (1980) does: a product of
/// Householder reflections built from Gaussian vectors of dimension `N−1, N−2, …, 2`, then
/// signs — the Q factor of a Gaussian matrix with positive `R`, never factorising one. Cost:
/// `≈ 2·rows·N²` flops and `N²/2` normal draws.
pub fn rotate_columns_mean_preserving(a: &mut Mat<f64>, rng: &mut crate::rng::AssimRng) {
    let n = a.ncols();
    if n < 2 {
        return;
    }
    // H = I − 2vvᵀ/(vᵀv), v = e₀ − 1/√N.
    let s = 1.0 / (n as f64).sqrt();
    let mut v = vec![-s; n];
    v[0] += 1.0;
    reflect_columns(a, 0, &v);
    let m = n - 1;
    let mut x = vec![0.0; m];
    for k in 0..m {
        let len = m - k;
        let x = &mut x[..len];
        crate::rng::fill_normal(rng, x);
        let sign = if x[0] >= 0.0 { 1.0 } else { -1.0 };
        if len > 1 {
            // u = x + sign(x₀)‖x‖e₀ maps x to −sign(x₀)‖x‖e₀: R_kk has the sign −sign(x₀).
            x[0] += sign * dot(x, x).sqrt();
            reflect_columns(a, 1 + k, x);
        }
        // D makes the triangular factor's diagonal positive.
        let d = if len > 1 { -sign } else { sign };
        if d < 0.0 {
            a.col_mut(1 + k).iter_mut().for_each(|z| *z = -*z);
        }
    }
    reflect_columns(a, 0, &v);
}

/// `A ← A (I − 2uuᵀ/uᵀu)` on the columns `offset .. offset + len(u)` of `A`.
fn reflect_columns(a: &mut Mat<f64>, offset: usize, u: &[f64]) {
    let uu = dot(u, u);
    if uu == 0.0 {
        return;
    }
    let rows = a.nrows();
    // w = A u (over the affected columns), then A −= (2/uu) w uᵀ.
    let mut w = vec![0.0; rows];
    for (j, &uj) in u.iter().enumerate() {
        let col = a.col(offset + j).try_as_col_major().expect("contiguous").as_slice();
        w.iter_mut().zip(col).for_each(|(wi, c)| *wi += uj * c);
    }
    let f = 2.0 / uu;
    for (j, &uj) in u.iter().enumerate() {
        let col = a.col_mut(offset + j).try_as_col_major_mut().expect("contiguous").as_slice_mut();
        let c = f * uj;
        col.iter_mut().zip(&w).for_each(|(z, wi)| *z -= c * wi);
    }
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
    fn rotation_is_haar_on_the_complement() {
        // For Haar Q on O(m): E tr Q = 0 and E (tr Q)² = 1, so E tr R = 1 and E (tr R)² = 2
        // (R = H diag(1, Q) H). A non-uniform scheme (identity, a fixed-axis rotation, wrong
        // signs) misses one of these. 4000 draws of N = 6: sd of the means ≈ 0.016 and 0.03.
        let mut rng = crate::rng::stream(3, "haar");
        let (mut t1, mut t2) = (0.0, 0.0);
        let draws = 4000;
        for _ in 0..draws {
            let r = random_mean_preserving_rotation(6, &mut rng);
            let tr: f64 = (0..6).map(|i| r[(i, i)]).sum();
            t1 += tr;
            t2 += tr * tr;
        }
        let (m1, m2) = (t1 / draws as f64, t2 / draws as f64);
        assert!((m1 - 1.0).abs() < 0.08, "E tr R = {m1}");
        assert!((m2 - 2.0).abs() < 0.15, "E (tr R)² = {m2}");
    }

    #[test]
    fn expm_of_rotation_generator() {
        // exp([[0, -θ], [θ, 0]]) is the rotation by θ; θ = 3 forces two squarings.
        let th = 3.0;
        let a = Mat::from_fn(2, 2, |i, j| [[0.0, -th], [th, 0.0]][i][j]);
        let e = expm(a.as_ref());
        assert!((e[(0, 0)] - th.cos()).abs() < 1e-14 && (e[(1, 0)] - th.sin()).abs() < 1e-14);
        assert!((e[(0, 1)] + th.sin()).abs() < 1e-14 && (e[(1, 1)] - th.cos()).abs() < 1e-14);
    }

    #[test]
    fn cholesky_factor_reproduces_a_full_matrix() {
        let a = Mat::from_fn(4, 4, |i, j| if i == j { 5.0 } else { 1.0 + (i + j) as f64 * 0.1 });
        let l = cholesky_lower(a.as_ref()).unwrap();
        let llt = &l * l.transpose();
        for i in 0..4 {
            for j in 0..4 {
                assert!((llt[(i, j)] - a[(i, j)]).abs() < 1e-13);
                if j > i {
                    assert_eq!(l[(i, j)], 0.0);
                }
            }
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
