//! `[observing]` of the multi-level bed: surface stations, radiosondes, a microwave sounder on
//! polar orbiters and geostationary-like OLR imagery, each optional, with its declared errors;
//! and the operators they make for one window (their rows stacked in that order).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::AssimError;
use crate::dynamics::primitive::{P0, SigmaLevels};
use crate::grid::{Bilinear, LatLonGrid};
use crate::obs::column::{
    Channel, ColumnLayout, Olr, ProfileVariable, Radiosondes, Sounder, SurfaceVariable, coarse_boxes,
    surface_stations,
};
use crate::obs::network::{Placement, Swath, draw_orbits, draw_sites, swath_footprints};
use crate::obs::{ObsOperator, Stacked};
use crate::rng::AssimRng;

/// `[observing]`: which systems observe the truth, and the vertical localisation of the LETKF.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObservingConfig {
    /// `[observing.stations]`: surface stations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<StationsConfig>,
    /// `[observing.radiosondes]`: profiles at fixed sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radiosondes: Option<RadiosondesConfig>,
    /// `[observing.sounder]`: brightness temperatures across polar orbiters' swaths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sounder: Option<SounderConfig>,
    /// `[observing.imagery]`: coarse gridded OLR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imagery: Option<ImageryConfig>,
    /// An observation file (relative to the experiment file) assimilated instead of simulated
    /// systems: a run's `observations.csv` or reports converted by `assim data obs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Vertical localisation half-width of the LETKF, in ln p (1 ≈ a factor e in pressure).
    #[serde(default = "default_vertical")]
    pub vertical_localisation: f64,
}

fn default_vertical() -> f64 {
    1.0
}

/// Surface stations: `p_s` and the lowest level's `T`, `u`, `v`, every window.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StationsConfig {
    /// Number of stations.
    pub n: usize,
    /// `"land"` (denser over the built-in land mask; the default) or `"uniform"`.
    #[serde(default = "land")]
    pub placement: Placement,
    /// How much denser over land.
    #[serde(default = "three")]
    pub land_weight: f64,
    /// Error of `p_s` (hPa).
    #[serde(default = "one")]
    pub sigma_ps_hpa: f64,
    /// Error of temperature (K).
    #[serde(default = "one")]
    pub sigma_t: f64,
    /// Error of each wind component (m s⁻¹).
    #[serde(default = "wind")]
    pub sigma_wind: f64,
}

/// Radiosondes: `T`, `u`, `v` at fixed pressures over fixed sites.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RadiosondesConfig {
    /// Number of launch sites.
    pub n: usize,
    /// `"land"` (the default) or `"uniform"`.
    #[serde(default = "land")]
    pub placement: Placement,
    /// How much denser over land.
    #[serde(default = "three")]
    pub land_weight: f64,
    /// Reported pressures (hPa), each below the model's top full level.
    #[serde(default = "sonde_pressures")]
    pub pressures_hpa: Vec<f64>,
    /// Hours between launches (a multiple of the window; 12: twice daily).
    #[serde(default = "twelve")]
    pub every_hours: f64,
    /// Error of temperature (K).
    #[serde(default = "one")]
    pub sigma_t: f64,
    /// Error of each wind component (m s⁻¹).
    #[serde(default = "wind")]
    pub sigma_wind: f64,
}

/// A microwave sounder on polar orbiters: one brightness temperature per channel and footprint
/// (at the footprint's centre, interpolated bilinearly), all footprints of the window.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SounderConfig {
    /// Number of satellites.
    #[serde(default = "two")]
    pub satellites: usize,
    /// σ at which each channel's weighting function peaks (8–12 channels; the default 8 from
    /// σ = 0.15 to 0.9).
    #[serde(default = "channel_peaks")]
    pub channel_peaks: Vec<f64>,
    /// Explicit channels instead: per channel, the layer weights (top first) then the surface
    /// term; each must integrate to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_weights: Option<Vec<Vec<f64>>>,
    /// Error of a brightness temperature (K).
    #[serde(default = "half")]
    pub sigma: f64,
    /// Orbit inclination (degrees).
    #[serde(default = "inclination")]
    pub inclination_degrees: f64,
    /// Orbit altitude (km).
    #[serde(default = "altitude")]
    pub altitude_km: f64,
    /// Swath width (km).
    #[serde(default = "swath_width")]
    pub swath_km: f64,
    /// Spacing of the footprint rows along the track (km).
    #[serde(default = "along_track")]
    pub along_track_km: f64,
    /// Footprints per row.
    #[serde(default = "three_usize")]
    pub across_track: usize,
}

