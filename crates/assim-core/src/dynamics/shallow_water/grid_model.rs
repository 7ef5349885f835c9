//! The shallow-water model as a [`Model`] on grid states, for cycling: the state is
//! `(geopotential, eastward wind, northward wind)` on the Gaussian grid, stored
//! `(variable, lat, lon)`, and the stochastic stirring is replayed from the truth's sequence
//! (a perfect-model twin: the forecast knows the forcing, not the initial state).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ShallowWater, StirringState, SwState, SwTangent};
use crate::dynamics::{Linearisation, Model};

/// What the forecast model knows of the truth's stochastic stirring.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ForecastStirring {
    /// The truth's own sequence (a perfect-model twin: only the initial state is unknown).
    Truth,
    /// The truth's stirring at the forecast's start, then decaying with its lifetime and no
    /// new random kicks (the AR(1)'s conditional mean): the forcing is known at analysis time,
    /// its future innovations are model error. Ensemble members sample that error: each
    /// continues the truth's stirring with kicks of its own.
    #[default]
    Decaying,
    /// No stirring (the forcing's mean): the missing stirring is model error.
    None,
    /// An independent stationary realisation per forecast (a stochastic model: each member,
    /// and each window, draws its own stirring), seeded from the start step and the state.
    Random,
}

/// A grid-state view of a [`ShallowWater`] model with the stirring known at window starts.
///
/// Each call of [`Model::advance`] restarts the leapfrog (one forward step), as a forecast
/// from an analysis does; the truth is produced by the same calls, so a forecast from the
/// true state reproduces the truth.
pub struct SwGridModel {
    model: Arc<ShallowWater>,
    /// The model the forecasts run: `model` itself, or (for [`ForecastStirring::Decaying`])
    /// a copy whose stirring has no random kicks.
    forecaster: Arc<ShallowWater>,
    /// Model steps per window.
    window_steps: u64,
    /// The stirring state at the start of window `w` (step `w · window_steps`).
    stirring: Vec<StirringState>,
    /// Surface geopotential on the grid (zero without orography).
    surface: Vec<f64>,
    mode: ForecastStirring,
}

impl SwGridModel {
    /// `stirring[w]` is the stirring at step `w · window_steps` (empty for a model without
    /// stirring).
    pub fn new(
        model: Arc<ShallowWater>,
        window_steps: u64,
        stirring: Vec<StirringState>,
        mode: ForecastStirring,
    ) -> Result<Self, crate::AssimError> {
        let g = model.params().gravity;
        let surface = match model.surface_height() {
            Some(h) => h.iter().map(|x| g * x).collect(),
            None => vec![0.0; model.grid().len()],
        };
        let forecaster = match (mode, model.forcing()) {
            (ForecastStirring::Decaying, Some(f)) if f.stirring.is_some() => {
                let mut quiet = f.clone();
                if let Some(s) = quiet.stirring.as_mut() {
                    s.strength = 0.0;
                }
                Arc::new(ShallowWater::new(model.params().clone(), *model.orography(), Some(quiet))?)
            }
            _ => model.clone(),
        };
        Ok(SwGridModel { model, forecaster, window_steps: window_steps.max(1), stirring, surface, mode })
    }

    /// The spectral model.
    pub fn model(&self) -> &ShallowWater {
        &self.model
    }

