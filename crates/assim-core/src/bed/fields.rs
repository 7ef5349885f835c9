//! The reanalysis-ensemble bed: real atmospheric states from a file instead of a model run.
//! The file is an assim Zarr store on a model's Gaussian grid (`assim data regrid FILE --grid
//! T21 --out DIR.zarr` writes one from GRIB, NetCDF or Zarr), with a member axis: an ensemble of
//! data assimilations such as ERA5's. Each seed `s` withholds member `s` as the truth; the other
//! members are the background ensemble, stations observe the withheld member, and the methods
//! are scored against it (cross-validation over the members, as Whitaker & Hamill verify an
//! ensemble against a withheld member).
//!
//! There is no dynamical model: the store's times are the analysis times, and the forecast to
//! the next one is the file's ([`FileForecast`]): every member of an ensemble becomes the file's
//! member at the next time, a single state the members' mean. The climate sample (the mean,
//! variances and `B` of Var3D and the normalisation of the scores) is every background member
//! at every time of the run about its time's mean: the members' spread, an ensemble-derived
//! `B`, as operational centres derive theirs from their ensembles of data assimilations.
//!
//! Keys: `[model]` (`kind = "fields"`, `file`, `variables`, `start`) and `[observing]`
//! (`stations`, `sigma`), docs/experiments.md.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use faer::Mat;
use serde::{Deserialize, Serialize};

use super::sphere::SphereClimate;
use super::{Bed, BedConfig, Covariance, FieldGrid, FileContext, Need, StageProgress, World, section};
use crate::AssimError;
use crate::assimilator::StateDistribution;
use crate::dynamics::Model;
use crate::experiment::Chronology;
use crate::grid::{Bilinear, LatLonGrid, STANDARD_GAUSSIAN};
use crate::io::zarr::ZarrReader;
use crate::metrics::GridScorer;
use crate::obs::network::{Placement, draw_sites};
use crate::obs::{GreatCircle, ObsOperator, SparseLinear};
use crate::rng::{normal, stream};
use crate::spectral::SpectralTransform;

/// The bed's `model.kind`.
pub const FIELDS_KIND: &str = "fields";

/// Earth radius of the spectral transform (m), the models' value.
const RADIUS_M: f64 = 6.37122e6;

/// `[model]`: the store and which of its variables make the state.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldsModelConfig {
    /// The Zarr store (written by `assim data regrid`), relative to the experiment file.
    pub file: String,
    /// The variables of the state (the store's names), each on every level it has.
    pub variables: Vec<String>,
    /// The store's time index of the initial time; the analyses are at the times after it.
    #[serde(default)]
    pub start: usize,
}

/// `[observing]`: stations drawn uniformly over the sphere, each observing every field.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldsObservingConfig {
    /// Number of stations (drawn per seed, the same at every analysis time).
    pub stations: usize,
    /// The observation-error standard deviation of each variable, in its units.
    pub sigma: BTreeMap<String, f64>,
}

/// One field of the state: a variable on one level.
#[derive(Clone, Debug, PartialEq)]
struct Field {
    name: String,
    units: String,
    sigma: f64,
}

/// The bed as the experiment file gives it, with the store read.
#[derive(Clone, Debug)]
pub struct FieldsBedConfig {
    /// `[model]`.
    pub model: FieldsModelConfig,
    /// `[observing]`.
    pub observing: FieldsObservingConfig,
    truncation: usize,
    fields: Vec<Field>,
    /// `[member][time]` → the state (fields stacked, each `nlat × nlon`).
    states: Vec<Vec<Vec<f64>>>,
    /// Seconds between the store's times.
    step_seconds: f64,
}