/// Geostationary-like imagery: OLR averaged over boxes of `factor × factor` grid points,
/// every window.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageryConfig {
    /// Coarsening of the grid (grid points per box side).
    #[serde(default = "four")]
    pub factor: usize,
    /// σ of the peak of the grey emission weighting.
    #[serde(default = "half")]
    pub peak_sigma: f64,
    /// Error of a box's OLR (W m⁻²).
    #[serde(default = "olr_sigma")]
    pub sigma: f64,
}

fn land() -> Placement {
    Placement::Land
}
fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn two() -> usize {
    2
}
fn three() -> f64 {
    3.0
}
fn three_usize() -> usize {
    3
}
fn four() -> usize {
    4
}
fn twelve() -> f64 {
    12.0
}
fn wind() -> f64 {
    1.5
}
fn olr_sigma() -> f64 {
    2.0
}
fn sonde_pressures() -> Vec<f64> {
    vec![850.0, 700.0, 500.0, 300.0, 200.0]
}
fn channel_peaks() -> Vec<f64> {
    (0..8).map(|k| 0.15 + 0.75 * k as f64 / 7.0).collect()
}
fn inclination() -> f64 {
    98.7
}
fn altitude() -> f64 {
    830.0
}
fn swath_width() -> f64 {
    2200.0
}
fn along_track() -> f64 {
    1500.0
}

impl SounderConfig {
    fn swath(&self) -> Swath {
        Swath {
            inclination_degrees: self.inclination_degrees,
            altitude_km: self.altitude_km,
            swath_km: self.swath_km,
            along_track_km: self.along_track_km,
            across_track: self.across_track,
        }
    }

    /// The channels on `levels`.
    pub fn channels(&self, levels: &SigmaLevels) -> Result<Vec<Channel>, AssimError> {
        match &self.channel_weights {
            Some(ws) => ws
                .iter()
                .enumerate()
                .map(|(c, w)| {
                    if w.len() != levels.len() + 1 {
                        return Err(AssimError::Input(format!(
                            "channel {c}: {} weights; {} layers and the surface term need {}",
                            w.len(),
                            levels.len(),
                            levels.len() + 1
                        )));
                    }
                    Channel::from_weights(w[..levels.len()].to_vec(), w[levels.len()])
                        .map_err(|e| AssimError::Input(format!("channel {c}: {e}")))
                })
                .collect(),
            None => self.channel_peaks.iter().map(|&p| Channel::peaking_at(p, levels.half())).collect(),
        }
    }
}

/// Which observing system a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// Surface stations.
    Stations,
    /// Radiosondes.
    Radiosondes,
    /// Aircraft reports (from an observation file only: there is no simulated fleet).
    Aircraft,
    /// The sounder.
    Sounder,
    /// OLR imagery.
    Imagery,
}

impl System {
    /// Every system, in the order of a window's rows.
    pub const ALL: [System; 5] =
        [System::Stations, System::Radiosondes, System::Aircraft, System::Sounder, System::Imagery];

    /// The name in files.
    pub fn name(self) -> &'static str {
        match self {
            System::Stations => "station",
            System::Radiosondes => "radiosonde",
            System::Aircraft => "aircraft",
            System::Sounder => "sounder",
            System::Imagery => "imagery",
        }
    }

    /// The random stream of this system's `what` (its sites, its observation errors) for
    /// `seed`: one per system, so that the systems' draws do not depend on each other.
    pub fn stream(self, seed: u64, what: &str) -> AssimRng {
        crate::rng::stream(seed, &format!("observing {}: {what}", self.name()))
    }
}

