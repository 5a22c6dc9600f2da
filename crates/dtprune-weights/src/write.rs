//! The pruned file, streamed: pruning changes values, never sizes, so the input's header is
//! still exact and is copied byte for byte (tensor order, offsets, `__metadata__`, even its
//! whitespace); then each tensor's bytes follow, pruned with its τ or copied unchanged.

use crate::mapped::{MappedCheckpoint, CHUNK_BYTES};
use std::io::{self, Write};

/// Writes the checkpoint with `taus[i]` applied to tensor `i` (`None`: copied). Returns how many
/// values of each float tensor are zero in the output (`None` for other dtypes).
pub fn write_pruned(file: &MappedCheckpoint, taus: &[Option<f32>], out: &mut impl Write) -> io::Result<Vec<Option<usize>>> {
    out.write_all(file.header_bytes())?;
    let mut pruned = Vec::with_capacity(CHUNK_BYTES);
    let mut zeros = Vec::with_capacity(taus.len());
    for (entry, tau) in file.entries().iter().zip(taus) {
        let kind = entry.float_kind();
        let mut count = 0usize;
        let mut result = Ok(());
        file.for_each_chunk(entry.bytes.clone(), |bytes| {
            if result.is_err() {
                return;
            }
            result = match (kind, tau) {
                (Some(kind), Some(tau)) => {
                    pruned.clear();
                    count += kind.prune(bytes, *tau, &mut pruned);
                    out.write_all(&pruned)
                }
                (kind, _) => {
                    count += kind.map_or(0, |k| k.zeros(bytes));
                    out.write_all(bytes)
                }
            };
        });
        result?;
        zeros.push(kind.map(|_| count));
    }
    Ok(zeros)
}
