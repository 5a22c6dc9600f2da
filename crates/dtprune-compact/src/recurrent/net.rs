//! A recurrent classifier's tensors ([`RecurrentModel`], the masked model as the trainer wrote
//! it) and its runnable form ([`RecurrentNet`], every matrix dense or CSR).

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use super::layer::RecurrentLayer;
use super::spec::RecurrentSpec;
use crate::dense::DenseMat;
use crate::error::{CompactError, Result};
use crate::network::{broadcast_bias, transpose, LinearOp, Weights};
use crate::sparse::Csr;
use crate::tensor_io::{SafetensorsFile, Tensor};

/// Spec plus every tensor it lists, masks applied (masked weights are exact zeros).
#[derive(Clone, Debug)]
pub struct RecurrentModel {
    pub spec: RecurrentSpec,
    pub params: BTreeMap<String, Tensor>,
}

/// Which matrix of a layer: the input or the hidden transform (stacked over the gates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    Input,
    Hidden,
}

impl Transform {
    pub fn field(self) -> &'static str {
        match self {
            Transform::Input => "input_transform",
            Transform::Hidden => "hidden_transform",
        }
    }
}

impl RecurrentModel {
    pub fn load(model: &Path, graph: &Path, masks: Option<&Path>) -> Result<RecurrentModel> {
        let spec = RecurrentSpec::load(graph)?;
        let file = SafetensorsFile::open(model)?;
        let masks = masks.map(SafetensorsFile::open).transpose()?;
        Self::from_file(spec, &file, masks.as_ref())
    }

    /// Every tensor `spec` lists, read from `file` with its shape checked (masks multiplied in).
    pub fn from_file(spec: RecurrentSpec, file: &SafetensorsFile, masks: Option<&SafetensorsFile>) -> Result<RecurrentModel> {
        let params = crate::tensor_io::read_masked(file, masks, &spec.param_shapes())?;
        Ok(RecurrentModel { spec, params })
    }

    /// A run directory's `model.safetensors` + `graph.json` (+ `masks.safetensors`).
    pub fn load_run(dir: &Path) -> Result<RecurrentModel> {
        let (model, graph, masks) = crate::model::run_files(dir)?;
        Self::load(&model, &graph, masks.as_deref())
    }

    /// Layer `l`'s transform with its gates stacked in order: `[G·H, cols]` and its bias.
    pub fn stacked(&self, l: usize, which: Transform) -> (DenseMat, Vec<f32>) {
        let layer = &self.spec.layers[l];
        let cols = match which {
            Transform::Input => layer.input_size,
            Transform::Hidden => layer.hidden_size,
        };
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for gate in self.spec.kind.gates() {
            let prefix = format!("{}.{gate}.{}", layer.name, which.field());
            w.extend_from_slice(&self.params[&format!("{prefix}.weight")].data);
            b.extend_from_slice(&self.params[&format!("{prefix}.bias")].data);
        }
        (DenseMat::new(self.spec.kind.num_gates() * layer.hidden_size, cols, w), b)
    }

    pub fn classifier(&self) -> (DenseMat, Vec<f32>) {
        let name = &self.spec.classifier;
        let w = &self.params[&format!("{name}.weight")];
        (DenseMat::new(w.shape[0], w.shape[1], w.data.clone()), self.params[&format!("{name}.bias")].data.clone())
    }

    /// Weights (not biases) and how many of them are nonzero.
    pub fn weight_counts(&self) -> (usize, usize) {
        self.params.iter().filter(|(k, _)| k.ends_with(".weight")).fold((0, 0), |(n, nz), (_, t)| (n + t.numel(), nz + t.data.iter().filter(|v| **v != 0.0).count()))
    }

    pub fn num_params(&self) -> usize {
        self.params.values().map(Tensor::numel).sum()
    }

