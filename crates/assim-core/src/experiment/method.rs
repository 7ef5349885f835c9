//! A method's entry in the experiment file, as the experiment layer sees it: parameters with
//! their defaults, validation, display label and builder, all owned by the method itself
//! ([`Method`], implemented beside each method in `classical/*.rs` and by the generative
//! engine), and the [`MethodRegistry`] that turns a `[[methods]]` table into one.
//!
//! A method states what it [`Need`]s of a test bed; the bed says whether it has it and, if
//! not, why (see [`BedConfig::lacks`]). No method knows a particular bed, no bed knows the
//! methods.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Chronology;
use crate::AssimError;
use crate::bed::{BedConfig, Need};
use crate::classical::Assimilator;

/// One method's parameters, as its `[[methods]]` entry gives them (DAPPER's one dataclass per
/// method). Implemented beside the method; registered once in a [`MethodRegistry`].
pub trait Method: Serialize + DeserializeOwned + Debug + Clone + Send + Sync + 'static {
    /// The `method = "…"` name of the entry.
    const NAME: &'static str;
    /// The generated display name: a DAPPER-style summary of the parameters.
    fn auto_label(&self) -> String;
    /// What it needs of the test bed.
    fn needs(&self) -> Vec<Need> {
        Vec::new()
    }
    /// Checks the values that the types alone do not (the bed's capabilities are checked
    /// against [`Method::needs`] before this).
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        let _ = check;
        Ok(())
    }
    /// The assimilator, for a validated experiment on `bed`.
    fn build(&self, bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError>;
    /// Whether the method is a filter (a free run is not: it is never declared diverged, and
    /// runs the bed's free model).
    fn is_filter(&self) -> bool {
        true
    }
    /// Whether the method is generative (score-based); the core never looks inside one.
    fn is_generative(&self) -> bool {
        false
    }
}

/// The object-safe face of a [`Method`] that the experiment layer holds.
pub trait MethodSpec: Debug + Send + Sync {
    /// The `method = "…"` name.
    fn name(&self) -> &'static str;
    /// The generated display name.
    fn auto_label(&self) -> String;
    /// The parameters as JSON with defaults filled in, `method` included (the `params` of
    /// `metrics.json`).
    fn params(&self) -> serde_json::Value;
    /// The parameters as a `[[methods]]` table with defaults filled in, `method` included.
    fn table(&self) -> toml::Table;
    /// What it needs of the test bed.
    fn needs(&self) -> Vec<Need>;
    /// See [`Method::validate`].
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError>;
    /// See [`Method::build`].
    fn build(&self, bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError>;
    /// See [`Method::is_filter`].
    fn is_filter(&self) -> bool;
    /// See [`Method::is_generative`].
    fn is_generative(&self) -> bool;
    /// The concrete parameters, for code that knows the method (`downcast_ref`).
    fn as_any(&self) -> &dyn Any;
}

impl<M: Method> MethodSpec for M {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn auto_label(&self) -> String {
        Method::auto_label(self)
    }
    fn params(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("method".into(), M::NAME.into());
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(self) {
            out.extend(m);
        }
        serde_json::Value::Object(out)
    }
    fn table(&self) -> toml::Table {
        let mut out = toml::Table::new();
        out.insert("method".into(), M::NAME.into());
        if let Ok(toml::Value::Table(m)) = toml::Value::try_from(self) {
            out.extend(m);
        }
        out
    }
    fn needs(&self) -> Vec<Need> {
        Method::needs(self)
    }
    fn validate(&self, check: &MethodCheck<'_>) -> Result<(), AssimError> {
        Method::validate(self, check)
    }
    fn build(&self, bed: &dyn BedConfig) -> Result<Box<dyn Assimilator>, AssimError> {
        Method::build(self, bed)
    }
    fn is_filter(&self) -> bool {
        Method::is_filter(self)
    }
    fn is_generative(&self) -> bool {
        Method::is_generative(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One `[[methods]]` entry of an experiment: the method's parameters and the entry's display
/// name (cheap to clone).
#[derive(Clone, Debug)]
pub struct MethodEntry {
    spec: Arc<dyn MethodSpec>,
    given: Option<String>,
}

impl std::ops::Deref for MethodEntry {
    type Target = dyn MethodSpec;
    fn deref(&self) -> &Self::Target {
        self.spec.as_ref()
    }
}

impl MethodEntry {
    /// The display name: the entry's `label`, or the method's generated one.
    pub fn label(&self) -> String {
        self.given.clone().unwrap_or_else(|| self.spec.auto_label())
    }

    /// The entry as written back into the experiment actually run (defaults filled in).
    pub fn entry(&self) -> toml::Value {
        let mut t = self.spec.table();
        if let Some(l) = &self.given {
            t.insert("label".into(), l.clone().into());
        }
        toml::Value::Table(t)
    }

    /// The parameters of a method of type `M`, if the entry is one.
    pub fn downcast<M: Method>(&self) -> Option<&M> {
        self.spec.as_any().downcast_ref::<M>()
    }
}

/// What a method's validation sees: the bed, the chronology and how to name its keys in
/// messages.
pub struct MethodCheck<'a> {
    /// The file, for messages.
    pub file: &'a str,
    /// The entry's key prefix, e.g. `methods[2]`.
    pub at: String,
    /// The test bed's configuration.
    pub bed: &'a dyn BedConfig,
    /// The experiment's chronology.
    pub chrono: Chronology,
}

impl MethodCheck<'_> {
    /// The full key of the entry's key `k`.
    pub fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.at)
    }
    /// A configuration error at the entry's key `k`.
    pub fn error(&self, k: &str, msg: impl Into<String>) -> AssimError {
        AssimError::config(self.file, self.key(k), msg)
    }
    /// The same check for a nested entry at key `k` (e.g. a generative method's spin-up).
    pub fn nested(&self, k: &str) -> MethodCheck<'_> {
        MethodCheck { at: self.key(k), ..*self }
    }
    /// Refuses a non-positive (or non-finite) factor at key `k`.
    pub fn positive(&self, k: &str, v: f64) -> Result<(), AssimError> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(self.error(k, format!("must be positive (got {v})")))
        }
    }
    /// Refuses an ensemble size below 2 at key `k`.
    pub fn ensemble_size(&self, k: &str, n: usize) -> Result<(), AssimError> {
        if n >= 2 { Ok(()) } else { Err(self.error(k, format!("ensemble size must be ≥ 2 (got {n})"))) }
    }
    /// Refuses an inflation factor that is not positive at key `k`.
    pub fn inflation(&self, k: &str, infl: f64) -> Result<(), AssimError> {
        if infl.is_finite() && infl > 0.0 {
            Ok(())
        } else {
            Err(self.error(k, format!("must be a positive factor (got {infl})")))
        }
    }
    /// Checks an entry's needs against the bed, then its own values.
    pub fn check(&self, spec: &MethodEntry) -> Result<(), AssimError> {
        for need in spec.needs() {
            if let Some(why) = self.bed.lacks(need) {
                return Err(
                    self.error("method", format!("{} needs {}: {why}", spec.label(), need.describe()))
                );
            }
        }
        spec.validate(self)
    }
}

