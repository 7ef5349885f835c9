//! `train_autoencoder` end to end on a short T21 climate: a checkpoint with the floor, an
//! interrupted run resumed to the same weights bit for bit, and the refusals.

use std::path::{Path, PathBuf};

use assim_gen::latent::train::{AutoencoderConfig, train_autoencoder};
use assim_gen::train::checkpoint::Checkpoint;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-vae-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn files(dir: &Path, steps: usize) -> PathBuf {
    let climate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/simulate_climate_t21.toml");
    let exp = format!(
        r#"
name = "vae-test"
seeds = [1]
[model]
kind = "shallow_water"
climate = {climate:?}
spinup_days = 20
climate_days = 24
climate_interval_hours = 24
[chronology]
dt = 2400
dko = 9
ko = 3
burn_in = 0
[network.stations]
n = 10
variables = ["geopotential"]
sigma = [50.0]
[[methods]]
method = "Climatology"
"#
    );
    std::fs::write(dir.join("exp.toml"), exp).unwrap();
    let out = dir.join("vae.ckpt");
    let train = format!(
        r#"
out = {:?}
seed = 3
[data]
experiment = "exp.toml"
seeds = [1, 2]
valid_fraction = 0.2
[network]
width = 4
latent = 2
[optim]
steps = {steps}
batch = 4
valid_every = 3
checkpoint_every = 2
"#,
        out.display().to_string()
    );
    std::fs::write(dir.join("train.toml"), train).unwrap();
    dir.join("train.toml")
}