    /// The runnable network; `use_csr(layer, transform, matrix)` picks each matrix's storage
    /// (`None` for the classifier).
    pub fn to_network(&self, mut use_csr: impl FnMut(&str, Option<Transform>, &DenseMat) -> bool) -> RecurrentNet {
        let mut store = |name: &str, t: Option<Transform>, m: DenseMat| if use_csr(name, t, &m) { Weights::Csr(Csr::from_dense(&m)) } else { Weights::Dense(m) };
        let layers = (0..self.spec.layers.len())
            .map(|l| {
                let name = self.spec.layers[l].name.clone();
                let (wi, bi) = self.stacked(l, Transform::Input);
                let (wh, bh) = self.stacked(l, Transform::Hidden);
                let (input, hidden) = (store(&name, Some(Transform::Input), wi), store(&name, Some(Transform::Hidden), wh));
                RecurrentLayer::new(name, self.spec.kind, self.spec.layers[l].hidden_size, input, hidden, bi, bh)
            })
            .collect();
        let (w, bias) = self.classifier();
        let classifier = LinearOp { name: self.spec.classifier.clone(), weight: store(&self.spec.classifier, None, w), bias };
        RecurrentNet { model: self.spec.model.clone(), frames: self.spec.frames, features: self.spec.features, layers, classifier }
    }

    /// The dense reference: every matrix dense, zeros and all.
    pub fn dense_network(&self) -> RecurrentNet {
        self.to_network(|_, _, _| false)
    }
}

/// A runnable recurrent classifier.
#[derive(Clone, Debug)]
pub struct RecurrentNet {
    pub model: String,
    pub frames: usize,
    pub features: usize,
    pub layers: Vec<RecurrentLayer>,
    pub classifier: LinearOp,
}

impl RecurrentNet {
    pub fn num_classes(&self) -> usize {
        self.classifier.weight.rows()
    }

    pub fn param_bytes(&self) -> usize {
        self.layers.iter().map(RecurrentLayer::param_bytes).sum::<usize>() + self.classifier.weight.bytes() + 4 * self.classifier.bias.len()
    }

