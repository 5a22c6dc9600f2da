//! safetensors files with PyTorch names and layouts (`fc1.weight` `[out, in]`, conv
//! `[out, in, kh, kw]`), loadable from PyTorch, numpy or any safetensors reader without dtprune.

use crate::params::{list_params, read_params, write_params, ParamInfo};
use crate::TrainError;
use burn::module::Module;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Named F32 tensors in PyTorch layout.
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every float parameter of the module, in PyTorch layout.
pub fn module_tensors<M: Module>(module: &M) -> NamedTensors {
    let infos = list_params(module);
    let mut values = read_params(module, &infos);
    infos.iter().map(|i| (i.name.clone(), (i.torch_shape(), values.remove(&i.id).unwrap_or_default()))).collect()
}

pub fn save_safetensors(path: &Path, tensors: &NamedTensors, metadata: &[(&str, String)]) -> Result<(), TrainError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| (name.clone(), shape.clone(), values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(name, shape, data)| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), data).expect("shape matches data")))
        .collect();
    let meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let out = safetensors::serialize(views, Some(meta)).map_err(|e| TrainError::Safetensors { path: path.into(), message: e.to_string() })?;
    crate::io::write_atomic(path, &out)
}

/// Reads every tensor of a safetensors file as F32; any other dtype is an error naming the tensor.
pub fn load_safetensors(path: &Path) -> Result<NamedTensors, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::Io { path: path.into(), source: e })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| TrainError::Safetensors { path: path.into(), message: e.to_string() })?;
    let mut out = NamedTensors::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TrainError::Tensor { path: path.into(), tensor: name, message: format!("dtype is {:?}, expected F32", view.dtype()) });
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Loads weights by PyTorch name into `module`; a missing tensor or a wrong shape is an error
/// naming the tensor. Extra tensors in the file are ignored.
pub fn load_into<M: Module>(module: M, path: &Path, tensors: &NamedTensors) -> Result<M, TrainError> {
    let infos: Vec<ParamInfo> = list_params(&module);
    let mut values = HashMap::new();
    for info in &infos {
        let Some((shape, data)) = tensors.get(&info.name) else {
            return Err(TrainError::Tensor { path: path.into(), tensor: info.name.clone(), message: "missing from the file".into() });
        };
        let expected = info.torch_shape();
        if *shape != expected {
            return Err(TrainError::Tensor {
                path: path.into(),
                tensor: info.name.clone(),
                message: format!("shape {shape:?}, expected {expected:?}"),
            });
        }
        values.insert(info.id, data.clone());
    }
    Ok(write_params(module, &infos, &values))
}
