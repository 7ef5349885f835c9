//! What the sphere bed adds to every method's cycle: the analyses written as Zarr (the store
//! layout [`state_store`] for `bed::stores`), and forecasts from the analyses, kinetic-energy spectra and
//! geostrophic balance against the truth at the same times ([`Diagnostics`]); with the seed's
//! own outputs (truth, observations) and the diagnostics themselves.

use std::path::Path;

use rayon::prelude::*;

use super::ForecastConfig;
use super::SphereTwin;
use crate::AssimError;
use crate::bed::stores::{self, StateStore};
use crate::bed::{Observer, PhysicsMeans, RunInfo, SeedExtras};
use crate::dynamics::shallow_water::{ShallowWater, SwGridModel};
use crate::experiment::{SW_VARIABLES, SeedRun};
use crate::metrics::VariableScores;

/// The sphere's state (Φ, u, v on the grid) as the run's stores lay it out.
pub(super) fn state_store(twin: &SphereTwin) -> StateStore<'_> {
    StateStore {
        grid: twin.sw().grid(),
        level: None,
        level_vars: &[],
        surface_vars: &SW_VARIABLES[..3],
        chrono: twin.chrono,
    }
}

/// The seed's own outputs in `dir`: the observations as CSV and the truth as Zarr.
pub(super) fn write_seed_outputs(run: &RunInfo<'_>, twin: &SphereTwin, dir: &Path) -> Result<(), AssimError> {
    std::fs::create_dir_all(dir).map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
    let recs: Vec<_> = twin.windows.iter().flat_map(|w| w.records.iter().cloned()).collect();
    crate::obs::records::write_csv(&dir.join("observations.csv"), &recs)?;
    stores::write_truth(&state_store(twin), run, dir, &twin.truth[1..])
}

/// Kinetic-energy spectra and balance of the analyses (every `every`-th analysis after the
/// burn-in) and the truth's at the same times, and forecasts from those analyses by `model`.
pub(super) struct Diagnostics<'a> {
    twin: &'a SphereTwin,
    model: &'a SwGridModel,
    forecasts: ForecastConfig,
    first_averaged: usize,
    extra_windows: usize,
    starts: Vec<(usize, Vec<f64>)>,
    ke_a: Vec<f64>,
    ke_t: Vec<f64>,
    imb_a: f64,
    imb_t: f64,
    n: usize,
}

impl<'a> Diagnostics<'a> {
    /// Diagnostics of one cycle on `twin`, forecasts by `model`.
    pub(super) fn new(twin: &'a SphereTwin, model: &'a SwGridModel, forecasts: ForecastConfig) -> Self {
        let t = twin.sw().truncation().t();
        Diagnostics {
            twin,
            model,
            first_averaged: twin.chrono.averaged()[0],
            extra_windows: forecasts.lead_days * super::windows_per_day(&twin.chrono),
            forecasts,
            starts: Vec::new(),
            ke_a: vec![0.0; t + 1],
            ke_t: vec![0.0; t + 1],
            imb_a: 0.0,
            imb_t: 0.0,
            n: 0,
        }
    }
}

impl Observer for Diagnostics<'_> {
    fn on_analysis(&mut self, ko: usize, mean: &[f64]) -> Result<(), AssimError> {
        let twin = self.twin;
        if !twin.chrono.is_averaged(ko) || !(ko - self.first_averaged).is_multiple_of(self.forecasts.every) {
            return Ok(());
        }
        if !mean.iter().all(|x| x.is_finite()) {
            return Ok(());
        }
        let truth = &twin.truth[ko + 1];
        for (acc, x) in [(&mut self.ke_a, mean), (&mut self.ke_t, truth.as_slice())] {
            for (a, e) in acc.iter_mut().zip(ke_spectrum(twin.sw(), x)) {
                *a += e;
            }
        }
        self.imb_a += geostrophic_imbalance(twin.sw(), mean);
        self.imb_t += geostrophic_imbalance(twin.sw(), truth);
        self.n += 1;
        if ko + 1 + self.extra_windows < twin.truth.len() {
            self.starts.push((ko, mean.to_vec()));
        }
        Ok(())
    }

    fn finish(self: Box<Self>, run: &SeedRun, extras: &mut SeedExtras) -> Result<(), AssimError> {
        if run.diverged.is_some() || self.n == 0 {
            return Ok(());
        }
        extras.forecast = Some(forecast_skill(self.twin, self.model, &self.starts, self.forecasts.lead_days));
        let k = self.n as f64;
        extras.physics = Some(PhysicsMeans {
            ke_a: self.ke_a.iter().map(|b| b / k).collect(),
            ke_t: self.ke_t.iter().map(|b| b / k).collect(),
            imb_a: self.imb_a / k,
            imb_t: self.imb_t / k,
        });
        Ok(())
    }
}

/// Kinetic-energy spectrum of a grid state: per total wavenumber, m² s⁻² (the winds only).
pub fn ke_spectrum(model: &ShallowWater, x: &[f64]) -> Vec<f64> {
    let g = model.grid().len();
    let (vor, div) = model.transform().vor_div_from_uv(&x[g..2 * g], &x[2 * g..]);
    let tr = *model.truncation();
    model.kinetic_energy_spectrum(&crate::dynamics::shallow_water::SwState { vor, div, phi: tr.zeros() })
}

/// Geostrophic imbalance: the area-weighted RMS of the ageostrophic wind `v − v_g` (m s⁻¹),
/// `v_g = k × ∇Φ / f`, poleward of 20° (where `f` is large enough for balance to hold).
pub fn geostrophic_imbalance(model: &ShallowWater, x: &[f64]) -> f64 {
    let grid = model.grid();
    let (g, nlon) = (grid.len(), grid.nlon());
    let sht = model.transform();
    let (gx, gy) = sht.gradient(&sht.analysis(&x[..g]));
    let omega = model.params().omega;
    let (mut sum, mut wsum) = (0.0, 0.0);
    for p in 0..g {
        let lat = grid.lat()[p / nlon];
        if lat.abs() < 20f64.to_radians() {
            continue;
        }
        let f = 2.0 * omega * lat.sin();
        let (ug, vg) = (-gy[p] / f, gx[p] / f);
        let w = grid.area_weight(p / nlon);
        sum += w * ((x[g + p] - ug).powi(2) + (x[2 * g + p] - vg).powi(2));
        wsum += w;
    }
    (sum / wsum).sqrt()
}

/// Per-lead scores of forecasts by `model` from `starts` (pairs of analysis index and mean
/// state): `lead_days` daily leads of one continuous forecast each (the forcing known at its
/// start only); for each lead, the per-variable RMSE and ACC averaged over starts.
pub fn forecast_skill(
    twin: &SphereTwin,
    model: &SwGridModel,
    starts: &[(usize, Vec<f64>)],
    lead_days: usize,
) -> Vec<Vec<VariableScores>> {
    let c = &twin.chrono;
    let per_day = (86400.0 / (c.dko as f64 * c.dt)).round() as usize;
    let day_steps = (per_day * c.dko) as u64;
    let runs: Vec<Vec<Vec<VariableScores>>> = starts
        .par_iter()
        .map(|(ko, x0)| {
            let k0 = ((ko + 1) * c.dko) as u64;
            model
                .forecast_leads(x0, k0, day_steps, lead_days)
                .iter()
                .enumerate()
                .map_while(|(d, x)| {
                    let w = ko + 1 + (d + 1) * per_day;
                    twin.truth.get(w).map(|t| twin.scorer.variables(x, None, t, false))
                })
                .collect()
        })
        .collect();
    crate::metrics::lead_means(&runs, lead_days, 3)
}
