//! `metrics.json`, `metrics.csv` and the copy of the experiment, written together.

use std::path::Path;

use super::write_atomic;
use crate::AssimError;
use crate::experiment::{Experiment, RunReport};

/// Writes `config.toml`, `metrics.csv` and `metrics.json` into `dir` (created if missing),
/// each atomically; `metrics.json` last, so its presence means the run is complete.
pub fn write_run_outputs(dir: &Path, exp: &Experiment, report: &RunReport) -> Result<(), AssimError> {
    std::fs::create_dir_all(dir).map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    write_atomic(&dir.join("config.toml"), exp.to_toml().as_bytes())?;
    write_atomic(&dir.join("metrics.csv"), metrics_csv(report).as_bytes())?;
    let json = serde_json::to_string_pretty(report).map_err(|e| AssimError::Input(e.to_string()))?;
    write_atomic(&dir.join("metrics.json"), format!("{json}\n").as_bytes())
}

/// One CSV row per method (seed = `mean`) and per method and seed; empty cells for nulls.
pub fn metrics_csv(report: &RunReport) -> String {
    let mut s = String::from(
        "method,seed,rmse_a,rmse_a_ci,spread_a,rmse_f,spread_f,crps_a,wall_s,diverged,diverged_at_cycle\n",
    );
    let num = |x: f64| if x.is_finite() { format!("{x}") } else { String::new() };
    for m in &report.methods {
        let name = csv_field(&m.name);
        s.push_str(&format!(
            "{name},mean,{},{},{},{},{},{},{},{},\n",
            num(m.rmse_a),
            num(m.rmse_a_ci),
            num(m.spread_a),
            num(m.rmse_f),
            num(m.spread_f),
            num(m.crps_a),
            num(m.wall_s),
            m.diverged
        ));
        for p in &m.per_seed {
            s.push_str(&format!(
                "{name},{},{},{},{},{},{},{},{},{},{}\n",
                p.seed,
                num(p.rmse_a),
                num(p.rmse_a_ci),
                num(p.spread_a),
                num(p.rmse_f),
                num(p.spread_f),
                num(p.crps_a),
                num(p.wall_s),
                p.diverged,
                p.diverged_at_cycle.map_or(String::new(), |c| c.to_string())
            ));
        }
    }
    s
}

fn csv_field(x: &str) -> String {
    if x.contains([',', '"', '\n']) { format!("\"{}\"", x.replace('"', "\"\"")) } else { x.to_string() }
}
