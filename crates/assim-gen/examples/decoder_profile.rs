//! Temporary: profile the decoder forward + VJP at T42, batch 16.
use assim_core::rng::stream;
use assim_gen::latent::autoencoder::{SphereVae, VaeSize};
use assim_gen::latent::space::TrainedAutoencoder;
use assim_gen::tensor::normal;
use assim_gen::train::params::{init_values, load_flat};
use burn::tensor::Device;
use std::time::Instant;

fn main() {
    if std::env::var_os("KEEP").is_some() {
        assim_gen::tensor::keep_freed_memory();
    }
    let cpu = Device::flex();
    let n = 16;
    let size = VaeSize { channels: 3, width: 32, latent: 8 };
    let vae = SphereVae::new(size, &cpu);
    let w = init_values(&vae, &mut stream(1, "bench-vae"));
    let ae = TrainedAutoencoder::from_parts(load_flat(vae, &w, &cpu, false), size, [64, 128], &cpu);
    let mut rng = stream(4, "x");
    let z = normal(&mut rng, n, ae.latent_dim(), &cpu);
    let probe = ae.decode(z.clone());
    let reps: usize = std::env::args().nth(1).map_or(5, |s| s.parse().unwrap());
    let s = Instant::now();
    for _ in 0..reps {
        let _ = ae.decode(z.clone()).into_data();
    }
    println!("forward {:.1} ms", s.elapsed().as_secs_f64() * 1e3 / reps as f64);
    let s = Instant::now();
    for _ in 0..reps {
        let zg = z.clone().autodiff().require_grad();
        let g = (ae.decode(zg.clone()) * probe.clone()).sum().backward();
        let _ = zg.grad(&g).unwrap().into_data();
    }
    println!("forward+vjp {:.1} ms", s.elapsed().as_secs_f64() * 1e3 / reps as f64);
}
