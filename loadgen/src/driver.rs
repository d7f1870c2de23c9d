//! The load: N writer threads POSTing line-protocol batches, optionally M query threads running the
//! standard set at the same time, and the sequential query phase after it.
//!
//! Every loop here is bounded: writers stop when the workload is exhausted, at the time limit, after
//! the batch limit, or on the first error when asked; query threads stop when the writers stop;
//! the sequential phase runs a fixed number of repetitions under its own time limit.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::http::Client;
use crate::queries::{QueryApi, StdQuery, run_query};
use crate::stats::ErrorTally;
use crate::target::Target;
use crate::workload::{BatchInfo, Generator, Precision};

/// Which write endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// InfluxDB 1.x: `POST /write?db=..&precision=..`.
    Influx1,
    /// InfluxDB 2.x: `POST /api/v2/write?org=..&bucket=..&precision=..`.
    Influx2,
    /// Prometheus remote write 1.0: `POST /api/v1/write`, each batch turned into the snappy
    /// protobuf request Prometheus would send for its samples (see `promwrite`).
    PromRemoteWrite,
}

impl Flavor {
    /// Headers of a write request.
    fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Flavor::Influx1 | Flavor::Influx2 => &[("Content-Type", "text/plain; charset=utf-8")],
            Flavor::PromRemoteWrite => &crate::promwrite::HEADERS,
        }
    }
}

impl FromStr for Flavor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "influx1" | "v1" | "1" => Ok(Self::Influx1),
            "influx2" | "v2" | "2" => Ok(Self::Influx2),
            "prom-remote-write" | "remote-write" => Ok(Self::PromRemoteWrite),
            _ => Err(Error::InvalidArgument(format!(
                "unknown write flavor {s:?} (influx1, influx2 or prom-remote-write)"
            ))),
        }
    }
}

/// Where and how batches are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSettings {
    /// Endpoint flavor.
    pub flavor: Flavor,
    /// `db` (1.x) or `bucket` (2.x); empty to leave it out.
    pub db: String,
    /// `org` (2.x only).
    pub org: String,
    /// Timestamp precision of the generated lines.
    pub precision: Precision,
}

impl WriteSettings {
    /// The full write URL.
    pub fn url(&self, target: &Target) -> String {
        if self.flavor == Flavor::PromRemoteWrite {
            return target.url("/api/v1/write");
        }
        let mut params = Vec::new();
        match self.flavor {
            Flavor::Influx1 => {
                if !self.db.is_empty() {
                    params.push(format!("db={}", encode(&self.db)));
                }
            }
            Flavor::Influx2 => {
                params.push(format!("org={}", encode(&self.org)));
                if !self.db.is_empty() {
                    params.push(format!("bucket={}", encode(&self.db)));
                }
            }
            Flavor::PromRemoteWrite => {}
        }
        params.push(format!("precision={}", self.precision.as_param()));
        let path = match self.flavor {
            Flavor::Influx1 => "/write",
            Flavor::Influx2 => "/api/v2/write",
            Flavor::PromRemoteWrite => "/api/v1/write",
        };
        format!("{}?{}", target.url(path), params.join("&"))
    }
}

/// A generated line-protocol batch in the flavor's wire format.
fn convert(write: &WriteSettings, body: Vec<u8>) -> Result<Vec<u8>, Error> {
    match write.flavor {
        Flavor::Influx1 | Flavor::Influx2 => Ok(body),
        Flavor::PromRemoteWrite => crate::promwrite::from_lines(&body, write.precision).map_err(Error::InvalidArgument),
    }
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Shape and bounds of the write load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    /// Concurrent writers (threads, each with its own keep-alive connection).
    pub writers: usize,
    /// Lines per POST.
    pub batch_lines: usize,
    /// Stop sending new batches after this long (seconds).
    pub time_limit_s: Option<f64>,
    /// Stop after this many batches.
    pub max_batches: Option<u64>,
    /// Per-request timeout (seconds).
    pub request_timeout_s: f64,
    /// Generate every batch before the clock starts (otherwise one thread generates on the fly).
    pub pregenerate: bool,
    /// Stop at the first failed write.
    pub stop_on_error: bool,
    /// Threads running the standard queries in a loop while the writers run.
    pub query_clients: usize,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            writers: 4,
            batch_lines: 5000,
            time_limit_s: Some(900.0),
            max_batches: None,
            request_timeout_s: 120.0,
            pregenerate: false,
            stop_on_error: false,
            query_clients: 0,
        }
    }
}

