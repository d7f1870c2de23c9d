//! Errors and how they become HTTP responses, in one place: the Prometheus error envelope for
//! the query API, InfluxDB's `{"code","message"}` for the write API (partial writes included),
//! and the crate's own error. Handlers return `Result<JsonBody, PromError>` (query API) or
//! `Result<StatusCode, WriteError>` (write API); the `IntoResponse` impls here decide every
//! status code and header of an answer.

use std::fmt::Write as _;
use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use foresight_engine::lineproto::LineError;
use foresight_engine::{WriteReport, promql};

use crate::json;

/// Most rejected lines listed one by one in a partial write's answer (the count is always
/// complete).
const MAX_LISTED_ERRORS: usize = 10_000;
/// Rejected lines quoted in the `message` itself, for clients that show only that.
const MAX_QUOTED_ERRORS: usize = 5;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings are not usable.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A `--rules` file could not be loaded (every problem, with its file and position).
    #[error("rule files: {0}")]
    Rules(String),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The database could not be opened or closed.
    #[error(transparent)]
    Engine(#[from] foresight_engine::Error),
    /// Any other I/O failure of the server itself (the runtime, serving connections).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Prometheus' `errorType`, which also decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Internal,
    Unavailable,
    /// Authentication: no Prometheus `errorType` exists for these, so they are named after their
    /// status.
    Unauthorized,
    Forbidden,
    /// 429, with the seconds of its `Retry-After`.
    TooManyRequests(u32),
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::Forbidden => "forbidden",
            ErrorType::TooManyRequests(_) => "too_many_requests",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorType::Forbidden => StatusCode::FORBIDDEN,
            ErrorType::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// How PromQL's message for a query over its sample limit starts ([`PromError::is_sample_limit`];
/// a unit test holds it to the engine's wording).
const SAMPLE_LIMIT_PREFIX: &str = "query processing would load too many samples";

/// An error of the Prometheus query API: `{"status":"error","errorType":..,"error":..}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PromError {
    pub(crate) kind: ErrorType,
    pub(crate) message: String,
}

impl PromError {
    pub(crate) fn bad_data(message: impl Into<String>) -> Self {
        PromError {
            kind: ErrorType::BadData,
            message: message.into(),
        }
    }

    /// Prometheus' wording for a parameter that does not parse.
    pub(crate) fn bad_param(param: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter \"{param}\": {reason}"))
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        PromError {
            kind: ErrorType::Internal,
            message: message.into(),
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        PromError {
            kind: ErrorType::Unavailable,
            message: message.into(),
        }
    }

    /// 429: a tenant's query limit, to retry after `retry_after` (rounded up to whole seconds).
    pub(crate) fn too_many(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        PromError {
            kind: ErrorType::TooManyRequests(u32::try_from(secs.max(1)).unwrap_or(u32::MAX)),
            message: message.into(),
        }
    }

    /// Whether this is PromQL's refusal of a query holding more samples than the limit.
    pub(crate) fn is_sample_limit(&self) -> bool {
        self.kind == ErrorType::Execution && self.message.starts_with(SAMPLE_LIMIT_PREFIX)
    }

    /// The message with `advice` after it (which limit, how to raise it).
    pub(crate) fn with_advice(mut self, advice: impl std::fmt::Display) -> Self {
        self.message = format!("{}: {advice}", self.message);
        self
    }

    pub(crate) fn timeout() -> Self {
        PromError {
            kind: ErrorType::Timeout,
            message: "query timed out in query execution".into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len());
        out.push_str("{\"status\":\"error\",\"errorType\":\"");
        out.push_str(self.kind.as_str());
        out.push_str("\",\"error\":");
        json::push_str(&mut out, &self.message);
        out.push('}');
        out
    }
}

/// How a query's error maps to Prometheus' error types: what the query text or parameters got
/// wrong is `bad_data` (400), a failure while evaluating is `execution` (422), the time limit is
/// `timeout` (503) and a storage failure is `internal` (500), as Prometheus' API does.
impl From<promql::Error> for PromError {
    fn from(e: promql::Error) -> Self {
        match e {
            promql::Error::Parse { .. }
            | promql::Error::UnknownFunction(_)
            | promql::Error::UnsupportedFunction(_)
            | promql::Error::BadQuery(_) => PromError::bad_param("query", e),
            promql::Error::Timeout => PromError::timeout(),
            promql::Error::Storage(s) if s.is_limit() => PromError {
                kind: ErrorType::Execution,
                message: s.to_string(),
            },
            promql::Error::Storage(_) => PromError::internal(e.to_string()),
            _ => PromError {
                kind: ErrorType::Execution,
                message: e.to_string(),
            },
        }
    }
}

