//! Tabular rows: categorical ids (one embedding table per column; id 0 is "unseen in
//! training") and numeric columns, standardised by the loader with the training split's mean
//! and population std.

use super::{wrong_kind, InputKind, Prepare, Split, Targets};
use crate::TrainError;
use burn::prelude::*;
use burn::tensor::TensorData;
use dtprune_data::table::TableSet;
use dtprune_data::{Dataset, Splits};

/// What a tabular model is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Rows of each categorical column's embedding table (its training values + the unknown id).
    pub cardinalities: Vec<usize>,
    pub numeric: usize,
    pub classes: usize,
}

/// A batch of rows: `categorical` `[batch, columns]` ids and `numeric` `[batch, columns]`.
/// With no columns of a kind, its tensor is `None`.
pub struct TableBatch {
    pub categorical: Option<Tensor<2, Int>>,
    pub numeric: Option<Tensor<2>>,
}

/// A table split.
pub struct TableData {
    set: TableSet,
}

fn table(data: &Dataset) -> Result<(&dtprune_data::table::TableSplits, &TableSet), TrainError> {
    match &data.splits {
        Splits::Table { splits, val } => Ok((splits, val)),
        _ => Err(wrong_kind(TableData::NAME, data)),
    }
}

impl TableData {
    pub fn new(set: TableSet) -> Self {
        Self { set }
    }

    /// The split's ids, numeric columns and labels.
    pub fn rows(&self) -> &TableSet {
        &self.set
    }
}

impl InputKind for TableData {
    const NAME: &'static str = "table";
    type Info = TableInfo;
    type Batch = TableBatch;

    fn info(data: &Dataset) -> Result<TableInfo, TrainError> {
        let shape = table(data)?.0.shape();
        Ok(TableInfo { cardinalities: shape.cardinalities, numeric: shape.num_numeric, classes: shape.num_classes })
    }

    fn classes(info: &TableInfo) -> usize {
        info.classes
    }

    fn prepare(data: &Dataset, split: Split, how: &Prepare) -> Result<Self, TrainError> {
        let (splits, val) = table(data)?;
        let set = match split {
            Split::Train => &splits.train,
            Split::Val => val,
            Split::Test => &splits.test,
        };
        let first: Vec<usize> = (0..how.take(set.len())).collect();
        Ok(Self::new(set.select(&first)))
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn batch(&self, indices: &[usize], device: &Device) -> (TableBatch, Targets) {
        let n = indices.len();
        let (c, m) = (self.set.num_categorical(), self.set.num_numeric());
        let categorical = (c > 0).then(|| {
            let ids: Vec<i64> = indices.iter().flat_map(|&i| self.set.categorical()[i * c..(i + 1) * c].iter().map(|&v| i64::from(v))).collect();
            Tensor::<2, Int>::from_data(TensorData::new(ids, [n, c]), device)
        });
        let numeric = (m > 0).then(|| {
            let x: Vec<f32> = indices.iter().flat_map(|&i| self.set.numeric()[i * m..(i + 1) * m].iter().copied()).collect();
            Tensor::<2>::from_data(TensorData::new(x, [n, m]), device)
        });
        let labels: Vec<i64> = indices.iter().map(|&i| i64::from(self.set.labels()[i])).collect();
        (TableBatch { categorical, numeric }, Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device))
    }
}
