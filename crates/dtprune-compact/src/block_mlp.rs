//! A pruned MLP run one block of samples at a time through all of its layers.
//!
//! The op-by-op pass ([`Network::forward`]) turns the caller's sample-major `[N, F]` input into
//! the batch-innermost `[F, N]` every kernel reads, runs each layer over the whole batch, and
//! turns the logits back. At 98% sparsity the arithmetic is so small that those two layout
//! changes and the activations streaming through memory between layers cost more than the
//! layers: LeNet-300-100 at batch 1000 spent 0.48–1.16 ms of a 1.0–1.1 ms pass transposing its
//! input (BENCHMARKS.md, issue 15). Here a block of [`BLOCK`] samples is copied from the
//! caller's layout straight into a batch-innermost buffer that stays in the core's cache, every
//! layer runs on it with its bias and ReLU fused, and the logits are written straight into the
//! caller's `[N, out]` layout: no full-size transpose, no full-size activation, no hand-off to
//! the thread pool between layers (blocks are independent, so the threads split the blocks).
//! Only the input features some first-layer weight reads are copied (at 98% sparsity a third of
//! LeNet-300-100's 784 pixels are read by no weight).
//!
//! The results differ from the op-by-op kernels' only in rounding: a CSR row's nonzeros are
//! added in four partial sums (see [`csr_block`]), a dense row's in storage order. Both are
//! fixed by the weights, so a pass is deterministic at any batch size and thread count.

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::network::{LinearOp, Network, Op, Weights};
use crate::simd::{multiversion, PARALLEL_MIN_WORK};

/// Samples per block: two 16-lane AVX-512 registers per output row, so every row has two
/// independent chains of additions (one chain would wait on the add latency at every nonzero).
pub(crate) const BLOCK: usize = 32;

/// Partial sums per output row in the CSR kernel (the sum at its end is written for four).
const CHAINS: usize = 4;

/// Batches below this size keep the op-by-op pass (batch 1's gathered dot products are faster
/// than a block padded with empty lanes).
pub(crate) const MIN_BATCH: usize = 16;

/// One sample block's values of one feature.
type Lanes = [f32; BLOCK];

/// Blocks per task when the batch is split across threads.
const TASK_BLOCKS: usize = 4;

/// One thread's buffers: the input block and two activation blocks the layers alternate
/// between. Every entry a layer reads was written earlier in the same block, so what a previous
/// call left in them never reaches a result.
#[derive(Default)]
struct Scratch {
    input: Vec<Lanes>,
    a: Vec<Lanes>,
    b: Vec<Lanes>,
}

