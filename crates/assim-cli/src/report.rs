//! `assim report DIR`: PNG figures and a `report.md` from a finished run's `metrics.json`,
//! `series.csv` and (on the sphere) the analyses and truth in Zarr.

use std::fmt::Write as _;
use std::path::Path;

use assim_core::AssimError;
use assim_core::experiment::{MethodReport, RunReport};
use assim_core::io::zarr::ZarrReader;
use plotters::style::full_palette::*;

use crate::plots::{Axes, CellAxes, Line, cell_plot, line_plot, map_plot};

const COLOURS: [plotters::style::RGBColor; 8] =
    [BLUE_700, RED_700, GREEN_700, ORANGE_700, PURPLE_700, BROWN_700, CYAN_700, GREY_700];

fn read(path: &Path) -> Result<String, AssimError> {
    std::fs::read_to_string(path).map_err(|source| AssimError::Io { path: path.to_path_buf(), source })
}

fn cell(x: f64) -> String {
    if x.is_finite() { format!("{x:.4}") } else { "–".into() }
}

/// One line per generative method of a run that also has 3D-Var: its analysis RMSE against
/// 3D-Var's with their 95 % intervals, whether the intervals overlap, and its spread/skill
/// against the calibrated band 0.7–1.3 (the demo's claim, stated where a reader looks first);
/// then one line per `<method> aligned` entry against its `<method> reference` (Align-DA's
/// claim, [`alignment_verdict`]).
pub fn verdict(metrics: &RunReport) -> Vec<String> {
    let is = |m: &MethodReport, kind: &str| m.params.get("method").and_then(|v| v.as_str()) == Some(kind);
    let Some(var) = metrics.methods.iter().find(|m| is(m, "Var3D")) else { return Vec::new() };
    let (r0, c0) = (var.scores.rmse_a, var.scores.rmse_a_ci);
    let mut lines: Vec<String> = metrics
        .methods
        .iter()
        .filter(|m| is(m, "Generative"))
        .map(|m| {
            let (r, c) = (m.scores.rmse_a, m.scores.rmse_a_ci);
            if m.diverged || !r.is_finite() {
                return format!("{} diverged ({} of {} seeds).", m.name, m.n_diverged, metrics.seeds.len());
            }
            let side = if r < r0 { "below" } else { "above" };
            let ss = m.spread_skill;
            let band = if (0.7..=1.3).contains(&ss) { "inside" } else { "outside" };
            format!(
                "{}: analysis RMSE {r:.4} ± {c:.4} against 3D-Var's {r0:.4} ± {c0:.4} over {} scored \
                 windows ({} seed{}): {side} 3D-Var, {}; spread/skill {ss:.2}, {band} 0.7–1.3.",
                m.name,
                metrics.n_averaged,
                metrics.seeds.len(),
                if metrics.seeds.len() == 1 { "" } else { "s" },
                intervals((r, c), (r0, c0)),
            )
        })
        .collect();
    lines.extend(alignment_verdict(metrics));
    lines
}

/// How the 95 % intervals `value ± half-width` of `a` and `b` lie: apart, overlapping, or not
/// known (a half-width is NaN when too few windows were scored to estimate it), so that a
/// verdict never claims an overlap it could not measure.
fn intervals((ra, ca): (f64, f64), (rb, cb): (f64, f64)) -> &'static str {
    if !(ca.is_finite() && cb.is_finite()) {
        "no 95 % intervals (too few scored windows)"
    } else if ra + ca < rb - cb || ra - ca > rb + cb {
        "the 95 % intervals do not overlap"
    } else {
        "the 95 % intervals overlap"
    }
}

/// One line per entry labelled `<method> aligned` that has a `<method> reference` beside it:
/// the aligned prior's analysis RMSE against its reference's with their 95 % intervals, and
/// whether the intervals separate them (the test of an alignment).
pub fn alignment_verdict(metrics: &RunReport) -> Vec<String> {
    metrics
        .methods
        .iter()
        .filter_map(|a| {
            let stem = a.name.strip_suffix(" aligned")?;
            let r = metrics.methods.iter().find(|m| m.name == format!("{stem} reference"))?;
            let (ra, ca, rr, cr) = (a.scores.rmse_a, a.scores.rmse_a_ci, r.scores.rmse_a, r.scores.rmse_a_ci);
            if a.diverged || r.diverged || !(ra.is_finite() && rr.is_finite()) {
                return Some(format!("{}: no comparison with {} (a run diverged).", a.name, r.name));
            }
            let side = if ra < rr { "below" } else { "not below" };
            Some(format!(
                "{}: analysis RMSE {ra:.4} ± {ca:.4} against {}'s {rr:.4} ± {cr:.4}: {side} its reference, \
                 {}; spread/skill {:.2} against {:.2}.",
                a.name,
                r.name,
                intervals((ra, ca), (rr, cr)),
                a.spread_skill,
                r.spread_skill,
            ))
        })
        .collect()
}

