//! Localisation geometry: which observations a local analysis sees, and with what weight.

/// Splits the state into local analysis batches and tapers observations by distance.
pub trait Localizer: Send + Sync {
    /// Groups of state indices analysed together (each batch shares its observations).
    fn batches(&self) -> &[Vec<usize>];

    /// Distance from a batch to every observation (length `P`), in the units of `loc_rad`.
    fn batch_to_obs_distances(&self, batch: &[usize]) -> Vec<f64>;

    /// Observations within reach of a batch and their Gaspari–Cohn coefficients.
    ///
    /// Follows DAPPER: half-width `1.82·radius` (so the taper is `e^{-1/2}` at `radius`),
    /// coefficients `≤ 1e-3` dropped. An infinite radius keeps every observation with
    /// coefficient 1, which turns the LETKF into the global ETKF.
    fn obs_taper(&self, batch: &[usize], radius: f64) -> (Vec<usize>, Vec<f64>) {
        let dists = self.batch_to_obs_distances(batch);
        let mut idx = Vec::new();
        let mut coeff = Vec::new();
        for (p, d) in dists.into_iter().enumerate() {
            let c = if radius.is_infinite() { 1.0 } else { gaspari_cohn(d, 1.82 * radius) };
            if c > 1e-3 {
                idx.push(p);
                coeff.push(c);
            }
        }
        (idx, coeff)
    }

    /// How many consecutive batches share their horizontal position (a column's levels): one
    /// search for nearby observations can serve such a run (see [`Localizer::obs_tapers`]).
    fn run_len(&self) -> usize {
        1
    }

    /// [`Localizer::obs_taper`] of each batch of `run`, consecutive batches of one run of
    /// [`Localizer::run_len`]; a localiser whose runs share a position searches once.
    fn obs_tapers(&self, run: &[Vec<usize>], radius: f64) -> Vec<(Vec<usize>, Vec<f64>)> {
        run.iter().map(|b| self.obs_taper(b, radius)).collect()
    }
}

/// The Gaspari & Cohn (1999) fifth-order compactly supported taper, half-width `c`
/// (zero beyond `2c`).
pub fn gaspari_cohn(dist: f64, c: f64) -> f64 {
    let r = dist / c;
    if r <= 1.0 {
        let (r2, r3) = (r * r, r * r * r);
        1.0 + r2 * (-r3 / 4.0 + r2 / 2.0) + r3 * (5.0 / 8.0) - r2 * (5.0 / 3.0)
    } else if r <= 2.0 {
        let (r2, r3) = (r * r, r * r * r);
        r2 * (r3 / 12.0 - r2 / 2.0) + r3 * (5.0 / 8.0) + r2 * (5.0 / 3.0) - r * 5.0 + 4.0 - (2.0 / 3.0) / r
    } else {
        0.0
    }
}

/// A periodic 1-D grid of `nx` points (Lorenz-96), observed at given grid indices, analysed in
/// batches of `batch` neighbouring points (DAPPER's `nd_Id_localization((Nx,), (2,))`).
#[derive(Clone, Debug)]
pub struct PeriodicLine {
    nx: usize,
    obs_sites: Vec<usize>,
    batches: Vec<Vec<usize>>,
}

impl PeriodicLine {
    /// A ring of `nx` points with observations at `obs_sites`, batches of `batch` points.
    pub fn new(nx: usize, obs_sites: Vec<usize>, batch: usize) -> Self {
        let batch = batch.max(1);
        let batches = (0..nx).step_by(batch).map(|s| (s..(s + batch).min(nx)).collect()).collect();
        PeriodicLine { nx, obs_sites, batches }
    }

    fn dist(&self, i: usize, j: usize) -> f64 {
        let d = i.abs_diff(j);
        d.min(self.nx - d) as f64
    }
}

impl Localizer for PeriodicLine {
    fn batches(&self) -> &[Vec<usize>] {
        &self.batches
    }

    fn batch_to_obs_distances(&self, batch: &[usize]) -> Vec<f64> {
        self.obs_sites
            .iter()
            .map(|&o| batch.iter().map(|&i| self.dist(i, o)).sum::<f64>() / batch.len() as f64)
            .collect()
    }
}

