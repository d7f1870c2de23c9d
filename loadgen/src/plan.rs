//! `foresight plan`: disk, memory and cores for a workload, from constants measured by
//! `foresight bench` on this build.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::report::Report;
use crate::units::{format_bytes, format_count, format_duration};

/// Assumed WAL bytes per sample (an uncompressed timestamp and value plus framing); the WAL holds
/// the newest samples until their partition is written as a block.
const WAL_BYTES_PER_SAMPLE: f64 = 18.0;
/// Data time the WAL and head hold at most: one 2 h partition plus the 1 h out-of-order window.
const HEAD_WINDOW_S: f64 = 3.0 * 3600.0;

/// Fewest active series a bench run needs for its memory per series to be taken as a constant.
pub const MIN_MEMORY_SERIES: u64 = 10_000;

/// Per-build costs measured by `foresight bench` against `foresight serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constants {
    /// When they were measured (`YYYY-MM-DD`).
    pub measured_at: String,
    /// How (workload, machine, version).
    pub source: String,
    /// Bytes on disk per stored sample, after blocks are written.
    pub bytes_per_sample: f64,
    /// Server CPU seconds per million ingested samples.
    pub cpu_s_per_million_samples: f64,
    /// Resident memory of an idle server, bytes.
    pub ram_baseline_bytes: f64,
    /// Extra resident memory per active series, bytes.
    pub ram_bytes_per_active_series: f64,
    /// Server CPU seconds per query of the standard set (mean).
    pub cpu_s_per_query: f64,
    /// Sample interval of the measuring run, seconds (memory per series depends on it).
    pub bench_interval_s: f64,
    /// Active series of the run that measured the memory.
    pub bench_active_series: u64,
    /// Active series of the run that measured `cpu_s_per_query` (0: unknown, no scaling). The
    /// standard queries aggregate over every host, so their cost grows with the series count.
    #[serde(default)]
    pub query_bench_series: u64,
}

impl Constants {
    /// The constants shipped with this build, measured on the development machine (2 cores,
    /// loopback) with the run described in `source`.
    pub fn builtin() -> Self {
        // `foresight bench` against `foresight serve` (fsync durability) on 2026-12-07, 2 cores:
        // disk, ingest CPU and query CPU from the peers workload (1,000 series, 24 h, quiet
        // machine: 1.13 B/sample, 0.39 CPU-s per million samples, 0.0097 CPU-s per standard query;
        // `benches/results/2026-12-07/run5-foresight.json`); memory from 10,000 hosts x 10 fields x
        // 30 min (100,000 series: 2,934 B per series over a 9.1 MiB baseline; `100k-foresight.json`;
        // with 1,000 series fixed buffers dominate and the figure means little).
        Constants {
            measured_at: "2026-12-07".into(),
            source: "built-in: foresight bench against foresight serve on 2 cores; disk and CPU from \
                     100 hosts x 10 fields x 24h at 10s, memory from 10000 hosts x 10 fields x 30m at 10s"
                .into(),
            bytes_per_sample: 1.13,
            cpu_s_per_million_samples: 0.39,
            ram_baseline_bytes: 9.1 * 1024.0 * 1024.0,
            ram_bytes_per_active_series: 2934.0,
            cpu_s_per_query: 0.0097,
            bench_interval_s: 10.0,
            bench_active_series: 100_000,
            query_bench_series: 1000,
        }
    }

