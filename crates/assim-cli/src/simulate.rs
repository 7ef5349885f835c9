//! `assim simulate`: a shallow-water or primitive-equation run to a Zarr store, with progress
//! and optional figures. The file's `[model] kind` chooses the model (absent: shallow water).

use std::path::Path;
use std::time::Instant;

use assim_core::AssimError;
use assim_core::dynamics::primitive::is_primitive;
use assim_core::experiment::{
    PeSimulation, PeSimulationConfig, PeSimulationReport, Simulation, SimulationConfig, SimulationReport,
    read_text,
};
use assim_core::io::zarr::check_destination;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::style::full_palette::{BLUE_700, ORANGE_700, RED_700};

use crate::plots::{Axes, CellAxes, Line, cell_plot, line_plot, map_plot};

/// Loads, checks (config, time step, output path, figures directory) and runs a simulation.
pub fn run(
    config: &Path,
    out: &Path,
    force: bool,
    figures: Option<&Path>,
    quiet: bool,
) -> Result<(), AssimError> {
    let (text, file) = read_text(config)?;
    let primitive = is_primitive(&text);
    let pe_cfg = primitive.then(|| PeSimulationConfig::parse(&text, &file)).transpose()?;
    let sw_cfg = (!primitive).then(|| SimulationConfig::parse(&text, &file)).transpose()?;
    check_destination(out, force)?;
    if let Some(dir) = figures {
        std::fs::create_dir_all(dir).map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    }
    let Some(cfg) = sw_cfg else {
        return run_primitive(pe_cfg.expect("one of the two"), out, force, figures, quiet);
    };
    let base = config.parent().unwrap_or(Path::new("."));
    let sim = Simulation::new(cfg.clone(), base)?;
    let total = cfg.run.spinup_days + cfg.run.days;
    let bar = progress_bar(total, quiet);
    let started = Instant::now();
    let report = sim.run(out, force, |day, total| tick(&bar, started, day, total))?;
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

/// The progress bar of a run of `total` model days (hidden when quiet).
fn progress_bar(total: f64, quiet: bool) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new((total * 100.0).round() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn tick(bar: &ProgressBar, started: Instant, day: f64, total: f64) {
    bar.set_position((day * 100.0).round() as u64);
    let rate = day / started.elapsed().as_secs_f64().max(1e-9);
    bar.set_message(format!("day {day:.1}/{total:.0} · {rate:.1} model days/s"));
}

/// A primitive-equation simulation (destination and figures directory already checked): the
/// store, a summary and the figures.
fn run_primitive(
    cfg: PeSimulationConfig,
    out: &Path,
    force: bool,
    figures: Option<&Path>,
    quiet: bool,
) -> Result<(), AssimError> {
    let sim = PeSimulation::new(cfg.clone())?;
    let total = cfg.run.spinup_days + cfg.run.days;
    let bar = progress_bar(total, quiet);
    let started = Instant::now();
    let report = sim.run(out, force, |day, total| tick(&bar, started, day, total))?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{}: T{} L{} {} days ({} spin-up) in {:.1} s; integration {:.4} s per model day ({:.1} model days/s)",
        cfg.name,
        cfg.model.truncation,
        cfg.model.levels,
        report.model_days,
        cfg.run.spinup_days,
        wall,
        report.integration_seconds / report.model_days,
        report.model_days / report.integration_seconds.max(1e-12)
    );
    let s = &report.series;
    let last = s.day.len() - 1;
    let zmax = report.zonal_u.iter().fold(0.0f64, |a, u| a.max(u.abs()));
    let (tmin, tmax) =
        report.zonal_t.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| (a.min(*t), b.max(*t)));
    println!(
        "final day {:.1}: surface pressure {:.2}–{:.2} hPa (global mean {:.3}), max wind {:.1} m/s",
        s.day[last],
        s.min_ps[last] / 100.0,
        s.max_ps[last] / 100.0,
        s.mean_ps[last] / 100.0,
        s.max_wind[last]
    );
    println!("time- and zonal-mean over the snapshots: largest |u| {zmax:.2} m/s, T {tmin:.1}–{tmax:.1} K");
    println!("wrote {} ({} snapshots)", report.store.display(), sim.n_snapshots());
    if let Some(dir) = figures {
        write_pe_figures(dir, &cfg, &sim, &report)?;
        println!(
            "wrote {}/zonal_wind.png, zonal_temperature.png, temperature_850.png, surface_pressure.png, \
             surface_pressure_range.png",
            dir.display()
        );
    }
    Ok(())
}

