//! The shallow-water equations on the rotating sphere, spectral, in vorticity–divergence–
//! geopotential form: the global test bed of assim (DESIGN.md §4).
//!
//! With `ζ` relative vorticity, `D` divergence, `Φ = g h` the geopotential of the fluid depth,
//! `Φ_s` the surface geopotential, `f` the Coriolis parameter and `E = |v|²/2`:
//!
//! ```text
//! ∂ζ/∂t = −∇·((ζ+f) v) + F − r (ζ − ζ_jet) + hyperdiffusion
//! ∂D/∂t =  k·∇×((ζ+f) v) − ∇²(Φ + Φ_s + E) − r D + hyperdiffusion
//! ∂Φ/∂t = −∇·(Φ v) + hyperdiffusion
//! ```
//!
//! Time stepping: semi-implicit leapfrog (gravity-wave terms `−∇²Φ'`, `−Φ̄ D` averaged over
//! the levels n−1 and n+1, about the global-mean geopotential `Φ̄`), started by one
//! semi-implicit forward step; implicit hyperdiffusion `∇^{2p}` and linear drag `r` at n+1;
//! a Robert–Asselin–Williams filter (Williams 2009) on the leapfrog's computational mode.
//! The forcing `F` and the drag towards a zonal jet make the stirred climate ([`Forcing`]).
//!
//! One step costs one fused transform pass: a Legendre synthesis of ζ, Φ, (U, V) = cos φ·v
//! (and the stirring pattern), one per-latitude pass of FFTs and grid products, and a
//! Legendre analysis of the fluxes.

mod config;
mod forcing;
mod grid_model;
mod initial;
mod tangent;

pub use config::{
    ForcingConfig, HyperdiffusionConfig, InitialConfig, JetDragConfig, RunConfig, SimulationConfig,
    StirringConfig, SwModelConfig, TimeFilterConfig,
};
pub use forcing::{Forcing, JetDrag, Stirring, StirringState};
pub use grid_model::{ForecastStirring, SwGridModel, grid_state};
pub use initial::{InitialCondition, Orography};
pub use tangent::SwTangent;

use crate::AssimError;
use crate::grid::LatLonGrid;
use crate::spectral::{Complex64, Factor, SpectralTransform, Table, Term, Truncation, Weighting};

/// Earth's radius (m), as in Williamson et al. 1992.
pub const EARTH_RADIUS: f64 = 6.371_22e6;
/// Earth's angular velocity (s⁻¹), as in Williamson et al. 1992.
pub const EARTH_OMEGA: f64 = 7.292e-5;
/// Gravity (m s⁻²), as in Williamson et al. 1992.
pub const GRAVITY: f64 = 9.806_16;

/// Largest advective Courant number `max|v| · T · dt / a` the leapfrog accepts: the fastest
/// resolved advection frequency `|v| n / a` times `dt` must stay below 1 for the leapfrog.
pub const MAX_COURANT: f64 = 1.0;

/// Scale-selective implicit hyperdiffusion `−ν (−∇²)^p`, applied to ζ, D and Φ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyperdiffusion {
    /// The power `p` of `−∇²` (2 = ∇⁴, 4 = ∇⁸).
    pub order: u32,
    /// e-folding time (s) of the smallest resolved scale (total wavenumber `T`).
    pub timescale: f64,
}

/// The advective Courant number `max|v| · T · dt / a` of a spectral model of truncation `T`.
pub(crate) fn courant_number(max_wind: f64, truncation: usize, dt: f64, radius: f64) -> f64 {
    max_wind * truncation as f64 * dt / radius
}

