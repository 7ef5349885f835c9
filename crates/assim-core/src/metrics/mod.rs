//! Scores of an estimate against the truth, and time means with honest error bars.

mod fields;
mod scores;
mod series;

pub use fields::{GridScorer, VariableScores, lead_means};
pub use scores::{Scores, crps_fair, score};
pub use series::{MeanWithCi, series_mean};
