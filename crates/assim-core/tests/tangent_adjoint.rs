//! The tangent-linear and adjoint models that 4D-Var differentiates through: the Taylor test
//! (the tangent-linear is the derivative of the discrete step: the remainder falls at second
//! order) and the dot-product test (the adjoint is its transpose, to rounding), on one step
//! and over a 20-step window of Lorenz-96 from a state on its attractor.

use assim_core::dynamics::{LinearModel, Lorenz63, Lorenz96, Model};
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

/// Lorenz-63 (dt = 0.01, 25 steps: one of `l63_sakov2012`'s windows) from a state on its
/// attractor: the Taylor remainder falls at second order and the adjoint is the tangent's
/// transpose to 1e-12.
#[test]
fn lorenz63_tangent_and_adjoint_pass_the_taylor_and_dot_product_tests() {
    let model = Lorenz63::default();
    let mut x = vec![1.0, 1.0, 20.0];
    model.advance(&mut x, 0.0, 0.01, 1000);
    let (dt, steps) = (0.01, 25);
    let dx = random(3, 4);
    let mut base = x.clone();
    model.advance(&mut base, 0.0, dt, steps);
    let tl = tangent(&model, &x, &dx, steps, dt);
    let remainder = |eps: f64| {
        let mut p: Vec<f64> = x.iter().zip(&dx).map(|(a, b)| a + eps * b).collect();
        model.advance(&mut p, 0.0, dt, steps);
        norm(&(0..3).map(|i| p[i] - base[i] - eps * tl[i]).collect::<Vec<_>>())
    };
    let (r2, r3, r4) = (remainder(1e-2), remainder(1e-3), remainder(1e-4));
    for (a, b) in [(r2, r3), (r3, r4)] {
        assert!((50.0..200.0).contains(&(a / b)), "ratio {} (second order: 100)", a / b);
    }
    let b = random(3, 5);
    let lhs = dot(&tl, &b);
    let rhs = dot(&dx, &adjoint(&model, &x, &b, steps, dt));
    assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(rhs.abs()), "{lhs} vs {rhs}");
}

mod shallow_water {
    //! The spectral shallow-water model's tangent-linear and adjoint, on a T21 Rossby–Haurwitz
    //! wave (Williamson case 6) with the stirred, jet-dragged climate's forcing, its
    //! hyperdiffusion and Robert–Asselin–Williams filter: every term of the step is exercised.

    use assim_core::dynamics::shallow_water::{
        Forcing, InitialCondition, JetDrag, Orography, ShallowWater, Stirring, SwParams, SwState,
    };
    use assim_core::rng::{normal, stream};
    use assim_core::spectral::Complex64;

    /// The T21 model with dt = 1800 s (for the grid tests).
    pub(super) fn model_for_grid() -> ShallowWater {
        model()
    }

    fn model() -> ShallowWater {
        let forcing = Forcing {
            stirring: Some(Stirring {
                strength: 3e-10,
                lifetime: 2.0 * 86400.0,
                n_min: 8,
                n_max: 12,
                m_min: 3,
                latitude: 45f64.to_radians(),
                width: 12f64.to_radians(),
            }),
            jet_drag: Some(JetDrag {
                timescale: 20.0 * 86400.0,
                u0: 20.0,
                latitude: 40f64.to_radians(),
                width: 10f64.to_radians(),
            }),
        };
        ShallowWater::new(SwParams::earth(21, 1800.0), Orography::None, Some(forcing)).unwrap()
    }

    /// A random perturbation of the size of weather's: vorticity and divergence ~1e-6 s⁻¹,
    /// geopotential ~100 m² s⁻², its global mean included (the semi-implicit reference `Φ̄`
    /// depends on it).
    fn perturbation(model: &ShallowWater, seed: u64) -> SwState {
        let tr = model.truncation();
        let mut rng = stream(seed, "sw-tangent");
        let mut field = |scale: f64| -> Vec<Complex64> {
            tr.modes()
                .map(|(m, _)| {
                    let re = scale * normal(&mut rng);
                    let im = if m == 0 { 0.0 } else { scale * normal(&mut rng) };
                    Complex64::new(re, im)
                })
                .collect()
        };
        SwState { vor: field(1e-6), div: field(3e-7), phi: field(100.0) }
    }

    fn run(model: &ShallowWater, x: &SwState, steps: u64) -> SwState {
        let mut integ = model.start(x.clone(), 7).unwrap();
        model.run(&mut integ, steps);
        integ.state().clone()
    }

