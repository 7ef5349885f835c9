//! Cost of the latent methods on the sphere, at T21 (32×64) and T42 (64×128): the decoder
//! (width 32, 8 latent channels) forward and forward + VJP for 16 members, the latent
//! denoiser (width 48, 4 blocks, kernel 3) likewise, and one whole analysis of 16 members per
//! guidance (8 Euler steps from σ = 2, background-conditioned increment prior) with a station
//! and satellite network of the OSSE's size. The cost does not depend on the weights' values,
//! so the networks are freshly initialised (no checkpoint needed). Compare the network timings
//! with `benches/torch_latent.py`.
//!
//! `cargo bench -p assim-gen --bench latent`

mod common;

use assim_core::grid::LatLonGrid;
use assim_core::obs::records::{Observation, Source, Variable, operator};
use assim_core::rng::{stream, uniform};
use assim_gen::guidance::Guided;
use assim_gen::guidance::{
    Dps, GuidanceConfig, GuidanceWindow, LatentOptimization, Mmps, Optimizer, SdaGamma,
};
use assim_gen::latent::autoencoder::{SphereVae, VaeSize};
use assim_gen::latent::space::{DecodedObs, TrainedAutoencoder};
use assim_gen::prior::denoiser::Denoiser;
use assim_gen::prior::network::{EdmNetwork, NetworkSize};
use assim_gen::prior::sampler::Sampler;
use assim_gen::prior::schedule::Edm;
use assim_gen::tensor::normal;
use assim_gen::train::params::{init_values, load_flat};
use burn::tensor::{Device, Tensor};
use common::best_of;

/// Stations (3 variables each) and satellite footprints at random places.
fn network(grid: &LatLonGrid, stations: usize, footprints: usize) -> Vec<Observation> {
    let mut rng = stream(3, "bench-network");
    let mut recs = Vec::new();
    for k in 0..stations * 3 + footprints {
        let sat = k >= stations * 3;
        recs.push(Observation {
            time_hours: 6.0,
            lat: (2.0 * uniform(&mut rng) - 1.0).asin().to_degrees().clamp(-85.0, 85.0),
            lon: 360.0 * uniform(&mut rng),
            variable: if sat { Variable::Geopotential } else { Variable::ALL[k % 3] },
            value: 0.0,
            sigma: if sat { 100.0 } else { 1.5 },
            source: if sat { Source::Satellite } else { Source::Station },
            footprint_km: if sat { 300.0 } else { 0.0 },
            pressure_hpa: None,
        });
    }
    let _ = grid;
    recs
}

/// LO-SDA's guidance as in `experiments/swe_t42_lo_sda.toml`: the optimisation at σ ≤ 0.5 on
/// SDA guidance (Γ = 10).
fn lo_on_sda(optimizer: Optimizer) -> GuidanceConfig {
    GuidanceConfig::LatentOptimization(LatentOptimization {
        iters: 5,
        lr: 0.1,
        lambda: 1.0,
        sigma_below: 0.5,
        score: Some(Box::new(GuidanceConfig::SdaGamma(SdaGamma { gamma: 10.0 }))),
        optimizer,
    })
}

