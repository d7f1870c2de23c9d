//! # foresight-auth
//!
//! Who may do what in foresight, without any HTTP: the server's middleware and the `foresight
//! tokens` command both build on it, and the fuzz target reaches the credential parser directly.
//!
//! - **Tokens** live in `tokens.json` in the data directory ([`TokenFile`]): only the SHA-256 of
//!   each token is stored, with its tenant, [`Role`], name and expiry. [`TokenFile::create`] takes
//!   its randomness as an argument (the CLI reads the OS random source).
//! - **Live reload**: [`Tokens`] holds the index a server looks tokens up in and reloads it when
//!   the file changes (its inode, size and mtime, checked at most once per [`RELOAD_EVERY`]).
//!   Once the file has existed, authentication stays on in that process even if it disappears or
//!   is damaged (then every request is refused rather than let in).
//! - **Credentials** in every form clients send ([`parse_credential`]). The presented token is
//!   hashed and the hash looked up in a map, then compared in constant time ([`Tokens::lookup`]):
//!   an unknown token and a wrong one cost the same.
//! - **Roles** ([`Role`]): `read` may query, `write` may write (and not read: an agent's token
//!   leaks no data), `admin` may do everything. Which [`Access`] a route needs follows from its
//!   path alone ([`ROUTE_ACCESS`]): a new route under `/api/v1/admin/` is an admin route with no
//!   code change; paths outside the API (the web UI's static assets) are public.
//! - **Rate limits** per key ([`Buckets`]): failed attempts per client IP, samples per tenant.
//!
//! ```
//! use foresight_auth::{Access, Credential, Lookup, NewToken, Role, TokenFile, Tokens, parse_credential, route_access};
//!
//! let dir = tempfile::tempdir()?;
//! let mut file = TokenFile::default();
//! let new = NewToken { tenant: "default".into(), role: Role::Read, name: None, expires_in: None };
//! let (token, _record) = file.create(new, [42; 38], 1_700_000_000)?; // random bytes from the OS in real use
//! file.save(dir.path())?;
//!
//! let tokens = Tokens::new(dir.path().to_path_buf(), false);
//! assert!(tokens.enabled());
//! let header = format!("Bearer {token}");
//! let Credential::Token(t) = parse_credential(Some(header.as_bytes()), None, false) else { panic!() };
//! let Lookup::Found(who) = tokens.lookup(&t, 1_700_000_001) else { panic!() };
//! assert_eq!(&*who.tenant, "default");
//! assert!(who.role.allows(route_access("/api/v1/query")));
//! assert!(!who.role.allows(route_access("/api/v1/write")));
//! assert_eq!(route_access("/api/v1/admin/snapshot"), Access::Admin);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod credential;
mod limiter;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub use credential::{Credential, parse_credential};
pub use limiter::Buckets;
pub use store::{
    ANY_TENANT, DEFAULT_TENANT, ID_BYTES, NewToken, TOKEN_BYTES, TOKEN_FILE, TenantLimits, TokenFile, TokenRecord,
    token_hash, unix_now, valid_tenant,
};

/// Errors of the token file and the token commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is damaged.
    #[error("{path} is damaged: {reason}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bad argument to a token command.
    #[error("{0}")]
    Invalid(String),
}

/// What a token may do. Each role is a set of [`Access`] levels: `admin` includes the others,
/// `read` and `write` are separate (as InfluxDB's read and write permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Query endpoints.
    Read,
    /// Write endpoints.
    Write,
    /// Everything, including `/api/v1/admin/*` and `/-/reload`.
    Admin,
}

impl Role {
    /// Whether this role may use a route that needs `access`.
    pub fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (_, Access::Public)
                | (Role::Admin, _)
                | (Role::Read, Access::Read | Access::Operator)
                | (Role::Write, Access::Write)
        )
    }

    /// Its name as the CLI and the token file spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role {s:?}: expected read, write or admin")),
        }
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health checks and the web UI's static assets.
    Public,
    /// The `read` role.
    Read,
    /// The `read` role of the default tenant (the server's own metrics, which name every
    /// tenant), or `admin`.
    Operator,
    /// The `write` role.
    Write,
    /// The `admin` role.
    Admin,
}

