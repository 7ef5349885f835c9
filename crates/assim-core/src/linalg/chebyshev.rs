//! Functions of symmetric matrices applied to a few vectors, by Chebyshev series.
//!
//! A local ETKF needs `g(G)·b` for a smooth `g` on the spectrum of a small positive
//! semi-definite `G` and only a couple of vectors `b`; when the spectrum is well separated
//! from `g`'s singularity the series converges fast, and a few matrix–vector products
//! replace an eigen-decomposition (a 16-term series on a 26×26 `G` costs ~1/5 of faer's
//! eigensolver here). Trefethen, *Approximation Theory and Approximation Practice*, ch. 3–8.

use std::sync::OnceLock;

use faer::{Mat, MatRef};

use super::dot;

/// Number of Chebyshev points used to fit a series (its maximum length).
const NODES: usize = 64;

/// `T_k(x_j) = cos(π k (j+½)/NODES)` for every degree `k` (rows) and Chebyshev point `x_j`
/// of the first kind (columns), computed once and exactly (a recurrence would drift).
fn cosine_table() -> &'static [[f64; NODES]; NODES] {
    static TABLE: OnceLock<[[f64; NODES]; NODES]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|k| {
            std::array::from_fn(|j| (std::f64::consts::PI * k as f64 * (j as f64 + 0.5) / NODES as f64).cos())
        })
    })
}

/// A truncated Chebyshev series of a function on `[lo, hi]`.
#[derive(Clone, Debug)]
pub struct ChebyshevSeries {
    coeffs: Vec<f64>,
    lo: f64,
    hi: f64,
}

impl ChebyshevSeries {
    /// Interpolates `f` at 64 Chebyshev points of `[lo, hi]` and chops the series where its
    /// coefficients fall below `tol` relative to the largest. `None` if they do not (then `f`
    /// is not resolved on this interval and the caller must use another method).
    pub fn fit(f: impl Fn(f64) -> f64, lo: f64, hi: f64, tol: f64) -> Option<Self> {
        let table = cosine_table();
        let x = &table[1];
        let fx: [f64; NODES] = std::array::from_fn(|j| f(lo + 0.5 * (hi - lo) * (x[j] + 1.0)));
        // c_k = (2/M) Σ_j f(x_j) T_k(x_j), until 8 coefficients in a row are below `tol`
        // relative to the largest so far (for a smooth f they only decrease: the tail is
        // resolved); the series keeps the terms before that run.
        let mut coeffs = Vec::with_capacity(NODES);
        let mut scale = 0.0f64;
        let mut quiet = 0;
        for tk in table {
            let c = dot(&fx, tk) * (2.0 / NODES as f64);
            if !c.is_finite() {
                return None;
            }
            scale = scale.max(c.abs());
            coeffs.push(c);
            quiet = if c.abs() <= tol * scale { quiet + 1 } else { 0 };
            if quiet == 8 {
                coeffs.truncate(coeffs.len() - 8);
                coeffs.push(0.0); // keep at least one term
                return Some(ChebyshevSeries { coeffs, lo, hi });
            }
        }
        None
    }

    /// Number of terms kept.
    pub fn len(&self) -> usize {
        self.coeffs.len()
    }

    /// Whether the series is empty (never, for a fitted series).
    pub fn is_empty(&self) -> bool {
        self.coeffs.is_empty()
    }

    /// `f(G) B` for a symmetric `G` (`P × P`, spectrum inside `[lo, hi]`) and the columns of
    /// `B` (`P × k`), by Clenshaw's recurrence: `len − 1` products with `G` per column.
    pub fn apply_sym(&self, g: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
        let (p, nv) = (g.nrows(), b.ncols());
        let (alpha, beta) = (2.0 / (self.hi - self.lo), -(self.hi + self.lo) / (self.hi - self.lo));
        // Vectors stored one after another (p × nv, column-major); X = αG + βI maps the
        // spectrum into [−1, 1].
        let gcols: Vec<&[f64]> =
            (0..p).map(|j| g.col(j).try_as_col_major().expect("contiguous column").as_slice()).collect();
        let xmul = |v: &[f64], out: &mut [f64]| scaled_sym_matmul(&gcols, alpha, beta, v, out);
        let v: Vec<f64> = (0..nv).flat_map(|c| (0..p).map(move |i| (i, c))).map(|(i, c)| b[(i, c)]).collect();
        let (mut b1, mut b2, mut xb) = (vec![0.0; p * nv], vec![0.0; p * nv], vec![0.0; p * nv]);
        let c = &self.coeffs;
        for k in (1..c.len()).rev() {
            xmul(&b1, &mut xb);
            for i in 0..p * nv {
                let bk = c[k] * v[i] + 2.0 * xb[i] - b2[i];
                b2[i] = b1[i];
                b1[i] = bk;
            }
        }
        xmul(&b1, &mut xb);
        Mat::from_fn(p, nv, |i, col| {
            let k = col * p + i;
            0.5 * c[0] * v[k] + xb[k] - b2[k]
        })
    }
}

