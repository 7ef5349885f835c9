//! Replays a DAPPER ETKF run on Lorenz-63 (written by `benches/dapper_l63_replay.py`): the same
//! truth, observations and initial ensemble through assim's EnKF Sqrt (N = 10, infl = 1.02, no
//! rotation), and prints assim's time-mean analysis RMSE after the burn-in (t > 16).
//!
//! `cargo run --release -p assim-core --example replay_dapper_l63 FILE`

use assim_core::classical::{Assimilator, EnKF, EnKFUpdate, EnsembleFilter, Estimate, Gaussian, Setup};
use assim_core::dynamics::Lorenz63;
use assim_core::obs::PartialIdentity;
use assim_core::rng::stream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: replay_dapper_l63 FILE")?;
    let text = std::fs::read_to_string(&path)?;
    let rows = |kind: &str| -> Result<Vec<Vec<f64>>, std::num::ParseFloatError> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{kind},")))
            .map(|l| l.split(',').skip(2).map(str::parse).collect())
            .collect()
    };
    let (e0, ys, xs) = (rows("e0")?, rows("y")?, rows("x")?);
    let model = Lorenz63::default();
    let obs = PartialIdentity::all(3);
    let x0 = Gaussian::isotropic(vec![1.509, -1.531, 25.46], 2.0);
    let setup = Setup {
        model: &model,
        dt: 0.01,
        obs: &obs,
        obs_var: &[2.0; 3],
        x0: &x0,
        climatology: &x0,
        localizer: None,
    };
    let mut enkf = EnKF::new(EnKFUpdate::Sqrt, e0.len(), 1.02, false);
    let mut rng = stream(0, "replay");
    enkf.initialise(&setup, &mut rng)?;
    let members = enkf.members_mut();
    for (j, m) in e0.iter().enumerate() {
        for (i, v) in m.iter().enumerate() {
            members[(i, j)] = *v;
        }
    }
    let mut errs = Vec::new();
    for (ko, (y, x)) in ys.iter().zip(&xs).enumerate() {
        let t0 = (25 * ko) as f64 * 0.01;
        enkf.forecast(&setup, t0, 25)?;
        enkf.analyse(&setup, y, t0 + 0.25, &mut rng)?;
        let Estimate::Ensemble { members, .. } = enkf.estimate() else { unreachable!() };
        let n = members.ncols() as f64;
        let sq: f64 = (0..3)
            .map(|i| ((0..members.ncols()).map(|j| members[(i, j)]).sum::<f64>() / n - x[i]).powi(2))
            .sum();
        if t0 + 0.25 > 16.0 {
            errs.push((sq / 3.0).sqrt());
        }
    }
    println!("assim rmse.a {}", errs.iter().sum::<f64>() / errs.len() as f64);
    Ok(())
}
