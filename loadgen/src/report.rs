//! The bench report: what was measured, as JSON (for files and comparisons) and as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::driver::{LoadSettings, StopReason, WriteSettings};
use crate::probe::DirUsage;
use crate::stats::{ErrorTally, LatencySummary};
use crate::units::{format_bytes, format_count, format_duration};
use crate::workload::{WorkloadSpec, WorkloadSummary};

/// Version of the report's JSON layout.
pub const REPORT_FORMAT: u32 = 1;

/// Everything one `foresight bench` run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// Name of the target in comparisons (e.g. `foresight`, `victoriametrics`).
    pub label: String,
    /// Unix seconds when the run ended.
    pub created_unix_s: u64,
    /// Version of the bench tool.
    pub tool_version: String,
    /// Base URL of the target.
    pub target: String,
    /// What the target said it is: `foresight`, `victoriametrics`, `influxdb`, `prometheus` or
    /// `unknown`.
    pub target_kind: String,
    /// The workload's settings.
    pub workload: WorkloadSpec,
    /// The workload's sizes.
    pub workload_summary: WorkloadSummary,
    /// Write endpoint settings.
    pub write: WriteSettings,
    /// Load shape and bounds.
    pub load: LoadSettings,
    /// The write load.
    pub ingest: IngestReport,
    /// Sequential query phase after the load (first run and repetitions).
    pub queries: Vec<QueryReport>,
    /// Queries run concurrently with the write load.
    pub queries_during_ingest: Vec<QueryReport>,
    /// Failed queries of both phases.
    pub query_errors: ErrorTally,
    /// Server process measurements (with `--pid`, or from its `/metrics`).
    pub server: Option<ServerReport>,
    /// On-disk size (with `--data-dir`).
    pub disk: Option<DiskReport>,
    /// Stored sample count read back through PromQL.
    pub verify: Option<VerifyReport>,
    /// CPU used on the machine during the load, for a noise check.
    pub machine: MachineReport,
    /// Anything the reader should know (skipped steps, warnings).
    pub notes: Vec<String>,
}

/// The write load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Seconds from the first request to the last answer.
    pub wall_s: f64,
    /// Seconds spent generating before the clock started (`--pregenerate`).
    pub pregenerate_s: f64,
    /// Batches sent.
    pub batches_sent: u64,
    /// Batches answered with 2xx.
    pub batches_ok: u64,
    /// Lines sent.
    pub lines_sent: u64,
    /// Samples sent.
    pub samples_sent: u64,
    /// Lines in 2xx-answered batches.
    pub lines_ok: u64,
    /// Samples in 2xx-answered batches.
    pub samples_ok: u64,
    /// `samples_ok / wall_s`.
    pub samples_per_s: f64,
    /// Per-batch latency.
    pub latency: LatencySummary,
    /// Failed writes.
    pub errors: ErrorTally,
    /// Why the load stopped.
    pub stopped_by: StopReason,
    /// CPU seconds the bench process used during the load (generator + HTTP client).
    pub client_cpu_s: Option<f64>,
}

/// One standard query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryReport {
    /// Query id, e.g. `q1-max-1host-1h`.
    pub id: String,
    /// Expression sent.
    pub expr: String,
    /// First (cold) run, ms (sequential phase only).
    pub first_ms: Option<f64>,
    /// Latency of the repetitions (or of every run during the load).
    pub latency: LatencySummary,
    /// Series in the answer.
    pub series: u64,
    /// Points in the answer.
    pub points: u64,
    /// First error, if any.
    pub error: Option<String>,
}

/// The server process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerReport {
    /// Process id measured through `/proc`.
    pub pid: Option<u32>,
    /// Server CPU seconds during the write load.
    pub ingest_cpu_s: Option<f64>,
    /// Server CPU seconds per million acknowledged samples.
    pub cpu_s_per_million_samples: Option<f64>,
    /// Resident memory before the load, bytes.
    pub rss_before_bytes: Option<u64>,
    /// Resident memory right after the load, bytes.
    pub rss_after_ingest_bytes: Option<u64>,
    /// Peak resident memory (VmHWM) at the end of the run, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// `(peak - before) / active series`, bytes. High for small series counts: fixed buffers
    /// are spread over few series.
    pub ram_bytes_per_active_series: Option<f64>,
    /// Server CPU seconds during the sequential query phase.
    pub query_cpu_s: Option<f64>,
    /// Queries run in that phase.
    pub query_count: u64,
    /// `query_cpu_s / query_count`.
    pub cpu_s_per_query: Option<f64>,
    /// Selected values from the target's `/metrics` at the end.
    pub metrics: BTreeMap<String, f64>,
}

