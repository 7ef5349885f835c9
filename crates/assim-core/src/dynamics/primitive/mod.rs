//! The dry hydrostatic primitive equations on the sphere in σ coordinates, spectral: the
//! multi-level global test bed (DESIGN.md §4; Hoskins & Simmons 1975, Simmons & Burridge 1981,
//! SpeedyWeather's `primitive_dry` as the design anchor).
//!
//! Prognostic per level `k`: relative vorticity ζ, divergence D, temperature T; per column
//! `Π = ln p_s`. With `U, V = cos φ (u, v)`, `T' = T − T̄_k` about a reference profile `T̄`:
//!
//! ```text
//! ∂ζ/∂t = k·∇×F,   ∂D/∂t = ∇·F − ∇²(E + Φ_s + G T + R T̄ Π)
//! cos φ F = ((ζ+f) V − σ̇ ∂U/∂σ − R T' ∂Π/∂λ / a,  −(ζ+f) U − σ̇ ∂V/∂σ − R T' (1−μ²) ∂Π/∂μ / a)
//! ∂T/∂t = −∇·(v T') + T' D − σ̇ ∂T/∂σ + κ T ω/p + Q_HS
//! ∂Π/∂t = −Σ_k Δσ_k (D_k + v_k·∇Π)
//! ```
//! with the vertical operators of [`vertical`] (`G` the hydrostatic matrix).
//!
//! Time stepping: semi-implicit leapfrog, the gravity-wave terms (`G T`, `R T̄ Π` in the
//! divergence equation, `τ D` and `Δσ·D` in the temperature and pressure equations) averaged
//! over the levels n−1 and n+1, one `L × L` solve per total wavenumber (matrices inverted once);
//! implicit ∇⁸ hyperdiffusion on ζ, D, T and the Held–Suarez friction at n+1; a global mass
//! fixer on ln p_s; the Robert–Asselin–Williams filter. The shallow-water model's scheme, extended to the vertical.
//!
//! One step costs one fused transform pass: `5L + 3` Legendre syntheses (ζ, D, U, V, T per
//! level; ∇Π, Π), one per-latitude pass of the column physics, `6L + 1` analyses.

mod config;
mod grid_model;
mod held_suarez;
mod initial;
pub mod predictability;
pub mod vertical;

pub use config::{
    PE_KIND, PeForcingConfig, PeInitialConfig, PeModelConfig, PeSimulationConfig, is_primitive,
};
pub use grid_model::PeGridModel;
pub use held_suarez::HeldSuarez;
pub use initial::{PeInitial, PeOrography};
pub use predictability::{GrowthCurve, perturbed_twin};
pub use vertical::SigmaLevels;

use crate::AssimError;
use crate::dynamics::shallow_water::{
    DEFAULT_HYPERDIFFUSION, DEFAULT_ROBERT, DEFAULT_WILLIAMS, EARTH_OMEGA, EARTH_RADIUS, GRAVITY,
    Hyperdiffusion, check_courant, check_dissipation, courant_number, on_pool_worker,
};
use crate::grid::LatLonGrid;
use crate::spectral::{Complex64, Factor, SpectralTransform, Table, Term, Truncation, Weighting};

/// Gas constant of dry air (J kg⁻¹ K⁻¹), as in Held & Suarez (1994) and JW06.
pub const DRY_GAS_CONSTANT: f64 = 287.0;
/// `κ = R / c_p` of dry air (HS94's 2/7).
pub const KAPPA: f64 = 2.0 / 7.0;
/// Reference surface pressure `p0` (Pa).
pub const P0: f64 = 1.0e5;

/// Physical and numerical parameters of the primitive-equation model.
#[derive(Clone, Debug)]
pub struct PeParams {
    /// Triangular truncation `T`.
    pub truncation: usize,
    /// Time step (s).
    pub dt: f64,
    /// The σ levels.
    pub levels: SigmaLevels,
    /// Sphere radius (m).
    pub radius: f64,
    /// Angular velocity (s⁻¹).
    pub omega: f64,
    /// Gravity (m s⁻²).
    pub gravity: f64,
    /// Gas constant R (J kg⁻¹ K⁻¹).
    pub gas_constant: f64,
    /// κ = R/c_p.
    pub kappa: f64,
    /// Reference temperature T̄ of the semi-implicit scheme (K), the same on every level; it
    /// must not lie far below the warmest temperatures (Simmons et al. 1978): 300 K.
    pub reference_temperature: f64,
    /// Hyperdiffusion of ζ, D and T, or `None`.
    pub hyperdiffusion: Option<Hyperdiffusion>,
    /// Robert–Asselin filter coefficient ν.
    pub robert: f64,
    /// Williams' α.
    pub williams: f64,
}

