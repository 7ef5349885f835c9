//! How fast small differences grow: the perturbed ("identical") twin. A control run and a
//! copy started from it plus a small perturbation are advanced side by side, and their
//! area-weighted rms differences recorded; the time an error of a given size takes to double
//! tells whether a cycled bed's backgrounds stay good for hours or for days (a bed whose errors
//! barely grow flatters every method that trusts its background).

use crate::spectral::Complex64;

use super::{PeState, PrimitiveDry};
use crate::AssimError;

/// The rms difference between the two runs at each output time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GrowthCurve {
    /// Time since the perturbation (hours), from 0.
    pub hours: Vec<f64>,
    /// Temperature (K), rms over levels and area.
    pub temperature: Vec<f64>,
    /// Wind (m s⁻¹), rms of u and v over levels and area.
    pub wind: Vec<f64>,
    /// Surface pressure (Pa), area-weighted rms.
    pub surface_pressure: Vec<f64>,
}

impl GrowthCurve {
    /// The first time (hours) at which the temperature difference reaches `factor` × its
    /// initial value, interpolated linearly in ln(error) between outputs; `None` if it never
    /// does within the run.
    pub fn time_to_grow(&self, factor: f64) -> Option<f64> {
        let target = factor * self.temperature.first()?;
        let k = self.temperature.iter().position(|&e| e >= target)?;
        if k == 0 {
            return Some(0.0);
        }
        let (e0, e1) = (self.temperature[k - 1].ln(), self.temperature[k].ln());
        let (t0, t1) = (self.hours[k - 1], self.hours[k]);
        Some(t0 + (t1 - t0) * (target.ln() - e0) / (e1 - e0))
    }
}

/// Area-weighted rms differences of `a − b` (states of the same model): temperature (K, over
/// levels), wind (m s⁻¹, u and v over levels) and surface pressure (Pa).
pub fn rms_differences(model: &PrimitiveDry, a: &PeState, b: &PeState) -> (f64, f64, f64) {
    let (fa, fb) = (model.grid_fields(a), model.grid_fields(b));
    let g = model.grid();
    let (n, nlon) = (g.len(), g.nlon());
    let ms = |x: &[f64], y: &[f64]| -> f64 {
        // Mean square over every level's field of `n` points, each area-weighted.
        let levels = x.len() / n;
        let s: f64 = x
            .iter()
            .zip(y)
            .enumerate()
            .map(|(i, (p, q))| g.area_weight((i % n) / nlon) * (p - q) * (p - q))
            .sum();
        s / levels as f64
    };
    let t = ms(&fa.temp, &fb.temp).sqrt();
    let w = ((ms(&fa.u, &fb.u) + ms(&fa.v, &fb.v)) / 2.0).sqrt();
    let ps = ms(&fa.ps, &fb.ps).sqrt();
    (t, w, ps)
}

/// Runs `control` and `control + ε (toward − control)` side by side for `outputs × steps`
/// model steps, recording their rms differences every `steps` steps. `ε` makes the initial
/// temperature difference `amplitude` K rms: a perturbation with the structure of the
/// climate's own variability (`toward` is another state of the same run), every field scaled
/// alike, so it starts balanced rather than as grid-point noise the diffusion would remove.
pub fn perturbed_twin(
    model: &PrimitiveDry,
    control: &PeState,
    toward: &PeState,
    amplitude: f64,
    steps: u64,
    outputs: usize,
) -> Result<GrowthCurve, AssimError> {
    if !(amplitude.is_finite() && amplitude > 0.0) {
        return Err(AssimError::Input(format!(
            "the perturbation must be a positive temperature (got {amplitude} K)"
        )));
    }
    let (t0, _, _) = rms_differences(model, toward, control);
    if t0 == 0.0 {
        return Err(AssimError::Input(
            "the perturbation's direction is zero (the two states are equal)".into(),
        ));
    }
    let eps = amplitude / t0;
    let mix = |a: &[Complex64], b: &[Complex64]| -> Vec<Complex64> {
        a.iter().zip(b).map(|(&c, &t)| c + (t - c) * eps).collect()
    };
    let perturbed = PeState {
        vor: mix(&control.vor, &toward.vor),
        div: mix(&control.div, &toward.div),
        temp: mix(&control.temp, &toward.temp),
        lnps: mix(&control.lnps, &toward.lnps),
    };
    let dt_hours = model.params().dt / 3600.0;
    let mut runs = [model.start(control.clone())?, model.start(perturbed)?];
    let mut curve = GrowthCurve::default();
    for k in 0..=outputs {
        if k > 0 {
            for r in runs.iter_mut() {
                model.run(r, steps);
            }
            if !runs.iter().all(|r| r.is_finite()) {
                return Err(AssimError::Numerical(format!("a twin run blew up after {k} outputs")));
            }
        }
        let (t, w, ps) = rms_differences(model, runs[0].state(), runs[1].state());
        curve.hours.push(k as f64 * steps as f64 * dt_hours);
        curve.temperature.push(t);
        curve.wind.push(w);
        curve.surface_pressure.push(ps);
    }
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_grow_interpolates_in_log_error() {
        let c = GrowthCurve {
            hours: vec![0.0, 24.0, 48.0],
            temperature: vec![0.1, 0.1, 0.4],
            wind: vec![0.0; 3],
            surface_pressure: vec![0.0; 3],
        };
        // ln 0.1 → ln 0.4 over 24 h: doubling half-way.
        assert!((c.time_to_grow(2.0).unwrap() - 36.0).abs() < 1e-9);
        assert_eq!(c.time_to_grow(1.0), Some(0.0));
        assert_eq!(c.time_to_grow(5.0), None);
    }
}
