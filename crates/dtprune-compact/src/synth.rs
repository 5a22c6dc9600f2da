//! Synthetic pruned models (LeNet-5, LeNet-300-100) from a seeded RNG, for tests and for
//! benchmarking the speedup-vs-sparsity curve before trained models exist.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{CompactError, Result};
use crate::graph::{ChannelStat, Graph, Layer, Node, Preprocess, INPUT};
use crate::model::{weight_shape, DenseModel, GRAPH_FILE, MODEL_FILE};
use crate::structure::{channel_groups, MemberRole};
use crate::tensor_io::{write_atomic, write_safetensors, OwnedTensor, Tensor};

pub const MNIST_PREPROCESS: Preprocess = Preprocess::uniform(1.0 / 255.0, 0.1307, 0.3081);

fn conv(name: &str, cin: usize, cout: usize, k: usize, pad: usize) -> Layer {
    Layer::Conv2d {
        name: name.into(),
        in_channels: cin,
        out_channels: cout,
        kernel: [k, k],
        stride: [1, 1],
        padding: [pad, pad],
        groups: 1,
        bias: true,
    }
}
fn linear(name: &str, i: usize, o: usize) -> Layer {
    Layer::Linear {
        name: name.into(),
        in_features: i,
        out_features: o,
        bias: true,
    }
}
fn pool() -> Layer {
    Layer::Maxpool2d {
        kernel: [2, 2],
        stride: Some([2, 2]),
    }
}

/// LeNet-5 (Caffe variant): conv 20 → pool → conv 50 → pool → fc 500 → relu → fc 10.
pub fn lenet5_graph() -> Graph {
    Graph::chain(
        "lenet5",
        vec![1, 28, 28],
        Some(MNIST_PREPROCESS),
        vec![
            conv("conv1", 1, 20, 5, 0),
            pool(),
            conv("conv2", 20, 50, 5, 0),
            pool(),
            Layer::Flatten,
            linear("fc1", 800, 500),
            Layer::Relu,
            linear("fc2", 500, 10),
        ],
    )
}

/// LeNet-300-100; `image_input` gives input `[1,28,28]` + flatten instead of `[784]`.
pub fn lenet300_graph(image_input: bool) -> Graph {
    let mut layers = vec![
        linear("fc1", 784, 300),
        Layer::Relu,
        linear("fc2", 300, 100),
        Layer::Relu,
        linear("fc3", 100, 10),
    ];
    let input = if image_input {
        layers.insert(0, Layer::Flatten);
        vec![1, 28, 28]
    } else {
        vec![784]
    };
    Graph::chain("lenet300_100", input, Some(MNIST_PREPROCESS), layers)
}

/// A small conv net with padding (so that constant channels cannot always be folded).
pub fn padded_cnn_graph() -> Graph {
    Graph::chain(
        "padded_cnn",
        vec![2, 10, 10],
        Some(MNIST_PREPROCESS),
        vec![
            conv("c1", 2, 8, 3, 1),
            Layer::Relu,
            conv("c2", 8, 12, 3, 1),
            pool(),
            Layer::Relu,
            conv("c3", 12, 6, 3, 0),
            Layer::Flatten,
            linear("fc", 6 * 3 * 3, 16),
            Layer::Relu,
            linear("out", 16, 5),
        ],
    )
}

fn node(id: &str, inputs: &[&str], op: Layer) -> Node {
    Node { id: id.into(), inputs: inputs.iter().map(|s| s.to_string()).collect(), op }
}
fn conv_node(name: &str, input: &str, cin: usize, cout: usize, k: usize, stride: usize) -> Node {
    let op = Layer::Conv2d { name: name.into(), in_channels: cin, out_channels: cout, kernel: [k, k], stride: [stride; 2], padding: [k / 2; 2], groups: 1, bias: false };
    node(name, &[input], op)
}
fn bn(name: &str, input: &str, c: usize) -> Node {
    node(name, &[input], Layer::Batchnorm2d { name: name.into(), channels: c, eps: 1e-5 })
}

