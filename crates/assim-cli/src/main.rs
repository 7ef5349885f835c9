//! `assim`: generative and classical data assimilation from the command line.

mod demo;
#[cfg(feature = "mpi")]
mod mpi_team;
mod plots;
mod report;
mod simulate;
mod table;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use assim_core::AssimError;
use assim_core::experiment::{Experiment, RunReport, run_experiment_in};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "assim", version, about = "Generative (score-based) and classical data assimilation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The global OSSE end to end (docs/demo.md): train the autoencoder and the latent prior,
    /// cycle 3D-Var, the LETKF and latent LO-SDA, write the report. Stages whose output exists
    /// are skipped; an interrupted training resumes.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "assim-demo")]
        out: PathBuf,
        /// Train the autoencoder and the prior again from the presets (about 1.5 hours on
        /// 2 cores) instead of using the shipped models.
        #[arg(long)]
        retrain: bool,
        /// Where the shipped models are (default: models/demo of the checkout it was built from).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Cycle only this many windows (more than the 20 of the burn-in): a shortened run.
        #[arg(long)]
        windows: Option<usize>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
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
    /// Train a model: `assim train denoiser|autoencoder|align CONFIG.toml` (see docs/training.md).
    Train {
        /// What to train.
        #[command(subcommand)]
        what: TrainWhat,
    },
    /// Figures (PNG) and report.md of a finished run's directory.
    Report {
        /// The output directory of `assim run` or `assim demo`.
        dir: PathBuf,
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
    /// Real data files (GRIB, NetCDF, Zarr, BUFR): `assim data inspect|regrid` (docs/data.md).
    Data {
        /// What to do with the file.
        #[command(subcommand)]
        what: DataWhat,
    },
}

