//! The readers on real files (tests/data, ATTRIBUTION.md): values checked against the numbers
//! ecCodes 2.50 (through its Python bindings) and xarray print for the same files, recorded here;
//! the same field read from GRIB and from NetCDF agreeing to its packing precision; and bad input
//! refused with the file and the field named.

use assim_data::{Dataset, Format, LevelKind};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// ecCodes' `average` is the plain mean of the decoded values; both decoders unpack the same
/// integers, but assim keeps them as f32, whose rounding (half an ulp, 6e-8 relative) is the
/// same for every value sharing the reference value's low bits and so does not average out:
/// 1e-7 relative is that rounding and nothing more (one packing step of T is 1e-5 relative).
fn assert_rel(actual: f64, expected: f64, what: &str) {
    assert!(((actual - expected) / expected).abs() < 1e-7, "{what}: {actual} against {expected}");
}

#[test]
fn the_era5_ensemble_of_data_assimilations_reads_from_grib1_with_members_times_and_levels() {
    let ds = Dataset::open(data("era5-levels-members.grib")).unwrap();
    assert_eq!(ds.format, Format::Grib(1));
    let z = ds.variable("geopotential").unwrap();
    assert_eq!(z.name, "z");
    assert_eq!(z.units, "m2 s-2");
    assert_eq!(z.shape(), [10, 4, 2, 61, 120]);
    assert_eq!(z.members, (0..10).collect::<Vec<i64>>());
    assert_eq!(z.level_kind, LevelKind::Pressure);
    assert_eq!(z.levels, vec![50_000.0, 85_000.0]);
    assert_eq!(assim_data::calendar::format_iso(z.times[0]), "2017-01-01T00:00Z");
    assert_eq!(assim_data::calendar::format_iso(z.times[3]), "2017-01-02T12:00Z");
    assert_eq!((z.latitudes[0], z.latitudes[60], z.longitudes[119]), (90.0, -90.0, 357.0));
    assert!(z.covers_globe());
    // ecCodes `average` of z 500 hPa, member 0, 2017-01-01 00 UTC: 53995.248890027324.
    let l500 = z.level_index(50_000.0).unwrap();
    assert_rel(z.mean(0, 0, l500), 53_995.248_890_027_324, "mean Z500 of member 0");
    // xarray's cos-latitude weighted mean of z 500 hPa, member 3, 2017-01-01 12 UTC.
    assert_rel(z.area_mean(3, 1, l500), 55_374.754_571_619_86, "area mean Z500 of member 3");
    let t = ds.variable("t").unwrap();
    let l850 = t.level_index(85_000.0).unwrap();
    // ecCodes `average` of t 850 hPa: member 0 at 2017-01-01 00 UTC, member 9 at 2017-01-02 12 UTC.
    assert_rel(t.mean(0, 0, l850), 273.622_235_140_774_4, "mean T850 of member 0");
    assert_rel(t.mean(9, 3, l850), 273.709_642_170_556_9, "mean T850 of member 9");
}

#[test]
fn the_same_ensemble_from_netcdf4_agrees_with_grib_to_the_packing_precision() {
    let grib = Dataset::open(data("era5-levels-members.grib")).unwrap();
    let nc = Dataset::open(data("era5-levels-members.nc")).unwrap();
    assert_eq!(nc.format, Format::NetCdf4);
    for (name, step) in [("z", 0.25f64), ("t", 2f64.powi(-9))] {
        // The GRIB messages pack z with binary scale −2 and t with −9 (16 bits); the NetCDF file
        // was written from them by cfgrib, so any difference beyond half a packing step would be
        // a decoding or layout error (a transposed axis or a misread level would be far larger).
        let (g, n) = (grib.variable(name).unwrap(), nc.variable(name).unwrap());
        assert_eq!(g.members, n.members);
        assert_eq!(g.times, n.times);
        assert_eq!(g.latitudes, n.latitudes);
        assert_eq!(g.longitudes, n.longitudes);
        let mut worst = 0.0f64;
        for m in 0..10 {
            for t in 0..4 {
                for &p in &[50_000.0, 85_000.0] {
                    let (lg, ln) = (g.level_index(p).unwrap(), n.level_index(p).unwrap());
                    for (a, b) in g.horizontal(m, t, lg).iter().zip(n.horizontal(m, t, ln)) {
                        worst = worst.max((*a as f64 - *b as f64).abs());
                    }
                }
            }
        }
        assert!(
            worst <= step / 2.0,
            "{name}: GRIB and NetCDF differ by {worst} (half a packing step: {})",
            step / 2.0
        );
    }
}

