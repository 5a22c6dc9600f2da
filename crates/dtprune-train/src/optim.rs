//! Mask-aware optimizers (Adam, SGD with momentum), written against Burn's module mapper so the
//! pruning hooks sit exactly where they must:
//! - masked gradients are zeroed before the update;
//! - the optimizer state of masked weights (Adam moments, momentum buffers) is zeroed when the
//!   mask changes, so it stays exactly zero instead of decaying into subnormal floats (which in a
//!   PyTorch peer run halved training speed);
//! - masked weights are exactly zero after every step;
//! - with regrowth, a dense shadow copy of the weights keeps receiving the (straight-through)
//!   gradient and the module holds `shadow * mask` (Dynamic Network Surgery).
//!
//! All state is plain tensors keyed by parameter id, flattened to rank 1, so it can be
//! serialised for an exact resume.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// Optimizer hyper-parameters. Adam's ε defaults to PyTorch's 1e-8 (Burn's own Adam uses 1e-5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub momentum: f64,
    /// L2 penalty added to the gradient (as `torch.optim.Adam`/`SGD` `weight_decay`).
    pub weight_decay: f64,
}

impl OptimizerConfig {
    pub fn adam() -> Self {
        Self { kind: OptimizerKind::Adam, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0.0, weight_decay: 0.0 }
    }

    pub fn sgd(momentum: f64) -> Self {
        Self { kind: OptimizerKind::Sgd, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum, weight_decay: 0.0 }
    }
}

#[derive(Debug, Clone)]
struct ParamState {
    steps: u64,
    /// Adam first moment, or the SGD momentum buffer.
    first: Option<Tensor<1>>,
    /// Adam second moment.
    second: Option<Tensor<1>>,
    mask: Option<Tensor<1>>,
    shadow: Option<Tensor<1>>,
}

/// A host-side mask waiting to be moved to the parameter's device at the next step.
#[derive(Debug, Clone)]
struct MaskUpdate {
    /// Burn layout, flattened.
    mask: Vec<f32>,
    /// New shadow values (regrowth), Burn layout.
    shadow: Option<Vec<f32>>,
}

pub struct MaskedOptimizer {
    config: OptimizerConfig,
    states: HashMap<ParamId, ParamState>,
    pending: HashMap<ParamId, MaskUpdate>,
    regrowth: bool,
    /// Running sum of squared gradient norms per masked parameter since the last read.
    grad_sq: HashMap<ParamId, Tensor<1>>,
    track_grads: Vec<ParamId>,
}

impl MaskedOptimizer {
    pub fn new(config: OptimizerConfig, regrowth: bool) -> Self {
        Self { config, states: HashMap::new(), pending: HashMap::new(), regrowth, grad_sq: HashMap::new(), track_grads: Vec::new() }
    }

    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Record gradient norms of these parameters (the prunable ones) for the monitor.
    pub fn track_gradients(&mut self, ids: Vec<ParamId>) {
        self.track_grads = ids;
    }

    /// Installs a new mask (Burn layout, flattened) for a parameter; applied at its next step,
    /// or immediately to the module with [`MaskedOptimizer::apply_pending`].
    pub fn set_mask(&mut self, id: ParamId, mask: Vec<f32>, shadow: Option<Vec<f32>>) {
        self.pending.insert(id, MaskUpdate { mask, shadow });
    }

    /// Dense shadow weights (Burn layout) of a parameter, when training with regrowth.
    pub fn shadow(&self, id: &ParamId) -> Option<Vec<f32>> {
        self.states.get(id)?.shadow.as_ref().map(|s| s.to_data().convert::<f32>().try_into_vec::<f32>().expect("f32 shadow"))
    }

    /// Sum over steps of ‖g‖² for each tracked parameter since the last call, then reset.
    pub fn take_grad_sq(&mut self) -> HashMap<ParamId, f64> {
        self.grad_sq.drain().map(|(id, t)| (id, f64::from(t.into_scalar::<f32>()))).collect()
    }

    /// Moves pending masks into the state and applies them to the module right away (zeroes
    /// masked weights and their optimizer state), without an optimizer step.
    pub fn apply_pending<M: Module>(&mut self, module: M) -> M {
        module.map(&mut Stepper { opt: self, grads: None, lr: 0.0 })
    }

