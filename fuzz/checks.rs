//! What each fuzz target without Burn does with one input (`checks_train.rs`: the two that
//! need the trainer), shared by the targets (`fuzz_targets/*.rs`) and
//! the regression test of the main workspace (`crates/dtprune-cli/tests/fuzz_regressions.rs`),
//! which replays every kept corpus entry and crash through the same code. Each function must
//! return (an input accepted or refused with an error) — any panic is a finding.

#![allow(dead_code)]

use dtprune_compact::tensor_io::SafetensorsFile;
use dtprune_compact::{compact, compact_network, CompactJson, CompactOptions, Crossover, DenseModel, Graph};
use std::path::Path;

/// Model inputs larger than this many floats are loaded but not run (a fuzzed graph may
/// declare any size; running it would only measure memory).
const MAX_RUN_FLOATS: usize = 1 << 16;

/// The IDX reader: raw or gzip bytes, as images and as labels.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz-input-idx3-ubyte.gz");
    let Ok(bytes) = dtprune_data::idx::decode_maybe_gzip(path, data.to_vec()) else { return };
    if let Ok(images) = dtprune_data::idx::parse_idx_images(path, bytes.clone()) {
        assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
    }
    if let Ok(labels) = dtprune_data::idx::parse_idx_labels(path, bytes) {
        let _ = dtprune_data::idx::check_labels(path, &labels, 10);
    }
}

/// The safetensors loaders of the deployment side: the compact crate's validating reader
/// (every tensor read as F32 and as numbers) and `prune-weights`' memory-mapped reader.
pub fn safetensors(data: &[u8]) {
    let path = Path::new("fuzz.safetensors");
    if let Ok(file) = SafetensorsFile::from_bytes(path, data.to_vec()) {
        for (name, e) in &file.entries {
            let _ = file.f32(name, None);
            let _ = file.as_f64(name);
            assert_eq!(file.raw(name).map(<[u8]>::len), Some(e.range.len()));
        }
    }
    mapped(data);
}

/// `MappedCheckpoint` maps a file, so the input goes through one in the temp folder.
fn mapped(data: &[u8]) {
    let p = std::env::temp_dir().join(format!("dtprune-fuzz-{}-{:?}.safetensors", std::process::id(), std::thread::current().id()));
    std::fs::write(&p, data).expect("write the input to a file");
    if let Ok(m) = dtprune_weights::mapped::MappedCheckpoint::open(&p) {
        for e in m.entries() {
            assert!(e.bytes.start <= e.bytes.end && e.bytes.end <= data.len());
            let mut seen = 0;
            m.for_each_chunk(e.bytes.clone(), |c| seen += c.len());
            assert_eq!(seen, e.bytes.len());
            let _ = (e.numel(), e.float_kind());
        }
    }
    let _ = std::fs::remove_file(&p);
}

/// `[json length: u16 LE] json [safetensors]`.
fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = u16::from_le_bytes([*data.first()?, *data.get(1)?]) as usize;
    let rest = &data[2..];
    (n <= rest.len()).then(|| rest.split_at(n))
}

/// `graph.json` + `model.safetensors` (its tensors also used as masks) as `dtprune compact`,
/// `eval` and `bench` load them, from `[json length: u16 LE] json [safetensors]`: a graph and
/// tensors that need not agree. A model that loads is compacted and run once.
pub fn graph_model(data: &[u8]) {
    let Some((json, tensors)) = split(data) else { return };
    let Ok(text) = std::str::from_utf8(json) else { return };
    let Ok(graph) = Graph::from_json_str(text, Path::new("graph.json")) else { return };
    let Ok(file) = SafetensorsFile::from_bytes(Path::new("model.safetensors"), tensors.to_vec()) else { return };
    let Ok(model) = DenseModel::from_file(graph, &file, Some(&file)) else { return };
    let Ok(shapes) = model.graph.shapes() else { return };
    if shapes.iter().any(|s| s.numel() > MAX_RUN_FLOATS) {
        return;
    }
    if let Ok(net) = model.dense_network() {
        run_batches(&net, shapes[0].numel(), 0.5);
    }
    let opts = CompactOptions { crossover: Crossover::Fixed(0.5), remove_structure: true };
    if let Ok(c) = compact(&model, &opts) {
        run_batches(&c.network, shapes[0].numel(), 0.5);
    }
}

