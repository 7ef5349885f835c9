//! Conversions between assim's f64 states and burn's f32 batches, and seeded noise.
//!
//! Noise is drawn from assim's own generator (ChaCha, [`assim_core::rng`]) and uploaded, not
//! from the backend's RNG, so the same seed gives the same samples on every backend.

use assim_core::rng::{AssimRng, fill_normal};
use burn::tensor::{Device, Tensor, TensorData};

/// A `[n, nx]` f32 batch from `n` row-major states of `nx` f64 values.
pub fn from_rows(values: &[f64], n: usize, nx: usize, device: &Device) -> Tensor<2> {
    assert_eq!(values.len(), n * nx, "{} values are not {n} states of {nx}", values.len());
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [n, nx]), device)
}

/// The row-major f64 values of a `[n, nx]` batch.
pub fn to_rows(t: &Tensor<2>) -> Vec<f64> {
    t.to_data().try_to_vec::<f32>().expect("an f32 tensor").into_iter().map(f64::from).collect()
}

/// A `[n, nx]` batch of standard-normal draws from `rng`.
pub fn normal(rng: &mut AssimRng, n: usize, nx: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0.0; n * nx];
    fill_normal(rng, &mut v);
    from_rows(&v, n, nx, device)
}

/// The device the networks run on: burn's pure-Rust `flex` CPU backend by default; with the
/// off-by-default `cuda` feature, `ASSIM_DEVICE=cuda` selects the first NVIDIA GPU.
pub fn compute_device() -> Result<Device, assim_core::AssimError> {
    match std::env::var("ASSIM_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("cpu") | Ok("flex") => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        Ok("cuda") => Ok(Device::cuda(0)),
        Ok(other) => Err(assim_core::AssimError::Input(format!(
            "ASSIM_DEVICE={other:?}: use \"cpu\"{}",
            if cfg!(feature = "cuda") { " or \"cuda\"" } else { " (this build has no `cuda` feature)" }
        ))),
    }
}

/// Keeps the memory of freed tensors in the process instead of returning it to the system:
/// burn's `flex` backend allocates and frees buffers of tens of MB at every operation of the
/// decoder, which glibc gives back and then page-faults in again, zeroed; perf put 28 % of a
/// T42 decoder pass in the kernel doing that. Two settings stop it: a 256 MB top pad and trim
/// threshold (`M_TOP_PAD`, `M_TRIM_THRESHOLD`: the heap is not shrunk after every free), and
/// no `mmap` for large blocks (`M_MMAP_MAX = 0`: glibc serves blocks above its mmap threshold,
/// at most 32 MB, from fresh mappings that are unmapped when freed, and a batch of 16 T42
/// decoder activations is 34 MB). With both a T42 analysis of 16 members takes a quarter
/// less (BENCHMARKS.md, "Cheap guided analyses"). Numbers are unchanged: only where memory
/// comes from changes. A no-op off glibc. Call it once, first thing in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread is started.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}
