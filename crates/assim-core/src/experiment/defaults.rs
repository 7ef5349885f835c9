//! Default values shared by the configuration types of several components (serde's
//! `#[serde(default = "…")]` needs a function).

/// `1.0`: no inflation, no scaling.
pub fn one() -> f64 {
    1.0
}

/// `true`.
pub fn yes() -> bool {
    true
}

/// Whether `x` is zero (a switched-off option, left out of written files).
pub fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// `f64::INFINITY`: no limit.
pub fn infinity() -> f64 {
    f64::INFINITY
}
