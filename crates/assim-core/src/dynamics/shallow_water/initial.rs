//! Initial conditions of the standard shallow-water test cases, and orography.
//!
//! Williamson, Drake, Hack, Jakob & Swarztrauber (1992), J. Comput. Phys. 102, 211–224:
//! case 2 (steady geostrophic flow, any α), case 5 (zonal flow over an isolated mountain),
//! case 6 (Rossby–Haurwitz wave, R = 4). Galewsky, Scott & Polvani (2004), Tellus 56A:
//! barotropically unstable mid-latitude jet, with or without the height perturbation.

use std::f64::consts::PI;

use super::{ShallowWater, SwState};
use crate::AssimError;
use crate::grid::{LatLonGrid, gauss_legendre};

/// How a shallow-water run starts.
#[derive(Clone, Debug, PartialEq)]
pub enum InitialCondition {
    /// At rest with a uniform depth (m): the start of the stirred climate's spin-up.
    Rest {
        /// Depth (m).
        depth: f64,
    },
    /// Williamson case 2, rotated by the model's axis tilt α (its Coriolis field is tilted too).
    Williamson2,
    /// Williamson case 5: case 2 (α = 0, u0 = 20 m/s, h0 = 5960 m) over the isolated mountain
    /// (needs [`Orography::Williamson5Mountain`]).
    Williamson5,
    /// Williamson case 6: the Rossby–Haurwitz wave of wavenumber 4.
    Williamson6,
    /// Galewsky et al. (2004): the mid-latitude jet, in geostrophic balance, with or without
    /// the localised height bump that triggers its instability.
    Galewsky {
        /// Whether to add the 120 m height perturbation.
        bump: bool,
    },
}

/// Fixed surface height of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orography {
    /// A flat surface.
    None,
    /// Williamson case 5's cone: 2000 m at (30°N, 90°W), radius π/9.
    Williamson5Mountain,
}

impl Orography {
    /// Surface height (m) on `grid`, or `None` when flat.
    pub fn height_field(&self, grid: &LatLonGrid) -> Option<Vec<f64>> {
        match self {
            Orography::None => None,
            Orography::Williamson5Mountain => {
                let (lc, pc, r0) = (1.5 * PI, PI / 6.0, PI / 9.0);
                Some(grid.field_from_fn(|la, lo| {
                    let r = ((lo - lc).powi(2) + (la - pc).powi(2)).sqrt().min(r0);
                    2000.0 * (1.0 - r / r0)
                }))
            }
        }
    }
}

impl InitialCondition {
    /// The spectral state on `model`'s grid.
    pub fn state(&self, model: &ShallowWater) -> Result<SwState, AssimError> {
        let p = model.params();
        let (a, om, g) = (p.radius, p.omega, p.gravity);
        let grid = model.grid();
        let depth_of_surface = |total_geo: Vec<f64>| -> Vec<f64> {
            // The prognostic Φ is the depth's geopotential: subtract the surface.
            match model.surface_height() {
                Some(hs) => total_geo.iter().zip(&hs).map(|(t, h)| t - g * h).collect(),
                None => total_geo,
            }
        };
        let (u, v, geo) = match self {
            InitialCondition::Rest { depth } => {
                if !(depth.is_finite() && *depth > 0.0) {
                    return Err(AssimError::Input(format!(
                        "rest state needs a positive depth (got {depth} m)"
                    )));
                }
                (vec![0.0; grid.len()], vec![0.0; grid.len()], vec![g * depth; grid.len()])
            }
            InitialCondition::Williamson2 | InitialCondition::Williamson5 => {
                let (u0, gh0, alpha) = if *self == InitialCondition::Williamson2 {
                    (2.0 * PI * a / (12.0 * 86400.0), 2.94e4, p.axis_tilt)
                } else {
                    (20.0, g * 5960.0, 0.0)
                };
                let (sa, ca) = alpha.sin_cos();
                let u = grid.field_from_fn(|la, lo| u0 * (la.cos() * ca + lo.cos() * la.sin() * sa));
                let v = grid.field_from_fn(|_, lo| -u0 * lo.sin() * sa);
                let geo = grid.field_from_fn(|la, lo| {
                    let s = -lo.cos() * la.cos() * sa + la.sin() * ca;
                    gh0 - (a * om * u0 + 0.5 * u0 * u0) * s * s
                });
                (u, v, geo)
            }
            InitialCondition::Williamson6 => {
                let (w, k, r) = (7.848e-6, 7.848e-6, 4.0f64);
                let u = grid.field_from_fn(|la, lo| {
                    let c = la.cos();
                    a * w * c + a * k * c.powf(r - 1.0) * (r * la.sin().powi(2) - c * c) * (r * lo).cos()
                });
                let v = grid
                    .field_from_fn(|la, lo| -a * k * r * la.cos().powf(r - 1.0) * la.sin() * (r * lo).sin());
                let geo = grid.field_from_fn(|la, lo| {
                    let c = la.cos();
                    let c2 = c * c;
                    let aa = 0.5 * w * (2.0 * om + w) * c2
                        + 0.25
                            * k
                            * k
                            * c.powf(2.0 * r)
                            * ((r + 1.0) * c2 + (2.0 * r * r - r - 2.0) - 2.0 * r * r / c2);
                    let bb = 2.0 * (om + w) * k / ((r + 1.0) * (r + 2.0))
                        * c.powf(r)
                        * ((r * r + 2.0 * r + 2.0) - (r + 1.0).powi(2) * c2);
                    let cc = 0.25 * k * k * c.powf(2.0 * r) * ((r + 1.0) * c2 - (r + 2.0));
                    g * 8000.0 + a * a * (aa + bb * (r * lo).cos() + cc * (2.0 * r * lo).cos())
                });
                (u, v, geo)
            }
            InitialCondition::Galewsky { bump } => galewsky(grid, a, om, g, *bump),
        };
        model.state_from_grid(&u, &v, &depth_of_surface(geo))
    }
}