    /// Logits `[n, classes]` of `x[n, frames, features]` (sample-major, padded) whose sequence
    /// i has `lengths[i]` valid frames (1..=frames): its output at its last valid frame, so
    /// padding never reaches the classifier. Steps run to the longest sequence only.
    pub fn forward(&self, x: &[f32], lengths: &[usize], n: usize) -> Result<Vec<f32>> {
        let (t_max, f) = (self.frames, self.features);
        if x.len() != n * t_max * f || lengths.len() != n {
            return Err(CompactError::Input(format!(
                "recurrent model `{}` takes [n, {t_max}, {f}] frames and n lengths; got {} values and {} lengths for n = {n}",
                self.model,
                x.len(),
                lengths.len()
            )));
        }
        if let Some((i, &l)) = lengths.iter().enumerate().find(|(_, &l)| l == 0 || l > t_max) {
            return Err(CompactError::Input(format!("sequence {i} has length {l}, outside 1..={t_max}")));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let steps = lengths.iter().copied().max().unwrap_or(1);
        // When every layer has sliced kernels, sequences run one by one (in parallel) rather
        // than as one batch through the CSR/dense products: on the FSDD LSTM and GRU that was
        // 2.4-2.8× faster at batch 32 and 1.6-3.3× at 128 and 1000 (BENCHMARKS.md), and each
        // sequence stops at its own length.
        if self.layers.iter().all(RecurrentLayer::runs_single) {
            return Ok(self.sequence_by_sequence(x, lengths));
        }
        // [n, T, F] → [F, steps·n], column t·n + b.
        let mut h = vec![0f32; f * steps * n];
        for b in 0..n {
            for t in 0..steps {
                let frame = &x[(b * t_max + t) * f..][..f];
                for (k, &v) in frame.iter().enumerate() {
                    h[k * steps * n + t * n + b] = v;
                }
            }
        }
        let last: Vec<usize> = lengths.iter().map(|l| l - 1).collect();
        for (i, layer) in self.layers.iter().enumerate() {
            let is_last = i + 1 == self.layers.len();
            h = layer.run(&h, steps, n, is_last.then_some(last.as_slice()));
        }
        let mut logits = broadcast_bias(&self.classifier.bias, n);
        self.classifier.weight.matmul_acc(&h, n, &mut logits);
        Ok(transpose(&logits, self.num_classes(), n))
    }

    /// Each sequence on its own through the sliced kernels, sample-major from end to end and
    /// only to its own length; sequences in parallel when there are several.
    fn sequence_by_sequence(&self, x: &[f32], lengths: &[usize]) -> Vec<f32> {
        let (per, k) = (self.frames * self.features, self.num_classes());
        let one = |(i, out): (usize, &mut [f32])| {
            let steps = lengths[i];
            let mut h = x[i * per..i * per + steps * self.features].to_vec();
            for (l, layer) in self.layers.iter().enumerate() {
                h = layer.run_single(&h, steps, (l + 1 == self.layers.len()).then_some(steps - 1));
            }
            out.copy_from_slice(&self.classifier.bias);
            self.classifier.weight.matmul_acc(&h, 1, out);
        };
        let mut logits = vec![0f32; lengths.len() * k];
        if lengths.len() > 1 {
            logits.par_chunks_mut(k).enumerate().for_each(one);
        } else {
            logits.chunks_mut(k).enumerate().for_each(one);
        }
        logits
    }

    /// [`Self::forward`] with every sequence `frames` long.
    pub fn forward_full(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        self.forward(x, &vec![self.frames; n], n)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::recurrent::cell::CellKind;
    use crate::recurrent::spec::LayerSpec;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random model: `sizes` hidden units per layer, about `density` of every weight nonzero.
    pub fn random_model(kind: CellKind, features: usize, sizes: &[usize], classes: usize, density: f64, seed: u64) -> RecurrentModel {
        let mut layers = Vec::new();
        let mut input = features;
        for (l, &h) in sizes.iter().enumerate() {
            layers.push(LayerSpec { name: format!("rnn.{l}"), input_size: input, hidden_size: h });
            input = h;
        }
        let spec = RecurrentSpec { model: kind.op().into(), kind, frames: 7, features, layers, classifier: "fc".into(), classes };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = spec
            .param_shapes()
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let data = (0..n).map(|_| if rng.random::<f64>() < density { rng.random::<f32>() * 1.6 - 0.8 } else { 0.0 }).collect();
                (name, Tensor::new(shape, data))
            })
            .collect();
        RecurrentModel { spec, params }
    }

