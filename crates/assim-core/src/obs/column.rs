//! Observation operators on a multi-level state (the primitive-equation bed): a microwave
//! sounder's brightness temperatures (linear, with the sparse adjoint) and a geostationary-like
//! field of outgoing long-wave radiation (nonlinear, with its tangent-linear and the adjoint of
//! that).
//!
//! Sounder channel `c` at a point (DESIGN.md §5): `Tb_c = Σ_k W_{c,k} T_k + τ_c(1) T_s`, with the
//! transmittance from level σ to space `τ_c(σ) = exp(−τ_{0,c} σ²)` and the layer weights
//! `W_{c,k} = τ_c(σ_{k−½}) − τ_c(σ_{k+½})`; so `Σ_k W_{c,k} + τ_c(1) = τ_c(0) = 1` (a weighting
//! function integrates to one), and `W_c` peaks at `σ = 1/√(2 τ_{0,c})`. The dry model has no
//! skin temperature: `T_s` is the lowest level's temperature.
//!
//! OLR over a box of grid points: the box mean of `σ_SB (Σ_k w_k T_k⁴ + w_s T_s⁴)` with a broad
//! grey weighting `w` of the same form (peak at σ = 0.5 by default: the mid-troposphere, where
//! an emission temperature of ≈ 255 K gives Earth's ≈ 240 W m⁻²).

use faer::Mat;

use super::{ObsOperator, SparseLinear};
use crate::AssimError;
use crate::grid::Bilinear;

/// Stefan–Boltzmann constant (W m⁻² K⁻⁴).
pub const STEFAN_BOLTZMANN: f64 = 5.670_374_419e-8;

/// How a multi-level state vector is laid out: `T`, `u`, `v` on `nlev` levels (top first), then
/// `p_s`, each field `npts` grid points (`(variable, level, lat, lon)`, DESIGN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnLayout {
    /// Number of levels `L`.
    pub nlev: usize,
    /// Grid points per field.
    pub npts: usize,
}

impl ColumnLayout {
    /// State dimension `(3L + 1) · npts`.
    pub fn nx(&self) -> usize {
        (3 * self.nlev + 1) * self.npts
    }

    /// Index of temperature at level `k`, point `i`.
    pub fn temp(&self, k: usize, i: usize) -> usize {
        k * self.npts + i
    }

    /// Index of the eastward wind at level `k`, point `i`.
    pub fn u(&self, k: usize, i: usize) -> usize {
        (self.nlev + k) * self.npts + i
    }

    /// Index of the northward wind at level `k`, point `i`.
    pub fn v(&self, k: usize, i: usize) -> usize {
        (2 * self.nlev + k) * self.npts + i
    }

    /// Index of the surface pressure at point `i`.
    pub fn ps(&self, i: usize) -> usize {
        3 * self.nlev * self.npts + i
    }
}

/// One channel's weighting over the σ layers and its surface term.
#[derive(Clone, Debug, PartialEq)]
pub struct Channel {
    /// `W_{c,k}` per layer (top first).
    pub weights: Vec<f64>,
    /// The surface term `τ_c(1)`.
    pub surface: f64,
}

/// How far a channel's weights may sum from one (rounding of user-given weights).
pub const CHANNEL_SUM_TOLERANCE: f64 = 1e-6;

impl Channel {
    /// The channel of transmittance `exp(−τ0 σ²)` whose weighting function peaks at
    /// `sigma_peak` (`τ0 = 1/(2 σ_peak²)`), on the layers of `half_levels` (`L + 1`, 0 to 1).
    pub fn peaking_at(sigma_peak: f64, half_levels: &[f64]) -> Result<Self, AssimError> {
        if !(sigma_peak > 0.0 && sigma_peak <= 1.0) {
            return Err(AssimError::Input(format!(
                "a channel's weighting function must peak inside the atmosphere, 0 < σ ≤ 1 (got {sigma_peak}): \
                 above the model top there is nothing to observe"
            )));
        }
        let tau0 = 0.5 / (sigma_peak * sigma_peak);
        let tau = |s: f64| (-tau0 * s * s).exp();
        let weights = half_levels.windows(2).map(|w| tau(w[0]) - tau(w[1])).collect();
        Self::from_weights(weights, tau(1.0))
    }

