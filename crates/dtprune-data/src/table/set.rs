//! Encoded tables: categorical ids and standardised numeric columns, row-major.

/// A labelled set of encoded rows. Row `i` has categorical ids
/// `categorical()[i·C .. (i+1)·C]` (one per categorical column, in schema order; index into that
/// column's embedding table) and numeric values `numeric()[i·M .. (i+1)·M]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSet {
    categorical: Vec<u32>,
    numeric: Vec<f32>,
    labels: Vec<u32>,
    lines: Vec<usize>,
    num_categorical: usize,
    num_numeric: usize,
}

impl TableSet {
    pub(crate) fn new(
        categorical: Vec<u32>,
        numeric: Vec<f32>,
        labels: Vec<u32>,
        lines: Vec<usize>,
        num_categorical: usize,
        num_numeric: usize,
    ) -> Self {
        debug_assert_eq!(categorical.len(), labels.len() * num_categorical);
        debug_assert_eq!(numeric.len(), labels.len() * num_numeric);
        Self {
            categorical,
            numeric,
            labels,
            lines,
            num_categorical,
            num_numeric,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn num_categorical(&self) -> usize {
        self.num_categorical
    }

    pub fn num_numeric(&self) -> usize {
        self.num_numeric
    }

    /// `[len, num_categorical]` row-major ids.
    pub fn categorical(&self) -> &[u32] {
        &self.categorical
    }

    /// `[len, num_numeric]` row-major standardised values.
    pub fn numeric(&self) -> &[f32] {
        &self.numeric
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// 1-based line of each row in its file.
    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// Copy of the rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let (c, m) = (self.num_categorical, self.num_numeric);
        Self {
            categorical: indices
                .iter()
                .flat_map(|&i| self.categorical[i * c..(i + 1) * c].iter().copied())
                .collect(),
            numeric: indices
                .iter()
                .flat_map(|&i| self.numeric[i * m..(i + 1) * m].iter().copied())
                .collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            lines: indices.iter().map(|&i| self.lines[i]).collect(),
            num_categorical: c,
            num_numeric: m,
        }
    }
}

/// Both splits and the schema they were encoded with.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSplits {
    pub train: TableSet,
    pub test: TableSet,
    pub schema: crate::table::schema::TableSchema,
    pub options: serde_json::Value,
}

/// What a model needs to know about tabular input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableShape {
    /// Embedding table size per categorical column (values + the unknown id).
    pub cardinalities: Vec<usize>,
    pub num_numeric: usize,
    pub num_classes: usize,
}

impl TableSplits {
    pub fn shape(&self) -> TableShape {
        TableShape {
            cardinalities: self
                .schema
                .categorical
                .iter()
                .map(|c| c.cardinality())
                .collect(),
            num_numeric: self.schema.numeric.len(),
            num_classes: self.schema.num_classes(),
        }
    }
}
