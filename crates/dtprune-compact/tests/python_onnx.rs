//! The ONNX export runs in onnxruntime (PyPI) with dtprune's logits: `onnxruntime_forward.py`
//! runs `model.onnx` and `compact.onnx` of synthetic pruned models (LeNet-5, LeNet-300-100 with
//! flat and image input, a padded strided CNN; some units killed, some layers CSR; a ResNet with
//! BatchNorm, residual adds, a removed stream channel and a removed block) and compares with the
//! logits dtprune computes for the same pixels.
//!
//! Interpreter: `$DTPRUNE_PYTHON` (default `python3`). Without onnxruntime the test fails when
//! `CI` is set (`.ci/run` installs it) and is skipped with a printed reason otherwise.

use std::path::Path;
use std::process::Command;

use dtprune_compact::onnx::{export_run, Variant};
use dtprune_compact::structure::{channel_groups, residual_blocks, MemberRole};
use dtprune_compact::synth::{
    kill_units, lenet300_graph, lenet5_graph, padded_cnn_graph, prune_magnitude, random_model,
    random_pixels, resnet_graph, write_run,
};
use dtprune_compact::DenseModel;
use dtprune_compact::{compact_run_dir, load_run, write_references, CompactOptions, Crossover};

fn python_with_onnxruntime() -> Option<String> {
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import onnxruntime, safetensors, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but `{py} -c \"import onnxruntime, safetensors, numpy\"` fails: install them (pip install onnxruntime numpy safetensors) or set DTPRUNE_PYTHON");
    }
    eprintln!("SKIPPED onnxruntime check: `{py}` cannot import onnxruntime, safetensors and numpy (set DTPRUNE_PYTHON to an interpreter that has them)");
    None
}

#[test]
fn onnxruntime_reproduces_dense_and_compact_logits() {
    let Some(py) = python_with_onnxruntime() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnxruntime_forward.py");
    for (i, graph) in [lenet5_graph(), lenet300_graph(false), lenet300_graph(true), padded_cnn_graph(), resnet_graph(&[8, 16], 2, 12)]
        .iter()
        .enumerate()
    {
        let mut m = random_model(graph, 70 + i as u64);
        if graph.model == "resnet" {
            prune_resnet(&mut m);
        } else {
            prune_magnitude(&mut m, 0.97);
            kill_units(&mut m, 2, i as u64);
        }
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), &m).unwrap();
        let opts = CompactOptions { crossover: Crossover::Fixed(0.3), remove_structure: true };
        let (c, _) = compact_run_dir(dir.path(), &opts).unwrap();
        let dense = load_run(dir.path()).unwrap().dense_network().unwrap();
        let n = 50;
        let nets = [("logits", &c.network), ("dense_logits", &dense)];
        let reference = write_references(dir.path(), &nets, &random_pixels(graph, n, 3), n).unwrap();
        for (variant, logits) in [(Variant::Dense, "dense_logits"), (Variant::Compact, "logits")] {
            let file = export_run(dir.path(), variant, None).unwrap();
            let out = Command::new(&py)
                .arg(&script)
                .arg(&file.path)
                .arg(&reference)
                .args(["--logits", logits])
                .output()
                .expect("run python");
            let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{} {variant:?}: onnxruntime check failed\nstdout: {so}\nstderr: {se}", graph.model);
            assert!(so.contains("argmax agree: True"), "{so}");
            println!("{}", so.trim());
        }
    }
}

/// Half the weights by magnitude, stream channels 2 and 5 of the second stage (producer rows and
/// BatchNorm γ, β) and the block `layer1.1` zeroed.
fn prune_resnet(m: &mut DenseModel) {
    prune_magnitude(m, 0.5);
    let g = channel_groups(&m.graph).unwrap().into_iter().find(|g| g.name == "layer2.0.conv2").unwrap();
    for member in g.members.iter().filter(|x| matches!(x.role, MemberRole::Producer) || x.tensor.ends_with(".weight") || x.tensor.ends_with(".bias")) {
        if member.role == MemberRole::Consumer {
            continue;
        }
        let t = m.params.get_mut(&member.tensor).unwrap();
        let inner: usize = t.shape[1..].iter().product();
        for u in [2, 5] {
            t.data[u * inner..(u + 1) * inner].fill(0.0);
        }
    }
    for t in &residual_blocks(&m.graph).unwrap().into_iter().find(|b| b.name == "layer1.1").unwrap().tensors {
        m.params.get_mut(t).unwrap().data.fill(0.0);
    }
}
