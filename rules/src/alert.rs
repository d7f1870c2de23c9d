//! Alerting rules and the alert state machine, as Prometheus' `rules/alerting.go`:
//! inactive -> pending -> firing after `for`; `keep_firing_for`; resolved alerts kept for 15
//! minutes (and re-sent as resolved); a duplicate label set after templating fails the rule;
//! `limit` clears the rule's alerts. Pure logic: the time is passed in.

use std::collections::{BTreeMap, HashSet};

use foresight_promql::{Labels, METRIC_NAME};
use serde::{Deserialize, Serialize};

use crate::predict::{Hit, Predictor};
use crate::predict_state::{PredictCounts, PredictState};
use crate::template::{AlertData, Env, expand_alert};

/// How long a resolved alert is kept (and re-sent as resolved), in milliseconds.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Resolved (kept for [`RESOLVED_RETENTION_MS`] so that it is sent as resolved).
    Inactive,
    /// Active for less than the rule's `for`.
    Pending,
    /// Active for at least `for` (or kept by `keep_firing_for`).
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing`, as the `alertstate` label and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule. Times are milliseconds since the epoch; serialisable, so a
/// server can keep or show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's labels: the sample's (without `__name__`), the rule's (templated) and
    /// `alertname`.
    pub labels: BTreeMap<String, String>,
    /// The templated annotations.
    pub annotations: BTreeMap<String, String>,
    /// The state.
    pub state: AlertState,
    /// The sample's value at the last evaluation that saw it.
    pub value: f64,
    /// When it became pending.
    pub active_at: i64,
    /// When it fired, if it did.
    pub fired_at: Option<i64>,
    /// When it was resolved, if it was.
    pub resolved_at: Option<i64>,
    /// When it was last sent to a notifier (`None`: never).
    pub last_sent_at: Option<i64>,
    /// Until when the last notification holds it active (`endsAt` of a firing alert).
    pub valid_until: Option<i64>,
    /// Since when it has been kept firing by `keep_firing_for` without its sample.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Whether a notifier should send it at `ts` (Prometheus' `needsSending`): never while
    /// pending; when it was resolved after its last send, or when the last send is older than
    /// `resend_delay_ms`.
    pub fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let Some(last) = self.last_sent_at else { return true };
        if self.resolved_at.is_some_and(|r| r > last) {
            return true;
        }
        last.saturating_add(resend_delay_ms) < ts
    }
}

/// What an alerting rule's evaluation needs besides the query result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlertContext<'a> {
    pub ts: i64,
    pub limit: usize,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub env: Env<'a>,
}

/// An alerting rule with its alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) for_ms: i64,
    pub(crate) keep_firing_for_ms: i64,
    /// The rule's labels (the group's merged in), templates.
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) active: BTreeMap<Labels, Alert>,
    /// `forecast:` or `anomaly:`: what makes the rule predictive.
    pub(crate) predictor: Option<Predictor>,
    /// A predictive rule's per-series models or detectors, kept between evaluations.
    pub(crate) predict_state: Box<PredictState>,
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::new(m.iter().filter(|(_, v)| !v.is_empty()))
}

impl AlertingRule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PromQL expression (a predictive rule's: the one it models).
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The `forecast:` or `anomaly:` block of a predictive rule.
    pub fn predictor(&self) -> Option<&Predictor> {
        self.predictor.as_ref()
    }

    /// What a predictive rule's evaluations did so far (fits, updates, deferred fits) and how
    /// many series it keeps models for; `None` for an ordinary rule.
    pub fn predict_counts(&self) -> Option<PredictCounts> {
        self.predictor.as_ref().map(|_| self.predict_state.counts())
    }

    /// `for`, in milliseconds.
    pub fn for_ms(&self) -> i64 {
        self.for_ms
    }

    /// `keep_firing_for`, in milliseconds.
    pub fn keep_firing_for_ms(&self) -> i64 {
        self.keep_firing_for_ms
    }

    /// The rule's labels (templates), the group's included.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The annotations (templates).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// Its alerts: pending, firing and recently resolved, by label set.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// The highest state of its alerts (a rule's state in the API).
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Replaces the alerts (e.g. restored by a server after a restart).
    pub fn set_alerts(&mut self, alerts: impl IntoIterator<Item = Alert>) {
        self.active = alerts.into_iter().map(|a| (to_labels(&a.labels), a)).collect();
    }

    /// Advances the state machine with the series the condition holds for (the query's result,
    /// or a predictive rule's hits, with their extra template variables); returns the
    /// `ALERTS` and `ALERTS_FOR_STATE` samples (labels, value) to write at `ctx.sample_ts`.
    pub(crate) fn apply(&mut self, samples: &[Hit], ctx: &AlertContext<'_>) -> Result<Vec<(Labels, f64)>, String> {
        let ts = ctx.ts;
        let mut current: BTreeMap<Labels, Alert> = BTreeMap::new();
        for Hit {
            labels: metric,
            value,
            vars,
        } in samples
        {
            let sample_labels: BTreeMap<String, String> = metric
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            let data = AlertData {
                labels: metric
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect(),
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value: *value,
                extra: vars.clone(),
            };
            let mut labels = sample_labels;
            for (k, v) in &self.labels {
                let expanded = expand_alert(&self.name, v, &data, &ctx.env);
                if expanded.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), expanded);
                }
            }
            labels.insert("alertname".into(), self.name.clone());
            let annotations = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand_alert(&self.name, v, &data, &ctx.env)))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let key = to_labels(&labels);
            if current.contains_key(&key) {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
            current.insert(
                key,
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value: *value,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }
        let seen: HashSet<Labels> = current.keys().cloned().collect();
        for (key, a) in current {
            match self.active.get_mut(&key) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(key, a);
                }
            }
        }
        let mut out = Vec::new();
        let mut active_count = 0usize;
        let mut remove = Vec::new();
        for (key, a) in self.active.iter_mut() {
            if seen.contains(key) {
                a.keep_firing_since = None;
            } else {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                if a.state == AlertState::Pending || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS) {
                    remove.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            let base = to_labels(&a.labels);
            out.push((
                base.with(METRIC_NAME, "ALERTS").with("alertstate", a.state.as_str()),
                1.0,
            ));
            out.push((base.with(METRIC_NAME, "ALERTS_FOR_STATE"), (a.active_at / 1000) as f64));
        }
        for k in remove {
            self.active.remove(&k);
        }
        if ctx.limit > 0 && active_count > ctx.limit {
            self.active.clear();
            return Err(format!("exceeded limit of {} with {active_count} alerts", ctx.limit));
        }
        Ok(out)
    }
}
