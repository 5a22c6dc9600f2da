//! Times the batch-1 products a recurrent step can use for `y[R] += W[R, C] · h[C]`: the `gemm`
//! crate with W row-major and with W column-major (Wᵀ stored), a column-by-column axpy over Wᵀ,
//! and dtprune's two sparse kernels at a given density: the row-by-row CSR gather kernel and
//! the sliced (SELL-16, register-held input) kernel.
//!
//! `cargo run --release -p dtprune-compact --example matvec_kernels -- ROWS COLS DENSITY`
//! (e.g. `256 64 0.11`, the pruned LSTM's hidden transform). Prints the median ns per product.

use std::time::Instant;

use dtprune_compact::dense::DenseMat;
use dtprune_compact::sparse::Csr;

fn median_ns(mut f: impl FnMut()) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..31 {
        let t = Instant::now();
        for _ in 0..2000 {
            f();
        }
        samples.push(t.elapsed().as_secs_f64() * 1e9 / 2000.0);
    }
    samples.sort_by(f64::total_cmp);
    samples[15]
}

/// `y += Wᵀᵀ · h` one column at a time (AVX-512 when the CPU has it).
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn axpy_columns(y: &mut [f32], wt: &[f32], h: &[f32]) {
    let rows = y.len();
    for (j, &hj) in h.iter().enumerate() {
        for (yr, &wv) in y.iter_mut().zip(&wt[j * rows..(j + 1) * rows]) {
            *yr += wv * hj;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, r, c, d] = args.as_slice() else {
        eprintln!("usage: matvec_kernels ROWS COLS DENSITY");
        std::process::exit(2);
    };
    let (rows, cols, density): (usize, usize, f64) = (r.parse().unwrap(), c.parse().unwrap(), d.parse().unwrap());
    let w: Vec<f32> = (0..rows * cols).map(|i| if (i * 2_654_435_761usize % 1000) as f64 / 1000.0 < density { ((i % 7) as f32 - 3.0) * 0.1 } else { 0.0 }).collect();
    let wt: Vec<f32> = (0..cols * rows).map(|i| w[(i % rows) * cols + i / rows]).collect();
    let h: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut y = vec![0f32; rows];
    let gemm_call = |y: &mut [f32], a: &[f32], rsa: isize, csa: isize| unsafe {
        gemm::gemm(rows, 1, cols, y.as_mut_ptr(), 1, 1, true, a.as_ptr(), csa, rsa, h.as_ptr(), 1, 1, 1.0f32, 1.0f32, false, false, false, gemm::Parallelism::None)
    };
    let row_major = median_ns(|| gemm_call(std::hint::black_box(&mut y), &w, cols as isize, 1));
    let col_major = median_ns(|| gemm_call(std::hint::black_box(&mut y), &wt, 1, rows as isize));
    let axpy = median_ns(|| unsafe { axpy_columns(std::hint::black_box(&mut y), &wt, &h) });
    let csr = Csr::from_dense(&DenseMat::new(rows, cols, w.clone()));
    let sparse = median_ns(|| csr.matmul_acc(&h, 1, std::hint::black_box(&mut y)));
    let sliced = dtprune_compact::sliced::SlicedCsr::from_csr(&csr).map(|s| median_ns(|| s.matvec_acc(&h, std::hint::black_box(&mut y))));
    let sliced = sliced.map_or("n/a (more than 128 columns)".to_string(), |t| format!("{t:.0} ns"));
    println!("{rows}x{cols} density {density} (nnz {}): gemm row-major {row_major:.0} ns, gemm column-major {col_major:.0} ns, axpy by columns {axpy:.0} ns, csr gather {sparse:.0} ns, sliced {sliced}", csr.nnz());
}