    fn axpy(x: &SwState, a: f64, d: &SwState) -> SwState {
        let f = |u: &[Complex64], v: &[Complex64]| u.iter().zip(v).map(|(p, q)| p + q * a).collect();
        SwState { vor: f(&x.vor, &d.vor), div: f(&x.div, &d.div), phi: f(&x.phi, &d.phi) }
    }

    /// The perturbation's size in units of the perturbation itself, per field.
    fn norm(d: &SwState) -> f64 {
        let f = |u: &[Complex64], s: f64| u.iter().map(|c| c.norm_sqr()).sum::<f64>() / (s * s);
        (f(&d.vor, 1e-6) + f(&d.div, 3e-7) + f(&d.phi, 100.0)).sqrt()
    }

    fn dot(a: &SwState, b: &SwState) -> f64 {
        let f = |u: &[Complex64], v: &[Complex64]| {
            u.iter().zip(v).map(|(p, q)| p.re * q.re + p.im * q.im).sum::<f64>()
        };
        f(&a.vor, &b.vor) + f(&a.div, &b.div) + f(&a.phi, &b.phi)
    }

    fn start_state(model: &ShallowWater) -> SwState {
        model.initial_state(&InitialCondition::Williamson6).unwrap()
    }

    /// Taylor test: `‖M(x + εδ) − M(x) − ε M'δ‖ / ε` falls linearly with ε (the remainder is
    /// second order) over 1 and 24 steps (12 hours). Halving ε from 1e-2 to 1e-4 must cut the
    /// normalised remainder by ≥ 50× of the 100× a second-order remainder gives (rounding
    /// takes over only below ε ≈ 1e-7 at these sizes).
    #[test]
    fn shallow_water_tangent_linear_passes_the_taylor_test() {
        let model = model();
        let x = start_state(&model);
        let dx = perturbation(&model, 1);
        for steps in [1u64, 24] {
            let mut integ = model.start(x.clone(), 7).unwrap();
            let tl = model.run_linearised(&mut integ, steps);
            let base = integ.state().clone();
            assert_eq!(base, run(&model, &x, steps), "the recorded run is the model's run");
            let mut mdx = dx.clone();
            tl.tangent(&mut mdx);
            let remainder = |eps: f64| {
                let pert = run(&model, &axpy(&x, eps, &dx), steps);
                let diff = axpy(&axpy(&pert, -1.0, &base), -eps, &mdx);
                norm(&diff) / (eps * norm(&mdx))
            };
            let (r2, r4) = (remainder(1e-2), remainder(1e-4));
            assert!(r2 < 1e-2, "{steps} steps: the tangent-linear is off at ε = 1e-2: {r2:e}");
            assert!(r4 < r2 / 50.0, "{steps} steps: the remainder is not second order: {r2:e} → {r4:e}");
        }
    }

    /// Only field `f` (0 vorticity, 1 divergence, 2 geopotential) of `d`, the others zero.
    fn only(d: &SwState, f: usize) -> SwState {
        let keep = |u: &[Complex64], g: usize| -> Vec<Complex64> {
            u.iter().map(|c| if g == f { *c } else { Complex64::new(0.0, 0.0) }).collect()
        };
        SwState { vor: keep(&d.vor, 0), div: keep(&d.div, 1), phi: keep(&d.phi, 2) }
    }

    /// Dot-product test: `⟨M'δ, λ⟩ = ⟨δ, M'ᵀλ⟩` over 24 steps for each pair of input and output
    /// fields (the fields' sizes differ by 10⁸, so one sum over all would hide the vorticity's
    /// blocks), to 1e-12 of the Cauchy–Schwarz bound `‖M'δ‖‖λ‖`: sums of ~10³ products
    /// accumulated over 24 steps; an error in any coefficient shows at O(1).
    #[test]
    fn shallow_water_adjoint_passes_the_dot_product_test() {
        let model = model();
        let x = start_state(&model);
        let mut integ = model.start(x, 7).unwrap();
        let tl = model.run_linearised(&mut integ, 24);
        let (dx, lam) = (perturbation(&model, 2), perturbation(&model, 3));
        for fi in 0..3 {
            for fo in 0..3 {
                let (d, l) = (only(&dx, fi), only(&lam, fo));
                let mut md = d.clone();
                tl.tangent(&mut md);
                let mut ml = l.clone();
                tl.adjoint(&mut ml);
                let (left, right) = (dot(&md, &l), dot(&d, &ml));
                let bound = dot(&only(&md, fo), &only(&md, fo)).sqrt() * dot(&l, &l).sqrt();
                assert!(
                    (left - right).abs() < 1e-12 * bound,
                    "field {fi} → {fo}: {left:e} vs {right:e} (bound {bound:e})"
                );
            }
        }
    }
}

