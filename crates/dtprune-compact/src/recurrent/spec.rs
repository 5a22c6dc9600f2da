//! The recurrent classifier as `graph.json` (version 2, node form) describes it: stacked
//! `lstm` or `gru` nodes, the pick of each sequence's output at its last valid frame
//! (`last_valid`), and a `linear` classifier. Parameter names are the trainer's
//! (`rnn.0.input_gate.input_transform.weight`, PyTorch `[out, in]` layout).

use std::path::{Path, PathBuf};

use super::cell::CellKind;
use crate::error::{CompactError, Result};
use crate::node_file::{GraphFile, NodeFile};

/// One recurrent layer: its tensor prefix (`rnn.0`) and sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub name: String,
    pub input_size: usize,
    pub hidden_size: usize,
}

/// A recurrent classifier's shape, checked: layer l reads layer l-1's hidden units, the
/// classifier reads the last layer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecurrentSpec {
    pub model: String,
    pub kind: CellKind,
    /// Frames of one (padded) sequence and features per frame.
    pub frames: usize,
    pub features: usize,
    pub layers: Vec<LayerSpec>,
    /// The classifier's tensor prefix and its number of classes.
    pub classifier: String,
    pub classes: usize,
}

/// Whether the graph file at `path` is a recurrent classifier's (its nodes include an `lstm`
/// or `gru`); false for layer graphs and unreadable files.
pub fn is_recurrent_graph(path: &Path) -> bool {
    GraphFile::peek(path).is_some_and(|g| g.nodes.iter().any(|n| CellKind::from_op(&n.op).is_some()))
}

impl RecurrentSpec {
    pub fn load(path: &Path) -> Result<RecurrentSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| CompactError::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    pub fn from_json_str(text: &str, path: &Path) -> Result<RecurrentSpec> {
        let g = GraphFile::parse(text, path)?;
        let bad = |index: usize, reason: String| g.invalid(path, index, reason);
        let size = |index: usize, key: &str| -> Result<usize> {
            let v = g.nodes[index].attrs.get(key).and_then(|v| v.as_u64()).ok_or_else(|| bad(index, format!("needs a positive integer `{key}`")))?;
            usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| bad(index, format!("`{key}` must be positive, got {v}")))
        };
        let &[frames, features] = g.input.as_slice() else {
            return Err(bad(0, format!("a recurrent model's input is [frames, features], got {:?}", g.input)));
        };
        if frames == 0 || features == 0 {
            return Err(bad(0, format!("input [frames, features] must be nonzero, got {:?}", g.input)));
        }
        let mut kind = None;
        let mut layers: Vec<LayerSpec> = Vec::new();
        let mut prev = "input".to_string();
        let mut i = 0;
        while i < g.nodes.len() {
            let Some(k) = CellKind::from_op(&g.nodes[i].op) else { break };
            if kind.is_some_and(|kk| kk != k) {
                return Err(bad(i, "mixes lstm and gru layers".into()));
            }
            kind = Some(k);
            let node = &g.nodes[i];
            if node.inputs != [prev.clone()] {
                return Err(bad(i, format!("must read `{prev}` alone, reads {:?}", node.inputs)));
            }
            let (input_size, hidden_size) = (size(i, "input_size")?, size(i, "hidden_size")?);
            let want = layers.last().map_or(features, |l| l.hidden_size);
            if input_size != want {
                return Err(bad(i, format!("input_size {input_size} but its input has {want} features")));
            }
            if node.attrs.get("batch_first").and_then(|v| v.as_bool()) == Some(false) {
                return Err(bad(i, "only batch_first layers are read".into()));
            }
            layers.push(LayerSpec { name: node.id.clone(), input_size, hidden_size });
            prev = node.id.clone();
            i += 1;
        }
        let Some(kind) = kind else {
            return Err(bad(0, "no lstm or gru node: not a recurrent classifier".into()));
        };
        let expect = |i: usize, op: &str| -> Result<&NodeFile> {
            match g.nodes.get(i) {
                Some(n) if n.op == op => Ok(n),
                Some(n) => Err(bad(i, format!("expected `{op}` after the recurrent layers, found `{}`", n.op))),
                None => Err(bad(i.saturating_sub(1), format!("the graph ends before its `{op}` node"))),
            }
        };
        let last = expect(i, "last_valid")?;
        if last.inputs != [prev.clone()] {
            return Err(bad(i, format!("must read `{prev}`, reads {:?}", last.inputs)));
        }
        let fc = expect(i + 1, "linear")?;
        if fc.inputs != [last.id.clone()] {
            return Err(bad(i + 1, format!("must read `{}`, reads {:?}", last.id, fc.inputs)));
        }
        let hidden = layers.last().map_or(0, |l| l.hidden_size);
        let (in_features, classes) = (size(i + 1, "in_features")?, size(i + 1, "out_features")?);
        if in_features != hidden {
            return Err(bad(i + 1, format!("in_features {in_features} but the last layer has {hidden} units")));
        }
        if fc.attrs.get("bias").and_then(|v| v.as_bool()) == Some(false) {
            return Err(bad(i + 1, "a classifier without bias is not read".into()));
        }
        if i + 2 != g.nodes.len() || g.output != fc.id {
            return Err(bad(i + 1, format!("the classifier must be the last node and the output (output is `{}`)", g.output)));
        }
        let classifier = fc.attrs.get("name").and_then(|v| v.as_str()).unwrap_or(&fc.id).to_string();
        Ok(RecurrentSpec { model: g.model.clone(), kind, frames, features, layers, classifier, classes })
    }

    /// Every parameter tensor with its PyTorch shape, as `model.safetensors` must hold it.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        for l in &self.layers {
            for gate in self.kind.gates() {
                for (t, cols) in [("input_transform", l.input_size), ("hidden_transform", l.hidden_size)] {
                    v.push((format!("{}.{gate}.{t}.weight", l.name), vec![l.hidden_size, cols]));
                    v.push((format!("{}.{gate}.{t}.bias", l.name), vec![l.hidden_size]));
                }
            }
        }
        let hidden = self.layers.last().map_or(0, |l| l.hidden_size);
        v.push((format!("{}.weight", self.classifier), vec![self.classes, hidden]));
        v.push((format!("{}.bias", self.classifier), vec![self.classes]));
        v
    }
}

