//! Initial states and orography of the primitive-equation model.
//!
//! Jablonowski & Williamson (2006), Q. J. R. Meteorol. Soc. 132, 2943–2975 (JW06): a
//! baroclinically unstable, zonal, steady solution of the dry primitive equations with its
//! balancing surface geopotential, and the Gaussian zonal-wind bump (1 m/s at 20°E, 40°N)
//! that grows into a baroclinic wave by days 7–9. At `p_s = 1000 hPa` everywhere its η is σ.

use std::f64::consts::PI;

use super::{P0, PeState, PrimitiveDry};
use crate::AssimError;
use crate::grid::LatLonGrid;

/// JW06's constants: u0 (m/s), η0, η_t, T0 (K), Γ (K/m), ΔT (K).
const JW_U0: f64 = 35.0;
const JW_ETA0: f64 = 0.252;
const JW_ETA_T: f64 = 0.2;
const JW_T0: f64 = 288.0;
const JW_LAPSE: f64 = 0.005;
const JW_DELTA_T: f64 = 4.8e5;

/// Fixed surface geopotential of the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PeOrography {
    /// A flat surface.
    Flat,
    /// JW06's zonal surface geopotential that balances its steady state.
    JablonowskiWilliamson,
    /// A Gaussian mountain `h exp(−(r/r0)²)` (m), `r` the great-circle distance from its centre.
    Mountain {
        /// Peak height (m).
        height: f64,
        /// Centre latitude and longitude (degrees).
        lat: f64,
        /// Centre longitude (degrees east).
        lon: f64,
        /// e-folding radius (km).
        radius_km: f64,
    },
}

impl PeOrography {
    /// Surface geopotential Φ_s (m² s⁻²) on `grid` for a sphere of radius `a` (m) turning at
    /// `omega` (s⁻¹), or `None` when flat.
    pub fn geopotential(&self, grid: &LatLonGrid, a: f64, omega: f64) -> Option<Vec<f64>> {
        match *self {
            PeOrography::Flat => None,
            PeOrography::JablonowskiWilliamson => {
                let cv = ((1.0 - JW_ETA0) * PI / 2.0).cos().powf(1.5);
                Some(grid.field_from_fn(|la, _| {
                    let (s, c) = la.sin_cos();
                    JW_U0
                        * cv
                        * ((-2.0 * s.powi(6) * (c * c + 1.0 / 3.0) + 10.0 / 63.0) * JW_U0 * cv
                            + (1.6 * c.powi(3) * (s * s + 2.0 / 3.0) - PI / 4.0) * a * omega)
                }))
            }
            PeOrography::Mountain { height, lat, lon, radius_km } => {
                let (pc, lc) = (lat.to_radians(), lon.to_radians());
                Some(grid.field_from_fn(|la, lo| {
                    let cosd = (pc.sin() * la.sin() + pc.cos() * la.cos() * (lo - lc).cos()).clamp(-1.0, 1.0);
                    let r = a * cosd.acos() / (radius_km * 1e3);
                    crate::dynamics::shallow_water::GRAVITY * height * (-r * r).exp()
                }))
            }
        }
    }
}

/// How a primitive-equation run starts.
#[derive(Clone, Debug, PartialEq)]
pub enum PeInitial {
    /// An isothermal atmosphere at rest in hydrostatic balance over the orography
    /// (`p_s = p0 exp(−Φ_s / R T)`), with optional seeded temperature noise (K, grid rms) to
    /// break the symmetry of a Held–Suarez spin-up.
    Rest {
        /// Temperature (K).
        temperature: f64,
        /// Rms of the random temperature perturbation (K); 0 for none.
        noise: f64,
        /// Seed of the perturbation.
        seed: u64,
    },
    /// JW06's steady state, with or without its wind perturbation (needs
    /// [`PeOrography::JablonowskiWilliamson`]).
    JablonowskiWilliamson {
        /// Whether to add the 1 m/s bump that triggers the baroclinic wave.
        perturbation: bool,
    },
}

/// JW06's zonal wind (m/s) at σ and latitude `la`.
pub fn jw_wind(sigma: f64, la: f64) -> f64 {
    let ev = (sigma - JW_ETA0) * PI / 2.0;
    JW_U0 * ev.cos().powf(1.5) * (2.0 * la).sin().powi(2)
}

