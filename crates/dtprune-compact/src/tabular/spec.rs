//! The tabular classifier (`tabular-mlp`) as `graph.json` (version 2, node form) describes it:
//! one `embedding` table per categorical column (`embeddings.T`, reading column T of the ids),
//! a `concat` of the tables' rows in column order and then the numeric columns, hidden
//! `linear` layers `hidden.L` each followed by `relu.L`, and the `out` classifier. Parameter
//! names are the trainer's, PyTorch `[out, in]` layout. The file must have exactly that node
//! sequence; the sizes are read from it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CompactError, Result};
use crate::node_file::GraphFile;

/// One categorical column's embedding table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// The id column it reads (its position among the categorical columns).
    pub column: usize,
    /// Ids the table has a row for (the column's training values and the unknown id 0).
    pub rows: usize,
    /// Dimensions it contributes to the concatenation (0 once every one is removed: the
    /// column is then not read at all).
    pub dim: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabularSpec {
    pub model: String,
    /// One per categorical column, in column order.
    pub tables: Vec<TableSpec>,
    /// Numeric (standardised) columns, after the tables in the concatenation.
    pub numeric: usize,
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    pub classes: usize,
}

impl TabularSpec {
    /// Width of the concatenation the first hidden layer reads.
    pub fn concat_width(&self) -> usize {
        self.tables.iter().map(|t| t.dim).sum::<usize>() + self.numeric
    }

    /// Where table `t`'s dimensions start in the concatenation.
    pub fn offset(&self, t: usize) -> usize {
        self.tables[..t].iter().map(|t| t.dim).sum()
    }

    /// The tensor prefix of linear layer `l` (`hidden.L`, the last one `out`).
    pub fn linear_name(&self, l: usize) -> String {
        if l < self.hidden.len() {
            format!("hidden.{l}")
        } else {
            "out".into()
        }
    }

    /// `(in, out)` of every linear layer, the classifier last.
    pub fn linear_sizes(&self) -> Vec<(usize, usize)> {
        let mut inputs = self.concat_width();
        let mut v = Vec::new();
        for &w in self.hidden.iter().chain(std::iter::once(&self.classes)) {
            v.push((inputs, w));
            inputs = w;
        }
        v
    }

    /// Every parameter tensor with its PyTorch shape, as `model.safetensors` must hold it.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<(String, Vec<usize>)> = self.tables.iter().enumerate().map(|(t, s)| (format!("embeddings.{t}.weight"), vec![s.rows, s.dim])).collect();
        for (l, (i, o)) in self.linear_sizes().into_iter().enumerate() {
            let name = self.linear_name(l);
            v.push((format!("{name}.weight"), vec![o, i]));
            v.push((format!("{name}.bias"), vec![o]));
        }
        v
    }

    pub fn load(path: &Path) -> Result<TabularSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| CompactError::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    pub fn from_json_str(text: &str, path: &Path) -> Result<TabularSpec> {
        let g = GraphFile::parse(text, path)?;
        let bad = |index: usize, reason: String| g.invalid(path, index, reason);
        let count = |i: usize, key: &str| -> Result<usize> {
            let v = g.nodes[i].attrs.get(key).and_then(|v| v.as_u64()).ok_or_else(|| bad(i, format!("needs an integer `{key}`")))?;
            // Sizes beyond 2³¹ are no real table and could overflow the sums below.
            usize::try_from(v).ok().filter(|&v| v <= 1 << 31).ok_or_else(|| bad(i, format!("`{key}` = {v} is too large")))
        };
        let size = |i: usize, key: &str| -> Result<usize> {
            match count(i, key)? {
                0 => Err(bad(i, format!("`{key}` must be positive, got 0"))),
                v => Ok(v),
            }
        };
        let tables = g.nodes.iter().take_while(|n| n.op == "embedding").count();
        let concat = tables;
        // The expected sequence: tables, concat, (linear, relu)*, linear.
        let rest = g.nodes.len().checked_sub(concat + 2).ok_or_else(|| bad(0, format!("{} nodes are too few for embeddings, a concat and a classifier", g.nodes.len())))?;
        if rest % 2 != 0 {
            return Err(bad(g.nodes.len() - 1, "after the concat come hidden linear + relu pairs and the classifier".into()));
        }
        let depth = rest / 2;
        let mut expected: Vec<(String, &str, Vec<String>)> = (0..tables).map(|t| (format!("embeddings.{t}"), "embedding", vec!["input".to_string()])).collect();
        if g.nodes[concat].op != "concat" {
            return Err(bad(concat, "expected the `concat` of the embeddings and the numeric columns".into()));
        }
        let numeric = count(concat, "numeric")?;
        let mut concat_inputs: Vec<String> = (0..tables).map(|t| format!("embeddings.{t}")).collect();
        if numeric > 0 {
            concat_inputs.push("input".into());
        }
        expected.push(("concat".into(), "concat", concat_inputs));
        let mut last = "concat".to_string();
        for l in 0..depth {
            expected.push((format!("hidden.{l}"), "linear", vec![last.clone()]));
            expected.push((format!("relu.{l}"), "relu", vec![format!("hidden.{l}")]));
            last = format!("relu.{l}");
        }
        expected.push(("out".into(), "linear", vec![last]));
        for (i, (node, (id, op, inputs))) in g.nodes.iter().zip(&expected).enumerate() {
            if node.id != *id || node.op != *op || node.inputs != *inputs {
                return Err(bad(i, format!("expected node `{id}` ({op}) reading {inputs:?}")));
            }
        }
        if g.output != "out" {
            return Err(bad(g.nodes.len() - 1, format!("the output must be `out`, is `{}`", g.output)));
        }
        if g.input != [tables + numeric] {
            return Err(bad(0, format!("the input must be [{}] ({tables} id columns, then {numeric} numeric), got {:?}", tables + numeric, g.input)));
        }
        let mut specs = Vec::new();
        for t in 0..tables {
            if count(t, "column")? != t {
                return Err(bad(t, format!("table {t} must read id column {t}")));
            }
            specs.push(TableSpec { column: t, rows: size(t, "num_embeddings")?, dim: size(t, "embedding_dim")? });
        }
        let hidden = (0..depth).map(|l| size(concat + 1 + 2 * l, "out_features")).collect::<Result<Vec<_>>>()?;
        let classes = size(g.nodes.len() - 1, "out_features")?;
        let spec = TabularSpec { model: g.model.clone(), tables: specs, numeric, hidden, classes };
        for (l, (i, o)) in spec.linear_sizes().into_iter().enumerate() {
            let node = concat + 1 + 2 * l;
            let (gi, go) = (size(node, "in_features")?, size(node, "out_features")?);
            if (gi, go) != (i, o) {
                return Err(bad(node, format!("is {gi} → {go}, the model needs {i} → {o}")));
            }
        }
        Ok(spec)
    }
}

