//! The free run: a model integration from one climate state, never corrected. The floor
//! that shows what the observations are worth.

use super::{Assimilator, Estimate, Setup};
use crate::AssimError;
use crate::bed::BedConfig;
use crate::experiment::Method;
use crate::rng::AssimRng;

/// A single forecast from a draw of X0 (a random climate state on the sphere), ignoring
/// every observation.
#[derive(Default)]
pub struct FreeRun {
    state: Vec<f64>,
}

impl Assimilator for FreeRun {
    fn initialise(&mut self, setup: &Setup<'_>, rng: &mut AssimRng) -> Result<(), AssimError> {
        let x = setup.x0.sample(1, rng)?;
        self.state = x.col(0).iter().copied().collect();
        Ok(())
    }

    fn forecast(&mut self, setup: &Setup<'_>, t0: f64, steps: usize) -> Result<(), AssimError> {
        setup.model.advance(&mut self.state, t0, setup.dt, steps);
        Ok(())
    }

    fn analyse(&mut self, _: &Setup<'_>, _: &[f64], _: f64, _: &mut AssimRng) -> Result<(), AssimError> {
        Ok(())
    }

    fn estimate(&self) -> Estimate<'_> {
        Estimate::State { mean: &self.state, var: None }
    }
}

/// `method = "FreeRun"`: no parameters. Not a filter: never declared diverged, and it runs
/// the bed's free model.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FreeRunConfig {}

impl Method for FreeRunConfig {
    const NAME: &'static str = "FreeRun";
    fn auto_label(&self) -> String {
        "FreeRun".into()
    }
    fn build(&self, _bed: &dyn BedConfig) -> Result<Box<dyn super::Assimilator>, AssimError> {
        Ok(Box::new(FreeRun::default()))
    }
    fn is_filter(&self) -> bool {
        false
    }
}
