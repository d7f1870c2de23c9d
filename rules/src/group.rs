//! Rule groups and their evaluation, as Prometheus' `rules/group.go`: every rule of a group at
//! one timestamp, in order, each seeing the output of the rules before it; series a rule no
//! longer returns get stale markers; a failing rule writes nothing and keeps its old series.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use foresight_promql::{Engine, Labels, METRIC_NAME, Storage, Value, stale_nan};

use crate::alert::{Alert, AlertContext, AlertingRule};
use crate::file::{GroupSpec, RuleKind};
use crate::overlay::Overlay;
use crate::predict::{Hit, Predictor, alert_of_series};
use crate::template::{Env, Value as TmplValue};

/// What every group of an evaluator shares.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// The PromQL engine (lookback, limits, timeout).
    pub engine: Engine,
    /// The interval of groups that set none (Prometheus' `evaluation_interval`, default 1m).
    pub default_interval: Duration,
    /// The query offset of groups that set none (default 0).
    pub default_query_offset: Duration,
    /// `$externalLabels` in templates.
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` in templates.
    pub external_url: String,
}

impl Default for GroupOptions {
    fn default() -> Self {
        Self {
            engine: Engine::default(),
            default_interval: Duration::from_secs(60),
            default_query_offset: Duration::ZERO,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
        }
    }
}

/// A recording rule.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    name: String,
    expr: String,
    labels: BTreeMap<String, String>,
}

impl RecordingRule {
    /// The metric name it records.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PromQL expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The labels it sets (the group's included).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}

/// A rule of a group, with its state.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `record:`
    Recording(RecordingRule),
    /// `alert:`
    Alerting(AlertingRule),
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => r.name(),
            Rule::Alerting(a) => a.name(),
        }
    }

    /// The PromQL expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => r.expr(),
            Rule::Alerting(a) => a.expr(),
        }
    }
}

/// A rule's health after its last evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed, and why.
    Err(String),
}

/// One rule's evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    /// The rule's name.
    pub name: String,
    /// Whether it succeeded.
    pub health: Health,
    /// Samples it produced (stale markers not counted).
    pub samples: usize,
    /// How long it took.
    pub duration: Duration,
}

/// A sample to store: a rule's output or a stale marker ([`foresight_promql::is_stale_nan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSample {
    /// The series.
    pub labels: Labels,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// What one evaluation of a group produced.
#[derive(Debug, Clone, Default)]
pub struct EvalOutput {
    /// Samples to store, in rule order: recording results, `ALERTS`, `ALERTS_FOR_STATE`, and
    /// stale markers for series that vanished.
    pub samples: Vec<OutputSample>,
    /// Per rule, in order.
    pub rules: Vec<RuleOutcome>,
}

/// A rule group: its rules, their alerts and the series they wrote last time.
#[derive(Debug, Clone)]
pub struct Group {
    name: String,
    file: std::path::PathBuf,
    interval: Duration,
    query_offset: Duration,
    limit: usize,
    rules: Vec<Rule>,
    health: Vec<Health>,
    /// Series each rule wrote at its last successful evaluation (for stale markers).
    previous: Vec<HashSet<Labels>>,
    opts: GroupOptions,
    last_eval: Option<i64>,
}

impl Group {
    /// A group from its checked spec; the group's labels are merged into each rule's (the rule's
    /// own win).
    pub fn new(spec: &GroupSpec, opts: &GroupOptions) -> Self {
        let rules: Vec<Rule> = spec
            .rules
            .iter()
            .map(|r| {
                let mut labels = spec.labels.clone();
                labels.extend(r.labels.clone());
                match &r.kind {
                    RuleKind::Recording { record } => Rule::Recording(RecordingRule {
                        name: record.clone(),
                        expr: r.expr.clone(),
                        labels,
                    }),
                    RuleKind::Alerting {
                        alert,
                        for_,
                        keep_firing_for,
                        annotations,
                        predictor,
                    } => Rule::Alerting(AlertingRule {
                        name: alert.clone(),
                        expr: r.expr.clone(),
                        for_ms: duration_ms(*for_),
                        keep_firing_for_ms: duration_ms(*keep_firing_for),
                        labels,
                        annotations: annotations.clone(),
                        active: BTreeMap::new(),
                        predictor: predictor.clone(),
                        predict_state: Box::default(),
                    }),
                }
            })
            .collect();
        let n = rules.len();
        Self {
            name: spec.name.clone(),
            file: spec.file.clone(),
            interval: spec.interval.unwrap_or(opts.default_interval),
            query_offset: spec.query_offset.unwrap_or(opts.default_query_offset),
            limit: spec.limit,
            rules,
            health: vec![Health::Unknown; n],
            previous: vec![HashSet::new(); n],
            opts: opts.clone(),
            last_eval: None,
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it came from.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Its evaluation interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Its query offset.
    pub fn query_offset(&self) -> Duration {
        self.query_offset
    }

    /// Its `limit` (0: none).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Mutable rules (e.g. to restore alerts with [`AlertingRule::set_alerts`]).
    pub fn rules_mut(&mut self) -> &mut [Rule] {
        &mut self.rules
    }

    /// Each rule's health after the last evaluation.
    pub fn health(&self) -> &[Health] {
        &self.health
    }

    /// When it was last evaluated (milliseconds).
    pub fn last_eval(&self) -> Option<i64> {
        self.last_eval
    }

    /// Every alert of the group's alerting rules (pending, firing, recently resolved).
    pub fn alerts(&self) -> impl Iterator<Item = (&AlertingRule, &Alert)> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                Rule::Alerting(a) => Some(a),
                Rule::Recording(_) => None,
            })
            .flat_map(|r| r.alerts().map(move |a| (r, a)))
    }

    /// The alerts a notifier should send at `ts` (firing ones not sent for `resend_delay`, and
    /// resolved ones not sent since they resolved), marked as sent: `last_sent_at = ts`,
    /// `valid_until = ts + 4 * max(interval, resend_delay)` (Prometheus' `sendAlerts`).
    pub fn take_alerts_to_send(&mut self, ts: i64, resend_delay: Duration) -> Vec<Alert> {
        let delay = duration_ms(resend_delay);
        let valid_for = 4 * duration_ms(self.interval).max(delay);
        let mut out = Vec::new();
        for r in &mut self.rules {
            let Rule::Alerting(rule) = r else { continue };
            for a in rule.active.values_mut() {
                if a.needs_sending(ts, delay) {
                    a.last_sent_at = Some(ts);
                    a.valid_until = Some(ts.saturating_add(valid_for));
                    out.push(a.clone());
                }
            }
        }
        out
    }

    /// The evaluation time slot at or before `now_ms` (Prometheus' `EvalTimestamp`): groups are
    /// spread over the interval by a hash of their name and file, so they do not all run at once.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = duration_ms(self.interval).max(1);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.name, &self.file).hash(&mut h);
        let offset = i64::try_from(h.finish() % interval.unsigned_abs()).unwrap_or(0);
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(interval) + offset
    }

    /// Takes over the state of the group this one replaces (a reload, Prometheus' `CopyState`):
    /// each rule of `old` with the same name and labels as one of this group's (the first not
    /// yet matched, in order) hands over its alerts, health and the series it wrote last, so a
    /// reload neither resets `for` nor loses stale markers. Returns stale markers at `t` for the
    /// series of `old`'s rules that have no successor.
    pub fn copy_state_from(&mut self, old: &Group, t: i64) -> Vec<OutputSample> {
        let mut taken = vec![false; old.rules.len()];
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let found = old.rules.iter().enumerate().find(|(j, o)| {
                !taken[*j] && o.name() == rule.name() && rule_labels(o) == rule_labels(rule) && same_kind(o, rule)
            });
            let Some((j, o)) = found else { continue };
            taken[j] = true;
            self.previous[i] = old.previous[j].clone();
            self.health[i] = old.health[j].clone();
            if let (Rule::Alerting(new), Rule::Alerting(prev)) = (rule, o) {
                new.active = prev.active.clone();
                // Kept models are keyed by the rule's block and step: an edited rule drops them.
                new.predict_state = prev.predict_state.clone();
            }
        }
        if self.last_eval.is_none() {
            self.last_eval = old.last_eval;
        }
        let mut out = Vec::new();
        for (j, _) in taken.iter().enumerate().filter(|(_, t)| !**t) {
            out.extend(old.previous[j].iter().map(|labels| OutputSample {
                labels: labels.clone(),
                t,
                v: stale_nan(),
            }));
        }
        out
    }

    /// Stale markers at `t` for every series the group wrote at its last evaluation (a group
    /// removed by a reload).
    pub fn stale_markers(&self, t: i64) -> Vec<OutputSample> {
        self.previous
            .iter()
            .flatten()
            .map(|labels| OutputSample {
                labels: labels.clone(),
                t,
                v: stale_nan(),
            })
            .collect()
    }

    /// Evaluates every rule at `ts` (milliseconds) in order over `storage`, each rule seeing
    /// the samples of the rules before it. Returns what to store and how each rule did; a
    /// failing rule is reported in its [`RuleOutcome`] and does not stop the others.
    pub fn eval(&mut self, ts: i64, storage: &dyn Storage) -> EvalOutput {
        let mut overlay = Overlay::new(storage);
        let mut out = EvalOutput::default();
        let sample_ts = ts - duration_ms(self.query_offset);
        let engine = self.opts.engine.clone();
        // Fits of predictive rules (models, detectors) start within the first half of the
        // interval (refits, the first quarter), counted from the group's start: the rest wait
        // for the next evaluation.
        let deadline = crate::predict_state::FitDeadline::new(self.interval);
        for i in 0..self.rules.len() {
            let started = Instant::now();
            let result = self.eval_rule(i, ts, sample_ts, &engine, &overlay, deadline);
            let (health, produced) = match result {
                Ok(samples) => {
                    let now: HashSet<Labels> = samples.iter().map(|s| s.0.clone()).collect();
                    let n = samples.len();
                    for (labels, v) in samples {
                        overlay.add(&labels, sample_ts, v);
                        out.samples.push(OutputSample {
                            labels,
                            t: sample_ts,
                            v,
                        });
                    }
                    let gone: Vec<Labels> = self.previous[i].difference(&now).cloned().collect();
                    for labels in gone {
                        overlay.add(&labels, sample_ts, stale_nan());
                        out.samples.push(OutputSample {
                            labels,
                            t: sample_ts,
                            v: stale_nan(),
                        });
                    }
                    self.previous[i] = now;
                    (Health::Ok, n)
                }
                Err(e) => (Health::Err(e), 0),
            };
            out.rules.push(RuleOutcome {
                name: self.rules[i].name().to_string(),
                health: health.clone(),
                samples: produced,
                duration: started.elapsed(),
            });
            self.health[i] = health;
        }
        self.last_eval = Some(ts);
        out
    }

    fn eval_rule(
        &mut self,
        i: usize,
        ts: i64,
        sample_ts: i64,
        engine: &Engine,
        storage: &dyn Storage,
        deadline: crate::predict_state::FitDeadline,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let limit = self.limit;
        let interval_ms = duration_ms(self.interval);
        let opts = &self.opts;
        let Some(rule) = self.rules.get_mut(i) else {
            return Ok(Vec::new());
        };
        match rule {
            Rule::Recording(r) => {
                let vector = instant_vector(engine, storage, &r.expr, sample_ts)?;
                let mut seen = HashSet::new();
                let mut out = Vec::with_capacity(vector.len());
                for (labels, v) in vector {
                    let mut l = labels.with(METRIC_NAME, &r.name);
                    for (k, val) in &r.labels {
                        l = l.with(k, val);
                    }
                    if !seen.insert(l.clone()) {
                        return Err("vector contains metrics with the same labelset after applying rule labels".into());
                    }
                    out.push((l, v));
                }
                if limit > 0 && out.len() > limit {
                    return Err(format!("exceeded limit of {limit} with {} series", out.len()));
                }
                Ok(out)
            }
            Rule::Alerting(a) => {
                let (hits, stored) = match &a.predictor {
                    None => {
                        let vector = instant_vector(engine, storage, &a.expr, sample_ts)?;
                        let hits = vector
                            .into_iter()
                            .map(|(labels, value)| Hit {
                                labels,
                                value,
                                vars: Vec::new(),
                            })
                            .collect();
                        (hits, Vec::new())
                    }
                    Some(Predictor::Forecast(f)) => {
                        let active: Vec<&BTreeMap<String, String>> = a
                            .active
                            .values()
                            .filter(|x| x.state != crate::AlertState::Inactive)
                            .map(|x| &x.labels)
                            .collect();
                        let was_active = |series: &Labels| active.iter().any(|l| alert_of_series(l, series));
                        let p = f.evaluate(
                            &a.name,
                            engine,
                            storage,
                            sample_ts,
                            interval_ms,
                            &was_active,
                            &mut a.predict_state,
                            deadline,
                        )?;
                        (p.hits, p.stored)
                    }
                    Some(Predictor::Anomaly(an)) => {
                        let p = an.evaluate(
                            &a.name,
                            engine,
                            storage,
                            sample_ts,
                            interval_ms,
                            &mut a.predict_state,
                            deadline,
                        )?;
                        (p.hits, p.stored)
                    }
                };
                let query = |q: &str| -> Result<Vec<TmplValue>, String> {
                    let v = instant_vector(engine, storage, q, ts)?;
                    Ok(v.into_iter()
                        .map(|(l, x)| {
                            TmplValue::sample(l.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect(), x)
                        })
                        .collect())
                };
                let ctx = AlertContext {
                    ts,
                    limit,
                    external_labels: &opts.external_labels,
                    external_url: &opts.external_url,
                    env: Env {
                        query: Some(&query),
                        now_ms: ts,
                        external_url: &opts.external_url,
                    },
                };
                let mut out = a.apply(&hits, &ctx)?;
                out.extend(stored);
                Ok(out)
            }
        }
    }
}

fn rule_labels(r: &Rule) -> &BTreeMap<String, String> {
    match r {
        Rule::Recording(r) => &r.labels,
        Rule::Alerting(a) => &a.labels,
    }
}

fn same_kind(a: &Rule, b: &Rule) -> bool {
    matches!(
        (a, b),
        (Rule::Recording(_), Rule::Recording(_)) | (Rule::Alerting(_), Rule::Alerting(_))
    )
}

/// An instant query's result as (labels, value) pairs: a vector, or a scalar as one sample
/// without labels (as Prometheus' `EngineQueryFunc`).
pub(crate) fn instant_vector(
    engine: &Engine,
    storage: &dyn Storage,
    expr: &str,
    t: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    let res = engine.instant_query(storage, expr, t).map_err(|e| e.to_string())?;
    match res.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        other => Err(format!("rule result is not a vector or scalar: {}", other.type_name())),
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
