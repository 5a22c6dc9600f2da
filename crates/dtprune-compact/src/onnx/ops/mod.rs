//! One ONNX emitter per op: given the builder and the names of the op's inputs, it adds the op's
//! initialisers and node(s) and returns its output's name. A new op (batchnorm, residual add,
//! global pooling) is a new file here plus one arm in `super::emit_op`.

pub mod add;
pub mod batchnorm;
pub mod conv;
pub mod flatten;
pub mod gemm;
pub mod global_avg_pool;
pub mod maxpool;
pub mod relu;
