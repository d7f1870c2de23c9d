//! Rule evaluation inside `foresight serve`: the `--rules` files loaded into
//! [`foresight_rules::Group`]s, each group run on its own timer as Prometheus schedules it (a
//! slot offset by a hash of the group, missed iterations skipped and counted), its output
//! (recording results, `ALERTS`, `ALERTS_FOR_STATE`, stale markers) written through the engine,
//! alerts handed to the notifiers, `for` state restored after a restart from
//! `ALERTS_FOR_STATE`, and reloads (SIGHUP, `POST /-/reload`) that keep the old rules when a
//! file is bad.
//!
//! The HTTP side is `api.rs` (`/api/v1/rules`, `/api/v1/alerts`, `/-/reload`), the senders
//! `notify.rs`. This module imports no handler module: the server mounts `api::router` and
//! reads the metrics through [`MetricSource`].

mod api;
mod notify;
pub(crate) mod rfc3339;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use foresight_engine::promql::EngineOptions;
use foresight_engine::{Db, Labels, METRIC_NAME, MatchOp, SampleBatch, TenantView};
use foresight_rules::{Alert, AlertState, Group, GroupOptions, Health, OutputSample, Rule};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::AlertingSettings;
use crate::metrics::{Family, MetricSource};
use crate::time::now_ms;

pub(crate) use api::router;

/// The rules of a server and everything their evaluation keeps.
#[derive(Debug)]
pub(crate) struct Alerting {
    settings: AlertingSettings,
    opts: GroupOptions,
    groups: Mutex<Vec<Arc<Slot>>>,
    /// The database once open (weak: evaluations never keep it from closing) and the shutdown
    /// signal, for the group tasks started now and by reloads.
    runtime: Mutex<Option<(Weak<Db>, watch::Receiver<bool>)>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    notifiers: notify::Notifiers,
    /// Serialises reloads.
    reloading: tokio::sync::Mutex<()>,
    last_reload_ok: AtomicBool,
    last_reload_ms: AtomicI64,
}

/// One group and its counters.
#[derive(Debug)]
struct Slot {
    /// `file;name`, the `rule_group` label of the metrics (Prometheus' group key).
    key: String,
    state: Mutex<GroupState>,
}

#[derive(Debug)]
struct GroupState {
    group: Group,
    /// Whether `for` state was restored (or needs no restoring); `ALERTS` series are written
    /// only from then on, as Prometheus does, so a restart does not overwrite what it restores.
    restored: bool,
    iterations: u64,
    missed: u64,
    evaluations: u64,
    failures: u64,
    last_duration: Duration,
    /// Each rule's last evaluation time.
    rule_durations: Vec<Duration>,
    /// Wall-clock time of the last evaluation (ms).
    last_eval_wall: Option<i64>,
    last_samples: usize,
}

impl Alerting {
    /// Loads the rule files of `settings` (an error names every problem of every file).
    pub(crate) fn new(settings: &AlertingSettings, engine: EngineOptions, addr: SocketAddr) -> Result<Self, String> {
        let opts = GroupOptions {
            engine: foresight_engine::promql::Engine::new(engine),
            default_interval: settings.evaluation_interval,
            external_url: settings
                .external_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            external_labels: settings.external_labels.clone(),
            ..GroupOptions::default()
        };
        let groups = load(&settings.rules, &opts)?;
        let slots = groups.into_iter().map(|g| Arc::new(Slot::new(g, false))).collect();
        Ok(Alerting {
            notifiers: notify::Notifiers::start(settings, &opts.external_url),
            settings: settings.clone(),
            opts,
            groups: Mutex::new(slots),
            runtime: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
            reloading: tokio::sync::Mutex::new(()),
            last_reload_ok: AtomicBool::new(true),
            last_reload_ms: AtomicI64::new(now_ms()),
        })
    }

    /// Starts evaluating, now that the database is open. Each group runs on its own task until
    /// `shutdown` turns true.
    pub(crate) fn start(self: &Arc<Self>, db: Weak<Db>, shutdown: watch::Receiver<bool>) {
        *self.runtime.lock() = Some((db, shutdown));
        let slots = self.groups.lock().clone();
        self.spawn(slots);
    }

    fn spawn(self: &Arc<Self>, slots: Vec<Arc<Slot>>) {
        let Some((db, shutdown)) = self.runtime.lock().clone() else {
            return;
        };
        let mut tasks = self.tasks.lock();
        tasks.retain(|t| !t.is_finished());
        for slot in slots {
            tasks.push(tokio::spawn(run_group(
                self.clone(),
                slot,
                db.clone(),
                shutdown.clone(),
            )));
        }
    }

