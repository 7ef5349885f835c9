//! Real reports into the multi-level bed's observation file (`assim data obs`): radiosonde
//! (TEMP), surface (SYNOP) and aircraft (AIREP, AMDAR) reports from BUFR become records of
//! `assim_core::bed::primitive::observation_file`, each assigned to the assimilation window
//! that contains its time, so that an experiment assimilates them with `[observing] file`.
//!
//! - **Radiosondes**: `T`, `u`, `v` on every reported level at or below `top_hpa` (standard and
//!   significant levels; the operator interpolates in ln p).
//! - **Aircraft**: `T`, `u`, `v` at the report's pressure, or at the pressure of its pressure
//!   altitude in the ICAO standard atmosphere.
//! - **Stations**: station-level pressure (stations higher than `max_station_height_m` give
//!   none: their pressure is far from a model surface at sea level), 2 m temperature, 10 m wind.
//! - Winds from direction and speed: `u = −s sin d`, `v = −s cos d` (the direction the wind
//!   blows from).
//! - Errors: [`SIGMAS`], the order of the errors operational centres assign (representativeness
//!   included); edit the file for others.
//!
//! A report at time `t` joins the window `k ≥ 1` with `start + (k − 1)·w < t ≤ start + k·w`
//! and is written at that window's end (`time_hours = k·w`); reports at or before `start` are
//! left out and counted.

use std::collections::BTreeMap;

use assim_core::bed::primitive::observation_file::{self, Record};
use assim_core::bed::primitive::{Row, System};

use crate::bufr::Reports;

/// Observation-error standard deviations written with each quantity: (system, quantity, σ in
/// SI units). Radiosonde temperature 1 K and wind components 2 m s⁻¹; aircraft 1 K and
/// 2.5 m s⁻¹; stations 1 hPa, 2 K (a 2 m temperature against a model level) and 3 m s⁻¹.
pub const SIGMAS: [(System, &str, f64); 10] = [
    (System::Radiosondes, "air_temperature", 1.0),
    (System::Radiosondes, "eastward_wind", 2.0),
    (System::Radiosondes, "northward_wind", 2.0),
    (System::Aircraft, "air_temperature", 1.0),
    (System::Aircraft, "eastward_wind", 2.5),
    (System::Aircraft, "northward_wind", 2.5),
    (System::Stations, "surface_air_pressure", 100.0),
    (System::Stations, "air_temperature", 2.0),
    (System::Stations, "eastward_wind", 3.0),
    (System::Stations, "northward_wind", 3.0),
];

/// How reports become records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvertOptions {
    /// The start of the truth (seconds since 1970-01-01 UTC): time 0 of the records.
    pub start: i64,
    /// The assimilation window (hours): the experiment's `dt × dko`.
    pub window_hours: f64,
    /// Sounding levels above this pressure (hPa) are left out (the model's top full level).
    pub top_hpa: f64,
    /// Stations higher than this (m) report no surface pressure.
    pub max_station_height_m: f64,
}

/// The records and what was left out, by reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Converted {
    /// The records, in the order of the files' reports.
    pub records: Vec<Record>,
    /// Values left out, by reason.
    pub left_out: BTreeMap<String, usize>,
}

impl Converted {
    /// The observation file's text.
    pub fn to_csv(&self) -> String {
        observation_file::to_csv(self.records.iter().map(|r| (r.time_hours, &r.row, r.value)))
    }

    /// Records per system and quantity.
    pub fn counts(&self) -> BTreeMap<(String, String), usize> {
        let mut c = BTreeMap::new();
        for r in &self.records {
            *c.entry((r.row.system.name().to_string(), r.row.quantity.to_string())).or_insert(0) += 1;
        }
        c
    }

    fn skip(&mut self, why: &str, n: usize) {
        if n > 0 {
            *self.left_out.entry(why.to_string()).or_insert(0) += n;
        }
    }
}

/// The wind components (u, v) of a direction (degrees, where it blows from) and a speed.
pub fn wind_components(direction_deg: f64, speed: f64) -> (f64, f64) {
    let d = direction_deg.to_radians();
    // `+ 0.0` turns the −0 of a calm into 0.
    (-speed * d.sin() + 0.0, -speed * d.cos() + 0.0)
}

fn sigma(system: System, quantity: &str) -> f64 {
    SIGMAS.iter().find(|s| s.0 == system && s.1 == quantity).map(|s| s.2).expect("every quantity has a σ")
}

/// Adds one report's values (quantity, value) at (lat, lon, pressure in Pa).
struct Sink<'a> {
    out: &'a mut Converted,
    time_hours: f64,
    system: System,
    lat: f64,
    lon: f64,
}

