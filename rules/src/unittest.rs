//! Rule unit tests in `promtool test rules`' format, unchanged: `rule_files` (globs, relative to
//! the test file), `evaluation_interval`, `group_eval_order`, and `tests` with `interval`,
//! `input_series` (expanding notation), `alert_rule_test` (firing alerts compared as labels and
//! annotations), `promql_expr_test` (samples compared exactly), `external_labels`,
//! `external_url`. The report reads as promtool's: `SUCCESS`, or `FAILED:` with expected and got.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use foresight_promql::{Labels, MatchOp, MemStorage};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::alert::AlertState;
use crate::error::{FileError, Pos};
use crate::file::{decode_first_document, expand_globs, load_file};
use crate::group::{Group, GroupOptions, duration_ms, instant_vector};
use crate::series;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    evaluation_interval: Option<Spanned<String>>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    /// Prometheus 3: the time of the first sample and evaluation (unix seconds or RFC 3339);
    /// `eval_time`s are relative to it. Default 0.
    start_timestamp: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: Spanned<String>,
    values: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: Spanned<String>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: Spanned<String>,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// The verdict on one test file and its report, as promtool prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// Whether every test passed.
    pub passed: bool,
    /// The whole report: `Unit Testing:  FILE` then `  SUCCESS` or `  FAILED:` and each failure.
    pub text: String,
    /// Each failure, with expected and got, as promtool words it (empty when passed).
    pub failures: Vec<String>,
}

/// Runs one test file.
pub fn run_test_file(path: &Path) -> TestReport {
    let mut text = format!("Unit Testing:  {}\n", path.display());
    let errors = match run(path) {
        Ok(errs) => errs,
        Err(e) => vec![e],
    };
    let passed = errors.is_empty();
    let failures = errors.clone();
    if passed {
        text.push_str("  SUCCESS\n");
    } else {
        text.push_str("  FAILED:\n");
        for e in &errors {
            text.push_str(e);
            text.push('\n');
        }
        text.push('\n');
    }
    TestReport { passed, text, failures }
}

fn duration(path: &Path, v: &Spanned<String>) -> Result<Duration, String> {
    foresight_units::parse_prom_duration(&v.value).map_err(|_| {
        FileError::new(
            path,
            Pos::of(v.referenced),
            format!("not a valid duration string: {:?}", v.value),
        )
        .to_string()
    })
}

/// Runs the file: `Err` when it cannot run at all, else the failures of its tests.
fn run(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let file: TestFile = decode_first_document(&text)
        .map_err(|e| FileError::yaml(path, &e).to_string())?
        .ok_or_else(|| format!("{}: no tests", path.display()))?;
    let eval_interval = match &file.evaluation_interval {
        Some(v) => duration(path, v)?,
        None => Duration::from_secs(60),
    };
    if eval_interval.is_zero() {
        return Err(format!("{}: evaluation_interval must be positive", path.display()));
    }
    let mut order: HashMap<&str, usize> = HashMap::new();
    for (i, g) in file.group_eval_order.iter().enumerate() {
        if order.insert(g, i).is_some() {
            return Err(format!("group name repeated in evaluation order: {g}"));
        }
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let patterns: Vec<String> = file
        .rule_files
        .iter()
        .map(|p| {
            if Path::new(p).is_absolute() {
                p.clone()
            } else {
                dir.join(p).to_string_lossy().into_owned()
            }
        })
        .collect();
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    for f in expand_globs(&patterns).map_err(|e| e.to_string())? {
        match load_file(&f) {
            Ok(rf) => specs.extend(rf.groups),
            Err(errs) => problems.extend(errs.iter().map(ToString::to_string)),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    specs.sort_by_key(|g| order.get(g.name.as_str()).copied().unwrap_or(usize::MAX));
    let mut errors = Vec::new();
    for tg in &file.tests {
        errors.extend(run_group(path, tg, eval_interval, &specs)?);
    }
    Ok(errors)
}

/// `start_timestamp`: unix seconds (fractions allowed) or RFC 3339, to milliseconds.
fn parse_start(s: &str) -> Option<i64> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs.abs() < 1e15 => Some((secs * 1000.0).round() as i64),
        Ok(_) => None,
        Err(_) => foresight_units::parse_rfc3339(s),
    }
}

/// A label set as Go's `labels.Labels.String()` writes it.
fn labels_string(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn series_labels(text: &str) -> Result<Labels, String> {
    let matchers = foresight_promql::parse_selector(text).map_err(|e| format!("{text:?}: {e}"))?;
    let mut pairs = Vec::new();
    for m in matchers {
        if m.op != MatchOp::Equal {
            return Err(format!("{text:?}: a series needs `=` matchers only"));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::new(pairs))
}

/// Go's `model.Duration.String()`: `1h30m`, `2m`, `0s`.
fn model_duration(d: Duration) -> String {
    let mut ms = duration_ms(d);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Go's `time.Duration.String()` for whole milliseconds: `1m0s`, `1h2m3.5s`, `0s`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (h, m, s) = (ms / 3_600_000, (ms / 60_000) % 60, ms % 60_000);
    let secs = crate::template::go_float(s as f64 / 1000.0);
    match (h, m) {
        (0, 0) if ms < 1000 => format!("{ms}ms"),
        (0, 0) => format!("{secs}s"),
        (0, _) => format!("{m}m{secs}s"),
        _ => format!("{h}h{m}m{secs}s"),
    }
}

type AlertSet = Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>;

/// promtool's `labelsAndAnnotations.String()`, indented as it prints it.
fn alerts_string(set: &AlertSet) -> String {
    if set.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (l, a)) in set.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "\n{i}:\n  Labels:{}\n  Annotations:{}",
            labels_string(l),
            labels_string(a)
        ));
    }
    s.push_str("\n]");
    s.replace('\n', "\n            ")
}