/// conv–bn–relu–conv–bn, added to `input` (identity) or to a strided 1x1 conv + bn of it.
fn block(nodes: &mut Vec<Node>, p: &str, input: &str, cin: usize, cout: usize, stride: usize) -> String {
    nodes.push(conv_node(&format!("{p}.conv1"), input, cin, cout, 3, stride));
    nodes.push(bn(&format!("{p}.bn1"), &format!("{p}.conv1"), cout));
    nodes.push(node(&format!("{p}.relu1"), &[&format!("{p}.bn1")], Layer::Relu));
    nodes.push(conv_node(&format!("{p}.conv2"), &format!("{p}.relu1"), cout, cout, 3, 1));
    nodes.push(bn(&format!("{p}.bn2"), &format!("{p}.conv2"), cout));
    let shortcut = if stride != 1 || cin != cout {
        nodes.push(conv_node(&format!("{p}.shortcut.0"), input, cin, cout, 1, stride));
        nodes.push(bn(&format!("{p}.shortcut.1"), &format!("{p}.shortcut.0"), cout));
        format!("{p}.shortcut.1")
    } else {
        input.to_string()
    };
    nodes.push(node(&format!("{p}.add"), &[&format!("{p}.bn2"), &shortcut], Layer::Add));
    nodes.push(node(&format!("{p}.relu2"), &[&format!("{p}.add")], Layer::Relu));
    format!("{p}.relu2")
}

/// A ResNet with stages of `widths` channels, `blocks` blocks each (option-B shortcuts),
/// on `[3, size, size]` input, 10 classes: ResNet-20 is `(&[16, 32, 64], 3, 32)`.
pub fn resnet_graph(widths: &[usize], blocks: usize, size: usize) -> Graph {
    let mut nodes = vec![conv_node("conv1", INPUT, 3, widths[0], 3, 1), bn("bn1", "conv1", widths[0]), node("relu1", &["bn1"], Layer::Relu)];
    let (mut x, mut cin) = ("relu1".to_string(), widths[0]);
    for (s, &w) in widths.iter().enumerate() {
        for b in 0..blocks {
            let stride = if s > 0 && b == 0 { 2 } else { 1 };
            x = block(&mut nodes, &format!("layer{}.{b}", s + 1), &x, cin, w, stride);
            cin = w;
        }
    }
    nodes.push(node("pool", &[&x], Layer::GlobalAvgPool));
    nodes.push(node("fc", &["pool"], Layer::Linear { name: "fc".into(), in_features: cin, out_features: 10, bias: true }));
    let preprocess = Preprocess { scale: 1.0 / 255.0, mean: ChannelStat::PerChannel(vec![0.49, 0.48, 0.45]), std: ChannelStat::PerChannel(vec![0.25, 0.24, 0.26]) };
    let g = Graph { model: "resnet".into(), input: vec![3, size, size], preprocess: Some(preprocess), nodes, output: "fc".into() };
    g.shapes().expect("well-formed");
    g
}

/// Uniform(-a, a) weights with a = sqrt(3 / fan_in) and small random biases.
pub fn random_model(graph: &Graph, seed: u64) -> DenseModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = std::collections::BTreeMap::new();
    for layer in graph.ops() {
        let (Some(name), Some(ws)) = (layer.param_name(), weight_shape(layer)) else {
            continue;
        };
        let fan_in: usize = ws[1..].iter().product();
        let a = (3.0 / fan_in as f32).sqrt();
        let n: usize = ws.iter().product();
        let w = (0..n).map(|_| rng.random_range(-a..a)).collect();
        let has_bias = matches!(layer, Layer::Conv2d { bias: true, .. } | Layer::Linear { bias: true, .. });
        let b = if has_bias { (0..ws[0]).map(|_| rng.random_range(-0.1f32..0.1)).collect() } else { vec![0.0; ws[0]] };
        params.insert(format!("{name}.weight"), Tensor::new(ws.clone(), w));
        params.insert(format!("{name}.bias"), Tensor::new(vec![ws[0]], b));
    }
    // BatchNorms after the weights, so chain models draw the same weights as before.
    for layer in graph.ops() {
        if let Layer::Batchnorm2d { name, channels, .. } = layer {
            let mut draw = |lo: f32, hi: f32| Tensor::new(vec![*channels], (0..*channels).map(|_| rng.random_range(lo..hi)).collect());
            params.insert(format!("{name}.weight"), draw(0.5, 1.5));
            params.insert(format!("{name}.bias"), draw(-0.2, 0.2));
            params.insert(format!("{name}.running_mean"), draw(-0.2, 0.2));
            params.insert(format!("{name}.running_var"), draw(0.5, 1.5));
        }
    }
    DenseModel {
        graph: graph.clone(),
        params,
    }
}

