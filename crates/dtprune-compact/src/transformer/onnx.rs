//! A Transformer classifier as an ONNX graph of standard opset-17 ops, for onnxruntime.
//!
//! Inputs `ids` int64 `[N, T]` (token ids, padded) and `mask` float32 `[N, T]` (1 on real
//! tokens; an empty text has its first position set, as the trainer does); output `logits`
//! `[N, classes]`. Token rows by `Gather`, plus the position table; each norm as
//! `ReduceSum`/`Sub`/`Mul`/`Sqrt`/`Div` with the original width and the removed dimensions'
//! share of the variance (see `stream_norm.rs`); attention as `MatMul` per head after
//! `Reshape`/`Transpose`, padding keys masked with −10⁹ before `Softmax`; GELU as
//! `x · ½ · (1 + Erf(x / √2))`; the masked mean pool; the classifier as `Gemm`. Linear layers
//! are `MatMul` with the transposed weight, then `Add` of the bias. CSR matrices are written
//! dense at the compact shape (ONNX's default domain has no sparse product).

use super::net::{Block, TransformerNet};
use super::stream_norm::StreamNorm;
use crate::network::LinearOp;
use crate::onnx::builder::GraphBuilder;
use crate::onnx::ops::gemm;
use crate::onnx::proto::{self, attr_int, attr_ints, Dim};
use crate::onnx::Variant;

struct Emitter {
    b: GraphBuilder,
}

impl Emitter {
    fn scalar(&mut self, name: &str, v: f32) -> String {
        self.b.initializer(name, &[], &[v])
    }

    fn ints(&mut self, name: &str, v: &[i64]) -> String {
        self.b.initializer_i64(name, &[v.len()], v)
    }

    fn op(&mut self, op: &'static str, name: &str, inputs: &[&String]) -> String {
        let inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        self.b.node(op, name, &inputs, vec![])
    }

    /// `x[N, T, in] · Wᵀ + b`.
    fn linear(&mut self, x: &String, l: &LinearOp) -> String {
        let m = l.weight.to_dense();
        let wt = crate::network::transpose(&m.data, m.rows, m.cols);
        let w = self.b.initializer(&format!("{}.weight_t", l.name), &[m.cols, m.rows], &wt);
        let bias = self.b.initializer(&format!("{}.bias", l.name), &[m.rows], &l.bias);
        let y = self.op("MatMul", &l.name, &[x, &w]);
        self.op("Add", &format!("{}_bias", l.name), &[&y, &bias])
    }

    fn reduce_last(&mut self, name: &str, x: &str) -> String {
        let axes = self.ints(&format!("{name}_axes"), &[-1]);
        self.b.node("ReduceSum", name, &[x.to_owned(), axes], vec![attr_int("keepdims", 1)])
    }

    fn norm(&mut self, name: &str, x: &String, n: &StreamNorm) -> String {
        let inv_width = self.scalar(&format!("{name}.inv_width"), 1.0 / n.width as f32);
        let sum = self.reduce_last(&format!("{name}_sum"), x);
        let mean = self.op("Mul", &format!("{name}_mean"), &[&sum, &inv_width]);
        let centred = self.op("Sub", &format!("{name}_centred"), &[x, &mean]);
        let sq = self.op("Mul", &format!("{name}_sq"), &[&centred, &centred]);
        let mut ss = self.reduce_last(&format!("{name}_ss"), &sq);
        let missing = n.width - n.gamma.len();
        if missing > 0 {
            let m = self.scalar(&format!("{name}.missing"), missing as f32);
            let mean_sq = self.op("Mul", &format!("{name}_mean_sq"), &[&mean, &mean]);
            let extra = self.op("Mul", &format!("{name}_missing_sq"), &[&mean_sq, &m]);
            ss = self.op("Add", &format!("{name}_ss_all"), &[&ss, &extra]);
        }
        let var = self.op("Mul", &format!("{name}_var"), &[&ss, &inv_width]);
        let eps = self.scalar(&format!("{name}.eps"), n.eps);
        let var_eps = self.op("Add", &format!("{name}_var_eps"), &[&var, &eps]);
        let std = self.op("Sqrt", &format!("{name}_std"), &[&var_eps]);
        let normed = self.op("Div", &format!("{name}_normed"), &[&centred, &std]);
        let gamma = self.b.initializer(&format!("{name}.gamma"), &[n.gamma.len()], &n.gamma);
        let beta = self.b.initializer(&format!("{name}.beta"), &[n.beta.len()], &n.beta);
        let scaled = self.op("Mul", &format!("{name}_scaled"), &[&normed, &gamma]);
        self.op("Add", name, &[&scaled, &beta])
    }

    /// `[N, T, A]` → `[N, H, T, hd]` (or `[N, H, hd, T]` with `keys_last`).
    fn heads(&mut self, name: &str, x: &String, block: &Block, keys_last: bool) -> String {
        let shape = self.ints(&format!("{name}_shape"), &[0, 0, block.heads as i64, block.head_dim as i64]);
        let r = self.op("Reshape", &format!("{name}_split"), &[x, &shape]);
        let perm: &[i64] = if keys_last { &[0, 2, 3, 1] } else { &[0, 2, 1, 3] };
        self.b.node("Transpose", &format!("{name}_heads"), &[r], vec![attr_ints("perm", perm)])
    }

