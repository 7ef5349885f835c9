//! WMO BUFR reports through the pure-Rust `tinybufr` decoder (WMO tables B, C and D built in):
//! radiosondes (TEMP, data category 2) with their levels (pressure, geopotential, temperature,
//! dew point, wind), and land surface stations (SYNOP, category 0) with their pressures, 2 m
//! temperature and dew point and 10 m wind, and aircraft (AIREP and AMDAR, category 4) with
//! their height or pressure, temperature and wind. The decoder stops at the quality-information operator
//! 2-22-000 that ECMWF appends after the observations; what comes before it is the report.
//! Messages the decoder cannot expand (local table entries) are listed, not hidden.

use crate::calendar::epoch_seconds;
use crate::error::{DataError, Result};
use std::path::{Path, PathBuf};
use tinybufr::{DataEvent, DataReader, DataSpec, HeaderSections, Tables, Value, XY};

/// One level of a sounding; `None` where the report has no value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SoundingLevel {
    /// Pressure, Pa (every level has one).
    pub pressure: f64,
    /// Geopotential, m² s⁻².
    pub geopotential: Option<f64>,
    /// Air temperature, K.
    pub temperature: Option<f64>,
    /// Dew-point temperature, K.
    pub dewpoint: Option<f64>,
    /// Wind direction, degrees true (where the wind blows from).
    pub wind_direction: Option<f64>,
    /// Wind speed, m s⁻¹.
    pub wind_speed: Option<f64>,
}

/// One radiosonde ascent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sounding {
    /// WMO block and station number, `71907`.
    pub station: String,
    /// Nominal launch time, seconds since 1970-01-01 UTC.
    pub time: i64,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The reported levels, in the report's order.
    pub levels: Vec<SoundingLevel>,
}

/// One surface station report (SYNOP); `None` where the report has no value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SurfaceReport {
    /// WMO block and station number.
    pub station: String,
    /// Observation time, seconds since 1970-01-01 UTC.
    pub time: i64,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Station height above mean sea level, m.
    pub height: Option<f64>,
    /// Station-level pressure, Pa.
    pub pressure: Option<f64>,
    /// Pressure reduced to mean sea level, Pa.
    pub msl_pressure: Option<f64>,
    /// Air temperature (2 m), K.
    pub temperature: Option<f64>,
    /// Dew-point temperature (2 m), K.
    pub dewpoint: Option<f64>,
    /// Wind direction (10 m), degrees true.
    pub wind_direction: Option<f64>,
    /// Wind speed (10 m), m s⁻¹.
    pub wind_speed: Option<f64>,
}

/// One aircraft report (AIREP or AMDAR, data category 4); `None` where the report has no value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AircraftReport {
    /// Flight number or aircraft identifier, as reported.
    pub flight: String,
    /// Observation time, seconds since 1970-01-01 UTC.
    pub time: i64,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Height or flight level, m: a pressure altitude (what the altimeter reads).
    pub height: Option<f64>,
    /// Pressure, Pa, where the report gives it (AMDAR).
    pub pressure: Option<f64>,
    /// Air temperature, K.
    pub temperature: Option<f64>,
    /// Wind direction, degrees true.
    pub wind_direction: Option<f64>,
    /// Wind speed, m s⁻¹.
    pub wind_speed: Option<f64>,
}

impl AircraftReport {
    /// The report's pressure, or the pressure of its height in the ICAO standard atmosphere:
    /// an aircraft's height is a pressure altitude, defined by that atmosphere, so the
    /// conversion is the altimeter's own (ICAO Doc 7488: 288.15 K, 6.5 K/km up to 11 km, then
    /// isothermal at 216.65 K).
    pub fn pressure_or_standard(&self) -> Option<f64> {
        self.pressure.or_else(|| self.height.map(standard_pressure))
    }
}

/// The pressure (Pa) at pressure altitude `h` (m) in the ICAO standard atmosphere, to 20 km.
pub fn standard_pressure(h: f64) -> f64 {
    const G: f64 = 9.80665;
    const R: f64 = 287.05287;
    if h <= 11_000.0 {
        101_325.0 * (1.0 - 0.0065 * h / 288.15).powf(G / (R * 0.0065))
    } else {
        let p11 = 101_325.0 * (216.65f64 / 288.15).powf(G / (R * 0.0065));
        p11 * (-G * (h - 11_000.0) / (R * 216.65)).exp()
    }
}

