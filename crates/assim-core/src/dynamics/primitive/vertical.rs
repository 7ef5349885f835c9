//! The σ levels and the vertical discretisation of Simmons & Burridge (1981), specialised to
//! σ coordinates (`p = σ p_s`): the hydrostatic integral, the energy-conserving ω term and
//! the linear operators of the semi-implicit scheme.
//!
//! Levels are numbered from the top, `k = 0..L`; half level `k + ½` lies below full level
//! `k` (`σ_{½} = 0` at the top, `σ_{L+½} = 1` at the surface). With `Δσ_k = σ_{k+½} − σ_{k−½}`
//! and `l_k = ln(σ_{k+½}/σ_{k−½})`:
//!
//! ```text
//! Φ_k = Φ_s + R Σ_{j>k} l_j T_j + R α_k T_k,     α_k = 1 − σ_{k−½} l_k / Δσ_k  (α_0 = ln 2)
//! (ω/p)_k = v_k·∇Π − [ l_k Σ_{j<k} Δσ_j (D_j + v_j·∇Π) + α_k Δσ_k (D_k + v_k·∇Π) ] / Δσ_k
//! σ̇_{k+½} = σ_{k+½} Σ_j Δσ_j (D_j + v_j·∇Π) − Σ_{j≤k} Δσ_j (D_j + v_j·∇Π)
//! ```
//! (`Π = ln p_s`). Full levels sit at `σ_k = σ_{k+½} e^{−α_k}`, the pressure the hydrostatic
//! integral implies.

use crate::AssimError;

/// The σ levels of the model: half and full levels and the coefficients of the vertical
/// discretisation.
#[derive(Clone, Debug, PartialEq)]
pub struct SigmaLevels {
    /// Half levels `σ_{k+½}`, `L + 1` values from 0 (top) to 1 (surface).
    half: Vec<f64>,
    /// Full levels `σ_k` (`L`).
    full: Vec<f64>,
    /// Layer thicknesses `Δσ_k` (`L`).
    dsig: Vec<f64>,
    /// `α_k` (`L`).
    alpha: Vec<f64>,
    /// `l_k = ln(σ_{k+½}/σ_{k−½})`, 0 for the top layer (where it multiplies an empty sum).
    log_ratio: Vec<f64>,
}

impl SigmaLevels {
    /// `L` layers of equal thickness `1/L` (dinosaur's `SigmaCoordinates.equidistant`).
    pub fn equidistant(layers: usize) -> Result<Self, AssimError> {
        Self::from_half_levels((0..=layers).map(|k| k as f64 / layers as f64).collect())
    }

    /// Levels from their half levels, strictly increasing from 0 to 1.
    pub fn from_half_levels(half: Vec<f64>) -> Result<Self, AssimError> {
        let l = half.len().saturating_sub(1);
        if !(2..=64).contains(&l) {
            return Err(AssimError::Input(format!("need 2 to 64 σ layers (got {l})")));
        }
        if half[0] != 0.0
            || half[l] != 1.0
            || half.windows(2).any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        {
            return Err(AssimError::Input(
                "σ half levels must rise strictly from 0 at the model top to 1 at the surface".into(),
            ));
        }
        let dsig: Vec<f64> = half.windows(2).map(|w| w[1] - w[0]).collect();
        let mut alpha = vec![std::f64::consts::LN_2; l];
        let mut log_ratio = vec![0.0; l];
        for k in 1..l {
            log_ratio[k] = (half[k + 1] / half[k]).ln();
            alpha[k] = 1.0 - half[k] * log_ratio[k] / dsig[k];
        }
        let full = (0..l).map(|k| half[k + 1] * (-alpha[k]).exp()).collect();
        Ok(Self { half, full, dsig, alpha, log_ratio })
    }

    /// Number of layers `L`.
    pub fn len(&self) -> usize {
        self.dsig.len()
    }

    /// Always false: at least two layers.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Half levels `σ_{k+½}` (`L + 1`, top to surface).
    pub fn half(&self) -> &[f64] {
        &self.half
    }

    /// Full levels `σ_k` (`L`, top to surface).
    pub fn full(&self) -> &[f64] {
        &self.full
    }

    /// Layer thicknesses `Δσ_k`.
    pub fn thickness(&self) -> &[f64] {
        &self.dsig
    }

    /// `α_k` of the hydrostatic integral.
    pub fn alpha(&self) -> &[f64] {
        &self.alpha
    }

    /// `ln(σ_{k+½}/σ_{k−½})` (0 for the top layer).
    pub fn log_ratio(&self) -> &[f64] {
        &self.log_ratio
    }

    /// The hydrostatic matrix `G` (`L × L`, row-major): `Φ_k − Φ_s = Σ_j G_kj T_j`.
    pub fn hydrostatic(&self, gas_constant: f64) -> Vec<f64> {
        let l = self.len();
        let mut g = vec![0.0; l * l];
        for k in 0..l {
            g[k * l + k] = gas_constant * self.alpha[k];
            for j in k + 1..l {
                g[k * l + j] = gas_constant * self.log_ratio[j];
            }
        }
        g
    }