/// Which access a path needs: the first entry whose prefix matches (a prefix ending in `/`
/// matches everything under it; otherwise the path itself and everything under `prefix/`).
/// Anything under `/api/` that no earlier entry names needs `read`; other paths (the web UI) are
/// public.
pub const ROUTE_ACCESS: &[(&str, Access)] = &[
    ("/api/v1/admin/", Access::Admin),
    ("/-/reload", Access::Admin),
    ("/-/healthy", Access::Public),
    ("/-/ready", Access::Public),
    ("/-/", Access::Admin),
    ("/ping", Access::Public),
    ("/health", Access::Public),
    ("/write", Access::Write),
    ("/api/v2/write", Access::Write),
    ("/api/v1/write", Access::Write),
    ("/api/v1/import", Access::Write),
    ("/api/", Access::Read),
    ("/query", Access::Read),
    ("/metrics", Access::Operator),
    ("/federate", Access::Read),
];

/// The access `path` needs ([`ROUTE_ACCESS`]).
pub fn route_access(path: &str) -> Access {
    for (prefix, access) in ROUTE_ACCESS {
        let hit = if prefix.ends_with('/') {
            path.starts_with(prefix)
        } else {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if hit {
            return *access;
        }
    }
    Access::Public
}

/// The InfluxDB 1.x paths, where `?u=&p=` carry the credential and errors use InfluxDB's
/// envelope.
pub fn is_influx_v1(path: &str) -> bool {
    path == "/write" || path == "/query"
}

/// Whether errors on `path` use InfluxDB's envelope rather than Prometheus'.
pub fn is_influx_path(path: &str) -> bool {
    is_influx_v1(path) || path.starts_with("/api/v2/")
}

/// The `auth` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// On once the token file exists.
    #[default]
    Auto,
    /// On even with no token yet (every request but the public ones is refused).
    Required,
    /// Off (only allowed on a loopback listen address).
    Off,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(AuthMode::Auto),
            "required" | "on" => Ok(AuthMode::Required),
            "off" => Ok(AuthMode::Off),
            _ => Err("expected auto, required or off".into()),
        }
    }
}

/// Who is asking: set on every request that passed authentication (with authentication off, the
/// default tenant with the admin role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's tenant ([`DEFAULT_TENANT`] when none).
    pub tenant: Arc<str>,
    /// The token's role.
    pub role: Role,
}

impl Principal {
    /// Who a request is when authentication is off: the default tenant, admin.
    pub fn anonymous() -> Self {
        Principal {
            tenant: Arc::from(DEFAULT_TENANT),
            role: Role::Admin,
        }
    }

    /// Whether the request is the default tenant's.
    pub fn is_default_tenant(&self) -> bool {
        &*self.tenant == DEFAULT_TENANT
    }

    /// Whether this principal may use a route that needs `access` ([`Role::allows`], and
    /// [`Access::Operator`] only for the default tenant's readers).
    pub fn allows(&self, access: Access) -> bool {
        self.role.allows(access) && (access != Access::Operator || self.role == Role::Admin || self.is_default_tenant())
    }

    /// Who the request acts as, given its [`TENANT_HEADER`] value: an admin token may name any
    /// tenant (and then reads and writes that tenant's data, as if with its token); any other
    /// token only its own tenant (the header can narrow, never widen). The error is the reason
    /// for a 403.
    pub fn acting_as(self, header: Option<&str>) -> Result<Principal, String> {
        let Some(asked) = header.map(str::trim) else {
            return Ok(self);
        };
        if !valid_tenant(asked) {
            return Err(format!(
                "{TENANT_HEADER}: bad tenant {asked:?}: expected 1 to 64 of A-Z a-z 0-9 _ . -"
            ));
        }
        if asked == &*self.tenant {
            return Ok(self);
        }
        if self.role == Role::Admin {
            return Ok(Principal {
                tenant: Arc::from(asked),
                role: self.role,
            });
        }
        Err(format!(
            "{TENANT_HEADER} names tenant {asked:?}, but this token belongs to tenant {:?}; only an admin token may act as another tenant",
            self.tenant
        ))
    }
}

/// The request header naming the tenant to act as (the one Cortex, Mimir and Loki use).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// How often [`Tokens`] checks the token file for changes, at most.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    hash: [u8; 32],
    principal: Principal,
    expires: Option<u64>,
}

/// The file's identity, to notice a change without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileSig {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    ino: u64,
}

fn file_sig(m: &std::fs::Metadata) -> FileSig {
    FileSig {
        len: m.len(),
        modified: m.modified().ok(),
        #[cfg(unix)]
        ino: std::os::unix::fs::MetadataExt::ino(m),
    }
}

