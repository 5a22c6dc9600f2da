//! `BatchNormalization` in inference mode: scale γ, bias β, running mean and variance, epsilon.

use crate::onnx::builder::GraphBuilder;
use crate::onnx::proto::attr_float;
use crate::ops::batchnorm::BatchNormOp;

pub fn emit(b: &mut GraphBuilder, input: &str, bn: &BatchNormOp) -> String {
    let c = bn.scale.len();
    let names = ["weight", "bias", "running_mean", "running_var"];
    let mut inputs = vec![input.to_string()];
    for (t, data) in names.iter().zip(&bn.tensors) {
        inputs.push(b.initializer(&format!("{}.{t}", bn.name), &[c], data));
    }
    b.node("BatchNormalization", &bn.name, &inputs, vec![attr_float("epsilon", bn.eps as f32)])
}