    /// Constants from a bench report against a foresight server (memory per series only from runs
    /// with at least [`MIN_MEMORY_SERIES`] active series, else the built-in figure); `None` with the reason when the
    /// report lacks a measurement (no `--pid`, no `--data-dir`, or another kind of server).
    pub fn from_report(r: &Report, date: &str) -> Result<Self, String> {
        if r.target_kind != "foresight" {
            return Err(format!("the target is {}, not foresight", r.target_kind));
        }
        let server = r.server.as_ref().ok_or("no server measurements (give --pid)")?;
        let bps = r
            .disk
            .as_ref()
            .and_then(|d| d.bytes_per_sample)
            .ok_or("no disk measurement (give --data-dir)")?;
        let cpu = server
            .cpu_s_per_million_samples
            .ok_or("no server CPU measurement (give --pid)")?;
        let per_series = server
            .ram_bytes_per_active_series
            .ok_or("no memory measurement (give --pid)")?;
        let baseline = server.rss_before_bytes.ok_or("no memory measurement (give --pid)")?;
        let builtin = Self::builtin();
        let w = &r.workload;
        // Below this many series the peak RSS is mostly in-flight write buffers and the head of a
        // load that arrives faster than real time (1,000 series: 374 KiB per series; 100,000:
        // 9.2 KiB): such a run's memory figure would overstate a real workload's by 40x.
        let series = r.workload_summary.active_series;
        let memory_measured = series >= MIN_MEMORY_SERIES;
        let (baseline, per_series, memory_series) = if memory_measured {
            (baseline as f64, per_series, series)
        } else {
            (
                builtin.ram_baseline_bytes,
                builtin.ram_bytes_per_active_series,
                builtin.bench_active_series,
            )
        };
        Ok(Constants {
            measured_at: date.to_owned(),
            source: format!(
                "foresight bench {} against {}: {} workload {} hosts x {} fields x {} at {}, {} writers x {} lines{}{}",
                r.tool_version,
                r.target,
                w.kind,
                w.hosts,
                w.fields,
                format_duration(Duration::from_millis(w.duration_ms)),
                format_duration(Duration::from_millis(w.interval_ms)),
                r.load.writers,
                r.load.batch_lines,
                if server.cpu_s_per_query.is_none() {
                    "; query CPU not measured (built-in value)"
                } else {
                    ""
                },
                if memory_measured {
                    String::new()
                } else {
                    format!(
                        "; memory per series built in ({series} active series is under {MIN_MEMORY_SERIES}, \
                         where fixed buffers dominate)"
                    )
                }
            ),
            bytes_per_sample: bps,
            cpu_s_per_million_samples: cpu,
            ram_baseline_bytes: baseline,
            ram_bytes_per_active_series: per_series,
            cpu_s_per_query: server.cpu_s_per_query.unwrap_or(builtin.cpu_s_per_query),
            bench_interval_s: w.interval_ms as f64 / 1000.0,
            bench_active_series: memory_series,
            query_bench_series: series,
        })
    }

    /// Reads constants written by `foresight bench`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        serde_json::from_str(&text).map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
    }

    /// Writes them as JSON (creating the parent directory).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let io = |e| Error::Io {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(io)
    }
}

/// The workload to plan for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanInput {
    /// Active series.
    pub series: u64,
    /// Time between two samples of a series.
    pub interval: Duration,
    /// How long samples are kept.
    pub retention: Duration,
    /// PromQL queries per second (of the standard set's mix).
    pub queries_per_sec: f64,
}

/// Safety margins applied on top of the raw needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margins {
    /// Disk: room for compaction to rewrite a partition and for file-system slack.
    pub disk: f64,
    /// Memory: room for query working sets and bursts.
    pub ram: f64,
    /// Cores are sized so that the average load stays at this fraction of them.
    pub cpu_utilisation: f64,
}

impl Default for Margins {
    fn default() -> Self {
        Margins {
            disk: 1.2,
            ram: 1.5,
            cpu_utilisation: 0.5,
        }
    }
}

/// The estimate and the assumptions behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Samples ingested per second.
    pub samples_per_s: f64,
    /// Samples kept at once.
    pub retained_samples: f64,
    /// Block bytes for the retention.
    pub block_bytes: f64,
    /// WAL bytes at most.
    pub wal_bytes: f64,
    /// Disk to provision, margin included.
    pub disk_bytes: f64,
    /// Resident memory without margin.
    pub ram_needed_bytes: f64,
    /// Memory to provision, margin included.
    pub ram_bytes: f64,
    /// Average cores busy (ingest + queries).
    pub cores_busy: f64,
    /// Cores to provision.
    pub cores: u64,
    /// One line per assumption.
    pub assumptions: Vec<String>,
}

