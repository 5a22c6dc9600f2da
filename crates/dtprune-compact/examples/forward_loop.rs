//! Runs one model of a run directory's forward pass in a loop, for a profiler:
//!
//! `cargo run --release -p dtprune-compact --example forward_loop -- RUN_DIR dense|compact BATCH ITERS`
//! e.g. `perf record -g target/release/examples/forward_loop runs/lenet5 compact 1 200000`.
//! Prints the mean time per call at the end.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, which, batch, iters] = args.as_slice() else {
        return Err("usage: forward_loop RUN_DIR dense|compact BATCH ITERS".into());
    };
    let dir = std::path::Path::new(dir);
    let net = match which.as_str() {
        "dense" => dtprune_compact::load_run(dir)?.dense_network()?,
        "compact" => dtprune_compact::load_compact(dir)?.1,
        other => return Err(format!("unknown model `{other}`: dense or compact").into()),
    };
    let (n, iters): (usize, usize) = (batch.parse()?, iters.parse()?);
    let x: Vec<f32> = (0..n * net.input.numel()).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(net.forward(std::hint::black_box(&x), n)?);
    }
    println!("{which} batch {n}: {:.4} ms per call", t.elapsed().as_secs_f64() * 1e3 / iters as f64);
    Ok(())
}