#[test]
fn one_era5_analysis_agrees_between_grib1_and_packed_netcdf3() {
    let grib = Dataset::open(data("test4.grib")).unwrap();
    let nc = Dataset::open(data("test4.nc")).unwrap();
    assert_eq!(nc.format, Format::NetCdf3);
    let t = grib.variable("t").unwrap();
    assert_eq!(t.shape(), [1, 1, 2, 181, 360]);
    // ecCodes `average` of t 500 hPa and z 850 hPa, 2007-01-01 12 UTC.
    assert_rel(t.mean(0, 0, t.level_index(50_000.0).unwrap()), 252.509_848_771_818_3, "mean T500");
    let z = grib.variable("z").unwrap();
    assert_rel(z.mean(0, 0, z.level_index(85_000.0).unwrap()), 13_537.800_426_354_359, "mean Z850");
    // xarray's mean of the NetCDF file's int16 values unpacked (scale_factor, add_offset).
    let tn = nc.variable("air_temperature").unwrap();
    assert_eq!(tn.times, t.times);
    let mean = tn.mean(0, 0, tn.level_index(50_000.0).unwrap());
    assert!((mean - 252.509_848_278_985_32).abs() < 1e-4, "NetCDF mean T500 {mean}");
    // Tolerance: half the GRIB step (2^-10 K for t 500, 2^-3 for z 850, the coarsest of the
    // file) plus half the NetCDF int16 scale (0.001226 K, 0.7605 m² s⁻²), plus f32 rounding.
    for (name, tol) in [
        ("t", 2f64.powi(-10) / 2.0 + 0.001_226 / 2.0 + 1e-4),
        ("z", 2f64.powi(-2) / 2.0 + 0.7606 / 2.0 + 4e-3),
    ] {
        let (g, n) = (grib.variable(name).unwrap(), nc.variable(name).unwrap());
        for &p in &[50_000.0, 85_000.0] {
            let worst = g
                .horizontal(0, 0, g.level_index(p).unwrap())
                .iter()
                .zip(n.horizontal(0, 0, n.level_index(p).unwrap()))
                .map(|(a, b)| (*a as f64 - *b as f64).abs())
                .fold(0.0, f64::max);
            assert!(worst <= tol, "{name} at {p} Pa: GRIB and NetCDF differ by {worst} > {tol}");
        }
    }
}

#[test]
fn a_gfs_forecast_reads_from_grib2_complex_packing_with_its_valid_time() {
    let ds = Dataset::open(data("gfs.t12z.pgrbf120.2p5deg.grib2")).unwrap();
    assert_eq!(ds.format, Format::Grib(2));
    let t = ds.variable("t").unwrap();
    assert_eq!(t.standard_name.as_deref(), Some("air_temperature"));
    assert_eq!(t.shape(), [1, 1, 26, 73, 144]);
    assert_eq!(t.levels[0], 1_000.0);
    assert_eq!(t.levels[25], 100_000.0);
    // Reference 2011-01-10 12 UTC, 120-hour forecast.
    assert_eq!(assim_data::calendar::format_iso(t.times[0]), "2011-01-15T12:00Z");
    // ecCodes `average` of t at 10 hPa and gh at 10 hPa; xarray's cos-weighted mean of t 500 hPa.
    assert_rel(t.mean(0, 0, t.level_index(1_000.0).unwrap()), 229.819_748_858_442_95, "mean T10");
    assert_rel(t.area_mean(0, 0, t.level_index(50_000.0).unwrap()), 258.274_864_604_301_57, "area mean T500");
    let gh = ds.variable("geopotential_height").unwrap();
    assert_rel(gh.mean(0, 0, gh.level_index(1_000.0).unwrap()), 30_734.318_045_091_095, "mean GH10");
    // A parameter on several kinds of level keeps one variable per kind, each named apart.
    assert!(ds.variable("t_surface").is_ok());
    let names: std::collections::HashSet<_> = ds.variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), ds.variables.len(), "variable names must be unique");
}

