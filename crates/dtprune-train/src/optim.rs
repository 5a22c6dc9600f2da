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
//! The update is one fused pass over each parameter's host values (weights, gradient, moments,
//! mask), split in fixed-size chunks across the cores. Written as tensor operations it was about
//! seventeen element-wise passes, each allocating a tensor: memory-bound work that took a
//! quarter of LeNet-300's training time. State is plain `Vec<f32>` keyed by parameter id, Burn
//! layout, flattened, so it can be serialised for an exact resume.

mod finite;
mod snapshot;

pub use snapshot::ParamSnapshot;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;
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
    /// SGD only: Nesterov momentum (`torch.optim.SGD(nesterov=True)`).
    #[serde(default)]
    pub nesterov: bool,
}

impl OptimizerConfig {
    pub fn adam() -> Self {
        Self { kind: OptimizerKind::Adam, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0.0, weight_decay: 0.0, nesterov: false }
    }

    pub fn sgd(momentum: f64) -> Self {
        Self { kind: OptimizerKind::Sgd, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum, weight_decay: 0.0, nesterov: false }
    }
}

#[derive(Debug, Clone)]
struct ParamState {
    steps: u64,
    /// Adam first moment, or the SGD momentum buffer.
    first: Option<Vec<f32>>,
    /// Adam second moment.
    second: Option<Vec<f32>>,
    mask: Option<Vec<f32>>,
    shadow: Option<Vec<f32>>,
}

/// A host-side mask waiting to be applied at the parameter's next step.
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
    grad_sq: HashMap<ParamId, f64>,
    track_grads: Vec<ParamId>,
    /// Per-element Σ g² (Burn layout) and the steps summed, per tracked parameter, since the
    /// last read: only when a policy scores weights by their gradients.
    element_grad_sq: Option<HashMap<ParamId, (Vec<f32>, u64)>>,
    /// The first parameter whose values became NaN or infinite in a step (divergence).
    non_finite: Option<ParamId>,
}

/// Elements per parallel work item. Fixed, so the chunking (and the order in which the
/// gradient-norm partial sums are added) never depends on the number of cores.
const CHUNK: usize = 16 * 1024;

impl MaskedOptimizer {
    pub fn new(config: OptimizerConfig, regrowth: bool) -> Self {
        Self { config, states: HashMap::new(), pending: HashMap::new(), regrowth, grad_sq: HashMap::new(), track_grads: Vec::new(), element_grad_sq: None, non_finite: None }
    }

    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Record gradient norms of these parameters (the prunable ones) for the monitor.
    pub fn track_gradients(&mut self, ids: Vec<ParamId>) {
        self.track_grads = ids;
    }

    /// Also sum g² per element of the tracked parameters (the raw gradient, masked entries
    /// included), for gradient-based importance scores.
    pub fn track_element_gradients(&mut self) {
        self.element_grad_sq.get_or_insert_with(HashMap::new);
    }

    /// Per tracked parameter, the per-element mean of g² (Burn layout) over the steps since the
    /// last call, then reset. Empty unless [`MaskedOptimizer::track_element_gradients`].
    pub fn take_element_grad_sq(&mut self) -> HashMap<ParamId, Vec<f32>> {
        let Some(sums) = self.element_grad_sq.as_mut() else { return HashMap::new() };
        std::mem::take(sums)
            .into_iter()
            .map(|(id, (mut sum, steps))| {
                let scale = 1.0 / steps.max(1) as f32;
                sum.iter_mut().for_each(|v| *v *= scale);
                (id, sum)
            })
            .collect()
    }

    /// Installs a new mask (Burn layout, flattened) for a parameter; applied at its next step,
    /// or immediately to the module with [`MaskedOptimizer::apply_pending`].
    pub fn set_mask(&mut self, id: ParamId, mask: Vec<f32>, shadow: Option<Vec<f32>>) {
        self.pending.insert(id, MaskUpdate { mask, shadow });
    }

