//! An executable network: the op DAG with weights in their chosen storage.
//!
//! The dense reference and the compact model are both a [`Network`]; they differ only in the
//! [`Weights`] of each layer (and in the layer sizes after structure removal), so timing one
//! against the other measures exactly what compaction buys.

use crate::block_mlp::MlpPlan;
use crate::conv_pool::{conv_max_pool, fusable, PoolWindow};
use crate::dense::{conv_dense, ConvGeom, DenseMat};
use crate::error::{CompactError, Result};
use crate::graph::{Preprocess, Shape};
use crate::ops::batchnorm::BatchNormOp;
use crate::pool::max_pool;
use crate::sparse::{Csr, SparseConv};
use rayon::prelude::*;

/// A layer's weight matrix `W[out, in]` (convolutions: `W[cout, cin*kh*kw]`).
#[derive(Clone, Debug)]
pub enum Weights {
    Dense(DenseMat),
    Csr(Csr),
}

impl Weights {
    pub fn rows(&self) -> usize {
        match self {
            Weights::Dense(d) => d.rows,
            Weights::Csr(c) => c.rows,
        }
    }
    pub fn nnz(&self) -> usize {
        match self {
            Weights::Dense(d) => d.data.iter().filter(|v| **v != 0.0).count(),
            Weights::Csr(c) => c.nnz(),
        }
    }
    /// Bytes the weight occupies in memory and in an exported file.
    pub fn bytes(&self) -> usize {
        match self {
            Weights::Dense(d) => 4 * d.data.len(),
            Weights::Csr(c) => c.bytes(),
        }
    }
    pub fn format(&self) -> &'static str {
        match self {
            Weights::Dense(_) => "dense",
            Weights::Csr(_) => "csr",
        }
    }
    /// The matrix as dense values (a CSR one expanded, zeros included).
    pub fn to_dense(&self) -> DenseMat {
        match self {
            Weights::Dense(d) => d.clone(),
            Weights::Csr(c) => c.to_dense(),
        }
    }

    /// `Y[rows, n] += W · X[cols, n]` with the storage's kernel.
    pub fn matmul_acc(&self, x: &[f32], n: usize, y: &mut [f32]) {
        match self {
            Weights::Dense(w) => w.matmul_acc(x, n, y),
            Weights::Csr(w) => w.matmul_acc(x, n, y),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LinearOp {
    pub name: String,
    pub weight: Weights,
    pub bias: Vec<f32>,
}

/// Convolution weights: dense (im2col + GEMM) or sparse (direct sparse convolution); a grouped
/// convolution is one dense product per group.
#[derive(Clone, Debug)]
pub enum ConvWeights {
    Dense(DenseMat),
    Sparse(SparseConv),
    /// `groups` filters banks `W_g[cout/groups, cin/groups*kh*kw]`.
    Grouped(Vec<DenseMat>),
}

#[derive(Clone, Debug)]
pub struct ConvOp {
    pub name: String,
    /// The geometry of the whole convolution (all groups).
    pub geom: ConvGeom,
    pub groups: usize,
    pub weight: ConvWeights,
    pub bias: Vec<f32>,
}

impl ConvOp {
    /// The weight as `W[cout, cin/groups*kh*kw]` (PyTorch's layout, flattened per filter).
    pub fn weights(&self) -> Weights {
        match &self.weight {
            ConvWeights::Dense(d) => Weights::Dense(d.clone()),
            ConvWeights::Sparse(s) => Weights::Csr(s.csr.clone()),
            ConvWeights::Grouped(gs) => {
                let cols = gs[0].cols;
                Weights::Dense(DenseMat::new(self.geom.cout, cols, gs.iter().flat_map(|g| g.data.iter().copied()).collect()))
            }
        }
    }

    /// The geometry of one group.
    pub fn group_geom(&self) -> ConvGeom {
        ConvGeom { cin: self.geom.cin / self.groups, cout: self.geom.cout / self.groups, ..self.geom }
    }

    /// `Y[cout, oh, ow, N] += conv(X)`, `Y` pre-filled with the bias.
    pub fn forward_acc(&self, x: &[f32], n: usize, y: &mut [f32]) {
        match &self.weight {
            ConvWeights::Dense(w) => conv_dense(&self.geom, w, x, n, y),
            ConvWeights::Sparse(s) => s.forward_acc(x, n, y),
            ConvWeights::Grouped(ws) => {
                // Channels are the outermost axis of [C, H, W, N]: a group's input and output
                // channels are contiguous runs.
                let g = self.group_geom();
                let (xin, yout) = (g.cin * g.h * g.w * n, g.cout * g.out_h() * g.out_w() * n);
                for (k, w) in ws.iter().enumerate() {
                    conv_dense(&g, w, &x[k * xin..][..xin], n, &mut y[k * yout..][..yout]);
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Conv(ConvOp),
    MaxPool {
        kernel: [usize; 2],
        stride: [usize; 2],
    },
    Relu,
    Flatten,
    Linear(LinearOp),
    BatchNorm(BatchNormOp),
    /// Sum of the op's inputs.
    Add,
    GlobalAvgPool,
    Identity,
}

/// A runnable model. Activations keep the batch innermost: images `[C, H, W, N]`, vectors
/// `[F, N]`. Every kernel then works on contiguous runs of `N` (or `ow × N`) values, flattening
/// is free, and a sparse tap or weight is one multiply-add across the whole batch.
///
/// Values are numbered by *slot*: 0 is the input, `i + 1` the output of `ops[i]`; `inputs[i]`
/// are the slots op i reads (always earlier ones), `output` the slot of the logits. A chain has
/// `inputs[i] == [i]`.
#[derive(Clone, Debug)]
pub struct Network {
    pub input: Shape,
    pub preprocess: Option<Preprocess>,
    pub ops: Vec<Op>,
    pub inputs: Vec<Vec<usize>>,
    pub output: usize,
}

impl Op {
    /// A short label: the layer's name, or the op's kind.
    pub fn label(&self) -> String {
        match self {
            Op::Conv(c) => format!("{} (conv, {})", c.name, c.weights().format()),
            Op::Linear(l) => format!("{} (linear, {})", l.name, l.weight.format()),
            Op::MaxPool { kernel, stride } => format!("maxpool {}x{}/{}", kernel[0], kernel[1], stride[0]),
            Op::Relu => "relu".into(),
            Op::Flatten => "flatten".into(),
            Op::BatchNorm(b) => format!("{} (batchnorm)", b.name),
            Op::Add => "add".into(),
            Op::GlobalAvgPool => "global_avg_pool".into(),
            Op::Identity => "identity".into(),
        }
    }
}

impl Network {
    /// A sequential network: op i reads op i-1.
    pub fn chain(input: Shape, preprocess: Option<Preprocess>, ops: Vec<Op>) -> Network {
        let (inputs, output) = ((0..ops.len()).map(|i| vec![i]).collect(), ops.len());
        Network { input, preprocess, ops, inputs, output }
    }

    /// Number of logits per sample.
    pub fn num_outputs(&self) -> usize {
        self.shapes()[self.output].numel()
    }

    /// Activation shapes by slot: input, then after every op.
    pub fn shapes(&self) -> Vec<Shape> {
        let mut out = vec![self.input];
        for (i, op) in self.ops.iter().enumerate() {
            let cur = out[self.inputs[i][0]];
            out.push(match (op, cur) {
                (Op::Conv(c), _) => Shape::Image {
                    c: c.geom.cout,
                    h: c.geom.out_h(),
                    w: c.geom.out_w(),
                },
                (Op::MaxPool { kernel, stride }, Shape::Image { c, h, w }) => Shape::Image {
                    c,
                    h: (h - kernel[0]) / stride[0] + 1,
                    w: (w - kernel[1]) / stride[1] + 1,
                },
                (Op::Flatten, s) => Shape::Features(s.numel()),
                (Op::Linear(l), _) => Shape::Features(l.weight.rows()),
                (Op::GlobalAvgPool, Shape::Image { c, .. }) => Shape::Features(c),
                (_, s) => s,
            });
        }
        out
    }

    /// Bytes of all parameters (weights in their storage format + biases).
    pub fn param_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Conv(c) => c.weights().bytes() + 4 * c.bias.len(),
                Op::Linear(l) => l.weight.bytes() + 4 * l.bias.len(),
                Op::BatchNorm(b) => 4 * (b.scale.len() + b.shift.len()),
                _ => 0,
            })
            .sum()
    }

    /// Largest activation buffer (bytes) for a batch: a proxy for peak working memory.
    pub fn peak_activation_bytes(&self, n: usize) -> usize {
        let shapes = self.shapes();
        let mut peak = 0;
        for (i, op) in self.ops.iter().enumerate() {
            let ins: usize = self.inputs[i].iter().map(|&s| shapes[s].numel()).sum();
            let mut b = 4 * n * (ins + shapes[i + 1].numel());
            if let Op::Conv(
                c @ ConvOp {
                    weight: ConvWeights::Dense(_),
                    ..
                },
            ) = op
            {
                // im2col block buffer
                let rows = crate::dense::im2col_rows(&c.geom, n);
                b += 4 * c.geom.k() * rows * c.geom.out_w() * n;
            }
            peak = peak.max(b);
        }
        peak
    }

    /// Forward pass. `x` is `[N, ...input]` in PyTorch (sample-major, C-H-W) order; returns
    /// logits `[N, outputs]`.
    pub fn forward(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        // No clock reads: two per op cost ~8% of a 4 µs batch-1 LeNet-300 pass (perf).
        self.run(x, n, None)
    }

    /// [`Network::forward`], reporting the wall time of every op (index into `ops`) and of the
    /// layout changes at both ends (index `ops.len()`): where a forward pass spends its time.
    pub fn forward_observed(&self, x: &[f32], n: usize, mut observe: impl FnMut(usize, std::time::Duration)) -> Result<Vec<f32>> {
        self.run(x, n, Some(&mut observe))
    }

    /// [`Network::forward`] on an input already batch-innermost (`[C·H·W, N]`, e.g. built so by
    /// a model's own front end): no transpose on the way in.
    pub fn forward_batch_innermost(&self, x: Vec<f32>, n: usize) -> Result<Vec<f32>> {
        self.check_input_len(x.len(), n)?;
        self.run_from(x, n, None, std::time::Duration::ZERO)
    }

    fn check_input_len(&self, len: usize, n: usize) -> Result<()> {
        let per = self.input.numel();
        if len != n * per {
            return Err(CompactError::Input(format!("input has {len} values, expected {n} samples x {per}")));
        }
        Ok(())
    }

    fn run(&self, x: &[f32], n: usize, observe: Option<&mut dyn FnMut(usize, std::time::Duration)>) -> Result<Vec<f32>> {
        self.check_input_len(x.len(), n)?;
        match self.block_plan(n) {
            Some(plan) => Ok(plan.forward(x, n, observe)),
            None => self.run_op_by_op(x, n, observe),
        }
    }

    /// Every op over the whole batch in turn, batch-innermost in between.
    pub(crate) fn run_op_by_op(&self, x: &[f32], n: usize, observe: Option<&mut dyn FnMut(usize, std::time::Duration)>) -> Result<Vec<f32>> {
        // Sample-major [N, C·H·W] -> batch-innermost [C·H·W, N] = [C, H, W, N].
        let started = observe.is_some().then(std::time::Instant::now);
        let input = transpose(x, n, self.input.numel());
        let layout = started.map_or(std::time::Duration::ZERO, |t| t.elapsed());
        self.run_from(input, n, observe, layout)
    }

    /// The ops on the batch-innermost input; `layout` is the time already spent changing layout.
    fn run_from(&self, input: Vec<f32>, n: usize, mut observe: Option<&mut dyn FnMut(usize, std::time::Duration)>, mut layout: std::time::Duration) -> Result<Vec<f32>> {
        let now = |on: bool| on.then(std::time::Instant::now);
        let since = |t: Option<std::time::Instant>| t.map_or(std::time::Duration::ZERO, |t| t.elapsed());
        let timed = observe.is_some();
        let shapes = self.shapes();
        // Each value lives until its last reader; an in-place op takes its input's buffer when
        // it is that last reader (in a chain: always, so no activation is ever copied).
        let mut uses = self.readers();
        let mut acts: Vec<Option<Vec<f32>>> = vec![None; shapes.len()];
        acts[0] = Some(input);
        // The pooling op a convolution computed together with itself (see `conv_pool.rs`).
        let mut fused_pool = None;
        for (i, op) in self.ops.iter().enumerate() {
            if fused_pool == Some(i) {
                if let Some(o) = observe.as_mut() {
                    o(i, std::time::Duration::ZERO);
                }
                continue;
            }
            let started = now(timed);
            let ins = &self.inputs[i];
            let first = ins[0];
            let pool = self.pool_fused_after(i, n, &uses);
            let y = if let (Op::Conv(c), Some(window)) = (op, pool) {
                fused_pool = Some(i + 1);
                conv_max_pool(c, window, acts[first].as_deref().expect("live"), n)
            } else if op.in_place() {
                let owned = if uses[first] == 1 { acts[first].take().expect("live") } else { acts[first].clone().expect("live") };
                let others: Vec<&[f32]> = ins[1..].iter().map(|&s| acts[s].as_deref().expect("live")).collect();
                self.apply_in_place(op, owned, &others, shapes[first], n)
            } else {
                self.apply(op, acts[first].as_deref().expect("live"), shapes[first], n)
            };
            for &s in ins {
                uses[s] -= 1;
                if uses[s] == 0 {
                    acts[s] = None;
                }
            }
            // A fused pair's result is the pooling op's output; the convolution's never exists.
            acts[if pool.is_some() { i + 2 } else { i + 1 }] = Some(y);
            if let Some(o) = observe.as_mut() {
                o(i, since(started));
            }
        }
        // Feature-major [F, N] -> [N, F].
        let started = now(timed);
        let f = shapes[self.output].numel();
        let logits = transpose(acts[self.output].as_deref().expect("output"), f, n);
        layout += since(started);
        if let Some(o) = observe.as_mut() {
            o(self.ops.len(), layout);
        }
        Ok(logits)
    }

    /// Readers of every slot (the output counts as one).
    pub(crate) fn readers(&self) -> Vec<usize> {
        let mut uses = vec![0usize; self.ops.len() + 1];
        self.inputs.iter().flatten().for_each(|&s| uses[s] += 1);
        uses[self.output] += 1;
        uses
    }

    /// The window of the max pooling at op `i + 1` when op `i` is a convolution and that
    /// pooling is its only reader (`readers` as [`Network::readers`] gives them): a pair a
    /// kernel may compute in one pass (the f32 one here, the int8 one in `quant/network.rs`).
    pub(crate) fn sole_pool_after(&self, i: usize, readers: &[usize]) -> Option<PoolWindow> {
        match (&self.ops[i], self.ops.get(i + 1)) {
            (Op::Conv(_), Some(Op::MaxPool { kernel, stride })) if self.inputs[i + 1] == [i + 1] && readers[i + 1] == 1 => {
                Some(PoolWindow { kernel: *kernel, stride: *stride })
            }
            _ => None,
        }
    }

    /// [`Network::sole_pool_after`], when [`conv_pool::fusable`] takes the pair at batch `n`.
    fn pool_fused_after(&self, i: usize, n: usize, readers: &[usize]) -> Option<PoolWindow> {
        let Op::Conv(conv) = &self.ops[i] else { return None };
        self.sole_pool_after(i, readers).filter(|&w| fusable(conv, w, n))
    }

    /// Whether op `i` is computed by the op before it at batch `n`: a pooling by its
    /// convolution, or a ReLU by its linear layer in the block-by-block MLP pass (its time then
    /// counts in that op's; the per-op table says so).
    pub fn fused_into_previous(&self, i: usize, n: usize) -> bool {
        let pooled = i > 0 && self.pool_fused_after(i - 1, n, &self.readers()).is_some();
        pooled || self.block_plan(n).is_some_and(|plan| plan.fuses(i))
    }

    /// The block-by-block pass ([`crate::block_mlp`]) when it applies: a pruned MLP at a batch
    /// of at least [`crate::block_mlp::MIN_BATCH`].
    fn block_plan(&self, n: usize) -> Option<MlpPlan<'_>> {
        (n >= crate::block_mlp::MIN_BATCH).then(|| MlpPlan::of(self)).flatten()
    }

    /// Forward pass from u8 pixels through the graph's preprocessing.
    pub fn forward_u8(&self, pixels: &[u8], n: usize) -> Result<Vec<f32>> {
        let p = self.preprocess.as_ref().ok_or_else(|| {
            CompactError::Input("the graph has no preprocess to apply to u8 pixels".into())
        })?;
        self.forward(&p.apply(pixels, self.input), n)
    }

    /// An op that reads one input buffer. A new buffer for the output.
    pub(crate) fn apply(&self, op: &Op, x: &[f32], shape: Shape, n: usize) -> Vec<f32> {
        match (op, shape) {
            (Op::Conv(c), _) => {
                let g = &c.geom;
                let mut y = broadcast_bias(&c.bias, n * g.out_h() * g.out_w());
                c.forward_acc(x, n, &mut y);
                y
            }
            (Op::Linear(l), Shape::Features(_)) => {
                let mut y = broadcast_bias(&l.bias, n);
                l.weight.matmul_acc(x, n, &mut y);
                y
            }
            (Op::MaxPool { kernel, stride }, Shape::Image { h, w, .. }) => max_pool(x, [h, w], n, *kernel, *stride),
            (Op::GlobalAvgPool, Shape::Image { c, h, w }) => crate::ops::global_avg_pool::forward(x, c, h * w, n),
            (op, s) => unreachable!("network validated at build time: {op:?} on {s:?}"),
        }
    }

    /// An op that rewrites its first input's buffer (element-wise ops, flattening, adds):
    /// at batch 1 an allocation costs as much as a ReLU over a few hundred values.
    pub(crate) fn apply_in_place(&self, op: &Op, mut x: Vec<f32>, others: &[&[f32]], shape: Shape, n: usize) -> Vec<f32> {
        match op {
            Op::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            // [C, H, W, N] is already [C*H*W, N] with PyTorch's feature order (c, h, w).
            Op::Flatten | Op::Identity => {}
            Op::BatchNorm(b) => b.forward(&mut x, shape.units().1 * n),
            Op::Add => crate::ops::add::forward(&mut x, others),
            op => unreachable!("not an in-place op: {op:?}"),
        }
        x
    }
}

impl Op {
    /// Whether the op rewrites its input buffer (see `Network::apply_in_place`).
    pub(crate) fn in_place(&self) -> bool {
        matches!(self, Op::Relu | Op::Flatten | Op::Identity | Op::BatchNorm(_) | Op::Add)
    }
}

/// `[units, per]` with every row filled with its unit's bias: the output a layer accumulates
/// into. Written once, without zeroing first; at batch 1 (`per` = 1) this is a plain copy of
/// the bias, where a zeroed buffer filled row by row cost a call per single-value row (a
/// measurable share of a 4 µs LeNet-300 pass).
pub(crate) fn broadcast_bias(bias: &[f32], per: usize) -> Vec<f32> {
    if per == 1 {
        return bias.to_vec();
    }
    let mut y = Vec::with_capacity(bias.len() * per);
    for &b in bias {
        y.resize(y.len() + per, b);
    }
    y
}

/// Row-major `[rows, cols] -> [cols, rows]`, as a new buffer. A single row or column is the same
/// sequence either way: a copy (this is every layout change of a batch-1 pass).
pub(crate) fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    if rows == 1 || cols == 1 {
        return x.to_vec();
    }
    let mut y = vec![0f32; x.len()];
    transpose2d(x, rows, cols, &mut y);
    y
}

/// Row-major `[rows, cols] -> [cols, rows]` in 16×16 tiles, so both sides stay in cache lines
/// (an element-by-element transpose of a 784 × 128 batch costs more than a sparse layer).
/// Large transposes run in parallel over bands of 16 destination rows: at 98% sparsity the
/// input transpose of an MLP costs more than its sparse layers, so it must use every core too.
fn transpose2d(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const T: usize = 16;
    if rows == 0 || cols == 0 {
        return;
    }
    // One band: destination rows j0..j0+T (source columns), all source rows.
    let band = |(b, out): (usize, &mut [f32])| {
        let j0 = b * T;
        let j1 = (j0 + T).min(cols);
        for i0 in (0..rows).step_by(T) {
            for i in i0..(i0 + T).min(rows) {
                let row = &src[i * cols..(i + 1) * cols];
                for j in j0..j1 {
                    out[(j - j0) * rows + i] = row[j];
                }
            }
        }
    };
    if rows * cols >= PARALLEL_TRANSPOSE_MIN {
        dst.par_chunks_mut(T * rows).enumerate().for_each(band);
    } else {
        dst.chunks_mut(T * rows).enumerate().for_each(band);
    }
}

/// Below this many elements a transpose stays on one thread (waking the pool costs more).
const PARALLEL_TRANSPOSE_MIN: usize = 1 << 15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes() {
        // Bias rows of 3 values, and the batch-1 case.
        assert_eq!(broadcast_bias(&[1., -2.], 3), vec![1., 1., 1., -2., -2., -2.]);
        assert_eq!(broadcast_bias(&[1., -2.], 1), vec![1., -2.]);
        // [2, 3] -> [3, 2]
        assert_eq!(transpose(&[1., 2., 3., 4., 5., 6.], 2, 3), vec![1., 4., 2., 5., 3., 6.]);
        // One row or one column: the same sequence.
        assert_eq!(transpose(&[1., 2., 3.], 1, 3), vec![1., 2., 3.]);
        assert_eq!(transpose(&[1., 2., 3.], 3, 1), vec![1., 2., 3.]);
    }

    #[test]
    fn tiny_mlp_forward_hand_computed() {
        // 2 -> 2 (relu) -> 1, x = [1, -1]
        let net = Network::chain(
            Shape::Features(2),
            None,
            vec![
                Op::Linear(LinearOp {
                    name: "a".into(),
                    weight: Weights::Dense(DenseMat::new(2, 2, vec![1., 2., 3., 0.])),
                    bias: vec![0., 1.],
                }),
                Op::Relu,
                Op::Linear(LinearOp {
                    name: "b".into(),
                    weight: Weights::Csr(Csr::from_dense(&DenseMat::new(1, 2, vec![1., 10.]))),
                    bias: vec![0.5],
                }),
            ],
        );
        // h = relu([1-2, 3+1]) = [0, 4]; y = 0 + 40 + 0.5
        assert_eq!(net.forward(&[1., -1.], 1).unwrap(), vec![40.5]);
        assert_eq!(
            net.forward(&[1., -1., 1., -1.], 2).unwrap(),
            vec![40.5, 40.5]
        );
        assert!(net.forward(&[1.], 1).is_err());
        // Two samples [1, -1] and [2, 0] given batch-innermost: features [[1, 2], [-1, 0]].
        // Second: h = relu([2, 6 + 1]) = [2, 7]; y = 2 + 70 + 0.5.
        assert_eq!(net.forward_batch_innermost(vec![1., 2., -1., 0.], 2).unwrap(), vec![40.5, 72.5]);
        assert_eq!(net.forward(&[1., -1., 2., 0.], 2).unwrap(), vec![40.5, 72.5]);
        assert!(net.forward_batch_innermost(vec![1., 2., 3.], 2).is_err());
    }

    /// Grouped, strided, padded convolution against the textbook loop over PyTorch's layout.
    #[test]
    fn grouped_strided_conv_matches_reference() {
        let (cin, cout, groups, h, w, k, stride, pad, n) = (4, 6, 2, 5, 6, 3, 2, 1, 2);
        let geom = ConvGeom { cin, cout, h, w, kh: k, kw: k, sh: stride, sw: stride, ph: pad, pw: pad };
        let kg = cin / groups * k * k;
        let wdata: Vec<f32> = (0..cout * kg).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
        let bias: Vec<f32> = (0..cout).map(|o| o as f32 * 0.1).collect();
        let x: Vec<f32> = (0..n * cin * h * w).map(|i| ((i * 5 % 13) as f32 - 6.0) / 3.0).collect(); // [N, C, H, W]
        let rows = cout / groups;
        let op = ConvOp {
            name: "c".into(),
            geom,
            groups,
            weight: ConvWeights::Grouped(wdata.chunks(rows * kg).map(|c| DenseMat::new(rows, kg, c.to_vec())).collect()),
            bias: bias.clone(),
        };
        let net = Network::chain(Shape::Image { c: cin, h, w }, None, vec![Op::Conv(op), Op::Flatten]);
        let got = net.forward(&x, n).unwrap();
        let (oh, ow) = (geom.out_h(), geom.out_w());
        let (cpg, opg) = (cin / groups, cout / groups);
        for s in 0..n {
            for o in 0..cout {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = bias[o];
                        for ci in 0..cpg {
                            for dy in 0..k {
                                for dx in 0..k {
                                    let (iy, ix) = ((oy * stride + dy) as isize - pad as isize, (ox * stride + dx) as isize - pad as isize);
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let c = (o / opg) * cpg + ci;
                                    acc += wdata[((o * cpg + ci) * k + dy) * k + dx] * x[((s * cin + c) * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                        let v = got[s * cout * oh * ow + (o * oh + oy) * ow + ox];
                        assert!((v - acc).abs() < 1e-4, "sample {s} channel {o} ({oy},{ox}): {v} vs {acc}");
                    }
                }
            }
        }
    }
}
