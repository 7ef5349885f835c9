//! Pointwise observation operators `y_p = h(x_{i_p})`: one function of one state variable per
//! observation, at the observed sites. The function ([`ElementFn`]) is all an operator of this
//! family has to define; the ensemble methods apply it through [`ObsOperator`], and the
//! generative engine differentiates it through [`ObsOperator::pointwise`] (value and slope),
//! so one definition serves every method.

use std::sync::Arc;

use faer::Mat;

use super::{ElementFn, ObsOperator, PartialIdentity, PointwiseView};

/// `y_p = h(x[indices[p]])` for a nonlinear `h`.
#[derive(Clone, Debug)]
pub struct Pointwise {
    /// Which variables are observed.
    pub sites: PartialIdentity,
    /// The function applied to each.
    pub h: Arc<dyn ElementFn>,
}

impl ObsOperator for Pointwise {
    fn n_obs(&self) -> usize {
        self.sites.indices.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        for (yp, &i) in y.iter_mut().zip(&self.sites.indices) {
            *yp = self.h.value(x[i]);
        }
    }

    fn matrix(&self) -> Option<Mat<f64>> {
        None
    }

    fn pointwise(&self) -> Option<PointwiseView<'_>> {
        Some(PointwiseView { indices: &self.sites.indices, h: Some(self.h.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::obs::{ArcTan, Square};

    /// Every registered function's slope matches central differences of its value.
    #[test]
    fn slopes_match_finite_differences() {
        let fns: [&dyn ElementFn; 2] = [&ArcTan, &Square];
        for h in fns {
            for x in [-3.0, -0.4, 0.0, 0.7, 2.5] {
                let e = 1e-5;
                let fd = (h.value(x + e) - h.value(x - e)) / (2.0 * e);
                assert!((h.slope(x) - fd).abs() < 1e-8 * (1.0 + fd.abs()), "{}: {x}", h.name());
            }
        }
    }

    #[test]
    fn applies_at_the_sites_and_has_no_matrix() {
        let h = Pointwise { sites: PartialIdentity::new(4, vec![3, 1]).unwrap(), h: Arc::new(ArcTan) };
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
        let view = h.pointwise().unwrap();
        assert_eq!(view.indices, &[3, 1]);
        assert_eq!(view.h.unwrap().name(), "arctan");
    }
}
