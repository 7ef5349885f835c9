//! GRIB editions 1 and 2 into [`Dataset`]: messages decoded by the pure-Rust `grib-reader`,
//! grouped into variables by parameter and kind of level, and laid out on their (member, valid
//! time, level) axes. A variable whose messages do not fill those axes, or whose grids differ,
//! is refused with the missing combination named.

use crate::calendar::epoch_seconds;
use crate::cf;
use crate::error::{DataError, Result};
use crate::field::{Dataset, Format, LevelKind, Variable};
use grib_reader::{GribFile, GridDefinition, Message, ProductDefinitionTemplate, ReferenceTime};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where one message goes.
struct Placed {
    member: i64,
    time: i64,
    level: f64,
    message: usize,
}

/// The identity of a variable across messages, and its grid.
#[derive(Clone, PartialEq)]
struct Key {
    name: String,
    level_kind: LevelKind,
}

/// Reads every message of a GRIB file (editions 1 and 2 may be mixed).
pub fn read(path: &Path) -> Result<Dataset> {
    let file =
        GribFile::open(path).map_err(|e| DataError::file(path, format!("not a readable GRIB file: {e}")))?;
    if file.message_count() == 0 {
        return Err(DataError::file(path, "holds no GRIB message"));
    }
    let mut groups: Vec<(Key, Option<cf::Parameter>, Vec<Placed>)> = Vec::new();
    let mut edition = 0;
    for (index, message) in file.messages().enumerate() {
        if index == 0 {
            edition = message.edition();
        }
        let parameter = parameter(&message);
        let name = parameter.map(|p| p.short_name.to_string()).unwrap_or_else(|| fallback_name(&message));
        let (level_kind, level) = level(&message);
        // Pressure at the surface is the surface pressure.
        let (name, parameter) = match (parameter, &level_kind) {
            (Some(p), LevelKind::Surface) if p.short_name == "pres" => {
                ("sp".to_string(), Some(SURFACE_PRESSURE))
            }
            _ => (name, parameter),
        };
        let time = valid_time(&message).ok_or_else(|| {
            DataError::field(
                path,
                &name,
                format!("message {} has no valid time that can be computed", index + 1),
            )
        })?;
        let key = Key { name, level_kind };
        let placed = Placed { member: member(&message), time, level, message: index };
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, list)) => list.push(placed),
            None => groups.push((key, parameter, vec![placed])),
        }
    }
    // A parameter on several kinds of level (u on pressure levels and at the tropopause) is one
    // variable per kind; all but the pressure-level one are named after their kind.
    for i in 0..groups.len() {
        let clash = groups.iter().enumerate().any(|(j, g)| j != i && g.0.name == groups[i].0.name);
        if clash && groups[i].0.level_kind != LevelKind::Pressure {
            let suffix = slug(&groups[i].0.level_kind);
            groups[i].0.name = format!("{}_{suffix}", groups[i].0.name);
        }
    }
    let variables = groups
        .into_iter()
        .map(|(key, parameter, placed)| assemble(path, &file, key, parameter, placed))
        .collect::<Result<Vec<_>>>()?;
    Ok(Dataset { path: path.to_path_buf(), format: Format::Grib(edition), variables })
}

const SURFACE_PRESSURE: cf::Parameter = cf::Parameter {
    short_name: "sp",
    standard_name: "surface_air_pressure",
    units: "Pa",
    long_name: "Surface pressure",
};

