//! The InfluxDB write endpoints: `POST /write` (1.x) and `POST /api/v2/write` (2.x).
//!
//! A body is read up to `max-body-bytes` (compressed and, for gzip, decompressed), counted
//! against `max-inflight-write-bytes` while it is in memory (503 with `Retry-After` beyond), and
//! parsed and written on a blocking thread. 204 when every line was stored; otherwise the good
//! lines are stored and the answer is 400 with every bad line's number and reason.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use foresight_engine::WriteReport;
use foresight_engine::lineproto::{self, LineError, Precision};
use http_body_util::BodyExt;

use crate::budget::Reservation;
use crate::error::WriteError;
use crate::metrics::WriteRefusal;
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::time::now_ms;

/// `POST /write?db=..&precision=ns|u|ms|s|m|h` (InfluxDB 1.x).
pub(crate) async fn write_v1(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    req: Request,
) -> Result<StatusCode, WriteError> {
    let params = query_pairs(req.uri().query());
    let precision = match param(&params, "precision") {
        None | Some("") => Precision::Nanoseconds,
        Some(p) => Precision::from_param(p).ok_or_else(|| {
            WriteError::invalid(format!(
                "invalid precision {p:?}: expected one of n, ns, u, us, ms, s, m, h"
            ))
        })?,
    };
    let db = param(&params, "db").map(str::to_owned);
    answer(write(st, &tenant, req, precision, db).await?)
}

/// `POST /api/v2/write?org=..&bucket=..&precision=ns|us|ms|s` (InfluxDB 2.x).
pub(crate) async fn write_v2(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    req: Request,
) -> Result<StatusCode, WriteError> {
    let params = query_pairs(req.uri().query());
    let precision = match param(&params, "precision") {
        None | Some("") => Precision::Nanoseconds,
        Some(p @ ("ns" | "us" | "ms" | "s")) => {
            Precision::from_param(p).ok_or_else(|| WriteError::invalid(format!("invalid precision {p:?}")))?
        }
        Some(p) => {
            return Err(WriteError::invalid(format!(
                "invalid precision {p:?}: expected one of ns, us, ms, s"
            )));
        }
    };
    let bucket = param(&params, "bucket").map(str::to_owned);
    answer(write(st, &tenant, req, precision, bucket).await?)
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// 204 when every line was stored, otherwise the partial write's 400.
fn answer(report: WriteReport) -> Result<StatusCode, WriteError> {
    if report.rejected.is_empty() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(WriteError::partial(report))
    }
}

fn is_gzip(headers: &HeaderMap) -> Result<bool, WriteError> {
    let Some(v) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let v = v.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match v.as_str() {
        "gzip" | "x-gzip" => Ok(true),
        "" | "identity" => Ok(false),
        other => Err(WriteError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            format!("unsupported Content-Encoding {other:?}: send gzip or identity"),
        )),
    }
}

pub(crate) fn too_large(st: &AppState, what: &str) -> WriteError {
    st.metrics.refused(WriteRefusal::TooLarge);
    WriteError::too_large(format!(
        "{what} is larger than the limit of {} bytes (max-body-bytes); split the write into smaller batches",
        st.config.limits.max_body_bytes
    ))
}

pub(crate) fn busy(st: &AppState) -> WriteError {
    st.metrics.refused(WriteRefusal::Backpressure);
    WriteError::unavailable(format!(
        "too many write bytes in flight (limit {} bytes, max-inflight-write-bytes): the database is behind; retry later",
        st.write_budget.limit()
    ))
}

async fn write(
    st: Arc<AppState>,
    tenant: &Tenant,
    req: Request,
    precision: Precision,
    db_value: Option<String>,
) -> Result<WriteReport, WriteError> {
    let db = st.writer(tenant)?;
    let limit = st.config.limits.max_body_bytes;
    let (parts, body) = req.into_parts();
    let gzip = is_gzip(&parts.headers)?;
    let (buf, reservation) = read_request_body(&st, &parts.headers, body).await?;

    let label = st.config.db_label.clone();
    let task_state = st.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<(WriteReport, u64), WriteError> {
        let mut reservation = reservation;
        let st = task_state;
        let body = if gzip {
            let compressed = buf.len() as u64;
            let out = gunzip(&buf, limit).map_err(|e| match e {
                GunzipError::TooLarge => too_large(&st, "the decompressed request body"),
                GunzipError::Bad(m) => WriteError::invalid(format!("bad gzip body: {m}")),
            })?;
            drop(buf);
            reservation.shrink(compressed);
            if !reservation.grow(out.len() as u64) {
                return Err(busy(&st));
            }
            out
        } else {
            buf
        };
        let bytes = body.len() as u64;
        let report = match (label.as_deref(), db_value.as_deref()) {
            (Some(name), Some(value)) if !value.is_empty() => {
                let (rewritten, mut early) = with_tag(&body, name, value);
                drop(body);
                let mut report = db.write_lines_at(rewritten.as_bytes(), precision, now_ms())?;
                if !early.is_empty() {
                    early.append(&mut report.rejected);
                    early.sort_by_key(|e| e.line);
                    report.rejected = early;
                }
                report
            }
            _ => db.write_lines_at(&body, precision, now_ms())?,
        };
        Ok((report, bytes))
    })
    .await
    .map_err(|_| WriteError::internal("the write task failed"))?;
    let (report, bytes) = outcome?;
    st.wrote(tenant, report.samples_accepted);
    st.metrics.observe_write(bytes, report.rejected.len() as u64);
    Ok(report)
}

