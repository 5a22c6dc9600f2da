//! Compaction of a Transformer classifier: dead heads, feed-forward neurons and residual
//! stream dimensions cut out, then every matrix stored dense or CSR by the measured crossover.
//!
//! A unit is dead, and removing it changes no output, when
//! * **head** h of a block: its value rows and biases are zero (its context is a weighted sum
//!   of zero vectors, whatever its queries and keys) or nothing reads it (its columns of the
//!   output projection are zero);
//! * **feed-forward neuron** u: its `ffn_in` row and bias are zero (GELU(0) = 0) or its
//!   `ffn_out` column is zero;
//! * **stream dimension** j: every writer leaves it zero (column j of both embedding tables,
//!   row j and bias j of every `attention_output` and `ffn_out`), so it stays exactly 0 and the
//!   norms count it through their original width; and at each norm either γ_j = β_j = 0 or
//!   every reader of that norm (query, key and value, `ffn_in`, the classifier) has column j
//!   zero, so its normalised value reaches nothing.
//!
//! Removing units can make others dead, so removal repeats to a fixpoint. A group keeps at
//! least one unit.

use serde::{Deserialize, Serialize};

use super::net::{TransformerModel, TransformerNet};
use crate::compact::{measure_crossover, CompactOptions, Crossover, KernelShape, LayerReport};
use crate::error::Result;
use crate::network::LinearOp;
use crate::tensor_io::Tensor;

pub use crate::compact::UnitReport;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerReport {
    pub units: Vec<UnitReport>,
    pub passes: usize,
    /// One row per matrix (`blocks.L.attention.qkv`, `…attention_output`, `…ffn_in`,
    /// `…ffn_out`, `fc`).
    pub matrices: Vec<LayerReport>,
    pub original_params: usize,
    pub original_nonzero_weights: usize,
    /// Values the compact network stores: tables, norms, biases, weights (nonzeros for CSR).
    pub compact_stored_values: usize,
    pub original_param_bytes: usize,
    pub compact_param_bytes: usize,
}

impl TransformerReport {
    pub fn removed_units(&self) -> usize {
        self.units.iter().map(|u| u.units_before - u.units_after).sum()
    }
}

#[derive(Clone, Debug)]
pub struct TransformerCompacted {
    /// The unit-reduced model, masked-dense tensors.
    pub model: TransformerModel,
    pub network: TransformerNet,
    pub report: TransformerReport,
}

/// Removed units in group order: per block its heads then its FFN neurons, then the stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    pub heads: Vec<Vec<usize>>,
    pub ffn: Vec<Vec<usize>>,
    pub stream: Vec<usize>,
}

impl Removal {
    fn is_empty(&self) -> bool {
        self.heads.iter().chain(&self.ffn).all(Vec::is_empty) && self.stream.is_empty()
    }
}

fn zero_rows(t: &Tensor, rows: std::ops::Range<usize>) -> bool {
    let c = t.shape[1];
    t.data[rows.start * c..rows.end * c].iter().all(|v| *v == 0.0)
}

fn zero_cols(t: &Tensor, cols: std::ops::Range<usize>) -> bool {
    t.data.chunks_exact(t.shape[1]).all(|row| row[cols.clone()].iter().all(|v| *v == 0.0))
}