/// One observation's description (what the observation file holds besides the value).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The system.
    pub system: System,
    /// What it measures (`surface_air_pressure`, `air_temperature`, `brightness_temperature`, …).
    pub quantity: &'static str,
    /// Latitude and longitude (degrees).
    pub lat: f64,
    /// Longitude (degrees east).
    pub lon: f64,
    /// The pressure it is assigned to (Pa): the report's, a channel's peak, the surface.
    pub pressure: f64,
    /// Sounder channel (0-based), if any.
    pub channel: Option<usize>,
    /// Error standard deviation (units of the quantity).
    pub sigma: f64,
}

/// The fixed parts of the observing systems of one seed: sites, orbits, channels, boxes.
pub struct Network {
    cfg: ObservingConfig,
    layout: ColumnLayout,
    orbits: Vec<(f64, f64)>,
    channels: Vec<Channel>,
    /// Per channel, its nominal pressure (Pa): the peak of its weighting function.
    channel_p: Vec<f64>,
    /// The stations' operator and rows (every window).
    stations_op: Option<(Arc<dyn ObsOperator>, Vec<Row>)>,
    /// The radiosondes' operator and rows (launch windows).
    sondes_op: Option<(Arc<dyn ObsOperator>, Vec<Row>)>,
    /// The imagery's operator and rows (every window).
    olr_op: Option<(Arc<dyn ObsOperator>, Vec<Row>)>,
}

impl ObservingConfig {
    /// Checks every system's keys against the model's levels and the window (s); the error
    /// names the key.
    pub fn validate(&self, levels: &SigmaLevels, window_s: f64) -> Result<(), (String, String)> {
        let e = |k: &str, m: String| Err((format!("observing.{k}"), m));
        let pos = |x: f64| x.is_finite() && x > 0.0;
        let simulated = self.stations.is_some()
            || self.radiosondes.is_some()
            || self.sounder.is_some()
            || self.imagery.is_some();
        match (&self.file, simulated) {
            (Some(_), true) => {
                return e(
                    "file",
                    "give either an observation file or simulated systems (stations, radiosondes, sounder, imagery), \
                     not both"
                        .into(),
                );
            }
            (None, false) => {
                return e(
                    "stations",
                    "no observing system: give at least one of stations, radiosondes, sounder, imagery, or a file"
                        .into(),
                );
            }
            _ => {}
        }
        if !pos(self.vertical_localisation) {
            return e(
                "vertical_localisation",
                format!("must be positive (got {})", self.vertical_localisation),
            );
        }
        if let Some(s) = &self.stations
            && (s.n == 0
                || s.land_weight.is_nan()
                || s.land_weight < 1.0
                || ![s.sigma_ps_hpa, s.sigma_t, s.sigma_wind].into_iter().all(pos))
        {
            return e("stations", "n ≥ 1, land_weight ≥ 1 and positive errors".into());
        }
        if let Some(r) = &self.radiosondes {
            if r.n == 0
                || r.land_weight.is_nan()
                || r.land_weight < 1.0
                || !pos(r.sigma_t)
                || !pos(r.sigma_wind)
                || r.pressures_hpa.is_empty()
            {
                return e(
                    "radiosondes",
                    "n ≥ 1, land_weight ≥ 1, positive errors and at least one pressure".into(),
                );
            }
            let top = levels.full()[0] * P0 / 100.0;
            if let Some(p) = r.pressures_hpa.iter().find(|p| !(p.is_finite() && **p >= top && **p <= 1100.0))
            {
                return e(
                    "radiosondes.pressures_hpa",
                    format!(
                        "{p} hPa is outside the model: its top full level is at {top:.1} hPa (σ × 1000 hPa), its surface near 1000 hPa"
                    ),
                );
            }
            let ratio = r.every_hours * 3600.0 / window_s;
            if !(ratio >= 1.0 && (ratio - ratio.round()).abs() < 1e-9) {
                return e(
                    "radiosondes.every_hours",
                    format!("must be a multiple of the window ({} h)", window_s / 3600.0),
                );
            }
        }
        if let Some(s) = &self.sounder {
            if s.satellites == 0 || !pos(s.sigma) {
                return e("sounder", "satellites ≥ 1 and a positive sigma".into());
            }
            s.swath().validate("sounder").map_err(|m| ("observing.sounder".to_string(), m))?;
            let ch = s.channels(levels).map_err(|x| ("observing.sounder".to_string(), x.to_string()))?;
            if ch.is_empty() {
                return e("sounder.channel_peaks", "at least one channel".into());
            }
        }
        if let Some(i) = &self.imagery {
            if i.factor == 0 || !pos(i.sigma) {
                return e("imagery", "factor ≥ 1 and a positive sigma".into());
            }
            Channel::peaking_at(i.peak_sigma, levels.half())
                .map_err(|x| ("observing.imagery.peak_sigma".to_string(), x.to_string()))?;
        }
        Ok(())
    }
}

