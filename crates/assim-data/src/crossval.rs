//! Real reports assimilated into a gridded background, verified the way centres verify real
//! analyses: by the departures of the reports from the background (O−B) and from the analysis
//! (O−A), both on the reports assimilated (the fit) and on reports withheld from the analysis
//! (cross-validation: each of `folds` folds withheld in turn, the analysis made from the others).
//!
//! The analysis is Gandin's optimal interpolation of each quantity on its own (univariate):
//! `x_a(s) = x_b(s) + σ_b² c(s, S)ᵀ (σ_b² C_SS + σ_o² I)⁻¹ (y − H x_b)`, with a Gaussian
//! correlation `c = exp(−d²/2L²)` of the chordal distance `d` (positive definite on the
//! sphere) and `σ_b²` estimated from the assimilated reports' departures
//! (`var(O−B) − σ_o²`, the statistic of Hollingsworth & Lönnberg 1986 at zero separation).
//! Configured by a TOML file (`docs/data.md`, "Real reports").

use std::path::{Path, PathBuf};

use faer::Mat;
use serde::{Deserialize, Serialize};

use assim_core::obs::records::EARTH_RADIUS_KM;
use assim_core::obs::unit_vector as unit;

use crate::bufr::{Reports, Sounding, SurfaceReport};
use crate::error::{DataError, Result};
use crate::field::{Dataset, Variable};

/// The configuration file of a cross-validated analysis of real reports.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrossValConfig {
    /// Short name, copied into `metrics.json`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The gridded background.
    pub background: BackgroundConfig,
    /// The BUFR file of reports.
    pub reports: ReportsConfig,
    /// The quantities analysed, each on its own.
    pub quantities: Vec<QuantityConfig>,
    /// The analysis and the cross-validation.
    pub analysis: AnalysisConfig,
}

/// `[background]`: a GRIB, NetCDF or Zarr file and which of its fields is the background.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundConfig {
    /// The file, relative to the configuration file.
    pub file: String,
    /// The member number (default: the file's first member).
    #[serde(default)]
    pub member: Option<i64>,
}

/// `[reports]`: the BUFR file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// The file, relative to the configuration file.
    pub file: String,
}

/// What a report gives.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReportQuantity {
    /// Air temperature, K (a sounding level's, or a station's 2 m temperature).
    Temperature,
    /// Geopotential, m² s⁻² (sounding levels).
    Geopotential,
    /// Pressure reduced to mean sea level, Pa (stations).
    MslPressure,
}

/// `[[quantities]]`: one reported quantity and the background field it is compared with.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuantityConfig {
    /// What is taken from each report.
    pub report: ReportQuantity,
    /// The radiosonde level, hPa; absent for the surface (SYNOP) reports.
    #[serde(default)]
    pub level_hpa: Option<f64>,
    /// The background variable (its name in the file: `t`, `z`, `t2m`, `msl`).
    pub field: String,
    /// The observation-error standard deviation, in the field's units.
    pub sigma_o: f64,
}

/// `[analysis]`: correlation length scales tried, folds and the background check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Correlation length scales `L`, km: each gives its own analysis and scores.
    pub length_scales_km: Vec<f64>,
    /// Folds of the cross-validation (≥ 2).
    #[serde(default = "default_folds")]
    pub folds: usize,
    /// Seed of the assignment of reports to folds.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The background check: a report whose departure is more than this many standard
    /// deviations from the mean departure is rejected before any analysis.
    #[serde(default = "default_qc")]
    pub qc_sigmas: f64,
}

fn default_folds() -> usize {
    10
}

fn default_seed() -> u64 {
    1
}

fn default_qc() -> f64 {
    5.0
}

impl CrossValConfig {
    /// Reads and checks a configuration file; errors name the file and the key.
    pub fn load(path: &Path) -> std::result::Result<Self, assim_core::AssimError> {
        let (text, file) = assim_core::io::config_file::read_text(path)?;
        let cfg: Self = assim_core::io::config_file::parse_toml(&text, &file)?;
        cfg.validate().map_err(|(key, msg)| assim_core::AssimError::config(&file, key, msg))?;
        Ok(cfg)
    }