/// Points of a lat-lon grid (every variable at a point analysed together), observed at
/// arbitrary locations; distances are great-circle distances in km.
#[derive(Clone, Debug)]
pub struct GreatCircle {
    grid_xyz: Vec<[f64; 3]>,
    obs_xyz: Vec<[f64; 3]>,
    batches: Vec<Vec<usize>>,
}

/// The unit vector of a position (degrees): chordal distances between them are positive-definite
/// distances on the sphere.
pub fn unit_vector(lat_deg: f64, lon_deg: f64) -> [f64; 3] {
    let (la, lo) = (lat_deg.to_radians(), lon_deg.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

impl GreatCircle {
    /// `n_vars` fields on `grid` stored `(variable, lat, lon)`, observations at `obs`
    /// (latitude, longitude in degrees).
    pub fn new(grid: &crate::grid::LatLonGrid, n_vars: usize, obs: &[(f64, f64)]) -> Self {
        let (la, lo) = (grid.lat_degrees(), grid.lon_degrees());
        let g = grid.len();
        let grid_xyz = (0..g).map(|p| unit_vector(la[p / grid.nlon()], lo[p % grid.nlon()])).collect();
        let obs_xyz = obs.iter().map(|&(a, b)| unit_vector(a, b)).collect();
        let batches = (0..g).map(|p| (0..n_vars).map(|v| v * g + p).collect()).collect();
        GreatCircle { grid_xyz, obs_xyz, batches }
    }

    /// The observations within `reach_km` of grid point `p` and their great-circle distances
    /// (km), in observation order: a dot-product test against the cap first, the exact distance
    /// only inside it (the taper is zero outside, so this is what the full distance list gives,
    /// at a fraction of the cost: a local analysis reaches a small part of the globe).
    fn near(&self, p: usize, reach_km: f64) -> impl Iterator<Item = (usize, f64)> + '_ {
        let a = self.grid_xyz[p];
        let angle = reach_km / super::records::EARTH_RADIUS_KM;
        // A hair wider than the cap, so rounding in the test never drops an observation at its edge.
        let cos_min = if angle * 1.001 >= std::f64::consts::PI { -2.0 } else { (angle * 1.001).cos() };
        self.obs_xyz.iter().enumerate().filter_map(move |(j, b)| {
            let c = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
            (c >= cos_min).then(|| (j, arc_km(&a, b)))
        })
    }
}

/// The great-circle distance (km) between unit vectors `a` and `b`, as atan2(|a×b|, a·b):
/// accurate at every distance.
fn arc_km(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let cross = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    let s = (cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]).sqrt();
    let c = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    s.atan2(c) * super::records::EARTH_RADIUS_KM
}

impl Localizer for GreatCircle {
    fn batches(&self) -> &[Vec<usize>] {
        &self.batches
    }

    fn batch_to_obs_distances(&self, batch: &[usize]) -> Vec<f64> {
        let a = self.grid_xyz[batch[0] % self.grid_xyz.len()];
        self.obs_xyz.iter().map(|b| arc_km(&a, b)).collect()
    }

    /// The default taper, over the observations inside the taper's reach only.
    fn obs_taper(&self, batch: &[usize], radius: f64) -> (Vec<usize>, Vec<f64>) {
        if radius.is_infinite() {
            return (0..self.obs_xyz.len()).map(|p| (p, 1.0)).unzip();
        }
        let half = 1.82 * radius;
        self.near(batch[0] % self.grid_xyz.len(), 2.0 * half)
            .map(|(p, d)| (p, gaspari_cohn(d, half)))
            .filter(|&(_, c)| c > 1e-3)
            .unzip()
    }
}

/// A multi-level state on a lat-lon grid (`T`, `u`, `v` on `L` levels, then `p_s`; see
/// [`super::column::ColumnLayout`]) localised in the horizontal (great-circle km, the LETKF's
/// `loc_rad`) and in the vertical (`|ln p_obs − ln p_level|`, the half-width `vertical_scale`
/// fixed here): the taper is the product of the two Gaspari–Cohn tapers. A batch is one point
/// and level (its T, u, v; the lowest level's batch holds p_s too); a level sits at
/// `σ_k · 1000 hPa` (the reference surface pressure), an observation at its own pressure.
/// Batches come column by column (a point's `L` levels in a run), so that one horizontal
/// search serves the whole column ([`Localizer::obs_tapers`]).
#[derive(Clone, Debug)]
pub struct ColumnLocalizer {
    horizontal: GreatCircle,
    /// ln p (Pa) of each level.
    level_ln_p: Vec<f64>,
    /// ln p (Pa) of each observation.
    obs_ln_p: Vec<f64>,
    vertical_scale: f64,
}