/// Reads the bed: `[model]` (and the store it names) and `[observing]`.
pub fn read(
    model: toml::Value,
    sections: &mut toml::Table,
    ctx: &FileContext<'_>,
) -> Result<Arc<dyn BedConfig>, AssimError> {
    let model: FieldsModelConfig = super::model_section(model, ctx)?;
    let observing = sections
        .remove("observing")
        .ok_or_else(|| ctx.error("observing", "missing: the fields bed needs its stations"))?;
    let observing: FieldsObservingConfig = section(observing, "observing", ctx)?;
    if model.variables.is_empty() {
        return Err(ctx.error("model.variables", "list at least one variable of the store"));
    }
    let path = ctx.base_dir.join(&model.file);
    let store = ZarrReader::open(&path).map_err(|e| ctx.error("model.file", e.to_string()))?;
    let at = |e: AssimError| ctx.error("model.file", e.to_string());
    let lat = store.read_all("lat").map_err(at)?;
    let lon = store.read_all("lon").map_err(at)?;
    let truncation = STANDARD_GAUSSIAN
        .iter()
        .map(|g| g.0)
        .find(|&t| {
            LatLonGrid::for_truncation(t).is_ok_and(|g| {
                g.nlat() == lat.len()
                    && g.nlon() == lon.len()
                    && g.lat_degrees().iter().zip(&lat).all(|(a, b)| (a - b).abs() < 1e-6)
            })
        })
        .ok_or_else(|| {
            ctx.error(
                "model.file",
                format!(
                    "its {}×{} grid is not a model's Gaussian grid: regrid it first (assim data regrid FILE --grid T21 --out DIR.zarr)",
                    lat.len(),
                    lon.len()
                ),
            )
        })?;
    let times = store.read_all("time").map_err(at)?;
    let step_seconds = if times.len() >= 2 { (times[1] - times[0]) * 3600.0 } else { 0.0 };
    if times.windows(2).any(|w| ((w[1] - w[0]) * 3600.0 - step_seconds).abs() > 1.0) {
        return Err(ctx.error("model.file", "its times are not evenly spaced"));
    }
    let npts = lat.len() * lon.len();
    let mut fields = Vec::new();
    let mut per_var: Vec<(usize, usize, usize, Vec<f64>)> = Vec::new();
    for name in &model.variables {
        let key = format!("model.variables ({name})");
        let shape = store.shape(name).map_err(|e| ctx.error(&key, e.to_string()))?;
        let attrs = store.attributes(name).map_err(|e| ctx.error(&key, e.to_string()))?;
        let text = |k: &str| attrs.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let units = text("units").unwrap_or_default();
        let label = text("standard_name").unwrap_or_else(|| name.clone());
        let sigma = *observing.sigma.get(name).ok_or_else(|| {
            ctx.error("observing.sigma", format!("give the observation error of {name} (in {units})"))
        })?;
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(ctx.error("observing.sigma", format!("{name}: must be positive (got {sigma})")));
        }
        let (nm, nt, levels) = match shape.as_slice() {
            [m, t, _, _] => (*m, *t, vec![None]),
            [m, t, _, _, _] => {
                let coord = if store.shape(&format!("level_{name}")).is_ok() {
                    format!("level_{name}")
                } else {
                    "level".to_string()
                };
                let lv = store.read_all(&coord).map_err(|e| ctx.error(&key, e.to_string()))?;
                (*m, *t, lv.into_iter().map(Some).collect())
            }
            other => {
                return Err(ctx.error(
                    &key,
                    format!("shape {other:?}: expected [member][time]([level])[lat][lon], as assim data regrid writes"),
                ));
            }
        };
        for l in &levels {
            let name = match l {
                Some(p) => format!("{label}_{:.0}hPa", p / 100.0),
                None => label.clone(),
            };
            fields.push(Field { name, units: units.clone(), sigma });
        }
        per_var.push((
            nm,
            nt,
            levels.len(),
            store.read_all(name).map_err(|e| ctx.error(&key, e.to_string()))?,
        ));
    }
    let (nm, nt) = (per_var[0].0, per_var[0].1);
    if per_var.iter().any(|v| v.0 != nm || v.1 != nt) {
        return Err(ctx.error("model.variables", "the variables have different members or times"));
    }
    if nm < 3 {
        return Err(ctx.error("model.file", format!("{nm} member(s): withholding one needs at least 3")));
    }
    if model.start + 1 >= nt {
        return Err(ctx.error(
            "model.start",
            format!("the store has {nt} time(s): no analysis time follows {}", model.start),
        ));
    }
    // [member][time] → fields stacked in state order.
    let states = (0..nm)
        .map(|m| {
            (0..nt)
                .map(|t| {
                    let mut x = Vec::with_capacity(fields.len() * npts);
                    for (_, _, nl, data) in &per_var {
                        for l in 0..*nl {
                            let start = ((m * nt + t) * nl + l) * npts;
                            x.extend_from_slice(&data[start..start + npts]);
                        }
                    }
                    x
                })
                .collect()
        })
        .collect();
    Ok(Arc::new(FieldsBedConfig { model, observing, truncation, fields, states, step_seconds }))
}

impl FieldsBedConfig {
    fn grid(&self) -> Result<LatLonGrid, AssimError> {
        LatLonGrid::for_truncation(self.truncation)
    }

    fn members(&self) -> usize {
        self.states.len()
    }

    fn times(&self) -> usize {
        self.states[0].len()
    }
}

impl BedConfig for FieldsBedConfig {
    fn name(&self) -> String {
        format!("fields T{} ({} members)", self.truncation, self.members())
    }

