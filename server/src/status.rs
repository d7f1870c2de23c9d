//! The status endpoints the web UI, Grafana and Prometheus' own UI read, in Prometheus' shapes:
//! `/api/v1/status/flags` (every setting of `foresight serve` as text: the value given, or the
//! default), `/api/v1/status/runtimeinfo` and `/api/v1/status/tsdb` (head statistics and the
//! top-`limit` cardinality lists, plus foresight's `storage`: blocks, bytes per sample, WAL).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::State;
use foresight_engine::{Labels, MatchOp, matcher};
use serde::Serialize;

use crate::alerting::{Alerting, rfc3339};
use crate::config::SETTINGS;
use crate::error::{JsonBody, PromError};
use crate::forecast::Success;
use crate::query::{Params, evaluate};
use crate::state::AppState;
use crate::tenant::Tenant;

/// Settings whose value is a secret: `/api/v1/status/flags` shows `<redacted>` (headers too:
/// `remote-write-header` often carries an `Authorization`).
fn is_secret(key: &str) -> bool {
    ["token", "secret", "password", "header"]
        .iter()
        .any(|w| key.contains(w))
}

/// `GET /api/v1/status/flags`: `{"listen": "127.0.0.1:8086", ...}`.
pub(crate) async fn flags(State(st): State<Arc<AppState>>) -> Result<JsonBody, PromError> {
    let flags: BTreeMap<&str, String> = SETTINGS
        .iter()
        .map(|s| {
            let value = match st.config.given(s.key) {
                Some(_) if is_secret(s.key) => "<redacted>".to_owned(),
                Some(v) => v.to_owned(),
                None => s.default_text().to_owned(),
            };
            (s.key, value)
        })
        .collect();
    Success::body(flags, Vec::new()).map(JsonBody)
}

