//! What the diagnostic examples share: RMSEs of states against an OSSE's truth, accumulated
//! over windows.

use assim_core::bed::sphere::SphereTwin;
use assim_core::classical::Estimate;
use assim_core::experiment::Scenario;

/// Squared errors summed over windows: overall (clim sd) and Φ, u, v (SI units).
#[derive(Default, Clone, Copy)]
pub struct Sums {
    squares: [f64; 4],
    windows: usize,
}

impl Sums {
    /// Adds the error of state `x` at window `ko`.
    pub fn add(&mut self, twin: &SphereTwin, x: &[f64], ko: usize) {
        let (s, vars) = twin.score(&Estimate::State { mean: x, var: None }, ko, false);
        self.squares[0] += s.rmse.powi(2);
        for (k, v) in vars.iter().take(3).enumerate() {
            self.squares[k + 1] += v.rmse.powi(2);
        }
        self.windows += 1;
    }

    /// The RMSEs over the windows added: overall, Φ, u, v.
    pub fn rmse(&self) -> [f64; 4] {
        self.squares.map(|v| (v / self.windows as f64).sqrt())
    }
}