    /// A channel from explicit weights; they must be finite, ≥ 0 and, with the surface term,
    /// sum to one.
    pub fn from_weights(weights: Vec<f64>, surface: f64) -> Result<Self, AssimError> {
        if weights.iter().chain([&surface]).any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(AssimError::Input("a channel's weights must be finite and ≥ 0".into()));
        }
        let total: f64 = weights.iter().sum::<f64>() + surface;
        if (total - 1.0).abs() > CHANNEL_SUM_TOLERANCE {
            return Err(AssimError::Input(format!(
                "a channel's weighting function (layers plus surface) integrates to {total:.6}, not 1"
            )));
        }
        Ok(Self { weights, surface })
    }

    /// The weight of layer `k` with the surface term folded into the lowest layer (the dry
    /// model's surface temperature is the lowest level's).
    pub fn layer_weight(&self, k: usize) -> f64 {
        if k + 1 == self.weights.len() { self.weights[k] + self.surface } else { self.weights[k] }
    }

    /// σ of the layer with the largest weight (full levels `full`).
    pub fn peak(&self, full: &[f64]) -> f64 {
        let k =
            (0..self.weights.len()).max_by(|&a, &b| self.weights[a].total_cmp(&self.weights[b])).unwrap_or(0);
        full[k]
    }
}

/// Checks that `channels` all have `nlev` layer weights.
fn check_channels(channels: &[Channel], nlev: usize) -> Result<(), AssimError> {
    if let Some((c, ch)) = channels.iter().enumerate().find(|(_, ch)| ch.weights.len() != nlev) {
        return Err(AssimError::Input(format!(
            "channel {c} has {} layer weights; the state has {nlev} levels",
            ch.weights.len()
        )));
    }
    Ok(())
}

/// The sounder operator: for each point of `points` (bilinear weights on the grid) and each
/// channel, one brightness temperature (K); rows ordered point-major. Linear in `T`; applied
/// from the points and channels (no stored matrix: a window of swaths holds thousands of rows).
#[derive(Clone, Debug)]
pub struct Sounder {
    layout: ColumnLayout,
    points: Bilinear,
    /// Per channel, the layer weights with the surface term folded in (top first).
    weights: Vec<Vec<f64>>,
}

impl Sounder {
    /// The sounder of `channels` at `points`; every channel must have the state's levels.
    pub fn new(layout: ColumnLayout, points: Bilinear, channels: &[Channel]) -> Result<Self, AssimError> {
        check_channels(channels, layout.nlev)?;
        let weights =
            channels.iter().map(|c| (0..layout.nlev).map(|k| c.layer_weight(k)).collect()).collect();
        Ok(Self { layout, points, weights })
    }

    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.weights.len()
    }
}

impl ObsOperator for Sounder {
    fn n_obs(&self) -> usize {
        self.points.n_points() * self.weights.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        let lay = self.layout;
        let nc = self.weights.len();
        for p in 0..self.points.n_points() {
            let (idx, w) = self.points.row(p);
            let column: Vec<f64> = (0..lay.nlev)
                .map(|k| idx.iter().zip(w).map(|(&i, &wi)| wi * x[lay.temp(k, i)]).sum())
                .collect();
            for (c, wc) in self.weights.iter().enumerate() {
                y[p * nc + c] = wc.iter().zip(&column).map(|(a, t)| a * t).sum();
            }
        }
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        None
    }

    fn is_linear(&self) -> bool {
        true
    }

    fn adjoint(&self, y: &[f64], out: &mut [f64]) -> bool {
        let lay = self.layout;
        let nc = self.weights.len();
        out.fill(0.0);
        for p in 0..self.points.n_points() {
            let (idx, w) = self.points.row(p);
            for k in 0..lay.nlev {
                let col: f64 = (0..nc).map(|c| self.weights[c][k] * y[p * nc + c]).sum();
                for (&i, &wi) in idx.iter().zip(w) {
                    out[lay.temp(k, i)] += wi * col;
                }
            }
        }
        true
    }

    /// Linear: one row per point and channel, the channel's layer weights times the point's
    /// bilinear weights on each level's temperature.
    fn jacobian(&self, x: &[f64]) -> Option<SparseLinear> {
        let lay = self.layout;
        let mut h = SparseLinear::new(x.len());
        for p in 0..self.points.n_points() {
            let (idx, w) = self.points.row(p);
            for wc in &self.weights {
                h.push_row(
                    (0..lay.nlev)
                        .flat_map(|k| idx.iter().zip(w).map(move |(&i, &wi)| (lay.temp(k, i), wc[k] * wi))),
                );
            }
        }
        Some(h)
    }
}

/// Outgoing long-wave radiation (W m⁻²) averaged over boxes of grid points: nonlinear in `T`.
#[derive(Clone, Debug)]
pub struct Olr {
    nx: usize,
    /// Per observation: the (state index of T_k at a point, weight) pairs, weights including
    /// the box mean and σ_SB.
    rows: Vec<Vec<(usize, f64)>>,
}

