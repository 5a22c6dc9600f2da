//! The layer graph (`graph.json`) written by the trainer, and shape inference over it.
//!
//! Version 2 is a DAG: nodes with an `id`, named `inputs` (`"input"` is the model input) and an
//! op ([`Layer`]), listed in a topological order, plus the `output` node. Files of version 1 — a
//! sequential chain under `"layers"` — load as the DAG whose node i takes node i-1, so every
//! run written before stays readable.

mod op;
mod preprocess;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{CompactError, Result};
pub use op::Layer;
pub use preprocess::{ChannelStat, Preprocess};

/// The id of the model input in `inputs` lists.
pub const INPUT: &str = "input";

/// One node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub inputs: Vec<String>,
    #[serde(flatten)]
    pub op: Layer,
}

/// The model graph as stored in `graph.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "GraphFile")]
pub struct Graph {
    pub model: String,
    /// Shape of one sample without the batch axis: `[C, H, W]` or `[F]`.
    pub input: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preprocess: Option<Preprocess>,
    pub nodes: Vec<Node>,
    /// The node whose output are the logits.
    pub output: String,
}

/// Either version of the file.
#[derive(Deserialize)]
struct GraphFile {
    model: String,
    input: Vec<usize>,
    #[serde(default)]
    preprocess: Option<Preprocess>,
    #[serde(default)]
    nodes: Option<Vec<Node>>,
    #[serde(default)]
    layers: Option<Vec<Layer>>,
    #[serde(default)]
    output: Option<String>,
}

impl TryFrom<GraphFile> for Graph {
    type Error = String;
    fn try_from(f: GraphFile) -> std::result::Result<Graph, String> {
        match (f.nodes, f.layers) {
            (Some(nodes), None) => {
                let output = f.output.ok_or("a graph with `nodes` needs an `output` node id")?;
                Ok(Graph { model: f.model, input: f.input, preprocess: f.preprocess, nodes, output })
            }
            (None, Some(layers)) => Ok(Graph::chain(f.model, f.input, f.preprocess, layers)),
            (Some(_), Some(_)) => Err("a graph has either `nodes` (a DAG) or `layers` (a chain), not both".into()),
            (None, None) => Err("a graph needs `nodes` (a DAG) or `layers` (a chain)".into()),
        }
    }
}

/// Shape of one sample's activation between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Feature vector of length `F`.
    Features(usize),
    /// Image `[C, H, W]`.
    Image { c: usize, h: usize, w: usize },
}

impl Shape {
    pub fn numel(&self) -> usize {
        match *self {
            Shape::Features(f) => f,
            Shape::Image { c, h, w } => c * h * w,
        }
    }
    /// Number of channels (units) of the activation; for images, the spatial size each unit spans.
    pub fn units(&self) -> (usize, usize) {
        match *self {
            Shape::Features(f) => (f, 1),
            Shape::Image { c, h, w } => (c, h * w),
        }
    }
}

impl Graph {
    /// The DAG of a sequential chain: node i takes node i-1 (the first takes the input).
    /// Parameterised layers get their name as id, the others `OP` + their position.
    pub fn chain(model: impl Into<String>, input: Vec<usize>, preprocess: Option<Preprocess>, layers: Vec<Layer>) -> Graph {
        let mut nodes: Vec<Node> = Vec::with_capacity(layers.len());
        for (i, op) in layers.into_iter().enumerate() {
            let id = match op.param_name() {
                Some(name) => name.to_string(),
                None => format!("{}{i}", op.op_name()),
            };
            let inputs = vec![nodes.last().map_or(INPUT.to_string(), |n| n.id.clone())];
            nodes.push(Node { id, inputs, op });
        }
        let output = nodes.last().map_or(INPUT.to_string(), |n| n.id.clone());
        Graph { model: model.into(), input, preprocess, nodes, output }
    }

    /// Whether node i takes exactly node i-1 (the input for node 0) and the last node is the
    /// output: the form every sequential model has.
    pub fn is_chain(&self) -> bool {
        self.nodes.iter().enumerate().all(|(i, n)| {
            let prev = if i == 0 { INPUT } else { self.nodes[i - 1].id.as_str() };
            n.inputs.len() == 1 && n.inputs[0] == prev
        }) && self.nodes.last().is_some_and(|n| n.id == self.output)
    }

