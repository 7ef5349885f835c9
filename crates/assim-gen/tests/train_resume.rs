//! The training run: the same seed gives the same weights; a run interrupted and resumed from
//! its checkpoint repeats the uninterrupted one exactly (same loss curve, same weights); the
//! checkpoint loads into a denoiser whose outputs equal the in-memory EMA network's.

use std::path::PathBuf;

use assim_core::experiment::Experiment;
use assim_gen::prior::denoiser::Denoiser;
use assim_gen::prior::network::EdmNetwork;
use assim_gen::prior::trained::{BackgroundMode, TrainedDenoiser};
use assim_gen::tensor::{from_rows, normal};
use assim_gen::train::checkpoint::Checkpoint;
use assim_gen::train::config::{DataConfig, NetworkConfig, OptimConfig, TrainConfig};
use assim_gen::train::denoiser::train;
use assim_gen::train::params::load_flat;
use burn::tensor::Device;

const EXPERIMENT: &str = r#"
name = "tiny"
seeds = [1]
[model]
kind = "lorenz96"
nx = 12
[chronology]
dt = 0.05
dko = 1
ko = 10
burn_in = 0.1
[x0]
mean = "e0"
var = 0.001
[observations]
indices = "all"
sigma = 1.0
[[methods]]
method = "Climatology"
"#;

fn config(out: &std::path::Path, steps: usize) -> (TrainConfig, Experiment) {
    let exp = Experiment::parse(EXPERIMENT, "tiny.toml").unwrap();
    let cfg = TrainConfig {
        name: "tiny".into(),
        experiment: "tiny.toml".into(),
        out: out.display().to_string(),
        autoencoder: None,
        seed: 5,
        data: DataConfig {
            burn_in_cycles: 20,
            train_cycles: 200,
            valid_cycles: 20,
            background: BackgroundMode::Mean,
            methods: vec![
                toml::toml! { method = "EnKF"
                upd_a = "Sqrt"
                n = 8
                infl = 1.05 }
                .into(),
            ],
            seeds: Vec::new(),
            blanket: 0,
            pairs_file: None,
            debias: false,
        },
        network: NetworkConfig {
            conditional: true,
            increment: false,
            obs_channels: false,
            width: 8,
            blocks: 1,
            kernel: 3,
            embedding: 4,
        },
        optim: OptimConfig {
            steps,
            batch: 16,
            lr: 3e-3,
            warmup: 3,
            weight_decay: 1e-4,
            ema: 0.9,
            clip: 1.0,
            valid_every: 5,
            checkpoint_every: 100,
        },
        provenance: Default::default(),
    };
    cfg.validate("tiny-train.toml", &exp).unwrap();
    (cfg, exp)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-train-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join("tiny.ckpt")
}

#[test]
fn same_seed_same_weights_and_resume_repeats_the_uninterrupted_run() {
    let a = tmp("a");
    let (cfg, exp) = config(&a, 20);
    let full = train(&cfg, &exp, false, None, &mut |_| {}).unwrap();
    let again_path = tmp("again");
    let (cfg2, _) = config(&again_path, 20);
    train(&cfg2, &exp, false, None, &mut |_| {}).unwrap();
    let ca = Checkpoint::load(&a).unwrap();
    let cb = Checkpoint::load(&again_path).unwrap();
    assert_eq!(ca.array("params"), cb.array("params"), "same seed, same weights");

    // Interrupted after 10 steps (a checkpoint is written), then resumed to 20.
    let r = tmp("resumed");
    let (cfg3, _) = config(&r, 20);
    let part = train(&cfg3, &exp, false, Some(10), &mut |_| {}).unwrap();
    assert_eq!(part.log.last().unwrap().step, 10);
    let rest = train(&cfg3, &exp, true, None, &mut |_| {}).unwrap();
    assert_eq!(rest.start_step, 10);
    let cr = Checkpoint::load(&r).unwrap();
    assert_eq!(ca.array("params"), cr.array("params"), "resumed weights differ");
    assert_eq!(ca.array("ema"), cr.array("ema"));
    let losses = |log: &[assim_gen::train::denoiser::LogRow]| {
        log.iter().map(|r| (r.step, r.train_loss, r.valid_loss)).collect::<Vec<_>>()
    };
    assert_eq!(losses(&full.log), losses(&rest.log), "the resumed loss curve differs");
    assert!(
        full.log.last().unwrap().valid_loss < full.log[0].valid_loss,
        "the validation loss did not fall: {:?}",
        full.log
    );

    // A different configuration is refused on --resume (only optim.steps may change).
    let (mut other, _) = config(&r, 30);
    other.optim.lr = 1e-3;
    let e = train(&other, &exp, true, None, &mut |_| {}).err().unwrap().to_string();
    assert!(e.contains("different training configuration"), "{e}");

    // Save → load → identical outputs.
    let device = Device::flex();
    let loaded = TrainedDenoiser::load(&a, &device).unwrap();
    let net = EdmNetwork::new(cfg.size(), true, &loaded.meta.edm, &device);
    let net = load_flat(net, ca.array("ema").unwrap(), &device, false);
    let mut rng = assim_core::rng::stream(1, "x");
    let x = normal(&mut rng, 4, 12, &device);
    let c = from_rows(&[0.5; 48], 4, 12, &device);
    let d1 = loaded.network.denoise(x.clone(), 0.7, Some(&c)).to_data();
    let d2 = net.denoise(x, 0.7, Some(&c)).to_data();
    assert_eq!(d1, d2);
    for p in [a, again_path, r] {
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }
}

/// `data.debias` shifts the latent pairs of the gridded beds; on a Lorenz bed, which has no such
/// pairs, it is refused by name rather than ignored.
#[test]
fn debias_is_refused_on_a_lorenz_bed() {
    let (mut cfg, exp) = config(&tmp("debias-lorenz"), 3);
    assert!(cfg.validate("tiny_train.toml", &exp).is_ok());
    cfg.data.debias = true;
    let e = cfg.validate("tiny_train.toml", &exp).err().unwrap().to_string();
    assert!(e.contains("data.debias") && e.contains("gridded beds"), "{e}");
}
