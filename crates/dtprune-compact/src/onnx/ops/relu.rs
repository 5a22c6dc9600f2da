//! `Relu`.

use crate::onnx::builder::GraphBuilder;

pub fn emit(b: &mut GraphBuilder, input: &str) -> String {
    b.node("Relu", "relu", &[input.to_string()], vec![])
}
