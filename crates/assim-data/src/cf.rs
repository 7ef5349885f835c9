//! GRIB parameters to CF names and units: the part of WMO's and ECMWF's parameter tables that
//! atmospheric data assimilation uses. A parameter not listed keeps its GRIB short name and has no
//! standard name, so it can be inspected but is not mistaken for a model variable.

/// CF identity of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    /// Short name, as ecCodes names it (`t`, `z`, `gh`).
    pub short_name: &'static str,
    /// CF standard name.
    pub standard_name: &'static str,
    /// Units, CF spelling.
    pub units: &'static str,
    /// Long name.
    pub long_name: &'static str,
}

const fn p(
    short_name: &'static str,
    standard_name: &'static str,
    units: &'static str,
    long_name: &'static str,
) -> Parameter {
    Parameter { short_name, standard_name, units, long_name }
}

const T: Parameter = p("t", "air_temperature", "K", "Temperature");
const Z: Parameter = p("z", "geopotential", "m2 s-2", "Geopotential");
const GH: Parameter = p("gh", "geopotential_height", "m", "Geopotential height");
const U: Parameter = p("u", "eastward_wind", "m s-1", "U component of wind");
const V: Parameter = p("v", "northward_wind", "m s-1", "V component of wind");
const Q: Parameter = p("q", "specific_humidity", "kg kg-1", "Specific humidity");
const R: Parameter = p("r", "relative_humidity", "%", "Relative humidity");
const SP: Parameter = p("sp", "surface_air_pressure", "Pa", "Surface pressure");
const PRES: Parameter = p("pres", "air_pressure", "Pa", "Pressure");
const MSL: Parameter = p("msl", "air_pressure_at_mean_sea_level", "Pa", "Mean sea level pressure");
const VO: Parameter = p("vo", "atmosphere_relative_vorticity", "s-1", "Vorticity (relative)");
const D: Parameter = p("d", "divergence_of_wind", "s-1", "Divergence");
const W: Parameter = p("w", "lagrangian_tendency_of_air_pressure", "Pa s-1", "Vertical velocity");
const T2M: Parameter = p("2t", "air_temperature", "K", "2 metre temperature");
const U10: Parameter = p("10u", "eastward_wind", "m s-1", "10 metre U wind component");
const V10: Parameter = p("10v", "northward_wind", "m s-1", "10 metre V wind component");

/// A GRIB edition 1 parameter: ECMWF's table 128 at centre 98, WMO's table 2 (versions 1–3)
/// elsewhere.
pub fn grib1(centre: u16, table_version: u8, number: u8) -> Option<Parameter> {
    if centre == 98 && table_version == 128 {
        return Some(match number {
            129 => Z,
            130 => T,
            131 => U,
            132 => V,
            133 => Q,
            134 => SP,
            135 => W,
            138 => VO,
            151 => MSL,
            155 => D,
            157 => R,
            165 => U10,
            166 => V10,
            167 => T2M,
            _ => return None,
        });
    }
    if table_version <= 3 {
        return Some(match number {
            1 => PRES,
            2 => MSL,
            6 => Z,
            7 => GH,
            11 => T,
            33 => U,
            34 => V,
            39 => W,
            51 => Q,
            52 => R,
            _ => return None,
        });
    }
    None
}

/// A GRIB edition 2 parameter of discipline 0 (meteorological products), WMO code table 4.2.
pub fn grib2(discipline: u8, category: u8, number: u8) -> Option<Parameter> {
    if discipline != 0 {
        return None;
    }
    Some(match (category, number) {
        (0, 0) => T,
        (1, 0) => Q,
        (1, 1) => R,
        (2, 2) => U,
        (2, 3) => V,
        (2, 8) => W,
        (2, 10) => p("absv", "atmosphere_absolute_vorticity", "s-1", "Absolute vorticity"),
        (2, 12) => VO,
        (2, 13) => D,
        (3, 0) => PRES,
        (3, 1) => MSL,
        (3, 4) => Z,
        (3, 5) => GH,
        _ => return None,
    })
}