impl From<foresight_engine::Error> for PromError {
    fn from(e: foresight_engine::Error) -> Self {
        match e {
            foresight_engine::Error::InvalidArgument(m) => PromError::bad_data(m),
            foresight_engine::Error::Closed => PromError::unavailable("the database is shutting down"),
            foresight_engine::Error::LimitExceeded(m) => PromError {
                kind: ErrorType::Execution,
                message: m,
            },
            other => PromError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let mut r = (self.kind.status(), JsonBody(self.body())).into_response();
        match self.kind {
            ErrorType::Unavailable => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ErrorType::TooManyRequests(secs) => {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        r
    }
}

/// An error of the InfluxDB write API: `{"code":..,"message":..}` with an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WriteError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Seconds for `Retry-After` (503 answers).
    pub(crate) retry_after: Option<u32>,
    /// A partial write's rejected lines: their count and the first [`MAX_LISTED_ERRORS`].
    pub(crate) rejected: Option<(usize, Vec<LineError>)>,
}

impl WriteError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        WriteError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            rejected: None,
        }
    }

    /// A write whose good lines were stored and whose bad lines were not (`report.rejected`
    /// is not empty): InfluxDB's 400 `invalid`, extended with `rejected` (the count) and
    /// `errors` (each bad line's number and reason).
    pub(crate) fn partial(report: WriteReport) -> Self {
        let mut lines = report.rejected;
        let rejected = lines.len();
        let total = report.lines_accepted + rejected as u64;
        let mut message = format!("partial write: {rejected} of {total} lines rejected, the other lines were written");
        for e in lines.iter().take(MAX_QUOTED_ERRORS) {
            let _ = write!(message, "; line {}: {}", e.line, e.reason);
        }
        if rejected > MAX_QUOTED_ERRORS {
            let _ = write!(message, "; and {} more", rejected - MAX_QUOTED_ERRORS);
        }
        lines.truncate(MAX_LISTED_ERRORS);
        WriteError {
            rejected: Some((rejected, lines)),
            ..Self::invalid(message)
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        WriteError {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request too large", message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", message)
    }

    /// The JSON body; `error` repeats the message for InfluxDB 1.x clients, which read that key.
    pub(crate) fn body(&self) -> String {
        let listed = self.rejected.as_ref().map_or(0, |(_, lines)| lines.len());
        let mut out = String::with_capacity(64 + 2 * self.message.len() + listed * 64);
        out.push_str("{\"code\":");
        json::push_str(&mut out, self.code);
        out.push_str(",\"message\":");
        json::push_str(&mut out, &self.message);
        out.push_str(",\"error\":");
        json::push_str(&mut out, &self.message);
        if let Some((count, lines)) = &self.rejected {
            let _ = write!(out, ",\"rejected\":{count},\"errors\":[");
            for (i, e) in lines.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{{\"line\":{},\"reason\":", e.line);
                json::push_str(&mut out, &e.reason);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
        out
    }
}

impl From<foresight_engine::Error> for WriteError {
    fn from(e: foresight_engine::Error) -> Self {
        match e {
            foresight_engine::Error::Closed => WriteError::unavailable("the database is shutting down"),
            foresight_engine::Error::InvalidArgument(m) => WriteError::invalid(m),
            other => WriteError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        let mut r = (self.status, JsonBody(self.body())).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// Why authentication (the auth middleware) refused a request; answered in InfluxDB's envelope on its
/// paths and in Prometheus' elsewhere. The messages never say whether a token exists.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AuthFailure {
    /// No credential: 401.
    Missing,
    /// A credential that is no valid token: 401.
    Invalid,
    /// A token past its expiry: 401.
    Expired,
    /// A valid token whose role does not allow the route: 403.
    Forbidden {
        role: foresight_auth::Role,
        needs: foresight_auth::Access,
    },
    /// Too many failed attempts from this client: 429 with `Retry-After`.
    TooManyFailures(std::time::Duration),
    /// An `X-Scope-OrgID` the token may not act as: 403 with the reason.
    Tenant(String),
}

impl AuthFailure {
    pub(crate) fn into_response(self, influx: bool) -> Response {
        let retry = match &self {
            AuthFailure::TooManyFailures(wait) => Some(*wait),
            _ => None,
        };
        let (status, code, message) = match self {
            AuthFailure::Missing => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authentication required: send a token as `Authorization: Bearer <token>`, `Token <token>` or as the Basic password".to_owned(),
            ),
            AuthFailure::Invalid | AuthFailure::Expired => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "invalid or expired token".to_owned(),
            ),
            AuthFailure::Forbidden { role, needs } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "a {} token may not use this endpoint: it needs the {} role",
                    role.as_str(),
                    match needs {
                        foresight_auth::Access::Write => "write (or admin)",
                        foresight_auth::Access::Admin => "admin",
                        foresight_auth::Access::Operator =>
                            "read role of the default tenant (the server's own metrics name every tenant), or admin",
                        _ => "read (or admin)",
                    }
                ),
            ),
            AuthFailure::Tenant(reason) => (StatusCode::FORBIDDEN, "forbidden", reason),
            AuthFailure::TooManyFailures(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests",
                "too many failed authentication attempts from this address; retry later".to_owned(),
            ),
        };
        let mut r = if influx {
            WriteError::new(status, code, message).into_response()
        } else {
            let kind = match status {
                StatusCode::UNAUTHORIZED => ErrorType::Unauthorized,
                StatusCode::FORBIDDEN => ErrorType::Forbidden,
                _ => ErrorType::TooManyRequests(1),
            };
            PromError { kind, message }.into_response()
        };
        let h = r.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"foresight\", Basic realm=\"foresight\""),
            );
        }
        if let Some(wait) = retry {
            h.insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        }
        r
    }
}

