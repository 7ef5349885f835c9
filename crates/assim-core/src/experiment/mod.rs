//! Experiments: the file format, the twin (truth + observations), the cycling loop and the
//! comparison of every listed method on the same truth.

mod chronology;
mod config;
mod cycle;
mod runner;
mod simulate;
mod twin;

pub use chronology::Chronology;
pub use config::{
    ChronologyConfig, DivergenceConfig, Experiment, IndexSpec, MeanSpec, MethodConfig, ModelConfig,
    ObsConfig, X0Config,
};
pub use cycle::{Divergence, SeedRun, cycle};
pub use runner::{MethodReport, RunReport, SeedReport, Summary, run_experiment};
pub use simulate::{
    DESIGN_WIND, DiagnosticSeries, SW_VARIABLES, Simulation, SimulationConfig, SimulationReport,
    state_from_store,
};
pub use twin::{Twin, TwinSetup};
