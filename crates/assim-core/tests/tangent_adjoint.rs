//! The tangent-linear and adjoint models that 4D-Var differentiates through: the Taylor test
//! (the tangent-linear is the derivative of the discrete step: the remainder falls at second
//! order) and the dot-product test (the adjoint is its transpose, to rounding), on one step
//! and over a 20-step window of Lorenz-96 from a state on its attractor.

use assim_core::dynamics::{LinearModel, Lorenz96, Model};
use assim_core::rng::{normal, stream};
use faer::Mat;

fn attractor_state(model: &Lorenz96) -> Vec<f64> {
    let mut x: Vec<f64> = (0..model.nx).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    model.advance(&mut x, 0.0, 0.05, 2000);
    x
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream(seed, "tangent-adjoint");
    (0..n).map(|_| normal(&mut rng)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `steps` steps of the tangent-linear along the trajectory from `x`.
fn tangent(model: &dyn Model, x: &[f64], dx: &[f64], steps: usize, dt: f64) -> Vec<f64> {
    let (mut x, mut dx) = (x.to_vec(), dx.to_vec());
    for k in 0..steps {
        assert!(model.step_tangent(&x, &mut dx, k as f64 * dt, dt));
        model.step(&mut x, k as f64 * dt, dt);
    }
    dx
}

/// The adjoint of [`tangent`]: the trajectory stored, then backwards.
fn adjoint(model: &dyn Model, x: &[f64], lam: &[f64], steps: usize, dt: f64) -> Vec<f64> {
    let mut traj = vec![x.to_vec()];
    for k in 0..steps {
        let mut next = traj[k].clone();
        model.step(&mut next, k as f64 * dt, dt);
        traj.push(next);
    }
    let mut lam = lam.to_vec();
    for k in (0..steps).rev() {
        assert!(model.step_adjoint(&traj[k], &mut lam, k as f64 * dt, dt));
    }
    lam
}

#[test]
fn lorenz96_tangent_linear_passes_the_taylor_test() {
    let model = Lorenz96::standard();
    let x = attractor_state(&model);
    let dx = random(40, 1);
    for steps in [1, 20] {
        let mut base = x.clone();
        model.advance(&mut base, 0.0, 0.05, steps);
        let tl = tangent(&model, &x, &dx, steps, 0.05);
        // Remainder ‖M(x + ε dx) − M(x) − ε M' dx‖: second order in ε.
        let remainder = |eps: f64| {
            let mut p: Vec<f64> = x.iter().zip(&dx).map(|(a, b)| a + eps * b).collect();
            model.advance(&mut p, 0.0, 0.05, steps);
            let r: Vec<f64> = (0..40).map(|i| p[i] - base[i] - eps * tl[i]).collect();
            norm(&r)
        };
        let (r2, r3, r4) = (remainder(1e-2), remainder(1e-3), remainder(1e-4));
        eprintln!("{steps} steps: remainders {r2:e} {r3:e} {r4:e}");
        for (a, b) in [(r2, r3), (r3, r4)] {
            let ratio = a / b;
            assert!((50.0..200.0).contains(&ratio), "{steps} steps: ratio {ratio} (second order: 100)");
        }
    }
}

#[test]
fn adjoints_pass_the_dot_product_test() {
    let model = Lorenz96::standard();
    let x = attractor_state(&model);
    let linear = LinearModel { m: Mat::from_fn(40, 40, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4) };
    for (name, m) in [("lorenz96", &model as &dyn Model), ("linear", &linear as &dyn Model)] {
        for steps in [1, 20] {
            let (a, b) = (random(40, 2), random(40, 3));
            let lhs = dot(&tangent(m, &x, &a, steps, 0.05), &b);
            let rhs = dot(&a, &adjoint(m, &x, &b, steps, 0.05));
            let rel = (lhs - rhs).abs() / lhs.abs().max(rhs.abs());
            eprintln!("{name}, {steps} steps: ⟨M'a, b⟩ = {lhs:e}, ⟨a, M'ᵀb⟩ = {rhs:e}, rel {rel:e}");
            assert!(rel < 1e-12, "{name}, {steps} steps: {lhs} vs {rhs}");
        }
    }
}

/// The tangent-linear of one step is the matrix `step_jacobian` would be with the exact RK4
/// derivative: checked column by column against central differences of the step (1e-7).
#[test]
fn lorenz96_tangent_linear_matches_central_differences() {
    let model = Lorenz96::standard();
    let x = attractor_state(&model);
    let h = 1e-6;
    for col in [0, 17, 39] {
        let mut e = vec![0.0; 40];
        e[col] = 1.0;
        let tl = tangent(&model, &x, &e, 1, 0.05);
        let (mut p, mut m) = (x.clone(), x.clone());
        p[col] += h;
        m[col] -= h;
        model.step(&mut p, 0.0, 0.05);
        model.step(&mut m, 0.0, 0.05);
        for i in 0..40 {
            let fd = (p[i] - m[i]) / (2.0 * h);
            assert!((fd - tl[i]).abs() < 1e-7, "column {col}, row {i}: {fd} vs {}", tl[i]);
        }
    }
}
