//! `assim simulate` end to end: a good run (store, figures, restart from the store) and, for
//! every bad input, one clear error line, a non-zero exit and nothing written or lost.

use std::path::{Path, PathBuf};
use std::process::Command;

const W6_T21: &str = r#"
name = "w6-t21"
[model]
truncation = 21
dt_seconds = 1800
[initial]
case = "williamson6"
[run]
days = 2
output_interval_hours = 12
precision = "f64"
"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `assim simulate` on `toml` (written to DIR/sim.toml) with extra args.
fn simulate(dir: &Path, toml: &str, out: &Path, extra: &[&str]) -> (bool, String, String) {
    let cfg = dir.join("sim.toml");
    std::fs::write(&cfg, toml).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["simulate", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
        .args(extra)
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

fn read_slice(store: &Path, var: &str, t: usize) -> Vec<f64> {
    assim_core_reader(store).read_slice(var, t).unwrap()
}

fn assim_core_reader(store: &Path) -> assim_core::io::zarr::ZarrReader {
    assim_core::io::zarr::ZarrReader::open(store).unwrap()
}

#[test]
fn good_run_writes_a_store_and_figures_and_restarts_from_it() {
    let dir = scratch("good");
    let out = dir.join("w6.zarr");
    let figs = dir.join("figs");
    let (ok, stdout, stderr) = simulate(&dir, W6_T21, &out, &["--figures", figs.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("s per model day"), "{stdout}");
    let z = assim_core_reader(&out);
    assert_eq!(z.shape("geopotential").unwrap(), vec![5, 32, 64]);
    assert_eq!(z.read_all("time").unwrap(), vec![0.0, 12.0, 24.0, 36.0, 48.0]);
    let attrs = z.global_attributes().unwrap();
    assert!(attrs["config"].as_str().unwrap().contains("williamson6"));
    assert_eq!(z.read_all("mean_depth").unwrap().len(), 5);
    let last_u = read_slice(&out, "eastward_wind", 4);
    assert!(last_u.iter().all(|x| x.is_finite()) && last_u.iter().any(|x| x.abs() > 10.0));
    for f in ["energy.png", "zonal_wind.png", "vorticity.png", "spectrum.png"] {
        let bytes = std::fs::read(figs.join(f)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{f}");
    }
    // No temporary directory is left beside the store.
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
            .count(),
        0
    );

    // Restart from the last snapshot: the new run's first snapshot is that state (f64 store:
    // the grid → spectral → grid round trip is exact to rounding).
    let restart = "name = \"restart\"\n[model]\ntruncation = 21\ndt_seconds = 1800\n[initial]\ncase = \"zarr\"\n\
                   path = \"w6.zarr\"\n[run]\ndays = 1\noutput_interval_hours = 24\nprecision = \"f64\"\n";
    let out2 = dir.join("restart.zarr");
    let (ok, _, stderr) = simulate(&dir, restart, &out2, &[]);
    assert!(ok, "{stderr}");
    let first = read_slice(&out2, "eastward_wind", 0);
    let err = first.iter().zip(&last_u).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-9, "restart differs from the snapshot by {err:e} m/s");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_store_is_kept_without_force_and_replaced_whole_with_it() {
    let dir = scratch("force");
    let out = dir.join("run.zarr");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"old").unwrap();
    let (ok, _, stderr) = simulate(&dir, W6_T21, &out, &[]);
    assert!(!ok && stderr.contains("already exists") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"old");
    let (ok, _, stderr) = simulate(&dir, W6_T21, &out, &["--force"]);
    assert!(ok, "{stderr}");
    assert!(!out.join("keep.txt").exists() && out.join("zarr.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn expect_error(name: &str, toml: &str, out: Option<&Path>, needles: &[&str]) {
    let dir = scratch(name);
    let default_out = dir.join("out.zarr");
    let out = out.unwrap_or(&default_out);
    let (ok, stdout, stderr) = simulate(&dir, toml, out, &[]);
    assert!(!ok, "{name}: should fail, printed {stdout}");
    let line = stderr.trim();
    assert!(line.starts_with("error: ") && line.lines().count() == 1, "{name}: {stderr}");
    for n in needles {
        assert!(line.contains(n), "{name}: {line:?} lacks {n:?}");
    }
    assert!(!default_out.exists(), "{name}: wrote output");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "sim.toml")
        .collect();
    assert!(leftovers.is_empty(), "{name}: left {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_clear_errors_and_write_nothing() {
    expect_error("ic", &W6_T21.replace("williamson6", "williamson7"), None, &["initial.case", "williamson7"]);
    expect_error(
        "trunc",
        &W6_T21.replace("truncation = 21", "truncation = 30"),
        None,
        &["model.truncation", "30"],
    );
    expect_error(
        "dt",
        &W6_T21
            .replace("truncation = 21", "truncation = 42")
            .replace("dt_seconds = 1800", "dt_seconds = 3600"),
        None,
        &["unstable", "T42", "dt ≤"],
    );
    expect_error("key", &W6_T21.replace("[run]", "[run]\nlength = 3"), None, &["length"]);
    expect_error(
        "interval",
        &W6_T21.replace("output_interval_hours = 12", "output_interval_hours = 0.75"),
        None,
        &["output_interval_hours"],
    );
    expect_error(
        "unwritable",
        W6_T21,
        Some(Path::new("/nonexistent-assim-dir/run.zarr")),
        &["nonexistent-assim-dir"],
    );
    let missing = W6_T21.replace("case = \"williamson6\"", "case = \"zarr\"\npath = \"nowhere.zarr\"");
    expect_error("missing-store", &missing, None, &["nowhere.zarr", "not a Zarr"]);
}

#[test]
fn restart_refuses_stores_of_another_grid_and_truncated_stores() {
    let dir = scratch("restart-bad");
    let src = dir.join("src.zarr");
    let (ok, _, stderr) = simulate(&dir, W6_T21, &src, &[]);
    assert!(ok, "{stderr}");
    let t42 = format!(
        "name = \"r\"\n[model]\ntruncation = 42\ndt_seconds = 1200\n[initial]\ncase = \"zarr\"\npath = \"{}\"\n\
         [run]\ndays = 1\noutput_interval_hours = 24\n",
        src.display()
    );
    let (ok, _, stderr) = simulate(&dir, &t42, &dir.join("r.zarr"), &[]);
    assert!(!ok && stderr.contains("32, 64") && stderr.contains("T42"), "{stderr}");
    assert!(!dir.join("r.zarr").exists());
    // Truncate the last chunk of eastward_wind.
    let chunk = src.join("eastward_wind/c/4/0/0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    let t21 =
        t42.replace("truncation = 42", "truncation = 21").replace("dt_seconds = 1200", "dt_seconds = 1800");
    let (ok, _, stderr) = simulate(&dir, &t21, &dir.join("r.zarr"), &[]);
    assert!(!ok && stderr.contains("eastward_wind") && stderr.contains("src.zarr"), "{stderr}");
    assert!(!dir.join("r.zarr").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
