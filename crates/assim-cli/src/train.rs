//! `assim train denoiser`: the training run with a progress bar (loss and ETA), refusing to
//! overwrite a checkpoint unless told to resume it or start over.

use std::path::Path;

use assim_core::AssimError;
use assim_gen::train::{TrainConfig, train};
use indicatif::{ProgressBar, ProgressStyle};

/// Trains the denoiser of the training file `config`.
pub fn denoiser(config: &Path, resume: bool, force: bool, quiet: bool) -> Result<(), AssimError> {
    let (cfg, exp) = TrainConfig::load(config)?;
    let out = Path::new(&cfg.out);
    if out.exists() && !resume && !force {
        return Err(AssimError::Input(format!(
            "{} exists: pass --resume to continue it or --force to train a new one over it",
            out.display()
        )));
    }
    if resume && !out.exists() {
        return Err(AssimError::Input(format!("{}: no checkpoint to resume", out.display())));
    }
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(cfg.optim.steps as u64) };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps · loss {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    if !quiet {
        eprintln!("generating training pairs ({} filters)…", cfg.data.methods.len());
    }
    let outcome = train(&cfg, &exp, resume, None, &mut |p| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("{:.4}", p.loss));
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
