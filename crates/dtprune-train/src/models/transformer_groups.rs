//! The structured units of [`TransformerClassifier`], as `dtprune-prune` groups (tensor names
//! and axes in PyTorch layout, `[out, in]` for a Linear weight):
//!
//! - **attention head** `h` of block `l` (`blocks.l.heads`): rows `[h·d_h, (h+1)·d_h)` of the
//!   query, key and value weights and biases (producers and their biases), and the same
//!   columns of the output projection (consumer);
//! - **feed-forward neuron** `u` of block `l` (`blocks.l.ffn`): row `u` of `ffn_in` and its bias,
//!   column `u` of `ffn_out`;
//! - **residual stream dimension** `j` (`stream`, one group across every block): column `j`
//!   of both embedding tables, row `j` of every block's `attention_output` and `ffn_out` with
//!   their biases (the writers), entry `j` of every LayerNorm's γ and β, and column `j` of every
//!   reader (query, key, value, `ffn_in`, the classifier).
//!
//! Biases and norms are followers: masked with their unit, never pruned by magnitude. Masking
//! every slice makes a removed unit exactly zero, so removing it physically
//! ([`super::transformer_shrink`]) gives the same outputs; the stream's writers' biases and the
//! norms' γ/β must be masked for that (a LayerNorm reads every dimension of the stream), the
//! others for a clean zero.

use super::TransformerClassifier;
use dtprune_prune::{GroupMember, MemberRole, StructureGroup};

fn member(tensor: String, axis: usize, span: usize, role: MemberRole) -> GroupMember {
    GroupMember { tensor, axis, span, role, offset: None }
}

/// Heads and feed-forward neurons of every block, then the residual stream.
pub fn groups(model: &TransformerClassifier) -> Vec<StructureGroup> {
    use MemberRole::{Consumer, Follower, Producer};
    let mut groups = Vec::new();
    let mut stream = vec![
        member("token_embedding.weight".into(), 1, 1, Producer),
        member("position_embedding.weight".into(), 1, 1, Producer),
    ];
    for (l, block) in model.blocks.iter().enumerate() {
        let t = |s: &str| format!("blocks.{l}.{s}");
        let head_dim = block.attention.head_dim();
        let mut heads = Vec::new();
        for p in ["query", "key", "value"] {
            heads.push(member(t(&format!("attention.{p}.weight")), 0, head_dim, Producer));
            heads.push(member(t(&format!("attention.{p}.bias")), 0, head_dim, Follower));
        }
        heads.push(member(t("attention_output.weight"), 1, head_dim, Consumer));
        groups.push(StructureGroup { name: t("heads"), units: block.attention.heads(), removable: true, members: heads });

        let ffn = crate::graph::param_dims(&block.ffn_in.weight)[1];
        let neurons = vec![member(t("ffn_in.weight"), 0, 1, Producer), member(t("ffn_in.bias"), 0, 1, Follower), member(t("ffn_out.weight"), 1, 1, Consumer)];
        groups.push(StructureGroup { name: t("ffn"), units: ffn, removable: true, members: neurons });

        for writer in ["attention_output", "ffn_out"] {
            stream.push(member(t(&format!("{writer}.weight")), 0, 1, Producer));
            stream.push(member(t(&format!("{writer}.bias")), 0, 1, Follower));
        }
        for norm in ["attention_norm", "ffn_norm"] {
            stream.push(member(t(&format!("{norm}.gamma")), 0, 1, Follower));
            stream.push(member(t(&format!("{norm}.beta")), 0, 1, Follower));
        }
        for reader in ["attention.query", "attention.key", "attention.value", "ffn_in"] {
            stream.push(member(t(&format!("{reader}.weight")), 1, 1, Consumer));
        }
    }
    stream.extend([member("norm.gamma".into(), 0, 1, Follower), member("norm.beta".into(), 0, 1, Follower), member("fc.weight".into(), 1, 1, Consumer)]);
    groups.push(StructureGroup { name: "stream".into(), units: model.d_model(), removable: true, members: stream });
    groups
}
