//! `assim demo`: the global OSSE end to end on the shallow-water bed at T42, the configuration
//! in which the latent generative method beats 3D-Var (docs/demo.md). It cycles 3D-Var, the
//! LETKF and the member-conditioned latent SDA method with its prior as trained ("reference")
//! and as aligned by Diffusion-DPO ("aligned") on the same truth and observations and writes
//! the report with figures, starting from the trained models shipped in `models/demo/`
//! (checked against their checksums), or, with `--retrain`, training all three again (the
//! autoencoder, the prior, its alignment) from the presets as they were trained.
//!
//! Every stage writes into the output directory and is skipped when its output is there: a
//! finished checkpoint is reused, a partial one (an interrupted `--retrain`) is resumed, and a
//! finished run (`metrics.json`) is only reported again. The presets are the files in
//! `experiments/demo/`, written into `DIR/config/` with the directory filled in.

use std::path::{Path, PathBuf};

use assim_core::AssimError;
use assim_core::experiment::Experiment;
use assim_gen::align::config::AlignConfig;
use assim_gen::latent::train::AutoencoderConfig;
use assim_gen::train::checkpoint::{Checkpoint, checksum};
use assim_gen::train::config::TrainConfig;

/// The preset files: the experiment, its climate, and the three training files.
const PRESETS: [(&str, &str); 5] = [
    ("experiment.toml", include_str!("../../../experiments/demo/t42.toml")),
    ("simulate_climate.toml", include_str!("../../../experiments/simulate_climate_t42.toml")),
    ("autoencoder.toml", include_str!("../../../experiments/demo/t42_autoencoder.toml")),
    ("latent_train.toml", include_str!("../../../experiments/demo/t42_latent_train.toml")),
    ("align_train.toml", include_str!("../../../experiments/demo/t42_align_train.toml")),
];

/// Where the shipped models are in a checkout (the binary was built from it).
pub const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/demo");

/// What `assim demo` was asked for.
pub struct DemoOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Train the autoencoder, the prior and its alignment instead of using the shipped models.
    pub retrain: bool,
    /// The directory of the shipped models (default [`SHIPPED`]).
    pub models: PathBuf,
    /// Cycle only this many windows (a shortened run; the preset's burn-in is kept).
    pub windows: Option<usize>,
    /// No progress bars or stage messages.
    pub quiet: bool,
}

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

/// The checksums listed in `models/checksums.txt` (`<fnv1a>  <file>` per line).
fn listed_checksums(models: &Path) -> Result<Vec<(String, String)>, AssimError> {
    let path = models.join("checksums.txt");
    let text =
        std::fs::read_to_string(&path).map_err(|source| AssimError::Io { path: path.clone(), source })?;
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(sum), Some(file), None) => Ok((sum.to_string(), file.to_string())),
                _ => Err(AssimError::Format { path: path.clone(), msg: format!("unreadable line {l:?}") }),
            }
        })
        .collect()
}

/// The bytes of the shipped `name` (e.g. `autoencoder.ckpt`), checked against its listed
/// checksum: a damaged or half-downloaded model is refused with its path.
fn shipped(models: &Path, name: &str) -> Result<Vec<u8>, AssimError> {
    let sums = listed_checksums(models)?;
    let path = models.join(name);
    let want =
        sums.iter().find(|(_, f)| f == name).map(|(s, _)| s.clone()).ok_or_else(|| AssimError::Format {
            path: models.join("checksums.txt"),
            msg: format!("lists no checksum for {name}"),
        })?;
    let bytes = std::fs::read(&path).map_err(|source| AssimError::Io { path: path.clone(), source })?;
    let got = checksum(&bytes);
    if got != want {
        return Err(AssimError::Format {
            path,
            msg: format!(
                "checksum {got} ≠ {want} listed in checksums.txt: the shipped model is damaged \
                 (restore it from git, or run `assim demo --retrain`)"
            ),
        });
    }
    Ok(bytes)
}

