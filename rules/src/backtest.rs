//! Backtesting: replays the groups of rule files over stored history, one evaluation per
//! group interval from `from` to `to`, with the same state machine, and lists every alert's
//! transitions (pending, firing, resolved). For a forecast rule it also finds when the series
//! actually crossed the threshold, so the report says how early the alert came (or that the
//! crossing never came: a false alarm within the range).
//!
//! Recording rules' results are visible within an evaluation, as in the server, but not stored:
//! a later evaluation reads the recorded series from the stored history only.

use std::collections::BTreeMap;

use foresight_promql::{Labels, Storage, Value};

use crate::alert::AlertState;
use crate::file::RuleFile;
use crate::group::{Group, GroupOptions, Health, Rule, duration_ms};
use crate::predict::Predictor;

/// Most evaluations one backtest runs per group (an interval too small for the range).
pub const MAX_BACKTEST_EVALUATIONS: i64 = 1_000_000;

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It became pending.
    Pending,
    /// It fired.
    Firing,
    /// It resolved.
    Resolved,
}

impl Transition {
    /// `pending`, `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Pending => "pending",
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
        }
    }
}

/// One transition of one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestEvent {
    /// Evaluation time (ms).
    pub at: i64,
    /// The group's name.
    pub group: String,
    /// The alert's labels (`alertname` included).
    pub labels: BTreeMap<String, String>,
    /// What happened.
    pub transition: Transition,
    /// The alert's value at that evaluation.
    pub value: f64,
    /// For a forecast rule's pending or firing: when the series actually crossed the threshold
    /// at or after `at` (ms), `None` when it did not by the end of the range.
    pub crossed_at: Option<Option<i64>>,
}

/// A backtest's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BacktestReport {
    /// Transitions in time order (then group and labels).
    pub events: Vec<BacktestEvent>,
    /// Evaluations run, over every group.
    pub evaluations: u64,
    /// Rule failures: (time, group, rule, error), the first of each rule only.
    pub failures: Vec<(i64, String, String, String)>,
}

/// Replays every group of `files` over `storage` from `from` to `to` (ms).
///
/// # Errors
/// A range that is empty or needs more than [`MAX_BACKTEST_EVALUATIONS`] evaluations of a group.
pub fn backtest(
    files: &[RuleFile],
    storage: &dyn Storage,
    from: i64,
    to: i64,
    opts: &GroupOptions,
) -> Result<BacktestReport, String> {
    if to < from {
        return Err(format!("--to ({to}) is before --from ({from})"));
    }
    let mut report = BacktestReport::default();
    for spec in files.iter().flat_map(|f| &f.groups) {
        let mut group = Group::new(spec, opts);
        let interval = duration_ms(group.interval()).max(1);
        if (to - from) / interval > MAX_BACKTEST_EVALUATIONS {
            return Err(format!(
                "group {:?}: {} evaluations at its interval; at most {MAX_BACKTEST_EVALUATIONS}",
                spec.name,
                (to - from) / interval
            ));
        }
        let mut previous: BTreeMap<(String, Labels), AlertState> = BTreeMap::new();
        let mut failed: Vec<String> = Vec::new();
        let mut ts = from;
        while ts <= to {
            let out = group.eval(ts, storage);
            report.evaluations += 1;
            for r in &out.rules {
                if let Health::Err(e) = &r.health
                    && !failed.contains(&r.name)
                {
                    failed.push(r.name.clone());
                    report.failures.push((ts, spec.name.clone(), r.name.clone(), e.clone()));
                }
            }
            let mut now: BTreeMap<(String, Labels), AlertState> = BTreeMap::new();
            for (rule, alert) in group.alerts() {
                let key = (rule.name().to_owned(), Labels::new(alert.labels.iter()));
                let before = previous.get(&key).copied().unwrap_or(AlertState::Inactive);
                let change = match (before, alert.state) {
                    (AlertState::Inactive, AlertState::Pending) => vec![Transition::Pending],
                    (AlertState::Inactive, AlertState::Firing) => vec![Transition::Pending, Transition::Firing],
                    (AlertState::Pending, AlertState::Firing) => vec![Transition::Firing],
                    (AlertState::Pending | AlertState::Firing, AlertState::Inactive) => vec![Transition::Resolved],
                    _ => Vec::new(),
                };
                for transition in change {
                    report.events.push(BacktestEvent {
                        at: ts,
                        group: spec.name.clone(),
                        labels: alert.labels.clone(),
                        transition,
                        value: alert.value,
                        crossed_at: None,
                    });
                }
                now.insert(key, alert.state);
            }
            previous = now;
            ts += interval;
        }
        crossings(&group, &mut report.events, storage, opts, to);
    }
    report
        .events
        .sort_by(|a, b| (a.at, &a.group, &a.labels).cmp(&(b.at, &b.group, &b.labels)));
    Ok(report)
}

