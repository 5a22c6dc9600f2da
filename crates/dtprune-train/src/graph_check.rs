//! The layer graph a model declares, checked against the model's own parameters before
//! training starts: a wrong graph is an error at start, not at compaction.

use crate::graph::{Graph, Layer};
use crate::params::list_params;
use crate::TrainError;
use burn::module::Module;
use std::collections::BTreeMap;

/// Checks that the graph's shapes chain, that every parameterised layer's tensors exist with
/// the declared shapes (PyTorch layout) and bias, and that every Linear/Conv weight of the model
/// appears in the graph.
pub fn check_graph<M: Module>(graph: &Graph, model: &M) -> Result<(), TrainError> {
    let bad = |message: String| Err(TrainError::Config { path: None, message: format!("model `{}`: its layer graph does not match its parameters: {message}", graph.model) });
    if let Err(e) = graph.shapes() {
        return bad(e.to_string());
    }
    let params: BTreeMap<String, Vec<usize>> = list_params(model).into_iter().map(|p| (p.name.clone(), p.torch_shape())).collect();
    let mut covered = Vec::new();
    for layer in &graph.layers {
        let (name, weight, bias) = match layer {
            Layer::Conv2d { name, in_channels, out_channels, kernel, bias, .. } => (name, vec![*out_channels, *in_channels, kernel[0], kernel[1]], *bias),
            Layer::Linear { name, in_features, out_features, bias } => (name, vec![*out_features, *in_features], *bias),
            _ => continue,
        };
        let (w, b) = (format!("{name}.weight"), format!("{name}.bias"));
        match params.get(&w) {
            None => return bad(format!("layer `{name}` ({}) has no parameter `{w}`", layer.op_name())),
            Some(shape) if *shape != weight => return bad(format!("`{w}` is {shape:?} but the graph declares {weight:?}")),
            Some(_) => {}
        }
        match (params.get(&b), bias) {
            (None, true) => return bad(format!("layer `{name}` declares a bias but the model has no `{b}`")),
            (Some(_), false) => return bad(format!("the model has `{b}` but layer `{name}` declares no bias")),
            (Some(shape), true) if *shape != [weight[0]] => return bad(format!("`{b}` is {shape:?}, expected [{}]", weight[0])),
            _ => {}
        }
        covered.push(w);
    }
    let missing: Vec<String> = list_params(model).into_iter().filter(|p| p.prunable_by_default() && !covered.contains(&p.name)).map(|p| p.name).collect();
    if !missing.is_empty() {
        return bad(format!("weights {} are in no layer of the graph", missing.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{linear, model_graph};
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
        wrong.layers[3] = linear("fc2", 300, 50);
        let e = check_graph(&wrong, &model).unwrap_err().to_string();
        assert!(e.contains("does not match") && e.contains("in_features 100"), "{e}");
        // Consistent chain but not the model's: fc2 and fc3 both 50 wide.
        wrong.layers[5] = linear("fc3", 50, 10);
        let e = check_graph(&wrong, &model).unwrap_err().to_string();
        assert!(e.contains("`fc2.weight` is [100, 300] but the graph declares [50, 300]"), "{e}");
        // A layer named after nothing.
        let e = check_graph(&with(vec![Layer::Flatten, linear("dense", 784, 10)]), &model).unwrap_err().to_string();
        assert!(e.contains("no parameter `dense.weight`"), "{e}");
        // A weight left out of the graph.
        let e = check_graph(&with(vec![Layer::Flatten, linear("fc1", 784, 300), Layer::Relu, linear("fc2", 300, 100)]), &model).unwrap_err().to_string();
        assert!(e.contains("weights fc3.weight are in no layer"), "{e}");
    }
}