impl Olr {
    /// OLR over `boxes` (each a list of grid-point indices) with the grey weighting `channel`.
    pub fn new(layout: ColumnLayout, boxes: &[Vec<usize>], channel: &Channel) -> Result<Self, AssimError> {
        check_channels(std::slice::from_ref(channel), layout.nlev)?;
        let mut rows = Vec::with_capacity(boxes.len());
        for (b, pts) in boxes.iter().enumerate() {
            if pts.is_empty() || pts.iter().any(|&i| i >= layout.npts) {
                return Err(AssimError::Input(format!("OLR box {b} is empty or off the grid")));
            }
            let m = STEFAN_BOLTZMANN / pts.len() as f64;
            let mut row = Vec::with_capacity(layout.nlev * pts.len());
            for k in 0..layout.nlev {
                let wk = channel.layer_weight(k);
                row.extend(pts.iter().map(|&i| (layout.temp(k, i), wk * m)));
            }
            rows.push(row);
        }
        Ok(Self { nx: layout.nx(), rows })
    }

    /// The tangent-linear `δy = H'(x) δx` (`4 σ_SB w T³ δT`).
    pub fn tangent_linear(&self, x: &[f64], dx: &[f64], dy: &mut [f64]) {
        for (row, d) in self.rows.iter().zip(dy.iter_mut()) {
            *d = row.iter().map(|&(i, w)| 4.0 * w * x[i].powi(3) * dx[i]).sum();
        }
    }

    /// The adjoint of the tangent-linear at `x`: `out = H'(x)ᵀ δy`.
    pub fn tangent_adjoint(&self, x: &[f64], dy: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (row, d) in self.rows.iter().zip(dy) {
            for &(i, w) in row {
                out[i] += 4.0 * w * x[i].powi(3) * d;
            }
        }
    }
}

impl ObsOperator for Olr {
    fn n_obs(&self) -> usize {
        self.rows.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        assert_eq!(x.len(), self.nx, "state does not match the OLR operator");
        for (row, yp) in self.rows.iter().zip(y.iter_mut()) {
            *yp = row.iter().map(|&(i, w)| w * x[i].powi(4)).sum();
        }
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        None
    }

    fn tangent_linear(&self, x: &[f64], dx: &[f64], dy: &mut [f64]) -> bool {
        Olr::tangent_linear(self, x, dx, dy);
        true
    }

    fn tangent_adjoint(&self, x: &[f64], dy: &[f64], out: &mut [f64]) -> bool {
        Olr::tangent_adjoint(self, x, dy, out);
        true
    }

    /// `4 σ_SB w T³` on each box's temperatures.
    fn jacobian(&self, x: &[f64]) -> Option<SparseLinear> {
        let mut h = SparseLinear::new(self.nx);
        for row in &self.rows {
            h.push_row(row.iter().map(|&(i, w)| (i, 4.0 * w * x[i].powi(3))));
        }
        Some(h)
    }
}

/// Boxes of `factor × factor` grid points (fewer at the grid's edges in latitude; longitude
/// wraps when `nlon` is not a multiple): the coarse imagery grid, row-major from the north.
pub fn coarse_boxes(nlat: usize, nlon: usize, factor: usize) -> Vec<Vec<usize>> {
    let f = factor.max(1);
    let mut out = Vec::new();
    for j0 in (0..nlat).step_by(f) {
        for i0 in (0..nlon).step_by(f) {
            let b = (j0..(j0 + f).min(nlat))
                .flat_map(|j| (i0..(i0 + f).min(nlon)).map(move |i| j * nlon + i))
                .collect();
            out.push(b);
        }
    }
    out
}

/// What a surface station reports: surface pressure and the lowest level's temperature and winds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurfaceVariable {
    /// `p_s` (Pa).
    Pressure,
    /// Lowest-level `T` (K).
    Temperature,
    /// Lowest-level `u` (m s⁻¹).
    EastwardWind,
    /// Lowest-level `v` (m s⁻¹).
    NorthwardWind,
}

/// Surface stations: for each point (bilinear weights) and each of `variables`, one value;
/// rows point-major. Linear.
pub fn surface_stations(
    layout: ColumnLayout,
    points: &Bilinear,
    variables: &[SurfaceVariable],
) -> SparseLinear {
    let entries: Vec<(usize, SurfaceVariable)> =
        (0..points.n_points()).flat_map(|p| variables.iter().map(move |&v| (p, v))).collect();
    surface_values(layout, points, &entries)
}