/// Fails with a clear message when `dt` is too long for winds of `max_wind` (m s⁻¹) at
/// truncation `T`: the spectral models advect explicitly, so [`MAX_COURANT`] bounds them all.
pub(crate) fn check_courant(
    max_wind: f64,
    truncation: usize,
    dt: f64,
    radius: f64,
) -> Result<(), AssimError> {
    let c = courant_number(max_wind, truncation, dt, radius);
    if c > MAX_COURANT || !c.is_finite() {
        let dt_max = MAX_COURANT * radius / (max_wind * truncation as f64);
        return Err(AssimError::Input(format!(
            "time step {dt} s is unstable at T{truncation} for winds up to {max_wind:.0} m/s (Courant number \
             {c:.2} > {MAX_COURANT}): use dt ≤ {dt_max:.0} s"
        )));
    }
    Ok(())
}

/// Runs `f` on a rayon worker when called from outside the pool (and the pool has more than
/// one thread), so that the transform's parallel stages fork from a running worker instead of
/// waking the pool three times per step (≈ 20 % faster at T42 on 2 cores, measured).
pub(crate) fn on_pool_worker(f: impl FnOnce() + Send) {
    if rayon::current_thread_index().is_none() && rayon::current_num_threads() > 1 {
        rayon::join(f, || ());
    } else {
        f();
    }
}

/// Checks the dissipation shared by the spectral models: a hyperdiffusion order in 1..=8 with a
/// positive timescale, Robert–Asselin ν in [0, 0.5) and Williams α in [0, 1].
pub(crate) fn check_dissipation(
    hyperdiffusion: Option<Hyperdiffusion>,
    robert: f64,
    williams: f64,
) -> Result<(), AssimError> {
    if let Some(h) = hyperdiffusion
        && (h.order == 0 || h.order > 8 || !(h.timescale.is_finite() && h.timescale > 0.0))
    {
        return Err(AssimError::Input(format!(
            "hyperdiffusion needs an order in 1..=8 and a positive timescale (got order {}, {} s)",
            h.order, h.timescale
        )));
    }
    if !(0.0..0.5).contains(&robert) || !(0.0..=1.0).contains(&williams) {
        return Err(AssimError::Input(format!(
            "Robert–Asselin ν must be in [0, 0.5) and Williams α in [0, 1] (got {robert}, {williams})"
        )));
    }
    Ok(())
}

/// The spectral models' default hyperdiffusion: ∇⁸ with a 2.4-hour timescale at the truncation
/// limit.
pub const DEFAULT_HYPERDIFFUSION: Hyperdiffusion = Hyperdiffusion { order: 4, timescale: 2.4 * 3600.0 };
/// The spectral models' default Robert–Asselin coefficient ν.
pub const DEFAULT_ROBERT: f64 = 0.05;
/// The spectral models' default Williams α.
pub const DEFAULT_WILLIAMS: f64 = 0.53;

/// Physical and numerical parameters of the shallow-water model.
#[derive(Clone, Debug)]
pub struct SwParams {
    /// Triangular truncation `T` (21, 42, 63 or 85).
    pub truncation: usize,
    /// Time step (s).
    pub dt: f64,
    /// Sphere radius (m).
    pub radius: f64,
    /// Angular velocity (s⁻¹).
    pub omega: f64,
    /// Gravity (m s⁻²).
    pub gravity: f64,
    /// Tilt α (radians) of the rotation axis against the grid's pole (Williamson's rotated
    /// test cases); 0 for every other use.
    pub axis_tilt: f64,
    /// Hyperdiffusion, or `None` for an inviscid run.
    pub hyperdiffusion: Option<Hyperdiffusion>,
    /// Robert–Asselin filter coefficient ν (0 switches the filter off).
    pub robert: f64,
    /// Williams' α (1 = classical Robert–Asselin; 0.53 conserves the mean better).
    pub williams: f64,
}

impl SwParams {
    /// Earth parameters at truncation `T` with a time step `dt` (s), ∇⁸ hyperdiffusion with a
    /// 2.4-hour timescale at the truncation limit, and a Robert–Asselin–Williams filter with
    /// ν = 0.05, α = 0.53.
    pub fn earth(truncation: usize, dt: f64) -> Self {
        Self {
            truncation,
            dt,
            radius: EARTH_RADIUS,
            omega: EARTH_OMEGA,
            gravity: GRAVITY,
            axis_tilt: 0.0,
            hyperdiffusion: Some(DEFAULT_HYPERDIFFUSION),
            robert: DEFAULT_ROBERT,
            williams: DEFAULT_WILLIAMS,
        }
    }
}

