//! One seed of the multi-level OSSE: the Held–Suarez climate sample, the truth that follows it
//! and each window's observations; [`PeTwin`] is it as a [`Scenario`], and [`Forecasts`]
//! scores forecasts from the analyses.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::PeBedConfig;
use super::observation_file;
use super::observing::{Network, Row, System};
use crate::AssimError;
use crate::assimilator::StateDistribution;
use crate::bed::sphere::{ForecastConfig, SphereClimate};
use crate::bed::{Observer, SeedExtras, StageProgress};
use crate::dynamics::primitive::{PeGridModel, PeInitial, PrimitiveDry};
use crate::experiment::{Chronology, SeedRun};
use crate::metrics::{GridScorer, VariableScores, lead_means};
use crate::obs::{ColumnLocalizer, ObsOperator, Stacked};
use crate::rng::{AssimRng, normal};
use crate::spectral::SpectralTransform;

/// One analysis window's observations.
pub struct PeWindow {
    /// The stacked operator of the window's systems.
    pub op: Stacked,
    /// What each row is.
    pub rows: Vec<Row>,
    /// Error variances.
    pub var: Vec<f64>,
    /// Values.
    pub y: Vec<f64>,
    /// Horizontal and log-pressure localisation.
    pub localizer: ColumnLocalizer,
}

/// One seed of the multi-level OSSE.
pub struct PeTwin {
    /// The forecast model on grid states.
    pub model: PeGridModel,
    /// The climate sample: mean, variance, samples and the multivariate `B`.
    pub climate: SphereClimate,
    /// Truth at every window boundary (`w = 0..=analyses + forecast windows`).
    pub truth: Vec<Vec<f64>>,
    /// Each analysis window's observations.
    pub windows: Vec<PeWindow>,
    /// Area-weighted scores per field and level.
    pub scorer: GridScorer,
    /// The chronology.
    pub chrono: Chronology,
    /// The forecasts scored from the analyses.
    pub forecasts: ForecastConfig,
}

impl PeTwin {
    /// Spins up the model, samples its climate, runs the truth `forecasts.lead_days` past the
    /// last analysis and simulates the observations, for `seed`.
    pub fn new(
        cfg: &PeBedConfig,
        chrono: Chronology,
        seed: u64,
        progress: &mut StageProgress<'_>,
    ) -> Result<Self, AssimError> {
        let sim = cfg.climate.as_ref();
        let m = &cfg.model;
        let params = sim.params()?;
        let levels = params.levels.clone();
        let dt = params.dt;
        let model = Arc::new(PrimitiveDry::new(params, sim.orography(), sim.forcing())?);
        // Each seed its own climate: the spin-up's noise is seeded by the experiment's seed.
        let initial = match sim.initial() {
            PeInitial::Rest { temperature, noise, .. } => PeInitial::Rest { temperature, noise, seed },
            other => other,
        };
        let gm = PeGridModel::new(model.clone());
        let mut integ = model.start(model.initial_state(&initial)?)?;
        let spin_steps = (m.spinup_days.unwrap_or(sim.run.spinup_days) * 86400.0 / dt).round() as u64;
        let chunk = (86400.0 / dt).round().max(1.0) as u64;
        let mut done = 0;
        while done < spin_steps {
            let s = chunk.min(spin_steps - done);
            model.run(&mut integ, s);
            done += s;
            progress("spin-up", done as usize, spin_steps as usize);
        }
        let interval = (m.climate_interval_hours * 3600.0 / dt).round().max(1.0) as u64;
        let n_samples = (m.climate_days * 24.0 / m.climate_interval_hours).round() as usize;
        let mut samples = Vec::with_capacity(n_samples);
        for k in 0..n_samples {
            model.run(&mut integ, interval);
            if !integ.is_finite() {
                return Err(AssimError::Numerical("the climate run blew up".into()));
            }
            samples.push(gm.grid_state(integ.state()));
            progress("climate", k + 1, n_samples);
        }
        let layout = gm.layout();
        let (l, grid) = (layout.nlev, model.grid().clone());
        let transform = Arc::new(SpectralTransform::new(model.params().truncation, model.params().radius)?);
        // B: the temperature profile and p_s coupled per total wavenumber (their vertical
        // correlations from the climate, scale by scale); u and v profiles likewise, each.
        let mut mass: Vec<usize> = (0..l).collect();
        mass.push(3 * l);
        let blocks = vec![mass, (l..2 * l).collect(), (2 * l..3 * l).collect()];
        let climate = SphereClimate::from_samples(samples, transform, 3 * l + 1, &blocks)?;

        let fc = cfg.forecasts();
        let per_day = (86400.0 / (chrono.dko as f64 * dt)).round().max(1.0) as usize;
        let n_windows = chrono.n_obs_times() + fc.lead_days * per_day;
        let mut x = gm.grid_state(integ.state());
        drop(integ);
        let mut truth = Vec::with_capacity(n_windows + 1);
        truth.push(x.clone());
        for w in 0..n_windows {
            if !gm.forecast(&mut x, chrono.dko as u64) {
                return Err(AssimError::Numerical(format!("the truth run blew up in window {w}")));
            }
            truth.push(x.clone());
            progress("truth", w + 1, n_windows);
        }

        let net = Network::new(&cfg.observing, &grid, &levels, seed)?;
        // One error stream per system, continuous across windows.
        let mut noise: Vec<(System, AssimRng)> =
            System::ALL.iter().map(|&sys| (sys, sys.stream(seed, "observation errors"))).collect();
        let window_s = chrono.dko as f64 * dt;
        let window_h = window_s / 3600.0;
        let file_windows =
            cfg.records.as_ref().map(|r| observation_file::by_analysis(r, window_h, chrono.n_obs_times()));
        let mut windows = Vec::with_capacity(chrono.n_obs_times());
        for ko in 0..chrono.n_obs_times() {
            let (op, rows, y) = match &file_windows {
                // An observation file: its records of this window, as they are.
                Some(by_window) => observation_file::window(&by_window[ko], layout, &levels, &grid)?,
                None => {
                    let (op, rows) = net.window(&grid, (ko + 1) as f64 * window_s, window_s)?;
                    let mut y = vec![0.0; op.n_obs()];
                    op.apply(&truth[ko + 1], &mut y);
                    for (yp, r) in y.iter_mut().zip(&rows) {
                        let rng =
                            &mut noise.iter_mut().find(|(sys, _)| *sys == r.system).expect("every system").1;
                        *yp += r.sigma * normal(rng);
                    }
                    (op, rows, y)
                }
            };
            let var = rows.iter().map(|r| r.sigma * r.sigma).collect();
            let pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.lat, r.lon)).collect();
            let pressures: Vec<f64> = rows.iter().map(|r| r.pressure).collect();
            let localizer = ColumnLocalizer::new(
                &grid,
                levels.full(),
                &pts,
                &pressures,
                cfg.observing.vertical_localisation,
            )?;
            windows.push(PeWindow { op, rows, var, y, localizer });
        }
        let scorer = GridScorer::new(&grid, 3 * l + 1, climate.mean().to_vec(), &climate.variance());
        Ok(PeTwin { model: gm, climate, truth, windows, scorer, chrono, forecasts: fc })
    }

    /// Writes every window's observations as the observation file
    /// ([`observation_file`]), atomically.
    pub fn write_observations(&self, path: &Path) -> Result<(), AssimError> {
        let window_h = self.chrono.dko as f64 * self.chrono.dt / 3600.0;
        let records = self.windows.iter().enumerate().flat_map(|(ko, w)| {
            w.rows.iter().zip(&w.y).map(move |(r, &y)| ((ko + 1) as f64 * window_h, r, y))
        });
        let s = observation_file::to_csv(records);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
        }
        crate::io::write_atomic(path, s.as_bytes())
    }
}