    fn block(&mut self, x: String, blk: &Block, key_bias: &String) -> String {
        let n = &blk.name;
        let a = blk.heads * blk.head_dim;
        let h = self.norm(&format!("{n}.attention_norm"), &x, &blk.attention_norm);
        // The stacked projection split back into its three `[A, d]` blocks.
        let m = blk.qkv.weight.to_dense();
        let mut proj = Vec::new();
        for (i, p) in ["query", "key", "value"].iter().enumerate() {
            let w = crate::dense::DenseMat::new(a, m.cols, m.data[i * a * m.cols..(i + 1) * a * m.cols].to_vec());
            let l = LinearOp { name: format!("{n}.attention.{p}"), weight: crate::network::Weights::Dense(w), bias: blk.qkv.bias[i * a..(i + 1) * a].to_vec() };
            proj.push(self.linear(&h, &l));
        }
        let q = self.heads(&format!("{n}.q"), &proj[0], blk, false);
        let k = self.heads(&format!("{n}.k"), &proj[1], blk, true);
        let v = self.heads(&format!("{n}.v"), &proj[2], blk, false);
        let scores = self.op("MatMul", &format!("{n}.scores"), &[&q, &k]);
        let scale = self.scalar(&format!("{n}.scale"), 1.0 / (blk.head_dim as f32).sqrt());
        let scaled = self.op("Mul", &format!("{n}.scores_scaled"), &[&scores, &scale]);
        let masked = self.op("Add", &format!("{n}.scores_masked"), &[&scaled, key_bias]);
        let weights = self.b.node("Softmax", &format!("{n}.softmax"), &[masked], vec![attr_int("axis", -1)]);
        let ctx = self.op("MatMul", &format!("{n}.context"), &[&weights, &v]);
        let ctx = self.b.node("Transpose", &format!("{n}.context_tokens"), &[ctx], vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let shape = self.ints(&format!("{n}.context_shape"), &[0, 0, a as i64]);
        let ctx = self.op("Reshape", &format!("{n}.context_joined"), &[&ctx, &shape]);
        let out = self.linear(&ctx, &blk.attention_output);
        let x = self.op("Add", &format!("{n}.attention_add"), &[&x, &out]);
        let h = self.norm(&format!("{n}.ffn_norm"), &x, &blk.ffn_norm);
        let f = self.linear(&h, &blk.ffn_in);
        let inv_sqrt2 = self.scalar(&format!("{n}.inv_sqrt2"), std::f32::consts::FRAC_1_SQRT_2);
        let (half, one) = (self.scalar(&format!("{n}.half"), 0.5), self.scalar(&format!("{n}.one"), 1.0));
        let z = self.op("Mul", &format!("{n}.gelu_z"), &[&f, &inv_sqrt2]);
        let erf = self.op("Erf", &format!("{n}.gelu_erf"), &[&z]);
        let erf1 = self.op("Add", &format!("{n}.gelu_erf1"), &[&erf, &one]);
        let halfx = self.op("Mul", &format!("{n}.gelu_half"), &[&f, &half]);
        let g = self.op("Mul", &format!("{n}.gelu"), &[&halfx, &erf1]);
        let y = self.linear(&g, &blk.ffn_out);
        self.op("Add", &format!("{n}.ffn_add"), &[&x, &y])
    }
}

pub fn to_onnx(net: &TransformerNet, variant: Variant) -> Vec<u8> {
    let mut e = Emitter { b: GraphBuilder::new() };
    let (ids, mask) = ("ids".to_string(), "mask".to_string());
    let (t, d) = (net.max_len, net.d_model);
    let table = e.b.initializer("token_embedding.weight", &[net.vocab, d], &net.token);
    let tokens = e.b.node("Gather", "token_embedding", &[table, ids], vec![attr_int("axis", 0)]);
    let positions = e.b.initializer("position_embedding.weight", &[t, d], &net.position);
    let mut x = e.op("Add", "embed", &[&tokens, &positions]);
    // 0 on real keys, −10⁹ on padding: [N, 1, 1, T], added to every head's scores.
    let (one, big) = (e.scalar("one", 1.0), e.scalar("masked_score", -1.0e9));
    let padding = e.op("Sub", "padding", &[&one, &mask]);
    let bias = e.op("Mul", "key_bias_flat", &[&padding, &big]);
    let axes = e.ints("key_bias_axes", &[1, 2]);
    let key_bias = e.op("Unsqueeze", "key_bias", &[&bias, &axes]);
    for blk in &net.blocks {
        x = e.block(x, blk, &key_bias);
    }
    let h = e.norm("norm", &x, &net.norm);
    // Mean over real tokens: Σ_t mask·h / Σ_t mask.
    let last = e.ints("mask_axes", &[-1]);
    let mask3 = e.op("Unsqueeze", "mask_tokens", &[&mask, &last]);
    let masked = e.op("Mul", "pool_masked", &[&h, &mask3]);
    let tok_axis = e.ints("pool_axes", &[1]);
    let sum = e.b.node("ReduceSum", "pool_sum", &[masked, tok_axis.clone()], vec![attr_int("keepdims", 0)]);
    let count = e.b.node("ReduceSum", "pool_count", &[mask3, tok_axis], vec![attr_int("keepdims", 0)]);
    let pooled = e.op("Div", "pool", &[&sum, &count]);
    gemm::emit(&mut e.b, &pooled, &net.fc);
    let doc = format!("dtprune {} ({} model): {} encoder blocks; inputs ids (int64) and mask (float, 1 on real tokens).", net.model, variant.name(), net.blocks.len());
    let inputs = [proto::value_info_typed("ids", &[Dim::Named("N"), Dim::Fixed(t)], proto::INT64), proto::value_info("mask", &[Dim::Named("N"), Dim::Fixed(t)])];
    let output = [Dim::Named("N"), Dim::Fixed(net.num_classes())];
    let graph = e.b.finish_with_inputs(&net.model, &doc, &inputs, ("logits", &output));
    let meta = vec![("dtprune.model".to_string(), net.model.clone()), ("dtprune.variant".to_string(), variant.name().to_string())];
    proto::model(&graph, &doc, &meta).into_bytes()
}
