//! BatchNorm2d on channel-major activations `[channels, batch, rows, cols]`, with PyTorch's
//! parameters and names: `weight` (γ), `bias` (β), `running_mean`, `running_var`.
//!
//! Training (an autodiff device) normalises with the statistics of the batch, through Burn's
//! `batch_norm_train` (one op with its own backward); evaluation uses the running statistics.
//!
//! The running statistics are parameters that never receive a gradient, so every generic
//! parameter walk carries them: `model.safetensors` and the checkpoint hold them under their
//! PyTorch names, and `--resume` restores them bit for bit. They are *not* updated inside
//! `forward`: with data-parallel shards ([`crate::parallel`]) two threads would race on them
//! and the result would depend on which finished first. Instead each training forward records
//! its batch statistics ([`super::batch_stats`]); the step combines the shards' records into
//! the statistics of the whole batch, in shard order, and [`update_running_stats`] moves the
//! running values towards them — the same numbers for any number of cores.

use super::batch_stats::{self, BatchStats};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use burn::tensor::TensorData;
use std::collections::HashMap;

/// PyTorch's defaults.
pub const EPSILON: f64 = 1e-5;
pub const MOMENTUM: f64 = 0.1;

#[derive(Module, Debug)]
pub struct BatchNorm2d {
    /// γ, `[channels]`.
    pub weight: Param<Tensor<1>>,
    /// β, `[channels]`.
    pub bias: Param<Tensor<1>>,
    /// `[channels]`, no gradient.
    pub running_mean: Param<Tensor<1>>,
    /// Unbiased running variance, `[channels]`, no gradient.
    pub running_var: Param<Tensor<1>>,
    pub epsilon: f64,
    /// Weight of the new batch in the running average (PyTorch's `momentum`).
    pub momentum: f64,
}

impl BatchNorm2d {
    /// γ = 1, β = 0, running mean 0 and variance 1 (PyTorch's initial values).
    pub fn new(channels: usize, device: &Device) -> Self {
        let fixed = |t: Tensor<1>| Param::from_tensor(t).set_require_grad(false);
        Self {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: fixed(Tensor::zeros([channels], device)),
            running_var: fixed(Tensor::ones([channels], device)),
            epsilon: EPSILON,
            momentum: MOMENTUM,
        }
    }

    /// `x`: `[channels, batch, rows, cols]`, same shape out.
    pub fn forward_cbhw(&self, x: Tensor<4>) -> Tensor<4> {
        let dims = x.dims();
        let [c, b, h, w] = dims;
        // Channels on axis 1 and everything else contiguous after them: no copy.
        let x = x.reshape([1, c, b * h * w]);
        let y = if x.device().is_autodiff() {
            let out = burn::tensor::module::batch_norm_train(x, self.weight.val(), self.bias.val(), self.epsilon);
            batch_stats::record(|| BatchStats {
                mean_id: self.running_mean.id,
                var_id: self.running_var.id,
                mean: crate::host_f32(out.mean),
                var: crate::host_f32(out.variance),
                count: b * h * w,
                momentum: self.momentum,
            });
            out.output
        } else {
            burn::tensor::module::batch_norm(x, self.weight.val(), self.bias.val(), self.running_mean.val(), self.running_var.val(), self.epsilon)
        };
        y.reshape(dims)
    }
}

/// Moves every running mean and variance of `model` named in `stats` (the combined statistics
/// of a whole batch) towards them: `running = (1 − momentum)·running + momentum·batch`, with
/// the batch variance made unbiased (`n / (n − 1)`), as PyTorch does.
pub fn update_running_stats<M: Module>(model: M, stats: &[BatchStats]) -> M {
    if stats.is_empty() {
        return model;
    }
    let mut targets: HashMap<ParamId, (Vec<f32>, f64)> = HashMap::new();
    for s in stats {
        let unbias = if s.count > 1 { s.count as f64 / (s.count - 1) as f64 } else { 1.0 };
        targets.insert(s.mean_id, (s.mean.clone(), s.momentum));
        targets.insert(s.var_id, (s.var.iter().map(|&v| (f64::from(v) * unbias) as f32).collect(), s.momentum));
    }
    model.map(&mut RunningUpdate { targets })
}