    /// One optimizer step over every parameter that has a gradient.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        module.map(&mut Stepper { opt: self, grads: Some(&mut grads), lr })
    }

    fn install_pending(&mut self, id: ParamId, weights: &Tensor<1>) -> Option<Tensor<1>> {
        let update = self.pending.remove(&id)?;
        let device = weights.device();
        let n = update.mask.len();
        let mask = Tensor::<1>::from_data(TensorData::new(update.mask, [n]), &device);
        let regrowth = self.regrowth;
        let state = self.states.entry(id).or_insert_with(ParamState::empty);
        if regrowth {
            let shadow = match update.shadow {
                Some(s) => Tensor::<1>::from_data(TensorData::new(s, [n]), &device),
                None => state.shadow.clone().unwrap_or_else(|| weights.clone()),
            };
            state.shadow = Some(shadow);
        } else {
            // Zero the state of masked weights once; masked gradients keep it at exactly zero.
            state.first = state.first.take().map(|t| t * mask.clone());
            state.second = state.second.take().map(|t| t * mask.clone());
        }
        state.mask = Some(mask.clone());
        let base = state.shadow.clone().unwrap_or_else(|| weights.clone());
        Some(base * mask)
    }
}

impl ParamState {
    fn empty() -> Self {
        Self { steps: 0, first: None, second: None, mask: None, shadow: None }
    }
}

struct Stepper<'a> {
    opt: &'a mut MaskedOptimizer,
    grads: Option<&'a mut GradientsParams>,
    lr: f64,
}

impl ModuleMapper for Stepper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let numel = shape.num_elements();
        let mut weights: Tensor<1> = tensor.clone().inner().reshape([numel]);
        let mut changed = false;
        if let Some(masked) = self.opt.install_pending(id, &weights) {
            weights = masked;
            changed = true;
        }
        let grad = self.grads.as_mut().and_then(|g| g.remove::<D>(id));
        if let Some(grad) = grad {
            weights = self.opt.update(id, weights, grad.reshape([numel]), self.lr);
            changed = true;
        }
        if !changed {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let mut t = Tensor::<D>::from_inner(weights.reshape(shape));
        if require_grad {
            t = t.require_grad();
        }
        Param::from_mapped_value(id, t, mapper)
    }
}

impl MaskedOptimizer {
    /// The update rule for one flattened parameter; returns the new (masked) weights.
    fn update(&mut self, id: ParamId, weights: Tensor<1>, grad: Tensor<1>, lr: f64) -> Tensor<1> {
        let c = self.config;
        let regrowth = self.regrowth;
        let state = self.states.entry(id).or_insert_with(ParamState::empty);
        state.steps += 1;
        // With regrowth the shadow is what trains, and the gradient reaches masked weights
        // (straight-through); without, masked gradients are cut here.
        let base = match (&state.shadow, regrowth) {
            (Some(s), true) => s.clone(),
            _ => weights,
        };
        let mut g = match (&state.mask, regrowth) {
            (Some(m), false) => grad * m.clone(),
            _ => grad,
        };
        if self.track_grads.contains(&id) {
            let sq = g.clone().powi_scalar(2).sum();
            let acc = match self.grad_sq.remove(&id) {
                Some(a) => a + sq,
                None => sq,
            };
            self.grad_sq.insert(id, acc);
        }
        if c.weight_decay > 0.0 {
            g = g + base.clone().mul_scalar(c.weight_decay);
        }
        let updated = match c.kind {
            OptimizerKind::Adam => {
                let m = match state.first.take() {
                    Some(m) => m.mul_scalar(c.beta1) + g.clone().mul_scalar(1.0 - c.beta1),
                    None => g.clone().mul_scalar(1.0 - c.beta1),
                };
                let v = match state.second.take() {
                    Some(v) => v.mul_scalar(c.beta2) + g.powi_scalar(2).mul_scalar(1.0 - c.beta2),
                    None => g.powi_scalar(2).mul_scalar(1.0 - c.beta2),
                };
                let t = state.steps as i32;
                let step_size = lr / (1.0 - c.beta1.powi(t));
                let denom = v.clone().div_scalar(1.0 - c.beta2.powi(t)).sqrt().add_scalar(c.epsilon);
                let out = base - m.clone().div(denom).mul_scalar(step_size);
                state.first = Some(m);
                state.second = Some(v);
                out
            }
            OptimizerKind::Sgd => {
                if c.momentum > 0.0 {
                    let buf = match state.first.take() {
                        Some(b) => b.mul_scalar(c.momentum) + g,
                        None => g,
                    };
                    let out = base - buf.clone().mul_scalar(lr);
                    state.first = Some(buf);
                    out
                } else {
                    base - g.mul_scalar(lr)
                }
            }
        };
        match (&state.mask, regrowth) {
            (Some(m), true) => {
                state.shadow = Some(updated.clone());
                updated * m.clone()
            }
            (Some(m), false) => updated * m.clone(),
            (None, _) => updated,
        }
    }