#[test]
fn a_truncated_grib_file_is_refused_naming_the_file() {
    let dir = scratch("trunc");
    let bytes = std::fs::read(data("test4.grib")).unwrap();
    let path = dir.join("cut.grib");
    // Cut inside the second message: its end marker `7777` is gone.
    std::fs::write(&path, &bytes[..bytes.len() * 3 / 8]).unwrap();
    let e = Dataset::open(&path).unwrap_err();
    assert_eq!(e.path, path);
    assert!(e.to_string().contains("cut.grib"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_regional_grid_is_read_but_refused_where_a_global_field_is_needed() {
    let ds = Dataset::open(data("regional_t2m_msl.nc")).unwrap();
    let msl = ds.variable("msl").unwrap();
    assert!(!msl.covers_globe());
    let e = msl.require_global(&ds.path).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("msl"));
    assert!(e.reason.contains("does not cover the globe"), "{e}");
    let era5 = Dataset::open(data("test4.nc")).unwrap();
    assert!(era5.variable("t").unwrap().require_global(&era5.path).is_ok());
}

/// One variable of [`classic_file`]: name, dimension ids, text attributes, NetCDF type, data.
type ClassicVariable<'a> = (&'a str, Vec<u32>, Vec<(&'a str, &'a str)>, u32, Vec<u8>);

/// A NetCDF-3 classic file written byte by byte (the format's specification, CDF-1): a 3 × 4
/// global grid, one time, two levels `level` (values and optional units), and a field `t`
/// (time, level, lat, lon) with or without its `units` attribute.
fn classic_file(t_units: Option<&str>, levels: [f64; 2], level_units: Option<&str>) -> Vec<u8> {
    fn name(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u32).to_be_bytes());
        out.extend(s.as_bytes());
        out.resize(out.len().next_multiple_of(4), 0);
    }
    fn text_attr(out: &mut Vec<u8>, key: &str, value: &str) {
        name(out, key);
        out.extend(2u32.to_be_bytes()); // NC_CHAR
        out.extend((value.len() as u32).to_be_bytes());
        out.extend(value.as_bytes());
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let lat = [60.0f64, 0.0, -60.0];
    let lon = [0.0f64, 90.0, 180.0, 270.0];
    let dims = [("time", 1u32), ("lat", 3), ("lon", 4), ("level", 2)];
    let level_attrs: Vec<(&str, &str)> = level_units.map(|u| vec![("units", u)]).unwrap_or_default();
    let t_attrs: Vec<(&str, &str)> = t_units.map(|u| vec![("units", u)]).unwrap_or_default();
    let vars: Vec<ClassicVariable> = vec![
        (
            "time",
            vec![0],
            vec![("units", "hours since 2000-01-01 00:00:00")],
            6,
            6.0f64.to_be_bytes().to_vec(),
        ),
        (
            "lat",
            vec![1],
            vec![("units", "degrees_north")],
            6,
            lat.iter().flat_map(|v| v.to_be_bytes()).collect(),
        ),
        (
            "lon",
            vec![2],
            vec![("units", "degrees_east")],
            6,
            lon.iter().flat_map(|v| v.to_be_bytes()).collect(),
        ),
        ("level", vec![3], level_attrs, 6, levels.iter().flat_map(|v| v.to_be_bytes()).collect()),
        (
            "t",
            vec![0, 3, 1, 2],
            t_attrs,
            5,
            (0..24).flat_map(|k| (250.0f32 + k as f32).to_be_bytes()).collect(),
        ),
    ];
    let mut header = b"CDF\x01".to_vec();
    header.extend(0u32.to_be_bytes());
    header.extend(0x0Au32.to_be_bytes());
    header.extend((dims.len() as u32).to_be_bytes());
    for (n, len) in dims {
        name(&mut header, n);
        header.extend(len.to_be_bytes());
    }
    header.extend([0u8; 8]); // no global attributes
    header.extend(0x0Bu32.to_be_bytes());
    header.extend((vars.len() as u32).to_be_bytes());
    // The header's length must be known to place the data: write it twice, offsets fixed on the
    // second pass.
    let mut offsets = vec![0u32; vars.len()];
    let mut body = Vec::new();
    for pass in 0..2 {
        body.clear();
        for (k, (n, dimids, attrs, ty, data)) in vars.iter().enumerate() {
            name(&mut body, n);
            body.extend((dimids.len() as u32).to_be_bytes());
            for d in dimids {
                body.extend(d.to_be_bytes());
            }
            if attrs.is_empty() {
                body.extend([0u8; 8]);
            } else {
                body.extend(0x0Cu32.to_be_bytes());
                body.extend((attrs.len() as u32).to_be_bytes());
                for (key, value) in attrs {
                    text_attr(&mut body, key, value);
                }
            }
            body.extend(ty.to_be_bytes());
            body.extend((data.len().next_multiple_of(4) as u32).to_be_bytes());
            body.extend(offsets[k].to_be_bytes());
        }
        if pass == 0 {
            let mut at = (header.len() + body.len()) as u32;
            for (k, v) in vars.iter().enumerate() {
                offsets[k] = at;
                at += v.4.len().next_multiple_of(4) as u32;
            }
        }
    }
    let mut out = header;
    out.extend(body);
    for v in &vars {
        out.extend(&v.4);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

#[test]
fn a_netcdf_variable_without_units_is_refused_naming_the_file_and_the_field() {
    let dir = scratch("units");
    // With its units the hand-written file reads, values and axes in place.
    let good = dir.join("with_units.nc");
    std::fs::write(&good, classic_file(Some("K"), [500.0, 850.0], Some("hPa"))).unwrap();
    let ds = Dataset::open(&good).unwrap();
    let t = ds.variable("t").unwrap();
    assert_eq!(t.shape(), [1, 1, 2, 3, 4]);
    assert_eq!(t.levels, vec![50_000.0, 85_000.0]);
    assert_eq!(t.horizontal(0, 0, 1)[5], 267.0);
    assert_eq!(assim_data::calendar::format_iso(t.times[0]), "2000-01-01T06:00Z");
    // Without, it is refused.
    let bad = dir.join("no_units.nc");
    std::fs::write(&bad, classic_file(None, [500.0, 850.0], Some("hPa"))).unwrap();
    let e = Dataset::open(&bad).unwrap_err();
    assert_eq!(e.path, bad);
    assert_eq!(e.field.as_deref(), Some("t"));
    assert!(e.reason.contains("units"), "{e}");
    // Levels: Pa as given; without units, values of 1–1100 are hPa (WeatherBench 2's `level`);
    // without units and out of that range, refused, naming the coordinate.
    let pa = dir.join("pa.nc");
    std::fs::write(&pa, classic_file(Some("K"), [50_000.0, 85_000.0], Some("Pa"))).unwrap();
    assert_eq!(Dataset::open(&pa).unwrap().variables[0].levels, vec![50_000.0, 85_000.0]);
    let bare = dir.join("bare.nc");
    std::fs::write(&bare, classic_file(Some("K"), [500.0, 850.0], None)).unwrap();
    assert_eq!(Dataset::open(&bare).unwrap().variables[0].levels, vec![50_000.0, 85_000.0]);
    std::fs::write(&bare, classic_file(Some("K"), [50_000.0, 85_000.0], None)).unwrap();
    let e = Dataset::open(&bare).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("level"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh, empty directory of this test process, removed by the test when it is done.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("assim-data-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a directory tree.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A copy of the shipped Zarr store in a fresh directory, to damage.
fn zarr_copy(tag: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(tag);
    let store = dir.join("test4.zarr");
    copy_tree(&data("test4.zarr"), &store);
    (dir, store)
}

#[test]
fn a_zarr_v2_store_with_blosc_lz4_chunks_agrees_with_the_same_analysis_in_netcdf() {
    let zarr = Dataset::open(data("test4.zarr")).unwrap();
    assert_eq!(zarr.format, Format::Zarr(2));
    let nc = Dataset::open(data("test4.nc")).unwrap();
    let t = zarr.variable("air_temperature").unwrap();
    assert_eq!(t.shape(), [1, 1, 2, 181, 360]);
    assert_eq!(t.levels, vec![50_000.0, 85_000.0]);
    assert_eq!(t.times, nc.variable("t").unwrap().times);
    // numcodecs' (c-blosc's) decompression of chunk t/0.0.0.0, unpacked with the store's
    // scale_factor and add_offset: mean 252.50984827898532 K.
    assert!((t.mean(0, 0, 0) - 252.509_848_278_985_32).abs() < 1e-4, "{}", t.mean(0, 0, 0));
    // The store holds the NetCDF file's int16 values with the same packing: equal to the bit
    // after unpacking (both f32 of the same f64).
    for name in ["t", "z"] {
        assert_eq!(zarr.variable(name).unwrap().values, nc.variable(name).unwrap().values, "{name}");
    }
}

#[test]
fn a_zarr_store_with_a_missing_or_corrupt_chunk_is_refused_naming_the_field_and_the_chunk() {
    let (dir, store) = zarr_copy("chunks");
    std::fs::remove_file(store.join("t/0.1.0.0")).unwrap();
    let e = Dataset::open(&store).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("t"));
    assert!(e.reason.contains("chunk `0.1.0.0` is missing"), "{e}");
    // A chunk cut short: its Blosc frame is truncated.
    let chunk = store.join("z/0.0.0.0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(data("test4.zarr/t/0.1.0.0"), store.join("t/0.1.0.0")).unwrap();
    let e = Dataset::open(&store).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("z"));
    assert!(e.reason.contains("corrupt"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_zarr_v3_store_written_by_assim_reads_back_with_its_sigma_levels_and_times() {
    use assim_core::grid::LatLonGrid;
    use assim_core::io::zarr::{CfVariable, GriddedZarrWriter, Precision, SigmaCoordinate};
    let dir = scratch("v3");
    let store = dir.join("run.zarr");
    let grid = LatLonGrid::for_truncation(21).unwrap();
    let sigma = SigmaCoordinate { sigma: vec![0.1, 0.5, 0.9] };
    let temperature =
        CfVariable { name: "t", standard_name: "air_temperature", long_name: "temperature", units: "K" };
    let surface = CfVariable {
        name: "ps",
        standard_name: "surface_air_pressure",
        long_name: "surface pressure",
        units: "Pa",
    };
    let mut w = GriddedZarrWriter::create_levelled(
        &store,
        false,
        &grid,
        Some(&sigma),
        2,
        &[temperature],
        &[surface],
        Precision::F32,
        serde_json::Map::new(),
    )
    .unwrap();
    let n = grid.len();
    let field =
        |k: usize, offset: f64| (0..k * n).map(|i| offset + (i % 977) as f64 * 0.01).collect::<Vec<f64>>();
    for step in 0..2 {
        w.write_slice(step, 6.0 * step as f64, &[&field(3, 200.0 + step as f64), &field(1, 1.0e5)]).unwrap();
    }
    w.finish().unwrap();
    let ds = Dataset::open(&store).unwrap();
    assert_eq!(ds.format, Format::Zarr(3));
    let t = ds.variable("air_temperature").unwrap();
    assert_eq!(t.shape(), [1, 2, 3, grid.nlat(), grid.nlon()]);
    assert_eq!(t.level_kind, LevelKind::Sigma);
    assert_eq!(t.levels, vec![0.1, 0.5, 0.9]);
    assert_eq!(assim_data::calendar::format_iso(t.times[1]), "2000-01-01T06:00Z");
    assert!(t.covers_globe());
    let expected = field(3, 201.0);
    for (a, b) in t.values[3 * n..].iter().zip(&expected) {
        assert_eq!(*a, *b as f32);
    }
    let ps = ds.variable("ps").unwrap();
    assert_eq!(ps.level_kind, LevelKind::None);
    assert_eq!(ps.values[5], 1.0e5 + 0.05);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_era5_ensemble_regrids_onto_t21_keeping_members_times_levels_and_area_means() {
    use assim_data::regrid::{cell_area_mean, to_zarr};
    let dir = scratch("regrid");
    let out = dir.join("era5_t21.zarr");
    let ds = Dataset::open(data("era5-levels-members.grib")).unwrap();
    let grid = assim_core::grid::LatLonGrid::for_truncation(21).unwrap();
    to_zarr(&ds, &grid, &out, false).unwrap();
    // Written once: a second run without replace is refused and leaves it as it was.
    assert!(to_zarr(&ds, &grid, &out, false).is_err());
    let back = Dataset::open(&out).unwrap();
    assert_eq!(back.format, Format::Zarr(3));
    for name in ["t", "z"] {
        let (a, b) = (ds.variable(name).unwrap(), back.variable(name).unwrap());
        assert_eq!(b.standard_name, a.standard_name);
        assert_eq!(b.shape(), [10, 4, 2, grid.nlat(), grid.nlon()]);
        assert_eq!(
            (b.members.clone(), b.times.clone(), b.levels.clone()),
            (a.members.clone(), a.times.clone(), a.levels.clone())
        );
        // The remap conserves the area mean of every field (exact cell areas on both grids);
        // the store keeps f32, 6e-8 relative.
        for (m, t, l) in [(0, 0, 0), (9, 3, 1), (4, 2, 0)] {
            let source: Vec<f64> = a.horizontal(m, t, l).iter().map(|&v| v as f64).collect();
            let target: Vec<f64> = b.horizontal(m, t, l).iter().map(|&v| v as f64).collect();
            let (before, after) =
                (cell_area_mean(&a.latitudes, &source), cell_area_mean(&b.latitudes, &target));
            assert!(((before - after) / before).abs() < 2e-7, "{name} ({m},{t},{l}): {before} vs {after}");
        }
    }
    assert_eq!(back.variable("z").unwrap().units, "m2 s-2");
    // A regional field cannot be regridded onto a global model.
    let regional = Dataset::open(data("regional_t2m_msl.nc")).unwrap();
    let e = to_zarr(&regional, &grid, &dir.join("no.zarr"), false).unwrap_err();
    assert!(e.reason.contains("does not cover the globe"), "{e}");
    assert!(!dir.join("no.zarr").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn radiosonde_reports_read_from_bufr_as_ecmwf_decodes_them() {
    let r = assim_data::bufr::read(&data("temp.bufr")).unwrap();
    // ecCodes 2.50 walking the same messages' keys (a level per `pressure`, up to the
    // quality-information section): 420 reports, 26196 levels, 18742 temperatures, 16453
    // geopotentials (mean 96281.68054458154 m² s⁻²), 13758 winds with direction and speed, 415
    // temperatures at 500 hPa (mean 251.75879518072287 K).
    assert_eq!((r.messages, r.soundings.len(), r.skipped.len()), (420, 420, 0));
    let levels: Vec<_> = r.soundings.iter().flat_map(|s| &s.levels).collect();
    assert_eq!(levels.len(), 26_196);
    assert_eq!(levels.iter().filter(|l| l.temperature.is_some()).count(), 18_742);
    let z: Vec<f64> = levels.iter().filter_map(|l| l.geopotential).collect();
    assert_eq!(z.len(), 16_453);
    assert!((z.iter().sum::<f64>() / z.len() as f64 - 96_281.680_544_581_54).abs() < 1e-6);
    assert_eq!(
        levels.iter().filter(|l| l.wind_direction.is_some() && l.wind_speed.is_some()).count(),
        13_758
    );
    let t500: Vec<f64> =
        levels.iter().filter(|l| l.pressure == 50_000.0).filter_map(|l| l.temperature).collect();
    assert_eq!(t500.len(), 415);
    assert!((t500.iter().sum::<f64>() / 415.0 - 251.758_795_180_722_87).abs() < 1e-9);
    // The first report, as ecCodes prints it; its surface level has no wind (missing values).
    let s = &r.soundings[0];
    assert_eq!(s.station, "71907");
    // 58.47 and −78.08 as ecCodes prints them (5 decimal digits scaled: 1e-12 is the rounding).
    assert!((s.latitude - 58.47).abs() < 1e-12 && (s.longitude + 78.08).abs() < 1e-12);
    assert_eq!(assim_data::calendar::format_iso(s.time), "2008-12-08T12:00Z");
    assert_eq!(s.levels.len(), 24);
    let first = &s.levels[0];
    assert_eq!(
        (first.pressure, first.temperature, first.geopotential),
        (100_300.0, Some(258.3), Some(250.0))
    );
    assert!((first.dewpoint.unwrap() - 255.7).abs() < 1e-9);
    assert_eq!((first.wind_direction, first.wind_speed), (None, None));
}

#[test]
fn a_truncated_bufr_file_is_refused_naming_the_file_and_the_message() {
    let dir = scratch("bufr");
    let bytes = std::fs::read(data("temp.bufr")).unwrap();
    let path = dir.join("cut.bufr");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let e = assim_data::bufr::read(&path).unwrap_err();
    assert_eq!(e.path, path);
    assert!(e.reason.contains("message 420") && e.reason.contains("truncated"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn surface_station_reports_read_from_bufr_as_ecmwf_decodes_them() {
    let r = assim_data::bufr::read(&data("perf_synop.bufr")).unwrap();
    // ecCodes 2.50 on the same file: 15 824 messages, of which 7912 SYNOP reports (the others
    // are ECMWF's supplementary messages, led by 3-01-031 with local descriptors such as
    // 0-20-192 that tinybufr's tables lack: listed as not decoded). First occurrences of
    // nonCoordinatePressure, pressureReducedToMeanSeaLevel, airTemperatureAt2M,
    // dewpointTemperatureAt2M, windSpeedAt10M / windDirectionAt10M: counts and means below.
    assert_eq!((r.messages, r.surface.len(), r.skipped.len(), r.soundings.len()), (15_824, 7912, 7912, 0));
    assert!(r.skipped.iter().all(|(_, why)| why.contains("x: 20, y: 192")), "{:?}", &r.skipped[..2]);
    let s = &r.surface;
    check(
        mean(s.iter().filter_map(|x| x.pressure).collect()),
        (6649, 97_424.105_880_583_55),
        "station pressure",
    );
    check(
        mean(s.iter().filter_map(|x| x.msl_pressure).collect()),
        (6314, 101_824.303_135_888_5),
        "MSL pressure",
    );
    check(
        mean(s.iter().filter_map(|x| x.temperature).collect()),
        (7803, 285.441_740_356_273_2),
        "2 m temperature",
    );
    check(
        mean(s.iter().filter_map(|x| x.dewpoint).collect()),
        (7691, 279.587_062_800_676_05),
        "2 m dew point",
    );
    check(
        mean(s.iter().filter_map(|x| x.wind_speed).collect()),
        (7611, 3.304_559_190_645_119),
        "10 m wind speed",
    );
    check(
        mean(s.iter().filter_map(|x| x.wind_direction).collect()),
        (7611, 160.453_291_288_923_94),
        "10 m wind direction",
    );
    // The first report: station 40340 at 29.55° N 35° E, no station pressure (missing).
    let first = &s[0];
    assert_eq!(
        (first.station.as_str(), first.pressure, first.msl_pressure),
        ("40340", None, Some(101_310.0))
    );
    assert!((first.latitude - 29.55).abs() < 1e-12 && (first.longitude - 35.0).abs() < 1e-12);
    assert!((first.temperature.unwrap() - 304.4).abs() < 1e-9);
    assert_eq!(assim_data::calendar::format_iso(first.time), "2018-11-02T12:00Z");
}

/// The count and mean of `values`.
fn mean(values: Vec<f64>) -> (usize, f64) {
    (values.len(), values.iter().sum::<f64>() / values.len() as f64)
}

/// A count equal to ecCodes' and a mean within 1e-9 of it (both decoders unpack the same
/// integers into f64).
fn check((n, m): (usize, f64), (n_ref, m_ref): (usize, f64), what: &str) {
    assert_eq!(n, n_ref, "{what}: count");
    assert!((m - m_ref).abs() < 1e-9 * m_ref.abs().max(1.0), "{what}: mean {m} against {m_ref}");
}

/// The shipped radiosonde configuration, with its paths made absolute.
fn radiosonde_config() -> assim_data::crossval::CrossValConfig {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assim_data::crossval::CrossValConfig::load(&root.join("experiments/verify_real_radiosondes.toml"))
        .unwrap()
}

#[test]
fn real_radiosondes_go_into_the_era5_analysis_and_withheld_reports_verify_the_analysis() {
    use assim_data::crossval::{ReportQuantity, run};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let cfg = radiosonde_config();
    let report = run(&cfg, &root).unwrap();
    assert_eq!(report.background_time, "2007-01-01T12:00Z");
    assert_eq!(report.reports_time, "2008-12-08T12:00Z");
    // Independently of the module: every sounding with a 500 hPa temperature, its background
    // value by the core's bilinear interpolation on the same 1° grid (north first, poles
    // included), their mean departure.
    let reports = assim_data::bufr::read(&data("temp.bufr")).unwrap();
    let obs: Vec<(f64, f64, f64)> = reports
        .soundings
        .iter()
        .filter_map(|s| {
            let l = s.levels.iter().find(|l| (l.pressure - 50000.0).abs() < 1.0)?;
            Some((s.latitude, s.longitude, l.temperature?))
        })
        .collect();
    let ds = Dataset::open(data("test4.grib")).unwrap();
    let t = ds.variable("t").unwrap();
    let grid = assim_core::grid::LatLonGrid::equiangular(181, 360, true).unwrap();
    let field: Vec<f64> =
        t.horizontal(0, 0, t.level_index(50000.0).unwrap()).iter().map(|&v| v as f64).collect();
    // The South Pole station decodes as −90.00000000000001° (BUFR's scaled integer in f64).
    let points: Vec<(f64, f64)> = obs.iter().map(|o| (o.0.clamp(-90.0, 90.0), o.1)).collect();
    let hb = assim_core::grid::Bilinear::new(&grid, &points).unwrap().apply(&field);
    let omb = obs.iter().zip(&hb).map(|(o, b)| o.2 - b).sum::<f64>() / obs.len() as f64;
    let t500 = &report.quantities[0];
    assert_eq!(cfg.quantities[0].report, ReportQuantity::Temperature);
    assert_eq!(t500.name, "temperature_500hPa");
    assert_eq!(t500.reported, obs.len());
    assert_eq!(t500.omb.n + t500.rejected + t500.outside_grid, obs.len());
    assert_eq!(t500.rejected, 0);
    assert!((t500.omb.mean - omb).abs() < 1e-9, "O−B mean {} against {omb}", t500.omb.mean);
    // A background of another date: O−B is the weather of the day, several kelvin. The
    // analysis at L = 500 km, scored only where no report entered it, recovers more than half.
    for q in &report.quantities {
        let l500 = q.scales.iter().find(|s| s.length_scale_km == 500.0).unwrap();
        assert!(l500.oma_withheld.rms < 0.5 * q.omb.rms, "{}: {l500:?} against O−B {:?}", q.name, q.omb);
        // The fit to the reports assimilated is closer than to the withheld ones.
        assert!(l500.oma_fit.rms < l500.oma_withheld.rms, "{}", q.name);
    }
    let dir = scratch("crossval");
    let written = assim_data::crossval::write(&report, &dir).unwrap();
    let back: assim_data::crossval::CrossValReport =
        serde_json::from_str(&std::fs::read_to_string(&written[0]).unwrap()).unwrap();
    assert_eq!(back.quantities.len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_report_configuration_is_refused_naming_the_key_or_the_field() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let text = std::fs::read_to_string(root.join("verify_real_radiosondes.toml")).unwrap();
    let dir = scratch("crossval-bad");
    let load = |t: &str| {
        let p = dir.join("bad.toml");
        std::fs::write(&p, t).unwrap();
        assim_data::crossval::CrossValConfig::load(&p).map_err(|e| e.to_string())
    };
    // The other shipped configuration loads.
    assim_data::crossval::CrossValConfig::load(&root.join("verify_real_synop.toml")).unwrap();
    let e = load(&text.replace("folds = 10", "folds = 10\nfold = 3")).unwrap_err();
    assert!(e.contains("unknown field `fold`") && e.contains("bad.toml"), "{e}");
    let e = load(&text.replace("sigma_o = 1.0", "sigma_o = 0.0")).unwrap_err();
    assert!(e.contains("quantities.sigma_o"), "{e}");
    let e = load(&text.replace("folds = 10", "folds = 1")).unwrap_err();
    assert!(e.contains("analysis.folds"), "{e}");
    // A level the background does not have: the run names the file and the field.
    let mut cfg = radiosonde_config();
    cfg.quantities[0].level_hpa = Some(700.0);
    let e = assim_data::crossval::run(&cfg, &root).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("t"));
    assert!(e.reason.contains("700"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The shipped ERA5 ensemble experiment and its store.
fn experiments_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../experiments")
}

#[test]
fn the_shipped_era5_store_is_the_regrid_of_the_grib_file() {
    let dir = scratch("era5-store");
    let ds = Dataset::open(data("era5-levels-members.grib")).unwrap();
    let grid = assim_core::grid::LatLonGrid::for_truncation(21).unwrap();
    let out = dir.join("era5.zarr");
    assim_data::regrid::to_zarr(&ds, &grid, &out, false).unwrap();
    let again = assim_core::io::zarr::ZarrReader::open(&out).unwrap();
    let shipped =
        assim_core::io::zarr::ZarrReader::open(&experiments_dir().join("data/era5_eda_t21.zarr")).unwrap();
    for name in ["t", "z", "level", "lat", "lon", "time", "member"] {
        assert_eq!(again.read_all(name).unwrap(), shipped.read_all(name).unwrap(), "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn aircraft_reports_read_from_bufr_as_ecmwf_decodes_them() {
    let r = assim_data::bufr::read(&data("perf_aircraft.bufr")).unwrap();
    // ecCodes 2.50 on the same file (pdbufr's perf_aircraft.bufr): 6698 single-subset messages
    // of data category 4 (86 of subcategory 142, 6327 AIREP of 144, 285 AMDAR of 145); every one
    // decodes once ECMWF's local 0-01-201 is known. First occurrences of latitude, height,
    // pressure, airTemperature, windSpeed: counts and means below.
    assert_eq!((r.messages, r.aircraft.len(), r.skipped.len()), (6698, 6698, 0));
    let a = &r.aircraft;
    check(mean(a.iter().map(|x| x.latitude).collect()), (6698, 50.486_775_543_446_434), "latitude");
    check(mean(a.iter().filter_map(|x| x.height).collect()), (6413, 5_922.460_626_851_707), "height");
    check(mean(a.iter().filter_map(|x| x.pressure).collect()), (285, 44_547.614_035_087_72), "pressure");
    check(
        mean(a.iter().filter_map(|x| x.temperature).collect()),
        (6693, 247.603_391_603_160_02),
        "temperature",
    );
    check(
        mean(a.iter().filter_map(|x| x.wind_speed).collect()),
        (6637, 22.390_959_770_980_825),
        "wind speed",
    );
    // Every report has a height or a pressure (6413 + 285 = 6698 in ecCodes), so every one has
    // a pressure; a reported pressure is kept as it is.
    let with_pressure: Vec<f64> = a.iter().filter_map(|x| x.pressure_or_standard()).collect();
    assert_eq!(with_pressure.len(), 6698);
    let amdar = a.iter().find(|x| x.pressure.is_some()).unwrap();
    assert_eq!(amdar.pressure_or_standard(), amdar.pressure);
    assert_eq!((a[0].flight.as_str(), a[0].height), ("EU6349", Some(7620.0)));
    // Pressure altitude → pressure: the ICAO standard atmosphere's table (geopotential altitude,
    // five significant figures).
    for (h, p) in [(0.0, 101_325.0), (5000.0, 54_020.0), (11_000.0, 22_632.0), (20_000.0, 5474.9)] {
        let got = assim_data::bufr::standard_pressure(h);
        assert!((got - p).abs() < 5e-5 * p, "{h} m: {got} Pa against {p}");
    }
}

#[test]
fn a_global_background_takes_every_station_report_across_the_seam() {
    // GFS's 2.5° grid ends at 357.5°E: reports between it and 360° interpolate across the seam
    // (122 of the 6314 MSL-pressure reports were once dropped as "outside the grid" there).
    let ds = Dataset::open(data("gfs.t12z.pgrbf120.2p5deg.grib2")).unwrap();
    let msl = ds.variable("msl").unwrap();
    let field: Vec<f64> = msl.horizontal(0, 0, 0).iter().map(|&v| v as f64).collect();
    let at = assim_data::crossval::Bilinear::new(msl, &field);
    let r = assim_data::bufr::read(&data("perf_synop.bufr")).unwrap();
    let reports: Vec<_> = r.surface.iter().filter(|s| s.msl_pressure.is_some()).collect();
    assert_eq!(reports.len(), 6314);
    let seam = reports.iter().filter(|s| s.longitude.rem_euclid(360.0) > 357.5).count();
    assert!(seam > 0, "the file has reports across the seam");
    assert!(reports.iter().all(|s| at.at(s.latitude, s.longitude).is_some()));
}

/// Real reports into the multi-level bed's observation file (`assim data obs`): every TEMP level
/// at or below 50 hPa gives its temperature and, with a wind, both components; every aircraft
/// report its values at its (standard-atmosphere) pressure; the file is read back by a T21
/// experiment's `[observing] file` and accepted, and a run too short for its windows is refused.
#[test]
fn real_reports_become_the_observation_file_a_multi_level_experiment_reads() {
    use assim_data::observations::{ConvertOptions, convert, wind_components};
    let temp = assim_data::bufr::read(&data("temp.bufr")).unwrap();
    let start = assim_data::calendar::parse_iso("2008-12-08T06:00Z").unwrap();
    let opts = ConvertOptions { start, window_hours: 6.0, top_hpa: 50.0, max_station_height_m: 500.0 };
    let c = convert(std::slice::from_ref(&temp), &opts);
    let levels: Vec<_> = temp
        .soundings
        .iter()
        // Every report is placed, the South Pole's too (its −90.00000000000001 put on the pole).
        .filter(|s| s.time > start)
        .flat_map(|s| &s.levels)
        .filter(|l| l.pressure >= 5000.0)
        .collect();
    let count = |system: &str, quantity: &str| c.counts().get(&(system.into(), quantity.into())).copied();
    let n_t = levels.iter().filter(|l| l.temperature.is_some()).count();
    let n_w = levels.iter().filter(|l| l.wind_direction.is_some() && l.wind_speed.is_some()).count();
    assert_eq!(count("radiosonde", "air_temperature"), Some(n_t));
    assert_eq!(count("radiosonde", "eastward_wind"), Some(n_w));
    assert!(n_t > 15_000 && n_w > 11_000, "{n_t} {n_w}");
    assert!(c.records.iter().any(|r| r.row.lat == -90.0), "the South Pole's sounding");
    // The first report (71907, 12 UTC) as ecCodes prints it: 258.3 K at 1003 hPa, in the
    // window ending 6 h after 06 UTC.
    let first = &c.records[0];
    assert_eq!((first.time_hours, first.value, first.row.pressure), (6.0, 258.3, 100_300.0));
    assert!((first.row.lat - 58.47).abs() < 1e-12 && (first.row.lon - (360.0 - 78.08)).abs() < 1e-9);
    let windy = temp.soundings[0].levels.iter().find(|l| l.wind_speed.is_some_and(|s| s > 0.0)).unwrap();
    let (u, v) = wind_components(windy.wind_direction.unwrap(), windy.wind_speed.unwrap());
    let at = |q: &str| {
        c.records.iter().find(|r| r.row.quantity == q && r.row.pressure == windy.pressure).unwrap().value
    };
    assert_eq!((at("eastward_wind"), at("northward_wind")), (u, v));

    // Aircraft of 2009-01-23 12–15 UTC, all in the window ending 6 h after 09 UTC.
    let air = assim_data::bufr::read(&data("perf_aircraft.bufr")).unwrap();
    let opts_air =
        ConvertOptions { start: assim_data::calendar::parse_iso("2009-01-23T09:00Z").unwrap(), ..opts };
    let ca = convert(std::slice::from_ref(&air), &opts_air);
    let n_wind = air.aircraft.iter().filter(|a| a.wind_direction.is_some() && a.wind_speed.is_some()).count();
    assert_eq!(ca.counts().get(&("aircraft".into(), "air_temperature".into())), Some(&6693));
    assert_eq!(ca.counts().get(&("aircraft".into(), "northward_wind".into())), Some(&n_wind));
    assert!(ca.records.iter().all(|r| r.time_hours == 6.0 && r.row.pressure >= 5000.0));

    // The T21 L10 bed reads the file (its records on the run's first analysis time).
    let dir = scratch("obsfile");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("temp.csv");
    std::fs::write(&file, c.to_csv()).unwrap();
    let exp_dir = experiments_dir();
    let text = std::fs::read_to_string(exp_dir.join("pe_t21_osse.toml")).unwrap();
    let body = text.split("[observing]").next().unwrap();
    let methods = &text[text.find("[[methods]]").unwrap()..];
    let exp = format!("{body}[observing]\nfile = {:?}\n\n{methods}", file.to_str().unwrap());
    let parsed = assim_core::experiment::Experiment::parse_in(&exp, "real.toml", &exp_dir).unwrap();
    assert_eq!(parsed.bed.field_grid().unwrap().modalities, vec!["radiosonde".to_string()]);
    // Reports 6 h after the start need a run with an analysis at 6 h; one starting 6 h later
    // has its first at 12 h and refuses them.
    let later = c.to_csv().replace("\n6,", "\n3,");
    std::fs::write(&file, later).unwrap();
    let e =
        assim_core::experiment::Experiment::parse_in(&exp, "real.toml", &exp_dir).unwrap_err().to_string();
    assert!(e.contains("observing.file") && e.contains("not an analysis time"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
