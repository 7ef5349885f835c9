//! The multi-level bed's observation file: every run writes its windows' observations as
//! `observations.csv`, and `[observing] file` assimilates such a file instead of simulating the
//! systems (a previous run's stations and radiosondes, or real reports converted by
//! `assim data obs`). One format, written and read here (`docs/osse.md`, "The multi-level
//! observation file"):
//!
//! ```text
//! time_hours,system,quantity,lat,lon,pressure_hpa,channel,value,sigma
//! 6,station,surface_air_pressure,51.2,7.9,995,,99812.5,100
//! 12,radiosonde,air_temperature,51.2,7.9,500,,251.3,1
//! ```
//!
//! A record belongs to the window ending at `time_hours` (hours from the start of the truth).
//! Stations report `p_s` (Pa) and the lowest level's `T`, `u`, `v`; radiosondes and aircraft
//! report `T`, `u`, `v` at their pressure, interpolated in ln p. The sounder's and the imagery's
//! records are written but cannot be read back: their operators need the channels and boxes of
//! the configuration that made them.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::observing::{Row, System};
use crate::AssimError;
use crate::dynamics::primitive::SigmaLevels;
use crate::grid::{Bilinear, LatLonGrid};
use crate::obs::column::{
    ColumnLayout, ProfileEntry, ProfileVariable, Radiosondes, SurfaceVariable, surface_values,
};
use crate::obs::{ObsOperator, Stacked};

/// The header line.
pub const HEADER: &str = "time_hours,system,quantity,lat,lon,pressure_hpa,channel,value,sigma";

/// The quantities a record may name (CF standard names).
const QUANTITIES: [&str; 6] = [
    "surface_air_pressure",
    "air_temperature",
    "eastward_wind",
    "northward_wind",
    "brightness_temperature",
    "toa_outgoing_longwave_flux",
];

/// One observation: its window's end, what it is, its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Hours from the start of the truth: the end of its window (an analysis time).
    pub time_hours: f64,
    /// System, quantity, place, pressure (Pa), channel, σ.
    pub row: Row,
    /// The observed value, in the quantity's SI units.
    pub value: f64,
}

/// The file's text for `records` (full precision: reading it back gives the same numbers).
pub fn to_csv<'a>(records: impl Iterator<Item = (f64, &'a Row, f64)>) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for (t, r, y) in records {
        let _ = writeln!(
            s,
            "{t},{},{},{},{},{},{},{y},{}",
            r.system.name(),
            r.quantity,
            r.lat,
            r.lon.rem_euclid(360.0),
            r.pressure / 100.0,
            r.channel.map_or(String::new(), |c| c.to_string()),
            r.sigma
        );
    }
    s
}

/// Reads and checks a file; the error names the file, the line and the field.
pub fn read(path: &Path) -> Result<Vec<Record>, AssimError> {
    crate::io::parse_text_file(path, parse)
}

/// Parses the file's text: the first bad record stops it, named with its line.
pub fn parse(text: &str) -> Result<Vec<Record>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == HEADER => {}
        Some((_, h)) => return Err(format!("line 1: header {h:?} is not {HEADER:?}")),
        None => return Err("empty file: no header".into()),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_record(line).map_err(|m| format!("line {}: {m}", i + 1))?);
    }
    Ok(out)
}

