//! ONNX export of a [`Network`]: the masked-dense model or the compact one, as an opset-17 graph
//! that onnxruntime (or any ONNX runtime) runs without dtprune.
//!
//! * Input `input`: float32 `[N, C, H, W]` (or `[N, F]`), *after* the preprocessing recorded in
//!   the metadata (`dtprune.preprocess`: `x = (pixel * scale - mean) / std`); output `logits`
//!   `[N, classes]`. `N` is symbolic: any batch size.
//! * One node per op (`ops/`): Conv (strides, pads, group), BatchNormalization (dense model;
//!   the compact one has it folded into the conv), Add, GlobalAveragePool (+ Flatten), MaxPool,
//!   Relu, Flatten, Gemm (`transB = 1`, PyTorch's `[out, in]` weight as stored).
//! * Layers the compact model stores as CSR are written as **dense** initialisers of the reduced
//!   shape: ONNX's default domain has no CSR Gemm or Conv, so a runtime runs them densely. The
//!   compact ONNX file therefore has the compact model's shapes but not its sparse kernels.
//!
//! The protobuf is written directly (`proto.rs`, on `dtprune-protobuf`): the five messages a
//! model needs are short, and the crate stays free of protoc, prost and Burn.

pub(crate) mod builder;
pub mod ops;
pub(crate) mod proto;

use std::path::{Path, PathBuf};

use crate::error::{CompactError, Result};
use crate::export::load_compact;
use crate::graph::Shape;
use crate::model::load_run;
use crate::network::{Network, Op};
use builder::GraphBuilder;
use proto::Dim;

pub use proto::{IR_VERSION, OPSET};

pub const DENSE_ONNX: &str = "model.onnx";
pub const COMPACT_ONNX: &str = "compact.onnx";

/// Which of a run's two models to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `model.safetensors` with masks applied, every layer dense (what a user of TF-MOT or
    /// torch.nn.utils.prune deploys).
    Dense,
    /// The compact model as `dtprune compact` wrote it (removed units gone, CSR layers densified).
    Compact,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Dense => "dense",
            Variant::Compact => "compact",
        }
    }
    pub fn default_file(self) -> &'static str {
        match self {
            Variant::Dense => DENSE_ONNX,
            Variant::Compact => COMPACT_ONNX,
        }
    }
}

/// Encodes `net` as an ONNX `ModelProto`. `model` names the graph; `variant` and the network's
/// preprocessing go into the metadata.
pub fn to_onnx(net: &Network, model: &str, variant: Variant) -> Vec<u8> {
    let mut b = GraphBuilder::new();
    let shapes = net.shapes();
    // The ONNX value of every slot (0: the input).
    let mut values = vec!["input".to_string()];
    for (i, op) in net.ops.iter().enumerate() {
        let ins: Vec<String> = net.inputs[i].iter().map(|&s| values[s].clone()).collect();
        let x = emit_op(&mut b, &ins, op, shapes[net.inputs[i][0]]).unwrap_or_else(|| ins[0].clone());
        values.push(x);
    }
    // The builder names the last node's output `logits`: make it the output's.
    if net.output != net.ops.len() || values[net.output] == "input" {
        b.node("Identity", "output", &[values[net.output].clone()], vec![]);
    }
    let input_dims = match net.input {
        Shape::Features(f) => vec![Dim::Named("N"), Dim::Fixed(f)],
        Shape::Image { c, h, w } => vec![Dim::Named("N"), Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)],
    };
    let output_dims = [Dim::Named("N"), Dim::Fixed(net.num_outputs())];
    let doc = format!(
        "dtprune {model} ({} model). Layers dtprune stores as CSR are dense initialisers of the compact shape here: ONNX's default domain has no sparse Gemm/Conv.",
        variant.name()
    );
    let graph = b.finish(model, &doc, ("input", &input_dims), ("logits", &output_dims));
    let mut meta = vec![
        ("dtprune.model".to_string(), model.to_string()),
        ("dtprune.variant".to_string(), variant.name().to_string()),
    ];
    if let Some(p) = &net.preprocess {
        let json = serde_json::json!({"scale": p.scale, "mean": p.mean, "std": p.std});
        meta.push(("dtprune.preprocess".to_string(), json.to_string()));
    }
    proto::model(&graph, &doc, &meta).into_bytes()
}