    fn model(&self) -> serde_json::Value {
        super::model_json(FIELDS_KIND, &self.model)
    }

    fn nx(&self) -> usize {
        self.states[0][0].len()
    }

    fn variables(&self) -> Vec<(String, String)> {
        self.fields.iter().map(|f| (f.name.clone(), f.units.clone())).collect()
    }

    fn field_grid(&self) -> Option<FieldGrid> {
        Some(FieldGrid {
            truncation: self.truncation,
            fields: self.variables(),
            modalities: vec!["station".into()],
        })
    }

    fn lacks(&self, need: Need) -> Option<String> {
        match need {
            Need::SmallState => Some(format!(
                "not available on the fields bed, whose state of {} numbers holds no dense covariance",
                self.nx()
            )),
            Need::StateObs => Some("the stations observe values interpolated between grid points".into()),
            Need::ModelAdjoint => {
                Some("the fields bed has no model to differentiate: its forecasts are the file's".into())
            }
            Need::LinearObs | Need::TangentLinear | Need::Localisation | Need::Grid => None,
        }
    }

    fn covariance(&self) -> Covariance {
        Covariance::Spectral
    }

    fn validate(&self, chrono: &Chronology, ctx: &FileContext<'_>) -> Result<(), AssimError> {
        if chrono.dko != 1 || (chrono.dt - self.step_seconds).abs() > 1.0 {
            return Err(ctx.error(
                "chronology.dt",
                format!(
                    "the fields bed steps from one time of the store to the next: dko = 1 and dt = {} s (got dko = {}, dt = {})",
                    self.step_seconds, chrono.dko, chrono.dt
                ),
            ));
        }
        let last = self.model.start + chrono.n_obs_times();
        if last >= self.times() {
            return Err(ctx.error(
                "chronology.ko",
                format!(
                    "{} analyses after time {} need {} times; the store has {}",
                    chrono.n_obs_times(),
                    self.model.start,
                    last + 1,
                    self.times()
                ),
            ));
        }
        if self.observing.stations == 0 {
            return Err(ctx.error("observing.stations", "must be ≥ 1"));
        }
        if let Some(k) = self.observing.sigma.keys().find(|k| !self.model.variables.contains(k)) {
            return Err(ctx.error("observing.sigma", format!("{k} is not one of model.variables")));
        }
        Ok(())
    }

    fn truth_numbers(&self, chrono: &Chronology) -> f64 {
        (chrono.n_obs_times() + 1) as f64 * self.nx() as f64
    }

    fn write(&self, table: &mut toml::Table) {
        super::sphere::write_sections(table, FIELDS_KIND, &self.model, ("observing", &self.observing), None);
    }