fn run_group(
    path: &Path,
    tg: &TestGroup,
    eval_interval: Duration,
    specs: &[crate::file::GroupSpec],
) -> Result<Vec<String>, String> {
    let interval = match &tg.interval {
        Some(v) => duration(path, v)?,
        None => eval_interval,
    };
    let step = duration_ms(interval).max(1);
    let start = match &tg.start_timestamp {
        None => 0,
        Some(v) => parse_start(&v.value).ok_or_else(|| {
            FileError::new(
                path,
                Pos::of(v.referenced),
                format!("start_timestamp: {:?} is neither unix seconds nor RFC 3339", v.value),
            )
            .to_string()
        })?,
    };
    let mut db = MemStorage::new();
    for s in &tg.input_series {
        let at = |v: &Spanned<String>, e: String| FileError::new(path, Pos::of(v.referenced), e).to_string();
        let labels = series_labels(&s.series.value).map_err(|e| at(&s.series, e))?;
        let steps = match &s.values {
            Some(v) => series::expand(&v.value).map_err(|e| at(v, e))?,
            None => Vec::new(),
        };
        let samples: Vec<(i64, f64)> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (start + i as i64 * step, v)))
            .collect();
        db.add(labels, samples);
    }
    let opts = GroupOptions {
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
        default_interval: eval_interval,
        ..GroupOptions::default()
    };
    let mut groups: Vec<Group> = specs.iter().map(|s| Group::new(s, &opts)).collect();
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    let mut max_eval = 0i64;
    for t in &tg.alert_rule_test {
        let d = duration_ms(duration(path, &t.eval_time)?);
        alert_tests.entry(d).or_default().push(t);
        max_eval = max_eval.max(d);
    }
    for t in &tg.promql_expr_test {
        max_eval = max_eval.max(duration_ms(duration(path, &t.eval_time)?));
    }
    let eval_step = duration_ms(eval_interval).max(1);
    let name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    let mut errors = Vec::new();
    let mut pending_tests = alert_tests.iter().peekable();
    let mut ts = 0i64;
    while ts <= max_eval {
        let mut eval_errors = Vec::new();
        for g in &mut groups {
            let out = g.eval(start + ts, &db);
            for s in out.samples {
                db.add(s.labels, [(s.t, s.v)]);
            }
            for r in out.rules {
                if let crate::group::Health::Err(e) = r.health {
                    eval_errors.push(format!("    rule: {}, time: {}, err: {e}", r.name, go_duration(ts)));
                }
            }
        }
        if !eval_errors.is_empty() {
            return Ok(eval_errors);
        }
        // Alert tests whose eval_time falls in [ts, ts + evaluation_interval) check this evaluation.
        while let Some((t, _)) = pending_tests.peek() {
            if !(ts <= **t && **t < ts + eval_step) {
                break;
            }
            let Some((_, tests)) = pending_tests.next() else { break };
            for test in tests {
                let mut got: AlertSet = groups
                    .iter()
                    .flat_map(|g| g.alerts())
                    .filter(|(r, a)| r.name() == test.alertname && a.state == AlertState::Firing)
                    .map(|(_, a)| (a.labels.clone(), a.annotations.clone()))
                    .collect();
                let mut exp: AlertSet = test
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert("alertname".into(), test.alertname.clone());
                        (l, a.exp_annotations.clone())
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    errors.push(format!(
                        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        test.alertname,
                        test.eval_time.value,
                        alerts_string(&exp),
                        alerts_string(&got)
                    ));
                }
            }
        }
        ts += eval_step;
    }
    let engine = GroupOptions::default().engine;
    'tests: for t in &tg.promql_expr_test {
        let at = duration_ms(duration(path, &t.eval_time)?);
        let when = model_duration(Duration::from_millis(u64::try_from(at).unwrap_or(0)));
        let got = match instant_vector(&engine, &db, &t.expr, start + at) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{name}    expr: {:?}, time: {when}, err: {e}", t.expr));
                continue;
            }
        };
        let mut got: Vec<(BTreeMap<String, String>, f64)> = got
            .into_iter()
            .map(|(l, v)| (l.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect(), v))
            .collect();
        let mut exp = Vec::new();
        for s in &t.exp_samples {
            match series_labels(&s.labels) {
                Ok(l) => exp.push((
                    l.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect(),
                    s.value,
                )),
                Err(_) if s.labels.trim().is_empty() || s.labels.trim() == "{}" => exp.push((BTreeMap::new(), s.value)),
                Err(e) => {
                    errors.push(format!("{name}    expr: {:?}, time: {when}, err: labels {e}", t.expr));
                    continue 'tests;
                }
            }
        }
        // Sorted by label set (names in byte order, as Go's labels.Compare).
        got.sort_by(|a, b| a.0.iter().cmp(b.0.iter()));
        exp.sort_by(|a, b| a.0.iter().cmp(b.0.iter()));
        // Compared as Go's reflect.DeepEqual does: a NaN equals nothing.
        let same = got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && g.1 == e.1);
        if !same {
            let show = |v: &[(BTreeMap<String, String>, f64)]| -> String {
                if v.is_empty() {
                    return "nil".into();
                }
                v.iter()
                    .map(|(l, x)| format!("{} {}", labels_string(l), go_e(*x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            errors.push(format!(
                "{name}    expr: {:?}, time: {when},\n        exp: {}\n        got: {}",
                t.expr,
                show(&exp),
                show(&got)
            ));
        }
    }
    Ok(errors)
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn go_e(v: f64) -> String {
    crate::template::format_float(v, 'E', None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_timestamp_moves_samples_and_evaluations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yml");
        std::fs::write(
            &p,
            "tests:\n- start_timestamp: '2024-01-01T00:00:00Z'\n  input_series:\n  - series: x\n    values: 1+1x5\n  promql_expr_test:\n  - expr: x + 0 * time()\n    eval_time: 2m\n    exp_samples: [{labels: '{}', value: 3}]\n  - expr: time()\n    eval_time: 1m\n    exp_samples: [{labels: '{}', value: 1704067260}]\n",
        )
        .unwrap();
        let r = run_test_file(&p);
        assert!(r.passed, "{r:?}");
        assert_eq!(parse_start("1.5"), Some(1500));
        assert_eq!(parse_start("nope"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_723_500), "1h2m3.5s");
        assert_eq!(go_duration(500), "500ms");
        assert_eq!(model_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(model_duration(Duration::from_secs(86_400 * 8)), "1w1d");
        assert_eq!(model_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn files_that_cannot_run_fail_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let r = run_test_file(&write("a.yml", "tests:\n- interval: 1m\n  input_serie: []\n"));
        assert!(!r.passed);
        assert!(
            r.failures[0].contains("a.yml:3:3: unknown field `input_serie`"),
            "{r:?}"
        );
        let r = run_test_file(&write(
            "b.yml",
            "tests:\n- input_series:\n  - series: 'x'\n    values: '1+x'\n",
        ));
        assert!(r.failures[0].contains("b.yml:4:13: bad value \"1+x\""), "{r:?}");
        let r = run_test_file(&write("c.yml", "rule_files: [nope.yml]\ntests: []\n"));
        assert!(r.failures[0].contains("nope.yml: cannot read"), "{r:?}");
        let r = run_test_file(&write("d.yml", "evaluation_interval: 1x\n"));
        assert!(
            r.failures[0].contains("d.yml:1:22: not a valid duration string"),
            "{r:?}"
        );
        let rules = write(
            "r.yml",
            "groups:\n- name: g\n  rules:\n  - record: bad\n    expr: x[1m]\n",
        );
        let r = run_test_file(&write(
            "e.yml",
            &format!(
                "rule_files: [{}]\ntests:\n- promql_expr_test:\n  - expr: '1'\n    eval_time: 1m\n    exp_samples: [{{labels: '{{}}', value: 1}}]\n",
                rules.display()
            ),
        ));
        assert_eq!(
            r.failures,
            ["    rule: bad, time: 0s, err: rule result is not a vector or scalar: matrix"]
        );
    }
}
