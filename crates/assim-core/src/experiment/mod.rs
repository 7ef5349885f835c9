//! Experiments: the file format, the twin (truth + observations), the cycling loop and the
//! comparison of every listed method on the same truth.

mod chronology;
mod config;
mod cycle;
mod generative;
mod runner;
mod simulate;
pub mod sphere;
mod sphere_run;
mod twin;

pub use chronology::Chronology;
pub use config::{
    ChronologyConfig, DivergenceConfig, Experiment, ForecastConfig, IndexSpec, MeanSpec, MethodConfig,
    ModelConfig, ObsConfig, ObsKind, X0Config, parse_toml, read_text,
};
pub use cycle::{Divergence, Scenario, SeedRun, cycle};
pub use generative::{GenerativeConfig, GuidanceConfig, LatentAnalysis, Optimizer};
pub use runner::{
    LeadScores, MethodBuilder, MethodReport, Physics, RunReport, SeedReport, Summary, VariableSummary,
    build_classical, run_experiment, run_experiment_in, run_experiment_with,
};
pub use simulate::{
    DESIGN_WIND, DiagnosticSeries, SW_VARIABLES, Simulation, SimulationConfig, SimulationReport,
    state_from_store,
};
pub use sphere_run::slug;
pub use twin::{LorenzScenario, Twin, TwinSetup};