    /// Stops the group tasks and the notifiers (at shutdown).
    pub(crate) fn stop(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.notifiers.stop();
    }

    /// Whether the last load of the rule files succeeded, and when the rules last loaded (ms).
    pub(crate) fn last_reload(&self) -> (bool, i64) {
        (
            self.last_reload_ok.load(Ordering::Relaxed),
            self.last_reload_ms.load(Ordering::Relaxed),
        )
    }

    /// Reads the rule files again. On success the new groups replace the old ones, taking over
    /// the state of groups and rules that stay (alerts, `for`, stale-marker bookkeeping); groups
    /// that are gone get stale markers. On failure nothing changes and the error says why.
    pub(crate) async fn reload(self: &Arc<Self>) -> Result<(), String> {
        let _one_at_a_time = self.reloading.lock().await;
        let patterns = self.settings.rules.clone();
        let opts = self.opts.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&patterns, &opts))
            .await
            .map_err(|e| format!("loading rule files: {e}"))?;
        let groups = match loaded {
            Ok(g) => g,
            Err(e) => {
                self.last_reload_ok.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "rule reload failed; the previous rules stay");
                return Err(e);
            }
        };
        let db = self.runtime.lock().as_ref().and_then(|(db, _)| db.upgrade());
        let this = self.clone();
        let new_slots = tokio::task::spawn_blocking(move || this.swap_groups(groups, db))
            .await
            .map_err(|e| format!("swapping rule groups: {e}"))?;
        self.spawn(new_slots);
        self.last_reload_ok.store(true, Ordering::Relaxed);
        self.last_reload_ms.store(now_ms(), Ordering::Relaxed);
        tracing::info!(groups = self.groups.lock().len(), "rules reloaded");
        Ok(())
    }

    /// Replaces the groups (their tasks aborted), copying state; writes stale markers.
    fn swap_groups(&self, groups: Vec<Group>, db: Option<Arc<Db>>) -> Vec<Arc<Slot>> {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        let now = now_ms();
        let old: Vec<Arc<Slot>> = std::mem::take(&mut *self.groups.lock());
        let mut old_by_key: BTreeMap<String, Arc<Slot>> = old.into_iter().map(|s| (s.key.clone(), s)).collect();
        let mut stale = Vec::new();
        let mut slots = Vec::with_capacity(groups.len());
        for mut g in groups {
            let key = group_key(&g);
            let restored = match old_by_key.remove(&key) {
                Some(prev) => {
                    // Waits for an evaluation in progress to finish.
                    let prev = prev.state.lock();
                    let t = now - offset_ms(&prev.group);
                    stale.extend(g.copy_state_from(&prev.group, t));
                    prev.restored
                }
                None => true,
            };
            slots.push(Arc::new(Slot::new(g, restored)));
        }
        for (_, gone) in old_by_key {
            let st = gone.state.lock();
            stale.extend(st.group.stale_markers(now - offset_ms(&st.group)));
        }
        if let Some(db) = db {
            store(&TenantView::new(db, None), &stale);
        }
        *self.groups.lock() = slots.clone();
        slots
    }

    /// Evaluates one group at `ts` and does everything that follows: store, restore, notify.
    /// Rules are the default tenant's: they read and write its series only.
    fn evaluate(&self, slot: &Slot, db: &Arc<Db>, ts: i64) {
        let started = Instant::now();
        let db = TenantView::new(db.clone(), None);
        let db = &db;
        let mut st = slot.state.lock();
        let out = st.group.eval(ts, db);
        let mut samples = out.samples;
        if !st.restored {
            samples.retain(|s| !matches!(s.labels.metric_name(), Some("ALERTS" | "ALERTS_FOR_STATE")));
        }
        store(db, &samples);
        if !st.restored {
            restore_for_state(&mut st.group, db, now_ms(), &self.settings);
            st.restored = true;
        }
        let to_send = st.group.take_alerts_to_send(ts, self.settings.resend_delay);
        let exprs: BTreeMap<String, String> = st
            .group
            .rules()
            .iter()
            .filter_map(|r| match r {
                Rule::Alerting(a) => Some((a.name().to_owned(), a.expr().to_owned())),
                Rule::Recording(_) => None,
            })
            .collect();
        st.iterations += 1;
        st.evaluations += out.rules.len() as u64;
        st.failures += out.rules.iter().filter(|r| matches!(r.health, Health::Err(_))).count() as u64;
        st.rule_durations = out.rules.iter().map(|r| r.duration).collect();
        st.last_duration = started.elapsed();
        st.last_eval_wall = Some(now_ms());
        st.last_samples = samples.len();
        drop(st);
        if !to_send.is_empty() {
            self.notifiers.send(&to_send, &exprs);
        }
    }

    /// A snapshot of the groups for the API.
    fn slots(&self) -> Vec<Arc<Slot>> {
        self.groups.lock().clone()
    }
}