    /// Dense shadow weights (Burn layout) of a parameter, when training with regrowth.
    pub fn shadow(&self, id: &ParamId) -> Option<Vec<f32>> {
        self.states.get(id)?.shadow.clone()
    }

    /// Sum over steps of ‖g‖² for each tracked parameter since the last call, then reset.
    pub fn take_grad_sq(&mut self) -> HashMap<ParamId, f64> {
        std::mem::take(&mut self.grad_sq)
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

    /// The parameter whose weights (or, with regrowth, shadow weights) stopped being finite
    /// since the last call — a NaN or infinite gradient puts its NaN there too.
    pub fn take_non_finite(&mut self) -> Option<ParamId> {
        self.non_finite.take()
    }

    /// Host copies of the optimizer state of one parameter (first, second moment), for tests
    /// and for checkpoints.
    pub fn state_of(&self, id: &ParamId) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        self.states.get(id).map_or((None, None), |s| (s.first.clone(), s.second.clone()))
    }

    /// Moves a pending mask into the state and masks `weights` (flattened, Burn layout) with it.
    /// Returns whether there was one.
    fn install_pending(&mut self, id: ParamId, weights: &mut [f32]) -> bool {
        let Some(update) = self.pending.remove(&id) else { return false };
        let regrowth = self.regrowth;
        let state = self.states.entry(id).or_insert_with(ParamState::empty);
        let mask = update.mask;
        if regrowth {
            let shadow = update.shadow.or_else(|| state.shadow.take()).unwrap_or_else(|| weights.to_vec());
            weights.copy_from_slice(&shadow);
            state.shadow = Some(shadow);
        } else {
            // Zero the state of masked weights once; masked gradients keep it at exactly zero.
            for buffer in [&mut state.first, &mut state.second].into_iter().flatten() {
                buffer.iter_mut().zip(&mask).for_each(|(b, m)| *b *= m);
            }
        }
        // `+ 0.0`: a negative value times a 0 mask is −0.0; masked weights must be exactly +0.0.
        weights.iter_mut().zip(&mask).for_each(|(w, m)| *w = *w * m + 0.0);
        state.mask = Some(mask);
        true
    }

    /// The update rule for one flattened parameter: `weights` becomes the new (masked) weights.
    fn update(&mut self, id: ParamId, weights: &mut [f32], grad: &[f32], lr: f64) {
        let n = weights.len();
        let c = self.config;
        let regrowth = self.regrowth;
        let state = self.states.entry(id).or_insert_with(ParamState::empty);
        state.steps += 1;
        let t = state.steps as i32;
        let rule = match c.kind {
            OptimizerKind::Adam => Rule::Adam {
                beta1: c.beta1 as f32,
                beta2: c.beta2 as f32,
                rest1: (1.0 - c.beta1) as f32,
                rest2: (1.0 - c.beta2) as f32,
                // Bias corrections folded into two scalars, computed in f64.
                step_size: (lr / (1.0 - c.beta1.powi(t))) as f32,
                v_scale: (1.0 / (1.0 - c.beta2.powi(t))) as f32,
                epsilon: c.epsilon as f32,
            },
            OptimizerKind::Sgd if c.momentum > 0.0 => Rule::Momentum { momentum: c.momentum as f32, lr: lr as f32, nesterov: c.nesterov },
            OptimizerKind::Sgd => Rule::Plain { lr: lr as f32 },
        };
        let first_step = |buffer: &mut Option<Vec<f32>>, needed: bool| {
            if needed && buffer.is_none() {
                *buffer = Some(vec![0.0; n]);
            }
        };
        first_step(&mut state.first, !matches!(rule, Rule::Plain { .. }));
        first_step(&mut state.second, matches!(rule, Rule::Adam { .. }));
        // With regrowth the shadow is what trains; the module gets `shadow * mask`.
        let shadow = if regrowth { state.shadow.as_deref_mut() } else { None };
        let view = Update {
            rule,
            weight_decay: c.weight_decay as f32,
            // Without regrowth masked gradients are cut; with it they reach the shadow
            // (straight-through).
            cut_masked: !regrowth,
            lr: lr as f32,
        };
        let mask = state.mask.as_deref();
        let first = state.first.as_deref_mut();
        let second = state.second.as_deref_mut();
        let grad_sq = view.run(weights, shadow, grad, mask, first, second);
        if self.track_grads.contains(&id) {
            *self.grad_sq.entry(id).or_insert(0.0) += grad_sq;
            if let Some(sums) = self.element_grad_sq.as_mut() {
                let (sum, steps) = sums.entry(id).or_insert_with(|| (vec![0.0; n], 0));
                sum.iter_mut().zip(grad).for_each(|(s, g)| *s += g * g);
                *steps += 1;
            }
        }
    }
}