/// Surface values, one row per `(point, variable)` entry (an observation file's station
/// records, each of its own variable). Linear.
pub fn surface_values(
    layout: ColumnLayout,
    points: &Bilinear,
    entries: &[(usize, SurfaceVariable)],
) -> SparseLinear {
    let mut h = SparseLinear::new(layout.nx());
    let k = layout.nlev - 1;
    for &(p, var) in entries {
        let (idx, w) = points.row(p);
        let at = |i: usize| match var {
            SurfaceVariable::Pressure => layout.ps(i),
            SurfaceVariable::Temperature => layout.temp(k, i),
            SurfaceVariable::EastwardWind => layout.u(k, i),
            SurfaceVariable::NorthwardWind => layout.v(k, i),
        };
        h.push_row(idx.iter().zip(w).map(|(&i, &wi)| (at(i), wi)));
    }
    h
}

/// Which profile a radiosonde value is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileVariable {
    /// Temperature (K).
    Temperature,
    /// Eastward wind (m s⁻¹).
    EastwardWind,
    /// Northward wind (m s⁻¹).
    NorthwardWind,
}

/// Radiosondes (and aircraft): T, u, v at given pressures at given sites, interpolated linearly
/// in ln p between the model's full levels (`p_k = σ_k p_s`, with `p_s` interpolated to the
/// site). Nonlinear through `p_s`; values above the top full level or below the lowest take
/// that level's value. One row per entry `(site, pressure, variable)`.
#[derive(Clone, Debug)]
pub struct Radiosondes {
    layout: ColumnLayout,
    ln_sigma: Vec<f64>,
    points: Bilinear,
    entries: Vec<ProfileEntry>,
}

/// One profile value: the site (a point of the operator's [`Bilinear`]), its pressure (Pa) and
/// what it reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileEntry {
    /// The point index.
    pub point: usize,
    /// The pressure (Pa).
    pub pressure: f64,
    /// The variable.
    pub variable: ProfileVariable,
}

/// Where one radiosonde value sits: the two levels, the weight of the lower one and
/// `∂weight/∂p_s` (zero where clamped).
struct Bracket {
    upper: usize,
    lower: usize,
    a: f64,
    da_dps: f64,
}

impl Radiosondes {
    /// Sondes at `points` reporting `variables` at `pressures` (Pa, each inside the model:
    /// below the top full level's pressure at p_s = 1000 hPa); rows site-major, then pressure.
    pub fn new(
        layout: ColumnLayout,
        sigma_full: &[f64],
        points: Bilinear,
        pressures: &[f64],
        variables: &[ProfileVariable],
    ) -> Result<Self, AssimError> {
        let entries = (0..points.n_points())
            .flat_map(|point| {
                pressures.iter().flat_map(move |&pressure| {
                    variables.iter().map(move |&variable| ProfileEntry { point, pressure, variable })
                })
            })
            .collect();
        Self::from_entries(layout, sigma_full, points, entries)
    }

    /// One row per entry, in the entries' order (an observation file's profile records).
    pub fn from_entries(
        layout: ColumnLayout,
        sigma_full: &[f64],
        points: Bilinear,
        entries: Vec<ProfileEntry>,
    ) -> Result<Self, AssimError> {
        if sigma_full.len() != layout.nlev {
            return Err(AssimError::Input(format!(
                "{} σ levels for a state of {} levels",
                sigma_full.len(),
                layout.nlev
            )));
        }
        let top = sigma_full[0] * 1.0e5;
        if let Some(p) =
            entries.iter().map(|e| e.pressure).find(|p| !(p.is_finite() && *p >= top && *p <= 1.1e5))
        {
            return Err(AssimError::Input(format!(
                "radiosonde level {:.1} hPa lies outside the model: its top full level is σ = {:.4} ({:.1} hPa at \
                 p_s = 1000 hPa) and levels must not exceed 1100 hPa",
                p / 100.0,
                sigma_full[0],
                top / 100.0
            )));
        }
        if let Some(e) = entries.iter().find(|e| e.point >= points.n_points()) {
            return Err(AssimError::Input(format!(
                "a profile value at point {} of {} points",
                e.point,
                points.n_points()
            )));
        }
        Ok(Self { layout, ln_sigma: sigma_full.iter().map(|s| s.ln()).collect(), points, entries })
    }

    fn site_ps(&self, x: &[f64], p: usize) -> f64 {
        let (idx, w) = self.points.row(p);
        idx.iter().zip(w).map(|(&i, &wi)| wi * x[self.layout.ps(i)]).sum()
    }

