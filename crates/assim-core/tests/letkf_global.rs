//! With an unbounded localisation radius every local analysis sees every observation with
//! weight 1, so the LETKF must reproduce the global ETKF (EnKF Sqrt) member by member.

use assim_core::bed::lorenz::TwinSetup;
use assim_core::classical::{Assimilator, EnKF, EnKFUpdate, Estimate, LETKF};
use assim_core::experiment::Experiment;
use assim_core::rng::stream;

const EXP: &str = r#"
name = "letkf-global"
seeds = [7]
[model]
kind = "lorenz96"
[chronology]
dt = 0.05
dko = 1
ko = 150
burn_in = 1.0
[x0]
mean = "e0"
var = 0.001
[observations]
indices = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 39, 1, 5]
sigma = 1.0
[[methods]]
method = "Climatology"
"#;

fn members(a: &dyn Assimilator) -> faer::Mat<f64> {
    match a.estimate() {
        Estimate::Ensemble { members, .. } => members.to_owned(),
        Estimate::State { .. } => unreachable!(),
    }
}

fn run_pair(n: usize) -> f64 {
    let exp = Experiment::parse(EXP, "letkf_global.rs").unwrap();
    let ts = TwinSetup::new(exp.bed_as().unwrap(), exp.chronology()).unwrap();
    let twin = ts.simulate(7).unwrap();
    let setup = ts.setup(&twin);
    let mut global = EnKF::new(EnKFUpdate::Sqrt, n, 1.03, false);
    let mut local = LETKF::new(n, f64::INFINITY, 1.03, false);
    let (mut r1, mut r2) = (stream(1, "same"), stream(1, "same"));
    global.initialise(&setup, &mut r1).unwrap();
    local.initialise(&setup, &mut r2).unwrap();
    let mut worst = 0.0f64;
    for k in 1..=ts.chrono.k() {
        let t = k as f64 * ts.chrono.dt;
        global.forecast(&setup, t - ts.chrono.dt, 1).unwrap();
        local.forecast(&setup, t - ts.chrono.dt, 1).unwrap();
        if let Some(ko) = ts.chrono.obs_index(k) {
            global.analyse(&setup, &twin.obs[ko], t, &mut r1).unwrap();
            local.analyse(&setup, &twin.obs[ko], t, &mut r2).unwrap();
            let (a, b) = (members(&global), members(&local));
            for j in 0..n {
                for i in 0..40 {
                    worst = worst.max((a[(i, j)] - b[(i, j)]).abs());
                }
            }
        }
    }
    worst
}

#[test]
fn letkf_with_infinite_radius_is_the_global_etkf() {
    // 23 observations: N = 15 (ensemble-space form) and N = 30 (observation-space form).
    // Same arithmetic up to summation order, through 150 chaotic cycles: rounding only.
    for n in [15, 30] {
        let d = run_pair(n);
        assert!(d < 1e-9, "N = {n}: max member difference {d:e}");
    }
}
