//! Compaction of a recurrent classifier: dead hidden units cut out of every gate, then each
//! stacked matrix stored dense or CSR by the measured crossover (as for the layer graphs).
//!
//! A hidden unit u of layer l is dead, and removing it changes no output, when either
//! * every gate's row u (input and hidden transform, both biases) is zero — what the structure
//!   policy leaves of a unit it removed: all its pre-activations are 0, so its state stays
//!   exactly 0 (LSTM: c = σ(0)·0 + σ(0)·tanh(0) = 0, h = σ(0)·tanh(0) = 0; GRU: n = tanh(0) = 0,
//!   h = ½·0 + ½·0 = 0), and a zero state contributes nothing to its readers; or
//! * nothing reads it: its column in every gate's hidden transform and in its reader (the next
//!   layer's input transforms, or the classifier) is zero.
//!
//! Removing units can make more of them dead (a unit of layer l+1 gone takes its input
//! columns with it), so removal repeats to a fixpoint. A layer keeps at least one unit.

use serde::{Deserialize, Serialize};

use super::net::{RecurrentModel, RecurrentNet, Transform};
use crate::compact::{measure_crossover, CompactOptions, Crossover, KernelShape, LayerReport};
use crate::error::Result;
use crate::network::Weights;
use crate::tensor_io::Tensor;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitReport {
    pub layer: String,
    pub units_before: usize,
    pub units_after: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecurrentReport {
    pub units: Vec<UnitReport>,
    pub passes: usize,
    /// One row per stacked matrix (`rnn.0.input_transform`, …) and the classifier.
    pub matrices: Vec<LayerReport>,
    pub original_params: usize,
    pub original_nonzero_weights: usize,
    /// Weights + biases the compact network stores (nonzeros for CSR matrices).
    pub compact_stored_values: usize,
    pub original_param_bytes: usize,
    pub compact_param_bytes: usize,
}

impl RecurrentReport {
    pub fn removed_units(&self) -> usize {
        self.units.iter().map(|u| u.units_before - u.units_after).sum()
    }
}

#[derive(Clone, Debug)]
pub struct RecurrentCompacted {
    /// The unit-reduced model, masked-dense tensors.
    pub model: RecurrentModel,
    pub network: RecurrentNet,
    pub report: RecurrentReport,
}

/// Per layer, the hidden units that are dead by either rule of the module doc.
pub fn dead_units(model: &RecurrentModel) -> Vec<Vec<usize>> {
    let spec = &model.spec;
    let zero_rows = |t: &Tensor, u: usize| t.data[u * t.shape[1]..(u + 1) * t.shape[1]].iter().all(|v| *v == 0.0);
    let zero_col = |t: &Tensor, u: usize| (0..t.shape[0]).all(|r| t.data[r * t.shape[1] + u] == 0.0);
    let p = |name: String| &model.params[&name];
    (0..spec.layers.len())
        .map(|l| {
            let layer = &spec.layers[l];
            (0..layer.hidden_size)
                .filter(|&u| {
                    let gate = |g: &str, t: Transform| format!("{}.{g}.{}", layer.name, t.field());
                    let silent = spec.kind.gates().iter().all(|g| {
                        [Transform::Input, Transform::Hidden].iter().all(|&t| zero_rows(p(format!("{}.weight", gate(g, t))), u) && p(format!("{}.bias", gate(g, t))).data[u] == 0.0)
                    });
                    let unread = spec.kind.gates().iter().all(|g| zero_col(p(format!("{}.weight", gate(g, Transform::Hidden))), u))
                        && match spec.layers.get(l + 1) {
                            Some(next) => spec.kind.gates().iter().all(|g| zero_col(p(format!("{}.{g}.input_transform.weight", next.name)), u)),
                            None => zero_col(p(format!("{}.weight", spec.classifier)), u),
                        };
                    silent || unread
                })
                .collect()
        })
        .collect()
}

/// `model` without the units `removed[l]` of each layer l (rows of its gates, columns of its
/// hidden transforms and of its reader).
pub fn remove_units(model: &RecurrentModel, removed: &[Vec<usize>]) -> RecurrentModel {
    let mut out = model.clone();
    let spec = &model.spec;
    let keep_rows = |t: &Tensor, drop: &[usize]| -> Tensor {
        let cols = t.shape[1];
        let rows: Vec<usize> = (0..t.shape[0]).filter(|r| !drop.contains(r)).collect();
        Tensor::new(vec![rows.len(), cols], rows.iter().flat_map(|&r| t.data[r * cols..(r + 1) * cols].iter().copied()).collect())
    };
    let keep_cols = |t: &Tensor, drop: &[usize]| -> Tensor {
        let cols: Vec<usize> = (0..t.shape[1]).filter(|c| !drop.contains(c)).collect();
        Tensor::new(vec![t.shape[0], cols.len()], (0..t.shape[0]).flat_map(|r| cols.iter().map(move |&c| (r, c))).map(|(r, c)| t.data[r * t.shape[1] + c]).collect())
    };
    let keep_bias = |t: &Tensor, drop: &[usize]| -> Tensor {
        let v: Vec<f32> = t.data.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, v)| *v).collect();
        Tensor::new(vec![v.len()], v)
    };
    for (l, drop) in removed.iter().enumerate().filter(|(_, d)| !d.is_empty()) {
        let name = &spec.layers[l].name;
        for g in spec.kind.gates() {
            for t in [Transform::Input, Transform::Hidden] {
                let (w, b) = (format!("{name}.{g}.{}.weight", t.field()), format!("{name}.{g}.{}.bias", t.field()));
                let mut wt = keep_rows(&out.params[&w], drop);
                if t == Transform::Hidden {
                    wt = keep_cols(&wt, drop);
                }
                out.params.insert(w, wt);
                let bt = keep_bias(&out.params[&b], drop);
                out.params.insert(b, bt);
            }
        }
        let readers: Vec<String> = match spec.layers.get(l + 1) {
            Some(next) => spec.kind.gates().iter().map(|g| format!("{}.{g}.input_transform.weight", next.name)).collect(),
            None => vec![format!("{}.weight", spec.classifier)],
        };
        for r in readers {
            let t = keep_cols(&out.params[&r], drop);
            out.params.insert(r, t);
        }
        out.spec.layers[l].hidden_size -= drop.len();
        if let Some(next) = out.spec.layers.get_mut(l + 1) {
            next.input_size -= drop.len();
        }
    }
    out
}

