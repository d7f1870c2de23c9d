//! Why a body or a series is refused. Every one of these is permanent: the same bytes will never
//! be accepted, so a receiver answers 400 (or 413 / 415) and a sender must not retry.

use thiserror::Error;

/// A whole request body that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a snappy block.
    #[error("the body is not snappy block-compressed data: {0}")]
    Snappy(String),
    /// The decoded body would exceed the limit.
    #[error("the decompressed body would be {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Decoded size announced by the snappy header.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The decoded body is not the protobuf message the content type named.
    #[error("the body is not a valid {message} protobuf message: {reason}")]
    Protobuf {
        /// The message expected (`prometheus.WriteRequest`, ...).
        message: &'static str,
        /// What prost reported.
        reason: String,
    },
    /// A 2.0 request whose symbol table does not start with the empty string.
    #[error("symbols[0] must be the empty string, found {0:?}")]
    BadSymbolTable(String),
}

/// Why one series of a write is refused (the other series of the request are still stored).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SeriesError {
    /// No `__name__` label (or an empty one).
    #[error("the series has no metric name (__name__ label)")]
    NoMetricName,
    /// A label with an empty name.
    #[error("a label has an empty name")]
    EmptyLabelName,
    /// The same label name twice.
    #[error("label {0:?} appears more than once")]
    DuplicateLabel(String),
    /// A label name or value that is not UTF-8.
    #[error("a label name or value is not valid UTF-8")]
    InvalidUtf8,
    /// 2.0: `labels_refs` of odd length.
    #[error("labels_refs has an odd length ({0}): it must hold name/value pairs")]
    OddLabelRefs(usize),
    /// 2.0: a reference past the symbol table.
    #[error("symbol reference {reference} is out of range (the table has {symbols} symbols)")]
    BadSymbolRef {
        /// The reference.
        reference: u32,
        /// The table's length.
        symbols: usize,
    },
    /// Native histograms, which foresight does not store.
    #[error(
        "{0} native histogram sample(s) refused: foresight stores float samples only (send classic histograms, or drop native ones with write_relabel_configs)"
    )]
    NativeHistograms(u64),
}
