//! Operations endpoints (`/-/healthy`, `/-/ready`, `/metrics`, `/api/v1/admin/flush`, `/api/v1/admin/snapshot`, the
//! InfluxDB `/ping` and `/health`) and the self-monitoring task.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use foresight_engine::lineproto::Precision;

use crate::error::{JsonBody, PromError};
use crate::json;
use crate::metrics::{self, to_line_protocol};
use crate::state::AppState;
use crate::time::now_ms;

const VERSION_HEADER: &str = concat!("foresight-", env!("CARGO_PKG_VERSION"));

/// `/-/healthy`: the process is up.
pub(crate) async fn healthy() -> &'static str {
    "foresight is Healthy.\n"
}

/// `/-/ready`: 200 once the database is open (WAL replayed), 503 before and during shutdown.
pub(crate) async fn ready(State(st): State<Arc<AppState>>) -> Response {
    if st.db().is_some() && !st.is_shutting_down() {
        "foresight is Ready.\n".into_response()
    } else {
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }
}

/// InfluxDB's `/ping`: 204 with the version header clients read.
pub(crate) async fn ping() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert("X-Influxdb-Version", HeaderValue::from_static(VERSION_HEADER));
    r.headers_mut()
        .insert("X-Influxdb-Build", HeaderValue::from_static("foresight"));
    r
}

/// InfluxDB 2's `/health`.
pub(crate) async fn influx_health(State(st): State<Arc<AppState>>) -> Response {
    let ready = st.db().is_some();
    let body = format!(
        "{{\"name\":\"foresight\",\"message\":\"{}\",\"status\":\"{}\",\"checks\":[],\"version\":\"{}\"}}",
        if ready {
            "ready for queries and writes"
        } else {
            "database opening"
        },
        if ready { "pass" } else { "fail" },
        env!("CARGO_PKG_VERSION")
    );
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, JsonBody(body)).into_response()
}

/// `/metrics` in the Prometheus text format.
pub(crate) async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = tokio::task::spawn_blocking(move || {
        let db = st.db();
        metrics::render(&st.metric_families(db.as_deref()))
    })
    .await;
    match text {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "collecting metrics failed\n").into_response(),
    }
}

/// `POST /api/v1/admin/flush`: writes the head to blocks now (`Db::flush`).
pub(crate) async fn flush(State(st): State<Arc<AppState>>) -> Result<JsonBody, PromError> {
    let db = st.db_for_admin()?;
    let blocks = tokio::task::spawn_blocking(move || db.flush().map(|()| db.blocks().len()))
        .await
        .map_err(|_| PromError::internal("the flush task failed"))??;
    Ok(JsonBody(json::success(|out| {
        out.push_str(&format!("{{\"blocks\":{blocks}}}"));
    })))
}

/// `POST /api/v1/admin/snapshot`: an online, consistent snapshot of the database under
/// `<data-dir>/snapshots/<name>` (`Db::snapshot`). Answers as Prometheus'
/// `/api/v1/admin/tsdb/snapshot` (`data.name`), with the snapshot's path, files and bytes.
pub(crate) async fn snapshot(State(st): State<Arc<AppState>>) -> Result<JsonBody, PromError> {
    let db = st.db_for_admin()?;
    let name = foresight_engine::snapshot::new_name();
    let name2 = name.clone();
    let info = tokio::task::spawn_blocking(move || {
        let parent = db.dir().join("snapshots");
        // Earlier snapshots are reused when the blocks cannot be linked (never on one file system).
        db.snapshot(&parent.join(&name2), &[])
    })
    .await
    .map_err(|_| PromError::internal("the snapshot task failed"))??;
    tracing::info!(name = %name, files = info.files, bytes = info.bytes, "snapshot taken");
    let path = std::fs::canonicalize(&info.dir).unwrap_or(info.dir);
    Ok(JsonBody(json::success(|out| {
        out.push_str("{\"name\":");
        json::push_str(out, &name);
        out.push_str(",\"path\":");
        json::push_str(out, &path.to_string_lossy());
        out.push_str(&format!(",\"files\":{},\"bytes\":{}}}", info.files, info.bytes));
    })))
}

/// Every `every`, stores the content of `/metrics` through the engine (no network involved),
/// with `job="foresight"` and `instance="<listen address>"`, so PromQL can query it.
pub(crate) async fn self_monitor(st: Arc<AppState>, every: Duration) {
    let mut shutdown = st.shutdown.clone();
    let instance = st.addr.to_string();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let Some(db) = st.db() else { continue };
        let st2 = st.clone();
        let instance = instance.clone();
        let r = tokio::task::spawn_blocking(move || {
            let families = st2.metric_families(Some(&db));
            let lp = to_line_protocol(&families, &[("job", "foresight"), ("instance", &instance)], now_ms());
            db.write_lines(lp.as_bytes(), Precision::Milliseconds)
        })
        .await;
        match r {
            Ok(Ok(report)) if report.rejected.is_empty() => {}
            Ok(Ok(report)) => {
                tracing::warn!(rejected = report.rejected.len(), first = ?report.rejected.first(), "self-monitoring samples rejected");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "storing self-monitoring samples failed"),
            Err(_) => tracing::warn!("the self-monitoring task failed"),
        }
    }
}
