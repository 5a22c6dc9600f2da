//! A mapped tensor as the pruning policies read it: its values decoded to f32 one chunk at a
//! time, so a pass needs one chunk of memory whatever the tensor's size.

use crate::float::FloatKind;
use crate::mapped::{MappedCheckpoint, TensorEntry, CHUNK_BYTES};
use dtprune_prune::checkpoint::TensorStream;

pub struct MappedTensor<'a> {
    file: &'a MappedCheckpoint,
    entry: &'a TensorEntry,
    kind: FloatKind,
}

impl<'a> MappedTensor<'a> {
    /// `None` for a tensor that is not F32/F16/BF16.
    pub fn new(file: &'a MappedCheckpoint, entry: &'a TensorEntry) -> Option<Self> {
        Some(Self { file, entry, kind: entry.float_kind()? })
    }
}

impl TensorStream for MappedTensor<'_> {
    fn name(&self) -> &str {
        &self.entry.name
    }

    fn pass(&self, sink: &mut dyn FnMut(&[f32])) {
        let mut values = Vec::with_capacity(CHUNK_BYTES / self.kind.size());
        self.file.for_each_chunk(self.entry.bytes.clone(), |bytes| {
            values.clear();
            self.kind.decode(bytes, &mut values);
            sink(&values);
        });
    }
}
