//! Checkpoints: one self-describing file with the network's weights, its EMA, the optimiser
//! state and everything needed to use or resume it (DESIGN.md §7, "train/").
//!
//! Layout (little-endian): the magic `ASSIM-CKPT1\n`; `u64` length and the metadata as JSON;
//! `u64` number of arrays, then per array `u64` name length, the name, `u64` element count and
//! the f32 values; finally the FNV-1a-64 hash of every byte before it. A truncated or altered
//! file fails the length checks or the hash and is refused with a message naming the file;
//! files are written atomically (temp file + rename), so a killed run leaves the previous one.

use std::path::Path;

use assim_core::AssimError;
use assim_core::io::write_atomic;

const MAGIC: &[u8] = b"ASSIM-CKPT1\n";

/// The metadata and named f32 arrays of a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Free-form metadata (model, grid, network, normalisation, training state).
    pub meta: serde_json::Value,
    /// Named arrays (weights, EMA weights, optimiser moments).
    pub arrays: Vec<(String, Vec<f32>)>,
}

/// The files a checkpoint was trained from, kept in its metadata (`training.provenance`) so that
/// a shipped model says exactly how to make it again: each file's path as given, its text and
/// its FNV-1a checksum.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The training file first, then the files it names (its experiment).
    pub files: Vec<SourceFile>,
}

/// One file of a [`Provenance`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    /// Where it was read.
    pub path: String,
    /// FNV-1a of its bytes, hexadecimal.
    pub fnv1a: String,
    /// Its text.
    pub text: String,
}

impl Provenance {
    /// Reads `paths` (already read once by the caller, so an error here is an I/O race).
    pub fn of(paths: &[&std::path::Path]) -> Result<Self, AssimError> {
        let files = paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p)
                    .map_err(|source| AssimError::Io { path: p.to_path_buf(), source })?;
                Ok(SourceFile { path: p.display().to_string(), fnv1a: checksum(text.as_bytes()), text })
            })
            .collect::<Result<_, AssimError>>()?;
        Ok(Provenance { files })
    }
}

/// The model a cache file (preference candidates, latent pairs) was made by, for its
/// `made_by` record: the bed's model with its simulation file's content, not its name, so that
/// the same climate under another name (the demo's copy) matches and an edited file does not.
pub fn model_record(exp: &assim_core::experiment::Experiment) -> serde_json::Value {
    use assim_core::bed::primitive::PeBedConfig;
    use assim_core::bed::sphere::SphereConfig;
    let mut model = exp.bed.model();
    let climate = match (exp.bed_as::<SphereConfig>(), exp.bed_as::<PeBedConfig>()) {
        (Some(s), _) => serde_json::to_value(&*s.climate).ok(),
        (_, Some(p)) => serde_json::to_value(&*p.climate).ok(),
        _ => None,
    };
    if let (Some(m), Some(c)) = (model.as_object_mut(), climate) {
        m.insert("climate".into(), c);
    }
    model
}

