use assim_core::dynamics::primitive::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map(String::as_str).unwrap_or("rest");
    let t: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(21);
    let l: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dt: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1800.0);
    let days: f64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let p = PeParams::earth(t, l, dt).unwrap();
    let (oro, ic, hs) = match case {
        "rest" => (
            PeOrography::Mountain { height: 2000.0, lat: 30.0, lon: 90.0, radius_km: 1000.0 },
            PeInitial::Rest { temperature: 250.0, noise: 0.0, seed: 0 },
            None,
        ),
        "jw" => (
            PeOrography::JablonowskiWilliamson,
            PeInitial::JablonowskiWilliamson { perturbation: false },
            None,
        ),
        "jwp" => (
            PeOrography::JablonowskiWilliamson,
            PeInitial::JablonowskiWilliamson { perturbation: true },
            None,
        ),
        _ => (
            PeOrography::Flat,
            PeInitial::Rest { temperature: 300.0, noise: 0.1, seed: 1 },
            Some(HeldSuarez::default()),
        ),
    };
    let m = PrimitiveDry::new(p, oro, hs).unwrap();
    let s0 = m.initial_state(&ic).unwrap();
    let d0 = m.diagnostics(&s0);
    println!("start {:?}", d0);
    let mut it = m.start(s0.clone()).unwrap();
    let spd = (86400.0 / dt).round() as u64;
    let t0 = Instant::now();
    let n = m.grid().len();
    for d in 0..(days as u64) {
        m.run(&mut it, spd);
        let g = m.grid_fields(it.state());
        let dg = m.diagnostics(it.state());
        let psmin = g.ps.iter().cloned().fold(f64::MAX, f64::min) / 100.0;
        let psmax = g.ps.iter().cloned().fold(f64::MIN, f64::max) / 100.0;
        let tmin = g.temp.iter().cloned().fold(f64::MAX, f64::min);
        let tmax = g.temp.iter().cloned().fold(f64::MIN, f64::max);
        // zonal-mean u max
        let nlon = m.grid().nlon();
        let nlat = m.grid().nlat();
        let mut zmax: f64 = 0.0;
        for k in 0..m.nlev() {
            for j in 0..nlat {
                let s: f64 = g.u[k * n + j * nlon..k * n + (j + 1) * nlon].iter().sum::<f64>() / nlon as f64;
                zmax = zmax.max(s.abs());
            }
        }
        println!(
            "day {:3} ps {:.2}-{:.2} hPa mean {:.3} T {:.1}-{:.1} maxwind {:.2} zonal|u| {:.2} KE {:.4e} finite {}",
            d + 1,
            psmin,
            psmax,
            dg.mean_ps / 100.0,
            tmin,
            tmax,
            dg.max_wind,
            zmax,
            dg.kinetic,
            it.is_finite()
        );
    }
    let el = t0.elapsed().as_secs_f64();
    println!("{:.4} s per model day", el / days);
}