impl Network {
    /// Draws the sites and orbits of `cfg` for `seed` (each system from its own stream,
    /// [`System::stream`], so removing one leaves the others as they were), for the state on
    /// `grid` with σ levels `levels`.
    pub fn new(
        cfg: &ObservingConfig,
        grid: &LatLonGrid,
        levels: &SigmaLevels,
        seed: u64,
    ) -> Result<Self, AssimError> {
        let layout = ColumnLayout { nlev: levels.len(), npts: grid.len() };
        let sites = |system: System, n: usize, placement: Placement, land_weight: f64| {
            draw_sites(n, placement, land_weight, &mut system.stream(seed, "sites"))
        };
        let stations = cfg
            .stations
            .as_ref()
            .map_or_else(Vec::new, |s| sites(System::Stations, s.n, s.placement, s.land_weight));
        let sondes = cfg
            .radiosondes
            .as_ref()
            .map_or_else(Vec::new, |s| sites(System::Radiosondes, s.n, s.placement, s.land_weight));
        let orbits = cfg.sounder.as_ref().map_or_else(Vec::new, |s| {
            draw_orbits(s.satellites, &mut System::Sounder.stream(seed, "orbits"))
        });
        let channels = cfg.sounder.as_ref().map(|s| s.channels(levels)).transpose()?.unwrap_or_default();
        let channel_p = channels.iter().map(|c| c.peak(levels.full()) * P0).collect();
        let surface_p = levels.full()[layout.nlev - 1] * P0;
        let stations_op = match &cfg.stations {
            Some(s) => {
                let vars = [
                    (SurfaceVariable::Pressure, "surface_air_pressure", s.sigma_ps_hpa * 100.0),
                    (SurfaceVariable::Temperature, "air_temperature", s.sigma_t),
                    (SurfaceVariable::EastwardWind, "eastward_wind", s.sigma_wind),
                    (SurfaceVariable::NorthwardWind, "northward_wind", s.sigma_wind),
                ];
                let pts = Bilinear::new(grid, &stations)?;
                let op: Arc<dyn ObsOperator> = Arc::new(surface_stations(layout, &pts, &vars.map(|v| v.0)));
                let rows = stations
                    .iter()
                    .flat_map(|&(lat, lon)| {
                        vars.map(|(_, quantity, sigma)| Row {
                            system: System::Stations,
                            quantity,
                            lat,
                            lon,
                            pressure: surface_p,
                            channel: None,
                            sigma,
                        })
                    })
                    .collect();
                Some((op, rows))
            }
            None => None,
        };
        let sondes_op = match &cfg.radiosondes {
            Some(r) => {
                let vars = [
                    (ProfileVariable::Temperature, "air_temperature", r.sigma_t),
                    (ProfileVariable::EastwardWind, "eastward_wind", r.sigma_wind),
                    (ProfileVariable::NorthwardWind, "northward_wind", r.sigma_wind),
                ];
                let pressures: Vec<f64> = r.pressures_hpa.iter().map(|p| p * 100.0).collect();
                let pts = Bilinear::new(grid, &sondes)?;
                let op: Arc<dyn ObsOperator> =
                    Arc::new(Radiosondes::new(layout, levels.full(), pts, &pressures, &vars.map(|v| v.0))?);
                let mut rows = Vec::new();
                for &(lat, lon) in &sondes {
                    for &pressure in &pressures {
                        for (_, quantity, sigma) in vars {
                            rows.push(Row {
                                system: System::Radiosondes,
                                quantity,
                                lat,
                                lon,
                                pressure,
                                channel: None,
                                sigma,
                            });
                        }
                    }
                }
                Some((op, rows))
            }
            None => None,
        };
        let olr_op = match &cfg.imagery {
            Some(i) => {
                let ch = Channel::peaking_at(i.peak_sigma, levels.half())?;
                let boxes = coarse_boxes(grid.nlat(), grid.nlon(), i.factor);
                let (nlon, dlon) = (grid.nlon(), 360.0 / grid.nlon() as f64);
                let pressure = ch.peak(levels.full()) * P0;
                let rows = boxes
                    .iter()
                    .map(|b| {
                        // The box centre: its mean latitude, its first column plus half its width.
                        let lat = b.iter().map(|&p| grid.lat()[p / nlon].to_degrees()).sum::<f64>()
                            / b.len() as f64;
                        let cols = b.iter().map(|&p| p % nlon).collect::<std::collections::BTreeSet<_>>();
                        let lon = (b[0] % nlon) as f64 * dlon + 0.5 * (cols.len() as f64 - 1.0) * dlon;
                        Row {
                            system: System::Imagery,
                            quantity: "toa_outgoing_longwave_flux",
                            lat,
                            lon,
                            pressure,
                            channel: None,
                            sigma: i.sigma,
                        }
                    })
                    .collect();
                let op: Arc<dyn ObsOperator> = Arc::new(Olr::new(layout, &boxes, &ch)?);
                Some((op, rows))
            }
            None => None,
        };
        Ok(Network { cfg: cfg.clone(), layout, orbits, channels, channel_p, stations_op, sondes_op, olr_op })
    }

