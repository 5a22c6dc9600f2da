//! The layer graph a model declares, written to `graph.json` in the run directory. The types
//! are `dtprune-compact`'s — the reader that derives structure dependencies from them (which
//! inputs of a consumer go with which output unit of a producer) — so new models get
//! compaction without special cases. This module adds the constructors models use: chain
//! helpers for sequential models ([`model_graph`]) and a [`GraphBuilder`] for DAGs (residual
//! networks).

use crate::input::InputInfo;
use burn::module::Param;
use burn::prelude::*;
pub use dtprune_compact::graph::{ChannelStat, Node, INPUT};
pub use dtprune_compact::{Graph, Layer, Preprocess};
use dtprune_data::{normalize::PIXEL_SCALE, Normalization};

/// The shape of a parameter without initialising it. Burn initialises parameters lazily, on
/// first use, drawing from the seeded random stream in that order: reading `dims()` in
/// `Model::graph` would change the order and so the initial weights of a seed.
pub fn param_dims<const D: usize>(param: &Param<Tensor<D>>) -> [usize; D] {
    param.lazy_shape().dims::<D>()
}

pub fn linear(name: &str, in_features: usize, out_features: usize) -> Layer {
    Layer::Linear { name: name.into(), in_features, out_features, bias: true }
}

/// A valid (unpadded), stride-1 square convolution with bias.
pub fn conv2d(name: &str, in_channels: usize, out_channels: usize, kernel: usize) -> Layer {
    Conv::new(in_channels, out_channels, kernel).layer(name)
}

/// Non-overlapping square max pooling.
pub fn maxpool2d(size: usize) -> Layer {
    Layer::Maxpool2d { kernel: [size; 2], stride: Some([size; 2]) }
}

/// A sequential model's graph for input `info` (node i takes node i-1); the trainer fills in
/// the preprocessing ([`preprocess_for`]) from the run's normalisation.
pub fn model_graph(model: &str, info: InputInfo, layers: Vec<Layer>) -> Graph {
    Graph::chain(model, input_dims(info), None, layers)
}

fn input_dims(info: InputInfo) -> Vec<usize> {
    vec![info.channels, info.rows, info.cols]
}

/// A square convolution's hyper-parameters, PyTorch's defaults (stride 1, no padding, one group,
/// with bias) changed by the builder methods: `Conv::new(16, 32, 3).stride(2).padding(1).no_bias()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub groups: usize,
    pub bias: bool,
}

impl Conv {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Conv {
        Conv { in_channels, out_channels, kernel, stride: 1, padding: 0, groups: 1, bias: true }
    }
    pub fn stride(self, stride: usize) -> Conv {
        Conv { stride, ..self }
    }
    pub fn padding(self, padding: usize) -> Conv {
        Conv { padding, ..self }
    }
    pub fn groups(self, groups: usize) -> Conv {
        Conv { groups, ..self }
    }
    pub fn no_bias(self) -> Conv {
        Conv { bias: false, ..self }
    }
    /// The graph op of this convolution with parameters `NAME.weight` (and `NAME.bias`).
    pub fn layer(self, name: &str) -> Layer {
        Layer::Conv2d {
            name: name.into(),
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            kernel: [self.kernel; 2],
            stride: [self.stride; 2],
            padding: [self.padding; 2],
            groups: self.groups,
            bias: self.bias,
        }
    }
}

/// Builds a DAG node by node. Every method appends one node and returns its id, which later
/// nodes name as input (`"input"`, [`INPUT`], is the model input). Parameterised nodes use their
/// parameter prefix as id (`layer1.0.conv1`); the others take the id given.
///
/// ```
/// use dtprune_train::graph::{Conv, GraphBuilder, INPUT};
/// let mut b = GraphBuilder::new("tiny", vec![3, 8, 8]);
/// let x = b.conv2d(INPUT, "conv1", Conv::new(3, 4, 3).padding(1).no_bias());
/// let x = b.batchnorm2d(&x, "bn1", 4);
/// let stem = b.relu(&x, "relu1");
/// let y = b.conv2d(&stem, "block.conv1", Conv::new(4, 4, 3).padding(1).no_bias());
/// let y = b.batchnorm2d(&y, "block.bn1", 4);
/// let y = b.add(&[&y, &stem], "block.add");
/// let y = b.relu(&y, "block.relu");
/// let y = b.global_avg_pool(&y, "pool");
/// let logits = b.linear(&y, "fc", 4, 10, true);
/// let graph = b.finish(&logits).unwrap();
/// assert_eq!(graph.nodes.len(), 9);
/// ```
#[derive(Clone, Debug)]
pub struct GraphBuilder {
    graph: Graph,
}

impl GraphBuilder {
    /// `input` is one sample's shape: `[C, H, W]` or `[F]`.
    pub fn new(model: &str, input: Vec<usize>) -> GraphBuilder {
        GraphBuilder { graph: Graph { model: model.into(), input, preprocess: None, nodes: Vec::new(), output: String::new() } }
    }

    /// A builder for a model taking images of `info`'s size.
    pub fn for_input(model: &str, info: InputInfo) -> GraphBuilder {
        Self::new(model, input_dims(info))
    }

