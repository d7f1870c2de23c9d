//! Prometheus remote write (`POST /api/v1/write`, 1.0 and 2.0) and remote read
//! (`POST /api/v1/read`), over the codecs of `foresight-remote`.
//!
//! Write answers, as senders expect them (remote write spec, and the complaints in
//! `shared/research/remote.md` section 8):
//! - **204** once every sample is stored, after the engine acknowledged it: the same WAL and, in
//!   the default durability mode, the same fsync as line protocol.
//! - **400** for what can never be accepted (a body that does not decode, a series without a
//!   name or with a duplicate label, a sample outside retention or too far in the future, native
//!   histograms): the valid series of the request are stored and the text body names the refused
//!   ones. Senders do not retry it.
//! - **413** beyond `max-body-bytes` (compressed or decompressed), **415** for a content type or
//!   encoding other than protobuf + snappy.
//! - **503** (with `Retry-After`) while the database opens or too many write bytes are in flight,
//!   **500** when storage fails: retried by senders. Nothing is stored before these are decided,
//!   except on a storage failure in the middle of a write; a retry then rewrites samples that
//!   are already stored, which replaces them with the same values (last write wins at equal
//!   timestamps), so a retry never duplicates.
//!
//! Every answer carries `X-Prometheus-Remote-Write-Samples-Written`, `-Histograms-Written` and
//! `-Exemplars-Written` (exemplars are not stored: 0).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use foresight_engine::{LabelMatcher, MatchOp, SampleBatch, TenantView};
use foresight_remote::proto::{self, MatchType, ReadResponse, ResponseType};
use foresight_remote::{DecodeError, Protocol, SeriesError};
use prost::Message;

use crate::error::{PromError, WriteError};
use crate::query;
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::write::{read_request_body, too_large};

/// Refused series quoted one by one in a 400's body (the count is always complete).
const MAX_QUOTED: usize = 10;

/// What a write stored, for the `X-Prometheus-Remote-Write-*-Written` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Written {
    samples: u64,
    histograms: u64,
    exemplars: u64,
}

/// An answer of the remote endpoints: a status and a plain-text body (senders log it verbatim),
/// with the written counts on writes.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    message: String,
    written: Option<Written>,
    retry_after: Option<u32>,
}

