//! The experiment file (TOML): one file names a whole comparison, as in DAPPER. It composes
//! the configurations that their components own: the test bed's (`[model]` and the bed's
//! sections, [`crate::bed`]), the chronology's, the divergence rule's and each method's
//! (`[[methods]]`, read through a [`MethodRegistry`]). Documented key by key in
//! `docs/experiments.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{Chronology, ChronologyConfig, DivergenceConfig, MethodCheck, MethodEntry, MethodRegistry};
use crate::AssimError;
use crate::bed::{BedConfig, FileContext, read_bed};
use crate::io::config_file::{parse_toml, read_text};

/// Largest truth trajectory (numbers kept) an experiment may ask for: 1e9 numbers, 8 GB, a
/// third of the standard 24 GiB machine.
const MAX_TRUTH_NUMBERS: f64 = 1e9;

/// The keys every experiment has, whatever its bed.
const COMMON_KEYS: [&str; 6] = ["name", "description", "seeds", "chronology", "divergence", "methods"];

/// A whole experiment: the test bed, the chronology, seeds and the methods compared.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// Short name, copied into `metrics.json`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Each seed gives an independent truth, observations and method draws.
    pub seeds: Vec<u64>,
    /// Time stepping and observation times.
    pub chronology: ChronologyConfig,
    /// When a method is declared diverged.
    pub divergence: DivergenceConfig,
    /// The test bed: model, truth, observing system and scores.
    pub bed: Arc<dyn BedConfig>,
    /// The methods compared, each on the same truth and observations.
    pub methods: Vec<MethodEntry>,
    /// Directory that relative paths in the file are resolved against.
    pub base_dir: PathBuf,
}

/// The common keys, as the file gives them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonKeys {
    name: String,
    #[serde(default)]
    description: String,
    seeds: Vec<u64>,
    chronology: ChronologyConfig,
    #[serde(default)]
    divergence: DivergenceConfig,
    methods: Vec<toml::Value>,
}

impl Experiment {
    /// Reads and validates an experiment file of classical methods; every error names the
    /// file and the key.
    pub fn load(path: &Path) -> Result<Self, AssimError> {
        Self::load_with(path, &crate::classical::registry())
    }

    /// Reads and validates an experiment file whose methods are those of `registry`.
    pub fn load_with(path: &Path, registry: &MethodRegistry) -> Result<Self, AssimError> {
        let (text, file) = read_text(path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse_with(&text, &file, &dir, registry)
    }

    /// Parses and validates experiment text; `file` is used in error messages, and relative
    /// paths are resolved against the current directory.
    pub fn parse(text: &str, file: &str) -> Result<Self, AssimError> {
        Self::parse_in(text, file, Path::new(""))
    }

    /// Parses and validates experiment text whose relative paths start from `base_dir`.
    pub fn parse_in(text: &str, file: &str, base_dir: &Path) -> Result<Self, AssimError> {
        Self::parse_with(text, file, base_dir, &crate::classical::registry())
    }

    /// Parses and validates experiment text with the methods of `registry`.
    pub fn parse_with(
        text: &str,
        file: &str,
        base_dir: &Path,
        registry: &MethodRegistry,
    ) -> Result<Self, AssimError> {
        let mut table: toml::Table = parse_toml(text, file)?;
        let ctx = FileContext { file, base_dir };
        let model = table.remove("model").ok_or_else(|| ctx.error("model", "missing: give the [model]"))?;
        let bed = read_bed(model, &mut table, &ctx)?;
        if let Some(k) = table.keys().find(|k| !COMMON_KEYS.contains(&k.as_str())) {
            return Err(ctx.error(k, format!("unknown key (a {} experiment has no `{k}`)", bed.name())));
        }
        let common: CommonKeys = crate::bed::section(toml::Value::Table(table), "<file>", &ctx)?;
        let methods = common
            .methods
            .iter()
            .enumerate()
            .map(|(i, v)| registry.parse(v).map_err(|m| ctx.error(&format!("methods[{i}]"), m)))
            .collect::<Result<Vec<_>, _>>()?;
        let exp = Experiment {
            name: common.name,
            description: common.description,
            seeds: common.seeds,
            chronology: common.chronology,
            divergence: common.divergence,
            bed,
            methods,
            base_dir: base_dir.to_path_buf(),
        };
        exp.validate(file)?;
        Ok(exp)
    }

    /// The state dimension of the bed.
    pub fn nx(&self) -> usize {
        self.bed.nx()
    }

    /// The bed's configuration as the concrete type `B`, for code that knows the bed.
    pub fn bed_as<B: 'static>(&self) -> Option<&B> {
        self.bed.downcast::<B>()
    }

    /// The resolved chronology.
    pub fn chronology(&self) -> Chronology {
        self.chronology.resolve()
    }

    /// The experiment as TOML (with defaults filled in): what was actually run.
    pub fn to_toml(&self) -> String {
        let mut t = toml::Table::new();
        t.insert("name".into(), self.name.clone().into());
        if !self.description.is_empty() {
            t.insert("description".into(), self.description.clone().into());
        }
        t.insert(
            "seeds".into(),
            toml::Value::Array(self.seeds.iter().map(|&s| toml::Value::Integer(s as i64)).collect()),
        );
        self.bed.write(&mut t);
        for (k, v) in [
            ("chronology", toml::Value::try_from(&self.chronology)),
            ("divergence", toml::Value::try_from(&self.divergence)),
        ] {
            if let Ok(v) = v {
                t.insert(k.into(), v);
            }
        }
        t.insert("methods".into(), toml::Value::Array(self.methods.iter().map(|m| m.entry()).collect()));
        toml::to_string(&t).unwrap_or_else(|e| format!("# could not serialise the experiment: {e}\n"))
    }

