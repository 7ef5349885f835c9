//! Pressure levels to the models' σ levels and back: linear interpolation in ln p within the
//! column, the standard 6.5 K/km lapse rate for temperature below the lowest level a file has
//! (ECMWF's and NCEP's usual extrapolation underground), the nearest level's value elsewhere.
//! σ levels need the column's surface pressure: p_k = σ_k p_s (the bed's σ coordinate has its
//! top at p = 0).

use crate::error::{DataError, Result};
use crate::field::{LevelKind, Variable};

/// Dry-air gas constant (J kg⁻¹ K⁻¹) and gravity (m s⁻²), for the lapse-rate extrapolation.
const R_DRY: f64 = 287.04;
const GRAVITY: f64 = 9.806_65;
/// The standard atmosphere's lapse rate, K m⁻¹.
pub const STANDARD_LAPSE_RATE: f64 = 0.0065;

/// What a column does below (at higher pressure than) its lowest level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Below {
    /// Keep the lowest level's value (winds, humidity).
    Constant,
    /// Temperature along a constant lapse rate γ (K m⁻¹): T = T_b (p / p_b)^(R γ / g).
    Lapse(f64),
}

/// One column from pressures `source` (Pa, any order, distinct) to pressures `target`: linear in
/// ln p inside, the top level's value above, `below` underneath.
pub fn interpolate_column(source: &[f64], values: &[f64], target: &[f64], below: Below) -> Vec<f64> {
    assert_eq!(source.len(), values.len(), "one value per source level");
    let mut order: Vec<usize> = (0..source.len()).collect();
    order.sort_by(|&a, &b| source[a].total_cmp(&source[b]));
    let (p, v): (Vec<f64>, Vec<f64>) = order.iter().map(|&k| (source[k], values[k])).unzip();
    let n = p.len();
    target
        .iter()
        .map(|&q| {
            if q <= p[0] {
                v[0]
            } else if q >= p[n - 1] {
                match below {
                    Below::Constant => v[n - 1],
                    Below::Lapse(gamma) => v[n - 1] * (q / p[n - 1]).powf(R_DRY * gamma / GRAVITY),
                }
            } else {
                let k = p.partition_point(|&x| x < q).max(1);
                let w = (q.ln() - p[k - 1].ln()) / (p[k].ln() - p[k - 1].ln());
                v[k - 1] + w * (v[k] - v[k - 1])
            }
        })
        .collect()
}

/// A variable on pressure levels moved onto σ levels with the surface pressure `ps` (a
/// single-level variable in Pa on the same grid, members and times). Temperature
/// (`air_temperature`) extrapolates underground along the standard lapse rate, anything else
/// keeps its lowest level.
pub fn to_sigma(var: &Variable, ps: &Variable, sigma: &[f64], path: &std::path::Path) -> Result<Variable> {
    if var.level_kind != LevelKind::Pressure {
        return Err(DataError::field(path, &var.name, "is not on pressure levels"));
    }
    remap(
        var,
        ps,
        path,
        (LevelKind::Sigma, sigma),
        |_| var.levels.clone(),
        |p_s| sigma.iter().map(|s| s * p_s).collect(),
    )
}

/// Back for output: a variable on σ levels moved onto the pressures `pressures` (Pa) with the
/// surface pressure `ps`; underground, temperature follows the standard lapse rate below the
/// lowest σ level and anything else keeps that level's value, as in [`to_sigma`].
pub fn to_pressure(
    var: &Variable,
    ps: &Variable,
    pressures: &[f64],
    path: &std::path::Path,
) -> Result<Variable> {
    if var.level_kind != LevelKind::Sigma {
        return Err(DataError::field(path, &var.name, "is not on σ levels"));
    }
    remap(
        var,
        ps,
        path,
        (LevelKind::Pressure, pressures),
        |p_s| var.levels.iter().map(|s| s * p_s).collect(),
        |_| pressures.to_vec(),
    )
}