    /// The first invalid key and why.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.quantities.is_empty() {
            return Err(("quantities", "list at least one quantity ([[quantities]])".into()));
        }
        for q in &self.quantities {
            if !(q.sigma_o.is_finite() && q.sigma_o > 0.0) {
                return Err(("quantities.sigma_o", format!("must be positive (got {})", q.sigma_o)));
            }
            match (q.report, q.level_hpa) {
                (ReportQuantity::MslPressure, Some(_)) => {
                    return Err((
                        "quantities.level_hpa",
                        "mean-sea-level pressure is a surface quantity".into(),
                    ));
                }
                (ReportQuantity::Geopotential, None) => {
                    return Err((
                        "quantities.level_hpa",
                        "geopotential comes from sounding levels: give one".into(),
                    ));
                }
                (_, Some(p)) if !(p.is_finite() && p > 0.0 && p <= 1100.0) => {
                    return Err(("quantities.level_hpa", format!("must be in (0, 1100] hPa (got {p})")));
                }
                _ => {}
            }
        }
        let a = &self.analysis;
        if a.length_scales_km.is_empty() || a.length_scales_km.iter().any(|l| !(l.is_finite() && *l > 0.0)) {
            return Err(("analysis.length_scales_km", "give one or more positive length scales".into()));
        }
        if a.folds < 2 {
            return Err(("analysis.folds", format!("must be ≥ 2 (got {})", a.folds)));
        }
        if !(a.qc_sigmas.is_finite() && a.qc_sigmas > 0.0) {
            return Err(("analysis.qc_sigmas", format!("must be positive (got {})", a.qc_sigmas)));
        }
        Ok(())
    }
}

/// Count, mean, standard deviation and RMS of departures.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DepartureStats {
    /// Departures counted.
    pub n: usize,
    /// Mean (the bias, observation minus field).
    pub mean: f64,
    /// Standard deviation about the mean.
    pub sd: f64,
    /// Root mean square.
    pub rms: f64,
}

impl DepartureStats {
    /// The statistics of `d`.
    pub fn of(d: &[f64]) -> Self {
        let n = d.len();
        if n == 0 {
            return Self::default();
        }
        let mean = d.iter().sum::<f64>() / n as f64;
        let ms = d.iter().map(|x| x * x).sum::<f64>() / n as f64;
        let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        DepartureStats { n, mean, sd: var.sqrt(), rms: ms.sqrt() }
    }
}

/// The scores of one length scale.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleScores {
    /// `L`, km.
    pub length_scale_km: f64,
    /// O−A on the reports assimilated (every report used).
    pub oma_fit: DepartureStats,
    /// O−A on the reports withheld, fold by fold.
    pub oma_withheld: DepartureStats,
    /// The background-error standard deviation used (the mean over folds).
    pub sigma_b: f64,
}

/// The scores of one quantity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuantityScores {
    /// `temperature_500hPa`, `msl_pressure_surface`.
    pub name: String,
    /// The background field's units.
    pub units: String,
    /// Reports with a value for the quantity.
    pub reported: usize,
    /// Of those, outside the background's grid.
    pub outside_grid: usize,
    /// Of those, rejected by the background check.
    pub rejected: usize,
    /// O−B of the reports used.
    pub omb: DepartureStats,
    /// Per length scale.
    pub scales: Vec<ScaleScores>,
}

/// What a cross-validated analysis of real reports measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CrossValReport {
    /// The configuration's name.
    pub name: String,
    /// The background file and the valid time of the field used (ISO 8601).
    pub background: String,
    /// The background's valid time, ISO 8601.
    pub background_time: String,
    /// The reports' file and the median of their times, ISO 8601.
    pub reports: String,
    /// The median report time, ISO 8601.
    pub reports_time: String,
    /// Days from the background's valid time to the reports' median time.
    pub offset_days: f64,
    /// Per quantity.
    pub quantities: Vec<QuantityScores>,
}

/// One report's position and value.
#[derive(Clone, Copy, Debug)]
struct Point {
    lat: f64,
    lon: f64,
    value: f64,
}

