//! Alert notifications, as Prometheus' `notifier` package sends them: one bounded queue and one
//! sender thread per Alertmanager (so a dead one does not hold back the others), batches of at
//! most 256 alerts posted as JSON to `/api/v2/alerts`, a timeout per request, the oldest alerts
//! dropped when a queue is full; and webhook receivers, posted Alertmanager's webhook payload
//! (version 4), one message per alert name.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use foresight_rules::{Alert, AlertState};
use parking_lot::{Condvar, Mutex};
use serde::Serialize;

use super::rfc3339;
use crate::config::AlertingSettings;
use crate::json;
use crate::metrics::Family;

/// Prometheus' `maxBatchSize`.
const MAX_BATCH: usize = 256;
/// Prometheus' default `--alertmanager.notification-queue-capacity`.
const QUEUE_CAPACITY: usize = 10_000;

/// One alert as Alertmanager's API v2 takes it (`PostableAlert`, in its field order).
#[derive(Debug, Clone, Serialize)]
struct PostableAlert {
    annotations: BTreeMap<String, String>,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
    labels: BTreeMap<String, String>,
}

/// One alert of a webhook message (Alertmanager's `template.Alert`).
#[derive(Debug, Clone, Serialize)]
struct WebhookAlert {
    status: &'static str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: String,
    fingerprint: String,
}

/// Alertmanager's webhook message, version 4.
#[derive(Debug, Serialize)]
struct WebhookMessage<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: &'a [WebhookAlert],
    #[serde(rename = "groupLabels")]
    group_labels: BTreeMap<String, String>,
    #[serde(rename = "commonLabels")]
    common_labels: BTreeMap<String, String>,
    #[serde(rename = "commonAnnotations")]
    common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    #[serde(rename = "groupKey")]
    group_key: String,
    #[serde(rename = "truncatedAlerts")]
    truncated_alerts: u64,
}

#[derive(Debug, Clone)]
enum Item {
    Am(PostableAlert),
    Hook(WebhookAlert),
}

