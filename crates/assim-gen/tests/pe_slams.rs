//! The shipped multi-level models (`models/pe_t21/`) cycle the T21 OSSE of
//! `experiments/pe_t21_slams.toml` as that file gives them: the SLAMS-conditioned and the
//! background-conditioned priors, each guided through the decoder and the bed's operators, after
//! 3D-Var's spin-up, on a few windows.

use std::path::Path;

use assim_core::experiment::{Experiment, run_experiment};

#[test]
fn the_shipped_multi_level_priors_cycle_the_osse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("experiments");
    let text = std::fs::read_to_string(dir.join("pe_t21_slams.toml")).unwrap();
    // Five windows after a two-window 3D-Var spin-up, one seed; the models by absolute path.
    let text = text
        .replace("seeds = [1, 2]", "seeds = [1]")
        .replace("ko = 199 ", "ko = 6 ")
        .replace("burn_in = 864000", "burn_in = 43200")
        .replace("windows = 20", "windows = 2")
        .replace("\"models/pe_t21/", &format!("\"{}/models/pe_t21/", root.display()));
    let mut table: toml::Table = text.parse().unwrap();
    // The generative entries alone (the baselines are tested with the bed).
    let methods: Vec<toml::Value> = table["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["method"].as_str() == Some("Generative"))
        .cloned()
        .collect();
    assert!(methods.len() >= 2, "the file cycles at least two generative entries");
    table.insert("methods".into(), toml::Value::Array(methods));
    let exp = Experiment::parse_with(
        &toml::to_string(&table).unwrap(),
        "pe_t21_slams.toml",
        &dir,
        &assim_gen::methods(),
    )
    .unwrap();
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    for m in &report.methods {
        let s = &m.per_seed[0];
        assert!(!s.diverged, "{}: {:?}", m.name, s.divergence_reason);
        // 3D-Var's analyses score ≈ 0.25 climatological sd on this bed and the free run ≈ 1.4:
        // a prior that lost the state (a wrong or corrupt model) lands near or above 1.
        assert!(
            m.scores.rmse_a < 0.5,
            "{}: analysis RMSE {} of the climatological sd",
            m.name,
            m.scores.rmse_a
        );
        assert!(m.scores.spread_a > 0.0, "{}: members collapsed", m.name);
        assert!(m.variables.iter().all(|v| v.wasserstein_a.is_finite()), "{}", m.name);
        assert!(m.error_structure.is_some(), "{}", m.name);
    }
}