/// A recurrent run's `graph.json` + `model.safetensors` (its tensors also the masks), from
/// `[json length: u16 LE] json [safetensors]`: the spec reader, the tensor checks, the dense
/// and the compact network (dead units cut out, CSR and sliced kernels), each run on one
/// sequence and on three of different lengths, and the ONNX writer.
pub fn recurrent_model(data: &[u8]) {
    use dtprune_compact::recurrent::{compact as compact_recurrent, RecurrentModel, RecurrentSpec};
    let Some((json, tensors)) = split(data) else { return };
    let Ok(text) = std::str::from_utf8(json) else { return };
    let Ok(spec) = RecurrentSpec::from_json_str(text, Path::new("graph.json")) else { return };
    let Ok(file) = SafetensorsFile::from_bytes(Path::new("model.safetensors"), tensors.to_vec()) else { return };
    let Ok(model) = RecurrentModel::from_file(spec, &file, Some(&file)) else { return };
    let (t, f) = (model.spec.frames, model.spec.features);
    let work: usize = model.spec.layers.iter().map(|l| l.hidden_size * (l.input_size + l.hidden_size)).sum();
    if t * f * 3 > MAX_RUN_FLOATS || work * t > 64 * MAX_RUN_FLOATS {
        return;
    }
    let run = |net: &dtprune_compact::recurrent::RecurrentNet| {
        let x = vec![0.5f32; 3 * t * f];
        let one = net.forward(&x[..t * f], &[t], 1).expect("a valid single sequence runs");
        assert_eq!(one.len(), net.num_classes());
        let lengths = [t, 1, t.div_ceil(2)];
        assert_eq!(net.forward(&x, &lengths, 3).expect("valid sequences run").len(), 3 * net.num_classes());
        let _ = dtprune_compact::recurrent::onnx::to_onnx(net, dtprune_compact::onnx::Variant::Dense);
    };
    run(&model.dense_network());
    let opts = CompactOptions { crossover: Crossover::Fixed(0.5), remove_structure: true };
    if let Ok(c) = compact_recurrent(&model, &opts) {
        run(&c.network);
    }
}

/// A Transformer run's `graph.json` + `model.safetensors` (its tensors also the masks), from
/// `[json length: u16 LE] json [safetensors]`: the spec reader, the tensor checks, the dense
/// and the compact network (dead heads, neurons and stream dimensions cut out, CSR kernels),
/// each run on one text and on three of different lengths (one empty), and the ONNX writer.
pub fn transformer_model(data: &[u8]) {
    use dtprune_compact::transformer::{compact as compact_transformer, TransformerModel, TransformerNet, TransformerSpec};
    let Some((json, tensors)) = split(data) else { return };
    let Ok(text) = std::str::from_utf8(json) else { return };
    let Ok(spec) = TransformerSpec::from_json_str(text, Path::new("graph.json")) else { return };
    let Ok(file) = SafetensorsFile::from_bytes(Path::new("model.safetensors"), tensors.to_vec()) else { return };
    let Ok(model) = TransformerModel::from_file(spec, &file, Some(&file)) else { return };
    let (t, d) = (model.spec.max_len, model.spec.d_model);
    let work: usize = model.spec.blocks.iter().map(|b| d * (4 * b.heads * b.head_dim + 2 * b.ffn) + b.heads * t * t).sum();
    if 3 * t > MAX_RUN_FLOATS || work * t > 64 * MAX_RUN_FLOATS {
        return;
    }
    let run = |net: &TransformerNet| {
        let vocab = net.vocab as u32;
        let ids: Vec<u32> = (0..3 * t as u32).map(|i| i % vocab).collect();
        let one = net.forward(&ids[..t], &[t], 1).expect("a valid single text runs");
        assert_eq!(one.len(), net.num_classes());
        let lengths = [t, 0, t.div_ceil(2)];
        assert_eq!(net.forward(&ids, &lengths, 3).expect("valid texts run").len(), 3 * net.num_classes());
        assert!(net.forward(&ids[..t], &[t + 1], 1).is_err(), "a text longer than max_len is refused");
        let _ = dtprune_compact::transformer::onnx::to_onnx(net, dtprune_compact::onnx::Variant::Dense);
    };
    run(&model.dense_network());
    let opts = CompactOptions { crossover: Crossover::Fixed(0.5), remove_structure: true };
    if let Ok(c) = compact_transformer(&model, &opts) {
        run(&c.network);
    }
}

