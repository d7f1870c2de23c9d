//! Forwarding to a remote-write receiver (Grafana Mimir, Thanos Receive, a VictoriaMetrics cluster,
//! Prometheus): what foresight stores is also sent on, durably, so the long-term store can move to
//! a cluster while forecasts, anomalies and alerts stay at the edge.
//!
//! Destinations ([`target`]) come from `remote-write-url` flags and from a Prometheus-style
//! `remote_write:` file (`remote-write-config`): per destination its headers and credentials, TLS
//! trust, `write_relabel_configs` ([`relabel`]: what is sent and with which labels), remote write
//! 1.0 or 2.0, timeout and batch size.
//!
//! Durability comes from the WAL, as in Prometheus's own remote write: no second queue is kept.
//! For each destination, one thread per WAL shard follows the shard's WAL with the engine's
//! [`WalTail`] from a saved position (`<data>/forward/<id>/shard-NNN.pos`, `<id>` a hash of the
//! URL, or of the name when one is given), sends what it reads (relabeled) as remote write 1.0 or
//! 2.0 (snappy protobuf) in batches of at most [`BATCH_SAMPLES`] samples by default, and saves the position after each answered batch (fsynced at most
//! once a second). WAL segments
//! whose data is already in blocks are kept (the engine's `wal_keep_released`) until every
//! destination is past them. So whatever was acknowledged to a writer reaches the receiver,
//! across receiver outages and foresight restarts; after a crash a batch may be sent twice,
//! which receivers take as the same samples again.
//!
//! Answers: 2xx moves on; 429, 5xx and connection errors are retried with exponential backoff
//! (honouring `Retry-After`) for as long as it takes; other 4xx answers mean the receiver will
//! never take the batch (too old, bad labels): it is counted as rejected, logged, and skipped, as
//! Prometheus does. When a destination stays down until its backlog passes
//! `remote-write-max-backlog`, the oldest segments are given up (counted in
//! `foresight_remote_write_dropped_bytes_total`) so the disk does not fill.
//!
//! A destination added to a server with data starts at the end of the WAL (history is not
//! replayed to it); a destination removed leaves its directory, which a later start ignores.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foresight_engine::wal_tail::{self, WalPosition, WalTail};
use foresight_engine::{Labels, Series, TENANT_LABEL};
use foresight_remote::{labels_to_proto, proto, snappy};
use parking_lot::Mutex;
use prost::Message;

use crate::metrics::{Family, MetricSource};

mod relabel;
pub(crate) mod target;

use target::{Protocol, Target};

/// Most samples in one request (Prometheus sends 2,000 by default, vmagent 10,000).
pub(crate) const BATCH_SAMPLES: usize = 5_000;
/// Wait between reads when the WAL has nothing new.
const IDLE: Duration = Duration::from_millis(100);
/// First and longest wait between retries of a failed request.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where and how to forward (defaults in the settings table).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForwardSettings {
    /// Remote-write endpoints (`remote-write-url`, repeatable).
    pub urls: Vec<String>,
    /// Extra request headers, `Name: value` (`remote-write-header`, repeatable), e.g. the tenant
    /// header `X-Scope-OrgID` of Mimir and Cortex or an `Authorization`.
    pub headers: Vec<String>,
    /// WAL bytes per destination kept for a receiver that is down (`remote-write-max-backlog`).
    pub max_backlog: u64,
    /// Timeout of one request (`remote-write-timeout`), unless a destination sets its own.
    pub timeout: Duration,
    /// A YAML file with Prometheus's `remote_write:` section (`remote-write-config`).
    pub config_file: Option<PathBuf>,
}

impl ForwardSettings {
    /// Whether any destination is configured (the engine then keeps released WAL segments).
    pub(crate) fn enabled(&self) -> bool {
        !self.urls.is_empty() || self.config_file.is_some()
    }

    /// Every destination: the file's, then the flags'. The error names the file and the entry.
    pub(crate) fn targets(&self) -> Result<Vec<Target>, String> {
        let mut out = match &self.config_file {
            Some(f) => target::load_file(f, self.timeout)?,
            None => Vec::new(),
        };
        out.extend(
            self.urls
                .iter()
                .map(|u| target::from_flag(u, &self.headers, self.timeout)),
        );
        target::check_unique(&out)?;
        Ok(out)
    }
}

