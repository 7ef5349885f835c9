//! Align-DA's bad input and preference data: the alignment file's checks (reward weights, β,
//! paths, test seeds, K), a reference of another resolution, the candidate file's refusals
//! (another network or reference, the climate recorded by content, a truncated file) and the
//! pair selection rules. The DPO loss itself is tested in its module.

use std::path::{Path, PathBuf};

use assim_gen::align::config::{AlignConfig, Rule, Selection};
use assim_gen::align::pairs::{CandidateSet, Group};
use assim_gen::align::rewards::RewardWeights;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("assim-align-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped alignment file with its experiment made absolute and `edit` applied.
fn load_edited(name: &str, edit: &dyn Fn(String) -> String) -> Result<AlignConfig, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let text = std::fs::read_to_string(root.join("swe_t42_align_train.toml")).unwrap();
    let exp = root.join("swe_t42_demo_long.toml").canonicalize().unwrap();
    let text = text.replace(
        "experiment = \"swe_t42_demo_long.toml\"",
        &format!("experiment = {:?}", exp.display().to_string()),
    );
    let path = scratch(name).join("align.toml");
    std::fs::write(&path, edit(text)).unwrap();
    AlignConfig::load(&path).map(|(c, _)| c).map_err(|e| e.to_string())
}

#[test]
fn the_shipped_alignment_file_reads() {
    let cfg = load_edited("ok", &|t| t).unwrap();
    assert_eq!(cfg.pairs.candidates, 8);
    assert_eq!(cfg.rewards.name(), "accuracy+forecast");
}

#[test]
fn bad_alignment_files_are_refused_with_the_key() {
    let cases: [(&str, &str, &str, &str); 8] = [
        ("neg", "accuracy = 1.0", "accuracy = -1.0", "rewards.accuracy"),
        ("zero", "accuracy = 1.0\nforecast = 1.0", "accuracy = 0.0", "every reward weight is zero"),
        ("beta", "beta = 500.0", "beta = 0.0", "dpo.beta"),
        (
            "out",
            "out = \"checkpoints/swe_t42_aligned_sda.ckpt\"",
            "out = \"models/demo/denoiser.ckpt\"",
            "the reference stays",
        ),
        ("seed", "seeds = [101]", "seeds = [1]", "tests on"),
        ("k", "candidates = 8", "candidates = 2", "at least 4"),
        ("heldout", "holdout = 0.1", "holdout = 0.0\n", "pairs.holdout"),
        ("unknown", "[dpo]", "[dpo]\ngamma = 1.0", "gamma"),
    ];
    for (name, from, to, expect) in cases {
        let e = load_edited(name, &|t| {
            assert!(t.contains(from), "{from}");
            let t = t.replace(from, to);
            if name == "heldout" { t.replace("[rewards]", "[rewards]\naccuracy_obs = 1.0") } else { t }
        })
        .unwrap_err();
        assert!(e.contains(expect), "{name}: {e}");
    }
}

fn toy_set(made_by: serde_json::Value) -> CandidateSet {
    // Two groups of four candidates of three numbers; rewards make candidate 2 best, 0 worst
    // in group 0, and group 1 all equal.
    let (nz, k) = (3, 4);
    let samples: Vec<f32> = (0..2 * k * nz).map(|i| i as f32).collect();
    let mut rewards = vec![[0.0; 6]; 2 * k];
    for j in 0..k {
        rewards[j][0] = [-0.3, -0.2, -0.1, -0.25][j];
        rewards[j][2] = [-0.3, -0.2, -0.1, -0.15][j];
        rewards[k + j][0] = -0.2;
    }
    CandidateSet {
        nz,
        k,
        groups: vec![Group { seed: 101, ko: 20, member: 0 }, Group { seed: 101, ko: 21, member: 1 }],
        samples,
        conditions: vec![0.5; 2 * nz],
        rewards,
        made_by,
    }
}

