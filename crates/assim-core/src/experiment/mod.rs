//! Experiments: the file format, the twin (truth + observations), the cycling loop and the
//! comparison of every listed method on the same truth.

mod chronology;
mod config;
mod cycle;
mod generative;
mod runner;
mod simulate;
mod twin;

pub use chronology::Chronology;
pub use config::{
    ChronologyConfig, DivergenceConfig, Experiment, IndexSpec, MeanSpec, MethodConfig, ModelConfig,
    ObsConfig, ObsKind, X0Config, parse_toml, read_text,
};
pub use cycle::{Divergence, SeedRun, cycle};
pub use generative::{GenerativeConfig, GuidanceConfig};
pub use runner::{
    MethodBuilder, MethodReport, RunReport, SeedReport, Summary, build_classical, run_experiment,
    run_experiment_with,
};
pub use simulate::{
    DESIGN_WIND, DiagnosticSeries, SW_VARIABLES, Simulation, SimulationConfig, SimulationReport,
    state_from_store,
};
pub use twin::{Twin, TwinSetup};