/// Counters of one destination.
#[derive(Debug, Default)]
struct Counters {
    samples_sent: AtomicU64,
    requests_sent: AtomicU64,
    request_failures: AtomicU64,
    samples_rejected: AtomicU64,
    dropped_bytes: AtomicU64,
    skipped_segments: AtomicU64,
    /// Samples `write_relabel_configs` chose not to send.
    samples_filtered: AtomicU64,
    /// Newest timestamp sent (ms), for the lag gauge.
    newest_sent_ms: AtomicU64,
}

#[derive(Debug)]
struct Destination {
    target: Target,
    dir: PathBuf,
    counters: Counters,
    /// Remote write 2.0 refused with 415: 1.0 is sent from then on.
    fell_back_to_v1: AtomicBool,
}

/// The forwarding threads of every destination; stops them on drop or [`Forwarder::stop`].
#[derive(Debug)]
pub(crate) struct Forwarder {
    dests: Vec<Arc<Destination>>,
    /// Per destination, per shard: where its reader is (for deleting kept segments and the backlog).
    positions: Arc<Mutex<Vec<Vec<WalPosition>>>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    data_dir: PathBuf,
}

impl Forwarder {
    /// Opens every destination's readers (at their saved positions, or at the end of the WAL for
    /// a new destination, saved at once so that nothing written from now on is missed) and starts
    /// their threads. Call after the database is open and before writes are accepted.
    pub(crate) fn start(settings: &ForwardSettings, data_dir: &Path) -> std::io::Result<Forwarder> {
        let targets = settings.targets().map_err(std::io::Error::other)?;
        let shards = wal_tail::shard_count(data_dir).map_err(std::io::Error::other)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut dests = Vec::new();
        let mut readers = Vec::new();
        let mut positions = Vec::new();
        let mut agents = Vec::new();
        for t in targets {
            agents.push(agent(&t)?);
            let dir = data_dir.join("forward").join(&t.id);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("url"), format!("{}\n{}\n", t.url, t.name))?;
            let mut per_shard = Vec::new();
            let mut segs = Vec::new();
            for shard in 0..shards {
                let pos_path = position_path(&dir, shard);
                let tail = match read_position(&pos_path)? {
                    Some(pos) => WalTail::open(data_dir, shard, pos),
                    None => WalTail::at_end(data_dir, shard),
                }
                .map_err(std::io::Error::other)?;
                save_position(&pos_path, tail.position(), true)?;
                segs.push(tail.position());
                per_shard.push(tail);
            }
            positions.push(segs);
            readers.push(per_shard);
            dests.push(Arc::new(Destination {
                target: t,
                dir,
                counters: Counters::default(),
                fell_back_to_v1: AtomicBool::new(false),
            }));
        }
        let f = Forwarder {
            dests,
            positions: Arc::new(Mutex::new(positions)),
            stop,
            threads: Mutex::new(Vec::new()),
            data_dir: data_dir.to_path_buf(),
        };
        let per_shard_backlog = settings.max_backlog / shards.max(1) as u64;
        for (d, per_shard) in readers.into_iter().enumerate() {
            for (shard, tail) in per_shard.into_iter().enumerate() {
                let w = Worker {
                    dest: f.dests[d].clone(),
                    dest_index: d,
                    shard,
                    tail,
                    agent: agents[d].clone(),
                    positions: f.positions.clone(),
                    stop: f.stop.clone(),
                    data_dir: f.data_dir.clone(),
                    max_backlog: per_shard_backlog,
                };
                let h = std::thread::Builder::new()
                    .name(format!("foresight-forward-{d}-{shard}"))
                    .spawn(move || w.run())?;
                f.threads.lock().push(h);
            }
        }
        tracing::info!(destinations = f.dests.len(), shards, "forwarding to remote write");
        Ok(f)
    }

    /// Stops the threads (a request in flight finishes or times out first).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop();
    }
}

