//! Physical removal of structure-group units from any Burn module: every member slice of a
//! removed unit (`dtprune_prune::StructureGroup`, PyTorch-layout axes) is cut out of its tensor,
//! so the module's parameters shrink. The module's own bookkeeping (a head count, say) is the
//! caller's to refit; nothing else changes (ids and gradient tracking are kept).

use crate::params::{list_params, read_params, Layout, ParamInfo};
use crate::TrainError;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_prune::{MemberRole, StructureGroup};
use std::collections::HashMap;

/// One cut: along PyTorch-layout `axis`, keep the entries whose flag is true.
#[derive(Debug, Clone, PartialEq)]
struct Cut {
    axis: usize,
    keep: Vec<bool>,
}

/// `module` without the units `removed[g]` of each group `groups[g]`. An unknown tensor, an
/// axis or unit out of range is an error naming the group.
pub fn remove_units<M: Module>(module: M, groups: &[StructureGroup], removed: &[Vec<usize>]) -> Result<M, TrainError> {
    let params = list_params(&module);
    let cuts = plan(&params, groups, removed)?;
    let by_id: HashMap<ParamId, (ParamInfo, Vec<Cut>)> = params.into_iter().filter_map(|p| cuts.get(&p.name).map(|c| (p.id, (p.clone(), c.clone())))).collect();
    Ok(module.map(&mut Cutter { cuts: by_id }))
}

/// Per group, the units whose every producer and follower slice is exactly zero in `module`:
/// what the engine's masks leave of a unit the structure policy removed, or of one weight
/// pruning emptied along with its biases and norm entries. Consumer slices need not be zero. A
/// member tensor the module lacks makes no unit dead.
pub fn dead_units<M: Module>(module: &M, groups: &[StructureGroup]) -> Vec<Vec<usize>> {
    let infos = list_params(module);
    let values = read_params(module, &infos);
    groups
        .iter()
        .map(|g| {
            let members: Vec<_> = g.members.iter().filter(|m| m.role != MemberRole::Consumer).collect();
            (0..g.units)
                .filter(|&u| {
                    members.iter().all(|m| {
                        let Some(info) = infos.iter().find(|p| p.name == m.tensor) else { return false };
                        let shape = info.torch_shape();
                        let Some(start) = window_start(&shape, g, m) else { return false };
                        let (outer, dim, inner): (usize, usize, usize) = (shape[..m.axis].iter().product(), shape[m.axis], shape[m.axis + 1..].iter().product());
                        let v = &values[&info.id];
                        let a = start + u * m.span;
                        (0..outer).all(|o| v[(o * dim + a) * inner..(o * dim + a + m.span) * inner].iter().all(|&x| x == 0.0))
                    })
                })
                .collect()
        })
        .collect()
}

/// Every tensor's cuts, in group order.
fn plan(params: &[ParamInfo], groups: &[StructureGroup], removed: &[Vec<usize>]) -> Result<HashMap<String, Vec<Cut>>, TrainError> {
    let bad = |g: &StructureGroup, message: String| TrainError::Config { path: None, message: format!("removing units of group `{}`: {message}", g.name) };
    let mut cuts: HashMap<String, Vec<Cut>> = HashMap::new();
    for (g, units) in groups.iter().zip(removed) {
        if let Some(&u) = units.iter().find(|&&u| u >= g.units) {
            return Err(bad(g, format!("unit {u} out of range (the group has {})", g.units)));
        }
        if units.is_empty() {
            continue;
        }
        for m in &g.members {
            let p = params.iter().find(|p| p.name == m.tensor).ok_or_else(|| bad(g, format!("the module has no tensor `{}`", m.tensor)))?;
            // Planned on the original shapes; cuts of one tensor along one axis (windows of a
            // concatenation read by several groups) are merged into one, so that no cut shifts
            // another's indices.
            let shape = p.torch_shape();
            let Some(start) = window_start(&shape, g, m) else {
                return Err(bad(g, format!("`{}` {shape:?} has no {} units of {} along axis {}{}", m.tensor, g.units, m.span, m.axis, m.offset.map_or(String::new(), |o| format!(" from offset {o}")))));
            };
            let tensor_cuts = cuts.entry(m.tensor.clone()).or_default();
            let at = match tensor_cuts.iter().position(|c| c.axis == m.axis) {
                Some(i) => i,
                None => {
                    tensor_cuts.push(Cut { axis: m.axis, keep: vec![true; shape[m.axis]] });
                    tensor_cuts.len() - 1
                }
            };
            for &u in units {
                let a = start + u * m.span;
                tensor_cuts[at].keep[a..a + m.span].iter_mut().for_each(|k| *k = false);
            }
        }
    }
    Ok(cuts)
}

/// Where unit 0 of `g` starts along `m`'s axis of a tensor of `shape`, if the units fit there:
/// the whole axis, or the member's window of it.
fn window_start(shape: &[usize], g: &StructureGroup, m: &dtprune_prune::GroupMember) -> Option<usize> {
    let dim = *shape.get(m.axis)?;
    match m.offset {
        None => (dim == g.units * m.span).then_some(0),
        Some(o) => (o + g.units * m.span <= dim).then_some(o),
    }
}

struct Cutter {
    cuts: HashMap<ParamId, (ParamInfo, Vec<Cut>)>,
}

impl ModuleMapper for Cutter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((info, cuts)) = self.cuts.get(&param.id) else { return param };
        let (id, mut tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let device = tensor.device();
        for cut in cuts {
            // Burn stores a Linear weight `[in, out]`: PyTorch's axis 0 is its axis 1.
            let axis = match info.layout {
                Layout::LinearWeight => 1 - cut.axis,
                Layout::Same => cut.axis,
            };
            let kept: Vec<i64> = cut.keep.iter().enumerate().filter(|(_, &k)| k).map(|(i, _)| i as i64).collect();
            let n = kept.len();
            tensor = tensor.select(axis, Tensor::<1, Int>::from_data(TensorData::new(kept, [n]), &device));
        }
        let mut t = tensor.detach();
        if require_grad {
            t = t.require_grad();
        }
        Param::from_mapped_value(id, t, mapper)
    }
}

/// For the models' removal tests: a unit zeroed the way the engine's masks zero it.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::params::{list_params, read_params, write_params};
    use burn::module::Module;
    use dtprune_prune::StructureGroup;

    /// Zeroes every member slice of `unit` of group `g` (`span` entries per unit on its axis).
    pub(crate) fn zero_unit<M: Module>(m: M, g: &StructureGroup, unit: usize) -> M {
        let infos = list_params(&m);
        let mut values = read_params(&m, &infos);
        for member in &g.members {
            let info = infos.iter().find(|p| p.name == member.tensor).expect("a group member is a parameter");
            let shape = info.torch_shape();
            let (outer, dim, inner): (usize, usize, usize) = (shape[..member.axis].iter().product(), shape[member.axis], shape[member.axis + 1..].iter().product());
            let v = values.get_mut(&info.id).expect("read");
            let start = member.offset.unwrap_or(0) + unit * member.span;
            for o in 0..outer {
                for a in start..start + member.span {
                    v[(o * dim + a) * inner..(o * dim + a + 1) * inner].iter_mut().for_each(|x| *x = 0.0);
                }
            }
        }
        write_params(m, &infos, &values)
    }
}