    /// The ops in node order.
    pub fn ops(&self) -> impl DoubleEndedIterator<Item = &Layer> + ExactSizeIterator {
        self.nodes.iter().map(|n| &n.op)
    }

    pub fn from_json_str(s: &str, path: &std::path::Path) -> Result<Graph> {
        let g: Graph = serde_json::from_str(s).map_err(|source| CompactError::GraphJson { path: path.to_owned(), source })?;
        g.shapes()?;
        Ok(g)
    }

    pub fn load(path: &std::path::Path) -> Result<Graph> {
        let s = std::fs::read_to_string(path).map_err(|e| CompactError::io(path, e))?;
        Self::from_json_str(&s, path)
    }

    pub fn input_shape(&self) -> Result<Shape> {
        match self.input.as_slice() {
            &[f] if f > 0 => Ok(Shape::Features(f)),
            &[c, h, w] if c * h * w > 0 => Ok(Shape::Image { c, h, w }),
            other => Err(self.invalid(None, format!("input must be [F] or [C,H,W] with nonzero sizes, got {other:?}"))),
        }
    }

    fn invalid(&self, index: Option<usize>, reason: String) -> CompactError {
        let (id, op) = match index.and_then(|i| self.nodes.get(i)) {
            Some(n) => (n.id.clone(), n.op.op_name().to_string()),
            None => (INPUT.to_string(), "input".to_string()),
        };
        CompactError::InvalidGraph { index: index.unwrap_or(0), id, op, reason }
    }