impl MetricSource for Forwarder {
    fn families(&self) -> Vec<Family> {
        let mut fams = [
            (
                "foresight_remote_write_samples_sent_total",
                "counter",
                "Samples a receiver accepted",
            ),
            (
                "foresight_remote_write_requests_total",
                "counter",
                "Requests a receiver answered",
            ),
            (
                "foresight_remote_write_request_failures_total",
                "counter",
                "Requests that failed and are retried (429, 5xx, connection errors)",
            ),
            (
                "foresight_remote_write_samples_rejected_total",
                "counter",
                "Samples a receiver refused for good (4xx): not retried",
            ),
            (
                "foresight_remote_write_dropped_bytes_total",
                "counter",
                "WAL bytes given up because the backlog passed remote-write-max-backlog",
            ),
            (
                "foresight_remote_write_skipped_segments_total",
                "counter",
                "WAL segments found missing by a reader",
            ),
            (
                "foresight_remote_write_samples_filtered_total",
                "counter",
                "Samples write_relabel_configs chose not to send",
            ),
            (
                "foresight_remote_write_highest_sent_timestamp_seconds",
                "gauge",
                "Newest sample timestamp a receiver accepted",
            ),
            (
                "foresight_remote_write_backlog_bytes",
                "gauge",
                "WAL bytes from each destination's readers to the end",
            ),
        ]
        .map(|(n, k, h)| Family::new(n, k, h));
        let positions = self.positions.lock().clone();
        for (i, d) in self.dests.iter().enumerate() {
            let c = &d.counters;
            let l = || vec![("remote_name", d.target.name.clone()), ("url", d.target.url.clone())];
            let values = [
                c.samples_sent.load(Ordering::Relaxed) as f64,
                c.requests_sent.load(Ordering::Relaxed) as f64,
                c.request_failures.load(Ordering::Relaxed) as f64,
                c.samples_rejected.load(Ordering::Relaxed) as f64,
                c.dropped_bytes.load(Ordering::Relaxed) as f64,
                c.skipped_segments.load(Ordering::Relaxed) as f64,
                c.samples_filtered.load(Ordering::Relaxed) as f64,
                c.newest_sent_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            ];
            for (f, v) in fams.iter_mut().zip(values) {
                f.push("", l(), v);
            }
            // From each reader's position to the end of its shard's WAL.
            let backlog: u64 = positions.get(i).map_or(0, |pos| {
                pos.iter()
                    .enumerate()
                    .map(|(shard, p)| {
                        let sizes = wal_tail::segment_sizes(&self.data_dir, shard).unwrap_or_default();
                        let ahead: u64 = sizes.iter().filter(|&&(s, _)| s >= p.segment).map(|&(_, b)| b).sum();
                        ahead.saturating_sub(p.offset)
                    })
                    .sum()
            });
            fams[8].push("", l(), backlog as f64);
        }
        fams.into()
    }
}

fn position_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard:03}.pos"))
}

