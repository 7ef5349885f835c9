//! Latent 3D-Var and 4D-Var (`method = "LatentVar"`) in a short T21 OSSE with a tiny
//! autoencoder: the decoder's tangent-linear against its adjoint, both variants cycled, and the
//! refusals.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use assim_core::experiment::{Experiment, run_experiment};
use assim_core::rng::{normal, stream};
use assim_gen::latent::space::TrainedAutoencoder;
use assim_gen::latent::train::{AutoencoderConfig, train_autoencoder};
use assim_gen::tensor::{from_rows, to_rows};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-latent-var-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = stream(seed, "latent-var-test");
    (0..n).map(|_| normal(&mut rng)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A short T21 experiment (`methods` appended) in `dir/name`.
fn experiment(dir: &Path, name: &str, ko: usize, methods: &str) -> PathBuf {
    let climate = repo("experiments/simulate_climate_t21.toml");
    let text = format!(
        "name = \"latent-var-test\"\nseeds = [1]\n[model]\nkind = \"shallow_water\"\nclimate = {climate:?}\n\
         spinup_days = 20\nclimate_days = 24\nclimate_interval_hours = 24\n[chronology]\ndt = 2400\ndko = 9\n\
         ko = {ko}\nburn_in = 0\n[network.stations]\nn = 30\n\
         variables = [\"geopotential\", \"eastward_wind\", \"northward_wind\"]\nsigma = [50.0, 1.5, 1.5]\n\
         [network.satellites]\nn = 1\nsigma = 100.0\n{methods}"
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The decoder's tangent-linear agrees with its adjoint; both variants cycle from a tiny
/// autoencoder and lower their cost at every analysis (the
/// Gauss–Newton steps are descent steps of the cost they minimise); a window longer than the
/// run is refused when the file loads (naming the key); a missing file, an autoencoder of
/// another resolution and a bed off the sphere when the run builds the method.
#[test]
fn latent_3d_and_4d_var_cycle_and_refuse_bad_input() {
    let dir = scratch("cycle");
    experiment(&dir, "exp.toml", 3, "[[methods]]\nmethod = \"Var3D\"\nxb = 0.01\n");
    let vae = dir.join("vae.ckpt");
    let text = format!(
        "out = {:?}\nseed = 1\n[data]\nexperiment = \"exp.toml\"\nseeds = [1]\nvalid_fraction = 0.2\n\
         [network]\nwidth = 4\nlatent = 2\n[optim]\nsteps = 4\nbatch = 4\nvalid_every = 2\ncheckpoint_every = 4\n",
        vae.display().to_string()
    );
    std::fs::write(dir.join("vae.toml"), text).unwrap();
    let (cfg, exp) = AutoencoderConfig::load(&dir.join("vae.toml")).unwrap();
    train_autoencoder(&cfg, &exp, false, None, &mut |_, _, _| {}).unwrap();

    // The Gauss–Newton pairs the decoder's central-difference tangent-linear with its
    // reverse-mode adjoint, in physical units (the checkpoint's normalisation scales the
    // geopotential by ~10³ and the winds by ~10): `⟨D'dz, λ⟩ = ⟨dz, D'ᵀλ⟩`. The network runs in
    // f32 and the tangent is a central difference at 1 % of `dz`, so they agree to ~1e-4, not
    // to f64 rounding: 1e-3 relative is far below the O(1) of a wrong scale or layout.
    let device = Device::flex();
    let ae = TrainedAutoencoder::load(&vae, &device).unwrap();
    let (nz, nx) = (ae.latent_dim(), ae.state_dim());
    let (z, dz, lam) = (random(nz, 1), random(nz, 2), random(nx, 3));
    let l = dot(&ae.decode_tangent(&z, &dz), &lam);
    let r = dot(&dz, &to_rows(&ae.decode_vjp(from_rows(&z, 1, nz, &device), &lam)));
    assert!((l - r).abs() < 1e-3 * l.abs().max(r.abs()), "{l} vs {r}");
    assert!(l.abs() > 1e-3, "a decoder with a derivative: {l}");

    let entry = |extra: &str| {
        format!(
            "[[methods]]\nmethod = \"LatentVar\"\nautoencoder = {:?}\nxb = 0.3\n{extra}",
            vae.display().to_string()
        )
    };
    let methods = format!("[[methods]]\nmethod = \"FreeRun\"\n{}{}", entry(""), entry("lag = 1\n"));
    let file = experiment(&dir, "lv.toml", 5, &methods);
    let exp = Experiment::load_with(&file, &assim_gen::methods()).unwrap();
    let report = run_experiment(&exp, |_, _| {}).unwrap();
    for m in &report.methods[1..] {
        assert!(!m.diverged && m.scores.rmse_a.is_finite(), "{}", m.name);
        let reduction = m.diagnostics["cost_reduction"];
        assert!(reduction < 1.0, "{}: the cost rose ({reduction})", m.name);
        assert!(m.diagnostics["cg_iterations_per_outer_loop"] >= 1.0, "{}", m.name);
    }
    assert!(
        report.methods[1].name.starts_with("Latent 3D-Var")
            && report.methods[2].name.starts_with("Latent 4D-Var")
    );

    let refused = |methods: &str, ko: usize| {
        Experiment::load_with(&experiment(&dir, "bad.toml", ko, methods), &assim_gen::methods())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("not refused: {methods}"))
    };
    let e = refused(&entry("lag = 9\n"), 3);
    assert!(e.contains("methods[0].lag") && e.contains("longer than the run"), "{e}");
    // The checkpoint is read when the run builds the method.
    let run_error = |methods: &str| {
        let exp =
            Experiment::load_with(&experiment(&dir, "bad.toml", 3, methods), &assim_gen::methods()).unwrap();
        run_experiment(&exp, |_, _| {}).err().map(|e| e.to_string()).expect("refused")
    };
    let e = run_error(&entry("").replace(&vae.display().to_string(), "missing.ckpt"));
    assert!(e.contains("missing.ckpt"), "{e}");
    let demo = repo("models/demo/autoencoder.ckpt").display().to_string();
    let e = run_error(&entry("").replace(&vae.display().to_string(), &demo));
    assert!(e.contains("trained at T42") && e.contains("T21"), "{e}");
    // A bed off the sphere (Lorenz-96).
    let lorenz = format!(
        "name = \"l\"\nseeds = [1]\n[model]\nkind = \"lorenz96\"\n[chronology]\ndt = 0.05\ndko = 1\nko = 10\nburn_in = 0.0\n\
         [x0]\nmean = \"e0\"\nvar = 0.001\n[observations]\nindices = \"all\"\nsigma = 1.0\n{}",
        entry("")
    );
    std::fs::write(dir.join("l96.toml"), lorenz).unwrap();
    let exp = Experiment::load_with(&dir.join("l96.toml"), &assim_gen::methods()).unwrap();
    let e = run_experiment(&exp, |_, _| {}).err().unwrap().to_string();
    assert!(e.contains("not on the sphere"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
