//! SLAMS's conditioning: the window's observations, every modality at once, mapped onto the
//! latent grid as extra input channels of the prior, so that the denoiser sees them as well as
//! the background (and the guidance may still pull towards them through their operators).
//!
//! SLAMS grids each modality's values at its locations. Here the sounder's radiances and the
//! OLR have no single point or level, so the map is the operators' own: the observation term of
//! the 3D-Var gradient at the background, `g = H'ᵀ R⁻¹ (y − H(x_b))`, per field and level, and
//! the observation precision `q = Σ_p H'_{p,i}² / r_p` (where the window observes and how
//! firmly), both in the autoencoder's normalised units and averaged over the 4×4 blocks of
//! grid points under each latent cell. Stations land on the lowest level and `p_s`, radiosondes
//! on their bracketing levels, a sounder channel on its weighting function's levels.
//!
//! Shapes: physical states `c·nlat·nlon` (the bed's fields, variable-major); channels
//! `[2c, nlat/4, nlon/4]` flat (first the `c` gradient fields, then the `c` precision fields).

use serde::{Deserialize, Serialize};

use assim_core::AssimError;
use assim_core::obs::ObsOperator;

use crate::latent::space::{Linearised, TrainedAutoencoder};

/// The standardisation of the channels a prior was trained with (per channel, over the
/// training pairs' cells): channels enter the network as `(raw − mean)/std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObsChannelsMeta {
    /// The observing systems whose observations made the training channels.
    pub modalities: Vec<String>,
    /// Per channel.
    pub mean: Vec<f64>,
    /// Per channel (> 0).
    pub std: Vec<f64>,
}

impl ObsChannelsMeta {
    /// The standardisation of the raw channels `samples` (each `[channels, cells]` flat) of
    /// the observing systems `modalities`.
    pub fn of(samples: &[Vec<f64>], channels: usize, modalities: Vec<String>) -> Self {
        let cells = samples.first().map_or(0, |s| s.len() / channels.max(1));
        let (mut mean, mut std) = (vec![0.0; channels], vec![1.0; channels]);
        for k in 0..channels {
            let vals = samples.iter().flat_map(|s| s[k * cells..(k + 1) * cells].iter().copied());
            let (n, sum, sq) = vals.fold((0.0, 0.0, 0.0), |(n, s, q), v| (n + 1.0, s + v, q + v * v));
            let m = sum / f64::max(n, 1.0);
            let sd = (sq / f64::max(n, 1.0) - m * m).max(0.0).sqrt();
            mean[k] = m;
            // A channel that never varies (a field no modality observes) passes as zero.
            std[k] = if sd > 1e-12 { sd } else { 1.0 };
        }
        ObsChannelsMeta { modalities, mean, std }
    }

