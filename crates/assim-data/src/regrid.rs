//! Horizontal regridding onto a model grid: first-order conservative remapping between regular
//! (equiangular or Gaussian) latitude–longitude grids.
//!
//! Why conservative rather than spectral: a file's grid (3°, 1°, 0.25°, with or without pole
//! rows) is not a Gaussian grid, so a spectral analysis would need its own quadrature and
//! truncation per source; and a truncated expansion rings (Gibbs) near sharp fronts and
//! orography. Cell-overlap averaging keeps every area mean exactly (mass, energy, the global mean
//! temperature), works from coarser or finer grids alike, and needs no tuning. The spectral model
//! then projects the field onto its own truncation at the first step, which is where the
//! smoothing belongs.
//!
//! On regular grids the overlap of two cells is a product of a latitude-band overlap (in
//! sin φ, i.e. area) and a longitude overlap (periodic), so the remap is two sparse 1-D matrices:
//! `out[jt][it] = Σ_js Σ_is W_lat[jt][js] W_lon[it][is] in[js][is]`.

/// Sparse rows of a 1-D remapping matrix: for each target cell, (source cell, weight), the
/// weights of a row summing to 1.
pub type Weights = Vec<Vec<(usize, f64)>>;

/// Cell edges of a latitude axis (degrees, any order): midpoints between rows, the outer edges
/// at the poles. Returns (south, north) per row.
pub fn latitude_cells(lat: &[f64]) -> Vec<(f64, f64)> {
    let n = lat.len();
    let descending = n > 1 && lat[0] > lat[n - 1];
    // The outer rows reach the pole on their side.
    let (first_pole, last_pole) = if descending { (90.0, -90.0) } else { (-90.0, 90.0) };
    (0..n)
        .map(|j| {
            let before = if j > 0 { 0.5 * (lat[j - 1] + lat[j]) } else { first_pole };
            let after = if j + 1 < n { 0.5 * (lat[j] + lat[j + 1]) } else { last_pole };
            (before.min(after).max(-90.0), before.max(after).min(90.0))
        })
        .collect()
}

/// Cell edges of an equally spaced longitude axis covering the circle: (west, east) per column.
pub fn longitude_cells(lon: &[f64]) -> Vec<(f64, f64)> {
    let step = 360.0 / lon.len() as f64;
    lon.iter().map(|&l| (l - step / 2.0, l + step / 2.0)).collect()
}

/// Latitude weights: overlap of the bands in sin φ (their area) over the target band's.
pub fn latitude_weights(source: &[f64], target: &[f64]) -> Weights {
    let (s, t) = (latitude_cells(source), latitude_cells(target));
    let sin = |d: f64| d.to_radians().sin();
    t.iter()
        .map(|&(ts, tn)| {
            let area = sin(tn) - sin(ts);
            s.iter()
                .enumerate()
                .filter_map(|(k, &(ss, sn))| {
                    let (lo, hi) = (ts.max(ss), tn.min(sn));
                    (hi > lo).then(|| (k, (sin(hi) - sin(lo)) / area))
                })
                .collect()
        })
        .collect()
}

/// Longitude weights: periodic overlap of the columns over the target column's width.
pub fn longitude_weights(source: &[f64], target: &[f64]) -> Weights {
    let (s, t) = (longitude_cells(source), longitude_cells(target));
    t.iter()
        .map(|&(tw, te)| {
            let width = te - tw;
            let mut row: Vec<(usize, f64)> = Vec::new();
            for (k, &(sw, se)) in s.iter().enumerate() {
                let overlap: f64 = (-2..=2)
                    .map(|turn| {
                        let shift = 360.0 * turn as f64;
                        ((te).min(se + shift) - tw.max(sw + shift)).max(0.0)
                    })
                    .sum();
                if overlap > 0.0 {
                    row.push((k, overlap / width));
                }
            }
            row
        })
        .collect()
}

/// A conservative remap from one regular grid to another, built once and applied to every field.
#[derive(Debug, Clone)]
pub struct Conservative {
    source_axes: (Vec<f64>, Vec<f64>),
    lat: Weights,
    lon: Weights,
    source_shape: (usize, usize),
    target_shape: (usize, usize),
}