    /// Appends a node with any op.
    pub fn node(&mut self, id: &str, inputs: &[&str], op: Layer) -> String {
        self.graph.nodes.push(Node { id: id.into(), inputs: inputs.iter().map(|s| s.to_string()).collect(), op });
        id.to_string()
    }

    pub fn conv2d(&mut self, input: &str, name: &str, conv: Conv) -> String {
        self.node(name, &[input], conv.layer(name))
    }

    /// Batch normalisation over `channels` with PyTorch's default eps (1e-5).
    pub fn batchnorm2d(&mut self, input: &str, name: &str, channels: usize) -> String {
        self.batchnorm2d_eps(input, name, channels, 1e-5)
    }

    pub fn batchnorm2d_eps(&mut self, input: &str, name: &str, channels: usize, eps: f64) -> String {
        self.node(name, &[input], Layer::Batchnorm2d { name: name.into(), channels, eps })
    }

    pub fn linear(&mut self, input: &str, name: &str, in_features: usize, out_features: usize, bias: bool) -> String {
        self.node(name, &[input], Layer::Linear { name: name.into(), in_features, out_features, bias })
    }

    pub fn relu(&mut self, input: &str, id: &str) -> String {
        self.node(id, &[input], Layer::Relu)
    }

    /// The element-wise sum of two or more inputs of one shape (a residual join).
    pub fn add(&mut self, inputs: &[&str], id: &str) -> String {
        self.node(id, inputs, Layer::Add)
    }

    /// `[C, H, W] -> [C]`, the mean over each channel.
    pub fn global_avg_pool(&mut self, input: &str, id: &str) -> String {
        self.node(id, &[input], Layer::GlobalAvgPool)
    }

    pub fn maxpool2d(&mut self, input: &str, id: &str, size: usize) -> String {
        self.node(id, &[input], maxpool2d(size))
    }

    pub fn flatten(&mut self, input: &str, id: &str) -> String {
        self.node(id, &[input], Layer::Flatten)
    }

    pub fn identity(&mut self, input: &str, id: &str) -> String {
        self.node(id, &[input], Layer::Identity)
    }

    /// The graph with `output` as its logits, checked (ids, inputs, shapes).
    pub fn finish(self, output: &str) -> Result<Graph, dtprune_compact::CompactError> {
        let graph = Graph { output: output.into(), ..self.graph };
        graph.shapes()?;
        Ok(graph)
    }
}

/// The graph's pixel preprocessing for a normalisation: one mean and std per channel (a single
/// number each for one-channel runs, as files written before colour input have them).
pub fn preprocess_for(norm: &Normalization) -> Option<Preprocess> {
    if norm.mean.is_empty() || norm.mean.len() != norm.std.len() {
        return None;
    }
    Some(Preprocess { scale: PIXEL_SCALE, mean: ChannelStat::from_slice(&norm.mean), std: ChannelStat::from_slice(&norm.std) })
}

/// Name of the classifier, whose outputs are never removed: the output node's parameters, or
/// else the last parameterised node.
pub fn classifier(graph: &Graph) -> Option<&str> {
    let output = graph.nodes.iter().find(|n| n.id == graph.output).and_then(|n| n.op.param_name());
    output.or_else(|| graph.ops().rev().find_map(Layer::param_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocess_per_channel_and_single() {
        let grey = Normalization { mean: vec![0.1307], std: vec![0.3081] };
        let p = preprocess_for(&grey).unwrap();
        assert_eq!(p, Preprocess::uniform(PIXEL_SCALE, 0.1307, 0.3081));
        let colour = Normalization { mean: vec![0.49, 0.48, 0.45], std: vec![0.25, 0.24, 0.26] };
        let p = preprocess_for(&colour).unwrap();
        assert_eq!(p.mean, ChannelStat::PerChannel(vec![0.49, 0.48, 0.45]));
        assert_eq!(p.std.get(2), 0.26);
    }

    #[test]
    fn builder_makes_a_residual_dag() {
        let mut b = GraphBuilder::new("t", vec![3, 8, 8]);
        let x = b.conv2d(INPUT, "conv1", Conv::new(3, 4, 3).padding(1).no_bias());
        let stem = b.relu(&x, "relu1");
        let y = b.conv2d(&stem, "down", Conv::new(4, 4, 1).stride(2).no_bias());
        let s = b.conv2d(&stem, "short", Conv::new(4, 4, 1).stride(2).no_bias());
        let y = b.add(&[&y, &s], "add");
        let y = b.global_avg_pool(&y, "pool");
        let out = b.linear(&y, "fc", 4, 10, true);
        let g = b.finish(&out).unwrap();
        assert_eq!(g.nodes[4].inputs, vec!["down".to_string(), "short".to_string()]);
        assert_eq!(classifier(&g), Some("fc"));
        // A wrong size is caught when the graph is finished.
        let mut b = GraphBuilder::new("t", vec![3, 8, 8]);
        let x = b.conv2d(INPUT, "conv1", Conv::new(2, 4, 3));
        let e = b.finish(&x).unwrap_err().to_string();
        assert!(e.contains("in_channels 2 but input has 3"), "{e}");
    }
}
