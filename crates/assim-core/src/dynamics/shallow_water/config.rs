//! The simulation file of the shallow-water model (`experiments/simulate_*.toml`): the model,
//! its initial condition, the climate forcing and the run. Read by `assim simulate` and by the
//! sphere test bed, which samples its climate. Documented in `docs/simulate.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Forcing, Hyperdiffusion, JetDrag, Orography, Stirring, SwParams};
use crate::AssimError;
use crate::io::config_file::{parse_toml, read_text};

/// The gridded variables a simulation writes per snapshot (geopotential, the two winds,
/// vorticity, divergence), for the size bar of a run.
const OUTPUT_VARIABLES: usize = 5;

/// A simulation file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// Name, copied into the store's attributes.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model.
    pub model: SwModelConfig,
    /// The initial condition.
    pub initial: InitialConfig,
    /// Climate forcing (stirring and jet drag); absent for the free test cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forcing: Option<ForcingConfig>,
    /// Length, output and seed.
    pub run: RunConfig,
}

/// `[model]`: the shallow-water model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwModelConfig {
    /// Triangular truncation: 21, 42, 63 or 85.
    pub truncation: usize,
    /// Time step (s).
    pub dt_seconds: f64,
    /// `"none"` or `"williamson5"` (the case-5 mountain).
    #[serde(default = "default_orography")]
    pub orography: String,
    /// Hyperdiffusion (default ∇⁸, 2.4 h at the truncation limit).
    #[serde(default)]
    pub hyperdiffusion: HyperdiffusionConfig,
    /// Robert–Asselin–Williams filter.
    #[serde(default)]
    pub time_filter: TimeFilterConfig,
}

/// `[model.hyperdiffusion]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperdiffusionConfig {
    /// Off for inviscid runs (Williamson 2).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Power p of −∇² (4 = ∇⁸).
    #[serde(default = "default_order")]
    pub order: u32,
    /// e-folding time (hours) at the truncation wavenumber.
    #[serde(default = "default_hyper_hours")]
    pub timescale_hours: f64,
}

/// `[model.time_filter]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeFilterConfig {
    /// Robert–Asselin ν.
    #[serde(default = "default_robert")]
    pub robert: f64,
    /// Williams α.
    #[serde(default = "default_williams")]
    pub williams: f64,
}

/// `[initial]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialConfig {
    /// `"rest"`, `"williamson2"`, `"williamson5"`, `"williamson6"`, `"galewsky"` or `"zarr"`.
    pub case: String,
    /// Williamson 2: the angle α (degrees) between the flow's axis and the grid's pole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_degrees: Option<f64>,
    /// Galewsky: whether to add the height bump (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bump: Option<bool>,
    /// Rest: the uniform depth (m, default 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_m: Option<f64>,
    /// Zarr: the store of an earlier run (relative to the simulation file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Zarr: which snapshot (negative counts from the end; default −1, the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_index: Option<i64>,
}

/// `[forcing]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForcingConfig {
    /// `[forcing.stirring]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stirring: Option<StirringConfig>,
    /// `[forcing.jet_drag]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jet_drag: Option<JetDragConfig>,
}

/// `[forcing.stirring]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StirringConfig {
    /// RMS vorticity source before the mask (s⁻²).
    pub strength: f64,
    /// AR(1) decorrelation time (days).
    pub lifetime_days: f64,
    /// Smallest stirred total wavenumber.
    pub n_min: usize,
    /// Largest stirred total wavenumber.
    pub n_max: usize,
    /// Smallest stirred zonal wavenumber.
    #[serde(default = "one")]
    pub m_min: usize,
    /// Centre latitude of the mask (degrees, both hemispheres).
    pub latitude_degrees: f64,
    /// e-folding half-width of the mask (degrees).
    pub width_degrees: f64,
}