/// JW06's temperature (K) at σ and latitude `la` on a sphere of radius `a`, turning at `omega`.
pub fn jw_temperature(sigma: f64, la: f64, a: f64, omega: f64, r: f64, g: f64) -> f64 {
    let mut mean = JW_T0 * sigma.powf(r * JW_LAPSE / g);
    if sigma < JW_ETA_T {
        mean += JW_DELTA_T * (JW_ETA_T - sigma).powi(5);
    }
    let ev = (sigma - JW_ETA0) * PI / 2.0;
    let (s, c) = la.sin_cos();
    mean + 0.75 * sigma * PI * JW_U0 / r
        * ev.sin()
        * ev.cos().sqrt()
        * ((-2.0 * s.powi(6) * (c * c + 1.0 / 3.0) + 10.0 / 63.0) * 2.0 * JW_U0 * ev.cos().powf(1.5)
            + (1.6 * c.powi(3) * (s * s + 2.0 / 3.0) - PI / 4.0) * a * omega)
}

impl PeInitial {
    /// The spectral state on `model`'s grid.
    pub fn state(&self, model: &PrimitiveDry) -> Result<PeState, AssimError> {
        let p = model.params();
        let grid = model.grid();
        let (n, l) = (grid.len(), model.nlev());
        let sigma = model.levels().full();
        match *self {
            PeInitial::Rest { temperature, noise, seed } => {
                if !(temperature.is_finite() && temperature > 0.0 && noise.is_finite() && noise >= 0.0) {
                    return Err(AssimError::Input(format!(
                        "a resting atmosphere needs a positive temperature and noise ≥ 0 (got {temperature} K, {noise} K)"
                    )));
                }
                let phis = model.surface_geopotential();
                let zero = vec![0.0; n * l];
                let mut s = model.state_from_grid(&zero, &zero, &vec![temperature; n * l], &vec![P0; n])?;
                // p_s = p0 exp(−Φ_s / R T), its ln straight from the spectral Φ_s, so that the
                // balance holds to rounding.
                let phis_spec = model.transform().analysis(phis);
                let mut lnps = model.transform().analysis(&vec![P0.ln(); n]);
                for (x, f) in lnps.iter_mut().zip(&phis_spec) {
                    *x -= f / (p.gas_constant * temperature);
                }
                s.lnps = lnps;
                if noise > 0.0 {
                    let tr = *model.truncation();
                    let nc = tr.len();
                    let mut rng = crate::rng::stream(seed, "pe-rest-noise");
                    // Each resolved (m, n ≥ 1) mode gets an equal share of the variance: the grid
                    // mean square is ½ Σ_n (|c_n0|² + 2 Σ_m |c_nm|²) = (T+1)² − 1 modes × share.
                    let modes = ((tr.t() + 1) * (tr.t() + 1) - 1) as f64;
                    let amp = noise * (2.0 / modes).sqrt();
                    for k in 0..l {
                        for (i, (m, nn)) in tr.modes().enumerate() {
                            if nn == 0 {
                                continue;
                            }
                            let re = crate::rng::normal(&mut rng);
                            let im = if m == 0 { 0.0 } else { crate::rng::normal(&mut rng) };
                            let scale = if m == 0 { amp } else { amp / 2f64.sqrt() };
                            s.temp[k * nc + i] += crate::spectral::Complex64::new(re, im) * scale;
                        }
                    }
                }
                Ok(s)
            }
            PeInitial::JablonowskiWilliamson { perturbation } => {
                if model.orography() != &super::PeOrography::JablonowskiWilliamson {
                    return Err(AssimError::Input(
                        "the Jablonowski–Williamson state needs its own orography (orography = \"jablonowski_williamson\")"
                            .into(),
                    ));
                }
                let (a, om, r, g) = (p.radius, p.omega, p.gas_constant, p.gravity);
                let (lc, pc, rr) = (PI / 9.0, 2.0 * PI / 9.0, 0.1);
                let mut u = Vec::with_capacity(n * l);
                let mut temp = Vec::with_capacity(n * l);
                for &sg in sigma {
                    u.extend(grid.field_from_fn(|la, lo| {
                        let mut x = jw_wind(sg, la);
                        if perturbation {
                            let cosd = (pc.sin() * la.sin() + pc.cos() * la.cos() * (lo - lc).cos())
                                .clamp(-1.0, 1.0);
                            let d = cosd.acos() / rr;
                            x += (-d * d).exp();
                        }
                        x
                    }));
                    temp.extend(grid.field_from_fn(|la, _| jw_temperature(sg, la, a, om, r, g)));
                }
                model.state_from_grid(&u, &vec![0.0; n * l], &temp, &vec![P0; n])
            }
        }
    }
}
