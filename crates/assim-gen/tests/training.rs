//! The network denoiser learns: on samples of a periodic Gaussian (nx = 16, circulant
//! covariance), AdamW on EDM's weighted loss lowers the loss, and the trained denoiser moves
//! towards the exact Gaussian denoiser.

use assim_core::rng::{fill_normal, stream};
use assim_gen::prior::denoiser::{Denoiser, GaussianPrior};
use assim_gen::prior::network::{EdmNetwork, NetworkSize};
use assim_gen::prior::schedule::Edm;
use assim_gen::tensor::{from_rows, normal, to_rows};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use faer::Mat;

const NX: usize = 16;

/// A circulant covariance: correlation exp(−d²/8) on the ring, unit variance.
fn ring_cov() -> Mat<f64> {
    Mat::from_fn(NX, NX, |i, j| {
        let d = (i as isize - j as isize).unsigned_abs().min(NX - (i as isize - j as isize).unsigned_abs())
            as f64;
        (-d * d / 8.0).exp() + if i == j { 1e-3 } else { 0.0 }
    })
}

/// `n` samples of N(0, C) via the Cholesky-free eigen route of GaussianPrior's gain at σ → ∞:
/// here simply C^{1/2} z with C^{1/2} from faer.
fn samples(n: usize, seed: u64) -> Vec<f64> {
    let c = ring_cov();
    let l = c.as_ref().llt(faer::Side::Lower).unwrap().L().to_owned();
    let mut rng = stream(seed, "ring-samples");
    let mut z = vec![0.0; n * NX];
    fill_normal(&mut rng, &mut z);
    let mut out = vec![0.0; n * NX];
    for s in 0..n {
        for i in 0..NX {
            out[s * NX + i] = (0..=i).map(|k| l[(i, k)] * z[s * NX + k]).sum();
        }
    }
    out
}

#[test]
fn edm_loss_falls_and_the_denoiser_approaches_the_exact_one() {
    let device = Device::flex().autodiff();
    let edm = Edm::default();
    let size = NetworkSize { width: 16, blocks: 2, kernel: 5, embedding: 8, grid: None, cond_channels: 0 };
    let mut model = EdmNetwork::new(size, false, &edm, &device);
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let batch = 64;
    let data = samples(batch * 300, 1);
    let mut rng = stream(2, "training-noise");
    let mut losses = Vec::new();
    for step in 0..300 {
        let x = from_rows(&data[step * batch * NX..(step + 1) * batch * NX], batch, NX, &device);
        let eps = normal(&mut rng, batch, NX, &device);
        let mut z = vec![0.0; batch];
        fill_normal(&mut rng, &mut z);
        let sig: Vec<f64> = z.iter().map(|&z| edm.training_sigma(z)).collect();
        let sigma = from_rows(&sig, batch, 1, &device);
        let loss = model.loss(x, eps, sigma, None);
        losses.push(f64::from(loss.clone().into_scalar::<f32>()));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(2e-3, model, grads);
    }
    let first: f64 = losses[..30].iter().sum::<f64>() / 30.0;
    let last: f64 = losses[270..].iter().sum::<f64>() / 30.0;
    eprintln!("EDM loss: first 30 steps {first:.4}, last 30 {last:.4}");
    assert!(last < 0.7 * first, "loss did not fall: {first:.4} → {last:.4}");

    // Against the exact denoiser at σ = 0.5 on fresh samples.
    let exact = GaussianPrior::new(vec![0.0; NX], &ring_cov(), &device).unwrap();
    let n = 256;
    let x0 = samples(n, 9);
    let mut rng = stream(3, "eval");
    let xt = from_rows(&x0, n, NX, &device) + normal(&mut rng, n, NX, &device) * 0.5;
    let err = |d: Tensor<2>| {
        let d = to_rows(&d);
        (d.iter().zip(&x0).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / d.len() as f64).sqrt()
    };
    let e_net = err(model.denoise(xt.clone(), 0.5, None));
    let e_exact = err(exact.denoise(xt.clone(), 0.5, None));
    let e_none = err(xt);
    eprintln!("rmse at σ = 0.5: identity {e_none:.4}, network {e_net:.4}, exact {e_exact:.4}");
    assert!(e_net < 0.75 * e_none && e_net < 1.5 * e_exact, "network {e_net:.4} vs exact {e_exact:.4}");
}