/// Runs the configuration whose relative paths start at `base`: reads the background and the
/// reports, analyses each quantity at every length scale, cross-validates.
pub fn run(cfg: &CrossValConfig, base: &Path) -> Result<CrossValReport> {
    let bg_path = base.join(&cfg.background.file);
    let rep_path = base.join(&cfg.reports.file);
    let ds = Dataset::open(&bg_path)?;
    let reports = crate::bufr::read(&rep_path)?;
    let mut times: Vec<i64> =
        reports.soundings.iter().map(|s| s.time).chain(reports.surface.iter().map(|s| s.time)).collect();
    if times.is_empty() {
        return Err(DataError::file(&rep_path, "no radiosonde or SYNOP report decoded"));
    }
    times.sort_unstable();
    let report_time = times[times.len() / 2];
    let mut out = Vec::with_capacity(cfg.quantities.len());
    let mut bg_time = None;
    for q in &cfg.quantities {
        let var = ds.variable(&q.field)?;
        let (field, t) = background_field(var, q, cfg.background.member, report_time, &bg_path)?;
        bg_time = Some(t);
        out.push(analyse_quantity(q, var, &field, &reports, &cfg.analysis, &rep_path)?);
    }
    let bg_time = bg_time.unwrap_or(report_time);
    Ok(CrossValReport {
        name: cfg.name.clone(),
        background: bg_path.display().to_string(),
        background_time: crate::calendar::format_iso(bg_time),
        reports: rep_path.display().to_string(),
        reports_time: crate::calendar::format_iso(report_time),
        offset_days: (report_time - bg_time) as f64 / 86400.0,
        quantities: out,
    })
}

/// The background's horizontal field for `q`: the member asked for (or the first), the time
/// nearest `when`, the quantity's level; with its valid time.
fn background_field(
    var: &Variable,
    q: &QuantityConfig,
    member: Option<i64>,
    when: i64,
    path: &Path,
) -> Result<(Vec<f64>, i64)> {
    let m = match member {
        None => 0,
        Some(n) => var.members.iter().position(|&x| x == n).ok_or_else(|| {
            DataError::field(path, &var.name, format!("no member {n} (members: {:?})", var.members))
        })?,
    };
    let t = (0..var.times.len()).min_by_key(|&i| (var.times[i] - when).abs()).unwrap_or(0);
    let l = match q.level_hpa {
        Some(p) => var.level_index(p * 100.0).ok_or_else(|| {
            DataError::field(path, &var.name, format!("no level {p} hPa (levels: {:?} Pa)", var.levels))
        })?,
        None if var.levels.len() <= 1 => 0,
        None => {
            return Err(DataError::field(
                path,
                &var.name,
                "a surface quantity needs a single-level field, this one has several levels",
            ));
        }
    };
    Ok((var.horizontal(m, t, l).iter().map(|&v| v as f64).collect(), var.times[t]))
}

/// The reports' values of `q`, with their positions.
fn report_points(q: &QuantityConfig, reports: &Reports) -> Vec<Point> {
    let at = |lat: f64, lon: f64, v: Option<f64>| v.map(|value| Point { lat, lon, value });
    match q.level_hpa {
        Some(p) => reports
            .soundings
            .iter()
            .filter_map(|s: &Sounding| {
                let level = s.levels.iter().find(|l| (l.pressure - p * 100.0).abs() < 1.0)?;
                let v = match q.report {
                    ReportQuantity::Temperature => level.temperature,
                    ReportQuantity::Geopotential => level.geopotential,
                    ReportQuantity::MslPressure => None,
                };
                at(s.latitude, s.longitude, v)
            })
            .collect::<Vec<_>>(),
        None => reports
            .surface
            .iter()
            .filter_map(|s: &SurfaceReport| {
                let v = match q.report {
                    ReportQuantity::Temperature => s.temperature,
                    ReportQuantity::MslPressure => s.msl_pressure,
                    ReportQuantity::Geopotential => None,
                };
                at(s.latitude, s.longitude, v)
            })
            .collect::<Vec<_>>(),
    }
    .into_iter()
    .filter(|p| p.value.is_finite() && p.lat.is_finite() && p.lon.is_finite())
    .collect()
}

/// Bilinear interpolation on a regular latitude–longitude grid (either latitude order,
/// longitudes periodic when they go round the globe); `None` outside the grid or next to a
/// missing value.
pub struct Bilinear<'a> {
    lat: &'a [f64],
    lon: &'a [f64],
    field: &'a [f64],
    periodic: bool,
}

impl<'a> Bilinear<'a> {
    /// The interpolator of `field` (`[lat][lon]`) on the axes of `var`.
    pub fn new(var: &'a Variable, field: &'a [f64]) -> Self {
        let lon = &var.longitudes;
        let periodic = lon.len() > 1 && {
            let step = (lon[1] - lon[0]).abs();
            ((lon.len() as f64) * step - 360.0).abs() < 1e-6 * 360.0
        };
        Bilinear { lat: &var.latitudes, lon, field, periodic }
    }

