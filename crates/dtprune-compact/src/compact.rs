//! Compaction: dead-structure removal, then a per-layer storage choice (dense or CSR) by a
//! *measured* density crossover.
//!
//! Where CSR starts to beat dense depends on the layer's shape, the batch size and the machine
//! (a 2-core VM with AVX2 is not a laptop with AVX-512). So instead of a guessed constant we time
//! both kernels on random weights of the layer's exact shape at a ladder of densities and take
//! the density where their times cross. Results are cached per shape for the process; tests and
//! reproducible exports pin it with [`Crossover::Fixed`].

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::conv_pool::{conv_max_pool, fusable, PoolWindow};
use crate::dense::{ConvGeom, DenseMat};
use crate::error::Result;
use crate::graph::Layer;
use crate::model::{weight_shape, DenseModel};
use crate::network::{ConvOp, ConvWeights, Network, Weights};
use crate::sparse::{Csr, SparseConv};
use crate::sliced::SlicedCsr;
use crate::structure::{remove_dead_structure, StructureReport};

/// How to choose each layer's storage.
#[derive(Clone, Debug, PartialEq)]
pub enum Crossover {
    /// Time dense vs CSR for each layer's shape at these batch sizes; CSR where it is faster on
    /// (geometric) average over them.
    Measure { batches: Vec<usize> },
    /// CSR when density < this (0.0: always dense; 1.01: always CSR). For deterministic tests.
    Fixed(f64),
}

impl Default for Crossover {
    fn default() -> Self {
        Crossover::Measure {
            batches: vec![1, 128],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CompactOptions {
    pub crossover: Crossover,
    /// Remove dead neurons/channels (otherwise only the storage changes).
    pub remove_structure: bool,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            crossover: Crossover::default(),
            remove_structure: true,
        }
    }
}

/// A layer's shape for kernel timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelShape {
    /// `W[rows, cols]`.
    Linear {
        rows: usize,
        cols: usize,
    },
    Conv(ConvGeom),
    /// `W[rows, cols]` with `cols ≤ sliced::MAX_COLS` in a recurrent layer: at batch 1 its CSR
    /// form runs through the sliced kernel ([`crate::sliced`]), so that is what is timed there.
    SlicedLinear {
        rows: usize,
        cols: usize,
    },
    /// A convolution whose only reader is a max pooling: at batches the fused kernel takes
    /// (`conv_pool::fusable`) both storages are timed through it, since that is what runs.
    ConvPool { conv: ConvGeom, pool: PoolWindow },
}

/// Per-layer result of compaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub name: String,
    pub op: String,
    pub original_shape: Vec<usize>,
    pub compact_shape: Vec<usize>,
    pub nnz: usize,
    /// nnz / numel of the compact (structure-removed) weight.
    pub density: f64,
    pub format: String,
    /// The density below which CSR was chosen for this layer.
    pub crossover: f64,
    pub crossover_measured: bool,
    pub original_bytes: usize,
    pub compact_bytes: usize,
}

/// What became of one group of structured units (a model family's heads, neurons, stream or
/// embedding dimensions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitReport {
    /// The group: `blocks.L.heads`, `stream`, `embeddings.T.dim`, `hidden.L`, …
    pub group: String,
    pub units_before: usize,
    pub units_after: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompactReport {
    pub structure: StructureReport,
    pub layers: Vec<LayerReport>,
    /// Parameters (weights + biases) of the original model.
    pub original_params: usize,
    /// Nonzero weights of the original model.
    pub original_nonzero_weights: usize,
    /// Weights + biases stored by the compact model (nonzeros for CSR layers).
    pub compact_stored_values: usize,
    pub original_param_bytes: usize,
    pub compact_param_bytes: usize,
}

/// A compacted model: the structure-reduced masked-dense tensors, the runnable network with
/// per-layer storage, and the report.
#[derive(Clone, Debug)]
pub struct Compacted {
    pub model: DenseModel,
    pub network: Network,
    pub report: CompactReport,
}

