//! Prometheus-compatible recording and alerting rules for foresight.
//!
//! - Rule files are Prometheus' own, read strictly: an unknown key is an error at its line and
//!   column, and every check `promtool check rules` makes is made here ([`load_file`],
//!   [`load_globs`], [`parse_rule_file`]; each problem a [`FileError`] with its [`Pos`]).
//! - [`Group::eval`] evaluates a group's rules at one timestamp, in order, through the PromQL
//!   engine over any [`foresight_promql::Storage`]; a recording rule's output is visible to the
//!   rules after it. It returns an [`EvalOutput`]: the samples to store (recording results,
//!   `ALERTS`, `ALERTS_FOR_STATE`, stale markers) and each rule's health. The caller stores them
//!   and chooses the clock, so the crate does no I/O and keeps no timers.
//! - Alerts follow Prometheus' state machine ([`AlertingRule`], [`Alert`]: pending, firing after
//!   `for`, `keep_firing_for`, resolved alerts kept 15 minutes); [`Group::take_alerts_to_send`]
//!   is what a notifier sends. [`Alert`] is serde-serialisable.
//! - [`template`]: Go's `text/template` with Prometheus' functions, for labels and annotations.
//! - [`run_test_file`]: `promtool test rules`' unit-test format, with promtool's report.
//!
//! ```
//! use std::path::Path;
//!
//! use foresight_promql::{Labels, MemStorage};
//! use foresight_rules::{AlertState, Group, GroupOptions};
//!
//! let text = "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  \
//!             - alert: Down\n    expr: job:up:sum == 0\n    annotations: {s: '{{ $labels.job }} is down'}\n";
//! let file = foresight_rules::parse_rule_file(Path::new("r.yml"), text).unwrap();
//! let mut group = Group::new(&file.groups[0], &GroupOptions::default());
//!
//! let mut db = MemStorage::new();
//! db.add(Labels::new([("__name__", "up"), ("job", "api")]), [(0, 0.0), (60_000, 0.0)]);
//! let out = group.eval(60_000, &db);
//! assert_eq!(out.samples[0].labels.to_string(), r#"job:up:sum{job="api"}"#);
//! let (_, alert) = group.alerts().next().unwrap();
//! assert_eq!(alert.state, AlertState::Firing);
//! assert_eq!(alert.annotations["s"], "api is down");
//!
//! let bad = "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n    lables: {}\n";
//! let errs = foresight_rules::parse_rule_file(Path::new("r.yml"), bad).unwrap_err();
//! assert!(errs[0].to_string().starts_with("r.yml:6:5: unknown field `lables`"));
//! ```

mod alert;
mod backtest;
mod error;
mod file;
mod group;
mod overlay;
mod predict;
mod predict_state;
mod series;
pub mod template;
mod unittest;

pub use alert::{Alert, AlertState, AlertingRule, RESOLVED_RETENTION_MS};
pub use backtest::{BacktestEvent, BacktestReport, MAX_BACKTEST_EVALUATIONS, Transition, backtest};
pub use error::{FileError, Pos};
pub use file::{
    GroupSpec, RuleFile, RuleKind, RuleSpec, expand_globs, is_label_name, is_metric_name, load_file, load_globs,
    parse_rule_file,
};
pub use group::{EvalOutput, Group, GroupOptions, Health, OutputSample, RecordingRule, Rule, RuleOutcome};
pub use predict::{
    AnomalySpec, Bound, DEFAULT_REFIT, Direction, ETA_METRIC, EXPECTED_METRIC, FORECAST_METRIC, ForecastSpec,
    MAX_STORED_SERIES, Op, Predictor, SCORE_METRIC,
};
pub use predict_state::{MAX_CACHED_SERIES, PredictCounts};
pub use unittest::{TestReport, run_test_file};