/// Whether the graph file at `path` is a tabular classifier's (it has a `concat` of
/// `embedding` tables); false for other graphs and unreadable files.
pub fn is_tabular_graph(path: &Path) -> bool {
    GraphFile::peek(path).is_some_and(|g| g.has_op("concat") && !g.has_op("self_attention"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two tables (5 × 3, 4 × 3), 2 numeric columns, hidden 6 and 4, 2 classes.
    pub(crate) fn graph_json() -> String {
        let nodes = r#"[
 {"id":"embeddings.0","op":"embedding","inputs":["input"],"column":0,"num_embeddings":5,"embedding_dim":3},
 {"id":"embeddings.1","op":"embedding","inputs":["input"],"column":1,"num_embeddings":4,"embedding_dim":3},
 {"id":"concat","op":"concat","inputs":["embeddings.0","embeddings.1","input"],"numeric":2},
 {"id":"hidden.0","op":"linear","inputs":["concat"],"name":"hidden.0","in_features":8,"out_features":6},
 {"id":"relu.0","op":"relu","inputs":["hidden.0"]},
 {"id":"hidden.1","op":"linear","inputs":["relu.0"],"name":"hidden.1","in_features":6,"out_features":4},
 {"id":"relu.1","op":"relu","inputs":["hidden.1"]},
 {"id":"out","op":"linear","inputs":["relu.1"],"name":"out","in_features":4,"out_features":2}]"#;
        format!(r#"{{"model":"tabular-mlp","input":[4],"nodes":{nodes},"output":"out"}}"#)
    }

    #[test]
    fn reads_the_tables_the_numeric_columns_and_the_layers() {
        let s = TabularSpec::from_json_str(&graph_json(), Path::new("g.json")).unwrap();
        assert_eq!(s.tables, vec![TableSpec { column: 0, rows: 5, dim: 3 }, TableSpec { column: 1, rows: 4, dim: 3 }]);
        assert_eq!((s.numeric, s.hidden.clone(), s.classes), (2, vec![6, 4], 2));
        assert_eq!((s.concat_width(), s.offset(1)), (8, 3));
        assert_eq!(s.linear_sizes(), [(8, 6), (6, 4), (4, 2)]);
        let shapes = s.param_shapes();
        assert_eq!(shapes[1], ("embeddings.1.weight".into(), vec![4, 3]));
        assert_eq!(shapes[2], ("hidden.0.weight".into(), vec![6, 8]));
        assert_eq!(shapes.last().unwrap(), &("out.bias".to_string(), vec![2]));
    }

    #[test]
    fn names_what_does_not_fit() {
        let err = |text: String| TabularSpec::from_json_str(&text, Path::new("g.json")).unwrap_err().to_string();
        let g = graph_json();
        assert!(err(g.replace(r#""in_features":8"#, r#""in_features":7"#)).contains("is 7 → 6, the model needs 8 → 6"));
        assert!(err(g.replace(r#""input":[4]"#, r#""input":[3]"#)).contains("the input must be [4]"));
        assert!(err(g.replace(r#""column":1"#, r#""column":0"#)).contains("table 1 must read id column 1"));
        assert!(err(g.replace(r#""inputs":["embeddings.0","embeddings.1","input"]"#, r#""inputs":["embeddings.1","input"]"#)).contains("expected node `concat`"));
        assert!(err(g.replace(r#""num_embeddings":4"#, r#""num_embeddings":0"#)).contains("`num_embeddings` must be positive"));
        assert!(err(g.replace(r#""op":"relu","inputs":["hidden.1"]"#, r#""op":"gelu","inputs":["hidden.1"]"#)).contains("expected node `relu.1`"));
        assert!(is_tabular_graph_text(&g));
    }

    fn is_tabular_graph_text(text: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("graph.json");
        std::fs::write(&p, text).unwrap();
        is_tabular_graph(&p)
    }
}