/// `storageRetention`: the raw retention as given, then the rollup tier and the rules, e.g.
/// `30d (rollups 2y; 1 retention rule)`.
fn retention_text(c: &crate::config::Config) -> String {
    let given = |k: &str| c.given(k).map(str::trim).filter(|r| !r.is_empty() && *r != "0");
    let mut out = given("retention").map_or_else(|| "keep all".to_owned(), str::to_owned);
    let mut more = Vec::new();
    if let Some(r) = given("rollup-retention") {
        more.push(format!("rollups {r}"));
    }
    match c.retention_rules.len() {
        0 => {}
        1 => more.push("1 retention rule".to_owned()),
        n => more.push(format!("{n} retention rules")),
    }
    if !more.is_empty() {
        out = format!("{out} ({})", more.join("; "));
    }
    out
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeInfo {
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    reload_config_success: bool,
    last_config_time: String,
    /// Blocks quarantined at open (Prometheus: corrupted blocks found).
    corruption_count: usize,
    storage_retention: String,
}

/// `GET /api/v1/status/runtimeinfo`, with the fields foresight has.
pub(crate) async fn runtimeinfo(
    State((st, alerting)): State<(Arc<AppState>, Arc<Alerting>)>,
) -> Result<JsonBody, PromError> {
    let (reload_ok, reload_ms) = alerting.last_reload();
    let started_ms = st
        .metrics
        .started()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let info = RuntimeInfo {
        start_time: rfc3339::nano(started_ms),
        cwd: std::env::current_dir().map_or_else(|_| String::new(), |d| d.display().to_string()),
        reload_config_success: reload_ok,
        last_config_time: rfc3339::nano(reload_ms),
        corruption_count: st.db().map_or(0, |db| db.open_report().quarantined.len()),
        storage_retention: retention_text(&st.config),
    };
    Success::body(info, Vec::new()).map(JsonBody)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: usize,
    chunk_count: u64,
    min_time: Option<i64>,
    max_time: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Stat {
    name: String,
    value: u64,
}

/// What Prometheus does not have: the engine's blocks and WAL.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Storage {
    blocks: u64,
    block_bytes: u64,
    block_samples: u64,
    /// Block bytes per block sample (`null` without blocks).
    bytes_per_sample: Option<f64>,
    head_series: u64,
    head_bytes: u64,
    wal_bytes: u64,
    samples_ingested: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Tsdb {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat>,
    label_value_count_by_label_name: Vec<Stat>,
    memory_in_bytes_by_label_name: Vec<Stat>,
    series_count_by_label_value_pair: Vec<Stat>,
    /// The whole database's figures: for the default tenant only (they count every tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<Storage>,
}

/// The `limit` largest of `counts`, largest first (ties by name).
fn top(counts: HashMap<String, u64>, limit: usize) -> Vec<Stat> {
    let mut v: Vec<Stat> = counts.into_iter().map(|(name, value)| Stat { name, value }).collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    v.truncate(limit);
    v
}

/// Cardinality lists over every series (head and blocks).
fn cardinality(series: &[Labels], limit: usize) -> (usize, [Vec<Stat>; 4]) {
    let mut by_name: HashMap<String, u64> = HashMap::new();
    let mut values: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
    let mut memory: HashMap<String, u64> = HashMap::new();
    let mut pairs: HashMap<String, u64> = HashMap::new();
    for labels in series {
        if let Some(name) = labels.metric_name() {
            *by_name.entry(name.to_owned()).or_default() += 1;
        }
        for l in labels {
            values.entry(l.name).or_default().insert(l.value);
            *memory.entry(l.name.to_owned()).or_default() += (l.name.len() + l.value.len()) as u64;
            *pairs.entry(format!("{}={}", l.name, l.value)).or_default() += 1;
        }
    }
    let label_pairs = pairs.len();
    let value_counts = values.iter().map(|(k, v)| ((*k).to_owned(), v.len() as u64)).collect();
    (
        label_pairs,
        [
            top(by_name, limit),
            top(value_counts, limit),
            top(memory, limit),
            top(pairs, limit),
        ],
    )
}

/// The span `/api/v1/status/tsdb` counts series over, back from the newest sample: Prometheus'
/// head holds up to 3 h.
const TSDB_STATUS_WINDOW_MS: i64 = 3 * 3_600_000;

/// `GET /api/v1/status/tsdb?limit=10`.
pub(crate) async fn tsdb(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<JsonBody, PromError> {
    let limit = match p.non_empty("limit") {
        None => 10,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(PromError::bad_param(
                    "limit",
                    format!("{s:?} is not a whole number in 1..=10000"),
                ));
            }
        },
    };
    let timeout = st.config.limits.query_timeout;
    // Storage figures count every tenant's data: the default tenant's (the operator's) only.
    let whole = if tenant.is_default() {
        Some(st.db_for_admin()?)
    } else {
        None
    };
    // The window ends at the newest sample of the whole database (its time, not its data).
    let newest = st.db_for_admin()?.stats().max_time;
    evaluate(&st, &tenant, timeout, move |db, _| {
        let all = matcher(MatchOp::RegexMatch, "__name__", ".+").map_err(|e| PromError::internal(e.to_string()))?;
        // As Prometheus' head statistics: the series with samples in the last hours (the head's
        // span), not every series ever stored (which a long history makes slow and large).
        let series = match newest {
            Some(max) => db.series(&[all], max.saturating_sub(TSDB_STATUS_WINDOW_MS), i64::MAX)?,
            None => Vec::new(),
        };
        let (label_pairs, [by_name, values, memory, pairs]) = cardinality(&series, limit);
        let (storage, min_time, max_time) = match whole {
            None => (None, None, None),
            Some(whole) => {
                let stats = whole.stats();
                let blocks = whole.blocks();
                let block_samples: u64 = blocks.iter().map(|b| b.samples).sum();
                let min_time = blocks.iter().map(|b| b.mint).min();
                let storage = Storage {
                    blocks: stats.blocks,
                    block_bytes: stats.block_bytes,
                    block_samples,
                    bytes_per_sample: (block_samples > 0).then(|| stats.block_bytes as f64 / block_samples as f64),
                    head_series: stats.head_series,
                    head_bytes: stats.head_bytes,
                    wal_bytes: stats.wal_bytes,
                    samples_ingested: stats.samples_ingested,
                };
                (Some(storage), min_time.or(stats.max_time), stats.max_time)
            }
        };
        let tsdb = Tsdb {
            head_stats: HeadStats {
                num_series: series.len() as u64,
                num_label_pairs: label_pairs,
                chunk_count: 0,
                min_time,
                max_time,
            },
            series_count_by_metric_name: by_name,
            label_value_count_by_label_name: values,
            memory_in_bytes_by_label_name: memory,
            series_count_by_label_value_pair: pairs,
            storage,
        };
        Success::body(tsdb, Vec::new())
    })
    .await
    .map(JsonBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinality_counts_series_values_and_pairs() {
        let s = vec![
            Labels::new([("__name__", "up"), ("job", "a")]),
            Labels::new([("__name__", "up"), ("job", "b")]),
            Labels::new([("__name__", "cpu"), ("job", "a")]),
        ];
        let (pairs, [by_name, values, _, by_pair]) = cardinality(&s, 10);
        assert_eq!(pairs, 4);
        assert_eq!((by_name[0].name.as_str(), by_name[0].value), ("up", 2));
        assert_eq!((by_name[1].name.as_str(), by_name[1].value), ("cpu", 1));
        assert_eq!(values.iter().find(|s| s.name == "job").map(|s| s.value), Some(2));
        // Ties are ordered by name.
        assert_eq!((by_pair[0].name.as_str(), by_pair[0].value), ("__name__=up", 2));
        assert_eq!((by_pair[1].name.as_str(), by_pair[1].value), ("job=a", 2));
        assert_eq!(cardinality(&s, 1).1[0].len(), 1);
    }

    #[test]
    fn secrets_are_not_shown() {
        assert!(is_secret("auth-token-file"));
        assert!(is_secret("remote-write-header"));
        assert!(!is_secret("listen"));
    }
}