impl Scratch {
    /// At least the sizes `plan` needs (never shrinks).
    fn fit(&mut self, plan: &MlpPlan) {
        let widest = plan.stages.iter().map(|s| s.linear.weight.rows()).max().unwrap_or(0);
        for (buf, len) in [(&mut self.input, plan.used_inputs.len()), (&mut self.a, widest), (&mut self.b, widest)] {
            if buf.len() < len {
                buf.resize(len, [0f32; BLOCK]);
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// A Linear layer of the chain and the ReLU computed with it, by their indices in `ops`.
struct Stage<'a> {
    op: usize,
    linear: &'a LinearOp,
    relu: Option<usize>,
}

/// How a network runs block by block; [`MlpPlan::of`] says whether it can.
pub(crate) struct MlpPlan<'a> {
    stages: Vec<Stage<'a>>,
    in_features: usize,
    /// Input features some first-layer weight reads, ascending: the only ones copied in, to
    /// consecutive rows of the input block (so the block fits the core's L1 cache).
    used_inputs: Vec<u32>,
    /// The same, as the 16-feature tiles holding a used feature (the AVX-512 copy's unit).
    used_tiles: Vec<UsedTile>,
    /// The first layer's column indices renumbered to rows of the input block.
    first_indices: Vec<u32>,
    ops: usize,
}

impl<'a> MlpPlan<'a> {
    /// The plan of a chain of `linear [relu]` pairs (flattening and identities anywhere) whose
    /// first layer is CSR; `None` for anything else. A dense first layer keeps the GEMM path,
    /// which is faster than any row-by-row loop once most weights are nonzero.
    pub(crate) fn of(net: &'a Network) -> Option<MlpPlan<'a>> {
        let chain = net.output == net.ops.len() && net.inputs.iter().enumerate().all(|(i, ins)| ins.as_slice() == [i]);
        if !chain {
            return None;
        }
        let mut stages: Vec<Stage<'a>> = Vec::new();
        let mut last_was_linear = false;
        for (i, op) in net.ops.iter().enumerate() {
            match op {
                Op::Flatten | Op::Identity => continue,
                Op::Linear(linear) => stages.push(Stage { op: i, linear, relu: None }),
                Op::Relu if last_was_linear => stages.last_mut().expect("a linear before").relu = Some(i),
                _ => return None,
            }
            last_was_linear = matches!(op, Op::Linear(_));
        }
        let Weights::Csr(first) = &stages.first()?.linear.weight else { return None };
        let in_features = net.input.numel();
        let out = stages.last()?.linear.weight.rows();
        if in_features == 0 || out == 0 || first.cols != in_features || stages.windows(2).any(|s| s[1].linear.weight.cols() != s[0].linear.weight.rows()) {
            return None;
        }
        // Block row of every input feature (u32::MAX: read by no weight).
        let mut row_of = vec![u32::MAX; in_features];
        first.indices.iter().for_each(|&c| row_of[c as usize] = 0);
        let used_inputs: Vec<u32> = (0..in_features as u32).filter(|&c| row_of[c as usize] == 0).collect();
        let mut used_tiles: Vec<UsedTile> = Vec::new();
        for (row, &c) in used_inputs.iter().enumerate() {
            row_of[c as usize] = row as u32;
            match used_tiles.last_mut() {
                Some(t) if t.tile == c / 16 => t.mask |= 1 << (c % 16),
                _ => used_tiles.push(UsedTile { tile: c / 16, mask: 1 << (c % 16), first_row: row as u32 }),
            }
        }
        let first_indices = first.indices.iter().map(|&c| row_of[c as usize]).collect();
        Some(MlpPlan { stages, in_features, used_inputs, used_tiles, first_indices, ops: net.ops.len() })
    }

    /// Whether op `i` is a ReLU this plan computes inside the layer before it.
    pub(crate) fn fuses(&self, i: usize) -> bool {
        self.stages.iter().any(|s| s.relu == Some(i))
    }

    /// Logits `[n, out]` of the sample-major input `x` (`[n, in]`, length checked by the
    /// caller). With `observe`, the time of every op (the layer's stage; zero for a fused ReLU)
    /// and of the copies in and out (index `ops`), summed over blocks and divided by the
    /// threads that ran them: each op's share of the pass's wall time.
    pub(crate) fn forward(&self, x: &[f32], n: usize, observe: Option<&mut dyn FnMut(usize, Duration)>) -> Vec<f32> {
        let out = self.stages.last().expect("at least one layer").linear.weight.rows();
        let mut logits = vec![0f32; n * out];
        let blocks = n.div_ceil(BLOCK);
        let work: usize = self.stages.iter().map(|s| s.linear.weight.nnz_upper_bound()).sum::<usize>() * n;
        let threads = if work >= PARALLEL_MIN_WORK { rayon::current_num_threads().min(blocks) } else { 1 };
        // Small tasks, so a worker that wakes late (tens of µs on an idle virtual machine) still
        // takes its share instead of leaving the whole batch to the calling thread.
        let blocks_per_task = if threads > 1 { TASK_BLOCKS } else { blocks };
        let timed = observe.is_some();
        let chunk = blocks_per_task * BLOCK * out;
        // Each thread's buffers live from call to call (allocating and zeroing them was 4% of a
        // batch-128 pass); a task never calls back into rayon, so no borrow is ever nested.
        let run = |(t, dst): (usize, &mut [f32])| {
            SCRATCH.with_borrow_mut(|scratch| {
                scratch.fit(self);
                self.run_task(scratch, x, t * blocks_per_task * BLOCK, n, dst, timed)
            })
        };
        let times: Vec<Vec<Duration>> = if threads > 1 {
            logits.par_chunks_mut(chunk).enumerate().map(run).collect()
        } else {
            logits.chunks_mut(chunk).enumerate().map(run).collect()
        };
        if let Some(observe) = observe {
            for i in 0..=self.ops {
                let sum: Duration = times.iter().map(|t| t[i]).sum();
                observe(i, sum / threads as u32);
            }
        }
        logits
    }

    /// Samples `first..` (as many as `dst`, their logits, holds) block by block; per-op times
    /// when `timed` (else empty).
    fn run_task(&self, scratch: &mut Scratch, x: &[f32], first: usize, n: usize, dst: &mut [f32], timed: bool) -> Vec<Duration> {
        let out = self.stages.last().expect("a layer").linear.weight.rows();
        let Scratch { input, a, b } = scratch;
        let input = &mut input[..self.used_inputs.len()];
        let mut times = vec![Duration::ZERO; if timed { self.ops + 1 } else { 0 }];
        let clock = || timed.then(Instant::now);
        let add = |times: &mut Vec<Duration>, i: usize, t: Option<Instant>| {
            if let Some(t) = t {
                times[i] += t.elapsed();
            }
        };
        for (k, logits) in dst.chunks_mut(BLOCK * out).enumerate() {
            let s0 = first + k * BLOCK;
            let lanes = (n - s0).min(BLOCK);
            let t = clock();
            gather_block(&x[s0 * self.in_features..][..lanes * self.in_features], self.in_features, &self.used_inputs, &self.used_tiles, input);
            add(&mut times, self.ops, t);
            for (j, stage) in self.stages.iter().enumerate() {
                let t = clock();
                let rows = stage.linear.weight.rows();
                let (src, dst): (&[Lanes], &mut [Lanes]) = match j {
                    0 => (&*input, &mut a[..rows]),
                    _ if j % 2 == 1 => (&a[..stage.linear.weight.cols()], &mut b[..rows]),
                    _ => (&b[..stage.linear.weight.cols()], &mut a[..rows]),
                };
                let indices = (j == 0).then_some(&self.first_indices[..]);
                layer_block(stage.linear, indices, stage.relu.is_some(), src, dst);
                add(&mut times, stage.op, t);
            }
            let t = clock();
            let last = if self.stages.len() % 2 == 1 { &a[..out] } else { &b[..out] };
            scatter_logits(last, lanes, logits);
            add(&mut times, self.ops, t);
        }
        times
    }
}

impl Weights {
    /// The nonzeros of a CSR matrix, every entry of a dense one: the work of one sample.
    fn nnz_upper_bound(&self) -> usize {
        match self {
            Weights::Dense(d) => d.data.len(),
            Weights::Csr(c) => c.nnz(),
        }
    }

    /// Input features of the matrix.
    pub fn cols(&self) -> usize {
        match self {
            Weights::Dense(d) => d.cols,
            Weights::Csr(c) => c.cols,
        }
    }
}

/// `Y[r] = act(bias[r] + W[r, :] · X)` for every row of one block; `indices` replace a CSR
/// matrix's column indices (the first layer's, renumbered to the rows of the input block).
fn layer_block(linear: &LinearOp, indices: Option<&[u32]>, relu: bool, x: &[Lanes], y: &mut [Lanes]) {
    match &linear.weight {
        Weights::Csr(w) => csr_block(&w.indptr, indices.unwrap_or(&w.indices), &w.data, &linear.bias, relu, x, y),
        Weights::Dense(w) => dense_block(&w.data, &linear.bias, relu, x, y),
    }
}

multiversion! {
    /// [`layer_block`] for CSR weights (`indptr` has `y.len() + 1` entries; every index is
    /// checked against `x.len()`). A row's nonzeros go round-robin into [`CHAINS`] partial
    /// sums, added to the bias at the end: one sum would make every nonzero wait for the
    /// previous one's addition.
    fn csr_block(indptr: &[u32], indices: &[u32], data: &[f32], bias: &[f32], relu: bool, x: &[Lanes], y: &mut [Lanes]) {
        for (r, out) in y.iter_mut().enumerate() {
            let mut sums = [[0f32; BLOCK]; CHAINS];
            let range = indptr[r] as usize..indptr[r + 1] as usize;
            let (idx, val) = (&indices[range.clone()], &data[range]);
            let (ic, vc) = (idx.chunks_exact(CHAINS), val.chunks_exact(CHAINS));
            let (ir, vr) = (ic.remainder(), vc.remainder());
            for (cs, vs) in ic.zip(vc) {
                for k in 0..CHAINS {
                    let (xs, v) = (&x[cs[k] as usize], vs[k]);
                    for l in 0..BLOCK {
                        sums[k][l] += v * xs[l];
                    }
                }
            }
            for (k, (&c, &v)) in ir.iter().zip(vr).enumerate() {
                let xs = &x[c as usize];
                for l in 0..BLOCK {
                    sums[k][l] += v * xs[l];
                }
            }
            let mut acc = [bias[r]; BLOCK];
            for l in 0..BLOCK {
                acc[l] += (sums[0][l] + sums[1][l]) + (sums[2][l] + sums[3][l]);
            }
            if relu {
                acc.iter_mut().for_each(|a| *a = a.max(0.0));
            }
            *out = acc;
        }
    }
}

multiversion! {
    /// [`layer_block`] for a dense row-major `W[y.len(), x.len()]`.
    fn dense_block(w: &[f32], bias: &[f32], relu: bool, x: &[Lanes], y: &mut [Lanes]) {
        for ((out, row), &b) in y.iter_mut().zip(w.chunks_exact(x.len().max(1))).zip(bias) {
            let mut acc = [b; BLOCK];
            for (&v, xs) in row.iter().zip(x) {
                for l in 0..BLOCK {
                    acc[l] += v * xs[l];
                }
            }
            if relu {
                acc.iter_mut().for_each(|a| *a = a.max(0.0));
            }
            *out = acc;
        }
    }
}

/// The used features of `rows` sample-major samples (`[lanes, features]`) into the
/// batch-innermost block, `dst[k][lane]` = feature `used[k]`; lanes past `lanes` are zeroed so
/// no stale sample leaks into a padded block's sums.
fn gather_block(rows: &[f32], features: usize, used: &[u32], tiles: &[UsedTile], dst: &mut [Lanes]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: AVX-512 F present; the kernel bounds every access by `rows` and `dst`.
        return unsafe { avx512::transpose_tiles(rows, features, tiles, dst) };
    }
    gather_used(rows, features, used, dst)
}

/// The used features of input tile `tile` (features `16·tile..`): bit j of `mask` for feature
/// `16·tile + j`, copied to block rows `first_row..` in order.
#[derive(Clone, Copy, Debug, PartialEq)]
struct UsedTile {
    tile: u32,
    mask: u16,
    first_row: u32,
}

multiversion! {
    /// [`gather_block`] one value at a time (perf: 60% of a batch-1000 LeNet-300-100 pass in
    /// this loop, hence the AVX-512 tiles).
    fn gather_used(rows: &[f32], features: usize, used: &[u32], dst: &mut [Lanes]) {
        let lanes = rows.len() / features.max(1);
        for (l, row) in rows.chunks_exact(features.max(1)).enumerate() {
            for (d, &c) in dst.iter_mut().zip(used) {
                d[l] = row[c as usize];
            }
        }
        if lanes < BLOCK {
            dst.iter_mut().for_each(|d| d[lanes..].fill(0.0));
        }
    }
}

/// 16 × 16 tiles transposed in registers: 16 row loads, 64 shuffles and 16 stores move 256
/// values, where the one-value copy spends a load and a store on each.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Lanes, UsedTile, BLOCK};
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX-512 F present. Tiles, rows and block shapes are checked (asserted) before any access.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose_tiles(rows: &[f32], features: usize, tiles: &[UsedTile], dst: &mut [Lanes]) {
        let lanes = rows.len() / features;
        assert!(rows.len() == lanes * features && lanes <= BLOCK, "block shapes");
        for t in tiles {
            let c0 = t.tile as usize * 16;
            assert!(c0 < features && (t.mask as u32) >> (features - c0).min(16) == 0, "tile past the features");
            assert!(t.first_row as usize + t.mask.count_ones() as usize <= dst.len(), "tile past the block");
            let width = (features - c0).min(16);
            let cols: __mmask16 = if width == 16 { 0xFFFF } else { (1u16 << width) - 1 };
            for half in 0..BLOCK / 16 {
                let mut r = [_mm512_setzero_ps(); 16];
                for (i, v) in r.iter_mut().enumerate() {
                    let lane = half * 16 + i;
                    if lane < lanes {
                        // SAFETY: sample `lane` < lanes, columns c0..c0+width lie inside its row.
                        *v = unsafe { _mm512_maskz_loadu_ps(cols, rows.as_ptr().add(lane * features + c0)) };
                    }
                }
                let columns = transpose16(r);
                let mut row = t.first_row as usize;
                for (j, col) in columns.iter().enumerate() {
                    if t.mask & (1 << j) != 0 {
                        // SAFETY: row < first_row + popcount(mask) <= dst.len() (asserted);
                        // lanes 16·half.. of a BLOCK-wide entry.
                        unsafe { _mm512_storeu_ps(dst.get_unchecked_mut(row).as_mut_ptr().add(half * 16), *col) };
                        row += 1;
                    }
                }
            }
        }
    }

    /// Rows to columns: `out[j]` lane `i` = `r[i]` lane `j`. Per 128-bit lane interleaves of
    /// pairs of rows, then of pairs of pairs, then two rounds of 128-bit lane moves.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for k in 0..8 {
            t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
        }
        // u[4k + m], 128-bit lane L: column 4L + m of rows 4k..4k+4.
        let mut u = [_mm512_setzero_ps(); 16];
        let pd = _mm512_castps_pd;
        let ps = _mm512_castpd_ps;
        for k in 0..4 {
            let (a, b, c, d) = (pd(t[4 * k]), pd(t[4 * k + 1]), pd(t[4 * k + 2]), pd(t[4 * k + 3]));
            u[4 * k] = ps(_mm512_unpacklo_pd(a, c));
            u[4 * k + 1] = ps(_mm512_unpackhi_pd(a, c));
            u[4 * k + 2] = ps(_mm512_unpacklo_pd(b, d));
            u[4 * k + 3] = ps(_mm512_unpackhi_pd(b, d));
        }
        // v[m] = columns m and 8+m of rows 0..8, v[4+m] columns 4+m and 12+m; v[8..] rows 8..16.
        let mut v = [_mm512_setzero_ps(); 16];
        for m in 0..4 {
            for g in [0, 8] {
                v[g + m] = _mm512_shuffle_f32x4::<0x88>(u[g + m], u[g + 4 + m]);
                v[g + 4 + m] = _mm512_shuffle_f32x4::<0xdd>(u[g + m], u[g + 4 + m]);
            }
        }
        let mut out = [_mm512_setzero_ps(); 16];
        for m in 0..4 {
            out[m] = _mm512_shuffle_f32x4::<0x88>(v[m], v[8 + m]);
            out[8 + m] = _mm512_shuffle_f32x4::<0xdd>(v[m], v[8 + m]);
            out[4 + m] = _mm512_shuffle_f32x4::<0x88>(v[4 + m], v[12 + m]);
            out[12 + m] = _mm512_shuffle_f32x4::<0xdd>(v[4 + m], v[12 + m]);
        }
        out
    }
}

