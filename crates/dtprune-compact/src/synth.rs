//! Synthetic pruned models (LeNet-5, LeNet-300-100) from a seeded RNG, for tests and for
//! benchmarking the speedup-vs-sparsity curve before trained models exist.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{CompactError, Result};
use crate::graph::{Graph, Layer, Preprocess};
use crate::model::{weight_shape, DenseModel, GRAPH_FILE, MODEL_FILE};
use crate::structure::derive_spaces;
use crate::tensor_io::{write_atomic, write_safetensors, OwnedTensor, Tensor};

pub const MNIST_PREPROCESS: Preprocess = Preprocess {
    scale: 1.0 / 255.0,
    mean: 0.1307,
    std: 0.3081,
};

fn conv(name: &str, cin: usize, cout: usize, k: usize, pad: usize) -> Layer {
    Layer::Conv2d {
        name: name.into(),
        in_channels: cin,
        out_channels: cout,
        kernel: [k, k],
        stride: [1, 1],
        padding: [pad, pad],
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
    Graph {
        model: "lenet5".into(),
        input: vec![1, 28, 28],
        preprocess: Some(MNIST_PREPROCESS),
        layers: vec![
            conv("conv1", 1, 20, 5, 0),
            pool(),
            conv("conv2", 20, 50, 5, 0),
            pool(),
            Layer::Flatten,
            linear("fc1", 800, 500),
            Layer::Relu,
            linear("fc2", 500, 10),
        ],
    }
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
    Graph {
        model: "lenet300_100".into(),
        input,
        preprocess: Some(MNIST_PREPROCESS),
        layers,
    }
}

/// A small conv net with padding (so that constant channels cannot always be folded).
pub fn padded_cnn_graph() -> Graph {
    Graph {
        model: "padded_cnn".into(),
        input: vec![2, 10, 10],
        preprocess: Some(MNIST_PREPROCESS),
        layers: vec![
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
    }
}

/// Uniform(-a, a) weights with a = sqrt(3 / fan_in) and small random biases.
pub fn random_model(graph: &Graph, seed: u64) -> DenseModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = std::collections::BTreeMap::new();
    for layer in &graph.layers {
        let (Some(name), Some(ws)) = (layer.param_name(), weight_shape(layer)) else {
            continue;
        };
        let fan_in: usize = ws[1..].iter().product();
        let a = (3.0 / fan_in as f32).sqrt();
        let n: usize = ws.iter().product();
        let w = (0..n).map(|_| rng.random_range(-a..a)).collect();
        let b = (0..ws[0]).map(|_| rng.random_range(-0.1f32..0.1)).collect();
        params.insert(format!("{name}.weight"), Tensor::new(ws.clone(), w));
        params.insert(format!("{name}.bias"), Tensor::new(vec![ws[0]], b));
    }
    DenseModel {
        graph: graph.clone(),
        params,
    }
}

/// Zeroes the `sparsity` fraction of smallest-magnitude weights of every layer.
pub fn prune_magnitude(model: &mut DenseModel, sparsity: f64) {
    for (name, t) in model
        .params
        .iter_mut()
        .filter(|(k, _)| k.ends_with(".weight"))
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
    let spaces = derive_spaces(&model.graph).expect("valid graph");
    let mut out = Vec::new();
    for sp in spaces.iter().filter(|s| s.removable) {
        let p = &sp.producers[0];
        let units = p.units(model.params[&p.tensor].shape[p.axis]);
        let mut ids: Vec<usize> = (0..units).collect();
        for i in 0..ids.len() {
            let j = rng.random_range(i..ids.len());
            ids.swap(i, j);
        }
        let k = per_kind.min(units / 3);
        let (inc, outg) = (ids[..k].to_vec(), ids[k..2 * k].to_vec());
        let zero = |model: &mut DenseModel, sl: &crate::structure::AxisSlice, u: usize| {
            let t = model.params.get_mut(&sl.tensor).expect("tensor");
            let outer: usize = t.shape[..sl.axis].iter().product();
            let dim = t.shape[sl.axis];
            let inner: usize = t.shape[sl.axis + 1..].iter().product();
            for o in 0..outer {
                for i in sl.indices(dim, u) {
                    t.data[(o * dim + i) * inner..][..inner].fill(0.0);
                }
            }
        };
        for &u in &inc {
            for sl in &sp.producers {
                zero(model, sl, u);
            }
            let b = &mut model.params.get_mut(&sp.biases[0]).expect("bias").data[u];
            if *b == 0.0 {
                *b = 0.05;
            }
        }
        for &u in &outg {
            for c in &sp.consumers {
                zero(model, &c.slice, u);
            }
        }
        out.push((sp.name.clone(), inc, outg));
    }
    out
}

/// Writes `model.safetensors` + `graph.json` as the trainer would.
pub fn write_run(dir: &Path, model: &DenseModel) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| CompactError::io(dir, e))?;
    let mut tensors = Vec::new();
    for layer in &model.graph.layers {
        let Some(name) = layer.param_name() else {
            continue;
        };
        let w = model.weight(name);
        tensors.push((
            format!("{name}.weight"),
            OwnedTensor::f32(w.shape.clone(), &w.data),
        ));
        if matches!(
            layer,
            Layer::Conv2d { bias: true, .. } | Layer::Linear { bias: true, .. }
        ) {
            let b = model.bias(name);
            tensors.push((
                format!("{name}.bias"),
                OwnedTensor::f32(b.shape.clone(), &b.data),
            ));
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