/// Removes dead units to a fixpoint (when `opts.remove_structure`), then builds the network
/// with each matrix's storage chosen by `opts.crossover`.
pub fn compact(original: &RecurrentModel, opts: &CompactOptions) -> Result<RecurrentCompacted> {
    let mut model = original.clone();
    let mut passes = 0;
    if opts.remove_structure {
        loop {
            let mut dead = dead_units(&model);
            for (units, layer) in dead.iter_mut().zip(&model.spec.layers) {
                if units.len() == layer.hidden_size {
                    units.pop();
                }
            }
            passes += 1;
            if dead.iter().all(Vec::is_empty) {
                break;
            }
            model = remove_units(&model, &dead);
        }
    }
    let frames = model.spec.frames;
    let mut matrices = Vec::new();
    let network = model.to_network(|layer, transform, m| {
        let density = m.data.iter().filter(|v| **v != 0.0).count() as f64 / m.data.len().max(1) as f64;
        let (crossover, measured) = match &opts.crossover {
            Crossover::Fixed(d) => (*d, false),
            // Timed as it runs: a batch of B > 1 sequences multiplies the input transform once
            // over all steps (B·frames columns); a single sequence takes one column per step;
            // a gate matrix of few columns runs its CSR form through the sliced kernel at
            // batch 1.
            Crossover::Measure { batches } => {
                let per = if transform == Some(Transform::Input) { frames } else { 1 };
                let cols: Vec<usize> = batches.iter().map(|&b| if b == 1 { 1 } else { b * per }).collect();
                let shape = if transform.is_some() && m.cols <= crate::sliced::MAX_COLS {
                    KernelShape::SlicedLinear { rows: m.rows, cols: m.cols }
                } else {
                    KernelShape::Linear { rows: m.rows, cols: m.cols }
                };
                (measure_crossover(shape, &cols), true)
            }
        };
        let csr = density < crossover;
        let name = match transform {
            Some(t) => format!("{layer}.{}", t.field()),
            None => layer.to_string(),
        };
        let nnz = (density * m.data.len() as f64).round() as usize;
        matrices.push(LayerReport {
            name,
            op: if transform.is_some() { original.spec.kind.op().into() } else { "linear".into() },
            original_shape: vec![],
            compact_shape: vec![m.rows, m.cols],
            nnz,
            density,
            format: if csr { "csr".into() } else { "dense".into() },
            crossover,
            crossover_measured: measured,
            original_bytes: 0,
            compact_bytes: if csr { 4 * (m.rows + 1 + 2 * nnz) } else { 4 * m.data.len() },
        });
        csr
    });
    // The shapes before removal, in the order `to_network` stores the matrices.
    let (spec, g) = (&original.spec, original.spec.kind.num_gates());
    let original_shapes = spec
        .layers
        .iter()
        .flat_map(|l| [vec![g * l.hidden_size, l.input_size], vec![g * l.hidden_size, l.hidden_size]])
        .chain(std::iter::once(vec![spec.classes, spec.layers.last().map_or(0, |l| l.hidden_size)]));
    for (m, shape) in matrices.iter_mut().zip(original_shapes) {
        m.original_bytes = 4 * shape.iter().product::<usize>();
        m.original_shape = shape;
    }
    let units = original.spec.layers.iter().zip(&model.spec.layers).map(|(a, b)| UnitReport { layer: a.name.clone(), units_before: a.hidden_size, units_after: b.hidden_size }).collect();
    let biases: usize = network.layers.iter().map(|l| l.input_bias.len() + l.hidden_bias.len()).sum::<usize>() + network.classifier.bias.len();
    let stored: usize = network.layers.iter().map(|l| stored_values(&l.input_weights) + stored_values(&l.hidden_weights)).sum::<usize>() + stored_values(&network.classifier.weight) + biases;
    let report = RecurrentReport {
        units,
        passes,
        matrices,
        original_params: original.num_params(),
        original_nonzero_weights: original.weight_counts().1,
        compact_stored_values: stored,
        original_param_bytes: 4 * original.num_params(),
        compact_param_bytes: network.param_bytes(),
    };
    Ok(RecurrentCompacted { model, network, report })
}