/// `out = (αG + βI) V` for `G` given by its `p` columns and the `nv = len/p` vectors of `V`
/// stored one after another. Column-by-column (axpy) form, which vectorises without
/// reassociating sums; on x86-64 with AVX2+FMA (detected at run time) it runs a copy of the
/// same code compiled for those instructions, ~3× faster than the baseline SSE2 build.
fn scaled_sym_matmul(g: &[&[f64]], alpha: f64, beta: f64, v: &[f64], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { scaled_sym_matmul_avx2(g, alpha, beta, v, out) };
            return;
        }
    }
    scaled_sym_matmul_generic(g, alpha, beta, v, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scaled_sym_matmul_avx2(g: &[&[f64]], alpha: f64, beta: f64, v: &[f64], out: &mut [f64]) {
    scaled_sym_matmul_generic(g, alpha, beta, v, out);
}

#[inline(always)]
fn scaled_sym_matmul_generic(g: &[&[f64]], alpha: f64, beta: f64, v: &[f64], out: &mut [f64]) {
    let p = g.len();
    for (o, x) in out.iter_mut().zip(v) {
        *o = beta * x;
    }
    for (vc, oc) in v.chunks_exact(p).zip(out.chunks_exact_mut(p)) {
        for (gj, &vj) in g.iter().zip(vc) {
            let coef = alpha * vj;
            for (o, gij) in oc.iter_mut().zip(gj.iter()) {
                *o += coef * gij;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_series_is_accurate() {
        let f = |x: f64| 1.0 / (x + 3.0).sqrt();
        let s = ChebyshevSeries::fit(f, 0.0, 5.0, 1e-14).unwrap();
        assert!(s.len() < 40, "{}", s.len());
        for &x in &[0.0, 0.3, 2.5, 4.99, 5.0] {
            let g = Mat::from_fn(1, 1, |_, _| x);
            let b = Mat::from_fn(1, 1, |_, _| 1.0);
            let y = s.apply_sym(g.as_ref(), b.as_ref())[(0, 0)];
            assert!((y - f(x)).abs() < 1e-14, "x = {x}: {y} vs {}", f(x));
        }
    }

    #[test]
    fn matrix_function_matches_eigen_decomposition() {
        let mut rng = crate::rng::stream(9, "cheb");
        let y = Mat::from_fn(12, 20, |_, _| 0.5 * crate::rng::normal(&mut rng));
        let g = &y * y.transpose();
        let hi = (0..12).map(|i| g[(i, i)]).sum::<f64>();
        let f = |l: f64| -1.0 / ((19.0 + l).sqrt() * (19f64.sqrt() + (19.0 + l).sqrt()));
        let s = ChebyshevSeries::fit(f, 0.0, hi, 1e-14).unwrap();
        let b = Mat::from_fn(12, 3, |_, _| crate::rng::normal(&mut rng));
        let got = s.apply_sym(g.as_ref(), b.as_ref());
        let (d, v) = crate::linalg::sym_eig(g.as_ref()).unwrap();
        let want = crate::linalg::sym_fn(&d, v.as_ref(), f) * &b;
        for i in 0..12 {
            for j in 0..3 {
                assert!((got[(i, j)] - want[(i, j)]).abs() < 1e-14, "{} vs {}", got[(i, j)], want[(i, j)]);
            }
        }
    }

    #[test]
    fn unresolvable_function_is_refused() {
        // A pole just outside the interval needs far more than 64 terms.
        assert!(ChebyshevSeries::fit(|x| 1.0 / (x + 1e-6), 0.0, 1.0, 1e-14).is_none());
    }
}
