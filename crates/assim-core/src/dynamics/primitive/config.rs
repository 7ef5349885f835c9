//! The simulation file of the primitive-equation model (`experiments/simulate_held_suarez_*.toml`,
//! `simulate_jablonowski_williamson_*.toml`): `[model]` with `kind = "primitive_dry"`, the
//! initial state, the Held–Suarez forcing and the run. Read by `assim simulate`; documented in
//! `docs/simulate.md`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{HeldSuarez, PeInitial, PeOrography, PeParams, SigmaLevels};
use crate::AssimError;
use crate::dynamics::shallow_water::Hyperdiffusion;
use crate::dynamics::shallow_water::{HyperdiffusionConfig, RunConfig, TimeFilterConfig};
use crate::io::config_file::{parse_toml, read_text};

/// The `kind` of a primitive-equation `[model]`.
pub const PE_KIND: &str = "primitive_dry";

/// A primitive-equation simulation file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeSimulationConfig {
    /// Name, copied into the store's attributes.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model.
    pub model: PeModelConfig,
    /// The initial state.
    pub initial: PeInitialConfig,
    /// `[forcing]`: Held–Suarez; absent for the unforced JW06 cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forcing: Option<PeForcingConfig>,
    /// Length, output and seed (of the initial noise).
    pub run: RunConfig,
}

/// `[model]` of the primitive equations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeModelConfig {
    /// Always `"primitive_dry"`.
    pub kind: String,
    /// Triangular truncation: 21, 31, 42 or 63.
    pub truncation: usize,
    /// Number of σ layers of equal thickness (8–20 is the tested range).
    pub levels: usize,
    /// Time step (s).
    pub dt_seconds: f64,
    /// `"flat"` or `"jablonowski_williamson"` (JW06's balancing surface geopotential).
    #[serde(default = "flat")]
    pub orography: String,
    /// Reference temperature of the semi-implicit scheme (K).
    #[serde(default = "t_ref")]
    pub reference_temperature: f64,
    /// Hyperdiffusion of ζ, D and T (default ∇⁸, 2.4 h at the truncation limit).
    #[serde(default)]
    pub hyperdiffusion: HyperdiffusionConfig,
    /// Robert–Asselin–Williams filter.
    #[serde(default)]
    pub time_filter: TimeFilterConfig,
}

/// `[initial]` of the primitive equations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeInitialConfig {
    /// `"rest"` (isothermal, hydrostatic over the orography) or `"jablonowski_williamson"`.
    pub case: String,
    /// Rest: the temperature (K, default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Rest: rms of the seeded temperature noise (K, default 0.1) that breaks the symmetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_kelvin: Option<f64>,
    /// JW06: whether to add the wind bump that starts the baroclinic wave (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<bool>,
}

/// `[forcing]` of the primitive equations.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeForcingConfig {
    /// `[forcing.held_suarez]`: HS94's constants (each key optional).
    pub held_suarez: HeldSuarez,
}

fn flat() -> String {
    "flat".into()
}

fn t_ref() -> f64 {
    300.0
}

/// Whether TOML text is a primitive-equation simulation file (`[model] kind`); text that does
/// not parse is not (the shallow-water reader then reports the error).
pub fn is_primitive(text: &str) -> bool {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| {
            t.get("model").and_then(|m| m.get("kind")).and_then(toml::Value::as_str).map(str::to_string)
        })
        .as_deref()
        == Some(PE_KIND)
}

impl PeSimulationConfig {
    /// Reads and validates a simulation file; every error names the file and the key.
    pub fn load(path: &Path) -> Result<Self, AssimError> {
        let (text, file) = read_text(path)?;
        Self::parse(&text, &file)
    }

