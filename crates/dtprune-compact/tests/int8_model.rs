//! The int8 compact model end to end on synthetic pruned models (LeNet-5, LeNet-300-100 and a
//! padded CNN): quantised with calibrated and with dynamic activations, written, read back with
//! the same logits, and reproduced by plain numpy from `compact-int8.safetensors` +
//! `compact.json` (`numpy_forward_int8.py`). Bad input: an empty calibration set.
//!
//! Interpreter: `$DTPRUNE_PYTHON` (default `python3`); without numpy/safetensors the numpy part
//! fails when `CI` is set and is skipped with a notice otherwise.

use std::path::Path;
use std::process::Command;

use dtprune_compact::quant::{export_int8, load_int8, quantize, Activations};
use dtprune_compact::synth::{kill_units, lenet300_graph, lenet5_graph, padded_cnn_graph, prune_magnitude, random_model, random_pixels, write_run};
use dtprune_compact::tensor_io::{write_safetensors, OwnedTensor};
use dtprune_compact::{compact_run_dir, load_compact, CompactOptions, Crossover};

fn python() -> Option<String> {
    let py = std::env::var("DTPRUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py).args(["-c", "import safetensors, numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but `{py} -c \"import safetensors, numpy\"` fails: install them or set DTPRUNE_PYTHON");
    }
    eprintln!("SKIPPED int8 numpy check: `{py}` lacks numpy/safetensors (set DTPRUNE_PYTHON)");
    None
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |b, (i, x)| if *x > v[b] { i } else { b })
}

#[test]
fn int8_model_round_trips_and_numpy_reproduces_it() {
    let py = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/numpy_forward_int8.py");
    for (i, graph) in [lenet5_graph(), lenet300_graph(false), padded_cnn_graph()].iter().enumerate() {
        let mut m = random_model(graph, 70 + i as u64);
        prune_magnitude(&mut m, 0.9);
        kill_units(&mut m, 2, i as u64);
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), &m).unwrap();
        compact_run_dir(dir.path(), &CompactOptions { crossover: Crossover::Fixed(0.3), remove_structure: true }).unwrap();
        let (doc, net) = load_compact(dir.path()).unwrap();
        let pre = net.preprocess.clone().unwrap();
        let calib = random_pixels(graph, 64, 5);
        let (n, pixels) = (50, random_pixels(graph, 50, 9));
        for acts in [Activations::Static { inputs: pre.apply(&calib, net.input), count: 64 }, Activations::Dynamic] {
            let q = quantize(&net, &acts).unwrap();
            assert!(q.layers.iter().flatten().count() >= 2, "{}: conv and linear layers are quantised", graph.model);
            let mut doc = doc.clone();
            let bytes = export_int8(dir.path(), &mut doc, &q, None, None).unwrap();
            let f32_bytes = std::fs::metadata(dir.path().join("compact.safetensors")).unwrap().len();
            // (The padded CNN is too small for this: its tensor names outweigh its weights.)
            if graph.model != "padded_cnn" {
                assert!(bytes * 2 < f32_bytes, "{}: int8 file {bytes} B vs f32 {f32_bytes} B", graph.model);
            }
            // Read back: the same logits, bit for bit.
            let (_, back) = load_int8(dir.path()).unwrap();
            let (lq, lb) = (q.forward_u8(&pixels, n).unwrap(), back.forward_u8(&pixels, n).unwrap());
            assert_eq!(lq, lb, "{}: the int8 file does not reload to the same model", graph.model);
            // Close to f32 (random weights, so only a loose bound), mostly the same argmax.
            let lf = net.forward_u8(&pixels, n).unwrap();
            let k = net.num_outputs();
            let scale = lf.iter().fold(0f32, |a, v| a.max(v.abs()));
            let diff = lf.iter().zip(&lq).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let agree = (0..n).filter(|&s| argmax(&lf[s * k..][..k]) == argmax(&lq[s * k..][..k])).count();
            eprintln!("{} {:?}: max |f32 - int8| {diff:.4} (logits up to {scale:.3}), argmax agree {agree}/{n}", graph.model, doc.quantization.as_ref().unwrap().activations);
            assert!(diff < 0.1 * scale, "{}: int8 logits too far from f32", graph.model);
            assert!(agree * 10 >= n * 8, "{}: argmax agrees on only {agree}/{n}", graph.model);
            let Some(py) = &py else { continue };
            let reference = dir.path().join("reference-int8.safetensors");
            let mut pshape = vec![n];
            pshape.extend(&graph.input);
            write_safetensors(
                &reference,
                &[("pixels".into(), OwnedTensor::u8(pshape, &pixels)), ("logits".into(), OwnedTensor::f32(vec![n, k], &lq))],
                None,
            )
            .unwrap();
            let out = Command::new(py).arg(&script).arg(dir.path()).arg(&reference).arg("--tol").arg("1e-4").output().expect("run python");
            let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{}: numpy int8 check failed\nstdout: {so}\nstderr: {se}", graph.model);
            eprintln!("{}", so.trim());
        }
    }
}

#[test]
fn empty_calibration_set_is_an_error() {
    let g = lenet300_graph(false);
    let net = random_model(&g, 1).dense_network().unwrap();
    let e = quantize(&net, &Activations::Static { inputs: vec![], count: 0 }).unwrap_err().to_string();
    assert!(e.contains("calibration set is empty"), "{e}");
    let e = quantize(&net, &Activations::Static { inputs: vec![0.0; 5], count: 1 }).unwrap_err().to_string();
    assert!(e.contains("calibration set has 5 values"), "{e}");
}

/// A layer whose weights are all zero quantises to scale 0 and outputs its bias, exactly.
#[test]
fn all_zero_layer_outputs_its_bias() {
    let g = lenet300_graph(false);
    let mut m = random_model(&g, 3);
    for (k, t) in m.params.iter_mut() {
        if k == "fc3.weight" {
            t.data.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    let bias = m.params["fc3.bias"].data.clone();
    let net = m.dense_network().unwrap();
    let q = quantize(&net, &Activations::Dynamic).unwrap();
    let fc3 = q.layers.iter().flatten().find(|l| l.name == "fc3").unwrap();
    assert!(fc3.matrix.scale.iter().all(|&s| s == 0.0) && fc3.matrix.nnz() == 0);
    let n = 3;
    let y = q.forward_u8(&random_pixels(&g, n, 2), n).unwrap();
    for s in 0..n {
        assert_eq!(&y[s * bias.len()..][..bias.len()], &bias[..]);
    }
}
