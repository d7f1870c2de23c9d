//! The server's side of authentication ([`foresight_auth`] holds the tokens, roles and
//! parsing): the middleware in front of every route, the per-IP limit on failed attempts and
//! their counters in `/metrics`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};

use crate::tls::ClientAddr;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use foresight_auth::{
    Access, AuthMode, Buckets, Credential, Lookup, Principal, TENANT_HEADER, TenantLimits, Tokens, is_influx_path,
    is_influx_v1, parse_credential, route_access, unix_now,
};

use crate::error::AuthFailure;
use crate::metrics::{Family, MetricSource};

/// Failed attempts a client IP may make per second after its burst (`max-auth-failures`).
const FAILURE_RATE: f64 = 1.0;

/// The live tokens, the failure limiter and the counters.
#[derive(Debug)]
pub(crate) struct Authenticator {
    /// `None` with `auth = off`.
    tokens: Option<Tokens>,
    failures: Buckets<IpAddr>,
    failure_burst: f64,
    missing: AtomicU64,
    invalid: AtomicU64,
    expired: AtomicU64,
    forbidden: AtomicU64,
    limited: AtomicU64,
}

impl Authenticator {
    pub(crate) fn new(mode: AuthMode, data_dir: std::path::PathBuf, failure_burst: u32) -> Self {
        Authenticator {
            failure_burst: f64::from(failure_burst),
            tokens: (mode != AuthMode::Off).then(|| Tokens::new(data_dir, mode == AuthMode::Required)),
            failures: Buckets::new(),
            missing: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            forbidden: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        }
    }

    /// `tenant`'s limits from the token file (none with authentication off or no file).
    pub(crate) fn limits(&self, tenant: &str) -> TenantLimits {
        self.tokens.as_ref().map(|t| t.limits(tenant)).unwrap_or_default()
    }

    /// The tokens, when requests must authenticate (after a reload check).
    fn active(&self) -> Option<&Tokens> {
        let t = self.tokens.as_ref()?;
        t.refresh(false);
        t.enabled().then_some(t)
    }
}

impl MetricSource for Authenticator {
    fn families(&self) -> Vec<Family> {
        let (reloads, reload_errors) = self.tokens.as_ref().map_or((0, 0), Tokens::reload_counts);
        let mut failures = Family::new(
            "foresight_auth_failures_total",
            "counter",
            "Requests refused for their credential, by reason",
        );
        for (reason, n) in [
            ("missing", &self.missing),
            ("invalid", &self.invalid),
            ("expired", &self.expired),
            ("forbidden", &self.forbidden),
            ("rate_limited", &self.limited),
        ] {
            failures.push(
                "",
                vec![("reason", reason.to_owned())],
                n.load(Ordering::Relaxed) as f64,
            );
        }
        vec![
            failures,
            Family::one(
                "foresight_auth_enabled",
                "gauge",
                "1 when requests must present a token",
                if self.tokens.as_ref().is_some_and(Tokens::enabled) {
                    1.0
                } else {
                    0.0
                },
            ),
            Family::one(
                "foresight_auth_token_reloads_total",
                "counter",
                "Times the token file was (re)loaded",
                reloads as f64,
            ),
            Family::one(
                "foresight_auth_token_reload_errors_total",
                "counter",
                "Times the token file could not be loaded",
                reload_errors as f64,
            ),
        ]
    }
}

/// The middleware in front of every route: decides public / 401 / 403 / 429 and puts the
/// [`Principal`] in the request's extensions.
pub(crate) async fn authenticate(State(auth): State<Arc<Authenticator>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let access = route_access(path);
    let influx = is_influx_path(path);
    let asked_tenant = match req.headers().get(TENANT_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v.to_owned()),
        Some(Err(_)) => {
            return AuthFailure::Tenant(format!("{TENANT_HEADER} is not ASCII text")).into_response(influx);
        }
    };
    let tokens = match auth.active() {
        Some(t) if access != Access::Public => t,
        _ => {
            // Authentication off: whoever asks is the admin, so the header is honoured.
            match Principal::anonymous().acting_as(asked_tenant.as_deref()) {
                Ok(p) => req.extensions_mut().insert(p),
                Err(why) => return AuthFailure::Tenant(why).into_response(influx),
            };
            return next.run(req).await;
        }
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    let now = Instant::now();
    if let Err(wait) = auth.failures.has_token(&ip, FAILURE_RATE, auth.failure_burst, now) {
        auth.limited.fetch_add(1, Ordering::Relaxed);
        return AuthFailure::TooManyFailures(wait).into_response(influx);
    }
    let credential = parse_credential(
        req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        req.uri().query(),
        is_influx_v1(path),
    );
    let failed = |counter: &AtomicU64, failure: AuthFailure| {
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = auth.failures.take(&ip, 1.0, FAILURE_RATE, auth.failure_burst, now);
        failure.into_response(influx)
    };
    let principal = match credential {
        Credential::Missing => {
            auth.missing.fetch_add(1, Ordering::Relaxed);
            return AuthFailure::Missing.into_response(influx);
        }
        Credential::Malformed => return failed(&auth.invalid, AuthFailure::Invalid),
        Credential::Token(t) => match tokens.lookup(&t, unix_now()) {
            Lookup::Found(p) => p,
            Lookup::Unknown => return failed(&auth.invalid, AuthFailure::Invalid),
            Lookup::Expired => return failed(&auth.expired, AuthFailure::Expired),
        },
    };
    let principal = match principal.acting_as(asked_tenant.as_deref()) {
        Ok(p) => p,
        Err(why) => {
            auth.forbidden.fetch_add(1, Ordering::Relaxed);
            return AuthFailure::Tenant(why).into_response(influx);
        }
    };
    if !principal.allows(access) {
        auth.forbidden.fetch_add(1, Ordering::Relaxed);
        return AuthFailure::Forbidden {
            role: principal.role,
            needs: access,
        }
        .into_response(influx);
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}
