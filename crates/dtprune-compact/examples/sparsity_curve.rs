//! Speedup of compact vs dense inference across sparsities on synthetic LeNets (random weights,
//! per-layer magnitude pruning, no dead units planted: the structure-removal gain of a real
//! trained model comes on top). Crossovers are measured on this machine.
//!
//! `cargo run --release -p dtprune-compact --example sparsity_curve [batches e.g. 1,128]`

use std::time::Duration;

use dtprune_compact::synth::{lenet300_graph, lenet5_graph, prune_magnitude, random_model};
use dtprune_compact::{bench, compact, BenchOptions, CompactOptions, Crossover};

fn main() -> dtprune_compact::Result<()> {
    let batches: Vec<usize> = std::env::args()
        .nth(1)
        .map(|s| {
            s.split(',')
                .map(|v| v.trim().parse().expect("batch size"))
                .collect()
        })
        .unwrap_or_else(|| vec![1, 128]);
    let opts = BenchOptions {
        batches: batches.clone(),
        warmup: 3,
        repeats: 11,
        min_sample: Duration::from_millis(20),
        seed: 1,
        onnxruntime_python: None,
    };
    println!("threads: {}", rayon::current_num_threads());
    println!(
        "{:<14} {:>8} | {:<40} | {:>9} | speedup per batch {:?}",
        "model", "sparsity", "formats (crossover)", "params", batches
    );
    for graph in [lenet300_graph(false), lenet5_graph()] {
        for sparsity in [0.5, 0.7, 0.9, 0.95, 0.98, 0.99] {
            let mut m = random_model(&graph, 1);
            prune_magnitude(&mut m, sparsity);
            let dense = m.dense_network()?;
            let c = compact(
                &m,
                &CompactOptions {
                    crossover: Crossover::Measure {
                        batches: vec![1, 128],
                    },
                    remove_structure: true,
                },
            )?;
            let r = bench(&dense, &c.network, &opts)?;
            assert!(r.argmax_agree && r.max_abs_logit_diff < 1e-4);
            let fmts: Vec<String> = c
                .report
                .layers
                .iter()
                .map(|l| format!("{}({:.2})", &l.format[..1], l.crossover))
                .collect();
            let sp: Vec<String> = r
                .rows
                .iter()
                .map(|row| {
                    format!(
                        "{:.2}x ({:.3}/{:.3} ms)",
                        row.speedup,
                        row.dense.median_s * 1e3,
                        row.compact.median_s * 1e3
                    )
                })
                .collect();
            println!(
                "{:<14} {:>7.0}% | {:<40} | {:>8.1}x | {}",
                graph.model,
                sparsity * 100.0,
                fmts.join(" "),
                r.dense_param_bytes as f64 / r.compact_param_bytes as f64,
                sp.join("  ")
            );
        }
    }
    Ok(())
}