fn stored_values(w: &Weights) -> usize {
    match w {
        Weights::Dense(d) => d.data.len(),
        Weights::Csr(c) => c.nnz(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrent::cell::CellKind;
    use crate::recurrent::net::test_support::{inputs, random_model, reference_forward};

    /// Zeroes unit u of layer l the way the structure policy's mask does: every gate's rows
    /// and both biases.
    fn silence(m: &mut RecurrentModel, l: usize, u: usize) {
        let name = m.spec.layers[l].name.clone();
        for g in m.spec.kind.gates() {
            for t in [Transform::Input, Transform::Hidden] {
                let w = m.params.get_mut(&format!("{name}.{g}.{}.weight", t.field())).unwrap();
                let cols = w.shape[1];
                w.data[u * cols..(u + 1) * cols].fill(0.0);
                m.params.get_mut(&format!("{name}.{g}.{}.bias", t.field())).unwrap().data[u] = 0.0;
            }
        }
    }

    fn fixed() -> CompactOptions {
        CompactOptions { crossover: Crossover::Fixed(0.6), remove_structure: true }
    }

    #[test]
    fn cutting_silent_units_keeps_the_outputs() {
        for kind in [CellKind::Lstm, CellKind::Gru] {
            let mut m = random_model(kind, 5, &[6, 5], 3, 0.8, 7);
            for (l, u) in [(0, 1), (0, 4), (1, 0), (1, 3)] {
                silence(&mut m, l, u);
            }
            let (x, lengths) = inputs(&m, 9, 8);
            let before = m.dense_network().forward(&x, &lengths, 9).unwrap();
            let c = compact(&m, &fixed()).unwrap();
            let sizes: Vec<usize> = c.report.units.iter().map(|u| u.units_after).collect();
            assert_eq!(sizes, vec![4, 3], "{kind:?}");
            assert_eq!(c.report.removed_units(), 4);
            // The compact model against the textbook forward of the *original* tensors.
            let want = reference_forward(&m, &x, &lengths);
            let got = c.network.forward(&x, &lengths, 9).unwrap();
            for (i, ((g, w), b)) in got.iter().zip(&want).zip(&before).enumerate() {
                assert!((*g as f64 - w).abs() < 2e-5 && (g - b).abs() < 2e-5, "{kind:?} logit {i}: {g} vs {w} / {b}");
            }
            // 4 matrices of 2 layers + the classifier, each with its storage recorded.
            assert_eq!(c.report.matrices.len(), 5);
            assert_eq!(c.report.matrices[1].original_shape, vec![kind.num_gates() * 6, 6]);
            assert_eq!(c.report.matrices[1].compact_shape, vec![kind.num_gates() * 4, 4]);
            assert!(c.report.compact_param_bytes < c.report.original_param_bytes);
        }
    }

    #[test]
    fn unread_units_go_and_removal_reaches_a_fixpoint() {
        let mut m = random_model(CellKind::Lstm, 3, &[4, 3], 2, 1.0, 9);
        // Layer 1's unit 2 is read by nothing (its hidden column and classifier column are
        // zero) but itself reads layer 0's unit 3, whose other readers' columns are zero: that
        // unit is dead only once layer 1's unit 2 is gone.
        for g in m.spec.kind.gates() {
            let w = m.params.get_mut(&format!("rnn.1.{g}.hidden_transform.weight")).unwrap();
            (0..3).for_each(|r| w.data[r * 3 + 2] = 0.0);
            let w = m.params.get_mut(&format!("rnn.0.{g}.hidden_transform.weight")).unwrap();
            (0..4).for_each(|r| w.data[r * 4 + 3] = 0.0);
            let w = m.params.get_mut(&format!("rnn.1.{g}.input_transform.weight")).unwrap();
            (0..2).for_each(|r| w.data[r * 4 + 3] = 0.0);
        }
        let fc = m.params.get_mut("fc.weight").unwrap();
        (0..2).for_each(|r| fc.data[r * 3 + 2] = 0.0);
        assert_eq!(dead_units(&m), vec![vec![], vec![2]]);
        let c = compact(&m, &fixed()).unwrap();
        assert_eq!(c.report.units.iter().map(|u| u.units_after).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(c.report.passes, 3);
        let (x, lengths) = inputs(&m, 4, 1);
        let want = reference_forward(&m, &x, &lengths);
        for (g, w) in c.network.forward(&x, &lengths, 4).unwrap().iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 2e-5, "{g} vs {w}");
        }
    }

    #[test]
    fn a_layer_keeps_one_unit_and_storage_follows_the_crossover() {
        let mut m = random_model(CellKind::Gru, 3, &[2], 2, 1.0, 11);
        silence(&mut m, 0, 0);
        silence(&mut m, 0, 1);
        let c = compact(&m, &fixed()).unwrap();
        assert_eq!(c.report.units[0].units_after, 1);
        // Silenced to 1 unit: its rows are zero, so every gate matrix is all-zero: CSR below
        // the fixed 0.6; the classifier is dense (density 1).
        let formats: Vec<&str> = c.report.matrices.iter().map(|m| m.format.as_str()).collect();
        assert_eq!(formats, vec!["csr", "csr", "dense"]);
        let none = compact(&m, &CompactOptions { crossover: Crossover::Fixed(0.0), remove_structure: false }).unwrap();
        assert_eq!(none.report.units[0].units_after, 2);
        assert!(none.report.matrices.iter().all(|m| m.format == "dense"));
    }
}
