//! One seed of the global OSSE: the climate sample, the truth that follows it and the
//! observing network's windows; [`SphereTwin`] is it as a [`Scenario`] for the cycling loop.

use std::path::Path;
use std::sync::Arc;

use faer::Mat;

use super::SphereConfig;
use crate::AssimError;
use crate::assimilator::{Estimate, Setup, StateDistribution};
use crate::bed::StageProgress;
use crate::dynamics::shallow_water::{ForecastStirring, ShallowWater, SwGridModel, grid_state};
use crate::experiment::{Chronology, Scenario, Simulation};
use crate::metrics::{GridScorer, Scores, VariableScores};
use crate::obs::network::Network;
use crate::obs::records::{self, Observation, Variable};
use crate::obs::{GreatCircle, ObsOperator, SparseLinear};
use crate::rng::{AssimRng, normal, stream};
use crate::spectral::{SpectralTransform, VarianceSpectra};

/// The climate sample of one seed: mean, variance, the samples (X0 draws from them) and the
/// isotropic variance spectra of the anomalies (the spectral `B`).
pub struct SphereClimate {
    mean: Vec<f64>,
    var: Vec<f64>,
    samples: Vec<Vec<f64>>,
    spectra: VarianceSpectra,
}

impl SphereClimate {
    /// The climate of `samples` (states of `n_fields` fields on `transform`'s grid, oldest
    /// first): their mean, variance (N − 1) and the variance spectra of the anomalies, with
    /// the fields of each of `blocks` coupled per total wavenumber (one block per field: the
    /// isotropic, uncoupled `B`).
    pub fn from_samples(
        samples: Vec<Vec<f64>>,
        transform: Arc<SpectralTransform>,
        n_fields: usize,
        blocks: &[Vec<usize>],
    ) -> Result<Self, AssimError> {
        let n_samples = samples.len();
        let nx = samples.first().map_or(0, Vec::len);
        let mean: Vec<f64> =
            (0..nx).map(|i| samples.iter().map(|s| s[i]).sum::<f64>() / n_samples as f64).collect();
        let var: Vec<f64> = (0..nx)
            .map(|i| samples.iter().map(|s| (s[i] - mean[i]).powi(2)).sum::<f64>() / (n_samples as f64 - 1.0))
            .collect();
        let anomalies: Vec<Vec<f64>> =
            samples.iter().map(|s| s.iter().zip(&mean).map(|(a, m)| a - m).collect()).collect();
        let spectra = VarianceSpectra::estimate_blocks(transform, n_fields, blocks, &anomalies)?;
        Ok(SphereClimate { mean, var, samples, spectra })
    }

    /// The climate states `(geopotential, u, v)` on the grid, oldest first: the reference
    /// levels of diagnostics that compare an analysis with the climate.
    pub fn samples(&self) -> &[Vec<f64>] {
        &self.samples
    }
}

impl StateDistribution for SphereClimate {
    fn mean(&self) -> &[f64] {
        &self.mean
    }
    fn variance(&self) -> Vec<f64> {
        self.var.clone()
    }
    /// `n` distinct climate states drawn at random.
    fn sample(&self, n: usize, rng: &mut AssimRng) -> Result<Mat<f64>, AssimError> {
        if n > self.samples.len() {
            return Err(AssimError::Input(format!(
                "{n} members need at least as many climate samples (have {}): raise model.climate_days",
                self.samples.len()
            )));
        }
        // Partial Fisher–Yates shuffle of the sample indices.
        let mut idx: Vec<usize> = (0..self.samples.len()).collect();
        for k in 0..n {
            let j = k + ((crate::rng::uniform(rng) * (idx.len() - k) as f64) as usize).min(idx.len() - k - 1);
            idx.swap(k, j);
        }
        Ok(Mat::from_fn(self.mean.len(), n, |i, j| self.samples[idx[j]][i]))
    }
    fn covariance(&self) -> Option<&Mat<f64>> {
        None
    }
    fn spectra(&self) -> Option<&VarianceSpectra> {
        Some(&self.spectra)
    }
}

