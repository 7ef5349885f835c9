//! `y = arctan(x_i)` at observed state variables: the nonlinear observation operator of the
//! score-based filter papers, where a Gaussian-linear update (the EnKF) is known to suffer.

use faer::Mat;

use super::{ObsOperator, PartialIdentity};

/// Observes `arctan(x[indices[p]])` for each `p` (a bounded, saturating measurement).
#[derive(Clone, Debug)]
pub struct Arctan {
    /// Which variables are observed.
    pub sites: PartialIdentity,
}

impl ObsOperator for Arctan {
    fn n_obs(&self) -> usize {
        self.sites.indices.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        for (yp, &i) in y.iter_mut().zip(&self.sites.indices) {
            *yp = x[i].atan();
        }
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_arctan_at_the_sites_and_has_no_matrix() {
        let h = Arctan { sites: PartialIdentity::new(4, vec![3, 1]).unwrap() };
        let mut y = [0.0; 2];
        h.apply(&[0.0, 1.0, 5.0, -1e6], &mut y);
        assert!(
            (y[0] + std::f64::consts::FRAC_PI_2).abs() < 1e-6
                && (y[1] - std::f64::consts::FRAC_PI_4).abs() < 1e-15
        );
        assert!(h.matrix().is_none());
        let e = Mat::from_fn(4, 2, |i, j| (i + j) as f64);
        let he = h.apply_ensemble(e.as_ref());
        assert_eq!(he[(0, 1)], 4f64.atan());
    }
}