/// Reads a write request's body within `max-body-bytes` (413 beyond, from `Content-Length` when
/// given, before reading), holding its bytes against the in-flight budget (503 beyond): the body
/// and the reservation to keep while it is in memory.
pub(crate) async fn read_request_body(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Vec<u8>, Reservation), WriteError> {
    let limit = st.config.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        drain(body).await;
        return Err(too_large(st, "the request body"));
    }
    let mut reservation = Reservation::new(st.write_budget.clone());
    if let Some(n) = declared
        && !reservation.grow(n)
    {
        return Err(busy(st));
    }
    let buf = read_body(st, body, declared, &mut reservation).await?;
    Ok((buf, reservation))
}

/// At most this much of a refused body is read (and discarded) before the answer.
const DRAIN_BYTES: u64 = 32 << 20;
/// ... and for at most this long.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads and discards the rest of a body that will be refused, within [`DRAIN_BYTES`] and
/// [`DRAIN_TIME`]: a client that sends its whole body before reading the answer (Prometheus'
/// remote write, most HTTP/1.1 clients) then reads the 413 instead of a reset connection, which it
/// would take for a network error and retry. Past either bound the connection is simply closed.
async fn drain(mut body: Body) {
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > DRAIN_BYTES {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

async fn read_body(
    st: &AppState,
    mut body: Body,
    declared: Option<u64>,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, WriteError> {
    let limit = st.config.limits.max_body_bytes;
    let initial = declared.unwrap_or(64 * 1024).min(limit);
    let mut buf = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| WriteError::invalid(format!("error reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let n = data.len() as u64;
        if buf.len() as u64 + n > limit {
            drain(body).await;
            return Err(too_large(st, "the request body"));
        }
        if declared.is_none() && !reservation.grow(n) {
            return Err(busy(st));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

#[derive(Debug)]
enum GunzipError {
    TooLarge,
    Bad(String),
}

/// Decompresses a gzip body (concatenated members too), refusing to produce more than `limit`
/// bytes, so a small bomb cannot fill memory.
fn gunzip(data: &[u8], limit: u64) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::with_capacity(
        data.len()
            .saturating_mul(4)
            .min(usize::try_from(limit).unwrap_or(usize::MAX)),
    );
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(limit.saturating_add(1));
    dec.read_to_end(&mut out).map_err(|e| GunzipError::Bad(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}

/// Adds the tag `name=value` to every line that lacks it. The output keeps each line at its
/// physical line number (so the engine reports the same numbers); lines that do not parse are
/// left out and returned as errors.
fn with_tag(body: &[u8], name: &str, value: &str) -> (String, Vec<LineError>) {
    let mut out = String::with_capacity(body.len() + body.len() / 8);
    let mut errors = Vec::new();
    let mut out_line = 1usize;
    let mut lines = lineproto::lines(body);
    while let Some(item) = lines.next() {
        match item {
            Ok(mut line) => {
                let at = lines.line_number();
                while out_line < at {
                    out.push('\n');
                    out_line += 1;
                }
                if !line.tags.iter().any(|(k, _)| k == name) {
                    line.tags.push((name.into(), value.into()));
                }
                let start = out.len();
                lineproto::write_line(&line, &mut out);
                out_line += out[start..].matches('\n').count();
            }
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rewrite_keeps_line_numbers() {
        let body = b"cpu,host=a v=1 10\n\nbad line\n# comment\ncpu v=2 20\ncpu,db=x v=3 30\n";
        let (out, errs) = with_tag(body, "db", "bench");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 3);
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(lines[0], "cpu,host=a,db=bench v=1.0 10");
        assert_eq!(lines[4], "cpu,db=bench v=2.0 20");
        assert_eq!(lines[5], "cpu,db=x v=3.0 30");
    }

    #[test]
    fn gzip_limits() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'a'; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 100_000).unwrap().len(), 100_000);
        assert!(matches!(gunzip(&gz, 99_999), Err(GunzipError::TooLarge)));
        assert!(matches!(gunzip(b"not gzip", 10), Err(GunzipError::Bad(_))));
    }
}