/// One forward pass at batch 1 (the gathered batch-1 kernels) and one at 17 (the batch-wide
/// kernels, the fused convolution + pooling with its masked tail), each input the right length
/// for its batch. (Until 2 Dec the targets passed one sample's input as a batch of 2, which
/// every forward refused: no model was ever run.)
fn run_batches(net: &dtprune_compact::network::Network, per: usize, value: f32) {
    for n in [1, 17] {
        let input = vec![value; n * per];
        let out = net.forward(&input, n);
        if let Ok(y) = out {
            assert_eq!(y.len(), n * net.num_outputs(), "logits of a batch of {n}");
        }
    }
}

/// `compact.json` + `compact.safetensors` as `dtprune bench` and `export --compact` read them,
/// from `[json length: u16 LE] json [safetensors]`: dense and CSR layers whose tensors need not
/// match the document. A model that loads is run once.
pub fn compact_model(data: &[u8]) {
    let Some((json, tensors)) = split(data) else { return };
    let Ok(doc) = serde_json::from_slice::<CompactJson>(json) else { return };
    let Ok(shapes) = doc.graph().and_then(|g| g.shapes()) else { return };
    let Ok(file) = SafetensorsFile::from_bytes(Path::new("compact.safetensors"), tensors.to_vec()) else { return };
    let Ok(net) = compact_network(&doc, &file) else { return };
    if shapes.iter().any(|s| s.numel() > MAX_RUN_FLOATS) {
        return;
    }
    run_batches(&net, shapes[0].numel(), 0.25);
}

/// A tabular run's `graph.json` + `model.safetensors` (its tensors also the masks), from
/// `[json length: u16 LE] json [safetensors]`: the spec reader, the tensor checks, the dense
/// and the compact network (dead embedding dimensions and neurons cut out, CSR kernels), each
/// run on one row and on three, an id outside its table refused, and the ONNX writer.
pub fn tabular_model(data: &[u8]) {
    use dtprune_compact::tabular::{compact as compact_tabular, TabularModel, TabularNet, TabularSpec};
    let Some((json, tensors)) = split(data) else { return };
    let Ok(text) = std::str::from_utf8(json) else { return };
    let Ok(spec) = TabularSpec::from_json_str(text, Path::new("graph.json")) else { return };
    let Ok(file) = SafetensorsFile::from_bytes(Path::new("model.safetensors"), tensors.to_vec()) else { return };
    let Ok(model) = TabularModel::from_file(spec, &file, Some(&file)) else { return };
    let sizes = model.spec.linear_sizes();
    if sizes.iter().map(|(i, o)| i * o).sum::<usize>() > 64 * MAX_RUN_FLOATS || sizes.iter().any(|(i, o)| i.max(o) * 3 > MAX_RUN_FLOATS) {
        return;
    }
    let run = |net: &TabularNet| {
        let c = net.tables.len();
        let ids: Vec<u32> = (0..3 * c).map(|i| (i as u32 * 7) % net.tables[i % c].rows as u32).collect();
        let numeric: Vec<f32> = (0..3 * net.numeric).map(|i| i as f32 * 0.25 - 1.0).collect();
        let one = net.forward(&ids[..c], &numeric[..net.numeric], 1).expect("a valid row runs");
        assert_eq!(one.len(), net.num_classes());
        assert_eq!(net.forward(&ids, &numeric, 3).expect("valid rows run").len(), 3 * net.num_classes());
        if c > 0 {
            let mut bad = ids[..c].to_vec();
            bad[0] = net.tables[0].rows as u32;
            assert!(net.forward(&bad, &numeric[..net.numeric], 1).is_err(), "an id outside its table is refused");
        }
        let _ = dtprune_compact::tabular::onnx::to_onnx(net, dtprune_compact::onnx::Variant::Dense);
    };
    let Ok(dense) = model.dense_network() else { return };
    run(&dense);
    let opts = CompactOptions { crossover: Crossover::Fixed(0.5), remove_structure: true };
    if let Ok(c) = compact_tabular(&model, &opts) {
        run(&c.network);
    }
}