/// Estimates disk, memory and cores for `input` from `c`.
pub fn plan(input: &PlanInput, c: &Constants, m: &Margins) -> Result<Plan, Error> {
    let bad = |s: &str| Err(Error::InvalidArgument(s.into()));
    if input.series == 0 {
        return bad("series must be at least 1");
    }
    let interval_s = input.interval.as_secs_f64();
    if interval_s <= 0.0 {
        return bad("interval must be positive");
    }
    if input.retention < input.interval {
        return bad("retention must be at least one interval");
    }
    if !input.queries_per_sec.is_finite() || input.queries_per_sec < 0.0 {
        return bad("queries per second must be a number >= 0");
    }
    if !(m.disk >= 1.0 && m.ram >= 1.0 && m.cpu_utilisation > 0.0 && m.cpu_utilisation <= 1.0) {
        return bad("margins: disk and ram >= 1, cpu utilisation in (0, 1]");
    }
    let series = input.series as f64;
    let samples_per_s = series / interval_s;
    let retained_samples = series * (input.retention.as_secs_f64() / interval_s).floor();
    let block_bytes = retained_samples * c.bytes_per_sample;
    let wal_samples = series * (HEAD_WINDOW_S.min(input.retention.as_secs_f64()) / interval_s).ceil();
    let wal_bytes = wal_samples * WAL_BYTES_PER_SAMPLE;
    let disk_bytes = (block_bytes + wal_bytes) * m.disk;
    // Memory per series was measured at the bench's interval; a head holds a fixed time window, so
    // it scales with the samples per series in that window (never below the measured value's half,
    // the per-series fixed part).
    let head_scale = (c.bench_interval_s / interval_s).max(0.5);
    let per_series = c.ram_bytes_per_active_series * head_scale;
    let ram_needed_bytes = c.ram_baseline_bytes + series * per_series;
    let ram_bytes = ram_needed_bytes * m.ram;
    let ingest_cores = samples_per_s * c.cpu_s_per_million_samples / 1e6;
    // The standard queries touch every series: scale their cost from the measuring run's count.
    let query_scale = if c.query_bench_series > 0 {
        series / c.query_bench_series as f64
    } else {
        1.0
    };
    let cpu_per_query = c.cpu_s_per_query * query_scale;
    let query_cores = input.queries_per_sec * cpu_per_query;
    let cores_busy = ingest_cores + query_cores;
    let cores = ((cores_busy / m.cpu_utilisation).ceil() as u64).max(1);

    let mut a = vec![
        format!("constants: {} (measured {})", c.source, c.measured_at),
        format!(
            "ingest: {} series every {} = {} samples/s",
            input.series,
            format_duration(input.interval),
            format_count(samples_per_s)
        ),
        format!(
            "blocks: {} samples kept ({}) x {:.3} B/sample = {}",
            format_count(retained_samples),
            format_duration(input.retention),
            c.bytes_per_sample,
            format_bytes(block_bytes)
        ),
        format!(
            "WAL: up to {:.0} h of samples x {WAL_BYTES_PER_SAMPLE} B (assumed, not measured) = {}",
            HEAD_WINDOW_S / 3600.0,
            format_bytes(wal_bytes)
        ),
        format!("disk margin x{} (compaction rewrites, file-system slack)", m.disk),
        format!(
            "memory: {} baseline + {} series x {} per series{} = {}, margin x{} for queries",
            format_bytes(c.ram_baseline_bytes),
            input.series,
            format_bytes(per_series),
            if (head_scale - 1.0).abs() > 1e-9 {
                format!(
                    " (measured {} at {} s, scaled x{head_scale:.2} for the interval)",
                    format_bytes(c.ram_bytes_per_active_series),
                    c.bench_interval_s
                )
            } else {
                String::new()
            },
            format_bytes(ram_needed_bytes),
            m.ram
        ),
        format!(
            "cores: ingest {ingest_cores:.3} ({:.3} CPU-s per million samples) + queries {query_cores:.3} \
             ({} q/s x {cpu_per_query:.4} CPU-s per standard query{}) = {cores_busy:.3} busy, sized for {:.0}% \
             utilisation",
            c.cpu_s_per_million_samples,
            input.queries_per_sec,
            if c.query_bench_series > 0 {
                format!(
                    ": {:.4} measured over {} series, scaled to {}",
                    c.cpu_s_per_query, c.query_bench_series, input.series
                )
            } else {
                String::new()
            },
            m.cpu_utilisation * 100.0
        ),
    ];
    if input.series > c.bench_active_series.saturating_mul(100) {
        a.push(format!(
            "warning: {} series is over 100x the {} active series the memory constant was measured with; \
             bench with more hosts for a closer figure",
            input.series, c.bench_active_series
        ));
    }
    Ok(Plan {
        samples_per_s,
        retained_samples,
        block_bytes,
        wal_bytes,
        disk_bytes,
        ram_needed_bytes,
        ram_bytes,
        cores_busy,
        cores,
        assumptions: a,
    })
}

