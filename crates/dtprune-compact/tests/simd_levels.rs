//! Every copy of the kernels against a plain reference. The copy is fixed per process (chosen
//! once from the CPU, capped by `DTPRUNE_SIMD`), so the driver test re-runs this test binary's
//! worker test once per level the CPU has, with `DTPRUNE_SIMD` set; the worker compares the f32
//! CSR, sparse-convolution, dense and fused convolution + pooling kernels, the block-by-block
//! MLP pass, the int8 row
//! kernel and the recurrent step kernels with naive loops.

use std::process::Command;

use dtprune_compact::conv_pool::{conv_max_pool, PoolWindow};
use dtprune_compact::dense::{ConvGeom, DenseMat};
use dtprune_compact::network::{ConvOp, ConvWeights, LinearOp, Network, Op, Weights};
use dtprune_compact::Shape;
use dtprune_compact::quant::kernels::{qrow, qrow_ref, QRows};
use dtprune_compact::recurrent::cell::{gru_step, lstm_step};
use dtprune_compact::simd::{detected_level, level, SimdLevel};
use dtprune_compact::sparse::{Csr, SparseConv};

fn naive_matmul(w: &DenseMat, x: &[f32], n: usize, y: &mut [f32]) {
    for r in 0..w.rows {
        for j in 0..n {
            y[r * n + j] += (0..w.cols).map(|k| w.data[r * w.cols + k] * x[k * n + j]).sum::<f32>();
        }
    }
}

fn naive_conv(g: &ConvGeom, w: &DenseMat, x: &[f32], n: usize, y: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for o in 0..g.cout {
        for oy in 0..oh {
            for ox in 0..ow {
                for j in 0..n {
                    let mut s = 0f32;
                    for ci in 0..g.cin {
                        for dy in 0..g.kh {
                            for dx in 0..g.kw {
                                let (iy, ix) = ((oy * g.sh + dy) as isize - g.ph as isize, (ox * g.sw + dx) as isize - g.pw as isize);
                                if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w {
                                    continue;
                                }
                                let xv = x[((ci * g.h + iy as usize) * g.w + ix as usize) * n + j];
                                s += w.data[o * g.k() + (ci * g.kh + dy) * g.kw + dx] * xv;
                            }
                        }
                    }
                    y[((o * oh + oy) * ow + ox) * n + j] += s;
                }
            }
        }
    }
}

fn close(a: &[f32], b: &[f32], what: &str) {
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{what} [{i}] at {}: {p} vs {q}", level().name());
    }
}