impl Slot {
    fn new(group: Group, restored: bool) -> Self {
        let n = group.rules().len();
        Slot {
            key: group_key(&group),
            state: Mutex::new(GroupState {
                group,
                restored,
                iterations: 0,
                missed: 0,
                evaluations: 0,
                failures: 0,
                last_duration: Duration::ZERO,
                rule_durations: vec![Duration::ZERO; n],
                last_eval_wall: None,
                last_samples: 0,
            }),
        }
    }
}

fn group_key(g: &Group) -> String {
    format!("{};{}", g.file().display(), g.name())
}

fn offset_ms(g: &Group) -> i64 {
    i64::try_from(g.query_offset().as_millis()).unwrap_or(0)
}

/// Every group of every file, or every problem found.
fn load(patterns: &[String], opts: &GroupOptions) -> Result<Vec<Group>, String> {
    let files = foresight_rules::load_globs(patterns)
        .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
    Ok(files
        .iter()
        .flat_map(|f| f.groups.iter().map(|g| Group::new(g, opts)))
        .collect())
}

/// Writes rule output through the engine (stale markers included).
fn store(db: &TenantView, samples: &[OutputSample]) {
    if samples.is_empty() {
        return;
    }
    let mut batch = SampleBatch::new();
    let mut refs: BTreeMap<&Labels, foresight_engine::SeriesRef> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let r = match refs.get(&s.labels) {
            Some(r) => *r,
            None => match batch.add_series(&s.labels) {
                Ok(r) => {
                    refs.insert(&s.labels, r);
                    r
                }
                Err(e) => {
                    tracing::warn!(series = %s.labels, error = %e, "rule output not stored");
                    continue;
                }
            },
        };
        batch.push(r, s.t, s.v, i + 1);
    }
    match db.write_samples(&batch) {
        Ok(report) if !report.rejected.is_empty() => {
            tracing::warn!(
                rejected = report.rejected.len(),
                "some rule output samples were refused"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "rule output not stored"),
    }
}

