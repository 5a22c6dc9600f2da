//! `sensitivity` on a tiny trained run: one row per (tensor, level), a baseline that learned
//! something, pruning fc1 harder hurts more, and the files land in the run directory.

use dtprune_train::config::{ExperimentConfig, PolicyConfig};
use dtprune_train::run::sensitivity;
use dtprune_train::trainer::Silent;
use dtprune_train::TrainError;

#[test]
fn sensitivity_of_a_tiny_lenet300_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = ExperimentConfig {
        model: "lenet300".into(),
        epochs: 1,
        train_limit: 2000,
        val_size: 1000,
        test_limit: 500,
        policy: PolicyConfig { name: "none".into(), params: Default::default() },
        ..Default::default()
    };
    dtprune_train::run::train_config(&cfg, &run, &mut Silent).unwrap();

    let r = sensitivity(&run, &[0.99, 0.5], 0.005).unwrap();
    assert_eq!(r.levels, vec![0.5, 0.99]);
    assert_eq!(r.val_images, 1000);
    // fc1, fc2, fc3 weights × 2 levels.
    assert_eq!(r.rows.len(), 6, "{:#?}", r.rows);
    assert_eq!(r.suggestions.len(), 3);
    assert!(r.baseline_val_accuracy >= 0.5, "baseline {}", r.baseline_val_accuracy);
    let fc1 = |level: f64| r.rows.iter().find(|x| x.tensor == "fc1.weight" && x.level == level).unwrap();
    let (half, most) = (fc1(0.5), fc1(0.99));
    assert!(most.drop > half.drop, "fc1 at 99% drops {} , at 50% {}", most.drop, half.drop);
    assert!(most.threshold > half.threshold && half.threshold > 0.0);
    assert!((half.sparsity - 0.5).abs() < 1e-3 && (most.sparsity - 0.99).abs() < 1e-3);
    for row in &r.rows {
        assert!((row.drop - (r.baseline_val_accuracy - row.val_accuracy)).abs() < 1e-12);
    }
    // The saved model is untouched.
    let again = dtprune_train::run::eval_run(&run).unwrap();
    assert!(again.test_accuracy >= 0.5);

    let csv = std::fs::read_to_string(run.join("sensitivity.csv")).unwrap();
    assert!(csv.starts_with("tensor,level,threshold,val_accuracy,drop\n"), "{csv}");
    assert_eq!(csv.lines().count(), 7);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("sensitivity.json")).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 6);
    assert_eq!(json["suggestions"].as_array().unwrap().len(), 3);
    let png = std::fs::read(run.join("sensitivity.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    assert!(std::fs::read_to_string(run.join("sensitivity.svg")).unwrap().contains("fc1.weight"));

    // Bad input: clear errors, no panic.
    let e = sensitivity(&run, &[0.5, 1.0], 0.005).unwrap_err().to_string();
    assert!(e.contains("valid range is (0, 1)"), "{e}");
    let e = sensitivity(dir.path(), &[0.5], 0.005).unwrap_err();
    assert!(matches!(e, TrainError::NotARun { .. }) && e.to_string().contains("config.toml is missing"), "{e}");
    std::fs::remove_file(run.join("model.safetensors")).unwrap();
    let e = sensitivity(&run, &[0.5], 0.005).unwrap_err().to_string();
    assert!(e.contains("model.safetensors is missing"), "{e}");
}
