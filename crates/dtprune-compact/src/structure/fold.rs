//! BatchNorm folding: a BatchNorm whose input is a conv read by nothing else becomes part of
//! that conv, `W'[o] = W[o]·s[o]`, `b'[o] = (b[o] - mean[o])·s[o] + β[o]` with
//! `s = γ / sqrt(var + eps)`, exactly the eval-mode BatchNorm of the conv's output (up to one
//! rounding, the arithmetic is in f64). The BatchNorm node and its tensors disappear; its readers
//! read the conv.

use crate::error::Result;
use crate::graph::{Graph, Layer};
use crate::model::DenseModel;

/// Folds every foldable BatchNorm; returns the names of the folded ones.
pub fn fold_batchnorms(model: &mut DenseModel) -> Result<Vec<String>> {
    let mut folded = Vec::new();
    while let Some((bn, conv)) = next_foldable(&model.graph) {
        let (Layer::Batchnorm2d { name, eps, .. }, Some(cname)) = (&model.graph.nodes[bn].op, model.graph.nodes[conv].op.param_name()) else {
            unreachable!("next_foldable")
        };
        let (name, eps, cname) = (name.clone(), *eps, cname.to_string());
        let take = |m: &mut DenseModel, t: &str| m.params.remove(&format!("{name}.{t}")).expect("loaded").data;
        let (gamma, beta, mean, var) = (take(model, "weight"), take(model, "bias"), take(model, "running_mean"), take(model, "running_var"));
        let scale: Vec<f64> = gamma.iter().zip(&var).map(|(&g, &v)| g as f64 / (v as f64 + eps).sqrt()).collect();
        let w = model.params.get_mut(&format!("{cname}.weight")).expect("loaded");
        let per_row = w.numel() / scale.len();
        for (row, &s) in w.data.chunks_mut(per_row).zip(&scale) {
            row.iter_mut().for_each(|v| *v = (*v as f64 * s) as f32);
        }
        let b = model.params.get_mut(&format!("{cname}.bias")).expect("every conv has a bias tensor");
        for (o, v) in b.data.iter_mut().enumerate() {
            *v = ((*v as f64 - mean[o] as f64) * scale[o] + beta[o] as f64) as f32;
        }
        if let Layer::Conv2d { bias, .. } = &mut model.graph.nodes[conv].op {
            *bias = true;
        }
        let (bn_id, conv_id) = (model.graph.nodes[bn].id.clone(), model.graph.nodes[conv].id.clone());
        remove_node(&mut model.graph, bn, &conv_id);
        debug_assert!(!model.graph.nodes.iter().any(|n| n.id == bn_id));
        folded.push(name);
    }
    Ok(folded)
}

/// The first BatchNorm whose input is a conv that nothing else reads: (bn, conv) indices.
fn next_foldable(graph: &Graph) -> Option<(usize, usize)> {
    graph.nodes.iter().enumerate().find_map(|(i, n)| {
        if !matches!(n.op, Layer::Batchnorm2d { .. }) {
            return None;
        }
        let input = &n.inputs[0];
        let j = graph.nodes.iter().position(|m| &m.id == input)?;
        let readers = graph.nodes.iter().filter(|m| m.inputs.contains(input)).count();
        (matches!(graph.nodes[j].op, Layer::Conv2d { .. }) && readers == 1 && graph.output != *input).then_some((i, j))
    })
}

/// Deletes node `i`; whatever read it reads `replacement` instead.
pub(crate) fn remove_node(graph: &mut Graph, i: usize, replacement: &str) {
    let id = graph.nodes.remove(i).id;
    for n in graph.nodes.iter_mut() {
        for input in n.inputs.iter_mut().filter(|x| **x == id) {
            *input = replacement.to_string();
        }
    }
    if graph.output == id {
        graph.output = replacement.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{random_model, resnet_graph};

    #[test]
    fn folding_is_exact_and_removes_every_batchnorm() {
        let mut m = random_model(&resnet_graph(&[4, 6], 1, 6), 3);
        let x: Vec<f32> = (0..2 * 3 * 36).map(|i| ((i * 11 % 17) as f32 - 8.0) / 5.0).collect();
        let want = m.dense_network().unwrap().forward(&x, 2).unwrap();
        // Hand-checked: conv1's row 0 scales by gamma / sqrt(var + eps).
        let s = m.params["bn1.weight"].data[0] as f64 / (m.params["bn1.running_var"].data[0] as f64 + 1e-5).sqrt();
        let w0 = m.params["conv1.weight"].data[0];
        let folded = fold_batchnorms(&mut m).unwrap();
        assert_eq!(folded, ["bn1", "layer1.0.bn1", "layer1.0.bn2", "layer2.0.bn1", "layer2.0.bn2", "layer2.0.shortcut.1"]);
        assert!(m.graph.ops().all(|l| !matches!(l, Layer::Batchnorm2d { .. })));
        assert!(!m.params.contains_key("bn1.running_mean"));
        assert_eq!(m.params["conv1.weight"].data[0], (w0 as f64 * s) as f32);
        let got = m.dense_network().unwrap().forward(&x, 2).unwrap();
        for (a, b) in want.iter().zip(&got) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