#[derive(Subcommand)]
enum DataWhat {
    /// Describe a GRIB 1/2, NetCDF-3/4 or Zarr file as assim reads it (format, grid, and each
    /// variable's CF name, units, members, times and levels), or a BUFR file's radiosonde reports.
    Inspect {
        /// The file (a GRIB or NetCDF file, or a Zarr store directory).
        file: PathBuf,
    },
    /// Regrid every variable of a global file onto a model's Gaussian grid (first-order
    /// conservative) and write a CF Zarr store, every member, time and level kept.
    Regrid {
        /// The file (a GRIB or NetCDF file, or a Zarr store directory).
        file: PathBuf,
        /// The target grid: T21, T42, T63 or T85 (the models' Gaussian grids).
        #[arg(long)]
        grid: String,
        /// The Zarr store to write (a directory, e.g. era5_t42.zarr).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing store (only once the new one is complete).
        #[arg(long)]
        force: bool,
    },
    /// Assimilate real BUFR reports into a gridded background by optimal interpolation and
    /// verify on withheld reports: O−B and O−A per quantity and level (docs/data.md).
    Verify {
        /// The configuration (TOML: [background], [reports], [[quantities]], [analysis]).
        config: PathBuf,
        /// Directory for metrics.json and departures.csv.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert BUFR radiosonde, SYNOP and aircraft reports into the multi-level bed's
    /// observation file (`[observing] file`), each report in the window containing its time.
    Obs {
        /// The BUFR files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Time 0 of the records, the start of the truth (`2008-12-08T06:00Z`).
        #[arg(long)]
        start: String,
        /// The assimilation window, hours (the experiment's dt × dko).
        #[arg(long, default_value_t = 6.0)]
        window_hours: f64,
        /// Sounding and aircraft values above this pressure (hPa) are left out.
        #[arg(long, default_value_t = 50.0)]
        top_hpa: f64,
        /// Stations higher than this (m) give no surface pressure.
        #[arg(long, default_value_t = 500.0)]
        max_station_height_m: f64,
        /// The observation file to write (CSV).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TrainWhat {
    /// The sphere autoencoder (latent space of the latent generative methods) on an
    /// experiment's climate sample; reports the reconstruction floor.
    Autoencoder(TrainArgs),
    /// A diffusion denoiser (prior) from pairs generated by cycling classical filters.
    Denoiser(TrainArgs),
    /// Align-DA: Diffusion-DPO fine-tuning of a trained latent prior on preference pairs made
    /// by cycling it (docs/training.md, "Alignment").
    Align(TrainArgs),
}

/// What every `assim train` subcommand takes.
#[derive(clap::Args)]
struct TrainArgs {
    /// The training file (TOML; docs/training.md).
    config: PathBuf,
    /// Continue from the checkpoint at the file's `out` (same configuration; `optim.steps`
    /// may grow).
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Start over even if the checkpoint exists (it is replaced only at the first save).
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    assim_gen::tensor::keep_freed_memory();
    let cli = Cli::parse();
    // Under `mpirun -n K` (the `mpi` feature) the ranks share the cycle's work; MPI is
    // finalised when the universe drops at the end of main.
    #[cfg(feature = "mpi")]
    let _universe = match mpi_team::start() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Demo { out, retrain, models, windows, quiet } => demo::run(&demo::DemoOptions {
            out,
            retrain,
            models: models.unwrap_or_else(|| PathBuf::from(demo::SHIPPED)),
            windows,
            quiet,
        }),
        Command::Simulate { config, out, force, figures, quiet } => {
            simulate::run(&config, &out, force, figures.as_deref(), quiet)
        }
        Command::Train { what: TrainWhat::Denoiser(a) } => {
            train::denoiser(&a.config, a.resume, a.force, a.quiet)
        }
        Command::Train { what: TrainWhat::Align(a) } => train::align(&a.config, a.resume, a.force, a.quiet),
        Command::Train { what: TrainWhat::Autoencoder(a) } => {
            train::autoencoder(&a.config, a.resume, a.force, a.quiet)
        }
        Command::Data { what } => data(what),
        Command::Report { dir } => report::report(&dir).map(|written| {
            println!("wrote {} in {}", written.files.join(", "), dir.display());
        }),
        Command::Run { experiment, out, quiet } => Experiment::load_with(&experiment, &assim_gen::methods())
            .and_then(|exp| run_and_write(&exp, &out, quiet)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `assim data …`: the readers' errors become the CLI's, naming the file and the field.
fn data(what: DataWhat) -> Result<(), AssimError> {
    let format = |e: assim_data::DataError| AssimError::Format {
        msg: match &e.field {
            Some(field) => format!("field `{field}`: {}", e.reason),
            None => e.reason.clone(),
        },
        path: e.path,
    };
    match what {
        DataWhat::Inspect { file } if assim_data::bufr::is_bufr(&file) => {
            let reports = assim_data::bufr::read(&file).map_err(format)?;
            print!("{}", assim_data::inspect::describe_reports(&reports));
        }
        DataWhat::Inspect { file } => {
            let ds = assim_data::Dataset::open(&file).map_err(format)?;
            print!("{}", assim_data::inspect::describe(&ds));
        }
        DataWhat::Regrid { file, grid, out, force } => {
            let truncation: usize = grid
                .trim_start_matches(['T', 't'])
                .parse()
                .map_err(|_| AssimError::Input(format!("--grid {grid}: expected T21, T42, T63 or T85")))?;
            let target = assim_core::grid::LatLonGrid::for_truncation(truncation)?;
            let ds = assim_data::Dataset::open(&file).map_err(format)?;
            let written = assim_data::regrid::to_zarr(&ds, &target, &out, force).map_err(format)?;
            for (name, shape) in &written.variables {
                println!("{name}: {shape:?}");
            }
            println!("wrote {}", written.path.display());
        }
        DataWhat::Verify { config, out } => {
            let cfg = assim_data::crossval::CrossValConfig::load(&config)?;
            let base = config.parent().unwrap_or(Path::new(""));
            let report = assim_data::crossval::run(&cfg, base).map_err(format)?;
            print!("{}", report.table());
            for p in assim_data::crossval::write(&report, &out)? {
                println!("wrote {}", p.display());
            }
        }
        DataWhat::Obs { files, start, window_hours, top_hpa, max_station_height_m, out } => {
            let start = assim_data::calendar::parse_iso(&start)
                .map_err(|m| AssimError::Input(format!("--start: {m}")))?;
            if !(window_hours.is_finite() && window_hours > 0.0) {
                return Err(AssimError::Input(format!(
                    "--window-hours must be positive (got {window_hours})"
                )));
            }
            if !(top_hpa.is_finite() && top_hpa > 0.0) || max_station_height_m.is_nan() {
                return Err(AssimError::Input(
                    "--top-hpa must be positive and --max-station-height-m a number".into(),
                ));
            }
            let reports = files
                .iter()
                .map(|f| assim_data::bufr::read(f).map_err(format))
                .collect::<Result<Vec<_>, _>>()?;
            let opts = assim_data::observations::ConvertOptions {
                start,
                window_hours,
                top_hpa,
                max_station_height_m,
            };
            let converted = assim_data::observations::convert(&reports, &opts);
            if converted.records.is_empty() {
                return Err(AssimError::Input(format!(
                    "no report of {} falls after --start {}: nothing written",
                    files.len(),
                    assim_data::calendar::format_iso(start)
                )));
            }
            for ((system, quantity), n) in converted.counts() {
                println!("{system:>10} {quantity:<22} {n:>7}");
            }
            for (why, n) in &converted.left_out {
                println!("left out: {n} ({why})");
            }
            let hours = converted.records.iter().map(|r| r.time_hours);
            let (first, last) = hours.fold((f64::INFINITY, 0.0f64), |(a, b), t| (a.min(t), b.max(t)));
            println!("windows ending {first} h to {last} h after the start");
            assim_core::io::write_atomic(&out, converted.to_csv().as_bytes())?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

pub(crate) fn run_and_write(exp: &Experiment, out: &Path, quiet: bool) -> Result<(), AssimError> {
    check_writable(out)?;
    // In a distributed run every rank cycles; rank 0 alone shows progress and writes.
    let root = assim_core::distributed::is_root();
    let quiet = quiet || !root;
    let total = (exp.seeds.len() * exp.methods.len()) as u64;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    // Set-up stages (the climate and truth runs on the sphere) get a bar of their own.
    let stage_bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    stage_bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} {msg:>10} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut stage = |name: &str, done: usize, total: usize| {
        stage_bar.set_length(total as u64);
        stage_bar.set_position(done as u64);
        stage_bar.set_message(name.to_string());
    };
    let report: RunReport = run_experiment_in(
        exp,
        |si, mi| {
            stage_bar.finish_and_clear();
            bar.set_position((si * exp.methods.len() + mi) as u64);
            bar.set_message(format!("seed {} · {}", exp.seeds[si], exp.methods[mi].label()));
        },
        &mut stage,
        root.then_some(out),
    )?;
    bar.finish_and_clear();
    if !root {
        return Ok(());
    }
    println!("{}", table::render(exp, &report));
    assim_core::experiment::write_run_outputs(out, exp, &report)?;
    println!("wrote {}/metrics.json, metrics.csv, series.csv, config.toml", out.display());
    let ranks = assim_core::distributed::team().size();
    if ranks > 1 {
        let t = assim_core::distributed::traffic();
        println!(
            "{ranks} ranks: rank 0 took part in {} all-gathers, sent {:.1} MB, received {:.1} MB, {:.2} s inside them",
            t.collectives,
            t.bytes_out as f64 / 1e6,
            t.bytes_in as f64 / 1e6,
            t.seconds
        );
    }
    Ok(())
}

/// Fails before any work if the output directory cannot be created or written.
pub(crate) fn check_writable(out: &Path) -> Result<(), AssimError> {
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
