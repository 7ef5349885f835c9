//! The growth of small errors in a primitive-equation climate (a perturbed twin), for the
//! multi-level OSSE's question "do 6-hour backgrounds stay good for days?":
//!
//! ```sh
//! cargo run --release -p assim-core --example pe_error_growth -- experiments/simulate_held_suarez_t21.toml
//! cargo run --release -p assim-core --example pe_error_growth -- FILE --amplitude 0.2 --starts 6 --days 20
//! ```
//!
//! Spins the file's model up (`[run] spinup_days`, seed `[run] seed`), then from `--starts`
//! control states `--spacing` days apart runs a twin perturbed by `--amplitude` K rms of
//! temperature (the structure of the climate's own 5-day change, every field scaled alike) for
//! `--days` days; prints the mean rms differences every 12 h, the saturation level (two states
//! of the control run `--spacing` days apart) and the times to grow 2×, 4× and 10×.

use std::path::PathBuf;

use assim_core::AssimError;
use assim_core::dynamics::primitive::predictability::rms_differences;
use assim_core::dynamics::primitive::{GrowthCurve, PeSimulationConfig, PrimitiveDry, perturbed_twin};

struct Args {
    file: PathBuf,
    amplitude: f64,
    starts: usize,
    days: f64,
    spacing: f64,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args { file: PathBuf::new(), amplitude: 0.2, starts: 4, days: 20.0, spacing: 25.0 };
    let mut file = None;
    while let Some(s) = it.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or(format!("{name} needs a number"))
        };
        match s.as_str() {
            "--amplitude" => a.amplitude = value("--amplitude")?,
            "--starts" => a.starts = value("--starts")? as usize,
            "--days" => a.days = value("--days")?,
            "--spacing" => a.spacing = value("--spacing")?,
            f if !f.starts_with("--") && file.is_none() => file = Some(PathBuf::from(f)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    a.file = file.ok_or(
        "usage: pe_error_growth SIMULATION.toml [--amplitude K] [--starts N] [--days D] [--spacing D]",
    )?;
    if a.starts == 0 || !(a.days.is_finite() && a.days > 0.0) || !(a.spacing.is_finite() && a.spacing >= 5.0)
    {
        return Err("--starts must be ≥ 1, --days > 0 and --spacing ≥ 5".into());
    }
    Ok(a)
}

fn run(a: &Args) -> Result<(), AssimError> {
    let cfg = PeSimulationConfig::load(&a.file)?;
    let params = cfg.params()?;
    let model = PrimitiveDry::new(params, cfg.orography(), cfg.forcing())?;
    let dt = model.params().dt;
    let steps = |days: f64| (days * 86400.0 / dt).round() as u64;
    let t0 = std::time::Instant::now();
    let mut it = model.start(model.initial_state(&cfg.initial())?)?;
    model.run(&mut it, steps(cfg.run.spinup_days));
    let half_day = steps(0.5);
    let outputs = (a.days * 2.0).round() as usize;
    let mut curves: Vec<GrowthCurve> = Vec::new();
    let mut saturation = Vec::new();
    for k in 0..a.starts {
        let control = it.state().clone();
        let mut ahead = model.start(control.clone())?;
        model.run(&mut ahead, steps(5.0));
        curves.push(perturbed_twin(&model, &control, ahead.state(), a.amplitude, half_day, outputs)?);
        model.run(&mut it, steps(a.spacing));
        saturation.push(rms_differences(&model, &control, it.state()).0);
        eprintln!("start {}/{} done ({:.0} s)", k + 1, a.starts, t0.elapsed().as_secs_f64());
    }
    let n = curves.len() as f64;
    let mean =
        |f: &dyn Fn(&GrowthCurve) -> &Vec<f64>, i: usize| curves.iter().map(|c| f(c)[i]).sum::<f64>() / n;
    let m = &cfg.model;
    println!(
        "# {}: T{} L{}, dt {} s; perturbed twin of {:.2} K rms T, {} starts {} days apart",
        a.file.display(),
        m.truncation,
        m.levels,
        dt,
        a.amplitude,
        a.starts,
        a.spacing
    );
    println!("| day | T (K) | wind (m/s) | p_s (Pa) |");
    println!("|---|---|---|---|");
    let mean_curve = GrowthCurve {
        hours: curves[0].hours.clone(),
        temperature: (0..=outputs).map(|i| mean(&|c| &c.temperature, i)).collect(),
        wind: (0..=outputs).map(|i| mean(&|c| &c.wind, i)).collect(),
        surface_pressure: (0..=outputs).map(|i| mean(&|c| &c.surface_pressure, i)).collect(),
    };
    for i in (0..=outputs).filter(|i| i % 2 == 0 || *i == 1) {
        println!(
            "| {:.1} | {:.3} | {:.3} | {:.1} |",
            mean_curve.hours[i] / 24.0,
            mean_curve.temperature[i],
            mean_curve.wind[i],
            mean_curve.surface_pressure[i]
        );
    }
    let sat = saturation.iter().sum::<f64>() / n;
    println!("saturation (two control states {} days apart): T {sat:.3} K rms", a.spacing);
    for f in [2.0, 4.0, 10.0] {
        let each: Vec<String> = curves
            .iter()
            .map(|c| c.time_to_grow(f).map_or("> run".into(), |h| format!("{:.1}", h / 24.0)))
            .collect();
        let of_mean = mean_curve.time_to_grow(f).map_or("> run".into(), |h| format!("{:.1}", h / 24.0));
        println!("time to grow {f}× (days): mean curve {of_mean}; each start {}", each.join(", "));
    }
    eprintln!("{:.0} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pe_error_growth: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("pe_error_growth: {e}");
        std::process::exit(1);
    }
}
