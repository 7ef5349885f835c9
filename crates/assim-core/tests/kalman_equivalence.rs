//! Equivalence checks that cannot pass by accident: on a linear-Gaussian problem the
//! Kalman filter is exact, and ensemble filters must converge to it as N grows.

use assim_core::classical::{
    Assimilator, EnKF, EnKFN, EnKFUpdate, Estimate, ExtKF, Gaussian, IEnKS, Setup, Var4D,
};
use assim_core::dynamics::{LinearModel, Model};
use assim_core::obs::{ObsOperator, PartialIdentity};
use assim_core::rng::{normal, stream};
use faer::Mat;

/// A 4-variable linear model: two slowly growing rotations coupled weakly, observed on
/// variables 0 and 2 with R = 0.5 I. Observable, unstable (|eig| ≈ 1.04), so the filter
/// matters, and the KF forgets its initial covariance within tens of cycles.
struct Problem {
    model: LinearModel,
    obs: PartialIdentity,
    obs_var: Vec<f64>,
    x0: Gaussian,
    clim: Gaussian,
}

fn problem() -> Problem {
    let (c, s) = (0.3f64.cos() * 1.04, 0.3f64.sin() * 1.04);
    let m = [[c, -s, 0.05, 0.0], [s, c, 0.0, 0.0], [0.0, 0.05, c, s], [0.0, 0.0, -s, c]];
    let model = LinearModel { m: Mat::from_fn(4, 4, |i, j| m[i][j]) };
    let obs = PartialIdentity::new(4, vec![0, 2]).unwrap();
    let x0 = Gaussian::isotropic(vec![1.0, 0.0, -1.0, 0.5], 1.0);
    Problem { model, obs, obs_var: vec![0.5, 0.5], clim: x0.clone(), x0 }
}

impl Problem {
    /// The methods' view: unit time step, the climatology as given.
    fn setup(&self) -> Setup<'_> {
        Setup {
            model: &self.model,
            dt: 1.0,
            obs: &self.obs,
            obs_var: &self.obs_var,
            x0: &self.x0,
            climatology: &self.clim,
            localizer: None,
        }
    }
}

fn mean_and_var(est: &Estimate<'_>) -> (Vec<f64>, Vec<f64>) {
    match *est {
        Estimate::Ensemble { members, .. } => {
            let n = members.ncols() as f64;
            let mean: Vec<f64> = (0..members.nrows())
                .map(|i| (0..members.ncols()).map(|j| members[(i, j)]).sum::<f64>() / n)
                .collect();
            let var = (0..members.nrows())
                .map(|i| {
                    (0..members.ncols()).map(|j| (members[(i, j)] - mean[i]).powi(2)).sum::<f64>() / (n - 1.0)
                })
                .collect();
            (mean, var)
        }
        Estimate::State { mean, var } => (mean.to_vec(), var.unwrap().to_vec()),
    }
}

/// Cycles the exact KF and `enkf` on the same truth and observations; returns the largest
/// mean difference and the largest relative variance difference over the last 20 cycles,
/// in units of the KF's analysis standard deviation.
fn compare(enkf: &mut dyn Assimilator, cycles: usize) -> (f64, f64) {
    let p = problem();
    let (model, obs, obs_var, x0) = (&p.model, &p.obs, p.obs_var.as_slice(), &p.x0);
    let setup = p.setup();
    let mut kf = ExtKF::new(1.0);
    let mut rng = stream(42, "kf-test");
    kf.initialise(&setup, &mut rng).unwrap();
    enkf.initialise(&setup, &mut rng).unwrap();
    let mut truth = x0.sample(1, &mut rng).unwrap().col(0).iter().copied().collect::<Vec<f64>>();
    let (mut worst_mean, mut worst_var) = (0.0f64, 0.0f64);
    for k in 1..=cycles {
        let t = k as f64;
        model.step(&mut truth, t - 1.0, 1.0);
        let mut y = vec![0.0; 2];
        obs.apply(&truth, &mut y);
        y.iter_mut().zip(obs_var).for_each(|(v, r)| *v += r.sqrt() * normal(&mut rng));
        kf.forecast(&setup, t - 1.0, 1).unwrap();
        enkf.forecast(&setup, t - 1.0, 1).unwrap();
        kf.analyse(&setup, &y, t, &mut rng).unwrap();
        enkf.analyse(&setup, &y, t, &mut rng).unwrap();
        if k + 20 > cycles {
            let (mk, vk) = mean_and_var(&kf.estimate());
            let (me, ve) = mean_and_var(&enkf.estimate());
            for i in 0..4 {
                worst_mean = worst_mean.max((mk[i] - me[i]).abs() / vk[i].sqrt());
                worst_var = worst_var.max((vk[i] - ve[i]).abs() / vk[i]);
            }
        }
    }
    (worst_mean, worst_var)
}