fn parse_record(line: &str) -> Result<Record, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != 9 {
        return Err(format!("{} fields, expected 9 ({HEADER}): a truncated or malformed record", f.len()));
    }
    let num = |k: usize, name: &str| -> Result<f64, String> {
        f[k].parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("{name} {:?} is not a finite number", f[k]))
    };
    let time_hours = num(0, "time_hours")?;
    let system = System::ALL
        .into_iter()
        .find(|s| s.name() == f[1])
        .ok_or_else(|| format!("unknown system {:?}: use station, radiosonde or aircraft", f[1]))?;
    let quantity = QUANTITIES
        .into_iter()
        .find(|q| *q == f[2])
        .ok_or_else(|| format!("unknown quantity {:?}: use one of {}", f[2], QUANTITIES.join(", ")))?;
    let lat = num(3, "lat")?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("lat {lat} is outside [−90, 90]"));
    }
    let lon = num(4, "lon")?;
    let pressure_hpa = num(5, "pressure_hpa")?;
    if pressure_hpa <= 0.0 {
        return Err(format!("pressure_hpa {pressure_hpa} must be positive"));
    }
    let channel = match f[6] {
        "" => None,
        c => Some(c.parse::<usize>().map_err(|_| format!("channel {c:?} is not a channel number"))?),
    };
    let value = num(7, "value")?;
    let sigma = num(8, "sigma")?;
    if sigma <= 0.0 {
        return Err(format!("sigma {sigma} must be positive"));
    }
    let row = Row { system, quantity, lat, lon, pressure: pressure_hpa * 100.0, channel, sigma };
    Ok(Record { time_hours, row, value })
}

/// The analysis (1, 2, …) whose window ends at `time_hours`, for windows of `window_h` hours, or
/// `None` if that is not an analysis time (to within 1e-6 of a window).
pub fn analysis_index(time_hours: f64, window_h: f64) -> Option<usize> {
    let k = time_hours / window_h;
    ((k - k.round()).abs() <= 1e-6 && k.round() >= 1.0).then(|| k.round() as usize)
}

/// The records grouped by analysis: entry `ko` holds those of analysis `ko + 1`, for `n`
/// analyses; records at no analysis time of the run are left out (validation refuses them).
pub fn by_analysis(records: &[Record], window_h: f64, n: usize) -> Vec<Vec<&Record>> {
    let mut out = vec![Vec::new(); n];
    for r in records {
        if let Some(k) = analysis_index(r.time_hours, window_h).filter(|&k| k <= n) {
            out[k - 1].push(r);
        }
    }
    out
}

/// Why a record cannot be assimilated from a file on σ levels `levels`, if it cannot: a
/// quantity its system does not report, a sounder or imagery record, a level above the model.
pub fn unusable(r: &Record, levels: &SigmaLevels) -> Option<String> {
    let q = r.row.quantity;
    match r.row.system {
        System::Sounder | System::Imagery => Some(format!(
            "{} records cannot be read back: their operators need the channels or boxes of the \
             configuration that simulated them (simulate them with [observing.{}] instead)",
            r.row.system.name(),
            if r.row.system == System::Sounder { "sounder" } else { "imagery" }
        )),
        System::Stations if surface_variable(q).is_none() => Some(format!("a station does not report {q}")),
        System::Radiosondes | System::Aircraft if profile_variable(q).is_none() => {
            Some(format!("a {} does not report {q}", r.row.system.name()))
        }
        System::Radiosondes | System::Aircraft => {
            let top = levels.full()[0] * 1.0e5;
            (r.row.pressure < top || r.row.pressure > 1.1e5).then(|| {
                format!(
                    "{:.1} hPa lies outside the model (top full level {:.1} hPa at p_s = 1000 hPa; at most 1100 hPa)",
                    r.row.pressure / 100.0,
                    top / 100.0
                )
            })
        }
        System::Stations => None,
    }
}

fn surface_variable(q: &str) -> Option<SurfaceVariable> {
    match q {
        "surface_air_pressure" => Some(SurfaceVariable::Pressure),
        "air_temperature" => Some(SurfaceVariable::Temperature),
        "eastward_wind" => Some(SurfaceVariable::EastwardWind),
        "northward_wind" => Some(SurfaceVariable::NorthwardWind),
        _ => None,
    }
}

fn profile_variable(q: &str) -> Option<ProfileVariable> {
    match q {
        "air_temperature" => Some(ProfileVariable::Temperature),
        "eastward_wind" => Some(ProfileVariable::EastwardWind),
        "northward_wind" => Some(ProfileVariable::NorthwardWind),
        _ => None,
    }
}