crate::bed::sphere::global_twin_scenario!(PeTwin);

/// Forecasts of `lead_days` days from every `every`-th analysis after the burn-in, scored per
/// field and level at each daily lead.
pub struct Forecasts<'a> {
    twin: &'a PeTwin,
    starts: Vec<(usize, Vec<f64>)>,
    seen: usize,
}

impl<'a> Forecasts<'a> {
    /// The observer of one cycle on `twin`.
    pub fn new(twin: &'a PeTwin) -> Self {
        Forecasts { twin, starts: Vec::new(), seen: 0 }
    }
}

impl Observer for Forecasts<'_> {
    fn on_analysis(&mut self, ko: usize, mean: &[f64]) -> Result<(), AssimError> {
        if !self.twin.chrono.is_averaged(ko) || !mean.iter().all(|x| x.is_finite()) {
            return Ok(());
        }
        if self.seen.is_multiple_of(self.twin.forecasts.every.max(1)) {
            self.starts.push((ko, mean.to_vec()));
        }
        self.seen += 1;
        Ok(())
    }

    fn finish(self: Box<Self>, run: &SeedRun, extras: &mut SeedExtras) -> Result<(), AssimError> {
        if run.diverged.is_some() || self.starts.is_empty() {
            return Ok(());
        }
        let (twin, c) = (self.twin, &self.twin.chrono);
        let per_day = (86400.0 / (c.dko as f64 * c.dt)).round().max(1.0) as usize;
        let day_steps = (per_day * c.dko) as u64;
        let leads = twin.forecasts.lead_days;
        let runs: Vec<Vec<Vec<VariableScores>>> = self
            .starts
            .par_iter()
            .map(|(ko, x0)| {
                let mut x = x0.clone();
                let mut out = Vec::with_capacity(leads);
                for d in 0..leads {
                    let Some(t) = twin.truth.get(ko + 1 + (d + 1) * per_day) else { break };
                    if !twin.model.forecast(&mut x, day_steps) {
                        break;
                    }
                    out.push(twin.scorer.variables(&x, None, t, false));
                }
                out
            })
            .collect();
        extras.forecast = Some(lead_means(&runs, leads, 3 * twin.model.layout().nlev + 1));
        Ok(())
    }
}
