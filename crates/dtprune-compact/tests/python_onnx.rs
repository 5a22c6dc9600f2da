//! The ONNX export runs in onnxruntime (PyPI) with dtprune's logits: `onnxruntime_forward.py`
//! runs `model.onnx` and `compact.onnx` of synthetic pruned models (LeNet-5, LeNet-300-100 with
//! flat and image input, a padded strided CNN; some units killed, some layers CSR) and compares
//! with the logits dtprune computes for the same pixels.
//!
//! Interpreter: `$DTPRUNE_PYTHON` (default `python3`). Without onnxruntime the test fails when
//! `CI` is set (`.ci/run` installs it) and is skipped with a printed reason otherwise.

use std::path::Path;
use std::process::Command;

use dtprune_compact::onnx::{export_run, Variant};
use dtprune_compact::synth::{
    kill_units, lenet300_graph, lenet5_graph, padded_cnn_graph, prune_magnitude, random_model,
    random_pixels, write_run,
};
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
    for (i, graph) in [lenet5_graph(), lenet300_graph(false), lenet300_graph(true), padded_cnn_graph()]
        .iter()
        .enumerate()
    {
        let mut m = random_model(graph, 70 + i as u64);
        prune_magnitude(&mut m, 0.97);
        kill_units(&mut m, 2, i as u64);
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