/// One analysis window's observations.
pub struct ObsWindow {
    /// The records, with their simulated values.
    pub records: Vec<Observation>,
    /// Their linear operator.
    pub op: SparseLinear,
    /// Error variances.
    pub var: Vec<f64>,
    /// Values.
    pub y: Vec<f64>,
    /// Great-circle localisation geometry.
    pub localizer: GreatCircle,
}

/// One seed of the global OSSE.
pub struct SphereTwin {
    /// The forecast model (grid state; what it knows of the truth's stirring is
    /// `model.forecast_stirring`).
    pub model: SwGridModel,
    /// The model of the free run: a stirring sequence of its own (independent of the truth's,
    /// continuous across windows), since a free run has no analyses to learn the forcing from.
    pub free_model: SwGridModel,
    /// The spectral transform of the grid.
    pub transform: Arc<SpectralTransform>,
    /// The climate sample.
    pub climate: SphereClimate,
    /// Truth at every window boundary `w · dko` (`w = 0..=analyses + forecast windows`).
    pub truth: Vec<Vec<f64>>,
    /// Observations of each analysis window.
    pub windows: Vec<ObsWindow>,
    /// Area-weighted scores per variable.
    pub scorer: GridScorer,
    /// The chronology.
    pub chrono: Chronology,
    /// The forecasts scored from the analyses.
    pub forecasts: super::ForecastConfig,
}

/// A seed's climate run: the model, the integration at the end of the climate sample (where
/// the truth starts) and the samples `(geopotential, u, v)` on the grid.
pub struct ClimateRun {
    /// The model.
    pub model: Arc<ShallowWater>,
    /// The integration, at the end of the sample.
    pub integration: crate::dynamics::shallow_water::SwIntegration,
    /// The climate states, oldest first.
    pub samples: Vec<Vec<f64>>,
}

/// Spins up the model of a shallow-water experiment and samples its climate, for `seed`.
/// Relative paths start at `base_dir`.
pub fn climate_run(
    cfg: &SphereConfig,
    base_dir: &Path,
    seed: u64,
    progress: &mut StageProgress<'_>,
) -> Result<ClimateRun, AssimError> {
    let m = &cfg.model;
    let (spinup_days, climate_days, climate_interval_hours) =
        (&m.spinup_days, &m.climate_days, &m.climate_interval_hours);
    let sim_cfg = cfg.climate.as_ref().clone();
    let dt = sim_cfg.model.dt_seconds;
    let spin = spinup_days.unwrap_or(sim_cfg.run.spinup_days);
    let (model, initial) = Simulation::new(sim_cfg, base_dir)?.into_parts();
    let model = Arc::new(model);
    let mut integ = model.start(initial, seed)?;
    let spin_steps = (spin * 86400.0 / dt).round() as u64;
    let chunk = (86400.0 / dt).round().max(1.0) as u64;
    let mut done = 0;
    while done < spin_steps {
        let s = chunk.min(spin_steps - done);
        model.run(&mut integ, s);
        done += s;
        progress("spin-up", done as usize, spin_steps as usize);
    }
    let interval = (climate_interval_hours * 3600.0 / dt).round().max(1.0) as u64;
    let n_samples = (climate_days * 24.0 / climate_interval_hours).round() as usize;
    let mut samples = Vec::with_capacity(n_samples);
    for k in 0..n_samples {
        model.run(&mut integ, interval);
        if !integ.is_finite() {
            return Err(AssimError::Numerical("the climate run blew up".into()));
        }
        samples.push(grid_state(&model, integ.state()));
        progress("climate", k + 1, n_samples);
    }
    Ok(ClimateRun { model, integration: integ, samples })
}

