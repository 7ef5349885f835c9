//! `metrics.json`, `metrics.csv` and the copy of the experiment, written together.

use std::path::Path;

use super::{Experiment, RunReport, Summary};
use crate::AssimError;
use crate::io::write_atomic;

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
/// After the Lorenz columns: `spread_skill`, and on the sphere per-variable `rmse_a_`,
/// `bias_a_`, `acc_a_`, `crps_a_`, `wasserstein_a_` and the forecast RMSE per lead (`fc<hours>h_rmse_`, method rows).
pub fn metrics_csv(report: &RunReport) -> String {
    let vars: Vec<String> = report
        .methods
        .iter()
        .find(|m| !m.variables.is_empty())
        .map(|m| m.variables.iter().map(|v| v.variable.clone()).collect())
        .unwrap_or_default();
    let leads: Vec<f64> = report
        .methods
        .iter()
        .find(|m| !m.forecast.is_empty())
        .map(|m| m.forecast.iter().map(|l| l.lead_hours).collect())
        .unwrap_or_default();
    let mut s = String::from(
        "method,seed,rmse_a,rmse_a_ci,spread_a,rmse_f,spread_f,crps_a,wall_s,diverged,diverged_at_cycle,spread_skill",
    );
    for stat in ["rmse_a", "bias_a", "acc_a", "crps_a", "wasserstein_a"] {
        for v in &vars {
            s.push_str(&format!(",{stat}_{v}"));
        }
    }
    for h in &leads {
        for v in &vars {
            s.push_str(&format!(",fc{h}h_rmse_{v}"));
        }
    }
    s.push('\n');
    let num = |v: f64| if v.is_finite() { format!("{v}") } else { String::new() };
    let var_cells = |vs: &[super::VariableSummary]| -> String {
        let mut c = String::new();
        for f in [
            |x: &super::VariableSummary| x.rmse_a,
            |x: &super::VariableSummary| x.bias_a,
            |x: &super::VariableSummary| x.acc_a,
            |x: &super::VariableSummary| x.crps_a,
            |x: &super::VariableSummary| x.wasserstein_a,
        ] {
            for k in 0..vars.len() {
                c.push_str(&format!(",{}", vs.get(k).map_or(String::new(), |x| num(f(x)))));
            }
        }
        c
    };
    for m in &report.methods {
        let name = csv_field(&m.name);
        s.push_str(&format!(
            "{name},mean,{},{},,{}{}",
            summary_cells(&m.scores),
            m.diverged,
            num(m.spread_skill),
            var_cells(&m.variables)
        ));
        for (d, _) in leads.iter().enumerate() {
            for v in &vars {
                let x = m.forecast.get(d).and_then(|l| l.rmse.get(v)).copied().unwrap_or(f64::NAN);
                s.push_str(&format!(",{}", num(x)));
            }
        }
        s.push('\n');
        for p in &m.per_seed {
            let at = p.diverged_at_cycle.map_or(String::new(), |c| c.to_string());
            s.push_str(&format!(
                "{name},{},{},{},{at},{}{}{}\n",
                p.seed,
                summary_cells(&p.scores),
                p.diverged,
                num(p.spread_skill),
                var_cells(&p.variables),
                ",".repeat(leads.len() * vars.len())
            ));
        }
    }
    s
}

/// Every analysis of every method and seed: the time series behind the means (for plots).
/// Per-variable analysis RMSEs follow the headline columns on multi-variable beds.
pub fn series_csv(report: &RunReport) -> String {
    let names: Vec<&str> = report
        .methods
        .iter()
        .flat_map(|m| &m.per_seed)
        .find(|p| !p.variables.is_empty())
        .map_or_else(Vec::new, |p| p.variables.iter().map(|v| v.variable.as_str()).collect());
    let mut s = String::from("method,seed,cycle,rmse_a,rmse_f,spread_a");
    for v in names {
        s.push_str(&format!(",rmse_a_{v}"));
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
