//! Forecast and anomaly rules: decoding, checks with positions, and evaluation through the
//! alert state machine (with hysteresis), clock passed in.

use std::path::Path;
use std::time::Duration;

use foresight_promql::{Labels, MemStorage};

use super::*;
use crate::alert::AlertState;
use crate::file::{RuleKind, parse_rule_file};
use crate::group::{Group, GroupOptions, OutputSample};

const MIN: i64 = 60_000;

fn parse(text: &str) -> Result<crate::RuleFile, Vec<String>> {
    parse_rule_file(Path::new("r.yml"), text).map_err(|e| e.iter().map(ToString::to_string).collect())
}

const FORECAST: &str = r#"
groups:
- name: p
  rules:
  - alert: DiskWillFill
    forecast:
      expr: x
      history: 2h
      horizon: 1h
      step: 1m
      op: "<"
      threshold: 0
      recover: 100
      bound: point
      level: 0.9
      refit: 1h
    for: 2m
    labels: {severity: page}
    annotations:
      summary: "{{ $labels.i }} fills in {{ $eta }} ({{ $value | printf \"%.0f\" }}, {{ $eta_seconds }}s)"
  - alert: NoHysteresis
    forecast: {expr: x, history: 2h, horizon: 1h, step: 1m, op: "<", threshold: 0}
  - alert: Spike
    anomaly:
      expr: y
      history: 5h
      step: 1m
      direction: above
      score: 0.9
      min_deviation: 5
      min_relative_deviation: 0.1
    annotations:
      s: "{{ $value }} expected {{ $expected }} in [{{ $lower }}, {{ $upper }}] score {{ $score }}"
"#;

#[test]
fn decodes_forecast_and_anomaly_blocks() {
    let f = parse(FORECAST).unwrap();
    let rules = &f.groups[0].rules;
    let RuleKind::Alerting {
        predictor: Some(Predictor::Forecast(fc)),
        for_,
        ..
    } = &rules[0].kind
    else {
        panic!("not a forecast rule: {:?}", rules[0].kind);
    };
    assert_eq!(rules[0].expr, "x");
    assert_eq!(*for_, Duration::from_secs(120));
    assert_eq!(
        *fc,
        ForecastSpec {
            expr: "x".into(),
            history: Duration::from_secs(7200),
            horizon: Duration::from_secs(3600),
            step: Some(Duration::from_secs(60)),
            op: Op::Lt,
            threshold: 0.0,
            recover: Some(100.0),
            bound: Bound::Point,
            level: 0.9,
            refit: Some(Duration::from_secs(3600)),
        }
    );
    let RuleKind::Alerting {
        predictor: Some(Predictor::Forecast(defaults)),
        ..
    } = &rules[1].kind
    else {
        panic!("not a forecast rule");
    };
    assert_eq!(
        (defaults.bound, defaults.level, defaults.recover, defaults.step),
        (Bound::Point, 0.95, None, Some(Duration::from_secs(60)))
    );
    let RuleKind::Alerting {
        predictor: Some(Predictor::Anomaly(an)),
        ..
    } = &rules[2].kind
    else {
        panic!("not an anomaly rule");
    };
    assert_eq!(
        *an,
        AnomalySpec {
            expr: "y".into(),
            history: Duration::from_secs(5 * 3600),
            step: Some(Duration::from_secs(60)),
            direction: Direction::Above,
            score: 0.9,
            min_deviation: 5.0,
            min_relative_deviation: 0.1,
        }
    );
}