impl SphereTwin {
    /// Simulates the climate, truth and observations of `seed`; the truth runs
    /// `extra_windows` past the last analysis (for forecasts from the analyses). Relative
    /// paths start at `base_dir`.
    pub fn new(
        cfg: &SphereConfig,
        chrono: Chronology,
        base_dir: &Path,
        seed: u64,
        extra_windows: usize,
        progress: &mut StageProgress<'_>,
    ) -> Result<Self, AssimError> {
        let forecast_stirring = &cfg.model.forecast_stirring;
        let ClimateRun { model, integration: integ, samples } = climate_run(cfg, base_dir, seed, progress)?;
        let dt = chrono.dt;
        let grid = model.grid().clone();
        let transform = Arc::new(SpectralTransform::new(model.params().truncation, model.params().radius)?);
        let climate =
            SphereClimate::from_samples(samples, transform.clone(), 3, &[vec![0], vec![1], vec![2]])?;

        // The stirring at every window start, then the truth by the forecast model itself.
        let n_windows = chrono.n_obs_times() + extra_windows;
        let stir = model.forcing().and_then(|f| f.stirring.clone());
        let mut table = Vec::new();
        let mut free_table = Vec::new();
        if let (Some(s), Some(st)) = (stir, integ.stirring().cloned()) {
            // The free run's own stirring: an independent AR(1) sequence, as continuous in
            // time as the truth's.
            let free0 = s.start_stationary(model.truncation(), seed ^ 0x5eed_f4ee);
            for (tab, mut st) in [(&mut table, st), (&mut free_table, free0)] {
                for _ in 0..=n_windows {
                    tab.push(st.clone());
                    for _ in 0..chrono.dko {
                        s.advance(&mut st, dt);
                    }
                }
            }
        }
        let truth_model =
            SwGridModel::new(model.clone(), chrono.dko as u64, table.clone(), ForecastStirring::Truth)?;
        let free_model =
            SwGridModel::new(model.clone(), chrono.dko as u64, free_table, ForecastStirring::Truth)?;
        let fc = SwGridModel::new(model.clone(), chrono.dko as u64, table, *forecast_stirring)?;
        let mut x = grid_state(&model, integ.state());
        drop(integ);
        let mut truth = Vec::with_capacity(n_windows + 1);
        truth.push(x.clone());
        for w in 0..n_windows {
            if !truth_model.forecast(&mut x, (w * chrono.dko) as u64, chrono.dko as u64) {
                return Err(AssimError::Numerical(format!("the truth run blew up in window {w}")));
            }
            truth.push(x.clone());
            progress("truth", w + 1, n_windows);
        }

        let windows = observation_windows(&cfg.network, base_dir, &chrono, &grid, &truth, seed)?;
        let scorer = GridScorer::new(&grid, 3, climate.mean.clone(), &climate.var);
        Ok(SphereTwin {
            model: fc,
            free_model,
            transform,
            climate,
            truth,
            windows,
            scorer,
            chrono,
            forecasts: cfg.forecasts(),
        })
    }

    /// The shallow-water model.
    pub fn sw(&self) -> &ShallowWater {
        self.model.model()
    }
}

/// Each analysis window's observations: read from the network's `file` (relative to
/// `base_dir`), or simulated from the network and the truth with the stream `(seed,
/// "observations")`.
fn observation_windows(
    net_cfg: &crate::obs::network::NetworkConfig,
    base_dir: &Path,
    chrono: &Chronology,
    grid: &crate::grid::LatLonGrid,
    truth: &[Vec<f64>],
    seed: u64,
) -> Result<Vec<ObsWindow>, AssimError> {
    let window_s = chrono.dko as f64 * chrono.dt;
    match &net_cfg.file {
        Some(file) => {
            let recs = records::read_csv(&base_dir.join(file))?;
            let mut per: Vec<Vec<Observation>> = vec![Vec::new(); chrono.n_obs_times()];
            for (i, r) in recs.into_iter().enumerate() {
                let w = (r.time_hours * 3600.0 / window_s).round() as i64 - 1;
                if w < 0
                    || w as usize >= per.len()
                    || ((w + 1) as f64 * window_s - r.time_hours * 3600.0).abs() > 1.0
                {
                    return Err(AssimError::Input(format!(
                        "{file}: record {i} at {} h is not at an analysis time of this experiment (every {} h, {} of them)",
                        r.time_hours,
                        window_s / 3600.0,
                        per.len()
                    )));
                }
                per[w as usize].push(r);
            }
            per.into_iter().map(|recs| obs_window(grid, recs)).collect()
        }
        None => {
            let net = Network::new(net_cfg).map_err(AssimError::Input)?;
            let mut rng = stream(seed, "observations");
            (0..chrono.n_obs_times())
                .map(|ko| {
                    let mut recs = net.window(grid, (ko + 1) as f64 * window_s, window_s);
                    simulate_values(grid, &mut recs, &truth[ko + 1], &mut rng)?;
                    obs_window(grid, recs)
                })
                .collect()
        }
    }
}

