//! The spherical-harmonic transform against analytic results: round trips of band-limited
//! fields, derivatives of closed-form fields, wind ↔ vorticity/divergence, point evaluation and
//! the power spectrum's Parseval identity.
//!
//! Tolerances: every operation here is a finite sum evaluated exactly by the Gaussian
//! quadrature, so errors are rounding only; 1e-12 relative (the bound for round trips)
//! leaves a factor ≈ 100 above the ≈ 1e-14 observed.

use assim_core::rng::{fill_normal, stream};
use assim_core::spectral::{Complex64, SpectralTransform, Truncation};

const A: f64 = 6.371e6;

fn random_spec(tr: &Truncation, seed: u64) -> Vec<Complex64> {
    let mut rng = stream(seed, "spectral-test");
    let mut re = vec![0.0; tr.len()];
    let mut im = vec![0.0; tr.len()];
    fill_normal(&mut rng, &mut re);
    fill_normal(&mut rng, &mut im);
    tr.modes()
        .enumerate()
        .map(|(k, (m, _))| Complex64::new(re[k], if m == 0 { 0.0 } else { im[k] }))
        .collect()
}

fn rel_err(a: &[Complex64], b: &[Complex64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr()).sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr()).sum();
    (num / den).sqrt()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn round_trip_of_band_limited_fields() {
    for t in [21, 42, 63, 85] {
        let sht = SpectralTransform::new(t, 1.0).unwrap();
        let spec = random_spec(sht.truncation(), t as u64);
        let grid = sht.synthesis(&spec);
        let back = sht.analysis(&grid);
        let e = rel_err(&back, &spec);
        assert!(e < 1e-12, "T{t}: round trip error {e:e}");
        // And grid → spec → grid for a band-limited grid field.
        let again = sht.synthesis(&back);
        assert!(max_abs_diff(&again, &grid) < 1e-12 * grid.iter().fold(0.0f64, |a, x| a.max(x.abs())));
    }
}

#[test]
fn synthesis_of_closed_form_harmonics() {
    let sht = SpectralTransform::new(21, 1.0).unwrap();
    let tr = *sht.truncation();
    // f = μ = sin(lat): P̄_1^0 = √(3/2) μ, so f_1^0 = √(2/3).
    let mut spec = tr.zeros();
    spec[tr.index(0, 1)] = Complex64::new((2.0f64 / 3.0).sqrt(), 0.0);
    let g = sht.synthesis(&spec);
    let exact = sht.grid().field_from_fn(|la, _| la.sin());
    assert!(max_abs_diff(&g, &exact) < 1e-14);
    // f = cos(lat) cos(λ): P̄_1^1 = √(3/4) cos φ; f = 2 Re(f_1^1 P̄ e^{iλ}) → f_1^1 = 1/√3.
    let mut spec = tr.zeros();
    spec[tr.index(1, 1)] = Complex64::new(1.0 / 3f64.sqrt(), 0.0);
    let g = sht.synthesis(&spec);
    let exact = sht.grid().field_from_fn(|la, lo| la.cos() * lo.cos());
    assert!(max_abs_diff(&g, &exact) < 1e-14);
}

#[test]
fn gradient_and_laplacian_of_closed_forms() {
    let sht = SpectralTransform::new(42, A).unwrap();
    let tr = *sht.truncation();
    // f = cos²φ sin 2λ (degree 2, m = 2) + sin φ
    let f = sht.grid().field_from_fn(|la, lo| la.cos().powi(2) * (2.0 * lo).sin() + la.sin());
    let spec = sht.analysis(&f);
    let (gx, gy) = sht.gradient(&spec);
    let ex = sht.grid().field_from_fn(|la, lo| la.cos() * 2.0 * (2.0 * lo).cos() / A);
    let ey =
        sht.grid().field_from_fn(|la, lo| (-2.0 * la.cos() * la.sin() * (2.0 * lo).sin() + la.cos()) / A);
    assert!(max_abs_diff(&gx, &ex) < 1e-13 / A, "{}", max_abs_diff(&gx, &ex) * A);
    // The meridional component is divided by cos φ (≥ 0.037 on the T42 grid), which
    // amplifies rounding ≈ 27× next to the poles: 6e-13 observed.
    assert!(max_abs_diff(&gy, &ey) < 2e-12 / A, "{}", max_abs_diff(&gy, &ey) * A);
    // Both parts are spherical harmonics: ∇²f = −6/a² (n=2 part) − 2/a² (n=1 part).
    let lap = sht.synthesis(&tr.laplacian(&spec, A));
    let el = sht
        .grid()
        .field_from_fn(|la, lo| (-6.0 * la.cos().powi(2) * (2.0 * lo).sin() - 2.0 * la.sin()) / (A * A));
    // The analysis leaves ≈ 1e-15 rounding in every coefficient, which ∇² multiplies by up to
    // T(T+1) = 1806: 1.8e-11 observed against values of order 6.
    assert!(max_abs_diff(&lap, &el) < 1e-10 / (A * A), "{:e}", max_abs_diff(&lap, &el) * A * A);
    let back = tr.inverse_laplacian(&tr.laplacian(&spec, A), A);
    let mut no_mean = spec.clone();
    no_mean[0] = Complex64::new(0.0, 0.0);
    assert!(rel_err(&back, &no_mean) < 1e-14);
}