/// What a BUFR file held.
#[derive(Debug, Clone, PartialEq)]
pub struct Reports {
    /// The file.
    pub path: PathBuf,
    /// BUFR messages found.
    pub messages: usize,
    /// The radiosonde reports decoded.
    pub soundings: Vec<Sounding>,
    /// The surface station reports decoded.
    pub surface: Vec<SurfaceReport>,
    /// The aircraft reports decoded.
    pub aircraft: Vec<AircraftReport>,
    /// Messages not decoded: (message number from 1, why).
    pub skipped: Vec<(usize, String)>,
}

/// Whether a file starts with a BUFR message (what `assim data inspect` checks first).
pub fn is_bufr(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == b"BUFR"
}

/// Reads every BUFR message of a file.
pub fn read(path: &Path) -> Result<Reports> {
    let bytes = std::fs::read(path).map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
    let tables = tables();
    let mut reports = Reports {
        path: path.to_path_buf(),
        messages: 0,
        soundings: Vec::new(),
        surface: Vec::new(),
        aircraft: Vec::new(),
        skipped: Vec::new(),
    };
    let mut at = 0;
    while let Some(start) = bytes[at..].windows(4).position(|w| w == b"BUFR").map(|k| at + k) {
        let length = match bytes.get(start + 4..start + 7) {
            Some(l) => ((l[0] as usize) << 16) | ((l[1] as usize) << 8) | l[2] as usize,
            None => return Err(DataError::file(path, format!("message at byte {start} is truncated"))),
        };
        let Some(message) = bytes.get(start..start + length).filter(|m| length >= 8 && m.ends_with(b"7777"))
        else {
            return Err(DataError::file(
                path,
                format!(
                    "message {} at byte {start} is truncated or corrupt (no `7777` at its stated end)",
                    reports.messages + 1
                ),
            ));
        };
        reports.messages += 1;
        match decode(message, &tables) {
            Ok(Report::Sounding(s)) => reports.soundings.push(s),
            Ok(Report::Surface(s)) => reports.surface.push(s),
            Ok(Report::Aircraft(s)) => reports.aircraft.push(s),
            Ok(Report::Empty) => {
                reports.skipped.push((reports.messages, "a sounding without pressure levels".into()))
            }
            Err(why) => reports.skipped.push((reports.messages, why)),
        }
        at = start + length;
    }
    if reports.messages == 0 {
        return Err(DataError::file(path, "holds no BUFR message"));
    }
    Ok(reports)
}

/// ECMWF's local Table B entry 0-01-201, "generating application" (8 bits, a code table), which
/// its aircraft messages carry after the quality operator: without it the descriptors do not
/// expand, and nothing of the message can be read.
static GENERATING_APPLICATION: tinybufr::TableBEntry = tinybufr::TableBEntry {
    xy: XY { x: 1, y: 201 },
    class_name: "Identification",
    element_name: "Generating application (ECMWF local)",
    unit: "CODE TABLE",
    scale: 0,
    reference_value: 0,
    bits: 8,
};

/// WMO's tables with the ECMWF local entries the reports read here need.
fn tables() -> Tables {
    let mut t = Tables::default();
    t.table_b.entry(GENERATING_APPLICATION.xy).or_insert(&GENERATING_APPLICATION);
    t
}

fn number(v: &Value) -> Option<f64> {
    match *v {
        Value::Integer(i) => Some(i as f64),
        Value::Decimal(m, s) => Some(m as f64 * 10f64.powi(s as i32)),
        _ => None,
    }
}

/// One decoded message.
enum Report {
    Sounding(Sounding),
    Surface(SurfaceReport),
    Aircraft(AircraftReport),
    Empty,
}

/// The first value of each element a report keeps (later repeats, such as the daily maximum
/// temperature after the 2 m temperature, are other quantities).
fn keep(slot: &mut Option<f64>, v: Option<f64>) {
    if slot.is_none() {
        *slot = v;
    }
}

