//! The layer graph a model declares, checked against the model's own parameters before
//! training starts: a wrong graph is an error at start, not at compaction.

use crate::graph::Graph;
use crate::params::{list_params, ParamInfo};
use crate::TrainError;
use burn::module::Module;
use std::collections::{BTreeMap, BTreeSet};

/// A parameter's PyTorch name: Burn's `BatchNorm` calls γ and β `gamma` and `beta`, PyTorch
/// (and the graph) `weight` and `bias`.
pub fn torch_param_name(p: &ParamInfo) -> String {
    if p.owner == "BatchNorm" {
        if let Some(prefix) = p.name.strip_suffix(".gamma") {
            return format!("{prefix}.weight");
        }
        if let Some(prefix) = p.name.strip_suffix(".beta") {
            return format!("{prefix}.bias");
        }
    }
    p.name.clone()
}

/// Checks that the graph is well-formed (ids, inputs in topological order, shapes), that every
/// parameterised node's tensors exist with the declared shapes (PyTorch layout) — conv and
/// linear weights and biases, BatchNorm's γ, β, running mean and running variance — that a
/// conv/linear declared without bias has none, and that every conv/linear weight and every
/// BatchNorm tensor of the model appears in the graph.
pub fn check_graph<M: Module>(graph: &Graph, model: &M) -> Result<(), TrainError> {
    let bad = |message: String| Err(TrainError::Config { path: None, message: format!("model `{}`: its layer graph does not match its parameters: {message}", graph.model) });
    if let Err(e) = graph.shapes() {
        return bad(e.to_string());
    }
    let listed = list_params(model);
    let params: BTreeMap<String, Vec<usize>> = listed.iter().map(|p| (torch_param_name(p), p.torch_shape())).collect();
    let mut covered = BTreeSet::new();
    for node in &graph.nodes {
        let Some(name) = node.op.param_name() else { continue };
        for (tensor, shape) in node.op.param_shapes() {
            match params.get(&tensor) {
                None => return bad(format!("node `{}` ({}) has no parameter `{tensor}` in the model", node.id, node.op.op_name())),
                Some(found) if *found != shape => return bad(format!("`{tensor}` is {found:?} but the graph declares {shape:?}")),
                Some(_) => {}
            }
            covered.insert(tensor);
        }
        let bias = format!("{name}.bias");
        if node.op.has_weight_matrix() && !covered.contains(&bias) && params.contains_key(&bias) {
            return bad(format!("the model has `{bias}` but node `{}` declares no bias", node.id));
        }
    }
    let missing: Vec<String> = listed
        .iter()
        .filter(|p| p.prunable_by_default() || p.owner.contains("BatchNorm"))
        .map(torch_param_name)
        .filter(|n| !covered.contains(n))
        .collect();
    if !missing.is_empty() {
        return bad(format!("tensors {} are in no node of the graph", missing.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{linear, model_graph, Layer};
    use crate::input::InputInfo;
    use crate::model::Model;
    use crate::models::Lenet300;
    use burn::prelude::*;

    #[test]
    fn lenet300_graph_matches_and_wrong_ones_do_not() {
        let device = Device::flex();
        let info = InputInfo { channels: 1, rows: 28, cols: 28, classes: 10 };
        let model = Lenet300::init(info, &crate::registry::default_params::<Lenet300>(), &device);
        let good = model.graph(info).into_layers().expect("a layer graph");
        check_graph(&good, &model).unwrap();

        let with = |layers: Vec<Layer>| model_graph("lenet300", info, layers);
        // fc2 declared 300 -> 50 instead of 300 -> 100: shapes chain wrong for fc3, caught by shape inference.
        let mut wrong = good.clone();
        wrong.nodes[3].op = linear("fc2", 300, 50);
        let e = check_graph(&wrong, &model).unwrap_err().to_string();
        assert!(e.contains("does not match") && e.contains("in_features 100"), "{e}");
        // Consistent chain but not the model's: fc2 and fc3 both 50 wide.
        wrong.nodes[5].op = linear("fc3", 50, 10);
        let e = check_graph(&wrong, &model).unwrap_err().to_string();
        assert!(e.contains("`fc2.weight` is [100, 300] but the graph declares [50, 300]"), "{e}");
        // A layer named after nothing.
        let e = check_graph(&with(vec![Layer::Flatten, linear("dense", 784, 10)]), &model).unwrap_err().to_string();
        assert!(e.contains("no parameter `dense.weight`"), "{e}");
        // Declared without bias, but the model has one.
        let e = check_graph(&with(vec![Layer::Flatten, Layer::Linear { name: "fc1".into(), in_features: 784, out_features: 300, bias: false }]), &model).unwrap_err().to_string();
        assert!(e.contains("the model has `fc1.bias` but node `fc1` declares no bias"), "{e}");
        // A weight left out of the graph.
        let e = check_graph(&with(vec![Layer::Flatten, linear("fc1", 784, 300), Layer::Relu, linear("fc2", 300, 100)]), &model).unwrap_err().to_string();
        assert!(e.contains("tensors fc3.weight are in no node"), "{e}");
    }

    #[derive(burn::module::Module, Debug)]
    struct ConvBn {
        conv: burn::nn::conv::Conv2d,
        bn: burn::nn::BatchNorm,
        fc: burn::nn::Linear,
    }

    #[test]
    fn batchnorm_tensors_are_checked_under_pytorch_names() {
        use crate::graph::{Conv, GraphBuilder, INPUT};
        use burn::nn::{conv::Conv2dConfig, BatchNormConfig, LinearConfig, PaddingConfig2d};
        let device = Device::flex();
        let model = ConvBn {
            conv: Conv2dConfig::new([3, 4], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).with_bias(false).init(&device),
            bn: BatchNormConfig::new(4).init(&device),
            fc: LinearConfig::new(4, 10).init(&device),
        };
        let graph = |bn: Option<&str>| {
            let mut b = GraphBuilder::new("convbn", vec![3, 8, 8]);
            let mut x = b.conv2d(INPUT, "conv", Conv::new(3, 4, 3).padding(1).no_bias());
            if let Some(name) = bn {
                x = b.batchnorm2d(&x, name, 4);
            }
            let x = b.relu(&x, "relu");
            let x = b.global_avg_pool(&x, "pool");
            let out = b.linear(&x, "fc", 4, 10, true);
            b.finish(&out).unwrap()
        };
        check_graph(&graph(Some("bn")), &model).unwrap();
        let e = check_graph(&graph(None), &model).unwrap_err().to_string();
        assert!(e.contains("tensors bn.weight, bn.bias, bn.running_mean, bn.running_var are in no node"), "{e}");
        let e = check_graph(&graph(Some("norm")), &model).unwrap_err().to_string();
        assert!(e.contains("node `norm` (batchnorm2d) has no parameter `norm.weight`"), "{e}");
    }
}
