//! The plain-text results table printed by `assim run` and `assim demo`.

use assim_core::experiment::{Experiment, RunReport};

/// Renders one row per method: RMSE ± CI, spread, forecast scores, CRPS, time, divergence.
pub fn render(exp: &Experiment, report: &RunReport) -> String {
    let width = report.methods.iter().map(|m| m.name.len()).max().unwrap_or(6).max(6);
    let mut s = format!(
        "{} — seeds {:?}, {} analyses ({} averaged)\n",
        exp.name, report.seeds, report.n_analyses, report.n_averaged
    );
    s.push_str(&format!(
        "{:<width$}  {:>15}  {:>8}  {:>7}  {:>8}  {:>7}  {:>9}  {}\n",
        "method", "rmse.a ± 95%", "spread.a", "rmse.f", "spread.f", "crps.a", "s/1001cyc", "diverged"
    ));
    let num = |x: f64, w: usize| if x.is_finite() { format!("{x:>w$.4}") } else { format!("{:>w$}", "–") };
    for m in &report.methods {
        let (name, sc) = (&m.name, &m.scores);
        let rmse = if sc.rmse_a.is_finite() {
            format!("{:.4} ± {:.4}", sc.rmse_a, sc.rmse_a_ci)
        } else {
            "–".to_string()
        };
        let div = if m.diverged {
            let seeds: Vec<String> = m
                .per_seed
                .iter()
                .filter(|p| p.diverged)
                .map(|p| format!("seed {} at cycle {}", p.seed, p.diverged_at_cycle.unwrap_or(0)))
                .collect();
            seeds.join("; ")
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{:<width$}  {:>15}  {}  {}  {}  {}  {:>9.3}  {}\n",
            name,
            rmse,
            num(sc.spread_a, 8),
            num(sc.rmse_f, 7),
            num(sc.spread_f, 8),
            num(sc.crps_a, 7),
            m.wall_s_per_1001_cycles,
            div
        ));
    }
    let n_vars = report.methods.iter().map(|m| m.variables.len()).max().unwrap_or(0);
    let generic = report.methods.iter().flat_map(|m| &m.variables).any(|v| {
        !["air_temperature_", "eastward_wind_", "northward_wind_", "surface_air_pressure"]
            .iter()
            .any(|p| v.variable.starts_with(p))
    });
    if n_vars > 3 && generic {
        // A bed of named fields (real data): every field's RMSE in its units.
        let vars =
            report.methods.iter().find(|m| m.variables.len() == n_vars).map_or(&[][..], |m| &m.variables[..]);
        s.push_str(&format!("\n{:<width$}", "rmse.a per field"));
        for v in vars {
            s.push_str(&format!("  {:>24}", format!("{} ({})", v.variable, v.units)));
        }
        s.push_str(&format!("  {:>7}\n", "spr/skl"));
        for m in &report.methods {
            s.push_str(&format!("{:<width$}", m.name));
            for k in 0..n_vars {
                s.push_str(&format!("  {}", num(m.variables.get(k).map_or(f64::NAN, |x| x.rmse_a), 24)));
            }
            s.push_str(&format!("  {}\n", num(m.spread_skill, 7)));
        }
        s.push_str("(headline rmse/spread/crps in units of each field's climatological sd; per field in its units)\n");
    } else if n_vars > 3 {
        // A multi-level bed: temperature RMSE per level (K), then the other fields' means.
        let names: Vec<String> = report
            .methods
            .iter()
            .find(|m| m.variables.len() == n_vars)
            .map_or_else(Vec::new, |m| m.variables.iter().map(|v| v.variable.clone()).collect());
        let temps: Vec<usize> = (0..n_vars).filter(|&k| names[k].starts_with("air_temperature_")).collect();
        s.push_str(&format!("\n{:<width$}", "T rmse.a (K) per level"));
        for &k in &temps {
            s.push_str(&format!("  {:>7}", names[k].trim_start_matches("air_temperature_")));
        }
        s.push_str(&format!("  {:>9}  {:>7}\n", "p_s (Pa)", "spr/skl"));
        for m in &report.methods {
            let v = |k: usize| m.variables.get(k).map_or(f64::NAN, |x| x.rmse_a);
            s.push_str(&format!("{:<width$}", m.name));
            for &k in &temps {
                s.push_str(&format!("  {}", num(v(k), 7)));
            }
            s.push_str(&format!("  {}  {}\n", num(v(n_vars - 1), 9), num(m.spread_skill, 7)));
        }
        s.push_str("(headline rmse/spread/crps in units of each field's climatological sd, averaged over fields and levels)\n");
    } else if report.methods.iter().any(|m| !m.variables.is_empty()) {
        s.push_str(&format!(
            "\n{:<width$}  {:>14}  {:>8}  {:>8}  {:>7}  {:>7}  {:>11}  {:>9}\n",
            "per variable (rmse.a)", "geopotential", "u", "v", "acc.Φ", "spr/skl", "Φ fc +24h", "s/cycle"
        ));
        for m in &report.methods {
            let v = |k: usize| m.variables.get(k).map_or(f64::NAN, |x| x.rmse_a);
            let acc = m.variables.first().map_or(f64::NAN, |x| x.acc_a);
            let fc = m.forecast.first().and_then(|f| f.rmse.get("geopotential").copied()).unwrap_or(f64::NAN);
            s.push_str(&format!(
                "{:<width$}  {}  {}  {}  {}  {}  {}  {:>9.3}\n",
                m.name,
                num(v(0), 14),
                num(v(1), 8),
                num(v(2), 8),
                num(acc, 7),
                num(m.spread_skill, 7),
                num(fc, 11),
                m.wall_s_per_cycle
            ));
        }
        s.push_str("(headline rmse/spread/crps in units of each variable's climatological sd; per-variable in SI units)\n");
    }
    s
}