#[test]
fn winds_of_solid_body_rotation_and_back() {
    let sht = SpectralTransform::new(42, A).unwrap();
    let tr = *sht.truncation();
    // Solid-body rotation u = u0 cos φ has ζ = 2 u0 sin φ / a, D = 0.
    let u0 = 38.6;
    let zeta = sht.analysis(&sht.grid().field_from_fn(|la, _| 2.0 * u0 * la.sin() / A));
    let (u, v) = sht.uv_from_vor_div(&zeta, &tr.zeros());
    let eu = sht.grid().field_from_fn(|la, _| u0 * la.cos());
    assert!(max_abs_diff(&u, &eu) < 1e-12 * u0);
    assert!(v.iter().all(|x| x.abs() < 1e-12 * u0));
    // Random vorticity and divergence survive winds and back (the vector analysis is exact).
    let z = tr.scale_by_degree(&random_spec(&tr, 5), |n| if n == 0 { 0.0 } else { 1e-5 });
    let d = tr.scale_by_degree(&random_spec(&tr, 6), |n| if n == 0 { 0.0 } else { 1e-6 });
    let (u, v) = sht.uv_from_vor_div(&z, &d);
    let (z2, d2) = sht.vor_div_from_uv(&u, &v);
    assert!(rel_err(&z2, &z) < 1e-12, "vorticity {:e}", rel_err(&z2, &z));
    assert!(rel_err(&d2, &d) < 1e-12, "divergence {:e}", rel_err(&d2, &d));
}

#[test]
fn point_evaluation_parseval_and_retruncation() {
    let sht = SpectralTransform::new(21, 1.0).unwrap();
    let tr = *sht.truncation();
    let spec = random_spec(&tr, 9);
    let g = sht.synthesis(&spec);
    let (j, i) = (5, 17);
    let lat = sht.grid().lat_degrees()[j];
    let lon = sht.grid().lon_degrees()[i];
    assert!((sht.evaluate_at(&spec, lat, lon) - g[j * sht.grid().nlon() + i]).abs() < 1e-12);
    // Parseval: the spectrum sums to the global mean square.
    let ms = sht.grid().global_mean(&g.iter().map(|x| x * x).collect::<Vec<_>>());
    let total: f64 = tr.power_spectrum(&spec).iter().sum();
    assert!((ms - total).abs() < 1e-12 * ms);
    // Up to T42 and back is the identity; the T42 field agrees at any point.
    let t42 = Truncation::new(42);
    let up = tr.retruncate(&spec, &t42);
    assert_eq!(t42.retruncate(&up, &tr), spec);
    let sht42 = SpectralTransform::new(42, 1.0).unwrap();
    assert!((sht42.evaluate_at(&up, 33.3, 201.0) - sht.evaluate_at(&spec, 33.3, 201.0)).abs() < 1e-12);
}

#[test]
fn transform_rejects_grids_that_cannot_hold_the_truncation() {
    let g = assim_core::grid::LatLonGrid::gaussian(16, 32).unwrap();
    assert!(SpectralTransform::on_grid(21, g, 1.0).is_err());
    assert!(SpectralTransform::new(50, 1.0).is_err());
    assert!(SpectralTransform::new(21, -1.0).is_err());
}

/// `⟨a, b⟩` of spectral fields as real vectors, each `(re, im)` two numbers.
fn spec_dot(a: &[Complex64], b: &[Complex64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.re * y.re + x.im * y.im).sum()
}

fn random_grid(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream(seed, "spectral-adjoint-test");
    let mut g = vec![0.0; n];
    fill_normal(&mut rng, &mut g);
    g
}

/// The dot-product test of the four transposes 4D-Var's adjoint model is built from:
/// `⟨L x, y⟩ = ⟨x, Lᵀ y⟩` for random `x`, `y`. Both sides are sums of ~10⁴ products of O(1)
/// numbers whose rounding errors are ~1e-16 each, so 1e-12 relative leaves a wide margin above
/// rounding while any wrong factor (a missing `c_m = 2`, a sign of `i·m`) shows as O(1).
#[test]
fn transform_adjoints_pass_the_dot_product_test() {
    for t in [21, 42] {
        let sht = SpectralTransform::new(t, A).unwrap();
        let tr = *sht.truncation();
        let n = sht.grid().len();
        let (a, b) = (random_spec(&tr, 1), random_spec(&tr, 2));
        let (g1, g2) = (random_grid(n, 3), random_grid(n, 4));
        let rel = |l: f64, r: f64| (l - r).abs() / l.abs().max(r.abs());

        // Synthesis and analysis.
        let l = dot(&sht.synthesis(&a), &g1);
        let r = spec_dot(&a, &sht.synthesis_adjoint(&g1));
        assert!(rel(l, r) < 1e-12, "T{t} synthesis: {l} vs {r}");
        let l = spec_dot(&sht.analysis(&g1), &a);
        let r = dot(&g1, &sht.analysis_adjoint(&a));
        assert!(rel(l, r) < 1e-12, "T{t} analysis: {l} vs {r}");

        // Winds from vorticity and divergence, and back.
        let (u, v) = sht.uv_from_vor_div(&a, &b);
        let l = dot(&u, &g1) + dot(&v, &g2);
        // Random winds and weights cancel in this sum by a factor ≈ 300 at T21: the bound is
        // relative to the sum of the products' sizes.
        let scale: f64 = u.iter().zip(&g1).chain(v.iter().zip(&g2)).map(|(x, y)| (x * y).abs()).sum();
        let (za, da) = sht.uv_from_vor_div_adjoint(&g1, &g2);
        let r = spec_dot(&a, &za) + spec_dot(&b, &da);
        assert!((l - r).abs() < 1e-13 * scale, "T{t} winds: {l} vs {r}");
        let (z, d) = sht.vor_div_from_uv(&g1, &g2);
        let l = spec_dot(&z, &a) + spec_dot(&d, &b);
        let (ua, va) = sht.vor_div_from_uv_adjoint(&a, &b);
        let r = dot(&g1, &ua) + dot(&g2, &va);
        assert!(rel(l, r) < 1e-12, "T{t} vorticity and divergence: {l} vs {r}");
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
