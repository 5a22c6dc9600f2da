//! Times the two dense kernels (`GemmKernel::Own`, `GemmKernel::Packed`: the `gemm` crate) on
//! the products of the LeNets' dense layers, to decide `GemmKernel::for_shape`.
//!
//! `cargo run --release -p dtprune-compact --example gemm_shapes`
//! Prints, per shape `m×n×k` (`Y[m, n] += W[m, k] · X[k, n]`, n = batch or batch × pixels), the
//! fastest of 31 samples of each kernel in µs (on a shared machine the fastest sample is the one
//! that ran undisturbed) and which one wins.

use std::time::Instant;

use dtprune_compact::dense::{gemm_using, im2col_rows, ConvGeom, GemmKernel};

fn fastest_us(kernel: GemmKernel, m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> f64 {
    let once = Instant::now();
    gemm_using(kernel, m, n, k, a, k, b, n, c, n, true);
    let reps = ((2e-3 / once.elapsed().as_secs_f64().max(1e-7)).ceil() as usize).clamp(1, 10_000);
    for _ in 0..3 {
        gemm_using(kernel, m, n, k, a, k, b, n, c, n, true);
    }
    let mut s: Vec<f64> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                gemm_using(kernel, m, n, k, a, k, std::hint::black_box(b), n, c, n, true);
            }
            t.elapsed().as_secs_f64() / reps as f64 * 1e6
        })
        .collect();
    s.sort_by(f64::total_cmp);
    s[0]
}

fn main() {
    let conv = |cin, cout, h| ConvGeom { cin, cout, h, w: h, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0 };
    // (label, m, k, conv geometry); a conv's n is one im2col block: rows × ow × batch.
    let layers = [
        ("lenet300 fc1", 300, 784, None),
        ("lenet300 fc2", 100, 300, None),
        ("lenet300 fc3", 10, 100, None),
        ("lenet5 conv1", 20, 25, Some(conv(1, 20, 28))),
        ("lenet5 conv2", 50, 500, Some(conv(20, 50, 12))),
        ("lenet5 fc1", 500, 800, None),
        ("lenet5 fc2", 10, 500, None),
    ];
    println!("{:<14} {:>16} | {:>10} {:>10} | winner", "layer", "m x n x k", "own us", "gemm us");
    for batch in [1usize, 128, 1000] {
        for &(label, m, k, geom) in &layers {
            let n = geom.map_or(batch, |g: ConvGeom| im2col_rows(&g, batch) * g.out_w() * batch);
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0).collect();
            let mut c = vec![0f32; m * n];
            let own = fastest_us(GemmKernel::Own, m, n, k, &a, &b, &mut c);
            let packed = fastest_us(GemmKernel::Packed, m, n, k, &a, &b, &mut c);
            let w = if own <= packed { "own" } else { "gemm" };
            println!("{label:<14} {:>16} | {own:>10.2} {packed:>10.2} | {w} ({:.2}x)", format!("{m}x{n}x{k}"), own.max(packed) / own.min(packed));
        }
    }
}
