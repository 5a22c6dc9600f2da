//! A Transformer classifier's tensors ([`TransformerModel`], the masked model as the trainer
//! wrote it) and its runnable form ([`TransformerNet`]: each block's query, key and value
//! matrices stacked into one product, every matrix dense or CSR).
//!
//! Activations are `[features, positions]` row-major, one column per token, so every linear
//! layer is the crate's `Y[rows, n] += W · X[cols, n]` with `n` the text's length. Only a text's
//! real tokens are computed: padding is masked out of every key and out of the mean pool, so
//! it changes no output.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::spec::TransformerSpec;
use super::stream_norm::StreamNorm;
use super::{attention, gelu};
use crate::dense::DenseMat;
use crate::error::{CompactError, Result};
use crate::network::{broadcast_bias, LinearOp, Weights};
use crate::sparse::Csr;
use crate::tensor_io::{read_masked, SafetensorsFile, Tensor};

/// Spec plus every tensor it lists, masks applied (masked weights are exact zeros).
#[derive(Clone, Debug)]
pub struct TransformerModel {
    pub spec: TransformerSpec,
    pub params: BTreeMap<String, Tensor>,
}

impl TransformerModel {
    pub fn load(model: &Path, graph: &Path, masks: Option<&Path>) -> Result<TransformerModel> {
        let spec = TransformerSpec::load(graph)?;
        let file = SafetensorsFile::open(model)?;
        let masks = masks.map(SafetensorsFile::open).transpose()?;
        Self::from_file(spec, &file, masks.as_ref())
    }

    pub fn from_file(spec: TransformerSpec, file: &SafetensorsFile, masks: Option<&SafetensorsFile>) -> Result<TransformerModel> {
        let params = read_masked(file, masks, &spec.param_shapes())?;
        Ok(TransformerModel { spec, params })
    }

    /// A run directory's `model.safetensors` + `graph.json` (+ `masks.safetensors`).
    pub fn load_run(dir: &Path) -> Result<TransformerModel> {
        let (model, graph, masks) = crate::model::run_files(dir)?;
        Self::load(&model, &graph, masks.as_deref())
    }

    fn matrix(&self, name: &str) -> DenseMat {
        let t = &self.params[&format!("{name}.weight")];
        DenseMat::new(t.shape[0], t.shape[1], t.data.clone())
    }

    fn vector(&self, name: &str) -> Vec<f32> {
        self.params[name].data.clone()
    }

    fn norm(&self, name: &str) -> StreamNorm {
        StreamNorm { gamma: self.vector(&format!("{name}.gamma")), beta: self.vector(&format!("{name}.beta")), width: self.spec.norm_width, eps: self.spec.norm_eps as f32 }
    }

    /// Block `b`'s query, key and value weights stacked `[3·A, d]` (in that order) and biases.
    pub fn qkv(&self, b: usize) -> (DenseMat, Vec<f32>) {
        let name = &self.spec.blocks[b].name;
        let (mut w, mut bias) = (Vec::new(), Vec::new());
        for p in ["query", "key", "value"] {
            w.extend_from_slice(&self.params[&format!("{name}.attention.{p}.weight")].data);
            bias.extend_from_slice(&self.params[&format!("{name}.attention.{p}.bias")].data);
        }
        (DenseMat::new(3 * self.spec.blocks[b].attention_width(), self.spec.d_model, w), bias)
    }

    /// The runnable network; `use_csr(name, matrix)` picks each matrix's storage (`name` is the
    /// tensor prefix, `blocks.L.attention.qkv` for the stacked projection).
    pub fn to_network(&self, mut use_csr: impl FnMut(&str, &DenseMat) -> bool) -> TransformerNet {
        let mut linear = |name: String, (w, bias): (DenseMat, Vec<f32>)| {
            let weight = if use_csr(&name, &w) { Weights::Csr(Csr::from_dense(&w)) } else { Weights::Dense(w) };
            LinearOp { name, weight, bias }
        };
        let blocks = self
            .spec
            .blocks
            .iter()
            .enumerate()
            .map(|(b, s)| {
                let n = &s.name;
                let own = |l: &str| (self.matrix(&format!("{n}.{l}")), self.vector(&format!("{n}.{l}.bias")));
                Block {
                    name: n.clone(),
                    heads: s.heads,
                    head_dim: s.head_dim,
                    attention_norm: self.norm(&format!("{n}.attention_norm")),
                    qkv: linear(format!("{n}.attention.qkv"), self.qkv(b)),
                    attention_output: linear(format!("{n}.attention_output"), own("attention_output")),
                    ffn_norm: self.norm(&format!("{n}.ffn_norm")),
                    ffn_in: linear(format!("{n}.ffn_in"), own("ffn_in")),
                    ffn_out: linear(format!("{n}.ffn_out"), own("ffn_out")),
                }
            })
            .collect();
        TransformerNet {
            model: self.spec.model.clone(),
            max_len: self.spec.max_len,
            vocab: self.spec.vocab,
            d_model: self.spec.d_model,
            token: self.vector("token_embedding.weight"),
            position: self.vector("position_embedding.weight"),
            blocks,
            norm: self.norm("norm"),
            fc: linear("fc".into(), (self.matrix("fc"), self.vector("fc.bias"))),
        }
    }

    /// The dense reference: every matrix dense, zeros and all.
    pub fn dense_network(&self) -> TransformerNet {
        self.to_network(|_, _| false)
    }

