//! Generic walks over any Burn module's parameters: find the prunable tensors, copy them to the
//! host in PyTorch layout, and write values back. Works for every `#[derive(Module)]` type, so
//! a library user's own model is pruned the same way as the built-in ones.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::TensorData;
use std::collections::HashMap;

/// How a parameter's Burn layout relates to the PyTorch layout dtprune reports and exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Burn stores `Linear` weights `[in, out]`; PyTorch `[out, in]`: transpose.
    LinearWeight,
    /// Same layout in both (conv `[out, in, kh, kw]`, biases, norms).
    Same,
}

/// One float parameter of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub id: ParamId,
    /// Dotted name, PyTorch style: `fc1.weight`.
    pub name: String,
    /// Shape as Burn stores it.
    pub burn_shape: Vec<usize>,
    pub layout: Layout,
    /// Type of the module that owns it, e.g. `Linear`.
    pub owner: String,
}

impl ParamInfo {
    /// Shape in PyTorch layout.
    pub fn torch_shape(&self) -> Vec<usize> {
        match self.layout {
            Layout::LinearWeight => vec![self.burn_shape[1], self.burn_shape[0]],
            Layout::Same => self.burn_shape.clone(),
        }
    }

    pub fn numel(&self) -> usize {
        self.burn_shape.iter().product()
    }

    /// Weights of Linear, Conv and Embedding layers are prunable by default (not biases, not
    /// norms).
    pub fn prunable_by_default(&self) -> bool {
        self.name.ends_with(".weight") && matches!(self.owner.as_str(), "Linear" | "Conv1d" | "Conv2d" | "Conv3d" | "GemmConv2d" | "Embedding")
    }
}

/// The prunable parameters of a model: Linear/Conv weights, or those matching one of `patterns`
/// (globs over dotted names) when any are given.
pub fn prunable_params<M: Module>(model: &M, patterns: &[String]) -> Vec<ParamInfo> {
    list_params(model)
        .into_iter()
        .filter(|p| if patterns.is_empty() { p.prunable_by_default() } else { patterns.iter().any(|g| glob_match(g, &p.name)) })
        .collect()
}

/// Every float parameter of `module`, in visiting order.
pub fn list_params<M: Module>(module: &M) -> Vec<ParamInfo> {
    let mut v = Lister { path: Vec::new(), owners: Vec::new(), out: Vec::new() };
    module.visit(&mut v);
    v.out
}

struct Lister {
    path: Vec<String>,
    owners: Vec<String>,
    out: Vec<ParamInfo>,
}

impl ModuleVisitor for Lister {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.owners.push(container_type.rsplit(':').next().unwrap_or(container_type).to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.owners.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let owner = self.owners.last().cloned().unwrap_or_default();
        let burn_shape = param.lazy_shape().dims::<D>().to_vec();
        let layout = if owner == "Linear" && self.path.last().is_some_and(|p| p == "weight") && D == 2 {
            Layout::LinearWeight
        } else {
            Layout::Same
        };
        self.out.push(ParamInfo { id: param.id, name: self.path.join("."), burn_shape, layout, owner });
    }
}

/// Glob match with `*` (any run of characters); used for `--prune-only` patterns.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| rec(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

/// Converts host values between PyTorch and Burn layouts.
pub fn to_torch_layout(info: &ParamInfo, burn_values: Vec<f32>) -> Vec<f32> {
    match info.layout {
        Layout::LinearWeight => transpose(&burn_values, info.burn_shape[0], info.burn_shape[1]),
        Layout::Same => burn_values,
    }
}

pub fn to_burn_layout(info: &ParamInfo, torch_values: Vec<f32>) -> Vec<f32> {
    match info.layout {
        Layout::LinearWeight => transpose(&torch_values, info.burn_shape[1], info.burn_shape[0]),
        Layout::Same => torch_values,
    }
}

/// Row-major `[rows, cols]` → `[cols, rows]`.
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Host copies of the requested parameters (PyTorch layout), by id.
pub fn read_params<M: Module>(module: &M, wanted: &[ParamInfo]) -> HashMap<ParamId, Vec<f32>> {
    struct Reader<'a> {
        wanted: &'a [ParamInfo],
        out: HashMap<ParamId, Vec<f32>>,
    }
    impl ModuleVisitor for Reader<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(info) = self.wanted.iter().find(|i| i.id == param.id) {
                let data = param.val().into_data().convert::<f32>();
                let values = data.try_into_vec::<f32>().expect("float parameter holds f32 after convert");
                self.out.insert(param.id, to_torch_layout(info, values));
            }
        }
    }
    let mut r = Reader { wanted, out: HashMap::new() };
    module.visit(&mut r);
    r.out
}

/// Replaces the values of the given parameters (PyTorch layout), keeping ids and autodiff state.
pub fn write_params<M: Module>(module: M, infos: &[ParamInfo], values: &HashMap<ParamId, Vec<f32>>) -> M {
    struct Writer<'a> {
        infos: &'a [ParamInfo],
        values: &'a HashMap<ParamId, Vec<f32>>,
    }
    impl ModuleMapper for Writer<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (Some(info), Some(v)) = (self.infos.iter().find(|i| i.id == param.id), self.values.get(&param.id)) else {
                return param;
            };
            let (id, tensor, mapper) = param.consume();
            let require_grad = tensor.is_require_grad();
            let device = tensor.device();
            let data = TensorData::new(to_burn_layout(info, v.clone()), info.burn_shape.clone());
            let mut t = Tensor::<D>::from_data(data, &device);
            if require_grad {
                t = t.require_grad();
            }
            Param::from_mapped_value(id, t, mapper)
        }
    }
    module.map(&mut Writer { infos, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_by_hand() {
        // [[1,2,3],[4,5,6]] -> [[1,4],[2,5],[3,6]]
        assert_eq!(transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("fc*.weight", "fc1.weight"));
        assert!(glob_match("*", "conv1.weight"));
        assert!(!glob_match("conv*", "fc1.weight"));
        assert!(glob_match("*.weight", "layer.0.fc.weight"));
    }
}