    /// The value at (`lat`, `lon`) in degrees.
    pub fn at(&self, lat: f64, lon: f64) -> Option<f64> {
        let (i0, i1, wy) = axis_cell(self.lat, lat, false)?;
        let (j0, j1, wx) = axis_cell(self.lon, lon, self.periodic)?;
        let nx = self.lon.len();
        let f = |i: usize, j: usize| self.field[i * nx + j];
        let v = (1.0 - wy) * ((1.0 - wx) * f(i0, j0) + wx * f(i0, j1))
            + wy * ((1.0 - wx) * f(i1, j0) + wx * f(i1, j1));
        v.is_finite().then_some(v)
    }
}

/// The cell of a regular axis around `x`: (left index, right index, weight of the right).
fn axis_cell(axis: &[f64], x: f64, periodic: bool) -> Option<(usize, usize, f64)> {
    let n = axis.len();
    if n < 2 {
        return None;
    }
    let step = axis[1] - axis[0];
    let mut pos = (x - axis[0]) / step;
    if periodic {
        let n_f = n as f64;
        // Longitudes: bring x into the axis's turn of the globe.
        let turn = 360.0 / step.abs();
        pos = pos.rem_euclid(turn);
        if pos > n_f - 1.0 {
            // Between the last column and the first, across the seam.
            return Some((n - 1, 0, pos - (n_f - 1.0)));
        }
    }
    if pos < -1e-9 || pos > (n - 1) as f64 + 1e-9 {
        return None;
    }
    let i0 = (pos.floor() as usize).min(n - 2);
    Some((i0, i0 + 1, (pos - i0 as f64).clamp(0.0, 1.0)))
}

/// The Gaussian correlation of the chordal distance between two unit vectors.
fn correlation(a: &[f64; 3], b: &[f64; 3], length_km: f64) -> f64 {
    let d2 = (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2);
    let chord_km2 = d2 * EARTH_RADIUS_KM * EARTH_RADIUS_KM;
    (-chord_km2 / (2.0 * length_km * length_km)).exp()
}

/// Optimal interpolation of departures `d` at the points `obs` onto the points `at`: the
/// analysis increments there. `sigma_b2`, `sigma_o2`: the error variances.
pub fn oi_increments(
    obs: &[[f64; 3]],
    d: &[f64],
    at: &[[f64; 3]],
    length_km: f64,
    sigma_b2: f64,
    sigma_o2: f64,
) -> std::result::Result<Vec<f64>, assim_core::AssimError> {
    let n = obs.len();
    if n == 0 {
        return Ok(vec![0.0; at.len()]);
    }
    let a = Mat::from_fn(n, n, |i, j| {
        sigma_b2 * correlation(&obs[i], &obs[j], length_km) + if i == j { sigma_o2 } else { 0.0 }
    });
    let rhs = Mat::from_fn(n, 1, |i, _| d[i]);
    let w = assim_core::linalg::spd_solve(a.as_ref(), rhs.as_ref())?;
    Ok(at
        .iter()
        .map(|p| {
            sigma_b2
                * obs.iter().enumerate().map(|(i, o)| correlation(p, o, length_km) * w[(i, 0)]).sum::<f64>()
        })
        .collect())
}

/// The background-error variance the departures `d` imply: `var(d) − σ_o²`, at least 1 % of
/// `σ_o²` (a background better than the reports still gets some weight... but little).
fn sigma_b2_of(d: &[f64], sigma_o2: f64) -> f64 {
    let s = DepartureStats::of(d);
    (s.sd * s.sd - sigma_o2).max(0.01 * sigma_o2)
}