struct RunningUpdate {
    targets: HashMap<ParamId, (Vec<f32>, f64)>,
}

impl ModuleMapper for RunningUpdate {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((batch, m)) = self.targets.get(&param.id) else { return param };
        let m = *m;
        let (id, tensor, mapper) = param.consume();
        let (shape, device) = (tensor.shape(), tensor.device());
        let values: Vec<f32> = crate::host_f32(tensor).iter().zip(batch).map(|(&r, &b)| ((1.0 - m) * f64::from(r) + m * f64::from(b)) as f32).collect();
        Param::from_mapped_value(id, Tensor::<D>::from_data(TensorData::new(values, shape), &device), mapper).set_require_grad(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<4>) -> Vec<f32> {
        crate::host_f32(t)
    }

    fn set(p: &Param<Tensor<1>>, v: &[f32], device: &Device) -> Param<Tensor<1>> {
        Param::initialized(p.id, Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device))
    }

    /// Eval mode by hand: y = γ (x − μ) / sqrt(σ² + ε) + β per channel.
    #[test]
    fn eval_output_by_hand() {
        let device = Device::flex();
        let mut bn = BatchNorm2d::new(2, &device);
        bn.weight = set(&bn.weight, &[2.0, 0.5], &device);
        bn.bias = set(&bn.bias, &[1.0, -1.0], &device);
        bn.running_mean = set(&bn.running_mean, &[1.0, -2.0], &device);
        bn.running_var = set(&bn.running_var, &[4.0 - 1e-5, 0.25 - 1e-5], &device);
        // [2 channels, 1 image, 1x2]: channel 0 holds 3, -1; channel 1 holds -2, -1.5.
        let x = Tensor::<4>::from_data(TensorData::new(vec![3.0f32, -1.0, -2.0, -1.5], [2, 1, 1, 2]), &device);
        let y = values(bn.forward_cbhw(x));
        // channel 0: 2·(3−1)/2 + 1 = 3, 2·(−1−1)/2 + 1 = −1; channel 1: 0.5·0/0.5 − 1 = −1, 0.5·0.5/0.5 − 1 = −0.5
        let expected = [3.0f32, -1.0, -1.0, -0.5];
        for (a, e) in y.iter().zip(expected) {
            assert!((a - e).abs() < 1e-5, "{y:?} vs {expected:?}");
        }
    }

    /// Train mode: normalised with the batch's own statistics (biased variance), which are
    /// recorded for the running update; the running values are not touched by forward.
    #[test]
    fn train_output_and_recorded_statistics_by_hand() {
        let device = Device::flex().autodiff();
        let bn = BatchNorm2d::new(1, &device);
        // One channel, values 1, 2, 3, 6 over 2 images of 1x2: mean 3, biased variance 3.5.
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 6.0], [1, 2, 1, 2]), &device).require_grad();
        let (y, stats) = batch_stats::capture(|| bn.forward_cbhw(x));
        let s = (3.5f32 + 1e-5).sqrt();
        let expected = [-2.0 / s, -1.0 / s, 0.0, 3.0 / s];
        for (a, e) in values(y).iter().zip(expected) {
            assert!((a - e).abs() < 1e-5, "{a} vs {e}");
        }
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].mean.as_slice(), stats[0].var.as_slice(), stats[0].count), (&[3.0f32][..], &[3.5f32][..], 4));
        assert_eq!(crate::host_f32(bn.running_mean.val()), vec![0.0]);

        // running = 0.9·0 + 0.1·3 = 0.3; var = 0.9·1 + 0.1·3.5·4/3 = 1.0666…
        let bn = update_running_stats(bn, &stats);
        assert!((crate::host_f32(bn.running_mean.val())[0] - 0.3).abs() < 1e-6);
        assert!((crate::host_f32(bn.running_var.val())[0] - (0.9 + 0.1 * 3.5 * 4.0 / 3.0)).abs() < 1e-6);
        assert!(!bn.running_mean.is_require_grad() && !bn.running_var.is_require_grad());
    }

}
