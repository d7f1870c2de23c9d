//! The destinations of forwarding and how to reach each one.
//!
//! They come from the `remote-write-url` flags (with the `remote-write-header` headers, the same
//! for each) and from the `remote_write:` section of the YAML file named by `remote-write-config`,
//! in Prometheus's own form, so a `prometheus.yml` can be given as it is (its other sections are
//! ignored). Per destination: `url` (`http://` or `https://`), `name`, `headers`, `basic_auth`,
//! `authorization` or `bearer_token`(`_file`), `tls_config` (`ca_file`, `insecure_skip_verify`),
//! `write_relabel_configs`, `remote_timeout`, `protobuf_message` (remote write 1.0 or 2.0) and
//! `queue_config.max_samples_per_send`. Options foresight cannot honour (`sigv4`, `oauth2`,
//! `proxy_url`, client certificates, ...) are refused by name rather than ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::relabel::{Rule, RuleSpec};

/// The message a destination is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `prometheus.WriteRequest` (remote write 1.0).
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0), falling back to 1.0 if the receiver
    /// answers 415.
    V2,
}

/// One destination, ready to be sent to.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The name it is known by in logs and `/metrics` (`name`, or the URL).
    pub(crate) name: String,
    pub(crate) url: String,
    /// Request headers, credentials included.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) relabel: Vec<Rule>,
    pub(crate) protocol: Protocol,
    pub(crate) timeout: Duration,
    pub(crate) batch_samples: usize,
    /// PEM file of the certificate authorities to trust instead of the built-in web roots.
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) insecure_skip_verify: bool,
    /// The directory name of its saved positions: a hash of the URL, or of the name when one is
    /// given (two destinations may share a URL with different tenants).
    pub(crate) id: String,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    remote_write: Vec<Spec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    url: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    remote_timeout: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    bearer_token_file: Option<String>,
    #[serde(default)]
    tls_config: Option<TlsSpec>,
    #[serde(default)]
    write_relabel_configs: Vec<RuleSpec>,
    #[serde(default)]
    protobuf_message: Option<String>,
    #[serde(default)]
    queue_config: Option<QueueSpec>,
    // Accepted and not used: foresight sends float samples only (what it stores), its metadata
    // is not forwarded, and its HTTP client neither follows redirects on POST nor speaks HTTP/2.
    #[serde(default, rename = "send_exemplars")]
    _send_exemplars: Option<IgnoredAny>,
    #[serde(default, rename = "send_native_histograms")]
    _send_native_histograms: Option<IgnoredAny>,
    #[serde(default, rename = "metadata_config")]
    _metadata_config: Option<IgnoredAny>,
    #[serde(default, rename = "follow_redirects")]
    _follow_redirects: Option<IgnoredAny>,
    #[serde(default, rename = "enable_http2")]
    _enable_http2: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicAuth {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Authorization {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    credentials: Option<String>,
    #[serde(default)]
    credentials_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default, rename = "server_name")]
    _server_name: Option<IgnoredAny>,
    #[serde(default, rename = "min_version")]
    _min_version: Option<IgnoredAny>,
}

/// Prometheus's queue settings: only the batch size means something to foresight's sender (one
/// per WAL shard, with its own backoff); the others are accepted and not used.
#[derive(Deserialize)]
struct QueueSpec {
    #[serde(default)]
    max_samples_per_send: Option<usize>,
}

/// Largest batch a destination may ask for.
const MAX_BATCH: usize = 100_000;

/// The destinations of `remote_write:` in `text` (the file `path`, for messages).
pub(crate) fn parse_file(path: &Path, text: &str, default_timeout: Duration) -> Result<Vec<Target>, String> {
    let file: File = serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, spec) in file.remote_write.into_iter().enumerate() {
        let what = format!("{}: remote_write[{i}]", path.display());
        out.push(target(spec, base, default_timeout).map_err(|e| format!("{what}: {e}"))?);
    }
    if out.is_empty() {
        return Err(format!("{}: no `remote_write:` destinations", path.display()));
    }
    Ok(out)
}

/// Reads and parses the file `path`.
pub(crate) fn load_file(path: &Path, default_timeout: Duration) -> Result<Vec<Target>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_file(path, &text, default_timeout)
}

/// A destination given by flag: its URL, the shared headers, remote write 1.0.
pub(crate) fn from_flag(url: &str, headers: &[String], timeout: Duration) -> Target {
    Target {
        name: url.to_owned(),
        url: url.to_owned(),
        headers: headers
            .iter()
            .filter_map(|h| {
                h.split_once(':')
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            })
            .collect(),
        relabel: Vec::new(),
        protocol: Protocol::V1,
        timeout,
        batch_samples: super::BATCH_SAMPLES,
        ca_file: None,
        insecure_skip_verify: false,
        id: hash_id(url),
    }
}

