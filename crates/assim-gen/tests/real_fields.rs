//! The fields bed on the shipped ERA5 ensemble (experiments/era5_eda.toml): the background's
//! error against an independent computation from the store, every method (the training-free
//! ensemble-score analysis included) scored on the same withheld members, and the bed's
//! refusals.

use std::path::PathBuf;

use assim_core::experiment::{Experiment, run_experiment};

fn experiments_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

/// The shipped file's text with `from` replaced by `to` (a check that it was there).
fn shipped_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(experiments_dir().join("era5_eda.toml")).unwrap();
    assert!(text.contains(from), "era5_eda.toml has no {from:?}");
    text.replace(from, to)
}

fn parse(text: &str) -> Result<Experiment, String> {
    Experiment::parse_with(text, "era5.toml", &experiments_dir(), &assim_gen::methods())
        .map_err(|e| e.to_string())
}

#[test]
fn the_era5_ensemble_is_the_background_of_its_withheld_member() {
    // Two of the ten withheld members keep the test short (the ensemble-score entry samples).
    let seeds = [0usize, 1];
    let exp = parse(&shipped_with("seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "seeds = [0, 1]")).unwrap();
    assert_eq!(exp.nx(), 4 * 32 * 64);
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    // Independently of the bed: the background's error is the distance from the withheld member
    // to the other nine members' mean, area-weighted on the T21 Gaussian grid, at the three
    // times after the first, averaged over the times and the withheld members.
    let store =
        assim_core::io::zarr::ZarrReader::open(&experiments_dir().join("data/era5_eda_t21.zarr")).unwrap();
    let t = store.read_all("t").unwrap(); // [member 10][time 4][level 2][32][64]
    let grid = assim_core::grid::LatLonGrid::for_truncation(21).unwrap();
    let g = grid.len();
    let at = |m: usize, time: usize, p: usize| t[((m * 4 + time) * 2) * g + p]; // level 0: 500 hPa
    let mut total = 0.0;
    for &s in &seeds {
        let mut per_time = 0.0;
        for time in 1..4 {
            let se: f64 = (0..g)
                .map(|p| {
                    let mean = (0..10).filter(|&m| m != s).map(|m| at(m, time, p)).sum::<f64>() / 9.0;
                    grid.area_weight(p / grid.nlon()) * (mean - at(s, time, p)).powi(2)
                })
                .sum();
            per_time += se.sqrt() / 3.0;
        }
        total += per_time / seeds.len() as f64;
    }
    let background = &report.methods[0];
    assert_eq!(background.variables[0].variable, "air_temperature_500hPa");
    assert_eq!(background.variables[0].units, "K");
    let got = background.variables[0].rmse_a;
    assert!((got - total).abs() < 1e-9 * total, "background T500 RMSE {got} against {total}");
    // Every method is scored on the same truths, forecasts from the same background and stays
    // finite; 3D-Var uses the observations.
    for m in &report.methods {
        assert!(!m.diverged && m.scores.rmse_a.is_finite(), "{}", m.name);
        assert!((m.scores.rmse_f - background.scores.rmse_f).abs() < 1e-9, "{}: another background", m.name);
    }
    let var3d = report.methods.iter().find(|m| m.name.starts_with("Var3D")).unwrap();
    assert!(var3d.scores.rmse_a < background.scores.rmse_a);
    // The ensemble-score analysis samples a spread of the background's order (not a collapse).
    let score = report.methods.iter().find(|m| m.name.starts_with("EnsembleScore")).unwrap();
    assert!((0.3..3.0).contains(&score.spread_skill), "{}: spread/skill {}", score.name, score.spread_skill);
}

#[test]
fn the_fields_bed_refuses_a_bad_seed_a_wrong_step_and_a_missing_error() {
    let e = parse(&shipped_with("dt = 43200", "dt = 21600")).unwrap_err();
    assert!(e.contains("chronology.dt") && e.contains("43200"), "{e}");
    let e = parse(&shipped_with("ko = 2", "ko = 3")).unwrap_err();
    assert!(e.contains("chronology.ko") && e.contains("the store has 4"), "{e}");
    let e = parse(&shipped_with("sigma = { t = 0.1, z = 10.0 }", "sigma = { t = 0.1 }")).unwrap_err();
    assert!(e.contains("observing.sigma") && e.contains('z'), "{e}");
    let e =
        parse(&shipped_with("file = \"data/era5_eda_t21.zarr\"", "file = \"data/none.zarr\"")).unwrap_err();
    assert!(e.contains("model.file") && e.contains("none.zarr"), "{e}");
    let e = parse(&shipped_with("ridge = 0.5", "ridge = 0.0")).unwrap_err();
    assert!(e.contains("ridge"), "{e}");
    let exp = parse(&shipped_with("seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "seeds = [10]")).unwrap();
    let e = run_experiment(&exp, |_, _| {}).unwrap_err().to_string();
    assert!(e.contains("seed 10") && e.contains("withheld member"), "{e}");
}
