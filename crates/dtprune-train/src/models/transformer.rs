//! `transformer`: a small pre-norm Transformer encoder classifier for text. Token + learned
//! position embeddings, `layers` blocks of multi-head self-attention and a GELU feed-forward
//! block, each on a LayerNorm of the residual stream and added back to it, a final LayerNorm,
//! the mean over each text's real tokens (padding masked out of attention and of the mean),
//! and a linear classifier.
//!
//! Its structured units ([`super::transformer_groups`]): attention heads, feed-forward neurons
//! and the residual stream's width (one group across every block). The attention is dtprune's
//! own ([`SelfAttention`]: head count free of the width) and the norms count the stream's
//! original width ([`StreamNorm`]), so a model with units physically removed is the same type.

use crate::input::text::{TextBatch, TextData, TextInfo};
use crate::layers::{SelfAttention, SelfAttentionConfig, StreamNorm, StreamNormConfig};
use crate::model::Model;
use crate::model_graph::{ModelGraph, Node, NodeGraph};
use crate::model_params::ModelParams;
use crate::params::list_params;
use crate::task::Classification;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};
use dtprune_prune::StructureGroup;

/// One pre-norm encoder block: `x + attention_output(attention(attention_norm(x)))`, then
/// `x + ffn_out(gelu(ffn_in(ffn_norm(x))))`.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub attention_norm: StreamNorm,
    pub attention: SelfAttention,
    pub attention_output: Linear,
    pub ffn_norm: StreamNorm,
    pub ffn_in: Linear,
    pub ffn_out: Linear,
}

impl EncoderBlock {
    fn forward(&self, x: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
        let context = self.attention.forward(self.attention_norm.forward(x.clone()), mask);
        let x = x + self.attention_output.forward(context);
        let hidden = gelu(self.ffn_in.forward(self.ffn_norm.forward(x.clone())));
        x.clone() + self.ffn_out.forward(hidden)
    }
}

#[derive(Module, Debug)]
pub struct TransformerClassifier {
    pub token_embedding: Embedding,
    pub position_embedding: Embedding,
    pub blocks: Vec<EncoderBlock>,
    pub norm: StreamNorm,
    pub fc: Linear,
}

const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "d_model", kind: ParamKind::Int { min: 1, max: 4096 }, default: ParamValue::Int(128), help: "width of the residual stream (embeddings)" },
    ParamSpec { name: "heads", kind: ParamKind::Int { min: 1, max: 64 }, default: ParamValue::Int(4), help: "attention heads per block" },
    ParamSpec { name: "head_dim", kind: ParamKind::Int { min: 1, max: 1024 }, default: ParamValue::Int(32), help: "query/key/value width of one head" },
    ParamSpec { name: "ffn", kind: ParamKind::Int { min: 1, max: 16384 }, default: ParamValue::Int(256), help: "feed-forward neurons per block" },
    ParamSpec { name: "layers", kind: ParamKind::Int { min: 1, max: 24 }, default: ParamValue::Int(2), help: "encoder blocks" },
];

/// The most tokens a text may have: the learned position table is `max_len` rows.
const MAX_POSITIONS: usize = 4096;

impl Model for TransformerClassifier {
    type Input = TextData;
    type Task = Classification;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn check_input(info: TextInfo, _params: &ModelParams) -> Result<(), String> {
        if info.max_len == 0 || info.max_len > MAX_POSITIONS {
            return Err(format!("transformer: texts of {} tokens; it takes 1 to {MAX_POSITIONS}", info.max_len));
        }
        if info.vocab_size == 0 || info.classes < 2 {
            return Err(format!("transformer: needs a vocabulary and at least 2 classes (vocabulary {}, classes {})", info.vocab_size, info.classes));
        }
        Ok(())
    }

    fn init(info: TextInfo, params: &ModelParams, device: &Device) -> Self {
        let int = |name| params.int(name) as usize;
        let (d, heads, head_dim, ffn) = (int("d_model"), int("heads"), int("head_dim"), int("ffn"));
        // N(0, 1/d): an embedding row starts at the scale of a Linear layer's output, not √d
        // times it (Burn's default is N(0, 1)).
        let embedding = |rows| EmbeddingConfig::new(rows, d).with_initializer(Initializer::Normal { mean: 0.0, std: (1.0 / d as f64).sqrt() }).init(device);
        let attention = SelfAttentionConfig { d_model: d, heads, head_dim };
        let blocks = (0..int("layers"))
            .map(|_| EncoderBlock {
                attention_norm: StreamNormConfig::new(d).init(device),
                attention: attention.init(device),
                attention_output: LinearConfig::new(heads * head_dim, d).init(device),
                ffn_norm: StreamNormConfig::new(d).init(device),
                ffn_in: LinearConfig::new(d, ffn).init(device),
                ffn_out: LinearConfig::new(ffn, d).init(device),
            })
            .collect();
        Self {
            token_embedding: embedding(info.vocab_size),
            position_embedding: embedding(info.max_len),
            blocks,
            norm: StreamNormConfig::new(d).init(device),
            fc: LinearConfig::new(d, info.classes).init(device),
        }
    }

