//! The tangent-linear and adjoint of the shallow-water model about a recorded integration:
//! what 4D-Var differentiates the forecast with.
//!
//! The tangent-linear is the exact derivative of the discrete step of `super` (the semi-implicit
//! leapfrog with its forward first step, the implicit dissipation and the Robert–Asselin–Williams
//! filter), including the dependence on the reference geopotential `Φ̄` through the state's
//! global mean. The grid products are linearised about the recorded fields `ζ + f`, `Φ − Φ̄`,
//! `U`, `V`; the transforms are linear, and their transposes come from
//! [`SpectralTransform::synthesize_adjoint`](crate::spectral::SpectralTransform) and its
//! siblings. The adjoint is the transpose of the tangent-linear in the real inner product of the
//! spectral coefficients (each `(re, im)` two numbers), to rounding (`tests/tangent_adjoint.rs`).
//!
//! The stirring pattern and the drag's target jet do not depend on the state, so they drop out.

use super::{ShallowWater, SwIntegration, SwState};
use crate::spectral::{Complex64, Term, Weighting, transpose_jobs};

/// What the tangent-linear of one step needs of the nonlinear step.
#[derive(Default)]
pub(super) struct StepRecord {
    /// The forward first step (no leapfrog, no filter).
    pub(super) first: bool,
    /// The grid fields `ζ + f`, `Φ − Φ̄`, `U`, `V` of the step's tendencies, `[lat][field][lon]`.
    pub(super) base: Vec<f64>,
    /// `∂Φ_new/∂Φ̄` per coefficient, before the implicit dissipation.
    pub(super) dp_dbar: Vec<Complex64>,
}

/// The tangent-linear model of an integration from its start, with its adjoint: maps a
/// perturbation of the initial spectral state to one of the final state (and back).
pub struct SwTangent<'a> {
    model: &'a ShallowWater,
    phi_bar: f64,
    steps: Vec<StepRecord>,
}

/// The two leapfrog levels of a perturbation (or of an adjoint).
struct Levels {
    prev: SwState,
    curr: SwState,
}

fn zeros(model: &ShallowWater) -> SwState {
    let tr = model.truncation();
    SwState { vor: tr.zeros(), div: tr.zeros(), phi: tr.zeros() }
}

fn add(a: &mut [Complex64], b: &[Complex64]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
}

/// `Σ re·re + im·im`: the real inner product of two spectral fields.
fn real_dot(a: &[Complex64], b: &[Complex64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.re * y.re + x.im * y.im).sum()
}

