//! `assim train denoiser|autoencoder|align`: the training run with a progress bar (loss and ETA), refusing to
//! overwrite a checkpoint unless told to resume it or start over.

use std::path::Path;

use assim_core::AssimError;
use assim_gen::train::config::TrainConfig;
use assim_gen::train::denoiser::train;
use indicatif::{ProgressBar, ProgressStyle};

/// Refuses to overwrite a checkpoint without `--resume`/`--force`, or to resume none.
fn check_out(out: &Path, resume: bool, force: bool) -> Result<(), AssimError> {
    if out.exists() && !resume && !force {
        return Err(AssimError::Input(format!(
            "{} exists: pass --resume to continue it or --force to train a new one over it",
            out.display()
        )));
    }
    if resume && !out.exists() {
        return Err(AssimError::Input(format!("{}: no checkpoint to resume", out.display())));
    }
    Ok(())
}

/// A training run's progress bar (hidden when `quiet`), its message formatted by `msg`.
fn progress_bar(quiet: bool, len: u64, msg: &str) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(len) };
    let template = format!("{{elapsed_precise}} {msg} [{{bar:30}}] {{pos}}/{{len}} · ETA {{eta}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Shows `done` of `total` in `stage` on `bar`.
fn show(bar: &ProgressBar, stage: &str, done: usize, total: usize) {
    bar.set_length(total as u64);
    bar.set_position(done as u64);
    bar.set_message(stage.to_string());
}

/// Trains the sphere autoencoder of the training file `config` and prints the log and the
/// reconstruction floor.
pub fn autoencoder(config: &Path, resume: bool, force: bool, quiet: bool) -> Result<(), AssimError> {
    use assim_gen::latent::train::{AutoencoderConfig, train_autoencoder};
    let (cfg, exp) = AutoencoderConfig::load(config)?;
    check_out(Path::new(&cfg.out), resume, force)?;
    let bar = progress_bar(quiet, 0, "{msg:>8}");
    let outcome = train_autoencoder(&cfg, &exp, resume, None, &mut |stage, done, total| {
        show(&bar, stage, done, total)
    })?;
    bar.finish_and_clear();
    println!(
        "trained {} weights on {} fields ({} held out for validation)",
        outcome.n_params, outcome.n_train, outcome.n_valid
    );
    println!("{:>8} {:>12} {:>12} {:>9}", "step", "train loss", "valid mse", "time s");
    for r in &outcome.log {
        println!("{:>8} {:>12.5} {:>12.5} {:>9.1}", r.step, r.train_loss, r.valid_mse, r.elapsed_s);
    }
    if let Some(floor) = &outcome.floor {
        println!("reconstruction floor (validation fields, area-weighted):");
        for f in floor {
            println!(
                "  {:<16} rmse {:>10.4} {:<7} = {:.4} of the climatological sd",
                f.variable, f.rmse, f.units, f.rmse_over_clim_sd
            );
        }
    }
    println!("wrote {} and {}", outcome.path.display(), outcome.path.with_extension("log.json").display());
    Ok(())
}

/// Trains the denoiser of the training file `config`.
pub fn denoiser(config: &Path, resume: bool, force: bool, quiet: bool) -> Result<(), AssimError> {
    let (cfg, exp) = TrainConfig::load(config)?;
    let out = Path::new(&cfg.out);
    check_out(out, resume, force)?;
    let bar = progress_bar(quiet, cfg.optim.steps as u64, "{msg}");
    if !quiet {
        eprintln!("generating training pairs ({} filters)…", cfg.data.methods.len());
    }
    let outcome = train(&cfg, &exp, resume, None, &mut |p| {
        bar.set_length(p.steps as u64);
        bar.set_position(p.step as u64);
        bar.set_message(if p.stage == "train" { format!("loss {:.4}", p.loss) } else { p.stage.clone() });
    })?;
    bar.finish_and_clear();
    println!(
        "trained {} weights on {} pairs, steps {}..{}",
        outcome.n_params,
        outcome.n_pairs,
        outcome.start_step,
        outcome.log.last().map_or(0, |r| r.step)
    );
    println!("{:>8} {:>12} {:>12} {:>10} {:>9}", "step", "train loss", "valid loss", "lr", "time s");
    for r in &outcome.log {
        println!(
            "{:>8} {:>12.5} {:>12.5} {:>10.2e} {:>9.1}",
            r.step, r.train_loss, r.valid_loss, r.lr, r.elapsed_s
        );
    }
    println!("wrote {} and {}", outcome.path.display(), outcome.path.with_extension("log.json").display());
    Ok(())
}

/// Aligns the reference prior of the alignment file `config` (Align-DA) and prints the log.
pub fn align(config: &Path, resume: bool, force: bool, quiet: bool) -> Result<(), AssimError> {
    use assim_gen::align::config::AlignConfig;
    use assim_gen::align::dpo::align;
    let (cfg, exp) = AlignConfig::load(config)?;
    check_out(Path::new(&cfg.out), resume, force)?;
    let bar = progress_bar(quiet, 0, "{msg}");
    let outcome = align(&cfg, &exp, resume, None, &mut |stage, done, total| show(&bar, stage, done, total))?;
    bar.finish_and_clear();
    println!(
        "{} {} ({} analysis times); {} training and {} validation pairs",
        if outcome.generated { "made and wrote the candidates to" } else { "read the candidates of" },
        cfg.pairs_file,
        outcome.n_groups,
        outcome.n_pairs.0,
        outcome.n_pairs.1
    );
    println!(
        "{:>8} {:>12} {:>12} {:>10} {:>10} {:>9}",
        "step", "train loss", "valid loss", "valid acc", "lr", "time s"
    );
    for r in &outcome.log {
        println!(
            "{:>8} {:>12.5} {:>12.5} {:>10.3} {:>10.2e} {:>9.1}",
            r.step, r.train_loss, r.valid_loss, r.valid_accuracy, r.lr, r.elapsed_s
        );
    }
    println!("wrote {} and {}", outcome.path.display(), outcome.path.with_extension("log.json").display());
    Ok(())
}
