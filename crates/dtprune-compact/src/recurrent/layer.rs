//! One recurrent layer with its gates stacked: `W_ih[G·H, in]` and `W_hh[G·H, H]`, each stored
//! dense or CSR, and its run over sequences, two ways:
//!
//! * [`RecurrentLayer::run`], a batch at once: the input's contribution to every gate at every
//!   step does not depend on the state, so it is one product over all steps
//!   (`W_ih · X[in, T·B]`); only `W_hh · h` is left inside the time loop;
//! * [`RecurrentLayer::run_single`], one sequence, sample-major, when both matrices are CSR of
//!   at most 128 columns: two sliced matrix–vector products per step ([`crate::sliced`]) and
//!   no layout change at all. This is the faster way at every batch size measured
//!   (BENCHMARKS.md), so [`super::RecurrentNet`] runs batches sequence by sequence then.

use super::cell::{gru_step, lstm_step, CellKind};
use crate::network::{broadcast_bias, Weights};
use crate::sliced::SlicedCsr;

#[derive(Clone, Debug)]
pub struct RecurrentLayer {
    /// Tensor prefix (`rnn.0`).
    pub name: String,
    pub kind: CellKind,
    pub hidden: usize,
    /// `[G·H, in]`, gate-major rows (gate g's unit u is row g·H + u).
    pub input_weights: Weights,
    /// `[G·H, H]`.
    pub hidden_weights: Weights,
    pub input_bias: Vec<f32>,
    pub hidden_bias: Vec<f32>,
    /// A CSR hidden transform of at most [`crate::sliced::MAX_COLS`] columns, also in the
    /// sliced layout for the batch-1 step (built by [`Self::new`]).
    hidden_sliced: Option<SlicedCsr>,
    /// The same for the input transform (a single sequence is then run step by step without
    /// any layout change: [`Self::run_single`]).
    input_sliced: Option<SlicedCsr>,
}

impl RecurrentLayer {
    pub fn new(name: String, kind: CellKind, hidden: usize, input_weights: Weights, hidden_weights: Weights, input_bias: Vec<f32>, hidden_bias: Vec<f32>) -> RecurrentLayer {
        let sliced = |w: &Weights| match w {
            Weights::Csr(c) => SlicedCsr::from_csr(c),
            Weights::Dense(_) => None,
        };
        let (hidden_sliced, input_sliced) = (sliced(&hidden_weights), sliced(&input_weights));
        RecurrentLayer { name, kind, hidden, input_weights, hidden_weights, input_bias, hidden_bias, hidden_sliced, input_sliced }
    }

    pub fn input_size(&self) -> usize {
        match &self.input_weights {
            Weights::Dense(d) => d.cols,
            Weights::Csr(c) => c.cols,
        }
    }

    /// Bytes the layer holds in memory (the sliced copies of its CSR matrices included).
    pub fn param_bytes(&self) -> usize {
        self.input_weights.bytes() + self.hidden_weights.bytes() + [&self.hidden_sliced, &self.input_sliced].iter().map(|s| s.as_ref().map_or(0, SlicedCsr::bytes)).sum::<usize>() + 4 * (self.input_bias.len() + self.hidden_bias.len())
    }

    /// Runs `steps` steps over `x[in, steps·batch]` (column `t·batch + b`: step t of sequence
    /// b). With `last = None` returns every step's state `[H, steps·batch]` in the same column
    /// order (the next layer's input); with `last = Some(l)` only the state of sequence b
    /// after step `l[b]` (`[H, batch]`), its last valid frame.
    pub fn run(&self, x: &[f32], steps: usize, batch: usize, last: Option<&[usize]>) -> Vec<f32> {
        let (h_units, gh) = (self.hidden, self.kind.num_gates() * self.hidden);
        let cols = steps * batch;
        // Every step's input pre-activations, then regrouped step-major ([T][G·H][B]) so that
        // a step reads one contiguous slice shaped like the hidden product.
        let mut projected = broadcast_bias(&self.input_bias, cols);
        self.input_weights.matmul_acc(x, cols, &mut projected);
        let per_step = step_major(&projected, gh, steps, batch);
        let mut h = vec![0f32; h_units * batch];
        let mut c = vec![0f32; if self.kind == CellKind::Lstm { h_units * batch } else { 0 }];
        let mut out = vec![0f32; h_units * if last.is_some() { batch } else { cols }];
        let mut ph = vec![0f32; gh * batch];
        for t in 0..steps {
            fill_rows(&mut ph, &self.hidden_bias, batch);
            match (&self.hidden_sliced, batch) {
                (Some(sliced), 1) => sliced.matvec_acc(&h, &mut ph),
                _ => self.hidden_weights.matmul_acc(&h, batch, &mut ph),
            }
            let px = &per_step[t * gh * batch..(t + 1) * gh * batch];
            match self.kind {
                CellKind::Lstm => lstm_step(px, &ph, &mut c, &mut h),
                CellKind::Gru => gru_step(px, &ph, &mut h),
            }
            match last {
                None => {
                    for u in 0..h_units {
                        out[u * cols + t * batch..u * cols + (t + 1) * batch].copy_from_slice(&h[u * batch..(u + 1) * batch]);
                    }
                }
                Some(last) => {
                    for (b, _) in last.iter().enumerate().filter(|(_, &l)| l == t) {
                        for u in 0..h_units {
                            out[u * batch + b] = h[u * batch + b];
                        }
                    }
                }
            }
        }
        out
    }
}