/// Checks that no two destinations share a position directory.
pub(crate) fn check_unique(targets: &[Target]) -> Result<(), String> {
    for (i, t) in targets.iter().enumerate() {
        if let Some(o) = targets[..i].iter().find(|o| o.id == t.id) {
            return Err(format!(
                "two remote-write destinations are the same ({} and {}): give each a different `name`",
                o.name, t.name
            ));
        }
    }
    Ok(())
}

/// `http://` or `https://` with something after it; a trailing `/` is dropped.
pub(crate) fn check_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    let rest = v.strip_prefix("http://").or_else(|| v.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() => Ok(v.trim_end_matches('/').to_owned()),
        _ => Err(format!("{v:?} is not an http:// or https:// URL")),
    }
}

fn target(spec: Spec, base: &Path, default_timeout: Duration) -> Result<Target, String> {
    let url = check_url(&spec.url)?;
    let read_secret = |file: &str| -> Result<String, String> {
        let p = base.join(file);
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (n, v) in &spec.headers {
        let lower = n.to_ascii_lowercase();
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || n.is_empty() {
            return Err(format!("{n:?} is not a header name"));
        }
        if ["authorization", "content-type", "content-encoding", "user-agent"].contains(&lower.as_str())
            || lower.starts_with("x-prometheus-remote-write-")
        {
            return Err(format!(
                "header {n:?} is set by foresight (use basic_auth or authorization for credentials)"
            ));
        }
        headers.push((n.clone(), v.clone()));
    }
    let mut auths = 0;
    if let Some(b) = &spec.basic_auth {
        auths += 1;
        let password = match (&b.password, &b.password_file) {
            (Some(p), None) => p.clone(),
            (None, Some(f)) => read_secret(f)?,
            (None, None) => String::new(),
            (Some(_), Some(_)) => return Err("basic_auth: give password or password_file, not both".into()),
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", b.username));
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    if let Some(a) = &spec.authorization {
        auths += 1;
        let creds = match (&a.credentials, &a.credentials_file) {
            (Some(c), None) => c.clone(),
            (None, Some(f)) => read_secret(f)?,
            _ => return Err("authorization: give exactly one of credentials and credentials_file".into()),
        };
        let kind = a.kind.clone().unwrap_or_else(|| "Bearer".into());
        headers.push(("Authorization".into(), format!("{kind} {creds}")));
    }
    match (&spec.bearer_token, &spec.bearer_token_file) {
        (None, None) => {}
        (Some(t), None) => {
            auths += 1;
            headers.push(("Authorization".into(), format!("Bearer {t}")));
        }
        (None, Some(f)) => {
            auths += 1;
            headers.push(("Authorization".into(), format!("Bearer {}", read_secret(f)?)));
        }
        (Some(_), Some(_)) => return Err("give bearer_token or bearer_token_file, not both".into()),
    }
    if auths > 1 {
        return Err("give at most one of basic_auth, authorization and bearer_token".into());
    }
    let relabel = spec
        .write_relabel_configs
        .iter()
        .enumerate()
        .map(|(i, r)| Rule::new(r).map_err(|e| format!("write_relabel_configs[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let protocol = match spec.protobuf_message.as_deref() {
        None | Some("prometheus.WriteRequest") => Protocol::V1,
        Some("io.prometheus.write.v2.Request") => Protocol::V2,
        Some(other) => {
            return Err(format!(
                "protobuf_message {other:?}: expected prometheus.WriteRequest or io.prometheus.write.v2.Request"
            ));
        }
    };
    let timeout = match &spec.remote_timeout {
        None => default_timeout,
        Some(t) => foresight_units::parse_duration(t)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("remote_timeout {t:?}: expected a positive duration like 30s"))?,
    };
    let batch_samples = match spec.queue_config.and_then(|q| q.max_samples_per_send) {
        None => super::BATCH_SAMPLES,
        Some(n) if (1..=MAX_BATCH).contains(&n) => n,
        Some(n) => {
            return Err(format!(
                "queue_config.max_samples_per_send {n}: expected 1 to {MAX_BATCH}"
            ));
        }
    };
    let (ca_file, insecure_skip_verify) = match spec.tls_config {
        None => (None, false),
        Some(t) => {
            let ca = t.ca_file.map(|f| base.join(f));
            if let Some(p) = &ca {
                std::fs::metadata(p).map_err(|e| format!("tls_config.ca_file {}: {e}", p.display()))?;
            }
            (ca, t.insecure_skip_verify)
        }
    };
    if (ca_file.is_some() || insecure_skip_verify) && url.starts_with("http://") {
        return Err("tls_config is given for an http:// URL".into());
    }
    let id = match &spec.name {
        Some(n) if n.trim().is_empty() => return Err("name is empty".into()),
        Some(n) => hash_id(&format!("name:{n}")),
        None => hash_id(&url),
    };
    Ok(Target {
        name: spec.name.unwrap_or_else(|| url.clone()),
        url,
        headers,
        relabel,
        protocol,
        timeout,
        batch_samples,
        ca_file,
        insecure_skip_verify,
        id,
    })
}

/// A stable directory name: FNV-1a 64 of `s`, in hex.
pub(crate) fn hash_id(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn parse(text: &str) -> Result<Vec<Target>, String> {
        parse_file(Path::new("/etc/prometheus.yml"), text, T)
    }

    #[test]
    fn a_prometheus_file_gives_each_destination_its_own_settings() {
        let ts = parse(
            r#"
global:
  scrape_interval: 15s
scrape_configs: []
remote_write:
  - url: http://127.0.0.1:9009/api/v1/push
    name: mimir-edge
    headers: {X-Scope-OrgID: edge}
    basic_auth: {username: u, password: p}
    remote_timeout: 5s
    queue_config: {max_samples_per_send: 2000, capacity: 10000, max_shards: 50}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'node_.*'
        action: keep
  - url: https://vm.example:8428/api/v1/write/
    authorization: {credentials: secret}
    protobuf_message: io.prometheus.write.v2.Request
    send_exemplars: true
    metadata_config: {send: false}
"#,
        )
        .unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[0].name, "mimir-edge");
        assert_eq!(
            ts[0].headers,
            [
                ("X-Scope-OrgID".to_owned(), "edge".to_owned()),
                ("Authorization".to_owned(), "Basic dTpw".to_owned())
            ]
        );
        assert_eq!(
            (ts[0].timeout, ts[0].batch_samples, ts[0].relabel.len()),
            (Duration::from_secs(5), 2000, 1)
        );
        assert_eq!(ts[0].protocol, Protocol::V1);
        assert_eq!(ts[1].url, "https://vm.example:8428/api/v1/write");
        assert_eq!(
            ts[1].headers,
            [("Authorization".to_owned(), "Bearer secret".to_owned())]
        );
        assert_eq!((ts[1].protocol, ts[1].timeout), (Protocol::V2, T));
        assert_ne!(ts[0].id, ts[1].id);
        check_unique(&ts).unwrap();
    }

    #[test]
    fn mistakes_are_refused_with_where_and_why() {
        let err = |t: &str| parse(t).unwrap_err();
        assert!(err("remote_write: []\n").contains("no `remote_write:`"));
        assert!(err("remote_write:\n  - url: ftp://x\n").contains("remote_write[0]: \"ftp://x\" is not an http"));
        let e = err("remote_write:\n  - url: http://x\n    sigv4: {region: eu}\n");
        assert!(e.contains("sigv4"), "{e}");
        let e = err("remote_write:\n  - url: http://x\n    proxy_url: http://p\n");
        assert!(e.contains("proxy_url"), "{e}");
        assert!(err("remote_write:\n  - url: http://x\n    protobuf_message: foo\n").contains("protobuf_message"));
        assert!(
            err("remote_write:\n  - url: http://x\n    bearer_token: a\n    basic_auth: {username: u}\n")
                .contains("at most one")
        );
        assert!(
            err("remote_write:\n  - url: http://x\n    headers: {Authorization: x}\n").contains("set by foresight")
        );
        assert!(
            err("remote_write:\n  - url: http://x\n    write_relabel_configs:\n      - action: hashmod\n")
                .contains("write_relabel_configs[0]: action hashmod")
        );
        assert!(
            err("remote_write:\n  - url: http://x\n    tls_config: {insecure_skip_verify: true}\n")
                .contains("http:// URL")
        );
        assert!(
            err("remote_write:\n  - url: http://x\n    bearer_token_file: /nonexistent/tok\n")
                .contains("/nonexistent/tok")
        );
        assert!(err("remote_write:\n  - url: http://x\n    remote_timeout: 0s\n").contains("remote_timeout"));
        assert!(err("remote_write: [").contains("/etc/prometheus.yml"));
    }

    #[test]
    fn secrets_from_files_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        let path = dir.path().join("rw.yml");
        std::fs::write(
            &path,
            "remote_write:\n  - url: http://a\n    bearer_token_file: tok\n  - url: http://a\n    name: second\n",
        )
        .unwrap();
        let ts = load_file(&path, T).unwrap();
        assert_eq!(
            ts[0].headers,
            [("Authorization".to_owned(), "Bearer s3cret".to_owned())]
        );
        check_unique(&ts).unwrap();
        // The same URL twice without names shares a position directory: refused.
        let flag = from_flag("http://a", &[], T);
        let e = check_unique(&[ts[0].clone(), flag]).unwrap_err();
        assert!(e.contains("give each a different `name`"), "{e}");
    }
}
