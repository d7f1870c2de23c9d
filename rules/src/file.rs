//! Prometheus rule files: the model ([`RuleFile`], [`GroupSpec`], [`RuleSpec`]), strict decoding
//! (an unknown key is an error at its line and column, as Prometheus' `KnownFields(true)`) and the
//! checks `promtool check rules` makes.
//!
//! ```yaml
//! groups:
//! - name: example            # required, unique within the file
//!   interval: 30s            # default: the evaluator's (1m)
//!   limit: 0                 # most series / alerts per rule; 0: no limit
//!   query_offset: 1m         # evaluate at `ts - query_offset`
//!   labels: {team: a}        # added to every rule's output; a rule's own labels win
//!   rules:
//!   - record: job:x:sum
//!     expr: sum by (job) (x)
//!   - alert: HighLatency
//!     expr: lat > 0.5
//!     for: 10m
//!     keep_firing_for: 5m
//!     labels: {severity: page}
//!     annotations: {summary: "{{ $labels.instance }} at {{ $value }}"}
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{FileError, Pos};
use crate::predict::{Predictor, RawAnomaly, RawForecast, check_anomaly, check_forecast};
use crate::template::{ANOMALY_VARS, FORECAST_VARS, check_alert_template_with};

/// A rule file: its groups, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    /// The file's path, as it was named.
    pub path: PathBuf,
    /// The groups.
    pub groups: Vec<GroupSpec>,
}

/// A rule group as written.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// The group's name, unique within its file.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Where the group starts in the file.
    pub pos: Pos,
    /// `interval`; `None`: the evaluator's default.
    pub interval: Option<Duration>,
    /// `limit`: most series (recording) or alerts (alerting) per rule; 0 for no limit.
    pub limit: usize,
    /// `query_offset`; `None`: the evaluator's default (0).
    pub query_offset: Option<Duration>,
    /// `labels`, added to every rule's output (a rule's own labels win).
    pub labels: BTreeMap<String, String>,
    /// The rules, in evaluation order.
    pub rules: Vec<RuleSpec>,
}

/// One rule as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// Where the rule starts in the file.
    pub pos: Pos,
    /// The PromQL expression.
    pub expr: String,
    /// `labels`: plain values for recording rules, templates for alerting rules.
    pub labels: BTreeMap<String, String>,
    /// Recording or alerting, with what only that kind has.
    pub kind: RuleKind,
}

/// What only one kind of rule has.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// `record: NAME`: stores the expression's result as series named `NAME`.
    Recording {
        /// The metric name the result is stored under.
        record: String,
    },
    /// `alert: NAME`: one alert per sample of the expression's result.
    Alerting {
        /// The alert's name (the `alertname` label).
        alert: String,
        /// `for`: how long an alert is pending before it fires.
        for_: Duration,
        /// `keep_firing_for`: how long a firing alert keeps firing once its sample is gone.
        keep_firing_for: Duration,
        /// `annotations`: templates.
        annotations: BTreeMap<String, String>,
        /// `forecast:` or `anomaly:` (a foresight extension, in place of `expr`): what makes the
        /// rule predictive.
        predictor: Option<Predictor>,
    },
}

impl RuleSpec {
    /// The rule's name: the recorded metric or the alert's name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    interval: Option<Spanned<String>>,
    limit: Option<Spanned<i64>>,
    query_offset: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<Spanned<String>>,
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    annotations: Option<BTreeMap<String, String>>,
    forecast: Option<Spanned<RawForecast>>,
    anomaly: Option<Spanned<RawAnomaly>>,
}

/// Reads and checks one rule file; every problem found is returned, each with its position.
pub fn load_file(path: &Path) -> Result<RuleFile, Vec<FileError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![FileError::new(path, Pos::default(), format!("cannot read: {e}"))])?;
    parse_rule_file(path, &text)
}

