//! foresight's own metrics: request counters and latency histograms kept here, database
//! counters from `Db::stats`, rendered in the Prometheus text format for `/metrics` and turned
//! into samples for `--self-monitor`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foresight_engine::{Db, LATENCY_BUCKETS, LatencySnapshot, OpenReport};
use foresight_units::{Process, process_cpu_seconds, process_memory};
use parking_lot::Mutex;

use crate::json::push_float;

#[derive(Debug, Default, Clone)]
struct HandlerStats {
    latency: LatencySnapshot,
    codes: BTreeMap<u16, u64>,
}

/// Why a write was turned away before reaching the database.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteRefusal {
    TooLarge,
    Backpressure,
    NotReady,
}

/// The counters the server keeps itself.
#[derive(Debug)]
pub(crate) struct Metrics {
    handlers: Mutex<BTreeMap<String, HandlerStats>>,
    /// Decompressed write-body bytes handed to the database.
    write_bytes: AtomicU64,
    write_lines_rejected: AtomicU64,
    refused_too_large: AtomicU64,
    refused_backpressure: AtomicU64,
    refused_not_ready: AtomicU64,
    pub(crate) streams_open: AtomicI64,
    pub(crate) queries_waiting: AtomicI64,
    started: SystemTime,
}

impl Metrics {
    /// When the server started.
    pub(crate) fn started(&self) -> SystemTime {
        self.started
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            handlers: Mutex::new(BTreeMap::new()),
            write_bytes: AtomicU64::new(0),
            write_lines_rejected: AtomicU64::new(0),
            refused_too_large: AtomicU64::new(0),
            refused_backpressure: AtomicU64::new(0),
            refused_not_ready: AtomicU64::new(0),
            streams_open: AtomicI64::new(0),
            queries_waiting: AtomicI64::new(0),
            started: SystemTime::now(),
        }
    }
}

/// One sample of a family: name suffix (`_bucket`, `_sum`, ... or empty), labels, value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) suffix: &'static str,
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: f64,
}

/// A metric family as the text format groups it.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) samples: Vec<Sample>,
}

impl Family {
    pub(crate) fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    pub(crate) fn one(name: &'static str, kind: &'static str, help: &'static str, value: f64) -> Self {
        let mut f = Family::new(name, kind, help);
        f.push("", Vec::new(), value);
        f
    }

    pub(crate) fn push(&mut self, suffix: &'static str, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample { suffix, labels, value });
    }

    /// The `_bucket` (cumulative, with `le`), `_sum` and `_count` samples of one histogram.
    fn push_histogram(&mut self, labels: Vec<(&'static str, String)>, h: &LatencySnapshot) {
        let mut cumulative = 0u64;
        for (i, n) in h.counts.iter().enumerate() {
            cumulative += n;
            let mut le = String::new();
            match LATENCY_BUCKETS.get(i) {
                Some(b) => push_float(&mut le, *b),
                None => le.push_str("+Inf"),
            }
            let mut with_le = labels.clone();
            with_le.push(("le", le));
            self.push("_bucket", with_le, cumulative as f64);
        }
        self.push("_sum", labels.clone(), h.sum_secs);
        self.push("_count", labels, cumulative as f64);
    }
}

/// A part of the server with metrics of its own (rule evaluation, notifications), added to
/// `/metrics` and self-monitoring through `AppState::add_metric_source`.
pub(crate) trait MetricSource: Send + Sync + std::fmt::Debug {
    /// Its families, read at each scrape.
    fn families(&self) -> Vec<Family>;
}

impl Metrics {
    /// Records one answered request of `handler` (the route pattern).
    pub(crate) fn observe_request(&self, handler: &str, status: u16, elapsed: Duration) {
        let mut h = self.handlers.lock();
        let s = match h.get_mut(handler) {
            Some(s) => s,
            None => h.entry(handler.to_owned()).or_default(),
        };
        s.latency.observe(elapsed.as_secs_f64());
        *s.codes.entry(status).or_insert(0) += 1;
    }