    /// The stirring of a forecast from model step `k` and state `x`, as [`ForecastStirring`]
    /// says; `member` asks for an ensemble member's own kicks.
    fn stirring_for(&self, k: u64, x: &[f64], member: bool) -> Option<StirringState> {
        let s = self.model.forcing().and_then(|f| f.stirring.as_ref())?;
        // A stable seed from the start step and a few state values: members differ.
        let seed = || {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ k;
            for i in (0..x.len()).step_by((x.len() / 16).max(1)) {
                h = (h ^ x[i].to_bits()).wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        };
        match self.mode {
            ForecastStirring::Truth => self.stirring_at(k),
            ForecastStirring::Decaying if member => self.stirring_at(k).map(|st| st.reseeded(seed())),
            ForecastStirring::Decaying => self.stirring_at(k),
            ForecastStirring::None => None,
            ForecastStirring::Random => Some(s.start_stationary(self.model.truncation(), seed())),
        }
    }

    /// The stirring at model step `k`: the last stored window start, advanced to `k`.
    fn stirring_at(&self, k: u64) -> Option<StirringState> {
        let s = self.model.forcing().and_then(|f| f.stirring.as_ref())?;
        if self.stirring.is_empty() {
            return None;
        }
        let w = ((k / self.window_steps) as usize).min(self.stirring.len() - 1);
        let mut st = self.stirring[w].clone();
        for _ in (w as u64 * self.window_steps)..k {
            s.advance(&mut st, self.model.params().dt);
        }
        Some(st)
    }

    /// Advances a grid state by `steps` model steps from model step `k0`; `false` (and the
    /// state set to NaN) when the state was not finite or the run blew up.
    pub fn forecast(&self, x: &mut [f64], k0: u64, steps: u64) -> bool {
        self.run_forecast(x, k0, steps, false)
    }

    /// One forecast from model step `k0` without restarts, the state returned every
    /// `steps_per_lead` steps (`leads` of them): what the forcing is known to be at `k0` is
    /// all the forecast knows (no NaN check: a blown-up forecast returns non-finite states).
    pub fn forecast_leads(&self, x: &[f64], k0: u64, steps_per_lead: u64, leads: usize) -> Vec<Vec<f64>> {
        let Ok(mut integ) = self.start(x, self.stirring_for(k0, x, false), &self.forecaster) else {
            return vec![vec![f64::NAN; x.len()]; leads];
        };
        (0..leads)
            .map(|_| {
                self.forecaster.run(&mut integ, steps_per_lead);
                grid_state(&self.model, integ.state())
            })
            .collect()
    }

    /// An integration of `runner` from the grid state `x` with `stirring`.
    fn start(
        &self,
        x: &[f64],
        stirring: Option<StirringState>,
        runner: &ShallowWater,
    ) -> Result<super::SwIntegration, crate::AssimError> {
        let g = self.model.grid().len();
        let depth: Vec<f64> = x[..g].iter().zip(&self.surface).map(|(p, s)| p - s).collect();
        self.model
            .state_from_grid(&x[g..2 * g], &x[2 * g..], &depth)
            .and_then(|s| runner.restart(s, stirring))
    }

    /// One forecast; a `member` of an ensemble draws its own stirring kicks (see
    /// [`ForecastStirring::Decaying`]) and runs the full stochastic model.
    fn run_forecast(&self, x: &mut [f64], k0: u64, steps: u64, member: bool) -> bool {
        self.integrate(x, k0, member, |runner, integ| runner.run(integ, steps))
            .is_some_and(|(_, finite)| finite)
    }

    /// Starts the forecast from the grid state `x` at model step `k0` (the stirring as
    /// `member` says), lets `run` integrate it and writes its end into `x`. `None`, and `x` NaN,
    /// when the state cannot start; otherwise `run`'s result and whether the end is finite
    /// (`x` NaN when not).
    fn integrate<'s, R>(
        &'s self,
        x: &mut [f64],
        k0: u64,
        member: bool,
        run: impl FnOnce(&'s ShallowWater, &mut super::SwIntegration) -> R,
    ) -> Option<(R, bool)> {
        let runner: &'s ShallowWater = if member { &self.model } else { &self.forecaster };
        let Ok(mut integ) = self.start(x, self.stirring_for(k0, x, member), runner) else {
            x.fill(f64::NAN);
            return None;
        };
        let out = run(runner, &mut integ);
        let finite = integ.is_finite();
        if finite {
            x.copy_from_slice(&grid_state(&self.model, integ.state()));
        } else {
            x.fill(f64::NAN);
        }
        Some((out, finite))
    }
}

/// The grid state `(geopotential, u, v)` of a spectral state.
pub fn grid_state(model: &ShallowWater, s: &super::SwState) -> Vec<f64> {
    let f = model.grid_fields(s);
    let mut x = f.geopotential;
    x.extend_from_slice(&f.u);
    x.extend_from_slice(&f.v);
    x
}

impl Model for SwGridModel {
    fn dim(&self) -> usize {
        3 * self.model.grid().len()
    }