#[test]
fn pairs_follow_the_rule_and_ties_make_none() {
    let set = toy_set(serde_json::json!({}));
    let w = RewardWeights { accuracy: 1.0, ..Default::default() };
    let best_worst = set.pairs(&w, &Selection::default());
    assert_eq!(best_worst.len(), 1, "the tied group makes no pair");
    assert_eq!((best_worst[0].win, best_worst[0].lose), (2, 0));
    assert!((best_worst[0].gap - 0.2).abs() < 1e-12);
    let margin = Selection { rule: Rule::Margin, margin: 0.06, ..Selection::default() };
    // Gaps above 0.06 in group 0: (1,0) .1, (2,0) .2, (2,1) .1, (2,3) .15, (3,0) does not (.05).
    assert_eq!(set.pairs(&w, &margin).len(), 4);
    assert_eq!(set.sample(1, 0), &[12.0, 13.0, 14.0]);
}

#[test]
fn candidate_files_from_other_settings_or_truncated_are_refused() {
    let made = serde_json::json!({
        "reference_fingerprint": "abc", "model": {"kind": "shallow_water"},
        "network": {"stations": {"n": 120}}, "chronology": {"dt": 1200.0, "dko": 18}, "pairs": {"cycles": 10},
    });
    let dir = scratch("file");
    let path = dir.join("pairs.ckpt");
    toy_set(made.clone()).save(&path).unwrap();
    let back = CandidateSet::load(&path, &made).unwrap();
    assert_eq!(back.rewards[2][0], -0.1f32 as f64);
    let mut other = made.clone();
    other["network"]["stations"]["n"] = 60.into();
    let e = CandidateSet::load(&path, &other).unwrap_err().to_string();
    assert!(e.contains("another network"), "{e}");
    let mut other = made.clone();
    other["reference_fingerprint"] = "def".into();
    assert!(CandidateSet::load(&path, &other).unwrap_err().to_string().contains("reference_fingerprint"));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = CandidateSet::load(&path, &made).unwrap_err().to_string();
    assert!(e.contains("truncated") || e.contains("corrupt") || e.contains("checksum"), "{e}");
}

