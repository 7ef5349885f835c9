//! Time integration shared by the tendency-based models.

/// One classical fourth-order Runge–Kutta step of `dx/dt = f(x)`, in place.
///
/// The stages are scaled by `dt` before they are combined, in the same order of operations
/// as DAPPER's `rk4`, so the integrator fixtures agree with DAPPER to rounding (≈1e-15).
/// `scratch` is resized to `5·len(x)`; reuse it across steps to avoid allocating.
pub fn rk4_step(f: impl Fn(&[f64], &mut [f64]), x: &mut [f64], dt: f64, scratch: &mut Vec<f64>) {
    let n = x.len();
    scratch.resize(5 * n, 0.0);
    let (k1, rest) = scratch.split_at_mut(n);
    let (k2, rest) = rest.split_at_mut(n);
    let (k3, rest) = rest.split_at_mut(n);
    let (k4, tmp) = rest.split_at_mut(n);
    f(x, k1);
    k1.iter_mut().for_each(|k| *k *= dt);
    for i in 0..n {
        tmp[i] = x[i] + k1[i] / 2.0;
    }
    f(tmp, k2);
    k2.iter_mut().for_each(|k| *k *= dt);
    for i in 0..n {
        tmp[i] = x[i] + k2[i] / 2.0;
    }
    f(tmp, k3);
    k3.iter_mut().for_each(|k| *k *= dt);
    for i in 0..n {
        tmp[i] = x[i] + k3[i];
    }
    f(tmp, k4);
    k4.iter_mut().for_each(|k| *k *= dt);
    for i in 0..n {
        x[i] += (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i]) / 6.0;
    }
}

/// The stage states of one RK4 step from `x`: `x`, `x + k₁/2`, `x + k₂/2`, `x + k₃` (the
/// points where the tangent-linear and adjoint evaluate the tendency's Jacobian).
fn rk4_stage_states(f: &impl Fn(&[f64], &mut [f64]), x: &[f64], dt: f64) -> [Vec<f64>; 4] {
    let n = x.len();
    let mut k = vec![0.0; n];
    let mut next = |from: &[f64], scale: f64| -> Vec<f64> {
        f(from, &mut k);
        (0..n).map(|i| x[i] + scale * dt * k[i]).collect()
    };
    let s2 = next(x, 0.5);
    let s3 = next(&s2, 0.5);
    let s4 = next(&s3, 1.0);
    [x.to_vec(), s2, s3, s4]
}

/// The tangent-linear of one RK4 step at `x`: `dx ← M'(x) dx`, given the tendency `f` and its
/// tangent-linear `jv(x, v, out)`: `out = ∂f/∂x(x) v`. Exact for the discrete step (the
/// Taylor test converges at second order).
pub fn rk4_tangent(
    f: impl Fn(&[f64], &mut [f64]),
    jv: impl Fn(&[f64], &[f64], &mut [f64]),
    x: &[f64],
    dx: &mut [f64],
    dt: f64,
) {
    let n = x.len();
    let stages = rk4_stage_states(&f, x, dt);
    let mut dk = [vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]];
    let mut arg = dx.to_vec();
    for (s, scale) in [(0, 0.5), (1, 0.5), (2, 1.0), (3, 0.0)] {
        jv(&stages[s], &arg, &mut dk[s]);
        for i in 0..n {
            arg[i] = dx[i] + scale * dt * dk[s][i];
        }
    }
    for i in 0..n {
        dx[i] += dt * (dk[0][i] + 2.0 * (dk[1][i] + dk[2][i]) + dk[3][i]) / 6.0;
    }
}

/// The adjoint of [`rk4_tangent`]: `λ ← M'(x)ᵀ λ`, given the tendency and the adjoint of its
/// tangent-linear `jtv(x, v, out)`: `out = ∂f/∂x(x)ᵀ v`. `⟨M' a, b⟩ = ⟨a, M'ᵀ b⟩` to rounding.
pub fn rk4_adjoint(
    f: impl Fn(&[f64], &mut [f64]),
    jtv: impl Fn(&[f64], &[f64], &mut [f64]),
    x: &[f64],
    lam: &mut [f64],
    dt: f64,
) {
    let n = x.len();
    let stages = rk4_stage_states(&f, x, dt);
    // The adjoints of the stage increments dk₁..dk₄ from the final combination.
    let mut adj_dk: [Vec<f64>; 4] = [
        lam.iter().map(|l| dt / 6.0 * l).collect(),
        lam.iter().map(|l| dt / 3.0 * l).collect(),
        lam.iter().map(|l| dt / 3.0 * l).collect(),
        lam.iter().map(|l| dt / 6.0 * l).collect(),
    ];
    let mut u = vec![0.0; n];
    // Backwards through dk₄ = J₄(dx + dt dk₃), dk₃ = J₃(dx + dt/2 dk₂), dk₂ = J₂(dx + dt/2 dk₁),
    // dk₁ = J₁ dx.
    for (s, scale) in [(3, 1.0), (2, 0.5), (1, 0.5), (0, 0.0)] {
        jtv(&stages[s], &adj_dk[s], &mut u);
        for i in 0..n {
            lam[i] += u[i];
        }
        if s > 0 {
            for i in 0..n {
                adj_dk[s - 1][i] += scale * dt * u[i];
            }
        }
    }
}