/// Decodes one message: a radiosonde (category 2) or a surface station (category 0).
fn decode(message: &[u8], tables: &Tables) -> std::result::Result<Report, String> {
    let mut cursor = std::io::Cursor::new(message);
    let header = HeaderSections::read(&mut cursor).map_err(|e| format!("header: {e:?}"))?;
    // BUFR Table A: 0 surface data (land), 2 vertical soundings other than satellite, 4
    // single-level upper-air data other than satellite (aircraft).
    let category = header.identification_section.data_category;
    if ![0, 2, 4].contains(&category) {
        return Err(format!(
            "data category {category}: only surface (0), sounding (2) and aircraft (4) reports are read"
        ));
    }
    if header.data_description_section.number_of_subsets != 1 {
        return Err(format!(
            "{} subsets in one message: not supported yet",
            header.data_description_section.number_of_subsets
        ));
    }
    let spec = DataSpec::from_data_description(&header.data_description_section, tables)
        .map_err(|e| format!("descriptors: {e:?}"))?;
    let mut reader = DataReader::new(&mut cursor, &spec).map_err(|e| format!("data: {e:?}"))?;
    let (mut block, mut station) = (None, None);
    let mut clock = [None::<f64>; 5];
    let (mut lat, mut lon) = (None, None);
    let mut levels: Vec<SoundingLevel> = Vec::new();
    // The surface and aircraft quantities; station, time and position are filled in at the end.
    let mut surface = SurfaceReport::default();
    let mut aircraft = AircraftReport::default();
    loop {
        let (xy, value) = match reader.read_event() {
            Ok(DataEvent::Data { xy, value, .. }) => (xy, value),
            Ok(DataEvent::Eof) => break,
            Ok(_) => continue,
            // ECMWF's quality information follows the observations behind operator 2-22-000.
            Err(tinybufr::Error::NotSupported(what)) if what.contains("x: 22") => break,
            Err(e) => return Err(format!("data: {e:?}")),
        };
        let v = number(&value);
        let XY { x, y } = xy;
        match (x, y) {
            (1, 1) => keep(&mut block, v),
            (1, 2) => keep(&mut station, v),
            (4, 1..=5) => keep(&mut clock[(y - 1) as usize], v),
            (5, 1) | (5, 2) => keep(&mut lat, v),
            (6, 1) | (6, 2) => keep(&mut lon, v),
            _ if category == 4 => match (x, y) {
                (1, 6) | (1, 8) if aircraft.flight.is_empty() => {
                    if let Value::String(id) = &value {
                        aircraft.flight = id.trim().to_string();
                    }
                }
                (7, 2) | (7, 10) => keep(&mut aircraft.height, v),
                (7, 4) => keep(&mut aircraft.pressure, v),
                (12, 101) | (12, 1) => keep(&mut aircraft.temperature, v),
                (11, 1) => keep(&mut aircraft.wind_direction, v),
                (11, 2) => keep(&mut aircraft.wind_speed, v),
                _ => {}
            },
            _ if category == 0 => match (x, y) {
                (7, 1) | (7, 30) => keep(&mut surface.height, v),
                (10, 4) => keep(&mut surface.pressure, v),
                (10, 51) => keep(&mut surface.msl_pressure, v),
                (12, 101) | (12, 4) | (12, 1) => keep(&mut surface.temperature, v),
                (12, 103) | (12, 6) | (12, 3) => keep(&mut surface.dewpoint, v),
                (11, 1) | (11, 11) => keep(&mut surface.wind_direction, v),
                (11, 2) | (11, 12) => keep(&mut surface.wind_speed, v),
                _ => {}
            },
            (7, 4) => {
                if let Some(p) = v {
                    levels.push(SoundingLevel { pressure: p, ..Default::default() });
                }
            }
            _ => {
                let Some(level) = levels.last_mut() else { continue };
                let slot = match (x, y) {
                    (7, 3) | (7, 8) | (10, 3) | (10, 8) => &mut level.geopotential,
                    (12, 101) | (12, 1) => &mut level.temperature,
                    (12, 103) | (12, 3) => &mut level.dewpoint,
                    (11, 1) => &mut level.wind_direction,
                    (11, 2) => &mut level.wind_speed,
                    _ => continue,
                };
                keep(slot, v);
            }
        }
    }
    let (Some(year), Some(month), Some(day), Some(hour)) = (clock[0], clock[1], clock[2], clock[3]) else {
        return Err("no date".into());
    };
    let (Some(latitude), Some(longitude)) = (lat, lon) else { return Err("no position".into()) };
    let station = match (block, station) {
        (Some(b), Some(s)) => format!("{:02}{:03}", b as i64, s as i64),
        _ => "unknown".into(),
    };
    let time =
        epoch_seconds(year as i64, month as u32, day as u32, hour as u32, clock[4].unwrap_or(0.0) as u32, 0);
    if category == 0 {
        return Ok(Report::Surface(SurfaceReport { station, time, latitude, longitude, ..surface }));
    }
    if category == 4 {
        return Ok(Report::Aircraft(AircraftReport { time, latitude, longitude, ..aircraft }));
    }
    if levels.is_empty() {
        return Ok(Report::Empty);
    }
    Ok(Report::Sounding(Sounding { station, time, latitude, longitude, levels }))
}
