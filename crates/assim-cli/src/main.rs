//! `assim`: generative and classical data assimilation from the command line.

mod plots;
mod simulate;
mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assim_core::AssimError;
use assim_core::experiment::{Experiment, RunReport, run_experiment};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// The built-in demo experiment (the Lorenz-96 comparison against DAPPER's reference table).
const DEMO_EXPERIMENT: &str = include_str!("../../../experiments/l96_sakov2008.toml");

#[derive(Parser)]
#[command(name = "assim", version, about = "Generative (score-based) and classical data assimilation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in comparison (Lorenz-96, every classical method, two seeds).
    Demo {
        /// Output directory.
        #[arg(long, default_value = "assim-demo")]
        out: PathBuf,
    },
    /// Run the shallow-water model from a simulation file and write snapshots to Zarr.
    Simulate {
        /// The simulation file (TOML; see docs/simulate.md).
        config: PathBuf,
        /// The Zarr store to write (a directory, e.g. run.zarr).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing store (only once the new one is complete).
        #[arg(long)]
        force: bool,
        /// Also write energy.png, zonal_wind.png, vorticity.png and spectrum.png into this directory.
        #[arg(long)]
        figures: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Cycle every method of an experiment file on the same truth and score them.
    Run {
        /// The experiment file (TOML; see docs/experiments.md).
        experiment: PathBuf,
        /// Output directory for metrics.json, metrics.csv and config.toml.
        #[arg(long)]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { out } => Experiment::parse(DEMO_EXPERIMENT, "<built-in demo>")
            .and_then(|exp| run_and_write(&exp, &out, false)),
        Command::Simulate { config, out, force, figures, quiet } => {
            simulate::run(&config, &out, force, figures.as_deref(), quiet)
        }
        Command::Run { experiment, out, quiet } => {
            Experiment::load(&experiment).and_then(|exp| run_and_write(&exp, &out, quiet))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_and_write(exp: &Experiment, out: &Path, quiet: bool) -> Result<(), AssimError> {
    check_writable(out)?;
    let total = (exp.seeds.len() * exp.methods.len()) as u64;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report: RunReport = run_experiment(exp, |si, mi| {
        bar.set_position((si * exp.methods.len() + mi) as u64);
        bar.set_message(format!("seed {} · {}", exp.seeds[si], exp.methods[mi].label()));
    })?;
    bar.finish_and_clear();
    println!("{}", table::render(exp, &report));
    assim_core::io::write_run_outputs(out, exp, &report)?;
    println!("wrote {}/metrics.json, metrics.csv, config.toml", out.display());
    Ok(())
}

/// Fails before any work if the output directory cannot be created or written.
fn check_writable(out: &Path) -> Result<(), AssimError> {
    let io = |source| AssimError::Io { path: out.to_path_buf(), source };
    if out.exists() {
        if !out.is_dir() {
            return Err(AssimError::Input(format!(
                "{}: output path exists and is not a directory",
                out.display()
            )));
        }
        let probe = out.join(format!(".assim-write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(io)?;
        let _ = std::fs::remove_file(probe);
        return Ok(());
    }
    // Find the nearest existing ancestor and check that it is a writable directory.
    let mut anc = out.parent();
    while let Some(a) = anc {
        if a.as_os_str().is_empty() || a.exists() {
            let dir = if a.as_os_str().is_empty() { Path::new(".") } else { a };
            let md = std::fs::metadata(dir).map_err(io)?;
            if !md.is_dir() || md.permissions().readonly() {
                return Err(AssimError::Input(format!("{}: cannot create output directory", out.display())));
            }
            return Ok(());
        }
        anc = a.parent();
    }
    Ok(())
}