/// Adds `op`'s node(s) reading `input` (an activation of `shape`); returns the new output's name,
/// or `None` for an op that is the identity in ONNX's layout (flattening a vector).
fn emit_op(b: &mut GraphBuilder, inputs: &[String], op: &Op, shape: Shape) -> Option<String> {
    let input = inputs[0].as_str();
    Some(match op {
        Op::BatchNorm(bn) => ops::batchnorm::emit(b, input, bn),
        Op::Add => ops::add::emit(b, inputs),
        Op::GlobalAvgPool => ops::global_avg_pool::emit(b, input),
        Op::Identity => b.node("Identity", "identity", &[input.to_string()], vec![]),
        Op::Conv(c) => ops::conv::emit(b, input, c),
        Op::Linear(l) => ops::gemm::emit(b, input, l),
        Op::MaxPool { kernel, stride } => ops::maxpool::emit(b, input, *kernel, *stride),
        Op::Relu => ops::relu::emit(b, input),
        Op::Flatten => match shape {
            Shape::Image { .. } => ops::flatten::emit(b, input),
            Shape::Features(_) => return None,
        },
    })
}

/// A written ONNX file.
#[derive(Clone, Debug)]
pub struct OnnxFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub variant: Variant,
}

/// `dtprune export --format onnx`: writes the run's dense (or compact) model as ONNX, atomically,
/// to `out` or to `model.onnx` / `compact.onnx` in the run directory. The compact variant reads
/// the exported compact model (`dtprune compact` first).
pub fn export_run(dir: &Path, variant: Variant, out: Option<&Path>) -> Result<OnnxFile> {
    let bytes = if crate::recurrent::is_recurrent_graph(&dir.join(crate::model::GRAPH_FILE)) {
        let net = match variant {
            Variant::Dense => crate::recurrent::RecurrentModel::load_run(dir)?.dense_network(),
            Variant::Compact => crate::recurrent::export::load(dir)?.1,
        };
        crate::recurrent::onnx::to_onnx(&net, variant)
    } else if crate::transformer::is_transformer_graph(&dir.join(crate::model::GRAPH_FILE)) {
        let net = match variant {
            Variant::Dense => crate::transformer::TransformerModel::load_run(dir)?.dense_network(),
            Variant::Compact => crate::transformer::export::load(dir)?.1,
        };
        crate::transformer::onnx::to_onnx(&net, variant)
    } else if crate::tabular::is_tabular_graph(&dir.join(crate::model::GRAPH_FILE)) {
        let net = match variant {
            Variant::Dense => crate::tabular::TabularModel::load_run(dir)?.dense_network()?,
            Variant::Compact => crate::tabular::export::load(dir)?.1,
        };
        crate::tabular::onnx::to_onnx(&net, variant)
    } else {
        layer_graph_onnx(dir, variant)?
    };
    let path = out.map(Path::to_path_buf).unwrap_or_else(|| dir.join(variant.default_file()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(CompactError::Input(format!(
                "cannot write {}: directory {} does not exist",
                path.display(),
                parent.display()
            )));
        }
    }
    crate::tensor_io::write_atomic(&path, &bytes)?;
    Ok(OnnxFile { path, bytes: bytes.len() as u64, variant })
}

/// The ONNX bytes of a layer-graph run's dense or compact model.
fn layer_graph_onnx(dir: &Path, variant: Variant) -> Result<Vec<u8>> {
    let (model, net) = match variant {
        Variant::Dense => {
            let m = load_run(dir)?;
            let net = m.dense_network()?;
            (m.graph.model, net)
        }
        Variant::Compact => {
            let (doc, net) = load_compact(dir)?;
            (doc.model, net)
        }
    };
    Ok(to_onnx(&net, &model, variant))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{lenet5_graph, random_model};

    #[test]
    fn lenet5_graph_has_one_node_per_op() {
        let net = random_model(&lenet5_graph(), 1).dense_network().unwrap();
        let bytes = to_onnx(&net, "lenet5", Variant::Dense);
        let count = |s: &[u8]| bytes.windows(s.len()).filter(|w| *w == s).count();
        // op_type is field 4: key 0x22, then the length.
        assert_eq!(count(b"\x22\x04Conv"), 2);
        assert_eq!(count(b"\x22\x07MaxPool"), 2);
        assert_eq!(count(b"\x22\x07Flatten"), 1);
        assert_eq!(count(b"\x22\x04Gemm"), 2);
        assert_eq!(count(b"\x22\x04Relu"), 1);
        // Every parameter is an initialiser, named as in PyTorch, its raw data whole:
        // conv1 (20·25 + 20) + conv2 (50·500 + 50) + fc1 (500·800 + 500) + fc2 (10·500 + 10).
        let params = 520 + 25_050 + 400_500 + 5_010;
        assert!(bytes.len() > 4 * params && bytes.len() < 4 * params + 4096, "{} bytes", bytes.len());
        assert!(count(b"fc1.weight") >= 2, "initialiser name and node input");
        assert_eq!(count(b"dtprune.preprocess"), 1);
        // The model header: ir_version 8, then the opset import of the default domain, 17.
        assert_eq!(&bytes[..2], &[0x08, IR_VERSION as u8]);
        assert_eq!(count(&[0x42, 4, 0x0A, 0, 0x10, OPSET as u8]), 1);
    }
}