    /// Refuses an experiment with an observing system the channels were not trained with
    /// (its observations would enter channels whose statistics never included them).
    pub fn check_modalities(&self, running: &[String]) -> Result<(), String> {
        match running.iter().find(|m| !self.modalities.contains(m)) {
            Some(m) => Err(format!(
                "its observation channels were trained with the modalities [{}]; the experiment also observes with \
                 \"{m}\" (retrain with it, or remove it from the experiment)",
                self.modalities.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// `(raw − mean)/std` per channel, as the network's input.
    pub fn standardise(&self, raw: &[f64]) -> Vec<f32> {
        let cells = raw.len() / self.channels().max(1);
        raw.iter()
            .enumerate()
            .map(|(i, v)| ((v - self.mean[i / cells]) / self.std[i / cells]) as f32)
            .collect()
    }
}

/// The raw observation channels of one window (see the module's description): `op` on the
/// autoencoder's physical grid, observations `y` with error variances `var`, linearised about
/// the background `xb`.
pub fn innovation_channels(
    ae: &TrainedAutoencoder,
    op: &dyn ObsOperator,
    y: &[f64],
    var: &[f64],
    xb: &[f64],
) -> Result<Vec<f64>, AssimError> {
    if xb.len() != ae.state_dim() {
        return Err(AssimError::Input(format!(
            "observation channels: a background of {} numbers for the autoencoder's {}",
            xb.len(),
            ae.state_dim()
        )));
    }
    channels_of(ae, &Linearised::new(op, xb.to_vec())?, y, var)
}

/// [`innovation_channels`] from the operator already linearised about the background (the
/// analysis shares the linearisation with its guidance).
pub fn channels_of(
    ae: &TrainedAutoencoder,
    lin: &Linearised,
    y: &[f64],
    var: &[f64],
) -> Result<Vec<f64>, AssimError> {
    let p = lin.value.len();
    let xb = &lin.at;
    if y.len() != p || var.len() != p || xb.len() != ae.state_dim() {
        return Err(AssimError::Input(format!(
            "observation channels: {} values and {} variances for {p} observations, a background of {} \
             numbers for the autoencoder's {}",
            y.len(),
            var.len(),
            xb.len(),
            ae.state_dim()
        )));
    }
    let (jac, hx) = (&lin.rows, &lin.value);
    let nx = xb.len();
    let (mut g, mut q) = (vec![0.0; nx], vec![0.0; nx]);
    for r in 0..p {
        let d = (y[r] - hx[r]) / var[r];
        let (idx, w) = jac.row(r);
        for (&i, &wi) in idx.iter().zip(w) {
            g[i] += wi * d;
            q[i] += wi * wi / var[r];
        }
    }
    let [nlat, nlon] = ae.shape;
    let (h, w) = (nlat / 4, nlon / 4);
    let npts = nlat * nlon;
    let c = ae.size.channels;
    let scale = ae.field_scale();
    let mut out = vec![0.0; 2 * c * h * w];
    for f in 0..c {
        for j in 0..nlat {
            for i in 0..nlon {
                let s = f * npts + j * nlon + i;
                let cell = (j / 4) * w + i / 4;
                // ∂/∂x̃ = s_f ∂/∂x in the autoencoder's normalised units.
                out[f * h * w + cell] += scale[f] * g[s] / 16.0;
                out[(c + f) * h * w + cell] += scale[f] * scale[f] * q[s] / 16.0;
            }
        }
    }
    // The precision spans orders of magnitude: its square root (an inverse error sd).
    out[c * h * w..].iter_mut().for_each(|v| *v = v.sqrt());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standardised channels have mean 0 and sd 1 over the samples they were fitted on; a
    /// constant channel passes as zero instead of dividing by zero.
    /// One station observing one component: its innovation over its error variance lands in
    /// that component's field and latent cell as a 16th (the 4×4 block mean), its precision's
    /// square root likewise, and every other cell and field stays zero.
    #[test]
    fn one_observation_lands_in_its_field_and_cell() {
        use crate::latent::autoencoder::{SphereVae, VaeSize};
        use assim_core::obs::SparseLinear;
        let device = burn::tensor::Device::flex();
        let size = VaeSize { channels: 2, width: 4, latent: 2 };
        let ae = TrainedAutoencoder::from_parts(SphereVae::new(size, &device), size, [8, 16], &device);
        let npts = 8 * 16;
        // Field 1, row 5, column 9: latent cell (1, 2) of the 2×4 grid.
        let i = npts + 5 * 16 + 9;
        let mut op = SparseLinear::new(2 * npts);
        op.push_row([(i, 1.0)]);
        let xb = vec![0.5; 2 * npts];
        let ch = innovation_channels(&ae, &op, &[2.5], &[4.0], &xb).unwrap();
        assert_eq!(ch.len(), 4 * 2 * 4);
        let cell = 4 + 2;
        for (k, v) in ch.iter().enumerate() {
            let want = if k == 8 + cell {
                (2.5 - 0.5) / 4.0 / 16.0
            } else if k == 3 * 8 + cell {
                (1.0f64 / 4.0 / 16.0).sqrt()
            } else {
                0.0
            };
            assert!((v - want).abs() < 1e-15, "channel entry {k}: {v} vs {want}");
        }
        assert!(innovation_channels(&ae, &op, &[2.5, 1.0], &[4.0], &xb).is_err());
    }

    #[test]
    fn standardisation_centres_and_scales_each_channel() {
        let samples = vec![vec![1.0, 3.0, 5.0, 5.0], vec![3.0, 5.0, 5.0, 5.0]];
        let meta = ObsChannelsMeta::of(&samples, 2, vec!["station".into()]);
        assert_eq!(meta.mean, vec![3.0, 5.0]);
        assert!((meta.std[0] - 2f64.sqrt()).abs() < 1e-12 && meta.std[1] == 1.0);
        let z: Vec<f32> = samples.iter().flat_map(|s| meta.standardise(s)).collect();
        let ch0 = [z[0], z[1], z[4], z[5]];
        let m = ch0.iter().sum::<f32>() / 4.0;
        let v = ch0.iter().map(|x| (x - m).powi(2)).sum::<f32>() / 4.0;
        assert!(m.abs() < 1e-6 && (v - 1.0).abs() < 1e-6);
        assert_eq!([z[2], z[3], z[6], z[7]], [0.0; 4]);
        assert!(meta.check_modalities(&["station".into()]).is_ok());
        let err = meta.check_modalities(&["station".into(), "sounder".into()]).unwrap_err();
        assert!(err.contains("\"sounder\""), "{err}");
    }
}