/// What [`report`] wrote, and the verdict it put first in `report.md`.
pub struct Written {
    /// The files written into the run's directory.
    pub files: Vec<String>,
    /// The lines of [`verdict`].
    pub verdict: Vec<String>,
}

/// Writes the figures and `report.md` into `dir`; returns the files written and the verdict.
pub fn report(dir: &Path) -> Result<Written, AssimError> {
    let metrics_path = dir.join("metrics.json");
    let metrics: RunReport = serde_json::from_str(&read(&metrics_path)?).map_err(|e| AssimError::Format {
        path: metrics_path.clone(),
        msg: format!("not a metrics.json of assim: {e}"),
    })?;
    let methods = &metrics.methods;
    let mut files = Vec::new();
    let mut md = tables(&metrics);
    let sphere = methods.iter().any(|m| !m.variables.is_empty());
    // RMSE time series (first seed) from series.csv.
    let series = read(&dir.join("series.csv"))?;
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut first_seed: Option<String> = None;
    // Method names may hold commas (quoted): the fixed columns are counted from the right.
    let fixed = 5 + extra_cols(&series);
    for row in series.lines().skip(1) {
        let cols: Vec<&str> = row.split(',').collect();
        let Some(tail) = cols.len().checked_sub(fixed).filter(|&t| t > 0) else { continue };
        let name = cols[..tail].join(",").trim_matches('"').to_string();
        let (seed, cycle, rmse) = (cols[tail], cols[tail + 1], cols[tail + 2]);
        if first_seed.get_or_insert_with(|| seed.to_string()) != seed {
            continue;
        }
        let (Ok(k), Ok(r)) = (cycle.parse::<f64>(), rmse.parse::<f64>()) else { continue };
        match lines.last_mut() {
            Some((n, pts)) if *n == name => pts.push((k, r)),
            _ => lines.push((name, vec![(k, r)])),
        }
    }
    let ts: Vec<Line> = lines
        .iter()
        .enumerate()
        .map(|(i, (n, pts))| Line { label: n, points: pts.clone(), color: COLOURS[i % COLOURS.len()] })
        .collect();
    if !ts.is_empty() {
        line_plot(
            &dir.join("rmse_series.png"),
            "analysis RMSE per cycle (first seed)",
            "analysis",
            "rmse.a",
            &ts,
            Axes::Linear,
        )?;
        files.push("rmse_series.png".to_string());
        let _ = writeln!(md, "\n![analysis RMSE per cycle](rmse_series.png)\n");
    }

    if sphere {
        sphere_figures(dir, methods, &mut md, &mut files)?;
    }
    assim_core::io::write_atomic(&dir.join("report.md"), md.as_bytes())?;
    files.push("report.md".to_string());
    Ok(Written { files, verdict: verdict(&metrics) })
}

/// Number of per-variable columns after `spread_a` in series.csv.
fn extra_cols(series: &str) -> usize {
    series.lines().next().map_or(0, |h| h.split(',').count().saturating_sub(6))
}

/// The markdown tables of a run: headline scores, and on the sphere per-variable scores and
/// physical diagnostics.
fn tables(metrics: &RunReport) -> String {
    let methods = &metrics.methods;
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", metrics.experiment);
    for line in verdict(metrics) {
        let _ = writeln!(md, "**{line}**\n");
    }
    let _ = writeln!(
        md,
        "Seeds {:?}, {} analyses ({} averaged). Headline RMSE, spread and CRPS are in units of each \
         variable's climatological standard deviation on the sphere, state units on the Lorenz beds.\n",
        metrics.seeds, metrics.n_analyses, metrics.n_averaged
    );
    let _ = writeln!(
        md,
        "| method | rmse.a ± 95% | spread.a | spread/skill | rmse.f | crps.a | s/cycle | diverged |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for m in methods {
        let s = &m.scores;
        let _ = writeln!(
            md,
            "| {} | {} ± {} | {} | {} | {} | {} | {} | {} |",
            m.name,
            cell(s.rmse_a),
            cell(s.rmse_a_ci),
            cell(s.spread_a),
            cell(m.spread_skill),
            cell(s.rmse_f),
            cell(s.crps_a),
            cell(m.wall_s_per_cycle),
            m.n_diverged
        );
    }
    if methods.iter().all(|m| m.variables.is_empty()) {
        return md;
    }
    let _ =
        writeln!(md, "\n| method | variable | rmse.a | bias.a | acc.a | spread/skill | crps.a | rmse.f |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for m in methods {
        for v in &m.variables {
            let _ = writeln!(
                md,
                "| {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
                m.name,
                v.variable,
                v.units,
                cell(v.rmse_a),
                cell(v.bias_a),
                cell(v.acc_a),
                cell(v.spread_skill),
                cell(v.crps_a),
                cell(v.rmse_f),
            );
        }
    }
    let _ = writeln!(
        md,
        "\n| method | KE(n > T/2) analysis/truth | imbalance analysis (m/s) | imbalance truth (m/s) | CG iterations |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for m in methods {
        let p = m.physics.as_ref();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            m.name,
            cell(p.map_or(f64::NAN, |p| p.small_scale_ke_ratio)),
            cell(p.map_or(f64::NAN, |p| p.imbalance_analysis)),
            cell(p.map_or(f64::NAN, |p| p.imbalance_truth)),
            cell(m.diagnostics.get("cg_iterations").copied().unwrap_or(f64::NAN)),
        );
    }
    md
}

