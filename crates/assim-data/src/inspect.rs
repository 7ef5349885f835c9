//! `assim data inspect FILE`: what a user checks before using a file, in the spirit of
//! `ncdump -h` — format, grid, and for each variable its CF name, units, members, times and
//! levels — from the same reading an experiment would do, so what it prints is what assim sees.

use crate::field::{Dataset, LevelKind, Variable};
use std::fmt::Write;

/// The description printed by `assim data inspect`.
pub fn describe(ds: &Dataset) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "{}: {}, {} variable(s)", ds.path.display(), ds.format.describe(), ds.variables.len());
    for v in &ds.variables {
        let _ = writeln!(out);
        describe_variable(&mut out, v);
    }
    out
}

fn describe_variable(out: &mut String, v: &Variable) {
    let [nm, nt, nl, ny, nx] = v.shape();
    let _ = writeln!(
        out,
        "{}  {}  [{}]{}",
        v.name,
        v.standard_name.as_deref().unwrap_or("(no standard name)"),
        v.units,
        v.long_name.as_deref().map(|l| format!("  \"{l}\"")).unwrap_or_default()
    );
    let _ = writeln!(out, "  shape    member {nm} × time {nt} × level {nl} × latitude {ny} × longitude {nx}");
    let _ =
        writeln!(out, "  members  {}", list(&v.members.iter().map(|m| m.to_string()).collect::<Vec<_>>()));
    let _ = writeln!(out, "  times    {}", v.describe_times());
    let levels = match &v.level_kind {
        LevelKind::Pressure => format!(
            "pressure: {} hPa",
            list(&v.levels.iter().map(|l| format!("{}", l / 100.0)).collect::<Vec<_>>())
        ),
        LevelKind::None => "none (single level)".into(),
        kind => format!(
            "{kind:?}: {}{}",
            list(&v.levels.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
            if kind.unit().is_empty() { String::new() } else { format!(" {}", kind.unit()) }
        ),
    };
    let _ = writeln!(out, "  levels   {levels}");
    let _ = writeln!(
        out,
        "  grid     latitude {} … {} ({} rows), longitude {} … {} ({} columns), {}",
        v.latitudes.first().unwrap_or(&f64::NAN),
        v.latitudes.last().unwrap_or(&f64::NAN),
        ny,
        v.longitudes.first().unwrap_or(&f64::NAN),
        v.longitudes.last().unwrap_or(&f64::NAN),
        nx,
        if v.covers_globe() { "global" } else { "not global" }
    );
    let missing = v.values.iter().filter(|x| !x.is_finite()).count();
    let (lo, hi) = v
        .values
        .iter()
        .filter(|x| x.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let _ = writeln!(
        out,
        "  values   min {lo}, max {hi}, area mean of the first field {:.6}{}",
        v.area_mean(0, 0, 0),
        if missing > 0 { format!(", {missing} missing") } else { String::new() }
    );
}

/// Up to 6 items, then an ellipsis and the last one.
fn list(items: &[String]) -> String {
    if items.len() <= 6 {
        items.join(", ")
    } else {
        format!("{}, … , {} ({} in all)", items[..5].join(", "), items[items.len() - 1], items.len())
    }
}

/// The description of a BUFR file's reports printed by `assim data inspect`.
pub fn describe_reports(r: &crate::bufr::Reports) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: BUFR, {} message(s): {} radiosonde report(s), {} surface station report(s), {} aircraft report(s), {} not decoded",
        r.path.display(),
        r.messages,
        r.soundings.len(),
        r.surface.len(),
        r.aircraft.len(),
        r.skipped.len()
    );
    let times = r
        .soundings
        .iter()
        .map(|s| s.time)
        .chain(r.surface.iter().map(|s| s.time))
        .chain(r.aircraft.iter().map(|s| s.time));
    if let (Some(first), Some(last)) = (times.clone().min(), times.max()) {
        let _ = writeln!(
            out,
            "  times    {} … {}",
            crate::calendar::format_iso(first),
            crate::calendar::format_iso(last)
        );
    }
    let levels: usize = r.soundings.iter().map(|s| s.levels.len()).sum();
    if levels == 0 {
        return describe_surface(out, r);
    }
    let count = |f: fn(&crate::bufr::SoundingLevel) -> bool| {
        r.soundings.iter().flat_map(|s| &s.levels).filter(|l| f(l)).count()
    };
    let _ = writeln!(
        out,
        "  levels   {levels} in all: {} with temperature, {} with geopotential, {} with wind",
        count(|l| l.temperature.is_some()),
        count(|l| l.geopotential.is_some()),
        count(|l| l.wind_speed.is_some() && l.wind_direction.is_some())
    );
    for s in r.soundings.iter().take(3) {
        let _ = writeln!(
            out,
            "  station {} at {:.2}°N {:.2}°E, {}: {} levels, {:.0}–{:.0} hPa",
            s.station,
            s.latitude,
            s.longitude,
            crate::calendar::format_iso(s.time),
            s.levels.len(),
            s.levels.iter().map(|l| l.pressure).fold(f64::NEG_INFINITY, f64::max) / 100.0,
            s.levels.iter().map(|l| l.pressure).fold(f64::INFINITY, f64::min) / 100.0
        );
    }
    describe_surface(out, r)
}

fn describe_surface(mut out: String, r: &crate::bufr::Reports) -> String {
    if !r.surface.is_empty() {
        let n = |f: fn(&crate::bufr::SurfaceReport) -> bool| r.surface.iter().filter(|s| f(s)).count();
        let _ = writeln!(
            out,
            "  surface  {} station pressures, {} mean-sea-level pressures, {} temperatures, {} dew points, {} winds",
            n(|s| s.pressure.is_some()),
            n(|s| s.msl_pressure.is_some()),
            n(|s| s.temperature.is_some()),
            n(|s| s.dewpoint.is_some()),
            n(|s| s.wind_speed.is_some() && s.wind_direction.is_some())
        );
    }
    if !r.aircraft.is_empty() {
        let n = |f: fn(&crate::bufr::AircraftReport) -> bool| r.aircraft.iter().filter(|s| f(s)).count();
        let _ = writeln!(
            out,
            "  aircraft {} heights (pressure altitudes), {} pressures, {} temperatures, {} winds",
            n(|s| s.height.is_some()),
            n(|s| s.pressure.is_some()),
            n(|s| s.temperature.is_some()),
            n(|s| s.wind_speed.is_some() && s.wind_direction.is_some())
        );
    }
    for (message, why) in r.skipped.iter().take(3) {
        let _ = writeln!(out, "  message {message} not decoded: {why}");
    }
    out
}
