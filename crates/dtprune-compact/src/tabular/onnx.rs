//! A tabular classifier as an ONNX graph of standard opset-17 ops, for onnxruntime.
//!
//! Inputs `ids` int64 `[N, tables]` (one id per categorical column) and `numeric` float32
//! `[N, numeric]` (standardised), each present only when the model has such columns; output
//! `logits` `[N, classes]`. Each table's column of ids is picked with `Gather` (axis 1, a
//! scalar index) and its rows with `Gather` (axis 0); the rows and the numeric columns are
//! joined by `Concat`; the MLP is `Gemm` + `Relu`. A table whose every dimension was removed is
//! not read. The metadata `dtprune.id_rows` lists each table's rows (the bound of its ids),
//! for tools that feed the graph random rows. CSR layers are written dense at the compact
//! shape (ONNX's default domain has no sparse product).

use super::net::TabularNet;
use crate::network::Op;
use crate::onnx::builder::GraphBuilder;
use crate::onnx::ops::{gemm, relu};
use crate::onnx::proto::{self, attr_int, Dim};
use crate::onnx::Variant;

pub fn to_onnx(net: &TabularNet, variant: Variant) -> Vec<u8> {
    let mut b = GraphBuilder::new();
    let mut parts = Vec::new();
    for (t, table) in net.tables.iter().enumerate().filter(|(_, t)| t.dim > 0) {
        let index = b.initializer_i64(&format!("column.{t}"), &[], &[t as i64]);
        let ids = b.node("Gather", &format!("ids.{t}"), &["ids".to_string(), index], vec![attr_int("axis", 1)]);
        let weight = b.initializer(&format!("embeddings.{t}.weight"), &[table.rows, table.dim], &table.data);
        parts.push(b.node("Gather", &format!("embeddings.{t}"), &[weight, ids], vec![attr_int("axis", 0)]));
    }
    if net.numeric > 0 {
        parts.push("numeric".to_string());
    }
    let mut x = b.node("Concat", "concat", &parts, vec![attr_int("axis", 1)]);
    for op in &net.mlp.ops {
        x = match op {
            Op::Linear(l) => gemm::emit(&mut b, &x, l),
            Op::Relu => relu::emit(&mut b, &x),
            other => unreachable!("a tabular MLP has only linear and relu ops, not {}", other.label()),
        };
    }
    let doc = format!(
        "dtprune {} ({} model): {} embedding tables, {} numeric columns; inputs ids (int64, one per categorical column) and numeric (float, standardised).",
        net.model,
        variant.name(),
        net.tables.len(),
        net.numeric
    );
    let mut inputs = Vec::new();
    if !net.tables.is_empty() {
        inputs.push(proto::value_info_typed("ids", &[Dim::Named("N"), Dim::Fixed(net.tables.len())], proto::INT64));
    }
    if net.numeric > 0 {
        inputs.push(proto::value_info("numeric", &[Dim::Named("N"), Dim::Fixed(net.numeric)]));
    }
    let output = [Dim::Named("N"), Dim::Fixed(net.num_classes())];
    let graph = b.finish_with_inputs(&net.model, &doc, &inputs, ("logits", &output));
    let rows: Vec<usize> = net.tables.iter().map(|t| t.rows).collect();
    let meta = vec![
        ("dtprune.model".to_string(), net.model.clone()),
        ("dtprune.variant".to_string(), variant.name().to_string()),
        ("dtprune.id_rows".to_string(), serde_json::to_string(&rows).expect("a list of numbers")),
    ];
    proto::model(&graph, &doc, &meta).into_bytes()
}
