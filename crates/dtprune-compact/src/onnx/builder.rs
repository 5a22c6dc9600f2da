//! Builds one ONNX graph node by node: each op emitter adds its initialisers and its node(s),
//! naming its output; the builder keeps names unique and encodes the graph at the end.
//!
//! Nodes refer to their inputs by tensor name, so the builder is as happy with a DAG (a residual
//! add reading two earlier outputs) as with today's chains.

use dtprune_protobuf::Msg;

use super::proto::{self, Dim, GraphParts};

#[derive(Debug)]
struct Node {
    op_type: &'static str,
    name: String,
    inputs: Vec<String>,
    output: String,
    /// Optional outputs left out before `output` (ONNX names them ""): an LSTM's `Y_h` is its
    /// second output.
    skipped_outputs: usize,
    attrs: Vec<Msg>,
}

#[derive(Debug, Default)]
pub struct GraphBuilder {
    nodes: Vec<Node>,
    initializers: Vec<Msg>,
    used: std::collections::HashSet<String>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// `base`, or `base_2`, `base_3`, ... if taken.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// Adds a float32 initialiser; returns its (unique) name.
    pub fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let name = self.fresh(name);
        self.initializers.push(proto::tensor_f32(&name, dims, data));
        name
    }

    /// Adds an int64 initialiser; returns its (unique) name.
    pub fn initializer_i64(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        let name = self.fresh(name);
        self.initializers.push(proto::tensor_i64(&name, dims, data));
        name
    }

    /// Adds a node with one output named after `name`; returns the output's name.
    pub fn node(&mut self, op_type: &'static str, name: &str, inputs: &[String], attrs: Vec<Msg>) -> String {
        self.node_output_at(op_type, name, inputs, attrs, 0)
    }

    /// [`Self::node`] keeping only the node's output number `index` (the ones before it unused).
    pub fn node_output_at(&mut self, op_type: &'static str, name: &str, inputs: &[String], attrs: Vec<Msg>, index: usize) -> String {
        let name = self.fresh(name);
        let output = self.fresh(&format!("{name}_out"));
        self.nodes.push(Node { op_type, name, inputs: inputs.to_vec(), output: output.clone(), skipped_outputs: index, attrs });
        output
    }

    /// Encodes the graph. The last node's output becomes the graph output `output.0`; `input`
    /// is the name the first node reads.
    pub fn finish(self, name: &str, doc: &str, input: (&str, &[Dim]), output: (&str, &[Dim])) -> Msg {
        self.finish_with_inputs(name, doc, &[proto::value_info(input.0, input.1)], output)
    }

    /// [`Self::finish`] for a graph of several (or non-float) inputs, given as value infos.
    pub fn finish_with_inputs(mut self, name: &str, doc: &str, inputs: &[Msg], output: (&str, &[Dim])) -> Msg {
        let last = self.nodes.last_mut().map(|n| std::mem::replace(&mut n.output, output.0.to_string()));
        let rename = |s: &String| if Some(s) == last.as_ref() { output.0.to_string() } else { s.clone() };
        let nodes: Vec<Msg> = self
            .nodes
            .iter()
            .map(|n| {
                let inputs: Vec<String> = n.inputs.iter().map(rename).collect();
                let outputs: Vec<String> = std::iter::repeat_n(String::new(), n.skipped_outputs).chain([n.output.clone()]).collect();
                proto::node(n.op_type, &n.name, &inputs, &outputs, &n.attrs)
            })
            .collect();
        proto::graph(&GraphParts {
            name,
            doc,
            nodes: &nodes,
            initializers: &self.initializers,
            inputs,
            outputs: &[proto::value_info(output.0, output.1)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_last_output_is_renamed() {
        let mut b = GraphBuilder::new();
        let a = b.node("Relu", "relu", &["input".into()], vec![]);
        let c = b.node("Relu", "relu", &[a.clone()], vec![]);
        assert_eq!((a.as_str(), c.as_str()), ("relu_out", "relu_2_out"));
        assert_eq!(b.initializer("w", &[1], &[1.0]), "w");
        assert_eq!(b.initializer("w", &[1], &[1.0]), "w_2");
        let g = b.finish("g", "", ("input", &[Dim::Fixed(1)]), ("logits", &[Dim::Fixed(1)]));
        let bytes = g.0;
        let has = |s: &[u8]| bytes.windows(s.len()).any(|w| w == s);
        assert!(has(b"logits") && has(b"relu_out") && !has(b"relu_2_out"));
    }
}
