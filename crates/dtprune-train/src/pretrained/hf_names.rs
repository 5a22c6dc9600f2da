//! Hugging Face BERT tensor names ↔ the [`Bert`](super::bert::Bert) module's parameter paths,
//! and loading a `model.safetensors` under those names.
//!
//! Two spellings differ because Rust cannot use them as field names: `attention.self` is
//! `attention.self_attention`, and `LayerNorm.weight`/`.bias` is `layer_norm.gamma`/`.beta`
//! (Burn's names; old BERT checkpoints say `LayerNorm.gamma`/`.beta` themselves).

use super::error::{PretrainedError, Result};
use crate::export::{load_into, NamedTensors};
use crate::params::list_params;
use burn::module::Module;
use safetensors::tensor::{Dtype, SafeTensors};
use std::path::Path;

/// The Hugging Face name of a Burn parameter path.
pub fn hf_name(burn_path: &str) -> String {
    burn_path.replace(".self_attention.", ".self.").replace("layer_norm.gamma", "LayerNorm.weight").replace("layer_norm.beta", "LayerNorm.bias")
}

/// The Burn parameter path of a Hugging Face name (both LayerNorm spellings), with an optional
/// `bert.` prefix (checkpoints of task models) removed.
pub fn burn_path(hf: &str) -> String {
    let hf = hf.strip_prefix("bert.").unwrap_or(hf);
    hf.replace(".self.", ".self_attention.")
        .replace("LayerNorm.weight", "layer_norm.gamma")
        .replace("LayerNorm.bias", "layer_norm.beta")
        .replace("LayerNorm.gamma", "layer_norm.gamma")
        .replace("LayerNorm.beta", "layer_norm.beta")
}

/// Loads every parameter of `module` from a Hugging Face `model.safetensors`. Tensors the
/// encoder does not use (the pooler, `position_ids`) are skipped; a missing tensor, a wrong
/// shape or a dtype other than F32 is an error naming the tensor.
pub fn load_hf_weights<M: Module>(module: M, path: &Path) -> Result<M> {
    let bytes = std::fs::read(path).map_err(|source| PretrainedError::Io { path: path.into(), source })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| PretrainedError::Safetensors { path: path.into(), message: e.to_string() })?;
    let wanted: std::collections::HashSet<String> = list_params(&module).into_iter().map(|p| p.name).collect();
    let mut tensors = NamedTensors::new();
    for (name, view) in file.tensors() {
        let path_in_module = burn_path(&name);
        if !wanted.contains(&path_in_module) {
            continue;
        }
        if view.dtype() != Dtype::F32 {
            return Err(PretrainedError::Tensor {
                path: path.into(),
                tensor: name,
                message: format!("dtype {:?} is not supported yet; convert the checkpoint to float32", view.dtype()),
            });
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        tensors.insert(path_in_module, (view.shape().to_vec(), values));
    }
    load_into(module, path, &tensors).map_err(|e| match e {
        crate::TrainError::Tensor { path, tensor, message } => PretrainedError::Tensor { path, tensor: hf_name(&tensor), message },
        other => PretrainedError::Config { path: path.into(), message: other.to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for (hf, burn) in [
            ("encoder.layer.3.attention.self.query.weight", "encoder.layer.3.attention.self_attention.query.weight"),
            ("encoder.layer.0.attention.output.LayerNorm.weight", "encoder.layer.0.attention.output.layer_norm.gamma"),
            ("embeddings.LayerNorm.bias", "embeddings.layer_norm.beta"),
            ("embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"),
        ] {
            assert_eq!(burn_path(hf), burn);
            assert_eq!(hf_name(burn), hf);
        }
        assert_eq!(burn_path("bert.embeddings.LayerNorm.gamma"), "embeddings.layer_norm.gamma");
    }
}