/// The token index of a running server, reloaded from the token file when it changes.
#[derive(Debug)]
pub struct Tokens {
    data_dir: PathBuf,
    index: RwLock<Arc<HashMap<[u8; 32], Entry>>>,
    limits: RwLock<Arc<std::collections::BTreeMap<String, TenantLimits>>>,
    /// Authentication is on (sticky: once on, a running server never turns it off).
    on: AtomicBool,
    checked: Mutex<(Option<Instant>, Option<FileSig>)>,
    reloads: std::sync::atomic::AtomicU64,
    reload_errors: std::sync::atomic::AtomicU64,
}

/// How a token lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A valid token: who it is.
    Found(Principal),
    /// No such token.
    Unknown,
    /// A token past its expiry.
    Expired,
}

impl Tokens {
    /// The tokens of `data_dir`, loaded now; `required` turns authentication on even before the
    /// token file exists.
    pub fn new(data_dir: PathBuf, required: bool) -> Self {
        let t = Tokens {
            data_dir,
            index: RwLock::new(Arc::new(HashMap::new())),
            limits: RwLock::new(Arc::new(Default::default())),
            on: AtomicBool::new(required),
            checked: Mutex::new((None, None)),
            reloads: Default::default(),
            reload_errors: Default::default(),
        };
        t.refresh(true);
        t
    }

