//! The T42 speed benchmark file (it holds the demo's latent method, so it reads with the
//! generative methods registered) loads and validates as shipped.

use assim_core::experiment::Experiment;

#[test]
fn the_t42_speed_bench_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exp = Experiment::load_with(&root.join("benches/swe_t42_speed.toml"), &assim_gen::methods())
        .unwrap_or_else(|e| panic!("benches/swe_t42_speed.toml: {e}"));
    assert!(exp.bed_as::<assim_core::bed::sphere::SphereConfig>().is_some());
    assert!(exp.chronology().n_obs_times() >= 24);
    assert_eq!(exp.methods.len(), 5);
}