/// Compacts a masked-dense model.
pub fn compact(original: &DenseModel, opts: &CompactOptions) -> Result<Compacted> {
    let mut model = original.clone();
    let structure = if opts.remove_structure {
        remove_dead_structure(&mut model)?
    } else {
        StructureReport::default()
    };
    let shapes = model.graph.shapes()?;
    let slots = model.graph.slots();
    let pool_after = pools_fed_only_by_convs(&model.graph, &slots);
    // Decide each layer's storage before building the network.
    let mut choice: HashMap<String, (f64, bool, bool)> = HashMap::new();
    for (i, layer) in model.graph.ops().enumerate() {
        let Some(name) = layer.param_name().filter(|_| layer.has_weight_matrix()) else {
            continue;
        };
        let input = shapes[model.graph.input_slots(&slots, i)[0]];
        let w = model.weight(name);
        let density = w.data.iter().filter(|v| **v != 0.0).count() as f64 / w.numel().max(1) as f64;
        let kshape = match layer {
            Layer::Conv2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                ..
            } => {
                let (_, hw) = input.units();
                let crate::graph::Shape::Image { h, w, .. } = input else {
                    unreachable!("validated")
                };
                debug_assert_eq!(hw, h * w);
                let geom = ConvGeom {
                    cin: *in_channels,
                    cout: *out_channels,
                    h,
                    w,
                    kh: kernel[0],
                    kw: kernel[1],
                    sh: stride[0],
                    sw: stride[1],
                    ph: padding[0],
                    pw: padding[1],
                };
                match pool_after.get(&i) {
                    Some(&pool) => KernelShape::ConvPool { conv: geom, pool },
                    None => KernelShape::Conv(geom),
                }
            }
            _ => KernelShape::Linear {
                rows: w.shape[0],
                cols: w.shape[1],
            },
        };
        let (crossover, measured) = match &opts.crossover {
            Crossover::Fixed(c) => (*c, false),
            Crossover::Measure { batches } => (measure_crossover(kshape, batches), true),
        };
        choice.insert(name.to_string(), (crossover, measured, density < crossover));
    }
    // Grouped convolutions run dense whatever the choice.
    let network = model.to_network(|name, _| choice[name].2)?;

    let mut layers = Vec::new();
    let orig_layers: HashMap<&str, &Layer> = original.graph.ops().filter_map(|l| Some((l.param_name()?, l))).collect();
    for op in &network.ops {
        let (name, weights, bias_len) = match op {
            crate::network::Op::Conv(c) => (&c.name, c.weights(), c.bias.len()),
            crate::network::Op::Linear(l) => (&l.name, l.weight.clone(), l.bias.len()),
            _ => continue,
        };
        let orig = orig_layers[name.as_str()];
        let original_shape = weight_shape(orig).expect("param layer");
        let compact_shape = model.weight(name).shape.clone();
        let numel: usize = compact_shape.iter().product();
        let (crossover, crossover_measured, _) = choice[name.as_str()];
        layers.push(LayerReport {
            name: name.clone(),
            op: orig.op_name().into(),
            nnz: weights.nnz(),
            density: weights.nnz() as f64 / numel.max(1) as f64,
            format: weights.format().into(),
            crossover,
            crossover_measured,
            original_bytes: 4 * (original_shape.iter().product::<usize>() + original_shape[0]),
            compact_bytes: weights.bytes() + 4 * bias_len,
            original_shape,
            compact_shape,
        });
    }
    let original_params = original.params.values().map(|t| t.numel()).sum();
    let compact_bn: usize = network.ops.iter().map(|op| match op {
        crate::network::Op::BatchNorm(b) => b.scale.len() * 2,
        _ => 0,
    }).sum();
    let (_, original_nonzero_weights) = original.weight_counts();
    let compact_stored_values = network
        .ops
        .iter()
        .map(|op| match op {
            crate::network::Op::Conv(c) => stored_values(&c.weights()) + c.bias.len(),
            crate::network::Op::Linear(l) => stored_values(&l.weight) + l.bias.len(),
            _ => 0,
        })
        .sum::<usize>()
        + compact_bn;
    let report = CompactReport {
        structure,
        original_params,
        original_nonzero_weights,
        compact_stored_values,
        original_param_bytes: 4 * original_params,
        compact_param_bytes: network.param_bytes(),
        layers,
    };
    Ok(Compacted {
        model,
        network,
        report,
    })
}