/// Every dead unit by the rules of the module doc.
pub fn dead_units(model: &TransformerModel) -> Removal {
    let p = |name: String| &model.params[&name];
    let spec = &model.spec;
    let mut removal = Removal::default();
    for b in &spec.blocks {
        let n = &b.name;
        let hd = b.head_dim;
        removal.heads.push(
            (0..b.heads)
                .filter(|&h| {
                    let span = h * hd..(h + 1) * hd;
                    let silent = zero_rows(p(format!("{n}.attention.value.weight")), span.clone()) && p(format!("{n}.attention.value.bias")).data[span.clone()].iter().all(|v| *v == 0.0);
                    silent || zero_cols(p(format!("{n}.attention_output.weight")), span)
                })
                .collect(),
        );
        removal.ffn.push((0..b.ffn).filter(|&u| (zero_rows(p(format!("{n}.ffn_in.weight")), u..u + 1) && p(format!("{n}.ffn_in.bias")).data[u] == 0.0) || zero_cols(p(format!("{n}.ffn_out.weight")), u..u + 1)).collect());
    }
    // Each norm with the weights that read its output.
    let mut norms: Vec<(String, Vec<String>)> = Vec::new();
    for b in &spec.blocks {
        let n = &b.name;
        norms.push((format!("{n}.attention_norm"), ["query", "key", "value"].iter().map(|q| format!("{n}.attention.{q}.weight")).collect()));
        norms.push((format!("{n}.ffn_norm"), vec![format!("{n}.ffn_in.weight")]));
    }
    norms.push(("norm".into(), vec!["fc.weight".into()]));
    removal.stream = (0..spec.d_model)
        .filter(|&j| {
            let col = j..j + 1;
            let tables = ["token_embedding.weight", "position_embedding.weight"].iter().all(|t| zero_cols(p(t.to_string()), col.clone()));
            let writers = spec.blocks.iter().all(|b| {
                ["attention_output", "ffn_out"].iter().all(|w| zero_rows(p(format!("{}.{w}.weight", b.name)), col.clone()) && p(format!("{}.{w}.bias", b.name)).data[j] == 0.0)
            });
            let unseen = norms.iter().all(|(norm, readers)| (p(format!("{norm}.gamma")).data[j] == 0.0 && p(format!("{norm}.beta")).data[j] == 0.0) || readers.iter().all(|r| zero_cols(p(r.clone()), col.clone())));
            tables && writers && unseen
        })
        .collect();
    removal
}

/// `model` without the units of `removed`.
pub fn remove_units(model: &TransformerModel, removed: &Removal) -> TransformerModel {
    let mut out = model.clone();
    let mut edit = |name: String, f: &dyn Fn(&Tensor) -> Tensor| {
        let t = f(&out.params[&name]);
        out.params.insert(name, t);
    };
    for (b, spec) in model.spec.blocks.iter().enumerate() {
        let n = &spec.name;
        let rows: Vec<usize> = removed.heads[b].iter().flat_map(|&h| h * spec.head_dim..(h + 1) * spec.head_dim).collect();
        for q in ["query", "key", "value"] {
            edit(format!("{n}.attention.{q}.weight"), &|t| t.keep_rows(&rows));
            edit(format!("{n}.attention.{q}.bias"), &|t| t.keep_entries(&rows));
        }
        edit(format!("{n}.attention_output.weight"), &|t| t.keep_cols(&rows));
        let units = &removed.ffn[b];
        edit(format!("{n}.ffn_in.weight"), &|t| t.keep_rows(units));
        edit(format!("{n}.ffn_in.bias"), &|t| t.keep_entries(units));
        edit(format!("{n}.ffn_out.weight"), &|t| t.keep_cols(units));
    }
    let dims = &removed.stream;
    if !dims.is_empty() {
        for name in model.params.keys() {
            let (owner, tensor) = name.rsplit_once('.').unwrap_or((name, ""));
            let column_of = name.ends_with("_embedding.weight") || owner.ends_with(".query") || owner.ends_with(".key") || owner.ends_with(".value") || owner.ends_with(".ffn_in") || owner == "fc";
            let row_of = owner.ends_with(".attention_output") || owner.ends_with(".ffn_out");
            let entry_of = matches!(tensor, "gamma" | "beta");
            if column_of && tensor == "weight" {
                edit(name.clone(), &|t| t.keep_cols(dims));
            } else if row_of && tensor == "weight" {
                edit(name.clone(), &|t| t.keep_rows(dims));
            } else if (row_of && tensor == "bias") || entry_of {
                edit(name.clone(), &|t| t.keep_entries(dims));
            }
        }
    }
    for (b, spec) in out.spec.blocks.iter_mut().enumerate() {
        spec.heads -= removed.heads[b].len();
        spec.ffn -= removed.ffn[b].len();
    }
    out.spec.d_model -= dims.len();
    out
}

