//! End-to-end: synthetic pruned LeNets written as a trainer would, compacted, exported,
//! reloaded, and checked against the masked-dense reference.

use dtprune_compact::bench::argmax;
use dtprune_compact::synth::{
    kill_units, lenet300_graph, lenet5_graph, padded_cnn_graph, prune_magnitude, random_model,
    random_pixels, write_run,
};
use dtprune_compact::{
    compact, compact_run_dir, inspect, load_compact, load_run, CompactOptions, Crossover, Graph,
    Network,
};

fn assert_same(dense: &Network, other: &Network, graph: &Graph, n: usize, seed: u64, what: &str) {
    let pixels = random_pixels(graph, n, seed);
    let a = dense.forward_u8(&pixels, n).unwrap();
    let b = other.forward_u8(&pixels, n).unwrap();
    assert_eq!(a.len(), b.len());
    let k = dense.num_outputs();
    let mut max = 0f32;
    for (i, (ra, rb)) in a.chunks(k).zip(b.chunks(k)).enumerate() {
        assert_eq!(
            argmax(ra),
            argmax(rb),
            "{what}: sample {i} argmax differs: {ra:?} vs {rb:?}"
        );
        for (x, y) in ra.iter().zip(rb) {
            max = max.max((x - y).abs());
        }
    }
    assert!(max < 1e-4, "{what}: max |dense - compact| = {max}");
}

fn opts(c: f64) -> CompactOptions {
    CompactOptions {
        crossover: Crossover::Fixed(c),
        remove_structure: true,
    }
}

#[test]
fn compact_equals_dense_on_pruned_lenets() {
    let graphs = [
        lenet5_graph(),
        lenet300_graph(false),
        lenet300_graph(true),
        padded_cnn_graph(),
    ];
    for (gi, graph) in graphs.iter().enumerate() {
        for (si, &sparsity) in [0.9, 0.99].iter().enumerate() {
            let seed = (gi * 10 + si) as u64;
            let mut m = random_model(graph, seed);
            prune_magnitude(&mut m, sparsity);
            let killed = kill_units(&mut m, 3, seed);
            let dir = tempfile::tempdir().unwrap();
            write_run(dir.path(), &m).unwrap();
            let dense = load_run(dir.path()).unwrap().dense_network().unwrap();
            // Mixed storage (dense above 30% density), all dense, all CSR.
            for c in [0.3, 0.0, 1.01] {
                let (compacted, files) = compact_run_dir(dir.path(), &opts(c)).unwrap();
                let what = format!("{} sparsity {sparsity} crossover {c}", graph.model);
                assert_same(&dense, &compacted.network, graph, 300, seed + 100, &what);
                // The exported files reload to the same model.
                let (doc, reloaded) = load_compact(dir.path()).unwrap();
                assert_eq!(doc.report.structure, compacted.report.structure);
                assert_eq!(
                    doc.layers
                        .iter()
                        .filter_map(|l| l.storage.as_ref().map(|s| s.nnz))
                        .collect::<Vec<_>>(),
                    compacted
                        .report
                        .layers
                        .iter()
                        .map(|l| l.nnz)
                        .collect::<Vec<_>>()
                );
                assert_same(
                    &dense,
                    &reloaded,
                    graph,
                    50,
                    seed + 200,
                    &format!("{what} (reloaded)"),
                );
                assert!(files.weights_bytes > 0);
                // Every killed unit is gone, except where a padded conv cannot absorb a constant.
                for (layer, inc, out) in &killed {
                    let s = compacted
                        .report
                        .structure
                        .spaces
                        .iter()
                        .find(|s| &s.layer == layer)
                        .unwrap();
                    let removed = s.units_before - s.units_after;
                    assert!(
                        removed + s.kept_constant >= inc.len() + out.len(),
                        "{what}: layer {layer}: {s:?}"
                    );
                    assert!(s.units_after >= 1);
                }
                if c == 1.01 {
                    assert!(compacted.report.layers.iter().all(|l| l.format == "csr"));
                }
                if c == 0.0 {
                    assert!(compacted.report.layers.iter().all(|l| l.format == "dense"));
                }
            }
        }
    }
}

#[test]
fn batch_sizes_and_layouts_agree() {
    let graph = lenet5_graph();
    let mut m = random_model(&graph, 7);
    prune_magnitude(&mut m, 0.95);
    let dense = m.dense_network().unwrap();
    let c = compact(&m, &opts(0.2)).unwrap();
    for n in [1, 2, 17, 130] {
        assert_same(
            &dense,
            &c.network,
            &graph,
            n,
            n as u64,
            &format!("batch {n}"),
        );
    }
    // Per-sample results do not depend on the batch they are in.
    let pixels = random_pixels(&graph, 3, 1);
    let all = c.network.forward_u8(&pixels, 3).unwrap();
    let one = c.network.forward_u8(&pixels[784..1568], 1).unwrap();
    for (a, b) in all[10..20].iter().zip(&one) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn report_and_sizes_shrink() {
    let graph = lenet300_graph(false);
    let mut m = random_model(&graph, 3);
    prune_magnitude(&mut m, 0.98);
    kill_units(&mut m, 20, 3);
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &m).unwrap();
    let (c, files) = compact_run_dir(dir.path(), &opts(0.3)).unwrap();
    let r = &c.report;
    assert!(r.structure.removed_units() >= 80, "{:?}", r.structure);
    let model_bytes = std::fs::metadata(dir.path().join("model.safetensors"))
        .unwrap()
        .len();
    assert!(
        files.weights_bytes * 10 <= model_bytes,
        "compact file {} vs dense {}",
        files.weights_bytes,
        model_bytes
    );
    // inspect reads the CSR file and the dense one.
    let ins = inspect(&files.weights).unwrap();
    assert!(ins
        .tensors
        .iter()
        .any(|t| t.name == "fc1.weight.indptr" && t.dtype == "I64"));
    let ins = inspect(&dir.path().join("model.safetensors")).unwrap();
    assert!(ins.sparsity() > 0.97, "{}", ins.sparsity());
    // compact.json is plain JSON with the new sizes and storage.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compact.json")).unwrap())
            .unwrap();
    assert_eq!(doc["format"], "dtprune-compact");
    assert_eq!(doc["layers"][0]["op"], "linear");
    assert_eq!(doc["layers"][0]["storage"]["format"], "csr");
    assert_eq!(
        doc["layers"][0]["out_features"].as_u64().unwrap() as usize,
        c.model.weight("fc1").shape[0]
    );
}