impl ShallowWater {
    /// Runs `steps` steps of a fresh integration (one that has taken no step yet: the map from
    /// its initial state is what is linearised), recording the trajectory its tangent-linear
    /// and adjoint need (four grid fields and one spectral field per step).
    pub fn run_linearised(&self, integ: &mut SwIntegration, steps: u64) -> SwTangent<'_> {
        assert_eq!(integ.steps, 0, "the tangent-linear starts from a fresh integration");
        let mut records: Vec<StepRecord> = (0..steps).map(|_| StepRecord::default()).collect();
        super::on_pool_worker(|| {
            for r in records.iter_mut() {
                self.step_recorded(integ, Some(r));
            }
        });
        SwTangent { model: self, phi_bar: integ.phi_bar, steps: records }
    }

    /// The tangent-linear tendencies `[δN_ζ, δN_D, δN_Φ, δE]` of the perturbation `d` about the
    /// recorded step `r`, with `δΦ̄ = dbar`.
    fn tangent_tendencies(&self, d: &SwState, r: &StepRecord, dbar: f64) -> Vec<Vec<Complex64>> {
        let tr = *self.truncation();
        let a = self.params.radius;
        let (psi, chi) = (tr.inverse_laplacian(&d.vor, a), tr.inverse_laplacian(&d.div, a));
        let coefs: [&[Complex64]; 4] = [&d.vor, &d.phi, &psi, &chi];
        let syn = self.state_jobs();
        let syn_refs: Vec<&[Term]> = syn.iter().map(|j| j.as_slice()).collect();
        let mut four = vec![0.0; self.sht.fourier_len(4)];
        self.sht.legendre_synthesis(&coefs, &syn_refs, &mut four);
        let nlon = self.grid().nlon();
        let cos_lat = self.sht.cos_lat();
        let weights =
            [Weighting::Vector, Weighting::Vector, Weighting::Vector, Weighting::Vector, Weighting::Scalar];
        let mut q = vec![Complex64::new(0.0, 0.0); self.sht.spectral_input_len(5)];
        self.sht.latitude_pass(&four, 4, &weights, &mut q, &mut [], 0, |j, input, out, _| {
            let row = |f: usize| &input[f * nlon..(f + 1) * nlon];
            let (dz, dp, du, dv) = (row(0), row(1), row(2), row(3));
            let b = &r.base[j * 4 * nlon..(j + 1) * 4 * nlon];
            let (zf, pp, uu, vv) = (&b[..nlon], &b[nlon..2 * nlon], &b[2 * nlon..3 * nlon], &b[3 * nlon..]);
            let c2 = 1.0 / (cos_lat[j] * cos_lat[j]);
            for i in 0..nlon {
                let dpp = dp[i] - dbar;
                out[i] = dz[i] * uu[i] + zf[i] * du[i];
                out[nlon + i] = dz[i] * vv[i] + zf[i] * dv[i];
                out[2 * nlon + i] = dpp * uu[i] + pp[i] * du[i];
                out[3 * nlon + i] = dpp * vv[i] + pp[i] * dv[i];
                out[4 * nlon + i] = (uu[i] * du[i] + vv[i] * dv[i]) * c2;
            }
        });
        let jobs = self.flux_jobs();
        let job_refs: Vec<&[Term]> = jobs.iter().map(|j| j.as_slice()).collect();
        let mut outs: Vec<Vec<Complex64>> = (0..4).map(|_| tr.zeros()).collect();
        let mut refs: Vec<&mut [Complex64]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.sht.legendre_analysis(&q, 5, &job_refs, &mut refs);
        outs
    }

    /// The transpose of [`Self::tangent_tendencies`]: adds to `lam` the adjoint of the step's
    /// starting level from the tendencies' adjoints `lt`, and returns the adjoint of `Φ̄`.
    fn adjoint_tendencies(&self, lt: &[Vec<Complex64>], r: &StepRecord, lam: &mut SwState) -> f64 {
        let tr = *self.truncation();
        let a = self.params.radius;
        // The flux analysis transposed: a synthesis of the halved coefficients into the
        // products' adjoints, weighted by each product's quadrature weight.
        let halved: Vec<Vec<Complex64>> = lt.iter().map(|s| self.sht.halve_waves(s)).collect();
        let coefs: Vec<&[Complex64]> = halved.iter().map(|s| s.as_slice()).collect();
        let jobs = self.flux_jobs();
        let job_refs: Vec<&[Term]> = jobs.iter().map(|j| j.as_slice()).collect();
        let flux_t = transpose_jobs(&job_refs, 5);
        let flux_t_refs: Vec<&[Term]> = flux_t.iter().map(|j| j.as_slice()).collect();
        let mut four = vec![0.0; self.sht.fourier_len(5)];
        self.sht.legendre_synthesis(&coefs, &flux_t_refs, &mut four);
        let nlon = self.grid().nlon();
        let nlat = self.grid().nlat();
        let cos_lat = self.sht.cos_lat();
        let mut q = vec![Complex64::new(0.0, 0.0); self.sht.spectral_input_len(4)];
        let mut bar_rows = vec![0.0; nlat];
        let sht = &self.sht;
        sht.latitude_pass(&four, 5, &[Weighting::Unit; 4], &mut q, &mut bar_rows, 1, |j, input, out, bar| {
            let (wv, ws) = (sht.weight(Weighting::Vector, j), sht.weight(Weighting::Scalar, j));
            let row = |f: usize| &input[f * nlon..(f + 1) * nlon];
            let (la, lb, lc, ld, le) = (row(0), row(1), row(2), row(3), row(4));
            let b = &r.base[j * 4 * nlon..(j + 1) * 4 * nlon];
            let (zf, pp, uu, vv) = (&b[..nlon], &b[nlon..2 * nlon], &b[2 * nlon..3 * nlon], &b[3 * nlon..]);
            let c2 = 1.0 / (cos_lat[j] * cos_lat[j]);
            let mut acc = 0.0;
            for i in 0..nlon {
                let (a, b, c, d, e) = (wv * la[i], wv * lb[i], wv * lc[i], wv * ld[i], ws * le[i]);
                let dphi = c * uu[i] + d * vv[i];
                out[i] = a * uu[i] + b * vv[i];
                out[nlon + i] = dphi;
                out[2 * nlon + i] = a * zf[i] + c * pp[i] + e * c2 * uu[i];
                out[3 * nlon + i] = b * zf[i] + d * pp[i] + e * c2 * vv[i];
                acc -= dphi;
            }
            bar[0] = acc;
        });
        // The state synthesis transposed: an unweighted analysis, times c_m.
        let syn = self.state_jobs();
        let syn_refs: Vec<&[Term]> = syn.iter().map(|j| j.as_slice()).collect();
        let syn_t = transpose_jobs(&syn_refs, 4);
        let syn_t_refs: Vec<&[Term]> = syn_t.iter().map(|j| j.as_slice()).collect();
        let mut outs: Vec<Vec<Complex64>> = (0..4).map(|_| tr.zeros()).collect();
        let mut refs: Vec<&mut [Complex64]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.sht.legendre_analysis(&q, 4, &syn_t_refs, &mut refs);
        outs.iter_mut().for_each(|spec| self.sht.double_waves(spec));
        add(&mut lam.vor, &outs[0]);
        add(&mut lam.phi, &outs[1]);
        add(&mut lam.vor, &tr.inverse_laplacian(&outs[2], a));
        add(&mut lam.div, &tr.inverse_laplacian(&outs[3], a));
        bar_rows.iter().sum()
    }

    /// The time step `Δ` of an update (`dt` for the forward first step, `2dt` for the
    /// leapfrog) and the drag rate (s⁻¹).
    pub(super) fn step_constants(&self, first: bool) -> (f64, f64) {
        let dt = self.params.dt;
        let delta = if first { dt } else { 2.0 * dt };
        let drag =
            self.forcing.as_ref().and_then(|f| f.jet_drag.as_ref()).map(|j| 1.0 / j.timescale).unwrap_or(0.0);
        (delta, drag)
    }
}

