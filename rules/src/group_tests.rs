//! The evaluator and the alert state machine, driven with a clock passed in.

use std::path::Path;

use foresight_promql::{Labels, MemStorage, is_stale_nan};

use super::*;
use crate::alert::AlertState;
use crate::file::parse_rule_file;

const MIN: i64 = 60_000;

fn group(yaml: &str) -> Group {
    let f = parse_rule_file(Path::new("t.yml"), yaml).unwrap();
    Group::new(&f.groups[0], &GroupOptions::default())
}

fn series(name: &str, extra: &[(&str, &str)]) -> Labels {
    Labels::new(std::iter::once(("__name__", name)).chain(extra.iter().copied()))
}

/// Storage with `x{i="a"}` and `x{i="b"}` at each minute from 0 to `minutes`, valued by `f(minute, i)`.
fn storage(minutes: i64, f: impl Fn(i64, &str) -> Option<f64>) -> MemStorage {
    let mut db = MemStorage::new();
    for i in ["a", "b"] {
        let samples: Vec<(i64, f64)> = (0..=minutes).filter_map(|m| f(m, i).map(|v| (m * MIN, v))).collect();
        db.add(series("x", &[("i", i)]), samples);
    }
    db
}

fn states(g: &Group) -> Vec<(String, AlertState)> {
    g.alerts()
        .map(|(_, a)| (a.labels.get("i").cloned().unwrap_or_default(), a.state))
        .collect()
}

#[test]
fn recording_output_is_visible_to_later_rules_and_stale_when_gone() {
    let mut g = group(
        "groups:\n- name: g\n  labels: {team: t}\n  rules:\n  - record: x:sum\n    expr: sum(x)\n    labels: {k: v}\n  - record: x:sum2\n    expr: x:sum * 2\n  - record: x:per\n    expr: x > 1\n",
    );
    let db = storage(10, |m, i| if i == "b" && m >= 5 { None } else { Some(m as f64) });
    let out = g.eval(2 * MIN, &db);
    assert!(out.rules.iter().all(|r| r.health == Health::Ok), "{:?}", out.rules);
    let find = |out: &EvalOutput, name: &str| -> Vec<(String, f64)> {
        out.samples
            .iter()
            .filter(|s| s.labels.metric_name() == Some(name))
            .map(|s| (s.labels.to_string(), s.v))
            .collect()
    };
    assert_eq!(find(&out, "x:sum"), [(r#"x:sum{k="v", team="t"}"#.to_string(), 4.0)]);
    assert_eq!(find(&out, "x:sum2"), [(r#"x:sum2{k="v", team="t"}"#.to_string(), 8.0)]);
    assert_eq!(find(&out, "x:per").len(), 2);
    // At 10m x{i="b"} is gone (lookback 5m: its last sample is at 4m): x:per{i="b"} goes stale.
    let out = g.eval(10 * MIN, &db);
    let per: Vec<&OutputSample> = out
        .samples
        .iter()
        .filter(|s| s.labels.metric_name() == Some("x:per"))
        .collect();
    assert_eq!(per.len(), 2);
    assert!(per.iter().any(|s| s.labels.get("i") == Some("b") && is_stale_nan(s.v)));
    assert!(per.iter().any(|s| s.labels.get("i") == Some("a") && s.v == 10.0));
}

#[test]
fn pending_then_firing_after_for_then_resolved_and_kept_15m() {
    let mut g = group(
        "groups:\n- name: g\n  rules:\n  - alert: High\n    expr: x > 5\n    for: 2m\n    labels: {severity: page}\n    annotations: {s: '{{ $labels.i }}={{ $value }}'}\n",
    );
    // x{i="a"} = minute until 10m, then 0.
    let db = storage(60, |m, i| Some(if i == "a" && m <= 10 { m as f64 } else { 0.0 }));
    assert!(g.eval(5 * MIN, &db).samples.is_empty());
    let out = g.eval(6 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Pending)]);
    let alerts: Vec<String> = out.samples.iter().map(|s| format!("{} {}", s.labels, s.v)).collect();
    assert_eq!(
        alerts,
        [
            r#"ALERTS{alertname="High", alertstate="pending", i="a", severity="page"} 1"#,
            r#"ALERTS_FOR_STATE{alertname="High", i="a", severity="page"} 360"#,
        ]
    );
    g.eval(7 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Pending)]);
    let out = g.eval(8 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Firing)]);
    // The pending series goes stale as the firing one appears.
    assert!(
        out.samples
            .iter()
            .any(|s| s.labels.get("alertstate") == Some("pending") && is_stale_nan(s.v))
    );
    assert!(
        out.samples
            .iter()
            .any(|s| s.labels.get("alertstate") == Some("firing") && s.v == 1.0)
    );
    let (_, a) = g.alerts().next().unwrap();
    assert_eq!(a.annotations["s"], "a=8");
    assert_eq!((a.active_at, a.fired_at), (6 * MIN, Some(8 * MIN)));
    // Resolved at 11m; every ALERTS series stale; kept (inactive) for 15 minutes, then dropped.
    let out = g.eval(11 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Inactive)]);
    assert!(out.samples.iter().all(|s| is_stale_nan(s.v)) && out.samples.len() == 2);
    assert_eq!(g.alerts().next().unwrap().1.resolved_at, Some(11 * MIN));
    g.eval(26 * MIN, &db);
    assert_eq!(states(&g).len(), 1);
    g.eval(27 * MIN, &db);
    assert!(states(&g).is_empty());
}

