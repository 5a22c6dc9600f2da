//! A recurrent classifier as an ONNX graph of the standard `LSTM` / `GRU` ops, for onnxruntime:
//! input `input` `[N, frames, features]` (every frame valid: ONNX gets no lengths), output
//! `logits` `[N, classes]`.
//!
//! `Transpose` to ONNX's sequence-major `[T, N, F]` (onnxruntime's CPU kernels do not take
//! `layout = 1`), then per layer one `LSTM`/`GRU` node (one direction) whose `Y`
//! `[T, 1, N, H]` is squeezed to `[T, N, H]` for the next layer; the last layer's `Y_h`
//! `[1, N, H]` squeezed to `[N, H]` feeds the classifier's `Gemm`. ONNX orders the gates
//! differently from PyTorch — LSTM i, o, f, c (PyTorch i, f, g, o); GRU z, r, h (PyTorch r, z, n)
//! — so the stacked rows are permuted; the GRU sets `linear_before_reset = 1`, PyTorch's (and
//! Burn's `reset_after`) form. CSR matrices are written dense at the compact shape.

use super::cell::CellKind;
use super::net::RecurrentNet;
use crate::onnx::builder::GraphBuilder;
use crate::onnx::ops::gemm;
use crate::onnx::proto::{self, attr_int, attr_ints, Dim};
use crate::onnx::Variant;

/// For ONNX gate slot k, the PyTorch gate it takes.
fn onnx_gate_order(kind: CellKind) -> &'static [usize] {
    match kind {
        // i, o, f, c from i(0), f(1), g(2), o(3).
        CellKind::Lstm => &[0, 3, 1, 2],
        // z, r, h from r(0), z(1), n(2).
        CellKind::Gru => &[1, 0, 2],
    }
}

/// `rows` (G blocks of `h` rows of `cols`) with the blocks reordered to `order`.
fn permute_gates(data: &[f32], h: usize, cols: usize, order: &[usize]) -> Vec<f32> {
    order.iter().flat_map(|&g| data[g * h * cols..(g + 1) * h * cols].iter().copied()).collect()
}

pub fn to_onnx(net: &RecurrentNet, variant: Variant) -> Vec<u8> {
    let mut b = GraphBuilder::new();
    let mut x = b.node("Transpose", "to_sequence_major", &["input".to_string()], vec![attr_ints("perm", &[1, 0, 2])]);
    for (i, l) in net.layers.iter().enumerate() {
        let (h, order) = (l.hidden, onnx_gate_order(l.kind));
        let (wi, wh) = (l.input_weights.to_dense(), l.hidden_weights.to_dense());
        let g = order.len();
        let w = b.initializer(&format!("{}.W", l.name), &[1, g * h, wi.cols], &permute_gates(&wi.data, h, wi.cols, order));
        let r = b.initializer(&format!("{}.R", l.name), &[1, g * h, h], &permute_gates(&wh.data, h, h, order));
        let mut bias = permute_gates(&l.input_bias, h, 1, order);
        bias.extend(permute_gates(&l.hidden_bias, h, 1, order));
        let bias = b.initializer(&format!("{}.B", l.name), &[1, 2 * g * h], &bias);
        let mut attrs = vec![attr_int("hidden_size", h as i64)];
        let op = match l.kind {
            CellKind::Lstm => "LSTM",
            CellKind::Gru => {
                attrs.push(attr_int("linear_before_reset", 1));
                "GRU"
            }
        };
        let last = i + 1 == net.layers.len();
        // Output 0 is Y (every step), output 1 is Y_h (the last step).
        let y = b.node_output_at(op, &l.name, &[x, w, r, bias], attrs, usize::from(last));
        // Y [T, 1, N, H] loses axis 1 (the direction), Y_h [1, N, H] axis 0.
        let axis = b.initializer_i64(&format!("{}_axis", l.name), &[1], &[if last { 0 } else { 1 }]);
        x = b.node("Squeeze", &format!("{}_squeeze", l.name), &[y, axis], vec![]);
    }
    gemm::emit(&mut b, &x, &net.classifier);
    let doc = format!("dtprune {} ({} model): {} layers as ONNX {}; every frame valid (no sequence_lens).", net.model, variant.name(), net.layers.len(), net.layers.first().map_or("", |l| l.kind.op()));
    let input = [Dim::Named("N"), Dim::Fixed(net.frames), Dim::Fixed(net.features)];
    let output = [Dim::Named("N"), Dim::Fixed(net.num_classes())];
    let graph = b.finish(&net.model, &doc, ("input", &input), ("logits", &output));
    let meta = vec![("dtprune.model".to_string(), net.model.clone()), ("dtprune.variant".to_string(), variant.name().to_string())];
    proto::model(&graph, &doc, &meta).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_are_reordered_for_onnx() {
        // LSTM blocks i f g o (one unit, one column) → i o f c.
        assert_eq!(permute_gates(&[1., 2., 3., 4.], 1, 1, onnx_gate_order(CellKind::Lstm)), vec![1., 4., 2., 3.]);
        // GRU r z n, two units of one column → z r n.
        assert_eq!(permute_gates(&[1., 2., 3., 4., 5., 6.], 2, 1, onnx_gate_order(CellKind::Gru)), vec![3., 4., 1., 2., 5., 6.]);
    }
}
