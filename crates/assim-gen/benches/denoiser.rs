//! Cost of one denoiser evaluation of the Lorenz-96 network (width 32, 4 residual blocks,
//! kernel 5, 16 Fourier features, background channel): forward passes and vector–Jacobian
//! products (forward + backward to the input, what SDA, DPS and MMPS need) for a batch of 20
//! members, and training steps (batch 128). Compare with `benches/torch_denoiser.py`, which
//! times the same network in PyTorch.
//!
//! `cargo bench -p assim-gen --bench denoiser`

mod common;

use assim_core::rng::stream;
use assim_gen::prior::denoiser::Denoiser;
use assim_gen::prior::network::{EdmNetwork, NetworkSize};
use assim_gen::prior::schedule::Edm;
use assim_gen::tensor::normal;
use assim_gen::train::params::{init_values, load_flat};
use burn::tensor::{Device, Tensor};
use common::best_of;

fn main() {
    assim_gen::tensor::keep_freed_memory();
    let size = NetworkSize { width: 32, blocks: 4, kernel: 5, embedding: 16, grid: None, cond_channels: 0 };
    let edm = Edm::default();
    let cpu = Device::flex();
    let net = EdmNetwork::new(size, true, &edm, &cpu);
    let w = init_values(&net, &mut stream(1, "bench"));
    let net = load_flat(net, &w, &cpu, false);
    let (n, nx, evals) = (20, 40, 32);
    let mut rng = stream(2, "bench-x");
    let x = normal(&mut rng, n, nx, &cpu);
    let c = normal(&mut rng, n, nx, &cpu);
    let fwd = best_of(5, || {
        let mut y = x.clone();
        for _ in 0..evals {
            y = net.denoise(y, 0.5, Some(&c));
        }
        let _ = y.into_data();
    });
    let vjp = best_of(5, || {
        for _ in 0..evals {
            let xg = x.clone().autodiff().require_grad();
            let d = net.denoise(xg.clone(), 0.5, Some(&c));
            let g = (d * c.clone()).sum().backward();
            let _ = xg.grad(&g).unwrap().into_data();
        }
    });
    // Training step: forward, loss, backward to the weights (autodiff device), batch 128.
    let ad = Device::flex().autodiff();
    let train_net = load_flat(EdmNetwork::new(size, true, &edm, &ad), &w, &ad, true);
    let b = 128;
    let xb = normal(&mut rng, b, nx, &ad);
    let cb = normal(&mut rng, b, nx, &ad);
    let eb = normal(&mut rng, b, nx, &ad);
    let sb = Tensor::<2>::full([b, 1], 0.5, &ad);
    let steps = 20;
    let train = best_of(3, || {
        for _ in 0..steps {
            let loss = train_net.loss(xb.clone(), eb.clone(), sb.clone(), Some(&cb));
            let g = loss.backward();
            let _ = assim_gen::train::params::flatten_grads(&train_net, &g);
        }
    });
    println!("assim (burn 0.22 flex), batch {n} × nx {nx}, {evals} evaluations:");
    println!("  forward      {:8.3} ms per evaluation", fwd / evals as f64 * 1e3);
    println!("  forward+VJP  {:8.3} ms per evaluation", vjp / evals as f64 * 1e3);
    println!(
        "  train step   {:8.3} ms (batch {b}, incl. flattening the gradients)",
        train / steps as f64 * 1e3
    );
}
