//! The layer graph of a [`ResNet`](super::resnet::ResNet) as a DAG, for compaction and the
//! coupled channel groups: every convolution, BatchNorm, ReLU and residual add is one node,
//! named like the model's parameters (`layer2.0.shortcut.0`), with the shapes read from the
//! parameters themselves (so a width multiplier needs nothing here).

use super::resnet::{Arch, BasicBlock, ResNet};
use crate::graph::{param_dims, Conv, Graph, GraphBuilder, INPUT};
use crate::input::InputInfo;
use crate::layers::{BatchNorm2d, GemmConv2d};

pub fn graph<A: Arch>(model: &ResNet<A>, info: InputInfo) -> Graph {
    let mut b = GraphBuilder::for_input(A::NAME, info);
    let x = conv_bn(&mut b, INPUT, "conv1", &model.conv1, "bn1", &model.bn1);
    let mut x = b.relu(&x, "relu1");
    for (s, stage) in model.stages().into_iter().enumerate() {
        for (i, block) in stage.iter().enumerate() {
            x = basic_block(&mut b, &x, &format!("layer{}.{i}", s + 1), block);
        }
    }
    let pooled = b.global_avg_pool(&x, "pool");
    // Burn stores Linear weights [in, out].
    let [in_features, out_features] = param_dims(&model.fc.weight);
    let logits = b.linear(&pooled, "fc", in_features, out_features, model.fc.bias.is_some());
    b.finish(&logits).expect("a ResNet's graph is well-formed by construction")
}

/// conv → bn; returns the BatchNorm's node.
fn conv_bn(b: &mut GraphBuilder, input: &str, conv_name: &str, conv: &GemmConv2d, bn_name: &str, bn: &BatchNorm2d) -> String {
    let [out_c, in_c, k, _] = param_dims(&conv.weight);
    let spec = Conv { bias: conv.bias.is_some(), ..Conv::new(in_c, out_c, k).stride(conv.stride).padding(conv.padding) };
    let x = b.conv2d(input, conv_name, spec);
    b.batchnorm2d_eps(&x, bn_name, param_dims(&bn.weight)[0], bn.epsilon)
}

fn basic_block(b: &mut GraphBuilder, input: &str, prefix: &str, block: &BasicBlock) -> String {
    let name = |part: &str| format!("{prefix}.{part}");
    let x = conv_bn(b, input, &name("conv1"), &block.conv1, &name("bn1"), &block.bn1);
    let x = b.relu(&x, &name("relu1"));
    let branch = conv_bn(b, &x, &name("conv2"), &block.conv2, &name("bn2"), &block.bn2);
    let shortcut = match &block.shortcut {
        Some((conv, bn)) => conv_bn(b, input, &name("shortcut.0"), conv, &name("shortcut.1"), bn),
        None => input.to_string(),
    };
    let sum = b.add(&[&branch, &shortcut], &name("add"));
    b.relu(&sum, &name("relu2"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph_check::check_graph;
    use crate::model::Model;
    use crate::models::{Resnet18, Resnet20};
    use crate::registry::default_params;
    use burn::prelude::*;

    const CIFAR: InputInfo = InputInfo { channels: 3, rows: 32, cols: 32, classes: 10 };

    #[test]
    fn resnet20_graph_matches_its_parameters() {
        let device = Device::flex();
        let model = Resnet20::init(CIFAR, &default_params::<Resnet20>(), &device);
        let graph = model.graph(CIFAR).into_layers().expect("a layer graph");
        check_graph(&graph, &model).unwrap();
        // stem (conv, bn, relu) + 9 blocks x (2 conv, 2 bn, 2 relu, add) + 2 shortcuts x 2 + pool + fc
        assert_eq!(graph.nodes.len(), 3 + 9 * 7 + 4 + 2);
        let add = graph.nodes.iter().find(|n| n.id == "layer2.0.add").unwrap();
        assert_eq!(add.inputs, vec!["layer2.0.bn2".to_string(), "layer2.0.shortcut.1".to_string()]);
        let add = graph.nodes.iter().find(|n| n.id == "layer1.1.add").unwrap();
        assert_eq!(add.inputs, vec!["layer1.1.bn2".to_string(), "layer1.0.relu2".to_string()]);
        assert_eq!(graph.output, "fc");
    }

    #[test]
    fn resnet18_graph_matches_its_parameters() {
        let device = Device::flex();
        let model = Resnet18::init(CIFAR, &default_params::<Resnet18>(), &device);
        check_graph(&model.graph(CIFAR).into_layers().expect("a layer graph"), &model).unwrap();
    }
}