/// The saved position; `None` when there is none. A file that does not parse is an error (a
/// position must not be guessed: it would resend or skip data).
fn read_position(path: &Path) -> std::io::Result<Option<WalPosition>> {
    match std::fs::read_to_string(path) {
        Ok(s) => s.parse().map(Some).map_err(|e: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: {e} (delete the file to restart forwarding at the end of the WAL)",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the position file (write to a temporary file, then rename); with `durable`, the file
/// is fsynced before the rename. Senders make it durable at most once a second: after a crash, at
/// most that much is sent again (never less than what was acknowledged is kept: the WAL is).
fn save_position(path: &Path, pos: WalPosition, durable: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("pos.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, format!("{pos}\n").as_bytes())?;
        if durable {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)
}

/// Least time between two fsyncs of a sender's position.
const POSITION_SYNC: Duration = Duration::from_secs(1);

/// One destination's reader of one shard.
struct Worker {
    dest: Arc<Destination>,
    dest_index: usize,
    shard: usize,
    tail: WalTail,
    agent: ureq::Agent,
    positions: Arc<Mutex<Vec<Vec<WalPosition>>>>,
    stop: Arc<AtomicBool>,
    data_dir: PathBuf,
    max_backlog: u64,
}

/// How a send ended.
enum Sent {
    Accepted,
    /// Refused for good (4xx other than 429): skip the batch.
    Rejected,
    /// Stopping: the batch stays unsent and the position unsaved.
    Stopped,
}

impl Worker {
    fn run(mut self) {
        let mut batch: Vec<Series> = Vec::new();
        let pos_path = position_path(&self.dest.dir, self.shard);
        let mut skipped_seen = 0;
        let mut synced = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            batch.clear();
            let n = match self.tail.read(self.dest.target.batch_samples, &mut batch) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(remote = %self.dest.target.name, shard = self.shard, error = %e, "cannot read the WAL");
                    self.sleep(BACKOFF_MAX);
                    continue;
                }
            };
            let skipped = self.tail.skipped_segments();
            if skipped > skipped_seen {
                self.dest
                    .counters
                    .skipped_segments
                    .fetch_add(skipped - skipped_seen, Ordering::Relaxed);
                skipped_seen = skipped;
            }
            if n == 0 {
                self.sleep(IDLE);
                continue;
            }
            let out = self.relabel(&batch);
            let kept: usize = out.iter().map(|(_, s)| s.len()).sum();
            self.dest
                .counters
                .samples_filtered
                .fetch_add((n - kept.min(n)) as u64, Ordering::Relaxed);
            // Each tenant's series go in their own requests, under its name in `X-Scope-OrgID`
            // (the tenant header of Mimir, Cortex, Thanos Receive and foresight); the WAL is read
            // whole records at a time: cut what is sent to the batch size.
            for (tenant, series) in by_tenant(out) {
                for part in split(series, self.dest.target.batch_samples) {
                    let samples = part.iter().map(|(_, s)| s.len()).sum();
                    match self.send(&part, samples, tenant.as_deref()) {
                        Sent::Stopped => return,
                        Sent::Accepted | Sent::Rejected => {}
                    }
                }
            }
            let pos = self.tail.position();
            let durable = synced.elapsed() >= POSITION_SYNC;
            if durable {
                synced = Instant::now();
            }
            if let Err(e) = save_position(&pos_path, pos, durable) {
                tracing::warn!(path = %pos_path.display(), error = %e, "cannot save the forwarding position");
            }
            self.advance(pos);
        }
    }

    /// Records this reader's position and deletes kept segments every destination is past.
    fn advance(&self, pos: WalPosition) {
        let min = {
            let mut p = self.positions.lock();
            if let Some(s) = p.get_mut(self.dest_index).and_then(|d| d.get_mut(self.shard)) {
                *s = pos;
            }
            p.iter().filter_map(|d| d.get(self.shard).map(|p| p.segment)).min()
        };
        if let Some(min) = min
            && let Err(e) = wal_tail::remove_released(&self.data_dir, self.shard, min)
        {
            tracing::warn!(shard = self.shard, error = %e, "cannot delete forwarded WAL segments");
        }
    }

    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep((until - now).min(IDLE));
        }
    }

    /// The batch as this destination is to get it: its `write_relabel_configs` applied (series
    /// they drop are left out).
    fn relabel<'a>(&self, batch: &'a [Series]) -> Outgoing<'a> {
        let rules = &self.dest.target.relabel;
        batch
            .iter()
            .filter_map(|s| {
                if rules.is_empty() {
                    return Some((s.labels.clone(), &s.samples[..]));
                }
                let pairs = s
                    .labels
                    .iter()
                    .map(|l| (l.name.to_owned(), l.value.to_owned()))
                    .collect();
                relabel::process(rules, pairs).map(|p| (Labels::new(p), &s.samples[..]))
            })
            .collect()
    }

    /// Sends one batch, retrying transient failures until it is answered or the server stops.
    fn send(&mut self, batch: &[(Labels, &[(i64, f64)])], samples: usize, tenant: Option<&str>) -> Sent {
        let newest = batch
            .iter()
            .filter_map(|(_, s)| s.iter().map(|&(t, _)| t).max())
            .max()
            .unwrap_or(0);
        let dest = self.dest.clone();
        let c = &dest.counters;
        let t = &dest.target;
        let mut backoff = BACKOFF_MIN;
        let mut protocol = Protocol::V1;
        let mut body = Vec::new();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Sent::Stopped;
            }
            let wanted = if t.protocol == Protocol::V2 && !dest.fell_back_to_v1.load(Ordering::Relaxed) {
                Protocol::V2
            } else {
                Protocol::V1
            };
            if body.is_empty() || wanted != protocol {
                protocol = wanted;
                body = match protocol {
                    Protocol::V1 => encode(batch),
                    Protocol::V2 => encode_v2(batch),
                };
            }
            let (content_type, version) = match protocol {
                Protocol::V1 => ("application/x-protobuf", "0.1.0"),
                Protocol::V2 => ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0"),
            };
            let mut req = self
                .agent
                .post(&t.url)
                .header("Content-Type", content_type)
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", version)
                .header("User-Agent", concat!("foresight/", env!("CARGO_PKG_VERSION")));
            for (n, v) in &t.headers {
                if tenant.is_none() || !n.eq_ignore_ascii_case(ORG_HEADER) {
                    req = req.header(n.as_str(), v.as_str());
                }
            }
            if let Some(tenant) = tenant {
                req = req.header(ORG_HEADER, tenant);
            }
            let wait = match req.send(&body[..]) {
                Ok(mut r) => {
                    let status = r.status().as_u16();
                    if status == 415 && protocol == Protocol::V2 {
                        // As Prometheus: a receiver that does not take 2.0 gets 1.0 from now on.
                        tracing::warn!(remote = %t.name, "the receiver refused remote write 2.0 (415); sending 1.0 from now on");
                        dest.fell_back_to_v1.store(true, Ordering::Relaxed);
                        continue;
                    }
                    if r.status().is_success()
                        && protocol == Protocol::V2
                        && !r.headers().contains_key("x-prometheus-remote-write-samples-written")
                    {
                        // A 1.0 receiver reads a 2.0 body as an empty request (2.0's fields
                        // are reserved numbers in 1.0) and answers 2xx having stored nothing; a
                        // 2.0 receiver must say how many samples it wrote. So: send 1.0.
                        tracing::warn!(remote = %t.name, status,
                            "the receiver answered remote write 2.0 without X-Prometheus-Remote-Write-Samples-Written, so it reads 1.0 only; sending 1.0 from now on");
                        dest.fell_back_to_v1.store(true, Ordering::Relaxed);
                        continue;
                    }
                    if r.status().is_success() {
                        c.requests_sent.fetch_add(1, Ordering::Relaxed);
                        c.samples_sent.fetch_add(samples as u64, Ordering::Relaxed);
                        c.newest_sent_ms
                            .fetch_max(u64::try_from(newest).unwrap_or(0), Ordering::Relaxed);
                        return Sent::Accepted;
                    }
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let mut text = String::new();
                    let _ = r.body_mut().as_reader().take(512).read_to_string(&mut text);
                    if (400..500).contains(&status) && status != 429 {
                        c.requests_sent.fetch_add(1, Ordering::Relaxed);
                        c.samples_rejected.fetch_add(samples as u64, Ordering::Relaxed);
                        tracing::warn!(remote = %self.dest.target.name, status, samples, answer = %text.trim(),
                            "the receiver refused a batch; it is not retried");
                        return Sent::Rejected;
                    }
                    tracing::warn!(remote = %self.dest.target.name, status, answer = %text.trim(), "remote write failed; retrying");
                    retry_after.unwrap_or(backoff)
                }
                Err(e) => {
                    tracing::warn!(remote = %self.dest.target.name, error = %e, "remote write failed; retrying");
                    backoff
                }
            };
            c.request_failures.fetch_add(1, Ordering::Relaxed);
            self.give_up_beyond_backlog();
            self.sleep(wait.min(BACKOFF_MAX));
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// While the receiver is down: when the WAL from this reader on passes the backlog limit, the
    /// oldest whole segments are given up so the disk does not fill (never the newest one).
    fn give_up_beyond_backlog(&mut self) {
        let seg = self.tail.position().segment;
        let Ok(sizes) = wal_tail::segment_sizes(&self.data_dir, self.shard) else {
            return;
        };
        let ahead: Vec<(u64, u64)> = sizes.into_iter().filter(|&(s, _)| s >= seg).collect();
        let mut backlog: u64 = ahead.iter().map(|&(_, b)| b).sum();
        if backlog <= self.max_backlog {
            return;
        }
        let mut dropped = 0;
        let mut from = seg;
        for w in ahead.windows(2) {
            if backlog <= self.max_backlog {
                break;
            }
            backlog -= w[0].1;
            dropped += w[0].1;
            from = w[1].0;
        }
        if from == seg {
            return;
        }
        match WalTail::open(
            &self.data_dir,
            self.shard,
            WalPosition {
                segment: from,
                offset: 0,
            },
        ) {
            Ok(t) => {
                tracing::error!(remote = %self.dest.target.name, shard = self.shard, dropped_bytes = dropped,
                    max_backlog = self.max_backlog,
                    "the receiver is behind by more than remote-write-max-backlog; giving up the oldest WAL segments");
                self.dest.counters.dropped_bytes.fetch_add(dropped, Ordering::Relaxed);
                self.tail = t;
            }
            Err(e) => tracing::warn!(error = %e, "cannot skip forward in the WAL"),
        }
    }
}