/// One window's operator, rows and values from its records: the stations' rows, then the
/// radiosondes', then the aircraft's, each system in the file's order (records checked by
/// [`unusable`]).
pub fn window(
    records: &[&Record],
    layout: ColumnLayout,
    levels: &SigmaLevels,
    grid: &LatLonGrid,
) -> Result<(Stacked, Vec<Row>, Vec<f64>), AssimError> {
    let mut parts: Vec<(String, Arc<dyn ObsOperator>)> = Vec::new();
    let (mut rows, mut y) = (Vec::new(), Vec::new());
    for system in [System::Stations, System::Radiosondes, System::Aircraft] {
        let of: Vec<&Record> = records.iter().copied().filter(|r| r.row.system == system).collect();
        if of.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = of.iter().map(|r| (r.row.lat, r.row.lon)).collect();
        let pts = Bilinear::new(grid, &points)?;
        let bad = |r: &Record| AssimError::Input(format!("{} record: {}", system.name(), r.row.quantity));
        let op: Arc<dyn ObsOperator> = if system == System::Stations {
            let entries = of
                .iter()
                .enumerate()
                .map(|(p, r)| surface_variable(r.row.quantity).map(|v| (p, v)).ok_or_else(|| bad(r)))
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(surface_values(layout, &pts, &entries))
        } else {
            let entries = of
                .iter()
                .enumerate()
                .map(|(point, r)| {
                    profile_variable(r.row.quantity)
                        .map(|variable| ProfileEntry { point, pressure: r.row.pressure, variable })
                        .ok_or_else(|| bad(r))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(Radiosondes::from_entries(layout, levels.full(), pts, entries)?)
        };
        parts.push((system.name().to_string(), op));
        rows.extend(of.iter().map(|r| r.row.clone()));
        y.extend(of.iter().map(|r| r.value));
    }
    Ok((Stacked::named(parts), rows, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: System, quantity: &'static str, pressure: f64) -> Row {
        Row { system, quantity, lat: 10.5, lon: 200.25, pressure, channel: None, sigma: 1.5 }
    }

    #[test]
    fn what_is_written_reads_back_exactly() {
        let rows = [
            row(System::Stations, "surface_air_pressure", 99_000.0),
            row(System::Radiosondes, "air_temperature", 50_000.0),
            row(System::Aircraft, "eastward_wind", 25_000.0),
        ];
        let values = [99_123.456_789_012_3, 251.123_456_789, -12.000_000_1];
        let text = to_csv(rows.iter().zip(values).map(|(r, v)| (6.0, r, v)));
        let back = parse(&text).unwrap();
        assert_eq!(back.len(), 3);
        for ((b, r), v) in back.iter().zip(&rows).zip(values) {
            assert_eq!(&b.row, r);
            assert_eq!(b.value, v);
            assert_eq!(b.time_hours, 6.0);
        }
    }

    #[test]
    fn bad_records_are_named_with_their_line() {
        let ok = "6,radiosonde,air_temperature,10,20,500,,250,1";
        for (bad, needle) in [
            ("6,radiosonde,air_temperature,10,20,500,,NaN,1", "value"),
            ("6,radiosonde,air_temperature,95,20,500,,250,1", "lat"),
            ("6,radiosonde,air_temperature,10,20,500,,250,0", "sigma"),
            ("6,radiosonde,air_temperature,10,20,-5,,250,1", "pressure_hpa"),
            ("6,balloon,air_temperature,10,20,500,,250,1", "unknown system"),
            ("6,radiosonde,humidity,10,20,500,,250,1", "unknown quantity"),
            ("6,radiosonde,air_temperature,10,20", "truncated"),
        ] {
            let e = parse(&format!("{HEADER}\n{ok}\n{bad}\n")).unwrap_err();
            assert!(e.starts_with("line 3") && e.contains(needle), "{bad}: {e}");
        }
        assert!(parse("time,lat\n").unwrap_err().contains("header"));
    }
}