impl PeParams {
    /// Earth parameters at truncation `T`, `layers` equidistant σ layers and time step `dt`
    /// (s): ∇⁸ hyperdiffusion with a 2.4-hour timescale at the truncation limit (the
    /// shallow-water model's), T̄ = 300 K, Robert–Asselin–Williams ν = 0.05, α = 0.53.
    pub fn earth(truncation: usize, layers: usize, dt: f64) -> Result<Self, AssimError> {
        Ok(Self {
            truncation,
            dt,
            levels: SigmaLevels::equidistant(layers)?,
            radius: EARTH_RADIUS,
            omega: EARTH_OMEGA,
            gravity: GRAVITY,
            gas_constant: DRY_GAS_CONSTANT,
            kappa: KAPPA,
            reference_temperature: 300.0,
            hyperdiffusion: Some(DEFAULT_HYPERDIFFUSION),
            robert: DEFAULT_ROBERT,
            williams: DEFAULT_WILLIAMS,
        })
    }
}

/// A spectral primitive-equation state; level fields are level-major (`[level][coefficient]`,
/// top level first).
#[derive(Clone, Debug, PartialEq)]
pub struct PeState {
    /// Relative vorticity ζ (s⁻¹), `L × ncoef`.
    pub vor: Vec<Complex64>,
    /// Divergence D (s⁻¹), `L × ncoef`.
    pub div: Vec<Complex64>,
    /// Temperature T (K), `L × ncoef`.
    pub temp: Vec<Complex64>,
    /// Log surface pressure `ln(p_s / Pa)`, `ncoef`.
    pub lnps: Vec<Complex64>,
}

/// Grid-point fields of a state (level fields `L × nlat × nlon`, top level first).
#[derive(Clone, Debug)]
pub struct PeGridFields {
    /// Eastward wind u (m s⁻¹).
    pub u: Vec<f64>,
    /// Northward wind v (m s⁻¹).
    pub v: Vec<f64>,
    /// Temperature T (K).
    pub temp: Vec<f64>,
    /// Surface pressure p_s (Pa), `nlat × nlon`.
    pub ps: Vec<f64>,
}

/// Global integrals of a state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeDiagnostics {
    /// Global-mean surface pressure (Pa): the atmosphere's mass × g per unit area.
    pub mean_ps: f64,
    /// Global mean of the column kinetic energy `∫ |v|²/2 dp/g` (J m⁻²).
    pub kinetic: f64,
    /// Global mean of the column enthalpy `∫ c_p T dp/g` (J m⁻²).
    pub enthalpy: f64,
    /// Largest wind speed (m s⁻¹).
    pub max_wind: f64,
}

/// The primitive-equation model: parameters, transform, vertical operators and the inverted
/// semi-implicit matrices, shared read-only by every integration.
pub struct PrimitiveDry {
    params: PeParams,
    sht: SpectralTransform,
    orography: PeOrography,
    forcing: Option<HeldSuarez>,
    coriolis: Vec<f64>,
    /// Surface geopotential Φ_s (m² s⁻²), spectral and on the grid.
    phi_surface: Vec<Complex64>,
    phi_surface_grid: Vec<f64>,
    /// Per n: `n(n+1)/a²`.
    eig: Vec<f64>,
    /// Per n: hyperdiffusion rate (s⁻¹).
    hyper: Vec<f64>,
    /// The reference temperature per level.
    t_ref: Vec<f64>,
    /// Hydrostatic matrix `G` and temperature coupling `τ` (`L × L`).
    hydro: Vec<f64>,
    tau: Vec<f64>,
    /// Per n: the inverse of `I + h² λ_n (G τ + R T̄ Δσᵀ)` for the forward start
    /// (`h = dt/2`) and the leapfrog (`h = dt`).
    implicit_start: Vec<Vec<f64>>,
    implicit_leapfrog: Vec<Vec<f64>>,
    /// Held–Suarez friction rate per level, and relaxation rate per latitude and level.
    friction: Vec<f64>,
    relaxation: Vec<f64>,
    /// `σ_k^κ` and `ln σ_k` per level (for `T_eq`).
    sigma_kappa: Vec<f64>,
    ln_sigma: Vec<f64>,
    syn_jobs: Vec<Vec<Term>>,
    ana_jobs: Vec<Vec<Term>>,
    weights: Vec<Weighting>,
}

