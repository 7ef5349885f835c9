//! CF conventions over any store of named n-dimensional arrays (NetCDF, Zarr): which dimension
//! is the member, time, level, latitude or longitude, read from the coordinate arrays' standard
//! names and units; every gridded variable laid out as `[member][time][level][lat][lon]`. One
//! implementation, so NetCDF and Zarr files of the same field read the same way.

use crate::calendar::TimeUnits;
use crate::error::{DataError, Result};
use crate::field::{LevelKind, Variable};
use std::path::Path;

/// A file or store of named arrays with attributes: what the NetCDF and Zarr readers provide.
pub(crate) trait Store {
    /// The file or store, for errors.
    fn path(&self) -> &Path;
    /// Every array's name, in the file's order.
    fn names(&self) -> Vec<String>;
    /// An array's dimensions: (name, size), slowest first.
    fn dims(&self, name: &str) -> Option<Vec<(String, usize)>>;
    /// A text attribute of an array.
    fn text(&self, name: &str, attr: &str) -> Option<String>;
    /// An array's values, unpacked (`scale_factor`, `add_offset`) and with fill values as NaN,
    /// in C order.
    fn read(&self, name: &str) -> Result<Vec<f64>>;
    /// The same as f32, the precision variables are kept in (a store may avoid the f64 copy).
    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self.read(name)?.into_iter().map(|v| v as f32).collect())
    }
}

/// What a dimension of a data variable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Member,
    Time,
    Level,
    Latitude,
    Longitude,
}

/// Every variable with a latitude and a longitude dimension.
pub(crate) fn variables(store: &dyn Store) -> Result<Vec<Variable>> {
    let mut out = Vec::new();
    for name in store.names() {
        let Some(dims) = store.dims(&name) else { continue };
        let roles: Vec<Option<Role>> = dims.iter().map(|(d, _)| role(store, d)).collect();
        let is_coordinate = dims.len() == 1 && dims[0].0 == name;
        if is_coordinate || !roles.contains(&Some(Role::Latitude)) || !roles.contains(&Some(Role::Longitude))
        {
            continue;
        }
        out.push(variable(store, &name, &dims, &roles)?);
    }
    if out.is_empty() {
        return Err(DataError::file(store.path(), "holds no variable on a latitude-longitude grid"));
    }
    Ok(out)
}