/// A JSON answer: the body as written, with `Content-Type: application/json` (status 200
/// unless paired with another).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonBody(pub(crate) String);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            self.0,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_envelopes() {
        let e = PromError::from(promql::Error::Parse {
            message: "unexpected end of input".into(),
            line: 1,
            column: 5,
        });
        insta::assert_snapshot!(e.body());
        assert_eq!(e.kind.status(), StatusCode::BAD_REQUEST);
        let e = PromError::from(promql::Error::Execution("many-to-many matching not allowed".into()));
        assert_eq!(e.kind.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(PromError::from(promql::Error::Timeout).kind, ErrorType::Timeout);
        let e = PromError::from(promql::Error::TooManySamples { limit: 5 });
        assert_eq!(e.kind, ErrorType::Execution);
        assert!(e.is_sample_limit(), "{}", e.message);
        assert!(!PromError::from(promql::Error::Execution("x".into())).is_sample_limit());
        let e = PromError::from(promql::Error::Storage(promql::StorageError::limit("reads 40d")));
        assert_eq!((e.kind, e.message.as_str()), (ErrorType::Execution, "reads 40d"));
        let e = PromError::from(promql::Error::Storage(promql::StorageError::new("disk")));
        assert_eq!(e.kind, ErrorType::Internal);
        let r = PromError::too_many("slow down", std::time::Duration::from_millis(1500)).into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn influx_envelope() {
        let e = WriteError::too_large("body larger than 10 bytes");
        insta::assert_snapshot!(e.body());
    }

    #[test]
    fn partial_write_lists_every_line() {
        let report = WriteReport {
            lines_accepted: 2,
            samples_accepted: 2,
            string_fields_skipped: 0,
            rejected: vec![
                LineError {
                    line: 2,
                    reason: "missing fields".into(),
                },
                LineError {
                    line: 4,
                    reason: "bad \"value\"".into(),
                },
            ],
        };
        let e = WriteError::partial(report);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        insta::assert_snapshot!(e.body());
    }

    #[test]
    fn partial_write_quotes_five_lines_and_lists_ten_thousand() {
        let rejected = (1..=10_001)
            .map(|line| LineError {
                line,
                reason: "bad".into(),
            })
            .collect();
        let e = WriteError::partial(WriteReport {
            lines_accepted: 0,
            samples_accepted: 0,
            string_fields_skipped: 0,
            rejected,
        });
        assert!(
            e.message.ends_with("; line 4: bad; line 5: bad; and 9996 more"),
            "{}",
            e.message
        );
        let body = e.body();
        assert!(body.contains(",\"rejected\":10001,\"errors\":[{\"line\":1,"));
        assert!(
            body.ends_with("{\"line\":10000,\"reason\":\"bad\"}]}"),
            "the 10,001st is not listed"
        );
    }
}
