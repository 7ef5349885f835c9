//! The `assim` binary end to end: outputs of a good run, and one clear error line, a
//! non-zero exit and no output at all for each kind of bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

const GOOD: &str = r#"
name = "cli-test"
seeds = [5]
[model]
kind = "lorenz96"
nx = 40
forcing = 8.0
[chronology]
dt = 0.05
dko = 1
ko = 200
burn_in = 2.0
[x0]
mean = "e0"
var = 0.001
[observations]
indices = "all"
sigma = 1.0
[[methods]]
method = "Climatology"
[[methods]]
method = "Var3D"
xb = 0.02
[[methods]]
method = "EnKF"
upd_a = "Sqrt"
n = 20
infl = 1.04
rot = true
"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(dir: &Path, toml: &str) -> (bool, String, String, PathBuf) {
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, toml).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
        out,
    )
}

#[test]
fn good_run_writes_metrics_json_csv_and_config() {
    let dir = scratch("good");
    let (ok, stdout, stderr, out) = run(&dir, GOOD);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("EnKF Sqrt N=20 infl=1.04 rot"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(json["experiment"], "cli-test");
    let methods = json["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 3);
    for key in [
        "name",
        "params",
        "rmse_a",
        "rmse_a_ci",
        "spread_a",
        "rmse_f",
        "spread_f",
        "crps_a",
        "wall_s",
        "diverged",
        "per_seed",
    ] {
        assert!(methods[2].get(key).is_some(), "missing {key}");
    }
    assert!(methods[2]["rmse_a"].as_f64().unwrap() < 0.5, "EnKF must track the truth");
    assert!(methods[1]["spread_a"].is_null(), "Var3D has no ensemble spread");
    assert!(methods[1]["crps_a"].is_null());
    assert_eq!(methods[2]["params"]["n"], 20);
    let seed = &methods[2]["per_seed"][0];
    for key in ["seed", "rmse_a", "spread_a", "rmse_f", "wall_s", "diverged"] {
        assert!(seed.get(key).is_some(), "per_seed missing {key}");
    }
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 2, "{csv}");
    assert!(csv.starts_with("method,seed,rmse_a"));
    let copy = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(copy.contains("cli-test") && copy.contains("upd_a = \"Sqrt\""));
    // The written copy is itself a valid experiment.
    let (ok2, _, stderr2, _) = run(&scratch("rerun"), &copy);
    assert!(ok2, "{stderr2}");
    let series = std::fs::read_to_string(out.join("series.csv")).unwrap();
    assert!(series.starts_with("method,seed,cycle,rmse_a,rmse_f,spread_a\n"), "{series}");
    // No temp files left behind: config.toml, metrics.csv, metrics.json, series.csv.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
    // `assim report` turns the run into a figure and report.md with the table.
    let rep = Command::new(env!("CARGO_BIN_EXE_assim")).arg("report").arg(&out).output().unwrap();
    assert!(rep.status.success(), "{}", String::from_utf8_lossy(&rep.stderr));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| EnKF Sqrt N=20 infl=1.04 rot |") && md.contains("rmse_series.png"), "{md}");
    assert!(std::fs::metadata(out.join("rmse_series.png")).unwrap().len() > 10_000);
    let missing =
        Command::new(env!("CARGO_BIN_EXE_assim")).arg("report").arg(dir.join("none")).output().unwrap();
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("metrics.json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each bad input: exit non-zero, one line on stderr naming the file and the key, no output.
fn rejects(name: &str, toml: &str, must_mention: &[&str]) {
    let dir = scratch(name);
    let (ok, _, stderr, out) = run(&dir, toml);
    assert!(!ok, "{name}: should fail");
    assert_eq!(stderr.trim().lines().count(), 1, "{name}: one line, got {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("exp.toml"), "{name}: names the file: {stderr}");
    for m in must_mention {
        assert!(stderr.contains(m), "{name}: should mention {m:?}: {stderr}");
    }
    assert!(!out.exists(), "{name}: left output behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_file() {
    rejects("malformed", "name = \"x\"\nseeds = [1\n[model]", &["line"]);
    rejects("not-toml", "\u{0}\u{1} binary junk", &[]);
}

#[test]
fn non_positive_error_std() {
    rejects("neg-sigma", &GOOD.replace("sigma = 1.0", "sigma = -0.5"), &["observations.sigma"]);
    rejects("zero-sigma", &GOOD.replace("sigma = 1.0", "sigma = 0.0"), &["observations.sigma"]);
}

#[test]
fn ensemble_too_small() {
    rejects("n1", &GOOD.replace("n = 20", "n = 1"), &["methods[2].n"]);
}

#[test]
fn observed_index_out_of_range() {
    rejects(
        "index",
        &GOOD.replace("indices = \"all\"", "indices = [0, 5, 40]"),
        &["observations.indices", "40"],
    );
    rejects("neg-index", &GOOD.replace("indices = \"all\"", "indices = [-1]"), &["observations.indices"]);
}

#[test]
fn zero_observation_times() {
    rejects("ko0", &GOOD.replace("ko = 200", "ko = 0"), &["chronology.ko"]);
}

#[test]
fn unknown_key_and_bad_values() {
    rejects("unknown", &GOOD.replace("var = 0.001", "var = 0.001\nvarr = 3"), &["varr"]);
    rejects("infl", &GOOD.replace("infl = 1.04", "infl = -1.0"), &["methods[2].infl"]);
    rejects("model", &GOOD.replace("kind = \"lorenz96\"", "kind = \"lorenz99\""), &["lorenz99"]);
    rejects("dt", &GOOD.replace("dt = 0.05", "dt = 0.0"), &["chronology.dt"]);
}

#[test]
fn missing_experiment_file() {
    let dir = scratch("missing");
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["run", dir.join("nope.toml").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("nope.toml") && stderr.trim().lines().count() == 1, "{stderr}");
    assert!(!out.exists());
}

#[test]
fn unwritable_output_is_refused_before_any_work() {
    let dir = scratch("unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, GOOD).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["run", exp.to_str().unwrap(), "--out", blocker.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).is_empty(), "no table before the error");
}

/// A real data file of the readers' fixtures.
fn real(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assim-data/tests/data").join(name)
}

#[test]
fn data_inspect_describes_a_real_file_and_data_regrid_writes_a_store() {
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["data", "inspect"])
        .arg(real("era5-levels-members.grib"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for expected in
        ["GRIB edition 1", "geopotential", "member 10 × time 4 × level 2", "500, 850 hPa", "global"]
    {
        assert!(text.contains(expected), "`{expected}` missing from:\n{text}");
    }
    let dir = scratch("data_regrid");
    let out = dir.join("t21.zarr");
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["data", "regrid"])
        .arg(real("test4.zarr"))
        .args(["--grid", "T21", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("zarr.json").exists());
    // A grid name it does not know, and a file that is not data: refused, nothing written.
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["data", "regrid"])
        .arg(real("test4.zarr"))
        .args(["--grid", "T50", "--out"])
        .arg(dir.join("no.zarr"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!dir.join("no.zarr").exists());
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["data", "inspect"])
        .arg(real("ATTRIBUTION.md"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("ATTRIBUTION.md"));
}
