//! Climatology: the truth's long-term mean, the floor every method must beat.

use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::bed::BedConfig;
use crate::experiment::Method;
use crate::rng::AssimRng;

/// Always answers the climatological mean, with the climatological variance as its spread.
#[derive(Default)]
pub struct Climatology {
    mean: Vec<f64>,
    var: Vec<f64>,
}

impl Assimilator for Climatology {
    fn initialise(&mut self, setup: &Setup<'_>, _rng: &mut AssimRng) -> Result<(), AssimError> {
        self.mean = setup.climatology.mean().to_vec();
        self.var = setup.climatology.variance();
        Ok(())
    }

    fn forecast(&mut self, _setup: &Setup<'_>, _t0: f64, _steps: usize) -> Result<(), AssimError> {
        Ok(())
    }

    fn analyse(&mut self, _: &Setup<'_>, _: &[f64], _: f64, _: &mut AssimRng) -> Result<(), AssimError> {
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.mean, var: Some(&self.var) }
    }
}

/// `method = "Climatology"`: no parameters.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClimatologyConfig {}

impl Method for ClimatologyConfig {
    const NAME: &'static str = "Climatology";
    fn auto_label(&self) -> String {
        "Climatology".into()
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(Climatology::default()))
    }
}