/// For the pending and firing events of the forecast rules of `group`: when the alert's series
/// actually crossed the threshold, at or after the event, by `to`.
fn crossings(group: &Group, events: &mut [BacktestEvent], storage: &dyn Storage, opts: &GroupOptions, to: i64) {
    let step = duration_ms(group.interval()).max(1);
    for rule in group.rules() {
        let Rule::Alerting(a) = rule else { continue };
        let Some(Predictor::Forecast(f)) = a.predictor() else {
            continue;
        };
        for e in events.iter_mut().filter(|e| {
            e.group == group.name()
                && e.transition != Transition::Resolved
                && e.labels.get("alertname").map(String::as_str) == Some(a.name())
        }) {
            let Ok(res) = opts.engine.range_query(storage, &f.expr, e.at, to.max(e.at), step) else {
                continue;
            };
            let Value::Matrix(m) = res.value else { continue };
            let series = m.iter().find(|s| crate::predict::alert_of_series(&e.labels, &s.labels));
            e.crossed_at = Some(series.and_then(|s| {
                s.samples
                    .iter()
                    .find(|(_, v)| f.op.holds(*v, f.threshold))
                    .map(|(t, _)| *t)
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use foresight_promql::MemStorage;

    use super::*;
    use crate::file::parse_rule_file;

    const MIN: i64 = 60_000;

    #[test]
    fn replays_pending_firing_resolved_and_the_forecast_lead() {
        let file = parse_rule_file(
            Path::new("b.yml"),
            "groups:\n- name: b\n  interval: 1m\n  rules:\n  - alert: Low\n    expr: x < 20\n    for: 2m\n  \
             - alert: WillBeLow\n    forecast: {expr: x, history: 1h, horizon: 30m, step: 1m, op: '<', threshold: 20}\n",
        )
        .unwrap();
        // Falls one a minute from 150 to 0 (below 20 from minute 131), then back at 100 from 160.
        let mut db = MemStorage::new();
        let v = |m: i64| if m < 160 { (150 - m).max(0) as f64 } else { 100.0 };
        db.add(
            Labels::new([("__name__", "x"), ("i", "a")]),
            (0..=240).map(|m| (m * MIN, v(m))).collect::<Vec<_>>(),
        );
        let r = backtest(&[file], &db, 60 * MIN, 240 * MIN, &GroupOptions::default()).unwrap();
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        assert_eq!(r.evaluations, 181);
        let of = |name: &str| -> Vec<(i64, Transition)> {
            r.events
                .iter()
                .filter(|e| e.labels["alertname"] == name)
                .map(|e| (e.at / MIN, e.transition))
                .collect()
        };
        assert_eq!(
            of("Low"),
            [
                (131, Transition::Pending),
                (133, Transition::Firing),
                (160, Transition::Resolved)
            ]
        );
        let will = of("WillBeLow");
        assert_eq!(will.len(), 3, "{will:?}");
        let (pending_at, _) = will[0];
        assert!((100..=112).contains(&pending_at), "{will:?}");
        assert_eq!(will[2].1, Transition::Resolved);
        let first = r.events.iter().find(|e| e.labels["alertname"] == "WillBeLow").unwrap();
        assert_eq!(first.crossed_at, Some(Some(131 * MIN)), "the crossing seen in the data");
        let low = r.events.iter().find(|e| e.labels["alertname"] == "Low").unwrap();
        assert_eq!(low.crossed_at, None, "not a forecast rule");
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let e = backtest(&[], &MemStorage::new(), 10, 0, &GroupOptions::default()).unwrap_err();
        assert!(e.contains("before --from"), "{e}");
    }
}
