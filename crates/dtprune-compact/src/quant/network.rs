//! The int8 network: the f32 [`Network`]'s op graph with its conv and linear layers replaced by
//! [`QLayer`]s; pooling, ReLU, BatchNorm and the layout changes stay f32 (max-pooling and ReLU
//! commute with the monotone dequantisation, so nothing is lost by running them in f32).

use super::layer::{QKind, QLayer, QMatrix};
use super::scheme::{min_max, ActQuant};
use crate::conv_pool::PoolWindow;
use crate::error::{CompactError, Result};
use crate::network::{transpose, ConvWeights, Network, Op, Weights};

/// How activations get their scale and zero point.
#[derive(Clone, Debug)]
pub enum Activations {
    /// Fixed per layer from the f32 network's activations on these inputs (sample-major,
    /// preprocessed, `count` samples).
    Static { inputs: Vec<f32>, count: usize },
    /// From each call's own input range, per layer (the output then depends on the batch).
    Dynamic,
}

#[derive(Clone, Debug)]
pub struct QuantNetwork {
    /// The op graph; its conv and linear weights are unused where `layers` has a quantised one.
    pub net: Network,
    /// One entry per op of `net`: the quantised layer, or `None` where the op runs in f32.
    pub layers: Vec<Option<QLayer>>,
}

/// Why a conv or linear op stays f32 (`None`: it is quantised).
pub fn kept_f32(op: &Op) -> Option<&'static str> {
    match op {
        Op::Conv(c) if c.groups != 1 => Some("grouped convolution"),
        Op::Conv(c) if c.geom.sw != 1 => Some("horizontal stride > 1"),
        _ => None,
    }
}

/// The quantisable ops' weights as `[rows, cols]` row-major f32.
fn weight_of(op: &Op) -> Option<(String, Vec<f32>, usize, usize, Vec<f32>, QKind)> {
    let dense = |w: &Weights| match w {
        Weights::Dense(d) => (d.data.clone(), d.rows, d.cols),
        Weights::Csr(c) => (c.to_dense().data, c.rows, c.cols),
    };
    match op {
        Op::Linear(l) => {
            let (d, r, c) = dense(&l.weight);
            Some((l.name.clone(), d, r, c, l.bias.clone(), QKind::Linear))
        }
        Op::Conv(c) if kept_f32(op).is_none() && !matches!(c.weight, ConvWeights::Grouped(_)) => {
            let (d, r, k) = dense(&c.weights());
            Some((c.name.clone(), d, r, k, c.bias.clone(), QKind::Conv(c.geom)))
        }
        _ => None,
    }
}

/// Quantises every conv and linear layer it can (see [`kept_f32`]).
pub fn quantize(net: &Network, acts: &Activations) -> Result<QuantNetwork> {
    let ranges = match acts {
        Activations::Static { inputs, count } => {
            if *count == 0 {
                return Err(CompactError::Input(
                    "the calibration set is empty: static int8 activations need at least one image (or use dynamic activations)".into(),
                ));
            }
            Some(calibrate(net, inputs, *count)?)
        }
        Activations::Dynamic => None,
    };
    let mut layers = Vec::with_capacity(net.ops.len());
    for (i, op) in net.ops.iter().enumerate() {
        let Some((name, w, rows, cols, bias, kind)) = weight_of(op) else {
            layers.push(None);
            continue;
        };
        let m = QMatrix::quantize(&name, rows, cols, &w)?;
        let input = ranges.as_ref().map(|r| {
            let (lo, hi) = r[i];
            ActQuant::from_range(lo, hi)
        });
        layers.push(Some(QLayer::new(&name, kind, m, bias, input)?));
    }
    Ok(QuantNetwork { net: net.clone(), layers })
}

/// The `(min, max)` of every op's input over the calibration inputs (f32 network), in batches.
pub fn calibrate(net: &Network, inputs: &[f32], count: usize) -> Result<Vec<(f32, f32)>> {
    let per = net.input.numel();
    if inputs.len() != count * per {
        return Err(CompactError::Input(format!("calibration set has {} values, expected {count} images x {per}", inputs.len())));
    }
    if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
        return Err(CompactError::Input(format!("calibration image {} has a non-finite value", i / per)));
    }
    let mut ranges = vec![(0f32, 0f32); net.ops.len()];
    for chunk in inputs.chunks(256 * per) {
        let n = chunk.len() / per;
        walk(net, chunk, n, |i, x, _| {
            let (lo, hi) = min_max(x);
            // Starting from (0, 0) is no loss: every range is widened to contain 0 anyway.
            let r = &mut ranges[i];
            *r = (r.0.min(lo), r.1.max(hi));
            None
        }, |_, _, _| None)?;
    }
    Ok(ranges)
}