/// Zonal-mean cross sections of u and T, a map of T at the level nearest σ = 0.85, a map of
/// the surface pressure (last snapshot) and the surface-pressure range over the run.
fn write_pe_figures(
    dir: &Path,
    cfg: &PeSimulationConfig,
    sim: &PeSimulation,
    r: &PeSimulationReport,
) -> Result<(), AssimError> {
    let model = sim.model();
    let grid = model.grid();
    let (lat, lon) = (grid.lat_degrees(), grid.lon_degrees());
    let sigma = model.levels().full();
    let section = CellAxes {
        x: &lat,
        y: sigma,
        x_bounds: (90.0, -90.0),
        y_bounds: (0.0, 1.0),
        x_desc: "latitude (°N)",
        y_desc: "σ",
    };
    let umax = r.zonal_u.iter().fold(0.0f64, |a, u| a.max(u.abs())).max(1e-9);
    cell_plot(
        &dir.join("zonal_wind.png"),
        &format!("{}: time- and zonal-mean eastward wind", cfg.name),
        "m s⁻¹",
        &section,
        &r.zonal_u,
        (-umax, umax),
    )?;
    let span =
        |f: &[f64]| f.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
    cell_plot(
        &dir.join("zonal_temperature.png"),
        &format!("{}: time- and zonal-mean temperature", cfg.name),
        "K",
        &section,
        &r.zonal_t,
        span(&r.zonal_t),
    )?;
    let k850 = (0..sigma.len())
        .min_by(|&a, &b| (sigma[a] - 0.85).abs().total_cmp(&(sigma[b] - 0.85).abs()))
        .unwrap_or(0);
    let n = grid.len();
    let t850 = &r.last.temp[k850 * n..(k850 + 1) * n];
    let map = CellAxes {
        x: &lon,
        y: &lat,
        x_bounds: (0.0, 360.0),
        y_bounds: (90.0, -90.0),
        x_desc: "longitude (°E)",
        y_desc: "latitude (°N)",
    };
    let day = r.series.day[r.series.day.len() - 1];
    cell_plot(
        &dir.join("temperature_850.png"),
        &format!("{}: temperature at σ = {:.3}, day {day:.0}", cfg.name, sigma[k850]),
        "K",
        &map,
        t850,
        span(t850),
    )?;
    let ps: Vec<f64> = r.last.ps.iter().map(|p| p / 100.0).collect();
    cell_plot(
        &dir.join("surface_pressure.png"),
        &format!("{}: surface pressure, day {day:.0}", cfg.name),
        "hPa",
        &map,
        &ps,
        span(&ps),
    )?;
    let s = &r.series;
    let pts = |y: &[f64]| s.day.iter().copied().zip(y.iter().map(|p| p / 100.0)).collect::<Vec<_>>();
    line_plot(
        &dir.join("surface_pressure_range.png"),
        &format!("{}: smallest and largest surface pressure", cfg.name),
        "model day",
        "p_s (hPa)",
        &[
            Line { label: "min p_s", points: pts(&s.min_ps), color: BLUE_700 },
            Line { label: "max p_s", points: pts(&s.max_ps), color: RED_700 },
            Line { label: "global mean p_s", points: pts(&s.mean_ps), color: ORANGE_700 },
        ],
        Axes::Linear,
    )
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
