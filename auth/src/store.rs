//! The token file, `tokens.json` in the data directory: which tokens exist, by the SHA-256 of
//! their text, with their tenant, role, name and expiry. The token text itself is printed once by
//! `foresight tokens create` and stored nowhere.
//!
//! Format (version 1): a first line `foresight-tokens 1 sha256=<hex of the rest>`, then the
//! records as JSON (`{"tokens":[..]}`). The checksum catches a truncated or hand-damaged file,
//! which is refused with its path rather than read as "no tokens" (that would switch
//! authentication off). Written atomically: a temporary file, fsync, rename, fsync of the
//! directory; mode 0600.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuthError, Role};

/// File name of the token file inside the data directory.
pub const TOKEN_FILE: &str = "tokens.json";
const MAGIC: &str = "foresight-tokens";
const VERSION: u32 = 1;
/// Prefix of every token, so a leaked one is recognisable (secret scanners, logs).
pub(crate) const TOKEN_PREFIX: &str = "fst_";
/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Random bytes in a token's id.
pub const ID_BYTES: usize = 6;

/// The tenant of data written without a tenant (single-user installs, imports, rule results).
pub const DEFAULT_TENANT: &str = "default";

/// One token as stored: everything but its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Short public identifier (`tok_` and 12 hex digits), for `tokens list` and `revoke`.
    pub id: String,
    /// Optional label given at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tenant whose data the token reads and writes.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, unix seconds.
    pub created: u64,
    /// Expiry, unix seconds (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// SHA-256 of the token text, hex.
    pub sha256: String,
}

impl TokenRecord {
    /// Whether the token is past its expiry at `now` (unix seconds).
    pub fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
}

/// One tenant's limits (`None`: unlimited), in the token file's `limits` map, set with
/// `foresight tokens limits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLimits {
    /// Most active series (written in the last hour); writes of new series beyond get 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_series: Option<u64>,
    /// Samples per second, averaged by a token bucket holding one second's worth (at least one
    /// write); beyond, writes get 429 with `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples_per_second: Option<u64>,
    /// Queries evaluating at once; beyond, queries get 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_queries: Option<u32>,
    /// Query time per second: milliseconds of query evaluation (wall clock, from the start of
    /// its evaluation to its end) the tenant may use per second, averaged by a bucket holding one
    /// second's worth; while it is empty, queries get 429 with `Retry-After`. 1,000 is one
    /// query running at all times. What keeps a tenant's heavy queries from taking the CPU of
    /// the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_millis_per_second: Option<u32>,
    /// Most samples one query may hold (as the server's `max-samples`, which still applies
    /// when lower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_samples: Option<u64>,
    /// Longest stretch of time one read may cover, in milliseconds: the samples a query reads
    /// (its range, plus its range selectors and the lookback), a forecast's or an anomaly
    /// scan's history, a remote read's range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_range_ms: Option<u64>,
    /// Most labels a new series may have (its name included, the tenant label not); series
    /// with more are refused on their line with 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_labels_per_series: Option<u32>,
    /// Longest label value (in bytes) of a new series; series with a longer one are refused on
    /// their line with 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_label_value_length: Option<u32>,
}

impl TenantLimits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == TenantLimits::default()
    }
}

/// The key of the limits applying to every tenant without its own entry.
pub const ANY_TENANT: &str = "*";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Body {
    tokens: Vec<TokenRecord>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    limits: BTreeMap<String, TenantLimits>,
}

/// The token file's content.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TokenFile {
    /// Every token, in creation order.
    pub tokens: Vec<TokenRecord>,
    /// Limits per tenant name, or [`ANY_TENANT`] for every tenant without its own entry.
    pub limits: BTreeMap<String, TenantLimits>,
}

/// What `tokens create` asks for.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Tenant name ([`valid_tenant`]).
    pub tenant: String,
    /// Role.
    pub role: Role,
    /// Optional label, unique among the tokens.
    pub name: Option<String>,
    /// Lifetime (`None`: never expires).
    pub expires_in: Option<Duration>,
}