#[test]
fn problems_are_reported_at_their_position() {
    let rule = |body: &str| format!("groups:\n- name: a\n  rules:\n  - alert: x\n{body}\n");
    let cases: &[(&str, &str)] = &[
        (
            "    forecast:\n      expr: x\n      history: 1d\n      horizon: 1h\n      op: '<'\n      threshold: 0\n      treshold: 1",
            "r.yml:11:7: unknown field `treshold`",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '<'}",
            "r.yml:5:15: group \"a\", rule 1, \"x\": forecast: field 'threshold' must be set",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '=', threshold: 0}",
            "r.yml:5:55: group \"a\", rule 1, \"x\": forecast: op must be one of < <= > >=, got \"=\"",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '<', threshold: 10, recover: 5}",
            "forecast: recover (5) must be at or above the threshold (10) for op \"<\"",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '>', threshold: 10, recover: 50}",
            "recover (50) must be at or below the threshold (10)",
        ),
        (
            "    forecast: {expr: 'sum(', history: 1d, horizon: 1h, op: '<', threshold: 0}",
            "r.yml:5:22: group \"a\", rule 1, \"x\": forecast: could not parse expression",
        ),
        (
            "    forecast: {expr: x, history: 0s, horizon: 1h, op: '<', threshold: 0}",
            "forecast: history: not a positive duration: \"0s\"",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '<', threshold: 0, bound: middle}",
            "forecast: bound must be point, lower or upper, got \"middle\"",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '<', threshold: 0, level: 95}",
            "forecast: level must be in (0, 1), got 95",
        ),
        (
            "    expr: up\n    forecast: {expr: x, history: 1d, horizon: 1h, op: '<', threshold: 0}",
            "r.yml:5:11: group \"a\", rule 1, \"x\": field 'expr' must not be set next to 'forecast' or 'anomaly'",
        ),
        (
            "    forecast: {expr: x, history: 1d, horizon: 1h, op: '<', threshold: 0}\n    anomaly: {expr: x, history: 1d}",
            "only one of 'forecast' and 'anomaly' may be set",
        ),
        (
            "    anomaly: {expr: x, history: 1d, direction: up}",
            "anomaly: direction must be above, below or both, got \"up\"",
        ),
        (
            "    anomaly: {expr: x, history: 1d, score: 0}",
            "anomaly: score must be in (0, 1], got 0",
        ),
        (
            "    anomaly: {expr: x, history: 1d, min_deviation: -1}",
            "anomaly: min_deviation must be a number >= 0, got -1",
        ),
        ("    anomaly: {expr: x}", "anomaly: field 'history' must be set"),
        (
            "    expr: up\n    annotations: {s: '{{ $eta }}'}",
            "annotation \"s\": template: __alert_x:1: undefined variable \"$eta\"",
        ),
        (
            "    anomaly: {expr: x, history: 1d}\n    annotations: {s: '{{ $eta }}'}",
            "undefined variable \"$eta\"",
        ),
    ];
    for (body, want) in cases {
        let e = parse(&rule(body)).unwrap_err();
        assert!(e.iter().any(|m| m.contains(want)), "{body:?}: {e:?} lacks {want:?}");
    }
    let rec = "groups:\n- name: a\n  rules:\n  - record: r\n    anomaly: {expr: x, history: 1d}\n";
    let e = parse(rec).unwrap_err();
    assert!(e.iter().any(|m| m.contains("are for alerting rules")), "{e:?}");
}

fn labels(name: &str, i: &str) -> Labels {
    Labels::new([("__name__", name), ("i", i)])
}

fn group() -> Group {
    let f = parse(FORECAST).unwrap();
    Group::new(&f.groups[0], &GroupOptions::default())
}

fn state(g: &Group, rule: &str) -> Option<AlertState> {
    g.alerts()
        .find(|(r, _)| r.name() == rule)
        .map(|(_, a)| a.state)
        .filter(|s| *s != AlertState::Inactive)
}

fn stored<'a>(out: &'a [OutputSample], metric: &str, bound: Option<&str>) -> Option<&'a OutputSample> {
    out.iter()
        .find(|s| s.labels.get("__name__") == Some(metric) && s.labels.get("bound") == bound)
}

/// `x{i="a"}`: 200 - m until minute 150, 50 until minute 300, then 500; one sample a minute.
fn falling_then_flat(m: i64) -> f64 {
    match m {
        ..=150 => 200.0 - m as f64,
        151..=300 => 50.0,
        _ => 500.0,
    }
}

