//! Per-tenant limits, as the token file sets them (`foresight tokens limits`, read live through
//! [`foresight_auth::Tokens::limits`]):
//!
//! - **Active series** (`max_series`): series written in the last [`ACTIVE_WINDOW`]. A tenant's
//!   tracker remembers the hash of each series it wrote and when; a new series beyond the limit is
//!   refused on its line (400, never retried: it cannot be accepted until old series go idle),
//!   the known ones are still stored. Kept in memory: after a restart the first series written fill it.
//! - **Samples per second** (`max_samples_per_second`): a token bucket holding one second's worth.
//!   An empty bucket refuses the write before it is read (429 with `Retry-After`); a write let in
//!   is charged for its samples afterwards (the bucket may go into debt).
//! - **Concurrent queries** (`max_concurrent_queries`): beyond, a query gets 429 at once instead of
//!   waiting for a slot, so one tenant cannot hold every slot of `max-concurrent-queries`.
//! - **Query time** (`max_query_millis_per_second`): a bucket of milliseconds of evaluation
//!   holding one second's worth, charged with each query's evaluation time when it ends (it may
//!   go into debt); while empty, queries get 429 with `Retry-After`. This is what bounds the
//!   CPU a tenant's queries take from the others: a concurrency limit alone still lets one heavy
//!   query run at all times.
//! - **Labels** (`max_labels_per_series`, `max_label_value_length`): checked on each new series
//!   of a write with the series limit ([`Quota::admission`]); a series over them is refused on its
//!   lines (400).
//!
//! The query sample and range limits are applied where queries are evaluated (`query::evaluate`).
//!
//! Each refusal is counted per tenant and limit in `/metrics`. A tenant without limits costs a
//! map lookup per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use foresight_auth::{Buckets, TenantLimits};
use foresight_engine::{Admission, Labels, TENANT_LABEL};
use parking_lot::Mutex;

use crate::metrics::{Family, MetricSource};

/// How long a series counts as active after its last write.
pub(crate) const ACTIVE_WINDOW: Duration = Duration::from_secs(3600);

/// Where the limits are set, for the error messages.
const HOW_TO_RAISE: &str = "raise it with `foresight tokens limits --tenant";

/// One tenant's trackers and counters.
#[derive(Debug, Default)]
struct TenantState {
    /// Series hash -> last write (seconds since `Quota::start`).
    series: Mutex<HashMap<u64, u32>>,
    /// When idle series were last forgotten (seconds since `Quota::start`).
    swept: AtomicU64,
    queries: AtomicU64,
    refused_series: AtomicU64,
    refused_rate: AtomicU64,
    refused_queries: AtomicU64,
    refused_query_time: AtomicU64,
    refused_labels: AtomicU64,
    samples: AtomicU64,
    /// Milliseconds of query evaluation.
    query_millis: AtomicU64,
}

/// Every tenant's limit state (tenants appear on their first request).
#[derive(Debug)]
pub(crate) struct Quota {
    start: Instant,
    tenants: Mutex<HashMap<Arc<str>, Arc<TenantState>>>,
    rate: Buckets<Arc<str>>,
    /// Query time buckets (milliseconds), by tenant.
    query_time: Arc<Buckets<Arc<str>>>,
}

/// Why a request is refused by its tenant's limit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub(crate) message: String,
    pub(crate) retry_after: Duration,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            start: Instant::now(),
            tenants: Mutex::new(HashMap::new()),
            rate: Buckets::new(),
            query_time: Arc::new(Buckets::new()),
        }
    }
}

impl Quota {
    fn state(&self, tenant: &str) -> Arc<TenantState> {
        let mut map = self.tenants.lock();
        if let Some(s) = map.get(tenant) {
            return s.clone();
        }
        let s = Arc::new(TenantState::default());
        map.insert(Arc::from(tenant), s.clone());
        s
    }