impl Plan {
    /// The result and its assumptions as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "disk   {}", format_bytes(self.disk_bytes));
        let _ = writeln!(o, "memory {}", format_bytes(self.ram_bytes));
        let _ = writeln!(o, "cores  {}", self.cores);
        let _ = writeln!(o, "assumptions:");
        for a in &self.assumptions {
            let _ = writeln!(o, "  - {a}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constants() -> Constants {
        Constants {
            measured_at: "2026-01-01".into(),
            source: "test".into(),
            bytes_per_sample: 1.5,
            cpu_s_per_million_samples: 2.0,
            ram_baseline_bytes: 100e6,
            ram_bytes_per_active_series: 10_000.0,
            cpu_s_per_query: 0.05,
            bench_interval_s: 10.0,
            bench_active_series: 1000,
            query_bench_series: 0,
        }
    }

    #[test]
    fn arithmetic() {
        let input = PlanInput {
            series: 100_000,
            interval: Duration::from_secs(10),
            retention: Duration::from_secs(30 * 86400),
            queries_per_sec: 10.0,
        };
        let p = plan(&input, &constants(), &Margins::default()).unwrap();
        assert_eq!(p.samples_per_s, 10_000.0);
        assert_eq!(p.retained_samples, 100_000.0 * 259_200.0);
        assert_eq!(p.block_bytes, 100_000.0 * 259_200.0 * 1.5);
        assert_eq!(p.wal_bytes, 100_000.0 * 1080.0 * WAL_BYTES_PER_SAMPLE);
        assert!((p.disk_bytes - (p.block_bytes + p.wal_bytes) * 1.2).abs() < 1.0);
        assert_eq!(p.ram_needed_bytes, 100e6 + 100_000.0 * 10_000.0);
        assert_eq!(p.ram_bytes, p.ram_needed_bytes * 1.5);
        // 10k samples/s x 2 CPU-s per M = 0.02 cores; 10 q/s x 0.05 = 0.5 cores.
        assert!((p.cores_busy - 0.52).abs() < 1e-9);
        assert_eq!(p.cores, 2);
        let text = p.render();
        assert!(text.contains("cores  2"));
        assert!(text.contains("constants: test (measured 2026-01-01)"));
        assert!(!text.contains("warning"));
        // Measured over 1,000 series: 100x the series, 100x the cost per query.
        let scaled = Constants {
            query_bench_series: 1000,
            ..constants()
        };
        let p = plan(&input, &scaled, &Margins::default()).unwrap();
        assert!((p.cores_busy - (0.02 + 10.0 * 0.05 * 100.0)).abs() < 1e-9);
        assert_eq!(p.cores, 101);
    }

    #[test]
    fn shorter_intervals_need_more_memory_per_series() {
        let base = PlanInput {
            series: 1000,
            interval: Duration::from_secs(10),
            retention: Duration::from_secs(86400),
            queries_per_sec: 0.0,
        };
        let fast = PlanInput {
            interval: Duration::from_secs(1),
            ..base
        };
        let c = constants();
        let a = plan(&base, &c, &Margins::default()).unwrap();
        let b = plan(&fast, &c, &Margins::default()).unwrap();
        assert_eq!(
            b.ram_needed_bytes - c.ram_baseline_bytes,
            10.0 * (a.ram_needed_bytes - c.ram_baseline_bytes)
        );
        assert_eq!(a.cores, 1);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let ok = PlanInput {
            series: 1,
            interval: Duration::from_secs(10),
            retention: Duration::from_secs(86400),
            queries_per_sec: 1.0,
        };
        let c = constants();
        let m = Margins::default();
        assert!(plan(&ok, &c, &m).is_ok());
        assert!(plan(&PlanInput { series: 0, ..ok }, &c, &m).is_err());
        assert!(
            plan(
                &PlanInput {
                    interval: Duration::ZERO,
                    ..ok
                },
                &c,
                &m
            )
            .is_err()
        );
        assert!(
            plan(
                &PlanInput {
                    retention: Duration::from_secs(1),
                    ..ok
                },
                &c,
                &m
            )
            .is_err()
        );
        assert!(
            plan(
                &PlanInput {
                    queries_per_sec: f64::NAN,
                    ..ok
                },
                &c,
                &m
            )
            .is_err()
        );
        assert!(
            plan(
                &ok,
                &c,
                &Margins {
                    cpu_utilisation: 0.0,
                    ..m
                }
            )
            .is_err()
        );
        let huge = plan(
            &PlanInput {
                series: 10_000_000,
                ..ok
            },
            &c,
            &m,
        )
        .unwrap();
        assert!(huge.render().contains("warning"));
    }

    #[test]
    fn constants_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/bench-constants.json");
        constants().save(&path).unwrap();
        assert_eq!(Constants::load(&path).unwrap(), constants());
        assert!(Constants::load(&dir.path().join("missing.json")).is_err());
        std::fs::write(&path, "{").unwrap();
        assert!(Constants::load(&path).is_err());
    }

