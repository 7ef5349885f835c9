//! Classical data assimilation methods, each an [`Assimilator`] the cycling loop drives.

/// The size and member accessors of an [`EnsembleFilter`] whose size is the field `$n` and
/// whose members are the field `$e`.
macro_rules! ensemble_accessors {
    ($n:ident, $e:ident) => {
        fn size(&self) -> usize {
            self.$n
        }
        fn members(&self) -> &faer::Mat<f64> {
            &self.$e
        }
        fn members_mut(&mut self) -> &mut faer::Mat<f64> {
            &mut self.$e
        }
    };
}

mod climatology;
mod enkf;
mod enkf_n;
mod ensemble;
mod extkf;
mod free_run;
mod ienks;
mod letkf;
mod partfilt;
mod spectral_var3d;
mod static_gain;
pub mod taper;
mod var4d;
mod window;

pub use crate::assimilator::{
    Assimilator, EnsembleFilter, Estimate, Gaussian, Setup, StateDistribution, weights_degenerate,
};
pub use climatology::{Climatology, ClimatologyConfig};
pub use enkf::{EnKF, EnKFConfig, EnKFUpdate};
pub use enkf_n::{EnKFN, EnKFNConfig};
pub use ensemble::{EnsembleTransform, etkf_transform, local_etkf, post_process};
pub use extkf::{ExtKF, ExtKFConfig};
pub use free_run::{FreeRun, FreeRunConfig};
pub use ienks::{IEnKS, IEnKSConfig};
pub use letkf::{LETKF, LETKFConfig};
pub use partfilt::{PartFilt, PartFiltConfig};
pub use spectral_var3d::{SpectralVar3D, Var3DStep};
pub use static_gain::{Background, OptInterpConfig, StaticGain, Var3DConfig};
pub use var4d::{Var4D, Var4DConfig};
pub use window::{LinearisedWindow, SlidingWindow, check_lag, gauss_newton_step};

/// The classical methods, one line per method.
pub fn registry() -> crate::experiment::MethodRegistry {
    crate::experiment::MethodRegistry::empty()
        .with::<ClimatologyConfig>()
        .with::<OptInterpConfig>()
        .with::<Var3DConfig>()
        .with::<Var4DConfig>()
        .with::<ExtKFConfig>()
        .with::<EnKFConfig>()
        .with::<EnKFNConfig>()
        .with::<IEnKSConfig>()
        .with::<LETKFConfig>()
        .with::<FreeRunConfig>()
        .with::<PartFiltConfig>()
}

/// A DAPPER-style label with the inflation and rotation appended where they are set.
fn with_infl_rot(mut s: String, infl: f64, rot: bool) -> String {
    if infl != 1.0 {
        s.push_str(&format!(" infl={infl}"));
    }
    if rot {
        s.push_str(" rot");
    }
    s
}

use faer::{Mat, MatRef};

use crate::AssimError;

/// Kalman gain `K = B Hᵀ (H B Hᵀ + R)⁻¹` for a linear `H` (`Nx × P`).
pub fn kalman_gain(b: MatRef<'_, f64>, h: MatRef<'_, f64>, obs_var: &[f64]) -> Result<Mat<f64>, AssimError> {
    let bht = b * h.transpose();
    let mut s = h * &bht;
    for (p, v) in obs_var.iter().enumerate() {
        s[(p, p)] += v;
    }
    // K = B Hᵀ S⁻¹  ⇔  Kᵀ = S⁻¹ (B Hᵀ)ᵀ, S symmetric.
    let kt = crate::linalg::spd_solve(s.as_ref(), bht.transpose())?;
    Ok(kt.transpose().to_owned())
}

/// The linear `H` a method needs, or a clear error for a nonlinear operator.
pub(crate) fn linear_h(setup: &Setup<'_>, method: &str) -> Result<Mat<f64>, AssimError> {
    setup
        .obs
        .matrix()
        .ok_or_else(|| AssimError::Input(format!("{method} needs a linear observation operator")))
}

/// `x += K (y − H x)` with `H x` evaluated by the operator.
pub(crate) fn gain_update(setup: &Setup<'_>, k: MatRef<'_, f64>, x: &mut [f64], y: &[f64]) {
    let mut hx = vec![0.0; y.len()];
    setup.obs.apply(x, &mut hx);
    for (i, xi) in x.iter_mut().enumerate() {
        *xi += (0..y.len()).map(|p| k[(i, p)] * (y[p] - hx[p])).sum::<f64>();
    }
}