    fn now_s(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Before a write: refused while the tenant's sample bucket is empty.
    pub(crate) fn check_write(&self, tenant: &str, limits: TenantLimits) -> Result<(), Refusal> {
        let Some(rate) = limits.max_samples_per_second else {
            return Ok(());
        };
        let rate = rate as f64;
        let key: Arc<str> = Arc::from(tenant);
        self.rate.has_token(&key, rate, rate, Instant::now()).map_err(|wait| {
            self.state(tenant).refused_rate.fetch_add(1, Ordering::Relaxed);
            Refusal {
                message: format!(
                    "tenant {tenant:?} is over its limit of {rate} samples/s (max_samples_per_second; \
                     {HOW_TO_RAISE} {tenant} --max-samples-per-second N`); retry later"
                ),
                retry_after: wait,
            }
        })
    }

    /// After a write: charges the samples it stored.
    pub(crate) fn charge_write(&self, tenant: &str, limits: TenantLimits, samples: u64) {
        self.state(tenant).samples.fetch_add(samples, Ordering::Relaxed);
        if let Some(rate) = limits.max_samples_per_second {
            let rate = rate as f64;
            self.rate
                .charge(&Arc::from(tenant), samples as f64, rate, rate, Instant::now());
        }
    }

    /// The series admission of a write, when the tenant has a series or label limit.
    pub(crate) fn admission(self: &Arc<Self>, tenant: &str, limits: TenantLimits) -> Option<Arc<dyn Admission>> {
        if limits.max_series.is_none()
            && limits.max_labels_per_series.is_none()
            && limits.max_label_value_length.is_none()
        {
            return None;
        }
        Some(Arc::new(SeriesLimit {
            quota: self.clone(),
            state: self.state(tenant),
            tenant: tenant.to_owned(),
            max: limits.max_series.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            max_labels: limits.max_labels_per_series.map(|m| m as usize),
            max_value_len: limits.max_label_value_length.map(|m| m as usize),
        }))
    }

    /// A query slot of the tenant, held until dropped; refused while the tenant has its most
    /// queries running or has used its query time.
    pub(crate) fn query_slot(&self, tenant: &str, limits: TenantLimits) -> Result<QuerySlot, Refusal> {
        let state = self.state(tenant);
        let key: Arc<str> = Arc::from(tenant);
        if let Some(millis) = limits.max_query_millis_per_second {
            let rate = f64::from(millis);
            if let Err(wait) = self.query_time.has_token(&key, rate, rate, Instant::now()) {
                state.refused_query_time.fetch_add(1, Ordering::Relaxed);
                return Err(Refusal {
                    message: format!(
                        "tenant {tenant:?} has used its query time, {} s of evaluation per second \
                         (max_query_seconds_per_second; {HOW_TO_RAISE} {tenant} --max-query-seconds-per-second N`); \
                         retry later",
                        rate / 1000.0
                    ),
                    retry_after: wait,
                });
            }
        }
        let running = state.queries.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = QuerySlot {
            state: state.clone(),
            tenant: key,
            charge: limits
                .max_query_millis_per_second
                .map(|m| (self.query_time.clone(), f64::from(m))),
            started: None,
        };
        if let Some(max) = limits.max_concurrent_queries
            && running > u64::from(max)
        {
            drop(slot);
            state.refused_queries.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal {
                message: format!(
                    "tenant {tenant:?} has {max} queries running, its limit (max_concurrent_queries; \
                     {HOW_TO_RAISE} {tenant} --max-concurrent-queries N`); retry when one ends"
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        Ok(slot)
    }
}

/// A running query of a tenant. Its evaluation time, from [`QuerySlot::evaluating`] to the drop,
/// is charged to the tenant's query time.
#[derive(Debug)]
pub(crate) struct QuerySlot {
    state: Arc<TenantState>,
    tenant: Arc<str>,
    /// The tenant's query time buckets and its rate (ms/s), when it has that limit.
    charge: Option<(Arc<Buckets<Arc<str>>>, f64)>,
    started: Option<Instant>,
}

impl QuerySlot {
    /// The evaluation starts (the wait for a shared slot is not charged).
    pub(crate) fn evaluating(&mut self) {
        self.started = Some(Instant::now());
    }
}

impl Drop for QuerySlot {
    fn drop(&mut self) {
        self.state.queries.fetch_sub(1, Ordering::AcqRel);
        if let Some(started) = self.started {
            let now = Instant::now();
            let ms = now.duration_since(started).as_secs_f64() * 1000.0;
            self.state.query_millis.fetch_add(ms as u64, Ordering::Relaxed);
            if let Some((buckets, rate)) = &self.charge {
                buckets.charge(&self.tenant, ms, *rate, *rate, now);
            }
        }
    }
}

/// A tenant's series and label limits for one write.
#[derive(Debug)]
struct SeriesLimit {
    quota: Arc<Quota>,
    state: Arc<TenantState>,
    tenant: String,
    max: Option<usize>,
    max_labels: Option<usize>,
    max_value_len: Option<usize>,
}

impl SeriesLimit {
    /// Why the labels of the series keyed `key` are over the tenant's label limits, if they are.
    fn check_labels(&self, key: &[u8]) -> Result<(), String> {
        if self.max_labels.is_none() && self.max_value_len.is_none() {
            return Ok(());
        }
        let labels = Labels::from_key(key).map_err(|e| format!("bad series key: {e}"))?;
        let tenant = &self.tenant;
        let mut count = 0;
        for l in labels.iter() {
            let (name, value) = (l.name, l.value);
            if name == TENANT_LABEL {
                continue;
            }
            count += 1;
            if let Some(max) = self.max_value_len
                && value.len() > max
            {
                let mut shown: String = value.chars().take(32).collect();
                if shown.len() < value.len() {
                    shown.push_str("...");
                }
                return Err(format!(
                    "label {name} has a value of {} bytes ({shown:?}), longer than tenant {tenant:?}'s limit of {max} \
                     (max_label_value_length; {HOW_TO_RAISE} {tenant} --max-label-value-length N`)",
                    value.len()
                ));
            }
        }
        if let Some(max) = self.max_labels
            && count > max
        {
            return Err(format!(
                "the series has {count} labels (its name included), more than tenant {tenant:?}'s limit of {max} \
                 (max_labels_per_series; {HOW_TO_RAISE} {tenant} --max-labels-per-series N`)"
            ));
        }
        Ok(())
    }

    fn over_series_limit(&self, max: usize) -> String {
        format!(
            "tenant {:?} is at its limit of {max} active series (max_series; series written in the last hour); \
             new series are refused, known ones still stored ({HOW_TO_RAISE} {} --max-series N`)",
            self.tenant, self.tenant
        )
    }
}

impl Admission for SeriesLimit {
    fn admit(&self, hash: u64, key: &[u8]) -> Result<(), String> {
        let Some(max) = self.max else {
            return self.check_labels(key).inspect_err(|_| {
                self.state.refused_labels.fetch_add(1, Ordering::Relaxed);
            });
        };
        let now = self.quota.now_s();
        let mut series = self.state.series.lock();
        if let Some(t) = series.get_mut(&hash) {
            // Known: its labels were checked when it was admitted.
            *t = now;
            return Ok(());
        }
        if let Err(why) = self.check_labels(key) {
            self.state.refused_labels.fetch_add(1, Ordering::Relaxed);
            return Err(why);
        }
        if series.len() >= max {
            // Forget idle series, at most once a second (it walks the whole map).
            let window = u32::try_from(ACTIVE_WINDOW.as_secs()).unwrap_or(u32::MAX);
            let swept = self.state.swept.swap(u64::from(now), Ordering::Relaxed);
            if swept < u64::from(now) {
                series.retain(|_, t| now.saturating_sub(*t) < window);
            }
        }
        if series.len() < max {
            series.insert(hash, now);
            Ok(())
        } else {
            self.state.refused_series.fetch_add(1, Ordering::Relaxed);
            Err(self.over_series_limit(max))
        }
    }
}

impl MetricSource for Quota {
    fn families(&self) -> Vec<Family> {
        let tenants: Vec<(Arc<str>, Arc<TenantState>)> = self
            .tenants
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut refused = Family::new(
            "foresight_tenant_limit_refusals_total",
            "counter",
            "Requests (queries, writes) and series refused by a tenant's limit, by tenant and limit",
        );
        let mut active = Family::new(
            "foresight_tenant_active_series",
            "gauge",
            "Series a tenant with a series limit wrote in the last hour (tracked for limited tenants only)",
        );
        let mut samples = Family::new(
            "foresight_tenant_samples_written_total",
            "counter",
            "Samples stored through the HTTP write endpoints, by tenant",
        );
        let mut queries = Family::new(
            "foresight_tenant_queries_running",
            "gauge",
            "Queries a tenant has evaluating now",
        );
        let mut query_time = Family::new(
            "foresight_tenant_query_seconds_total",
            "counter",
            "Time a tenant's queries spent evaluating (wall clock, from the start of each evaluation to its end)",
        );
        for (tenant, s) in &tenants {
            for (limit, n) in [
                ("max_series", &s.refused_series),
                ("max_samples_per_second", &s.refused_rate),
                ("max_concurrent_queries", &s.refused_queries),
                ("max_query_seconds_per_second", &s.refused_query_time),
                ("max_labels", &s.refused_labels),
            ] {
                refused.push(
                    "",
                    vec![("tenant", tenant.to_string()), ("limit", limit.to_owned())],
                    n.load(Ordering::Relaxed) as f64,
                );
            }
            let tracked = s.series.lock().len();
            if tracked > 0 {
                active.push("", vec![("tenant", tenant.to_string())], tracked as f64);
            }
            samples.push(
                "",
                vec![("tenant", tenant.to_string())],
                s.samples.load(Ordering::Relaxed) as f64,
            );
            queries.push(
                "",
                vec![("tenant", tenant.to_string())],
                s.queries.load(Ordering::Relaxed) as f64,
            );
            query_time.push(
                "",
                vec![("tenant", tenant.to_string())],
                s.query_millis.load(Ordering::Relaxed) as f64 / 1000.0,
            );
        }
        vec![refused, active, samples, queries, query_time]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(series: Option<u64>, rate: Option<u64>, queries: Option<u32>) -> TenantLimits {
        TenantLimits {
            max_series: series,
            max_samples_per_second: rate,
            max_concurrent_queries: queries,
            ..TenantLimits::default()
        }
    }

    /// Asserts that `/metrics` holds each of `wants`.
    fn assert_metrics(q: &Quota, wants: &[&str]) {
        let text = crate::metrics::render(&q.families());
        for want in wants {
            assert!(text.contains(want), "no {want} in {text}");
        }
    }

    fn key(pairs: &[(&str, &str)]) -> Vec<u8> {
        Labels::new(pairs.iter().copied()).as_key().to_vec()
    }

    #[test]
    fn series_limit_keeps_known_series_and_refuses_new_ones() {
        let q = Arc::new(Quota::default());
        let k = key(&[("__name__", "m")]);
        assert!(q.admission("acme", limits(None, None, None)).is_none());
        let a = q.admission("acme", limits(Some(2), None, None)).unwrap();
        assert!(a.admit(1, &k).is_ok() && a.admit(2, &k).is_ok() && a.admit(1, &k).is_ok());
        let why = a.admit(3, &k).unwrap_err();
        assert!(why.contains("limit of 2 active series"), "{why}");
        // Another tenant has its own count.
        let b = q.admission("beta", limits(Some(1), None, None)).unwrap();
        assert!(b.admit(3, &k).is_ok());
        // A raised limit applies to the next write.
        let a = q.admission("acme", limits(Some(3), None, None)).unwrap();
        assert!(a.admit(3, &k).is_ok());
        assert_metrics(
            &q,
            &[
                r#"foresight_tenant_limit_refusals_total{tenant="acme",limit="max_series"} 1"#,
                r#"foresight_tenant_active_series{tenant="acme"} 3"#,
            ],
        );
    }

    #[test]
    fn label_limits_refuse_new_series_over_them() {
        let q = Arc::new(Quota::default());
        let l = TenantLimits {
            max_labels_per_series: Some(3),
            max_label_value_length: Some(8),
            ..TenantLimits::default()
        };
        let a = q.admission("acme", l).unwrap();
        // The tenant label does not count.
        let ok = key(&[("__name__", "m"), ("__tenant__", "acme"), ("a", "1"), ("b", "12345678")]);
        assert_eq!(a.admit(1, &ok), Ok(()));
        let many = key(&[("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")]);
        let why = a.admit(2, &many).unwrap_err();
        assert!(
            why.contains("4 labels") && why.contains("max_labels_per_series"),
            "{why}"
        );
        let long = key(&[("__name__", "m"), ("host", "123456789")]);
        let why = a.admit(3, &long).unwrap_err();
        assert!(
            why.contains("label host has a value of 9 bytes") && why.contains("--max-label-value-length"),
            "{why}"
        );
        // With a series limit too: refused series are not counted as active.
        let both = q
            .admission(
                "beta",
                TenantLimits {
                    max_series: Some(1),
                    ..l
                },
            )
            .unwrap();
        assert!(both.admit(2, &many).is_err());
        assert_eq!(both.admit(1, &ok), Ok(()));
        assert_metrics(
            &q,
            &[
                r#"foresight_tenant_limit_refusals_total{tenant="acme",limit="max_labels"} 2"#,
                r#"foresight_tenant_active_series{tenant="beta"} 1"#,
            ],
        );
    }

    #[test]
    fn rate_and_query_limits() {
        let q = Quota::default();
        let l = limits(None, Some(100), Some(1));
        q.check_write("acme", l).unwrap();
        q.charge_write("acme", l, 250);
        let r = q.check_write("acme", l).unwrap_err();
        assert!(r.message.contains("limit of 100 samples/s") && r.retry_after > Duration::from_secs(1));
        q.check_write("beta", l).unwrap();
        let slot = q.query_slot("acme", l).unwrap();
        let r = q.query_slot("acme", l).unwrap_err();
        assert!(r.message.contains("1 queries running"), "{}", r.message);
        q.query_slot("beta", l).unwrap();
        drop(slot);
        q.query_slot("acme", l).unwrap();
        q.query_slot("acme", limits(None, None, None)).unwrap();
    }

    #[test]
    fn query_time_is_charged_and_refused_when_used_up() {
        let q = Quota::default();
        // 50 ms of evaluation per second.
        let l = TenantLimits {
            max_query_millis_per_second: Some(50),
            ..TenantLimits::default()
        };
        // Waiting for a shared slot is not charged: a slot never marked evaluating costs nothing.
        drop(q.query_slot("acme", l).unwrap());
        q.query_slot("acme", l).unwrap();
        let mut slot = q.query_slot("acme", l).unwrap();
        slot.evaluating();
        std::thread::sleep(Duration::from_millis(120));
        drop(slot);
        // 120 ms used of a 50 ms bucket: about 1.4 s of debt to repay at 50 ms/s.
        let r = q.query_slot("acme", l).unwrap_err();
        assert!(r.message.contains("0.05 s of evaluation per second"), "{}", r.message);
        assert!(r.retry_after > Duration::from_millis(1000), "{:?}", r.retry_after);
        // Other tenants are not affected.
        q.query_slot("beta", l).unwrap();
        let text = crate::metrics::render(&q.families());
        assert!(
            text.contains(
                r#"foresight_tenant_limit_refusals_total{tenant="acme",limit="max_query_seconds_per_second"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"foresight_tenant_query_seconds_total{tenant="acme"} 0.12"#),
            "{text}"
        );
    }
}