/// The data directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskReport {
    /// Directory measured.
    pub dir: String,
    /// Flush requests sent before measuring, with their HTTP status (or error).
    pub flush: Vec<String>,
    /// Seconds waited for the size to settle.
    pub settle_s: f64,
    /// Whether it settled (unchanged for the stability window) within the limit.
    pub settled: bool,
    /// Sizes.
    pub usage: DirUsage,
    /// Allocated bytes per acknowledged sample.
    pub bytes_per_sample: Option<f64>,
    /// Apparent bytes per acknowledged sample.
    pub apparent_bytes_per_sample: Option<f64>,
}

/// Stored samples read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// `cpu_usage_*` samples acknowledged.
    pub expected: u64,
    /// `sum(count_over_time(...))` summed over the cpu fields.
    pub found: Option<f64>,
    /// `found == expected`.
    pub ok: bool,
    /// Why it could not be checked.
    pub error: Option<String>,
}

/// The machine during the write load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineReport {
    /// Logical cores.
    pub cores: usize,
    /// Busy CPU seconds of the whole machine during the load.
    pub busy_cpu_s: Option<f64>,
    /// Busy CPU seconds not used by the server or the bench (noise; high means rerun).
    pub other_cpu_s: Option<f64>,
}

impl Report {
    /// The report as a human-readable table.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let w = &self.workload;
        let s = &self.workload_summary;
        let _ = writeln!(
            o,
            "foresight bench: {} ({}), label {}",
            self.target, self.target_kind, self.label
        );
        let _ = writeln!(
            o,
            "workload  {} {} hosts x {} fields x {} at {}: {} lines, {} samples, {} active series{}{}",
            w.kind,
            w.hosts,
            w.fields,
            format_duration(std::time::Duration::from_millis(w.duration_ms)),
            format_duration(std::time::Duration::from_millis(w.interval_ms)),
            s.lines,
            s.samples,
            s.active_series,
            if w.churn > 0.0 {
                format!(
                    ", churn {} per {}",
                    w.churn,
                    format_duration(std::time::Duration::from_millis(w.churn_every_ms))
                )
            } else {
                String::new()
            },
            if w.out_of_order > 0.0 {
                format!(", {} out of order", w.out_of_order)
            } else {
                String::new()
            },
        );
        let i = &self.ingest;
        let _ = writeln!(
            o,
            "ingest    {} writers x {} lines ({:?}): {} samples in {:.2} s = {} samples/s (stopped: {:?})",
            self.load.writers,
            self.load.batch_lines,
            self.write.flavor,
            i.samples_ok,
            i.wall_s,
            format_count(i.samples_per_s),
            i.stopped_by,
        );
        let _ = writeln!(
            o,
            "          batch latency p50 {} p99 {} max {}; {} of {} batches failed{}",
            ms(i.latency.p50_ms),
            ms(i.latency.p99_ms),
            ms(i.latency.max_ms),
            i.errors.failed,
            i.batches_sent,
            i.client_cpu_s
                .map(|c| format!("; bench CPU {c:.2} s"))
                .unwrap_or_default(),
        );
        for e in &i.errors.first {
            let _ = writeln!(o, "          error: {e}");
        }
        if let Some(sv) = &self.server {
            let _ = writeln!(
                o,
                "server    CPU {} during ingest = {} CPU-s per million samples; peak RSS {} (before {}) = {} per active series",
                opt(sv.ingest_cpu_s, |v| format!("{v:.2} s")),
                opt(sv.cpu_s_per_million_samples, |v| format!("{v:.3}")),
                opt(sv.peak_rss_bytes, |v| format_bytes(v as f64)),
                opt(sv.rss_before_bytes, |v| format_bytes(v as f64)),
                opt(sv.ram_bytes_per_active_series, format_bytes),
            );
            if let Some(q) = sv.cpu_s_per_query {
                let _ = writeln!(
                    o,
                    "          {q:.4} CPU-s per standard query ({} queries)",
                    sv.query_count
                );
            }
        }
        if let Some(d) = &self.disk {
            let _ = writeln!(
                o,
                "disk      {}: {} allocated, {} apparent, {} files = {} B/sample (apparent {}){}{}",
                d.dir,
                format_bytes(d.usage.allocated_bytes as f64),
                format_bytes(d.usage.apparent_bytes as f64),
                d.usage.files,
                opt(d.bytes_per_sample, |v| format!("{v:.3}")),
                opt(d.apparent_bytes_per_sample, |v| format!("{v:.3}")),
                if d.flush.is_empty() {
                    String::new()
                } else {
                    format!("; flush: {}", d.flush.join(", "))
                },
                if d.settle_s > 0.0 {
                    format!(
                        "; waited {:.0} s ({})",
                        d.settle_s,
                        if d.settled { "settled" } else { "not settled" }
                    )
                } else {
                    String::new()
                },
            );
        }
        if let Some(v) = &self.verify {
            let _ = writeln!(
                o,
                "verify    stored cpu samples {} of {}: {}",
                opt(v.found, |f| format!("{f:.0}")),
                v.expected,
                if v.ok {
                    "ok".to_owned()
                } else {
                    v.error.clone().unwrap_or_else(|| "MISMATCH".into())
                },
            );
        }
        if let Some(other) = self.machine.other_cpu_s {
            let _ = writeln!(
                o,
                "machine   {} cores; other processes used {other:.1} CPU-s during the load{}",
                self.machine.cores,
                if other > 0.1 * i.wall_s { " (noisy: rerun)" } else { "" }
            );
        }
        for (title, rows) in [
            ("queries (sequential, after the load)", &self.queries),
            ("queries during the load", &self.queries_during_ingest),
        ] {
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(o, "{title}");
            let _ = writeln!(
                o,
                "  {:<24} {:>9} {:>9} {:>9} {:>5} {:>7} {:>8}",
                "query", "first ms", "p50 ms", "p99 ms", "runs", "series", "points"
            );
            for q in rows.iter() {
                let _ = writeln!(
                    o,
                    "  {:<24} {:>9} {:>9} {:>9} {:>5} {:>7} {:>8}{}",
                    q.id,
                    opt(q.first_ms, latency_ms),
                    opt(q.latency.p50_ms, latency_ms),
                    opt(q.latency.p99_ms, latency_ms),
                    q.latency.count,
                    q.series,
                    q.points,
                    q.error.as_ref().map(|e| format!("  ERROR {e}")).unwrap_or_default(),
                );
            }
        }
        for n in &self.notes {
            let _ = writeln!(o, "note      {n}");
        }
        o
    }
}

