//! Observation records on the sphere (ragged, not gridded) and their CSV file.
//!
//! The file (documented in `docs/osse.md`) has one header line and one record per
//! line: `time_hours,lat,lon,variable,value,sigma,source,footprint_km`, and a ninth column
//! `pressure_hpa` when the records have levels (a multi-level bed's radiosondes; empty for a
//! single-level record). Loading checks every field and names the first bad record.

use std::fmt::Write as _;
use std::path::Path;

use super::SparseLinear;
use crate::AssimError;
use crate::grid::{Bilinear, LatLonGrid};

/// The header line of an observation file.
pub const CSV_HEADER: &str = "time_hours,lat,lon,variable,value,sigma,source,footprint_km";

/// The header line of an observation file whose records have pressure levels.
pub const CSV_HEADER_LEVELS: &str =
    "time_hours,lat,lon,variable,value,sigma,source,footprint_km,pressure_hpa";

/// A state variable of the shallow-water bed, in state order `(variable, lat, lon)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variable {
    /// Geopotential of the free surface (m² s⁻²).
    Geopotential,
    /// Eastward wind (m s⁻¹).
    EastwardWind,
    /// Northward wind (m s⁻¹).
    NorthwardWind,
}

impl Variable {
    /// Every variable, in state order.
    pub const ALL: [Variable; 3] = [Variable::Geopotential, Variable::EastwardWind, Variable::NorthwardWind];

    /// The CF name (also the name in files and configs).
    pub fn name(self) -> &'static str {
        match self {
            Variable::Geopotential => "geopotential",
            Variable::EastwardWind => "eastward_wind",
            Variable::NorthwardWind => "northward_wind",
        }
    }

    /// UDUNITS units.
    pub fn units(self) -> &'static str {
        match self {
            Variable::Geopotential => "m2 s-2",
            _ => "m s-1",
        }
    }

    /// Position in the state.
    pub fn index(self) -> usize {
        Variable::ALL.iter().position(|&v| v == self).expect("listed")
    }

    /// The variable of a CF name, or an error listing the known ones.
    pub fn parse(name: &str) -> Result<Variable, String> {
        Variable::ALL.iter().copied().find(|v| v.name() == name).ok_or_else(|| {
            format!("unknown variable {name:?}: use geopotential, eastward_wind or northward_wind")
        })
    }
}

/// Where an observation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fixed surface station (bilinear interpolation).
    Station,
    /// A polar-orbiter footprint (an average over a disk).
    Satellite,
    /// A point of the model grid (a subsample).
    Gridded,
}

impl Source {
    /// The name in files.
    pub fn name(self) -> &'static str {
        match self {
            Source::Station => "station",
            Source::Satellite => "satellite",
            Source::Gridded => "gridded",
        }
    }

    fn parse(s: &str) -> Result<Source, String> {
        [Source::Station, Source::Satellite, Source::Gridded]
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown source {s:?}: use station, satellite or gridded"))
    }
}

/// One observation: where, when, what, how accurate.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Valid time, hours from the start of the experiment (its analysis time).
    pub time_hours: f64,
    /// Latitude (degrees north, −90..90).
    pub lat: f64,
    /// Longitude (degrees east).
    pub lon: f64,
    /// The observed variable.
    pub variable: Variable,
    /// The observed value (SI units of the variable).
    pub value: f64,
    /// Observation-error standard deviation (> 0).
    pub sigma: f64,
    /// The platform.
    pub source: Source,
    /// Diameter (km) of the disk the value averages over; 0 for a point value.
    pub footprint_km: f64,
    /// The pressure level (hPa) of a multi-level observation; `None` for a single-level one.
    pub pressure_hpa: Option<f64>,
}

/// Refuses records with pressure levels on a single-layer bed, naming the first.
pub fn require_single_layer(records: &[Observation]) -> Result<(), String> {
    match records.iter().position(|r| r.pressure_hpa.is_some()) {
        Some(i) => Err(format!(
            "record {i} is at {} hPa: the shallow-water bed has a single layer (observations with pressure \
             levels belong to the primitive-equation bed)",
            records[i].pressure_hpa.unwrap_or_default()
        )),
        None => Ok(()),
    }
}

/// Mean Earth radius for distances on the ground (km).
pub const EARTH_RADIUS_KM: f64 = 6371.22;

/// The point at great-circle distance `dist` (radians) from (`lat`, `lon`) (radians) along
/// `bearing` (radians clockwise from north).
pub fn destination(lat: f64, lon: f64, bearing: f64, dist: f64) -> (f64, f64) {
    let (sl, cl) = lat.sin_cos();
    let (sd, cd) = dist.sin_cos();
    let lat2 = (sl * cd + cl * sd * bearing.cos()).clamp(-1.0, 1.0).asin();
    let lon2 = lon + (bearing.sin() * sd * cl).atan2(cd - sl * lat2.sin());
    (lat2, lon2)
}

