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