/// The sphere's figures: forecast skill, kinetic-energy spectra, analysis error maps and (on
/// the multi-level bed) where the temperature error lies.
fn sphere_figures(
    dir: &Path,
    methods: &[MethodReport],
    md: &mut String,
    files: &mut Vec<String>,
) -> Result<(), AssimError> {
    // Forecast skill: geopotential RMSE against lead.
    let fc: Vec<Line> = methods
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let pts: Vec<(f64, f64)> = m
                .forecast
                .iter()
                .map(|l| (l.lead_hours / 24.0, l.rmse.get("geopotential").copied().unwrap_or(f64::NAN)))
                .filter(|p| p.1.is_finite())
                .collect();
            (!pts.is_empty()).then(|| Line { label: &m.name, points: pts, color: COLOURS[i % COLOURS.len()] })
        })
        .collect();
    if !fc.is_empty() {
        line_plot(
            &dir.join("forecast_skill.png"),
            "forecasts from the analyses: geopotential RMSE",
            "lead (days)",
            "RMSE (m² s⁻²)",
            &fc,
            Axes::Linear,
        )?;
        files.push("forecast_skill.png".to_string());
        let _ = writeln!(md, "![forecast skill](forecast_skill.png)\n");
    }
    // Kinetic-energy spectra of the analyses and the truth.
    let mut sp: Vec<Line> = Vec::new();
    if let Some(truth) = methods.iter().find_map(|m| m.physics.as_ref().map(|p| &p.ke_spectrum_truth)) {
        sp.push(Line {
            label: "truth",
            points: truth.iter().enumerate().map(|(n, &e)| (n as f64, e)).collect(),
            color: BLACK,
        });
    }
    for (i, m) in methods.iter().enumerate() {
        if let Some(a) = m.physics.as_ref().map(|p| &p.ke_spectrum_analysis) {
            sp.push(Line {
                label: &m.name,
                points: a.iter().enumerate().map(|(n, &e)| (n as f64, e)).collect(),
                color: COLOURS[i % COLOURS.len()],
            });
        }
    }
    if sp.len() > 1 {
        line_plot(
            &dir.join("spectra.png"),
            "kinetic-energy spectra of the analyses",
            "total wavenumber n",
            "E(n) (m² s⁻²)",
            &sp,
            Axes::LogLog,
        )?;
        files.push("spectra.png".to_string());
        let _ = writeln!(md, "![kinetic-energy spectra](spectra.png)\n");
    }
    structure_figures(dir, methods, md, files)?;
    // Analysis error maps (geopotential, last analysis of the first seed).
    // (The multi-level bed's stores hold temperature on levels, not geopotential: no maps.)
    let truth_path = dir.join("truth.zarr");
    let truth = if truth_path.is_dir() { Some(ZarrReader::open(&truth_path)?) } else { None };
    if let Some((truth, shape)) = truth.and_then(|t| t.shape("geopotential").ok().map(|s| (t, s))) {
        let (lat, lon) = (truth.read_all("lat")?, truth.read_all("lon")?);
        let last = shape[0] - 1;
        let t = truth.read_slice("geopotential", last)?;
        for m in methods {
            let name = &m.name;
            let path = dir.join("analyses").join(format!("{}.zarr", assim_core::bed::slug(name)));
            if !path.is_dir() {
                continue;
            }
            let a = ZarrReader::open(&path)?.read_slice("geopotential", last)?;
            if a.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let err: Vec<f64> = a.iter().zip(&t).map(|(x, y)| x - y).collect();
            let file = format!("error_map_{}.png", assim_core::bed::slug(name));
            map_plot(
                &dir.join(&file),
                &format!("{name}: geopotential analysis − truth, last analysis"),
                "m² s⁻²",
                &lat,
                &lon,
                &err,
            )?;
            let _ = writeln!(md, "![{name} error map]({file})\n");
            files.push(file);
        }
    }
    Ok(())
}