impl ParamState {
    fn empty() -> Self {
        Self { steps: 0, first: None, second: None, mask: None, shadow: None }
    }
}

#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `rest1`, `rest2`: `1 - β` computed in f64 (`1 - 0.999` in f32 is off by 5e-5 relative).
    Adam { beta1: f32, beta2: f32, rest1: f32, rest2: f32, step_size: f32, v_scale: f32, epsilon: f32 },
    Momentum { momentum: f32, lr: f32, nesterov: bool },
    Plain { lr: f32 },
}

/// One fused optimizer pass.
#[derive(Debug, Clone, Copy)]
struct Update {
    rule: Rule,
    weight_decay: f32,
    cut_masked: bool,
    /// The step's learning rate, for the plain straight-through step of masked shadows.
    lr: f32,
}

impl Update {
    /// Updates every element; returns Σ g² of the (masked) gradient.
    fn run(self, weights: &mut [f32], shadow: Option<&mut [f32]>, grad: &[f32], mask: Option<&[f32]>, first: Option<&mut [f32]>, second: Option<&mut [f32]>) -> f64 {
        let n = weights.len();
        let chunks = n.div_ceil(CHUNK);
        // Split every buffer the same way; absent buffers become empty chunk lists.
        fn split(b: Option<&mut [f32]>, chunks: usize) -> Vec<Option<&mut [f32]>> {
            match b {
                Some(b) => b.chunks_mut(CHUNK).map(Some).collect(),
                None => (0..chunks).map(|_| None).collect(),
            }
        }
        let shadows = split(shadow, chunks);
        let firsts = split(first, chunks);
        let seconds = split(second, chunks);
        let partial: Vec<f64> = weights
            .par_chunks_mut(CHUNK)
            .zip(shadows)
            .zip(firsts)
            .zip(seconds)
            .enumerate()
            .map(|(i, (((w, s), m1), m2))| {
                let range = i * CHUNK..(i * CHUNK + w.len());
                self.run_chunk(w, s, &grad[range.clone()], mask.map(|m| &m[range]), m1, m2)
            })
            .collect();
        partial.iter().sum()
    }