/// A spectral shallow-water state.
#[derive(Clone, Debug, PartialEq)]
pub struct SwState {
    /// Relative vorticity ζ (s⁻¹).
    pub vor: Vec<Complex64>,
    /// Divergence D (s⁻¹).
    pub div: Vec<Complex64>,
    /// Geopotential of the fluid depth Φ = g h (m² s⁻²), including its global mean.
    pub phi: Vec<Complex64>,
}

/// Grid-point fields of a state, for output and diagnostics (each `nlat × nlon`).
#[derive(Clone, Debug)]
pub struct SwGridFields {
    /// Eastward wind u (m s⁻¹).
    pub u: Vec<f64>,
    /// Northward wind v (m s⁻¹).
    pub v: Vec<f64>,
    /// Relative vorticity (s⁻¹).
    pub vor: Vec<f64>,
    /// Divergence (s⁻¹).
    pub div: Vec<f64>,
    /// Geopotential of the free surface `Φ + Φ_s` (m² s⁻²).
    pub geopotential: Vec<f64>,
    /// Fluid depth h = Φ / g (m).
    pub depth: Vec<f64>,
}

/// Global integrals that the equations conserve without forcing and dissipation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SwDiagnostics {
    /// Global-mean depth (m): mass per unit area / ρ.
    pub mean_depth: f64,
    /// Global mean of kinetic energy `h |v|² / 2` (m³ s⁻², per unit area and ρ).
    pub kinetic: f64,
    /// Global mean of available potential energy `g (h + h_s − mean)² / 2` (m³ s⁻²).
    pub potential: f64,
    /// Global mean of potential enstrophy `(ζ + f)² / (2h)` (m⁻¹ s⁻²).
    pub potential_enstrophy: f64,
    /// Largest wind speed (m s⁻¹).
    pub max_wind: f64,
}

impl SwDiagnostics {
    /// Kinetic plus available potential energy (m³ s⁻²).
    pub fn energy(&self) -> f64 {
        self.kinetic + self.potential
    }
}

/// The shallow-water model: parameters, transform tables and fixed fields, shared read-only
/// by every integration (so ensemble members can run in parallel).
pub struct ShallowWater {
    params: SwParams,
    sht: SpectralTransform,
    /// Coriolis parameter on the grid.
    coriolis: Vec<f64>,
    orography: Orography,
    /// Surface geopotential Φ_s, spectral (zero without orography).
    phi_surface: Vec<Complex64>,
    /// Per total wavenumber n: `n(n+1)/a²`.
    eig: Vec<f64>,
    /// Per n: hyperdiffusion rate ν_n (s⁻¹).
    hyper: Vec<f64>,
    forcing: Option<Forcing>,
    /// Latitude mask of the stirring, per latitude row (when stirring).
    stir_mask: Vec<f64>,
    /// Vorticity of the drag's target jet, spectral (when jet drag).
    jet_vor: Vec<Complex64>,
}

/// One integration in progress: two leapfrog levels, the forcing's random state and the
/// transform work buffers.
pub struct SwIntegration {
    /// Global-mean depth geopotential Φ̄, the reference of the semi-implicit scheme (fixed:
    /// the scheme conserves mass exactly).
    phi_bar: f64,
    prev: SwState,
    curr: SwState,
    steps: u64,
    stirring: Option<StirringState>,
    work: Workspace,
}

struct Workspace {
    psi: Vec<Complex64>,
    chi: Vec<Complex64>,
    four: Vec<f64>,
    q: Vec<Complex64>,
    outs: Vec<Vec<Complex64>>,
}

