//! The Prometheus HTTP query API: `/api/v1/query`, `query_range`, `series`, `labels`,
//! `label/<name>/values`, `metadata`, `query_exemplars`, `status/buildinfo`.
//!
//! Parameters come from the URL and, for form POSTs, from the body (body first, as Go's
//! `Request.FormValue`). Parameter checks and their messages follow Prometheus' `api.go`;
//! evaluation and JSON encoding run on a blocking thread, at most `max-concurrent-queries` at
//! once, within `query-timeout`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header;
use foresight_engine::promql::{Engine, MAX_POINTS_PER_SERIES};
use foresight_engine::{LabelMatcher, Labels, TenantView, parse_selector};

use crate::config::valid_label_name;
use crate::error::{JsonBody, PromError};
use crate::json;
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::time::{now_ms, parse_duration_ms, parse_time};

/// Request parameters: form body pairs first, then the URL's.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A parameter that is present and not empty.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = PromError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("application/x-www-form-urlencoded"));
        let query = req.uri().query().map(str::to_owned);
        let mut pairs = Vec::new();
        if is_form {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|e| PromError::bad_data(format!("error reading the form body: {}", e.body_text())))?;
            pairs.extend(form_urlencoded::parse(&body).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Ok(Params(pairs))
    }
}

/// The query timeout: the `timeout` parameter if smaller than the configured one.
pub(crate) fn timeout(st: &AppState, p: &Params) -> Result<Duration, PromError> {
    let limit = st.config.limits.query_timeout;
    match p.non_empty("timeout") {
        None => Ok(limit),
        Some(s) => {
            let ms = parse_duration_ms(s).map_err(|e| PromError::bad_param("timeout", e))?;
            let asked = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            Ok(if asked.is_zero() { limit } else { asked.min(limit) })
        }
    }
}

/// Runs `f` on a blocking thread with an evaluation slot and an engine whose timeout is
/// `limit`, over `tenant`'s view of the database (every read narrowed to the tenant). Waiting for
/// a slot counts against the timeout.
pub(crate) async fn evaluate<T, F>(st: &Arc<AppState>, tenant: &Tenant, limit: Duration, f: F) -> Result<T, PromError>
where
    T: Send + 'static,
    F: FnOnce(&TenantView, &Engine) -> Result<T, PromError> + Send + 'static,
{
    let db = st.reader(tenant)?;
    let limits = st.auth.limits(tenant.name());
    // The tenant's own limits first: over them, 429 at once rather than a wait for a shared slot.
    let mut tenant_slot = st
        .quota
        .query_slot(tenant.name(), limits)
        .map_err(|r| PromError::too_many(r.message, r.retry_after))?;
    st.metrics.queries_waiting.fetch_add(1, Ordering::Relaxed);
    let permit = tokio::time::timeout(limit, st.query_slots.clone().acquire_owned()).await;
    st.metrics.queries_waiting.fetch_sub(1, Ordering::Relaxed);
    let permit = match permit {
        Err(_) => return Err(PromError::timeout()),
        Ok(Err(_)) => return Err(PromError::unavailable("foresight is shutting down")),
        Ok(Ok(p)) => p,
    };
    let mut opts = st.engine_opts.clone();
    opts.timeout = Some(limit);
    // The tenant's sample limit, when lower than the server's.
    let tenant_samples = limits.max_query_samples.filter(|m| *m < opts.max_samples);
    if let Some(m) = tenant_samples {
        opts.max_samples = m;
    }
    let engine = Engine::new(opts);
    let name = tenant.name().to_owned();
    let task = tokio::task::spawn_blocking(move || {
        tenant_slot.evaluating();
        let _slots = (permit, tenant_slot);
        f(&db, &engine).map_err(|e| match tenant_samples {
            Some(_) if e.is_sample_limit() => e.with_advice(format!(
                "tenant {name:?}'s max_query_samples; narrow the query or raise it with \
                 `foresight tokens limits --tenant {name} --max-query-samples N`"
            )),
            _ => e,
        })
    });
    // The engine stops itself at the timeout; this is only a safety net for work outside it.
    match tokio::time::timeout(limit + Duration::from_secs(5), task).await {
        Err(_) => Err(PromError::timeout()),
        Ok(Err(_)) => Err(PromError::internal("the query task failed")),
        Ok(Ok(r)) => r,
    }
}

