//! A module's parameters as one flat f32 vector, in the module's fixed field order: what the
//! optimiser, the EMA and the checkpoints work on, independent of burn's parameter ids (which
//! change from one process to the next).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};

use assim_core::rng::{AssimRng, uniform};

/// The flat values of every float parameter, in visiting order.
pub fn flatten<M: Module>(module: &M) -> Vec<f32> {
    struct Out(Vec<f32>);
    impl ModuleVisitor for Out {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().to_data().iter::<f32>());
        }
    }
    let mut v = Out(Vec::new());
    module.visit(&mut v);
    v.0
}

/// The gradient of every float parameter (zeros where it has none), flattened like
/// [`flatten`].
pub fn flatten_grads<M: Module>(module: &M, grads: &Gradients) -> Vec<f32> {
    struct Out<'a>(Vec<f32>, &'a Gradients);
    impl ModuleVisitor for Out<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            match t.grad(self.1) {
                Some(g) => self.0.extend(g.to_data().iter::<f32>()),
                None => self.0.extend(std::iter::repeat_n(0.0, t.shape().num_elements())),
            }
        }
    }
    let mut v = Out(Vec::new(), grads);
    module.visit(&mut v);
    v.0
}

/// The module with its parameters replaced by `values` (as laid out by [`flatten`]) on
/// `device`; `require_grad` makes them trainable leaves (the device must then be autodiff).
pub fn load_flat<M: Module>(module: M, values: &[f32], device: &Device, require_grad: bool) -> M {
    struct In<'a> {
        values: &'a [f32],
        pos: usize,
        device: &'a Device,
        require_grad: bool,
    }
    impl ModuleMapper for In<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let shape = param.shape();
            let n = shape.num_elements();
            let data = TensorData::new(self.values[self.pos..self.pos + n].to_vec(), shape);
            self.pos += n;
            let (device, rg) = (self.device, self.require_grad);
            param.map(|_| {
                let t = Tensor::<D>::from_data(data, device);
                if rg { t.require_grad() } else { t }
            })
        }
    }
    let total = count(&module);
    assert_eq!(values.len(), total, "{} values for a module of {total} parameters", values.len());
    let mut m = In { values, pos: 0, device, require_grad };
    module.map(&mut m)
}

/// Number of float parameters.
pub fn count<M: Module>(module: &M) -> usize {
    struct C(usize);
    impl ModuleVisitor for C {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += param.shape().num_elements();
        }
    }
    let mut c = C(0);
    module.visit(&mut c);
    c.0
}

/// Seeded initial values (burn's default Kaiming-uniform, bound 1/√fan_in, for weights and
/// the biases after them), drawn from assim's generator so that the same seed gives the same
/// network on every backend and thread count. Convolution weights are `[out, in, k]`
/// (fan_in = in·k), linear weights `[in, out]` (fan_in = in).
pub fn init_values<M: Module>(module: &M, rng: &mut AssimRng) -> Vec<f32> {
    struct Init<'a> {
        out: Vec<f32>,
        fan_in: usize,
        rng: &'a mut AssimRng,
    }
    impl ModuleVisitor for Init<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let dims = param.shape();
            match D {
                4 => self.fan_in = dims[1] * dims[2] * dims[3],
                3 => self.fan_in = dims[1] * dims[2],
                2 => self.fan_in = dims[0],
                _ => {}
            }
            let bound = 1.0 / (self.fan_in.max(1) as f64).sqrt();
            for _ in 0..dims.num_elements() {
                self.out.push(((2.0 * uniform(self.rng) - 1.0) * bound) as f32);
            }
        }
    }
    let mut v = Init { out: Vec::new(), fan_in: 1, rng };
    module.visit(&mut v);
    v.out
}