impl ShallowWater {
    /// A model with these parameters, optional orography and optional climate forcing;
    /// checks every parameter up front.
    pub fn new(params: SwParams, orography: Orography, forcing: Option<Forcing>) -> Result<Self, AssimError> {
        let bad = |msg: String| Err(AssimError::Input(msg));
        if !(params.dt.is_finite() && params.dt > 0.0) {
            return bad(format!("time step must be positive (got {} s)", params.dt));
        }
        for (name, v) in [("radius", params.radius), ("gravity", params.gravity)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive (got {v})"));
            }
        }
        if !params.omega.is_finite() || !params.axis_tilt.is_finite() {
            return bad("omega and axis tilt must be finite".into());
        }
        check_dissipation(params.hyperdiffusion, params.robert, params.williams)?;
        if let Some(f) = &forcing {
            f.validate(params.truncation)?;
        }
        let sht = SpectralTransform::new(params.truncation, params.radius)?;
        let tr = *sht.truncation();
        let (sa, ca) = params.axis_tilt.sin_cos();
        let coriolis = sht
            .grid()
            .field_from_fn(|la, lo| 2.0 * params.omega * (-lo.cos() * la.cos() * sa + la.sin() * ca));
        let phi_surface = match orography.height_field(sht.grid()) {
            Some(hs) => sht.analysis(&hs.iter().map(|h| params.gravity * h).collect::<Vec<_>>()),
            None => tr.zeros(),
        };
        let a2 = params.radius * params.radius;
        let eig: Vec<f64> = (0..=tr.t()).map(|n| (n * (n + 1)) as f64 / a2).collect();
        let hyper = match params.hyperdiffusion {
            Some(h) => {
                let top = eig[tr.t()];
                eig.iter().map(|e| (e / top).powi(h.order as i32) / h.timescale).collect()
            }
            None => vec![0.0; tr.t() + 1],
        };
        let stir_mask = match forcing.as_ref().and_then(|f| f.stirring.as_ref()) {
            Some(s) => sht.grid().lat().iter().map(|&la| s.mask(la)).collect(),
            None => Vec::new(),
        };
        let jet_vor = match forcing.as_ref().and_then(|f| f.jet_drag.as_ref()) {
            Some(j) => {
                let u = sht.grid().field_from_fn(|la, _| j.wind(la));
                sht.vor_div_from_uv(&u, &vec![0.0; u.len()]).0
            }
            None => Vec::new(),
        };
        Ok(Self { params, sht, coriolis, orography, phi_surface, eig, hyper, forcing, stir_mask, jet_vor })
    }

    /// The parameters.
    pub fn params(&self) -> &SwParams {
        &self.params
    }

    /// The spectral transform (truncation, grid, radius).
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

    /// Surface height (m) on the grid, or `None` for a flat surface.
    pub fn surface_height(&self) -> Option<Vec<f64>> {
        self.orography.height_field(self.grid())
    }

    /// The orography.
    pub fn orography(&self) -> &Orography {
        &self.orography
    }

    /// The climate forcing, if any.
    pub fn forcing(&self) -> Option<&Forcing> {
        self.forcing.as_ref()
    }

    /// The spectral state of an initial condition on this model's grid.
    pub fn initial_state(&self, ic: &InitialCondition) -> Result<SwState, AssimError> {
        ic.state(self)
    }

    /// The spectral state whose grid fields are `u`, `v` (m s⁻¹) and the fluid depth
    /// geopotential `phi` (m² s⁻²): vorticity and divergence by the vector transform.
    pub fn state_from_grid(&self, u: &[f64], v: &[f64], phi: &[f64]) -> Result<SwState, AssimError> {
        let n = self.grid().len();
        if u.len() != n || v.len() != n || phi.len() != n {
            return Err(AssimError::Input(format!(
                "grid fields of {}, {}, {} values do not match the {}×{} grid",
                u.len(),
                v.len(),
                phi.len(),
                self.grid().nlat(),
                self.grid().nlon()
            )));
        }
        if let Some(k) = u.iter().chain(v).chain(phi).position(|x| !x.is_finite()) {
            return Err(AssimError::Input(format!("grid fields hold a non-finite value (entry {k})")));
        }
        let (vor, div) = self.sht.vor_div_from_uv(u, v);
        Ok(SwState { vor, div, phi: self.sht.analysis(phi) })
    }

    /// The advective Courant number `max|v| · T · dt / a` of a state.
    pub fn courant(&self, max_wind: f64) -> f64 {
        courant_number(max_wind, self.params.truncation, self.params.dt, self.params.radius)
    }

    /// Fails with a clear message when `dt` is too long for winds of `max_wind` (m s⁻¹).
    pub fn check_time_step(&self, max_wind: f64) -> Result<(), AssimError> {
        check_courant(max_wind, self.params.truncation, self.params.dt, self.params.radius)
    }

    /// Starts an integration from `state`; `seed` drives the stochastic stirring (if any).
    pub fn start(&self, state: SwState, seed: u64) -> Result<SwIntegration, AssimError> {
        let stirring =
            self.forcing.as_ref().and_then(|f| f.stirring.as_ref()).map(|s| s.start(self.truncation(), seed));
        self.restart(state, stirring)
    }

    /// Starts an integration from `state` with the stirring continuing from `stirring` (a
    /// forecast that replays the truth's forcing); `None` runs without stirring.
    pub fn restart(
        &self,
        state: SwState,
        stirring: Option<StirringState>,
    ) -> Result<SwIntegration, AssimError> {
        let tr = self.truncation();
        for f in [&state.vor, &state.div, &state.phi] {
            if f.len() != tr.len() {
                return Err(AssimError::Input(format!(
                    "state of {} coefficients does not match T{} ({} coefficients)",
                    f.len(),
                    tr.t(),
                    tr.len()
                )));
            }
            if f.iter().any(|c| !c.re.is_finite() || !c.im.is_finite()) {
                return Err(AssimError::Input("initial state holds non-finite values".into()));
            }
        }
        let n_syn = 4 + usize::from(stirring.is_some());
        let work = Workspace {
            psi: tr.zeros(),
            chi: tr.zeros(),
            four: vec![0.0; self.sht.fourier_len(n_syn)],
            q: vec![
                Complex64::new(0.0, 0.0);
                self.sht.spectral_input_len(5 + usize::from(stirring.is_some()))
            ],
            outs: (0..4).map(|_| tr.zeros()).collect(),
        };
        let phi_bar = state.phi[0].re * std::f64::consts::FRAC_1_SQRT_2;
        Ok(SwIntegration { phi_bar, prev: state.clone(), curr: state, steps: 0, stirring, work })
    }

    /// Advances an integration by `steps` time steps.
    ///
    /// Called from outside rayon's pool, the loop moves onto a pool worker first, so that the
    /// parallel transform stages fork from a running worker instead of waking the pool three
    /// times per step (≈ 20 % faster at T42 on 2 cores, measured).
    pub fn run(&self, integ: &mut SwIntegration, steps: u64) {
        on_pool_worker(|| {
            for _ in 0..steps {
                self.step(integ);
            }
        });
    }

    /// One time step: leapfrog (a forward step first), semi-implicit gravity waves, implicit
    /// dissipation, Robert–Asselin–Williams filter.
    pub fn step(&self, integ: &mut SwIntegration) {
        self.step_recorded(integ, None);
    }

    /// [`Self::step`], keeping in `record` (when given) what the tangent-linear of the step
    /// needs: the grid fields its products were formed of and `∂Φ_new/∂Φ̄`.
    fn step_recorded(&self, integ: &mut SwIntegration, mut record: Option<&mut tangent::StepRecord>) {
        let dt = self.params.dt;
        let first = integ.steps == 0;
        if let (Some(s), Some(st)) =
            (self.forcing.as_ref().and_then(|f| f.stirring.as_ref()), integ.stirring.as_mut())
        {
            s.advance(st, dt);
        }
        let base = match record.as_deref_mut() {
            Some(r) => {
                r.first = first;
                r.base.resize(4 * self.grid().len(), 0.0);
                r.dp_dbar = self.truncation().zeros();
                r.base.as_mut_slice()
            }
            None => &mut [],
        };
        self.tendencies(integ, base);
        let outs = std::mem::take(&mut integ.work.outs);
        let [n_vor, n_div, n_phi, n_ke] = [&outs[0], &outs[1], &outs[2], &outs[3]];
        // Forward step from `curr` the first time, leapfrog from `prev` after.
        let (delta, drag) = self.step_constants(first);
        let old = if first { &integ.curr } else { &integ.prev };
        let phi_bar = integ.phi_bar;
        let tr = *self.truncation();
        let mut next = SwState { vor: tr.zeros(), div: tr.zeros(), phi: tr.zeros() };
        let h = 0.5 * delta;
        for (k, (_, n)) in tr.modes().enumerate() {
            let lam = self.eig[n];
            // Explicit divergence tendency: curl term and −∇²(E + Φ_s) = +λ (E + Φ_s).
            let nd = n_div[k] + (n_ke[k] + self.phi_surface[k]) * lam;
            let np = n_phi[k];
            let (d_old, p_old) = (old.div[k], old.phi[k]);
            let denom = 1.0 + h * h * phi_bar * lam;
            let p_new = (p_old * (1.0 - h * h * phi_bar * lam) + np * delta
                - d_old * (delta * phi_bar)
                - nd * (h * delta * phi_bar))
                / denom;
            if let Some(r) = record.as_deref_mut() {
                r.dp_dbar[k] =
                    (p_old * (-h * h * lam) - d_old * delta - nd * (h * delta) - p_new * (h * h * lam))
                        / denom;
            }
            let d_new = d_old + nd * delta + (p_new + p_old) * (h * lam);
            let z_new = old.vor[k] + n_vor[k] * delta;
            // Implicit hyperdiffusion and drag (towards the jet for vorticity, to rest for D).
            let nu = self.hyper[n];
            let target = if drag > 0.0 { self.jet_vor[k] * (delta * drag) } else { Complex64::new(0.0, 0.0) };
            next.vor[k] = (z_new + target) / (1.0 + delta * (nu + drag));
            next.div[k] = d_new / (1.0 + delta * (nu + drag));
            next.phi[k] = if n == 0 { p_new } else { p_new / (1.0 + delta * nu) };
        }
        // Robert–Asselin–Williams filter on the leapfrog levels (not after the forward step).
        let nu_ra = self.params.robert;
        if !first && nu_ra > 0.0 {
            let alpha = self.params.williams;
            let c = &mut integ.curr;
            for (cur, (prv, nxt)) in [
                (&mut c.vor, (&integ.prev.vor, &mut next.vor)),
                (&mut c.div, (&integ.prev.div, &mut next.div)),
                (&mut c.phi, (&integ.prev.phi, &mut next.phi)),
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

    /// Explicit tendencies at the current level into the work buffers `work.outs`:
    /// `[N_ζ, N_D (curl part), N_Φ, E]`, spectral; the grid fields `ζ + f`, `Φ − Φ̄`, `U`, `V`
    /// go to `base` (`[lat][field][lon]`) unless it is empty.
    fn tendencies(&self, integ: &mut SwIntegration, base: &mut [f64]) {
        let tr = *self.truncation();
        let a = self.params.radius;
        let s = &integ.curr;
        let w = &mut integ.work;
        w.psi = tr.inverse_laplacian(&s.vor, a);
        w.chi = tr.inverse_laplacian(&s.div, a);
        let stir = integ.stirring.as_ref();
        let mut coefs: Vec<&[Complex64]> = vec![&s.vor, &s.phi, &w.psi, &w.chi];
        if let Some(st) = stir {
            coefs.push(st.pattern());
        }
        let [vor_job, phi_job, u_job, v_job] = self.state_jobs();
        let stir_job = [Term { field: 4, table: Table::P, factor: Factor::Real(1.0) }];
        let mut syn: Vec<&[Term]> = vec![&vor_job, &phi_job, &u_job, &v_job];
        if stir.is_some() {
            syn.push(&stir_job);
        }
        let n_in = syn.len();
        self.sht.legendre_synthesis(&coefs, &syn, &mut w.four);

        // Grid products per latitude: A, B = (ζ+f)(U, V); c, d = Φ'(U, V); E; stirring.
        let nlon = self.grid().nlon();
        let phi_bar = integ.phi_bar;
        let cos_lat = self.sht.cos_lat();
        let mut weights = vec![Weighting::Vector; 4];
        weights.push(Weighting::Scalar);
        if stir.is_some() {
            weights.push(Weighting::Scalar);
        }
        let n_out = weights.len();
        let coriolis = &self.coriolis;
        let stir_mask = &self.stir_mask;
        let base_width = if base.is_empty() { 0 } else { 4 * nlon };
        self.sht.latitude_pass(&w.four, n_in, &weights, &mut w.q, base, base_width, |j, input, out, keep| {
            let (zeta, rest) = input.split_at(nlon);
            let (phi, rest) = rest.split_at(nlon);
            let (uu, rest) = rest.split_at(nlon);
            let (vv, rest) = rest.split_at(nlon);
            let f = &coriolis[j * nlon..(j + 1) * nlon];
            let inv_c2 = 0.5 / (cos_lat[j] * cos_lat[j]);
            let (oa, o) = out.split_at_mut(nlon);
            let (ob, o) = o.split_at_mut(nlon);
            let (oc, o) = o.split_at_mut(nlon);
            let (od, o) = o.split_at_mut(nlon);
            let (oe, o) = o.split_at_mut(nlon);
            for i in 0..nlon {
                let abs_vor = zeta[i] + f[i];
                let pp = phi[i] - phi_bar;
                oa[i] = abs_vor * uu[i];
                ob[i] = abs_vor * vv[i];
                oc[i] = pp * uu[i];
                od[i] = pp * vv[i];
                oe[i] = (uu[i] * uu[i] + vv[i] * vv[i]) * inv_c2;
            }
            if !keep.is_empty() {
                let (kz, k) = keep.split_at_mut(nlon);
                let (kp, k) = k.split_at_mut(nlon);
                let (ku, kv) = k.split_at_mut(nlon);
                for i in 0..nlon {
                    kz[i] = zeta[i] + f[i];
                    kp[i] = phi[i] - phi_bar;
                }
                ku.copy_from_slice(uu);
                kv.copy_from_slice(vv);
            }
            if !o.is_empty() {
                let m = stir_mask[j];
                for (x, s) in o.iter_mut().zip(&rest[..nlon]) {
                    *x = m * s;
                }
            }
        });
        debug_assert_eq!(n_out, weights.len());

        let [mut vor_t, curl, phi_t, ke_t] = self.flux_jobs();
        if stir.is_some() {
            vor_t.push(Term { field: 5, table: Table::P, factor: Factor::Real(1.0) });
        }
        let jobs: [&[Term]; 4] = [&vor_t, &curl, &phi_t, &ke_t];
        let mut refs: Vec<&mut [Complex64]> = w.outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.sht.legendre_analysis(&w.q, n_out, &jobs, &mut refs);
    }

    /// The synthesis jobs of the grid fields `[ζ, Φ, U, V]` from the spectral fields
    /// `[ζ, Φ, ψ, χ]`.
    fn state_jobs(&self) -> [Vec<Term>; 4] {
        let scalar = |field| vec![Term { field, table: Table::P, factor: Factor::Real(1.0) }];
        let [u_job, v_job] = self.sht.wind_terms(2, 3);
        [scalar(0), scalar(1), u_job.to_vec(), v_job.to_vec()]
    }

    /// The analysis jobs of the tendencies from the grid products `[A, B, C, D, E]` =
    /// `[(ζ+f)U, (ζ+f)V, Φ'U, Φ'V, |v|²/2]`: `N_ζ = −∇·(A, B)`, the curl of `(A, B)`,
    /// `N_Φ = −∇·(C, D)` and `E` (fields 0–3 vector-weighted, 4 scalar).
    fn flux_jobs(&self) -> [Vec<Term>; 4] {
        let ia = 1.0 / self.params.radius;
        let [_, curl] = self.sht.div_curl_terms(0, 1);
        [
            vec![
                Term { field: 0, table: Table::P, factor: Factor::Im(-ia) },
                Term { field: 1, table: Table::H, factor: Factor::Real(ia) },
            ],
            curl.to_vec(),
            vec![
                Term { field: 2, table: Table::P, factor: Factor::Im(-ia) },
                Term { field: 3, table: Table::H, factor: Factor::Real(ia) },
            ],
            vec![Term { field: 4, table: Table::P, factor: Factor::Real(1.0) }],
        ]
    }

    /// Grid fields of a spectral state.
    pub fn grid_fields(&self, s: &SwState) -> SwGridFields {
        let (u, v) = self.sht.uv_from_vor_div(&s.vor, &s.div);
        let depth_phi = self.sht.synthesis(&s.phi);
        let surface = self.sht.synthesis(&self.phi_surface);
        let g = self.params.gravity;
        SwGridFields {
            vor: self.sht.synthesis(&s.vor),
            div: self.sht.synthesis(&s.div),
            geopotential: depth_phi.iter().zip(&surface).map(|(p, s)| p + s).collect(),
            depth: depth_phi.iter().map(|p| p / g).collect(),
            u,
            v,
        }
    }

    /// Mass, energy, potential enstrophy and the largest wind of a state.
    pub fn diagnostics(&self, s: &SwState) -> SwDiagnostics {
        let f = self.grid_fields(s);
        let grid = self.grid();
        let g = self.params.gravity;
        let ke: Vec<f64> =
            (0..grid.len()).map(|k| 0.5 * f.depth[k] * (f.u[k] * f.u[k] + f.v[k] * f.v[k])).collect();
        let mean_geo = grid.global_mean(&f.geopotential);
        let pe: Vec<f64> = f.geopotential.iter().map(|p| 0.5 * (p - mean_geo).powi(2) / g).collect();
        let pv: Vec<f64> =
            (0..grid.len()).map(|k| 0.5 * (f.vor[k] + self.coriolis[k]).powi(2) / f.depth[k]).collect();
        let max_wind = f.u.iter().zip(&f.v).map(|(u, v)| (u * u + v * v).sqrt()).fold(0.0, f64::max);
        SwDiagnostics {
            mean_depth: grid.global_mean(&f.depth),
            kinetic: grid.global_mean(&ke),
            potential: grid.global_mean(&pe),
            potential_enstrophy: grid.global_mean(&pv),
            max_wind,
        }
    }

    /// Kinetic-energy spectrum per unit mass by total wavenumber: entry n is the contribution
    /// of wavenumber n to the global mean of `|v|²/2` (m² s⁻²).
    pub fn kinetic_energy_spectrum(&self, s: &SwState) -> Vec<f64> {
        let tr = self.truncation();
        let a2 = self.params.radius * self.params.radius;
        let pz = tr.power_spectrum(&s.vor);
        let pd = tr.power_spectrum(&s.div);
        (0..=tr.t())
            .map(|n| if n == 0 { 0.0 } else { 0.5 * a2 / (n * (n + 1)) as f64 * (pz[n] + pd[n]) })
            .collect()
    }
}

impl SwIntegration {
    /// The stirring's state (pattern and generator), if the model stirs.
    pub fn stirring(&self) -> Option<&StirringState> {
        self.stirring.as_ref()
    }

    /// The current state (the latest leapfrog level).
    pub fn state(&self) -> &SwState {
        &self.curr
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Whether every coefficient is finite.
    pub fn is_finite(&self) -> bool {
        [&self.curr.vor, &self.curr.div, &self.curr.phi]
            .iter()
            .all(|f| f.iter().all(|c| c.re.is_finite() && c.im.is_finite()))
    }
}