/// `/api/v1/query?query=..&time=..`
pub(crate) async fn instant(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<JsonBody, PromError> {
    let t = match p.non_empty("time") {
        Some(s) => parse_time(s).map_err(|e| PromError::bad_param("time", e))?,
        None => now_ms(),
    };
    let limit = timeout(&st, &p)?;
    let raw = raw_param(&p)?;
    let query = p.get("query").unwrap_or("").to_owned();
    evaluate(&st, &tenant, limit, move |db, engine| {
        let r = with_raw(engine, raw).instant_query(db, &query, t)?;
        Ok(json::success_with_infos(
            |out| json::push_query_data(out, &r.value),
            &r.infos,
        ))
    })
    .await
    .map(JsonBody)
}

/// `/api/v1/query_range?query=..&start=..&end=..&step=..` (and `format=columns`, see
/// [`json::push_query_columns`])
pub(crate) async fn range(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<JsonBody, PromError> {
    let (start, end, step) = range_params(&p)?;
    let limit = timeout(&st, &p)?;
    let raw = raw_param(&p)?;
    let query = p.get("query").unwrap_or("").to_owned();
    let columns = match p.non_empty("format") {
        None | Some("prometheus") => false,
        Some("columns") => true,
        Some(other) => {
            return Err(PromError::bad_param(
                "format",
                format!("{other:?}: expected prometheus (the default) or columns"),
            ));
        }
    };
    evaluate(&st, &tenant, limit, move |db, engine| {
        let r = with_raw(engine, raw).range_query(db, &query, start, end, step)?;
        Ok(json::success_with_infos(
            |out| {
                if columns {
                    json::push_query_columns(out, &r.value, start, step, end);
                } else {
                    json::push_query_data(out, &r.value);
                }
            },
            &r.infos,
        ))
    })
    .await
    .map(JsonBody)
}

/// The `raw` parameter: `true` reads raw samples only, never rollups.
pub(crate) fn raw_param(p: &Params) -> Result<bool, PromError> {
    match p.non_empty("raw") {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(PromError::bad_param(
            "raw",
            format!("expected true or false, got {other:?}"),
        )),
    }
}

/// The engine, or with `raw` a copy that reads no rollups.
pub(crate) fn with_raw(engine: &Engine, raw: bool) -> std::borrow::Cow<'_, Engine> {
    if raw {
        let mut opts = engine.options().clone();
        opts.rollups = false;
        std::borrow::Cow::Owned(Engine::new(opts))
    } else {
        std::borrow::Cow::Borrowed(engine)
    }
}

/// `start`, `end` and `step` of a range query (ms), checked as Prometheus checks them.
pub(crate) fn range_params(p: &Params) -> Result<(i64, i64, i64), PromError> {
    let start = parse_time(p.get("start").unwrap_or("")).map_err(|e| PromError::bad_param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or("")).map_err(|e| PromError::bad_param("end", e))?;
    if end < start {
        return Err(PromError::bad_data("end timestamp must not be before start time"));
    }
    let step = parse_duration_ms(p.get("step").unwrap_or("")).map_err(|e| PromError::bad_param("step", e))?;
    if step <= 0 {
        return Err(PromError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (i128::from(end) - i128::from(start)) / i128::from(step) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok((start, end, step))
}

/// `start`/`end` of the metadata endpoints: optional, unbounded by default.
fn time_range(p: &Params) -> Result<(i64, i64), PromError> {
    let start = match p.non_empty("start") {
        Some(s) => parse_time(s).map_err(|e| PromError::bad_param("start", e))?,
        None => i64::MIN,
    };
    let end = match p.non_empty("end") {
        Some(s) => parse_time(s).map_err(|e| PromError::bad_param("end", e))?,
        None => i64::MAX,
    };
    Ok((start, end))
}

/// The `match[]` selectors, each a set of matchers.
fn matcher_sets(p: &Params) -> Result<Vec<Vec<LabelMatcher>>, PromError> {
    let mut sets = Vec::new();
    for s in p.all("match[]") {
        let m = parse_selector(s).map_err(|e| PromError::bad_data(format!("{e}")))?;
        if m.iter().all(|m| m.matches("")) {
            return Err(PromError::bad_data(
                "match[] must contain at least one non-empty matcher",
            ));
        }
        sets.push(m);
    }
    Ok(sets)
}

/// The optional `limit` parameter (0: no limit).
fn result_limit(p: &Params) -> Result<usize, PromError> {
    match p.non_empty("limit") {
        None => Ok(0),
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| PromError::bad_param("limit", format!("cannot parse {s:?} to a valid limit"))),
    }
}

/// `/api/v1/series?match[]=..&start=..&end=..`
pub(crate) async fn series(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<JsonBody, PromError> {
    if p.all("match[]").is_empty() {
        return Err(PromError::bad_data("no match[] parameter provided"));
    }
    let (start, end) = time_range(&p)?;
    let sets = matcher_sets(&p)?;
    let limit = result_limit(&p)?;
    let timeout = st.config.limits.query_timeout;
    evaluate(&st, &tenant, timeout, move |db, _| {
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        for set in &sets {
            all.extend(db.series(set, start, end)?);
        }
        Ok(json::success(|out| {
            out.push('[');
            let n = if limit == 0 { all.len() } else { limit };
            for (i, l) in all.iter().take(n).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::push_labels(out, l);
            }
            out.push(']');
        }))
    })
    .await
    .map(JsonBody)
}

/// `/api/v1/labels?match[]=..&start=..&end=..`
pub(crate) async fn labels(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<JsonBody, PromError> {
    let (start, end) = time_range(&p)?;
    let mut sets = matcher_sets(&p)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let limit = result_limit(&p)?;
    let timeout = st.config.limits.query_timeout;
    evaluate(&st, &tenant, timeout, move |db, _| {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for set in &sets {
            names.extend(db.label_names(set, start, end)?);
        }
        let n = if limit == 0 { names.len() } else { limit };
        Ok(json::success(|out| {
            json::push_str_array(out, names.iter().take(n).map(String::as_str));
        }))
    })
    .await
    .map(JsonBody)
}

/// `/api/v1/label/<name>/values?match[]=..&start=..&end=..`
pub(crate) async fn label_values(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    Path(name): Path<String>,
    p: Params,
) -> Result<JsonBody, PromError> {
    if !valid_label_name(&name) {
        return Err(PromError::bad_data(format!("invalid label name: {name:?}")));
    }
    let (start, end) = time_range(&p)?;
    let mut sets = matcher_sets(&p)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let limit = result_limit(&p)?;
    let timeout = st.config.limits.query_timeout;
    evaluate(&st, &tenant, timeout, move |db, _| {
        let mut values: BTreeSet<String> = BTreeSet::new();
        for set in &sets {
            values.extend(db.label_values(&name, set, start, end)?);
        }
        let n = if limit == 0 { values.len() } else { limit };
        Ok(json::success(|out| {
            json::push_str_array(out, values.iter().take(n).map(String::as_str));
        }))
    })
    .await
    .map(JsonBody)
}

/// `/api/v1/metadata?metric=..&limit=..`: the metadata remote write senders sent (kept in memory;
/// line protocol carries none).
pub(crate) async fn metadata(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    p: Params,
) -> Result<JsonBody, PromError> {
    st.reader(&tenant)?;
    let limit = result_limit(&p)?;
    let metric = p.non_empty("metric");
    Ok(JsonBody(json::success(|out| {
        st.metadata.push_json(out, tenant.label().as_deref(), metric, limit);
    })))
}

/// `/api/v1/query_exemplars`: foresight stores no exemplars; an empty list.
pub(crate) async fn exemplars(State(st): State<Arc<AppState>>, tenant: Tenant) -> Result<JsonBody, PromError> {
    st.reader(&tenant)?;
    Ok(JsonBody(json::success(|out| out.push_str("[]"))))
}

/// `/api/v1/status/buildinfo`, with Prometheus' fields.
pub(crate) async fn buildinfo() -> JsonBody {
    JsonBody(json::success(|out| {
        out.push_str("{\"version\":");
        json::push_str(out, env!("CARGO_PKG_VERSION"));
        out.push_str(
            ",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\",\"application\":\"foresight\"}",
        );
    }))
}