    /// Three simple passes over one chunk (small enough to stay in cache), each a plain loop
    /// over zipped slices that the compiler vectorises.
    fn run_chunk(self, weights: &mut [f32], shadow: Option<&mut [f32]>, grad: &[f32], mask: Option<&[f32]>, first: Option<&mut [f32]>, second: Option<&mut [f32]>) -> f64 {
        // 1. The effective gradient: masked (unless straight-through), its squared norm, decay.
        let mut g = grad.to_vec();
        if let (true, Some(mask)) = (self.cut_masked, mask) {
            g.iter_mut().zip(mask).for_each(|(g, k)| *g *= k);
        }
        let grad_sq = sum_of_squares(&g);
        // 2. The rule, applied to the shadow (regrowth) or to the weights themselves;
        // 3. the module holds the masked result (of the shadow, with regrowth).
        match shadow {
            Some(shadow) => {
                let mask = mask.expect("a shadow exists only with a mask");
                // A masked weight's shadow takes the plain straight-through step −lr·g, as in
                // Dynamic Network Surgery (SGD). Adam's normalised step would move every masked
                // weight by about lr per step however small its gradient, so the 98% masked
                // weights of a sparse net drift past the kept ones within an epoch and a splice
                // brings thousands back at once (measured: val accuracy 0.98 -> 0.65).
                let old = matches!(self.rule, Rule::Adam { .. }).then(|| shadow.to_vec());
                self.apply_rule(shadow, &mut g, first, second);
                if let Some(old) = old {
                    for (((s, o), g), k) in shadow.iter_mut().zip(&old).zip(&g).zip(mask) {
                        if *k == 0.0 {
                            *s = o - self.lr * g;
                        }
                    }
                }
                weights.iter_mut().zip(&*shadow).zip(mask).for_each(|((w, s), k)| *w = s * k + 0.0);
            }
            None => {
                self.apply_rule(weights, &mut g, first, second);
                if let Some(mask) = mask {
                    weights.iter_mut().zip(mask).for_each(|(w, k)| *w *= k);
                }
            }
        }
        grad_sq
    }

    fn apply_rule(self, base: &mut [f32], g: &mut [f32], first: Option<&mut [f32]>, second: Option<&mut [f32]>) {
        if self.weight_decay > 0.0 {
            let wd = self.weight_decay;
            g.iter_mut().zip(base.iter()).for_each(|(g, b)| *g += wd * b);
        }
        match self.rule {
            Rule::Adam { beta1, beta2, rest1, rest2, step_size, v_scale, epsilon } => {
                let (m, v) = (first.expect("first moment"), second.expect("second moment"));
                for (((b, g), m), v) in base.iter_mut().zip(&*g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    *m = beta1 * *m + rest1 * g;
                    *v = beta2 * *v + rest2 * g * g;
                    *b -= step_size * *m / ((*v * v_scale).sqrt() + epsilon);
                }
            }
            Rule::Momentum { momentum, lr, nesterov: false } => {
                let buf = first.expect("momentum buffer");
                for ((b, g), m) in base.iter_mut().zip(&*g).zip(buf.iter_mut()) {
                    *m = momentum * *m + g;
                    *b -= lr * *m;
                }
            }
            // PyTorch's form: the step looks ahead along the updated buffer, g + μ·buf.
            Rule::Momentum { momentum, lr, nesterov: true } => {
                let buf = first.expect("momentum buffer");
                for ((b, g), m) in base.iter_mut().zip(&*g).zip(buf.iter_mut()) {
                    *m = momentum * *m + g;
                    *b -= lr * (g + momentum * *m);
                }
            }
            Rule::Plain { lr } => base.iter_mut().zip(&*g).for_each(|(b, g)| *b -= lr * g),
        }
    }
}

/// Σ x² in f64 with eight fixed lanes (vectorisable, and the same order on every machine).
fn sum_of_squares(x: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let chunks = x.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().map(|v| f64::from(v * v)).sum();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += f64::from(v * v);
        }
    }
    lanes.iter().sum::<f64>() + rest
}

struct Stepper<'a> {
    opt: &'a mut MaskedOptimizer,
    grads: Option<&'a mut GradientsParams>,
    lr: f64,
}


