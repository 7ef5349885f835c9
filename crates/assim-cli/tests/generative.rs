//! `assim train denoiser` and generative methods in `assim run`, end to end on a tiny
//! Lorenz-96 (nx = 12): a training run, its refusal to overwrite, its resume, every guidance
//! strategy cycled; and each bad input of the generative engine (a checkpoint for another
//! model, a truncated checkpoint, an unknown guidance, steps = 0) is one clear error line, a
//! non-zero exit, and nothing written or overwritten.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXPERIMENT: &str = r#"
name = "tiny-gen"
seeds = [3]
[model]
kind = "lorenz96"
nx = 12
[chronology]
dt = 0.05
dko = 1
ko = 30
burn_in = 0.5
[x0]
mean = "e0"
var = 0.001
[observations]
indices = [0, 2, 4, 6, 8, 10]
sigma = 1.0
"#;

const TRAIN: &str = r#"
name = "tiny"
experiment = "exp.toml"
out = "CKPT"
seed = 9
[data]
burn_in_cycles = 20
train_cycles = 300
valid_cycles = 30
background = "member"
[[data.methods]]
method = "EnKF"
upd_a = "Sqrt"
n = 8
infl = 1.05
[network]
conditional = true
width = 8
blocks = 1
kernel = 3
embedding = 4
[optim]
steps = 30
batch = 16
lr = 3e-3
warmup = 3
weight_decay = 1e-4
ema = 0.9
clip = 1.0
valid_every = 10
checkpoint_every = 10
"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-gen-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assim")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A trained tiny checkpoint in `dir`.
fn trained(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("exp.toml"), format!("{EXPERIMENT}[[methods]]\nmethod = \"Climatology\"\n"))
        .unwrap();
    let ckpt = dir.join("tiny.ckpt");
    let train = dir.join("train.toml");
    std::fs::write(&train, TRAIN.replace("CKPT", ckpt.to_str().unwrap())).unwrap();
    let o = assim(&["train", "denoiser", train.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(ckpt.exists() && ckpt.with_extension("log.json").exists());
    ckpt
}

fn gen_method(ckpt: &Path, guidance: &str, extra: &str) -> String {
    format!(
        "[[methods]]\nmethod = \"Generative\"\ncheckpoint = \"{}\"\nn = 4\nsteps = 3\nsigma_max = 3.0\nguidance = {guidance}\n{extra}",
        ckpt.display()
    )
}

fn run(dir: &Path, toml: &str) -> (Output, PathBuf) {
    let exp = dir.join("gen.toml");
    std::fs::write(&exp, toml).unwrap();
    let out = dir.join("out");
    (assim(&["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]), out)
}

#[test]
fn train_refuse_resume_and_cycle_every_guidance() {
    let dir = scratch("good");
    let ckpt = trained(&dir);
    let before = std::fs::read(&ckpt).unwrap();
    let train = dir.join("train.toml");
    // A second run without --resume refuses and leaves the checkpoint as it was.
    let o = assim(&["train", "denoiser", train.to_str().unwrap(), "--quiet"]);
    assert!(!o.status.success() && text(&o).contains("--resume"), "{}", text(&o));
    assert_eq!(std::fs::read(&ckpt).unwrap(), before);
    // Resume with more steps continues from step 30.
    std::fs::write(&train, std::fs::read_to_string(&train).unwrap().replace("steps = 30", "steps = 40"))
        .unwrap();
    let o = assim(&["train", "denoiser", train.to_str().unwrap(), "--resume", "--quiet"]);
    assert!(o.status.success() && text(&o).contains("steps 30..40"), "{}", text(&o));

    let mut toml =
        format!("{EXPERIMENT}[[methods]]\nmethod = \"EnKF\"\nupd_a = \"Sqrt\"\nn = 8\ninfl = 1.05\n");
    for g in [
        "{ kind = \"none\" }",
        "{ kind = \"dps\", zeta = 0.5 }",
        "{ kind = \"sda_gamma\", gamma = 0.1 }",
        "{ kind = \"mmps\", cg_iters = 2 }",
        "{ kind = \"latent_optimization\", iters = 3, lambda = 0.1, sigma_below = 1.0 }",
        "{ kind = \"latent_optimization\", iters = 3, lambda = 0.1, sigma_below = 1.0, optimizer = \"gauss_newton\", \
         score = { kind = \"sda_gamma\", gamma = 0.1 } }",
        "{ kind = \"repaint\" }",
    ] {
        toml.push_str(&gen_method(&ckpt, g, ""));
    }
    toml.push_str(&gen_method(&ckpt, "{ kind = \"mmps\" }", "sampler = \"pc\"\nlabel = \"pc\"\n"));
    toml.push_str(&gen_method(&ckpt, "{ kind = \"mmps\" }", "sampler = \"euler\"\nlabel = \"euler\"\n"));
    let (o, out) = run(&dir, &toml);
    assert!(o.status.success(), "{}", text(&o));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let rows = m["methods"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for r in &rows[1..] {
        assert!(
            r["name"].as_str().unwrap().starts_with("Gen")
                || ["pc", "euler"].contains(&r["name"].as_str().unwrap())
        );
        assert!(
            r["per_seed"][0]["rmse_a"].as_f64().is_some_and(f64::is_finite)
                || r["diverged"].as_bool() == Some(true),
            "{r}"
        );
        assert!(r["params"]["guidance"]["kind"].is_string(), "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `square` operator (y = x², obs/square.rs) is taken by every ensemble method and every
/// generative guidance but RePaint, through the one definition of the core. (Latent
/// optimisation by one Gauss–Newton step runs too, but its single linearisation of x², with no
/// line search, overshoots to non-finite samples with this small prior: not listed here.)
#[test]
fn the_square_operator_serves_every_ensemble_and_generative_method() {
    let dir = scratch("square");
    // The small increment prior of the pinned runs (400 steps): the tiny one of `trained`
    // samples non-finite analyses with any operator.
    std::fs::write(dir.join("exp.toml"), format!("{EXPERIMENT}[[methods]]\nmethod = \"Climatology\"\n"))
        .unwrap();
    let ckpt = dir.join("small.ckpt");
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pinned/generative_train.toml");
    let train = std::fs::read_to_string(pinned).unwrap().replace("EXPERIMENT", "exp.toml");
    std::fs::write(dir.join("train.toml"), train.replace("CKPT", ckpt.to_str().unwrap())).unwrap();
    let o = assim(&["train", "denoiser", dir.join("train.toml").to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let square = EXPERIMENT.replace("sigma = 1.0", "sigma = 1.0\noperator = \"square\"");
    let mut toml = format!(
        "{square}[[methods]]\nmethod = \"EnKF\"\nupd_a = \"Sqrt\"\nn = 8\ninfl = 1.05\n\
         [[methods]]\nmethod = \"EnKF\"\nupd_a = \"PertObs\"\nn = 8\ninfl = 1.05\n\
         [[methods]]\nmethod = \"LETKF\"\nn = 8\nloc_rad = 4.0\ninfl = 1.05\n\
         [[methods]]\nmethod = \"PartFilt\"\nn = 200\nreg = 1.0\nner = 0.3\n"
    );
    for g in [
        "{ kind = \"dps\", zeta = 0.5 }",
        // SDA needs a large Γ with an operator this steep (h' = 2x): at Γ = 0.1 its step
        // σ² r h'/σ_y² overshoots to a non-finite sample in the first analyses.
        "{ kind = \"sda_gamma\", gamma = 10.0 }",
        "{ kind = \"mmps\", cg_iters = 2 }",
        "{ kind = \"latent_optimization\", iters = 3, lambda = 0.1, sigma_below = 1.0 }",
    ] {
        toml.push_str(&gen_method(&ckpt, g, ""));
    }
    let (o, out) = run(&dir, &toml);
    assert!(o.status.success(), "{}", text(&o));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let rows = m["methods"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    // Each method cycled to the end or stopped by the divergence rule, never by an error of the
    // operator.
    for r in rows {
        let reason = r["per_seed"][0]["divergence_reason"].as_str().unwrap_or("");
        assert!(!reason.contains("failed"), "{}: {reason}", r["name"]);
    }
    // The EnKF tracks the truth through the squares (its RMSE far below climatology's ≈ 3.6).
    assert!(rows[0]["rmse_a"].as_f64().is_some_and(|x| x < 1.0), "{}", rows[0]);
    // The linear methods and RePaint are refused, naming the operator.
    for (entry, need) in [
        ("[[methods]]\nmethod = \"Var3D\"\n".to_string(), "linear observation operator"),
        (gen_method(&ckpt, "{ kind = \"repaint\" }", ""), "state components"),
    ] {
        let (o, _) = run(&dir, &format!("{square}{entry}"));
        assert!(
            !o.status.success() && text(&o).contains(need) && text(&o).contains("square"),
            "{}",
            text(&o)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_generative_inputs_fail_cleanly_and_write_nothing() {
    let dir = scratch("bad");
    let ckpt = trained(&dir);
    let fail = |toml: &str, expect: &str| {
        let (o, out) = run(&dir, toml);
        let t = text(&o);
        assert!(!o.status.success(), "should fail: {t}");
        assert!(t.contains(expect), "expected {expect:?} in: {t}");
        assert_eq!(t.trim().lines().count(), 1, "one line: {t}");
        assert!(!out.exists(), "output written on bad input");
    };
    // A checkpoint trained for another grid.
    fail(
        &format!(
            "{}{}",
            EXPERIMENT.replace("nx = 12", "nx = 16"),
            gen_method(&ckpt, "{ kind = \"mmps\" }", "")
        ),
        "trained for",
    );
    // A truncated checkpoint.
    let bytes = std::fs::read(&ckpt).unwrap();
    let cut = dir.join("cut.ckpt");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    fail(&format!("{EXPERIMENT}{}", gen_method(&cut, "{ kind = \"mmps\" }", "")), "truncated");
    // A file that is not a checkpoint, and one that does not exist.
    fail(
        &format!("{EXPERIMENT}{}", gen_method(&dir.join("exp.toml"), "{ kind = \"mmps\" }", "")),
        "not an assim checkpoint",
    );
    fail(
        &format!("{EXPERIMENT}{}", gen_method(&dir.join("nope.ckpt"), "{ kind = \"mmps\" }", "")),
        "nope.ckpt",
    );
    // An unknown guidance, steps = 0, and RePaint with a nonlinear operator.
    fail(&format!("{EXPERIMENT}{}", gen_method(&ckpt, "{ kind = \"magic\" }", "")), "magic");
    fail(
        &format!(
            "{EXPERIMENT}{}",
            gen_method(&ckpt, "{ kind = \"dps\", zeta = 1.0 }", "").replace("steps = 3", "steps = 0")
        ),
        "steps",
    );
    // Latent optimisation on a score: the score must be a posterior-sampling guidance, and
    // its keys are checked under guidance.score.
    let lo =
        |score: &str| format!("{{ kind = \"latent_optimization\", sigma_below = 1.0, score = {score} }}");
    fail(
        &format!("{EXPERIMENT}{}", gen_method(&ckpt, &lo("{ kind = \"latent_optimization\" }"), "")),
        "guidance.score.kind",
    );
    fail(
        &format!("{EXPERIMENT}{}", gen_method(&ckpt, &lo("{ kind = \"sda_gamma\", gamma = -1.0 }"), "")),
        "guidance.score.gamma",
    );
    // A latent analysis with a prior of the state itself.
    fail(
        &format!(
            "{EXPERIMENT}{}",
            gen_method(&ckpt, "{ kind = \"mmps\" }", "latent_analysis = \"increment\"\n")
        ),
        "latent_analysis",
    );
    let arctan = EXPERIMENT.replace("sigma = 1.0", "sigma = 1.0\noperator = \"arctan\"");
    fail(&format!("{arctan}{}", gen_method(&ckpt, "{ kind = \"repaint\" }", "")), "RePaint");
    fail(&format!("{arctan}[[methods]]\nmethod = \"Var3D\"\n"), "linear observation operator");

    // An existing metrics.json is not touched by a failing run.
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("metrics.json"), "keep").unwrap();
    let (o, _) = run(&dir, &format!("{EXPERIMENT}{}", gen_method(&cut, "{ kind = \"mmps\" }", "")));
    assert!(!o.status.success());
    assert_eq!(std::fs::read_to_string(out.join("metrics.json")).unwrap(), "keep");
    let _ = std::fs::remove_dir_all(&dir);
}
