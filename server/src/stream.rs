//! `GET /api/v1/stream?query=..&interval=..`: Server-Sent Events carrying the query's current
//! value every interval, as the `data` object of `/api/v1/query` (`{"resultType":..,"result":..}`).
//! An evaluation error is sent as an `error` event holding the Prometheus error envelope. The
//! interval is at least `stream-min-interval`; a connection ends after `stream-max-lifetime`
//! with an `end` event (EventSource clients reconnect), and at shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use foresight_engine::promql;
use futures_util::stream;
use tokio::time::Instant;

use crate::error::PromError;
use crate::json;
use crate::query::{Params, evaluate};
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::time::{now_ms, parse_duration_ms};

/// Interval when the request names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

struct StreamState {
    st: Arc<AppState>,
    tenant: Tenant,
    query: Arc<str>,
    interval: Duration,
    next: Instant,
    deadline: Instant,
    done: bool,
    _open: OpenGuard,
}

/// Keeps the `foresight_streams_open` gauge right however the stream ends.
struct OpenGuard(Arc<AppState>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.metrics.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Checks the parameters, then answers with the event stream.
pub(crate) async fn stream(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<Response, PromError> {
    st.reader(&tenant)?;
    let query: Arc<str> = Arc::from(p.get("query").unwrap_or(""));
    promql::parse(&query).map_err(|e| PromError::bad_param("query", e))?;
    let min = st.config.limits.stream_min_interval;
    let interval = match p.get("interval").filter(|s| !s.is_empty()) {
        None => DEFAULT_INTERVAL.max(min),
        Some(s) => {
            let ms = parse_duration_ms(s).map_err(|e| PromError::bad_param("interval", e))?;
            let d = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            if d < min {
                return Err(PromError::bad_param(
                    "interval",
                    format!("must be at least {} seconds (stream-min-interval)", min.as_secs_f64()),
                ));
            }
            // Never longer than a connection lives (also keeps `Instant` arithmetic far from overflow).
            d.min(st.config.limits.stream_max_lifetime)
        }
    };
    st.metrics.streams_open.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let state = StreamState {
        _open: OpenGuard(st.clone()),
        deadline: now.checked_add(st.config.limits.stream_max_lifetime).unwrap_or(now),
        st,
        tenant,
        query,
        interval,
        next: now,
        done: false,
    };
    let events = stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut shutdown = s.st.shutdown.clone();
        let wake = s.next.min(s.deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.wait_for(|v| *v) => return None,
        }
        if Instant::now() >= s.deadline {
            s.done = true;
            let ev = Event::default()
                .event("end")
                .data("stream-max-lifetime reached; reconnect to continue");
            return Some((Ok::<Event, Infallible>(ev), s));
        }
        s.next = s.next.checked_add(s.interval).unwrap_or(s.deadline);
        let query = s.query.clone();
        let t = now_ms();
        let limit =
            s.st.config
                .limits
                .query_timeout
                .min(s.interval.max(Duration::from_secs(1)));
        let r = evaluate(&s.st, &s.tenant, limit, move |db, engine| {
            let r = engine.instant_query(db, &query, t)?;
            let mut out = String::with_capacity(256);
            json::push_query_data(&mut out, &r.value);
            Ok(out)
        })
        .await;
        let ev = match r {
            Ok(data) => Event::default().data(data),
            Err(e) => Event::default().event("error").data(e.body()),
        };
        Some((Ok(ev), s))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}