/// Expands each pattern as a glob (`rules/*.yml`; a plain path names itself) and loads every file,
/// in pattern order, each pattern's files sorted by name. A pattern matching nothing is not an
/// error (as Prometheus' `rule_files`), but a plain path that does not exist is.
pub fn load_globs<S: AsRef<str>>(patterns: &[S]) -> Result<Vec<RuleFile>, Vec<FileError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in expand_globs(patterns).map_err(|e| vec![e])? {
        match load_file(&path) {
            Ok(f) => files.push(f),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() { Ok(files) } else { Err(errors) }
}

/// The files each pattern names, in pattern order, each pattern's matches sorted by name.
pub fn expand_globs<S: AsRef<str>>(patterns: &[S]) -> Result<Vec<PathBuf>, FileError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let pattern = pattern.as_ref();
        let has_meta = pattern.contains(['*', '?', '[']);
        if !has_meta {
            out.push(PathBuf::from(pattern));
            continue;
        }
        let paths = glob::glob(pattern)
            .map_err(|e| FileError::new(Path::new(pattern), Pos::default(), format!("bad glob pattern: {e}")))?;
        let mut matched: Vec<PathBuf> = Vec::new();
        for p in paths {
            let p = p.map_err(|e| FileError::new(e.path(), Pos::default(), format!("cannot read: {}", e.error())))?;
            matched.push(p);
        }
        matched.sort();
        for p in matched {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Decodes and checks rule-file text (`path` names it in errors). Only the first YAML document is
/// read, as Prometheus does.
pub fn parse_rule_file(path: &Path, text: &str) -> Result<RuleFile, Vec<FileError>> {
    let raw: RawFile = match decode_first_document(text) {
        Ok(Some(raw)) => raw,
        Ok(None) => RawFile { groups: Vec::new() },
        Err(e) => return Err(vec![FileError::yaml(path, &e)]),
    };
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for g in raw.groups {
        let pos = Pos::of(g.referenced);
        let g = g.value;
        let mut err = |at: Pos, msg: String| errors.push(FileError::new(path, at, msg));
        if g.name.is_empty() {
            err(pos, "Groupname must not be empty".into());
        } else if !seen.insert(g.name.clone()) {
            err(pos, format!("groupname: {:?} is repeated in the same file", g.name));
        }
        let interval = duration_field(path, "interval", g.interval.as_ref(), &mut errors);
        let query_offset = duration_field(path, "query_offset", g.query_offset.as_ref(), &mut errors);
        let limit = match &g.limit {
            None => 0,
            Some(l) => usize::try_from(l.value).unwrap_or_else(|_| {
                errors.push(FileError::new(
                    path,
                    Pos::of(l.referenced),
                    "limit must not be negative",
                ));
                0
            }),
        };
        for k in g.labels.keys() {
            if !is_label_name(k) || k == "__name__" {
                errors.push(FileError::new(
                    path,
                    pos,
                    format!("group {:?}: invalid label name: {k}", g.name),
                ));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.into_iter().enumerate() {
            let rpos = Pos::of(r.referenced);
            match check_rule(rpos, r.value) {
                Ok(rule) => rules.push(rule),
                Err(msgs) => {
                    for (at, m) in msgs {
                        errors.push(FileError::new(
                            path,
                            at,
                            format!("group {:?}, rule {}, {m}", g.name, i + 1),
                        ));
                    }
                }
            }
        }
        groups.push(GroupSpec {
            name: g.name,
            file: path.to_path_buf(),
            pos,
            interval: interval.flatten(),
            limit,
            query_offset: query_offset.flatten(),
            labels: g.labels,
            rules,
        });
    }
    if errors.is_empty() {
        Ok(RuleFile {
            path: path.to_path_buf(),
            groups,
        })
    } else {
        Err(errors)
    }
}

/// Decodes the first YAML document of `text` (`None` when there is none).
pub(crate) fn decode_first_document<T: for<'de> Deserialize<'de>>(
    text: &str,
) -> Result<Option<T>, serde_saphyr::Error> {
    let first = first_document(text);
    if first.trim().is_empty()
        || first
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(None);
    }
    serde_saphyr::from_str(first).map(Some)
}

/// The text of the first YAML document: up to a line that starts another (`---` after content)
/// or ends it (`...`).
fn first_document(text: &str) -> &str {
    let mut offset = 0;
    let mut seen_content = false;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end();
        let marker = l == "---" || l.starts_with("--- ") || l == "...";
        if marker && seen_content {
            return &text[..offset];
        }
        if !marker && !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            seen_content = true;
        }
        offset += line.len();
    }
    text
}

/// Parses an optional duration field, recording an error; `Some(None)` when absent.
fn duration_field(
    path: &Path,
    name: &str,
    v: Option<&Spanned<String>>,
    errors: &mut Vec<FileError>,
) -> Option<Option<Duration>> {
    let Some(v) = v else { return Some(None) };
    match foresight_units::parse_prom_duration(&v.value) {
        Ok(d) => Some(Some(d)),
        Err(_) => {
            errors.push(FileError::new(
                path,
                Pos::of(v.referenced),
                format!("{name}: not a valid duration string: {:?}", v.value),
            ));
            None
        }
    }
}

type RuleProblems = Vec<(Pos, String)>;

/// Checks one rule as Prometheus' `RuleNode.Validate` does, and builds it.
fn check_rule(pos: Pos, r: RawRule) -> Result<RuleSpec, RuleProblems> {
    let mut errs: RuleProblems = Vec::new();
    let record = r.record.as_ref().filter(|s| !s.value.is_empty());
    let alert = r.alert.as_ref().filter(|s| !s.value.is_empty());
    let name = record.or(alert).map(|s| s.value.clone()).unwrap_or_default();
    let mut err = |at: Pos, msg: String| errs.push((at, format!("{name:?}: {msg}")));
    match (record, alert) {
        (Some(_), Some(_)) => err(pos, "only one of 'record' and 'alert' must be set".into()),
        (None, None) => err(pos, "one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    let predictor = check_predictor(pos, &r, record.is_some(), &mut err);
    let expr = match (&r.expr, &predictor) {
        (None, Some(p)) => p.expr().to_string(),
        (Some(e), Some(_)) => {
            err(
                Pos::of(e.referenced),
                "field 'expr' must not be set next to 'forecast' or 'anomaly' (the expression goes inside them)".into(),
            );
            String::new()
        }
        (Some(e), None) if !e.value.trim().is_empty() => {
            if let Err(e2) = foresight_promql::parse(&e.value) {
                err(Pos::of(e.referenced), format!("could not parse expression: {e2}"));
            }
            e.value.clone()
        }
        (Some(e), None) => {
            err(Pos::of(e.referenced), "field 'expr' must be set in rule".into());
            String::new()
        }
        (None, None) => {
            if r.forecast.is_none() && r.anomaly.is_none() {
                err(pos, "field 'expr' must be set in rule".into());
            }
            String::new()
        }
    };
    for k in r.labels.keys() {
        if k == "__name__" {
            err(pos, format!("invalid recording rule label name: {k}"));
        } else if !is_label_name(k) {
            err(pos, format!("invalid label name: {k}"));
        }
    }
    let dur = |field: &str, v: &Option<Spanned<String>>, err: &mut dyn FnMut(Pos, String)| -> Duration {
        match v {
            None => Duration::ZERO,
            Some(s) => foresight_units::parse_prom_duration(&s.value).unwrap_or_else(|_| {
                err(
                    Pos::of(s.referenced),
                    format!("{field}: not a valid duration string: {:?}", s.value),
                );
                Duration::ZERO
            }),
        }
    };
    let kind = if let Some(rec) = record {
        if r.annotations.is_some() {
            err(pos, "invalid field 'annotations' in recording rule".into());
        }
        if r.for_.is_some() {
            err(pos, "invalid field 'for' in recording rule".into());
        }
        if r.keep_firing_for.is_some() {
            err(pos, "invalid field 'keep_firing_for' in recording rule".into());
        }
        if !is_metric_name(&rec.value) {
            let hint = if rec.value.contains(['{', '}']) {
                " (braces present in the recording rule name; should it be in expr?)"
            } else {
                ""
            };
            err(
                Pos::of(rec.referenced),
                format!("invalid recording rule name: {}{hint}", rec.value),
            );
        }
        RuleKind::Recording {
            record: rec.value.clone(),
        }
    } else {
        let for_ = dur("for", &r.for_, &mut err);
        let keep_firing_for = dur("keep_firing_for", &r.keep_firing_for, &mut err);
        let annotations = r.annotations.clone().unwrap_or_default();
        for k in annotations.keys() {
            if !is_label_name(k) {
                err(pos, format!("invalid annotation name: {k}"));
            }
        }
        // Templates are checked as Prometheus does: each label value and annotation must parse
        // (with the variables a predictive rule adds).
        let vars = if r.forecast.is_some() {
            FORECAST_VARS
        } else if r.anomaly.is_some() {
            ANOMALY_VARS
        } else {
            &[]
        };
        for (what, map) in [("label", &r.labels), ("annotation", &annotations)] {
            for (k, v) in map {
                if let Err(e) = check_alert_template_with(&name, v, vars) {
                    err(pos, format!("{what} {k:?}: {e}"));
                }
            }
        }
        RuleKind::Alerting {
            alert: name.clone(),
            for_,
            keep_firing_for,
            annotations,
            predictor,
        }
    };
    if errs.is_empty() {
        Ok(RuleSpec {
            pos,
            expr,
            labels: r.labels,
            kind,
        })
    } else {
        Err(errs)
    }
}

/// Checks a rule's `forecast:` / `anomaly:` block, if any (only one, on an alerting rule).
fn check_predictor(pos: Pos, r: &RawRule, recording: bool, err: &mut dyn FnMut(Pos, String)) -> Option<Predictor> {
    if r.forecast.is_some() && r.anomaly.is_some() {
        err(pos, "only one of 'forecast' and 'anomaly' may be set".into());
        return None;
    }
    if recording && (r.forecast.is_some() || r.anomaly.is_some()) {
        err(
            pos,
            "'forecast' and 'anomaly' are for alerting rules, not recording rules".into(),
        );
        return None;
    }
    let checked = if let Some(f) = &r.forecast {
        check_forecast(Pos::of(f.referenced), &f.value).map(Predictor::Forecast)
    } else if let Some(a) = &r.anomaly {
        check_anomaly(Pos::of(a.referenced), &a.value).map(Predictor::Anomaly)
    } else {
        return None;
    };
    match checked {
        Ok(p) => Some(p),
        Err(problems) => {
            for (at, m) in problems {
                err(at, m);
            }
            None
        }
    }
}

/// A valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleFile, Vec<String>> {
        parse_rule_file(Path::new("r.yml"), text).map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    const GOOD: &str = r#"
groups:
- name: example
  interval: 30s
  limit: 10
  query_offset: 1m
  labels: {team: a}
  rules:
  - record: job:x:sum
    expr: sum by (job) (x)
    labels:
      code: 500
  - alert: HighLatency
    expr: lat > 0.5
    for: 10m
    keep_firing_for: 5m
    labels: {severity: page}
    annotations: {summary: "{{ $labels.instance }} at {{ $value }}"}
"#;

    #[test]
    fn decodes_every_field() {
        let f = parse(GOOD).unwrap();
        let g = &f.groups[0];
        assert_eq!(g.name, "example");
        assert_eq!(g.pos, Pos { line: 3, column: 3 });
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.limit, 10);
        assert_eq!(g.query_offset, Some(Duration::from_secs(60)));
        assert_eq!(g.labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(g.rules.len(), 2);
        assert_eq!(g.rules[0].labels.get("code").map(String::as_str), Some("500"));
        assert!(matches!(&g.rules[0].kind, RuleKind::Recording { record } if record == "job:x:sum"));
        let RuleKind::Alerting {
            alert,
            for_,
            keep_firing_for,
            annotations,
            ..
        } = &g.rules[1].kind
        else {
            panic!("not an alert");
        };
        assert_eq!(alert, "HighLatency");
        assert_eq!(*for_, Duration::from_secs(600));
        assert_eq!(*keep_firing_for, Duration::from_secs(300));
        assert_eq!(annotations["summary"], "{{ $labels.instance }} at {{ $value }}");
        assert_eq!(g.rules[1].pos, Pos { line: 13, column: 5 });
    }

    #[test]
    fn unknown_keys_are_errors_with_their_position() {
        let e = parse("groups:\n- name: a\n  intreval: 1m\n  rules: []\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("r.yml:3:3: unknown field `intreval`"), "{e:?}");
        let e = parse("group:\n- name: a\n").unwrap_err();
        assert!(e[0].starts_with("r.yml:1:1: unknown field `group`"), "{e:?}");
    }

    #[test]
    fn empty_files_and_later_documents() {
        assert_eq!(parse("").unwrap().groups.len(), 0);
        assert_eq!(parse("# nothing\n").unwrap().groups.len(), 0);
        let two = "groups:\n- name: a\n  rules: []\n---\ngroups: 7\n";
        assert_eq!(parse(two).unwrap().groups.len(), 1);
    }

    #[test]
    fn promtool_checks() {
        let cases: &[(&str, &str)] = &[
            ("- name: ''\n  rules: []", "2:3: Groupname must not be empty"),
            (
                "- name: a\n  rules: []\n- name: a\n  rules: []",
                "4:3: groupname: \"a\" is repeated in the same file",
            ),
            (
                "- name: a\n  interval: 1m30\n  rules: []",
                "3:13: interval: not a valid duration string: \"1m30\"",
            ),
            (
                "- name: a\n  rules:\n  - expr: up",
                "4:5: group \"a\", rule 1, \"\": one of 'record' or 'alert' must be set",
            ),
            (
                "- name: a\n  rules:\n  - record: x\n    alert: y\n    expr: up",
                "only one of 'record' and 'alert' must be set",
            ),
            (
                "- name: a\n  rules:\n  - record: x",
                "group \"a\", rule 1, \"x\": field 'expr' must be set in rule",
            ),
            (
                "- name: a\n  rules:\n  - record: x\n    expr: sum(",
                "5:11: group \"a\", rule 1, \"x\": could not parse expression",
            ),
            (
                "- name: a\n  rules:\n  - record: 'x{a=\"b\"}'\n    expr: up",
                "braces present in the recording rule name",
            ),
            (
                "- name: a\n  rules:\n  - record: 1x\n    expr: up",
                "invalid recording rule name: 1x",
            ),
            (
                "- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 1m",
                "invalid field 'for' in recording rule",
            ),
            (
                "- name: a\n  rules:\n  - record: x\n    expr: up\n    annotations: {}",
                "invalid field 'annotations'",
            ),
            (
                "- name: a\n  rules:\n  - record: x\n    expr: up\n    labels: {__name__: y}",
                "invalid recording rule label name: __name__",
            ),
            (
                "- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {a-b: y}",
                "invalid label name: a-b",
            ),
            (
                "- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {1a: y}",
                "invalid annotation name: 1a",
            ),
            (
                "- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 5",
                "6:10: group \"a\", rule 1, \"x\": for: not a valid duration string: \"5\"",
            ),
            ("- name: a\n  limit: -1\n  rules: []", "limit must not be negative"),
            (
                "- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {s: '{{ if $value }}'}",
                "annotation \"s\": template: __alert_x:1: unexpected EOF in if",
            ),
            (
                "- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {s: '{{ $nope }}'}",
                "label \"s\": template: __alert_x:1: undefined variable \"$nope\"",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&format!("groups:\n{text}\n")).unwrap_err();
            assert!(e.iter().any(|m| m.contains(want)), "{text:?}: {e:?} lacks {want:?}");
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let e = parse("groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(\n  - alert: ''\n    expr: ''\n")
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn names() {
        assert!(is_metric_name("job:x_y:rate5m"));
        assert!(!is_metric_name("a-b"));
        assert!(!is_metric_name(""));
        assert!(is_label_name("_a1"));
        assert!(!is_label_name("a:b"));
    }

    #[test]
    fn globs_load_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for (name, group) in [("b.yml", "b"), ("a.yml", "a")] {
            std::fs::write(
                dir.path().join(name),
                format!("groups:\n- name: {group}\n  rules: []\n"),
            )
            .unwrap();
        }
        let pattern = format!("{}/*.yml", dir.path().display());
        let files = load_globs(&[pattern.as_str()]).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.groups[0].name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let missing = dir.path().join("none.yml");
        let e = load_globs(&[missing.to_string_lossy()]).unwrap_err();
        assert!(e[0].message.starts_with("cannot read"), "{e:?}");
        assert!(
            load_globs(&[format!("{}/*.none", dir.path().display())])
                .unwrap()
                .is_empty()
        );
    }

    proptest::proptest! {
        /// Mangled rule files are refused with errors, never a panic.
        #[test]
        fn arbitrary_files_never_panic(cut in 0usize..600, junk in "[ :\\-{}\\[\\]'\"a-z0-9\n#*&|>]{0,20}") {
            let text = format!("{GOOD}{GOOD}");
            let at = cut.min(text.len());
            let mangled = format!("{}{junk}{}", &text[..at], &text[at..]);
            let _ = parse(&mangled);
        }
    }
}
