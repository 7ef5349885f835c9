//! The increment taper: per-field weights on an analysis increment, `x_a = x_b + w (x̃_a − x_b)`.
//!
//! Operational systems taper increments near the model top, where the observations constrain
//! little, an analysis adds more noise than it removes, and the slow stratosphere keeps that
//! noise for weeks. Fields are named by the bed ([`crate::bed::FieldGrid`]); a key names a field
//! by its whole name or by its end after `_` (`"50hPa"` names every field of that level).

use std::collections::BTreeMap;

use crate::AssimError;
use crate::bed::BedConfig;
use crate::experiment::MethodCheck;

/// Weights in [0, 1] keyed by field name or name suffix, as an experiment file gives them.
pub type TaperConfig = BTreeMap<String, f64>;

/// Whether the key `key` names the field `name`: the whole name, or its end after `_`.
pub fn tapers(key: &str, name: &str) -> bool {
    name == key || name.strip_suffix(key).is_some_and(|head| head.ends_with('_'))
}

/// The refusal of a key that names none of `fields` (name, units), listing them; `None` when it
/// names one. Shared by every per-field setting keyed this way (tapers, loss weights).
pub fn names_no_field(key: &str, fields: &[(String, String)]) -> Option<String> {
    if fields.iter().any(|(name, _)| tapers(key, name)) {
        return None;
    }
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    Some(format!("names no field of this bed ([{}])", names.join(", ")))
}

/// The taper as a label shows it, `50hPa×0.5,248hPa×0.75`.
pub fn describe(taper: &TaperConfig) -> String {
    taper.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(",")
}

/// Refuses a weight outside [0, 1] or a key that names no field of the bed, at `at.key`.
pub fn validate(taper: &TaperConfig, at: &str, check: &MethodCheck<'_>) -> Result<(), AssimError> {
    let fields = check.bed.field_grid().map(|g| g.fields).unwrap_or_default();
    if fields.is_empty() {
        return Err(check.error(at, "this bed does not name its fields"));
    }
    for (key, w) in taper {
        let k = format!("{at}.{key}");
        if !(0.0..=1.0).contains(w) {
            return Err(check.error(&k, format!("must be in [0, 1] (got {w})")));
        }
        if let Some(msg) = names_no_field(key, &fields) {
            return Err(check.error(&k, msg));
        }
    }
    Ok(())
}

/// The taper's weight per state element, `[nx]`: a field two keys name takes the smaller
/// weight, fields no key names keep 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Taper(Vec<f64>);

impl Taper {
    /// The weights of `taper` on the bed's fields (each `nx / fields` numbers, field-major).
    pub fn new(taper: &TaperConfig, bed: &dyn BedConfig) -> Result<Self, AssimError> {
        Self::on_fields(taper, &bed.field_grid().map(|g| g.fields).unwrap_or_default(), bed.nx())
    }

    /// The weights of `taper` on a state of `nx` numbers made of `fields` (name, units), each
    /// `nx / fields.len()` numbers, field-major.
    pub fn on_fields(
        taper: &TaperConfig,
        fields: &[(String, String)],
        nx: usize,
    ) -> Result<Self, AssimError> {
        if fields.is_empty() || !nx.is_multiple_of(fields.len()) {
            return Err(AssimError::Input("taper: this bed's state is not a set of named fields".into()));
        }
        let per_field = nx / fields.len();
        let mut w = Vec::with_capacity(nx);
        for (name, _) in fields {
            let f = taper.iter().filter(|(k, _)| tapers(k, name)).map(|(_, v)| *v).fold(1.0, f64::min);
            w.extend(std::iter::repeat_n(f, per_field));
        }
        Ok(Taper(w))
    }

    /// Replaces `analysis` (`[nx]`) by `background + w (analysis − background)`.
    pub fn apply(&self, background: &[f64], analysis: &mut [f64]) {
        for ((a, b), w) in analysis.iter_mut().zip(background).zip(&self.0) {
            *a = b + w * (*a - b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_whole_fields_or_their_level() {
        assert!(tapers("50hPa", "air_temperature_50hPa"));
        assert!(tapers("air_temperature_50hPa", "air_temperature_50hPa"));
        assert!(!tapers("50hPa", "air_temperature_150hPa"));
        assert!(!tapers("hPa", "air_temperature_50hPa"));
        // Two fields of two numbers at 50 hPa, one at 147 hPa; "u_50hPa" named twice.
        let fields: Vec<(String, String)> =
            ["T_50hPa", "u_50hPa", "T_147hPa"].iter().map(|n| (n.to_string(), "K".to_string())).collect();
        let cfg: TaperConfig = [("50hPa".to_string(), 0.5), ("u_50hPa".to_string(), 0.0)].into();
        let t = Taper::on_fields(&cfg, &fields, 6).unwrap();
        assert_eq!(t.0, vec![0.5, 0.5, 0.0, 0.0, 1.0, 1.0]);
        assert!(Taper::on_fields(&cfg, &fields, 7).is_err());
        let mut a = vec![3.0; 6];
        t.apply(&[1.0; 6], &mut a);
        assert_eq!(a, vec![2.0, 2.0, 1.0, 1.0, 3.0, 3.0]);
    }
}
