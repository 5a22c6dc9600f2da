//! Compact kernels of the ops that are not a weight product (conv and linear are `crate::dense`
//! and `crate::sparse`): one file per op. Each op's shape rule and parameters are in
//! `crate::graph` (`Layer::output_shape`, `Layer::param_shapes`), which channel slices it
//! produces and consumes in `crate::structure_groups`.

pub mod add;
pub mod batchnorm;
pub mod global_avg_pool;