/// Why the writers stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every line of the workload was sent.
    Complete,
    /// The time limit passed.
    TimeLimit,
    /// The batch limit was reached.
    MaxBatches,
    /// A write failed and `stop_on_error` was set.
    Error,
}

const STOP_NONE: u8 = 0;

impl StopReason {
    fn code(self) -> u8 {
        match self {
            Self::Complete => 1,
            Self::TimeLimit => 2,
            Self::MaxBatches => 3,
            Self::Error => 4,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            2 => Self::TimeLimit,
            3 => Self::MaxBatches,
            4 => Self::Error,
            _ => Self::Complete,
        }
    }
}

/// What the write load did.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// Seconds from the first request to the last answer.
    pub wall_s: f64,
    /// Seconds spent generating batches before the clock started (pregenerate only).
    pub pregenerate_s: f64,
    /// Batches sent / acknowledged with 2xx.
    pub batches_sent: u64,
    /// Batches acknowledged with 2xx.
    pub batches_ok: u64,
    /// Lines and samples sent.
    pub sent: BatchInfo,
    /// Lines and samples in 2xx-acknowledged batches.
    pub acked: BatchInfo,
    /// Latency of every batch (seconds), failed ones included.
    pub latencies_s: Vec<f64>,
    /// Failed writes.
    pub errors: ErrorTally,
    /// Why the writers stopped.
    pub stopped_by: StopReason,
    /// Per standard query id, latencies (seconds) of the queries run during the load.
    pub concurrent_queries: BTreeMap<String, Vec<f64>>,
    /// Failures of those queries.
    pub concurrent_query_errors: ErrorTally,
}

struct Batch {
    body: Vec<u8>,
    info: BatchInfo,
}

/// Shared state of one load run.
struct Shared {
    stop: AtomicBool,
    reason: AtomicU8,
    taken: AtomicU64,
    writers_done: AtomicBool,
}

impl Shared {
    fn stop(&self, why: StopReason) {
        let _ = self
            .reason
            .compare_exchange(STOP_NONE, why.code(), Ordering::AcqRel, Ordering::Acquire);
        self.stop.store(true, Ordering::Release);
    }
}

/// Where writers get batches.
enum Source<'a> {
    Live(Receiver<Batch>, Sender<Vec<u8>>),
    Pre(&'a [Batch], &'a AtomicUsize),
}

#[derive(Default)]
struct WriterResult {
    latencies: Vec<f64>,
    errors: ErrorTally,
    sent: BatchInfo,
    acked: BatchInfo,
    batches_sent: u64,
    batches_ok: u64,
}

/// The queries run while the writers write (`load.query_clients` threads).
#[derive(Debug, Clone, Copy)]
pub struct ConcurrentQueries<'a> {
    /// The set, run round-robin.
    pub queries: &'a [StdQuery],
    /// Query language of the target (`None`: no concurrent queries).
    pub api: QueryApi,
    /// Database for InfluxQL.
    pub db: &'a str,
}