/// The tenant header of Mimir, Cortex, Thanos Receive and foresight.
const ORG_HEADER: &str = "X-Scope-OrgID";

/// The batch split by tenant (`None`: the default tenant, whose series have no `__tenant__`),
/// each tenant's series without the label; in order of first appearance.
fn by_tenant(batch: Outgoing<'_>) -> Vec<(Option<String>, Outgoing<'_>)> {
    let mut groups: Vec<(Option<String>, Outgoing<'_>)> = Vec::new();
    for (labels, samples) in batch {
        let (tenant, labels) = match labels.get(TENANT_LABEL) {
            None => (None, labels),
            Some(t) => (Some(t.to_owned()), labels.filter(|n| n != TENANT_LABEL)),
        };
        match groups.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, g)) => g.push((labels, samples)),
            None => groups.push((tenant, vec![(labels, samples)])),
        }
    }
    groups
}

/// Series to send: labels as the destination gets them, and their samples.
type Outgoing<'a> = Vec<(Labels, &'a [(i64, f64)])>;

/// `batch` cut into requests of at most `max` samples (a series' samples may be split between two).
fn split(batch: Outgoing<'_>, max: usize) -> Vec<Outgoing<'_>> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut room = max;
    for (labels, mut samples) in batch {
        while !samples.is_empty() {
            let take = samples.len().min(room);
            part.push((labels.clone(), &samples[..take]));
            samples = &samples[take..];
            room -= take;
            if room == 0 {
                parts.push(std::mem::take(&mut part));
                room = max;
            }
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// A remote write 1.0 body: the batch's series (labels in name order) and samples,
/// snappy-compressed.
fn encode(batch: &[(Labels, &[(i64, f64)])]) -> Vec<u8> {
    let req = proto::WriteRequest {
        timeseries: batch
            .iter()
            .map(|(labels, samples)| proto::TimeSeries {
                labels: labels_to_proto(labels.iter().map(|l| (l.name, l.value))),
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| proto::Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: Vec::new(),
    };
    snappy::compress(&req.encode_to_vec())
}

/// A remote write 2.0 body: each distinct string once in the symbol table (`symbols[0]` is `""`),
/// series as pairs of references into it, snappy-compressed.
fn encode_v2(batch: &[(Labels, &[(i64, f64)])]) -> Vec<u8> {
    let mut symbols: Vec<Bytes> = vec![Bytes::new()];
    let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::from([("", 0)]);
    fn symbol<'a>(index: &mut std::collections::HashMap<&'a str, u32>, symbols: &mut Vec<Bytes>, s: &'a str) -> u32 {
        if let Some(&i) = index.get(s) {
            return i;
        }
        let i = u32::try_from(symbols.len()).unwrap_or(u32::MAX);
        symbols.push(Bytes::copy_from_slice(s.as_bytes()));
        index.insert(s, i);
        i
    }
    let mut timeseries = Vec::with_capacity(batch.len());
    for (labels, samples) in batch {
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for l in labels.iter() {
            refs.push(symbol(&mut index, &mut symbols, l.name));
            refs.push(symbol(&mut index, &mut symbols, l.value));
        }
        timeseries.push(proto::TimeSeriesV2 {
            labels_refs: refs,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| proto::SampleV2 {
                    value,
                    timestamp,
                    start_timestamp: 0,
                })
                .collect(),
            ..Default::default()
        });
    }
    snappy::compress(&proto::RequestV2 { symbols, timeseries }.encode_to_vec())
}

/// The HTTP client of one destination: its timeout, and for `https://` the web roots or its
/// `tls_config`.
fn agent(t: &Target) -> std::io::Result<ureq::Agent> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder().disable_verification(t.insecure_skip_verify);
    if let Some(ca) = &t.ca_file {
        let pem = std::fs::read(ca)?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", ca.display()),
                    ));
                }
            }
        }
        if certs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: no PEM certificate in the file", ca.display()),
            ));
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(t.timeout))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_a_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = position_path(dir.path(), 2);
        assert_eq!(read_position(&p).unwrap(), None);
        save_position(&p, WalPosition { segment: 7, offset: 99 }, true).unwrap();
        assert_eq!(read_position(&p).unwrap(), Some(WalPosition { segment: 7, offset: 99 }));
        std::fs::write(&p, "garbage").unwrap();
        let e = read_position(&p).unwrap_err().to_string();
        assert!(e.contains("shard-002.pos") && e.contains("delete the file"), "{e}");
    }

    #[test]
    fn tenants_get_their_own_requests_without_the_label() {
        let s = [(1, 1.0)];
        let batch = vec![
            (Labels::new(vec![("__name__", "m"), ("__tenant__", "acme")]), &s[..]),
            (Labels::new(vec![("__name__", "m")]), &s[..]),
            (Labels::new(vec![("__name__", "n"), ("__tenant__", "acme")]), &s[..]),
            (Labels::new(vec![("__name__", "m"), ("__tenant__", "beta")]), &s[..]),
        ];
        let groups = by_tenant(batch);
        let shape: Vec<(Option<&str>, Vec<String>)> = groups
            .iter()
            .map(|(t, g)| (t.as_deref(), g.iter().map(|(l, _)| l.to_string()).collect()))
            .collect();
        assert_eq!(
            shape,
            [
                // Displayed as `m`: no `{__tenant__="acme"}` left.
                (Some("acme"), vec!["m".to_owned(), "n".to_owned()]),
                (None, vec!["m".to_owned()]),
                (Some("beta"), vec!["m".to_owned()]),
            ]
        );
    }

    #[test]
    fn batches_are_cut_to_the_request_size() {
        let (a, b) = (Labels::new(vec![("a", "1")]), Labels::new(vec![("b", "1")]));
        let sa: Vec<(i64, f64)> = (0..5).map(|t| (t, 0.0)).collect();
        let sb = [(9, 1.0)];
        let parts = split(vec![(a.clone(), &sa[..]), (b.clone(), &sb[..])], 2);
        let shape: Vec<Vec<usize>> = parts.iter().map(|p| p.iter().map(|(_, s)| s.len()).collect()).collect();
        assert_eq!(shape, [vec![2], vec![2], vec![1, 1]]);
        assert_eq!(parts[2][1].0, b);
        assert_eq!(split(vec![(a, &sa[..])], 100).len(), 1);
        assert!(split(Vec::new(), 3).is_empty());
    }

    #[test]
    fn bodies_are_remote_write_1_0_and_2_0() {
        let a = Labels::new(vec![("__name__", "up"), ("job", "a")]);
        let b = Labels::new(vec![("__name__", "up"), ("job", "b")]);
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let (sa, sb) = (vec![(1000, 1.0), (2000, stale)], vec![(1000, 2.5)]);
        let batch = vec![(a, &sa[..]), (b, &sb[..])];
        for (protocol, body) in [
            (foresight_remote::Protocol::V1, encode(&batch)),
            (foresight_remote::Protocol::V2, encode_v2(&batch)),
        ] {
            let decoded = foresight_remote::decode_write(&body, protocol, 1 << 20).unwrap();
            let mut seen = Vec::new();
            decoded.visit(|_, l, s| seen.push((format!("{l:?}"), s.to_vec())));
            assert_eq!(seen.len(), 2, "{protocol:?}");
            assert!(seen[0].0.contains("\"a\"") && seen[1].0.contains("\"b\""), "{seen:?}");
            assert_eq!(seen[0].1[0], (1000, 1.0));
            // The stale marker's bits go through unchanged.
            assert_eq!(seen[0].1[1].1.to_bits(), 0x7ff0_0000_0000_0002);
            assert_eq!(seen[1].1, [(1000, 2.5)]);
        }
        // 2.0 writes each string once: "__name__", "up", "job", "a", "b" and "".
        let raw = snappy::decompress(&encode_v2(&batch), 1 << 20).unwrap();
        let req = proto::RequestV2::decode(&raw[..]).unwrap();
        assert_eq!(req.symbols.len(), 6);
    }
}
