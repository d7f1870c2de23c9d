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
//!
//! Each refusal is counted per tenant and limit in `/metrics`. A tenant without limits costs a
//! map lookup per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use foresight_auth::{Buckets, TenantLimits};
use foresight_engine::Admission;
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
    samples: AtomicU64,
}

/// Every tenant's limit state (tenants appear on their first request).
#[derive(Debug)]
pub(crate) struct Quota {
    start: Instant,
    tenants: Mutex<HashMap<Arc<str>, Arc<TenantState>>>,
    rate: Buckets<Arc<str>>,
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

    /// The series admission of a write, when the tenant has a series limit.
    pub(crate) fn admission(self: &Arc<Self>, tenant: &str, limits: TenantLimits) -> Option<Arc<dyn Admission>> {
        let max = limits.max_series?;
        Some(Arc::new(SeriesLimit {
            quota: self.clone(),
            state: self.state(tenant),
            tenant: tenant.to_owned(),
            max: usize::try_from(max).unwrap_or(usize::MAX),
        }))
    }

    /// A query slot of the tenant, held until dropped.
    pub(crate) fn query_slot(&self, tenant: &str, limits: TenantLimits) -> Result<QuerySlot, Refusal> {
        let state = self.state(tenant);
        let running = state.queries.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = QuerySlot(state.clone());
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

/// A running query of a tenant.
#[derive(Debug)]
pub(crate) struct QuerySlot(Arc<TenantState>);

impl Drop for QuerySlot {
    fn drop(&mut self) {
        self.0.queries.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A tenant's series limit for one write.
#[derive(Debug)]
struct SeriesLimit {
    quota: Arc<Quota>,
    state: Arc<TenantState>,
    tenant: String,
    max: usize,
}

impl Admission for SeriesLimit {
    fn admit(&self, hash: u64) -> bool {
        let now = self.quota.now_s();
        let mut series = self.state.series.lock();
        if let Some(t) = series.get_mut(&hash) {
            *t = now;
            return true;
        }
        if series.len() >= self.max {
            // Forget idle series, at most once a second (it walks the whole map).
            let window = u32::try_from(ACTIVE_WINDOW.as_secs()).unwrap_or(u32::MAX);
            let swept = self.state.swept.swap(u64::from(now), Ordering::Relaxed);
            if swept < u64::from(now) {
                series.retain(|_, t| now.saturating_sub(*t) < window);
            }
        }
        if series.len() < self.max {
            series.insert(hash, now);
            true
        } else {
            self.state.refused_series.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    fn refusal(&self) -> String {
        format!(
            "tenant {:?} is at its limit of {} active series (max_series; series written in the last hour); \
             new series are refused, known ones still stored ({HOW_TO_RAISE} {} --max-series N`)",
            self.tenant, self.max, self.tenant
        )
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
        for (tenant, s) in &tenants {
            for (limit, n) in [
                ("max_series", &s.refused_series),
                ("max_samples_per_second", &s.refused_rate),
                ("max_concurrent_queries", &s.refused_queries),
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
        }
        vec![refused, active, samples, queries]
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
        }
    }

    #[test]
    fn series_limit_keeps_known_series_and_refuses_new_ones() {
        let q = Arc::new(Quota::default());
        assert!(q.admission("acme", limits(None, None, None)).is_none());
        let a = q.admission("acme", limits(Some(2), None, None)).unwrap();
        assert!(a.admit(1) && a.admit(2) && a.admit(1));
        assert!(!a.admit(3));
        assert!(a.refusal().contains("limit of 2 active series"), "{}", a.refusal());
        // Another tenant has its own count.
        let b = q.admission("beta", limits(Some(1), None, None)).unwrap();
        assert!(b.admit(3));
        // A raised limit applies to the next write.
        let a = q.admission("acme", limits(Some(3), None, None)).unwrap();
        assert!(a.admit(3));
        let text = crate::metrics::render(&q.families());
        assert!(
            text.contains(r#"foresight_tenant_limit_refusals_total{tenant="acme",limit="max_series"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"foresight_tenant_active_series{tenant="acme"} 3"#),
            "{text}"
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
}
