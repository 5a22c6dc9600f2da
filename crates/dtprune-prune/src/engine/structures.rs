//! The engine's record of whole structures: which group units and residual blocks have been
//! removed, which tensor entries that locks, and how many units are dead.
//!
//! A removed unit (or block) is *locked*: its entries stay masked whatever a weight-level policy
//! decides next (no regrowth into it, no guard restoring a weight inside it), until a rollback
//! gives it back. That is what makes "remove whole groups, never one tensor's rows alone" hold
//! over the whole run, not just at the moment of removal.

use crate::engine::PrunableSpec;
use crate::group::{Group, ResolvedBlock};
use crate::mask::Mask;
use crate::policy::{Removal, StructureView, TensorView};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Structures {
    pub groups: Vec<Group>,
    pub blocks: Vec<ResolvedBlock>,
    pub removed_units: Vec<Vec<bool>>,
    pub removed_blocks: Vec<bool>,
}

impl Structures {
    pub fn new(groups: Vec<Group>, blocks: Vec<ResolvedBlock>) -> Self {
        let removed_units = groups.iter().map(|g| vec![false; g.units]).collect();
        let removed_blocks = vec![false; blocks.len()];
        Self { groups, blocks, removed_units, removed_blocks }
    }

    pub fn view<'a>(&'a self, all: &'a [TensorView<'a>]) -> StructureView<'a> {
        StructureView { groups: &self.groups, blocks: &self.blocks, removed_units: &self.removed_units, removed_blocks: &self.removed_blocks, all }
    }

    /// Marks what a policy removes, skipping what the graph forbids: a unit of a group that is
    /// not removable or its last remaining unit, a block that is not removable, anything
    /// already removed. Returns what was newly removed.
    pub fn remove(&mut self, removals: &[Removal]) -> Vec<Removal> {
        let mut done = Vec::new();
        for &r in removals {
            match r {
                Removal::Unit { group, unit } => {
                    let (g, removed) = (&self.groups[group], &mut self.removed_units[group]);
                    let remaining = removed.iter().filter(|&&x| !x).count();
                    if g.removable && !removed[unit] && remaining > 1 {
                        removed[unit] = true;
                        done.push(r);
                    }
                }
                Removal::Block(b) => {
                    if self.blocks[b].removable && !self.removed_blocks[b] {
                        self.removed_blocks[b] = true;
                        done.push(r);
                    }
                }
            }
        }
        done
    }

    /// Gives back what a rolled-back prune event removed.
    pub fn restore(&mut self, removals: &[Removal]) {
        for &r in removals {
            match r {
                Removal::Unit { group, unit } => self.removed_units[group][unit] = false,
                Removal::Block(b) => self.removed_blocks[b] = false,
            }
        }
    }

    /// Per tensor, the entries not locked by a removed unit or block (`None`: nothing locked).
    pub fn open_masks(&self, specs: &[PrunableSpec]) -> Vec<Option<Mask>> {
        let mut open: Vec<Option<Mask>> = vec![None; specs.len()];
        let mut lock = |t: usize, indices: &mut dyn Iterator<Item = usize>| {
            let m = open[t].get_or_insert_with(|| Mask::ones(specs[t].numel()));
            indices.for_each(|j| m.set(j, false));
        };
        for (g, removed) in self.groups.iter().zip(&self.removed_units) {
            for u in (0..g.units).filter(|&u| removed[u]) {
                for m in &g.members {
                    lock(m.tensor, &mut m.indices(u));
                }
            }
        }
        for (b, _) in self.blocks.iter().zip(&self.removed_blocks).filter(|(_, &r)| r) {
            for &t in &b.tensors {
                lock(t, &mut (0..specs[t].numel()));
            }
        }
        open
    }

    /// Per group, the units whose every producer entry is masked (removed whole, or emptied by
    /// weight pruning): the "dead structures" the event log counts.
    pub fn dead_units(&self, masks: &[Mask]) -> Vec<usize> {
        self.groups
            .iter()
            .map(|g| {
                if g.producers().next().is_none() {
                    return 0;
                }
                (0..g.units).filter(|&u| g.producers().all(|m| m.indices(u).all(|j| !masks[m.tensor].keeps(j)))).count()
            })
            .collect()
    }

    /// Sets the removal flags from a snapshot (`None`: nothing removed).
    pub fn restore_flags(&mut self, flags: Option<(Vec<Vec<bool>>, Vec<bool>)>) {
        match flags {
            Some((units, blocks)) => (self.removed_units, self.removed_blocks) = (units, blocks),
            None => *self = Self::new(std::mem::take(&mut self.groups), std::mem::take(&mut self.blocks)),
        }
    }

    /// Whether a snapshot's removal flags fit these groups and blocks.
    pub fn fits(&self, units: &[Vec<bool>], blocks: &[bool]) -> bool {
        units.len() == self.groups.len() && units.iter().zip(&self.groups).all(|(u, g)| u.len() == g.units) && blocks.len() == self.blocks.len()
    }
}
