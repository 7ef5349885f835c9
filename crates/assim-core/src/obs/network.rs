//! Observing networks of the global OSSE: fixed stations, polar-orbiting satellite swaths and
//! a grid subsample. Each analysis window gets its list of [`Observation`] records; the
//! satellites' footprints move from window to window.

use serde::{Deserialize, Serialize};

use super::records::{EARTH_RADIUS_KM, Observation, Source, Variable, destination};
use crate::grid::LatLonGrid;
use crate::rng::{AssimRng, stream, uniform};

/// The observing network (`[network]` of an experiment; `docs/osse.md`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Seed of the station sites and orbit phases: the network is fixed across the
    /// experiment's seeds, as a real one is.
    #[serde(default = "one_u64")]
    pub site_seed: u64,
    /// An observation file (`docs/osse.md`) to assimilate instead of simulating the network:
    /// e.g. a previous run's `observations.csv`. Relative to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Fixed stations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<StationsConfig>,
    /// Polar orbiters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satellites: Option<SatellitesConfig>,
    /// A regular subsample of the model grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gridded: Option<GriddedConfig>,
}

fn one_u64() -> u64 {
    1
}

/// Where stations stand.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Uniformly over the sphere's area.
    Uniform,
    /// `land_weight` times denser over the built-in land mask than over sea.
    Land,
}

/// Fixed stations observing point values.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StationsConfig {
    /// Number of stations.
    pub n: usize,
    /// `"uniform"` or `"land"`.
    #[serde(default = "land")]
    pub placement: Placement,
    /// Density ratio land : sea for `placement = "land"`.
    #[serde(default = "nine")]
    pub land_weight: f64,
    /// Observed variables (CF names).
    pub variables: Vec<String>,
    /// Error standard deviation of each variable, in the same order.
    pub sigma: Vec<f64>,
}

fn land() -> Placement {
    Placement::Land
}
fn nine() -> f64 {
    9.0
}

/// Polar orbiters measuring footprint-averaged geopotential across a swath.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SatellitesConfig {
    /// Number of satellites (ascending nodes spread evenly in longitude).
    pub n: usize,
    /// Orbit inclination (degrees; 98.7 is sun-synchronous at 800 km).
    #[serde(default = "incl")]
    pub inclination_degrees: f64,
    /// Orbit altitude (km): sets the period by Kepler's third law.
    #[serde(default = "alt")]
    pub altitude_km: f64,
    /// Swath width (km).
    #[serde(default = "swath")]
    pub swath_km: f64,
    /// Footprint diameter (km) each value averages over.
    #[serde(default = "footprint")]
    pub footprint_km: f64,
    /// Spacing of footprint rows along the track (km).
    #[serde(default = "along")]
    pub along_track_km: f64,
    /// Footprints per row across the swath.
    #[serde(default = "across")]
    pub across_track: usize,
    /// Error standard deviation (m² s⁻²) of the footprint geopotential.
    pub sigma: f64,
}

fn incl() -> f64 {
    98.7
}
fn alt() -> f64 {
    800.0
}
fn swath() -> f64 {
    2300.0
}
fn footprint() -> f64 {
    200.0
}
fn along() -> f64 {
    400.0
}
fn across() -> usize {
    4
}

/// Every `every`-th latitude row and longitude column of the model grid.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GriddedConfig {
    /// Subsampling step in both directions (≥ 1).
    pub every: usize,
    /// Observed variables (CF names).
    pub variables: Vec<String>,
    /// Error standard deviation of each variable.
    pub sigma: Vec<f64>,
}

/// Earth's gravitational parameter GM (m³ s⁻²).
const GM: f64 = 3.986_004_418e14;
/// Earth's sidereal rotation rate (rad s⁻¹).
const EARTH_ROTATION: f64 = 7.292_115e-5;

/// A built network: fixed station sites and orbit phases.
#[derive(Clone, Debug)]
pub struct Network {
    config: NetworkConfig,
    stations: Vec<(f64, f64)>,
    station_vars: Vec<(Variable, f64)>,
    gridded_vars: Vec<(Variable, f64)>,
    /// Per satellite: longitude of the ascending node and argument of latitude at t = 0.
    orbits: Vec<(f64, f64)>,
}

/// Checks a (variables, sigma) pair of lists; `key` prefixes error messages.
fn variables(key: &str, names: &[String], sigma: &[f64]) -> Result<Vec<(Variable, f64)>, String> {
    if names.is_empty() {
        return Err(format!("{key}.variables: list at least one variable"));
    }
    if names.len() != sigma.len() {
        return Err(format!(
            "{key}.sigma: give one value per variable ({} variables, {} values)",
            names.len(),
            sigma.len()
        ));
    }
    let mut out = Vec::new();
    for (n, &s) in names.iter().zip(sigma) {
        let v = Variable::parse(n).map_err(|e| format!("{key}.variables: {e}"))?;
        if !(s.is_finite() && s > 0.0) {
            return Err(format!("{key}.sigma: must be > 0 (got {s} for {n})"));
        }
        if out.iter().any(|(w, _)| *w == v) {
            return Err(format!("{key}.variables: {n} is listed twice"));
        }
        out.push((v, s));
    }
    Ok(out)
}