#[test]
fn a_pending_alert_that_vanishes_is_dropped_and_for_zero_fires_at_once() {
    let mut g = group(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n    for: 5m\n  - alert: B\n    expr: x > 5\n",
    );
    let db = storage(60, |m, i| {
        Some(if i == "a" && (6..=7).contains(&m) { 9.0 } else { 0.0 })
    });
    g.eval(6 * MIN, &db);
    let by_rule: Vec<(&str, AlertState)> = g.alerts().map(|(r, a)| (r.name(), a.state)).collect();
    assert_eq!(by_rule, [("A", AlertState::Pending), ("B", AlertState::Firing)]);
    g.eval(8 * MIN, &db);
    let by_rule: Vec<(&str, AlertState)> = g.alerts().map(|(r, a)| (r.name(), a.state)).collect();
    assert_eq!(by_rule, [("B", AlertState::Inactive)]);
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n    keep_firing_for: 3m\n");
    let db = storage(60, |m, i| Some(if i == "a" && m == 6 { 9.0 } else { 0.0 }));
    g.eval(6 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Firing)]);
    for m in 7..=9 {
        let out = g.eval(m * MIN, &db);
        assert_eq!(states(&g), [("a".to_string(), AlertState::Firing)], "at {m}m");
        assert!(out.samples.iter().any(|s| s.labels.get("alertstate") == Some("firing")));
        assert_eq!(g.alerts().next().unwrap().1.keep_firing_since, Some(7 * MIN));
    }
    g.eval(10 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Inactive)]);
}

#[test]
fn a_resolved_alert_that_returns_starts_pending_again() {
    let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n    for: 1m\n");
    let db = storage(60, |m, i| {
        Some(if i == "a" && m != 8 && (6..=10).contains(&m) {
            9.0
        } else {
            0.0
        })
    });
    for m in 6..=8 {
        g.eval(m * MIN, &db);
    }
    assert_eq!(states(&g), [("a".to_string(), AlertState::Inactive)]);
    g.eval(9 * MIN, &db);
    assert_eq!(states(&g), [("a".to_string(), AlertState::Pending)]);
    assert_eq!(g.alerts().next().unwrap().1.active_at, 9 * MIN);
}

#[test]
fn duplicate_label_sets_and_limits_fail_the_rule() {
    let mut g = group(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: Dup\n    expr: x > -1\n    labels: {i: same}\n  - alert: Many\n    expr: x > -1\n  - record: r\n    expr: x\n  - record: r2\n    expr: x\n    labels: {i: same}\n  - record: ok\n    expr: sum(x)\n",
    );
    let db = storage(5, |_, _| Some(1.0));
    let out = g.eval(MIN, &db);
    let health: Vec<&Health> = out.rules.iter().map(|r| &r.health).collect();
    assert_eq!(
        health,
        [
            &Health::Err("vector contains metrics with the same labelset after applying alert labels".into()),
            &Health::Err("exceeded limit of 1 with 2 alerts".into()),
            &Health::Err("exceeded limit of 1 with 2 series".into()),
            &Health::Err("vector contains metrics with the same labelset after applying rule labels".into()),
            &Health::Ok,
        ]
    );
    assert_eq!(out.samples.len(), 1);
    assert_eq!(g.alerts().count(), 0);
}

