//! One `foresight bench` run: wait for the target, measure it idle, drive the write load (with
//! optional concurrent queries), flush, measure the disk, verify the stored count, run the query
//! set, measure the process, and put it all in a [`Report`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Error;
use crate::driver::{self, LoadSettings, WriteSettings};
use crate::http::Client;
use crate::probe::{self, ProcSample};
use crate::queries::{self, QueryApi, StdQuery};
use crate::report::{
    DiskReport, IngestReport, MachineReport, QueryReport, REPORT_FORMAT, Report, ServerReport, VerifyReport,
};
use crate::stats::{ErrorTally, LatencySummary};
use crate::target::Target;
use crate::workload::{BatchInfo, Generator, WorkloadSpec};

/// Metrics copied from the target's `/metrics` into the report when present.
const REPORTED_METRICS: [&str; 9] = [
    "foresight_head_series",
    "foresight_samples_ingested_total",
    "foresight_lines_rejected_total",
    "foresight_block_bytes",
    "foresight_wal_bytes",
    "foresight_process_peak_resident_memory_bytes",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "vm_rows",
];

/// Flush requests: `Auto` picks the target's own (foresight, VictoriaMetrics), else none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushPlan {
    /// `POST /api/v1/admin/flush` for foresight, `GET /internal/force_flush` for VictoriaMetrics.
    Auto,
    /// No flush request.
    None,
    /// These requests, each `PATH` (POST) or `GET PATH`.
    Paths(Vec<String>),
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The server under test.
    pub target: Target,
    /// Name in reports and comparisons (default: the detected kind).
    pub label: Option<String>,
    /// The data.
    pub workload: WorkloadSpec,
    /// Write endpoint.
    pub write: WriteSettings,
    /// Load shape and bounds.
    pub load: LoadSettings,
    /// Query language of the target.
    pub query_api: QueryApi,
    /// Repetitions of each query after its first run.
    pub query_reps: usize,
    /// Bound of the sequential query phase.
    pub query_time_limit: Duration,
    /// Only queries whose id starts with one of these (empty: all).
    pub only_queries: Vec<String>,
    /// Server process to measure through `/proc`.
    pub pid: Option<u32>,
    /// Server data directory to measure.
    pub data_dir: Option<PathBuf>,
    /// Flush requests after the load.
    pub flush: FlushPlan,
    /// Longest wait for the data directory's size to stop changing (zero: measure at once).
    pub settle_max: Duration,
    /// How long the size must stay unchanged to count as settled.
    pub settle_stable: Duration,
    /// Read the stored sample count back through PromQL.
    pub verify: bool,
    /// The target already holds the workload: send nothing (see `--preloaded`).
    pub preloaded: bool,
    /// Longest wait for the target to answer before the load.
    pub wait_ready: Duration,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
}