#[test]
fn etkf_with_large_ensemble_is_the_kalman_filter() {
    // The square-root filter propagates the sample mean and covariance exactly as the KF
    // would from the initial sample; the only difference is the initial sampling error
    // (~1/√N ≈ 2%), which a stable filter forgets geometrically (measured: ×0.97 per
    // cycle, 9e-5 σ after 160 cycles, 1e-6 σ after 320). A wrong gain, transform or
    // anomaly scaling would leave an O(0.1–1) error that does not decay.
    let mut enkf = EnKF::new(EnKFUpdate::Sqrt, 2000, 1.0, false);
    let (dm160, _) = compare(&mut enkf, 160);
    let mut enkf = EnKF::new(EnKFUpdate::Sqrt, 2000, 1.0, false);
    let (dm320, dv320) = compare(&mut enkf, 320);
    assert!(dm320 < 1e-5 && dv320 < 1e-8, "mean diff {dm320:e} σ, var diff {dv320:e}");
    assert!(dm160 / dm320 > 10.0, "the difference must decay geometrically: {dm160:e} → {dm320:e}");
}

#[test]
fn enkf_n_with_a_large_ensemble_is_the_kalman_filter() {
    // EnKF-N's inflation is the mode of its hyperprior posterior; as N grows the hyperprior
    // concentrates on no inflation and the innovation's pull on l fades like P/N, so the
    // filter becomes the ETKF and hence the KF. N = 2000 (P = 2): l within ~1e-3 of 1 each
    // cycle, so the analysis stays within a few thousandths of a σ of the KF. At N = 10 the
    // inflation is O(10 %) and the filter is measurably not the KF (the check has teeth).
    let mut big = EnKFN::new(2000, 1.0, 0.0, 1.0, false);
    let (dm, dv) = compare(&mut big, 160);
    eprintln!("EnKF-N N=2000: mean diff {dm:e} σ, var diff {dv:e}, last l = {}", big.last_inflation);
    assert!(dm < 0.01 && dv < 0.02, "mean diff {dm} σ, var diff {dv}");
    assert!((big.last_inflation - 1.0).abs() < 5e-3, "{}", big.last_inflation);
    let mut small = EnKFN::new(10, 1.0, 0.0, 1.0, false);
    let (dm, dv) = compare(&mut small, 160);
    eprintln!("EnKF-N N=10: mean diff {dm:e} σ, var diff {dv:e}, last l = {}", small.last_inflation);
    assert!(dm > 0.05 || dv > 0.1, "N = 10 should not match the KF: {dm} {dv}");
}

