//! The demo from the shipped models, cut to a few windows past its burn-in, run twice: once on
//! one thread and once on two. The shipped checkpoints must give the same analyses whatever
//! the thread count (and so on any x86-64 CPU, where only the order of the sums in burn's and
//! faer's kernels differs): every score in `metrics.json` agrees to 1e-4 relative.
//!
//! Why 1e-4: the networks run in f32, whose sums in another order differ by about 1e-7
//! relative per operation; the cycling contracts towards the observations, so over the
//! dozen generative analyses of this cut such differences stay far below 1e-4 (measured:
//! docs/demo.md), while a change of the models, the method or the seed moves the scores by
//! more than 1e-2.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const WALL_KEYS: [&str; 5] =
    ["wall_s", "wall_s_per_1001_cycles", "wall_s_per_cycle", "forecast_s_per_cycle", "analysis_s_per_cycle"];

fn demo(threads: usize, out: &Path) -> Value {
    let _ = std::fs::remove_dir_all(out);
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["demo", "--quiet", "--windows", "24", "--out"])
        .arg(out)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "assim demo: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("against 3D-Var's"), "the demo states its verdict: {stdout}");
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

/// Every number of `a` and `b` but the wall times, with its path.
fn numbers(v: &Value, at: String, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if !WALL_KEYS.contains(&k.as_str()) {
                    numbers(x, format!("{at}.{k}"), out);
                }
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| numbers(x, format!("{at}[{i}]"), out)),
        Value::Number(n) => out.push((at, n.as_f64().unwrap())),
        _ => {}
    }
}

#[test]
fn the_shipped_models_give_the_same_analyses_on_one_and_two_threads() {
    let base = std::env::temp_dir().join(format!("assim-demo-threads-{}", std::process::id()));
    let dirs: Vec<PathBuf> = (1..=2).map(|t| base.join(format!("t{t}"))).collect();
    let one = demo(1, &dirs[0]);
    let two = demo(2, &dirs[1]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    numbers(&one, String::new(), &mut a);
    numbers(&two, String::new(), &mut b);
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 50, "too few numbers compared: {}", a.len());
    let mut worst = (0.0f64, String::new());
    for ((k, x), (_, y)) in a.iter().zip(&b) {
        let rel = (x - y).abs() / x.abs().max(y.abs()).max(1e-12);
        if rel > worst.0 {
            worst = (rel, k.clone());
        }
    }
    assert!(worst.0 < 1e-4, "1 and 2 threads differ by {:.2e} relative at {}", worst.0, worst.1);
    let latent =
        one["methods"].as_array().unwrap().iter().find(|m| m["params"]["method"] == "Generative").unwrap();
    assert!(latent["rmse_a"].as_f64().unwrap().is_finite());
    std::fs::remove_dir_all(&base).unwrap();
}