/// The built-in land mask: rough continental boxes (degrees north, degrees east 0–360), good
/// enough to put stations where people live and leave the oceans sparse.
pub fn is_land(lat: f64, lon: f64) -> bool {
    const BOXES: [(f64, f64, f64, f64); 11] = [
        (15.0, 70.0, 235.0, 300.0),   // North America
        (60.0, 83.0, 300.0, 340.0),   // Greenland
        (-55.0, 12.0, 280.0, 325.0),  // South America
        (36.0, 70.0, 350.0, 360.0),   // Europe (west of 0°)
        (36.0, 70.0, 0.0, 40.0),      // Europe
        (10.0, 75.0, 40.0, 145.0),    // Asia
        (50.0, 72.0, 145.0, 180.0),   // north-east Asia
        (-35.0, 35.0, 343.0, 360.0),  // Africa (west of 0°)
        (-35.0, 35.0, 0.0, 51.0),     // Africa
        (-39.0, -11.0, 113.0, 153.0), // Australia
        (-90.0, -65.0, 0.0, 360.0),   // Antarctica
    ];
    let lon = lon.rem_euclid(360.0);
    BOXES.iter().any(|&(la0, la1, lo0, lo1)| lat >= la0 && lat <= la1 && lon >= lo0 && lon <= lo1)
}

impl Network {
    /// Validates the configuration and draws the station sites and orbit phases.
    pub fn new(config: &NetworkConfig) -> Result<Self, String> {
        let mut rng = stream(config.site_seed, "network-sites");
        let (mut stations, mut station_vars, mut gridded_vars, mut orbits) = (vec![], vec![], vec![], vec![]);
        let simulated = config.stations.is_some() || config.satellites.is_some() || config.gridded.is_some();
        if config.file.is_some() == simulated {
            return Err(if simulated {
                "network.file: give either an observation file or stations/satellites/gridded, not both"
                    .into()
            } else {
                "network: configure at least one of stations, satellites, gridded (or give a file)".into()
            });
        }
        if let Some(s) = &config.stations {
            if s.n == 0 {
                return Err("network.stations.n: must be ≥ 1".into());
            }
            if !(s.land_weight.is_finite() && s.land_weight >= 1.0) {
                return Err(format!("network.stations.land_weight: must be ≥ 1 (got {})", s.land_weight));
            }
            station_vars = variables("network.stations", &s.variables, &s.sigma)?;
            stations = draw_sites(s.n, s.placement, s.land_weight, &mut rng);
        }
        if let Some(s) = &config.satellites {
            s.swath().validate("network.satellites")?;
            for (k, v, ok) in
                [("footprint_km", s.footprint_km, s.footprint_km >= 0.0), ("sigma", s.sigma, s.sigma > 0.0)]
            {
                if !(v.is_finite() && ok) {
                    return Err(format!("network.satellites.{k}: out of range (got {v})"));
                }
            }
            if s.n == 0 {
                return Err("network.satellites: n must be ≥ 1".into());
            }
            orbits = draw_orbits(s.n, &mut rng);
        }
        if let Some(g) = &config.gridded {
            if g.every == 0 {
                return Err("network.gridded.every: must be ≥ 1".into());
            }
            gridded_vars = variables("network.gridded", &g.variables, &g.sigma)?;
        }
        Ok(Network { config: config.clone(), stations, station_vars, gridded_vars, orbits })
    }

    /// The station sites (latitude, longitude in degrees).
    pub fn stations(&self) -> &[(f64, f64)] {
        &self.stations
    }

