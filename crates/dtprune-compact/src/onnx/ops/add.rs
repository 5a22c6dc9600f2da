//! `Add` of two or more inputs (a chain of binary Adds for more than two).

use crate::onnx::builder::GraphBuilder;

pub fn emit(b: &mut GraphBuilder, inputs: &[String]) -> String {
    let mut acc = inputs[0].clone();
    for x in &inputs[1..] {
        acc = b.node("Add", "add", &[acc, x.clone()], vec![]);
    }
    acc
}
