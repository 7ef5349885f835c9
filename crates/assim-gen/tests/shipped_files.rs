//! The shipped training and generative experiment files load and validate as they are (they
//! are what the README and docs/validation.md tell people to run).

use std::path::Path;

use assim_core::experiment::Experiment;
use assim_gen::train::config::TrainConfig;

fn experiments() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

#[test]
fn training_files_and_generative_experiments_validate() {
    for name in ["l96_train", "l96_train_sparse", "l96_train_arctan", "l96_train_unconditional"] {
        let (cfg, exp) = TrainConfig::load(&experiments().join(format!("{name}.toml"))).unwrap();
        assert_eq!(exp.nx(), 40, "{name}");
        assert!(cfg.out.starts_with("checkpoints/"), "{name}: {}", cfg.out);
    }
    for name in ["l96_generative", "l96_sparse", "l96_arctan", "l96_unconditional"] {
        let exp = Experiment::load_with(&experiments().join(format!("{name}.toml")), &assim_gen::methods())
            .unwrap();
        let generative = exp.methods.iter().filter(|m| m.is_generative()).count();
        assert!(generative >= 2, "{name}: {generative} generative methods");
        assert!(exp.chronology().n_obs_times() > 1000, "{name}: at least 1000 cycles");
    }
}

/// Whether a training file is an alignment (`assim train align`): it names a `reference` prior.
fn is_alignment(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap();
    text.parse::<toml::Table>().map(|t| t.contains_key("reference")).unwrap_or(false)
}

/// Every shipped experiment, training, alignment and autoencoder file loads and validates
/// (the `verify_*.toml` files of `assim data verify` are assim-data's: its tests load them).
#[test]
fn every_shipped_experiment_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(experiments()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let is_experiment = name.ends_with(".toml")
            && !name.starts_with("simulate_")
            && !name.starts_with("verify_")
            && !name.contains("_train")
            && !name.contains("_autoencoder");
        if is_experiment {
            Experiment::load_with(&path, &assim_gen::methods()).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.contains("_train") && is_alignment(&path) {
            assim_gen::align::config::AlignConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.contains("_train") {
            TrainConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.contains("_autoencoder") {
            assim_gen::latent::train::AutoencoderConfig::load(&path)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            continue;
        }
        n += 1;
    }
    assert!(n >= 30, "{n} experiment and training files");
}