    /// The records (values zero) of the window `(t_end − window, t_end]` (seconds), valid at
    /// `t_end`: stations and grid points every window, the footprints the satellites pass
    /// over during the window.
    pub fn window(&self, grid: &LatLonGrid, t_end: f64, window: f64) -> Vec<Observation> {
        let time_hours = t_end / 3600.0;
        let rec = |lat: f64, lon: f64, variable: Variable, sigma: f64, source: Source, footprint_km: f64| {
            Observation {
                time_hours,
                lat,
                lon,
                variable,
                value: 0.0,
                sigma,
                source,
                footprint_km,
                pressure_hpa: None,
            }
        };
        let mut out = Vec::new();
        for &(lat, lon) in &self.stations {
            for &(v, s) in &self.station_vars {
                out.push(rec(lat, lon, v, s, Source::Station, 0.0));
            }
        }
        if let Some(g) = &self.config.gridded {
            let (la, lo) = (grid.lat_degrees(), grid.lon_degrees());
            for j in (0..grid.nlat()).step_by(g.every) {
                for i in (0..grid.nlon()).step_by(g.every) {
                    for &(v, s) in &self.gridded_vars {
                        out.push(rec(la[j], lo[i], v, s, Source::Gridded, 0.0));
                    }
                }
            }
        }
        if let Some(s) = &self.config.satellites {
            for &(node, u0) in &self.orbits {
                for (lat, lon) in swath_footprints(&s.swath(), node, u0, t_end - window, t_end) {
                    out.push(rec(
                        lat,
                        lon,
                        Variable::Geopotential,
                        s.sigma,
                        Source::Satellite,
                        s.footprint_km,
                    ));
                }
            }
        }
        out
    }
}

/// Draws `n` sites uniformly over the sphere's area, or `land_weight` times denser over the
/// built-in land mask for [`Placement::Land`] (rejection sampling).
pub fn draw_sites(n: usize, placement: Placement, land_weight: f64, rng: &mut AssimRng) -> Vec<(f64, f64)> {
    let wmax = if placement == Placement::Land { land_weight } else { 1.0 };
    let mut sites = Vec::with_capacity(n);
    while sites.len() < n {
        let lat = (2.0 * uniform(rng) - 1.0).asin().to_degrees();
        let lon = 360.0 * uniform(rng);
        let w = if placement == Placement::Land && is_land(lat, lon) { land_weight } else { 1.0 };
        if uniform(rng) * wmax < w {
            sites.push((lat, lon));
        }
    }
    sites
}

/// Orbit phases of `n` satellites: the longitude of each ascending node (spread evenly, with a
/// random offset) and the argument of latitude at t = 0 (radians).
pub fn draw_orbits(n: usize, rng: &mut AssimRng) -> Vec<(f64, f64)> {
    (0..n)
        .map(|k| {
            let node = 2.0 * std::f64::consts::PI * (k as f64 + uniform(rng) * 0.5) / n as f64;
            (node, 2.0 * std::f64::consts::PI * uniform(rng))
        })
        .collect()
}

/// The geometry of a polar orbiter's swath, whatever it measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Swath {
    /// Orbit inclination (degrees).
    pub inclination_degrees: f64,
    /// Orbit altitude (km).
    pub altitude_km: f64,
    /// Swath width (km).
    pub swath_km: f64,
    /// Spacing of footprint rows along the track (km).
    pub along_track_km: f64,
    /// Footprints per row across the swath.
    pub across_track: usize,
}

impl Swath {
    /// Checks the geometry; `key` prefixes the messages.
    pub fn validate(&self, key: &str) -> Result<(), String> {
        let checks = [
            (
                "inclination_degrees",
                self.inclination_degrees,
                self.inclination_degrees > 0.0 && self.inclination_degrees < 180.0,
            ),
            ("altitude_km", self.altitude_km, self.altitude_km > 100.0),
            ("swath_km", self.swath_km, self.swath_km > 0.0),
            ("along_track_km", self.along_track_km, self.along_track_km > 0.0),
        ];
        for (k, v, ok) in checks {
            if !(v.is_finite() && ok) {
                return Err(format!("{key}.{k}: out of range (got {v})"));
            }
        }
        if self.across_track == 0 {
            return Err(format!("{key}.across_track: must be ≥ 1"));
        }
        Ok(())
    }
}

impl SatellitesConfig {
    /// The swath geometry.
    pub fn swath(&self) -> Swath {
        Swath {
            inclination_degrees: self.inclination_degrees,
            altitude_km: self.altitude_km,
            swath_km: self.swath_km,
            along_track_km: self.along_track_km,
            across_track: self.across_track,
        }
    }
}

/// Sub-satellite point (radians) at time `t` (s) of a circular orbit.
fn ground_point(incl: f64, period: f64, node: f64, u0: f64, t: f64) -> (f64, f64) {
    let u = u0 + 2.0 * std::f64::consts::PI * t / period;
    let lat = (incl.sin() * u.sin()).asin();
    let lon = node + (incl.cos() * u.sin()).atan2(u.cos()) - EARTH_ROTATION * t;
    (lat, lon)
}