/// Runs the whole bench against `opts.target`.
pub fn run(opts: &BenchOptions) -> Result<Report, Error> {
    opts.workload.validate()?;
    let timeout = Duration::try_from_secs_f64(opts.load.request_timeout_s)
        .map_err(|_| Error::InvalidArgument("bad request timeout".into()))?;
    let client = Client::new(timeout).with_token(opts.target.token.as_deref());
    let mut notes = Vec::new();
    wait_ready(&client, &opts.target, opts.wait_ready)?;
    let kind = detect_kind(&client, &opts.target);
    let label = opts.label.clone().unwrap_or_else(|| kind.clone());
    let summary = opts.workload.summary();
    let mut std_queries: Vec<StdQuery> = queries::standard_queries(&opts.workload);
    if !opts.only_queries.is_empty() {
        std_queries.retain(|q| opts.only_queries.iter().any(|p| q.id.starts_with(p.as_str())));
    }

    // Before the load.
    let server_proc = |client: &Client| -> Option<ProcSample> {
        match opts.pid {
            Some(pid) => probe::proc_sample(pid),
            None => metrics_proc(client, &opts.target),
        }
    };
    let before = server_proc(&client);
    if opts.pid.is_some() && before.is_none() {
        notes.push(format!("cannot read /proc/{} (process gone?)", opts.pid.unwrap_or(0)));
    }
    let busy0 = probe::machine_busy_s();
    let self0 = probe::self_cpu_s();

    // The load.
    let progress = if opts.progress {
        let pb = ProgressBar::with_draw_target(Some(summary.samples), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} samples {per_sec} eta {eta} {msg}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb
    } else {
        ProgressBar::hidden()
    };
    let outcome = if opts.preloaded {
        notes.push("preloaded: the workload was loaded offline; ingestion not measured".into());
        let all = BatchInfo {
            lines: summary.lines,
            samples: summary.samples,
        };
        driver::IngestOutcome {
            wall_s: 0.0,
            pregenerate_s: 0.0,
            batches_sent: 0,
            batches_ok: 0,
            sent: all,
            acked: all,
            latencies_s: Vec::new(),
            errors: ErrorTally::default(),
            stopped_by: driver::StopReason::Complete,
            concurrent_queries: BTreeMap::new(),
            concurrent_query_errors: ErrorTally::default(),
        }
    } else {
        driver::ingest(
            &opts.target,
            &opts.write,
            &opts.load,
            Generator::new(&opts.workload)?,
            &driver::ConcurrentQueries {
                queries: &std_queries,
                api: opts.query_api,
                db: &opts.write.db,
            },
            &progress,
        )?
    };
    progress.finish_and_clear();
    let after_ingest = server_proc(&client);
    let busy1 = probe::machine_busy_s();
    let self1 = probe::self_cpu_s();
    let client_cpu_s = self0.zip(self1).map(|(a, b)| round3(b - a));
    let ingest_cpu_s = before
        .zip(after_ingest)
        .map(|(a, b)| round3(b.cpu_s - a.cpu_s))
        .filter(|c| c.is_finite() && !opts.preloaded);
    let machine = MachineReport {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        busy_cpu_s: busy0.zip(busy1).map(|(a, b)| round3(b - a)),
        other_cpu_s: busy0
            .zip(busy1)
            .map(|(a, b)| round3(b - a - ingest_cpu_s.unwrap_or(0.0) - client_cpu_s.unwrap_or(0.0))),
    };
    if ingest_cpu_s.is_some() && opts.pid.is_none() {
        notes.push("server CPU from its /metrics (process_cpu_seconds_total)".into());
    }

    let ingest = IngestReport {
        wall_s: round3(outcome.wall_s),
        pregenerate_s: round3(outcome.pregenerate_s),
        batches_sent: outcome.batches_sent,
        batches_ok: outcome.batches_ok,
        lines_sent: outcome.sent.lines,
        samples_sent: outcome.sent.samples,
        lines_ok: outcome.acked.lines,
        samples_ok: outcome.acked.samples,
        samples_per_s: if outcome.wall_s > 0.0 {
            (outcome.acked.samples as f64 / outcome.wall_s).round()
        } else {
            0.0
        },
        latency: LatencySummary::from_secs(&outcome.latencies_s),
        errors: outcome.errors.clone(),
        stopped_by: outcome.stopped_by,
        client_cpu_s,
    };
    let mut query_errors = ErrorTally::default();
    query_errors.merge(&outcome.concurrent_query_errors);
    // In the standard set's order.
    let queries_during_ingest: Vec<QueryReport> = std_queries
        .iter()
        .filter_map(|q| outcome.concurrent_queries.get(&q.id).map(|lat| (q, lat)))
        .map(|(q, lat)| QueryReport {
            id: q.id.clone(),
            expr: q.promql.clone(),
            first_ms: None,
            latency: LatencySummary::from_secs(lat),
            series: 0,
            points: 0,
            error: None,
        })
        .collect();

    // Flush and disk.
    let flush_paths: Vec<String> = match &opts.flush {
        FlushPlan::None => Vec::new(),
        FlushPlan::Paths(p) => p.clone(),
        FlushPlan::Auto => match kind.as_str() {
            "foresight" => vec!["/api/v1/admin/flush".into()],
            "victoriametrics" => vec!["GET /internal/force_flush".into()],
            _ => Vec::new(),
        },
    };
    let flush: Vec<String> = flush_paths
        .iter()
        .map(|p| flush_one(&client, &opts.target, p))
        .collect();
    let disk = match &opts.data_dir {
        None => None,
        Some(dir) => {
            let (settle_s, settled) = settle(dir, opts.settle_max, opts.settle_stable);
            let usage = probe::dir_usage(dir).map_err(|e| Error::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
            let per = |b: u64| (ingest.samples_ok > 0).then(|| round4(b as f64 / ingest.samples_ok as f64));
            Some(DiskReport {
                dir: dir.display().to_string(),
                flush,
                settle_s: round3(settle_s),
                settled,
                bytes_per_sample: per(usage.allocated_bytes),
                apparent_bytes_per_sample: per(usage.apparent_bytes),
                usage,
            })
        }
    };
    if opts.data_dir.is_none() {
        notes.push("no --data-dir: bytes per sample not measured".into());
    }

    // Verify.
    let verify = if opts.verify && opts.query_api == QueryApi::Prom && ingest.samples_ok > 0 {
        Some(verify_count(&client, opts, &ingest))
    } else {
        None
    };

    // Sequential queries, with the server's CPU around them.
    let q_before = server_proc(&client);
    let (runs, errs) = driver::query_phase(
        &opts.target,
        opts.query_api,
        &opts.write.db,
        &std_queries,
        opts.query_reps,
        timeout,
        opts.query_time_limit,
    );
    let q_after = server_proc(&client);
    query_errors.merge(&errs);
    let query_count: u64 = runs
        .iter()
        .map(|r| r.reps_s.len() as u64 + u64::from(r.first_ms.is_some()))
        .sum();
    let queries: Vec<QueryReport> = runs
        .into_iter()
        .map(|r| QueryReport {
            latency: LatencySummary::from_secs(&r.reps_s),
            id: r.id,
            expr: r.expr,
            first_ms: r.first_ms,
            series: r.series,
            points: r.points,
            error: r.error,
        })
        .collect();

    // The server at the end.
    let end = server_proc(&client);
    let metrics_page = client
        .get(&opts.target.url("/metrics"), &[])
        .ok()
        .filter(|r| r.status == 200)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned());
    let mut metrics = BTreeMap::new();
    if let Some(page) = &metrics_page {
        for name in REPORTED_METRICS {
            if let Some(v) = probe::metric_sum(page, name) {
                metrics.insert(name.to_owned(), v);
            }
        }
    }
    let server = if before.is_some() || end.is_some() || !metrics.is_empty() {
        let query_cpu_s = q_before
            .zip(q_after)
            .map(|(a, b)| round3(b.cpu_s - a.cpu_s))
            .filter(|c| c.is_finite());
        let peak = end.map(|e| e.vmhwm_bytes).filter(|&v| v > 0);
        let rss_before = before.map(|b| b.vmrss_bytes).filter(|&v| v > 0);
        Some(ServerReport {
            pid: opts.pid,
            ingest_cpu_s,
            cpu_s_per_million_samples: ingest_cpu_s
                .filter(|_| ingest.samples_ok > 0)
                .map(|c| round4(c / (ingest.samples_ok as f64 / 1e6))),
            rss_before_bytes: rss_before,
            rss_after_ingest_bytes: after_ingest.map(|a| a.vmrss_bytes).filter(|&v| v > 0),
            peak_rss_bytes: peak,
            ram_bytes_per_active_series: peak
                .zip(rss_before)
                .map(|(p, b)| round3(p.saturating_sub(b) as f64 / summary.active_series.max(1) as f64)),
            query_cpu_s,
            query_count,
            cpu_s_per_query: query_cpu_s
                .filter(|_| query_count > 0)
                .map(|c| (c / query_count as f64 * 1e6).round() / 1e6),
            metrics,
        })
    } else {
        notes.push("no --pid and no usable /metrics: server CPU and memory not measured".into());
        None
    };
    if let Some(other) = machine.other_cpu_s
        && ingest.wall_s > 0.0
        && other > 0.1 * ingest.wall_s
        && opts.pid.is_some()
    {
        notes.push(format!(
            "other processes used {other:.1} CPU-s during a {:.1} s load: the machine was not quiet, rerun",
            ingest.wall_s
        ));
    }

    Ok(Report {
        format: REPORT_FORMAT,
        label,
        created_unix_s: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: opts.target.to_string(),
        target_kind: kind,
        workload: opts.workload.clone(),
        workload_summary: summary,
        write: opts.write.clone(),
        load: opts.load.clone(),
        ingest,
        queries,
        queries_during_ingest,
        query_errors,
        server,
        disk,
        verify,
        machine,
        notes,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Polls readiness endpoints until one answers 2xx; bounded by `limit`.
fn wait_ready(client: &Client, target: &Target, limit: Duration) -> Result<(), Error> {
    let started = Instant::now();
    let mut last = String::from("no answer");
    loop {
        for path in ["/-/ready", "/health", "/ping"] {
            match client.get(&target.url(path), &[]) {
                Ok(r) if (200..300).contains(&r.status) => return Ok(()),
                Ok(r) => last = format!("{path}: HTTP {}", r.status),
                Err(e) => last = format!("{path}: {e}"),
            }
        }
        if started.elapsed() >= limit {
            return Err(Error::NotReady(format!(
                "{target} after {:.0} s: {last}",
                limit.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What the target is, from its `/metrics` page (or its `/ping` for InfluxDB 1.x).
fn detect_kind(client: &Client, target: &Target) -> String {
    if let Ok(r) = client.get(&target.url("/metrics"), &[])
        && r.status == 200
    {
        let page = String::from_utf8_lossy(&r.body);
        if page.contains("foresight_build_info") {
            return "foresight".into();
        }
        if page.contains("vm_app_version") || page.contains("vm_rows") {
            return "victoriametrics".into();
        }
        if page.contains("prometheus_build_info") {
            return "prometheus".into();
        }
    }
    // `/ping` needs no credential: foresight names itself there when its `/metrics` needs one.
    match client.get(&target.url("/ping"), &[]) {
        Ok(r) if r.status == 204 && r.influx_build.as_deref() == Some("foresight") => "foresight".into(),
        Ok(r) if r.status == 204 => "influxdb".into(),
        _ => "unknown".into(),
    }
}

/// CPU and memory from a target's own `/metrics` (when there is no `--pid`).
fn metrics_proc(client: &Client, target: &Target) -> Option<ProcSample> {
    let r = client.get(&target.url("/metrics"), &[]).ok()?;
    if r.status != 200 {
        return None;
    }
    let page = String::from_utf8_lossy(&r.body);
    let cpu = probe::metric_sum(&page, "process_cpu_seconds_total");
    let rss = probe::metric_sum(&page, "process_resident_memory_bytes");
    let hwm = probe::metric_sum(&page, "foresight_process_peak_resident_memory_bytes");
    if cpu.is_none() && rss.is_none() {
        return None;
    }
    Some(ProcSample {
        cpu_s: cpu.unwrap_or(f64::NAN),
        vmhwm_bytes: hwm.or(rss).unwrap_or(0.0) as u64,
        vmrss_bytes: rss.unwrap_or(0.0) as u64,
    })
}

/// Sends one flush request; returns `"<request>: <outcome>"`.
fn flush_one(client: &Client, target: &Target, spec: &str) -> String {
    let (get, path) = match spec.strip_prefix("GET ") {
        Some(p) => (true, p.trim()),
        None => (false, spec.strip_prefix("POST ").unwrap_or(spec).trim()),
    };
    let url = target.url(path);
    let r = if get {
        client.get(&url, &[])
    } else {
        client.post(&url, "text/plain", b"")
    };
    match r {
        Ok(r) => format!("{spec}: HTTP {}", r.status),
        Err(e) => format!("{spec}: {e}"),
    }
}

/// Waits until the directory's allocated size is unchanged for `stable`, at most `max`.
/// Returns (seconds waited, settled).
fn settle(dir: &std::path::Path, max: Duration, stable: Duration) -> (f64, bool) {
    if max.is_zero() {
        return (0.0, false);
    }
    let started = Instant::now();
    let mut last = None;
    let mut same_since = Instant::now();
    loop {
        let now = probe::dir_usage(dir).ok().map(|u| u.allocated_bytes);
        if now != last {
            last = now;
            same_since = Instant::now();
        } else if same_since.elapsed() >= stable {
            return (started.elapsed().as_secs_f64(), true);
        }
        if started.elapsed() >= max {
            return (started.elapsed().as_secs_f64(), false);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Reads back the stored `cpu_usage_*` sample count; retries a few times, since some servers make
/// writes searchable a moment after acknowledging them.
fn verify_count(client: &Client, opts: &BenchOptions, ingest: &IngestReport) -> VerifyReport {
    let w = &opts.workload;
    let per_host = w.summary().samples / (w.summary().ticks * u64::from(w.hosts)).max(1);
    let expected = ingest.samples_ok / per_host.max(1) * u64::from(w.fields);
    let mut report = VerifyReport {
        expected,
        found: None,
        ok: false,
        error: None,
    };
    let mut previous = None;
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let mut total = 0.0;
        let mut failed = None;
        for (q, at) in queries::count_queries(w) {
            let at = format!("{at}");
            match client.get(
                &opts.target.url("/api/v1/query"),
                &[("query", q.as_str()), ("time", at.as_str())],
            ) {
                Ok(r) if r.status == 200 => match queries::scalar_value(&r.body) {
                    Ok(v) => total += v,
                    Err(e) => failed = Some(format!("{q}: {e}")),
                },
                Ok(r) => {
                    failed = Some(format!(
                        "{q}: HTTP {}: {}",
                        r.status,
                        crate::http::snippet(&r.body, 200)
                    ))
                }
                Err(e) => failed = Some(format!("{q}: {e}")),
            }
            if failed.is_some() {
                break;
            }
        }
        report.error = failed;
        if report.error.is_none() {
            report.found = Some(total);
            report.ok = total == expected as f64;
            // Retry only while the count is still growing (writes becoming searchable).
            if report.ok || total > expected as f64 || previous == Some(total) {
                break;
            }
            previous = Some(total);
        }
    }
    report
}
