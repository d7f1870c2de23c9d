//! Prometheus-compatible recording and alerting rules for foresight.
//!
//! Rule files are Prometheus' own, read strictly: an unknown key is an error at its line and
//! column, and every check `promtool check rules` makes is made here ([`load_file`],
//! [`load_globs`], [`parse_rule_file`]).
//!
//! ```
//! use std::path::Path;
//!
//! let text = "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n";
//! let file = foresight_rules::parse_rule_file(Path::new("r.yml"), text).unwrap();
//! assert_eq!(file.groups[0].rules[0].name(), "job:up:sum");
//!
//! let bad = "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n    lables: {}\n";
//! let errs = foresight_rules::parse_rule_file(Path::new("r.yml"), bad).unwrap_err();
//! assert_eq!(errs[0].to_string(), "r.yml:6:5: unknown field `lables`, expected one of record, alert, expr, for, keep_firing_for, labels, annotations");
//! ```

mod alert;
mod error;
mod file;
mod group;
mod overlay;
pub mod template;

pub use alert::{Alert, AlertState, AlertingRule, RESOLVED_RETENTION_MS};
pub use error::{FileError, Pos};
pub use file::{
    GroupSpec, RuleFile, RuleKind, RuleSpec, expand_globs, is_label_name, is_metric_name, load_file, load_globs,
    parse_rule_file,
};
pub use group::{EvalOutput, Group, GroupOptions, Health, OutputSample, RecordingRule, Rule, RuleOutcome};
