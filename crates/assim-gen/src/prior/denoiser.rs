//! Denoisers `d(x_t, σ, c) ≈ E[x | x_t, c]`: the one interface every prior, network and
//! guidance strategy implements (a guidance wraps another denoiser, SDA's and Appa's design).

use burn::tensor::{Device, Tensor, TensorData};
use faer::Mat;

use assim_core::AssimError;

/// The posterior mean of a clean state given its noisy version: the object a diffusion model
/// learns, and from which the score follows as `(d − x_t)/σ²`.
pub trait Denoiser {
    /// `E[x | x_t = x, c]` for a batch `x` of shape `[n, nx]` at noise level `sigma`;
    /// `cond` (shape `[n, nc]`, e.g. the background state) or `None` for an unconditional prior.
    fn denoise(&self, x: Tensor<2>, sigma: f64, cond: Option<&Tensor<2>>) -> Tensor<2>;
}

/// The exact denoiser of a Gaussian prior `N(μ, Σ)`:
/// `E[x | x_t] = μ + Σ (Σ + σ² I)⁻¹ (x_t − μ)`, from the eigen-decomposition of Σ.
///
/// The reference every sampler and guidance strategy is tested against: its samples must be
/// `N(μ, Σ)`, and with linear observations its guided samples the Kalman posterior.
pub struct GaussianPrior {
    mean: Vec<f64>,
    eigval: Vec<f64>,
    eigvec: Mat<f64>,
    device: Device,
}

impl GaussianPrior {
    /// The prior `N(mean, cov)`; `cov` must be symmetric positive semi-definite.
    pub fn new(mean: Vec<f64>, cov: &Mat<f64>, device: &Device) -> Result<Self, AssimError> {
        let nx = mean.len();
        if cov.nrows() != nx || cov.ncols() != nx {
            return Err(AssimError::Input(format!(
                "covariance is {}×{}, mean has {nx} entries",
                cov.nrows(),
                cov.ncols()
            )));
        }
        let evd = cov.as_ref().self_adjoint_eigen(faer::Side::Lower).map_err(|e| {
            AssimError::Numerical(format!("eigen-decomposition of the prior covariance: {e:?}"))
        })?;
        let eigval: Vec<f64> = (0..nx).map(|i| evd.S()[i]).collect();
        if eigval.iter().any(|&l| l < -1e-12 * eigval.iter().fold(0.0f64, |a, b| a.max(b.abs()))) {
            return Err(AssimError::Input("prior covariance is not positive semi-definite".into()));
        }
        let eigval = eigval.into_iter().map(|l| l.max(0.0)).collect();
        Ok(Self { mean, eigval, eigvec: evd.U().to_owned(), device: device.clone() })
    }

    /// State dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The gain `Σ (Σ + σ² I)⁻¹` (symmetric).
    pub fn gain(&self, sigma: f64) -> Mat<f64> {
        let nx = self.dim();
        let v = &self.eigvec;
        let f: Vec<f64> = self.eigval.iter().map(|&l| l / (l + sigma * sigma)).collect();
        Mat::from_fn(nx, nx, |i, j| (0..nx).map(|k| v[(i, k)] * f[k] * v[(j, k)]).sum())
    }
}

impl Denoiser for GaussianPrior {
    fn denoise(&self, x: Tensor<2>, sigma: f64, _cond: Option<&Tensor<2>>) -> Tensor<2> {
        let nx = self.dim();
        let k = self.gain(sigma);
        let kd: Vec<f32> = (0..nx * nx).map(|idx| k[(idx / nx, idx % nx)] as f32).collect();
        let kt = Tensor::<2>::from_data(TensorData::new(kd, [nx, nx]), &self.device);
        let mu = Tensor::<2>::from_data(
            TensorData::new(self.mean.iter().map(|&m| m as f32).collect::<Vec<f32>>(), [1, nx]),
            &self.device,
        );
        // Rows are states: x̂ = μ + (x − μ) Kᵀ, and K is symmetric.
        (x - mu.clone()).matmul(kt) + mu
    }
}
