//! `metrics.json`, `metrics.csv` and the copy of the experiment, written together.

use std::path::Path;

use super::write_atomic;
use crate::AssimError;
use crate::experiment::{Experiment, RunReport, Summary};

/// Writes `config.toml`, `metrics.csv` and `metrics.json` into `dir` (created if missing),
/// each atomically; `metrics.json` last, so its presence means the run is complete.
pub fn write_run_outputs(dir: &Path, exp: &Experiment, report: &RunReport) -> Result<(), AssimError> {
    std::fs::create_dir_all(dir).map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    write_atomic(&dir.join("config.toml"), exp.to_toml().as_bytes())?;
    write_atomic(&dir.join("metrics.csv"), metrics_csv(report).as_bytes())?;
    write_atomic(&dir.join("series.csv"), series_csv(report).as_bytes())?;
    let json = serde_json::to_string_pretty(report).map_err(|e| AssimError::Input(e.to_string()))?;
    write_atomic(&dir.join("metrics.json"), format!("{json}\n").as_bytes())
}

/// One CSV row per method (seed = `mean`) and per method and seed; empty cells for nulls.
pub fn metrics_csv(report: &RunReport) -> String {
    let mut s = String::from(
        "method,seed,rmse_a,rmse_a_ci,spread_a,rmse_f,spread_f,crps_a,wall_s,diverged,diverged_at_cycle\n",
    );
    for m in &report.methods {
        let name = csv_field(&m.name);
        s.push_str(&format!("{name},mean,{},{},\n", summary_cells(&m.scores), m.diverged));
        for p in &m.per_seed {
            let at = p.diverged_at_cycle.map_or(String::new(), |c| c.to_string());
            s.push_str(&format!("{name},{},{},{},{at}\n", p.seed, summary_cells(&p.scores), p.diverged));
        }
    }
    s
}

/// Every analysis of every method and seed: the time series behind the means (for plots).
/// Per-variable analysis RMSEs follow the headline columns on multi-variable beds.
pub fn series_csv(report: &RunReport) -> String {
    let n_vars = report
        .methods
        .iter()
        .flat_map(|m| &m.per_seed)
        .find_map(|p| p.run.variables_a.first().map(Vec::len))
        .unwrap_or(0);
    let mut s = String::from("method,seed,cycle,rmse_a,rmse_f,spread_a");
    for v in crate::obs::Variable::ALL.iter().take(n_vars) {
        s.push_str(&format!(",rmse_a_{}", v.name()));
    }
    s.push('\n');
    let num = |v: f64| if v.is_finite() { format!("{v}") } else { String::new() };
    for m in &report.methods {
        let name = csv_field(&m.name);
        for p in &m.per_seed {
            let r = &p.run;
            for k in 0..r.rmse_a.len() {
                s.push_str(&format!(
                    "{name},{},{k},{},{},{}",
                    p.seed,
                    num(r.rmse_a[k]),
                    num(r.rmse_f[k]),
                    num(r.spread_a[k])
                ));
                for v in r.variables_a.get(k).into_iter().flatten() {
                    s.push_str(&format!(",{}", num(v.rmse)));
                }
                s.push('\n');
            }
        }
    }
    s
}

/// The seven score columns, empty where undefined.
fn summary_cells(x: &Summary) -> String {
    let num = |v: f64| if v.is_finite() { format!("{v}") } else { String::new() };
    [x.rmse_a, x.rmse_a_ci, x.spread_a, x.rmse_f, x.spread_f, x.crps_a, x.wall_s].map(num).join(",")
}

fn csv_field(x: &str) -> String {
    if x.contains([',', '"', '\n']) { format!("\"{}\"", x.replace('"', "\"\"")) } else { x.to_string() }
}
