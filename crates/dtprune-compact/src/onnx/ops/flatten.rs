//! `Flatten(axis = 1)`: `[N, C, H, W] -> [N, C·H·W]` in (c, h, w) order, PyTorch's `flatten(1)`.

use crate::onnx::builder::GraphBuilder;
use crate::onnx::proto::attr_int;

pub fn emit(b: &mut GraphBuilder, input: &str) -> String {
    b.node("Flatten", "flatten", &[input.to_string()], vec![attr_int("axis", 1)])
}
