use assim_core::dynamics::*;
use assim_core::linalg::*;
use faer::Mat;
use std::time::Instant;
fn main() {
    init();
    let mut rng = assim_core::rng::stream(1, "x");
    let y = Mat::from_fn(40, 40, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.5);
    let c = y.transpose() * &y + Mat::<f64>::identity(40, 40) * faer::Scale(39.0);
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        let _ = sym_eig(c.as_ref()).unwrap();
    }
    println!("eig 40: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let t = Instant::now();
    for _ in 0..n {
        let _ = &y * &c;
    }
    println!("matmul 40: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let t = Instant::now();
    for _ in 0..n {
        let _ = random_mean_preserving_rotation(40, &mut rng);
    }
    println!("rotation 40: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let mut buf = vec![0.0; 1521];
    let t = Instant::now();
    for _ in 0..n {
        assim_core::rng::fill_normal(&mut rng, &mut buf);
    }
    println!("1521 normals: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let m = Lorenz96::standard();
    let mut e = Mat::from_fn(40, 40, |i, j| ((i + j) % 5) as f64);
    let t = Instant::now();
    for _ in 0..n {
        m.advance_ensemble(&mut e, 0.0, 0.05, 1);
    }
    println!("step_ensemble par: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let mut x = vec![1.0; 40];
    let t = Instant::now();
    for _ in 0..n * 40 {
        m.step(&mut x, 0.0, 0.05);
    }
    println!("40 single steps: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let y12 = Mat::from_fn(29, 40, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.5);
    let dy = vec![0.3; 29];
    let t = Instant::now();
    for _ in 0..n {
        let _ = assim_core::classical::etkf_transform(y12.as_ref(), &dy).unwrap();
    }
    println!("etkf_transform 29x40: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
}
#[allow(dead_code)]
fn _x() {}
