//! `mpirun -n K assim run` against one process (the `mpi` feature; `.ci/run` installs Open MPI
//! and runs this file): the shipped distributed check, `experiments/pe_t21_mpi.toml` (the
//! LETKF and SLAMS's SDA-guided generative analysis on the T21 multi-level OSSE), must give
//! the same metrics and series to the last digit on 1, 2 and 4 ranks, the timings apart.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the check on `ranks` ranks (one rayon thread each: the cores are the ranks') into a
/// fresh directory and returns it.
fn run_on(ranks: usize) -> PathBuf {
    let out = std::env::temp_dir().join(format!("assim-mpi-{ranks}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new("mpirun")
        .args(["--oversubscribe", "-x", "RAYON_NUM_THREADS", "-n", &ranks.to_string()])
        .arg(env!("CARGO_BIN_EXE_assim"))
        .args(["run", "experiments/pe_t21_mpi.toml", "--quiet", "--out"])
        .arg(&out)
        .current_dir(repo())
        .env("RAYON_NUM_THREADS", "1")
        // CI runs as root; Open MPI refuses root without both.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .status()
        .expect("mpirun (Open MPI's openmpi-bin) is on the PATH");
    assert!(status.success(), "mpirun -n {ranks} failed");
    out
}

/// `metrics.json` without its wall-clock fields.
fn numbers(dir: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !(k.starts_with("wall_s") || k.ends_with("_s_per_cycle")));
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(dir.join("metrics.json")).expect("metrics.json written");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("metrics.json parses");
    strip(&mut v);
    v
}

#[test]
fn two_and_four_ranks_give_the_numbers_of_one() {
    let one = run_on(1);
    let (m1, s1) = (numbers(&one), std::fs::read_to_string(one.join("series.csv")).unwrap());
    // The check is not empty: both methods cycled every window without diverging.
    let methods = m1["methods"].as_array().expect("methods");
    assert_eq!(methods.len(), 2);
    for m in methods {
        assert!(m["rmse_a"].as_f64().is_some_and(f64::is_finite), "{m}");
        assert_eq!(m["diverged"], false, "{}", m["name"]);
    }
    for ranks in [2, 4] {
        let dir = run_on(ranks);
        assert_eq!(numbers(&dir), m1, "metrics on {ranks} ranks");
        let series = std::fs::read_to_string(dir.join("series.csv")).unwrap();
        assert!(series == s1, "series.csv on {ranks} ranks differs from one rank's");
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_dir_all(one);
}