/// `graph.json` of a run dir (for error messages).
pub fn graph_path(dir: &Path) -> PathBuf {
    dir.join(crate::model::GRAPH_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LSTM: &str = r#"{"model":"lstm","input":[50,40],"nodes":[
      {"id":"rnn.0","op":"lstm","inputs":["input"],"input_size":40,"hidden_size":8,"batch_first":true},
      {"id":"rnn.1","op":"lstm","inputs":["rnn.0"],"input_size":8,"hidden_size":6,"batch_first":true},
      {"id":"last","op":"last_valid","inputs":["rnn.1"]},
      {"id":"fc","op":"linear","inputs":["last"],"name":"fc","in_features":6,"out_features":10,"bias":true}],
      "output":"fc"}"#;

    #[test]
    fn reads_a_stacked_lstm() {
        let s = RecurrentSpec::from_json_str(LSTM, Path::new("g.json")).unwrap();
        assert_eq!((s.kind, s.frames, s.features, s.classes), (CellKind::Lstm, 50, 40, 10));
        assert_eq!(s.layers[1], LayerSpec { name: "rnn.1".into(), input_size: 8, hidden_size: 6 });
        let shapes = s.param_shapes();
        // 2 layers × 4 gates × 2 transforms × (weight, bias) + the classifier's two.
        assert_eq!(shapes.len(), 2 * 4 * 4 + 2);
        assert!(shapes.contains(&("rnn.1.forget_gate.hidden_transform.weight".into(), vec![6, 6])));
        assert!(shapes.contains(&("rnn.0.cell_gate.input_transform.weight".into(), vec![8, 40])));
        assert!(shapes.contains(&("fc.weight".into(), vec![10, 6])));
    }

    #[test]
    fn names_what_does_not_fit() {
        let err = |text: String| RecurrentSpec::from_json_str(&text, Path::new("g.json")).unwrap_err().to_string();
        assert!(err(LSTM.replace(r#""input_size":8"#, r#""input_size":9"#)).contains("input_size 9 but its input has 8"));
        assert!(err(LSTM.replace(r#""op":"lstm","inputs":["rnn.0"]"#, r#""op":"gru","inputs":["rnn.0"]"#)).contains("mixes lstm and gru"));
        assert!(err(LSTM.replace(r#""in_features":6"#, r#""in_features":7"#)).contains("in_features 7"));
        assert!(err(LSTM.replace("last_valid", "mean_pool")).contains("expected `last_valid`"));
        assert!(err(LSTM.replace(r#""hidden_size":6"#, r#""hidden_size":0"#)).contains("`hidden_size` must be positive"));
        assert!(err(LSTM.replace("[50,40]", "[1,28,28]")).contains("[frames, features]"));
        assert!(err(LSTM.replace(r#""op":"lstm""#, r#""op":"linear""#)).contains("no lstm or gru"));
        assert!(err("{".into()).contains("invalid graph JSON"));
    }
}