/// Sets `recs`' values to the truth through their operator plus Gaussian noise of each
/// record's σ.
pub fn simulate_values(
    grid: &crate::grid::LatLonGrid,
    recs: &mut [Observation],
    truth: &[f64],
    rng: &mut AssimRng,
) -> Result<(), AssimError> {
    let op = records::operator(grid, recs)?;
    let mut y = vec![0.0; op.n_obs()];
    op.apply(truth, &mut y);
    for (r, yp) in recs.iter_mut().zip(y) {
        r.value = yp + r.sigma * normal(rng);
    }
    Ok(())
}

/// One window's operator, values, variances and localisation geometry from its records.
pub fn obs_window(
    grid: &crate::grid::LatLonGrid,
    records: Vec<Observation>,
) -> Result<ObsWindow, AssimError> {
    let op = records::operator(grid, &records)?;
    let y = records.iter().map(|r| r.value).collect();
    let var = records.iter().map(|r| r.sigma * r.sigma).collect();
    let pts: Vec<(f64, f64)> = records.iter().map(|r| (r.lat, r.lon)).collect();
    let localizer = GreatCircle::new(grid, Variable::ALL.len(), &pts);
    Ok(ObsWindow { records, op, var, y, localizer })
}

/// `impl Scenario` for a global twin: a struct with the fields `model`, `chrono`, `climate`
/// (a [`SphereClimate`], both X0 and the climatology), `truth` (the state at every window
/// boundary), `scorer` (a [`GridScorer`]) and `windows` (each with `op`, `var`, `y` and
/// `localizer`). Both global beds are a [`Scenario`] through this one definition.
macro_rules! global_twin_scenario {
    ($twin:ty) => {
        impl $crate::experiment::Scenario for $twin {
            fn setup(&self, ko: usize) -> $crate::assimilator::Setup<'_> {
                let w = &self.windows[ko.min(self.windows.len() - 1)];
                $crate::assimilator::Setup {
                    model: &self.model,
                    dt: self.chrono.dt,
                    obs: &w.op,
                    obs_var: &w.var,
                    x0: &self.climate,
                    climatology: &self.climate,
                    localizer: Some(&w.localizer),
                }
            }
            fn truth(&self, ko: usize) -> &[f64] {
                &self.truth[ko + 1]
            }
            fn observations(&self, ko: usize) -> &[f64] {
                &self.windows[ko].y
            }
            fn clim_spread(&self) -> f64 {
                // Headline scores are in units of the climatological standard deviation.
                1.0
            }
            fn score(
                &self,
                est: &$crate::assimilator::Estimate<'_>,
                ko: usize,
                with_crps: bool,
            ) -> ($crate::metrics::Scores, Vec<$crate::metrics::VariableScores>) {
                self.scorer.score(est, self.truth(ko), with_crps)
            }
        }
    };
}
pub(crate) use global_twin_scenario;

global_twin_scenario!(SphereTwin);

/// The twin as a free run sees it: the same truth and scores, the free model.
pub struct FreeRunView<'a>(pub &'a SphereTwin);

impl Scenario for FreeRunView<'_> {
    fn setup(&self, ko: usize) -> Setup<'_> {
        Setup { model: &self.0.free_model, ..self.0.setup(ko) }
    }
    fn truth(&self, ko: usize) -> &[f64] {
        self.0.truth(ko)
    }
    fn observations(&self, ko: usize) -> &[f64] {
        self.0.observations(ko)
    }
    fn clim_spread(&self) -> f64 {
        self.0.clim_spread()
    }
    fn score(&self, est: &Estimate<'_>, ko: usize, with_crps: bool) -> (Scores, Vec<VariableScores>) {
        self.0.score(est, ko, with_crps)
    }
}