/// The pooling window after each convolution (by node index) that the network computes
/// together with it: the next node is a max pooling reading that convolution, its only reader.
fn pools_fed_only_by_convs(graph: &crate::graph::Graph, slots: &HashMap<&str, usize>) -> HashMap<usize, PoolWindow> {
    let mut readers = vec![0usize; graph.nodes.len() + 1];
    (0..graph.nodes.len()).flat_map(|i| graph.input_slots(slots, i)).for_each(|s| readers[s] += 1);
    readers[graph.output_slot()] += 1;
    let nodes: Vec<&Layer> = graph.ops().collect();
    (0..nodes.len().saturating_sub(1))
        .filter_map(|i| match (nodes[i], nodes[i + 1]) {
            (Layer::Conv2d { .. }, Layer::Maxpool2d { kernel, stride }) if graph.input_slots(slots, i + 1) == [i + 1] && readers[i + 1] == 1 => {
                Some((i, PoolWindow { kernel: *kernel, stride: stride.unwrap_or(*kernel) }))
            }
            _ => None,
        })
        .collect()
}

fn stored_values(w: &crate::network::Weights) -> usize {
    match w {
        crate::network::Weights::Dense(d) => d.data.len(),
        crate::network::Weights::Csr(c) => c.nnz(),
    }
}

/// Densities at which the kernels are timed.
const LADDER: [f64; 10] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8];

/// Measured crossovers by (layer shape, batch sizes), for the life of the process.
type CrossoverCache = Mutex<HashMap<(KernelShape, Vec<usize>), f64>>;

fn cache() -> &'static CrossoverCache {
    static C: OnceLock<CrossoverCache> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Measures the density below which CSR is faster than dense for this layer shape, as the