/// One integration in progress: two leapfrog levels and the work buffers.
pub struct PeIntegration {
    prev: PeState,
    curr: PeState,
    steps: u64,
    /// Global-mean surface pressure of the initial state (Pa), which the mass fixer keeps.
    mass: f64,
    work: Workspace,
}

struct Workspace {
    psi: Vec<Complex64>,
    chi: Vec<Complex64>,
    four: Vec<f64>,
    q: Vec<Complex64>,
    outs: Vec<Vec<Complex64>>,
}

/// Synthesis fields per level (ζ, D, U, V, T) and analysis fields per level (P, Q, UT', VT',
/// E, N_T).
const SYN_PER_LEVEL: usize = 5;
const ANA_PER_LEVEL: usize = 6;

impl PrimitiveDry {
    /// A model with these parameters, orography and optional Held–Suarez forcing; checks
    /// every parameter up front.
    pub fn new(
        params: PeParams,
        orography: PeOrography,
        forcing: Option<HeldSuarez>,
    ) -> Result<Self, AssimError> {
        let bad = |msg: String| Err(AssimError::Input(msg));
        if !(params.dt.is_finite() && params.dt > 0.0) {
            return bad(format!("time step must be positive (got {} s)", params.dt));
        }
        for (name, v) in [
            ("radius", params.radius),
            ("gravity", params.gravity),
            ("gas constant", params.gas_constant),
            ("κ", params.kappa),
            ("reference temperature", params.reference_temperature),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive (got {v})"));
            }
        }
        if !params.omega.is_finite() {
            return bad("omega must be finite".into());
        }
        check_dissipation(params.hyperdiffusion, params.robert, params.williams)?;
        if let Some(f) = &forcing {
            f.validate()?;
        }
        let sht = SpectralTransform::new(params.truncation, params.radius)?;
        let tr = *sht.truncation();
        let grid = sht.grid().clone();
        let lv = &params.levels;
        let l = lv.len();
        let coriolis = grid.field_from_fn(|la, _| 2.0 * params.omega * la.sin());
        let phi_surface_grid = orography
            .geopotential(&grid, params.radius, params.omega)
            .unwrap_or_else(|| vec![0.0; grid.len()]);
        let phi_surface = sht.analysis(&phi_surface_grid);
        // The grid Φ_s the model sees is the truncated one.
        let phi_surface_grid = sht.synthesis(&phi_surface);
        let a2 = params.radius * params.radius;
        let eig: Vec<f64> = (0..=tr.t()).map(|n| (n * (n + 1)) as f64 / a2).collect();
        let hyper = match params.hyperdiffusion {
            Some(h) => {
                let top = eig[tr.t()];
                eig.iter().map(|e| (e / top).powi(h.order as i32) / h.timescale).collect()
            }
            None => vec![0.0; tr.t() + 1],
        };
        let t_ref = vec![params.reference_temperature; l];
        let hydro = lv.hydrostatic(params.gas_constant);
        let tau = lv.temperature_coupling(&t_ref, params.kappa);
        // B = G τ + R T̄ Δσᵀ.
        let mut b = vec![0.0; l * l];
        for k in 0..l {
            for j in 0..l {
                let gt: f64 = (0..l).map(|i| hydro[k * l + i] * tau[i * l + j]).sum();
                b[k * l + j] = gt + params.gas_constant * t_ref[k] * lv.thickness()[j];
            }
        }
        let implicit = |h: f64| -> Result<Vec<Vec<f64>>, AssimError> {
            eig.iter()
                .map(|lam| {
                    let m: Vec<f64> = (0..l * l)
                        .map(|i| if i / l == i % l { 1.0 } else { 0.0 } + h * h * lam * b[i])
                        .collect();
                    vertical::invert(&m, l).ok_or_else(|| {
                        AssimError::Input("the semi-implicit matrix is singular for these levels".into())
                    })
                })
                .collect()
        };
        let implicit_start = implicit(0.5 * params.dt)?;
        let implicit_leapfrog = implicit(params.dt)?;
        let (friction, relaxation) = match &forcing {
            Some(hs) => (
                lv.full().iter().map(|&s| hs.friction_rate(s)).collect(),
                grid.lat()
                    .iter()
                    .flat_map(|&la| lv.full().iter().map(move |&s| hs.relaxation_rate(la, s)))
                    .collect(),
            ),
            None => (vec![0.0; l], Vec::new()),
        };
        let sigma_kappa = lv.full().iter().map(|s| s.powf(params.kappa)).collect();
        let ln_sigma = lv.full().iter().map(|s| s.ln()).collect();