impl QuantNetwork {
    /// Forward pass: `x` sample-major `[N, ...input]`, logits `[N, outputs]`.
    pub fn forward(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        walk(&self.net, x, n, |i, input, pool| self.layers[i].as_ref().map(|l| l.forward_pooled(input, n, pool)), |i, samples, pool| {
            self.layers[i].as_ref().and_then(|l| l.forward_samples(samples, n, pool))
        })
    }

    /// From u8 pixels through the graph's preprocessing.
    pub fn forward_u8(&self, pixels: &[u8], n: usize) -> Result<Vec<f32>> {
        let p = self.net.preprocess.as_ref().ok_or_else(|| CompactError::Input("the graph has no preprocess to apply to u8 pixels".into()))?;
        self.forward(&p.apply(pixels, self.net.input), n)
    }

    pub fn num_outputs(&self) -> usize {
        self.net.num_outputs()
    }
}

/// [`Network::forward`]'s loop (buffers freed after their last reader, in-place ops reusing
/// their input) with a hook: `over(i, input, pool)` sees op i's first input and may return the
/// op's output in place of the f32 computation. `first(i, x, pool)` is offered the sample-major
/// input when op i is its only reader (a quantised first layer then skips the f32 transpose).
/// `pool` is the window of a max pooling that is op i's only reader: a hook that returns an
/// output for such an op returns it pooled, and the pooling op is skipped.
fn walk(
    net: &Network,
    x: &[f32],
    n: usize,
    mut over: impl FnMut(usize, &[f32], Option<PoolWindow>) -> Option<Vec<f32>>,
    mut first: impl FnMut(usize, &[f32], Option<PoolWindow>) -> Option<Vec<f32>>,
) -> Result<Vec<f32>> {
    let per = net.input.numel();
    if x.len() != n * per {
        return Err(CompactError::Input(format!("input has {} values, expected {n} samples x {per}", x.len())));
    }
    let shapes = net.shapes();
    let mut uses = net.readers();
    let mut acts: Vec<Option<Vec<f32>>> = vec![None; shapes.len()];
    // The input's only reader, looking through layout-free ops (flatten, identity) with one
    // reader each: when it is a quantised layer it takes the sample-major input directly.
    let mut skipped = Vec::new();
    let mut reader = (uses[0] == 1).then(|| net.inputs.iter().position(|ins| ins.contains(&0))).flatten();
    while let Some(i) = reader.filter(|&i| matches!(net.ops[i], Op::Flatten | Op::Identity) && uses[i + 1] == 1) {
        skipped.push(i);
        reader = net.inputs.iter().position(|ins| ins.contains(&(i + 1)));
    }
    // The pooling each convolution may compute with itself: the next op, its only reader.
    let pools: Vec<Option<PoolWindow>> = (0..net.ops.len()).map(|i| net.sole_pool_after(i, &uses)).collect();
    let pool_after = |i: usize| pools[i];
    let mut early = match reader {
        Some(i) if matches!(net.ops[i], Op::Conv(_) | Op::Linear(_)) => first(i, x, pool_after(i)).map(|y| (i, y)),
        _ => None,
    };
    // Ops whose result a hook already returned: a pooling computed with its convolution.
    let mut done_with_previous = None;
    if early.is_none() {
        skipped.clear();
        acts[0] = Some(transpose(x, n, per));
    }
    for (i, op) in net.ops.iter().enumerate() {
        let ins = &net.inputs[i];
        let first = ins[0];
        if skipped.contains(&i) || done_with_previous == Some(i) {
            // Never materialised: its only reader took the input before it, or its
            // convolution returned it pooled.
            continue;
        }
        let pool = pool_after(i);
        if let Some((_, y)) = early.take_if(|(j, _)| *j == i) {
            done_with_previous = pool.map(|_| i + 1);
            acts[if pool.is_some() { i + 2 } else { i + 1 }] = Some(y);
            continue;
        }
        let mut pooled = false;
        let y = if op.in_place() {
            let owned = if uses[first] == 1 { acts[first].take().expect("live") } else { acts[first].clone().expect("live") };
            let others: Vec<&[f32]> = ins[1..].iter().map(|&s| acts[s].as_deref().expect("live")).collect();
            net.apply_in_place(op, owned, &others, shapes[first], n)
        } else {
            let input = acts[first].as_deref().expect("live");
            match matches!(op, Op::Conv(_) | Op::Linear(_)).then(|| over(i, input, pool)).flatten() {
                Some(y) => {
                    pooled = pool.is_some();
                    y
                }
                None => net.apply(op, input, shapes[first], n),
            }
        };
        for &s in ins {
            uses[s] -= 1;
            if uses[s] == 0 {
                acts[s] = None;
            }
        }
        if pooled {
            done_with_previous = Some(i + 1);
        }
        acts[if pooled { i + 2 } else { i + 1 }] = Some(y);
    }
    let f = shapes[net.output].numel();
    Ok(transpose(acts[net.output].as_deref().expect("output"), f, n))
}
