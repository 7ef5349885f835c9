//! Latent generative DA on the sphere, end to end on a short T21 climate with tiny networks:
//! the autoencoder, the latent prior trained on cycled 3D-Var backgrounds, `H(D(z))` checked
//! against the core operator, every guidance cycled in the OSSE, and the refusals (another
//! resolution, another autoencoder, RePaint, a latent prior in a Lorenz experiment).

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use assim_core::bed::sphere::SphereConfig;
use assim_core::classical::{EnsembleFilter, Estimate};
use assim_core::experiment::{Experiment, Scenario, run_experiment};
use assim_core::obs::ObsOperator;
use assim_core::obs::records::{Observation, Source, Variable, operator};
use assim_core::rng::{stream, uniform};
use assim_gen::filter::GenerativeConfig;
use assim_gen::guidance::GuidanceConfig;
use assim_gen::latent::autoencoder::{SphereVae, VaeSize};
use assim_gen::latent::space::{DecodedObs, TrainedAutoencoder};
use assim_gen::latent::train::{AutoencoderConfig, train_autoencoder};
use assim_gen::obs::Observe;
use assim_gen::tensor::{from_rows, to_rows};
use assim_gen::train::checkpoint::Checkpoint;
use assim_gen::train::config::TrainConfig;
use assim_gen::train::denoiser::train;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-latent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// A short T21 experiment (`methods` appended) in `dir/name`.
fn experiment(dir: &Path, name: &str, ko: usize, methods: &str) -> PathBuf {
    let climate = repo("experiments/simulate_climate_t21.toml");
    let text = format!(
        r#"
name = "latent-test"
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
ko = {ko}
burn_in = 0
[network.stations]
n = 30
variables = ["geopotential", "eastward_wind", "northward_wind"]
sigma = [50.0, 1.5, 1.5]
[network.satellites]
n = 1
sigma = 100.0
[forecasts]
lead_days = 1
every = 100
{methods}
"#
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn train_vae(dir: &Path, seed: u64) -> PathBuf {
    experiment(dir, "exp.toml", 3, "[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n");
    let out = dir.join("vae.ckpt");
    let text = format!(
        "out = {:?}\nseed = {seed}\n[data]\nexperiment = \"exp.toml\"\nseeds = [1]\nvalid_fraction = 0.2\n\
         [network]\nwidth = 4\nlatent = 2\n[optim]\nsteps = 4\nbatch = 4\nvalid_every = 2\ncheckpoint_every = 4\n",
        out.display().to_string()
    );
    std::fs::write(dir.join("vae.toml"), text).unwrap();
    let (cfg, exp) = AutoencoderConfig::load(&dir.join("vae.toml")).unwrap();
    train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();
    out
}

/// The training file `dir/name.toml` of a tiny latent prior on pairs from `data_method` (a
/// `[[data.methods]]` body) with `background = "mean"` or `"member"`; returns its checkpoint path.
fn prior_file(dir: &Path, name: &str, conditional: bool, background: &str, data_method: &str) -> PathBuf {
    let out = dir.join(format!("{name}.ckpt"));
    let text = format!(
        r#"
name = "{name}"
experiment = "exp.toml"
out = {:?}
autoencoder = {:?}
seed = 7
[data]
seeds = [11]
burn_in_cycles = 1
train_cycles = 10
valid_cycles = 2
background = "{background}"
[[data.methods]]
{data_method}
[network]
conditional = {conditional}
increment = {conditional}
width = 4
blocks = 1
kernel = 3
embedding = 4
[optim]
steps = 3
batch = 4
lr = 1e-3
warmup = 1
weight_decay = 0.0
ema = 0.9
clip = 1.0
valid_every = 3
checkpoint_every = 3
"#,
        out.display().to_string(),
        dir.join("vae.ckpt").display().to_string()
    );
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    out
}

/// Trains the prior of [`prior_file`], which must give `pairs_per_cycle` pairs per window.
fn train_prior_from(
    dir: &Path,
    name: &str,
    conditional: bool,
    background: &str,
    data_method: &str,
    pairs_per_cycle: usize,
) -> PathBuf {
    let out = prior_file(dir, name, conditional, background, data_method);
    let (cfg, exp) = TrainConfig::load(&dir.join(format!("{name}.toml"))).unwrap();
    let outcome = train(&cfg, &exp, false, None, &mut |_| {}).unwrap();
    assert_eq!(outcome.n_pairs, 10 * pairs_per_cycle);
    out
}

fn train_prior(dir: &Path, name: &str, conditional: bool) -> PathBuf {
    train_prior_from(dir, name, conditional, "mean", "method = \"Var3D\"\nxb = 0.01", 1)
}

fn generative(ckpt: &Path, guidance: &str) -> String {
    format!(
        "[[methods]]\nmethod = \"Generative\"\ncheckpoint = {:?}\nn = 3\nsampler = \"euler\"\nsteps = 3\nsigma_max = 2.0\nguidance = {guidance}\n",
        ckpt.display().to_string()
    )
}

#[test]
fn latent_methods_train_and_cycle_in_the_osse() {
    let dir = scratch("osse");
    let vae = train_vae(&dir, 1);
    let cond = train_prior(&dir, "cond", true);
    let uncond = train_prior(&dir, "uncond", false);
    let meta = Checkpoint::load(&cond).unwrap().meta;
    assert_eq!(meta["denoiser"]["nx"], 2 * 8 * 16, "the prior lives on the 8×16 latent grid");
    assert_eq!(meta["denoiser"]["network"]["grid"], serde_json::json!([2, 8, 16]));
    assert!(meta["denoiser"]["latent"]["fingerprint"].is_string());

    let mut methods = String::from("[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n");
    for g in [
        "{ kind = \"latent_optimization\", iters = 2, sigma_below = 1.0 }",
        "{ kind = \"dps\", zeta = 0.5 }",
        "{ kind = \"sda_gamma\" }",
        "{ kind = \"mmps\", cg_iters = 1 }",
    ] {
        methods.push_str(&generative(&cond, g));
    }
    methods.push_str(&generative(&uncond, "{ kind = \"latent_optimization\", iters = 2 }"));
    // The analysis as the forecast plus the decoded latent increment.
    methods.push_str(&generative(&cond, "{ kind = \"dps\", zeta = 0.5 }\nlatent_analysis = \"increment\""));
    let exp =
        Experiment::load_with(&experiment(&dir, "run.toml", 2, &methods), &assim_gen::methods()).unwrap();
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    assert_eq!(report.methods.len(), 7);
    for m in &report.methods[1..] {
        let s = &m.per_seed[0];
        assert!(!s.diverged, "{}: {:?}", m.name, s.divergence_reason);
        assert!(s.run.rmse_a.iter().all(|r| r.is_finite()), "{}", m.name);
        assert_eq!(s.run.members, Some(3), "{}", m.name);
        assert!(m.spread_skill.is_finite() && m.physics.is_some(), "{}", m.name);
    }
    // Another autoencoder at the recorded path: the prior refuses to run in its latent.
    train_vae(&dir, 2);
    let e = exp.methods[1].build(exp.bed.as_ref()).err().unwrap().to_string();
    assert!(e.contains("another autoencoder"), "{e}");
    let _ = vae;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_member_conditioned_latent_prior_trains_on_every_member_and_cycles() {
    // Pairs of (truth, each of 8 LETKF members); in cycling each analysis member is sampled
    // given its own forecast member, with either analysis.
    let dir = scratch("member");
    train_vae(&dir, 1);
    let member = train_prior_from(
        &dir,
        "member",
        true,
        "member",
        "method = \"LETKF\"\nn = 8\nloc_rad = 800.0\ninfl = 1.1",
        8,
    );
    let meta = Checkpoint::load(&member).unwrap().meta;
    assert_eq!(meta["denoiser"]["background"], "member");
    let lo = "{ kind = \"latent_optimization\", iters = 2, sigma_below = 1.0 }";
    let mut methods = generative(&member, lo);
    methods.push_str(&generative(&member, &format!("{lo}\nlatent_analysis = \"increment\"")));
    let exp =
        Experiment::load_with(&experiment(&dir, "run.toml", 2, &methods), &assim_gen::methods()).unwrap();
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    for m in &report.methods {
        let s = &m.per_seed[0];
        assert!(!s.diverged, "{}: {:?}", m.name, s.divergence_reason);
        assert!(s.run.rmse_a.iter().all(|r| r.is_finite()), "{}", m.name);
        assert!(m.scores.spread_a > 0.0, "{}: members collapsed", m.name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_prior_trains_on_the_cycled_backgrounds_of_a_latent_method() {
    // Closed-loop training: the pairs of the second prior come from 3D-Var and from LO cycled
    // with the first prior; a training filter that loses the truth, and the file's own
    // checkpoint as the cycled one, are refused.
    let dir = scratch("closed_loop");
    train_vae(&dir, 1);
    let first = train_prior(&dir, "first", true);
    let lo = generative(&first, "{ kind = \"latent_optimization\", iters = 2, sigma_below = 1.0 }").replacen(
        "[[methods]]",
        "[[data.methods]]",
        1,
    );
    let methods = format!("method = \"Var3D\"\nxb = 0.01\n{lo}");

    // A prior trained for 3 steps loses the truth within the 13 windows.
    let second = prior_file(&dir, "second", true, "mean", &methods);
    let (cfg, exp) = TrainConfig::load(&dir.join("second.toml")).unwrap();
    let e = train(&cfg, &exp, false, None, &mut |_| {}).err().unwrap().to_string();
    assert!(e.contains("diverged on seed 11") && e.contains("Gen LO"), "{e}");
    assert!(!second.exists(), "nothing is written when the pairs fail");

    // With the bar lifted (this test is about the plumbing), 3D-Var's and LO's pairs pool.
    let var3d = "[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n";
    experiment(&dir, "exp.toml", 3, &format!("[divergence]\nfactor = 100.0\n{var3d}"));
    let second = train_prior_from(&dir, "second", true, "mean", &methods, 2);
    assert_eq!(Checkpoint::load(&second).unwrap().meta["denoiser"]["nx"], 2 * 8 * 16);
    let run = generative(&second, "{ kind = \"dps\", zeta = 0.5 }");
    let exp = Experiment::load_with(&experiment(&dir, "run.toml", 2, &run), &assim_gen::methods()).unwrap();
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    assert!(report.methods[0].per_seed[0].run.rmse_a.iter().all(|r| r.is_finite()));

    let text = std::fs::read_to_string(dir.join("second.toml")).unwrap();
    let [a, b] = [&first, &second].map(|p| format!("{:?}", p.display().to_string()));
    std::fs::write(dir.join("own.toml"), text.replace(&a, &b)).unwrap();
    let e = TrainConfig::load(&dir.join("own.toml")).err().unwrap().to_string();
    assert!(e.contains("data.methods[1].checkpoint") && e.contains("`out`"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_interpolates_between_the_decoded_and_the_increment_analysis() {
    // One analysis from the same members, observations and random stream with κ = 0, ½, 1:
    // x_a = D(z_a) + κ (x_b − D(z_b)) is affine in κ, and κ = 0 is the decoded analysis.
    let dir = scratch("keep");
    train_vae(&dir, 1);
    let prior = train_prior(&dir, "prior", true);
    let lo = "{ kind = \"latent_optimization\", iters = 2, sigma_below = 1.0 }";
    let mut methods = generative(&prior, lo);
    for keep in [0.0, 0.5, 1.0] {
        methods
            .push_str(&generative(&prior, &format!("{lo}\nlatent_analysis = \"increment\"\nkeep = {keep}")));
    }
    let exp =
        Experiment::load_with(&experiment(&dir, "run.toml", 2, &methods), &assim_gen::methods()).unwrap();
    let twin = assim_gen::latent::space::sphere_twin(&exp, 1, 0, &mut |_, _, _| {}).unwrap();
    let analyses: Vec<Vec<f64>> = exp
        .methods
        .iter()
        .map(|m| {
            let mut method = m.build(exp.bed.as_ref()).unwrap();
            let mut rng = stream(5, "keep");
            method.initialise(&twin.setup(0), &mut rng).unwrap();
            method.analyse(&twin.setup(0), twin.observations(0), 0.0, &mut rng).unwrap();
            match method.estimate() {
                Estimate::Ensemble { members, .. } => (0..members.ncols())
                    .flat_map(|j| (0..members.nrows()).map(move |i| members[(i, j)]))
                    .collect(),
                Estimate::State { .. } => panic!("a generative method is an ensemble"),
            }
        })
        .collect();
    let scale = analyses[0].iter().map(|v| v.abs()).fold(0.0, f64::max);
    let gap = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale;
    assert!(gap(&analyses[0], &analyses[1]) < 1e-12, "κ = 0 is D(z_a)");
    let mid: Vec<f64> = analyses[1].iter().zip(&analyses[3]).map(|(a, b)| 0.5 * (a + b)).collect();
    assert!(gap(&analyses[2], &mid) < 1e-9, "κ = ½ halfway: {}", gap(&analyses[2], &mid));
    assert!(gap(&analyses[1], &analyses[3]) > 1e-4, "the forecast's unrepresentable part is not zero");

    // κ outside [0, 1], or without the increment analysis, is refused.
    for (extra, msg) in
        [("latent_analysis = \"increment\"\nkeep = 1.5", "[0, 1]"), ("keep = 0.5", "increment")]
    {
        let text = generative(&prior, &format!("{lo}\n{extra}"));
        let e = Experiment::load_with(&experiment(&dir, "bad.toml", 2, &text), &assim_gen::methods())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("keep") && e.contains(msg), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_decoded_operator_is_the_core_operator_on_the_decoded_state() {
    let dir = scratch("hdz");
    let vae = train_vae(&dir, 1);
    let ae = TrainedAutoencoder::load(&vae, &Device::flex()).unwrap();
    check_decoded_operator(&ae, [32, 64]);
    // A latent for another resolution: the T42 experiment is refused, naming both grids.
    let t42 =
        Experiment::load_with(&repo("experiments/swe_t42_stations.toml"), &assim_gen::methods()).unwrap();
    let e = ae.check_experiment(&t42).err().unwrap().to_string();
    assert!(e.contains("T21") && e.contains("T42"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_decoded_operator_is_the_core_operator_at_t42() {
    // The identity holds for any weights: a freshly initialised T42 autoencoder (64×128 → 16×32).
    let device = Device::flex();
    let size = VaeSize { channels: 3, width: 4, latent: 2 };
    let ae = TrainedAutoencoder::from_parts(SphereVae::new(size, &device), size, [64, 128], &device);
    check_decoded_operator(&ae, [64, 128]);
}

/// `H(D(z))` by the tensor path (and its JVP against its VJP) against the core's sparse
/// operator on the decoded states, for the autoencoder `ae` on the Gaussian grid `shape`.
fn check_decoded_operator(ae: &TrainedAutoencoder, shape: [usize; 2]) {
    let device = Device::flex();
    let grid = assim_core::grid::LatLonGrid::gaussian(shape[0], shape[1]).unwrap();
    let mut rng = stream(5, "decoded-obs");
    let recs: Vec<Observation> = (0..12)
        .map(|k| Observation {
            time_hours: 6.0,
            lat: 170.0 * uniform(&mut rng) - 85.0,
            lon: 360.0 * uniform(&mut rng),
            variable: Variable::ALL[k % 3],
            value: 0.0,
            sigma: 1.0,
            source: if k % 4 == 0 { Source::Satellite } else { Source::Station },
            footprint_km: if k % 4 == 0 { 500.0 } else { 0.0 },
            pressure_hpa: None,
        })
        .collect();
    let op = operator(&grid, &recs).unwrap();
    let nz = ae.latent_dim();
    let n = 2;
    let base: Vec<f64> = (0..n * nz).map(|i| ((i * 37) % 11) as f64 / 5.0 - 1.0).collect();
    let x: Vec<f64> = (0..n * nz).map(|i| ((i * 13) % 7) as f64 / 7.0 - 0.5).collect();
    let a = 0.3;
    let obs = DecodedObs::new(ae, &op, &[1.0; 12], from_rows(&base, n, nz, &device), a).unwrap();
    // H(D(base + a x)) by the tensor path equals the core's sparse H on the decoded states.
    let hx = to_rows(&obs.apply(from_rows(&x, n, nz, &device)));
    let z: Vec<f64> = base.iter().zip(&x).map(|(b, x)| b + a * x).collect();
    let states = ae.decode_states(from_rows(&z, n, nz, &device));
    for (j, s) in states.iter().enumerate() {
        let mut y = vec![0.0; 12];
        op.apply(s, &mut y);
        for p in 0..12 {
            let tol = 1e-4 * (1.0 + y[p].abs());
            assert!((hx[j * 12 + p] - y[p]).abs() < tol, "obs {p}: {} vs {}", hx[j * 12 + p], y[p]);
        }
    }
    // ⟨H'w, v⟩ = ⟨w, H'ᵀv⟩: the finite-difference JVP against the autodiff VJP.
    let w: Vec<f64> = (0..n * nz).map(|i| ((i * 29) % 13) as f64 / 13.0 - 0.5).collect();
    let v: Vec<f64> = (0..n * 12).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
    let xt = from_rows(&x, n, nz, &device);
    let jw = to_rows(&obs.jvp(&xt, from_rows(&w, n, nz, &device)));
    let jtv = to_rows(&obs.vjp(&xt, from_rows(&v, n, 12, &device)));
    let lhs: f64 = jw.iter().zip(&v).map(|(a, b)| a * b).sum();
    let rhs: f64 = jtv.iter().zip(&w).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-2 * (lhs.abs() + rhs.abs()), "{lhs} vs {rhs}");
}

/// A nonlinear operator (OLR, σT⁴ over boxes, beside the linear sounder) seen through the
/// decoder as its Jacobian at x̄ plus the intercept `H(x̄) − H'(x̄) x̄` gives `H(x̄)` itself at the
/// latent of x̄ (the latent methods' linearisation on the multi-level bed), and differs from the
/// operator only to second order away from it.
#[test]
fn a_linearised_operator_through_the_decoder_is_exact_at_its_point() {
    use assim_core::dynamics::primitive::SigmaLevels;
    use assim_core::obs::Stacked;
    use assim_core::obs::column::{Channel, ColumnLayout, Olr, Sounder, coarse_boxes};
    let device = Device::flex();
    let (nlat, nlon, nlev) = (8, 16, 2);
    let size = VaeSize { channels: 3 * nlev + 1, width: 4, latent: 2 };
    let ae = TrainedAutoencoder::from_parts(SphereVae::new(size, &device), size, [nlat, nlon], &device);
    let grid = assim_core::grid::LatLonGrid::gaussian(nlat, nlon).unwrap();
    let layout = ColumnLayout { nlev, npts: nlat * nlon };
    let levels = SigmaLevels::equidistant(nlev).unwrap();
    let channel = Channel::peaking_at(0.5, levels.half()).unwrap();
    let points = assim_core::grid::Bilinear::new(&grid, &[(30.0, 40.0), (-60.0, 300.0)]).unwrap();
    let op = Stacked::new(vec![
        std::sync::Arc::new(Sounder::new(layout, points, std::slice::from_ref(&channel)).unwrap()),
        std::sync::Arc::new(Olr::new(layout, &coarse_boxes(nlat, nlon, 4), &channel).unwrap()),
    ]);
    let p = op.n_obs();
    let nz = ae.latent_dim();
    let base: Vec<f64> = (0..nz).map(|i| ((i * 37) % 11) as f64 / 5.0 - 1.0).collect();
    let x0: Vec<f64> = (0..nz).map(|i| ((i * 13) % 7) as f64 / 7.0 - 0.5).collect();
    let a = 0.3;
    let zbar: Vec<f64> = base.iter().zip(&x0).map(|(b, x)| b + a * x).collect();
    let xbar = ae.decode_states(from_rows(&zbar, 1, nz, &device)).remove(0);
    let jac = op.jacobian(&xbar).unwrap();
    let (mut hbar, mut jx) = (vec![0.0; p], vec![0.0; p]);
    op.apply(&xbar, &mut hbar);
    jac.apply(&xbar, &mut jx);
    let intercept: Vec<f64> = hbar.iter().zip(&jx).map(|(h, j)| h - j).collect();
    let obs = DecodedObs::new(&ae, &jac, &vec![1.0; p], from_rows(&base, 1, nz, &device), a)
        .unwrap()
        .with_intercept(&intercept)
        .unwrap();
    let at = to_rows(&obs.apply(from_rows(&x0, 1, nz, &device)));
    for r in 0..p {
        // f32 decoding and products: a few units of 1e-7 relative.
        assert!((at[r] - hbar[r]).abs() < 1e-4 * (1.0 + hbar[r].abs()), "obs {r}: {} vs {}", at[r], hbar[r]);
    }
    assert!(obs.with_intercept(&[0.0]).is_err(), "an intercept of the wrong length is refused");
}

#[test]
fn repaint_and_unsuitable_files_are_refused() {
    let dir = scratch("refuse");
    let e = Experiment::load_with(
        &experiment(&dir, "repaint.toml", 2, &generative(Path::new("x.ckpt"), "{ kind = \"repaint\" }")),
        &assim_gen::methods(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("RePaint"), "{e}");
    // (latent_analysis with a state prior is refused when the checkpoint is loaded:
    // assim-cli/tests/generative.rs.)
    // A latent training file without an autoencoder, or with a Lorenz experiment.
    experiment(&dir, "exp.toml", 3, "[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n");
    let f = repo("experiments/swe_t21_latent_train.toml");
    let text = std::fs::read_to_string(&f).unwrap().replace("swe_t21_stations.toml", "exp.toml");
    std::fs::write(dir.join("t.toml"), text.replace("autoencoder = \"checkpoints/swe_t21_vae.ckpt\"", ""))
        .unwrap();
    let e = TrainConfig::load(&dir.join("t.toml")).err().unwrap().to_string();
    assert!(e.contains("autoencoder"), "{e}");
    // Training on the truth the experiment tests on is refused.
    std::fs::write(dir.join("t.toml"), text.replace("seeds = [101, 102]", "seeds = [101, 1]")).unwrap();
    let e = TrainConfig::load(&dir.join("t.toml")).err().unwrap().to_string();
    assert!(e.contains("data.seeds"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How many generative entries of a shipped experiment file satisfy `keep` (the file must load).
fn generative_entries(file: &str, keep: impl Fn(&GenerativeConfig) -> bool) -> usize {
    let exp = Experiment::load_with(&repo("experiments").join(file), &assim_gen::methods()).unwrap();
    exp.methods.iter().filter(|m| m.downcast::<GenerativeConfig>().is_some_and(&keep)).count()
}

#[test]
fn the_shipped_latent_files_validate() {
    for f in [
        "swe_t21_latent_train.toml",
        "swe_t21_latent_prior_train.toml",
        "swe_t21_latent_member_train.toml",
        "swe_t21_latent_cycled_train.toml",
        "swe_t21_latent_truths_train.toml",
        "swe_t42_latent_train.toml",
        "swe_t42_latent_prior_train.toml",
        "swe_t42_latent_member_train.toml",
    ] {
        let (cfg, exp) = TrainConfig::load(&repo("experiments").join(f)).unwrap();
        assert!(exp.bed_as::<SphereConfig>().is_some() && cfg.autoencoder.is_some(), "{f}");
        assert!(!cfg.data.seeds.contains(&1), "{f}: the test seed must not be a training seed");
    }
    let exp = Experiment::load_with(&repo("experiments/swe_t21_latent.toml"), &assim_gen::methods()).unwrap();
    assert!(exp.bed_as::<SphereConfig>().is_some() && exp.methods.len() >= 11);
    let exp = Experiment::load_with(&repo("experiments/swe_t42_latent.toml"), &assim_gen::methods()).unwrap();
    assert!(exp.bed_as::<SphereConfig>().is_some() && exp.methods.len() >= 3);
    let spun = generative_entries("swe_t42_latent_spinup.toml", |g| g.spinup.is_some());
    assert_eq!(spun, 4, "every latent method of the cold-start file is spun up");
    let on_a_score = generative_entries("swe_t42_lo_sda.toml", |g| {
        g.spinup.is_some()
            && matches!(&g.guidance, GuidanceConfig::LatentOptimization(lo) if lo.score.is_some())
    });
    assert_eq!(on_a_score, 2, "both LO-SDA entries optimise on SDA guidance, spun up");
    let inflated = generative_entries("swe_t42_calibrated.toml", |g| g.spinup.is_some() && g.infl > 1.0);
    assert_eq!(inflated, 3, "SDA, DPS and MMPS, inflated and spun up");
    let member = generative_entries("swe_t42_calibrated.toml", |g| {
        g.checkpoint.ends_with("swe_t42_latent_member.ckpt") && g.infl == 1.0
    });
    assert_eq!(member, 2, "SDA and LO-SDA with the member-conditioned prior, not inflated");
    let unconditional = generative_entries("swe_t42_unconditional.toml", |g| {
        g.checkpoint.ends_with("swe_t42_latent_prior.ckpt")
    });
    assert_eq!(unconditional, 3, "p(z) with SDA (Γ = 10 and 100) and DPS guidance");
    for f in ["swe_t21_single_analysis.toml", "swe_t42_single_analysis.toml"] {
        let exp = Experiment::load_with(&repo("experiments").join(f), &assim_gen::methods()).unwrap();
        assert!(exp.methods[0].name() == "Var3D", "{f}: 3D-Var makes the backgrounds");
        assert_eq!(exp.methods.len(), 6, "{f}");
    }
}

#[test]
fn a_spun_up_method_is_its_helper_until_the_hand_over() {
    // `spinup = { windows = 2, method = 3D-Var }`: the first two analyses are 3D-Var's, bit
    // for bit (same random stream), the generative ensemble then starts as copies of 3D-Var's
    // second analysis, and a spin-up that reaches a scored window is refused.
    let dir = scratch("spinup");
    train_vae(&dir, 1);
    let prior = train_prior(&dir, "prior", true);
    let var3d = "[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n";
    let spun = generative(&prior, "{ kind = \"dps\", zeta = 0.5 }").replace(
        "guidance =",
        "spinup = { windows = 2, method = { method = \"Var3D\", xb = 0.01 } }\nguidance =",
    );
    // Windows are 6 h: a burn-in of 12 h leaves analyses 0 and 1 unscored.
    let with_burn_in = |name: &str, methods: &str| {
        let p = experiment(&dir, name, 3, methods);
        let text = std::fs::read_to_string(&p).unwrap().replace("burn_in = 0", "burn_in = 43200");
        std::fs::write(&p, text).unwrap();
        p
    };
    let exp =
        Experiment::load_with(&with_burn_in("run.toml", &format!("{var3d}{spun}")), &assim_gen::methods())
            .unwrap();
    let twin = assim_gen::latent::space::sphere_twin(&exp, 1, 0, &mut |_, _, _| {}).unwrap();
    let chrono = exp.chronology();
    let mut methods: Vec<_> = exp.methods.iter().map(|m| m.build(exp.bed.as_ref()).unwrap()).collect();
    let mut rngs = [stream(5, "spinup"), stream(5, "spinup")];
    for (m, rng) in methods.iter_mut().zip(&mut rngs) {
        m.initialise(&twin.setup(0), rng).unwrap();
    }
    for ko in 0..4 {
        let setup = twin.setup(ko);
        let k = chrono.obs_step(ko);
        for (m, rng) in methods.iter_mut().zip(&mut rngs) {
            m.forecast(&setup, (k - chrono.dko) as f64 * chrono.dt, chrono.dko).unwrap();
            m.analyse(&setup, twin.observations(ko), k as f64 * chrono.dt, rng).unwrap();
        }
        let [a, b] = [&methods[0], &methods[1]].map(|m| m.estimate());
        match (ko, &b) {
            (0, Estimate::State { mean, .. }) => assert_eq!(a.mean(), mean.to_vec(), "3D-Var's analysis"),
            (1, Estimate::Ensemble { members, .. }) => {
                // Hand-over: three copies of 3D-Var's second analysis.
                assert_eq!(members.ncols(), 3);
                let xa = a.mean();
                for j in 0..3 {
                    assert!((0..xa.len()).all(|i| members[(i, j)] == xa[i]), "member {j}");
                }
            }
            (_, Estimate::Ensemble { members, .. }) => {
                let spread =
                    (0..members.nrows()).map(|i| (members[(i, 0)] - members[(i, 1)]).abs()).sum::<f64>();
                assert!(spread > 0.0, "analysis {ko} is sampled by the prior");
            }
            _ => panic!("analysis {ko}: unexpected estimate"),
        }
    }
    // Through the runner: every window cycles, and the generative analyses are scored.
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    let s = &report.methods[1].per_seed[0];
    assert!(!s.diverged && s.run.rmse_a.iter().all(|r| r.is_finite()));
    assert_eq!(s.run.members, Some(3));
    assert_eq!(report.methods[1].diagnostics.get("spinup_windows"), Some(&2.0));

    // A spin-up into the scored windows, a generative helper and a bad helper key are refused.
    for (from, to, msg) in [
        ("windows = 2", "windows = 3", "spinup.windows"),
        (
            "method = \"Var3D\", xb = 0.01 }",
            "method = \"Generative\", checkpoint = \"x\", n = 2 }",
            "spinup.method",
        ),
        ("xb = 0.01 } }", "xb = -1.0 } }", "spinup.method.xb"),
    ] {
        let e =
            Experiment::load_with(&with_burn_in("bad.toml", &spun.replace(from, to)), &assim_gen::methods())
                .err()
                .unwrap()
                .to_string();
        assert!(e.contains(&format!("methods[0].{msg}")), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The training file of [`prior_file`] made a trajectory prior over blankets of `2k + 1`
/// windows, with 4 validation windows.
fn blanket_file(dir: &Path, name: &str, k: usize, background: &str) -> PathBuf {
    let out = prior_file(dir, name, true, background, "method = \"Var3D\"\nxb = 0.01");
    let f = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&f).unwrap();
    let text = text.replace("valid_cycles = 2", "valid_cycles = 4");
    std::fs::write(&f, text.replace("background = ", &format!("blanket = {k}\nbackground = "))).unwrap();
    out
}

#[test]
fn a_trajectory_prior_trains_on_blankets_and_cycles_holding_its_past() {
    let dir = scratch("trajectory");
    train_vae(&dir, 1);
    let traj = blanket_file(&dir, "traj", 1, "mean");
    let (cfg, exp) = TrainConfig::load(&dir.join("traj.toml")).unwrap();
    let outcome = train(&cfg, &exp, false, None, &mut |_| {}).unwrap();
    // 10 training windows of one filter make 8 blankets of 3.
    assert_eq!(outcome.n_pairs, 8);
    let meta = Checkpoint::load(&traj).unwrap().meta;
    assert_eq!(meta["denoiser"]["nx"], 3 * 2 * 8 * 16, "three windows of the 2×8×16 latent");
    assert_eq!(meta["denoiser"]["network"]["grid"], serde_json::json!([6, 8, 16]));
    assert_eq!(meta["denoiser"]["blanket"], 1);
    // A member-conditioned blanket, or one longer than the validation period, is refused.
    for (name, k, background) in [("member", 1, "member"), ("long", 2, "mean")] {
        blanket_file(&dir, name, k, background);
        let e = TrainConfig::load(&dir.join(format!("{name}.toml"))).err().unwrap().to_string();
        assert!(e.contains("data.blanket"), "{e}");
    }

    // Cycled after a 3D-Var spin-up of two windows (remembered as the first trajectories'
    // past): the blanket itself, and a trajectory of 5 built from it (SDA's construction).
    let var3d = "[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n";
    let entry = |guidance: &str, extra: &str| {
        generative(&traj, guidance).replace(
            "guidance =",
            &format!(
                "latent_analysis = \"increment\"\n{extra}spinup = {{ windows = 2, method = {{ method = \"Var3D\", xb = 0.01 }} }}\nguidance ="
            ),
        )
    };
    let methods = format!(
        "{var3d}{}{}",
        entry("{ kind = \"sda_gamma\", gamma = 10.0 }", "trajectory = 3\n"),
        entry("{ kind = \"mmps\", cg_iters = 1 }", "trajectory = 5\n")
    );
    let p = experiment(&dir, "run.toml", 4, &methods);
    let text = std::fs::read_to_string(&p).unwrap().replace("burn_in = 0", "burn_in = 43200");
    std::fs::write(&p, text).unwrap();
    let exp = Experiment::load_with(&p, &assim_gen::methods()).unwrap();
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    for m in &report.methods[1..] {
        let s = &m.per_seed[0];
        assert!(
            !s.diverged && s.run.rmse_a.iter().all(|r| r.is_finite()),
            "{}: {:?}",
            m.name,
            s.divergence_reason
        );
        assert_eq!(s.run.members, Some(3), "{}", m.name);
    }

    // The past windows are held to the remembered analyses: with a tight blanket_sigma the
    // sampled trajectory's past is the encoded analysis increment, without a past it is free.
    let twin = assim_gen::latent::space::sphere_twin(&exp, 1, 0, &mut |_, _, _| {}).unwrap();
    let setup = twin.setup(0);
    let y = twin.observations(0);
    let tight = entry("{ kind = \"sda_gamma\", gamma = 1.0 }", "trajectory = 3\nblanket_sigma = 0.01\n");
    let mut entry_table =
        toml::from_str::<toml::Table>(&tight).unwrap()["methods"][0].as_table().unwrap().clone();
    entry_table.remove("method");
    let gcfg: GenerativeConfig = toml::Value::Table(entry_table).try_into().unwrap();
    let (xb, x1) = (twin.truth(0).to_vec(), twin.truth(1).to_vec());
    let xa: Vec<f64> = xb.iter().zip(&x1).map(|(b, t)| b + 0.5 * (t - b)).collect();
    let sample_past = |remember: bool| {
        let mut f = assim_gen::filter::GenerativeFilter::new(&gcfg, exp.bed.as_ref()).unwrap();
        f.prepare(&setup).unwrap();
        *f.members_mut() = faer::Mat::from_fn(xb.len(), 3, |i, _| xb[i]);
        assert_eq!(f.memory(), 2);
        if remember {
            f.remember(&setup, y, &xb, &xa).unwrap();
            f.remember(&setup, y, &xb, &xa).unwrap();
        }
        let c = f.candidates(&setup, y, 0, 4, &mut stream(3, "trajectory")).unwrap();
        let ae = f.autoencoder().unwrap();
        let norm = f.prior().meta.normalisation;
        let rho = f.prior().meta.increment_scale.unwrap();
        let enc = |x: &[f64]| to_rows(&((ae.encode(&[x]) - norm.mean) / norm.std));
        let pinned: Vec<f64> = enc(&xa).iter().zip(enc(&xb)).map(|(a, b)| (a - b) / rho).collect();
        let nz = pinned.len();
        let s = to_rows(&c.samples);
        let (mut err, mut size) = (0.0, 0.0);
        for row in s.chunks(3 * nz) {
            for w in 0..2 {
                for (v, p) in row[w * nz..(w + 1) * nz].iter().zip(&pinned) {
                    err += (v - p).powi(2);
                    size += p * p;
                }
            }
        }
        (err / size).sqrt()
    };
    let (held, free) = (sample_past(true), sample_past(false));
    assert!(held < 0.1, "the past windows are off the remembered analyses by {held} of their size");
    assert!(free > 0.5, "without a past they are sampled ({free} of the increment's size away)");

    // Refused: a trajectory prior without `trajectory`, a trajectory shorter than its blanket
    // or longer than the run, a trajectory of a one-window prior.
    let one = train_prior(&dir, "one", true);
    for (ckpt, extra, msg) in [
        (&traj, "", "give trajectory"),
        (&traj, "trajectory = 2\n", "shorter than the blanket"),
        (&one, "trajectory = 3\n", "one-window prior"),
    ] {
        let text =
            generative(ckpt, "{ kind = \"sda_gamma\" }").replace("guidance =", &format!("{extra}guidance ="));
        let exp =
            Experiment::load_with(&experiment(&dir, "bad.toml", 4, &text), &assim_gen::methods()).unwrap();
        let e = exp.methods[0].build(exp.bed.as_ref()).err().unwrap().to_string();
        assert!(e.contains(msg), "{e}");
    }
    let text =
        generative(&traj, "{ kind = \"sda_gamma\" }").replace("guidance =", "trajectory = 9\nguidance =");
    let e = Experiment::load_with(&experiment(&dir, "bad.toml", 4, &text), &assim_gen::methods())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("methods[0].trajectory") && e.contains("longer than the run"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `data.pairs_file` keeps the encoded cycling: the pairs read back equal the pairs cycled (one
/// window with SLAMS's channels, and a blanket of 3 from the same file); a file made by other
/// `[data]` settings or by an edited climate file of the same name, or damaged, is refused.
#[test]
fn a_pairs_file_gives_back_the_cycled_pairs_and_refuses_other_settings() {
    let dir = scratch("pairs-file");
    train_vae(&dir, 1);
    // The climate file copied beside the experiment, so that it can be edited under its name.
    let climate = repo("experiments/simulate_climate_t21.toml");
    let own_climate = dir.join("climate.toml");
    std::fs::copy(&climate, &own_climate).unwrap();
    let exp_text = std::fs::read_to_string(dir.join("exp.toml")).unwrap();
    assert!(exp_text.contains(&format!("{climate:?}")));
    std::fs::write(
        dir.join("exp.toml"),
        exp_text.replace(&format!("{climate:?}"), &format!("{own_climate:?}")),
    )
    .unwrap();
    let device = assim_gen::tensor::compute_device().unwrap();
    let ae = TrainedAutoencoder::load(&dir.join("vae.ckpt"), &device).unwrap();
    let pairs_path = dir.join("pairs.ckpt");
    // One training file per variant: `edit` rewrites the tiny prior's text.
    let data = |name: &str, edit: &dyn Fn(String) -> String| {
        prior_file(&dir, name, true, "mean", "method = \"Var3D\"\nxb = 0.01");
        let f = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&f)
            .unwrap()
            .replace("increment = true", "increment = true\nobs_channels = true");
        std::fs::write(&f, edit(text)).unwrap();
        let (cfg, exp) = TrainConfig::load(&f)?;
        let mut stages = Vec::new();
        let d = assim_gen::latent::pairs::latent_pairs(&cfg, &exp, &ae, &mut |s, _, _| {
            stages.push(s.to_string());
        })?;
        Ok::<_, assim_core::AssimError>((d, stages.iter().any(|s| s.starts_with("cycle"))))
    };
    let with_file = |extra: &'static str| {
        let p = pairs_path.display().to_string();
        move |t: String| t.replace("background = ", &format!("pairs_file = {p:?}\n{extra}background = "))
    };
    let same = |a: &assim_gen::train::pairs::TrainingData, b: &assim_gen::train::pairs::TrainingData| {
        for (x, y) in [(&a.train, &b.train), (&a.valid, &b.valid)] {
            assert!(!x.is_empty() && x.ne > 0);
            assert_eq!(
                (&x.target, &x.cond, &x.extra, x.nx, x.ne),
                (&y.target, &y.cond, &y.extra, y.nx, y.ne)
            );
        }
        assert_eq!(a.normalisation.mean, b.normalisation.mean);
        assert_eq!(a.obs_channels, b.obs_channels);
        assert_eq!(a.background_rmse, b.background_rmse);
    };
    let (fresh, cycled) = data("fresh", &|t| t).unwrap();
    assert!(cycled && !pairs_path.exists());
    let (made, cycled) = data("made", &with_file("")).unwrap();
    assert!(cycled && pairs_path.exists());
    let (read, cycled) = data("read", &with_file("")).unwrap();
    assert!(!cycled, "the second prior reads the file instead of cycling");
    same(&fresh, &made);
    same(&fresh, &read);
    // A trajectory prior over 3 windows of the same cycling reads the same file.
    let blanket = |t: String| t.replace("valid_cycles = 2", "valid_cycles = 4");
    let (traj_fresh, _) =
        data("traj_fresh", &|t| blanket(t).replace("background = ", "blanket = 1\nbackground = ")).unwrap();
    std::fs::remove_file(&pairs_path).unwrap();
    data("traj_made", &|t| with_file("")(blanket(t))).unwrap();
    let (traj_read, cycled) = data("traj_read", &|t| with_file("blanket = 1\n")(blanket(t))).unwrap();
    assert!(!cycled);
    assert_eq!(traj_read.train.len(), 8, "10 windows make 8 blankets of 3");
    same(&traj_fresh, &traj_read);

    // Other settings, a damaged file: refused, the file kept as it was.
    let e = data("other", &|t| with_file("")(blanket(t)).replace("train_cycles = 10", "train_cycles = 11"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("pairs.ckpt") && e.contains("another data") && e.contains("data.pairs_file"), "{e}");
    // The same settings and file name on an edited climate: another model, refused.
    let text = std::fs::read_to_string(&own_climate).unwrap();
    assert!(text.contains("strength = 3e-10"));
    std::fs::write(&own_climate, text.replacen("strength = 3e-10", "strength = 3.1e-10", 1)).unwrap();
    let e = data("edited", &|t| with_file("")(blanket(t))).err().unwrap().to_string();
    std::fs::write(&own_climate, text).unwrap();
    assert!(e.contains("pairs.ckpt") && e.contains("another model") && e.contains("3.1e-10"), "{e}");
    let bytes = std::fs::read(&pairs_path).unwrap();
    std::fs::write(&pairs_path, &bytes[..bytes.len() - 9]).unwrap();
    let e = data("cut", &|t| with_file("")(blanket(t))).err().unwrap().to_string();
    assert!(e.contains("pairs.ckpt") && (e.contains("truncated") || e.contains("corrupt")), "{e}");
    // The file may not be the checkpoint the training writes.
    let e = data("clash", &|t| {
        let out = dir.join("clash.ckpt").display().to_string();
        t.replace("background = ", &format!("pairs_file = {out:?}\nbackground = "))
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("data.pairs_file"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `data.debias` removes each training run's mean latent increment from its truths: the
/// backgrounds are untouched, each run's truths move by one vector (the training period's mean
/// increment, applied to its validation windows too), each run's training increments then have
/// mean zero, two filters with different backgrounds move by different vectors, and the
/// recorded fraction is that mean's RMS over the increments' RMS. Without the key nothing moves.
#[test]
fn debias_removes_each_training_runs_mean_increment() {
    let dir = scratch("debias");
    train_vae(&dir, 1);
    let device = assim_gen::tensor::compute_device().unwrap();
    let ae = TrainedAutoencoder::load(&dir.join("vae.ckpt"), &device).unwrap();
    // Two runs: 3D-Var with a tight and a loose background variance.
    let data = |name: &str, debias: bool| {
        prior_file(
            &dir,
            name,
            true,
            "mean",
            "method = \"Var3D\"\nxb = 0.01\n[[data.methods]]\nmethod = \"Var3D\"\nxb = 0.3",
        );
        let f = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&f).unwrap();
        let key = if debias { "debias = true\nbackground = " } else { "background = " };
        std::fs::write(&f, text.replace("background = ", key)).unwrap();
        let (cfg, exp) = TrainConfig::load(&f).unwrap();
        assim_gen::latent::pairs::latent_pairs(&cfg, &exp, &ae, &mut |_, _, _| {}).unwrap()
    };
    let plain = data("plain", false);
    let debiased = data("debiased", true);
    assert!(plain.removed_bias.is_empty());
    assert_eq!(debiased.removed_bias.len(), 2);
    let nx = plain.train.nx;
    let row = |v: &[f32], r: usize| v[r * nx..(r + 1) * nx].iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    // 10 training and 2 validation windows per run, run after run.
    let (n_train, n_valid) = (10, 2);
    assert_eq!((plain.train.len(), plain.valid.len()), (2 * n_train, 2 * n_valid));
    let mut shifts = Vec::new();
    for run in 0..2 {
        let rows = run * n_train..(run + 1) * n_train;
        let shift: Vec<f64> = row(&plain.train.target, rows.start)
            .iter()
            .zip(row(&debiased.train.target, rows.start))
            .map(|(a, b)| a - b)
            .collect();
        let (mut mean_plain, mut mean_debiased, mut ss) = (vec![0.0; nx], vec![0.0; nx], 0.0);
        for r in rows.clone() {
            let (tp, td, c) =
                (row(&plain.train.target, r), row(&debiased.train.target, r), row(&plain.train.cond, r));
            assert_eq!(c, row(&debiased.train.cond, r), "the backgrounds do not move");
            for k in 0..nx {
                assert!((tp[k] - td[k] - shift[k]).abs() < 1e-5, "one shift per run");
                mean_plain[k] += (tp[k] - c[k]) / n_train as f64;
                mean_debiased[k] += (td[k] - c[k]) / n_train as f64;
                ss += (tp[k] - c[k]).powi(2);
            }
        }
        let total = (ss / (n_train * nx) as f64).sqrt();
        assert!(rms(&mean_debiased) < 1e-5 * total, "run {run}: mean increment {} left", rms(&mean_debiased));
        let fraction = rms(&mean_plain) / total;
        assert!(fraction > 0.01, "run {run}: the training filter's background has a bias to remove");
        assert!(
            (debiased.removed_bias[run].1 - fraction).abs() < 1e-4,
            "{:?} against {fraction}",
            debiased.removed_bias
        );
        for r in run * n_valid..(run + 1) * n_valid {
            let (tp, td) = (row(&plain.valid.target, r), row(&debiased.valid.target, r));
            assert!(
                tp.iter().zip(&td).zip(&shift).all(|((a, b), s)| (a - b - s).abs() < 1e-5),
                "the validation windows move with their run"
            );
        }
        shifts.push(shift);
    }
    let diff: Vec<f64> = shifts[0].iter().zip(&shifts[1]).map(|(a, b)| a - b).collect();
    assert!(rms(&diff) > 0.1 * rms(&shifts[0]), "each run has its own bias");
}