#[test]
fn ienks_on_a_linear_model_is_the_etkf_whatever_its_window_and_iterations() {
    // On a linear model Gauss–Newton converges in one step, and the smoothed ensemble at the
    // window's start, propagated, is the filter's: the iEnKS's analyses equal the ETKF's from
    // the same initial ensemble (N = 8: exact, not asymptotic) for any lag and iteration
    // count, to rounding. A wrong de-conditioning or linearised final increment breaks this by
    // O(0.1 σ) within a few cycles (the latter scaled by 0.9: 0.4 σ); the window's
    // bookkeeping, which a linear model cannot see, is tested beside the method.
    let p = problem();
    let (model, obs, obs_var, x0) = (&p.model, &p.obs, p.obs_var.as_slice(), &p.x0);
    let setup = p.setup();
    for (lag, n_iter) in [(1, 1), (1, 4), (2, 3), (3, 2)] {
        let mut etkf = EnKF::new(EnKFUpdate::Sqrt, 8, 1.0, false);
        let mut ienks = IEnKS::new(8, lag, n_iter, 0.0, None, 1.0, false);
        etkf.initialise(&setup, &mut stream(7, "init")).unwrap();
        ienks.initialise(&setup, &mut stream(7, "init")).unwrap();
        let mut rng = stream(8, "truth");
        let mut truth = x0.sample(1, &mut rng).unwrap().col(0).iter().copied().collect::<Vec<f64>>();
        let mut worst = 0.0f64;
        for k in 1..=40 {
            let t = k as f64;
            model.step(&mut truth, t - 1.0, 1.0);
            let mut y = vec![0.0; 2];
            obs.apply(&truth, &mut y);
            y.iter_mut().zip(obs_var).for_each(|(v, r)| *v += r.sqrt() * normal(&mut rng));
            etkf.forecast(&setup, t - 1.0, 1).unwrap();
            ienks.forecast(&setup, t - 1.0, 1).unwrap();
            let (fe, _) = mean_and_var(&etkf.estimate());
            let (fi, _) = mean_and_var(&ienks.estimate());
            etkf.analyse(&setup, &y, t, &mut rng.clone()).unwrap();
            ienks.analyse(&setup, &y, t, &mut rng.clone()).unwrap();
            let (me, ve) = mean_and_var(&etkf.estimate());
            let (mi, vi) = mean_and_var(&ienks.estimate());
            for i in 0..4 {
                worst = worst.max((me[i] - mi[i]).abs() / ve[i].sqrt()).max((ve[i] - vi[i]).abs() / ve[i]);
                worst = worst.max((fe[i] - fi[i]).abs() / ve[i].sqrt());
            }
        }
        assert!(worst < 1e-9, "lag {lag}, {n_iter} iterations: {worst:e}");
    }
}