    pub(crate) fn observe_write(&self, bytes: u64, rejected_lines: u64) {
        self.write_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.write_lines_rejected.fetch_add(rejected_lines, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, why: WriteRefusal) {
        let c = match why {
            WriteRefusal::TooLarge => &self.refused_too_large,
            WriteRefusal::Backpressure => &self.refused_backpressure,
            WriteRefusal::NotReady => &self.refused_not_ready,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Every family, from the server's counters, the write bytes in flight (read from the
    /// write path's budget) and (when open) the database's.
    pub(crate) fn collect(&self, db: Option<&Db>, inflight_write_bytes: u64) -> Vec<Family> {
        let mut out = Vec::new();
        let mut build = Family::new("foresight_build_info", "gauge", "Always 1; the version is a label.");
        build.push("", vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1.0);
        out.push(build);
        out.push(Family::one(
            "foresight_ready",
            "gauge",
            "1 once the database is open (WAL replayed) and serving.",
            if db.is_some() { 1.0 } else { 0.0 },
        ));
        if let Some(db) = db {
            let s = db.stats();
            let r: &OpenReport = db.open_report();
            let items: [(&'static str, &'static str, &'static str, f64); 11] = [
                (
                    "foresight_samples_ingested_total",
                    "counter",
                    "Samples accepted by the database since it opened.",
                    s.samples_ingested as f64,
                ),
                (
                    "foresight_lines_rejected_total",
                    "counter",
                    "Line-protocol lines rejected (parse errors, out-of-window timestamps) since the database opened.",
                    s.lines_rejected as f64,
                ),
                (
                    "foresight_head_series",
                    "gauge",
                    "Series in the in-memory head (active series).",
                    s.head_series as f64,
                ),
                (
                    "foresight_head_bytes",
                    "gauge",
                    "Approximate heap bytes of the in-memory head.",
                    s.head_bytes as f64,
                ),
                ("foresight_blocks", "gauge", "Blocks on disk.", s.blocks as f64),
                (
                    "foresight_block_bytes",
                    "gauge",
                    "Bytes of block files on disk.",
                    s.block_bytes as f64,
                ),
                (
                    "foresight_wal_bytes",
                    "gauge",
                    "Bytes of WAL segments on disk.",
                    s.wal_bytes as f64,
                ),
                (
                    "foresight_newest_sample_timestamp_seconds",
                    "gauge",
                    "Timestamp of the newest sample stored (0 when empty).",
                    s.max_time.map_or(0.0, |t| t as f64 / 1000.0),
                ),
                (
                    "foresight_wal_replayed_samples",
                    "gauge",
                    "Samples replayed from the WAL when the database opened.",
                    r.wal_samples_replayed as f64,
                ),
                (
                    "foresight_wal_damage_repaired",
                    "gauge",
                    "Torn or corrupted WAL tails truncated when the database opened.",
                    r.wal_damage.len() as f64,
                ),
                (
                    "foresight_blocks_quarantined",
                    "gauge",
                    "Blocks that failed verification when the database opened.",
                    r.quarantined.len() as f64,
                ),
            ];
            out.extend(items.into_iter().map(|(n, k, h, v)| Family::one(n, k, h, v)));
            let mut fsync = Family::new(
                "foresight_wal_fsync_duration_seconds",
                "histogram",
                "Time of each WAL fsync (one serves every write batch that waited for it).",
            );
            fsync.push_histogram(Vec::new(), &s.wal_fsync);
            out.push(fsync);
        }
        out.push(Family::one(
            "foresight_write_bytes_total",
            "counter",
            "Decompressed write-body bytes handed to the database.",
            self.write_bytes.load(Ordering::Relaxed) as f64,
        ));
        out.push(Family::one(
            "foresight_write_lines_rejected_total",
            "counter",
            "Lines rejected in HTTP write requests.",
            self.write_lines_rejected.load(Ordering::Relaxed) as f64,
        ));
        let mut refused = Family::new(
            "foresight_write_requests_refused_total",
            "counter",
            "Write requests turned away before reaching the database, by reason.",
        );
        for (reason, c) in [
            ("too_large", &self.refused_too_large),
            ("backpressure", &self.refused_backpressure),
            ("not_ready", &self.refused_not_ready),
        ] {
            refused.push(
                "",
                vec![("reason", reason.to_owned())],
                c.load(Ordering::Relaxed) as f64,
            );
        }
        out.push(refused);
        out.push(Family::one(
            "foresight_inflight_write_bytes",
            "gauge",
            "Write-body bytes held in memory now (compressed and decompressed).",
            inflight_write_bytes as f64,
        ));
        out.push(Family::one(
            "foresight_streams_open",
            "gauge",
            "Open /api/v1/stream connections.",
            self.streams_open.load(Ordering::Relaxed) as f64,
        ));
        out.push(Family::one(
            "foresight_queries_waiting",
            "gauge",
            "Queries waiting for an evaluation slot.",
            self.queries_waiting.load(Ordering::Relaxed) as f64,
        ));

        let handlers = self.handlers.lock().clone();
        let mut requests = Family::new(
            "foresight_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status code.",
        );
        let mut latency = Family::new(
            "foresight_http_request_duration_seconds",
            "histogram",
            "Time from receiving a request to sending its response head, by route (writes include the WAL fsync).",
        );
        for (handler, s) in &handlers {
            for (code, n) in &s.codes {
                requests.push(
                    "",
                    vec![("code", code.to_string()), ("handler", handler.clone())],
                    *n as f64,
                );
            }
            latency.push_histogram(vec![("handler", handler.clone())], &s.latency);
        }
        out.push(requests);
        out.push(latency);

        if let Some(cpu) = process_cpu_seconds(Process::Current) {
            out.push(Family::one(
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                cpu,
            ));
        }
        let mem = process_memory(Process::Current).unwrap_or_default();
        out.push(Family::one(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            mem.rss_bytes as f64,
        ));
        out.push(Family::one(
            "foresight_process_peak_resident_memory_bytes",
            "gauge",
            "Peak resident memory size in bytes (VmHWM).",
            mem.peak_rss_bytes as f64,
        ));
        out.push(Family::one(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            self.started.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        ));
        out
    }
}

/// The Prometheus text exposition format (version 0.0.4).
pub(crate) fn render(families: &[Family]) -> String {
    let mut out = String::with_capacity(8192);
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for s in &f.samples {
            out.push_str(f.name);
            out.push_str(s.suffix);
            foresight_engine::openmetrics::write_labels(&s.labels, &mut out);
            out.push(' ');
            push_float(&mut out, s.value);
            out.push('\n');
        }
    }
    out
}

/// The families as line protocol at `now_ms`, so the database can store its own metrics: a
/// metric `a_b_c{l="v"}` becomes measurement `a_b`, field `c`, which the engine names `a_b_c`
/// again. `extra` labels (e.g. `job`, `instance`) are added to every sample.
pub(crate) fn to_line_protocol(families: &[Family], extra: &[(&str, &str)], now_ms: i64) -> String {
    let mut out = String::with_capacity(8192);
    for f in families {
        for s in &f.samples {
            if !s.value.is_finite() {
                continue;
            }
            let full = format!("{}{}", f.name, s.suffix);
            let Some((measurement, field)) = full.rsplit_once('_') else {
                continue;
            };
            if measurement.is_empty() || field.is_empty() {
                continue;
            }
            push_lp_escaped(&mut out, measurement, &[',', ' ']);
            let tags = extra
                .iter()
                .map(|(k, v)| (*k, *v))
                .chain(s.labels.iter().map(|(k, v)| (*k, v.as_str())));
            for (k, v) in tags {
                if v.is_empty() {
                    continue;
                }
                out.push(',');
                push_lp_escaped(&mut out, k, &[',', '=', ' ']);
                out.push('=');
                push_lp_escaped(&mut out, v, &[',', '=', ' ']);
            }
            out.push(' ');
            push_lp_escaped(&mut out, field, &[',', '=', ' ']);
            out.push('=');
            let _ = write!(out, "{}", s.value);
            let _ = writeln!(out, " {now_ms}");
        }
    }
    out
}

fn push_lp_escaped(out: &mut String, s: &str, special: &[char]) {
    for c in s.chars() {
        if special.contains(&c) || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_and_line_protocol() {
        let m = Metrics::default();
        m.observe_request("/api/v1/query", 200, Duration::from_millis(3));
        m.observe_request("/api/v1/query", 400, Duration::from_secs(100));
        let fams = m.collect(None, 0);
        let text = render(&fams);
        assert!(text.contains("# TYPE foresight_http_request_duration_seconds histogram\n"));
        assert!(
            text.contains("foresight_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.005\"} 1\n")
        );
        assert!(
            text.contains("foresight_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"+Inf\"} 2\n")
        );
        assert!(text.contains("foresight_http_requests_total{code=\"400\",handler=\"/api/v1/query\"} 1\n"));
        assert!(text.contains("foresight_ready 0\n"));

        let lp = to_line_protocol(&fams, &[("job", "foresight")], 1_700_000_000_000);
        assert!(lp.contains(
            "foresight_http_request_duration_seconds,job=foresight,handler=/api/v1/query,le=+Inf bucket=2 1700000000000\n"
        ));
        let db = tempfile::tempdir().unwrap();
        let db = Db::open(db.path(), foresight_engine::Options::default()).unwrap();
        let r = db
            .write_lines(lp.as_bytes(), foresight_engine::lineproto::Precision::Milliseconds)
            .unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        let names = db.label_values("__name__", &[], i64::MIN, i64::MAX).unwrap();
        assert!(names.contains(&"foresight_http_request_duration_seconds_bucket".to_owned()));
        assert!(names.contains(&"foresight_ready".to_owned()));
    }
}