/// geometric mean of the time ratio over `batches` (cached per shape and batch list).
pub fn measure_crossover(shape: KernelShape, batches: &[usize]) -> f64 {
    let key = (shape, batches.to_vec());
    if let Some(&c) = cache().lock().expect("cache lock").get(&key) {
        return c;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let (rows, cols) = match shape {
        KernelShape::Linear { rows, cols } | KernelShape::SlicedLinear { rows, cols } => (rows, cols),
        KernelShape::Conv(g) | KernelShape::ConvPool { conv: g, .. } => (g.cout, g.k()),
    };
    let random = |rng: &mut ChaCha8Rng, d: f64| -> DenseMat {
        let data = (0..rows * cols)
            .map(|_| {
                if rng.random::<f64>() < d {
                    rng.random::<f32>() - 0.5
                } else {
                    0.0
                }
            })
            .collect();
        DenseMat::new(rows, cols, data)
    };
    let dense_w = random(&mut rng, 1.0);
    let inputs: Vec<(usize, Vec<f32>)> = batches
        .iter()
        .map(|&n| {
            let len = match shape {
                KernelShape::Linear { cols, .. } | KernelShape::SlicedLinear { cols, .. } => cols * n,
                KernelShape::Conv(g) | KernelShape::ConvPool { conv: g, .. } => g.cin * n * g.h * g.w,
            };
            (n, (0..len).map(|_| rng.random::<f32>() - 0.5).collect())
        })
        .collect();
    let dense = TimedLayer::new(shape, Weights::Dense(dense_w));
    let dense_times: Vec<f64> = inputs.iter().map(|(n, x)| dense.time(x, *n)).collect();
    let mut prev: Option<(f64, f64)> = None; // (density, log ratio)
    let mut crossover = 1.0;
    for &d in &LADDER {
        let csr = TimedLayer::new(shape, Weights::Csr(Csr::from_dense(&random(&mut rng, d))));
        let log_ratio = inputs
            .iter()
            .zip(&dense_times)
            .map(|((n, x), td)| (csr.time(x, *n) / td).ln())
            .sum::<f64>()
            / inputs.len().max(1) as f64;
        if log_ratio >= 0.0 {
            crossover = match prev {
                // Interpolate where the log ratio crosses zero.
                Some((d0, r0)) => d0 + (d - d0) * (-r0) / (log_ratio - r0),
                None => 0.0,
            };
            break;
        }
        prev = Some((d, log_ratio));
    }
    cache().lock().expect("cache lock").insert(key, crossover);
    crossover
}

/// A layer of one shape with one storage, built once (CSR taps decoded, weights in place) so
/// that only its kernel is timed: the product, the convolution, or the convolution fused with
/// its pooling at the batches that fuse.
enum TimedLayer {
    Linear { rows: usize, weight: Weights, sliced: Option<SlicedCsr> },
    Conv { op: ConvOp, pool: Option<PoolWindow> },
}

impl TimedLayer {
    fn new(shape: KernelShape, w: Weights) -> TimedLayer {
        let conv = |g: ConvGeom, pool| TimedLayer::Conv {
            op: ConvOp {
                name: String::new(),
                geom: g,
                groups: 1,
                weight: match &w {
                    Weights::Dense(d) => ConvWeights::Dense(d.clone()),
                    Weights::Csr(c) => ConvWeights::Sparse(SparseConv::new(g, c.clone())),
                },
                bias: vec![0.0; g.cout],
            },
            pool,
        };
        match shape {
            KernelShape::Linear { rows, .. } => TimedLayer::Linear { rows, weight: w.clone(), sliced: None },
            KernelShape::SlicedLinear { rows, .. } => {
                let sliced = match &w {
                    Weights::Csr(c) => SlicedCsr::from_csr(c),
                    Weights::Dense(_) => None,
                };
                TimedLayer::Linear { rows, weight: w.clone(), sliced }
            }
            KernelShape::Conv(g) => conv(g, None),
            KernelShape::ConvPool { conv: g, pool } => conv(g, Some(pool)),
        }
    }

    /// Median seconds per call at batch `n` (the output buffer allocated once, outside).
    fn time(&self, x: &[f32], n: usize) -> f64 {
        match self {
            TimedLayer::Linear { rows, sliced: Some(s), .. } if n == 1 => {
                let mut y = vec![0f32; *rows];
                time_median(|| s.matvec_acc(x, &mut y))
            }
            TimedLayer::Linear { rows, weight, .. } => {
                let mut y = vec![0f32; rows * n];
                time_median(|| weight.matmul_acc(x, n, &mut y))
            }
            TimedLayer::Conv { op, pool: Some(pool) } if fusable(op, *pool, n) => {
                time_median(|| drop(std::hint::black_box(conv_max_pool(op, *pool, x, n))))
            }
            TimedLayer::Conv { op, .. } => {
                let g = op.geom;
                let mut y = vec![0f32; g.cout * n * g.out_h() * g.out_w()];
                time_median(|| op.forward_acc(x, n, &mut y))
            }
        }
    }
}

/// Median wall time (seconds per call) of 5 samples, each long enough (≥ 1 ms) to time reliably.
fn time_median(mut f: impl FnMut()) -> f64 {
    f(); // warm-up: page in buffers, wake the pool
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((1e-3 / once).ceil() as usize).clamp(1, 1000);
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_is_measured_and_cached() {
        let s = KernelShape::Linear {
            rows: 64,
            cols: 128,
        };
        let c = measure_crossover(s, &[8]);
        assert!((0.0..=1.0).contains(&c), "{c}");
        // Sparse at 1% must beat dense on any sane machine.
        assert!(c > 0.01, "crossover {c}");
        let t = Instant::now();
        assert_eq!(measure_crossover(s, &[8]), c);
        assert!(
            t.elapsed().as_millis() < 5,
            "second call must hit the cache"
        );
    }
}