/// Removes dead units to a fixpoint (when `opts.remove_structure`), then builds the network
/// with each matrix's storage chosen by `opts.crossover`. A measured crossover times each
/// block matrix at `max_len` columns (one text of full length) and the classifier at one.
pub fn compact(original: &TransformerModel, opts: &CompactOptions) -> Result<TransformerCompacted> {
    let mut model = original.clone();
    let mut passes = 0;
    if opts.remove_structure {
        loop {
            let mut dead = dead_units(&model);
            for (units, b) in dead.heads.iter_mut().zip(&model.spec.blocks) {
                if units.len() == b.heads {
                    units.pop();
                }
            }
            for (units, b) in dead.ffn.iter_mut().zip(&model.spec.blocks) {
                if units.len() == b.ffn {
                    units.pop();
                }
            }
            if dead.stream.len() == model.spec.d_model {
                dead.stream.pop();
            }
            passes += 1;
            if dead.is_empty() {
                break;
            }
            model = remove_units(&model, &dead);
        }
    }
    let max_len = model.spec.max_len;
    let mut matrices = Vec::new();
    let network = model.to_network(|name, m| {
        let nnz = m.data.iter().filter(|v| **v != 0.0).count();
        let density = nnz as f64 / m.data.len().max(1) as f64;
        let (crossover, measured) = match &opts.crossover {
            Crossover::Fixed(d) => (*d, false),
            Crossover::Measure { .. } => {
                let cols = if name == "fc" { 1 } else { max_len };
                (measure_crossover(KernelShape::Linear { rows: m.rows, cols: m.cols }, &[cols]), true)
            }
        };
        let csr = density < crossover;
        matrices.push(LayerReport {
            name: name.to_string(),
            op: "linear".into(),
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
    let s = &original.spec;
    let shapes = s.blocks.iter().flat_map(|b| [vec![3 * b.attention_width(), s.d_model], vec![s.d_model, b.attention_width()], vec![b.ffn, s.d_model], vec![s.d_model, b.ffn]]).chain(std::iter::once(vec![s.classes, s.d_model]));
    for (m, shape) in matrices.iter_mut().zip(shapes) {
        m.original_bytes = 4 * shape.iter().product::<usize>();
        m.original_shape = shape;
    }
    let mut units = Vec::new();
    for (a, b) in original.spec.blocks.iter().zip(&model.spec.blocks) {
        units.push(UnitReport { group: format!("{}.heads", a.name), units_before: a.heads, units_after: b.heads });
        units.push(UnitReport { group: format!("{}.ffn", a.name), units_before: a.ffn, units_after: b.ffn });
    }
    units.push(UnitReport { group: "stream".into(), units_before: original.spec.d_model, units_after: model.spec.d_model });
    let stored = network.stored_values();
    let report = TransformerReport {
        units,
        passes,
        matrices,
        original_params: original.num_params(),
        original_nonzero_weights: original.weight_counts().1,
        compact_stored_values: stored,
        original_param_bytes: 4 * original.num_params(),
        compact_param_bytes: param_bytes(&network),
    };
    Ok(TransformerCompacted { model, network, report })
}

/// Bytes of every stored array (CSR matrices as their three arrays).
pub fn param_bytes(net: &TransformerNet) -> usize {
    let lin = |l: &LinearOp| l.weight.bytes() + 4 * l.bias.len();
    let norm = |n: &super::stream_norm::StreamNorm| 8 * n.gamma.len();
    4 * (net.token.len() + net.position.len()) + norm(&net.norm) + lin(&net.fc) + net.blocks.iter().map(|b| norm(&b.attention_norm) + norm(&b.ffn_norm) + lin(&b.qkv) + lin(&b.attention_output) + lin(&b.ffn_in) + lin(&b.ffn_out)).sum::<usize>()
}