/// Analyses one quantity at every length scale and cross-validates.
fn analyse_quantity(
    q: &QuantityConfig,
    var: &Variable,
    field: &[f64],
    reports: &Reports,
    a: &AnalysisConfig,
    rep_path: &Path,
) -> Result<QuantityScores> {
    let name = match q.level_hpa {
        Some(p) => format!("{}_{p:.0}hPa", quantity_name(q.report)),
        None => format!("{}_surface", quantity_name(q.report)),
    };
    let points = report_points(q, reports);
    let interp = Bilinear::new(var, field);
    let mut inside = Vec::new();
    for p in &points {
        if let Some(b) = interp.at(p.lat, p.lon) {
            inside.push((unit(p.lat, p.lon), p.value - b));
        }
    }
    let outside_grid = points.len() - inside.len();
    // The background check, on every report before any analysis (as centres do).
    let all: Vec<f64> = inside.iter().map(|x| x.1).collect();
    let s = DepartureStats::of(&all);
    let used: Vec<([f64; 3], f64)> = inside
        .into_iter()
        .filter(|x| (x.1 - s.mean).abs() <= a.qc_sigmas * s.sd.max(f64::MIN_POSITIVE))
        .collect();
    let rejected = all.len() - used.len();
    if used.len() < a.folds {
        return Err(DataError::field(
            rep_path,
            &name,
            format!(
                "{} report(s) inside the background's grid: fewer than the {} folds",
                used.len(),
                a.folds
            ),
        ));
    }
    let pos: Vec<[f64; 3]> = used.iter().map(|x| x.0).collect();
    let d: Vec<f64> = used.iter().map(|x| x.1).collect();
    let sigma_o2 = q.sigma_o * q.sigma_o;
    // Folds: a seeded shuffle, dealt round-robin.
    let mut order: Vec<usize> = (0..d.len()).collect();
    let mut rng = assim_core::rng::stream(a.seed, "cross-validation folds");
    for i in (1..order.len()).rev() {
        let j = ((assim_core::rng::uniform(&mut rng) * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    let fold_of: Vec<usize> = {
        let mut f = vec![0; d.len()];
        for (k, &i) in order.iter().enumerate() {
            f[i] = k % a.folds;
        }
        f
    };
    let err = |e: assim_core::AssimError| DataError::field(rep_path, &name, e.to_string());
    let mut scales = Vec::with_capacity(a.length_scales_km.len());
    let sb2 = sigma_b2_of(&d, sigma_o2);
    for &l in &a.length_scales_km {
        let inc = oi_increments(&pos, &d, &pos, l, sb2, sigma_o2).map_err(err)?;
        let fit: Vec<f64> = d.iter().zip(&inc).map(|(d, i)| d - i).collect();
        let mut withheld = vec![0.0; d.len()];
        let mut sb_sum = 0.0;
        for k in 0..a.folds {
            let (train, test): (Vec<usize>, Vec<usize>) = (0..d.len()).partition(|&i| fold_of[i] != k);
            let tp: Vec<[f64; 3]> = train.iter().map(|&i| pos[i]).collect();
            let td: Vec<f64> = train.iter().map(|&i| d[i]).collect();
            let at: Vec<[f64; 3]> = test.iter().map(|&i| pos[i]).collect();
            // σ_b from the fold's own assimilated reports: the withheld ones are unseen.
            let sb2_k = sigma_b2_of(&td, sigma_o2);
            sb_sum += sb2_k.sqrt();
            let inc = oi_increments(&tp, &td, &at, l, sb2_k, sigma_o2).map_err(err)?;
            for (&i, v) in test.iter().zip(inc) {
                withheld[i] = d[i] - v;
            }
        }
        scales.push(ScaleScores {
            length_scale_km: l,
            oma_fit: DepartureStats::of(&fit),
            oma_withheld: DepartureStats::of(&withheld),
            sigma_b: sb_sum / a.folds as f64,
        });
    }
    Ok(QuantityScores {
        name,
        units: var.units.clone(),
        reported: points.len(),
        outside_grid,
        rejected,
        omb: DepartureStats::of(&d),
        scales,
    })
}

fn quantity_name(q: ReportQuantity) -> &'static str {
    match q {
        ReportQuantity::Temperature => "temperature",
        ReportQuantity::Geopotential => "geopotential",
        ReportQuantity::MslPressure => "msl_pressure",
    }
}

impl CrossValReport {
    /// The table a person reads: one row per quantity and length scale.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{}: background {} valid {}, reports {} (median time {}), {:+.1} days apart\n\n",
            self.name,
            self.background,
            self.background_time,
            self.reports,
            self.reports_time,
            self.offset_days
        );
        s.push_str(
            "quantity               units    used  rej  L (km)  σ_b     O−B mean  O−B sd   O−A fit rms  O−A withheld mean  sd       rms\n",
        );
        for q in &self.quantities {
            for sc in &q.scales {
                s.push_str(&format!(
                    "{:<22} {:<8} {:>4} {:>4} {:>7.0} {:>8.3} {:>9.3} {:>8.3} {:>12.3} {:>18.3} {:>8.3} {:>8.3}\n",
                    q.name,
                    q.units,
                    q.omb.n,
                    q.rejected,
                    sc.length_scale_km,
                    sc.sigma_b,
                    q.omb.mean,
                    q.omb.sd,
                    sc.oma_fit.rms,
                    sc.oma_withheld.mean,
                    sc.oma_withheld.sd,
                    sc.oma_withheld.rms
                ));
            }
        }
        s
    }

    /// The same rows as CSV.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "quantity,units,used,rejected,outside_grid,length_scale_km,sigma_b,omb_mean,omb_sd,omb_rms,oma_fit_mean,oma_fit_rms,oma_withheld_mean,oma_withheld_sd,oma_withheld_rms\n",
        );
        for q in &self.quantities {
            for sc in &q.scales {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    q.name,
                    q.units,
                    q.omb.n,
                    q.rejected,
                    q.outside_grid,
                    sc.length_scale_km,
                    sc.sigma_b,
                    q.omb.mean,
                    q.omb.sd,
                    q.omb.rms,
                    sc.oma_fit.mean,
                    sc.oma_fit.rms,
                    sc.oma_withheld.mean,
                    sc.oma_withheld.sd,
                    sc.oma_withheld.rms
                ));
            }
        }
        s
    }
}