impl RecurrentLayer {
    /// Whether [`Self::run_single`] can run this layer (both transforms sliced).
    pub fn runs_single(&self) -> bool {
        self.hidden_sliced.is_some() && self.input_sliced.is_some()
    }

    /// One sequence, sample-major: `x[steps, in]` → every step's state `[steps, H]`, or with
    /// `last = Some(t)` only the state after step t. Both products are batch-1 sliced products
    /// per step, so nothing is transposed or regrouped. Needs [`Self::runs_single`].
    pub fn run_single(&self, x: &[f32], steps: usize, last: Option<usize>) -> Vec<f32> {
        let (Some(wi), Some(wh)) = (&self.input_sliced, &self.hidden_sliced) else {
            unreachable!("run_single on a layer without sliced transforms (check runs_single)")
        };
        let (h_units, gh, width) = (self.hidden, self.kind.num_gates() * self.hidden, wi.cols);
        let mut h = vec![0f32; h_units];
        let mut c = vec![0f32; if self.kind == CellKind::Lstm { h_units } else { 0 }];
        let (mut px, mut ph) = (vec![0f32; gh], vec![0f32; gh]);
        let mut out = Vec::with_capacity(if last.is_some() { h_units } else { steps * h_units });
        for t in 0..steps {
            px.copy_from_slice(&self.input_bias);
            wi.matvec_acc(&x[t * width..(t + 1) * width], &mut px);
            ph.copy_from_slice(&self.hidden_bias);
            wh.matvec_acc(&h, &mut ph);
            match self.kind {
                CellKind::Lstm => lstm_step(&px, &ph, &mut c, &mut h),
                CellKind::Gru => gru_step(&px, &ph, &mut h),
            }
            if last.is_none() {
                out.extend_from_slice(&h);
            } else if last == Some(t) {
                return h;
            }
        }
        out
    }
}

/// `[R, T·B]` (column t·B + b) → `[T][R][B]`.
fn step_major(x: &[f32], rows: usize, steps: usize, batch: usize) -> Vec<f32> {
    if steps == 1 {
        return x.to_vec();
    }
    if batch == 1 {
        return crate::network::transpose(x, rows, steps);
    }
    let mut y = vec![0f32; x.len()];
    for r in 0..rows {
        for t in 0..steps {
            let src = &x[r * steps * batch + t * batch..][..batch];
            y[(t * rows + r) * batch..][..batch].copy_from_slice(src);
        }
    }
    y
}

/// Every row r of `y[R, B]` set to `bias[r]`, in place.
fn fill_rows(y: &mut [f32], bias: &[f32], batch: usize) {
    if batch == 1 {
        y.copy_from_slice(bias);
        return;
    }
    for (row, &b) in y.chunks_mut(batch).zip(bias) {
        row.fill(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regroups_steps() {
        // R = 2 rows, T = 2 steps, B = 2: column t·2 + b.
        let x = [1., 2., 3., 4., 5., 6., 7., 8.];
        // step 0: rows (1, 2), (5, 6); step 1: (3, 4), (7, 8).
        assert_eq!(step_major(&x, 2, 2, 2), vec![1., 2., 5., 6., 3., 4., 7., 8.]);
        assert_eq!(step_major(&[1., 2., 3., 4.], 2, 2, 1), vec![1., 3., 2., 4.]);
        let mut y = [0f32; 4];
        fill_rows(&mut y, &[1., -1.], 2);
        assert_eq!(y, [1., 1., -1., -1.]);
    }
}
