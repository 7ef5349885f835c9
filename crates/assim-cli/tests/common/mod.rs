//! What the integration tests share: comparing two runs' `metrics.json`, number by number,
//! without the keys that measure the machine rather than the method.

use serde_json::Value;

/// Keys that measure the machine, not the method.
pub const WALL_KEYS: [&str; 5] =
    ["wall_s", "wall_s_per_1001_cycles", "wall_s_per_cycle", "forecast_s_per_cycle", "analysis_s_per_cycle"];

/// `v` without the wall-time keys, at every depth.
pub fn strip_walls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for k in WALL_KEYS {
                m.remove(k);
            }
            m.values_mut().for_each(strip_walls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_walls),
        _ => {}
    }
}

/// Every difference between `got` and `want` beyond `rel` (relative), with its path.
pub fn differences(got: &Value, want: &Value, rel: f64, at: &str, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > rel * b.abs().max(a.abs()) {
                out.push(format!("{at}: {a} (expected {b})"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => differences(x, y, rel, &format!("{at}.{k}"), out),
                    _ => out.push(format!("{at}.{k}: present in only one of the two")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, rel, &format!("{at}[{i}]"), out);
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{at}: {got} (expected {want})")),
    }
}
