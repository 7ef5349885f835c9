//! Numbers unchanged: short versions of `l96_sakov2008.toml`, `l63_sakov2012.toml` and
//! `swe_t21_stations.toml`, two generative Lorenz-96 runs (every guidance strategy and
//! sampler, identity and arctan observations) and a latent run on the sphere (every guidance
//! through the decoder, the increment analysis, a spin-up) are trained and run by `assim` and
//! compared, number by number, with the `metrics.json` each gave before the experiment-layer
//! redesign (issue 18), kept in `tests/pinned/*.metrics.json`. Only wall times are left out.
//!
//! Tolerance: the Lorenz and shallow-water runs are f64 and must agree to 1e-9 relative
//! (0 on this machine; the margin covers SIMD paths of faer that another CPU may dispatch,
//! whose rounding differences a contracting filter does not amplify past 1e-12 in 300
//! cycles). The generative runs (their training included) carry an f32 network: 1e-4 relative, below the four
//! significant digits the table prints. `ASSIM_PIN=1` rewrites the files (only ever before a
//! change that must not move a number).
//!
//! Re-pinned once since, on purpose: issue 19 estimates SDA's `diag(H'H'ᵀ)` through the decoder
//! once per analysis for the whole batch, so the two latent entries with SDA guidance moved
//! by about 1e-4 relative (every other entry is unchanged to the bit). And again for the
//! fast analysis of the same issue: the decoder's upsample + 3×3 convolution computed on the
//! coarse grid (equal to 1e-5, tested in `latent::autoencoder`) and the latent operator's rows
//! summed in groups of their own length rather than padded to the longest change f32 sums'
//! order, in the autoencoder's and prior's training as well as in the analyses. Through the
//! two trainings of this 8-window toy run that moved the latent entries by up to 0.7 % in
//! rmse_a (MMPS, whose 95 % half-width is 4 %) and more in second-order scores (spread of the
//! 3-member forecasts, anomaly correlations near 0); the L63, L96 and T21 entries are unchanged
//! to the bit, and the demo's method was checked over 100 scored windows on three truths
//! instead (docs/demo.md). And once more for a new score, not a moved number: the 1-D
//! Wasserstein distance per variable (issue 22) added `wasserstein_a` to every variable's
//! scores; the comparison listed exactly those new keys (36 and 30) and nothing else, and only
//! the latent and T21 files were rewritten.
//!
//! Machine classes: on an AMD EPYC with AVX2 and FMA (2026-12-07) the latent run's two f32
//! trainings round differently from the machine that pinned it, by up to 0.15 % in rmse_a and
//! 7 % in the 3-member forecast spread, with the code of the pin's own commit (checked by
//! rebuilding it). That class's exact record is `latent.epyc-avx2.metrics.json`; a run must
//! match one record to 1e-4, so a change that moves a number still fails everywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{differences, strip_walls};

fn pinned_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("pinned")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-pinned-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assim(args: &[&str], cwd: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_assim")).args(args).current_dir(cwd).output().unwrap();
    assert!(
        o.status.success(),
        "assim {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs `experiment` into a scratch directory and compares its metrics with the pinned ones:
/// `{name}.metrics.json`, or one machine class's own record `{name}.{class}.metrics.json`
/// where the f32 networks' rounding differs by CPU (each record is exact for its class, so a
/// change that moves a number fails on every class). `cwd` is the working directory (that
/// checkpoint paths start from). `ASSIM_PIN=1` rewrites the main record, `ASSIM_PIN=CLASS`
/// writes that class's.
fn check(name: &str, experiment: &Path, cwd: &Path, rel: f64) {
    let out = scratch(name).join("out");
    assim(&["run", experiment.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"], cwd);
    let mut got: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    strip_walls(&mut got);
    let pin = pinned_dir().join(format!("{name}.metrics.json"));
    if let Some(class) = std::env::var_os("ASSIM_PIN") {
        let to = match class.to_str() {
            Some("1") | None => pin,
            Some(c) => pinned_dir().join(format!("{name}.{c}.metrics.json")),
        };
        std::fs::write(&to, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let mut records = vec![pin];
    let mut classes: Vec<PathBuf> = std::fs::read_dir(pinned_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(&format!("{name}."))
                && f.ends_with(".metrics.json")
                && f != format!("{name}.metrics.json")
        })
        .collect();
    classes.sort();
    records.extend(classes);
    let mut first = Vec::new();
    for (k, record) in records.iter().enumerate() {
        let want: Value = serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
        let mut diffs = Vec::new();
        differences(&got, &want, rel, name, &mut diffs);
        if diffs.is_empty() {
            return;
        }
        if k == 0 {
            first = diffs;
        }
    }
    panic!(
        "{} numbers moved against {} (and no machine class's record matches either):\n{}",
        first.len(),
        records[0].display(),
        first[..first.len().min(20)].join("\n")
    );
}

#[test]
fn lorenz96_sakov2008_is_unchanged() {
    check("l96_sakov2008", &pinned_dir().join("l96_sakov2008.toml"), &pinned_dir(), 1e-9);
}

#[test]
fn lorenz63_sakov2012_is_unchanged() {
    check("l63_sakov2012", &pinned_dir().join("l63_sakov2012.toml"), &pinned_dir(), 1e-9);
}

#[test]
fn shallow_water_t21_stations_is_unchanged() {
    check("swe_t21_stations", &pinned_dir().join("swe_t21_stations.toml"), &pinned_dir(), 1e-9);
}

#[test]
fn generative_lorenz96_is_unchanged() {
    // Checkpoint paths are relative to the working directory: the prior's directory, so
    // that `params.checkpoint` is the same on every run.
    let dir = scratch("generative-prior");
    let fill = |file: &str, to: &Path| {
        let text = std::fs::read_to_string(pinned_dir().join(file)).unwrap();
        std::fs::write(to, text.replace("CKPT", "tiny.ckpt").replace("EXPERIMENT", "generative.toml"))
            .unwrap();
    };
    for name in ["generative", "generative_arctan"] {
        fill(&format!("{name}.toml"), &dir.join(format!("{name}.toml")));
    }
    fill("generative_train.toml", &dir.join("train.toml"));
    assim(&["train", "denoiser", "train.toml", "--quiet"], &dir);
    for name in ["generative", "generative_arctan"] {
        check(name, &dir.join(format!("{name}.toml")), &dir, 1e-4);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn latent_sphere_run_is_unchanged() {
    let dir = scratch("latent-prior");
    let climate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/simulate_climate_t21.toml");
    for file in ["latent.toml", "latent_vae_train.toml", "latent_prior_train.toml"] {
        let text = std::fs::read_to_string(pinned_dir().join(file)).unwrap();
        std::fs::write(dir.join(file), text.replace("CLIMATE", climate.to_str().unwrap())).unwrap();
    }
    assim(&["train", "autoencoder", "latent_vae_train.toml", "--quiet"], &dir);
    assim(&["train", "denoiser", "latent_prior_train.toml", "--quiet"], &dir);
    check("latent", &dir.join("latent.toml"), &dir, 1e-4);
    let _ = std::fs::remove_dir_all(&dir);
}
