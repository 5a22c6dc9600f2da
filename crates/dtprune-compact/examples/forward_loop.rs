//! Runs one model of a run directory's forward pass in a loop, for a profiler:
//!
//! `cargo run --release -p dtprune-compact --example forward_loop -- RUN_DIR dense|compact|int8 BATCH ITERS`
//! e.g. `perf record -g target/release/examples/forward_loop runs/lenet5 compact 1 200000`.
//! Prints the mean time per call at the end.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, which, batch, iters] = args.as_slice() else {
        return Err("usage: forward_loop RUN_DIR dense|compact BATCH ITERS".into());
    };
    let dir = std::path::Path::new(dir);
    type Forward = Box<dyn Fn(&[f32], usize) -> dtprune_compact::Result<Vec<f32>>>;
    let recurrent = dtprune_compact::recurrent::is_recurrent_graph(&dir.join("graph.json"));
    let (per, forward): (usize, Forward) = match which.as_str() {
        // Recurrent runs: every frame valid, as `dtprune bench` times them.
        "dense" if recurrent => {
            let net = dtprune_compact::recurrent::RecurrentModel::load_run(dir)?.dense_network();
            (net.frames * net.features, Box::new(move |x, n| net.forward_full(x, n)))
        }
        "compact" if recurrent => {
            let net = dtprune_compact::recurrent::export::load(dir)?.1;
            (net.frames * net.features, Box::new(move |x, n| net.forward_full(x, n)))
        }
        "dense" => {
            let net = dtprune_compact::load_run(dir)?.dense_network()?;
            (net.input.numel(), Box::new(move |x, n| net.forward(x, n)))
        }
        "compact" => {
            let net = dtprune_compact::load_compact(dir)?.1;
            (net.input.numel(), Box::new(move |x, n| net.forward(x, n)))
        }
        "int8" => {
            let q = dtprune_compact::quant::load_int8(dir)?.1;
            (q.net.input.numel(), Box::new(move |x, n| q.forward(x, n)))
        }
        other => return Err(format!("unknown model `{other}`: dense, compact or int8").into()),
    };
    let (n, iters): (usize, usize) = (batch.parse()?, iters.parse()?);
    let x: Vec<f32> = (0..n * per).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(forward(std::hint::black_box(&x), n)?);
    }
    println!("{which} batch {n}: {:.4} ms per call", t.elapsed().as_secs_f64() * 1e3 / iters as f64);
    Ok(())
}