/// A target's queue and counters, shared with its sender thread.
#[derive(Debug)]
struct Queue {
    items: Mutex<VecDeque<Item>>,
    ready: Condvar,
    stopped: AtomicBool,
    sent: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct Target {
    /// The URL posted to (the `alertmanager` label of the metrics).
    url: String,
    /// A webhook receiver (else an Alertmanager).
    hook: bool,
    queue: Arc<Queue>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Every notification target.
#[derive(Debug)]
pub(super) struct Notifiers {
    targets: Vec<Target>,
    external_url: String,
    /// Added to every alert that lacks them (Prometheus' external labels).
    external_labels: BTreeMap<String, String>,
}

impl Notifiers {
    /// Starts one sender thread per Alertmanager and webhook of `settings`.
    pub(super) fn start(settings: &AlertingSettings, external_url: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(settings.notification_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let am = settings
            .alertmanager_urls
            .iter()
            .map(|u| (format!("{u}/api/v2/alerts"), false));
        let hooks = settings.webhooks.iter().map(|u| (u.clone(), true));
        let targets = am
            .chain(hooks)
            .map(|(url, hook)| {
                let queue = Arc::new(Queue {
                    items: Mutex::new(VecDeque::new()),
                    ready: Condvar::new(),
                    stopped: AtomicBool::new(false),
                    sent: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                });
                let (q, a, u, ext) = (queue.clone(), agent.clone(), url.clone(), external_url.to_owned());
                let thread = std::thread::Builder::new()
                    .name("foresight-notify".into())
                    .spawn(move || send_loop(&q, &a, &u, hook, &ext))
                    .map_err(|e| tracing::error!(error = %e, url = %url, "cannot start a notifier thread"))
                    .ok();
                Target {
                    url,
                    hook,
                    queue,
                    thread: Mutex::new(thread),
                }
            })
            .collect();
        Notifiers {
            targets,
            external_url: external_url.to_owned(),
            external_labels: settings.external_labels.clone(),
        }
    }

    /// Queues `alerts` for every target. `exprs` maps alert names to their expressions (for
    /// `generatorURL`).
    pub(super) fn send(&self, alerts: &[Alert], exprs: &BTreeMap<String, String>) {
        if self.targets.is_empty() {
            return;
        }
        let items: Vec<(PostableAlert, WebhookAlert)> = alerts
            .iter()
            .map(|a| {
                let name = a.labels.get("alertname").map_or("", String::as_str);
                let expr = exprs.get(name).map_or("", String::as_str);
                let generator_url = format!(
                    "{}/graph?g0.expr={}&g0.tab=1",
                    self.external_url,
                    form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
                );
                let starts = a.fired_at.unwrap_or(a.active_at);
                let ends = a.resolved_at.or(a.valid_until).unwrap_or(starts);
                let resolved = a.state == AlertState::Inactive;
                // The alert's own labels win, as in Prometheus.
                let mut labels = a.labels.clone();
                for (k, v) in &self.external_labels {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                let am = PostableAlert {
                    annotations: a.annotations.clone(),
                    ends_at: rfc3339::millis(ends),
                    starts_at: rfc3339::millis(starts),
                    generator_url: generator_url.clone(),
                    labels: labels.clone(),
                };
                let hook = WebhookAlert {
                    status: if resolved { "resolved" } else { "firing" },
                    annotations: a.annotations.clone(),
                    starts_at: rfc3339::nano(starts),
                    ends_at: if resolved {
                        rfc3339::nano(ends)
                    } else {
                        rfc3339::ZERO.to_owned()
                    },
                    generator_url,
                    fingerprint: format!("{:016x}", fingerprint(&labels)),
                    labels,
                };
                (am, hook)
            })
            .collect();
        for t in &self.targets {
            let mut q = t.queue.items.lock();
            for (am, wh) in &items {
                if q.len() >= QUEUE_CAPACITY {
                    q.pop_front();
                    t.queue.dropped.fetch_add(1, Ordering::Relaxed);
                }
                q.push_back(if t.hook {
                    Item::Hook(wh.clone())
                } else {
                    Item::Am(am.clone())
                });
            }
            drop(q);
            t.queue.ready.notify_one();
        }
    }

    /// Stops the sender threads (alerts still queued are dropped) and waits for them.
    pub(super) fn stop(&self) {
        for t in &self.targets {
            t.queue.stopped.store(true, Ordering::Relaxed);
            t.queue.ready.notify_all();
        }
        for t in &self.targets {
            if let Some(h) = t.thread.lock().take() {
                let _ = h.join();
            }
        }
    }

    /// The notification counters, under Prometheus' names with `foresight_` for `prometheus_`.
    pub(super) fn families(&self) -> Vec<Family> {
        let mut sent = Family::new("foresight_notifications_sent_total", "counter", "Alerts sent");
        let mut errors = Family::new(
            "foresight_notifications_errors_total",
            "counter",
            "Alerts whose post failed",
        );
        let mut dropped = Family::new(
            "foresight_notifications_dropped_total",
            "counter",
            "Alerts dropped from a full queue",
        );
        let mut queued = Family::new(
            "foresight_notifications_queue_length",
            "gauge",
            "Alerts waiting to be sent",
        );
        for t in &self.targets {
            let l = || vec![("alertmanager", t.url.clone())];
            sent.push("", l(), t.queue.sent.load(Ordering::Relaxed) as f64);
            errors.push("", l(), t.queue.errors.load(Ordering::Relaxed) as f64);
            dropped.push("", l(), t.queue.dropped.load(Ordering::Relaxed) as f64);
            queued.push("", l(), t.queue.items.lock().len() as f64);
        }
        vec![
            sent,
            errors,
            dropped,
            queued,
            Family::one(
                "foresight_notifications_queue_capacity",
                "gauge",
                "Capacity of each notification queue",
                QUEUE_CAPACITY as f64,
            ),
            Family::one(
                "foresight_notifications_alertmanagers_discovered",
                "gauge",
                "Alertmanagers and webhooks alerts are sent to",
                self.targets.len() as f64,
            ),
        ]
    }
}

/// A sender thread: waits for alerts, posts them in batches, until stopped.
fn send_loop(q: &Queue, agent: &ureq::Agent, url: &str, hook: bool, external_url: &str) {
    loop {
        let batch: Vec<Item> = {
            let mut items = q.items.lock();
            if items.is_empty() && !q.stopped.load(Ordering::Relaxed) {
                q.ready.wait_for(&mut items, Duration::from_secs(1));
            }
            if q.stopped.load(Ordering::Relaxed) {
                return;
            }
            let n = items.len().min(MAX_BATCH);
            items.drain(..n).collect()
        };
        if batch.is_empty() {
            continue;
        }
        let n = batch.len() as u64;
        let ok = if hook {
            post_webhook(agent, url, external_url, batch)
        } else {
            let alerts: Vec<PostableAlert> = batch
                .into_iter()
                .filter_map(|i| match i {
                    Item::Am(a) => Some(a),
                    Item::Hook(_) => None,
                })
                .collect();
            post(agent, url, json::to_string(&alerts))
        };
        if ok {
            q.sent.fetch_add(n, Ordering::Relaxed);
        } else {
            q.errors.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// One message per alert name, as an Alertmanager route `group_by: [alertname]` would send.
fn post_webhook(agent: &ureq::Agent, url: &str, external_url: &str, batch: Vec<Item>) -> bool {
    let mut groups: BTreeMap<String, Vec<WebhookAlert>> = BTreeMap::new();
    for i in batch {
        if let Item::Hook(a) = i {
            groups
                .entry(a.labels.get("alertname").cloned().unwrap_or_default())
                .or_default()
                .push(a);
        }
    }
    let mut ok = true;
    for (name, alerts) in groups {
        let common = |pick: fn(&WebhookAlert) -> &BTreeMap<String, String>| -> BTreeMap<String, String> {
            let mut c = alerts.first().map(|a| pick(a).clone()).unwrap_or_default();
            c.retain(|k, v| alerts.iter().all(|a| pick(a).get(k) == Some(v)));
            c
        };
        let mut group_key = String::from("{}:{alertname=");
        json::push_str(&mut group_key, &name);
        group_key.push('}');
        let msg = WebhookMessage {
            receiver: "foresight",
            status: if alerts.iter().any(|a| a.status == "firing") {
                "firing"
            } else {
                "resolved"
            },
            group_labels: BTreeMap::from([("alertname".to_owned(), name.clone())]),
            common_labels: common(|a| &a.labels),
            common_annotations: common(|a| &a.annotations),
            alerts: &alerts,
            external_url,
            version: "4",
            group_key,
            truncated_alerts: 0,
        };
        ok &= post(agent, url, json::to_string(&msg));
    }
    ok
}

fn post(agent: &ureq::Agent, url: &str, body: Result<String, serde_json::Error>) -> bool {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode alerts");
            return false;
        }
    };
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("foresight/", env!("CARGO_PKG_VERSION")))
        .send(body.as_str())
    {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::warn!(url, status = r.status().as_u16(), "notification refused");
            false
        }
        Err(e) => {
            tracing::warn!(url, error = %e, "notification failed");
            false
        }
    }
}

/// Alertmanager's fingerprint of a label set: FNV-1a 64 over the names and values in name order,
/// each followed by the byte 0xff (`model.LabelSet.Fingerprint`).
fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(v.as_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_alertmanagers() {
        // model.LabelSet{}.Fingerprint() is FNV-1a's offset basis.
        assert_eq!(fingerprint(&BTreeMap::new()), 14_695_981_039_346_656_037);
        let a = BTreeMap::from([("alertname".to_owned(), "X".to_owned())]);
        let b = BTreeMap::from([("alertname".to_owned(), "Y".to_owned())]);
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