/// A tenant name: 1 to 64 of `[A-Za-z0-9_.-]`, so it can be a label value, a URL parameter and a
/// log field without quoting.
pub fn valid_tenant(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// SHA-256 of a token's text, as stored and looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl TokenFile {
    /// The token file's path in a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(TOKEN_FILE)
    }

    /// Reads the token file of a data directory; no file is no tokens.
    pub fn load(data_dir: &Path) -> Result<TokenFile, AuthError> {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => Self::decode(&bytes).map_err(|reason| AuthError::Corrupted { path, reason }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(source) => Err(AuthError::Io { path, source }),
        }
    }

    /// Parses the file's bytes; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<TokenFile, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let (head, body) = text.split_once('\n').ok_or("no header line")?;
        let mut parts = head.split(' ');
        if parts.next() != Some(MAGIC) {
            return Err(format!("the first line does not start with {MAGIC:?}"));
        }
        let version: u32 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("no format version on the first line")?;
        if version != VERSION {
            return Err(format!("format version {version}; this build reads version {VERSION}"));
        }
        let sum = parts
            .next()
            .and_then(|s| s.strip_prefix("sha256="))
            .ok_or("no checksum on the first line")?;
        if sum != hex(&Sha256::digest(body.as_bytes())) {
            return Err("checksum mismatch (the file is truncated or was edited)".into());
        }
        let body: Body = serde_json::from_str(body).map_err(|e| format!("bad JSON: {e}"))?;
        if let Some(bad) = body.limits.keys().find(|t| *t != ANY_TENANT && !valid_tenant(t)) {
            return Err(format!("limits of a bad tenant name {bad:?}"));
        }
        Ok(TokenFile {
            tokens: body.tokens,
            limits: body.limits,
        })
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let body = Body {
            tokens: self.tokens.clone(),
            limits: self.limits.clone(),
        };
        // Serialising plain strings and numbers cannot fail.
        let mut json = serde_json::to_string_pretty(&body).unwrap_or_default();
        json.push('\n');
        let mut out = format!("{MAGIC} {VERSION} sha256={}\n", hex(&Sha256::digest(json.as_bytes())));
        out.push_str(&json);
        out.into_bytes()
    }

    /// The limits of `tenant`: its own entry, else the [`ANY_TENANT`] entry, else none.
    pub fn limits_of(limits: &BTreeMap<String, TenantLimits>, tenant: &str) -> TenantLimits {
        limits
            .get(tenant)
            .or_else(|| limits.get(ANY_TENANT))
            .copied()
            .unwrap_or_default()
    }

    /// Sets `tenant`'s limits ([`ANY_TENANT`] for the default of every tenant); an empty set
    /// removes the entry.
    pub fn set_limits(&mut self, tenant: &str, limits: TenantLimits) -> Result<(), AuthError> {
        if tenant != ANY_TENANT && !valid_tenant(tenant) {
            return Err(AuthError::Invalid(format!(
                "bad tenant {tenant:?}: expected 1 to 64 of A-Z a-z 0-9 _ . -, or {ANY_TENANT:?} for every tenant"
            )));
        }
        if limits.is_empty() {
            self.limits.remove(tenant);
        } else {
            self.limits.insert(tenant.to_owned(), limits);
        }
        Ok(())
    }

    /// Writes the file atomically (temporary file, fsync, rename, fsync of the directory).
    pub fn save(&self, data_dir: &Path) -> Result<(), AuthError> {
        use std::io::Write as _;
        let path = Self::path(data_dir);
        let tmp = data_dir.join(format!("{TOKEN_FILE}.tmp"));
        let io = |source| AuthError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(&self.encode()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io)?;
        std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }

    /// Adds a token made from `random` (the CLI fills it from the OS random source) and returns
    /// its text, the only time it exists outside the client.
    pub fn create(
        &mut self,
        new: NewToken,
        random: [u8; TOKEN_BYTES + ID_BYTES],
        now: u64,
    ) -> Result<(String, TokenRecord), AuthError> {
        if !valid_tenant(&new.tenant) {
            return Err(AuthError::Invalid(format!(
                "bad tenant {:?}: expected 1 to 64 of A-Z a-z 0-9 _ . -",
                new.tenant
            )));
        }
        if new.tenant != DEFAULT_TENANT && new.role == Role::Admin {
            return Err(AuthError::Invalid(format!(
                "tenant {:?}: admin tokens are the operator's and belong to the {DEFAULT_TENANT:?} tenant (an admin acts as any tenant with the X-Scope-OrgID header); give tenants read or write tokens",
                new.tenant
            )));
        }
        if let Some(name) = &new.name
            && self
                .tokens
                .iter()
                .any(|t| t.name.as_ref() == Some(name) || &t.id == name)
        {
            return Err(AuthError::Invalid(format!("a token named {name:?} exists already")));
        }
        let text = format!("{TOKEN_PREFIX}{}", hex(&random[..TOKEN_BYTES]));
        let record = TokenRecord {
            id: format!("tok_{}", hex(&random[TOKEN_BYTES..])),
            name: new.name,
            tenant: new.tenant,
            role: new.role,
            created: now,
            expires: new.expires_in.map(|d| now.saturating_add(d.as_secs())),
            sha256: hex(&token_hash(&text)),
        };
        self.tokens.push(record.clone());
        Ok((text, record))
    }

    /// Removes the token with this id or name; the removed record.
    pub fn revoke(&mut self, id_or_name: &str) -> Result<TokenRecord, AuthError> {
        let i = self
            .tokens
            .iter()
            .position(|t| t.id == id_or_name || t.name.as_deref() == Some(id_or_name))
            .ok_or_else(|| AuthError::Invalid(format!("no token with id or name {id_or_name:?}")))?;
        Ok(self.tokens.remove(i))
    }

    /// The stored hash of a record as bytes (`None` for a damaged entry, which never matches).
    pub(crate) fn hash_bytes(record: &TokenRecord) -> Option<[u8; 32]> {
        let s = record.sha256.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(tenant: &str, role: Role, name: Option<&str>) -> NewToken {
        NewToken {
            tenant: tenant.into(),
            role,
            name: name.map(Into::into),
            expires_in: None,
        }
    }

    #[test]
    fn create_save_load_revoke() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(TokenFile::load(dir.path()).unwrap(), TokenFile::default());
        let mut f = TokenFile::default();
        let (text, rec) = f
            .create(new(DEFAULT_TENANT, Role::Write, Some("ci")), [7; 38], 100)
            .unwrap();
        assert!(text.starts_with("fst_") && text.len() == 4 + 64, "{text}");
        assert_eq!(TokenFile::hash_bytes(&rec), Some(token_hash(&text)));
        assert!(
            !f.encode().windows(text.len()).any(|w| w == text.as_bytes()),
            "only the hash is stored"
        );
        assert!(
            f.create(new(DEFAULT_TENANT, Role::Read, Some("ci")), [8; 38], 100)
                .is_err()
        );
        assert!(f.create(new("a b", Role::Read, None), [8; 38], 100).is_err());
        f.save(dir.path()).unwrap();
        let back = TokenFile::load(dir.path()).unwrap();
        assert_eq!(back, f);
        let mut back = back;
        assert_eq!(back.revoke("ci").unwrap().id, rec.id);
        assert!(back.revoke(&rec.id).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(TokenFile::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn damage_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = TokenFile::default();
        f.create(new(DEFAULT_TENANT, Role::Admin, None), [1; 38], 0).unwrap();
        f.save(dir.path()).unwrap();
        let path = TokenFile::path(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = TokenFile::load(dir.path()).unwrap_err();
        assert!(
            matches!(&e, AuthError::Corrupted { reason, .. } if reason.contains("checksum")),
            "{e}"
        );
        std::fs::write(&path, b"foresight-tokens 2 sha256=00\n{}").unwrap();
        assert!(
            matches!(TokenFile::load(dir.path()), Err(AuthError::Corrupted { reason, .. }) if reason.contains("version 2"))
        );
        std::fs::write(&path, b"").unwrap();
        assert!(TokenFile::load(dir.path()).is_err());
    }

    #[test]
    fn limits_round_trip_and_fall_back_to_any_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = TokenFile::default();
        let acme = TenantLimits {
            max_series: Some(10),
            max_samples_per_second: Some(100),
            max_query_range_ms: Some(86_400_000),
            max_labels_per_series: Some(8),
            ..TenantLimits::default()
        };
        f.set_limits("acme", acme).unwrap();
        let any = TenantLimits {
            max_concurrent_queries: Some(2),
            ..TenantLimits::default()
        };
        f.set_limits(ANY_TENANT, any).unwrap();
        assert!(f.set_limits("a b", acme).is_err());
        f.save(dir.path()).unwrap();
        let back = TokenFile::load(dir.path()).unwrap();
        assert_eq!(back, f);
        assert_eq!(TokenFile::limits_of(&back.limits, "acme"), acme);
        assert_eq!(TokenFile::limits_of(&back.limits, "beta"), any);
        f.set_limits(ANY_TENANT, TenantLimits::default()).unwrap();
        assert_eq!(TokenFile::limits_of(&f.limits, "beta"), TenantLimits::default());
        // A file without limits (written before they existed) still reads.
        let old = TokenFile::default().encode();
        assert!(String::from_utf8(old.clone()).unwrap().find("limits").is_none());
        assert!(TokenFile::decode(&old).unwrap().limits.is_empty());
    }

    #[test]
    fn expiry_and_tenants() {
        let mut f = TokenFile::default();
        let t = NewToken {
            expires_in: Some(Duration::from_secs(10)),
            ..new(DEFAULT_TENANT, Role::Read, None)
        };
        let (_, rec) = f.create(t, [2; 38], 1000).unwrap();
        assert!(!rec.expired(1009) && rec.expired(1010));
        let (_, rec) = f.create(new("acme", Role::Write, None), [3; 38], 1000).unwrap();
        assert_eq!(rec.tenant, "acme");
        let e = f.create(new("acme", Role::Admin, None), [4; 38], 1000).unwrap_err();
        assert!(e.to_string().contains("admin tokens are the operator's"), "{e}");
        assert!(valid_tenant("a.b-c_1"));
        assert!(!valid_tenant("") && !valid_tenant(&"x".repeat(65)) && !valid_tenant("a\"b"));
    }
}
