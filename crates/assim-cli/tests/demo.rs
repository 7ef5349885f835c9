//! The demo from the shipped models, cut to a few windows past its burn-in, run twice: once on
//! one thread and once on two. The shipped checkpoints must give the same analyses whatever
//! the thread count (and so on any x86-64 CPU, where only the order of the sums in burn's and
//! faer's kernels differs): every score in `metrics.json` agrees to 1e-4 relative.
//!
//! Why 1e-4: the networks run in f32, whose sums in another order differ by about 1e-7
//! relative per operation; the cycling contracts towards the observations, so over the 34
//! generative analyses of this cut (44 windows, the first 10 by 3D-Var) such differences
//! stay below 1e-4, while a change of the models, the method or the seed moves the scores
//! by more than 1e-2 (the deflation 0.9 against none: 0.0764 against 0.0748 on seed 1).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{differences, strip_walls};

fn demo(threads: usize, out: &Path) -> Value {
    let _ = std::fs::remove_dir_all(out);
    let o = Command::new(env!("CARGO_BIN_EXE_assim"))
        .args(["demo", "--quiet", "--windows", "44", "--out"])
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
    assert!(
        stdout.contains("latent SDA aligned: analysis RMSE")
            && stdout.contains("against latent SDA reference's"),
        "the demo states the alignment's effect: {stdout}"
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn the_shipped_models_give_the_same_analyses_on_one_and_two_threads() {
    // One directory for both runs, so that the paths the metrics name are the same too.
    let dir = std::env::temp_dir().join(format!("assim-demo-threads-{}", std::process::id()));
    let mut one = demo(1, &dir);
    let mut two = demo(2, &dir);
    let methods = one["methods"].as_array().map_or(0, Vec::len);
    assert_eq!(methods, 4, "the demo cycles 3D-Var, the LETKF and the latent method, reference and aligned");
    strip_walls(&mut one);
    strip_walls(&mut two);
    let mut diffs = Vec::new();
    differences(&two, &one, 1e-4, "metrics", &mut diffs);
    assert!(diffs.is_empty(), "1 and 2 threads differ beyond 1e-4 relative:\n{}", diffs.join("\n"));
    for latent in one["methods"].as_array().unwrap().iter().filter(|m| m["params"]["method"] == "Generative")
    {
        assert!(latent["rmse_a"].as_f64().unwrap().is_finite());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
