//! NetCDF-3 and NetCDF-4 into [`Dataset`] through the pure-Rust `netcdf-reader`: dimensions
//! recognised by their coordinate variables' CF attributes (standard names, `degrees_north`,
//! `<unit> since <date>`, pressure units), packed integers unpacked with `scale_factor` and
//! `add_offset`, fill values masked to NaN, any dimension order brought to
//! `[member][time][level][latitude][longitude]`.

use crate::calendar::TimeUnits;
use crate::error::{DataError, Result};
use crate::field::{Dataset, Format, LevelKind, Variable};
use netcdf_reader::{NcFile, NcFormat, NcVariable};
use std::path::Path;

/// What a dimension of a data variable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Member,
    Time,
    Level,
    Latitude,
    Longitude,
}

/// Reads every gridded variable (one with a latitude and a longitude dimension).
pub fn read(path: &Path) -> Result<Dataset> {
    let file =
        NcFile::open(path).map_err(|e| DataError::file(path, format!("not a readable NetCDF file: {e}")))?;
    let format = match file.format() {
        NcFormat::Nc4 | NcFormat::Nc4Classic => Format::NetCdf4,
        _ => Format::NetCdf3,
    };
    let all = file.variables().map_err(|e| DataError::file(path, e.to_string()))?;
    let mut variables = Vec::new();
    for var in all {
        let roles: Vec<Option<Role>> = var.dimensions().iter().map(|d| role(&file, &d.name)).collect();
        let has = |r| roles.contains(&Some(r));
        let is_coordinate = var.dimensions().len() == 1 && var.dimensions()[0].name == var.name();
        if is_coordinate || !has(Role::Latitude) || !has(Role::Longitude) {
            continue;
        }
        variables.push(read_variable(path, &file, var, &roles)?);
    }
    if variables.is_empty() {
        return Err(DataError::file(path, "holds no variable on a latitude-longitude grid"));
    }
    Ok(Dataset { path: path.to_path_buf(), format, variables })
}