/// Runs the write load (and the concurrent query load, if any) until a bound stops it.
pub fn ingest(
    target: &Target,
    write: &WriteSettings,
    load: &LoadSettings,
    mut generator: Generator,
    concurrent: &ConcurrentQueries<'_>,
    progress: &ProgressBar,
) -> Result<IngestOutcome, Error> {
    let ConcurrentQueries { queries, api, db } = *concurrent;
    if load.writers == 0 || load.batch_lines == 0 {
        return Err(Error::InvalidArgument(
            "writers and batch size must be at least 1".into(),
        ));
    }
    let url = write.url(target);
    let timeout = Duration::try_from_secs_f64(load.request_timeout_s)
        .map_err(|_| Error::InvalidArgument("bad request timeout".into()))?;
    let shared = Shared {
        stop: AtomicBool::new(false),
        reason: AtomicU8::new(STOP_NONE),
        taken: AtomicU64::new(0),
        writers_done: AtomicBool::new(false),
    };

    let mut pregenerate_s = 0.0;
    let mut pre: Vec<Batch> = Vec::new();
    if load.pregenerate {
        let t = Instant::now();
        loop {
            let mut body = Vec::with_capacity(load.batch_lines * 300);
            let info = generator.fill(&mut body, load.batch_lines);
            if info.lines == 0 {
                break;
            }
            let body = convert(write, body)?;
            pre.push(Batch { body, info });
        }
        pregenerate_s = t.elapsed().as_secs_f64();
    }
    let pre_next = AtomicUsize::new(0);

    let started = Instant::now();
    let deadline = load
        .time_limit_s
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(|d| started + d);

    let (results, concurrent, concurrent_errors, wall_s) = std::thread::scope(|s| {
        let (batch_tx, batch_rx) = bounded::<Batch>(load.writers * 2);
        let (free_tx, free_rx) = unbounded::<Vec<u8>>();
        if !load.pregenerate {
            let shared = &shared;
            let batch_lines = load.batch_lines;
            s.spawn(move || {
                while !shared.stop.load(Ordering::Acquire) {
                    let mut body = free_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(batch_lines * 300));
                    body.clear();
                    let info = generator.fill(&mut body, batch_lines);
                    if info.lines == 0 {
                        break;
                    }
                    let Ok(body) = convert(write, body) else {
                        shared.stop(StopReason::Error);
                        break;
                    };
                    // Ends when every writer is gone.
                    if batch_tx.send(Batch { body, info }).is_err() {
                        break;
                    }
                }
            });
        } else {
            drop(batch_tx);
            drop(free_rx);
        }

        let writers: Vec<_> = (0..load.writers)
            .map(|_| {
                let source = if load.pregenerate {
                    Source::Pre(&pre, &pre_next)
                } else {
                    Source::Live(batch_rx.clone(), free_tx.clone())
                };
                let (shared, url, token) = (&shared, &url, target.token.as_deref());
                let headers = write.flavor.headers();
                s.spawn(move || writer(source, url, headers, token, timeout, load, deadline, shared, progress))
            })
            .collect();
        drop(batch_rx);
        drop(free_tx);

        let query_threads: Vec<_> = (0..if api == QueryApi::None { 0 } else { load.query_clients })
            .map(|i| {
                let shared = &shared;
                s.spawn(move || concurrent_queries(i, target, api, db, queries, timeout, shared))
            })
            .collect();

        let mut results = Vec::new();
        for w in writers {
            // A writer thread cannot panic on bad input; a panic here is a bug, reported as such.
            results.push(w.join().unwrap_or_default());
        }
        let wall_s = started.elapsed().as_secs_f64();
        shared.writers_done.store(true, Ordering::Release);
        shared.stop(StopReason::Complete);
        let mut concurrent: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut concurrent_errors = ErrorTally::default();
        for t in query_threads {
            if let Ok((lat, errs)) = t.join() {
                for (id, v) in lat {
                    concurrent.entry(id).or_default().extend(v);
                }
                concurrent_errors.merge(&errs);
            }
        }
        (results, concurrent, concurrent_errors, wall_s)
    });

    let mut out = IngestOutcome {
        wall_s,
        pregenerate_s,
        batches_sent: 0,
        batches_ok: 0,
        sent: BatchInfo::default(),
        acked: BatchInfo::default(),
        latencies_s: Vec::new(),
        errors: ErrorTally::default(),
        stopped_by: StopReason::from_code(shared.reason.load(Ordering::Acquire)),
        concurrent_queries: concurrent,
        concurrent_query_errors: concurrent_errors,
    };
    for r in results {
        out.batches_sent += r.batches_sent;
        out.batches_ok += r.batches_ok;
        out.sent.lines += r.sent.lines;
        out.sent.samples += r.sent.samples;
        out.acked.lines += r.acked.lines;
        out.acked.samples += r.acked.samples;
        out.latencies_s.extend(r.latencies);
        out.errors.merge(&r.errors);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn writer(
    source: Source<'_>,
    url: &str,
    headers: &[(&str, &str)],
    token: Option<&str>,
    timeout: Duration,
    load: &LoadSettings,
    deadline: Option<Instant>,
    shared: &Shared,
    progress: &ProgressBar,
) -> WriterResult {
    let client = Client::new(timeout).with_token(token);
    let mut r = WriterResult::default();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            shared.stop(StopReason::TimeLimit);
            break;
        }
        let ok = match &source {
            Source::Pre(batches, next) => {
                let Some(b) = batches.get(next.fetch_add(1, Ordering::AcqRel)) else {
                    break;
                };
                if over_limit(load, shared) {
                    break;
                }
                send_one(&client, url, headers, &b.body, b.info, &mut r, progress)
            }
            Source::Live(rx, free) => {
                let wait = deadline.map_or(Duration::from_secs(1), |d| d.saturating_duration_since(now));
                match rx.recv_timeout(wait.min(Duration::from_secs(1))) {
                    Ok(Batch { body, info }) => {
                        if over_limit(load, shared) {
                            break;
                        }
                        let ok = send_one(&client, url, headers, &body, info, &mut r, progress);
                        // Back to the generator for reuse.
                        let _ = free.send(body);
                        ok
                    }
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if !ok && load.stop_on_error {
            shared.stop(StopReason::Error);
        }
    }
    r
}

/// Counts a batch against `max_batches`; true (and the run stopped) when it is one too many.
fn over_limit(load: &LoadSettings, shared: &Shared) -> bool {
    match load.max_batches {
        Some(max) if shared.taken.fetch_add(1, Ordering::AcqRel) >= max => {
            shared.stop(StopReason::MaxBatches);
            true
        }
        _ => false,
    }
}

/// POSTs one batch and records the outcome; true on a 2xx answer.
fn send_one(
    client: &Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    info: BatchInfo,
    r: &mut WriterResult,
    progress: &ProgressBar,
) -> bool {
    let t = Instant::now();
    let reply = client.post_with(url, headers, body);
    r.latencies.push(t.elapsed().as_secs_f64());
    r.batches_sent += 1;
    r.sent.lines += info.lines;
    r.sent.samples += info.samples;
    progress.inc(info.samples);
    match reply {
        Ok(reply) => {
            r.errors.status(reply.status, &reply.body);
            if (200..300).contains(&reply.status) {
                r.batches_ok += 1;
                r.acked.lines += info.lines;
                r.acked.samples += info.samples;
                true
            } else {
                false
            }
        }
        Err(e) => {
            r.errors.transport(&e);
            false
        }
    }
}

type QueryLatencies = BTreeMap<String, Vec<f64>>;

/// Runs the standard set round-robin (client `i` starts at query `i`) until the writers finish.
fn concurrent_queries(
    i: usize,
    target: &Target,
    api: QueryApi,
    db: &str,
    queries: &[StdQuery],
    timeout: Duration,
    shared: &Shared,
) -> (QueryLatencies, ErrorTally) {
    let client = Client::new(timeout).with_token(target.token.as_deref());
    let mut lat: QueryLatencies = BTreeMap::new();
    let mut errors = ErrorTally::default();
    let runnable: Vec<&StdQuery> = queries
        .iter()
        .filter(|q| api != QueryApi::Influxql || q.influxql.is_some())
        .collect();
    if runnable.is_empty() {
        return (lat, errors);
    }
    let mut k = i;
    while !shared.writers_done.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire) {
        let q = runnable[k % runnable.len()];
        k += 1;
        let t = Instant::now();
        if run_query(&client, target, api, db, q, &mut errors).is_some() {
            lat.entry(q.id.clone()).or_default().push(t.elapsed().as_secs_f64());
        } else if errors.transport_errors > 0 && t.elapsed() < Duration::from_millis(10) {
            // The server is not answering at all: do not spin.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    (lat, errors)
}

/// Result of the sequential query phase for one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRun {
    /// Query id.
    pub id: String,
    /// Expression sent (PromQL or InfluxQL).
    pub expr: String,
    /// Latency of the first (cold) run, ms.
    pub first_ms: Option<f64>,
    /// Latencies of the repetitions, seconds.
    pub reps_s: Vec<f64>,
    /// Series and points in the answer.
    pub series: u64,
    /// Points (matrix values, or vector elements) in the answer.
    pub points: u64,
    /// First error, if any run failed.
    pub error: Option<String>,
}

/// Runs each query once (cold) and then `reps` times, one at a time, like the peers harness.
/// Stops early (marking the rest as skipped) once `time_limit` has passed.
pub fn query_phase(
    target: &Target,
    api: QueryApi,
    db: &str,
    queries: &[StdQuery],
    reps: usize,
    timeout: Duration,
    time_limit: Duration,
) -> (Vec<QueryRun>, ErrorTally) {
    let client = Client::new(timeout).with_token(target.token.as_deref());
    let started = Instant::now();
    let mut all_errors = ErrorTally::default();
    let mut out = Vec::new();
    for q in queries {
        let expr = match api {
            QueryApi::Influxql => match &q.influxql {
                Some(x) => x.clone(),
                None => continue,
            },
            QueryApi::Prom => q.promql.clone(),
            QueryApi::None => continue,
        };
        let mut run = QueryRun {
            id: q.id.clone(),
            expr,
            first_ms: None,
            reps_s: Vec::new(),
            series: 0,
            points: 0,
            error: None,
        };
        for rep in 0..=reps {
            if started.elapsed() > time_limit {
                run.error
                    .get_or_insert_with(|| "skipped: query phase time limit".into());
                break;
            }
            let mut errors = ErrorTally::default();
            let t = Instant::now();
            let answer = run_query(&client, target, api, db, q, &mut errors);
            let dt = t.elapsed().as_secs_f64();
            all_errors.merge(&errors);
            match answer {
                Some(a) => {
                    if rep == 0 {
                        run.first_ms = Some((dt * 1e6).round() / 1e3);
                        run.series = a.series;
                        run.points = a.points;
                    } else {
                        run.reps_s.push(dt);
                    }
                }
                None => {
                    run.error = errors.first.first().cloned().or_else(|| Some("failed".into()));
                    break;
                }
            }
        }
        out.push(run);
    }
    (out, all_errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_urls() {
        let t = Target::parse("http://127.0.0.1:8086", false).unwrap();
        let mut w = WriteSettings {
            flavor: Flavor::Influx1,
            db: "bench".into(),
            org: "my org".into(),
            precision: Precision::S,
        };
        assert_eq!(w.url(&t), "http://127.0.0.1:8086/write?db=bench&precision=s");
        w.flavor = Flavor::Influx2;
        assert_eq!(
            w.url(&t),
            "http://127.0.0.1:8086/api/v2/write?org=my%20org&bucket=bench&precision=s"
        );
        w.flavor = Flavor::Influx1;
        w.db.clear();
        assert_eq!(w.url(&t), "http://127.0.0.1:8086/write?precision=s");
    }
}