/// The pressure (hPa) in a multi-level field name (`air_temperature_850hPa` → 850).
fn level_hpa(name: &str, quantity: &str) -> Option<f64> {
    name.strip_prefix(quantity)?.strip_prefix('_')?.strip_suffix("hPa")?.parse().ok()
}

/// On the multi-level bed: per method, the zonal-mean cross-section of the temperature
/// analysis RMSE (levels × latitude, one colour scale for all methods so they compare by eye),
/// and the temperature error spectra near 250 and 850 hPa of all methods.
fn structure_figures(
    dir: &Path,
    methods: &[MethodReport],
    md: &mut String,
    files: &mut Vec<String>,
) -> Result<(), AssimError> {
    let with: Vec<(&MethodReport, &assim_core::bed::ErrorStructure)> =
        methods.iter().filter_map(|m| m.error_structure.as_ref().map(|s| (m, s))).collect();
    let Some(&(first, _)) = with.first() else { return Ok(()) };
    let levels: Vec<(usize, f64)> = first
        .variables
        .iter()
        .enumerate()
        .filter_map(|(f, v)| level_hpa(&v.variable, "air_temperature").map(|p| (f, p)))
        .collect();
    if levels.is_empty() {
        return Ok(());
    }
    let pressures: Vec<f64> = levels.iter().map(|l| l.1).collect();
    let section = |s: &assim_core::bed::ErrorStructure| -> Vec<f64> {
        levels.iter().flat_map(|&(f, _)| s.zonal_rmse[f].iter().copied()).collect()
    };
    let vmax = with.iter().flat_map(|(_, s)| section(s)).fold(0.0f64, f64::max).max(1e-12);
    let _ = writeln!(md, "## Where the temperature error lies\n");
    for (m, s) in &with {
        let axes = CellAxes {
            x: &s.lat,
            y: &pressures,
            x_bounds: (90.0, -90.0),
            y_bounds: (0.0, 1000.0),
            x_desc: "latitude (°N)",
            y_desc: "pressure (hPa)",
        };
        let file = format!("zonal_error_{}.png", assim_core::bed::slug(&m.name));
        cell_plot(
            &dir.join(&file),
            &format!("{}: zonal-mean temperature analysis RMSE", m.name),
            "K",
            &axes,
            &section(s),
            (-vmax, vmax),
        )?;
        let _ = writeln!(md, "![{} zonal-mean error]({file})\n", m.name);
        files.push(file);
    }
    for target in [250.0, 850.0] {
        let Some(&(f, p)) =
            levels.iter().min_by(|a, b| (a.1 - target).abs().total_cmp(&(b.1 - target).abs()))
        else {
            continue;
        };
        let lines: Vec<Line> = with
            .iter()
            .enumerate()
            .map(|(i, (m, s))| Line {
                label: &m.name,
                // n = 0 (the global mean) has no place on a log axis.
                points: s.spectra[f].iter().enumerate().skip(1).map(|(n, &e)| (n as f64, e)).collect(),
                color: COLOURS[i % COLOURS.len()],
            })
            .collect();
        let file = format!("error_spectra_{p:.0}hPa.png");
        line_plot(
            &dir.join(&file),
            &format!("temperature analysis error spectra at {p:.0} hPa"),
            "total wavenumber n",
            "error power (K²)",
            &lines,
            Axes::LogLog,
        )?;
        let _ = writeln!(md, "![error spectra at {p:.0} hPa]({file})\n");
        files.push(file);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::intervals;

    #[test]
    fn a_verdict_says_how_the_intervals_lie_and_never_guesses_a_missing_one() {
        assert_eq!(intervals((0.09, 0.01), (0.13, 0.01)), "the 95 % intervals do not overlap");
        assert_eq!(intervals((0.09, 0.03), (0.13, 0.02)), "the 95 % intervals overlap");
        assert_eq!(intervals((0.13, 0.01), (0.09, 0.01)), "the 95 % intervals do not overlap");
        // Four scored windows of one seed give no interval: said so, not "overlap".
        let none = "no 95 % intervals (too few scored windows)";
        assert_eq!(intervals((0.09, f64::NAN), (0.13, 0.01)), none);
        assert_eq!(intervals((0.09, 0.01), (0.13, f64::NAN)), none);
    }
}