/// Writes `metrics.json` and `departures.csv` into `dir` (created), each atomically.
pub fn write(
    report: &CrossValReport,
    dir: &Path,
) -> std::result::Result<Vec<PathBuf>, assim_core::AssimError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| assim_core::AssimError::Io { path: dir.to_path_buf(), source })?;
    let json =
        serde_json::to_string_pretty(report).map_err(|e| assim_core::AssimError::Input(e.to_string()))?;
    let files = [(dir.join("metrics.json"), json), (dir.join("departures.csv"), report.csv())];
    for (p, text) in &files {
        assim_core::io::write_atomic(p, text.as_bytes())?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_moves_the_analysis_by_the_gain_and_its_correlation() {
        // One observation: the increment at its point is σ_b²/(σ_b² + σ_o²)·d, and at a point
        // r away that times exp(−r²/2L²) (r the chord).
        let o = unit(45.0, 10.0);
        let far = unit(45.0, 15.0);
        let inc = oi_increments(&[o], &[2.0], &[o, far], 500.0, 4.0, 1.0).unwrap();
        assert!((inc[0] - 2.0 * 4.0 / 5.0).abs() < 1e-12, "{inc:?}");
        let c = correlation(&o, &far, 500.0);
        assert!((inc[1] - inc[0] * c).abs() < 1e-12);
        assert!(c > 0.0 && c < 1.0);
    }

    #[test]
    fn bilinear_is_exact_on_a_plane_and_wraps_the_seam() {
        // f = lat + 2·lon on a 10° grid, latitudes north first, longitudes 0 … 350.
        let lat: Vec<f64> = (0..19).map(|i| 90.0 - 10.0 * i as f64).collect();
        let lon: Vec<f64> = (0..36).map(|j| 10.0 * j as f64).collect();
        let values: Vec<f32> =
            lat.iter().flat_map(|&y| lon.iter().map(move |&x| (y + 2.0 * x) as f32)).collect();
        let var = Variable {
            name: "f".into(),
            standard_name: None,
            long_name: None,
            units: "1".into(),
            members: vec![0],
            times: vec![0],
            level_kind: crate::field::LevelKind::Surface,
            levels: vec![0.0],
            latitudes: lat,
            longitudes: lon,
            values,
        };
        let field: Vec<f64> = var.values.iter().map(|&v| v as f64).collect();
        let b = Bilinear::new(&var, &field);
        assert!((b.at(33.0, 123.0).unwrap() - (33.0 + 246.0)).abs() < 1e-4);
        assert!((b.at(-12.5, -77.0).unwrap() - (-12.5 + 2.0 * 283.0)).abs() < 1e-4);
        // Across the seam 350 → 360: halfway between 700 (lon 350) and 0 (lon 0).
        assert!((b.at(0.0, 355.0).unwrap() - 350.0).abs() < 1e-4);
    }
}
