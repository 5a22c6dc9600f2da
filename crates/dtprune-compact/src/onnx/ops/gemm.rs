//! A linear layer as `Gemm(x, W, b, transB = 1)`: `y = x · Wᵀ + b` with `W` in PyTorch's
//! `[out, in]` layout, so the initialiser is the weight exactly as dtprune stores it.

use crate::network::LinearOp;
use crate::onnx::builder::GraphBuilder;
use crate::onnx::proto::attr_int;

pub fn emit(b: &mut GraphBuilder, input: &str, l: &LinearOp) -> String {
    // A CSR layer is written as a dense initialiser of its (compact) shape: ONNX's default domain
    // has no sparse Gemm, so onnxruntime runs it densely, zeros included.
    let m = l.weight.to_dense();
    let w = b.initializer(&format!("{}.weight", l.name), &[m.rows, m.cols], &m.data);
    let bias = b.initializer(&format!("{}.bias", l.name), &[m.rows], &l.bias);
    b.node("Gemm", &l.name, &[input.to_string(), w, bias], vec![attr_int("transB", 1)])
}
