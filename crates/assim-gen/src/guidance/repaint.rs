//! RePaint (Lugmayr et al. 2022; DiffDA): the observed variables of the estimate replaced by
//! the observations. Needs observations of state variables themselves.

use assim_core::experiment::Need;
use burn::tensor::Tensor;

use super::{Guided, Strategy};

/// `kind = "repaint"`.
#[derive(Clone, Copy, Debug)]
pub struct RePaint;

impl Strategy for RePaint {
    fn name(&self) -> String {
        "RePaint".into()
    }
    fn needs(&self) -> Vec<Need> {
        vec![Need::StateObs]
    }
    fn denoise(&self, g: &Guided<'_>, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2> {
        let d = g.prior.denoise(x, sigma, cond).without_autodiff();
        g.obs
            .paint(d, g.y.clone())
            .expect("RePaint is refused at validation and load for operators that do not select")
    }
}
