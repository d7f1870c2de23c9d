//! Query results, in Prometheus' four value types.

use crate::labels::Labels;
use crate::storage::Series;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// Evaluation timestamp in milliseconds.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at the evaluation time (instant queries only).
    Scalar {
        /// Evaluation timestamp (ms).
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string at the evaluation time (instant queries only).
    String {
        /// Evaluation timestamp (ms).
        t: i64,
        /// The string.
        v: String,
    },
    /// An instant vector (instant queries). Sorted by labels unless the query's outermost
    /// operation orders it (`sort`, `sort_desc`, `topk`, `bottomk`).
    Vector(Vec<Sample>),
    /// A range vector of an instant query (e.g. `x[5m]`), or the result of a range query.
    /// Series are sorted by labels; each has at least one point.
    Matrix(Vec<Series>),
}

impl Value {
    /// The Prometheus type name: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// What a query cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Series returned by the storage over all selectors.
    pub series_selected: u64,
    /// Samples (and rollup windows, each counted once) returned by the storage over all selectors.
    pub samples_scanned: u64,
}

/// A query's value and its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result.
    pub value: Value,
    /// What it cost.
    pub stats: QueryStats,
    /// Notes on how it was computed, for the HTTP answer's `infos` (Prometheus 3), e.g. that a
    /// quantile came from rollup sketches within their error bound.
    pub infos: Vec<String>,
}
