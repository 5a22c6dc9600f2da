//! `Conv` (opset 11+): weight `[cout, cin/group, kh, kw]`, bias `[cout]`, symmetric padding, strides, `group`.

use crate::network::{ConvOp, ConvWeights};
use crate::onnx::builder::GraphBuilder;
use crate::onnx::proto::{attr_int, attr_ints};

pub fn emit(b: &mut GraphBuilder, input: &str, c: &ConvOp) -> String {
    let g = &c.geom;
    // A CSR convolution is written densely, zeros included: ONNX's default domain has no sparse
    // convolution. The shape is the compact one (removed channels stay removed).
    let data = match &c.weight {
        ConvWeights::Dense(d) => d.data.clone(),
        ConvWeights::Sparse(s) => s.csr.to_dense().data,
        ConvWeights::Grouped(_) => match c.weights() {
            crate::network::Weights::Dense(d) => d.data,
            crate::network::Weights::Csr(s) => s.to_dense().data,
        },
    };
    let w = b.initializer(&format!("{}.weight", c.name), &[g.cout, g.cin / c.groups, g.kh, g.kw], &data);
    let bias = b.initializer(&format!("{}.bias", c.name), &[g.cout], &c.bias);
    let i = |v: usize| v as i64;
    let attrs = vec![
        attr_ints("kernel_shape", &[i(g.kh), i(g.kw)]),
        attr_ints("strides", &[i(g.sh), i(g.sw)]),
        // ONNX: [top, left, bottom, right].
        attr_ints("pads", &[i(g.ph), i(g.pw), i(g.ph), i(g.pw)]),
    ];
    // `group` defaults to 1: written only when it is not, so ungrouped files stay as before.
    let mut attrs = attrs;
    if c.groups != 1 {
        attrs.push(attr_int("group", i(c.groups)));
    }
    b.node("Conv", &c.name, &[input.to_string(), w, bias], attrs)
}