impl SwTangent<'_> {
    /// Model steps linearised.
    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// `d ← M' d`: the perturbation of the initial state carried to the final one.
    pub fn tangent(&self, d: &mut SwState) {
        let m = self.model;
        let tr = *m.truncation();
        let phi_bar = self.phi_bar;
        let dbar = d.phi[0].re * std::f64::consts::FRAC_1_SQRT_2;
        let mut lv = Levels { prev: d.clone(), curr: d.clone() };
        for r in &self.steps {
            let t = m.tangent_tendencies(&lv.curr, r, dbar);
            let (delta, drag) = m.step_constants(r.first);
            let h = 0.5 * delta;
            let old = if r.first { &lv.curr } else { &lv.prev };
            let mut next = zeros(m);
            for (k, (_, n)) in tr.modes().enumerate() {
                let lam = m.eig[n];
                let nd = t[1][k] + t[3][k] * lam;
                let (d_old, p_old) = (old.div[k], old.phi[k]);
                let denom = 1.0 + h * h * phi_bar * lam;
                let p_new = (p_old * (1.0 - h * h * phi_bar * lam) + t[2][k] * delta
                    - d_old * (delta * phi_bar)
                    - nd * (h * delta * phi_bar))
                    / denom
                    + r.dp_dbar[k] * dbar;
                let d_new = d_old + nd * delta + (p_new + p_old) * (h * lam);
                let z_new = old.vor[k] + t[0][k] * delta;
                let nu = m.hyper[n];
                next.vor[k] = z_new / (1.0 + delta * (nu + drag));
                next.div[k] = d_new / (1.0 + delta * (nu + drag));
                next.phi[k] = if n == 0 { p_new } else { p_new / (1.0 + delta * nu) };
            }
            let nu_ra = m.params.robert;
            if !r.first && nu_ra > 0.0 {
                let alpha = m.params.williams;
                let c = &mut lv.curr;
                for (cur, (prv, nxt)) in [
                    (&mut c.vor, (&lv.prev.vor, &mut next.vor)),
                    (&mut c.div, (&lv.prev.div, &mut next.div)),
                    (&mut c.phi, (&lv.prev.phi, &mut next.phi)),
                ] {
                    for k in 0..cur.len() {
                        let dd = (prv[k] - cur[k] * 2.0 + nxt[k]) * (0.5 * nu_ra);
                        cur[k] += dd * alpha;
                        nxt[k] -= dd * (1.0 - alpha);
                    }
                }
            }
            lv.prev = std::mem::replace(&mut lv.curr, next);
        }
        *d = lv.curr;
    }

    /// `λ ← M'ᵀ λ`: the adjoint of [`Self::tangent`], backwards over the recorded steps.
    pub fn adjoint(&self, lam: &mut SwState) {
        let m = self.model;
        let tr = *m.truncation();
        let phi_bar = self.phi_bar;
        let mut lbar = 0.0;
        // After the last step only the current level is read.
        let mut lv = Levels { prev: zeros(m), curr: lam.clone() };
        for r in self.steps.iter().rev() {
            let (delta, drag) = m.step_constants(r.first);
            let h = 0.5 * delta;
            // Undo `prev ← filtered curr, curr ← filtered next`.
            let mut lcur = std::mem::replace(&mut lv.prev, zeros(m));
            let mut lnext = std::mem::replace(&mut lv.curr, zeros(m));
            let mut lprev = zeros(m);
            let nu_ra = m.params.robert;
            if !r.first && nu_ra > 0.0 {
                let (alpha, c) = (m.params.williams, 0.5 * nu_ra);
                for (cur, (prv, nxt)) in [
                    (&mut lcur.vor, (&mut lprev.vor, &mut lnext.vor)),
                    (&mut lcur.div, (&mut lprev.div, &mut lnext.div)),
                    (&mut lcur.phi, (&mut lprev.phi, &mut lnext.phi)),
                ] {
                    for k in 0..cur.len() {
                        let ld = cur[k] * alpha - nxt[k] * (1.0 - alpha);
                        prv[k] += ld * c;
                        cur[k] -= ld * (2.0 * c);
                        nxt[k] += ld * c;
                    }
                }
            }
            // The update, coefficient by coefficient.
            let mut lt: Vec<Vec<Complex64>> = (0..4).map(|_| tr.zeros()).collect();
            let mut lold = zeros(m);
            for (k, (_, n)) in tr.modes().enumerate() {
                let lam_n = m.eig[n];
                let nu = m.hyper[n];
                let lz_new = lnext.vor[k] / (1.0 + delta * (nu + drag));
                let ld_new = lnext.div[k] / (1.0 + delta * (nu + drag));
                let mut lp_new = if n == 0 { lnext.phi[k] } else { lnext.phi[k] / (1.0 + delta * nu) };
                // d_new = d_old + nd Δ + (p_new + p_old) h λ
                let mut ld_old = ld_new;
                let mut lnd = ld_new * delta;
                lp_new += ld_new * (h * lam_n);
                let mut lp_old = ld_new * (h * lam_n);
                // z_new = z_old + N_ζ Δ
                lold.vor[k] = lz_new;
                lt[0][k] = lz_new * delta;
                // p_new = (p_old (1 − h²Φ̄λ) + N_Φ Δ − d_old ΔΦ̄ − nd hΔΦ̄) / denom + ∂p/∂Φ̄ δΦ̄
                let denom = 1.0 + h * h * phi_bar * lam_n;
                lbar += real_dot(&[r.dp_dbar[k]], &[lp_new]);
                lp_old += lp_new * ((1.0 - h * h * phi_bar * lam_n) / denom);
                lt[2][k] = lp_new * (delta / denom);
                ld_old -= lp_new * (delta * phi_bar / denom);
                lnd -= lp_new * (h * delta * phi_bar / denom);
                // nd = N_D + E λ
                lt[1][k] = lnd;
                lt[3][k] = lnd * lam_n;
                lold.div[k] = ld_old;
                lold.phi[k] = lp_old;
            }
            // The tendencies were formed at the current level.
            lbar += m.adjoint_tendencies(&lt, r, &mut lcur);
            let target = if r.first { &mut lcur } else { &mut lprev };
            add(&mut target.vor, &lold.vor);
            add(&mut target.div, &lold.div);
            add(&mut target.phi, &lold.phi);
            lv = Levels { prev: lprev, curr: lcur };
        }
        // Both levels start as the initial state; Φ̄ is its mean geopotential.
        let mut out = lv.curr;
        add(&mut out.vor, &lv.prev.vor);
        add(&mut out.div, &lv.prev.div);
        add(&mut out.phi, &lv.prev.phi);
        out.phi[0].re += lbar * std::f64::consts::FRAC_1_SQRT_2;
        *lam = out;
    }
}