/// The candidate file records the climate by its content: the same simulation file under
/// another name (the demo's copy `simulate_climate.toml`) makes the same record, an edited one
/// does not.
#[test]
fn the_climate_is_recorded_by_content_not_by_file_name() {
    use assim_gen::align::pairs::made_by;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let dir = scratch("climate");
    let climate = std::fs::read_to_string(root.join("simulate_climate_t42.toml")).unwrap();
    let record = |climate_text: &str| {
        std::fs::write(dir.join("simulate_climate.toml"), climate_text).unwrap();
        let exp = std::fs::read_to_string(root.join("swe_t42_demo_long.toml"))
            .unwrap()
            .replace("simulate_climate_t42.toml", "simulate_climate.toml");
        std::fs::write(dir.join("swe_t42_demo_long.toml"), exp).unwrap();
        let text = std::fs::read_to_string(root.join("swe_t42_align_train.toml")).unwrap();
        std::fs::write(dir.join("align.toml"), text).unwrap();
        let (cfg, exp) = AlignConfig::load(&dir.join("align.toml")).unwrap();
        made_by(&cfg, &exp, "abc")
    };
    let (cfg, exp) = AlignConfig::load(&root.join("swe_t42_align_train.toml")).unwrap();
    let shipped = made_by(&cfg, &exp, "abc");
    assert_eq!(record(&climate), shipped, "the same climate under another name");
    let edited = climate.replacen("seed = ", "seed = 9", 1);
    assert_ne!(edited, climate, "the climate file has a seed to edit");
    assert_ne!(record(&edited)["model"], shipped["model"], "an edited climate");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The text of the shipped `swe_t42_align_train.toml` with the experiment `experiment` (a file
/// of experiments/) and the shipped reference made absolute, and `out`, `pairs_file` set.
fn absolute_paths(experiment: &str, out: &Path, pairs: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let reference = root.join("models/demo/denoiser.ckpt").canonicalize().unwrap();
    let exp = root.join("experiments").join(experiment).canonicalize().unwrap();
    let quoted = |p: &Path| format!("{:?}", p.display().to_string());
    std::fs::read_to_string(root.join("experiments/swe_t42_align_train.toml"))
        .unwrap()
        .replace("experiment = \"swe_t42_demo_long.toml\"", &format!("experiment = {}", quoted(&exp)))
        .replace("reference = \"models/demo/denoiser.ckpt\"", &format!("reference = {}", quoted(&reference)))
        .replace("out = \"checkpoints/swe_t42_aligned_sda.ckpt\"", &format!("out = {}", quoted(out)))
        .replace(
            "pairs_file = \"checkpoints/swe_t42_align_pairs_sda.ckpt\"",
            &format!("pairs_file = {}", quoted(pairs)),
        )
}

/// A short alignment of the shipped demo prior: candidates made once and read back, and a run
/// killed after 3 steps and resumed gives the uninterrupted run's weights exactly.
#[test]
fn a_killed_alignment_resumes_exactly_and_reuses_its_pairs() {
    use assim_gen::align::dpo::align;
    let dir = scratch("resume");
    let cfg_for = |out: &str| -> (AlignConfig, assim_core::experiment::Experiment) {
        let out = dir.join(out);
        let pairs = dir.join("pairs.ckpt");
        let text = absolute_paths("swe_t42_demo_long.toml", &out, &pairs)
            .replace("burn_in_cycles = 20", "burn_in_cycles = 10")
            .replace("cycles = 100", "cycles = 10")
            .replace("candidates = 8", "candidates = 4")
            .replace("valid_fraction = 0.1", "valid_fraction = 0.2")
            .replace("steps = 300", "steps = 6")
            .replace("valid_every = 50", "valid_every = 3")
            .replace("checkpoint_every = 50", "checkpoint_every = 100")
            .replace("lr = 1e-5", "lr = 1e-4");
        let path = dir.join(format!("{}.toml", out.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&path, text).unwrap();
        AlignConfig::load(&path).unwrap()
    };
    let (whole, exp) = cfg_for("whole.ckpt");
    let first = align(&whole, &exp, false, None, &mut |_, _, _| {}).unwrap();
    assert!(first.generated && first.n_groups == 10, "{} groups", first.n_groups);
    assert!((first.log[0].valid_loss - 2f64.ln()).abs() < 0.2, "{:?}", first.log[0]);
    let (split, exp) = cfg_for("split.ckpt");
    let killed = align(&split, &exp, false, Some(3), &mut |_, _, _| {}).unwrap();
    assert!(!killed.generated, "the candidates are read back, not sampled again");
    assert_eq!(killed.log.last().unwrap().step, 3);
    let resumed = align(&split, &exp, true, None, &mut |_, _, _| {}).unwrap();
    let weights = |p: &Path| {
        let c = assim_gen::train::checkpoint::Checkpoint::load(p).unwrap();
        (c.array("ema").unwrap().to_vec(), c.meta["alignment"]["beta"].clone())
    };
    let (a, beta) = weights(&first.path);
    let (b, _) = weights(&resumed.path);
    assert_eq!(a, b, "resumed weights differ from the uninterrupted run's");
    assert_eq!(beta, serde_json::json!(500.0));
    let losses = |log: &[assim_gen::align::dpo::AlignLogRow]| -> Vec<(usize, f64, f64, f64)> {
        log.iter().map(|r| (r.step, r.train_loss, r.valid_loss, r.valid_accuracy)).collect()
    };
    assert_eq!(losses(&first.log), losses(&resumed.log));
    // The aligned checkpoint is a prior like any other.
    let device = assim_gen::tensor::compute_device().unwrap();
    assim_gen::prior::trained::TrainedDenoiser::load(&first.path, &device).unwrap();
}

/// A reference prior of another latent or resolution (the T42 demo prior asked to align a T21
/// experiment) is refused before any candidate is drawn, with both grids named, and nothing is
/// written.
#[test]
fn a_reference_of_another_resolution_is_refused_before_any_work() {
    use assim_gen::align::dpo::align;
    let dir = scratch("resolution");
    let text = absolute_paths("swe_t21_stations.toml", &dir.join("out.ckpt"), &dir.join("pairs.ckpt"));
    std::fs::write(dir.join("t21.toml"), text).unwrap();
    let (cfg, exp) = AlignConfig::load(&dir.join("t21.toml")).unwrap();
    let e = align(&cfg, &exp, false, None, &mut |_, _, _| {}).err().expect("refused").to_string();
    assert!(e.contains("T42 autoencoder") && e.contains("nx = 6144"), "{e}");
    assert!(!dir.join("out.ckpt").exists() && !dir.join("pairs.ckpt").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