    /// Whether requests must authenticate.
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Times the file was loaded, and times it could not be.
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.reloads.load(Ordering::Relaxed),
            self.reload_errors.load(Ordering::Relaxed),
        )
    }

    /// Reloads the token file if it changed, at most once per [`RELOAD_EVERY`] unless `force`.
    /// A file that cannot be read keeps the tokens loaded before (and is logged).
    pub fn refresh(&self, force: bool) {
        let now = Instant::now();
        let mut checked = self.checked.lock();
        if !force && checked.0.is_some_and(|t| now.duration_since(t) < RELOAD_EVERY) {
            return;
        }
        checked.0 = Some(now);
        let path = TokenFile::path(&self.data_dir);
        let sig = std::fs::metadata(&path).ok().map(|m| file_sig(&m));
        if sig == checked.1 {
            return;
        }
        checked.1 = sig.clone();
        if sig.is_none() {
            // Removed: a running server keeps the tokens it knows rather than opening up.
            return;
        }
        match TokenFile::load(&self.data_dir) {
            Ok(file) => {
                let map = file
                    .tokens
                    .iter()
                    .filter_map(|r| {
                        if r.tenant != DEFAULT_TENANT && r.role == Role::Admin {
                            // `tokens create` refuses these; one edited in by hand would act
                            // as the operator.
                            tracing::warn!(id = %r.id, tenant = %r.tenant, "admin token of a tenant other than default ignored: admin tokens belong to the default tenant");
                            return None;
                        }
                        let hash = TokenFile::hash_bytes(r)?;
                        let principal = Principal {
                            tenant: Arc::from(r.tenant.as_str()),
                            role: r.role,
                        };
                        Some((
                            hash,
                            Entry {
                                hash,
                                principal,
                                expires: r.expires,
                            },
                        ))
                    })
                    .collect();
                *self.index.write() = Arc::new(map);
                *self.limits.write() = Arc::new(file.limits.clone());
                self.on.store(true, Ordering::Relaxed);
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(path = %path.display(), tokens = file.tokens.len(), "tokens loaded; authentication on");
            }
            Err(e) => {
                self.reload_errors.fetch_add(1, Ordering::Relaxed);
                // Read again at the next check rather than wait for another change.
                checked.1 = None;
                if self.on.load(Ordering::Relaxed) {
                    tracing::error!(error = %e, "cannot reload the tokens; keeping the ones loaded before");
                } else {
                    // A damaged file must not leave the server open.
                    self.on.store(true, Ordering::Relaxed);
                    tracing::error!(error = %e, "cannot load the tokens; every request is refused until the file is fixed");
                }
            }
        }
    }

    /// The limits of `tenant` as the token file sets them ([`TokenFile::limits_of`]; checks the
    /// file for changes at most once per [`RELOAD_EVERY`]).
    pub fn limits(&self, tenant: &str) -> TenantLimits {
        self.refresh(false);
        TokenFile::limits_of(&self.limits.read(), tenant)
    }

    /// The principal of a token's text at `now` (unix seconds). The hash is the map key, so
    /// the time taken does not depend on how close a wrong token is to a right one; the final
    /// comparison is constant-time anyway.
    pub fn lookup(&self, token: &str, now: u64) -> Lookup {
        let hash = token_hash(token);
        let index = self.index.read().clone();
        match index.get(&hash) {
            Some(e) if bool::from(e.hash.ct_eq(&hash)) => {
                if e.expires.is_some_and(|x| now >= x) {
                    Lookup::Expired
                } else {
                    Lookup::Found(e.principal.clone())
                }
            }
            _ => Lookup::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        for (path, access) in [
            ("/api/v1/admin/flush", Access::Admin),
            ("/api/v1/admin/snapshot", Access::Admin),
            ("/-/reload", Access::Admin),
            ("/-/quit", Access::Admin),
            ("/-/healthy", Access::Public),
            ("/ping", Access::Public),
            ("/write", Access::Write),
            ("/writex", Access::Public),
            ("/api/v2/write", Access::Write),
            ("/api/v1/write", Access::Write),
            ("/api/v1/query", Access::Read),
            ("/api/v1/label/job/values", Access::Read),
            ("/api/v1/rules", Access::Read),
            ("/api/v1/something_new", Access::Read),
            ("/metrics", Access::Operator),
            ("/", Access::Public),
            ("/assets/app.js", Access::Public),
        ] {
            assert_eq!(route_access(path), access, "{path}");
        }
    }

    #[test]
    fn acting_as_a_tenant() {
        let p = |t: &str, role| Principal {
            tenant: Arc::from(t),
            role,
        };
        let admin = p(DEFAULT_TENANT, Role::Admin);
        assert_eq!(admin.clone().acting_as(None), Ok(admin.clone()));
        assert_eq!(admin.clone().acting_as(Some("acme")), Ok(p("acme", Role::Admin)));
        assert!(admin.acting_as(Some("a b")).unwrap_err().contains("bad tenant"));
        let reader = p("acme", Role::Read);
        assert_eq!(reader.clone().acting_as(Some("acme")), Ok(reader.clone()));
        let e = reader.clone().acting_as(Some("beta")).unwrap_err();
        assert!(e.contains("only an admin token"), "{e}");
        assert!(p(DEFAULT_TENANT, Role::Write).acting_as(Some("acme")).is_err());
        // The server's metrics name every tenant: the operator's only.
        assert!(!reader.allows(Access::Operator) && reader.allows(Access::Read));
        assert!(p(DEFAULT_TENANT, Role::Read).allows(Access::Operator));
        assert!(p("acme", Role::Admin).allows(Access::Operator));
        assert!(!p(DEFAULT_TENANT, Role::Write).allows(Access::Operator));
    }

    #[test]
    fn roles() {
        assert!(Role::Admin.allows(Access::Admin) && Role::Admin.allows(Access::Write));
        assert!(Role::Read.allows(Access::Read) && !Role::Read.allows(Access::Write));
        assert!(Role::Write.allows(Access::Write) && !Role::Write.allows(Access::Read));
        assert!(!Role::Write.allows(Access::Admin) && Role::Read.allows(Access::Public));
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn lookup_reload_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Tokens::new(dir.path().to_path_buf(), false);
        assert!(!auth.enabled(), "no token file: open");
        let mut f = TokenFile::default();
        let new = |tenant: &str, role| NewToken {
            tenant: tenant.into(),
            role,
            name: None,
            expires_in: Some(Duration::from_secs(60)),
        };
        let (t, _) = f.create(new(DEFAULT_TENANT, Role::Read), [3; 38], 1000).unwrap();
        f.save(dir.path()).unwrap();
        auth.refresh(true);
        assert!(auth.enabled());
        let want = Principal {
            tenant: Arc::from(DEFAULT_TENANT),
            role: Role::Read,
        };
        assert_eq!(auth.lookup(&t, 1000), Lookup::Found(want));
        assert_eq!(auth.lookup(&t, 1060), Lookup::Expired);
        assert_eq!(auth.lookup("fst_nope", 1000), Lookup::Unknown);
        f.revoke(&f.tokens[0].id.clone()).unwrap();
        f.save(dir.path()).unwrap();
        auth.refresh(true);
        assert_eq!(auth.lookup(&t, 1000), Lookup::Unknown);
        assert!(auth.enabled(), "the last token revoked: still on");
        std::fs::remove_file(TokenFile::path(dir.path())).unwrap();
        auth.refresh(true);
        assert!(auth.enabled(), "the file removed: still on");
    }

    #[test]
    fn a_damaged_file_turns_authentication_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(TokenFile::path(dir.path()), b"garbage").unwrap();
        let auth = Tokens::new(dir.path().to_path_buf(), false);
        assert!(auth.enabled());
        assert!(Tokens::new(PathBuf::from("/nonexistent"), true).enabled());
    }
}