impl ModuleMapper for Stepper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let grad = self.grads.as_mut().and_then(|g| g.remove::<D>(id));
        if grad.is_none() && !self.opt.pending.contains_key(&id) {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let inner = tensor.inner();
        let device = inner.device();
        let mut weights = crate::host_f32(inner);
        self.opt.install_pending(id, &mut weights);
        if let Some(grad) = grad {
            self.opt.update(id, &mut weights, &crate::host_f32(grad), self.lr);
            let shadow_ok = self.opt.states.get(&id).and_then(|s| s.shadow.as_deref()).is_none_or(finite::all_finite);
            if self.opt.non_finite.is_none() && !(shadow_ok && finite::all_finite(&weights)) {
                self.opt.non_finite = Some(id);
            }
        }
        let mut t = Tensor::<D>::from_inner(Tensor::from_data(TensorData::new(weights, shape), &device));
        if require_grad {
            t = t.require_grad();
        }
        Param::from_mapped_value(id, t, mapper)
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
        crate::host_f32(m.fc.weight.val())
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
        let mut opt = MaskedOptimizer::new(OptimizerConfig::adam(), false);
        let id = ParamId::new();
        let mut w = vec![1.0f32];
        opt.update(id, &mut w, &[0.5], 0.1);
        assert!((w[0] - 0.9).abs() < 1e-6, "{w:?}");
        let (m, v) = opt.state_of(&id);
        assert!((m.unwrap()[0] - 0.05).abs() < 1e-7);
        assert!((v.unwrap()[0] - 0.00025).abs() < 1e-9);
    }

    #[test]
    fn sgd_momentum_by_hand() {
        // buf = g = 0.5, w = 1 - 0.1 * 0.5 = 0.95; then buf = 0.9 * 0.5 + 0.5 = 0.95, w = 0.95 - 0.095
        let mut opt = MaskedOptimizer::new(OptimizerConfig::sgd(0.9), false);
        let id = ParamId::new();
        let mut w = vec![1.0f32];
        opt.update(id, &mut w, &[0.5], 0.1);
        opt.update(id, &mut w, &[0.5], 0.1);
        assert!((w[0] - 0.855).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn sgd_nesterov_by_hand() {
        // buf = 0.5, w = 1 - 0.1 * (0.5 + 0.9 * 0.5) = 0.905; buf = 0.95, w = 0.905 - 0.1 * (0.5 + 0.855) = 0.7695
        let mut opt = MaskedOptimizer::new(OptimizerConfig { nesterov: true, ..OptimizerConfig::sgd(0.9) }, false);
        let id = ParamId::new();
        let mut w = vec![1.0f32];
        opt.update(id, &mut w, &[0.5], 0.1);
        assert!((w[0] - 0.905).abs() < 1e-6, "{w:?}");
        opt.update(id, &mut w, &[0.5], 0.1);
        assert!((w[0] - 0.7695).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn masked_weights_gradients_and_moments_stay_zero() {
        let device = Device::flex().autodiff();
        let _rng = crate::seeded_test_lock();
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
        let _rng = crate::seeded_test_lock();
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

    #[test]
    fn masked_shadow_takes_the_plain_straight_through_step_under_adam() {
        // First Adam step, lr 0.1: the kept weight moves by lr·m̂/(√v̂ + ε) = 0.1·sign(g);
        // the masked one's shadow by −lr·g = −0.1·0.02 = −0.002 (Adam would move it by 0.1).
        let c = OptimizerConfig::adam();
        let rule = Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            rest1: 0.1,
            rest2: (1.0 - c.beta2) as f32,
            step_size: (0.1 / (1.0 - c.beta1)) as f32,
            v_scale: (1.0 / (1.0 - c.beta2)) as f32,
            epsilon: 1e-8,
        };
        let update = Update { rule, weight_decay: 0.0, cut_masked: false, lr: 0.1 };
        let (mut weights, mut shadow) = (vec![0.5, 0.0], vec![0.5, 0.3]);
        let (mut m1, mut m2) = (vec![0.0; 2], vec![0.0; 2]);
        update.run_chunk(&mut weights, Some(&mut shadow), &[0.02, 0.02], Some(&[1.0, 0.0]), Some(&mut m1), Some(&mut m2));
        assert!((shadow[0] - 0.4).abs() < 1e-5, "{shadow:?}");
        assert!((shadow[1] - 0.298).abs() < 1e-7, "{shadow:?}");
        assert_eq!(weights, vec![shadow[0], 0.0]);
    }
}