#[test]
fn worker_kernels_match_naive_loops() {
    let val = |i: usize, m: usize| ((i * 7919 % m) as f32 - (m / 2) as f32) / m as f32;
    for &(rows, cols, n) in &[(9, 70, 1), (9, 70, 37), (20, 300, 128)] {
        let w = DenseMat::new(rows, cols, (0..rows * cols).map(|i| if i % 5 == 0 { val(i, 23) } else { 0.0 }).collect());
        let x: Vec<f32> = (0..cols * n).map(|i| val(i, 31)).collect();
        let mut want = vec![0.5; rows * n];
        naive_matmul(&w, &x, n, &mut want);
        let (mut a, mut b) = (vec![0.5; rows * n], vec![0.5; rows * n]);
        Csr::from_dense(&w).matmul_acc(&x, n, &mut a);
        w.matmul_acc(&x, n, &mut b);
        close(&a, &want, "csr");
        close(&b, &want, "dense");
    }
    for &(ph, sh, n) in &[(0, 1, 1), (0, 1, 30), (1, 2, 5), (0, 1, 70)] {
        let g = ConvGeom { cin: 3, cout: 4, h: 10, w: 9, kh: 3, kw: 3, sh, sw: sh, ph, pw: ph };
        let w = DenseMat::new(g.cout, g.k(), (0..g.cout * g.k()).map(|i| if i % 3 == 0 { val(i, 17) } else { 0.0 }).collect());
        let x: Vec<f32> = (0..g.cin * g.h * g.w * n).map(|i| val(i, 29)).collect();
        let len = g.cout * g.out_h() * g.out_w() * n;
        let mut want = vec![0.25; len];
        naive_conv(&g, &w, &x, n, &mut want);
        let (mut a, mut b) = (vec![0.25; len], vec![0.25; len]);
        SparseConv::new(g, Csr::from_dense(&w)).forward_acc(&x, n, &mut a);
        dtprune_compact::dense::conv_dense(&g, &w, &x, n, &mut b);
        close(&a, &want, "sparse conv");
        close(&b, &want, "dense conv");
    }
    // Convolution fused with 2x2 max pooling (conv_pool.rs), dense filters (four-channel groups
    // and the remainder) and sparse ones, batches around the 16- and 32-image steps.
    for &(cout, sparse, n) in &[(6usize, false, 16usize), (5, true, 37), (9, false, 50), (4, true, 64)] {
        let g = ConvGeom { cin: 2, cout, h: 9, w: 8, kh: 3, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 };
        let w = DenseMat::new(g.cout, g.k(), (0..g.cout * g.k()).map(|i| if !sparse || i % 3 == 0 { val(i, 17) } else { 0.0 }).collect());
        let x: Vec<f32> = (0..g.cin * g.h * g.w * n).map(|i| val(i, 29)).collect();
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut conv = vec![0.25; g.cout * oh * ow * n];
        naive_conv(&g, &w, &x, n, &mut conv);
        let (ph, pw) = (oh / 2, ow / 2);
        let mut want = vec![0f32; g.cout * ph * pw * n];
        for o in 0..g.cout {
            for (py, px, j) in (0..ph).flat_map(|py| (0..pw).flat_map(move |px| (0..n).map(move |j| (py, px, j)))) {
                let at = |yy: usize, xx: usize| conv[((o * oh + yy) * ow + xx) * n + j];
                want[((o * ph + py) * pw + px) * n + j] = at(2 * py, 2 * px).max(at(2 * py, 2 * px + 1)).max(at(2 * py + 1, 2 * px)).max(at(2 * py + 1, 2 * px + 1));
            }
        }
        let weight = if sparse { ConvWeights::Sparse(SparseConv::new(g, Csr::from_dense(&w))) } else { ConvWeights::Dense(w) };
        let op = ConvOp { name: "c".into(), geom: g, groups: 1, weight, bias: vec![0.25; g.cout] };
        let got = conv_max_pool(&op, PoolWindow { kernel: [2, 2], stride: [2, 2] }, &x, n);
        close(&got, &want, if sparse { "fused sparse conv + pool" } else { "fused dense conv + pool" });
    }
    // A pruned MLP at batches of 16 and more runs block by block (block_mlp.rs): the tile
    // transpose of its input (features 0..29 read, 45 features: a partial tile) and the fused
    // bias + ReLU row kernels, CSR and dense.
    let (f, h, o) = (45usize, 21usize, 4usize);
    let w1 = DenseMat::new(h, f, (0..h * f).map(|i| if i % 4 == 0 && i % f < 29 { val(i, 23) } else { 0.0 }).collect());
    let w2 = DenseMat::new(o, h, (0..o * h).map(|i| val(i, 19)).collect());
    let (b1, b2): (Vec<f32>, Vec<f32>) = ((0..h).map(|i| val(i, 7)).collect(), (0..o).map(|i| val(i, 5)).collect());
    let net = Network::chain(
        Shape::Features(f),
        None,
        vec![
            Op::Linear(LinearOp { name: "a".into(), weight: Weights::Csr(Csr::from_dense(&w1)), bias: b1.clone() }),
            Op::Relu,
            Op::Linear(LinearOp { name: "b".into(), weight: Weights::Dense(w2.clone()), bias: b2.clone() }),
        ],
    );
    for &n in &[16usize, 33, 70] {
        let x: Vec<f32> = (0..n * f).map(|i| val(i, 37)).collect();
        let want: Vec<f32> = x
            .chunks(f)
            .flat_map(|s| {
                let hid: Vec<f32> = (0..h).map(|r| (b1[r] + (0..f).map(|k| w1.data[r * f + k] * s[k]).sum::<f32>()).max(0.0)).collect();
                (0..o).map(|r| b2[r] + (0..h).map(|k| w2.data[r * h + k] * hid[k]).sum::<f32>()).collect::<Vec<_>>()
            })
            .collect();
        close(&net.forward(&x, n).unwrap(), &want, "block-by-block MLP");
    }
    // int8: bit for bit.
    let q = QRows::new((0..6).map(|r| (0..40u32).filter(|&k| (k as usize + r) % 3 == 0).map(|k| (k, (((k as usize * 37 + r) % 255) as i32 - 127) as i8)).collect::<Vec<_>>()));
    for &n in &[1usize, 31, 64, 100] {
        let x: Vec<u8> = (0..40 * n).map(|i| (i * 53 % 128) as u8).collect();
        for r in 0..6 {
            let (idx, w, quads) = q.row(r);
            let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
            qrow(idx, w, quads, n, 0, &x, 0.02, 0.5, &mut a);
            qrow_ref(idx, w, n, 0, &x, 0.02, 0.5, &mut b);
            assert_eq!(a, b, "int8 row {r} batch {n} at {}", level().name());
        }
    }
    // The recurrent step kernels (vectorised sigmoid/tanh) against libm, 37 values per gate.
    let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
    let pre = |k: usize, len: usize| -> Vec<f32> { (0..len).map(|i| val(i + k, 41) * 12.0).collect() };
    let (px, ph, c0, h0) = (pre(1, 4 * 37), pre(2, 4 * 37), pre(3, 37), pre(4, 37));
    let (mut c, mut h) = (c0.clone(), h0.clone());
    lstm_step(&px, &ph, &mut c, &mut h);
    let a = |g: usize, j: usize| px[g * 37 + j] + ph[g * 37 + j];
    let c_want: Vec<f32> = (0..37).map(|j| sig(a(1, j)) * c0[j] + sig(a(0, j)) * a(2, j).tanh()).collect();
    let h_want: Vec<f32> = (0..37).map(|j| sig(a(3, j)) * c_want[j].tanh()).collect();
    close(&c, &c_want, "lstm cell state");
    close(&h, &h_want, "lstm hidden state");
    let mut h = h0.clone();
    gru_step(&px[..3 * 37], &ph[..3 * 37], &mut h);
    let want: Vec<f32> = (0..37)
        .map(|j| {
            let (r, z) = (sig(a(0, j)), sig(a(1, j)));
            (1.0 - z) * (px[74 + j] + r * ph[74 + j]).tanh() + z * h0[j]
        })
        .collect();
    close(&h, &want, "gru hidden state");
    eprintln!("kernels at level {} match the naive loops", level().name());
}

#[test]
fn every_simd_level_passes_the_worker() {
    if std::env::var_os("DTPRUNE_SIMD").is_some() {
        return; // a child run
    }
    let exe = std::env::current_exe().unwrap();
    for l in [SimdLevel::Generic, SimdLevel::Avx2, SimdLevel::Avx512] {
        if l > detected_level() {
            eprintln!("SKIPPED kernel level {}: this CPU does not have it", l.name());
            continue;
        }
        let out = Command::new(&exe).args(["--exact", "worker_kernels_match_naive_loops", "--nocapture"]).env("DTPRUNE_SIMD", l.name()).output().unwrap();
        let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "level {}:\n{so}\n{se}", l.name());
        assert!(se.contains(&format!("kernels at level {} match", l.name())), "level {} did not run:\n{se}", l.name());
    }
}
