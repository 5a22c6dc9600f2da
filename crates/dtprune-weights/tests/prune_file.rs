//! End to end on real safetensors files written by the `safetensors` crate: prune, then read
//! the result back with that crate (not with dtprune's reader) and check every promise.

use dtprune_weights::{prune_weights, PruneWeightsOptions};
use half::{bf16, f16};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Deterministic values in (-0.5, 0.5), scaled.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
        })
        .collect()
}

fn write_checkpoint(path: &Path) {
    let w1: Vec<u8> = values(64 * 48, 1, 0.2).iter().flat_map(|v| v.to_le_bytes()).collect();
    let w2: Vec<u8> = values(32 * 64, 2, 2.0).iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
    let w3: Vec<u8> = values(10 * 32, 3, 1.0).iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect();
    let b1: Vec<u8> = values(64, 4, 0.1).iter().flat_map(|v| v.to_le_bytes()).collect();
    let ids: Vec<u8> = (0..16i64).flat_map(|v| v.to_le_bytes()).collect();
    let tensors = vec![
        ("enc.w1", TensorView::new(Dtype::F32, vec![64, 48], &w1).unwrap()),
        ("enc.b1", TensorView::new(Dtype::F32, vec![64], &b1).unwrap()),
        ("enc.w2", TensorView::new(Dtype::F16, vec![32, 64], &w2).unwrap()),
        ("head.w3", TensorView::new(Dtype::BF16, vec![10, 32], &w3).unwrap()),
        ("position_ids", TensorView::new(Dtype::I64, vec![1, 16], &ids).unwrap()),
    ];
    let meta = HashMap::from([("format".to_string(), "pt".to_string()), ("note".to_string(), "kept".to_string())]);
    safetensors::serialize_to_file(tensors, Some(meta), path).unwrap();
}

fn decode(t: &TensorView) -> Vec<f32> {
    match t.dtype() {
        Dtype::F32 => t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        Dtype::F16 => t.data().chunks_exact(2).map(|b| f16::from_le_bytes(b.try_into().unwrap()).to_f32()).collect(),
        Dtype::BF16 => t.data().chunks_exact(2).map(|b| bf16::from_le_bytes(b.try_into().unwrap()).to_f32()).collect(),
        d => panic!("not a float dtype: {d:?}"),
    }
}

fn options(dir: &Path, policy: &str, params: &[(&str, toml::Value)]) -> PruneWeightsOptions {
    PruneWeightsOptions {
        input: dir.join("in.safetensors"),
        output: dir.join("out.safetensors"),
        policy: policy.into(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        include: vec![],
        exclude: vec![],
        report: Some(dir.join("report.json")),
    }
}

#[test]
fn oneshot_prunes_selected_tensors_exactly_and_copies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(&dir.path().join("in.safetensors"));
    let report = prune_weights(&options(dir.path(), "oneshot", &[("sparsity", toml::Value::Float(0.7))])).unwrap();

    let input = std::fs::read(dir.path().join("in.safetensors")).unwrap();
    let output = std::fs::read(dir.path().join("out.safetensors")).unwrap();
    assert_eq!(input.len(), output.len());
    let header = 8 + u64::from_le_bytes(input[..8].try_into().unwrap()) as usize;
    assert_eq!(input[..header], output[..header], "header (order, offsets, metadata) copied byte for byte");

    let (a, b) = (SafeTensors::deserialize(&input).unwrap(), SafeTensors::deserialize(&output).unwrap());
    let (_, meta) = SafeTensors::read_metadata(&output).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["note"], "kept");
    for name in ["enc.b1", "position_ids"] {
        assert_eq!(a.tensor(name).unwrap().data(), b.tensor(name).unwrap().data(), "{name} copied bit for bit");
    }
    for name in ["enc.w1", "enc.w2", "head.w3"] {
        let (before, after) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        assert_eq!(after.dtype(), before.dtype());
        let size = before.data().len() / before.shape().iter().product::<usize>();
        let (x, y) = (decode(&before), decode(&after));
        let tau = report.tensors.iter().find(|t| t.name == name).unwrap().threshold.unwrap();
        // tau is the k-th smallest |w| (k = round(0.7 n)): fewer than k+1 values lie at or
        // below it and at most k strictly below it (f16/bf16 values tie).
        let k = (0.7 * x.len() as f64).round() as usize;
        let below = x.iter().filter(|v| v.abs() < tau).count();
        let at_or_below = x.iter().filter(|v| v.abs() <= tau).count();
        assert!(below <= k && k < at_or_below, "{name}: tau {tau} is not the k-th smallest |w|");
        assert_eq!(y.iter().filter(|v| **v == 0.0).count(), below, "{name}: exactly the values below tau are zero");
        for (i, (u, v)) in x.iter().zip(&y).enumerate() {
            let (bu, bv) = (&before.data()[i * size..(i + 1) * size], &after.data()[i * size..(i + 1) * size]);
            if u.abs() >= tau {
                assert_eq!(bu, bv, "{name}[{i}] survives unchanged");
            } else {
                assert_eq!(*v, 0.0, "{name}[{i}] = {u} below tau {tau} is zeroed");
            }
        }
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["selected_tensors"], 3);
    assert_eq!(json["params"]["scope"], "tensor");
    let ids = json["tensors"].as_array().unwrap().iter().find(|t| t["name"] == "position_ids").unwrap();
    assert_eq!(ids["selected"], false);
    assert_eq!(ids["dtype"], "I64");
    assert!((json["sparsity_after"].as_f64().unwrap() - 0.7).abs() < 1e-3);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 3, "in, out and report only, no temporaries: {names:?}");
}

#[test]
fn distribution_thresholds_follow_each_tensor() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(&dir.path().join("in.safetensors"));
    let params = [("c", toml::Value::Float(0.0)), ("target_sparsity", toml::Value::Float(0.0))];
    let report = prune_weights(&options(dir.path(), "distribution", &params)).unwrap();
    let input = std::fs::read(dir.path().join("in.safetensors")).unwrap();
    let a = SafeTensors::deserialize(&input).unwrap();
    for name in ["enc.w1", "enc.w2", "head.w3"] {
        let x = decode(&a.tensor(name).unwrap());
        // c = 0: tau = mean |w| of the tensor, computed here independently
        let mean = x.iter().map(|v| f64::from(v.abs())).sum::<f64>() / x.len() as f64;
        let t = report.tensors.iter().find(|t| t.name == name).unwrap();
        assert!((f64::from(t.threshold.unwrap()) - mean).abs() < 1e-6 * mean, "{name}: {} vs {mean}", t.threshold.unwrap());
        let below = x.iter().filter(|v| v.abs() < mean as f32).count() as f64 / x.len() as f64;
        assert!((t.sparsity_after.unwrap() - below).abs() < 1e-9);
    }
}

#[test]
fn global_scope_shares_one_threshold() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(&dir.path().join("in.safetensors"));
    let params = [("sparsity", toml::Value::Float(0.5)), ("scope", toml::Value::String("global".into()))];
    let report = prune_weights(&options(dir.path(), "oneshot", &params)).unwrap();
    let taus: Vec<f32> = report.tensors.iter().filter_map(|t| t.threshold).collect();
    assert_eq!(taus.len(), 3);
    assert!(taus.iter().all(|&t| t == taus[0]));
    // the f16 tensor has the widest values (scale 2): it keeps more than half
    let w2 = report.tensors.iter().find(|t| t.name == "enc.w2").unwrap();
    assert!(w2.sparsity_after.unwrap() < 0.5);
    assert!((report.sparsity_after - 0.5).abs() < 1e-3);
}