    /// Parses and validates simulation text; `file` is used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, AssimError> {
        let c: PeSimulationConfig = parse_toml(text, file)?;
        c.validate(file)?;
        Ok(c)
    }

    /// The file as run (defaults filled in), for the store's attributes.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    fn validate(&self, file: &str) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| Err(AssimError::config(file, key, msg));
        let m = &self.model;
        if m.kind != PE_KIND {
            return err("model.kind", format!("must be \"{PE_KIND}\" (got {:?})", m.kind));
        }
        let supported = crate::grid::STANDARD_GAUSSIAN.iter().map(|(t, _, _)| *t).collect::<Vec<_>>();
        if !supported.contains(&m.truncation) {
            return err(
                "model.truncation",
                format!("unknown truncation {} (supported: {supported:?})", m.truncation),
            );
        }
        if !(2..=64).contains(&m.levels) {
            return err("model.levels", format!("must be 2 to 64 layers (got {})", m.levels));
        }
        if !(m.dt_seconds.is_finite() && m.dt_seconds > 0.0) {
            return err("model.dt_seconds", format!("must be positive (got {})", m.dt_seconds));
        }
        if !["flat", "jablonowski_williamson"].contains(&m.orography.as_str()) {
            return err(
                "model.orography",
                format!("unknown orography {:?} (flat, jablonowski_williamson)", m.orography),
            );
        }
        let i = &self.initial;
        match i.case.as_str() {
            "rest" => {
                if i.perturbation.is_some() {
                    return err(
                        "initial.perturbation",
                        "only used with case = \"jablonowski_williamson\"".into(),
                    );
                }
            }
            "jablonowski_williamson" => {
                if i.temperature.is_some() || i.noise_kelvin.is_some() {
                    return err(
                        "initial",
                        "temperature and noise_kelvin are only used with case = \"rest\"".into(),
                    );
                }
                if m.orography != "jablonowski_williamson" {
                    return err(
                        "model.orography",
                        "case = \"jablonowski_williamson\" needs orography = \"jablonowski_williamson\""
                            .into(),
                    );
                }
            }
            other => {
                return err(
                    "initial.case",
                    format!("unknown initial state {other:?} (rest, jablonowski_williamson)"),
                );
            }
        }
        if let Some(f) = &self.forcing {
            f.held_suarez
                .validate()
                .map_err(|e| AssimError::config(file, "forcing.held_suarez", e.to_string()))?;
        }
        let r = &self.run;
        r.validate(m.dt_seconds, file)?;
        let per_slice = crate::grid::STANDARD_GAUSSIAN
            .iter()
            .find(|g| g.0 == m.truncation)
            .map(|g| g.1 * g.2)
            .unwrap_or(0);
        let n_out = (r.days * 24.0 / r.output_interval_hours).round() as usize + 1;
        if (n_out * per_slice * (3 * m.levels + 1)) as f64 > 5e9 {
            return err(
                "run.days",
                format!("{n_out} snapshots would exceed 5e9 numbers; raise run.output_interval_hours"),
            );
        }
        Ok(())
    }

    /// The model parameters.
    pub fn params(&self) -> Result<PeParams, AssimError> {
        let m = &self.model;
        let mut p = PeParams::earth(m.truncation, m.levels, m.dt_seconds)?;
        p.levels = SigmaLevels::equidistant(m.levels)?;
        p.reference_temperature = m.reference_temperature;
        p.hyperdiffusion = m.hyperdiffusion.enabled.then_some(Hyperdiffusion {
            order: m.hyperdiffusion.order,
            timescale: m.hyperdiffusion.timescale_hours * 3600.0,
        });
        p.robert = m.time_filter.robert;
        p.williams = m.time_filter.williams;
        Ok(p)
    }

    /// The orography.
    pub fn orography(&self) -> PeOrography {
        if self.model.orography == "jablonowski_williamson" {
            PeOrography::JablonowskiWilliamson
        } else {
            PeOrography::Flat
        }
    }

    /// The Held–Suarez forcing, if any.
    pub fn forcing(&self) -> Option<HeldSuarez> {
        self.forcing.as_ref().map(|f| f.held_suarez)
    }

    /// The initial state's description.
    pub fn initial(&self) -> PeInitial {
        let i = &self.initial;
        if i.case == "jablonowski_williamson" {
            PeInitial::JablonowskiWilliamson { perturbation: i.perturbation.unwrap_or(true) }
        } else {
            PeInitial::Rest {
                temperature: i.temperature.unwrap_or(300.0),
                noise: i.noise_kelvin.unwrap_or(0.1),
                seed: self.run.seed,
            }
        }
    }
}