impl Answer {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Answer {
            status,
            message: message.into(),
            written: None,
            retry_after: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<WriteError> for Answer {
    fn from(e: WriteError) -> Self {
        Answer {
            retry_after: e.retry_after,
            ..Answer::new(e.status, e.message)
        }
    }
}

impl From<PromError> for Answer {
    fn from(e: PromError) -> Self {
        let retry_after = (e.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(1);
        Answer {
            retry_after,
            ..Answer::new(e.status(), e.message)
        }
    }
}

fn set_written(headers: &mut HeaderMap, w: Written) {
    headers.insert(
        "x-prometheus-remote-write-samples-written",
        HeaderValue::from(w.samples),
    );
    headers.insert(
        "x-prometheus-remote-write-histograms-written",
        HeaderValue::from(w.histograms),
    );
    headers.insert(
        "x-prometheus-remote-write-exemplars-written",
        HeaderValue::from(w.exemplars),
    );
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut body = self.message;
        body.push('\n');
        let mut r = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            body,
        )
            .into_response();
        set_written(r.headers_mut(), self.written.unwrap_or_default());
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// `POST /api/v1/write`: Prometheus remote write 1.0 or 2.0.
pub(crate) async fn write(State(st): State<Arc<AppState>>, tenant: Tenant, req: Request) -> Response {
    match receive(st, tenant, req).await {
        Ok(w) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            set_written(r.headers_mut(), w);
            r
        }
        Err(a) => a.into_response(),
    }
}

async fn receive(st: Arc<AppState>, tenant: Tenant, req: Request) -> Result<Written, Answer> {
    let db = st.writer(&tenant)?;
    let (parts, body) = req.into_parts();
    let protocol = foresight_remote::negotiate(
        header_str(&parts.headers, header::CONTENT_TYPE),
        header_str(&parts.headers, header::CONTENT_ENCODING),
    )
    .map_err(|e| Answer::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.0))?;
    let (buf, reservation) = read_request_body(&st, &parts.headers, body).await?;
    let task_st = st.clone();
    let outcome = tokio::task::spawn_blocking(move || store(&task_st, &db, &buf, protocol, reservation))
        .await
        .map_err(|_| Answer::new(StatusCode::INTERNAL_SERVER_ERROR, "the write task failed"))?;
    let samples = match &outcome {
        Ok(w) => w.samples,
        Err(a) => a.written.map_or(0, |w| w.samples),
    };
    st.wrote(&tenant, samples);
    outcome
}

/// Decodes and stores one write on a blocking thread.
fn store(
    st: &AppState,
    db: &TenantView,
    buf: &[u8],
    protocol: Protocol,
    mut reservation: crate::budget::Reservation,
) -> Result<Written, Answer> {
    let limit = usize::try_from(st.config.limits.max_body_bytes).unwrap_or(usize::MAX);
    let decoded = foresight_remote::decode_write(buf, protocol, limit).map_err(|e| match e {
        DecodeError::TooLarge { .. } => Answer::from(too_large(st, "the decompressed request body")),
        other => Answer::bad(other.to_string()),
    })?;
    if !reservation.grow(decoded.raw_len() as u64) {
        return Err(crate::write::busy(st).into());
    }
    // Sized from the request (a 1.0 series usually carries one sample; its labels are most of the
    // body), so that filling the batch does not grow and copy it.
    let n = decoded.series_count();
    let mut batch = SampleBatch::with_capacity(n, n, decoded.raw_len()).with_tenant(db.tenant());
    let mut refused: Vec<(usize, String, String)> = Vec::new();
    let summary = decoded.visit(|index, labels, samples| match batch.add_series_sorted(labels) {
        Ok(series) => {
            for &(t, v) in samples {
                batch.push(series, t, v, index + 1);
            }
        }
        Err(e) => refused.push((index, foresight_remote::format_labels(labels), e.to_string())),
    });
    let report = if batch.is_empty() {
        foresight_engine::WriteReport::default()
    } else {
        db.write_samples(&batch).map_err(WriteError::from)?
    };
    st.metadata.update(db.tenant(), &summary.metadata);
    let written = Written {
        samples: report.samples_accepted,
        histograms: 0,
        exemplars: 0,
    };
    for r in summary.rejected {
        refused.push((r.index, r.labels, r.error.to_string()));
    }
    for e in report.rejected {
        let index = e.line.saturating_sub(1);
        refused.push((index, String::new(), e.reason));
    }
    st.metrics.observe_write(buf.len() as u64, refused.len() as u64);
    if refused.is_empty() {
        return Ok(written);
    }
    refused.sort_by_key(|r| r.0);
    let total = decoded.series_count();
    let mut message = format!(
        "{} of {total} series refused, the rest written ({} samples)",
        refused.len(),
        written.samples
    );
    if summary.histograms > 0 {
        let _ = write!(message, "; {}", SeriesError::NativeHistograms(summary.histograms));
    }
    for (index, labels, reason) in refused.iter().take(MAX_QUOTED) {
        let _ = write!(message, "; series {index}");
        if !labels.is_empty() {
            let _ = write!(message, " {labels}");
        }
        let _ = write!(message, ": {reason}");
    }
    if refused.len() > MAX_QUOTED {
        let _ = write!(message, "; and {} more", refused.len() - MAX_QUOTED);
    }
    Err(Answer {
        written: Some(written),
        ..Answer::bad(message)
    })
}

/// `POST /api/v1/read`: Prometheus remote read, answered with samples or streamed XOR chunks,
/// whichever the client lists first.
pub(crate) async fn read(State(st): State<Arc<AppState>>, tenant: Tenant, req: Request) -> Response {
    match serve_read(st, tenant, req).await {
        Ok(r) => r,
        Err(a) => a.into_response(),
    }
}

async fn serve_read(st: Arc<AppState>, tenant: Tenant, req: Request) -> Result<Response, Answer> {
    st.reader(&tenant)?;
    let (parts, body) = req.into_parts();
    let (buf, _reservation) = read_request_body(&st, &parts.headers, body).await?;
    let limit = usize::try_from(st.config.limits.max_body_bytes).unwrap_or(usize::MAX);
    let request = foresight_remote::decode_read(&buf, limit).map_err(|e| Answer::bad(e.to_string()))?;
    drop(buf);
    let kind = foresight_remote::response_type(&request);
    let timeout = st.config.limits.query_timeout;
    let body = query::evaluate(&st, &tenant, timeout, move |db, engine| {
        // The server's max-samples, or the tenant's max_query_samples when lower.
        let max_samples = usize::try_from(engine.options().max_samples).unwrap_or(usize::MAX);
        answer_read(db, &request, kind, max_samples)
    })
    .await?;
    let mut headers = HeaderMap::new();
    match kind {
        ResponseType::Samples => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(foresight_remote::SAMPLES_CONTENT_TYPE),
            );
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        }
        ResponseType::StreamedXorChunks => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(foresight_remote::STREAMED_CONTENT_TYPE),
            );
        }
    }
    Ok((StatusCode::OK, headers, body).into_response())
}

/// Selects every query's series and encodes the answer.
fn answer_read(
    db: &TenantView,
    request: &proto::ReadRequest,
    kind: ResponseType,
    max_samples: usize,
) -> Result<Vec<u8>, PromError> {
    let mut total = 0usize;
    let mut response = ReadResponse::default();
    let mut frames = Vec::new();
    for (qi, q) in request.queries.iter().enumerate() {
        let matchers = q
            .matchers
            .iter()
            .map(|m| {
                let op = match MatchType::try_from(m.r#type) {
                    Ok(MatchType::Eq) => MatchOp::Equal,
                    Ok(MatchType::Neq) => MatchOp::NotEqual,
                    Ok(MatchType::Re) => MatchOp::RegexMatch,
                    Ok(MatchType::Nre) => MatchOp::RegexNoMatch,
                    Err(_) => return Err(PromError::bad_data(format!("unknown matcher type {}", m.r#type))),
                };
                LabelMatcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| PromError::bad_data(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let series = db.select(&matchers, q.start_timestamp_ms, q.end_timestamp_ms)?;
        let mut result = proto::QueryResult::default();
        for s in series {
            total = total.saturating_add(s.samples.len());
            if total > max_samples {
                return Err(PromError::bad_data(format!(
                    "exceeded sample limit ({max_samples}: the server's max-samples, or the tenant's \
                     max_query_samples when lower): narrow the query's time range or matchers"
                )));
            }
            let labels = foresight_remote::labels_to_proto(s.labels.iter().map(|l| (l.name, l.value)));
            match kind {
                ResponseType::Samples => result.timeseries.push(proto::TimeSeries {
                    labels,
                    samples: s
                        .samples
                        .iter()
                        .map(|&(t, v)| proto::Sample { value: v, timestamp: t })
                        .collect(),
                    ..Default::default()
                }),
                ResponseType::StreamedXorChunks => {
                    foresight_remote::write_series_frames(&mut frames, qi as i64, &labels, &s.samples);
                }
            }
        }
        response.results.push(result);
    }
    Ok(match kind {
        ResponseType::Samples => foresight_remote::snappy::compress(&response.encode_to_vec()),
        ResponseType::StreamedXorChunks => frames,
    })
}