fn assemble(
    path: &Path,
    file: &GribFile,
    key: Key,
    parameter: Option<cf::Parameter>,
    placed: Vec<Placed>,
) -> Result<Variable> {
    let members: Vec<i64> = placed.iter().map(|p| p.member).collect::<BTreeSet<_>>().into_iter().collect();
    let times: Vec<i64> = placed.iter().map(|p| p.time).collect::<BTreeSet<_>>().into_iter().collect();
    let mut levels: Vec<f64> = Vec::new();
    for p in &placed {
        if !levels.contains(&p.level) {
            levels.push(p.level);
        }
    }
    levels.sort_by(|a, b| a.total_cmp(b));
    let first =
        file.message(placed[0].message).map_err(|e| DataError::field(path, &key.name, e.to_string()))?;
    let (latitudes, longitudes) = axes(path, &key.name, &first)?;
    let (ny, nx) = (latitudes.len(), longitudes.len());
    let grid = first.grid_definition().clone();
    let cells = members.len() * times.len() * levels.len();
    let mut values = vec![f32::NAN; cells * ny * nx];
    let mut filled: BTreeMap<usize, usize> = BTreeMap::new();
    let mut buffer = vec![0.0f64; ny * nx];
    for p in &placed {
        let message =
            file.message(p.message).map_err(|e| DataError::field(path, &key.name, e.to_string()))?;
        if *message.grid_definition() != grid {
            return Err(DataError::field(
                path,
                &key.name,
                format!(
                    "message {} is on another grid than message {}: one variable must keep one grid",
                    p.message + 1,
                    placed[0].message + 1
                ),
            ));
        }
        let m = members.binary_search(&p.member).expect("member axis built from the messages");
        let t = times.binary_search(&p.time).expect("time axis built from the messages");
        let l = levels.iter().position(|&l| l == p.level).expect("level axis built from the messages");
        let cell = (m * times.len() + t) * levels.len() + l;
        if let Some(previous) = filled.insert(cell, p.message) {
            return Err(DataError::field(
                path,
                &key.name,
                format!(
                    "messages {} and {} are the same member {}, time {} and level {}: duplicated field",
                    previous + 1,
                    p.message + 1,
                    p.member,
                    crate::calendar::format_iso(p.time),
                    p.level
                ),
            ));
        }
        message.decode_into(&mut buffer).map_err(|e| {
            DataError::field(path, &key.name, format!("message {} cannot be decoded: {e}", p.message + 1))
        })?;
        let out = &mut values[cell * ny * nx..(cell + 1) * ny * nx];
        for (o, &v) in out.iter_mut().zip(&buffer) {
            *o = v as f32;
        }
    }
    if filled.len() != cells {
        let missing = (0..cells).find(|c| !filled.contains_key(c)).expect("fewer filled than cells");
        let (m, rest) = (missing / (times.len() * levels.len()), missing % (times.len() * levels.len()));
        let (t, l) = (rest / levels.len(), rest % levels.len());
        return Err(DataError::field(
            path,
            &key.name,
            format!(
                "{} of the {} (member, time, level) fields are present; missing e.g. member {}, time {}, level {}",
                filled.len(),
                cells,
                members[m],
                crate::calendar::format_iso(times[t]),
                levels[l]
            ),
        ));
    }
    Ok(Variable {
        name: key.name,
        standard_name: parameter.map(|p| p.standard_name.to_string()),
        long_name: parameter.map(|p| p.long_name.to_string()),
        units: parameter.map(|p| p.units.to_string()).unwrap_or_else(|| "unknown".into()),
        members,
        times,
        level_kind: key.level_kind,
        levels,
        latitudes,
        longitudes,
        values,
    })
}

/// Latitudes and longitudes of a regular latitude–longitude or regular Gaussian grid, in the
/// order the values are stored.
fn axes(path: &Path, name: &str, message: &Message<'_>) -> Result<(Vec<f64>, Vec<f64>)> {
    let scanning = match message.grid_definition() {
        GridDefinition::LatLon(g) => g.scanning_mode,
        GridDefinition::RegularGaussian(g) => g.scanning_mode,
        other => {
            return Err(DataError::field(
                path,
                name,
                format!(
                    "grid {other:?} is not a regular latitude-longitude or Gaussian grid, which is all assim reads"
                ),
            ));
        }
    };
    if scanning & 0x20 != 0 {
        return Err(DataError::field(
            path,
            name,
            "columns are stored before rows (scanning mode bit 3): not supported",
        ));
    }
    let lat = message.latitudes().map_err(|e| DataError::field(path, name, e.to_string()))?;
    let lon = message.longitudes().map_err(|e| DataError::field(path, name, e.to_string()))?;
    match (lat, lon) {
        (Some(lat), Some(lon)) => Ok((lat, lon)),
        _ => Err(DataError::field(path, name, "the grid has no latitude or longitude axis")),
    }
}

fn parameter(message: &Message<'_>) -> Option<cf::Parameter> {
    if let Some(pd) = message.grib1_product_definition() {
        cf::grib1(message.center_id(), pd.table_version, pd.parameter_number)
    } else {
        let p = message.parameter();
        cf::grib2(p.discipline?, p.category?, p.number)
    }
}