/// Zeroes the `sparsity` fraction of smallest-magnitude weights of every layer.
pub fn prune_magnitude(model: &mut DenseModel, sparsity: f64) {
    let weights: Vec<String> = model.graph.ops().filter(|l| l.has_weight_matrix()).filter_map(|l| l.param_name()).map(|n| format!("{n}.weight")).collect();
    for (name, t) in model
        .params
        .iter_mut()
        .filter(|(k, _)| weights.contains(k))
    {
        let k = ((t.numel() as f64) * sparsity).round() as usize;
        if k == 0 {
            continue;
        }
        let mut mags: Vec<f32> = t.data.iter().map(|v| v.abs()).collect();
        let k = k.min(mags.len());
        let (_, &mut thr, _) = mags.select_nth_unstable_by(k - 1, f32::total_cmp);
        let mut zeroed = 0;
        for v in t.data.iter_mut() {
            if v.abs() <= thr && zeroed < k {
                *v = 0.0;
                zeroed += 1;
            }
        }
        debug_assert!(zeroed <= k, "{name}");
    }
}

/// Kills `per_kind` units of every hidden layer each way: zero incoming weights (bias stays
/// nonzero, so the unit is a constant) and zero outgoing weights. Returns the killed unit ids
/// per space `(layer, incoming_dead, outgoing_dead)`.
pub fn kill_units(
    model: &mut DenseModel,
    per_kind: usize,
    seed: u64,
) -> Vec<(String, Vec<usize>, Vec<usize>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let groups = channel_groups(&model.graph).expect("valid graph");
    let mut out = Vec::new();
    for g in groups.iter().filter(|g| g.removable) {
        let producers: Vec<_> = g.members.iter().filter(|m| m.role == MemberRole::Producer).collect();
        let consumers: Vec<_> = g.members.iter().filter(|m| m.role == MemberRole::Consumer).collect();
        let Some(p) = producers.first() else { continue };
        let units = model.params[&p.tensor].shape[p.axis] / p.span;
        let mut ids: Vec<usize> = (0..units).collect();
        for i in 0..ids.len() {
            let j = rng.random_range(i..ids.len());
            ids.swap(i, j);
        }
        let k = per_kind.min(units / 3);
        let (inc, outg) = (ids[..k].to_vec(), ids[k..2 * k].to_vec());
        let zero = |model: &mut DenseModel, m: &crate::structure::GroupMember, u: usize| {
            let t = model.params.get_mut(&m.tensor).expect("tensor");
            let outer: usize = t.shape[..m.axis].iter().product();
            let dim = t.shape[m.axis];
            let inner: usize = t.shape[m.axis + 1..].iter().product();
            for o in 0..outer {
                for i in u * m.span..(u + 1) * m.span {
                    t.data[(o * dim + i) * inner..][..inner].fill(0.0);
                }
            }
        };
        for &u in &inc {
            for m in &producers {
                zero(model, m, u);
            }
            let bias = format!("{}.bias", p.tensor.strip_suffix(".weight").expect("weight"));
            let b = &mut model.params.get_mut(&bias).expect("bias").data[u];
            if *b == 0.0 {
                *b = 0.05;
            }
        }
        for &u in &outg {
            for m in &consumers {
                zero(model, m, u);
            }
        }
        out.push((g.name.clone(), inc, outg));
    }
    out
}

/// Writes `model.safetensors` + `graph.json` as the trainer would.
pub fn write_run(dir: &Path, model: &DenseModel) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| CompactError::io(dir, e))?;
    let mut tensors = Vec::new();
    for layer in model.graph.ops() {
        let Some(name) = layer.param_name() else {
            continue;
        };
        let _ = name;
        for (t, _) in layer.param_shapes() {
            let v = &model.params[&t];
            tensors.push((t, OwnedTensor::f32(v.shape.clone(), &v.data)));
        }
    }
    write_safetensors(&dir.join(MODEL_FILE), &tensors, None)?;
    let g = serde_json::to_string_pretty(&model.graph).expect("graph serialises");
    write_atomic(&dir.join(GRAPH_FILE), g.as_bytes())
}

/// Random u8 images for `graph`'s input.
pub fn random_pixels(graph: &Graph, n: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per: usize = graph.input.iter().product();
    (0..n * per)
        .map(|_| {
            if rng.random::<f32>() < 0.8 {
                0
            } else {
                rng.random()
            }
        })
        .collect()
}
