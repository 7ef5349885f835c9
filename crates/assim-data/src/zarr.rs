//! Zarr v2 and v3 stores into [`Dataset`]: the group's arrays read chunk by chunk (C order,
//! regular chunk grid, `.`/`/` key separators; Blosc, gzip, zlib and Zstd compressors; little-
//! and big-endian integers and floats), with CF packing (`scale_factor`, `add_offset`, fill
//! values) applied, and the CF layout of [`crate::gridded`]. A chunk missing from the store is an
//! error, not the fill value: in a copied reanalysis it means an incomplete copy.

use crate::codec;
use crate::error::{DataError, Result};
use crate::field::{Dataset, Format};
use crate::gridded::{self, Store};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How one array is stored.
#[derive(Debug, Clone)]
struct ArrayMeta {
    shape: Vec<usize>,
    chunks: Vec<usize>,
    dtype: DType,
    compressor: Compressor,
    /// Key of chunk (i, j, …): `prefix` + indices joined by `separator`.
    prefix: String,
    separator: String,
    fill_value: Option<f64>,
    dims: Vec<String>,
    attrs: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    UInt,
    Float,
}

#[derive(Debug, Clone, Copy)]
struct DType {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Compressor {
    None,
    Blosc,
    Gzip,
    Zlib,
    Zstd,
}

/// An open Zarr group.
struct Zarr {
    path: PathBuf,
    arrays: BTreeMap<String, ArrayMeta>,
    order: Vec<String>,
}

/// Reads every gridded variable of a Zarr v2 or v3 group (a directory).
pub fn read(path: &Path) -> Result<Dataset> {
    let store = open(path)?;
    let format = Format::Zarr(if path.join("zarr.json").exists() { 3 } else { 2 });
    let variables = gridded::variables(&store)?;
    Ok(Dataset { path: path.to_path_buf(), format, variables })
}

fn open(path: &Path) -> Result<Zarr> {
    let v3 = path.join("zarr.json").exists();
    if !v3 && !path.join(".zgroup").exists() {
        return Err(DataError::file(
            path,
            "not a Zarr group: neither `zarr.json` (v3) nor `.zgroup` (v2) is in it",
        ));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| DataError::file(path, format!("cannot list the store: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    let mut arrays = BTreeMap::new();
    let mut order = Vec::new();
    for dir in entries {
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let meta = if v3 { array_v3(path, &dir, &name)? } else { array_v2(path, &dir, &name)? };
        if let Some(meta) = meta {
            order.push(name.clone());
            arrays.insert(name, meta);
        }
    }
    Ok(Zarr { path: path.to_path_buf(), arrays, order })
}

fn json(store: &Path, file: &Path, name: &str) -> Result<Option<Value>> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_str(&python_json(&String::from_utf8_lossy(&bytes)))
            .map(Some)
            .map_err(|e| DataError::field(store, name, format!("{} is not valid JSON: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::field(store, name, format!("cannot read {}: {e}", file.display()))),
    }
}

/// zarr-python writes the fill value of a float array as a bare `NaN` (or `Infinity`), which JSON
/// does not allow: outside strings, those tokens become the strings Zarr v3 uses for them.
fn python_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t))
        {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn usizes(v: Option<&Value>) -> Option<Vec<usize>> {
    v?.as_array()?.iter().map(|x| x.as_u64().map(|x| x as usize)).collect()
}

/// A JSON list of strings (dimension names); empty when absent.
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|d| d.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn fill(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        Value::String(s) if s == "Infinity" => Some(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn array_v2(store: &Path, dir: &Path, name: &str) -> Result<Option<ArrayMeta>> {
    let Some(meta) = json(store, &dir.join(".zarray"), name)? else { return Ok(None) };
    let attrs =
        json(store, &dir.join(".zattrs"), name)?.and_then(|v| v.as_object().cloned()).unwrap_or_default();
    let bad = |why: String| DataError::field(store, name, why);
    let shape = usizes(meta.get("shape")).ok_or_else(|| bad("`.zarray` has no valid `shape`".into()))?;
    let chunks = usizes(meta.get("chunks")).ok_or_else(|| bad("`.zarray` has no valid `chunks`".into()))?;
    if meta.get("order").and_then(Value::as_str) == Some("F") {
        return Err(bad("Fortran-ordered chunks (`order: F`) are not supported".into()));
    }
    if meta.get("filters").is_some_and(|f| !f.is_null()) {
        return Err(bad(format!("filters {} are not supported", meta["filters"])));
    }
    let dtype = dtype_v2(meta.get("dtype").and_then(Value::as_str).unwrap_or("")).map_err(bad)?;
    let compressor = match meta.get("compressor") {
        None | Some(Value::Null) => Compressor::None,
        Some(c) => match c.get("id").and_then(Value::as_str) {
            Some("blosc") => Compressor::Blosc,
            Some("gzip") => Compressor::Gzip,
            Some("zlib") => Compressor::Zlib,
            Some("zstd") => Compressor::Zstd,
            other => {
                return Err(bad(format!(
                    "compressor {other:?} is not supported (blosc, gzip, zlib, zstd are)"
                )));
            }
        },
    };
    let separator = meta.get("dimension_separator").and_then(Value::as_str).unwrap_or(".").to_string();
    let dims = strings(attrs.get("_ARRAY_DIMENSIONS"));
    Ok(Some(ArrayMeta {
        shape,
        chunks,
        dtype,
        compressor,
        prefix: String::new(),
        separator,
        fill_value: fill(meta.get("fill_value")),
        dims,
        attrs,
    }))
}

fn dtype_v2(text: &str) -> std::result::Result<DType, String> {
    let bytes = text.as_bytes();
    if bytes.len() < 3 {
        return Err(format!("dtype `{text}` is not understood"));
    }
    let big_endian = bytes[0] == b'>';
    let kind = match bytes[1] {
        b'i' => Kind::Int,
        b'u' => Kind::UInt,
        b'f' => Kind::Float,
        _ => return Err(format!("dtype `{text}` is not an integer or float type")),
    };
    let size: usize = text[2..].parse().map_err(|_| format!("dtype `{text}` is not understood"))?;
    check_size(kind, size)
        .map(|_| DType { kind, size, big_endian })
        .map_err(|e| format!("dtype `{text}`: {e}"))
}

fn check_size(kind: Kind, size: usize) -> std::result::Result<(), String> {
    match (kind, size) {
        (Kind::Float, 4 | 8) | (Kind::Int | Kind::UInt, 1 | 2 | 4 | 8) => Ok(()),
        _ => Err(format!("{size}-byte {kind:?} is not supported")),
    }
}

fn array_v3(store: &Path, dir: &Path, name: &str) -> Result<Option<ArrayMeta>> {
    let Some(meta) = json(store, &dir.join("zarr.json"), name)? else { return Ok(None) };
    if meta.get("node_type").and_then(Value::as_str) != Some("array") {
        return Ok(None);
    }
    let bad = |why: String| DataError::field(store, name, why);
    let shape = usizes(meta.get("shape")).ok_or_else(|| bad("`zarr.json` has no valid `shape`".into()))?;
    let grid = meta.get("chunk_grid").ok_or_else(|| bad("`zarr.json` has no `chunk_grid`".into()))?;
    if grid.get("name").and_then(Value::as_str) != Some("regular") {
        return Err(bad(format!("chunk grid {} is not `regular`", grid["name"])));
    }
    let chunks = usizes(grid.pointer("/configuration/chunk_shape"))
        .ok_or_else(|| bad("`chunk_grid` has no `chunk_shape`".into()))?;
    let (kind, size) = match meta.get("data_type").and_then(Value::as_str).unwrap_or("") {
        "int8" => (Kind::Int, 1),
        "int16" => (Kind::Int, 2),
        "int32" => (Kind::Int, 4),
        "int64" => (Kind::Int, 8),
        "uint8" => (Kind::UInt, 1),
        "uint16" => (Kind::UInt, 2),
        "uint32" => (Kind::UInt, 4),
        "uint64" => (Kind::UInt, 8),
        "float32" => (Kind::Float, 4),
        "float64" => (Kind::Float, 8),
        other => return Err(bad(format!("data type `{other}` is not supported"))),
    };
    let mut big_endian = false;
    let mut compressor = Compressor::None;
    for codec in meta.get("codecs").and_then(Value::as_array).into_iter().flatten() {
        match codec.get("name").and_then(Value::as_str) {
            Some("bytes") => {
                big_endian = codec.pointer("/configuration/endian").and_then(Value::as_str) == Some("big");
            }
            Some("blosc") => compressor = Compressor::Blosc,
            Some("gzip") => compressor = Compressor::Gzip,
            Some("zstd") => compressor = Compressor::Zstd,
            Some("transpose") => return Err(bad("the `transpose` codec is not supported".into())),
            Some("sharding_indexed") => return Err(bad("sharded arrays are not supported yet".into())),
            other => return Err(bad(format!("codec {other:?} is not supported"))),
        }
    }
    let encoding = meta.get("chunk_key_encoding");
    let v2_keys = encoding.and_then(|e| e.get("name")).and_then(Value::as_str) == Some("v2");
    let separator = encoding
        .and_then(|e| e.pointer("/configuration/separator"))
        .and_then(Value::as_str)
        .unwrap_or(if v2_keys { "." } else { "/" })
        .to_string();
    let dims = strings(meta.get("dimension_names"));
    Ok(Some(ArrayMeta {
        shape,
        chunks,
        dtype: DType { kind, size, big_endian },
        compressor,
        prefix: if v2_keys { String::new() } else { format!("c{separator}") },
        separator,
        fill_value: fill(meta.get("fill_value")),
        dims,
        attrs: meta.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default(),
    }))
}

impl Zarr {
    fn meta(&self, name: &str) -> Result<&ArrayMeta> {
        self.arrays.get(name).ok_or_else(|| DataError::field(&self.path, name, "no such array in the store"))
    }

    fn number_attr(&self, name: &str, attr: &str) -> Option<f64> {
        let v = self.arrays.get(name)?.attrs.get(attr)?;
        v.as_f64().or_else(|| v.as_array()?.first()?.as_f64())
    }

    /// The values of an array in C order, each stored value (as f64) passed through `convert`
    /// (CF unpacking, the narrowing to f32), so that no second full-size copy is made.
    fn values<T: Copy>(&self, name: &str, missing: T, convert: impl Fn(f64) -> T) -> Result<Vec<T>> {
        let meta = self.meta(name)?;
        let fail = |why: String| DataError::field(&self.path, name, why);
        let rank = meta.shape.len();
        if meta.chunks.len() != rank {
            return Err(fail(format!("chunks {:?} do not match shape {:?}", meta.chunks, meta.shape)));
        }
        let total: usize = meta.shape.iter().product();
        let mut out = vec![missing; total];
        if total == 0 {
            return Ok(out);
        }
        let grid: Vec<usize> =
            meta.shape.iter().zip(&meta.chunks).map(|(s, c)| s.div_ceil((*c).max(1))).collect();
        let chunk_len: usize = meta.chunks.iter().product();
        let mut index = vec![0usize; rank];
        loop {
            let key = if rank == 0 {
                "0".to_string()
            } else {
                format!(
                    "{}{}",
                    meta.prefix,
                    index.iter().map(usize::to_string).collect::<Vec<_>>().join(&meta.separator)
                )
            };
            let file = self.path.join(name).join(&key);
            let stored = std::fs::read(&file).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    fail(format!(
                        "chunk `{key}` is missing from the store (Zarr would read it as fill values; assim refuses an incomplete copy)"
                    ))
                } else {
                    fail(format!("chunk `{key}` cannot be read: {e}"))
                }
            })?;
            let bytes = match meta.compressor {
                Compressor::None => Ok(stored),
                Compressor::Blosc => codec::blosc(&stored),
                Compressor::Gzip => codec::gzip(&stored),
                Compressor::Zlib => codec::zlib(&stored),
                Compressor::Zstd => codec::zstd(&stored),
            }
            .map_err(|e| fail(format!("chunk `{key}` is corrupt: {e}")))?;
            if bytes.len() != chunk_len * meta.dtype.size {
                return Err(fail(format!(
                    "chunk `{key}` holds {} bytes, expected {} ({} values of {} bytes)",
                    bytes.len(),
                    chunk_len * meta.dtype.size,
                    chunk_len,
                    meta.dtype.size
                )));
            }
            // Copy the chunk's in-bounds part into place, one innermost row at a time.
            let origin: Vec<usize> = index.iter().zip(&meta.chunks).map(|(i, c)| i * c).collect();
            let extent: Vec<usize> =
                origin.iter().zip(&meta.shape).zip(&meta.chunks).map(|((o, s), c)| (*c).min(s - o)).collect();
            let rows: usize = extent[..rank.saturating_sub(1)].iter().product();
            let row_len = extent.last().copied().unwrap_or(1);
            let mut local = vec![0usize; rank.saturating_sub(1)];
            for _ in 0..rows {
                let mut src = 0;
                let mut dst = 0;
                for k in 0..rank.saturating_sub(1) {
                    src = src * meta.chunks[k] + local[k];
                    dst = dst * meta.shape[k] + origin[k] + local[k];
                }
                if rank > 0 {
                    src *= meta.chunks[rank - 1];
                    dst = dst * meta.shape[rank - 1] + origin[rank - 1];
                }
                for i in 0..row_len {
                    out[dst + i] = convert(decode(&bytes[(src + i) * meta.dtype.size..], meta.dtype));
                }
                for k in (0..local.len()).rev() {
                    local[k] += 1;
                    if local[k] < extent[k] {
                        break;
                    }
                    local[k] = 0;
                }
            }
            // Next chunk.
            let mut k = rank;
            loop {
                if k == 0 {
                    return Ok(out);
                }
                k -= 1;
                index[k] += 1;
                if index[k] < grid[k] {
                    break;
                }
                index[k] = 0;
            }
        }
    }
}

fn decode(b: &[u8], t: DType) -> f64 {
    let mut buf = [0u8; 8];
    buf[..t.size].copy_from_slice(&b[..t.size]);
    if t.big_endian {
        buf[..t.size].reverse();
    }
    match (t.kind, t.size) {
        (Kind::Float, 4) => f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as f64,
        (Kind::Float, _) => f64::from_le_bytes(buf),
        (Kind::Int, 1) => buf[0] as i8 as f64,
        (Kind::Int, 2) => i16::from_le_bytes([buf[0], buf[1]]) as f64,
        (Kind::Int, 4) => i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as f64,
        (Kind::Int, _) => i64::from_le_bytes(buf) as f64,
        (Kind::UInt, 1) => buf[0] as f64,
        (Kind::UInt, 2) => u16::from_le_bytes([buf[0], buf[1]]) as f64,
        (Kind::UInt, 4) => u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as f64,
        (Kind::UInt, _) => u64::from_le_bytes(buf) as f64,
    }
}

impl Store for Zarr {
    fn path(&self) -> &Path {
        &self.path
    }

    fn names(&self) -> Vec<String> {
        self.order.clone()
    }

    fn dims(&self, name: &str) -> Option<Vec<(String, usize)>> {
        let meta = self.arrays.get(name)?;
        if meta.dims.len() != meta.shape.len() {
            // Without dimension names an array cannot be placed: only a 1-D coordinate named
            // like its dimension can.
            return (meta.shape.len() == 1).then(|| vec![(name.to_string(), meta.shape[0])]);
        }
        Some(meta.dims.iter().cloned().zip(meta.shape.iter().copied()).collect())
    }

    fn text(&self, name: &str, attr: &str) -> Option<String> {
        self.arrays.get(name)?.attrs.get(attr)?.as_str().map(String::from)
    }

    fn read(&self, name: &str) -> Result<Vec<f64>> {
        let unpack = self.unpacking(name)?;
        self.values(name, f64::NAN, unpack)
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let unpack = self.unpacking(name)?;
        self.values(name, f32::NAN, |v| unpack(v) as f32)
    }
}

impl Zarr {
    /// CF packing of an array: values equal to `_FillValue`, `missing_value` or (for packed
    /// integers) the array's own fill value are missing; the rest get `scale_factor` and
    /// `add_offset`.
    fn unpacking(&self, name: &str) -> Result<impl Fn(f64) -> f64 + use<>> {
        let meta = self.meta(name)?;
        let attributes = [self.number_attr(name, "_FillValue"), self.number_attr(name, "missing_value")];
        // A float array's own fill value is a value the data may take (0.0), so only packed
        // integers and the CF attributes mark missing data.
        let own = (meta.dtype.kind != Kind::Float || attributes.iter().any(Option::is_some))
            .then_some(meta.fill_value);
        let missing: Vec<f64> =
            attributes.into_iter().chain(own).flatten().filter(|v| v.is_finite()).collect();
        let scale = self.number_attr(name, "scale_factor").unwrap_or(1.0);
        let offset = self.number_attr(name, "add_offset").unwrap_or(0.0);
        Ok(move |v: f64| if missing.contains(&v) { f64::NAN } else { v * scale + offset })
    }
}