type Parser = fn(toml::Value) -> Result<Arc<dyn MethodSpec>, String>;

/// The methods an experiment file may name: `method = "…"` → its parameters' type.
#[derive(Clone)]
pub struct MethodRegistry {
    entries: Vec<(&'static str, Parser)>,
}

fn parse_as<M: Method>(v: toml::Value) -> Result<Arc<dyn MethodSpec>, String> {
    match v.try_into::<M>() {
        Ok(m) => Ok(Arc::new(m)),
        Err(e) => Err(e.message().trim().replace('\n', " ")),
    }
}

impl MethodRegistry {
    /// A registry of no methods.
    pub fn empty() -> Self {
        MethodRegistry { entries: Vec::new() }
    }

    /// Adds the method `M` (a later entry of the same name replaces an earlier one).
    pub fn with<M: Method>(mut self) -> Self {
        self.entries.retain(|(n, _)| *n != M::NAME);
        self.entries.push((M::NAME, parse_as::<M>));
        self
    }

    /// The names it knows, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(n, _)| *n).collect()
    }

    /// Reads one `[[methods]]` entry (a table with its `method` key).
    pub fn parse(&self, entry: &toml::Value) -> Result<MethodEntry, String> {
        let mut v = entry.clone();
        let table = v.as_table_mut().ok_or("must be a table")?;
        let name = match table.remove("method") {
            Some(toml::Value::String(s)) => s,
            Some(other) => return Err(format!("method must be a name (got {other})")),
            None => return Err(format!("missing `method`: one of {}", self.names().join(", "))),
        };
        let Some((_, parse)) = self.entries.iter().find(|(n, _)| *n == name) else {
            let hint = if name == "Generative" {
                " (generative methods need the generative engine: run through the `assim` program)"
            } else {
                ""
            };
            return Err(format!("unknown method {name:?}: use one of {}{hint}", self.names().join(", ")));
        };
        let given = match table.remove("label") {
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => return Err(format!("label must be a string (got {other})")),
            None => None,
        };
        Ok(MethodEntry { spec: parse(v)?, given })
    }
}

impl Debug for MethodRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
