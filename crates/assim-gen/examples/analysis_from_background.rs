//! One analysis from the same background, for every generative method of an experiment file:
//! separates what a latent method does in a single analysis from what cycling does to it.
//!
//! The file's first classical method (e.g. 3D-Var) is cycled on the truth; at each window of
//! `[FIRST, LAST]` its forecast is the background `x_b`, and every `Generative` method of the
//! file analyses that one background (all `N` members start as `x_b`) with the window's
//! observations. Printed, as RMSE over the windows in climatological sd (and per variable):
//! the background, the classical analysis, the autoencoder's reconstruction of the background
//! and of the truth (the floor no analysis `D(z)` beats), and each method's analysis mean.
//! A method whose single analysis is already worse than its background fails in the analysis,
//! not in the cycling.
//!
//! ```sh
//! cargo run --release -p assim-gen --example analysis_from_background -- \
//!     experiments/swe_t42_single_analysis.toml 20 29 [seed]
//! ```

use std::path::Path;

use faer::Mat;

use assim_core::AssimError;
use assim_core::classical::EnsembleFilter;
use assim_core::experiment::{Experiment, Scenario};
use assim_core::linalg::row_mean;
use assim_core::rng::stream;
use assim_gen::filter::{GenerativeConfig, GenerativeFilter};

mod common;

use common::Sums;

/// One table row: the name and its RMSEs.
fn line(name: &str, s: &Sums) -> String {
    let [a, b, c, d] = s.rmse();
    format!("{name:<48} {a:>8.4} {b:>8.1} {c:>7.3} {d:>7.3}")
}

fn main() -> Result<(), AssimError> {
    assim_gen::tensor::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || AssimError::Input("usage: analysis_from_background EXPERIMENT FIRST LAST [SEED]".into());
    let [exp_file, first, last, rest @ ..] = args.as_slice() else {
        return Err(usage());
    };
    let parse = |s: &str| s.parse::<u64>().map_err(|e| AssimError::Input(format!("{s}: {e}")));
    let (first, last) = (parse(first)? as usize, parse(last)? as usize);
    let seed = rest.first().map_or(Ok(1), |s| parse(s))?;
    if first > last {
        return Err(usage());
    }
    assim_core::linalg::init();
    let mut exp = Experiment::load_with(Path::new(exp_file), &assim_gen::methods())?;
    exp.chronology.ko = Some(last);
    exp.chronology.t = None;
    let chrono = exp.chronology();
    let provider = exp
        .methods
        .iter()
        .find(|m| !m.is_generative())
        .ok_or_else(|| AssimError::Input("the file has no classical method to make the backgrounds".into()))?
        .clone();
    let generative: Vec<_> = exp
        .methods
        .iter()
        .filter_map(|m| m.downcast::<GenerativeConfig>().map(|g| (m.label(), g.clone())))
        .collect();
    let mut filters = generative
        .iter()
        .map(|(_, g)| GenerativeFilter::new(g, exp.bed.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let twin = assim_gen::latent::space::sphere_twin(&exp, seed, 0, &mut |_, _, _| {})?;
    let mut method = provider.build(exp.bed.as_ref())?;
    let mut rng = stream(seed, "analysis-from-background");
    method.initialise(&twin.setup(0), &mut rng)?;
    let (mut bg, mut an, mut floor_b, mut floor_t) =
        (Sums::default(), Sums::default(), Sums::default(), Sums::default());
    let mut gen_sums = vec![Sums::default(); filters.len()];
    for ko in 0..=last {
        let setup = twin.setup(ko);
        let k = chrono.obs_step(ko);
        method.forecast(&setup, (k - chrono.dko) as f64 * chrono.dt, chrono.dko)?;
        let xb = method.estimate().mean();
        let y = twin.observations(ko);
        if ko >= first {
            bg.add(&twin, &xb, ko);
            // The reconstruction floors in the first latent method's autoencoder.
            if let Some(ae) = filters.first().and_then(GenerativeFilter::autoencoder) {
                let rec = ae.decode_states(ae.encode(&[xb.as_slice(), twin.truth(ko)]));
                floor_b.add(&twin, &rec[0], ko);
                floor_t.add(&twin, &rec[1], ko);
            }
            for (f, sums) in filters.iter_mut().zip(&mut gen_sums) {
                let n = f.size();
                *f.members_mut() = Mat::from_fn(xb.len(), n, |i, _| xb[i]);
                let mut r = stream(seed, &format!("analysis-from-background:{ko}"));
                f.update(&setup, y, &mut r)?;
                sums.add(&twin, &row_mean(f.members().as_ref()), ko);
            }
        }
        method.analyse(&setup, y, k as f64 * chrono.dt, &mut rng)?;
        if ko >= first {
            an.add(&twin, &method.estimate().mean(), ko);
        }
        eprint!("\rwindow {ko}/{last}");
    }
    eprintln!();
    println!("windows {first}-{last}, seed {seed}: RMSE (clim sd)   Φ (m² s⁻²)   u   v (m/s)");
    println!("{}", line(&format!("background ({})", provider.label()), &bg));
    println!("{}", line(&format!("analysis ({})", provider.label()), &an));
    if filters.first().and_then(GenerativeFilter::autoencoder).is_some() {
        println!("{}", line("D(E(x_b))", &floor_b));
        println!("{}", line("D(E(truth)) (the floor)", &floor_t));
    }
    for ((label, _), s) in generative.iter().zip(&gen_sums) {
        println!("{}", line(label, s));
    }
    Ok(())
}