#[test]
fn scalar_results_query_offset_templates_and_errors() {
    let f = parse_rule_file(
        Path::new("t.yml"),
        "groups:\n- name: g\n  query_offset: 1m\n  rules:\n  - record: one\n    expr: '1'\n  - alert: Q\n    expr: x > 2\n    annotations:\n      q: '{{ with query \"sum(x)\" }}{{ . | first | value }}{{ end }} {{ $externalLabels.dc }}'\n      bad: '{{ humanize \"z\" }}'\n  - record: bad\n    expr: x[1m]\n",
    )
    .unwrap();
    let opts = GroupOptions {
        external_labels: [("dc".to_string(), "eu".to_string())].into(),
        ..GroupOptions::default()
    };
    let mut g = Group::new(&f.groups[0], &opts);
    let db = storage(10, |m, _| Some(m as f64));
    let out = g.eval(5 * MIN, &db);
    assert_eq!(out.samples[0].labels.to_string(), "one");
    assert_eq!(out.samples[0].t, 4 * MIN);
    // The query offset moves the alert's query (4 > 2) but not the template's query (at 5m).
    let (_, a) = g.alerts().next().unwrap();
    assert_eq!(a.value, 4.0);
    assert_eq!(a.annotations["q"], "10 eu");
    assert!(a.annotations["bad"].starts_with("<error expanding template: "));
    assert_eq!(
        out.rules[2].health,
        Health::Err("rule result is not a vector or scalar: matrix".into())
    );
}

#[test]
fn notifications_follow_resend_delay_and_resolution() {
    let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n");
    let db = storage(60, |m, i| Some(if i == "a" && m <= 8 { 9.0 } else { 0.0 }));
    let delay = Duration::from_secs(60);
    g.eval(6 * MIN, &db);
    let sent = g.take_alerts_to_send(6 * MIN, delay);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].valid_until, Some(6 * MIN + 4 * MIN));
    g.eval(7 * MIN, &db);
    assert!(
        g.take_alerts_to_send(7 * MIN, delay).is_empty(),
        "last sent + delay is not before ts"
    );
    g.eval(8 * MIN, &db);
    assert_eq!(g.take_alerts_to_send(8 * MIN, delay).len(), 1);
    g.eval(9 * MIN, &db);
    let sent = g.take_alerts_to_send(9 * MIN, delay);
    assert_eq!(sent[0].state, AlertState::Inactive);
    assert_eq!(sent[0].resolved_at, Some(9 * MIN));
}

#[test]
fn alerts_survive_serialisation_and_restore() {
    let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n    for: 10m\n");
    let db = storage(60, |_, i| Some(if i == "a" { 9.0 } else { 0.0 }));
    g.eval(6 * MIN, &db);
    let saved: Vec<Alert> = g.alerts().map(|(_, a)| a.clone()).collect();
    let mut fresh = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n    for: 10m\n");
    if let Rule::Alerting(r) = &mut fresh.rules_mut()[0] {
        r.set_alerts(saved);
    }
    fresh.eval(16 * MIN, &db);
    assert_eq!(states(&fresh), [("a".to_string(), AlertState::Firing)]);
}

#[test]
fn eval_timestamps_are_slots_of_the_interval() {
    let g = group("groups:\n- name: g\n  interval: 30s\n  rules: []\n");
    let t = g.eval_timestamp(1_700_000_012_345);
    assert!(t <= 1_700_000_012_345 && 1_700_000_012_345 - t < 30_000);
    assert_eq!(g.eval_timestamp(t), t);
    assert_eq!(g.eval_timestamp(t + 29_999), t);
    assert_eq!(g.eval_timestamp(t + 30_000), t + 30_000);
}

#[test]
fn a_reload_keeps_alerts_and_marks_removed_rules_stale() {
    let text =
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n  - alert: A\n    expr: x > 5\n    for: 10m\n";
    let mut old = group(text);
    let db = storage(60, |_, _| Some(9.0));
    old.eval(6 * MIN, &db);
    let active_at = old.alerts().next().unwrap().1.active_at;
    // The recording rule is gone, the alerting rule stays.
    let mut new = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 5\n    for: 10m\n");
    let stale = new.copy_state_from(&old, 7 * MIN);
    assert!(!stale.is_empty() && stale.iter().all(|s| foresight_promql::is_stale_nan(s.v)));
    assert!(stale.iter().all(|s| s.labels.metric_name() == Some("r")));
    assert_eq!(new.alerts().next().unwrap().1.active_at, active_at);
    assert_eq!(
        new.stale_markers(8 * MIN).len(),
        4,
        "ALERTS and ALERTS_FOR_STATE of two series"
    );
}
