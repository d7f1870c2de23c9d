//! PromQL evaluation for foresight, over any sample source.
//!
//! A storage backend implements [`Storage`] (one method: select the series matching some label
//! matchers, with their samples in a time range); [`Engine`] parses queries with the
//! `promql-parser` crate and evaluates them with Prometheus 3 semantics: left-open range
//! windows `(t-r, t]`, a 5 minute lookback for instant selectors, stale markers,
//! `offset`/`@`/subqueries, the usual functions, aggregations and binary operators.
//!
//! Every node of a query is evaluated once over all steps of a range query; each selector is
//! read from storage once; series are processed in parallel with rayon.
//!
//! ```
//! use foresight_promql::{Engine, Labels, MemStorage, Value};
//!
//! let mut db = MemStorage::new();
//! let labels = Labels::new([("__name__", "http_requests_total"), ("job", "api")]);
//! db.add(labels, (0..=10).map(|i| (i * 60_000, (i * 120) as f64)));
//!
//! let engine = Engine::default();
//! let res = engine.instant_query(&db, "rate(http_requests_total[5m])", 600_000).unwrap();
//! let Value::Vector(v) = res.value else { panic!("not a vector") };
//! assert_eq!(v[0].labels.to_string(), r#"{job="api"}"#);
//! assert!((v[0].v - 2.0).abs() < 1e-9);
//!
//! let res = engine
//!     .range_query(&db, "sum(http_requests_total)", 0, 600_000, 60_000)
//!     .unwrap();
//! assert!(matches!(res.value, Value::Matrix(ref m) if m[0].samples.len() == 11));
//! ```

mod engine;
mod error;
mod eval;
mod labels;
mod options;
mod parse;
mod storage;
mod value;

pub use engine::{Engine, MAX_POINTS_PER_SERIES};
pub use error::Error;
pub use labels::{Label, Labels, METRIC_NAME};
pub use options::EngineOptions;
pub use parse::{MAX_QUERY_NESTING, MAX_QUERY_OPERATORS, parse, parse_selector};
pub use storage::{
    InvalidRegex, LabelMatcher, MatchOp, MemStorage, RollupSeries, RollupWindow, STALE_NAN_BITS, Samples, Series,
    Storage, StorageError, is_stale_nan, merge_spans, stale_nan,
};
pub use value::{QueryResult, QueryStats, Sample, Value};