fn variable(
    store: &dyn Store,
    name: &str,
    dims: &[(String, usize)],
    roles: &[Option<Role>],
) -> Result<Variable> {
    let path = store.path();
    let fail = |reason: String| DataError::field(path, name, reason);
    for ((dim, size), role) in dims.iter().zip(roles) {
        if role.is_none() && *size != 1 {
            return Err(fail(format!(
                "dimension `{dim}` (size {size}) is not a member, time, level, latitude or longitude dimension that assim recognises"
            )));
        }
        if role.is_some() && store.dims(dim).is_none() && !matches!(role, Some(Role::Member)) {
            return Err(fail(format!("dimension `{dim}` has no coordinate variable giving its values")));
        }
    }
    let units = store.text(name, "units").ok_or_else(|| {
        fail(
            "has no `units` attribute: assim will not guess the units of a field (add e.g. units = \"K\")"
                .into(),
        )
    })?;
    let dim_of =
        |r: Role| dims.iter().zip(roles).find(|(_, role)| **role == Some(r)).map(|(d, _)| d.0.clone());
    let scalar_coordinates: Vec<String> = store
        .text(name, "coordinates")
        .map(|c| c.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let scalar_of = |r: Role| {
        scalar_coordinates.iter().find(|c| role(store, c) == Some(r) && c.as_str() != "valid_time").cloned()
    };
    let latitudes = store.read(&dim_of(Role::Latitude).expect("checked by the caller"))?;
    let longitudes = store.read(&dim_of(Role::Longitude).expect("checked by the caller"))?;
    let members: Vec<i64> = match dim_of(Role::Member) {
        Some(dim) if store.dims(&dim).is_some() => {
            store.read(&dim)?.iter().map(|v| v.round() as i64).collect()
        }
        Some(dim) => (0..dims.iter().find(|d| d.0 == dim).map(|d| d.1).unwrap_or(1) as i64).collect(),
        None => match scalar_of(Role::Member) {
            Some(c) => store.read(&c)?.iter().take(1).map(|v| v.round() as i64).collect(),
            None => vec![0],
        },
    };
    let time_name = dim_of(Role::Time).or_else(|| scalar_of(Role::Time)).ok_or_else(|| {
        fail(
            "has no time coordinate (a dimension or scalar coordinate with `<unit> since <date>` units)"
                .into(),
        )
    })?;
    let units_of_time = time_units(store, &time_name)?;
    let times: Vec<i64> = store.read(&time_name)?.iter().map(|&v| units_of_time.to_epoch(v)).collect();
    let (level_kind, levels) = match dim_of(Role::Level).or_else(|| scalar_of(Role::Level)) {
        Some(dim) if store.text(&dim, "standard_name").as_deref() == Some("atmosphere_sigma_coordinate") => {
            (LevelKind::Sigma, store.read(&dim)?)
        }
        Some(dim) => (LevelKind::Pressure, pressure_levels(store, &dim)?),
        None => (LevelKind::None, vec![0.0]),
    };
    let source = store.read_f32(name)?;
    let n = [members.len(), times.len(), levels.len(), latitudes.len(), longitudes.len()];
    let total: usize = n.iter().product();
    if source.len() != total {
        return Err(fail(format!("holds {} values, but its axes make {total}", source.len())));
    }
    // The file's dimensions in the canonical order already (the usual case): no copy.
    let present: Vec<Role> = roles.iter().flatten().copied().collect();
    let canonical = present.windows(2).all(|w| order(w[0]) < order(w[1]));
    let values = if canonical {
        source
    } else {
        // Strides of the file's dimensions (C order), then a copy in the canonical order.
        let mut strides = vec![1usize; dims.len()];
        for k in (0..dims.len().saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * dims[k + 1].1;
        }
        let stride_of = |r: Role| {
            roles.iter().zip(&strides).find(|(role, _)| **role == Some(r)).map(|(_, &s)| s).unwrap_or(0)
        };
        let s = [Role::Member, Role::Time, Role::Level, Role::Latitude, Role::Longitude].map(stride_of);
        let mut values = Vec::with_capacity(total);
        for m in 0..n[0] {
            for t in 0..n[1] {
                for l in 0..n[2] {
                    for j in 0..n[3] {
                        let base = m * s[0] + t * s[1] + l * s[2] + j * s[3];
                        values.extend((0..n[4]).map(|i| source[base + i * s[4]]));
                    }
                }
            }
        }
        values
    };
    Ok(Variable {
        name: name.to_string(),
        standard_name: store.text(name, "standard_name"),
        long_name: store.text(name, "long_name"),
        units,
        members,
        times,
        level_kind,
        levels,
        latitudes,
        longitudes,
        values,
    })
}

/// A role's place in `[member][time][level][latitude][longitude]`.
fn order(r: Role) -> usize {
    match r {
        Role::Member => 0,
        Role::Time => 1,
        Role::Level => 2,
        Role::Latitude => 3,
        Role::Longitude => 4,
    }
}

/// The role of a dimension or scalar coordinate, from its coordinate array's attributes and then
/// its name.
fn role(store: &dyn Store, name: &str) -> Option<Role> {
    let lower = name.to_ascii_lowercase();
    let standard = store.text(name, "standard_name").unwrap_or_default();
    let units = store.text(name, "units").unwrap_or_default().to_ascii_lowercase();
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
        || standard == "atmosphere_sigma_coordinate"
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

fn time_units(store: &dyn Store, name: &str) -> Result<TimeUnits> {
    let path = store.path();
    let units = store
        .text(name, "units")
        .ok_or_else(|| DataError::field(path, name, "time coordinate has no `units` attribute"))?;
    if let Some(calendar) = store.text(name, "calendar")
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

/// Pressure levels in Pa, from a coordinate in Pa or hPa (millibars). A coordinate without
/// units (WeatherBench 2's `level`) is taken as hPa when every value lies in 1–1100, the only
/// reading under which those numbers are atmospheric pressures; anything else is refused.
fn pressure_levels(store: &dyn Store, name: &str) -> Result<Vec<f64>> {
    let path = store.path();
    let values = store.read(name)?;
    let factor = match store.text(name, "units").map(|u| u.to_ascii_lowercase()) {
        Some(u) if u == "pa" => 1.0,
        Some(u) if matches!(u.as_str(), "hpa" | "mbar" | "millibar" | "millibars" | "mb") => 100.0,
        Some(other) => {
            return Err(DataError::field(path, name, format!("level units `{other}` are not Pa or hPa")));
        }
        None if values.iter().all(|&v| (1.0..=1100.0).contains(&v)) => 100.0,
        None => {
            return Err(DataError::field(
                path,
                name,
                "level coordinate has no `units` attribute and its values are not hPa (1–1100): Pa and hPa cannot be told apart",
            ));
        }
    };
    Ok(values.iter().map(|v| v * factor).collect())
}
