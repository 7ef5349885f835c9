//! Writes a T42-sized year of synthetic multi-level fields as an assim Zarr store, for the
//! read-and-regrid benchmark (BENCHMARKS.md): 1460 six-hourly times of temperature on 10 σ
//! levels and surface pressure on the T42 Gaussian grid (64 × 128).
//!
//! `cargo run --release -p assim-data --example synthetic_year -- OUT.zarr [times]`

use assim_core::grid::LatLonGrid;
use assim_core::io::zarr::{CfVariable, GriddedZarrWriter, Precision, SigmaCoordinate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).expect("usage: synthetic_year OUT.zarr [times]"));
    let times: usize = args.get(2).map(|t| t.parse().expect("times")).unwrap_or(1460);
    let grid = LatLonGrid::for_truncation(42).unwrap();
    let sigma = SigmaCoordinate { sigma: (0..10).map(|k| 0.05 + 0.1 * k as f64).collect() };
    let t = CfVariable { name: "t", standard_name: "air_temperature", long_name: "temperature", units: "K" };
    let ps = CfVariable {
        name: "ps",
        standard_name: "surface_air_pressure",
        long_name: "surface pressure",
        units: "Pa",
    };
    let mut w = GriddedZarrWriter::create_levelled(
        &out,
        true,
        &grid,
        Some(&sigma),
        times,
        &[t],
        &[ps],
        Precision::F32,
        serde_json::Map::new(),
    )
    .unwrap();
    let (lat, lon) = (grid.lat_degrees(), grid.lon_degrees());
    let n = grid.len();
    let mut temperature = vec![0.0; 10 * n];
    let mut surface = vec![0.0; n];
    for step in 0..times {
        let phase = step as f64 * 0.1;
        for (k, s) in sigma.sigma.iter().enumerate() {
            for (j, la) in lat.iter().enumerate() {
                for (i, lo) in lon.iter().enumerate() {
                    let (p, l) = (la.to_radians(), lo.to_radians());
                    temperature[k * n + j * lon.len() + i] =
                        200.0 + 90.0 * s * p.cos().powi(2) + 5.0 * (3.0 * l + phase).cos() * p.sin();
                }
            }
        }
        for (j, la) in lat.iter().enumerate() {
            for (i, lo) in lon.iter().enumerate() {
                surface[j * lon.len() + i] =
                    1.0e5 + 1.0e3 * (2.0 * lo.to_radians() - phase).sin() * la.to_radians().cos();
            }
        }
        w.write_slice(step, 6.0 * step as f64, &[&temperature, &surface]).unwrap();
    }
    println!("{}", w.finish().unwrap().display());
}