fn main() {
    assim_gen::tensor::keep_freed_memory();
    let cpu = Device::flex();
    let n = 16;
    for (name, nlat, nlon, stations, footprints, reps) in
        [("T21", 32, 64, 40, 60, 3), ("T42", 64, 128, 120, 120, 1)]
    {
        let grid = LatLonGrid::gaussian(nlat, nlon).expect("grid");
        let size = VaeSize { channels: 3, width: 32, latent: 8 };
        let vae = SphereVae::new(size, &cpu);
        let w = init_values(&vae, &mut stream(1, "bench-vae"));
        let ae = TrainedAutoencoder::from_parts(load_flat(vae, &w, &cpu, false), size, [nlat, nlon], &cpu);
        let grid3 = ae.latent_grid();
        let nz = ae.latent_dim();
        let edm = Edm { sigma_max: 2.0, ..Edm::default() };
        let net_size = NetworkSize {
            width: 48,
            blocks: 4,
            kernel: 3,
            embedding: 16,
            grid: Some(grid3),
            cond_channels: 0,
        };
        let net = EdmNetwork::new(net_size, true, &edm, &cpu);
        let wn = init_values(&net, &mut stream(2, "bench-net"));
        let net = load_flat(net, &wn, &cpu, false);
        let mut rng = stream(4, "bench-x");
        let z = normal(&mut rng, n, nz, &cpu);
        let cond = normal(&mut rng, n, nz, &cpu);

        let dec_fwd = best_of(reps, || {
            let _ = ae.decode(z.clone()).into_data();
        });
        let probe = ae.decode(z.clone());
        let dec_vjp = best_of(reps, || {
            let zg = z.clone().autodiff().require_grad();
            let g = (ae.decode(zg.clone()) * probe.clone()).sum().backward();
            let _ = zg.grad(&g).expect("gradient").into_data();
        });
        let den_fwd = best_of(reps, || {
            let _ = net.denoise(z.clone(), 0.5, Some(&cond)).into_data();
        });
        let den_vjp = best_of(reps, || {
            let zg = z.clone().autodiff().require_grad();
            let g = (net.denoise(zg.clone(), 0.5, Some(&cond)) * cond.clone()).sum().backward();
            let _ = zg.grad(&g).expect("gradient").into_data();
        });
        println!("{name}: {nlat}×{nlon} grid, latent {grid3:?} ({nz}), batch {n}");
        println!("  decoder   forward {:8.1} ms, forward+VJP {:8.1} ms", dec_fwd * 1e3, dec_vjp * 1e3);
        println!("  denoiser  forward {:8.1} ms, forward+VJP {:8.1} ms", den_fwd * 1e3, den_vjp * 1e3);

        let recs = network(&grid, stations, footprints);
        let op = operator(&grid, &recs).expect("operator");
        let var: Vec<f64> = recs.iter().map(|r| r.sigma * r.sigma).collect();
        let y = Tensor::<2>::zeros([1, recs.len()], &cpu);
        let every = GuidanceWindow::default();
        // SDA (Γ = 10) guided at σ > 0.01 only, 6 of the 8 steps: the window that keeps the
        // accuracy in cycling (BENCHMARKS.md, "Cheap guided analyses"; the demo guides all 8).
        let window = GuidanceWindow { above: 0.01, ..GuidanceWindow::default() };
        let sda10 = GuidanceConfig::SdaGamma(SdaGamma { gamma: 10.0 });
        for (guidance, win, steps) in [
            (GuidanceConfig::None, every, 8),
            (GuidanceConfig::Dps(Dps { zeta: 0.5 }), every, 8),
            (GuidanceConfig::SdaGamma(SdaGamma { gamma: 0.01 }), every, 8),
            (sda10.clone(), window, 8),
            (sda10.clone(), window, 6),
            (GuidanceConfig::Mmps(Mmps { cg_iters: 1 }), every, 8),
            (
                GuidanceConfig::LatentOptimization(LatentOptimization {
                    iters: 5,
                    lr: 0.1,
                    lambda: 1.0,
                    sigma_below: 0.5,
                    score: None,
                    optimizer: Default::default(),
                }),
                every,
                8,
            ),
            // LO-SDA as cycled at T42: the optimisation on SDA guidance (Adam, and Gauss–Newton).
            (lo_on_sda(Optimizer::Adam), every, 8),
            (lo_on_sda(Optimizer::GaussNewton), every, 8),
        ] {
            let mut label = format!("{} euler{steps}", guidance.name());
            if !win.is_everywhere() {
                label.push_str(&format!(" σ∈({},{}]", win.above, win.below));
            }
            let t = best_of(reps, || {
                // A new operator per analysis, as in cycling (its diag(H'H'ᵀ) is computed once
                // per analysis, inside the timing).
                let obs = DecodedObs::new(&ae, &op, &var, cond.clone() * 0.8, 0.3).expect("obs");
                let guided = Guided::new(&net, &obs, y.clone(), guidance.clone()).within(win);
                let noise = normal(&mut rng, n, nz, &cpu);
                let mut r = stream(5, "bench-sample");
                let x =
                    Sampler::Euler.sample(&guided, &edm, steps, noise, Some(&cond), &mut r).expect("sample");
                let _ = ae.decode_states(x);
            });
            println!("  analysis ({} obs) {label:<52} {t:8.2} s", recs.len());
        }
    }
}
