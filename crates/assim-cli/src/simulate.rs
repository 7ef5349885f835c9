//! `assim simulate`: a shallow-water run to a Zarr store, with progress and optional figures.

use std::path::Path;
use std::time::Instant;

use assim_core::AssimError;
use assim_core::experiment::{Simulation, SimulationConfig, SimulationReport};
use assim_core::io::zarr::check_destination;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::style::full_palette::{BLUE_700, ORANGE_700, RED_700};

use crate::plots::{Axes, Line, line_plot, map_plot};

/// Loads, checks (config, time step, output path, figures directory) and runs a simulation.
pub fn run(
    config: &Path,
    out: &Path,
    force: bool,
    figures: Option<&Path>,
    quiet: bool,
) -> Result<(), AssimError> {
    let cfg = SimulationConfig::load(config)?;
    check_destination(out, force)?;
    if let Some(dir) = figures {
        std::fs::create_dir_all(dir).map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    }
    let base = config.parent().unwrap_or(Path::new("."));
    let sim = Simulation::new(cfg.clone(), base)?;
    let total = cfg.run.spinup_days + cfg.run.days;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new((total * 100.0).round() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let report = sim.run(out, force, |day, total| {
        bar.set_position((day * 100.0).round() as u64);
        let rate = day / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("day {day:.1}/{total:.0} · {rate:.1} model days/s"));
    })?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{}: T{} {} days ({} spin-up) in {:.1} s; integration {:.4} s per model day ({:.1} model days/s)",
        cfg.name,
        cfg.model.truncation,
        report.model_days,
        cfg.run.spinup_days,
        wall,
        report.integration_seconds / report.model_days,
        report.model_days / report.integration_seconds.max(1e-12)
    );
    let last = report.series.day.len() - 1;
    println!(
        "final day {:.1}: kinetic energy {:.4e}, available potential energy {:.4e} m3 s-2, max wind {:.1} m/s, mean depth {:.3} m",
        report.series.day[last],
        report.series.kinetic[last],
        report.series.potential[last],
        report.series.max_wind[last],
        report.series.mean_depth[last]
    );
    println!("wrote {} ({} snapshots)", report.store.display(), sim.n_snapshots());
    if let Some(dir) = figures {
        write_figures(dir, &cfg, &sim, &report)?;
        println!("wrote {}/energy.png, zonal_wind.png, vorticity.png, spectrum.png", dir.display());
    }
    Ok(())
}

fn write_figures(
    dir: &Path,
    cfg: &SimulationConfig,
    sim: &Simulation,
    r: &SimulationReport,
) -> Result<(), AssimError> {
    let s = &r.series;
    let pts = |y: &[f64]| s.day.iter().copied().zip(y.iter().copied()).collect::<Vec<_>>();
    let total: Vec<f64> = s.kinetic.iter().zip(&s.potential).map(|(k, p)| k + p).collect();
    line_plot(
        &dir.join("energy.png"),
        &format!("{}: global energy (spin-up {} d)", cfg.name, cfg.run.spinup_days),
        "model day",
        "energy (m³ s⁻²)",
        &[
            Line { label: "kinetic + available potential", points: pts(&total), color: RED_700 },
            Line { label: "kinetic", points: pts(&s.kinetic), color: BLUE_700 },
            Line { label: "available potential", points: pts(&s.potential), color: ORANGE_700 },
        ],
        Axes::Linear,
    )?;
    let grid = sim.model().grid();
    let lat = grid.lat_degrees();
    line_plot(
        &dir.join("zonal_wind.png"),
        &format!("{}: time-mean zonal-mean eastward wind", cfg.name),
        "latitude (°N)",
        "u (m s⁻¹)",
        &[Line {
            label: "time-mean zonal-mean u",
            points: lat.iter().copied().zip(r.mean_zonal_wind.iter().copied()).collect(),
            color: BLUE_700,
        }],
        Axes::Linear,
    )?;
    map_plot(
        &dir.join("vorticity.png"),
        &format!("{}: relative vorticity, day {:.0}", cfg.name, s.day[s.day.len() - 1]),
        "s⁻¹",
        &lat,
        &grid.lon_degrees(),
        &r.last_vorticity,
    )?;
    let spec: Vec<(f64, f64)> = r.mean_ke_spectrum.iter().enumerate().map(|(n, e)| (n as f64, *e)).collect();
    // Reference slopes n⁻³ (enstrophy cascade) and n^(−5/3), anchored at n = 10.
    let e10 = r.mean_ke_spectrum.get(10).copied().unwrap_or(1.0);
    let t = r.mean_ke_spectrum.len() - 1;
    let slope = |p: f64| (3..=t).map(|n| (n as f64, e10 * (n as f64 / 10.0).powf(p))).collect::<Vec<_>>();
    line_plot(
        &dir.join("spectrum.png"),
        &format!("{}: time-mean kinetic-energy spectrum", cfg.name),
        "total wavenumber n",
        "E(n) (m² s⁻²)",
        &[
            Line { label: "kinetic energy", points: spec, color: BLUE_700 },
            Line { label: "n^-3", points: slope(-3.0), color: RED_700 },
            Line { label: "n^-5/3", points: slope(-5.0 / 3.0), color: ORANGE_700 },
        ],
        Axes::LogLog,
    )
}