    /// Checks every value that the types alone do not; the first problem is reported.
    pub fn validate(&self, file: &str) -> Result<(), AssimError> {
        let err = |key: &str, msg: String| AssimError::config(file, key, msg);
        if self.seeds.is_empty() {
            return Err(err("seeds", "give at least one seed".into()));
        }
        self.chronology.validate(&err)?;
        let chrono = self.chronology();
        let ctx = FileContext { file, base_dir: &self.base_dir };
        self.bed.validate(&chrono, &ctx)?;
        // The truth is kept (at every model step, or every analysis time): refuse, up front,
        // a run that cannot fit.
        let numbers = self.bed.truth_numbers(&chrono);
        if numbers > MAX_TRUTH_NUMBERS {
            return Err(err(
                self.chronology.length_key(),
                format!(
                    "the truth run would hold {numbers:.3e} numbers ({:.0} GB); the limit is {MAX_TRUTH_NUMBERS:.0e}",
                    numbers * 8e-9
                ),
            ));
        }
        self.divergence.validate(&err)?;
        if self.methods.is_empty() {
            return Err(err("methods", "list at least one method ([[methods]])".into()));
        }
        let mut labels = std::collections::HashSet::new();
        for (i, m) in self.methods.iter().enumerate() {
            let check = MethodCheck { file, at: format!("methods[{i}]"), bed: self.bed.as_ref(), chrono };
            if !labels.insert(m.label()) {
                return Err(check
                    .error("label", format!("two methods are named {:?}; give one a `label`", m.label())));
            }
            check.check(m)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
seeds = [1]
[model]
kind = "lorenz96"
[chronology]
dt = 0.05
dko = 1
ko = 100
burn_in = 1.0
[x0]
mean = "e0"
var = 0.001
[observations]
indices = "all"
sigma = 1.0
[[methods]]
method = "EnKF"
upd_a = "Sqrt"
n = 10
"#;

    fn err_of(text: &str) -> String {
        Experiment::parse(text, "x.toml").unwrap_err().to_string()
    }

    #[test]
    fn good_file_parses() {
        let e = Experiment::parse(GOOD, "x.toml").unwrap();
        assert_eq!(e.nx(), 40);
        assert_eq!(e.methods[0].label(), "EnKF Sqrt N=10");
        // round trip through the written copy
        let again = Experiment::parse(&e.to_toml(), "copy.toml").unwrap();
        assert_eq!(again.to_toml(), e.to_toml());
    }

    #[test]
    fn bad_values_name_file_and_key() {
        let m = err_of(&GOOD.replace("sigma = 1.0", "sigma = -1.0"));
        assert!(m.starts_with("x.toml: observations.sigma:"), "{m}");
        let m = err_of(&GOOD.replace("sigma = 1.0", "sigma = 0.0"));
        assert!(m.contains("observations.sigma"), "{m}");
        let m = err_of(&GOOD.replace("n = 10", "n = 1"));
        assert!(m.contains("methods[0].n") && m.contains("≥ 2"), "{m}");
        let m = err_of(&GOOD.replace("ko = 100", "ko = 0"));
        assert!(m.contains("chronology.ko"), "{m}");
        let m = err_of(&GOOD.replace("indices = \"all\"", "indices = [0, 40]"));
        assert!(m.contains("observations.indices") && m.contains("40"), "{m}");
        let m = err_of(&GOOD.replace("ko = 100", "ko = 100000000"));
        assert!(m.contains("chronology.ko") && m.contains("GB"), "{m}");
        let m = err_of(&GOOD.replace("upd_a = \"Sqrt\"", "upd_a = \"Foo\""));
        assert!(m.contains("methods[0]") && m.contains("Foo") && m.contains("Sqrt"), "{m}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let m = err_of(&GOOD.replace("var = 0.001", "var = 0.001\nvariance = 2"));
        assert!(m.contains("variance") && m.contains("x.toml: x0"), "{m}");
        let m = err_of(&GOOD.replace("n = 10", "n = 10\ninflation = 1.1"));
        assert!(m.contains("inflation") && m.contains("methods[0]"), "{m}");
        let m = err_of(&GOOD.replace("kind = \"lorenz96\"", "kind = \"lorenz97\""));
        assert!(m.contains("lorenz97") && m.contains("model.kind"), "{m}");
        let m = err_of(&GOOD.replace("method = \"EnKF\"", "method = \"EnKG\""));
        assert!(m.contains("EnKG") && m.contains("LETKF"), "{m}");
        let m = err_of(&GOOD.replace("[x0]", "[network]\nfile = \"a.csv\"\n[x0]"));
        assert!(m.starts_with("x.toml: network:"), "{m}");
        let m = err_of("name = ");
        assert!(m.starts_with("x.toml: line 1"), "{m}");
        assert!(!m.contains('\n'));
    }

    #[test]
    fn refusals_say_what_the_method_needs_and_why_the_bed_lacks_it() {
        let l63 = GOOD.replace("kind = \"lorenz96\"", "kind = \"lorenz63\"");
        let m = err_of(
            &l63.replace("upd_a = \"Sqrt\"\nn = 10", "")
                .replace("\"EnKF\"", "\"LETKF\"\nn = 10\nloc_rad = 2.0"),
        );
        assert!(m.contains("methods[0].method") && m.contains("localisation"), "{m}");
        let arctan = GOOD.replace("sigma = 1.0", "sigma = 1.0\noperator = \"arctan\"");
        let m = err_of(&arctan.replace("upd_a = \"Sqrt\"\nn = 10", "").replace("\"EnKF\"", "\"Var3D\""));
        assert!(m.contains("linear observation operator") && m.contains("arctan"), "{m}");
    }
}
