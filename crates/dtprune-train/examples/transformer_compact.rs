//! The compact form of a `transformer` run and its batch-1 latency against the masked model:
//! every dead unit (a removed head, feed-forward neuron or stream dimension: all its producer
//! and follower slices zero) is cut out, the predictions of both forms are compared on the
//! whole test split, and one 64-token message is timed through each.
//!
//! cargo run --release -p dtprune-train --example transformer_compact -- RUN_DIR [REPEATS]

use burn::prelude::*;
use dtprune_train::evaluate::evaluate;
use dtprune_train::input::text::{TextBatch, TextData};
use dtprune_train::input::{InputKind, Prepare, Split};
use dtprune_train::models::transformer_groups::groups;
use dtprune_train::models::transformer_shrink::compact;
use dtprune_train::models::TransformerClassifier;
use dtprune_train::params::list_params;
use dtprune_train::Model;
use dtprune_compact::transformer::{compact as native_compact, TransformerModel, TransformerNet};
use dtprune_compact::CompactOptions;
use std::path::Path;
use std::time::Instant;

fn logits(model: &TransformerClassifier, data: &TextData, device: &Device) -> Vec<f32> {
    let mut out = Vec::new();
    let all: Vec<usize> = (0..data.len()).collect();
    for chunk in all.chunks(250) {
        let (batch, _) = data.batch(chunk, device);
        out.extend(model.forward(batch).into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
    }
    out
}

/// Milliseconds per batch-1 forward pass: the median of `repeats` runs of 50 passes each, after
/// 20 passes of warm-up; returns (median, lowest, highest).
fn latency(model: &TransformerClassifier, item: &(Vec<u32>, Vec<u8>), tokens: usize, repeats: usize, device: &Device) -> (f64, f64, f64) {
    let run = || {
        let batch = TextBatch::from_host(&item.0, &item.1, tokens, device);
        model.forward(batch).into_data()
    };
    for _ in 0..20 {
        run();
    }
    let mut per: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..50 {
                run();
            }
            t.elapsed().as_secs_f64() * 1e3 / 50.0
        })
        .collect();
    per.sort_by(f64::total_cmp);
    (per[per.len() / 2], per[0], per[per.len() - 1])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let run = args.next().ok_or("usage: transformer_compact RUN_DIR [REPEATS]")?;
    let repeats: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(7);
    let files = dtprune_train::run::open_run(Path::new(&run))?;
    let data = dtprune_train::run::load_data(&files.cfg)?;
    let device = Device::flex();
    let info = TextData::info(&data)?;
    let model: TransformerClassifier = dtprune_train::run::load_model(info, &files, &device)?;
    let (small, removed) = compact(model.clone())?;
    for (g, r) in groups(&model).iter().zip(&removed) {
        println!("{:<18} {:>4} of {:>4} units removed", g.name, r.len(), g.units);
    }
    let count = |m: &TransformerClassifier| list_params(m).iter().map(|p| p.numel()).sum::<usize>();
    println!("parameters: masked model {} (dense shapes), compact {}", count(&model), count(&small));

    let test = TextData::prepare(&data, Split::Test, &Prepare::default())?;
    let (a, b) = (logits(&model, &test, &device), logits(&small, &test, &device));
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let (ea, eb) = (evaluate(&model, &test, &device), evaluate(&small, &test, &device));
    println!("test accuracy: masked {:.4}%, compact {:.4}%; largest logit difference {diff:e}", 100.0 * ea.accuracy, 100.0 * eb.accuracy);

    // The test message with the most tokens, padded to max_len (64 in the shipped configs).
    let (batch, _) = test.batch(&(0..test.len()).collect::<Vec<_>>(), &device);
    let longest = (0..test.len()).max_by_key(|&i| batch.lengths[i]).unwrap_or(0);
    let tokens = info.max_len;
    let ids: Vec<u32> = batch.ids.clone().narrow(0, longest, 1).into_data().convert::<i64>().try_into_vec::<i64>().unwrap().into_iter().map(|v| v as u32).collect();
    let mask: Vec<u8> = batch.mask.clone().narrow(0, longest, 1).into_data().convert::<f32>().try_into_vec::<f32>().unwrap().into_iter().map(|v| v as u8).collect();
    println!("latency, batch 1, {tokens} positions ({} real tokens), ms per pass (median [range] of {repeats} x 50):", batch.lengths[longest]);
    let item = (ids, mask);
    let (dm, dl, dh) = latency(&model, &item, tokens, repeats, &device);
    let (cm, cl, ch) = latency(&small, &item, tokens, repeats, &device);
    println!("  masked (dense shapes) {dm:.3} [{dl:.3}, {dh:.3}]");
    println!("  compact               {cm:.3} [{cl:.3}, {ch:.3}]   speedup {:.2}x", dm / cm);

    // dtprune-compact's native network (what `dtprune compact` deploys) on the same files.
    let masked = TransformerModel::load_run(Path::new(&run))?;
    let native = native_compact(&masked, &CompactOptions::default())?;
    for m in &native.report.matrices {
        println!("  {:<28} {:?} density {:.3} {} (crossover {:.3})", m.name, m.compact_shape, m.density, m.format, m.crossover);
    }
    let ids_all: Vec<u32> = batch.ids.clone().into_data().convert::<i64>().try_into_vec::<i64>().unwrap().into_iter().map(|v| v as u32).collect();
    let got = native.network.forward(&ids_all, &batch.lengths, test.len())?;
    let diff = a.iter().zip(&got).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    println!("native compact: largest logit difference to the masked Burn model {diff:e}");
    let len = batch.lengths[longest];
    let time = |net: &TransformerNet| -> (f64, f64, f64) {
        for _ in 0..20 {
            std::hint::black_box(net.forward(&item.0, &[len], 1).unwrap());
        }
        let mut per: Vec<f64> = (0..repeats)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..50 {
                    std::hint::black_box(net.forward(&item.0, &[len], 1).unwrap());
                }
                t.elapsed().as_secs_f64() * 1e3 / 50.0
            })
            .collect();
        per.sort_by(f64::total_cmp);
        (per[per.len() / 2], per[0], per[per.len() - 1])
    };
    let (nd, ndl, ndh) = time(&masked.dense_network());
    let (nc, ncl, nch) = time(&native.network);
    println!("  native dense          {nd:.3} [{ndl:.3}, {ndh:.3}]");
    println!("  native compact        {nc:.3} [{ncl:.3}, {nch:.3}]   vs masked Burn {:.2}x, vs native dense {:.2}x", dm / nc, nd / nc);
    Ok(())
}