/// `[forcing.jet_drag]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetDragConfig {
    /// Damping time (days).
    pub timescale_days: f64,
    /// Peak speed of the target jet (m s⁻¹).
    pub u0: f64,
    /// Jet latitude (degrees, both hemispheres).
    pub latitude_degrees: f64,
    /// e-folding half-width (degrees).
    pub width_degrees: f64,
}

/// `[run]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Days written after the spin-up.
    pub days: f64,
    /// Days integrated first and not written (their diagnostics are kept).
    #[serde(default)]
    pub spinup_days: f64,
    /// Hours between snapshots.
    pub output_interval_hours: f64,
    /// Seed of the stochastic stirring.
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// `"f32"` (default) or `"f64"` for the gridded variables.
    #[serde(default = "default_precision")]
    pub precision: String,
}

fn default_orography() -> String {
    "none".into()
}
fn yes() -> bool {
    true
}
fn default_order() -> u32 {
    4
}
fn default_hyper_hours() -> f64 {
    2.4
}
fn default_robert() -> f64 {
    0.05
}
fn default_williams() -> f64 {
    0.53
}
fn one() -> usize {
    1
}
fn one_u64() -> u64 {
    1
}
fn default_precision() -> String {
    "f32".into()
}

impl Default for HyperdiffusionConfig {
    fn default() -> Self {
        Self { enabled: true, order: default_order(), timescale_hours: default_hyper_hours() }
    }
}

impl Default for TimeFilterConfig {
    fn default() -> Self {
        Self { robert: default_robert(), williams: default_williams() }
    }
}

impl RunConfig {
    /// Checks the run's length, output interval (a whole number of time steps of `dt_seconds`,
    /// and of output intervals in the run and the spin-up) and precision; errors name `file`.
    pub fn validate(&self, dt_seconds: f64, file: &str) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| Err(AssimError::config(file, key, msg));
        let r = self;
        if !(r.days.is_finite() && r.days > 0.0) {
            return err("run.days", format!("must be positive (got {})", r.days));
        }
        if !(r.spinup_days.is_finite() && r.spinup_days >= 0.0) {
            return err("run.spinup_days", format!("must be ≥ 0 (got {})", r.spinup_days));
        }
        let dt_h = dt_seconds / 3600.0;
        let steps = r.output_interval_hours / dt_h;
        if r.output_interval_hours.is_nan()
            || r.output_interval_hours <= 0.0
            || (steps - steps.round()).abs() > 1e-9
            || steps.round() < 1.0
        {
            return err(
                "run.output_interval_hours",
                format!("must be a positive multiple of the time step ({} h)", dt_h),
            );
        }
        for (key, days) in [("run.days", r.days), ("run.spinup_days", r.spinup_days)] {
            let n = days * 24.0 / r.output_interval_hours;
            if (n - n.round()).abs() > 1e-9 {
                return err(key, "must be a whole number of output intervals".into());
            }
        }
        if !["f32", "f64"].contains(&r.precision.as_str()) {
            return err("run.precision", format!("must be \"f32\" or \"f64\" (got {:?})", r.precision));
        }
        Ok(())
    }
}

impl SimulationConfig {
    /// Reads and validates a simulation file; every error names the file and the key.
    pub fn load(path: &Path) -> Result<Self, AssimError> {
        let (text, file) = read_text(path)?;
        Self::parse(&text, &file)
    }