/// Every column of `var` from the pressures `source(p_s)` to `target(p_s)`, the result on the
/// levels `out`.
fn remap(
    var: &Variable,
    ps: &Variable,
    path: &std::path::Path,
    out: (LevelKind, &[f64]),
    source: impl Fn(f64) -> Vec<f64>,
    target: impl Fn(f64) -> Vec<f64>,
) -> Result<Variable> {
    let [nm, nt, nl, ny, nx] = var.shape();
    if ps.shape() != [nm, nt, 1, ny, nx] || ps.latitudes != var.latitudes || ps.longitudes != var.longitudes {
        return Err(DataError::field(
            path,
            &ps.name,
            format!(
                "surface pressure of shape {:?} (grid {}×{}) does not match {} of shape {:?}",
                ps.shape(),
                ps.latitudes.len(),
                ps.longitudes.len(),
                var.name,
                var.shape()
            ),
        ));
    }
    if ps.units != "Pa" {
        return Err(DataError::field(
            path,
            &ps.name,
            format!("surface pressure in `{}`, expected Pa", ps.units),
        ));
    }
    let below = if var.standard_name.as_deref() == Some("air_temperature") {
        Below::Lapse(STANDARD_LAPSE_RATE)
    } else {
        Below::Constant
    };
    let n = ny * nx;
    let nout = out.1.len();
    let mut values = vec![0.0f32; nm * nt * nout * n];
    let mut column = vec![0.0f64; nl];
    for m in 0..nm {
        for t in 0..nt {
            let surface = ps.horizontal(m, t, 0);
            for point in 0..n {
                for (l, c) in column.iter_mut().enumerate() {
                    *c = var.horizontal(m, t, l)[point] as f64;
                }
                let p_s = surface[point] as f64;
                let remapped = interpolate_column(&source(p_s), &column, &target(p_s), below);
                for (k, v) in remapped.into_iter().enumerate() {
                    values[((m * nt + t) * nout + k) * n + point] = v as f32;
                }
            }
        }
    }
    Ok(Variable { level_kind: out.0, levels: out.1.to_vec(), values, ..var.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_linear_in_log_pressure_is_kept_inside_and_the_standard_atmosphere_below() {
        // T = 288.15 (p / 101325)^(Rγ/g): linear in ln p only in ln T, so test both parts.
        let exponent = R_DRY * STANDARD_LAPSE_RATE / GRAVITY;
        let standard = |p: f64| 288.15 * (p / 101_325.0).powf(exponent);
        let source = [85_000.0, 50_000.0, 70_000.0];
        let values: Vec<f64> = source.iter().map(|&p| standard(p)).collect();
        // Below the lowest level the standard atmosphere is reproduced exactly.
        let out =
            interpolate_column(&source, &values, &[95_000.0, 101_325.0], Below::Lapse(STANDARD_LAPSE_RATE));
        assert!((out[0] - standard(95_000.0)).abs() < 1e-10);
        assert!((out[1] - 288.15).abs() < 1e-10);
        // A field linear in ln p is reproduced exactly between levels; above the top it is held.
        let linear = |p: f64| 10.0 + 3.0 * (p / 1.0e5).ln();
        let values: Vec<f64> = source.iter().map(|&p| linear(p)).collect();
        let out =
            interpolate_column(&source, &values, &[60_000.0, 80_000.0, 30_000.0, 90_000.0], Below::Constant);
        assert!((out[0] - linear(60_000.0)).abs() < 1e-12);
        assert!((out[1] - linear(80_000.0)).abs() < 1e-12);
        assert_eq!(out[2], linear(50_000.0));
        assert_eq!(out[3], linear(85_000.0));
    }

    #[test]
    fn a_variable_moves_onto_sigma_levels_with_its_surface_pressure() {
        let field = |levels: Vec<f64>, kind: LevelKind, values: Vec<f32>, name: &str, units: &str| Variable {
            name: name.into(),
            standard_name: Some(if name == "t" { "air_temperature" } else { "surface_air_pressure" }.into()),
            long_name: None,
            units: units.into(),
            members: vec![0],
            times: vec![0],
            level_kind: kind,
            levels,
            latitudes: vec![45.0, -45.0],
            longitudes: vec![0.0, 180.0],
            values,
        };
        let levels = vec![50_000.0, 85_000.0];
        // T = 200 + 10 ln(p/50000) at every point: linear in ln p.
        let t_at = |p: f64| 200.0 + 10.0 * (p / 50_000.0).ln();
        let t = field(
            levels.clone(),
            LevelKind::Pressure,
            [t_at(5e4); 4].into_iter().chain([t_at(8.5e4); 4]).map(|v| v as f32).collect(),
            "t",
            "K",
        );
        let ps = field(vec![0.0], LevelKind::None, vec![100_000.0, 80_000.0, 60_000.0, 90_000.0], "sp", "Pa");
        let sigma = [0.7, 0.9];
        let out = to_sigma(&t, &ps, &sigma, std::path::Path::new("x")).unwrap();
        assert_eq!(out.shape(), [1, 1, 2, 2, 2]);
        assert_eq!(out.level_kind, LevelKind::Sigma);
        for point in 0..4 {
            let p_s = ps.values[point] as f64;
            for (k, s) in sigma.iter().enumerate() {
                let p = s * p_s;
                let expected = if p > 85_000.0 {
                    t_at(85_000.0) * (p / 85_000.0).powf(R_DRY * STANDARD_LAPSE_RATE / GRAVITY)
                } else {
                    t_at(p.max(50_000.0))
                };
                let got = out.horizontal(0, 0, k)[point] as f64;
                assert!((got - expected).abs() < 1e-4, "point {point}, σ {s}: {got} vs {expected}");
            }
        }
        // And back: where the σ levels span the pressures asked for (p_s = 1000 hPa: σ 0.5–0.9
        // is 500–900 hPa), the ln-p-linear profile returns exactly.
        let sigma5 = [0.5, 0.6, 0.7, 0.8, 0.9];
        let on_sigma = to_sigma(&t, &ps, &sigma5, std::path::Path::new("x")).unwrap();
        let back = to_pressure(&on_sigma, &ps, &[55_000.0, 75_000.0], std::path::Path::new("x")).unwrap();
        assert_eq!(back.level_kind, LevelKind::Pressure);
        for (k, p) in [55_000.0, 75_000.0].into_iter().enumerate() {
            let got = back.horizontal(0, 0, k)[0] as f64;
            assert!((got - t_at(p)).abs() < 1e-4, "{p} Pa: {got} vs {}", t_at(p));
        }
        assert!(to_pressure(&t, &ps, &[5e4], std::path::Path::new("x")).is_err(), "not on σ levels");
        // A surface pressure on another grid is refused, naming it.
        let mut other = ps.clone();
        other.latitudes = vec![30.0, -30.0];
        let e = to_sigma(&t, &other, &sigma, std::path::Path::new("x")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("sp"));
    }
}