mod shallow_water_grid {
    //! [`Model::linearise`] of the shallow-water bed's grid model (what 4D-Var calls): the
    //! transforms around the spectral tangent-linear, over a window of four 6-hour forecasts,
    //! each restarting the leapfrog as the bed's forecasts do.

    use std::sync::Arc;

    use assim_core::dynamics::shallow_water::{ForecastStirring, InitialCondition, SwGridModel, grid_state};
    use assim_core::dynamics::{Linearisation, Model};

    use super::{dot, norm, random};

    fn setup() -> (SwGridModel, Vec<f64>) {
        let sw = Arc::new(super::shallow_water::model_for_grid());
        let x = grid_state(&sw, &sw.initial_state(&InitialCondition::Williamson6).unwrap());
        (SwGridModel::new(sw, 12, Vec::new(), ForecastStirring::Truth).unwrap(), x)
    }

    /// A random grid perturbation, ~100 m² s⁻² in geopotential and ~2 m s⁻¹ in wind (not
    /// band-limited: the forecast's first transform projects it, in the model and in its
    /// tangent-linear alike).
    fn perturbation(model: &SwGridModel, seed: u64) -> Vec<f64> {
        let n = model.dim();
        let mut d = random(n, seed);
        let g = n / 3;
        d[..g].iter_mut().for_each(|v| *v *= 100.0);
        d[g..].iter_mut().for_each(|v| *v *= 2.0);
        d
    }

    fn window<'a>(model: &'a SwGridModel, x: &mut [f64]) -> Vec<Box<dyn Linearisation + 'a>> {
        (0..4).map(|c| model.linearise(x, (c * 12) as f64 * 1800.0, 1800.0, 12).unwrap()).collect()
    }

    /// Taylor test over the 24-hour window: the remainder `‖M(x + εδ) − M(x) − εM'δ‖` falls at
    /// second order, as in the spectral test.
    #[test]
    fn grid_linearisation_passes_the_taylor_test() {
        let (model, x) = setup();
        let mut end = x.clone();
        let lins = window(&model, &mut end);
        let dx = perturbation(&model, 5);
        let mut mdx = dx.clone();
        lins.iter().for_each(|l| l.tangent(&mut mdx));
        let remainder = |eps: f64| {
            let mut xp: Vec<f64> = x.iter().zip(&dx).map(|(a, b)| a + eps * b).collect();
            for c in 0..4 {
                model.advance(&mut xp, (c * 12) as f64 * 1800.0, 1800.0, 12);
            }
            // Geopotential and winds apart: their sizes differ by 50×.
            let g = xp.len() / 3;
            let diff: Vec<f64> = (0..xp.len()).map(|i| xp[i] - end[i] - eps * mdx[i]).collect();
            [(0, g), (g, 2 * g), (2 * g, 3 * g)].map(|(a, b)| norm(&diff[a..b]) / (eps * norm(&mdx[a..b])))
        };
        let (r2, r4) = (remainder(1e-2), remainder(1e-4));
        for f in 0..3 {
            assert!(r2[f] < 3e-2, "field {f}: the tangent-linear is off at ε = 1e-2: {:e}", r2[f]);
            assert!(
                r4[f] < r2[f] / 50.0,
                "field {f}: the remainder is not second order: {:e} → {:e}",
                r2[f],
                r4[f]
            );
        }
    }

    /// Dot-product test of the window's adjoint, geopotential and winds apart (their sizes
    /// differ by 50×), to 1e-12 of the Cauchy–Schwarz bound.
    #[test]
    fn grid_linearisation_adjoint_passes_the_dot_product_test() {
        let (model, x) = setup();
        let mut end = x.clone();
        let lins = window(&model, &mut end);
        let g = model.dim() / 3;
        for (fi, fo) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let part = |v: &[f64], f: usize| -> Vec<f64> {
                v.iter().enumerate().map(|(i, a)| if (i >= g) as usize == f { *a } else { 0.0 }).collect()
            };
            let d = part(&perturbation(&model, 6), fi);
            let lam = part(&perturbation(&model, 7), fo);
            let mut md = d.clone();
            lins.iter().for_each(|l| l.tangent(&mut md));
            let mut ml = lam.clone();
            lins.iter().rev().for_each(|l| l.adjoint(&mut ml));
            let (left, right) = (dot(&md, &lam), dot(&d, &ml));
            let bound = norm(&part(&md, fo)) * norm(&lam);
            assert!(
                (left - right).abs() < 1e-12 * bound,
                "{fi} → {fo}: {left:e} vs {right:e} (bound {bound:e})"
            );
        }
    }
}