#[test]
fn forecast_rule_fires_before_the_crossing_and_recovers_with_hysteresis() {
    let mut db = MemStorage::new();
    db.add(
        labels("x", "a"),
        (0..=420).map(|m| (m * MIN, falling_then_flat(m))).collect::<Vec<_>>(),
    );
    let mut g = group();
    // At minute 100 (value 100) the line reaches 0 only after 100 minutes: beyond the horizon.
    let out = g.eval(100 * MIN, &db);
    assert_eq!(out.rules[0].health, crate::Health::Ok, "{:?}", out.rules[0]);
    assert_eq!(state(&g, "DiskWillFill"), None);
    let at_end = stored(&out.samples, FORECAST_METRIC, Some("point")).unwrap();
    assert!(
        (at_end.v - 40.0).abs() < 5.0,
        "point forecast at the horizon's end: {}",
        at_end.v
    );
    assert_eq!(at_end.labels.get("alertname"), Some("DiskWillFill"));
    assert_eq!(at_end.labels.get("i"), Some("a"));
    assert!(stored(&out.samples, ETA_METRIC, None).is_none());

    // At minute 145 (value 55, every stored value far above 0) it crosses in about 55 minutes.
    let out = g.eval(145 * MIN, &db);
    assert_eq!(state(&g, "DiskWillFill"), Some(AlertState::Pending));
    assert_eq!(state(&g, "NoHysteresis"), Some(AlertState::Firing));
    let eta = stored(&out.samples, ETA_METRIC, None).unwrap();
    assert!((eta.v - 55.0 * 60.0).abs() <= 5.0 * 60.0, "eta {}", eta.v);
    let (_, alert) = g.alerts().find(|(r, _)| r.name() == "DiskWillFill").unwrap();
    assert!(
        alert.value < 0.0 && alert.value > -2.0,
        "value at the crossing: {}",
        alert.value
    );
    let summary = &alert.annotations["summary"];
    assert!(summary.starts_with("a fills in 5"), "{summary}");
    assert!(summary.contains("m 0s"), "{summary}");
    assert_eq!(alert.labels["severity"], "page");
    g.eval(147 * MIN, &db);
    assert_eq!(state(&g, "DiskWillFill"), Some(AlertState::Firing));

    // Flat at 50 for two hours: the forecast no longer reaches 0, but stays below `recover`.
    for m in (150..=290).step_by(10) {
        g.eval(m * MIN, &db);
    }
    assert_eq!(state(&g, "NoHysteresis"), None);
    assert_eq!(state(&g, "DiskWillFill"), Some(AlertState::Firing));
    // Back at 500: past `recover`, resolved.
    for m in (300..=420).step_by(10) {
        g.eval(m * MIN, &db);
    }
    assert_eq!(state(&g, "DiskWillFill"), None);
}

/// `y{i}`: 100 plus a small deterministic wiggle, and `spike` at minute 300.
fn noisy(m: i64, spike: f64) -> f64 {
    if m == 300 {
        spike
    } else {
        100.0 + ((m * 7919) % 13) as f64 * 0.1
    }
}

#[test]
fn anomaly_rule_fires_on_a_spike_not_on_noise() {
    let mut db = MemStorage::new();
    db.add(
        labels("y", "up"),
        (0..=300).map(|m| (m * MIN, noisy(m, 200.0))).collect::<Vec<_>>(),
    );
    db.add(
        labels("y", "down"),
        (0..=300).map(|m| (m * MIN, noisy(m, 0.0))).collect::<Vec<_>>(),
    );
    let mut g = group();
    for m in 290..300 {
        let out = g.eval(m * MIN, &db);
        assert_eq!(out.rules[2].health, crate::Health::Ok, "{:?}", out.rules[2]);
        assert_eq!(state(&g, "Spike"), None, "minute {m}");
    }
    let out = g.eval(300 * MIN, &db);
    let alerts: Vec<_> = g
        .alerts()
        .filter(|(r, _)| r.name() == "Spike")
        .map(|(_, a)| a)
        .collect();
    // The drop is as anomalous, but the rule looks above only.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].labels["i"], "up");
    assert_eq!(alerts[0].value, 200.0);
    assert_eq!(alerts[0].state, AlertState::Firing);
    let s = &alerts[0].annotations["s"];
    assert!(s.starts_with("200 expected 100."), "{s}");
    let score = out
        .samples
        .iter()
        .find(|o| o.labels.get("__name__") == Some(SCORE_METRIC) && o.labels.get("i") == Some("up"))
        .unwrap();
    assert!(score.v >= 0.9, "{}", score.v);
    let expected = out
        .samples
        .iter()
        .filter(|o| o.labels.get("__name__") == Some(EXPECTED_METRIC) && o.labels.get("i") == Some("down"))
        .count();
    assert_eq!(expected, 3);
}