        // Synthesis: per level ζ, D, U, V, T (coefficient fields vor, div, ψ, χ, T at 5k..5k+5),
        // then the column's ∂Π/∂λ/a, (1−μ²)∂Π/∂μ/a and Π (coefficient field 5L).
        let ia = 1.0 / params.radius;
        let scalar = |field| vec![Term { field, table: Table::P, factor: Factor::Real(1.0) }];
        let mut syn_jobs = Vec::with_capacity(SYN_PER_LEVEL * l + 3);
        for k in 0..l {
            let c = SYN_PER_LEVEL * k;
            let [u, v] = sht.wind_terms(c + 2, c + 3);
            syn_jobs.extend([scalar(c), scalar(c + 1), u.to_vec(), v.to_vec(), scalar(c + 4)]);
        }
        let pi = SYN_PER_LEVEL * l;
        syn_jobs.push(vec![Term { field: pi, table: Table::P, factor: Factor::Im(ia) }]);
        syn_jobs.push(vec![Term { field: pi, table: Table::H, factor: Factor::Real(ia) }]);
        syn_jobs.push(scalar(pi));
        // Analysis: per level curl(P, Q), div(P, Q), −div(UT', VT') + N_T, E; then N_Π.
        let mut ana_jobs = Vec::with_capacity(4 * l + 1);
        let mut weights = Vec::with_capacity(ANA_PER_LEVEL * l + 1);
        for k in 0..l {
            let c = ANA_PER_LEVEL * k;
            let [div, curl] = sht.div_curl_terms(c, c + 1);
            let temp = vec![
                Term { field: c + 2, table: Table::P, factor: Factor::Im(-ia) },
                Term { field: c + 3, table: Table::H, factor: Factor::Real(ia) },
                Term { field: c + 5, table: Table::P, factor: Factor::Real(1.0) },
            ];
            ana_jobs.extend([curl.to_vec(), div.to_vec(), temp, scalar(c + 4)]);
            weights.extend([
                Weighting::Vector,
                Weighting::Vector,
                Weighting::Vector,
                Weighting::Vector,
                Weighting::Scalar,
                Weighting::Scalar,
            ]);
        }
        ana_jobs.push(scalar(ANA_PER_LEVEL * l));
        weights.push(Weighting::Scalar);
        Ok(Self {
            params,
            sht,
            orography,
            forcing,
            coriolis,
            phi_surface,
            phi_surface_grid,
            eig,
            hyper,
            t_ref,
            hydro,
            tau,
            implicit_start,
            implicit_leapfrog,
            friction,
            relaxation,
            sigma_kappa,
            ln_sigma,
            syn_jobs,
            ana_jobs,
            weights,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &PeParams {
        &self.params
    }

    /// The σ levels.
    pub fn levels(&self) -> &SigmaLevels {
        &self.params.levels
    }

    /// Number of levels `L`.
    pub fn nlev(&self) -> usize {
        self.params.levels.len()
    }

    /// The spectral transform.
    pub fn transform(&self) -> &SpectralTransform {
        &self.sht
    }

    /// The Gaussian grid.
    pub fn grid(&self) -> &LatLonGrid {
        self.sht.grid()
    }

    /// The truncation.
    pub fn truncation(&self) -> &Truncation {
        self.sht.truncation()
    }

    /// The orography.
    pub fn orography(&self) -> &PeOrography {
        &self.orography
    }

    /// The Held–Suarez forcing, if any.
    pub fn forcing(&self) -> Option<&HeldSuarez> {
        self.forcing.as_ref()
    }

    /// The surface geopotential Φ_s on the grid (m² s⁻²), as the model resolves it.
    pub fn surface_geopotential(&self) -> &[f64] {
        &self.phi_surface_grid
    }

    /// The spectral state of an initial condition on this model's grid.
    pub fn initial_state(&self, ic: &PeInitial) -> Result<PeState, AssimError> {
        ic.state(self)
    }

    /// The spectral state of grid fields (`u`, `v`, `temp`: `L × nlat × nlon`; `ps` in Pa).
    pub fn state_from_grid(
        &self,
        u: &[f64],
        v: &[f64],
        temp: &[f64],
        ps: &[f64],
    ) -> Result<PeState, AssimError> {
        let (n, l) = (self.grid().len(), self.nlev());
        if u.len() != n * l || v.len() != n * l || temp.len() != n * l || ps.len() != n {
            return Err(AssimError::Input(format!(
                "grid fields of {}, {}, {}, {} values do not match {l} levels of the {}×{} grid",
                u.len(),
                v.len(),
                temp.len(),
                ps.len(),
                self.grid().nlat(),
                self.grid().nlon()
            )));
        }
        if let Some(k) = u.iter().chain(v).chain(temp).position(|x| !x.is_finite()) {
            return Err(AssimError::Input(format!("grid fields hold a non-finite value (entry {k})")));
        }
        if let Some(k) = ps.iter().position(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(AssimError::Input(format!(
                "surface pressure must be positive (entry {k}: {})",
                ps[k]
            )));
        }
        let nc = self.truncation().len();
        let mut s = PeState {
            vor: Vec::with_capacity(l * nc),
            div: Vec::with_capacity(l * nc),
            temp: Vec::new(),
            lnps: Vec::new(),
        };
        for k in 0..l {
            let (z, d) = self.sht.vor_div_from_uv(&u[k * n..(k + 1) * n], &v[k * n..(k + 1) * n]);
            s.vor.extend(z);
            s.div.extend(d);
            s.temp.extend(self.sht.analysis(&temp[k * n..(k + 1) * n]));
        }
        s.lnps = self.sht.analysis(&ps.iter().map(|p| p.ln()).collect::<Vec<_>>());
        Ok(s)
    }

    /// The advective Courant number `max|v| · T · dt / a` for winds of `max_wind` (m s⁻¹).
    pub fn courant(&self, max_wind: f64) -> f64 {
        courant_number(max_wind, self.params.truncation, self.params.dt, self.params.radius)
    }

    /// Fails with a clear message when `dt` is too long for winds of `max_wind` (m s⁻¹): the
    /// advection is explicit, so the shallow-water model's limit holds level by level.
    pub fn check_time_step(&self, max_wind: f64) -> Result<(), AssimError> {
        check_courant(max_wind, self.params.truncation, self.params.dt, self.params.radius)
    }

    /// Starts an integration from `state`.
    pub fn start(&self, state: PeState) -> Result<PeIntegration, AssimError> {
        let (nc, l) = (self.truncation().len(), self.nlev());
        for (name, f, len) in [
            ("vorticity", &state.vor, l * nc),
            ("divergence", &state.div, l * nc),
            ("temperature", &state.temp, l * nc),
            ("ln p_s", &state.lnps, nc),
        ] {
            if f.len() != len {
                return Err(AssimError::Input(format!(
                    "{name} of {} coefficients does not match {l} levels at T{} ({len} coefficients)",
                    f.len(),
                    self.truncation().t()
                )));
            }
            if f.iter().any(|c| !c.re.is_finite() || !c.im.is_finite()) {
                return Err(AssimError::Input(format!("initial {name} holds non-finite values")));
            }
        }
        let n_syn = self.syn_jobs.len();
        let tr = self.truncation();
        let work = Workspace {
            psi: vec![Complex64::new(0.0, 0.0); l * nc],
            chi: vec![Complex64::new(0.0, 0.0); l * nc],
            four: vec![0.0; self.sht.fourier_len(n_syn)],
            q: vec![Complex64::new(0.0, 0.0); self.sht.spectral_input_len(self.weights.len())],
            outs: (0..self.ana_jobs.len()).map(|_| tr.zeros()).collect(),
        };
        let mass = self.mean_surface_pressure(&state.lnps);
        Ok(PeIntegration { prev: state.clone(), curr: state, steps: 0, mass, work })
    }

    /// Advances an integration by `steps` time steps (on a rayon worker, as the
    /// shallow-water model does, when called from outside the pool).
    pub fn run(&self, integ: &mut PeIntegration, steps: u64) {
        on_pool_worker(|| {
            for _ in 0..steps {
                self.step(integ);
            }
        });
    }

    /// One time step: leapfrog (a forward step first), semi-implicit gravity waves, implicit
    /// hyperdiffusion and friction, Robert–Asselin–Williams filter.
    pub fn step(&self, integ: &mut PeIntegration) {
        let dt = self.params.dt;
        let first = integ.steps == 0;
        self.tendencies(integ);
        let outs = std::mem::take(&mut integ.work.outs);
        let delta = if first { dt } else { 2.0 * dt };
        let h = 0.5 * delta;
        let old = if first { &integ.curr } else { &integ.prev };
        let implicit = if first { &self.implicit_start } else { &self.implicit_leapfrog };
        let tr = *self.truncation();
        let (nc, l) = (tr.len(), self.nlev());
        let r = self.params.gas_constant;
        let dsig = self.levels().thickness();
        let zero = Complex64::new(0.0, 0.0);
        let mut next = PeState {
            vor: vec![zero; l * nc],
            div: vec![zero; l * nc],
            temp: vec![zero; l * nc],
            lnps: vec![zero; nc],
        };
        let n_pi = &outs[4 * l];
        let (mut rhs, mut t_star, mut d_avg) = (vec![zero; l], vec![zero; l], vec![zero; l]);
        for (i, (_, n)) in tr.modes().enumerate() {
            let lam = self.eig[n];
            let minv = &implicit[n];
            let pi_star = old.lnps[i] + n_pi[i] * h;
            for k in 0..l {
                t_star[k] = old.temp[k * nc + i] + outs[4 * k + 2][i] * h;
            }
            for k in 0..l {
                let nd = outs[4 * k + 1][i] + (outs[4 * k + 3][i] + self.phi_surface[i]) * lam;
                let row = &self.hydro[k * l..(k + 1) * l];
                let gt = t_star.iter().zip(row).fold(pi_star * (r * self.t_ref[k]), |a, (t, g)| a + t * g);
                rhs[k] = old.div[k * nc + i] + nd * h + gt * (h * lam);
            }
            for k in 0..l {
                d_avg[k] = rhs.iter().zip(&minv[k * l..(k + 1) * l]).fold(zero, |a, (x, m)| a + x * m);
            }
            let nu = self.hyper[n];
            let mut pi_t = n_pi[i];
            for k in 0..l {
                pi_t -= d_avg[k] * dsig[k];
                let tau = &self.tau[k * l..(k + 1) * l];
                let tt = d_avg.iter().zip(tau).fold(outs[4 * k + 2][i], |a, (d, t)| a - d * t);
                let damp = 1.0 / (1.0 + delta * (nu + self.friction[k]));
                let idx = k * nc + i;
                next.vor[idx] = (old.vor[idx] + outs[4 * k][i] * delta) * damp;
                next.div[idx] = (d_avg[k] * 2.0 - old.div[idx]) * damp;
                next.temp[idx] = (old.temp[idx] + tt * delta) / (1.0 + delta * nu);
            }
            next.lnps[i] = old.lnps[i] + pi_t * delta;
        }
        // Mass fixer: the ln p_s equation conserves the mean of ln p_s, not of p_s; the
        // nonlinear terms drift the mass by ≈ 0.2 % in 1000 Held–Suarez days (measured), so
        // the new level is rescaled to the initial global-mean p_s (a uniform factor).
        let drift = (integ.mass / self.mean_surface_pressure(&next.lnps)).ln();
        next.lnps[0].re += drift * std::f64::consts::SQRT_2;
        let nu_ra = self.params.robert;
        if !first && nu_ra > 0.0 {
            let alpha = self.params.williams;
            let c = &mut integ.curr;
            let p = &integ.prev;
            for (cur, (prv, nxt)) in [
                (&mut c.vor, (&p.vor, &mut next.vor)),
                (&mut c.div, (&p.div, &mut next.div)),
                (&mut c.temp, (&p.temp, &mut next.temp)),
                (&mut c.lnps, (&p.lnps, &mut next.lnps)),
            ] {
                for k in 0..cur.len() {
                    let d = (prv[k] - cur[k] * 2.0 + nxt[k]) * (0.5 * nu_ra);
                    cur[k] += d * alpha;
                    nxt[k] -= d * (1.0 - alpha);
                }
            }
        }
        integ.prev = std::mem::replace(&mut integ.curr, next);
        integ.work.outs = outs;
        integ.steps += 1;
    }

    /// Explicit tendencies at the current level into `work.outs`: per level `[N_ζ, N_D,
    /// N_T, E]` (`4k..4k+4`), then `N_Π`; spectral.
    fn tendencies(&self, integ: &mut PeIntegration) {
        let tr = *self.truncation();
        let (nc, l) = (tr.len(), self.nlev());
        let a = self.params.radius;
        let s = &integ.curr;
        let w = &mut integ.work;
        for k in 0..l {
            let lv = k * nc..(k + 1) * nc;
            w.psi[lv.clone()].copy_from_slice(&tr.inverse_laplacian(&s.vor[lv.clone()], a));
            w.chi[lv.clone()].copy_from_slice(&tr.inverse_laplacian(&s.div[lv.clone()], a));
        }
        let mut coefs: Vec<&[Complex64]> = Vec::with_capacity(SYN_PER_LEVEL * l + 1);
        for k in 0..l {
            let lv = k * nc..(k + 1) * nc;
            coefs.extend([
                &s.vor[lv.clone()],
                &s.div[lv.clone()],
                &w.psi[lv.clone()],
                &w.chi[lv.clone()],
                &s.temp[lv],
            ]);
        }
        coefs.push(&s.lnps);
        let syn: Vec<&[Term]> = self.syn_jobs.iter().map(Vec::as_slice).collect();
        self.sht.legendre_synthesis(&coefs, &syn, &mut w.four);

        let grid = self.grid();
        let nlon = grid.nlon();
        let cos_lat = self.sht.cos_lat();
        let lat = grid.lat();
        let lv = self.levels();
        let (r, kappa) = (self.params.gas_constant, self.params.kappa);
        let t_ref = &self.t_ref;
        let hs = self.forcing.as_ref();
        let ln_p0 = P0.ln();
        self.sht.latitude_pass(
            &w.four,
            syn.len(),
            &self.weights,
            &mut w.q,
            &mut [],
            0,
            |j, input, out, _| {
                let row = |f: usize| &input[f * nlon..(f + 1) * nlon];
                let inv_c2 = 1.0 / (cos_lat[j] * cos_lat[j]);
                let f_row = &self.coriolis[j * nlon..(j + 1) * nlon];
                let (px, py, pi) =
                    (row(SYN_PER_LEVEL * l), row(SYN_PER_LEVEL * l + 1), row(SYN_PER_LEVEL * l + 2));
                let mut col = vec![0.0; 7 * l];
                let (uu, rest) = col.split_at_mut(l);
                let (vv, rest) = rest.split_at_mut(l);
                let (tt, rest) = rest.split_at_mut(l);
                let (dd, rest) = rest.split_at_mut(l);
                let (adv, rest) = rest.split_at_mut(l);
                let (om, om_lin) = rest.split_at_mut(l);
                let (mut sd, mut sd_lin) = (vec![0.0; l + 1], vec![0.0; l + 1]);
                let mut d_only = vec![0.0; l];
                let zeros = vec![0.0; l];
                let (s2, c2) = (lat[j].sin().powi(2), cos_lat[j] * cos_lat[j]);
                let relax = if hs.is_some() { &self.relaxation[j * l..(j + 1) * l] } else { &[][..] };
                for i in 0..nlon {
                    for k in 0..l {
                        let c = SYN_PER_LEVEL * k;
                        uu[k] = input[(c + 2) * nlon + i];
                        vv[k] = input[(c + 3) * nlon + i];
                        tt[k] = input[(c + 4) * nlon + i];
                        d_only[k] = input[(c + 1) * nlon + i];
                        adv[k] = (uu[k] * px[i] + vv[k] * py[i]) * inv_c2;
                        dd[k] = d_only[k] + adv[k];
                    }
                    lv.column(dd, adv, &mut sd, om);
                    lv.column(&d_only, &zeros, &mut sd_lin, om_lin);
                    let n_pi: f64 = -lv.thickness().iter().zip(adv.iter()).map(|(s, a)| s * a).sum::<f64>();
                    out[ANA_PER_LEVEL * l * nlon + i] = n_pi;
                    let ps_kappa = (kappa * (pi[i] - ln_p0)).exp();
                    for k in 0..l {
                        let c = ANA_PER_LEVEL * k;
                        let zeta = input[SYN_PER_LEVEL * k * nlon + i];
                        let tp = tt[k] - t_ref[k];
                        let abs_vor = zeta + f_row[i];
                        let va_u = lv.vertical_advection(&sd, uu, k);
                        let va_v = lv.vertical_advection(&sd, vv, k);
                        out[c * nlon + i] = abs_vor * vv[k] - va_u - r * tp * px[i];
                        out[(c + 1) * nlon + i] = -abs_vor * uu[k] - va_v - r * tp * py[i];
                        out[(c + 2) * nlon + i] = uu[k] * tp;
                        out[(c + 3) * nlon + i] = vv[k] * tp;
                        out[(c + 4) * nlon + i] = 0.5 * (uu[k] * uu[k] + vv[k] * vv[k]) * inv_c2;
                        let mut nt = tp * d_only[k] - lv.vertical_advection(&sd, tt, k)
                            + lv.vertical_advection(&sd_lin, t_ref, k)
                            + kappa * (tt[k] * om[k] - t_ref[k] * om_lin[k]);
                        if let Some(hs) = hs {
                            let ln_p = self.ln_sigma[k] + pi[i] - ln_p0;
                            let t_eq = hs.equilibrium_from(s2, c2, ln_p, self.sigma_kappa[k] * ps_kappa);
                            nt -= relax[k] * (tt[k] - t_eq);
                        }
                        out[(c + 5) * nlon + i] = nt;
                    }
                }
            },
        );
        let jobs: Vec<&[Term]> = self.ana_jobs.iter().map(Vec::as_slice).collect();
        let mut refs: Vec<&mut [Complex64]> = w.outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.sht.legendre_analysis(&w.q, self.weights.len(), &jobs, &mut refs);
    }

    /// Global-mean surface pressure (Pa) of spectral `ln p_s`.
    fn mean_surface_pressure(&self, lnps: &[Complex64]) -> f64 {
        let ps: Vec<f64> = self.sht.synthesis(lnps).iter().map(|x| x.exp()).collect();
        self.grid().global_mean(&ps)
    }

    /// Grid fields of a spectral state.
    pub fn grid_fields(&self, s: &PeState) -> PeGridFields {
        let (nc, l) = (self.truncation().len(), self.nlev());
        let n = self.grid().len();
        let mut f = PeGridFields {
            u: Vec::with_capacity(l * n),
            v: Vec::with_capacity(l * n),
            temp: Vec::with_capacity(l * n),
            ps: self.sht.synthesis(&s.lnps).iter().map(|x| x.exp()).collect(),
        };
        for k in 0..l {
            let lv = k * nc..(k + 1) * nc;
            let (u, v) = self.sht.uv_from_vor_div(&s.vor[lv.clone()], &s.div[lv.clone()]);
            f.u.extend(u);
            f.v.extend(v);
            f.temp.extend(self.sht.synthesis(&s.temp[lv]));
        }
        f
    }

    /// Mass, energy and the largest wind of a state.
    pub fn diagnostics(&self, s: &PeState) -> PeDiagnostics {
        self.diagnostics_of(&self.grid_fields(s))
    }

    /// Mass, energy and the largest wind of a state's grid fields (for callers that already
    /// hold them).
    pub fn diagnostics_of(&self, f: &PeGridFields) -> PeDiagnostics {
        let grid = self.grid();
        let n = grid.len();
        let (g, cp) = (self.params.gravity, self.params.gas_constant / self.params.kappa);
        let dsig = self.levels().thickness();
        let (mut ke, mut h) = (vec![0.0; n], vec![0.0; n]);
        let mut max_wind: f64 = 0.0;
        for (k, ds) in dsig.iter().enumerate() {
            for p in 0..n {
                let (u, v) = (f.u[k * n + p], f.v[k * n + p]);
                let mass = ds * f.ps[p] / g;
                ke[p] += 0.5 * (u * u + v * v) * mass;
                h[p] += cp * f.temp[k * n + p] * mass;
                max_wind = max_wind.max((u * u + v * v).sqrt());
            }
        }
        PeDiagnostics {
            mean_ps: grid.global_mean(&f.ps),
            kinetic: grid.global_mean(&ke),
            enthalpy: grid.global_mean(&h),
            max_wind,
        }
    }
}

impl PeIntegration {
    /// The current state (the latest leapfrog level).
    pub fn state(&self) -> &PeState {
        &self.curr
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether every coefficient is finite.
    pub fn is_finite(&self) -> bool {
        [&self.curr.vor, &self.curr.div, &self.curr.temp, &self.curr.lnps]
            .iter()
            .all(|f| f.iter().all(|c| c.re.is_finite() && c.im.is_finite()))
    }
}