    fn forward(&self, batch: TextBatch) -> Tensor<2> {
        let tokens = batch.ids.dims()[1];
        let positions = self.position_embedding.weight.val().narrow(0, 0, tokens).unsqueeze::<3>();
        let mut x = self.token_embedding.forward(batch.ids.clone()) + positions;
        for block in &self.blocks {
            x = block.forward(x, batch.mask.clone());
        }
        self.fc.forward(batch.mean_pool(self.norm.forward(x)))
    }

    fn graph(&self, info: TextInfo) -> ModelGraph {
        node_graph(self, info).into()
    }

    fn structure_groups(&self) -> Vec<StructureGroup> {
        super::transformer_groups::groups(self)
    }
}

impl TransformerClassifier {
    /// The residual stream's width as the model now has it.
    pub fn d_model(&self) -> usize {
        crate::graph::param_dims(&self.token_embedding.weight)[1]
    }
}

/// Nodes in forward order, each with its parameter tensors.
fn node_graph(model: &TransformerClassifier, info: TextInfo) -> NodeGraph {
    let params = list_params(model);
    let with_params = |mut node: Node, prefix: &str| {
        for p in params.iter().filter(|p| p.name.starts_with(prefix)) {
            node = node.param(p.name.clone(), &p.torch_shape());
        }
        node
    };
    let d = model.d_model();
    let mut nodes = vec![
        with_params(Node::new("token_embedding", "embedding", &["input"]).attr("num_embeddings", info.vocab_size).attr("embedding_dim", d), "token_embedding."),
        with_params(Node::new("position_embedding", "embedding", &["input"]).attr("num_embeddings", info.max_len).attr("embedding_dim", d).attr("note", "row t is added at position t"), "position_embedding."),
        Node::new("embed", "add", &["token_embedding", "position_embedding"]),
    ];
    let mut stream = "embed".to_string();
    for (l, block) in model.blocks.iter().enumerate() {
        let p = format!("blocks.{l}.");
        let id = |s: &str| format!("{p}{s}");
        let norm = |name: &str, input: &str| with_params(Node::new(&id(name), "stream_norm", &[input]).attr("width", d), &id(&format!("{name}.")));
        let linear = |name: &str, input: &str, l: &Linear| {
            let [i, o] = crate::graph::param_dims(&l.weight);
            with_params(Node::new(&id(name), "linear", &[input]).attr("in_features", i).attr("out_features", o), &id(&format!("{name}.")))
        };
        nodes.push(norm("attention_norm", &stream));
        let attention = Node::new(&id("attention"), "self_attention", &[&id("attention_norm")])
            .attr("heads", block.attention.heads())
            .attr("head_dim", block.attention.head_dim())
            .attr("note", "padding keys masked; outputs the heads' contexts concatenated");
        nodes.push(with_params(attention, &id("attention.")));
        nodes.push(linear("attention_output", &id("attention"), &block.attention_output));
        nodes.push(Node::new(&id("attention_add"), "add", &[&stream, &id("attention_output")]));
        nodes.push(norm("ffn_norm", &id("attention_add")));
        nodes.push(linear("ffn_in", &id("ffn_norm"), &block.ffn_in));
        nodes.push(Node::new(&id("gelu"), "gelu", &[&id("ffn_in")]));
        nodes.push(linear("ffn_out", &id("gelu"), &block.ffn_out));
        nodes.push(Node::new(&id("ffn_add"), "add", &[&id("attention_add"), &id("ffn_out")]));
        stream = id("ffn_add");
    }
    nodes.push(with_params(Node::new("norm", "stream_norm", &[&stream]).attr("width", d), "norm."));
    nodes.push(Node::new("pool", "mean_pool", &["norm"]).attr("note", "mean over each text's real tokens (the padding mask is an input)"));
    nodes.push(with_params(Node::new("fc", "linear", &["pool"]).attr("in_features", d).attr("out_features", info.classes), "fc."));
    NodeGraph { model: "transformer".into(), input: vec![info.max_len], nodes, output: "fc".into() }
}
