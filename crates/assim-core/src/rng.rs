//! Seeded random streams: the same seed gives the same numbers, and every method draws from
//! its own stream so that adding a method never changes another method's results.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::StandardNormal;

/// The generator used everywhere in assim (portable and reproducible across platforms).
pub type AssimRng = ChaCha12Rng;

/// A generator for `seed`, on the independent stream named by `label`.
///
/// The label is hashed with FNV-1a (stable across Rust versions, unlike `DefaultHasher`).
pub fn stream(seed: u64, label: &str) -> AssimRng {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(label.as_bytes()));
    rng
}

/// FNV-1a 64-bit hash: a stable label → stream-id map.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One standard-normal draw.
pub fn normal(rng: &mut AssimRng) -> f64 {
    rng.sample(StandardNormal)
}

/// Fills `out` with standard-normal draws.
pub fn fill_normal(rng: &mut AssimRng, out: &mut [f64]) {
    for v in out {
        *v = rng.sample(StandardNormal);
    }
}

/// One uniform draw in [0, 1).
pub fn uniform(rng: &mut AssimRng) -> f64 {
    rng.random::<f64>()
}