/// Galewsky's jet: `u(φ) = (u_max/e_n) exp(1/((φ−φ0)(φ−φ1)))` on (φ0, φ1), the depth from
/// gradient-wind balance integrated by Gauss–Legendre quadrature (to rounding), the global
/// mean depth 10 km; optionally the bump `ĥ cos φ exp(−(λ/α)²) exp(−((φ2−φ)/β)²)`.
fn galewsky(grid: &LatLonGrid, a: f64, om: f64, g: f64, bump: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (umax, phi0) = (80.0, PI / 7.0);
    let phi1 = PI / 2.0 - phi0;
    let en = (-4.0 / (phi1 - phi0).powi(2)).exp();
    let jet = move |la: f64| -> f64 {
        if la <= phi0 || la >= phi1 { 0.0 } else { umax / en * (1.0 / ((la - phi0) * (la - phi1))).exp() }
    };
    // ∫_{φ0}^{φ} a u (f + u tan φ / a) dφ' by a 256-point Gauss rule (the integrand is smooth).
    let (x, w) = gauss_legendre(256);
    let integral = |la: f64| -> f64 {
        let hi = la.min(phi1);
        if hi <= phi0 {
            return 0.0;
        }
        let (mid, half) = (0.5 * (hi + phi0), 0.5 * (hi - phi0));
        x.iter()
            .zip(&w)
            .map(|(xi, wi)| {
                let p = mid + half * xi;
                let u = jet(p);
                wi * half * a * u * (2.0 * om * p.sin() + u * p.tan() / a)
            })
            .sum()
    };
    let rows: Vec<f64> = grid.lat().iter().map(|&la| integral(la)).collect();
    let mut geo: Vec<f64> = grid.field_from_fn(|la, _| {
        let j = grid.lat().iter().position(|&l| l == la).expect("grid latitude");
        -rows[j]
    });
    let mean = grid.global_mean(&geo);
    let gh0 = g * 10_000.0 - mean;
    for x in geo.iter_mut() {
        *x += gh0;
    }
    if bump {
        let (hhat, phi2, alpha, beta) = (120.0, PI / 4.0, 1.0 / 3.0, 1.0 / 15.0);
        let pert = grid.field_from_fn(|la, lo| {
            let l = if lo > PI { lo - 2.0 * PI } else { lo };
            g * hhat * la.cos() * (-(l / alpha).powi(2)).exp() * (-((phi2 - la) / beta).powi(2)).exp()
        });
        for (x, p) in geo.iter_mut().zip(&pert) {
            *x += p;
        }
    }
    let u = grid.field_from_fn(|la, _| jet(la));
    (u, vec![0.0; grid.len()], geo)
}
