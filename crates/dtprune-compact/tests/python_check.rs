//! The exported compact model is readable without dtprune: `numpy_forward.py` loads it with
//! `safetensors.numpy`, runs the forward pass in numpy and reproduces our logits within 1e-4.
//!
//! Interpreter: `$DTPRUNE_PYTHON` (default `python3`). Without numpy/safetensors the test fails
//! when `CI` is set (CI must install them) and is skipped with a notice otherwise.

use std::path::Path;
use std::process::Command;

use dtprune_compact::synth::{
    kill_units, lenet300_graph, lenet5_graph, padded_cnn_graph, prune_magnitude, random_model,
    random_pixels, write_run,
};
use dtprune_compact::{compact_run_dir, write_reference, CompactOptions, Crossover};

fn python() -> Option<String> {
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import safetensors, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but `{py} -c \"import safetensors, numpy\"` fails: install them (pip install numpy safetensors) or set DTPRUNE_PYTHON");
    }
    eprintln!("SKIPPED python_check: `{py}` lacks numpy/safetensors (set DTPRUNE_PYTHON to an interpreter that has them)");
    None
}

#[test]
fn numpy_reproduces_compact_logits() {
    let Some(py) = python() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/numpy_forward.py");
    for (i, graph) in [
        lenet5_graph(),
        lenet300_graph(false),
        lenet300_graph(true),
        padded_cnn_graph(),
    ]
    .iter()
    .enumerate()
    {
        let mut m = random_model(graph, 40 + i as u64);
        prune_magnitude(&mut m, 0.97);
        kill_units(&mut m, 2, i as u64);
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), &m).unwrap();
        // 0.3: the pruned layers go CSR, layers made dense by structure removal stay dense.
        let (c, _) = compact_run_dir(
            dir.path(),
            &CompactOptions {
                crossover: Crossover::Fixed(0.3),
                remove_structure: true,
            },
        )
        .unwrap();
        let n = 100;
        write_reference(dir.path(), &c.network, &random_pixels(graph, n, 9), n).unwrap();
        let out = Command::new(&py)
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("run python");
        let (so, se) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "{}: numpy check failed\nstdout: {so}\nstderr: {se}",
            graph.model
        );
        println!("{so}");
    }
}