/// The linear operator of a list of records on a grid state `(variable, lat, lon)`: point
/// values by bilinear interpolation, footprints by the mean of seven bilinear values (the
/// centre and six points on the ring at half the footprint radius).
pub fn operator(grid: &LatLonGrid, records: &[Observation]) -> Result<SparseLinear, AssimError> {
    require_single_layer(records).map_err(AssimError::Input)?;
    let g = grid.len();
    let mut points = Vec::new();
    let mut stencil = Vec::with_capacity(records.len());
    for r in records {
        let first = points.len();
        points.push((r.lat, r.lon));
        if r.footprint_km > 0.0 {
            let d = 0.25 * r.footprint_km / EARTH_RADIUS_KM;
            for k in 0..6 {
                let (la, lo) = destination(
                    r.lat.to_radians(),
                    r.lon.to_radians(),
                    k as f64 * std::f64::consts::PI / 3.0,
                    d,
                );
                points.push((la.to_degrees(), lo.to_degrees()));
            }
        }
        stencil.push(first..points.len());
    }
    let w = Bilinear::new(grid, &points)?;
    let mut op = SparseLinear::new(Variable::ALL.len() * g);
    for (r, pts) in records.iter().zip(stencil) {
        let off = r.variable.index() * g;
        let scale = 1.0 / pts.len() as f64;
        let mut row: Vec<(usize, f64)> = Vec::new();
        for p in pts {
            let (idx, wt) = w.row(p);
            row.extend(idx.iter().zip(wt).map(|(&i, &x)| (off + i, x * scale)));
        }
        op.push_row(row);
    }
    Ok(op)
}

/// Writes records as CSV text (see the module documentation).
pub fn to_csv(records: &[Observation]) -> String {
    let levels = records.iter().any(|r| r.pressure_hpa.is_some());
    let mut s = String::with_capacity(64 * (records.len() + 1));
    s.push_str(if levels { CSV_HEADER_LEVELS } else { CSV_HEADER });
    s.push('\n');
    for r in records {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{}",
            r.time_hours,
            r.lat,
            r.lon,
            r.variable.name(),
            r.value,
            r.sigma,
            r.source.name(),
            r.footprint_km
        );
        if levels {
            s.push(',');
            if let Some(p) = r.pressure_hpa {
                let _ = write!(s, "{p}");
            }
        }
        s.push('\n');
    }
    s
}

/// Writes an observation file atomically.
pub fn write_csv(path: &Path, records: &[Observation]) -> Result<(), AssimError> {
    crate::io::write_atomic(path, to_csv(records).as_bytes())
}

/// Reads and validates an observation file: every record is checked (finite time and value,
/// latitude in [−90, 90], finite longitude, known variable and source, σ > 0, footprint ≥ 0).
pub fn read_csv(path: &Path) -> Result<Vec<Observation>, AssimError> {
    crate::io::parse_text_file(path, parse_csv)
}