    /// Slot of every id: 0 for the input, i+1 for node i (the indexing of [`Graph::shapes`]).
    pub fn slots(&self) -> HashMap<&str, usize> {
        std::iter::once((INPUT, 0)).chain(self.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i + 1))).collect()
    }

    /// Slots of node i's inputs (checked by [`Graph::shapes`]: every input is an earlier node).
    pub fn input_slots(&self, slots: &HashMap<&str, usize>, i: usize) -> Vec<usize> {
        self.nodes[i].inputs.iter().map(|id| slots[id.as_str()]).collect()
    }

    /// Slot of the output node.
    pub fn output_slot(&self) -> usize {
        self.slots()[self.output.as_str()]
    }

    /// Shapes of the activations: `shapes[0]` is the input, `shapes[i+1]` the output of node i.
    /// Checks that ids are unique, that every node reads only earlier nodes (topological order),
    /// that every node's declared sizes agree with what flows into it, that the preprocessing
    /// fits the input and that the output node yields a feature vector (logits).
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        let input = self.input_shape()?;
        if let Some(p) = &self.preprocess {
            p.check(input).map_err(|r| self.invalid(None, r))?;
        }
        let mut shapes = vec![input];
        let mut slots: HashMap<&str, usize> = HashMap::from([(INPUT, 0)]);
        for (i, node) in self.nodes.iter().enumerate() {
            let mut ins = Vec::with_capacity(node.inputs.len());
            for id in &node.inputs {
                match slots.get(id.as_str()) {
                    Some(&s) => ins.push(shapes[s]),
                    None => return Err(self.invalid(Some(i), format!("input `{id}` is not the model input or an earlier node"))),
                }
            }
            let out = node.op.output_shape(&ins).map_err(|r| self.invalid(Some(i), r))?;
            if slots.insert(node.id.as_str(), i + 1).is_some() {
                return Err(self.invalid(Some(i), format!("id `{}` is used twice", node.id)));
            }
            shapes.push(out);
        }
        let mut names = std::collections::HashSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(name) = n.op.param_name() {
                if !names.insert(name) {
                    return Err(self.invalid(Some(i), format!("parameter name `{name}` is used by two nodes")));
                }
            }
        }
        match slots.get(self.output.as_str()).map(|&s| shapes[s]) {
            Some(Shape::Features(_)) => Ok(shapes),
            Some(s) => Err(self.invalid(self.nodes.len().checked_sub(1), format!("the output `{}` must be a feature vector (logits), not {s:?}", self.output))),
            None => Err(self.invalid(None, format!("output `{}` is not a node", self.output))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENET5: &str = r#"{"model":"lenet5","input":[1,28,28],
 "preprocess":{"scale":0.00392156862745098,"mean":0.1307,"std":0.3081},
 "layers":[
  {"op":"conv2d","name":"conv1","in_channels":1,"out_channels":20,"kernel":[5,5],"stride":[1,1],"padding":[0,0],"bias":true},
  {"op":"maxpool2d","kernel":[2,2],"stride":[2,2]},
  {"op":"conv2d","name":"conv2","in_channels":20,"out_channels":50,"kernel":[5,5],"stride":[1,1],"padding":[0,0],"bias":true},
  {"op":"maxpool2d","kernel":[2,2],"stride":[2,2]},
  {"op":"flatten"},
  {"op":"linear","name":"fc1","in_features":800,"out_features":500,"bias":true},
  {"op":"relu"},
  {"op":"linear","name":"fc2","in_features":500,"out_features":10,"bias":true}]}"#;

    #[test]
    fn lenet5_shapes() {
        let g = Graph::from_json_str(LENET5, "g.json".as_ref()).unwrap();
        let s = g.shapes().unwrap();
        assert_eq!(
            s[1],
            Shape::Image {
                c: 20,
                h: 24,
                w: 24
            }
        );
        assert_eq!(
            s[2],
            Shape::Image {
                c: 20,
                h: 12,
                w: 12
            }
        );
        assert_eq!(s[4], Shape::Image { c: 50, h: 4, w: 4 });
        assert_eq!(s[5], Shape::Features(800));
        assert_eq!(*s.last().unwrap(), Shape::Features(10));
    }

    #[test]
    fn mismatched_sizes_are_reported() {
        let bad = LENET5.replace("\"in_features\":800", "\"in_features\":801");
        let e = Graph::from_json_str(&bad, "g.json".as_ref()).unwrap_err();
        assert!(e.to_string().contains("in_features 801"), "{e}");
        let unknown = LENET5.replace("\"relu\"", "\"gelu_magic\"");
        assert!(Graph::from_json_str(&unknown, "g.json".as_ref()).is_err());
    }


    /// A residual block in the contract's form: conv-bn-relu, conv-bn, add with the stem, relu,
    /// then a strided 1x1 shortcut stage, global average pool and the classifier.
    pub(crate) const RESIDUAL: &str = r#"{"model":"tiny_resnet","input":[3,8,8],
 "preprocess":{"scale":0.00392156862745098,"mean":[0.49,0.48,0.45],"std":[0.25,0.24,0.26]},
 "nodes":[
  {"id":"conv1","op":"conv2d","inputs":["input"],"name":"conv1","in_channels":3,"out_channels":4,"kernel":[3,3],"stride":[1,1],"padding":[1,1],"groups":1,"bias":false},
  {"id":"bn1","op":"batchnorm2d","inputs":["conv1"],"name":"bn1","channels":4,"eps":1e-5},
  {"id":"relu1","op":"relu","inputs":["bn1"]},
  {"id":"b.conv1","op":"conv2d","inputs":["relu1"],"name":"b.conv1","in_channels":4,"out_channels":4,"kernel":[3,3],"padding":[1,1],"bias":false},
  {"id":"b.bn1","op":"batchnorm2d","inputs":["b.conv1"],"name":"b.bn1","channels":4},
  {"id":"b.add","op":"add","inputs":["b.bn1","relu1"]},
  {"id":"b.relu","op":"relu","inputs":["b.add"]},
  {"id":"down","op":"conv2d","inputs":["b.relu"],"name":"down","in_channels":4,"out_channels":6,"kernel":[1,1],"stride":[2,2],"bias":false},
  {"id":"pool","op":"global_avg_pool","inputs":["down"]},
  {"id":"fc","op":"linear","inputs":["pool"],"name":"fc","in_features":6,"out_features":10,"bias":true}],
 "output":"fc"}"#;

    #[test]
    fn dag_shapes_defaults_and_round_trip() {
        let g = Graph::from_json_str(RESIDUAL, "g.json".as_ref()).unwrap();
        assert!(!g.is_chain());
        let s = g.shapes().unwrap();
        assert_eq!(s[6], Shape::Image { c: 4, h: 8, w: 8 }, "add keeps its inputs' shape");
        assert_eq!(s[8], Shape::Image { c: 6, h: 4, w: 4 }, "(8 - 1) / 2 + 1 = 4");
        assert_eq!(s[9], Shape::Features(6));
        match &g.nodes[3].op {
            Layer::Conv2d { stride, groups, .. } => assert_eq!((*stride, *groups), ([1, 1], 1)),
            _ => unreachable!(),
        }
        match &g.nodes[4].op {
            Layer::Batchnorm2d { eps, .. } => assert_eq!(*eps, 1e-5),
            _ => unreachable!(),
        }
        let again = Graph::from_json_str(&serde_json::to_string(&g).unwrap(), "g.json".as_ref()).unwrap();
        assert_eq!(again, g);
        assert_eq!(g.nodes[4].op.param_shapes().len(), 4, "gamma, beta, running mean and var");
    }

    #[test]
    fn chain_file_loads_as_dag() {
        let g = Graph::from_json_str(LENET5, "g.json".as_ref()).unwrap();
        assert!(g.is_chain());
        assert_eq!(g.output, "fc2");
        assert_eq!(g.nodes[1].id, "maxpool2d1");
        assert_eq!(g.nodes[2].inputs, vec!["maxpool2d1".to_string()]);
        // Written as version 2, read back the same.
        let v2 = serde_json::to_string(&g).unwrap();
        assert!(v2.contains("\"nodes\"") && !v2.contains("\"layers\""));
        assert_eq!(Graph::from_json_str(&v2, "g.json".as_ref()).unwrap(), g);
    }

    #[test]
    fn dag_errors_name_the_node() {
        let err = |json: String| Graph::from_json_str(&json, "g.json".as_ref()).unwrap_err().to_string();
        let e = err(RESIDUAL.replace(r#""inputs":["b.bn1","relu1"]"#, r#""inputs":["b.bn1","nowhere"]"#));
        assert!(e.contains("`b.add`") && e.contains("input `nowhere` is not the model input or an earlier node"), "{e}");
        let e = err(RESIDUAL.replace(r#""inputs":["b.bn1","relu1"]"#, r#""inputs":["b.bn1"]"#));
        assert!(e.contains("takes 2 or more input(s), got 1"), "{e}");
        let e = err(RESIDUAL.replace(r#""inputs":["b.bn1","relu1"]"#, r#""inputs":["b.bn1","input"]"#));
        assert!(e.contains("inputs of different shapes"), "{e}");
        let e = err(RESIDUAL.replace(r#""id":"b.relu""#, r#""id":"relu1""#).replace(r#""inputs":["b.relu"]"#, r#""inputs":["relu1"]"#));
        assert!(e.contains("id `relu1` is used twice"), "{e}");
        let e = err(RESIDUAL.replace(r#""output":"fc""#, r#""output":"pool2""#));
        assert!(e.contains("output `pool2` is not a node"), "{e}");
        let e = err(RESIDUAL.replace(r#""output":"fc""#, r#""output":"down""#));
        assert!(e.contains("must be a feature vector"), "{e}");
        let e = err(RESIDUAL.replace(r#""channels":4}"#, r#""channels":5}"#));
        assert!(e.contains("`b.bn1`") && e.contains("channels 5 but input has 4"), "{e}");
        let e = err(RESIDUAL.replace(r#""groups":1"#, r#""groups":2"#));
        assert!(e.contains("groups 2 must divide in_channels 3"), "{e}");
        let e = err(RESIDUAL.replace(r#""mean":[0.49,0.48,0.45]"#, r#""mean":[0.49,0.48]"#));
        assert!(e.contains("preprocess.mean has 2 values but the input has 3 channels"), "{e}");
        let e = err(RESIDUAL.replace(r#""output":"fc"}"#, r#""output":"fc","layers":[]}"#));
        assert!(e.contains("not both"), "{e}");
    }
}
