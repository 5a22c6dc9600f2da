//! `tabular-mlp`: the shape of a recommendation model — one embedding table per categorical
//! column, the embeddings concatenated with the (standardised) numeric columns, then an MLP.

use crate::input::table::{TableBatch, TableData, TableInfo};
use crate::model::Model;
use crate::model_graph::{ModelGraph, Node, NodeGraph};
use crate::model_params::ModelParams;
use crate::params::list_params;
use crate::task::Classification;
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, Relu};
use burn::prelude::*;
use dtprune_prune::params::{ParamKind, ParamSpec, ParamValue};
use dtprune_prune::StructureGroup;

#[derive(Module, Debug)]
pub struct TabularMlp {
    embeddings: Vec<Embedding>,
    hidden: Vec<Linear>,
    out: Linear,
    relu: Relu,
}

const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "embedding_dim", kind: ParamKind::Int { min: 1, max: 1024 }, default: ParamValue::Int(8), help: "width of every categorical column's embedding" },
    ParamSpec { name: "width", kind: ParamKind::Int { min: 1, max: 16384 }, default: ParamValue::Int(128), help: "units of each hidden layer" },
    ParamSpec { name: "depth", kind: ParamKind::Int { min: 1, max: 8 }, default: ParamValue::Int(2), help: "hidden layers" },
];

/// Width of the concatenated input of the first hidden layer.
fn input_width(info: &TableInfo, dim: usize) -> usize {
    info.cardinalities.len() * dim + info.numeric
}

impl Model for TabularMlp {
    type Input = TableData;
    type Task = Classification;

    fn params() -> &'static [ParamSpec] {
        PARAMS
    }

    fn check_input(info: TableInfo, _params: &ModelParams) -> Result<(), String> {
        if info.cardinalities.is_empty() && info.numeric == 0 {
            return Err("tabular-mlp needs at least one categorical or numeric column".into());
        }
        Ok(())
    }

    fn init(info: TableInfo, params: &ModelParams, device: &Device) -> Self {
        let (dim, width, depth) = (params.int("embedding_dim") as usize, params.int("width") as usize, params.int("depth") as usize);
        // N(0, 1/dim): the concatenated embeddings start at the numeric columns' unit scale
        // in total, not `dim` times it (Burn's default is N(0, 1)).
        let std = (1.0 / dim as f64).sqrt();
        let embeddings = info.cardinalities.iter().map(|&rows| EmbeddingConfig::new(rows, dim).with_initializer(Initializer::Normal { mean: 0.0, std }).init(device)).collect();
        let mut inputs = input_width(&info, dim);
        let hidden = (0..depth)
            .map(|_| {
                let layer = LinearConfig::new(inputs, width).init(device);
                inputs = width;
                layer
            })
            .collect();
        Self { embeddings, hidden, out: LinearConfig::new(inputs, info.classes).init(device), relu: Relu::new() }
    }

    fn forward(&self, batch: TableBatch) -> Tensor<2> {
        let mut parts: Vec<Tensor<2>> = Vec::new();
        if let Some(ids) = batch.categorical {
            for (c, table) in self.embeddings.iter().enumerate() {
                let column = ids.clone().narrow(1, c, 1); // [batch, 1]
                parts.push(table.forward(column).flatten(1, 2)); // [batch, dim]
            }
        }
        if let Some(x) = batch.numeric {
            parts.push(x);
        }
        let mut x = Tensor::cat(parts, 1);
        for layer in &self.hidden {
            x = self.relu.forward(layer.forward(x));
        }
        self.out.forward(x)
    }

    fn graph(&self, info: TableInfo) -> ModelGraph {
        let params = list_params(self);
        let with_params = |mut node: Node, prefix: &str| {
            for p in params.iter().filter(|p| p.name.starts_with(prefix)) {
                node = node.param(p.name.clone(), &p.torch_shape());
            }
            node
        };
        let dim = self.embeddings.first().map_or(0, |e| crate::graph::param_dims(&e.weight)[1]);
        let mut nodes = Vec::new();
        let mut concat_inputs = Vec::new();
        for (c, &rows) in info.cardinalities.iter().enumerate() {
            let id = format!("embeddings.{c}");
            let node = Node::new(&id, "embedding", &["input"]).attr("column", c).attr("num_embeddings", rows).attr("embedding_dim", dim);
            nodes.push(with_params(node, &format!("{id}.")));
            concat_inputs.push(id);
        }
        if info.numeric > 0 {
            concat_inputs.push("input".into());
        }
        let refs: Vec<&str> = concat_inputs.iter().map(String::as_str).collect();
        nodes.push(Node::new("concat", "concat", &refs).attr("note", "embeddings in column order, then the numeric columns").attr("numeric", info.numeric));
        let mut last = "concat".to_string();
        let mut inputs = input_width(&info, dim);
        for (l, layer) in self.hidden.iter().enumerate() {
            let width = crate::graph::param_dims(&layer.weight)[1];
            let id = format!("hidden.{l}");
            let node = Node::new(&id, "linear", &[&last]).attr("name", id.clone()).attr("in_features", inputs).attr("out_features", width);
            nodes.push(with_params(node, &format!("{id}.")));
            let relu = format!("relu.{l}");
            nodes.push(Node::new(&relu, "relu", &[&id]));
            (last, inputs) = (relu, width);
        }
        let out = Node::new("out", "linear", &[&last]).attr("name", "out").attr("in_features", inputs).attr("out_features", info.classes);
        nodes.push(with_params(out, "out."));
        let input = vec![info.cardinalities.len() + info.numeric];
        NodeGraph { model: "tabular-mlp".into(), input, nodes, output: "out".into() }.into()
    }

    fn structure_groups(&self) -> Vec<StructureGroup> {
        let dims: Vec<usize> = self.embeddings.iter().map(|e| crate::graph::param_dims(&e.weight)[1]).collect();
        // Burn stores a Linear weight `[in, out]`.
        let widths: Vec<usize> = self.hidden.iter().map(|l| crate::graph::param_dims(&l.weight)[1]).collect();
        super::tabular_groups::groups(&dims, &widths)
    }
}
