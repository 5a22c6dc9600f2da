//! Batch statistics recorded by training-mode BatchNorm layers ([`super::BatchNorm2d`]) and
//! combined over data-parallel shards.
//!
//! A forward pass runs inside [`capture`], which collects, in call order, what every BatchNorm
//! saw (per channel: mean, biased variance, element count). Shards of one batch run the same
//! layers in the same order, so their records line up; [`combine`] pools them, in shard order,
//! into the statistics of the whole batch — exactly those a single pass over it would give (up
//! to rounding) — from which the running statistics move once per step.

use burn::module::ParamId;
use std::cell::RefCell;

/// What one BatchNorm layer saw in one forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStats {
    /// The layer's `running_mean` parameter.
    pub mean_id: ParamId,
    /// The layer's `running_var` parameter.
    pub var_id: ParamId,
    /// Per channel.
    pub mean: Vec<f32>,
    /// Biased (population) variance per channel.
    pub var: Vec<f32>,
    /// Elements per channel (batch · rows · cols).
    pub count: usize,
    /// The layer's weight of a new batch in its running average.
    pub momentum: f64,
}

thread_local! {
    static SINK: RefCell<Option<Vec<BatchStats>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns what the BatchNorm layers it ran recorded on this thread. Outside a
/// capture nothing is recorded (and no running statistics move).
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<BatchStats>) {
    let outer = SINK.with_borrow_mut(|s| s.replace(Vec::new()));
    let result = f();
    let recorded = SINK.with_borrow_mut(|s| std::mem::replace(s, outer)).unwrap_or_default();
    (result, recorded)
}

/// Called by a layer; `make` runs only inside a capture (it copies the statistics to the host).
pub(crate) fn record(make: impl FnOnce() -> BatchStats) {
    SINK.with_borrow_mut(|s| {
        if let Some(records) = s.as_mut() {
            records.push(make());
        }
    });
}

/// The statistics of the whole batch from those of its shards (in shard order): per layer,
/// `n = Σ nᵢ`, `μ = Σ nᵢμᵢ / n`, `σ² = Σ nᵢ(σᵢ² + (μᵢ − μ)²) / n`, summed in f64.
/// Panics if the shards did not run the same layers.
pub fn combine(shards: Vec<Vec<BatchStats>>) -> Vec<BatchStats> {
    let mut shards = shards.into_iter();
    let Some(first) = shards.next() else { return Vec::new() };
    let rest: Vec<Vec<BatchStats>> = shards.collect();
    if rest.is_empty() {
        return first;
    }
    first
        .into_iter()
        .enumerate()
        .map(|(layer, head)| {
            let parts: Vec<&BatchStats> = std::iter::once(&head).chain(rest.iter().map(|s| &s[layer])).collect();
            assert!(parts.iter().all(|p| p.mean_id == head.mean_id && p.mean.len() == head.mean.len()), "shards ran different BatchNorm layers");
            let n: usize = parts.iter().map(|p| p.count).sum();
            let channels = head.mean.len();
            let mut mean = vec![0f32; channels];
            let mut var = vec![0f32; channels];
            for c in 0..channels {
                let mu = parts.iter().map(|p| p.count as f64 * f64::from(p.mean[c])).sum::<f64>() / n as f64;
                let ss = parts.iter().map(|p| p.count as f64 * (f64::from(p.var[c]) + (f64::from(p.mean[c]) - mu).powi(2))).sum::<f64>();
                mean[c] = mu as f32;
                var[c] = (ss / n as f64) as f32;
            }
            BatchStats { mean, var, count: n, ..head }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(id: (ParamId, ParamId), values: &[f64]) -> BatchStats {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        BatchStats { mean_id: id.0, var_id: id.1, mean: vec![mean as f32], var: vec![var as f32], count: values.len(), momentum: 0.1 }
    }

    /// Shards {1, 2} and {3, 6}: pooled mean 3 and biased variance 3.5, as over {1, 2, 3, 6}.
    #[test]
    fn combined_shards_equal_the_whole_batch() {
        let id = (ParamId::new(), ParamId::new());
        let whole = combine(vec![vec![stats(id, &[1.0, 2.0])], vec![stats(id, &[3.0, 6.0])]]);
        assert_eq!(whole, vec![BatchStats { mean_id: id.0, var_id: id.1, mean: vec![3.0], var: vec![3.5], count: 4, momentum: 0.1 }]);
        // Unequal shards weigh by size: {1} and {2, 3, 6}.
        let uneven = combine(vec![vec![stats(id, &[1.0])], vec![stats(id, &[2.0, 3.0, 6.0])]]);
        assert!((uneven[0].mean[0] - 3.0).abs() < 1e-6 && (uneven[0].var[0] - 3.5).abs() < 1e-6, "{uneven:?}");
    }

    #[test]
    fn nothing_is_recorded_outside_a_capture_and_captures_nest() {
        let id = (ParamId::new(), ParamId::new());
        record(|| panic!("not called outside a capture"));
        let ((), outer) = capture(|| {
            record(|| stats(id, &[1.0]));
            let ((), inner) = capture(|| record(|| stats(id, &[2.0])));
            assert_eq!(inner.len(), 1);
        });
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].mean, vec![1.0]);
    }
}
