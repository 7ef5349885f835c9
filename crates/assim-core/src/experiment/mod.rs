//! Experiments: the file format (composing the configurations each component owns), the
//! methods' registry, the cycling loop, the one runner over any test bed, and the report.

mod chronology;
mod cycle;
pub mod defaults;
mod file;
mod method;
mod outputs;
mod report;
mod runner;
mod simulate;
mod simulate_primitive;

pub use crate::bed::Need;
pub use chronology::{Chronology, ChronologyConfig};
pub use cycle::{Divergence, DivergenceConfig, Scenario, SeedRun, cycle};
pub use file::Experiment;
pub use method::{Method, MethodCheck, MethodEntry, MethodRegistry, MethodSpec};
pub use outputs::{metrics_csv, series_csv, write_run_outputs};
pub use report::{LeadScores, MethodReport, Physics, RunReport, SeedReport, Summary, VariableSummary};
pub use runner::{run_experiment, run_experiment_in};
pub use simulate::{
    DESIGN_WIND, DiagnosticSeries, SW_VARIABLES, Simulation, SimulationReport, state_from_store,
};

pub use simulate_primitive::{
    PE_DESIGN_WIND, PE_LEVEL_VARIABLES, PE_SURFACE_VARIABLES, PeDiagnosticSeries, PeSimulation,
    PeSimulationReport,
};

pub use crate::dynamics::primitive::PeSimulationConfig;
pub use crate::dynamics::shallow_water::SimulationConfig;
pub use crate::io::config_file::{parse_toml, read_text};