/// The FNV-1a checksum of `bytes` as 16 hexadecimal digits (the fingerprint of weights, the
/// checksum of shipped files).
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(bytes))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Checkpoint {
    /// The array called `name`.
    pub fn array(&self, name: &str) -> Option<&[f32]> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// A hash of the array called `name` (hex FNV-1a of its bytes): what a model trained on
    /// another model's output records, to refuse a different one later.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        let a = self.array(name)?;
        let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
        Some(checksum(&bytes))
    }

    /// Refuses a cache file (preference candidates, latent pairs) that is not of `kind` or whose
    /// `made_by` record differs from `expected` at one of `keys`; `what` names the file's kind
    /// and `remedy` says what to do, in the message naming the file and the first key that
    /// differs.
    pub fn check_made_by(
        &self,
        path: &Path,
        (kind, what): (&str, &str),
        expected: &serde_json::Value,
        keys: &[&str],
        remedy: &str,
    ) -> Result<(), AssimError> {
        let bad = |msg: String| AssimError::Format { path: path.to_path_buf(), msg };
        if self.meta["kind"] != kind {
            return Err(bad(format!("is not a {what} (kind {})", self.meta["kind"])));
        }
        let made = &self.meta["made_by"];
        match keys.iter().find(|&&k| made[k] != expected[k]) {
            Some(k) => Err(bad(format!(
                "was made with another {k} ({} there, {} in the training file): {remedy}",
                made[k], expected[k]
            ))),
            None => Ok(()),
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let meta = serde_json::to_vec(&self.meta).expect("JSON metadata serialises");
        let mut b = Vec::with_capacity(
            64 + meta.len() + self.arrays.iter().map(|(_, v)| 4 * v.len() + 32).sum::<usize>(),
        );
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        b.extend_from_slice(&meta);
        b.extend_from_slice(&(self.arrays.len() as u64).to_le_bytes());
        for (name, values) in &self.arrays {
            b.extend_from_slice(&(name.len() as u64).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            b.extend_from_slice(&(values.len() as u64).to_le_bytes());
            for v in values {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        let h = fnv1a(&b);
        b.extend_from_slice(&h.to_le_bytes());
        b
    }

    /// Parses a checkpoint's bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, AssimError> {
        let bad = |msg: String| AssimError::Format { path: path.to_path_buf(), msg };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not an assim checkpoint (wrong magic bytes)".into()));
        }
        if bytes.len() < MAGIC.len() + 8 + 8 + 8 {
            return Err(bad(format!("truncated checkpoint ({} bytes)", bytes.len())));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let mut cur = Cursor { b: body, pos: MAGIC.len() };
        let truncated = |what: &str| bad(format!("truncated or corrupt checkpoint (while reading {what})"));
        let meta_len = cur.u64().ok_or_else(|| truncated("the metadata length"))? as usize;
        let meta = cur.take(meta_len).ok_or_else(|| truncated("the metadata"))?;
        let n_arrays = cur.u64().ok_or_else(|| truncated("the array count"))? as usize;
        let mut arrays = Vec::new();
        for _ in 0..n_arrays.min(1 << 16) {
            let nl = cur.u64().ok_or_else(|| truncated("an array name"))? as usize;
            let name = cur.take(nl).ok_or_else(|| truncated("an array name"))?;
            let name = String::from_utf8(name.to_vec()).map_err(|_| truncated("an array name"))?;
            let len = cur.u64().ok_or_else(|| truncated(&format!("array {name}")))? as usize;
            let raw = cur
                .take(len.checked_mul(4).ok_or_else(|| truncated(&name))?)
                .ok_or_else(|| truncated(&format!("array {name}")))?;
            let values = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            arrays.push((name, values));
        }
        if cur.pos != body.len() {
            return Err(bad("truncated or corrupt checkpoint (length mismatch)".into()));
        }
        let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
        if stored != fnv1a(body) {
            return Err(bad("corrupt checkpoint (checksum mismatch)".into()));
        }
        let meta =
            serde_json::from_slice(meta).map_err(|e| bad(format!("corrupt checkpoint metadata: {e}")))?;
        Ok(Checkpoint { meta, arrays })
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<(), AssimError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| AssimError::Io { path: dir.to_path_buf(), source })?;
        }
        write_atomic(path, &self.to_bytes())
    }

    /// Reads and verifies a checkpoint.
    pub fn load(path: &Path) -> Result<Self, AssimError> {
        let bytes =
            std::fs::read(path).map_err(|source| AssimError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, path)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            meta: serde_json::json!({"kind": "denoiser", "nx": 40}),
            arrays: vec![("params".into(), vec![1.0, -2.5, 3.25]), ("ema".into(), vec![0.5; 7])],
        }
    }

    #[test]
    fn round_trip_and_every_truncation_is_refused() {
        let c = sample();
        let b = c.to_bytes();
        let p = Path::new("x.ckpt");
        assert_eq!(Checkpoint::from_bytes(&b, p).unwrap(), c);
        for cut in 0..b.len() {
            let e = Checkpoint::from_bytes(&b[..cut], p).unwrap_err().to_string();
            assert!(e.starts_with("x.ckpt:"), "{e}");
        }
    }

    #[test]
    fn a_flipped_bit_is_refused() {
        let mut b = sample().to_bytes();
        let k = b.len() - 20;
        b[k] ^= 4;
        let e = Checkpoint::from_bytes(&b, Path::new("y.ckpt")).unwrap_err().to_string();
        assert!(e.contains("checksum") || e.contains("corrupt"), "{e}");
        let e =
            Checkpoint::from_bytes(b"hello world, not a checkpoint", Path::new("z")).unwrap_err().to_string();
        assert!(e.contains("not an assim checkpoint"), "{e}");
    }
}
