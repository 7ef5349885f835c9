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