impl Conservative {
    /// The remap from a grid of `source_lat` × `source_lon` to `target_lat` × `target_lon`
    /// (degrees; longitudes equally spaced over the whole circle).
    pub fn new(source_lat: &[f64], source_lon: &[f64], target_lat: &[f64], target_lon: &[f64]) -> Self {
        Self {
            source_axes: (source_lat.to_vec(), source_lon.to_vec()),
            lat: latitude_weights(source_lat, target_lat),
            lon: longitude_weights(source_lon, target_lon),
            source_shape: (source_lat.len(), source_lon.len()),
            target_shape: (target_lat.len(), target_lon.len()),
        }
    }

    /// Whether this remap starts from the grid of these axes.
    pub fn starts_from(&self, lat: &[f64], lon: &[f64]) -> bool {
        self.source_axes.0 == lat && self.source_axes.1 == lon
    }

    /// Remaps one field `[lat][lon]` of the source grid onto the target grid.
    pub fn apply(&self, field: &[f32]) -> Vec<f64> {
        let ((sy, sx), (ty, tx)) = (self.source_shape, self.target_shape);
        assert_eq!(field.len(), sy * sx, "field of the source grid");
        // Along longitude, every source row; then along latitude.
        let mut rows = vec![0.0f64; sy * tx];
        for j in 0..sy {
            let src = &field[j * sx..(j + 1) * sx];
            for (i, w) in self.lon.iter().enumerate() {
                rows[j * tx + i] = w.iter().map(|&(k, w)| w * src[k] as f64).sum();
            }
        }
        let mut out = vec![0.0f64; ty * tx];
        for (j, w) in self.lat.iter().enumerate() {
            for &(k, wk) in w {
                for i in 0..tx {
                    out[j * tx + i] += wk * rows[k * tx + i];
                }
            }
        }
        out
    }
}

/// Area-weighted mean of a field `[lat][lon]` with the exact cell areas of [`latitude_cells`]:
/// the quantity conservative remapping preserves.
pub fn cell_area_mean(lat: &[f64], field: &[f64]) -> f64 {
    let nx = field.len() / lat.len();
    let sin = |d: f64| d.to_radians().sin();
    let (mut sum, mut area) = (0.0, 0.0);
    for (row, (s, n)) in field.chunks(nx).zip(latitude_cells(lat)) {
        let a = sin(n) - sin(s);
        sum += a * row.iter().sum::<f64>();
        area += a * nx as f64;
    }
    sum / area
}

/// What [`to_zarr`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The store.
    pub path: std::path::PathBuf,
    /// (name, shape) of each variable written.
    pub variables: Vec<(String, Vec<usize>)>,
}