/// The block's first `lanes` samples of `last[feature][lane]` into the caller's `[lanes, out]`.
fn scatter_logits(last: &[Lanes], lanes: usize, logits: &mut [f32]) {
    let out = last.len();
    for (l, row) in logits.chunks_exact_mut(out).take(lanes).enumerate() {
        for (v, feature) in row.iter_mut().zip(last) {
            *v = feature[l];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::DenseMat;
    use crate::graph::Shape;
    use crate::sparse::Csr;

    fn value(i: usize, m: usize) -> f32 {
        ((i * 7919 % m) as f32 - (m / 2) as f32) / m as f32
    }

    /// `rows × cols`, every `keep`-th entry nonzero, and input features `dead..` read by none.
    fn matrix(rows: usize, cols: usize, keep: usize, dead: usize, seed: usize) -> DenseMat {
        let data = (0..rows * cols).map(|i| if i % keep == 0 && i % cols < dead { value(i + seed, 23) } else { 0.0 }).collect();
        DenseMat::new(rows, cols, data)
    }

    fn linear(name: &str, w: Weights, bias: Vec<f32>) -> Op {
        Op::Linear(LinearOp { name: name.into(), weight: w, bias })
    }

    /// 37 → 20 (CSR, features 30.. unread) → relu → 9 (CSR) → relu → 3 (CSR, no relu).
    fn csr_mlp() -> Network {
        let csr = |m: DenseMat| Weights::Csr(Csr::from_dense(&m));
        Network::chain(
            Shape::Features(37),
            None,
            vec![
                Op::Flatten,
                linear("a", csr(matrix(20, 37, 3, 30, 1)), (0..20).map(|i| value(i, 7)).collect()),
                Op::Relu,
                linear("b", csr(matrix(9, 20, 2, 20, 2)), (0..9).map(|i| value(i, 5)).collect()),
                Op::Relu,
                linear("c", csr(matrix(3, 9, 1, 9, 3)), vec![0.1, -0.2, 0.3]),
            ],
        )
    }

    #[test]
    fn plans_only_a_chain_of_linear_relu_pairs_with_a_csr_first_layer() {
        let net = csr_mlp();
        let plan = MlpPlan::of(&net).expect("a CSR MLP");
        assert_eq!(plan.stages.iter().map(|s| (s.op, s.relu)).collect::<Vec<_>>(), vec![(1, Some(2)), (3, Some(4)), (5, None)]);
        // Features 30..37 are read by no weight; 0..30 fall in tiles 0 and 1.
        let read: Vec<u32> = (0..37).filter(|&c| net_reads(&net, c)).collect();
        assert!(read.iter().all(|&c| c < 30) && read.len() > 20);
        assert_eq!(plan.used_inputs, read);
        // Tiles 0 and 1, their features numbered on from 0; the first layer's indices follow.
        let mask = |tile: u32| read.iter().filter(|&&c| c / 16 == tile).fold(0u16, |m, &c| m | 1 << (c % 16));
        let in_tile0 = read.iter().filter(|&&c| c < 16).count() as u32;
        assert_eq!(plan.used_tiles, vec![UsedTile { tile: 0, mask: mask(0), first_row: 0 }, UsedTile { tile: 1, mask: mask(1), first_row: in_tile0 }]);
        let Op::Linear(LinearOp { weight: Weights::Csr(w), .. }) = &net.ops[1] else { unreachable!() };
        let renumbered: Vec<u32> = w.indices.iter().map(|c| read.iter().position(|r| r == c).unwrap() as u32).collect();
        assert_eq!(plan.first_indices, renumbered);
        assert!(plan.fuses(2) && plan.fuses(4) && !plan.fuses(5));
        assert!(net.fused_into_previous(4, MIN_BATCH) && !net.fused_into_previous(4, MIN_BATCH - 1));

        // A dense first layer, a ReLU first, a non-chain: the op-by-op pass.
        let mut dense_first = csr_mlp();
        dense_first.ops[1] = linear("a", Weights::Dense(matrix(20, 37, 3, 30, 1)), vec![0.0; 20]);
        assert!(MlpPlan::of(&dense_first).is_none());
        let mut relu_first = csr_mlp();
        relu_first.ops[0] = Op::Relu;
        assert!(MlpPlan::of(&relu_first).is_none());
        let mut branched = csr_mlp();
        branched.inputs[3] = vec![1];
        assert!(MlpPlan::of(&branched).is_none());
    }

    fn net_reads(net: &Network, c: u32) -> bool {
        let Op::Linear(LinearOp { weight: Weights::Csr(w), .. }) = &net.ops[1] else { unreachable!() };
        w.indices.contains(&c)
    }

    #[test]
    fn block_pass_matches_the_op_by_op_pass_and_is_deterministic() {
        let net = csr_mlp();
        let plan = MlpPlan::of(&net).unwrap();
        // Around the block width: a partial block, exact blocks, a partial last block, and
        // enough blocks for several tasks.
        for n in [16, 31, 32, 33, 64, 100, 300] {
            let x: Vec<f32> = (0..n * 37).map(|i| value(i, 31) * 3.0).collect();
            let want = net.run_op_by_op(&x, n, None).unwrap();
            let got = plan.forward(&x, n, None);
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-6 * (1.0 + w.abs()), "batch {n} [{i}]: {g} vs {w}");
            }
            assert_eq!(net.forward(&x, n).unwrap(), got, "batch {n} through forward");
            // Each sample's logits do not depend on the batch around it.
            let last = &x[(n - 1) * 37..];
            let alone = plan.forward(&last.repeat(MIN_BATCH), MIN_BATCH, None);
            assert_eq!(&alone[..3], &got[(n - 1) * 3..], "batch {n}: the last sample alone");
        }
    }

    #[test]
    fn hand_computed_block_with_a_dense_layer_and_observed_times() {
        // 2 → 2 (CSR, relu) → 1 (dense). Samples alternate [1, -1] and [2, 0] over 17 rows.
        // [1, -1]: h = relu([1 - 2, 3 + 1]) = [0, 4], y = 0 + 40 + 0.5 = 40.5.
        // [2, 0]:  h = relu([2, 6 + 1]) = [2, 7],     y = 2 + 70 + 0.5 = 72.5.
        let net = Network::chain(
            Shape::Features(2),
            None,
            vec![
                linear("a", Weights::Csr(Csr::from_dense(&DenseMat::new(2, 2, vec![1., 2., 3., 0.]))), vec![0., 1.]),
                Op::Relu,
                linear("b", Weights::Dense(DenseMat::new(1, 2, vec![1., 10.])), vec![0.5]),
            ],
        );
        let n = 17;
        let x: Vec<f32> = (0..n).flat_map(|s| if s % 2 == 0 { [1., -1.] } else { [2., 0.] }).collect();
        let want: Vec<f32> = (0..n).map(|s| if s % 2 == 0 { 40.5 } else { 72.5 }).collect();
        let mut seen = vec![None; net.ops.len() + 1];
        let got = net.forward_observed(&x, n, |i, d| seen[i] = Some(d)).unwrap();
        assert_eq!(got, want);
        assert!(seen.iter().all(Option::is_some), "every op and the copies are reported");
        assert_eq!(seen[1], Some(Duration::ZERO), "the fused ReLU has no time of its own");
    }
}
