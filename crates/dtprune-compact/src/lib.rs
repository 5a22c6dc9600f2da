//! # dtprune-compact
//!
//! Turns a masked-dense pruned model (PyTorch-layout `model.safetensors` + `graph.json`) into a
//! physically smaller and really faster *compact* model, and runs both on the CPU:
//!
//! 1. [`structure`] derives, from the layer graph, which tensor slices belong to each neuron or
//!    channel, and removes dead units (all-zero outgoing weights, or all-zero incoming weights
//!    whose constant output is folded into the consumer's bias), to a fixpoint;
//! 2. [`compact`] stores each remaining layer dense or CSR, chosen by a *measured* density
//!    crossover;
//! 3. [`network`] runs either model multi-threaded with the kernels of [`dense`], [`sparse`] and
//!    [`conv_pool`] (a convolution and the max pooling after it, in one pass);
//! 4. [`export`] writes `compact.safetensors` + `compact.json`, readable without dtprune
//!    (`tests/numpy_forward.py` proves it);
//! 5. [`onnx`] writes either model as an ONNX graph (`model.onnx`, `compact.onnx`) for
//!    onnxruntime, the baseline `dtprune bench` measures against;
//! 6. [`bench`] and [`inspect`] back `dtprune bench` and `dtprune inspect`;
//! 7. [`recurrent`] does the same for LSTM/GRU classifiers (dead hidden units cut out of every
//!    gate, native step kernels, PyTorch-named files, ONNX `LSTM`/`GRU` graphs), with the
//!    batch-1 sparse products of [`sliced`];
//! 8. [`transformer`] (dead heads, feed-forward neurons and stream dimensions) and [`tabular`]
//!    (dead embedding dimensions, and neurons through [`structure`]) likewise, each family
//!    reading its whole model from a node-form `graph.json`.
//!
//! No Burn dependency: this crate is the deployment side.
//!
//! ```no_run
//! use dtprune_compact::{compact_run_dir, bench_run_dir, inspect, BenchOptions, CompactOptions};
//! let dir = std::path::Path::new("runs/lenet5");
//! let (compacted, files) = compact_run_dir(dir, &CompactOptions::default())?;
//! println!("removed {} units, wrote {}", compacted.report.structure.removed_units(), files.weights.display());
//! println!("{}", bench_run_dir(dir, &BenchOptions::default())?);
//! println!("{}", inspect(&files.weights)?);
//! # Ok::<(), dtprune_compact::CompactError>(())
//! ```

pub mod bench;
mod block_mlp;
pub mod bench_int8;
pub mod compact;
pub mod conv_pool;
pub mod dense;
pub mod error;
pub mod export;
pub mod graph;
pub mod inspect;
pub mod model;
pub mod network;
mod node_file;
pub mod ops;
pub mod onnx;
pub mod onnxruntime_bench;
mod packed_gemm;
pub mod pool;
pub mod quant;
pub mod recurrent;
pub mod transformer;
pub mod simd;
pub mod sliced;
pub mod sparse;
pub mod structure;
pub mod synth;
pub mod tabular;
pub mod tensor_io;

pub use bench::{bench, bench_run_dir, BenchOptions, BenchReport, BenchRow, Timing};
pub use compact::{
    compact, measure_crossover, CompactOptions, CompactReport, Compacted, Crossover, KernelShape,
    LayerReport,
};
pub use error::{CompactError, Result};
pub use export::{
    compact_network, compact_run_dir, export, load_compact, write_reference, write_references, CompactJson,
    ExportedFiles,
};
pub use graph::{Graph, Layer, Preprocess, Shape};
pub use inspect::{inspect, InspectReport, TensorStats};
pub use model::{load_run, DenseModel};
pub use network::Network;
pub use structure::{channel_groups, remove_dead_structure, residual_blocks, ChannelGroup, GroupMember, MemberRole, ResidualBlock, StructureReport};
