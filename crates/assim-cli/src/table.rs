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
    s
}