    /// Host copies of the optimizer state of one parameter (first, second moment), for tests
    /// and for checkpoints.
    pub fn state_of(&self, id: &ParamId) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let read = |t: &Option<Tensor<1>>| t.as_ref().map(|t| t.to_data().convert::<f32>().try_into_vec::<f32>().expect("f32 state"));
        self.states.get(id).map_or((None, None), |s| (read(&s.first), read(&s.second)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::list_params;
    use burn::nn::{Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Tiny {
        fc: Linear,
    }

    fn tiny(device: &Device) -> Tiny {
        Tiny { fc: LinearConfig::new(4, 3).init(device) }
    }

    fn weights(m: &Tiny) -> Vec<f32> {
        m.fc.weight.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn step(opt: &mut MaskedOptimizer, m: Tiny, device: &Device, seed: f32) -> Tiny {
        let x = Tensor::<2>::from_data(TensorData::new((0..8).map(|i| (i as f32 * 0.37 + seed).sin()).collect::<Vec<_>>(), [2, 4]), device);
        let loss = m.fc.forward(x).powi_scalar(2).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        opt.step(0.01, m, grads)
    }

    #[test]
    fn adam_first_step_by_hand() {
        // w = 1, g = 0.5, lr = 0.1: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25,
        // w' = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.9
        let device = Device::flex();
        let mut opt = MaskedOptimizer::new(OptimizerConfig::adam(), false);
        let id = ParamId::new();
        let w = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), &device);
        let g = Tensor::<1>::from_data(TensorData::new(vec![0.5f32], [1]), &device);
        let out = opt.update(id, w, g, 0.1).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        assert!((out[0] - 0.9).abs() < 1e-6, "{out:?}");
        let (m, v) = opt.state_of(&id);
        assert!((m.unwrap()[0] - 0.05).abs() < 1e-7);
        assert!((v.unwrap()[0] - 0.00025).abs() < 1e-9);
    }

    #[test]
    fn sgd_momentum_by_hand() {
        // buf = g = 0.5, w = 1 - 0.1 * 0.5 = 0.95; then buf = 0.9 * 0.5 + 0.5 = 0.95, w = 0.95 - 0.095
        let device = Device::flex();
        let mut opt = MaskedOptimizer::new(OptimizerConfig::sgd(0.9), false);
        let id = ParamId::new();
        let t = |v: f32| Tensor::<1>::from_data(TensorData::new(vec![v], [1]), &device);
        let w = opt.update(id, t(1.0), t(0.5), 0.1);
        let w = opt.update(id, w, t(0.5), 0.1).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        assert!((w[0] - 0.855).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn masked_weights_gradients_and_moments_stay_zero() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let mut m = tiny(&device);
        let mut opt = MaskedOptimizer::new(OptimizerConfig::adam(), false);
        // Some steps first so the moments are nonzero everywhere.
        for s in 0..3 {
            m = step(&mut opt, m, &device, s as f32);
        }
        let info = list_params(&m).into_iter().find(|p| p.name == "fc.weight").unwrap();
        let mask: Vec<f32> = (0..12).map(|i| if i % 3 == 0 { 0.0 } else { 1.0 }).collect();
        opt.track_gradients(vec![info.id]);
        opt.set_mask(info.id, mask.clone(), None);
        m = opt.apply_pending(m);
        let before = weights(&m);
        for s in 0..5 {
            m = step(&mut opt, m, &device, 10.0 + s as f32);
            let w = weights(&m);
            let (first, second) = opt.state_of(&info.id);
            let (first, second) = (first.unwrap(), second.unwrap());
            for i in 0..12 {
                if mask[i] == 0.0 {
                    // Exactly zero (a masked negative weight becomes -0.0, which is zero).
                    assert_eq!(w[i], 0.0, "masked weight {i} moved");
                    assert_eq!(first[i], 0.0, "first moment of masked weight {i}");
                    assert_eq!(second[i], 0.0, "second moment of masked weight {i}");
                }
            }
        }
        let after = weights(&m);
        assert!((0..12).any(|i| mask[i] == 1.0 && after[i] != before[i]), "kept weights train");
        assert!(opt.take_grad_sq()[&info.id] > 0.0);
    }

    #[test]
    fn regrowth_trains_the_shadow_but_not_the_module() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let mut m = tiny(&device);
        let mut opt = MaskedOptimizer::new(OptimizerConfig::adam(), true);
        let info = list_params(&m).into_iter().find(|p| p.name == "fc.weight").unwrap();
        let mut mask = vec![1.0f32; 12];
        mask[4] = 0.0;
        opt.set_mask(info.id, mask, None);
        m = opt.apply_pending(m);
        let shadow_before = opt.shadow(&info.id).unwrap();
        for s in 0..3 {
            m = step(&mut opt, m, &device, s as f32);
        }
        assert_eq!(weights(&m)[4], 0.0);
        let shadow_after = opt.shadow(&info.id).unwrap();
        assert_ne!(shadow_after[4], shadow_before[4], "the masked weight's shadow keeps receiving its gradient");
    }
}