#[test]
fn tiny_wiggles_on_flat_series_need_the_minimum_deviation() {
    let spec = AnomalySpec {
        expr: "y".into(),
        history: Duration::from_secs(3600),
        step: None,
        direction: Direction::Both,
        score: 0.9,
        min_deviation: 5.0,
        min_relative_deviation: 0.1,
    };
    assert!(!spec.counts(100.5, 100.0, 1.0));
    assert!(!spec.counts(106.0, 100.0, 1.0), "less than 10 % of the expected value");
    assert!(spec.counts(111.0, 100.0, 1.0));
    assert!(spec.counts(89.0, 100.0, 1.0));
    assert!(!spec.counts(111.0, 100.0, 0.5), "score below 0.9");
    let above = AnomalySpec {
        direction: Direction::Above,
        ..spec
    };
    assert!(!above.counts(89.0, 100.0, 1.0));
}

#[test]
fn the_default_step_follows_the_interval_within_ten_thousand_steps() {
    assert_eq!(grid_step(None, Duration::from_secs(3600), 15_000), 15_000);
    assert_eq!(grid_step(None, Duration::from_secs(7 * 86_400), 60_000), 61_000);
    assert_eq!(
        grid_step(Some(Duration::from_secs(300)), Duration::from_secs(86_400), 15_000),
        300_000
    );
}

fn counts(g: &Group, rule: &str) -> crate::PredictCounts {
    g.rules()
        .iter()
        .find_map(|r| match r {
            crate::Rule::Alerting(a) if a.name() == rule => a.predict_counts(),
            _ => None,
        })
        .unwrap()
}

#[test]
fn models_are_kept_between_evaluations_and_refitted_on_schedule_or_change() {
    let mut db = MemStorage::new();
    db.add(
        labels("x", "a"),
        (0..=420).map(|m| (m * MIN, falling_then_flat(m))).collect::<Vec<_>>(),
    );
    let mut g = group();
    g.eval(100 * MIN, &db);
    let first = counts(&g, "DiskWillFill");
    assert_eq!((first.fits, first.updates, first.kept), (1, 0, 1));
    // The next minutes only carry the model over their new point, and it still sees the fall.
    for m in 101..=145 {
        g.eval(m * MIN, &db);
    }
    let c = counts(&g, "DiskWillFill");
    assert_eq!((c.fits, c.updates), (1, 45), "{c:?}");
    assert_eq!(state(&g, "NoHysteresis"), Some(AlertState::Firing));
    // The same minute again: nothing new to carry, nothing fitted.
    g.eval(145 * MIN, &db);
    assert_eq!(counts(&g, "DiskWillFill").fits, 1);
    // The fall stops at 50 and the series jumps to 500 at minute 301: the one-step errors make
    // a refit due long before the hour is up.
    for m in 146..=310 {
        g.eval(m * MIN, &db);
    }
    let c = counts(&g, "DiskWillFill");
    assert!(c.fits >= 3, "refitted on schedule and on the change: {c:?}");
    assert_eq!(c.deferred, 0);
    // Time going back (a backtest restarting) starts afresh.
    g.eval(100 * MIN, &db);
    assert_eq!(counts(&g, "DiskWillFill").kept, 1);
    assert_eq!(counts(&g, "DiskWillFill").fits, c.fits + 1);
}