    fn prepare<'a>(&'a self, chrono: Chronology, _base_dir: &Path) -> Result<Box<dyn Bed + 'a>, AssimError> {
        Ok(Box::new(FieldsBed { cfg: self, chrono }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct FieldsBed<'a> {
    cfg: &'a FieldsBedConfig,
    chrono: Chronology,
}

impl Bed for FieldsBed<'_> {
    fn world(&self, seed: u64, _stage: &mut StageProgress<'_>) -> Result<Box<dyn World + '_>, AssimError> {
        Ok(Box::new(FieldsWorld::new(self.cfg, self.chrono, seed)?))
    }
}

/// The forecast of the fields bed: the file's states at the next time. A member `j` of an
/// ensemble becomes background member `j` there (the members other than the withheld one, in
/// the store's order); a single state becomes their mean.
pub struct FileForecast {
    /// `[time][member]`, the withheld member left out.
    members: Vec<Vec<Vec<f64>>>,
    /// `[time]`: the members' mean.
    means: Vec<Vec<f64>>,
    /// Seconds between times.
    step_seconds: f64,
}

impl FileForecast {
    /// The time index of model time `t` (seconds from the initial time).
    fn index(&self, t: f64) -> usize {
        ((t / self.step_seconds).round().max(0.0) as usize).min(self.means.len() - 1)
    }
}

impl Model for FileForecast {
    fn dim(&self) -> usize {
        self.means[0].len()
    }

    fn step(&self, x: &mut [f64], t: f64, dt: f64) {
        x.copy_from_slice(&self.means[self.index(t + dt)]);
    }

    fn advance_ensemble(&self, e: &mut Mat<f64>, t0: f64, dt: f64, steps: usize) {
        let members = &self.members[self.index(t0 + steps as f64 * dt)];
        for (j, mut col) in e.col_iter_mut().enumerate() {
            let x = &members[j % members.len()];
            for (i, v) in x.iter().enumerate() {
                col[i] = *v;
            }
        }
    }
}

/// One seed: member `seed` withheld as the truth.
pub struct FieldsWorld {
    model: FileForecast,
    climate: SphereClimate,
    truth: Vec<Vec<f64>>,
    windows: Vec<FieldsWindow>,
    scorer: GridScorer,
    chrono: Chronology,
}

/// One analysis time's observations.
struct FieldsWindow {
    op: SparseLinear,
    var: Vec<f64>,
    y: Vec<f64>,
    localizer: GreatCircle,
}

impl FieldsWorld {
    fn new(cfg: &FieldsBedConfig, chrono: Chronology, seed: u64) -> Result<Self, AssimError> {
        let withheld = usize::try_from(seed).ok().filter(|&s| s < cfg.members()).ok_or_else(|| {
            AssimError::Input(format!(
                "seed {seed}: on the fields bed a seed is the index of the withheld member, and the store has {} (0–{})",
                cfg.members(),
                cfg.members() - 1
            ))
        })?;
        let grid = cfg.grid()?;
        let npts = grid.len();
        let nf = cfg.fields.len();
        let times: Vec<usize> = (cfg.model.start..=cfg.model.start + chrono.n_obs_times()).collect();
        let others: Vec<usize> = (0..cfg.members()).filter(|&m| m != withheld).collect();
        let members: Vec<Vec<Vec<f64>>> =
            times.iter().map(|&t| others.iter().map(|&m| cfg.states[m][t].clone()).collect()).collect();
        let means: Vec<Vec<f64>> = members
            .iter()
            .map(|ms| {
                (0..ms[0].len()).map(|i| ms.iter().map(|x| x[i]).sum::<f64>() / ms.len() as f64).collect()
            })
            .collect();
        // The climate sample: each time's members about that time's mean, put back about the
        // mean over the times, so that its variance (and B) is the members' spread, not the
        // weather's change from one time to the next.
        let overall: Vec<f64> = (0..means[0].len())
            .map(|i| means.iter().map(|m| m[i]).sum::<f64>() / means.len() as f64)
            .collect();
        let samples: Vec<Vec<f64>> = members
            .iter()
            .zip(&means)
            .flat_map(|(ms, mean)| {
                let overall = &overall;
                ms.iter().map(move |x| x.iter().zip(mean).zip(overall).map(|((x, m), o)| x - m + o).collect())
            })
            .collect();
        let transform = Arc::new(SpectralTransform::new(cfg.truncation, RADIUS_M)?);
        let blocks: Vec<Vec<usize>> = (0..nf).map(|f| vec![f]).collect();
        let climate = SphereClimate::from_samples(samples, transform, nf, &blocks)?;
        let truth: Vec<Vec<f64>> = times.iter().map(|&t| cfg.states[withheld][t].clone()).collect();
        // Stations and their errors: streams of the seed, the same sites at every time.
        let sites =
            draw_sites(cfg.observing.stations, Placement::Uniform, 1.0, &mut stream(seed, "stations"));
        let interp = Bilinear::new(&grid, &sites)?;
        let mut op = SparseLinear::new(nf * npts);
        let (mut var, mut pts) = (Vec::new(), Vec::new());
        for (f, field) in cfg.fields.iter().enumerate() {
            for (p, &site) in sites.iter().enumerate() {
                let (idx, w) = interp.row(p);
                op.push_row(idx.iter().zip(w).map(|(&i, &x)| (f * npts + i, x)));
                var.push(field.sigma * field.sigma);
                pts.push(site);
            }
        }
        let localizer = GreatCircle::new(&grid, nf, &pts);
        let mut noise = stream(seed, "observation errors");
        let windows = (1..times.len())
            .map(|w| {
                let mut y = vec![0.0; op.n_obs()];
                op.apply(&truth[w], &mut y);
                for (yp, v) in y.iter_mut().zip(&var) {
                    *yp += v.sqrt() * normal(&mut noise);
                }
                FieldsWindow { op: op.clone(), var: var.clone(), y, localizer: localizer.clone() }
            })
            .collect();
        let scorer = GridScorer::new(&grid, nf, climate.mean().to_vec(), &climate.variance());
        let model = FileForecast { members, means, step_seconds: cfg.step_seconds };
        Ok(FieldsWorld { model, climate, truth, windows, scorer, chrono })
    }
}

crate::bed::sphere::global_twin_scenario!(FieldsWorld);

impl World for FieldsWorld {
    fn climate_sample(&self) -> Option<&[Vec<f64>]> {
        Some(self.climate.samples())
    }
}