impl Sink<'_> {
    fn push(&mut self, quantity: &'static str, value: f64, pressure: f64) {
        if !value.is_finite() {
            self.out.skip("non-finite value", 1);
            return;
        }
        let row = Row {
            system: self.system,
            quantity,
            lat: self.lat,
            lon: self.lon.rem_euclid(360.0),
            pressure,
            channel: None,
            sigma: sigma(self.system, quantity),
        };
        self.out.records.push(Record { time_hours: self.time_hours, row, value });
    }

    fn wind(&mut self, direction: Option<f64>, speed: Option<f64>, pressure: f64) {
        if let (Some(d), Some(s)) = (direction, speed) {
            let (u, v) = wind_components(d, s);
            self.push("eastward_wind", u, pressure);
            self.push("northward_wind", v, pressure);
        }
    }
}

/// The window end (hours after `start`) of a report at `time`, or `None` at or before `start`.
fn window_end(time: i64, opts: &ConvertOptions) -> Option<f64> {
    let hours = (time - opts.start) as f64 / 3600.0;
    (hours > 0.0).then(|| (hours / opts.window_hours - 1e-9).ceil().max(1.0) * opts.window_hours)
}

/// A report's position, with a latitude a rounding past a pole (the South Pole's
/// −9000000 × 10⁻⁵ is −90.00000000000001 in binary) put on the pole; `None` if off the globe.
fn place(lat: f64, lon: f64) -> Option<(f64, f64)> {
    let lat = if lat.abs() > 90.0 && lat.abs() <= 90.0 + 1e-9 { 90f64.copysign(lat) } else { lat };
    ((-90.0..=90.0).contains(&lat) && lon.is_finite()).then_some((lat, lon))
}

/// Every report of `reports` as records (see the module documentation).
pub fn convert(reports: &[Reports], opts: &ConvertOptions) -> Converted {
    let mut out = Converted::default();
    for file in reports {
        for s in &file.soundings {
            let (Some(t), Some((lat, lon))) = (window_end(s.time, opts), place(s.latitude, s.longitude))
            else {
                out.skip("report at or before the start, or off the globe", 1);
                continue;
            };
            let mut sink = Sink { out: &mut out, time_hours: t, system: System::Radiosondes, lat, lon };
            for l in &s.levels {
                if l.pressure < opts.top_hpa * 100.0 {
                    sink.out.skip("sounding level above top_hpa", 1);
                    continue;
                }
                if let Some(x) = l.temperature {
                    sink.push("air_temperature", x, l.pressure);
                }
                sink.wind(l.wind_direction, l.wind_speed, l.pressure);
            }
        }
        for a in &file.aircraft {
            let (Some(t), Some((lat, lon))) = (window_end(a.time, opts), place(a.latitude, a.longitude))
            else {
                out.skip("report at or before the start, or off the globe", 1);
                continue;
            };
            let Some(p) = a.pressure_or_standard().filter(|p| p.is_finite() && *p >= opts.top_hpa * 100.0)
            else {
                out.skip("aircraft report without a pressure or height, or above top_hpa", 1);
                continue;
            };
            let mut sink = Sink { out: &mut out, time_hours: t, system: System::Aircraft, lat, lon };
            if let Some(x) = a.temperature {
                sink.push("air_temperature", x, p);
            }
            sink.wind(a.wind_direction, a.wind_speed, p);
        }
        for r in &file.surface {
            let (Some(t), Some((lat, lon))) = (window_end(r.time, opts), place(r.latitude, r.longitude))
            else {
                out.skip("report at or before the start, or off the globe", 1);
                continue;
            };
            // A station's records are placed at its own pressure (its vertical coordinate for
            // localisation), or at 1000 hPa where it reports none.
            let p = r.pressure.filter(|p| p.is_finite() && *p > 0.0).unwrap_or(100_000.0);
            let mut sink = Sink { out: &mut out, time_hours: t, system: System::Stations, lat, lon };
            match (r.pressure, r.height) {
                (Some(ps), Some(h)) if h <= opts.max_station_height_m => {
                    sink.push("surface_air_pressure", ps, p)
                }
                (Some(_), _) => sink
                    .out
                    .skip("station pressure of a station above max_station_height_m or without a height", 1),
                _ => {}
            }
            if let Some(x) = r.temperature {
                sink.push("air_temperature", x, p);
            }
            sink.wind(r.wind_direction, r.wind_speed, p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winds_blow_from_their_direction() {
        let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12;
        assert!(close(wind_components(270.0, 10.0), (10.0, 0.0)), "a westerly blows east");
        assert!(close(wind_components(0.0, 5.0), (0.0, -5.0)), "a northerly blows south");
        assert!(close(wind_components(90.0, 3.0), (-3.0, 0.0)));
    }

    #[test]
    fn reports_join_the_window_that_contains_them() {
        let opts = ConvertOptions { start: 0, window_hours: 6.0, top_hpa: 50.0, max_station_height_m: 500.0 };
        assert_eq!(window_end(1, &opts), Some(6.0));
        assert_eq!(window_end(6 * 3600, &opts), Some(6.0));
        assert_eq!(window_end(6 * 3600 + 1, &opts), Some(12.0));
        assert_eq!(window_end(0, &opts), None);
        assert_eq!(window_end(-60, &opts), None);
    }
}
