//! The deterministic integrator fixtures of `shared/reference/dapper_l96.md`, produced by
//! DAPPER 1.7.1 itself. Tolerance 1e-12: both sides are f64 RK4 with the same order of
//! operations, so the only differences are rounding amplified by chaos over ≤ 100 steps
//! (observed here: ≤ 5e-16 relative, the printing precision of the reference).

// The fixtures are quoted digit for digit from the reference file.
#![allow(clippy::excessive_precision)]

use assim_core::dynamics::{Lorenz63, Lorenz96, Model};

fn l96_from_e0(steps: usize) -> Vec<f64> {
    let m = Lorenz96::standard();
    let mut x = vec![0.0; 40];
    x[0] = 1.0;
    for k in 0..steps {
        m.step(&mut x, k as f64 * 0.05, 0.05);
    }
    x
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b} (diff {:e})", a - b);
}

#[test]
fn lorenz96_one_step() {
    let x = l96_from_e0(1);
    for (a, b) in x.iter().zip([1.34139195219363, 0.389771886953695, 0.380813371398179, 0.390166546057269]) {
        close(*a, b);
    }
    close(mean(&x), 0.413937901219439);
    close(norm(&x), 2.781399874981898);
}

#[test]
fn lorenz96_ten_steps() {
    let x = l96_from_e0(10);
    for (a, b) in x.iter().zip([3.502427722755344, 2.641603761519676, 2.757620577698765, 3.337755970853919]) {
        close(*a, b);
    }
    close(norm(&x), 20.007550710966896);
}

#[test]
fn lorenz96_hundred_steps() {
    let x = l96_from_e0(100);
    for (a, b) in x.iter().zip([0.90903897598403, 3.412922639545343, 8.659449028716923, 0.842885028833557]) {
        close(*a, b);
    }
    close(mean(&x), 2.361604599615135);
    close(norm(&x), 28.002751215521229);
}

#[test]
fn lorenz63_fixtures() {
    let m = Lorenz63::default();
    let mut x = vec![1.509, -1.531, 25.46];
    let expect = [
        (1, [1.222324266157226, -1.476780593994725, 24.769812347834446]),
        (25, [-1.507338095379017, -2.609792391168674, 13.248302652779609]),
        (100, [2.701140679666985, 4.389558184330705, 16.69997069600247]),
    ];
    let mut done = 0;
    for (steps, want) in expect {
        while done < steps {
            m.step(&mut x, done as f64 * 0.01, 0.01);
            done += 1;
        }
        for (a, b) in x.iter().zip(want) {
            close(*a, b);
        }
    }
}

#[test]
fn ensemble_forecast_equals_single_forecasts() {
    // 1 step of 30 members runs serially, 20 steps in parallel (see PARALLEL_MIN_WORK):
    // both must equal member-by-member stepping exactly.
    let m = Lorenz96::standard();
    for steps in [1, 20] {
        let mut e = faer::Mat::from_fn(40, 30, |i, j| ((i * 3 + j * 7) % 11) as f64 - 5.0);
        let cols: Vec<Vec<f64>> = (0..30)
            .map(|j| {
                let mut x: Vec<f64> = (0..40).map(|i| e[(i, j)]).collect();
                for k in 0..steps {
                    m.step(&mut x, k as f64 * 0.05, 0.05);
                }
                x
            })
            .collect();
        m.advance_ensemble(&mut e, 0.0, 0.05, steps);
        for (j, c) in cols.iter().enumerate() {
            for i in 0..40 {
                assert_eq!(e[(i, j)], c[i]);
            }
        }
    }
}

#[test]
fn jacobian_matches_finite_differences() {
    // The step Jacobian is DAPPER's "approx" resolvent I + dt·J; check J itself against
    // central differences of the tendency (error O(h²) ≈ 1e-10).
    use assim_core::dynamics::Tendency;
    let m = Lorenz96::standard();
    let x: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
    let j = m.tendency_jacobian(&x);
    let h = 1e-5;
    for c in 0..40 {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[c] += h;
        xm[c] -= h;
        let (mut fp, mut fm) = (vec![0.0; 40], vec![0.0; 40]);
        m.tendency(&xp, &mut fp);
        m.tendency(&xm, &mut fm);
        for r in 0..40 {
            assert!((j[(r, c)] - (fp[r] - fm[r]) / (2.0 * h)).abs() < 1e-8);
        }
    }
}

#[test]
fn lorenz63_lane_forecasts_equal_single_forecasts() {
    // Members are advanced 4 at a time (interleaved RK4 chains); 10 members leave a partial
    // chunk, 1000 members take the parallel path. Both must equal one-by-one stepping bitwise.
    let m = Lorenz63::default();
    for n in [10usize, 1000] {
        let mut e = faer::Mat::from_fn(3, n, |i, j| [1.509, -1.531, 25.46][i] + 0.01 * j as f64);
        let cols: Vec<Vec<f64>> = (0..n)
            .map(|j| {
                let mut x: Vec<f64> = (0..3).map(|i| e[(i, j)]).collect();
                for k in 0..25 {
                    m.step(&mut x, k as f64 * 0.01, 0.01);
                }
                x
            })
            .collect();
        m.advance_ensemble(&mut e, 0.0, 0.01, 25);
        for (j, c) in cols.iter().enumerate() {
            for i in 0..3 {
                assert_eq!(e[(i, j)], c[i], "member {j} of {n}");
            }
        }
    }
}