impl ColumnLocalizer {
    /// The geometry of `layout`'s state on `grid` with full levels `sigma`, observations at
    /// `obs` (latitude, longitude in degrees) and pressures `obs_pressure` (Pa), and the vertical
    /// localisation radius `vertical_scale` (in ln p; infinite for none).
    pub fn new(
        grid: &crate::grid::LatLonGrid,
        sigma: &[f64],
        obs: &[(f64, f64)],
        obs_pressure: &[f64],
        vertical_scale: f64,
    ) -> Result<Self, crate::AssimError> {
        if obs.len() != obs_pressure.len() {
            return Err(crate::AssimError::Input(format!(
                "{} observation locations but {} pressures",
                obs.len(),
                obs_pressure.len()
            )));
        }
        if vertical_scale.is_nan()
            || vertical_scale <= 0.0
            || obs_pressure.iter().any(|p| !(p.is_finite() && *p > 0.0))
        {
            return Err(crate::AssimError::Input(
                "vertical localisation needs a positive scale and positive observation pressures".into(),
            ));
        }
        let (g, l) = (grid.len(), sigma.len());
        let mut horizontal = GreatCircle::new(grid, 1, obs);
        let mut batches = Vec::with_capacity(g * l);
        for p in 0..g {
            for k in 0..l {
                let mut b = vec![k * g + p, (l + k) * g + p, (2 * l + k) * g + p];
                if k + 1 == l {
                    b.push(3 * l * g + p);
                }
                batches.push(b);
            }
        }
        horizontal.batches = batches;
        Ok(Self {
            horizontal,
            level_ln_p: sigma.iter().map(|s| (s * 1.0e5).ln()).collect(),
            obs_ln_p: obs_pressure.iter().map(|p| p.ln()).collect(),
            vertical_scale,
        })
    }

    /// The grid point and level of a batch (its first index is T at level k, point p: k·g + p).
    fn point_level(&self, batch: &[usize]) -> (usize, usize) {
        let g = self.horizontal.grid_xyz.len();
        (batch[0] % g, batch[0] / g)
    }

    /// The observations within the horizontal taper's reach of `point` and their horizontal
    /// coefficients (before the `1e-3` cut, which applies to the product).
    fn horizontal_taper(&self, point: usize, radius: f64) -> Vec<(usize, f64)> {
        if radius.is_infinite() {
            return (0..self.obs_ln_p.len()).map(|p| (p, 1.0)).collect();
        }
        let half = 1.82 * radius;
        self.horizontal.near(point, 2.0 * half).map(|(p, d)| (p, gaspari_cohn(d, half))).collect()
    }

    /// The product taper at `level` of the horizontal coefficients `near`, cut at `1e-3`.
    fn level_taper(&self, near: &[(usize, f64)], level: usize) -> (Vec<usize>, Vec<f64>) {
        let lnp = self.level_ln_p[level];
        near.iter()
            .map(|&(p, h)| {
                let v = if self.vertical_scale.is_infinite() {
                    1.0
                } else {
                    gaspari_cohn((self.obs_ln_p[p] - lnp).abs(), 1.82 * self.vertical_scale)
                };
                (p, h * v)
            })
            .filter(|&(_, c)| c > 1e-3)
            .unzip()
    }
}

impl Localizer for ColumnLocalizer {
    fn batches(&self) -> &[Vec<usize>] {
        self.horizontal.batches()
    }

    /// Horizontal distances (km); the vertical part enters [`Localizer::obs_taper`].
    fn batch_to_obs_distances(&self, batch: &[usize]) -> Vec<f64> {
        self.horizontal.batch_to_obs_distances(batch)
    }