    /// Weights (matrices and embedding tables, not biases or norms) and how many are nonzero.
    pub fn weight_counts(&self) -> (usize, usize) {
        self.params.iter().filter(|(k, _)| k.ends_with(".weight")).fold((0, 0), |(n, nz), (_, t)| (n + t.numel(), nz + t.data.iter().filter(|v| **v != 0.0).count()))
    }

    pub fn num_params(&self) -> usize {
        self.params.values().map(Tensor::numel).sum()
    }
}

/// One pre-norm encoder block, runnable.
#[derive(Clone, Debug)]
pub struct Block {
    pub name: String,
    pub heads: usize,
    pub head_dim: usize,
    pub attention_norm: StreamNorm,
    /// Query, key and value projections stacked: `[3·heads·head_dim, d_model]`.
    pub qkv: LinearOp,
    pub attention_output: LinearOp,
    pub ffn_norm: StreamNorm,
    pub ffn_in: LinearOp,
    pub ffn_out: LinearOp,
}

/// `op.bias + op.weight · x` for `x[cols_in, n]`.
fn linear(op: &LinearOp, x: &[f32], n: usize) -> Vec<f32> {
    let mut y = broadcast_bias(&op.bias, n);
    op.weight.matmul_acc(x, n, &mut y);
    y
}

impl Block {
    /// The block on the stream `x[d, t]`, in place.
    fn forward(&self, x: &mut [f32], t: usize) {
        let mut normed = vec![0f32; x.len()];
        self.attention_norm.forward(x, t, &mut normed);
        let qkv = linear(&self.qkv, &normed, t);
        let mut context = vec![0f32; self.heads * self.head_dim * t];
        attention::forward(&qkv, self.heads, self.head_dim, t, &mut context);
        let out = linear(&self.attention_output, &context, t);
        x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
        self.ffn_norm.forward(x, t, &mut normed);
        let mut hidden = linear(&self.ffn_in, &normed, t);
        gelu::forward(&mut hidden);
        let out = linear(&self.ffn_out, &hidden, t);
        x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
    }
}

/// A runnable Transformer classifier.
#[derive(Clone, Debug)]
pub struct TransformerNet {
    pub model: String,
    pub max_len: usize,
    pub vocab: usize,
    pub d_model: usize,
    /// `[vocab, d_model]` and `[max_len, d_model]`, row per token / position.
    pub token: Vec<f32>,
    pub position: Vec<f32>,
    pub blocks: Vec<Block>,
    pub norm: StreamNorm,
    pub fc: LinearOp,
}

impl TransformerNet {
    pub fn num_classes(&self) -> usize {
        self.fc.weight.rows()
    }

    /// Weights + biases + norms + tables the network stores (nonzeros for CSR matrices).
    pub fn stored_values(&self) -> usize {
        let lin = |l: &LinearOp| match &l.weight {
            Weights::Dense(d) => d.data.len(),
            Weights::Csr(c) => c.nnz(),
        } + l.bias.len();
        let norm = |n: &StreamNorm| 2 * n.gamma.len();
        self.token.len() + self.position.len() + norm(&self.norm) + lin(&self.fc) + self.blocks.iter().map(|b| norm(&b.attention_norm) + norm(&b.ffn_norm) + lin(&b.qkv) + lin(&b.attention_output) + lin(&b.ffn_in) + lin(&b.ffn_out)).sum::<usize>()
    }

    /// Logits `[n, classes]` of `n` texts: `ids[n, max_len]` token ids (padding after each
    /// text's `lengths[i]` real tokens, ignored). A text of length 0 is read as its first
    /// position alone, as the trainer does.
    pub fn forward(&self, ids: &[u32], lengths: &[usize], n: usize) -> Result<Vec<f32>> {
        if ids.len() != n * self.max_len || lengths.len() != n {
            return Err(CompactError::Input(format!("{n} texts need {} token ids and {n} lengths, got {} and {}", n * self.max_len, ids.len(), lengths.len())));
        }
        if let Some((i, &l)) = lengths.iter().enumerate().find(|(_, &l)| l > self.max_len) {
            return Err(CompactError::Input(format!("text {i} has {l} tokens; the model reads at most {}", self.max_len)));
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab) {
            return Err(CompactError::Input(format!("token id {id} is outside the vocabulary of {}", self.vocab)));
        }
        let text = |i: usize| &ids[i * self.max_len..i * self.max_len + lengths[i].max(1)];
        let rows: Vec<Vec<f32>> = if n > 1 { (0..n).into_par_iter().map(|i| self.forward_text(text(i))).collect() } else { (0..n).map(|i| self.forward_text(text(i))).collect() };
        Ok(rows.concat())
    }

    /// The logits of one text given as its real tokens (at least one).
    pub fn forward_text(&self, tokens: &[u32]) -> Vec<f32> {
        let (t, d) = (tokens.len(), self.d_model);
        let mut x = vec![0f32; d * t];
        for (p, &id) in tokens.iter().enumerate() {
            let (row, pos) = (&self.token[id as usize * d..(id as usize + 1) * d], &self.position[p * d..(p + 1) * d]);
            for j in 0..d {
                x[j * t + p] = row[j] + pos[j];
            }
        }
        for block in &self.blocks {
            block.forward(&mut x, t);
        }
        let mut normed = vec![0f32; x.len()];
        self.norm.forward(&x, t, &mut normed);
        let inv = 1.0 / t as f32;
        let pooled: Vec<f32> = normed.chunks_exact(t).map(|r| r.iter().sum::<f32>() * inv).collect();
        linear(&self.fc, &pooled, 1)
    }
}