fn read_variable(path: &Path, file: &NcFile, var: &NcVariable, roles: &[Option<Role>]) -> Result<Variable> {
    let name = var.name().to_string();
    let fail = |reason: String| DataError::field(path, &name, reason);
    for (dim, role) in var.dimensions().iter().zip(roles) {
        if role.is_none() && dim.size != 1 {
            return Err(fail(format!(
                "dimension `{}` (size {}) is not a member, time, level, latitude or longitude dimension that assim recognises",
                dim.name, dim.size
            )));
        }
    }
    let units = text(var, "units").ok_or_else(|| {
        fail(
            "has no `units` attribute: assim will not guess the units of a field (add e.g. units = \"K\")"
                .into(),
        )
    })?;
    let coordinate = |r: Role| {
        var.dimensions().iter().zip(roles).find(|(_, role)| **role == Some(r)).map(|(d, _)| d.name.clone())
    };
    let read_axis = |dim: &str| -> Result<Vec<f64>> {
        let values = file
            .read_variable_unpacked_masked(dim)
            .map_err(|e| DataError::field(path, dim, e.to_string()))?;
        Ok(values.iter().copied().collect())
    };
    let scalar_coordinates: Vec<String> = text(var, "coordinates")
        .map(|c| c.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let latitudes = read_axis(&coordinate(Role::Latitude).expect("checked above"))?;
    let longitudes = read_axis(&coordinate(Role::Longitude).expect("checked above"))?;
    let members: Vec<i64> = match coordinate(Role::Member) {
        Some(dim) => read_axis(&dim)?.iter().map(|&v| v.round() as i64).collect(),
        None => {
            scalar(file, &scalar_coordinates, Role::Member).map(|v| vec![v.round() as i64]).unwrap_or(vec![0])
        }
    };
    let time_name = coordinate(Role::Time).or_else(|| {
        scalar_coordinates
            .iter()
            .find(|c| role(file, c) == Some(Role::Time) && c.as_str() != "valid_time")
            .cloned()
    });
    let times: Vec<i64> =
        match time_name {
            Some(dim) => {
                let coord = file.variable(&dim).map_err(|e| DataError::field(path, &dim, e.to_string()))?;
                let units = time_units(path, &dim, coord)?;
                read_axis(&dim)?.iter().map(|&v| units.to_epoch(v)).collect()
            }
            None => return Err(fail(
                "has no time coordinate (a dimension or scalar coordinate with `<unit> since <date>` units)"
                    .into(),
            )),
        };
    let (level_kind, levels) = match coordinate(Role::Level) {
        Some(dim) => (LevelKind::Pressure, pressure_levels(path, file, &dim)?),
        None => match scalar_coordinates.iter().find(|c| role(file, c) == Some(Role::Level)) {
            Some(c) => (LevelKind::Pressure, pressure_levels(path, file, c)?),
            None => (LevelKind::None, vec![0.0]),
        },
    };
    let data = file.read_variable_unpacked_masked(&name).map_err(|e| fail(e.to_string()))?;
    let source: Vec<f64> = data.iter().copied().collect();
    // Strides of the file's dimensions, in the file's (C) order.
    let sizes: Vec<usize> = var.dimensions().iter().map(|d| d.size as usize).collect();
    let mut strides = vec![1usize; sizes.len()];
    for k in (0..sizes.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * sizes[k + 1];
    }
    let stride_of = |r: Role| {
        roles.iter().zip(&strides).find(|(role, _)| **role == Some(r)).map(|(_, &s)| s).unwrap_or(0)
    };
    let s = [Role::Member, Role::Time, Role::Level, Role::Latitude, Role::Longitude].map(stride_of);
    let n = [members.len(), times.len(), levels.len(), latitudes.len(), longitudes.len()];
    if source.len() != n.iter().product::<usize>() {
        return Err(fail(format!(
            "holds {} values, but its axes make {}",
            source.len(),
            n.iter().product::<usize>()
        )));
    }
    let mut values = Vec::with_capacity(source.len());
    for m in 0..n[0] {
        for t in 0..n[1] {
            for l in 0..n[2] {
                for j in 0..n[3] {
                    let base = m * s[0] + t * s[1] + l * s[2] + j * s[3];
                    values.extend((0..n[4]).map(|i| source[base + i * s[4]] as f32));
                }
            }
        }
    }
    Ok(Variable {
        standard_name: text(var, "standard_name"),
        long_name: text(var, "long_name"),
        units,
        members,
        times,
        level_kind,
        levels,
        latitudes,
        longitudes,
        values,
        name,
    })
}

/// A text attribute.
fn text(var: &NcVariable, name: &str) -> Option<String> {
    var.attribute(name).and_then(|a| a.value.as_string()).map(|s| s.trim_end_matches('\0').to_string())
}

/// The role of a dimension or scalar coordinate, from its coordinate variable's attributes and
/// then its name.
fn role(file: &NcFile, name: &str) -> Option<Role> {
    let lower = name.to_ascii_lowercase();
    let (standard, units) = match file.variable(name) {
        Ok(v) => (
            text(v, "standard_name").unwrap_or_default(),
            text(v, "units").unwrap_or_default().to_ascii_lowercase(),
        ),
        Err(_) => (String::new(), String::new()),
    };
    if standard == "latitude"
        || units.starts_with("degrees_n")
        || units == "degree_north"
        || matches!(lower.as_str(), "lat" | "latitude")
    {
        Some(Role::Latitude)
    } else if standard == "longitude"
        || units.starts_with("degrees_e")
        || units == "degree_east"
        || matches!(lower.as_str(), "lon" | "longitude")
    {
        Some(Role::Longitude)
    } else if standard == "time" || units.contains(" since ") || lower == "time" {
        Some(Role::Time)
    } else if standard == "air_pressure"
        || matches!(
            lower.as_str(),
            "level" | "levels" | "plev" | "isobaricinhpa" | "isobaricinpa" | "pressure" | "pressure_level"
        )
    {
        Some(Role::Level)
    } else if standard == "realization"
        || matches!(lower.as_str(), "number" | "member" | "realization" | "ensemble" | "ensemble_member")
    {
        Some(Role::Member)
    } else {
        None
    }
}

/// The value of a scalar coordinate of a role named in the `coordinates` attribute.
fn scalar(file: &NcFile, coordinates: &[String], r: Role) -> Option<f64> {
    let name = coordinates.iter().find(|c| role(file, c) == Some(r))?;
    file.read_variable_as_f64(name).ok()?.iter().next().copied()
}

fn time_units(path: &Path, name: &str, coord: &NcVariable) -> Result<TimeUnits> {
    let units = text(coord, "units")
        .ok_or_else(|| DataError::field(path, name, "time coordinate has no `units` attribute"))?;
    if let Some(calendar) = text(coord, "calendar")
        && !matches!(calendar.to_ascii_lowercase().as_str(), "standard" | "gregorian" | "proleptic_gregorian")
    {
        return Err(DataError::field(
            path,
            name,
            format!("calendar `{calendar}` is not the Gregorian one assim's models use"),
        ));
    }
    TimeUnits::parse(&units).map_err(|e| DataError::field(path, name, e))
}

/// Pressure levels in Pa, from a coordinate in Pa or hPa (millibars).
fn pressure_levels(path: &Path, file: &NcFile, name: &str) -> Result<Vec<f64>> {
    let coord = file.variable(name).map_err(|e| DataError::field(path, name, e.to_string()))?;
    let units = text(coord, "units").ok_or_else(|| {
        DataError::field(
            path,
            name,
            "level coordinate has no `units` attribute: Pa and hPa cannot be told apart",
        )
    })?;
    let factor = match units.to_ascii_lowercase().as_str() {
        "pa" => 1.0,
        "hpa" | "mbar" | "millibar" | "millibars" | "mb" => 100.0,
        other => {
            return Err(DataError::field(path, name, format!("level units `{other}` are not Pa or hPa")));
        }
    };
    let values = file.read_variable_as_f64(name).map_err(|e| DataError::field(path, name, e.to_string()))?;
    Ok(values.iter().map(|v| v * factor).collect())
}
