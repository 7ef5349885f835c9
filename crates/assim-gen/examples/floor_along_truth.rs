//! The autoencoder's reconstruction floor along an experiment's truth: `D(E(x_truth))` scored
//! against the truth at every analysis time, as 20-window means (overall in climatological sd,
//! per variable in SI units). A latent analysis `D(z)` cannot beat this floor, so it tells
//! whether a latent method's error growth over a cycling run comes from the truth leaving
//! the autoencoder's training climate. The last column, the truth's distance from the
//! climate sample's mean (in climatological sd, ≈ 1 for a truth from that climate), shows
//! whether the truth itself drifts from it.
//!
//! ```sh
//! cargo run --release -p assim-gen --example floor_along_truth -- \
//!     experiments/swe_t21_latent.toml checkpoints/swe_t21_vae.ckpt [seed]
//! ```

use std::path::Path;

use assim_core::AssimError;
use assim_core::classical::StateDistribution;
use assim_core::experiment::{Experiment, Scenario};
use assim_gen::latent::space::TrainedAutoencoder;

mod common;

use common::Sums;

fn main() -> Result<(), AssimError> {
    assim_gen::tensor::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [exp_file, ae_file, rest @ ..] = args.as_slice() else {
        return Err(AssimError::Input("usage: floor_along_truth EXPERIMENT AUTOENCODER [SEED]".into()));
    };
    let seed =
        rest.first().map_or(Ok(1), |s| s.parse::<u64>()).map_err(|e| AssimError::Input(e.to_string()))?;
    assim_core::linalg::init();
    let exp = Experiment::load_with(Path::new(exp_file), &assim_gen::methods())?;
    let device = assim_gen::tensor::compute_device()?;
    let ae = TrainedAutoencoder::load(Path::new(ae_file), &device)?;
    ae.check_experiment(&exp)?;
    let twin = assim_gen::latent::space::sphere_twin(&exp, seed, 0, &mut |_, _, _| {})?;
    let windows = exp.chronology().ko + 1;
    let truths: Vec<&[f64]> = (0..windows).map(|ko| twin.truth(ko)).collect();
    let decoded = ae.decode_states(ae.encode(&truths));
    let clim_mean = twin.climate.mean().to_vec();
    println!("windows   floor (clim sd)   geopotential   u   v   truth − climate mean (clim sd)");
    for start in (0..windows).step_by(20) {
        let end = (start + 20).min(windows);
        let (mut floor, mut clim) = (Sums::default(), Sums::default());
        for (ko, x) in decoded.iter().enumerate().take(end).skip(start) {
            floor.add(&twin, x, ko);
            clim.add(&twin, &clim_mean, ko);
        }
        let [a, b, c, d] = floor.rmse();
        let e = clim.rmse()[0];
        println!("{start:>3}-{:<3}   {a:.4}   {b:.1}   {c:.3}   {d:.3}   {e:.3}", end - 1);
    }
    Ok(())
}