#[test]
fn var4d_on_a_linear_model_is_the_blue_of_its_window() {
    // With a linear model and H, 4D-Var's minimiser is the best linear unbiased estimate of the
    // window's initial state: δx₀ = B Mᵀ Hᵀ (H M B Mᵀ Hᵀ + R)⁻¹ (y − H M x₀), M the window's
    // propagator, and its analysis at the observation time is M(x₀ + δx₀). Checked against
    // that formula in dense algebra over two analyses of a two-cycle window (the second
    // starts from the first's smoothed state), for 1 and 3 outer loops (one is exact).
    let mut p = problem();
    p.clim = Gaussian {
        mean: vec![0.0; 4],
        cov: Mat::from_fn(4, 4, |i, j| if i == j { 2.0 } else { 0.3 / (1.0 + (i as f64 - j as f64).abs()) }),
    };
    let (model, obs, obs_var, x0, clim) = (&p.model, &p.obs, p.obs_var.as_slice(), &p.x0, &p.clim);
    let setup = p.setup();
    let xb = 0.5;
    let b = &clim.cov * faer::Scale(xb);
    let h = obs.matrix().unwrap();
    let r = Mat::from_fn(2, 2, |i, j| if i == j { obs_var[i] } else { 0.0 });
    let m = &model.m;
    let blue = |prop: &Mat<f64>, start: &[f64], y: &[f64]| -> Vec<f64> {
        let hm = &h * prop;
        let s = &hm * &b * hm.transpose() + &r;
        let xs = Mat::from_fn(4, 1, |i, _| start[i]);
        let d = Mat::from_fn(2, 1, |i, _| y[i]) - &hm * &xs;
        let dx = &b * hm.transpose() * assim_core::linalg::spd_solve(s.as_ref(), d.as_ref()).unwrap();
        (0..4).map(|i| start[i] + dx[(i, 0)]).collect()
    };
    let apply = |prop: &Mat<f64>, x: &[f64]| -> Vec<f64> {
        (0..4).map(|i| (0..4).map(|j| prop[(i, j)] * x[j]).sum()).collect()
    };
    let (y1, y2) = ([0.7, -0.4], [1.3, 0.2]);
    // Analysis 1: window τ₀ → τ₁ (the run has begun); analysis 2: τ₀ → τ₂, from the smoothed τ₀.
    let s1 = blue(m, &x0.mean, &y1);
    let m2 = m * m;
    let s2 = blue(&m2, &s1, &y2);
    for n_iter in [1, 3] {
        let mut var = Var4D::new(xb, 2, n_iter, 0.0, 50, 1e-13);
        let mut rng = stream(1, "var4d");
        var.initialise(&setup, &mut rng).unwrap();
        var.forecast(&setup, 0.0, 1).unwrap();
        var.analyse(&setup, &y1, 1.0, &mut rng).unwrap();
        let a1 = var.estimate().mean();
        var.forecast(&setup, 1.0, 1).unwrap();
        var.analyse(&setup, &y2, 2.0, &mut rng).unwrap();
        let a2 = var.estimate().mean();
        for (got, want) in [(a1, apply(m, &s1)), (a2, apply(&m2, &s2))] {
            for i in 0..4 {
                assert!((got[i] - want[i]).abs() < 1e-9, "{n_iter} loops: {got:?} vs {want:?}");
            }
        }
    }
}

#[test]
fn perturbed_obs_enkf_converges_to_the_kalman_filter() {
    // Stochastic: Monte-Carlo error ~ 1/√N ≈ 0.7% per cycle for N = 20000; accept 5% of a
    // standard deviation in the mean and 10% in the variance (7σ and 5σ of that error).
    let mut enkf = EnKF::new(EnKFUpdate::PertObs, 20000, 1.0, false);
    let (dm, dv) = compare(&mut enkf, 60);
    assert!(dm < 0.05 && dv < 0.10, "mean diff {dm} σ, var diff {dv}");
    // …and a small ensemble is measurably different (the check has teeth).
    let mut small = EnKF::new(EnKFUpdate::PertObs, 5, 1.0, false);
    let (dm, _) = compare(&mut small, 60);
    assert!(dm > 0.05, "N = 5 should not match the KF: {dm}");
}

#[test]
fn kalman_filter_is_exact_on_a_scalar_problem() {
    // Scalar x ← 0.9x, y = x + ε, R = 1, X0 = N(0, 4): one forecast/analysis by hand.
    let model = LinearModel { m: Mat::from_fn(1, 1, |_, _| 0.9) };
    let obs = PartialIdentity::all(1);
    let x0 = Gaussian::isotropic(vec![0.0], 4.0);
    let setup = Setup {
        model: &model,
        dt: 1.0,
        obs: &obs,
        obs_var: &[1.0],
        x0: &x0,
        climatology: &x0,
        localizer: None,
    };
    let mut kf = ExtKF::new(1.0);
    let mut rng = stream(1, "scalar");
    kf.initialise(&setup, &mut rng).unwrap();
    kf.forecast(&setup, 0.0, 1).unwrap();
    kf.analyse(&setup, &[2.0], 1.0, &mut rng).unwrap();
    let pf = 0.81 * 4.0;
    let gain = pf / (pf + 1.0);
    let (m, v) = mean_and_var(&kf.estimate());
    assert!((m[0] - gain * 2.0).abs() < 1e-14);
    assert!((v[0] - (1.0 - gain) * pf).abs() < 1e-14);
}