    #[test]
    fn constants_from_a_report_need_the_measurements() {
        let mut r = crate::report::tests::sample_report("foresight", 1e6, 1.1, 1.0);
        assert!(
            Constants::from_report(&r, "2026-01-01")
                .unwrap_err()
                .contains("not foresight")
        );
        r.target_kind = "foresight".into();
        assert!(Constants::from_report(&r, "2026-01-01").unwrap_err().contains("--pid"));
        r.server = Some(crate::report::ServerReport {
            cpu_s_per_million_samples: Some(0.8),
            ram_bytes_per_active_series: Some(5000.0),
            rss_before_bytes: Some(20 << 20),
            ..Default::default()
        });
        let c = Constants::from_report(&r, "2026-01-01").unwrap();
        assert_eq!(c.bytes_per_sample, 1.1);
        assert_eq!(c.cpu_s_per_million_samples, 0.8);
        assert_eq!(c.cpu_s_per_query, Constants::builtin().cpu_s_per_query);
        assert!(c.source.contains("query CPU not measured"));
        // The sample report has fewer than MIN_MEMORY_SERIES series: memory stays built in.
        assert!(r.workload_summary.active_series < MIN_MEMORY_SERIES);
        assert_eq!(
            c.ram_bytes_per_active_series,
            Constants::builtin().ram_bytes_per_active_series
        );
        assert!(c.source.contains("memory per series built in"), "{}", c.source);
        r.workload_summary.active_series = 100_000;
        let c = Constants::from_report(&r, "2026-01-01").unwrap();
        assert_eq!(c.ram_bytes_per_active_series, 5000.0);
        assert_eq!(c.ram_baseline_bytes, f64::from(20u32 << 20));
        assert_eq!(c.bench_active_series, 100_000);
    }
}
