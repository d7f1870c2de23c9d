//! What every handler shares: the settings, the database once it is open, the counters, the
//! query slots, the write budget and the shutdown signal. A leaf of the handler modules: it
//! imports none of them, so they all import it without a cycle.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use foresight_engine::promql::EngineOptions;
use foresight_engine::{Db, TenantView};
use parking_lot::RwLock;
use tokio::sync::{Semaphore, watch};

use crate::budget::WriteBudget;
use crate::config::Config;
use crate::error::{PromError, WriteError};
use crate::metadata::MetadataStore;
use crate::metrics::{Family, MetricSource, Metrics, WriteRefusal};
use crate::quota::Quota;
use crate::tenant::Tenant;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) config: Config,
    /// The database once it is open (None while the WAL replays and after shutdown began).
    db: RwLock<Option<Arc<Db>>>,
    pub(crate) engine_opts: EngineOptions,
    pub(crate) metrics: Metrics,
    pub(crate) query_slots: Arc<Semaphore>,
    /// Write bytes held in memory, against `max-inflight-write-bytes`.
    pub(crate) write_budget: Arc<WriteBudget>,
    /// Turns true when shutdown begins; streams and background tasks watch it.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The address actually listened on.
    pub(crate) addr: SocketAddr,
    /// Other parts' metrics (the rules' evaluation and notifications).
    metric_sources: RwLock<Vec<Arc<dyn MetricSource>>>,
    /// Tokens, roles and failed attempts.
    pub(crate) auth: Arc<crate::auth::Authenticator>,
    /// Metric metadata received by remote write, for `/api/v1/metadata`.
    pub(crate) metadata: MetadataStore,
    /// Per-tenant limits' state.
    pub(crate) quota: Arc<Quota>,
}

impl AppState {
    /// The state of a server listening on `addr`, with no database yet.
    pub(crate) fn new(config: Config, shutdown: watch::Receiver<bool>, addr: SocketAddr) -> Self {
        let limits = &config.limits;
        let auth = Arc::new(crate::auth::Authenticator::new(
            config.auth,
            config.data_dir.clone(),
            config.max_auth_failures,
        ));
        let auth_metrics: Arc<dyn MetricSource> = auth.clone();
        let quota = Arc::new(Quota::default());
        let quota_metrics: Arc<dyn MetricSource> = quota.clone();
        AppState {
            auth,
            engine_opts: EngineOptions {
                max_samples: limits.max_samples,
                timeout: Some(limits.query_timeout),
                rollups: limits.query_rollups,
                ..EngineOptions::default()
            },
            query_slots: Arc::new(Semaphore::new(limits.max_concurrent_queries)),
            write_budget: Arc::new(WriteBudget::new(limits.max_inflight_write_bytes)),
            config,
            db: RwLock::new(None),
            metrics: Metrics::default(),
            shutdown,
            addr,
            metric_sources: RwLock::new(vec![auth_metrics, quota_metrics]),
            metadata: MetadataStore::default(),
            quota,
        }
    }

    /// The open database, if the server is ready.
    pub(crate) fn db(&self) -> Option<Arc<Db>> {
        self.db.read().clone()
    }

    /// Makes the server ready: handlers see `db` from now on.
    pub(crate) fn set_db(&self, db: Arc<Db>) {
        *self.db.write() = Some(db);
    }

    /// Takes the database away from the handlers (at shutdown, to close it).
    pub(crate) fn take_db(&self) -> Option<Arc<Db>> {
        self.db.write().take()
    }

    /// The whole database, for the admin endpoints (flush, snapshot) and the operator's
    /// storage figures: never for reading series on a tenant's behalf ([`AppState::reader`]).
    pub(crate) fn db_for_admin(&self) -> Result<Arc<Db>, PromError> {
        self.db().ok_or_else(|| PromError::unavailable(self.not_ready_reason()))
    }

    /// `tenant`'s read view of the database: the only way a query handler reads data, so
    /// every read is narrowed to the request's tenant.
    pub(crate) fn reader(&self, tenant: &Tenant) -> Result<TenantView, PromError> {
        let db = self
            .db()
            .ok_or_else(|| PromError::unavailable(self.not_ready_reason()))?;
        let view = TenantView::new(db, tenant.label());
        let limits = self.auth.limits(tenant.name());
        Ok(match limits.max_query_range_ms {
            Some(ms) => {
                let name = tenant.name();
                view.with_max_range(
                    i64::try_from(ms).unwrap_or(i64::MAX),
                    format!(
                        "tenant {name:?}'s max_query_range, counting range selectors and the lookback; narrow the \
                         query or raise it with `foresight tokens limits --tenant {name} --max-query-range D`"
                    ),
                )
            }
            None => view,
        })
    }

    /// `tenant`'s view of the database for writing: what it stores carries the tenant's label,
    /// within the tenant's series limit. Refused (429) while the tenant is over its samples/s;
    /// [`AppState::wrote`] charges what the write stored.
    pub(crate) fn writer(&self, tenant: &Tenant) -> Result<TenantView, WriteError> {
        let db = self.db().ok_or_else(|| {
            self.metrics.refused(WriteRefusal::NotReady);
            WriteError::unavailable(self.not_ready_reason())
        })?;
        let limits = self.auth.limits(tenant.name());
        self.quota.check_write(tenant.name(), limits).map_err(|r| WriteError {
            retry_after: Some(u32::try_from(r.retry_after.as_secs().max(1)).unwrap_or(u32::MAX)),
            ..WriteError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests", r.message)
        })?;
        let view = TenantView::new(db, tenant.label());
        Ok(match self.quota.admission(tenant.name(), limits) {
            Some(a) => view.with_admission(a),
            None => view,
        })
    }

    /// After a write of `tenant` that stored `samples`.
    pub(crate) fn wrote(&self, tenant: &Tenant, samples: u64) {
        let limits = self.auth.limits(tenant.name());
        self.quota.charge_write(tenant.name(), limits, samples);
    }

    fn not_ready_reason(&self) -> &'static str {
        if self.is_shutting_down() {
            "foresight is shutting down"
        } else {
            "foresight is starting: the database is opening (replaying the WAL)"
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Every metric family: the server's counters, the write budget and, when given, the
    /// database's.
    pub(crate) fn metric_families(&self, db: Option<&Db>) -> Vec<Family> {
        let mut families = self.metrics.collect(db, self.write_budget.in_flight());
        for source in self.metric_sources.read().iter() {
            families.extend(source.families());
        }
        families
    }

    /// Adds a part's metrics to `/metrics` and self-monitoring.
    pub(crate) fn add_metric_source(&self, source: Arc<dyn MetricSource>) {
        self.metric_sources.write().push(source);
    }
}