    /// The operator and rows of the window ending at `t_end` (s) of length `window` (s), on
    /// `grid`: the stations, the radiosondes at launch times, the sounder's footprints of the
    /// window, the imagery, in that order.
    pub fn window(
        &self,
        grid: &LatLonGrid,
        t_end: f64,
        window: f64,
    ) -> Result<(Stacked, Vec<Row>), AssimError> {
        let mut parts: Vec<(String, Arc<dyn ObsOperator>)> = Vec::new();
        let mut rows = Vec::new();
        let mut add = |system: System, part: &Option<(Arc<dyn ObsOperator>, Vec<Row>)>| {
            if let Some((op, r)) = part {
                parts.push((system.name().to_string(), op.clone()));
                rows.extend(r.iter().cloned());
            }
        };
        add(System::Stations, &self.stations_op);
        if let Some(r) = &self.cfg.radiosondes {
            let launches = t_end / (r.every_hours * 3600.0);
            if (launches - launches.round()).abs() < 1e-6 {
                add(System::Radiosondes, &self.sondes_op);
            }
        }
        if let Some(s) = &self.cfg.sounder {
            let swath = s.swath();
            let fp: Vec<(f64, f64)> = self
                .orbits
                .iter()
                .flat_map(|&(node, u0)| swath_footprints(&swath, node, u0, t_end - window, t_end))
                .collect();
            if !fp.is_empty() {
                let sounder = Sounder::new(self.layout, Bilinear::new(grid, &fp)?, &self.channels)?;
                let op: Arc<dyn ObsOperator> = Arc::new(sounder);
                let r = fp
                    .iter()
                    .flat_map(|&(lat, lon)| {
                        self.channel_p.iter().enumerate().map(move |(c, &pressure)| Row {
                            system: System::Sounder,
                            quantity: "brightness_temperature",
                            lat,
                            lon,
                            pressure,
                            channel: Some(c),
                            sigma: s.sigma,
                        })
                    })
                    .collect();
                add(System::Sounder, &Some((op, r)));
            }
        }
        add(System::Imagery, &self.olr_op);
        let op = Stacked::named(parts);
        debug_assert_eq!(op.n_obs(), rows.len());
        Ok((op, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each system draws from its own stream: removing the radiosondes or the imagery leaves the
    /// stations' and the sounder's rows of a window exactly as they were (the modality-removal
    /// experiments compare like with like), while another seed moves them.
    #[test]
    fn removing_a_system_leaves_the_others_draws_alone() {
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let levels = SigmaLevels::equidistant(10).unwrap();
        let cfg = |text: &str| -> ObservingConfig { toml::from_str(text).unwrap() };
        let all = cfg(
            "[stations]\nn = 30\n[radiosondes]\nn = 20\n[sounder]\nsatellites = 2\n[imagery]\nfactor = 4\n",
        );
        let fewer = cfg("[stations]\nn = 30\n[sounder]\nsatellites = 2\n");
        let rows = |c: &ObservingConfig, seed: u64, keep: System| -> Vec<Row> {
            let net = Network::new(c, &grid, &levels, seed).unwrap();
            // 12 UTC: a radiosonde launch time, with the sounder's footprints of the window.
            let (_, r) = net.window(&grid, 12.0 * 3600.0, 6.0 * 3600.0).unwrap();
            r.into_iter().filter(|r| r.system == keep).collect()
        };
        for sys in [System::Stations, System::Sounder] {
            let full = rows(&all, 1, sys);
            assert!(!full.is_empty(), "{sys:?} has rows");
            assert_eq!(full, rows(&fewer, 1, sys), "{sys:?}");
            assert_ne!(full, rows(&all, 2, sys), "{sys:?} moves with the seed");
        }
        assert!(
            !rows(&all, 1, System::Radiosondes).is_empty() && rows(&fewer, 1, System::Radiosondes).is_empty()
        );
    }

    /// A method that assimilates some systems one way and the others another finds each
    /// system's rows through the window's operator: named in order, covering every row, each
    /// range holding that system's rows and its operator's values.
    #[test]
    fn the_window_operator_names_the_rows_of_each_system() {
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let levels = SigmaLevels::equidistant(10).unwrap();
        let cfg: ObservingConfig = toml::from_str(
            "[stations]\nn = 30\n[radiosondes]\nn = 20\n[sounder]\nsatellites = 2\n[imagery]\nfactor = 4\n",
        )
        .unwrap();
        let net = Network::new(&cfg, &grid, &levels, 1).unwrap();
        let (op, rows) = net.window(&grid, 12.0 * 3600.0, 6.0 * 3600.0).unwrap();
        let systems = op.systems();
        let names: Vec<&str> = systems.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["station", "radiosonde", "sounder", "imagery"]);
        assert_eq!(systems.last().unwrap().1.end, rows.len());
        for (name, range) in &systems {
            assert!(!range.is_empty(), "{name}");
            assert!(rows[range.clone()].iter().all(|r| r.system.name() == name), "{name}");
        }
        // Selecting a system's rows of a sparse operator keeps them as they were.
        let mut h = crate::obs::SparseLinear::new(4);
        h.push_row([(0, 1.0)]);
        h.push_row([(1, 2.0), (3, 0.5)]);
        h.push_row([(2, -1.0)]);
        let sel = h.select(&[2, 1]);
        assert_eq!(sel.n_obs(), 2);
        assert_eq!(sel.row(0), h.row(2));
        assert_eq!(sel.row(1), h.row(1));
    }
}
