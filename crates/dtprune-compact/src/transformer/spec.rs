//! The Transformer encoder classifier as `graph.json` (version 2, node form) describes it:
//! token and position `embedding` tables added, `blocks.L` pre-norm encoder blocks
//! (`stream_norm` → `self_attention` → `attention_output` linear → `add`, `stream_norm` →
//! `ffn_in` → `gelu` → `ffn_out` → `add`), a final `stream_norm`, the `mean_pool` over each
//! text's real tokens and the `fc` classifier. Parameter names are the trainer's, PyTorch
//! `[out, in]` layout. The file must have exactly that node sequence; the sizes are read from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CompactError, Result};
use crate::node_file::GraphFile;

/// One encoder block's sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSpec {
    /// Tensor prefix, `blocks.L`.
    pub name: String,
    pub heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
}

impl BlockSpec {
    /// Query/key/value rows: `heads · head_dim`.
    pub fn attention_width(&self) -> usize {
        self.heads * self.head_dim
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerSpec {
    pub model: String,
    /// Tokens of one padded text (rows of the position table).
    pub max_len: usize,
    pub vocab: usize,
    /// The residual stream's dimensions as the tensors have them now.
    pub d_model: usize,
    /// The stream's original width: what every norm's statistics divide by (removed
    /// dimensions count as the zeros they were).
    pub norm_width: usize,
    pub norm_eps: f64,
    pub blocks: Vec<BlockSpec>,
    pub classes: usize,
}

/// Whether the graph file at `path` is a Transformer classifier's (it has a `self_attention`
/// node); false for other graphs and unreadable files.
pub fn is_transformer_graph(path: &Path) -> bool {
    GraphFile::peek(path).is_some_and(|g| g.has_op("self_attention"))
}

/// `(id, op, inputs)` of every node the spec implies, in order.
fn expected_nodes(blocks: usize) -> Vec<(String, &'static str, Vec<String>)> {
    let s = |v: &str| v.to_string();
    let mut v = vec![
        (s("token_embedding"), "embedding", vec![s("input")]),
        (s("position_embedding"), "embedding", vec![s("input")]),
        (s("embed"), "add", vec![s("token_embedding"), s("position_embedding")]),
    ];
    let mut stream = s("embed");
    for l in 0..blocks {
        let id = |n: &str| format!("blocks.{l}.{n}");
        v.push((id("attention_norm"), "stream_norm", vec![stream.clone()]));
        v.push((id("attention"), "self_attention", vec![id("attention_norm")]));
        v.push((id("attention_output"), "linear", vec![id("attention")]));
        v.push((id("attention_add"), "add", vec![stream.clone(), id("attention_output")]));
        v.push((id("ffn_norm"), "stream_norm", vec![id("attention_add")]));
        v.push((id("ffn_in"), "linear", vec![id("ffn_norm")]));
        v.push((id("gelu"), "gelu", vec![id("ffn_in")]));
        v.push((id("ffn_out"), "linear", vec![id("gelu")]));
        v.push((id("ffn_add"), "add", vec![id("attention_add"), id("ffn_out")]));
        stream = id("ffn_add");
    }
    v.push((s("norm"), "stream_norm", vec![stream]));
    v.push((s("pool"), "mean_pool", vec![s("norm")]));
    v.push((s("fc"), "linear", vec![s("pool")]));
    v
}

impl TransformerSpec {
    pub fn load(path: &Path) -> Result<TransformerSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| CompactError::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    pub fn from_json_str(text: &str, path: &Path) -> Result<TransformerSpec> {
        let g = GraphFile::parse(text, path)?;
        let bad = |index: usize, reason: String| g.invalid(path, index, reason);
        let index: BTreeMap<&str, usize> = g.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        let size = |id: &str, key: &str| -> Result<usize> {
            let &i = index.get(id).ok_or_else(|| bad(g.nodes.len().saturating_sub(1), format!("has no node `{id}`")))?;
            let v = g.nodes[i].attrs.get(key).and_then(|v| v.as_u64()).ok_or_else(|| bad(i, format!("needs a positive integer `{key}`")))?;
            usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| bad(i, format!("`{key}` must be positive, got {v}")))
        };
        let &[max_len] = g.input.as_slice() else {
            return Err(bad(0, format!("a text model's input is [tokens], got {:?}", g.input)));
        };
        if max_len == 0 {
            return Err(bad(0, "input [tokens] must be nonzero".into()));
        }
        let blocks = g.nodes.iter().filter(|n| n.op == "self_attention").count();
        let expected = expected_nodes(blocks);
        if g.nodes.len() != expected.len() {
            return Err(bad(0, format!("{} nodes, but a {blocks}-block encoder classifier has {}", g.nodes.len(), expected.len())));
        }
        for (i, (node, (id, op, inputs))) in g.nodes.iter().zip(&expected).enumerate() {
            if node.id != *id || node.op != *op || node.inputs != *inputs {
                return Err(bad(i, format!("expected node `{id}` ({op}) reading {inputs:?}")));
            }
        }
        if g.output != "fc" {
            return Err(bad(g.nodes.len() - 1, format!("the output must be `fc`, is `{}`", g.output)));
        }
        let (vocab, d_model) = (size("token_embedding", "num_embeddings")?, size("token_embedding", "embedding_dim")?);
        if size("position_embedding", "num_embeddings")? != max_len || size("position_embedding", "embedding_dim")? != d_model {
            return Err(bad(1, format!("the position table must be [{max_len}, {d_model}]")));
        }
        let norm_width = size("norm", "width")?;
        if norm_width < d_model {
            return Err(bad(index["norm"], format!("norm width {norm_width} is less than the stream's {d_model} dimensions")));
        }
        let norm_eps = g.nodes[index["norm"]].attrs.get("eps").and_then(|v| v.as_f64()).unwrap_or(1e-5);
        let mut specs = Vec::new();
        for l in 0..blocks {
            let id = |n: &str| format!("blocks.{l}.{n}");
            let b = BlockSpec { name: format!("blocks.{l}"), heads: size(&id("attention"), "heads")?, head_dim: size(&id("attention"), "head_dim")?, ffn: size(&id("ffn_in"), "out_features")? };
            for norm in ["attention_norm", "ffn_norm"] {
                if size(&id(norm), "width")? != norm_width {
                    return Err(bad(index[id(norm).as_str()], format!("width differs from the final norm's {norm_width}")));
                }
            }
            let linear = |name: &str, i: usize, o: usize| -> Result<()> {
                let (gi, go) = (size(&id(name), "in_features")?, size(&id(name), "out_features")?);
                if (gi, go) != (i, o) {
                    return Err(bad(index[id(name).as_str()], format!("is {gi} → {go}, the block needs {i} → {o}")));
                }
                Ok(())
            };
            linear("attention_output", b.attention_width(), d_model)?;
            linear("ffn_in", d_model, b.ffn)?;
            linear("ffn_out", b.ffn, d_model)?;
            specs.push(b);
        }
        if size("fc", "in_features")? != d_model {
            return Err(bad(g.nodes.len() - 1, format!("the classifier must read the {d_model} stream dimensions")));
        }
        let classes = size("fc", "out_features")?;
        Ok(TransformerSpec { model: g.model.clone(), max_len, vocab, d_model, norm_width, norm_eps, blocks: specs, classes })
    }

    /// Every parameter tensor with its PyTorch shape, as `model.safetensors` must hold it.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let d = self.d_model;
        let mut v = vec![("token_embedding.weight".to_string(), vec![self.vocab, d]), ("position_embedding.weight".to_string(), vec![self.max_len, d])];
        let norm = |v: &mut Vec<(String, Vec<usize>)>, p: String| {
            v.push((format!("{p}.gamma"), vec![d]));
            v.push((format!("{p}.beta"), vec![d]));
        };
        for b in &self.blocks {
            let (a, n) = (b.attention_width(), &b.name);
            norm(&mut v, format!("{n}.attention_norm"));
            for p in ["query", "key", "value"] {
                v.push((format!("{n}.attention.{p}.weight"), vec![a, d]));
                v.push((format!("{n}.attention.{p}.bias"), vec![a]));
            }
            v.push((format!("{n}.attention_output.weight"), vec![d, a]));
            v.push((format!("{n}.attention_output.bias"), vec![d]));
            norm(&mut v, format!("{n}.ffn_norm"));
            v.push((format!("{n}.ffn_in.weight"), vec![b.ffn, d]));
            v.push((format!("{n}.ffn_in.bias"), vec![b.ffn]));
            v.push((format!("{n}.ffn_out.weight"), vec![d, b.ffn]));
            v.push((format!("{n}.ffn_out.bias"), vec![d]));
        }
        norm(&mut v, "norm".into());
        v.push(("fc.weight".into(), vec![self.classes, d]));
        v.push(("fc.bias".into(), vec![self.classes]));
        v
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 1-block encoder: vocabulary 7, 5 tokens, d_model 4, 2 heads of 2, 3 FFN neurons, 2 classes.
    pub(crate) fn graph_json() -> String {
        let nodes = r#"[
 {"id":"token_embedding","op":"embedding","inputs":["input"],"num_embeddings":7,"embedding_dim":4},
 {"id":"position_embedding","op":"embedding","inputs":["input"],"num_embeddings":5,"embedding_dim":4},
 {"id":"embed","op":"add","inputs":["token_embedding","position_embedding"]},
 {"id":"blocks.0.attention_norm","op":"stream_norm","inputs":["embed"],"width":4},
 {"id":"blocks.0.attention","op":"self_attention","inputs":["blocks.0.attention_norm"],"heads":2,"head_dim":2},
 {"id":"blocks.0.attention_output","op":"linear","inputs":["blocks.0.attention"],"in_features":4,"out_features":4},
 {"id":"blocks.0.attention_add","op":"add","inputs":["embed","blocks.0.attention_output"]},
 {"id":"blocks.0.ffn_norm","op":"stream_norm","inputs":["blocks.0.attention_add"],"width":4},
 {"id":"blocks.0.ffn_in","op":"linear","inputs":["blocks.0.ffn_norm"],"in_features":4,"out_features":3},
 {"id":"blocks.0.gelu","op":"gelu","inputs":["blocks.0.ffn_in"]},
 {"id":"blocks.0.ffn_out","op":"linear","inputs":["blocks.0.gelu"],"in_features":3,"out_features":4},
 {"id":"blocks.0.ffn_add","op":"add","inputs":["blocks.0.attention_add","blocks.0.ffn_out"]},
 {"id":"norm","op":"stream_norm","inputs":["blocks.0.ffn_add"],"width":4},
 {"id":"pool","op":"mean_pool","inputs":["norm"]},
 {"id":"fc","op":"linear","inputs":["pool"],"in_features":4,"out_features":2}]"#;
        format!(r#"{{"model":"transformer","input":[5],"nodes":{nodes},"output":"fc"}}"#)
    }

    #[test]
    fn reads_an_encoder_classifier() {
        let s = TransformerSpec::from_json_str(&graph_json(), Path::new("g.json")).unwrap();
        assert_eq!((s.max_len, s.vocab, s.d_model, s.norm_width, s.classes), (5, 7, 4, 4, 2));
        assert_eq!(s.blocks, vec![BlockSpec { name: "blocks.0".into(), heads: 2, head_dim: 2, ffn: 3 }]);
        let shapes = s.param_shapes();
        // 2 tables, 3 norms × 2, q/k/v × 2, 3 linears × 2, fc × 2.
        assert_eq!(shapes.len(), 2 + 6 + 6 + 6 + 2);
        assert!(shapes.contains(&("blocks.0.attention_output.weight".into(), vec![4, 4])));
        assert!(shapes.contains(&("blocks.0.ffn_in.weight".into(), vec![3, 4])));
    }

    #[test]
    fn names_what_does_not_fit() {
        let err = |text: String| TransformerSpec::from_json_str(&text, Path::new("g.json")).unwrap_err().to_string();
        let g = graph_json();
        assert!(err(g.replace(r#""in_features":3,"out_features":4"#, r#""in_features":2,"out_features":4"#)).contains("is 2 → 4, the block needs 3 → 4"));
        assert!(err(g.replace(r#""inputs":["embed","blocks.0.attention_output"]"#, r#""inputs":["blocks.0.attention_output"]"#)).contains("expected node `blocks.0.attention_add`"));
        assert!(err(g.replace(r#""heads":2"#, r#""heads":0"#)).contains("`heads` must be positive"));
        assert!(err(g.replace(r#""input":[5]"#, r#""input":[5,2]"#)).contains("input is [tokens]"));
        assert!(err(g.replace(r#""inputs":["blocks.0.ffn_add"],"width":4"#, r#""inputs":["blocks.0.ffn_add"],"width":3"#)).contains("less than the stream"));
    }
}