    fn bracket(&self, ps: f64, pressure: f64) -> Bracket {
        let ls = (pressure / ps).ln();
        let l = &self.ln_sigma;
        let n = l.len();
        if ls <= l[0] {
            return Bracket { upper: 0, lower: 0, a: 0.0, da_dps: 0.0 };
        }
        if ls >= l[n - 1] {
            return Bracket { upper: n - 1, lower: n - 1, a: 0.0, da_dps: 0.0 };
        }
        let k = (0..n - 1).find(|&k| ls < l[k + 1]).unwrap_or(n - 2);
        let span = l[k + 1] - l[k];
        Bracket { upper: k, lower: k + 1, a: (ls - l[k]) / span, da_dps: -1.0 / (ps * span) }
    }

    fn field(&self, v: ProfileVariable, k: usize, i: usize) -> usize {
        match v {
            ProfileVariable::Temperature => self.layout.temp(k, i),
            ProfileVariable::EastwardWind => self.layout.u(k, i),
            ProfileVariable::NorthwardWind => self.layout.v(k, i),
        }
    }

    /// The value at a site of `var` on level `k` (bilinear).
    fn at(&self, x: &[f64], p: usize, var: ProfileVariable, k: usize) -> f64 {
        let (idx, w) = self.points.row(p);
        idx.iter().zip(w).map(|(&i, &wi)| wi * x[self.field(var, k, i)]).sum()
    }

    /// Visits every observation: (row, site, variable, bracket at the site's p_s).
    fn each(&self, x: &[f64], mut f: impl FnMut(usize, usize, ProfileVariable, &Bracket)) {
        let ps: Vec<f64> = (0..self.points.n_points()).map(|p| self.site_ps(x, p)).collect();
        for (row, e) in self.entries.iter().enumerate() {
            let b = self.bracket(ps[e.point], e.pressure);
            f(row, e.point, e.variable, &b);
        }
    }

    /// The tangent-linear `δy = H'(x) δx` (the profile's δX and the shift of the levels with δp_s).
    pub fn tangent_linear(&self, x: &[f64], dx: &[f64], dy: &mut [f64]) {
        self.each(x, |row, p, var, b| {
            let dps = self.site_ps(dx, p);
            let (xu, xl) = (self.at(x, p, var, b.upper), self.at(x, p, var, b.lower));
            let (du, dl) = (self.at(dx, p, var, b.upper), self.at(dx, p, var, b.lower));
            dy[row] = (1.0 - b.a) * du + b.a * dl + (xl - xu) * b.da_dps * dps;
        });
    }

    /// The adjoint of the tangent-linear at `x`: `out = H'(x)ᵀ δy`.
    pub fn tangent_adjoint(&self, x: &[f64], dy: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        let layout = self.layout;
        self.each(x, |row, p, var, b| {
            let (xu, xl) = (self.at(x, p, var, b.upper), self.at(x, p, var, b.lower));
            let (idx, w) = self.points.row(p);
            let g = dy[row];
            for (&i, &wi) in idx.iter().zip(w) {
                out[self.field(var, b.upper, i)] += (1.0 - b.a) * wi * g;
                out[self.field(var, b.lower, i)] += b.a * wi * g;
                out[layout.ps(i)] += (xl - xu) * b.da_dps * wi * g;
            }
        });
    }
}

impl ObsOperator for Radiosondes {
    fn n_obs(&self) -> usize {
        self.entries.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        assert_eq!(x.len(), self.layout.nx(), "state does not match the radiosonde operator");
        self.each(x, |row, p, var, b| {
            y[row] = (1.0 - b.a) * self.at(x, p, var, b.upper) + b.a * self.at(x, p, var, b.lower);
        });
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        None
    }

    fn tangent_linear(&self, x: &[f64], dx: &[f64], dy: &mut [f64]) -> bool {
        Radiosondes::tangent_linear(self, x, dx, dy);
        true
    }

    fn tangent_adjoint(&self, x: &[f64], dy: &[f64], out: &mut [f64]) -> bool {
        Radiosondes::tangent_adjoint(self, x, dy, out);
        true
    }