#[test]
fn a_cold_start_over_many_series_predicts_at_once_with_quick_models_then_fits_fully() {
    let mut db = MemStorage::new();
    let n = super::QUICK_FITS_ABOVE + 4;
    for i in 0..n {
        db.add(
            labels("x", &format!("s{i:02}")),
            (0..=200).map(|m| (m * MIN, falling_then_flat(m))).collect::<Vec<_>>(),
        );
    }
    let mut g = group();
    let out = g.eval(100 * MIN, &db);
    assert_eq!(out.rules[0].health, crate::Health::Ok, "{:?}", out.rules[0]);
    let c = counts(&g, "DiskWillFill");
    assert_eq!((c.fits, c.quick_fits, c.kept), (0, n as u64, n), "{c:?}");
    // Every series is forecast from the first evaluation, and the quick model sees the fall.
    let points: Vec<&OutputSample> = out
        .samples
        .iter()
        .filter(|s| {
            s.labels.get("__name__") == Some(FORECAST_METRIC)
                && s.labels.get("bound") == Some("point")
                && s.labels.get("alertname") == Some("DiskWillFill")
        })
        .collect();
    assert_eq!(points.len(), n);
    assert!(points.iter().all(|p| (p.v - 40.0).abs() < 10.0), "{points:?}");
    // The next evaluation replaces the quick models by full fits.
    g.eval(101 * MIN, &db);
    let c = counts(&g, "DiskWillFill");
    assert_eq!((c.fits + c.deferred, c.quick_fits), (n as u64, n as u64), "{c:?}");
    assert!(c.fits > 0, "{c:?}");
    // A few new series later are fitted fully at once.
    db.add(
        labels("x", "late"),
        (0..=200).map(|m| (m * MIN, falling_then_flat(m))).collect::<Vec<_>>(),
    );
    g.eval(102 * MIN, &db);
    assert_eq!(counts(&g, "DiskWillFill").quick_fits, n as u64);
}

#[test]
fn kept_models_survive_a_reload_of_the_same_rule_only() {
    let mut db = MemStorage::new();
    db.add(
        labels("x", "a"),
        (0..=200).map(|m| (m * MIN, falling_then_flat(m))).collect::<Vec<_>>(),
    );
    let mut g = group();
    g.eval(120 * MIN, &db);
    let mut same = group();
    same.copy_state_from(&g, 121 * MIN);
    same.eval(121 * MIN, &db);
    assert_eq!(counts(&same, "DiskWillFill").fits, 1, "kept across the reload");
    let edited = FORECAST.replace("threshold: 0\n      recover: 100", "threshold: 10\n      recover: 100");
    let f = parse(&edited).unwrap();
    let mut changed = Group::new(&f.groups[0], &GroupOptions::default());
    changed.copy_state_from(&g, 121 * MIN);
    changed.eval(121 * MIN, &db);
    assert_eq!(counts(&changed, "DiskWillFill").fits, 2, "an edited rule fits afresh");
    assert_eq!(
        counts(&changed, "NoHysteresis").fits,
        1,
        "the unchanged rule keeps its model"
    );
}

#[test]
fn anomaly_detectors_are_fed_the_new_points_only() {
    let mut db = MemStorage::new();
    db.add(
        labels("y", "up"),
        (0..=300).map(|m| (m * MIN, noisy(m, 200.0))).collect::<Vec<_>>(),
    );
    let mut g = group();
    for m in 290..=300 {
        g.eval(m * MIN, &db);
    }
    let c = counts(&g, "Spike");
    assert_eq!((c.fits, c.updates, c.kept), (1, 10, 1));
    assert_eq!(state(&g, "Spike"), Some(AlertState::Firing));
    // Evaluated again within the same grid step: the verdict holds.
    g.eval(300 * MIN + 20_000, &db);
    assert_eq!(state(&g, "Spike"), Some(AlertState::Firing));
}