    /// The column terms of one grid point: from `div[k] = D_k + v_k·∇Π` and `adv[k] = v_k·∇Π`,
    /// fills `sigma_dot` (`L + 1` half levels, zero at both ends) and `omega` (`(ω/p)_k`).
    pub fn column(&self, div: &[f64], adv: &[f64], sigma_dot: &mut [f64], omega: &mut [f64]) {
        let l = self.len();
        let total: f64 = div.iter().zip(&self.dsig).map(|(d, s)| d * s).sum();
        let mut above = 0.0;
        sigma_dot[0] = 0.0;
        for k in 0..l {
            omega[k] =
                adv[k] - (self.log_ratio[k] * above + self.alpha[k] * self.dsig[k] * div[k]) / self.dsig[k];
            above += self.dsig[k] * div[k];
            sigma_dot[k + 1] = self.half[k + 1] * total - above;
        }
        sigma_dot[l] = 0.0;
    }

    /// Vertical advection `(σ̇ ∂X/∂σ)_k = [σ̇_{k+½}(X_{k+1} − X_k) + σ̇_{k−½}(X_k − X_{k−1})] / (2Δσ_k)`.
    pub fn vertical_advection(&self, sigma_dot: &[f64], x: &[f64], k: usize) -> f64 {
        let below = if k + 1 < self.len() { sigma_dot[k + 1] * (x[k + 1] - x[k]) } else { 0.0 };
        let above = if k > 0 { sigma_dot[k] * (x[k] - x[k - 1]) } else { 0.0 };
        (below + above) / (2.0 * self.dsig[k])
    }

    /// The matrix `τ` (`L × L`, row-major) of the linear temperature tendency
    /// `∂T_k/∂t = −Σ_j τ_kj D_j` about the reference profile `t_ref`: vertical advection of
    /// `T̄` minus `κ T̄ ω/p`, both linear in the divergence.
    pub fn temperature_coupling(&self, t_ref: &[f64], kappa: f64) -> Vec<f64> {
        let l = self.len();
        let mut tau = vec![0.0; l * l];
        let (mut sd, mut om) = (vec![0.0; l + 1], vec![0.0; l]);
        let zero = vec![0.0; l];
        for j in 0..l {
            let mut d = vec![0.0; l];
            d[j] = 1.0;
            self.column(&d, &zero, &mut sd, &mut om);
            for k in 0..l {
                tau[k * l + j] = self.vertical_advection(&sd, t_ref, k) - kappa * t_ref[k] * om[k];
            }
        }
        tau
    }
}

/// The inverse of a small dense matrix (`n × n`, row-major) by Gauss–Jordan elimination with
/// partial pivoting; `None` when it is singular.
pub fn invert(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    for c in 0..n {
        let p = (c..n).max_by(|&x, &y| m[x * n + c].abs().total_cmp(&m[y * n + c].abs()))?;
        if m[p * n + c].abs() < 1e-300 {
            return None;
        }
        for j in 0..n {
            m.swap(c * n + j, p * n + j);
            inv.swap(c * n + j, p * n + j);
        }
        let d = 1.0 / m[c * n + c];
        for j in 0..n {
            m[c * n + j] *= d;
            inv[c * n + j] *= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[r * n + c];
                if f != 0.0 {
                    for j in 0..n {
                        m[r * n + j] -= f * m[c * n + j];
                        inv[r * n + j] -= f * inv[c * n + j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An isothermal column's hydrostatic geopotential is exact: `Φ_k = R T ln(1/σ_k)` at the
    /// full levels the scheme defines.
    #[test]
    fn hydrostatic_integral_is_exact_for_an_isothermal_column() {
        let lv = SigmaLevels::equidistant(10).unwrap();
        let g = lv.hydrostatic(287.0);
        for k in 0..10 {
            let phi: f64 = (0..10).map(|j| g[k * 10 + j] * 250.0).sum();
            let exact = 287.0 * 250.0 * (1.0 / lv.full()[k]).ln();
            assert!((phi - exact).abs() < 1e-9 * exact, "level {k}: {phi} vs {exact}");
        }
    }

    /// σ̇ vanishes at the top and surface and its jump across a layer is the layer's
    /// convergence less its share of the column's (mass continuity, discretely).
    #[test]
    fn sigma_dot_closes_the_column() {
        let lv = SigmaLevels::equidistant(8).unwrap();
        let d: Vec<f64> = (0..8).map(|k| (k as f64 - 3.2).sin()).collect();
        let (mut sd, mut om) = (vec![0.0; 9], vec![0.0; 8]);
        lv.column(&d, &[0.0; 8], &mut sd, &mut om);
        let total: f64 = d.iter().zip(lv.thickness()).map(|(a, b)| a * b).sum();
        for k in 0..8 {
            let jump = sd[k + 1] - sd[k];
            let expect = lv.thickness()[k] * (total - d[k]);
            assert!((jump - expect).abs() < 1e-13, "layer {k}");
        }
        assert_eq!((sd[0], sd[8]), (0.0, 0.0));
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let inv = invert(&a, 3).unwrap();
        for r in 0..3 {
            for c in 0..3 {
                let s: f64 = (0..3).map(|k| a[r * 3 + k] * inv[k * 3 + c]).sum();
                assert!((s - if r == c { 1.0 } else { 0.0 }).abs() < 1e-14);
            }
        }
        assert!(invert(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }

    #[test]
    fn bad_levels_are_refused() {
        assert!(SigmaLevels::from_half_levels(vec![0.0, 0.5, 0.4, 1.0]).is_err());
        assert!(SigmaLevels::from_half_levels(vec![0.1, 0.5, 1.0]).is_err());
        assert!(SigmaLevels::equidistant(1).is_err());
    }
}