    /// Per value: the bracketing levels' bilinear weights, and the shift of the bracket with
    /// the site's `p_s` on the surface pressures.
    fn jacobian(&self, x: &[f64]) -> Option<SparseLinear> {
        let layout = self.layout;
        let mut h = SparseLinear::new(x.len());
        self.each(x, |_, p, var, b| {
            let (xu, xl) = (self.at(x, p, var, b.upper), self.at(x, p, var, b.lower));
            let (idx, w) = self.points.row(p);
            let mut row = Vec::with_capacity(3 * idx.len());
            for (&i, &wi) in idx.iter().zip(w) {
                row.push((self.field(var, b.upper, i), (1.0 - b.a) * wi));
                if b.lower != b.upper {
                    row.push((self.field(var, b.lower, i), b.a * wi));
                }
                if b.da_dps != 0.0 {
                    row.push((layout.ps(i), (xl - xu) * b.da_dps * wi));
                }
            }
            h.push_row(row);
        });
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamics::primitive::SigmaLevels;
    use crate::grid::LatLonGrid;

    fn levels() -> SigmaLevels {
        SigmaLevels::equidistant(10).unwrap()
    }

    /// The Taylor test's ratio `r(ε) / r(ε/10)` of the remainders `‖H(x + ε dx) − H(x) − ε TL‖`:
    /// 100 when `tl = H'(x) dx` (the remainder falls as ε²), 10 when it is wrong.
    fn taylor_ratio(h: &dyn ObsOperator, x: &[f64], dx: &[f64], tl: &[f64], eps: f64) -> f64 {
        let mut y0 = vec![0.0; h.n_obs()];
        h.apply(x, &mut y0);
        let remainder = |e: f64| {
            let xe: Vec<f64> = x.iter().zip(dx).map(|(a, d)| a + e * d).collect();
            let mut y = vec![0.0; h.n_obs()];
            h.apply(&xe, &mut y);
            y.iter().zip(&y0).zip(tl).map(|((a, b), t)| (a - b - e * t).powi(2)).sum::<f64>().sqrt()
        };
        remainder(eps) / remainder(eps / 10.0)
    }

    /// Channels peaking from σ = 0.1 to 0.9 integrate to one and peak where asked (to a layer).
    #[test]
    fn channels_integrate_to_one_and_peak_in_order() {
        let lv = levels();
        let mut last = 0.0;
        for peak in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] {
            let c = Channel::peaking_at(peak, lv.half()).unwrap();
            let total: f64 = c.weights.iter().sum::<f64>() + c.surface;
            assert!((total - 1.0).abs() < 1e-14);
            let p = c.peak(lv.full());
            assert!((p - peak).abs() <= 0.1 && p >= last, "peak {peak}: layer at {p}");
            last = p;
        }
        let e = Channel::from_weights(vec![0.1; 10], 0.05).unwrap_err().to_string();
        assert!(e.contains("integrates to 1.050000, not 1"), "{e}");
        assert!(Channel::peaking_at(0.0, lv.half()).unwrap_err().to_string().contains("model top"));
    }

