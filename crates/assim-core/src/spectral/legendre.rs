//! Orthonormal associated Legendre functions by the standard stable three-term recurrences.
//!
//! `P̄_n^m(μ)` is normalised so that `∫_{-1}^{1} P̄_n^m(μ)² dμ = 1` (no Condon–Shortley
//! phase). `H_n^m(μ) = (1 − μ²) dP̄_n^m/dμ` is the meridional-derivative function that the
//! vector transforms need. With `ε_n^m = √((n² − m²)/(4n² − 1))`:
//!
//! - `P̄_0^0 = 1/√2`, `P̄_m^m = √((2m+1)/(2m)) · √(1−μ²) · P̄_{m−1}^{m−1}`,
//! - `μ P̄_{n−1}^m = ε_n^m P̄_n^m + ε_{n−1}^m P̄_{n−2}^m`,
//! - `H_n^m = −n ε_{n+1}^m P̄_{n+1}^m + (n+1) ε_n^m P̄_{n−1}^m`.
//!
//! The sectoral seed `(1−μ²)^{m/2}` stays above f64's underflow for every latitude of the
//! supported grids (≥ 1e−140 at T85); larger truncations would need scaled recurrences.

use super::Truncation;

/// `ε_n^m`, the coupling coefficient of the μ-recurrence.
pub(crate) fn epsilon(n: usize, m: usize) -> f64 {
    if n <= m {
        return 0.0;
    }
    let (n, m) = (n as f64, m as f64);
    ((n * n - m * m) / (4.0 * n * n - 1.0)).sqrt()
}

/// Writes `P̄_n^m(μ)` into `p` and `H_n^m(μ)` into `h` for every `(m, n)` of `tr`, in the
/// truncation's index order.
pub(crate) fn legendre_at(tr: &Truncation, mu: f64, p: &mut [f64], h: &mut [f64]) {
    let t = tr.t();
    let s = (1.0 - mu * mu).max(0.0).sqrt();
    let mut pmm = std::f64::consts::FRAC_1_SQRT_2;
    // One column n = m..=T+1 (the extra degree feeds H_T^m).
    let mut col = vec![0.0; t + 2];
    for m in 0..=t {
        if m > 0 {
            let mf = m as f64;
            pmm *= ((2.0 * mf + 1.0) / (2.0 * mf)).sqrt() * s;
        }
        let len = t + 2 - m;
        col[0] = pmm;
        col[1] = (2.0 * m as f64 + 3.0).sqrt() * mu * pmm;
        for i in 2..len {
            let n = m + i;
            col[i] = (mu * col[i - 1] - epsilon(n - 1, m) * col[i - 2]) / epsilon(n, m);
        }
        for n in m..=t {
            let i = n - m;
            let below = if i == 0 { 0.0 } else { col[i - 1] };
            let k = tr.index(m, n);
            p[k] = col[i];
            h[k] = -(n as f64) * epsilon(n + 1, m) * col[i + 1] + (n + 1) as f64 * epsilon(n, m) * below;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_degrees_match_closed_forms() {
        let tr = Truncation::new(3);
        let mu: f64 = 0.3;
        let s = (1.0 - mu * mu).sqrt();
        let (mut p, mut h) = (vec![0.0; tr.len()], vec![0.0; tr.len()]);
        legendre_at(&tr, mu, &mut p, &mut h);
        let cases = [
            (0, 0, 1.0 / 2f64.sqrt(), 0.0),
            (0, 1, (1.5f64).sqrt() * mu, (1.5f64).sqrt() * s * s),
            (0, 2, (2.5f64).sqrt() * 0.5 * (3.0 * mu * mu - 1.0), (2.5f64).sqrt() * 3.0 * mu * s * s),
            (1, 1, (0.75f64).sqrt() * s, -(0.75f64).sqrt() * mu * s),
            (2, 2, (15.0f64 / 16.0).sqrt() * s * s, -(15.0f64 / 16.0).sqrt() * 2.0 * mu * s * s),
        ];
        for (m, n, pv, hv) in cases {
            let k = tr.index(m, n);
            assert!((p[k] - pv).abs() < 1e-15, "P({n},{m})");
            assert!((h[k] - hv).abs() < 1e-15, "H({n},{m}): {} vs {hv}", h[k]);
        }
    }

    #[test]
    fn functions_are_orthonormal_under_gaussian_quadrature() {
        let tr = Truncation::new(85);
        let (x, w) = crate::grid::gauss_legendre(128);
        let mut gram = vec![0.0; tr.len() * 3];
        let (mut p, mut h) = (vec![0.0; tr.len()], vec![0.0; tr.len()]);
        // Check ⟨P_n^m, P_n'^m⟩ for a few m and neighbouring n.
        for (&mu, &wk) in x.iter().zip(&w) {
            legendre_at(&tr, mu, &mut p, &mut h);
            for m in [0, 1, 40, 85] {
                for n in m..=85 {
                    let k = tr.index(m, n);
                    gram[3 * k] += wk * p[k] * p[k];
                    if n < 85 {
                        gram[3 * k + 1] += wk * p[k] * p[tr.index(m, n + 1)];
                    }
                    if n + 2 <= 85 {
                        gram[3 * k + 2] += wk * p[k] * p[tr.index(m, n + 2)];
                    }
                }
            }
        }
        for m in [0, 1, 40, 85] {
            for n in m..=85 {
                let k = tr.index(m, n);
                assert!((gram[3 * k] - 1.0).abs() < 1e-13, "norm ({n},{m}) = {}", gram[3 * k]);
                assert!(gram[3 * k + 1].abs() < 1e-13 && gram[3 * k + 2].abs() < 1e-13);
            }
        }
    }
}