/// Footprint centres (degrees) of one satellite over `[t0, t1)`: rows every `along_track_km`
/// along the ground track, `across_track` footprints spread over the swath in each row.
pub fn swath_footprints(s: &Swath, node: f64, u0: f64, t0: f64, t1: f64) -> Vec<(f64, f64)> {
    let a = (EARTH_RADIUS_KM + s.altitude_km) * 1e3;
    let period = 2.0 * std::f64::consts::PI * (a * a * a / GM).sqrt();
    let incl = s.inclination_degrees.to_radians();
    let ground_speed = 2.0 * std::f64::consts::PI * EARTH_RADIUS_KM / period; // km/s
    let dt = s.along_track_km / ground_speed;
    let mut out = Vec::new();
    let mut t = t0 + 0.5 * dt;
    while t < t1 {
        let (la, lo) = ground_point(incl, period, node, u0, t);
        let (la2, lo2) = ground_point(incl, period, node, u0, t + 1.0);
        // Heading of the track, then footprints perpendicular to it.
        let bearing = ((lo2 - lo).sin() * la2.cos())
            .atan2(la.cos() * la2.sin() - la.sin() * la2.cos() * (lo2 - lo).cos());
        for k in 0..s.across_track {
            let offset = s.swath_km * ((k as f64 + 0.5) / s.across_track as f64 - 0.5);
            let side = if offset >= 0.0 { std::f64::consts::FRAC_PI_2 } else { -std::f64::consts::FRAC_PI_2 };
            let (pla, plo) = destination(la, lo, bearing + side, offset.abs() / EARTH_RADIUS_KM);
            out.push((pla.to_degrees(), plo.to_degrees().rem_euclid(360.0)));
        }
        t += dt;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig {
            site_seed: 3,
            file: None,
            stations: Some(StationsConfig {
                n: 400,
                placement: Placement::Land,
                land_weight: 9.0,
                variables: vec!["geopotential".into(), "eastward_wind".into()],
                sigma: vec![50.0, 1.5],
            }),
            satellites: Some(SatellitesConfig {
                n: 2,
                inclination_degrees: 98.7,
                altitude_km: 800.0,
                swath_km: 2300.0,
                footprint_km: 200.0,
                along_track_km: 400.0,
                across_track: 4,
                sigma: 100.0,
            }),
            gridded: None,
        }
    }

    #[test]
    fn stations_favour_land_and_swaths_move() {
        let net = Network::new(&config()).unwrap();
        let on_land = net.stations().iter().filter(|&&(la, lo)| is_land(la, lo)).count() as f64 / 400.0;
        // The mask's share f of the sphere's area, by a 0.5° sum; with weight 9 the expected
        // share of stations on land is 9f/(9f + 1 − f); 400 draws give a binomial sd ≤ 0.025.
        let (mut land_area, mut total) = (0.0, 0.0);
        for j in 0..360 {
            let lat = -89.75 + 0.5 * j as f64;
            for i in 0..720 {
                let w = lat.to_radians().cos();
                total += w;
                if is_land(lat, 0.25 + 0.5 * i as f64) {
                    land_area += w;
                }
            }
        }
        let f = land_area / total;
        let expected = 9.0 * f / (9.0 * f + 1.0 - f);
        assert!((on_land - expected).abs() < 0.075, "{on_land} vs {expected} (mask share {f})");
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let w1 = net.window(&grid, 6.0 * 3600.0, 6.0 * 3600.0);
        let w2 = net.window(&grid, 12.0 * 3600.0, 6.0 * 3600.0);
        let sat = |w: &[Observation]| {
            w.iter().filter(|o| o.source == Source::Satellite).map(|o| (o.lat, o.lon)).collect::<Vec<_>>()
        };
        let (s1, s2) = (sat(&w1), sat(&w2));
        // 6 h ≈ 3.6 orbits of 101 min; 40 000 km per orbit / 400 km ≈ 100 rows of 4.
        assert!(s1.len() > 2 * 4 * 330 && s1.len() < 2 * 4 * 380, "{}", s1.len());
        assert_ne!(s1, s2, "the swaths move between windows");
        // Sun-synchronous inclination: the track reaches 81.3° and no further.
        let top = s1.iter().map(|p| p.0.abs()).fold(0.0, f64::max);
        assert!(top < 81.3 + 2300.0 / 2.0 / 111.0 && top > 80.0, "{top}");
        assert_eq!(w1.iter().filter(|o| o.source == Source::Station).count(), 800);
    }

    #[test]
    fn bad_configurations_name_the_key() {
        let mut c = config();
        c.stations.as_mut().unwrap().sigma = vec![50.0, 0.0];
        assert!(Network::new(&c).unwrap_err().contains("network.stations.sigma"));
        let mut c = config();
        c.stations.as_mut().unwrap().variables[1] = "temperature".into();
        assert!(Network::new(&c).unwrap_err().contains("temperature"));
        let mut c = config();
        c.satellites.as_mut().unwrap().swath_km = -1.0;
        assert!(Network::new(&c).unwrap_err().contains("swath_km"));
        let c = NetworkConfig { site_seed: 1, file: None, stations: None, satellites: None, gridded: None };
        assert!(Network::new(&c).is_err());
    }
}