/// Parses observation CSV text; the error names the record and its line.
pub fn parse_csv(text: &str) -> Result<Vec<Observation>, String> {
    let mut lines = text.lines().enumerate();
    let levels = match lines.next() {
        Some((_, h)) if h.trim() == CSV_HEADER => false,
        Some((_, h)) if h.trim() == CSV_HEADER_LEVELS => true,
        Some((_, h)) => {
            return Err(format!("line 1: header {h:?} is neither {CSV_HEADER:?} nor {CSV_HEADER_LEVELS:?}"));
        }
        None => return Err("empty file: no header".into()),
    };
    let n_fields = if levels { 9 } else { 8 };
    let header = if levels { CSV_HEADER_LEVELS } else { CSV_HEADER };
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let rec = out.len();
        let at = |msg: String| format!("record {rec} (line {}): {msg}", i + 1);
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != n_fields {
            return Err(at(format!("{} fields, expected {n_fields} ({header})", f.len())));
        }
        let num = |k: usize, name: &str| -> Result<f64, String> {
            let v: f64 = f[k].parse().map_err(|_| at(format!("{name} {:?} is not a number", f[k])))?;
            if v.is_finite() { Ok(v) } else { Err(at(format!("{name} is not finite ({v})"))) }
        };
        let time_hours = num(0, "time_hours")?;
        let lat = num(1, "lat")?;
        if lat.abs() > 90.0 {
            return Err(at(format!("latitude {lat} is outside [-90, 90]")));
        }
        let lon = num(2, "lon")?;
        let variable = Variable::parse(f[3]).map_err(at)?;
        let value = num(4, "value")?;
        let sigma = num(5, "sigma")?;
        if sigma <= 0.0 {
            return Err(at(format!("sigma must be > 0 (got {sigma})")));
        }
        let source = Source::parse(f[6]).map_err(at)?;
        let footprint_km = num(7, "footprint_km")?;
        if footprint_km < 0.0 {
            return Err(at(format!("footprint_km must be ≥ 0 (got {footprint_km})")));
        }
        let pressure_hpa = if levels && !f[8].is_empty() {
            let p = num(8, "pressure_hpa")?;
            if p <= 0.0 {
                return Err(at(format!("pressure_hpa must be > 0 (got {p})")));
            }
            Some(p)
        } else {
            None
        };
        out.push(Observation {
            time_hours,
            lat,
            lon,
            variable,
            value,
            sigma,
            source,
            footprint_km,
            pressure_hpa,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal, stream, uniform};

    fn records(n: usize) -> Vec<Observation> {
        let mut rng = stream(5, "records");
        (0..n)
            .map(|k| Observation {
                time_hours: 6.0,
                lat: 180.0 * uniform(&mut rng) - 90.0,
                lon: 360.0 * uniform(&mut rng),
                variable: Variable::ALL[k % 3],
                value: normal(&mut rng),
                sigma: 1.0 + uniform(&mut rng),
                source: if k % 2 == 0 { Source::Station } else { Source::Satellite },
                footprint_km: if k % 2 == 0 { 0.0 } else { 300.0 },
                pressure_hpa: None,
            })
            .collect()
    }

    #[test]
    fn operator_adjoint_passes_the_dot_product_test() {
        use crate::obs::ObsOperator;
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let recs = records(200);
        let h = operator(&grid, &recs).unwrap();
        let mut rng = stream(6, "dot");
        let x: Vec<f64> = (0..h.nx()).map(|_| normal(&mut rng)).collect();
        let y: Vec<f64> = (0..h.n_obs()).map(|_| normal(&mut rng)).collect();
        let mut hx = vec![0.0; h.n_obs()];
        h.apply(&x, &mut hx);
        let mut hty = vec![0.0; h.nx()];
        h.transpose_apply(&y, &mut hty);
        let lhs: f64 = hx.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&hty).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        // Rows are averages: a constant field is observed as itself.
        let ones = vec![1.0; h.nx()];
        h.apply(&ones, &mut hx);
        assert!(hx.iter().all(|v| (v - 1.0).abs() < 1e-12));
    }

    #[test]
    fn csv_round_trips_exactly() {
        let recs = records(50);
        assert_eq!(parse_csv(&to_csv(&recs)).unwrap(), recs);
        let mut levelled = records(4);
        levelled[1].pressure_hpa = Some(500.0);
        let text = to_csv(&levelled);
        assert!(text.starts_with(CSV_HEADER_LEVELS));
        assert_eq!(parse_csv(&text).unwrap(), levelled);
        assert!(
            parse_csv(&text.replace(",500\n", ",-5\n")).unwrap_err().contains("pressure_hpa must be > 0")
        );
    }

    /// A file with pressure levels is refused by the single-layer (shallow-water) operator,
    /// naming the record.
    #[test]
    fn levelled_records_are_refused_on_a_single_layer() {
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let mut recs = records(5);
        recs[3].pressure_hpa = Some(850.0);
        let e = operator(&grid, &recs).unwrap_err().to_string();
        assert!(e.contains("record 3 is at 850 hPa") && e.contains("single layer"), "{e}");
    }

    #[test]
    fn bad_records_are_errors_naming_the_record() {
        let good = to_csv(&records(3));
        let bad = |from: &str, to: &str, line: usize| {
            let mut ls: Vec<String> = good.lines().map(String::from).collect();
            ls[line] = ls[line].replacen(from, to, 1);
            parse_csv(&ls.join("\n")).unwrap_err()
        };
        let lines: Vec<&str> = good.lines().collect();
        let value = lines[2].split(',').nth(4).unwrap().to_string();
        let e = bad(&format!(",{value},"), ",NaN,", 2);
        assert!(e.contains("record 1") && e.contains("value"), "{e}");
        let e = bad(&format!(",{value},"), ",inf,", 2);
        assert!(e.contains("record 1") && e.contains("not finite"), "{e}");
        let lat = lines[1].split(',').nth(1).unwrap().to_string();
        let e = bad(&format!(",{lat},"), ",91.5,", 1);
        assert!(e.contains("record 0") && e.contains("91.5"), "{e}");
        let e = bad("geopotential", "temperature", 1);
        assert!(e.contains("record 0") && e.contains("temperature"), "{e}");
        let sigma = lines[3].split(',').nth(5).unwrap().to_string();
        let e = bad(&format!(",{sigma},"), ",0,", 3);
        assert!(e.contains("record 2") && e.contains("sigma"), "{e}");
        let e = bad(&format!(",{sigma},"), ",-1,", 3);
        assert!(e.contains("record 2") && e.contains("sigma"), "{e}");
        let e = parse_csv(&good[..good.len() - 30]).unwrap_err();
        assert!(e.contains("record 2"), "truncated file: {e}");
        assert!(parse_csv("lat,lon\n").unwrap_err().contains("header"));
        assert!(parse_csv("").is_err());
    }
}