#[test]
fn trains_writes_the_floor_and_resumes_exactly() {
    let dir = scratch("resume");
    let (cfg, exp) = AutoencoderConfig::load(&files(&dir, 6)).unwrap();
    let full = train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
    assert_eq!((full.n_train, full.n_valid), (2 * 19, 2 * 5));
    let floor = full.floor.as_ref().unwrap();
    assert_eq!(floor.len(), 3);
    assert!(floor.iter().all(|f| f.rmse.is_finite() && f.rmse > 0.0 && f.error_spectrum.len() == 22));
    let done = Checkpoint::load(&full.path).unwrap();
    assert_eq!(done.meta["kind"], "autoencoder");
    assert_eq!(done.meta["training"]["step"], 6);
    assert!(done.meta["training"]["floor"].is_array());
    let weights = done.array("params").unwrap().to_vec();

    // Interrupted after 3 steps (checkpoint at 3), then resumed: the same weights.
    std::fs::remove_file(&full.path).unwrap();
    let part = train_autoencoder(&cfg, &exp, false, Some(3), &mut |_, _, _| {}).unwrap();
    assert!(part.floor.is_none());
    assert_eq!(Checkpoint::load(&part.path).unwrap().meta["training"]["step"], 3);
    let resumed = train_autoencoder(&cfg, &exp, true, None, &mut |_, _, _| {}).unwrap();
    assert_eq!(Checkpoint::load(&resumed.path).unwrap().array("params").unwrap(), &weights[..]);
    assert_eq!(resumed.log.len(), full.log.len());

    // A resume with another configuration, a corrupt checkpoint: refused, clearly.
    let (mut other, _) = AutoencoderConfig::load(&files(&dir, 6)).unwrap();
    other.optim.lr = 1e-2;
    let e = train_autoencoder(&other, &exp, true, None, &mut |_, _, _| {}).err().unwrap().to_string();
    assert!(e.contains("different training configuration"), "{e}");
    let bytes = std::fs::read(&resumed.path).unwrap();
    std::fs::write(&resumed.path, &bytes[..bytes.len() / 2]).unwrap();
    let e = train_autoencoder(&cfg, &exp, true, None, &mut |_, _, _| {}).err().unwrap().to_string();
    assert!(e.contains("vae.ckpt"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_training_files_are_refused_with_the_key() {
    let dir = scratch("bad");
    let path = files(&dir, 6);
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = |from: &str, to: &str| {
        std::fs::write(&path, text.replace(from, to)).unwrap();
        AutoencoderConfig::load(&path).err().unwrap().to_string()
    };
    assert!(bad("valid_fraction = 0.2", "valid_fraction = 0.7").contains("data.valid_fraction"));
    assert!(bad("latent = 2", "latent = 0").contains("network"));
    assert!(bad("batch = 4", "batch = 4\nmomentum = 0.9").contains("momentum"));
    assert!(bad("\"exp.toml\"", "\"missing.toml\"").contains("data.experiment"));
    let e = bad("checkpoint_every = 2", "checkpoint_every = 2\nfield_weights = { vorticity = 2.0 }");
    assert!(e.contains("optim.field_weights.vorticity") && e.contains("names no field"), "{e}");
    let e = bad("checkpoint_every = 2", "checkpoint_every = 2\nfield_weights = { eastward_wind = 0.0 }");
    assert!(e.contains("optim.field_weights.eastward_wind") && e.contains("> 0"), "{e}");
    // A Lorenz experiment has no sphere to encode.
    std::fs::write(
        dir.join("l96.toml"),
        "name = \"l\"\nseeds = [1]\n[model]\nkind = \"lorenz96\"\n[chronology]\ndt = 0.05\ndko = 1\nko = 10\nburn_in = 0\n\
         [x0]\nmean = \"zero\"\nvar = 1.0\n[observations]\nindices = \"all\"\nsigma = 1.0\n[[methods]]\nmethod = \"Climatology\"\n",
    )
    .unwrap();
    assert!(bad("\"exp.toml\"", "\"l96.toml\"").contains("needs an experiment on a grid"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_shipped_training_files_validate() {
    for name in [
        "swe_t21_autoencoder.toml",
        "swe_t21_autoencoder_truths.toml",
        "swe_t42_autoencoder.toml",
        "pe_t21_autoencoder.toml",
        "era5_eda_autoencoder.toml",
    ] {
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments").join(name);
        let (cfg, exp) = AutoencoderConfig::load(&f).unwrap();
        assert!(exp.bed.field_grid().is_some() && cfg.optim.steps >= 1000, "{name}");
    }
}

#[test]
fn training_truths_join_the_fields_but_not_the_normalisation() {
    // `truth_seeds = [5]`: the 4 windows of seed 5's truth join the fields (the last 20 %
    // held out, as for the climate samples); the scales still come from the climate alone; a
    // test seed of the experiment is refused.
    let dir = scratch("truths");
    let path = files(&dir, 1);
    let (cfg, exp) = AutoencoderConfig::load(&path).unwrap();
    let plain = train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
    let scale = Checkpoint::load(&plain.path).unwrap().meta["autoencoder"]["scale"].clone();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("seeds = [1, 2]", "seeds = [1, 2]\ntruth_seeds = [5]")).unwrap();
    let (cfg, exp) = AutoencoderConfig::load(&path).unwrap();
    let with = train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
    assert_eq!((with.n_train, with.n_valid), (plain.n_train + 3, plain.n_valid + 1));
    assert_eq!(Checkpoint::load(&with.path).unwrap().meta["autoencoder"]["scale"], scale);
    std::fs::write(&path, text.replace("seeds = [1, 2]", "seeds = [1, 2]\ntruth_seeds = [5, 1]")).unwrap();
    let e = AutoencoderConfig::load(&path).err().unwrap().to_string();
    assert!(e.contains("data.truth_seeds") && e.contains("seed 1"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The multi-level bed's states are 3L + 1 fields (T, u, v per level, then p_s), the levels as
/// channels: the autoencoder trains on them, reports its floor per field and level, and the
/// checkpoint refuses a shallow-water experiment (and the shallow-water one this bed).
#[test]
fn a_multi_level_autoencoder_has_a_channel_per_field_and_level() {
    let dir = scratch("pe");
    let climate =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/simulate_held_suarez_t21.toml");
    let exp = format!(
        r#"
name = "pe-vae-test"
seeds = [1]
[model]
kind = "primitive_dry"
climate = {climate:?}
spinup_days = 10
climate_days = 20
[chronology]
dt = 1800
dko = 12
ko = 3
burn_in = 0
[observing.stations]
n = 10
[[methods]]
method = "Climatology"
"#
    );
    std::fs::write(dir.join("pe.toml"), exp).unwrap();
    let sw = files(&dir, 2);
    let text = std::fs::read_to_string(&sw).unwrap().replace("\"exp.toml\"", "\"pe.toml\"");
    let path = dir.join("pe_train.toml");
    std::fs::write(&path, text.replace("seeds = [1, 2]", "seeds = [2]\ntruth_seeds = [3]")).unwrap();
    let (cfg, exp) = AutoencoderConfig::load(&path).unwrap();
    let out = train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
    // 20 daily climate samples (4 held out) and 4 truths (1 held out).
    assert_eq!((out.n_train, out.n_valid), (16 + 3, 4 + 1));
    let floor = out.floor.as_ref().unwrap();
    assert_eq!(floor.len(), 31);
    assert_eq!(floor[0].variable, "air_temperature_50hPa");
    assert_eq!(floor[19].variable, "eastward_wind_950hPa");
    assert_eq!((floor[30].variable.as_str(), floor[30].units.as_str()), ("surface_air_pressure", "Pa"));
    assert!(floor.iter().all(|f| f.rmse.is_finite() && f.rmse > 0.0 && f.error_spectrum.len() == 22));
    let ckpt = Checkpoint::load(&out.path).unwrap();
    assert_eq!(ckpt.meta["autoencoder"]["size"]["channels"], 31);
    assert_eq!(ckpt.meta["autoencoder"]["variables"][10], "eastward_wind_50hPa");

    let device = assim_gen::tensor::compute_device().unwrap();
    let ae = assim_gen::latent::space::TrainedAutoencoder::load(&out.path, &device).unwrap();
    ae.check_experiment(&exp).unwrap();
    let (_, sw_exp) = AutoencoderConfig::load(&sw).unwrap();
    let e = ae.check_experiment(&sw_exp).err().unwrap().to_string();
    assert!(e.contains("31 fields") && e.contains("3 fields"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The autoencoder trains on real states: the shipped file's data are the ERA5 EDA store of
/// `era5_eda.toml` (the fields bed), seed 0's sample of members 1–9 at the store's 4 times: 36
/// fields of t and z at 500 and 850 hPa, the last quarter in time held out, and its floor is
/// per real field in the store's units.
#[test]
fn the_autoencoder_trains_on_a_stores_real_states() {
    let dir = scratch("era5");
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/era5_eda_autoencoder.toml");
    let (mut cfg, exp) = AutoencoderConfig::load(&f).unwrap();
    cfg.out = dir.join("era5.ckpt").display().to_string();
    cfg.optim.steps = 3;
    let out = train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
    assert_eq!((out.n_train, out.n_valid), (27, 9));
    let floor = out.floor.as_ref().unwrap();
    let names: Vec<(&str, &str)> = floor.iter().map(|f| (f.variable.as_str(), f.units.as_str())).collect();
    assert_eq!(
        names,
        [
            ("air_temperature_500hPa", "K"),
            ("air_temperature_850hPa", "K"),
            ("geopotential_500hPa", "m2 s-2"),
            ("geopotential_850hPa", "m2 s-2")
        ]
    );
    // Three steps from random weights reconstruct little: the error is of the order of the
    // members' spread (0.16–0.28 K, ≈ 11 m² s⁻² at T21), not of the weather (tens of K).
    assert!(floor.iter().all(|f| f.rmse_over_clim_sd > 0.3 && f.rmse_over_clim_sd < 3.0), "{floor:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `[optim] field_weights`: the same training with one field weighted 30× reconstructs that field
/// better and the geopotential worse (same seed, batches and noise: only the loss differs, so
/// weights the loss ignored would give identical floors; 40 steps of a tiny network measured
/// u 0.93 → 0.86 and Φ 0.84 → 1.02 of the climatological sd).
#[test]
fn a_field_weight_buys_that_field_a_lower_floor() {
    let dir = scratch("field-weights");
    let path = files(&dir, 40);
    let text = std::fs::read_to_string(&path).unwrap().replace("valid_every = 3", "valid_every = 20");
    let floor = |extra: &str| {
        std::fs::write(
            &path,
            text.replace("checkpoint_every = 2", &format!("checkpoint_every = 40\n{extra}")),
        )
        .unwrap();
        let (cfg, exp) = AutoencoderConfig::load(&path).unwrap();
        let out = train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
        out.floor.unwrap().into_iter().map(|f| (f.variable, f.rmse_over_clim_sd)).collect::<Vec<_>>()
    };
    let plain = floor("");
    let weighted = floor("field_weights = { eastward_wind = 30.0 }");
    let names: Vec<&str> = plain.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(names, ["geopotential", "eastward_wind", "northward_wind"]);
    assert!(weighted[1].1 < plain[1].1 && weighted[0].1 > plain[0].1, "{plain:?} → {weighted:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