    /// An isothermal column gives its own temperature in every channel, and σ_SB T⁴ as OLR
    /// (both because the weights integrate to one); the sounder's adjoint passes the
    /// dot-product test ⟨Hx, y⟩ = ⟨x, Hᵀy⟩ to rounding.
    #[test]
    fn isothermal_columns_and_the_sounder_adjoint() {
        let lv = levels();
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let layout = ColumnLayout { nlev: 10, npts: grid.len() };
        let pts = Bilinear::new(&grid, &[(10.0, 20.0), (-60.5, 300.0), (89.0, 5.0)]).unwrap();
        let chans: Vec<Channel> =
            [0.15, 0.3, 0.5, 0.7, 0.9].iter().map(|&p| Channel::peaking_at(p, lv.half()).unwrap()).collect();
        let h = Sounder::new(layout, pts.clone(), &chans).unwrap();
        let mut x = vec![250.0; layout.nx()];
        let mut y = vec![0.0; h.n_obs()];
        h.apply(&x, &mut y);
        assert!(y.iter().all(|t| (t - 250.0).abs() < 1e-10), "{y:?}");
        let olr = Olr::new(
            layout,
            &coarse_boxes(grid.nlat(), grid.nlon(), 4),
            &Channel::peaking_at(0.5, lv.half()).unwrap(),
        )
        .unwrap();
        let mut o = vec![0.0; olr.n_obs()];
        olr.apply(&vec![255.0; layout.nx()], &mut o);
        assert!(o.iter().all(|v| (v - STEFAN_BOLTZMANN * 255f64.powi(4)).abs() < 1e-9));
        let mut rng = crate::rng::stream(3, "sounder-adjoint");
        crate::rng::fill_normal(&mut rng, &mut x);
        let mut yr = vec![0.0; h.n_obs()];
        crate::rng::fill_normal(&mut rng, &mut yr);
        h.apply(&x, &mut y);
        let mut hty = vec![0.0; layout.nx()];
        assert!(h.adjoint(&yr, &mut hty));
        let lhs: f64 = y.iter().zip(&yr).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&hty).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        let bad = [Channel::from_weights(vec![0.5, 0.5], 0.0).unwrap()];
        assert!(Sounder::new(layout, pts, &bad).unwrap_err().to_string().contains("2 layer weights"));
    }

    /// OLR's tangent-linear against finite differences (Taylor test: the remainder falls as ε²)
    /// and its adjoint against the tangent-linear (dot-product test to rounding).
    #[test]
    fn olr_tangent_linear_and_adjoint() {
        let lv = levels();
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let layout = ColumnLayout { nlev: 10, npts: grid.len() };
        let olr = Olr::new(
            layout,
            &coarse_boxes(grid.nlat(), grid.nlon(), 8),
            &Channel::peaking_at(0.5, lv.half()).unwrap(),
        )
        .unwrap();
        let mut rng = crate::rng::stream(5, "olr-tl");
        let mut x = vec![0.0; layout.nx()];
        crate::rng::fill_normal(&mut rng, &mut x);
        x.iter_mut().for_each(|t| *t = 250.0 + 20.0 * *t);
        let mut dx = vec![0.0; layout.nx()];
        crate::rng::fill_normal(&mut rng, &mut dx);
        let p = olr.n_obs();
        let mut tl = vec![0.0; p];
        olr.tangent_linear(&x, &dx, &mut tl);
        let ratio = taylor_ratio(&olr, &x, &dx, &tl, 1e-1);
        assert!((ratio - 100.0).abs() < 5.0, "Taylor remainder ratio {ratio} (expect 100)");
        let mut dy = vec![0.0; p];
        crate::rng::fill_normal(&mut rng, &mut dy);
        let mut adj = vec![0.0; layout.nx()];
        olr.tangent_adjoint(&x, &dy, &mut adj);
        let lhs: f64 = tl.iter().zip(&dy).map(|(a, b)| a * b).sum();
        let rhs: f64 = dx.iter().zip(&adj).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs(), "{lhs} vs {rhs}");
    }

    /// Radiosondes: an isothermal, linear-in-ln-p profile is reproduced exactly at any pressure;
    /// the tangent-linear passes the Taylor test (with p_s perturbed too) and its adjoint the
    /// dot-product test; a level above the model top is refused.
    #[test]
    fn radiosondes_interpolate_in_log_pressure_with_tested_tangent_linear() {
        let lv = levels();
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let n = grid.len();
        let layout = ColumnLayout { nlev: 10, npts: n };
        let pts = Bilinear::new(&grid, &[(45.0, 10.0), (-20.0, 200.0)]).unwrap();
        let pressures = [85000.0, 70000.0, 50000.0, 30000.0, 20000.0, 10000.0];
        let vars =
            [ProfileVariable::Temperature, ProfileVariable::EastwardWind, ProfileVariable::NorthwardWind];
        let sondes = Radiosondes::new(layout, lv.full(), pts.clone(), &pressures, &vars).unwrap();
        // T = 200 + 20 ln(p/1 Pa − ...): linear in ln p with p_s = 98 000 Pa everywhere.
        let ps = 98_000.0;
        let mut x = vec![0.0; layout.nx()];
        for k in 0..10 {
            for i in 0..n {
                x[layout.temp(k, i)] = 20.0 * (lv.full()[k] * ps).ln();
                x[layout.u(k, i)] = 3.0;
            }
        }
        (0..n).for_each(|i| x[layout.ps(i)] = ps);
        let mut y = vec![0.0; sondes.n_obs()];
        sondes.apply(&x, &mut y);
        for (j, p) in pressures.iter().enumerate() {
            assert!((y[3 * j] - 20.0 * p.ln()).abs() < 1e-9, "T at {p} Pa: {}", y[3 * j]);
            assert!((y[3 * j + 1] - 3.0).abs() < 1e-12);
        }
        let mut rng = crate::rng::stream(9, "sonde-tl");
        let mut noise = vec![0.0; layout.nx()];
        crate::rng::fill_normal(&mut rng, &mut noise);
        for (xi, e) in x.iter_mut().zip(&noise) {
            *xi += 5.0 * e;
        }
        let mut dx = vec![0.0; layout.nx()];
        crate::rng::fill_normal(&mut rng, &mut dx);
        (0..n).for_each(|i| dx[layout.ps(i)] *= 300.0);
        let p = sondes.n_obs();
        let mut tl = vec![0.0; p];
        sondes.tangent_linear(&x, &dx, &mut tl);
        let ratio = taylor_ratio(&sondes, &x, &dx, &tl, 1e-2);
        assert!((ratio - 100.0).abs() < 10.0, "Taylor remainder ratio {ratio} (expect 100)");
        let mut dy = vec![0.0; p];
        crate::rng::fill_normal(&mut rng, &mut dy);
        let mut adj = vec![0.0; layout.nx()];
        sondes.tangent_adjoint(&x, &dy, &mut adj);
        let lhs: f64 = tl.iter().zip(&dy).map(|(a, b)| a * b).sum();
        let rhs: f64 = dx.iter().zip(&adj).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        let e = Radiosondes::new(layout, lv.full(), pts, &[3000.0], &vars).unwrap_err().to_string();
        assert!(e.contains("30.0 hPa lies outside the model") && e.contains("top full level"), "{e}");
    }

    /// Surface stations select p_s and the lowest level's T, u, v (dot-product test included).
    #[test]
    fn surface_stations_read_the_lowest_level() {
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let layout = ColumnLayout { nlev: 10, npts: grid.len() };
        let pts = Bilinear::new(&grid, &[(30.0, 40.0)]).unwrap();
        let vars = [
            SurfaceVariable::Pressure,
            SurfaceVariable::Temperature,
            SurfaceVariable::EastwardWind,
            SurfaceVariable::NorthwardWind,
        ];
        let h = surface_stations(layout, &pts, &vars);
        let mut x = vec![0.0; layout.nx()];
        for i in 0..grid.len() {
            x[layout.ps(i)] = 1.0e5;
            x[layout.temp(9, i)] = 290.0;
            x[layout.temp(8, i)] = 280.0;
            x[layout.u(9, i)] = 4.0;
            x[layout.v(9, i)] = -2.0;
        }
        let mut y = vec![0.0; 4];
        h.apply(&x, &mut y);
        for (a, b) in y.iter().zip([1.0e5, 290.0, 4.0, -2.0]) {
            assert!((a - b).abs() < 1e-9 * b.abs(), "{y:?}");
        }
    }

    /// The sparse Jacobian of every column operator, stacked as a window is, gives the
    /// tangent-linear (itself Taylor-tested above) to round-off, on a state with realistic
    /// temperatures and surface pressures and radiosonde levels on both sides of a bracket.
    #[test]
    fn sparse_jacobians_agree_with_the_tangent_linears() {
        let lv = levels();
        let grid = LatLonGrid::for_truncation(21).unwrap();
        let n = grid.len();
        let layout = ColumnLayout { nlev: 10, npts: n };
        let pts = Bilinear::new(&grid, &[(45.0, 10.0), (-20.0, 200.0), (88.0, 3.0)]).unwrap();
        let channels: Vec<Channel> =
            [0.2, 0.5, 0.8].iter().map(|&s| Channel::peaking_at(s, lv.half()).unwrap()).collect();
        let vars =
            [ProfileVariable::Temperature, ProfileVariable::EastwardWind, ProfileVariable::NorthwardWind];
        let parts: Vec<std::sync::Arc<dyn ObsOperator>> = vec![
            std::sync::Arc::new(surface_stations(
                layout,
                &pts,
                &[SurfaceVariable::Pressure, SurfaceVariable::Temperature],
            )),
            std::sync::Arc::new(
                Radiosondes::new(layout, lv.full(), pts.clone(), &[85000.0, 50000.0, 10000.0], &vars)
                    .unwrap(),
            ),
            std::sync::Arc::new(Sounder::new(layout, pts.clone(), &channels).unwrap()),
            std::sync::Arc::new(
                Olr::new(layout, &coarse_boxes(grid.nlat(), grid.nlon(), 8), &channels[1]).unwrap(),
            ),
        ];
        let h = super::super::Stacked::new(parts);
        let mut rng = crate::rng::stream(11, "jacobian");
        let mut x = vec![0.0; layout.nx()];
        crate::rng::fill_normal(&mut rng, &mut x);
        for k in 0..10 {
            for i in 0..n {
                x[layout.temp(k, i)] = 250.0 + 10.0 * x[layout.temp(k, i)];
            }
        }
        (0..n).for_each(|i| x[layout.ps(i)] = 1.0e5 + 1500.0 * x[layout.ps(i)]);
        let mut dx = vec![0.0; layout.nx()];
        crate::rng::fill_normal(&mut rng, &mut dx);
        (0..n).for_each(|i| dx[layout.ps(i)] *= 300.0);
        let p = h.n_obs();
        let (mut tl, mut jdx) = (vec![0.0; p], vec![0.0; p]);
        assert!(h.tangent_linear(&x, &dx, &mut tl));
        let j = h.jacobian(&x).expect("every part has a sparse Jacobian");
        assert_eq!((j.n_obs(), j.nx()), (p, layout.nx()));
        j.apply(&dx, &mut jdx);
        for (r, (a, b)) in tl.iter().zip(&jdx).enumerate() {
            // Sums of at most a few hundred terms of size ≤ 1e3: round-off well under 1e-9.
            assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "row {r}: TL {a} vs Jacobian {b}");
        }
    }
}
