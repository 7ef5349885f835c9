//! `assim demo`: the global OSSE end to end on the shallow-water bed. Train the autoencoder,
//! train the background-conditioned latent prior, cycle 3D-Var, the LETKF and the latent
//! LO-SDA method on the same truth and observations, and write the report with figures.
//!
//! Every stage writes into the output directory and is skipped when its output is there: a
//! finished checkpoint is reused, a partial one (an interrupted training) is resumed, and a
//! finished run (`metrics.json`) is only reported again. The presets are the files in
//! `experiments/demo/`, written into `DIR/config/` with the directory filled in.

use std::path::{Path, PathBuf};

use assim_core::AssimError;
use assim_core::experiment::Experiment;
use assim_gen::latent::train::AutoencoderConfig;
use assim_gen::train::checkpoint::Checkpoint;
use assim_gen::train::config::TrainConfig;

/// The preset files of one resolution.
struct Preset {
    experiment: &'static str,
    climate: &'static str,
    autoencoder: &'static str,
    denoiser: &'static str,
}

const T21: Preset = Preset {
    experiment: include_str!("../../../experiments/demo/t21.toml"),
    climate: include_str!("../../../experiments/simulate_climate_t21.toml"),
    autoencoder: include_str!("../../../experiments/demo/t21_autoencoder.toml"),
    denoiser: include_str!("../../../experiments/demo/t21_latent_train.toml"),
};

const T42: Preset = Preset {
    experiment: include_str!("../../../experiments/demo/t42.toml"),
    climate: include_str!("../../../experiments/simulate_climate_t42.toml"),
    autoencoder: include_str!("../../../experiments/demo/t42_autoencoder.toml"),
    denoiser: include_str!("../../../experiments/demo/t42_latent_train.toml"),
};

/// How far a training stage got.
#[derive(Debug, PartialEq)]
enum Stage {
    /// No checkpoint.
    Missing,
    /// A checkpoint short of its steps (an interrupted run).
    Partial(usize),
    /// Trained to the end.
    Done,
}

/// The state of the checkpoint at `path` for a run of `steps` steps; a checkpoint that does
/// not load (truncated, corrupt) is an error, never silently retrained over.
fn stage(path: &Path, steps: usize) -> Result<Stage, AssimError> {
    if !path.exists() {
        return Ok(Stage::Missing);
    }
    let ckpt = Checkpoint::load(path)?;
    let step = ckpt.meta["training"]["step"].as_u64().unwrap_or(0) as usize;
    Ok(if step >= steps { Stage::Done } else { Stage::Partial(step) })
}

/// Writes `text` with `@DIR@` replaced by `dir` (escaped for a TOML string) to `path`.
fn write_preset(path: &Path, text: &str, dir: &Path) -> Result<(), AssimError> {
    let d = dir.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    assim_core::io::write_atomic(path, text.replace("@DIR@", &d).as_bytes())
}

/// Runs the demo into `out` (`t42`: the T42 presets).
pub fn run(out: &Path, t42: bool, quiet: bool) -> Result<(), AssimError> {
    crate::check_writable(out)?;
    let preset = if t42 { &T42 } else { &T21 };
    let config = out.join("config");
    std::fs::create_dir_all(&config).map_err(|source| AssimError::Io { path: config.clone(), source })?;
    let files: [(&str, &str); 4] = [
        ("experiment.toml", preset.experiment),
        ("simulate_climate.toml", preset.climate),
        ("autoencoder.toml", preset.autoencoder),
        ("latent_train.toml", preset.denoiser),
    ];
    for (name, text) in files {
        write_preset(&config.join(name), text, out)?;
    }
    let say = |s: String| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    type Trainer = fn(&Path, bool, bool, bool) -> Result<(), AssimError>;
    let ae_file = config.join("autoencoder.toml");
    let dn_file = config.join("latent_train.toml");
    let ae_steps = AutoencoderConfig::load(&ae_file)?.0.optim.steps;
    let dn_steps = TrainConfig::load(&dn_file)?.0.optim.steps;
    let stages: [(&str, PathBuf, usize, Trainer); 2] = [
        ("autoencoder", ae_file, ae_steps, crate::train::autoencoder),
        ("denoiser", dn_file, dn_steps, crate::train::denoiser),
    ];
    for (name, cfg, steps, train) in stages {
        let ckpt: PathBuf = out.join(format!("{name}.ckpt"));
        match stage(&ckpt, steps)? {
            Stage::Done => say(format!("[{name}] {} is trained: reused", ckpt.display())),
            Stage::Partial(step) => {
                say(format!("[{name}] resuming the interrupted training at step {step}"));
                train(&cfg, true, false, quiet)?;
            }
            Stage::Missing => {
                say(format!("[{name}] training ({})", cfg.display()));
                train(&cfg, false, false, quiet)?;
            }
        }
    }
    if out.join("metrics.json").exists() {
        say(format!(
            "[cycling] {} exists: reused (delete it to run again)",
            out.join("metrics.json").display()
        ));
    } else {
        say("[cycling] 3D-Var, LETKF and the latent method on the same truth".into());
        let exp = Experiment::load_with(&config.join("experiment.toml"), &assim_gen::methods())?;
        crate::run_and_write(&exp, out, quiet)?;
    }
    let written = crate::report::report(out)?;
    println!("wrote {} in {}", written.join(", "), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_names_the_output_directory_and_validates() {
        let dir = std::env::temp_dir().join(format!("assim-demo-presets-{}", std::process::id()));
        let config = dir.join("config");
        std::fs::create_dir_all(&config).unwrap();
        for preset in [&T21, &T42] {
            for (name, text) in [
                ("experiment.toml", preset.experiment),
                ("simulate_climate.toml", preset.climate),
                ("autoencoder.toml", preset.autoencoder),
                ("latent_train.toml", preset.denoiser),
            ] {
                write_preset(&config.join(name), text, &dir).unwrap();
            }
            let exp = Experiment::load_with(&config.join("experiment.toml"), &assim_gen::methods()).unwrap();
            assert!(exp.bed_as::<assim_core::bed::sphere::SphereConfig>().is_some());
            AutoencoderConfig::load(&config.join("autoencoder.toml")).unwrap();
            let (cfg, _) = TrainConfig::load(&config.join("latent_train.toml")).unwrap();
            assert_eq!(cfg.autoencoder.as_deref(), Some(dir.join("autoencoder.ckpt").to_str().unwrap()));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stage_is_missing_partial_or_done_and_a_corrupt_checkpoint_is_an_error() {
        let dir = std::env::temp_dir().join(format!("assim-demo-stage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.ckpt");
        assert_eq!(stage(&p, 10).unwrap(), Stage::Missing);
        let ckpt = |step: usize| Checkpoint {
            meta: serde_json::json!({"kind": "autoencoder", "training": {"step": step}}),
            arrays: vec![("params".into(), vec![1.0, 2.0])],
        };
        ckpt(4).save(&p).unwrap();
        assert_eq!(stage(&p, 10).unwrap(), Stage::Partial(4));
        ckpt(10).save(&p).unwrap();
        assert_eq!(stage(&p, 10).unwrap(), Stage::Done);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(stage(&p, 10).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