fn fallback_name(message: &Message<'_>) -> String {
    let p = message.parameter();
    if p.short_name != "unknown" && !p.short_name.is_empty() {
        return p.short_name.to_ascii_lowercase();
    }
    match (p.discipline, p.category, p.table_version) {
        (Some(d), Some(c), _) => format!("param_{d}_{c}_{}", p.number),
        (_, _, Some(t)) => format!("param_{t}_{}", p.number),
        _ => format!("param_{}", p.number),
    }
}

/// The kind and value of a message's level (pressure in Pa).
fn level(message: &Message<'_>) -> (LevelKind, f64) {
    if let Some(pd) = message.grib1_product_definition() {
        let v = pd.level_value as f64;
        return match pd.level_type {
            100 => (LevelKind::Pressure, v * 100.0),
            1 => (LevelKind::Surface, 0.0),
            102 => (LevelKind::MeanSea, 0.0),
            105 => (LevelKind::HeightAboveGround, v),
            109 => (LevelKind::Hybrid, v),
            t => (LevelKind::Other(format!("GRIB1 level type {t}")), v),
        };
    }
    let Some(pd) = message.product_definition() else {
        return (LevelKind::None, 0.0);
    };
    let Some(surface) = pd.first_surface() else {
        return (LevelKind::None, 0.0);
    };
    let scaled = |s: &grib_reader::FixedSurface| {
        s.value.as_ref().map(|s| s.scaled_value as f64 * 10f64.powi(-(s.scale_factor as i32))).unwrap_or(0.0)
    };
    let v = scaled(surface);
    // A layer between two surfaces is its own kind of level, one per bottom surface: two layers
    // with the same top are two fields, not one field twice.
    if let Some(second) = pd.second_surface().filter(|s| s.surface_type != 255) {
        let kind = format!(
            "GRIB2 layer, surface types {} to {} at {}",
            surface.surface_type,
            second.surface_type,
            scaled(second)
        );
        return (LevelKind::Other(kind), v);
    }
    match surface.surface_type {
        100 => (LevelKind::Pressure, v),
        1 => (LevelKind::Surface, 0.0),
        101 => (LevelKind::MeanSea, 0.0),
        103 => (LevelKind::HeightAboveGround, v),
        105 => (LevelKind::Hybrid, v),
        t => (LevelKind::Other(format!("GRIB2 surface type {t}")), v),
    }
}

/// The ensemble member: GRIB2's perturbation number (template 4.1), or in GRIB1 ECMWF's local
/// definitions 1 and 36 (operational ensemble, ERA5's ensemble of data assimilations), octet 50
/// of the product definition section. 0 for anything else.
fn member(message: &Message<'_>) -> i64 {
    if let Some(pd) = message.product_definition() {
        if let ProductDefinitionTemplate::IndividualEnsembleForecast(e) = &pd.template {
            return e.perturbation_number as i64;
        }
        return 0;
    }
    let raw = message.raw_bytes();
    // Section 1 starts after the 8-byte indicator section; its first 3 octets are its length.
    if message.center_id() != 98 || raw.len() < 8 + 51 {
        return 0;
    }
    let pds = &raw[8..];
    let length = ((pds[0] as usize) << 16) | ((pds[1] as usize) << 8) | pds[2] as usize;
    if length >= 51 && matches!(pds[40], 1 | 36) { pds[49] as i64 } else { 0 }
}

fn valid_time(message: &Message<'_>) -> Option<i64> {
    let t: ReferenceTime = message.valid_time().unwrap_or(*message.reference_time());
    Some(epoch_seconds(
        t.year as i64,
        t.month as u32,
        t.day as u32,
        t.hour as u32,
        t.minute as u32,
        t.second as u32,
    ))
}

/// A level kind as a name suffix: `surface`, `height_above_ground`, `layer_1_8_0`.
fn slug(kind: &LevelKind) -> String {
    let text = match kind {
        LevelKind::Other(words) => words.replace("GRIB2 ", "").replace("GRIB1 ", ""),
        other => format!("{other:?}"),
    };
    let mut out = String::new();
    for (k, c) in text.chars().enumerate() {
        if c.is_ascii_uppercase() && k > 0 && !out.ends_with('_') {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}