/// Regrids every variable of `ds` onto `grid` and writes a CF Zarr store at `out`, keeping every
/// member, time and level: variables `[member][time][level][lat][lon]` (no level axis for
/// single-level fields), coordinates `member`, `time`, `level` (Pa, `air_pressure`), `lat`,
/// `lon`. The store is written under a temporary name and moved into place when complete.
pub fn to_zarr(
    ds: &crate::Dataset,
    grid: &assim_core::grid::LatLonGrid,
    out: &std::path::Path,
    replace: bool,
) -> crate::error::Result<Written> {
    use crate::error::DataError;
    use crate::field::LevelKind;
    use assim_core::io::zarr::{GriddedZarrWriter, Precision};
    use serde_json::{Map, Value, json};
    let first = &ds.variables[0];
    for v in &ds.variables {
        v.require_global(&ds.path)?;
        if v.times != first.times {
            return Err(DataError::field(
                &ds.path,
                &v.name,
                "has other times than the first variable: one store keeps one time axis",
            ));
        }
        if v.members != first.members {
            return Err(DataError::field(&ds.path, &v.name, "has other members than the first variable"));
        }
    }
    let out_err = |e: assim_core::AssimError| DataError::file(out, e.to_string());
    let target_lat = grid.lat_degrees();
    let target_lon = grid.lon_degrees();
    let mut global = Map::new();
    global.insert("Conventions".into(), json!("CF-1.8"));
    global.insert("source".into(), json!(ds.path.display().to_string()));
    global.insert(
        "history".into(),
        json!(format!(
            "assim data regrid: first-order conservative remap of {} onto a {}×{} Gaussian grid",
            ds.format.describe(),
            grid.nlat(),
            grid.nlon()
        )),
    );
    let mut w = GriddedZarrWriter::create(out, replace, grid, first.times.len(), &[], Precision::F32, global)
        .map_err(out_err)?;
    let origin = crate::calendar::epoch_seconds(2000, 1, 1, 0, 0, 0);
    for (k, &t) in first.times.iter().enumerate() {
        w.write_slice(k, (t - origin) as f64 / 3600.0, &[]).map_err(out_err)?;
    }
    let attrs = |pairs: Value| pairs.as_object().cloned().unwrap_or_default();
    let members: Vec<f64> = first.members.iter().map(|&m| m as f64).collect();
    w.write_array(
        "member",
        &["member"],
        &members,
        attrs(json!({"standard_name": "realization", "long_name": "ensemble member", "units": "1"})),
    )
    .map_err(out_err)?;
    // One level coordinate when every levelled variable shares its levels, else one per variable.
    let levelled: Vec<_> = ds.variables.iter().filter(|v| v.level_kind != LevelKind::None).collect();
    let shared =
        levelled.windows(2).all(|p| p[0].levels == p[1].levels && p[0].level_kind == p[1].level_kind);
    let level_attrs = |kind: &LevelKind| match kind {
        LevelKind::Pressure => attrs(
            json!({"standard_name": "air_pressure", "long_name": "pressure", "units": "Pa", "positive": "down", "axis": "Z"}),
        ),
        LevelKind::Sigma => attrs(
            json!({"standard_name": "atmosphere_sigma_coordinate", "units": "1", "positive": "down", "axis": "Z"}),
        ),
        other => attrs(json!({"long_name": format!("{other:?}"), "units": other.unit()})),
    };
    if shared && let Some(v) = levelled.first() {
        w.write_array("level", &["level"], &v.levels, level_attrs(&v.level_kind)).map_err(out_err)?;
    }
    let mut written = Vec::new();
    let mut remaps: Vec<Conservative> = Vec::new();
    for v in &ds.variables {
        let remap = match remaps.iter().position(|r| r.starts_from(&v.latitudes, &v.longitudes)) {
            Some(i) => &remaps[i],
            None => {
                remaps.push(Conservative::new(&v.latitudes, &v.longitudes, &target_lat, &target_lon));
                remaps.last().expect("just pushed")
            }
        };
        let [nm, nt, nl, _, _] = v.shape();
        let mut data = Vec::with_capacity(nm * nt * nl * grid.len());
        for m in 0..nm {
            for t in 0..nt {
                for l in 0..nl {
                    data.extend(remap.apply(v.horizontal(m, t, l)));
                }
            }
        }
        let level_dim = if shared { "level".to_string() } else { format!("level_{}", v.name) };
        if !shared && v.level_kind != LevelKind::None {
            w.write_array(&level_dim, &[level_dim.as_str()], &v.levels, level_attrs(&v.level_kind))
                .map_err(out_err)?;
        }
        let (dims, shape): (Vec<&str>, Vec<usize>) = if v.level_kind == LevelKind::None {
            (vec!["member", "time", "lat", "lon"], vec![nm, nt, grid.nlat(), grid.nlon()])
        } else {
            (
                vec!["member", "time", level_dim.as_str(), "lat", "lon"],
                vec![nm, nt, nl, grid.nlat(), grid.nlon()],
            )
        };
        let mut a = Map::new();
        if let Some(s) = &v.standard_name {
            a.insert("standard_name".into(), json!(s));
        }
        if let Some(l) = &v.long_name {
            a.insert("long_name".into(), json!(l));
        }
        a.insert("units".into(), json!(v.units.replace("**", "")));
        w.write_array_nd(&v.name, &dims, &shape, &data, a).map_err(out_err)?;
        written.push((v.name.clone(), shape));
    }
    let path = w.finish().map_err(out_err)?;
    Ok(Written { path, variables: written })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(n: usize, first: f64, step: f64) -> Vec<f64> {
        (0..n).map(|k| first + step * k as f64).collect()
    }

    #[test]
    fn weights_tile_the_sphere_and_rows_sum_to_one() {
        // A 3° grid with pole rows (ERA5's) onto T21's Gaussian grid, and the reverse.
        let (slat, slon) = (axis(61, 90.0, -3.0), axis(120, 0.0, 3.0));
        let t21 = assim_core::grid::LatLonGrid::for_truncation(21).unwrap();
        let (tlat, tlon) = (t21.lat_degrees(), t21.lon_degrees());
        for (a, b) in [(&slat, &tlat), (&tlat, &slat)] {
            for row in latitude_weights(a, b) {
                assert!((row.iter().map(|w| w.1).sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
        for (a, b) in [(&slon, &tlon), (&tlon, &slon)] {
            for row in longitude_weights(a, b) {
                assert!((row.iter().map(|w| w.1).sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
        let cells = latitude_cells(&slat);
        assert_eq!((cells[0], cells[60]), ((88.5, 90.0), (-90.0, -88.5)));
    }

    /// The exact area average over the cell [φ0, φ1] × [λ0, λ1] (degrees) of
    /// f = 250 + 30 cos²φ + 5 sin φ cos 3λ, from its antiderivatives.
    fn cell_average(p0: f64, p1: f64, l0: f64, l1: f64) -> f64 {
        let (s0, s1) = (p0.to_radians().sin(), p1.to_radians().sin());
        let (l0r, l1r) = (l0.to_radians(), l1.to_radians());
        let dl = l1r - l0r;
        let area = (s1 - s0) * dl;
        let smooth = 250.0 * area
            + 30.0 * ((s1 - s1.powi(3) / 3.0) - (s0 - s0.powi(3) / 3.0)) * dl
            + 5.0 * (s1 * s1 - s0 * s0) / 2.0 * ((3.0 * l1r).sin() - (3.0 * l0r).sin()) / 3.0;
        smooth / area
    }

    #[test]
    fn the_remap_keeps_cell_averages_within_its_first_order_bound_and_area_means_exactly() {
        // ERA5's 1° grid onto T42's Gaussian grid; the source holds the exact cell averages of
        // a field with waves. First-order conservative remapping treats each source cell as
        // constant, so where a target edge cuts a source cell it takes the whole cell's average
        // for the cut part: per edge at most |∂f| Δs/2 × Δs/Δt (offset of the centres × the cut
        // part's share of the target cell), two edges per direction, |∂φ f| ≤ 35 and
        // |∂λ f| ≤ 15 per radian: Δs²/Δt × 50 ≈ 0.31 K. A weight off by one source cell would
        // err by Δs |∂f| ≈ 0.6 K, a shifted target cell by Δt |∂f| ≈ 1.7 K.
        let (slat, slon) = (axis(181, 90.0, -1.0), axis(360, 0.0, 1.0));
        let t42 = assim_core::grid::LatLonGrid::for_truncation(42).unwrap();
        let (tlat, tlon) = (t42.lat_degrees(), t42.lon_degrees());
        let remap = Conservative::new(&slat, &slon, &tlat, &tlon);
        let average_on = |lat: &[f64], lon: &[f64]| -> Vec<f64> {
            let (lc, oc) = (latitude_cells(lat), longitude_cells(lon));
            lc.iter().flat_map(|&(a, b)| oc.iter().map(move |&(c, d)| cell_average(a, b, c, d))).collect()
        };
        let source = average_on(&slat, &slon);
        let field: Vec<f32> = source.iter().map(|&v| v as f32).collect();
        let out = remap.apply(&field);
        let expected = average_on(&tlat, &tlon);
        let (ds, dt) = (1f64.to_radians(), (360.0 / tlon.len() as f64).to_radians());
        let bound = ds * ds / dt * 50.0;
        let worst = out.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < bound, "remap off the exact cell averages by {worst} K (bound {bound})");
        // Area means: conserved to the same precision.
        let f64_source: Vec<f64> = field.iter().map(|&v| v as f64).collect();
        let (before, after) = (cell_area_mean(&slat, &f64_source), cell_area_mean(&tlat, &out));
        assert!((before - after).abs() < 1e-9 * before, "{before} vs {after}");
        // A constant stays the constant.
        let ones = remap.apply(&vec![1.0f32; field.len()]);
        assert!(ones.iter().all(|v| (v - 1.0).abs() < 1e-12));
    }
}