    fn step(&self, x: &mut [f64], t: f64, dt: f64) {
        self.advance(x, t, dt, 1);
    }

    fn advance(&self, x: &mut [f64], t0: f64, dt: f64, steps: usize) {
        let k0 = (t0 / dt).round().max(0.0) as u64;
        self.forecast(x, k0, steps as u64);
    }

    /// The forecast of [`Model::advance`] recorded for its tangent-linear: the stirring is the
    /// forecast's own (a function of time, not of the state), so it drops out of the
    /// derivative. A forecast that blows up leaves `x` NaN and a linearisation of no use.
    fn linearise(
        &self,
        x: &mut [f64],
        t0: f64,
        dt: f64,
        steps: usize,
    ) -> Option<Box<dyn Linearisation + '_>> {
        let k0 = (t0 / dt).round().max(0.0) as u64;
        let (tangent, _) =
            self.integrate(x, k0, false, |runner, integ| runner.run_linearised(integ, steps as u64))?;
        Some(Box::new(GridTangent { model: &self.forecaster, tangent }))
    }

    /// Members in parallel, each with its own stirring kicks (in the `Decaying` mode).
    fn advance_ensemble(&self, e: &mut faer::Mat<f64>, t0: f64, dt: f64, steps: usize) {
        use rayon::prelude::*;
        let k0 = (t0 / dt).round().max(0.0) as u64;
        e.par_col_iter_mut().for_each(|col| {
            let x = col.try_as_col_major_mut().expect("ensemble columns are contiguous").as_slice_mut();
            self.run_forecast(x, k0, steps as u64, true);
        });
    }
}

/// [`SwTangent`] between grid states: the grid-to-spectral transforms of [`SwGridModel`]'s
/// forecasts (linear: the surface geopotential is a constant) around the spectral one.
struct GridTangent<'a> {
    model: &'a ShallowWater,
    tangent: SwTangent<'a>,
}

impl Linearisation for GridTangent<'_> {
    fn tangent(&self, dx: &mut [f64]) {
        let sht = self.model.transform();
        let g = self.model.grid().len();
        let (vor, div) = sht.vor_div_from_uv(&dx[g..2 * g], &dx[2 * g..]);
        let mut s = SwState { vor, div, phi: sht.analysis(&dx[..g]) };
        self.tangent.tangent(&mut s);
        let (u, v) = sht.uv_from_vor_div(&s.vor, &s.div);
        dx[..g].copy_from_slice(&sht.synthesis(&s.phi));
        dx[g..2 * g].copy_from_slice(&u);
        dx[2 * g..].copy_from_slice(&v);
    }

    fn adjoint(&self, lam: &mut [f64]) {
        let sht = self.model.transform();
        let g = self.model.grid().len();
        let (vor, div) = sht.uv_from_vor_div_adjoint(&lam[g..2 * g], &lam[2 * g..]);
        let mut s = SwState { vor, div, phi: sht.synthesis_adjoint(&lam[..g]) };
        self.tangent.adjoint(&mut s);
        let (u, v) = sht.vor_div_from_uv_adjoint(&s.vor, &s.div);
        lam[..g].copy_from_slice(&sht.analysis_adjoint(&s.phi));
        lam[g..2 * g].copy_from_slice(&u);
        lam[2 * g..].copy_from_slice(&v);
    }
}