    /// The textbook forward in f64, one sequence at a time, gate by gate from the named tensors.
    pub fn reference_forward(m: &RecurrentModel, x: &[f32], lengths: &[usize]) -> Vec<f64> {
        let spec = &m.spec;
        let (t_max, f) = (spec.frames, spec.features);
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let affine = |name: &str, v: &[f64]| -> Vec<f64> {
            let (w, b) = (&m.params[&format!("{name}.weight")], &m.params[&format!("{name}.bias")]);
            (0..w.shape[0]).map(|r| b.data[r] as f64 + (0..w.shape[1]).map(|c| w.data[r * w.shape[1] + c] as f64 * v[c]).sum::<f64>()).collect()
        };
        let mut out = Vec::new();
        for (b, &len) in lengths.iter().enumerate() {
            let mut seq: Vec<Vec<f64>> = (0..len).map(|t| x[(b * t_max + t) * f..][..f].iter().map(|&v| v as f64).collect()).collect();
            for layer in &spec.layers {
                let hsz = layer.hidden_size;
                let (mut h, mut c) = (vec![0f64; hsz], vec![0f64; hsz]);
                let mut next = Vec::new();
                for xt in &seq {
                    let gate = |g: &str, t: &str, v: &[f64]| affine(&format!("{}.{g}.{t}", layer.name), v);
                    let pre = |g: &str| -> (Vec<f64>, Vec<f64>) { (gate(g, "input_transform", xt), gate(g, "hidden_transform", &h)) };
                    match spec.kind {
                        CellKind::Lstm => {
                            let [(ix, ih), (fx, fh), (gx, gh), (ox, oh)] = ["input_gate", "forget_gate", "cell_gate", "output_gate"].map(pre);
                            for u in 0..hsz {
                                c[u] = sig(fx[u] + fh[u]) * c[u] + sig(ix[u] + ih[u]) * (gx[u] + gh[u]).tanh();
                            }
                            h = (0..hsz).map(|u| sig(ox[u] + oh[u]) * c[u].tanh()).collect();
                        }
                        CellKind::Gru => {
                            let [(rx, rh), (zx, zh), (nx, nh)] = ["reset_gate", "update_gate", "new_gate"].map(pre);
                            h = (0..hsz)
                                .map(|u| {
                                    let (r, z) = (sig(rx[u] + rh[u]), sig(zx[u] + zh[u]));
                                    (1.0 - z) * (nx[u] + r * nh[u]).tanh() + z * h[u]
                                })
                                .collect();
                        }
                    }
                    next.push(h.clone());
                }
                seq = next;
            }
            out.extend(affine(&spec.classifier, seq.last().unwrap()));
        }
        out
    }

    pub fn inputs(m: &RecurrentModel, n: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = (0..n * m.spec.frames * m.spec.features).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
        let lengths = (0..n).map(|i| if i == 0 { m.spec.frames } else { rng.random_range(1..=m.spec.frames) }).collect();
        (x, lengths)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::Transform;
    use crate::recurrent::cell::CellKind;

    fn close(got: &[f32], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((*g as f64 - w).abs() < tol, "logit {i}: {g} vs {w}");
        }
    }

    #[test]
    fn dense_and_csr_match_the_textbook_forward() {
        for kind in [CellKind::Lstm, CellKind::Gru] {
            let m = random_model(kind, 5, &[6, 4], 3, 0.5, 1);
            for n in [1, 3, 17] {
                let (x, lengths) = inputs(&m, n, 2);
                let want = reference_forward(&m, &x, &lengths);
                close(&m.dense_network().forward(&x, &lengths, n).unwrap(), &want, 2e-5);
                close(&m.to_network(|_, _, _| true).forward(&x, &lengths, n).unwrap(), &want, 2e-5);
                // Only the hidden transforms CSR: batch 1 takes the regrouping path with the
                // sliced hidden product.
                close(&m.to_network(|_, t, _| t == Some(Transform::Hidden)).forward(&x, &lengths, n).unwrap(), &want, 2e-5);
            }
            // One sequence shorter than the frames, through the sliced path end to end.
            let (x, _) = inputs(&m, 1, 3);
            let want = reference_forward(&m, &x, &[3]);
            close(&m.to_network(|_, _, _| true).forward(&x, &[3], 1).unwrap(), &want, 2e-5);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let net = random_model(CellKind::Gru, 3, &[2], 2, 1.0, 5).dense_network();
        let x = vec![0f32; 2 * 7 * 3];
        assert!(net.forward(&x, &[7], 2).unwrap_err().to_string().contains("1 lengths"));
        assert!(net.forward(&x[1..], &[7, 7], 2).unwrap_err().to_string().contains("41 values"));
        assert!(net.forward(&x, &[7, 0], 2).unwrap_err().to_string().contains("sequence 1 has length 0"));
        assert!(net.forward(&x, &[8, 1], 2).unwrap_err().to_string().contains("length 8"));
        assert_eq!(net.forward(&[], &[], 0).unwrap(), Vec::<f32>::new());
    }
}