/// A query latency in milliseconds: two decimals below 10 ms (sub-millisecond queries differ by
/// tenths of a millisecond, which one decimal would round away), one above.
fn latency_ms(v: f64) -> String {
    if v < 10.0 { format!("{v:.2}") } else { format!("{v:.1}") }
}

fn ms(v: Option<f64>) -> String {
    opt(v, |x| format!("{x:.1} ms"))
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "n/a".to_owned(), f)
}

/// One markdown table comparing reports: the first is the reference (foresight), and each other
/// report gets a `reference/peer` ratio column.
pub fn compare(reports: &[Report]) -> String {
    let mut o = String::new();
    let Some(reference) = reports.first() else {
        return o;
    };
    let peers = &reports[1..];
    let mut header = vec!["metric".to_owned()];
    header.extend(reports.iter().map(|r| r.label.clone()));
    header.extend(peers.iter().map(|p| format!("{}/{}", reference.label, p.label)));
    let _ = writeln!(o, "| {} |", header.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(header.len()));

    type Getter = Box<dyn Fn(&Report) -> Option<f64>>;
    type Row = (String, Getter, fn(f64) -> String);
    let mut rows: Vec<Row> = vec![
        (
            "ingest samples/s".into(),
            Box::new(|r: &Report| (r.ingest.samples_ok > 0 && r.ingest.wall_s > 0.0).then_some(r.ingest.samples_per_s)),
            format_count,
        ),
        (
            "write batch p50 ms".into(),
            Box::new(|r: &Report| (r.ingest.samples_ok > 0).then_some(r.ingest.latency.p50_ms).flatten()),
            |v| format!("{v:.1}"),
        ),
        (
            "server CPU-s per M samples".into(),
            Box::new(|r: &Report| r.server.as_ref().and_then(|s| s.cpu_s_per_million_samples)),
            |v| format!("{v:.3}"),
        ),
        (
            "bytes/sample on disk".into(),
            Box::new(|r: &Report| r.disk.as_ref().and_then(|d| d.bytes_per_sample)),
            |v| format!("{v:.3}"),
        ),
        (
            "peak RSS".into(),
            Box::new(|r: &Report| r.server.as_ref().and_then(|s| s.peak_rss_bytes).map(|v| v as f64)),
            format_bytes,
        ),
    ];
    let mut ids: Vec<String> = Vec::new();
    for r in reports {
        for q in &r.queries {
            if !ids.contains(&q.id) {
                ids.push(q.id.clone());
            }
        }
    }
    for id in ids {
        let key = id.clone();
        rows.push((
            format!("{id} p50 ms"),
            Box::new(move |r: &Report| {
                r.queries
                    .iter()
                    .find(|q| q.id == key && q.error.is_none())
                    .and_then(|q| q.latency.p50_ms)
            }),
            latency_ms,
        ));
    }
    for (name, get, show) in rows {
        let mut cells = vec![name];
        let values: Vec<Option<f64>> = reports.iter().map(&*get).collect();
        cells.extend(values.iter().map(|v| v.map_or_else(|| "n/a".into(), show)));
        for v in &values[1..] {
            cells.push(match (values[0], v) {
                (Some(a), Some(b)) if b.abs() > 0.0 => format!("{:.2}", a / b),
                _ => "n/a".into(),
            });
        }
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::driver::Flavor;
    use crate::workload::Precision;

    pub(crate) fn sample_report(label: &str, samples_per_s: f64, bps: f64, q1_ms: f64) -> Report {
        let workload = WorkloadSpec::default();
        Report {
            format: REPORT_FORMAT,
            label: label.into(),
            created_unix_s: 0,
            tool_version: "0".into(),
            target: "http://127.0.0.1:1".into(),
            target_kind: "unknown".into(),
            workload_summary: workload.summary(),
            workload,
            write: WriteSettings {
                flavor: Flavor::Influx1,
                db: "bench".into(),
                org: String::new(),
                precision: Precision::S,
            },
            load: LoadSettings::default(),
            ingest: IngestReport {
                wall_s: 1.0,
                pregenerate_s: 0.0,
                batches_sent: 1,
                batches_ok: 1,
                lines_sent: 1,
                samples_sent: 10,
                lines_ok: 1,
                samples_ok: 10,
                samples_per_s,
                latency: LatencySummary::from_secs(&[0.05]),
                errors: ErrorTally::default(),
                stopped_by: StopReason::Complete,
                client_cpu_s: None,
            },
            queries: vec![QueryReport {
                id: "q1-max-1host-1h".into(),
                expr: "x".into(),
                first_ms: Some(q1_ms),
                latency: LatencySummary::from_secs(&[q1_ms / 1000.0]),
                series: 1,
                points: 61,
                error: None,
            }],
            queries_during_ingest: vec![],
            query_errors: ErrorTally::default(),
            server: None,
            disk: Some(DiskReport {
                dir: "/tmp/x".into(),
                flush: vec![],
                settle_s: 0.0,
                settled: true,
                usage: DirUsage::default(),
                bytes_per_sample: Some(bps),
                apparent_bytes_per_sample: Some(bps),
            }),
            verify: None,
            machine: MachineReport::default(),
            notes: vec![],
        }
    }

    #[test]
    fn comparison_has_ratios_against_the_first_report() {
        let a = sample_report("foresight", 3_000_000.0, 1.0, 2.0);
        let b = sample_report("vm", 2_000_000.0, 1.32, 0.5);
        let table = compare(&[a.clone(), b]);
        assert!(
            table.starts_with("| metric | foresight | vm | foresight/vm |"),
            "{table}"
        );
        assert!(table.contains("| ingest samples/s | 3.00M | 2.00M | 1.50 |"), "{table}");
        assert!(
            table.contains("| bytes/sample on disk | 1.000 | 1.320 | 0.76 |"),
            "{table}"
        );
        assert!(
            table.contains("| q1-max-1host-1h p50 ms | 2.00 | 0.50 | 4.00 |"),
            "{table}"
        );
        assert!(table.contains("| peak RSS | n/a | n/a | n/a |"), "{table}");
        // A report survives a JSON round trip (compare reads files written by earlier runs).
        let json = serde_json::to_string(&a).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(a.render().contains("3.00M samples/s"));
    }
}
