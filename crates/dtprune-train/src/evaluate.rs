//! Loss and metric of a model on a data split, without gradients.

use crate::input::InputKind;
use crate::model::Model;
use crate::parallel;
use crate::task::Task;
use burn::prelude::*;
use rayon::prelude::*;

pub struct Evaluation {
    pub loss: f64,
    /// The task's metric (accuracy for classification).
    pub accuracy: f64,
}

/// Items per evaluation forward pass, and passes run at once.
const EVAL_CHUNK: usize = 500;
const EVAL_THREADS: usize = 2;

/// Mean loss and metric of `model` on `data`.
pub fn evaluate<M: Model>(model: &M, data: &M::Input, device: &Device) -> Evaluation {
    let model = model.valid();
    let device = device.clone().inner();
    let task = M::Task::new(&device);
    let indices: Vec<usize> = (0..data.len()).collect();
    // Chunks run two at a time: most of a forward pass's operations use one core each (see
    // `parallel`). Each chunk's loss and count are kept and summed in chunk order, so the result
    // does not depend on which thread ran what.
    let chunks: Vec<&[usize]> = indices.chunks(EVAL_CHUNK).collect();
    let parts: Vec<(f64, i64)> = parallel::pool(EVAL_THREADS).install(|| {
        chunks
            .par_iter()
            .with_max_len(1)
            .map(|chunk| {
                let (x, y) = data.batch(chunk, &device);
                let logits = model.forward(x);
                let loss = f64::from(task.loss(logits.clone(), y.clone()).into_scalar::<f32>()) * chunk.len() as f64;
                (loss, task.hits(logits, y))
            })
            .collect()
    });
    let (loss_sum, correct) = parts.iter().fold((0f64, 0i64), |(l, c), (pl, pc)| (l + pl, c + pc));
    let n = data.len().max(1) as f64;
    Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n }
}