/// Whether `path` holds exactly the shipped `name`.
fn is_shipped_copy(models: &Path, name: &str, path: &Path) -> bool {
    match (shipped(models, name), std::fs::read(path)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Runs the demo as `opts` asks.
pub fn run(opts: &DemoOptions) -> Result<(), AssimError> {
    let out = opts.out.as_path();
    crate::check_writable(out)?;
    let config = out.join("config");
    std::fs::create_dir_all(&config).map_err(|source| AssimError::Io { path: config.clone(), source })?;
    for (name, text) in PRESETS {
        write_preset(&config.join(name), text, out)?;
    }
    let say = |s: String| {
        if !opts.quiet {
            eprintln!("{s}");
        }
    };
    let exp_file = config.join("experiment.toml");
    if let Some(k) = opts.windows {
        shorten(&exp_file, k)?;
    }
    type Trainer = fn(&Path, bool, bool, bool) -> Result<(), AssimError>;
    let ae_file = config.join("autoencoder.toml");
    let dn_file = config.join("latent_train.toml");
    let ae_steps = AutoencoderConfig::load(&ae_file)?.0.optim.steps;
    let dn_steps = TrainConfig::load(&dn_file)?.0.optim.steps;
    // The alignment file is read once its experiment (the preset beside it) is written.
    let al_file = config.join("align_train.toml");
    let al_steps = AlignConfig::load(&al_file)?.0.optim.steps;
    let stages: [(&str, PathBuf, usize, Trainer); 3] = [
        ("autoencoder", ae_file, ae_steps, crate::train::autoencoder),
        ("denoiser", dn_file, dn_steps, crate::train::denoiser),
        ("denoiser_aligned", al_file, al_steps, crate::train::align),
    ];
    for (name, cfg, steps, train) in stages {
        let file = format!("{name}.ckpt");
        let ckpt: PathBuf = out.join(&file);
        if opts.retrain && is_shipped_copy(&opts.models, &file, &ckpt) {
            return Err(AssimError::Input(format!(
                "{} is the shipped model: `--retrain` would reuse it; give another --out",
                ckpt.display()
            )));
        }
        if !opts.retrain && !ckpt.exists() {
            let bytes = shipped(&opts.models, &file)?;
            assim_core::io::write_atomic(&ckpt, &bytes)?;
            say(format!("[{name}] the shipped {} (checksum verified)", opts.models.join(&file).display()));
            continue;
        }
        match stage(&ckpt, steps)? {
            Stage::Done => say(format!("[{name}] {} is trained: reused", ckpt.display())),
            Stage::Partial(step) => {
                say(format!("[{name}] resuming the interrupted training at step {step}"));
                train(&cfg, true, false, opts.quiet)?;
            }
            Stage::Missing => {
                say(format!("[{name}] training ({})", cfg.display()));
                train(&cfg, false, false, opts.quiet)?;
            }
        }
    }
    if out.join("metrics.json").exists() {
        say(format!(
            "[cycling] {} exists: reused (delete it to run again)",
            out.join("metrics.json").display()
        ));
    } else {
        say("[cycling] 3D-Var, LETKF and the latent method (reference and aligned prior) on the same truth"
            .into());
        let exp = Experiment::load_with(&exp_file, &assim_gen::methods())?;
        crate::run_and_write(&exp, out, opts.quiet)?;
    }
    let written = crate::report::report(out)?;
    for line in &written.verdict {
        println!("{line}");
    }
    println!("wrote {} in {}", written.files.join(", "), out.display());
    Ok(())
}

/// Cuts the experiment file at `path` to `windows` analyses, keeping its burn-in (which must
/// leave at least one scored window), and writes it back.
fn shorten(path: &Path, windows: usize) -> Result<(), AssimError> {
    let mut exp = Experiment::load_with(path, &assim_gen::methods())?;
    let burn = (0..exp.chronology().n_obs_times()).filter(|&k| !exp.chronology().is_averaged(k)).count();
    if windows <= burn {
        return Err(AssimError::Input(format!(
            "--windows {windows}: the demo's first {burn} windows are its burn-in; give more than {burn}"
        )));
    }
    exp.chronology.ko = Some(windows - 1);
    exp.chronology.t = None;
    assim_core::io::write_atomic(path, exp.to_toml().as_bytes())?;
    // Read back: the file written is the file run, checked as any other.
    Experiment::load_with(path, &assim_gen::methods()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("assim-demo-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_preset_names_the_output_directory_and_validates() {
        let dir = tmp("presets");
        let config = dir.join("config");
        std::fs::create_dir_all(&config).unwrap();
        for (name, text) in PRESETS {
            write_preset(&config.join(name), text, &dir).unwrap();
        }
        let exp = Experiment::load_with(&config.join("experiment.toml"), &assim_gen::methods()).unwrap();
        assert!(exp.bed_as::<assim_core::bed::sphere::SphereConfig>().is_some());
        AutoencoderConfig::load(&config.join("autoencoder.toml")).unwrap();
        let (cfg, _) = TrainConfig::load(&config.join("latent_train.toml")).unwrap();
        assert_eq!(cfg.autoencoder.as_deref(), Some(dir.join("autoencoder.ckpt").to_str().unwrap()));
        let (al, _) = AlignConfig::load(&config.join("align_train.toml")).unwrap();
        assert_eq!(al.reference, dir.join("denoiser.ckpt").to_str().unwrap());
        assert_eq!(al.out, dir.join("denoiser_aligned.ckpt").to_str().unwrap());
        // A shortened run keeps the burn-in and refuses to cut into it.
        // (40 windows of it: 10 days of 6-hour windows.)
        assert!(shorten(&config.join("experiment.toml"), 40).is_err());
        shorten(&config.join("experiment.toml"), 44).unwrap();
        let exp = Experiment::load_with(&config.join("experiment.toml"), &assim_gen::methods()).unwrap();
        assert_eq!(exp.chronology().n_obs_times(), 44);
        assert!(shorten(&config.join("experiment.toml"), 5).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The shipped models are those the presets train: same training files (but for the
    /// directory), same sizes, and their checksums verify.
    #[test]
    fn the_shipped_models_match_the_presets_and_their_checksums() {
        let models = Path::new(SHIPPED);
        for (file, preset) in [
            ("autoencoder.ckpt", PRESETS[2].1),
            ("denoiser.ckpt", PRESETS[3].1),
            ("denoiser_aligned.ckpt", PRESETS[4].1),
        ] {
            let bytes = shipped(models, file).unwrap();
            let dir = tmp("shipped");
            std::fs::write(dir.join(file), &bytes).unwrap();
            let ckpt = Checkpoint::load(&dir.join(file)).unwrap();
            let files = &ckpt.meta["training"]["provenance"]["files"];
            let text = files[0]["text"].as_str().expect("the training file is in the metadata");
            // The directory it was trained into, from its own `out` (`<DIR>/<file>`); compared
            // as TOML values: comments may change, keys and values may not.
            let a: toml::Value = toml::from_str(text).unwrap();
            let trained_in = Path::new(a["out"].as_str().unwrap()).parent().unwrap().to_path_buf();
            let expect = preset.replace("@DIR@", &trained_in.display().to_string());
            let b: toml::Value = toml::from_str(&expect).unwrap();
            assert_eq!(a, b, "{file} was not trained by the shipped preset");
            assert_eq!(files[0]["fnv1a"].as_str().unwrap(), checksum(text.as_bytes()));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_damaged_shipped_model_is_refused() {
        let dir = tmp("damaged");
        let good = shipped(Path::new(SHIPPED), "autoencoder.ckpt").unwrap();
        std::fs::copy(Path::new(SHIPPED).join("checksums.txt"), dir.join("checksums.txt")).unwrap();
        let mut bad = good.clone();
        let k = bad.len() / 2;
        bad[k] ^= 1;
        std::fs::write(dir.join("autoencoder.ckpt"), &bad).unwrap();
        let e = shipped(&dir, "autoencoder.ckpt").unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");
        assert!(shipped(&dir, "denoiser.ckpt").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stage_is_missing_partial_or_done_and_a_corrupt_checkpoint_is_an_error() {
        let dir = tmp("stage");
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