    fn obs_taper(&self, batch: &[usize], radius: f64) -> (Vec<usize>, Vec<f64>) {
        let (point, level) = self.point_level(batch);
        self.level_taper(&self.horizontal_taper(point, radius), level)
    }

    fn run_len(&self) -> usize {
        self.level_ln_p.len()
    }

    fn obs_tapers(&self, run: &[Vec<usize>], radius: f64) -> Vec<(Vec<usize>, Vec<f64>)> {
        let Some(first) = run.first() else { return Vec::new() };
        let point = self.point_level(first).0;
        let near = self.horizontal_taper(point, radius);
        run.iter()
            .map(|b| {
                let (p, level) = self.point_level(b);
                if p == point { self.level_taper(&near, level) } else { self.obs_taper(b, radius) }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaspari_cohn_shape() {
        let c = 3.0;
        assert_eq!(gaspari_cohn(0.0, c), 1.0);
        assert!(gaspari_cohn(2.0 * c, c).abs() < 1e-14);
        assert_eq!(gaspari_cohn(2.5 * c, c), 0.0);
        // continuous at r = 1
        let below = gaspari_cohn(c * (1.0 - 1e-9), c);
        let above = gaspari_cohn(c * (1.0 + 1e-9), c);
        assert!((below - above).abs() < 1e-8);
        // DAPPER's calibration c = 1.82·radius makes the taper ≈ e^{-1/2} = 0.6065 at
        // d = radius (0.6336 exactly, as a Gaussian of that radius would be roughly).
        assert!((gaspari_cohn(1.0, 1.82) - 0.633_564_382_921_294_5).abs() < 1e-12);
    }

    #[test]
    fn great_circle_distances() {
        let grid = crate::grid::LatLonGrid::for_truncation(21).unwrap();
        let loc = GreatCircle::new(&grid, 3, &[(90.0, 0.0), (0.0, 0.0)]);
        assert_eq!(loc.batches().len(), grid.len());
        let p = 16 * 64; // first row south of the equator, longitude 0
        assert_eq!(loc.batches()[p], vec![p, grid.len() + p, 2 * grid.len() + p]);
        let d = loc.batch_to_obs_distances(&loc.batches()[p]);
        let lat = grid.lat()[16];
        let r = crate::obs::records::EARTH_RADIUS_KM;
        assert!((d[0] - (std::f64::consts::FRAC_PI_2 - lat) * r).abs() < 1e-6, "{d:?}");
        assert!((d[1] - lat.abs() * r).abs() < 1e-6, "{d:?}");
    }

    /// The cap test before the exact distance changes nothing: every batch's taper equals the
    /// one from the full distance list, bit for bit, at radii from a few hundred km to beyond
    /// half the globe (where the cap covers everything) and for an infinite radius.
    #[test]
    fn taper_inside_the_cap_is_the_full_taper() {
        let grid = crate::grid::LatLonGrid::for_truncation(21).unwrap();
        let mut rng = crate::rng::stream(3, "localisation test");
        let obs: Vec<(f64, f64)> = (0..400)
            .map(|_| {
                let (u, v) = (crate::rng::uniform(&mut rng), crate::rng::uniform(&mut rng));
                ((2.0 * u - 1.0).asin().to_degrees(), 360.0 * v)
            })
            .collect();
        let loc = GreatCircle::new(&grid, 3, &obs);
        for radius in [300.0, 1500.0, 4000.0, f64::INFINITY] {
            for batch in loc.batches().iter().step_by(37) {
                let full: (Vec<usize>, Vec<f64>) = loc
                    .batch_to_obs_distances(batch)
                    .into_iter()
                    .enumerate()
                    .map(|(p, d)| {
                        (p, if radius.is_infinite() { 1.0 } else { gaspari_cohn(d, 1.82 * radius) })
                    })
                    .filter(|&(_, c)| c > 1e-3)
                    .unzip();
                assert_eq!(loc.obs_taper(batch, radius), full, "radius {radius}");
            }
        }
    }

    #[test]
    fn periodic_batches_and_distances() {
        let l = PeriodicLine::new(40, (0..40).collect(), 2);
        assert_eq!(l.batches().len(), 20);
        let d = l.batch_to_obs_distances(&[0, 1]);
        assert_eq!(d[0], 0.5);
        assert_eq!(d[39], 1.5);
        assert_eq!(d[20], 19.5);
        let (idx, _) = l.obs_taper(&[0, 1], 4.0);
        // Coefficients > 1e-3 reach d = 12.5 (GC = 2.2e-3) but not 13.5 (1.3e-4): 13 per side.
        assert_eq!(idx.len(), 26);
    }

    /// Column localisation: batches are (level, point) groups holding T, u, v (and p_s at the
    /// bottom); the taper is the horizontal one times the vertical one in ln p, 1 at the
    /// observation's own level and point, zero two scales away in ln p.
    #[test]
    fn column_localizer_tapers_in_the_horizontal_and_in_ln_p() {
        let grid = crate::grid::LatLonGrid::for_truncation(21).unwrap();
        let sigma = [0.1, 0.3, 0.5, 0.7, 0.9];
        let g = grid.len();
        let (la, lo) = (grid.lat_degrees()[10], grid.lon_degrees()[5]);
        let loc =
            ColumnLocalizer::new(&grid, &sigma, &[(la, lo), (la, lo)], &[50_000.0, 10_000.0], 0.5).unwrap();
        assert_eq!(loc.batches().len(), 5 * g);
        let p = 10 * grid.nlon() + 5;
        // Column by column: point p's five levels are batches 5p … 5p + 4.
        let at = |k: usize| &loc.batches()[5 * p + k];
        assert_eq!(loc.run_len(), 5);
        assert_eq!(at(2), &vec![2 * g + p, 7 * g + p, 12 * g + p]);
        assert_eq!(at(4).len(), 4);
        assert_eq!(at(4)[3], 15 * g + p);
        // At σ = 0.5 (500 hPa): the 500 hPa observation has coefficient 1; the 100 hPa one is
        // ln 5 = 1.61 away, beyond 2 · 1.82 · 0.5 = 1.82 → GC = 0.0005, dropped.
        let (idx, c) = loc.obs_taper(at(2), 500.0);
        assert_eq!(idx, vec![0]);
        assert!((c[0] - 1.0).abs() < 1e-12);
        // Without vertical localisation both count, fully.
        let flat =
            ColumnLocalizer::new(&grid, &sigma, &[(la, lo), (la, lo)], &[50_000.0, 10_000.0], f64::INFINITY)
                .unwrap();
        assert_eq!(flat.obs_taper(at(2), 500.0).0, vec![0, 1]);
        assert!(ColumnLocalizer::new(&grid, &sigma, &[(la, lo)], &[], 0.5).is_err());
    }

    /// One horizontal search per column gives every level the taper it gets on its own, bit for
    /// bit, and every state index sits in exactly one batch.
    #[test]
    fn column_runs_share_the_search_without_changing_a_coefficient() {
        let grid = crate::grid::LatLonGrid::for_truncation(21).unwrap();
        let sigma = [0.1, 0.3, 0.5, 0.7, 0.9];
        let mut rng = crate::rng::stream(5, "column runs");
        let mut obs = Vec::new();
        let mut pres = Vec::new();
        for _ in 0..300 {
            let (u, v, w) =
                (crate::rng::uniform(&mut rng), crate::rng::uniform(&mut rng), crate::rng::uniform(&mut rng));
            obs.push(((2.0 * u - 1.0).asin().to_degrees(), 360.0 * v));
            pres.push(5_000.0 + 95_000.0 * w);
        }
        for vertical in [0.7, f64::INFINITY] {
            let loc = ColumnLocalizer::new(&grid, &sigma, &obs, &pres, vertical).unwrap();
            let mut seen = vec![0u8; (3 * sigma.len() + 1) * grid.len()];
            loc.batches().iter().flatten().for_each(|&i| seen[i] += 1);
            assert!(seen.iter().all(|&c| c == 1));
            for radius in [800.0, 3000.0, f64::INFINITY] {
                for run in loc.batches().chunks(loc.run_len()).step_by(53) {
                    let each: Vec<_> = run.iter().map(|b| loc.obs_taper(b, radius)).collect();
                    assert_eq!(loc.obs_tapers(run, radius), each, "radius {radius}, vertical {vertical}");
                }
            }
        }
    }
}
