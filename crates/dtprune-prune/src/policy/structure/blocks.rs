//! Residual block removal — the seed's "delete layers whose ‖W‖_p < τ'": a removable block
//! (identity shortcut) whose branch weights are small goes whole; the add then passes the
//! shortcut alone, so the network stays well formed. At least one block of each stage stays.
//!
//! A block's norm is size-normalised, `(mean over its weights of |w|^p)^(1/p)`, so one τ'
//! (`block_tau`) means the same for a 16-channel and a 64-channel stage; the plain ‖W‖_p grows
//! with the block's size and would always pick the narrow stages first. BatchNorm γ/β
//! (followers) are left out: they are not the branch's weights, and γ ≈ 1 would swamp the mean.

use crate::policy::StructureView;

/// Tensors of the blocks already removed.
pub(super) fn removed_tensors(view: &StructureView) -> Vec<usize> {
    view.blocks.iter().zip(view.removed_blocks).filter(|(_, &r)| r).flat_map(|(b, _)| b.tensors.iter().copied()).collect()
}

/// `(mean |w|^p)^(1/p)` over the block's weight (non-follower) tensors.
pub fn block_norm(view: &StructureView, block: usize, p: f64) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for &t in &view.blocks[block].tensors {
        let t = &view.all[t];
        if !t.follower {
            sum += t.values.iter().map(|v| f64::from(v.abs()).powf(p)).sum::<f64>();
            n += t.values.len();
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64).powf(1.0 / p)
    }
}

/// Removable, not yet removed blocks whose norm is below `tau`, weakest first, keeping at
/// least one block (removable or not) alive in every stage. A block without a stage is kept.
pub fn weak_blocks(view: &StructureView, p: f64, tau: f64) -> Vec<usize> {
    let norms: Vec<f64> = (0..view.blocks.len()).map(|b| block_norm(view, b, p)).collect();
    let mut candidates: Vec<usize> =
        (0..view.blocks.len()).filter(|&b| view.blocks[b].removable && !view.removed_blocks[b] && view.blocks[b].stage.is_some() && norms[b] < tau).collect();
    candidates.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
    let mut alive: Vec<bool> = view.removed_blocks.iter().map(|&r| !r).collect();
    let mut chosen = Vec::new();
    for b in candidates {
        let stage = view.blocks[b].stage;
        let left = view.blocks.iter().zip(&alive).filter(|(x, &a)| a && x.stage == stage).count();
        if left > 1 {
            alive[b] = false;
            chosen.push(b);
        }
    }
    chosen
}