/// Prometheus' `RestoreForState`: each pending alert of a rule whose `for` is at least the grace
/// period takes back the `activeAt` its last `ALERTS_FOR_STATE` sample (within the outage
/// tolerance) recorded, shifted by the downtime, and never fires sooner than the grace period
/// after the restart.
fn restore_for_state(group: &mut Group, db: &TenantView, now: i64, s: &AlertingSettings) {
    let tolerance = ms(s.for_outage_tolerance);
    let grace = ms(s.for_grace_period);
    for rule in group.rules_mut() {
        let Rule::Alerting(rule) = rule else { continue };
        let hold = rule.for_ms();
        if hold < grace {
            continue;
        }
        let mut alerts: Vec<Alert> = rule.alerts().cloned().collect();
        let mut changed = false;
        for a in alerts.iter_mut().filter(|a| a.state != AlertState::Inactive) {
            let matchers: Result<Vec<_>, _> = std::iter::once((METRIC_NAME, "ALERTS_FOR_STATE"))
                .chain(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map(|(k, v)| foresight_engine::matcher(MatchOp::Equal, k, v))
                .collect();
            let Ok(matchers) = matchers else { continue };
            let found = match db.select(&matchers, now - tolerance, now) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, alert = rule.name(), "cannot read ALERTS_FOR_STATE");
                    continue;
                }
            };
            // The exact series (the matchers leave extra labels free).
            let want = a.labels.len() + 1;
            let Some((t, v)) = found
                .iter()
                .filter(|x| x.labels.len() == want)
                .find_map(|x| x.samples.last().copied())
            else {
                continue;
            };
            if foresight_engine::promql::is_stale_nan(v) || !v.is_finite() {
                continue;
            }
            let down_at = t / 1000 * 1000;
            let mut active_at = (v as i64).saturating_mul(1000);
            let remaining = hold - (down_at - active_at);
            if remaining <= 0 {
                // It was firing: the next evaluation fires it again if its sample is still there.
            } else if remaining < grace {
                active_at = now + grace - hold;
            } else {
                active_at += now - down_at;
            }
            a.active_at = active_at;
            changed = true;
        }
        if changed {
            tracing::info!(alert = rule.name(), "restored `for` state from ALERTS_FOR_STATE");
            rule.set_alerts(alerts);
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One group's timer: evaluations at the group's slots (Prometheus' `EvalTimestamp`), the first
/// one interval after start; slots that passed during a long evaluation are skipped and counted.
async fn run_group(al: Arc<Alerting>, slot: Arc<Slot>, db: Weak<Db>, mut shutdown: watch::Receiver<bool>) {
    let (interval, mut next) = {
        let st = slot.state.lock();
        let interval = ms(st.group.interval()).max(1);
        (interval, st.group.eval_timestamp(now_ms()) + interval)
    };
    loop {
        let wait = u64::try_from(next - now_ms()).unwrap_or(0);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stopped(&mut shutdown) => return,
        }
        let late = now_ms() - next;
        let missed = late / interval;
        if missed > 0 {
            slot.state.lock().missed += missed.unsigned_abs();
            next += missed * interval;
        }
        let Some(db) = db.upgrade() else { return };
        let (al2, slot2) = (al.clone(), slot.clone());
        let ts = next;
        if tokio::task::spawn_blocking(move || al2.evaluate(&slot2, &db, ts))
            .await
            .is_err()
        {
            tracing::error!(group = %slot.key, "rule evaluation panicked");
        }
        next += interval;
    }
}

/// Returns once shutdown begins (the guard `wait_for` returns is not `Send`: drop it here).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// SIGHUP reloads the rules (Unix).
pub(crate) async fn reload_on_sighup(al: Arc<Alerting>, mut shutdown: watch::Receiver<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        loop {
            tokio::select! {
                r = hup.recv() => {
                    if r.is_none() { return; }
                    tracing::info!("SIGHUP: reloading rules");
                    let _ = al.reload().await;
                }
                _ = stopped(&mut shutdown) => return,
            }
        }
    }
    #[cfg(not(unix))]
    {
        drop(al);
        stopped(&mut shutdown).await;
    }
}

impl MetricSource for Alerting {
    fn families(&self) -> Vec<Family> {
        let mut f = Vec::new();
        let per_group: [(&'static str, &'static str, &'static str); 9] = [
            ("foresight_rule_evaluations_total", "counter", "Rule evaluations"),
            (
                "foresight_rule_evaluation_failures_total",
                "counter",
                "Rule evaluations that failed",
            ),
            ("foresight_rule_group_iterations_total", "counter", "Group evaluations"),
            (
                "foresight_rule_group_iterations_missed_total",
                "counter",
                "Group evaluation slots skipped because an evaluation was late",
            ),
            (
                "foresight_rule_group_last_duration_seconds",
                "gauge",
                "Duration of the group's last evaluation",
            ),
            (
                "foresight_rule_group_last_evaluation_timestamp_seconds",
                "gauge",
                "When the group was last evaluated",
            ),
            (
                "foresight_rule_group_interval_seconds",
                "gauge",
                "The group's evaluation interval",
            ),
            ("foresight_rule_group_rules", "gauge", "Rules in the group"),
            (
                "foresight_rule_group_last_evaluation_samples",
                "gauge",
                "Samples the group's last evaluation wrote",
            ),
        ];
        let mut families: Vec<Family> = per_group.iter().map(|(n, k, h)| Family::new(n, k, h)).collect();
        for slot in self.slots() {
            let st = slot.state.lock();
            let values = [
                st.evaluations as f64,
                st.failures as f64,
                st.iterations as f64,
                st.missed as f64,
                st.last_duration.as_secs_f64(),
                st.last_eval_wall.map_or(0.0, |t| t as f64 / 1000.0),
                st.group.interval().as_secs_f64(),
                st.group.rules().len() as f64,
                st.last_samples as f64,
            ];
            for (fam, v) in families.iter_mut().zip(values) {
                fam.push("", vec![("rule_group", slot.key.clone())], v);
            }
        }
        f.extend(families);
        f.push(Family::one(
            "foresight_rules_last_reload_successful",
            "gauge",
            "Whether the last reload of the rule files succeeded",
            if self.last_reload_ok.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        ));
        f.push(Family::one(
            "foresight_rules_last_reload_success_timestamp_seconds",
            "gauge",
            "When the rule files were last loaded successfully",
            self.last_reload_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        ));
        f.extend(self.notifiers.families());
        f
    }
}