    /// Parses and validates simulation text; `file` is used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, AssimError> {
        let c: SimulationConfig = parse_toml(text, file)?;
        c.validate(file)?;
        Ok(c)
    }

    /// The file as run (defaults filled in), for the store's attributes.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    fn validate(&self, file: &str) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| Err(AssimError::config(file, key, msg));
        let supported = crate::grid::STANDARD_GAUSSIAN.iter().map(|(t, _, _)| *t).collect::<Vec<_>>();
        if !supported.contains(&self.model.truncation) {
            return err(
                "model.truncation",
                format!("unknown truncation {} (supported: {supported:?})", self.model.truncation),
            );
        }
        if !(self.model.dt_seconds.is_finite() && self.model.dt_seconds > 0.0) {
            return err("model.dt_seconds", format!("must be positive (got {})", self.model.dt_seconds));
        }
        if !["none", "williamson5"].contains(&self.model.orography.as_str()) {
            return err(
                "model.orography",
                format!("unknown orography {:?} (none, williamson5)", self.model.orography),
            );
        }
        let cases = ["rest", "williamson2", "williamson5", "williamson6", "galewsky", "zarr"];
        if !cases.contains(&self.initial.case.as_str()) {
            return err(
                "initial.case",
                format!("unknown initial condition {:?} (one of {cases:?})", self.initial.case),
            );
        }
        let i = &self.initial;
        let only = |key: &str, set: bool, case: &str| -> Result<(), AssimError> {
            if set && i.case != case {
                return Err(AssimError::config(
                    file,
                    format!("initial.{key}"),
                    format!("only used with case = \"{case}\""),
                ));
            }
            Ok(())
        };
        only("alpha_degrees", i.alpha_degrees.is_some(), "williamson2")?;
        only("bump", i.bump.is_some(), "galewsky")?;
        only("depth_m", i.depth_m.is_some(), "rest")?;
        only("path", i.path.is_some(), "zarr")?;
        only("time_index", i.time_index.is_some(), "zarr")?;
        if i.case == "zarr" && i.path.is_none() {
            return err("initial.path", "case = \"zarr\" needs the path of an earlier run's store".into());
        }
        if i.case == "williamson5" && self.model.orography != "williamson5" {
            return err("model.orography", "williamson5 needs orography = \"williamson5\"".into());
        }
        let r = &self.run;
        r.validate(self.model.dt_seconds, file)?;
        let n_out = (r.days * 24.0 / r.output_interval_hours).round() as usize + 1;
        let per_slice = crate::grid::STANDARD_GAUSSIAN
            .iter()
            .find(|g| g.0 == self.model.truncation)
            .map(|g| g.1 * g.2)
            .unwrap_or(0);
        if (n_out * per_slice * OUTPUT_VARIABLES) as f64 > 5e9 {
            return err(
                "run.days",
                format!("{n_out} snapshots would exceed 5e9 numbers; raise run.output_interval_hours"),
            );
        }
        Ok(())
    }

    /// The model parameters.
    pub fn params(&self) -> SwParams {
        let m = &self.model;
        let mut p = SwParams::earth(m.truncation, m.dt_seconds);
        p.hyperdiffusion = m.hyperdiffusion.enabled.then_some(Hyperdiffusion {
            order: m.hyperdiffusion.order,
            timescale: m.hyperdiffusion.timescale_hours * 3600.0,
        });
        p.robert = m.time_filter.robert;
        p.williams = m.time_filter.williams;
        if self.initial.case == "williamson2" {
            p.axis_tilt = self.initial.alpha_degrees.unwrap_or(0.0).to_radians();
        }
        p
    }

    /// The climate forcing.
    pub fn forcing(&self) -> Option<Forcing> {
        let f = self.forcing.as_ref()?;
        Some(Forcing {
            stirring: f.stirring.as_ref().map(|s| Stirring {
                strength: s.strength,
                lifetime: s.lifetime_days * 86400.0,
                n_min: s.n_min,
                n_max: s.n_max,
                m_min: s.m_min,
                latitude: s.latitude_degrees.to_radians(),
                width: s.width_degrees.to_radians(),
            }),
            jet_drag: f.jet_drag.as_ref().map(|j| JetDrag {
                timescale: j.timescale_days * 86400.0,
                u0: j.u0,
                latitude: j.latitude_degrees.to_radians(),
                width: j.width_degrees.to_radians(),
            }),
        })
    }

    /// The orography.
    pub fn orography(&self) -> Orography {
        if self.model.orography == "williamson5" { Orography::Williamson5Mountain } else { Orography::None }
    }
}
