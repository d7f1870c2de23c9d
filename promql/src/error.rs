//! The crate's error type.

use crate::storage::StorageError;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The query text is not valid PromQL. `line` and `column` are 1-based and point at the
    /// token where the parser gave up (or at the end of input).
    #[error("{line}:{column}: parse error: {message}")]
    Parse {
        /// What is wrong.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
    },
    /// The query calls a function that PromQL does not have.
    #[error("unknown function with name {0:?}")]
    UnknownFunction(String),
    /// The query calls a PromQL function this evaluator does not implement (yet).
    #[error("function {0:?} is not supported")]
    UnsupportedFunction(String),
    /// The query or its parameters are well-formed but cannot be evaluated as asked
    /// (e.g. a range vector as the result of a range query, a bad step).
    #[error("{0}")]
    BadQuery(String),
    /// An evaluation error, as Prometheus reports them (e.g. many-to-many matching).
    #[error("{0}")]
    Execution(String),
    /// The query would hold more samples than the engine's limit.
    #[error("query processing would load too many samples into memory in query execution (limit {limit})")]
    TooManySamples {
        /// The configured limit.
        limit: u64,
    },
    /// The query ran longer than the engine's timeout.
    #[error("query timed out in query execution")]
    Timeout,
    /// The storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
}
