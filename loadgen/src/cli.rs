//! Command-line arguments of `foresight bench` and `foresight plan`, so that the binary only wires
//! them in.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;
use crate::bench::{self, BenchOptions, FlushPlan};
use crate::driver::{Flavor, LoadSettings, WriteSettings};
use crate::plan::{Constants, Margins, PlanInput, plan};
use crate::queries::QueryApi;
use crate::report::{Report, compare};
use crate::target::Target;
use crate::units::{format_count, parse_duration};
use crate::workload::{Generator, Precision, WorkloadKind, WorkloadSpec};

/// Where `bench` writes and `plan` reads the measured constants by default.
pub const DEFAULT_CONSTANTS_PATH: &str = "./data/bench-constants.json";

/// `foresight bench`: drives a server with a seeded line-protocol workload and reports ingestion
/// rate, latencies, disk, memory and CPU. The global `--data-dir` names the server's data
/// directory to measure.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the server (loopback only unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8086")]
    pub target: String,
    /// Allow a target that is not on this machine's loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// API token for a target with authentication on, sent as `Authorization: Bearer` with
    /// every request. A foresight admin token covers the whole bench (writes, queries, the
    /// flush); a write token only the load (use --query-api none --flush none).
    #[arg(long)]
    pub token: Option<String>,
    /// Name of the target in the report (default: the detected kind).
    #[arg(long)]
    pub label: Option<String>,

    /// Workload: cpu (TSBS cpu-only) or devops (cpu + counters + histograms).
    #[arg(long, default_value = "cpu")]
    pub workload: String,
    /// Hosts writing at once.
    #[arg(long, default_value_t = 100)]
    pub hosts: u32,
    /// usage_* fields per cpu row (1-10).
    #[arg(long, default_value_t = 10)]
    pub fields: u32,
    /// Time between two rows of a host.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// Span of data time generated.
    #[arg(long, default_value = "24h")]
    pub duration: String,
    /// First timestamp, unix seconds (default 2023-11-14T00:00:00Z, as the peers harness).
    #[arg(long, default_value_t = 1_699_920_000)]
    pub start: i64,
    /// Seed of the workload.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of hosts replaced by new ones every --churn-every.
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// Time between churn events.
    #[arg(long, default_value = "1h")]
    pub churn_every: String,
    /// Fraction of host rows sent late (after newer rows of the same series).
    #[arg(long, default_value_t = 0.0)]
    pub out_of_order: f64,
    /// Largest delay of a late row.
    #[arg(long, default_value = "1m")]
    pub out_of_order_max_delay: String,
    /// Timestamp precision of the lines: s, ms, us, ns.
    #[arg(long, default_value = "s")]
    pub precision: String,

    /// Concurrent writers.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// Lines per write request.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Write endpoint: influx1 (/write), influx2 (/api/v2/write) or prom-remote-write
    /// (/api/v1/write, Prometheus remote write 1.0 built from the same samples).
    #[arg(long, default_value = "influx1")]
    pub flavor: String,
    /// db (influx1) or bucket (influx2); empty to leave it out.
    #[arg(long, default_value = "bench")]
    pub db: String,
    /// org (influx2).
    #[arg(long, default_value = "bench")]
    pub org: String,
    /// Stop sending after this long.
    #[arg(long, default_value = "15m")]
    pub time_limit: String,
    /// Stop after this many batches.
    #[arg(long)]
    pub max_batches: Option<u64>,
    /// Timeout of one request.
    #[arg(long, default_value = "2m")]
    pub request_timeout: String,
    /// Generate every batch before starting the clock (as the peers harness does).
    #[arg(long)]
    pub pregenerate: bool,
    /// Stop at the first failed write.
    #[arg(long)]
    pub stop_on_error: bool,
    /// Threads running the standard queries in a loop during the write load.
    #[arg(long, default_value_t = 0)]
    pub query_clients: usize,

    /// Query API of the target: prom, influxql (q1-q7 only) or none.
    #[arg(long, default_value = "prom")]
    pub query_api: String,
    /// Repetitions of each standard query after its first run.
    #[arg(long, default_value_t = 5)]
    pub query_reps: usize,
    /// Bound of the sequential query phase.
    #[arg(long, default_value = "10m")]
    pub query_time_limit: String,
    /// Only the queries whose id starts with one of these (comma-separated, e.g. q1,q3).
    #[arg(long, value_delimiter = ',')]
    pub queries: Vec<String>,
    /// Do not read the stored sample count back.
    #[arg(long)]
    pub no_verify: bool,
    /// The target already holds this workload (loaded offline, e.g. written with `--emit` and
    /// backfilled by `promtool tsdb create-blocks-from openmetrics`): send nothing, then flush,
    /// measure, verify and query as usual. Ingestion figures are reported as not measured.
    #[arg(long)]
    pub preloaded: bool,

    /// Server process id: CPU seconds and peak memory from /proc/<pid>.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Flush request after the load: auto (the target's own), none, or a path to POST
    /// (`GET /path` for a GET); repeatable.
    #[arg(long, default_value = "auto")]
    pub flush: Vec<String>,
    /// Wait up to this long for the data directory's size to stop changing (compaction).
    #[arg(long, default_value = "0s")]
    pub settle: String,
    /// How long the size must stay unchanged to count as settled.
    #[arg(long, default_value = "10s")]
    pub settle_stable: String,
    /// Longest wait for the target to answer before starting.
    #[arg(long, default_value = "60s")]
    pub wait_ready: String,

    /// JSON report file.
    #[arg(long, default_value = "bench-report.json")]
    pub report: PathBuf,
    /// Where to write the constants for `foresight plan` (foresight targets measured with --pid
    /// and --data-dir).
    #[arg(long, default_value = DEFAULT_CONSTANTS_PATH)]
    pub constants: PathBuf,
    /// Do not write the constants file.
    #[arg(long)]
    pub no_constants: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,

    /// Write the workload as line protocol to this file (`-` for stdout) instead of sending it,
    /// and print the generator's speed.
    #[arg(long, conflicts_with = "compare")]
    pub emit: Option<PathBuf>,
    /// Format of `--emit`: lp (InfluxDB line protocol) or openmetrics (metric-major, as
    /// `promtool tsdb create-blocks-from openmetrics` reads it; one metric per field).
    #[arg(long, default_value = "lp", value_parser = ["lp", "openmetrics"])]
    pub emit_format: String,
    /// Print one table comparing these reports (the first is the reference) and exit.
    #[arg(long, num_args = 1..)]
    pub compare: Vec<PathBuf>,
}

/// `foresight plan`: disk, memory and cores for a workload, from constants measured by
/// `foresight bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Active series.
    #[arg(long)]
    pub series: u64,
    /// Time between two samples of a series.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// How long samples are kept.
    #[arg(long, default_value = "30d")]
    pub retention: String,
    /// PromQL queries per second.
    #[arg(long, default_value_t = 1.0)]
    pub queries_per_sec: f64,
    /// Constants file written by `foresight bench` (default: ./data/bench-constants.json if it
    /// exists, else the built-in constants).
    #[arg(long)]
    pub constants: Option<PathBuf>,
    /// Disk margin factor.
    #[arg(long, default_value_t = 1.2)]
    pub disk_margin: f64,
    /// Memory margin factor.
    #[arg(long, default_value_t = 1.5)]
    pub ram_margin: f64,
    /// Average CPU utilisation the cores are sized for (0-1].
    #[arg(long, default_value_t = 0.5)]
    pub cpu_utilisation: f64,
    /// Print the estimate as JSON.
    #[arg(long)]
    pub json: bool,
}

fn dur(flag: &str, s: &str) -> Result<Duration, Error> {
    parse_duration(s).map_err(|e| Error::InvalidArgument(format!("--{flag}: {e}")))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl BenchArgs {
    /// The workload these arguments describe.
    pub fn workload(&self) -> Result<WorkloadSpec, Error> {
        let spec = WorkloadSpec {
            kind: self.workload.parse::<WorkloadKind>()?,
            hosts: self.hosts,
            fields: self.fields,
            interval_ms: ms(dur("interval", &self.interval)?),
            duration_ms: ms(dur("duration", &self.duration)?),
            start_ms: self
                .start
                .checked_mul(1000)
                .ok_or_else(|| Error::InvalidArgument("--start out of range".into()))?,
            seed: self.seed,
            churn: self.churn,
            churn_every_ms: ms(dur("churn-every", &self.churn_every)?),
            out_of_order: self.out_of_order,
            out_of_order_max_delay_ms: ms(dur("out-of-order-max-delay", &self.out_of_order_max_delay)?),
            precision: self.precision.parse::<Precision>()?,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Everything a run needs; `data_dir` is the server's data directory to measure.
    pub fn options(&self, data_dir: Option<PathBuf>) -> Result<BenchOptions, Error> {
        let workload = self.workload()?;
        let flush = match self.flush.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            [] | ["auto"] => FlushPlan::Auto,
            ["none"] => FlushPlan::None,
            paths => FlushPlan::Paths(paths.iter().map(|p| (*p).to_owned()).collect()),
        };
        let query_api = match self.query_api.as_str() {
            "prom" | "promql" => QueryApi::Prom,
            "influxql" => QueryApi::Influxql,
            "none" => QueryApi::None,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "--query-api {other:?}: prom, influxql or none"
                )));
            }
        };
        if self.writers == 0 || self.writers > 1024 {
            return Err(Error::InvalidArgument("--writers must be 1 to 1024".into()));
        }
        if self.batch == 0 {
            return Err(Error::InvalidArgument("--batch must be at least 1".into()));
        }
        if self.query_clients > 256 {
            return Err(Error::InvalidArgument("--query-clients must be at most 256".into()));
        }
        Ok(BenchOptions {
            target: Target {
                token: self.token.clone().filter(|t| !t.is_empty()),
                ..Target::parse(&self.target, self.allow_remote)?
            },
            label: self.label.clone(),
            write: WriteSettings {
                flavor: self.flavor.parse::<Flavor>()?,
                db: self.db.clone(),
                org: self.org.clone(),
                precision: workload.precision,
            },
            load: LoadSettings {
                writers: self.writers,
                batch_lines: self.batch,
                time_limit_s: Some(dur("time-limit", &self.time_limit)?.as_secs_f64()),
                max_batches: self.max_batches,
                request_timeout_s: dur("request-timeout", &self.request_timeout)?.as_secs_f64(),
                pregenerate: self.pregenerate,
                stop_on_error: self.stop_on_error,
                query_clients: self.query_clients,
            },
            workload,
            query_api,
            query_reps: self.query_reps,
            query_time_limit: dur("query-time-limit", &self.query_time_limit)?,
            only_queries: self.queries.clone(),
            pid: self.pid,
            data_dir,
            flush,
            settle_max: dur("settle", &self.settle)?,
            settle_stable: dur("settle-stable", &self.settle_stable)?,
            verify: !self.no_verify,
            preloaded: self.preloaded,
            wait_ready: dur("wait-ready", &self.wait_ready)?,
            progress: !self.quiet,
        })
    }
}

/// Runs `foresight bench`; `data_dir` is the server's data directory to measure, if known.
/// Returns false when something failed (write or query errors, or a stored count that does not
/// match), so the caller can exit non-zero.
pub fn bench_command(args: &BenchArgs, data_dir: impl Into<Option<PathBuf>>) -> Result<bool, Error> {
    let data_dir = data_dir.into();
    if !args.compare.is_empty() {
        let mut reports = Vec::new();
        for p in &args.compare {
            let text = std::fs::read_to_string(p).map_err(|e| Error::Io {
                path: p.display().to_string(),
                source: e,
            })?;
            let r: Report =
                serde_json::from_str(&text).map_err(|e| Error::InvalidArgument(format!("{}: {e}", p.display())))?;
            reports.push(r);
        }
        print!("{}", compare(&reports));
        return Ok(true);
    }
    if let Some(path) = &args.emit {
        if args.emit_format == "openmetrics" {
            return emit_openmetrics(&args.workload()?, path).map(|()| true);
        }
        return emit(&args.workload()?, path, args.batch).map(|()| true);
    }
    let opts = args.options(data_dir)?;
    eprintln!(
        "foresight bench: {} -> {} ({} writers x {} lines)",
        opts.workload.kind,
        opts.write.url(&opts.target),
        opts.load.writers,
        opts.load.batch_lines
    );
    let report = bench::run(&opts)?;
    print!("{}", report.render());
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    write_file(&args.report, json.as_bytes())?;
    println!("report    {}", args.report.display());
    if !args.no_constants {
        match Constants::from_report(&report, &today()) {
            Ok(c) => {
                c.save(&args.constants)?;
                println!("constants {} (for foresight plan)", args.constants.display());
            }
            Err(why) => println!("constants not written: {why}"),
        }
    }
    let ok = report.ingest.errors.failed == 0
        && report.query_errors.failed == 0
        && report.verify.as_ref().is_none_or(|v| v.ok);
    Ok(ok)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

/// Writes the whole workload to `path` and reports the generator's speed.
fn emit(spec: &WorkloadSpec, path: &Path, batch: usize) -> Result<(), Error> {
    let io = |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut out: Box<dyn std::io::Write> = if path.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(path).map_err(io)?)
    };
    let mut g = Generator::new(spec)?;
    let mut buf = Vec::with_capacity(batch.max(1) * 300);
    let started = Instant::now();
    let mut gen_s = 0.0;
    loop {
        buf.clear();
        let t = Instant::now();
        let info = g.fill(&mut buf, batch);
        gen_s += t.elapsed().as_secs_f64();
        if info.lines == 0 {
            break;
        }
        out.write_all(&buf).map_err(io)?;
    }
    out.flush().map_err(io)?;
    let e = g.emitted();
    eprintln!(
        "{} lines, {} samples in {:.2} s ({:.2} s generating: {} samples/s on one core)",
        e.lines,
        e.samples,
        started.elapsed().as_secs_f64(),
        gen_s,
        format_count(e.samples as f64 / gen_s.max(1e-9))
    );
    Ok(())
}

/// Writes the whole workload as OpenMetrics text: `<measurement>_<field>{tags} value seconds`,
/// each metric family together (OpenMetrics forbids interleaving them) and each series in time
/// order, ending with `# EOF`. The generator runs once per field, so memory holds one field's
/// samples at a time, not the whole workload.
fn emit_openmetrics(spec: &WorkloadSpec, path: &Path) -> Result<(), Error> {
    use std::collections::BTreeMap;
    let io = |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut out: Box<dyn std::io::Write> = if path.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?))
    };
    let divisor = match spec.precision {
        Precision::S => 1.0,
        Precision::Ms => 1e3,
        Precision::Us => 1e6,
        Precision::Ns => 1e9,
    };
    // Metric names first: one pass over the stream finds every (measurement, field).
    let mut names: Vec<(String, String)> = Vec::new();
    let mut buf = Vec::new();
    let mut g = Generator::new(spec)?;
    while g.fill(&mut buf, 5000).lines > 0 {
        for line in String::from_utf8_lossy(&buf).lines() {
            let Some((series, fields, _)) = split_line(line) else {
                continue;
            };
            let measurement = series.split(',').next().unwrap_or(series);
            for f in fields.split(',') {
                let field = f.split('=').next().unwrap_or(f);
                let key = (measurement.to_owned(), field.to_owned());
                if !names.contains(&key) {
                    names.push(key);
                }
            }
        }
        buf.clear();
    }
    let mut samples = 0u64;
    for (measurement, field) in &names {
        let name = format!("{measurement}_{field}");
        writeln!(out, "# TYPE {name} gauge").map_err(io)?;
        // series labels -> (seconds, value), in the stream's (time) order.
        let mut series: BTreeMap<String, Vec<(f64, String)>> = BTreeMap::new();
        let mut g = Generator::new(spec)?;
        while g.fill(&mut buf, 5000).lines > 0 {
            for line in String::from_utf8_lossy(&buf).lines() {
                let Some((key, fields, ts)) = split_line(line) else {
                    continue;
                };
                let mut parts = key.split(',');
                if parts.next() != Some(measurement.as_str()) {
                    continue;
                }
                let Some(value) = fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(field.as_str())?.strip_prefix('='))
                else {
                    continue;
                };
                let labels: Vec<String> = parts
                    .filter_map(|t| t.split_once('='))
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                let t = ts.parse::<f64>().unwrap_or(0.0) / divisor;
                series
                    .entry(labels.join(","))
                    .or_default()
                    .push((t, value.trim_end_matches('i').to_owned()));
            }
            buf.clear();
        }
        for (labels, points) in &mut series {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points.dedup_by(|b, a| a.0 == b.0);
            for (t, v) in points.iter() {
                writeln!(out, "{name}{{{labels}}} {v} {t}").map_err(io)?;
                samples += 1;
            }
        }
    }
    writeln!(out, "# EOF").map_err(io)?;
    out.flush().map_err(io)?;
    eprintln!("{samples} samples in {} metrics (OpenMetrics)", names.len());
    Ok(())
}

/// `(measurement and tags, fields, timestamp)` of one generated line (the generator writes no
/// escaped spaces), or None for a blank line.
fn split_line(line: &str) -> Option<(&str, &str, &str)> {
    let mut it = line.splitn(3, ' ');
    Some((it.next()?, it.next()?, it.next()?))
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date(secs / 86_400)
}

/// Days since 1970-01-01 to `YYYY-MM-DD` (proleptic Gregorian).
fn civil_date(days: u64) -> String {
    let (y, m, d) = foresight_units::civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Runs `foresight plan` and prints the estimate.
pub fn plan_command(args: &PlanArgs) -> Result<(), Error> {
    let default = Path::new(DEFAULT_CONSTANTS_PATH);
    let path = match &args.constants {
        Some(p) => Some(p.as_path()),
        None => default.exists().then_some(default),
    };
    let constants = match path {
        Some(p) => {
            let mut c = Constants::load(p)?;
            c.source = format!("{}: {}", p.display(), c.source);
            c
        }
        None => Constants::builtin(),
    };
    let input = PlanInput {
        series: args.series,
        interval: dur("interval", &args.interval)?,
        retention: dur("retention", &args.retention)?,
        queries_per_sec: args.queries_per_sec,
    };
    let margins = Margins {
        disk: args.disk_margin,
        ram: args.ram_margin,
        cpu_utilisation: args.cpu_utilisation,
    };
    let p = plan(&input, &constants, &margins)?;
    if args.json {
        let json = serde_json::to_string_pretty(&p).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        println!("{json}");
    } else {
        print!("{}", p.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn openmetrics_emission_is_metric_major_and_complete() {
        let spec = WorkloadSpec {
            hosts: 3,
            fields: 2,
            duration_ms: 60_000,
            ..WorkloadSpec::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.om");
        emit_openmetrics(&spec, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"));
        // Two families, each announced once and contiguous; 3 hosts x 6 rows each.
        let types: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("# TYPE")).collect();
        assert_eq!(types.len(), 2);
        assert_eq!(lines[types[0]], "# TYPE cpu_usage_user gauge");
        assert_eq!(types[1] - types[0] - 1, 18);
        assert_eq!(lines.len(), 2 + 2 * 18 + 1);
        let first = lines[types[0] + 1];
        assert!(first.starts_with("cpu_usage_user{hostname=\"host_"), "{first}");
        assert!(first.ends_with(" 1699920000"), "{first}");
        // Each series in time order, whole: timestamps 0..50 s for the first host.
        let ts: Vec<&str> = lines[types[0] + 1..types[0] + 7]
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(
            ts,
            [
                "1699920000",
                "1699920010",
                "1699920020",
                "1699920030",
                "1699920040",
                "1699920050"
            ]
        );
    }

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        cmd: C,
    }
    #[derive(Debug, clap::Subcommand)]
    enum C {
        Bench(Box<BenchArgs>),
        Plan(PlanArgs),
    }

    #[test]
    fn defaults_are_the_peers_workload() {
        let t = T::try_parse_from(["x", "bench"]).unwrap();
        let C::Bench(b) = t.cmd else { panic!() };
        assert_eq!(b.workload().unwrap(), WorkloadSpec::default());
        let o = b.options(None).unwrap();
        assert_eq!(o.flush, FlushPlan::Auto);
        assert_eq!(o.load.writers, 4);
        assert_eq!(o.load.batch_lines, 5000);
    }

    #[test]
    fn bad_arguments_are_errors() {
        for args in [
            vec!["x", "bench", "--target", "http://10.1.2.3:8086"],
            vec!["x", "bench", "--interval", "ten"],
            vec!["x", "bench", "--workload", "nope"],
            vec!["x", "bench", "--writers", "0"],
            vec!["x", "bench", "--query-api", "sql"],
            vec!["x", "bench", "--flavor", "v3"],
        ] {
            let t = T::try_parse_from(args.clone()).unwrap();
            let C::Bench(b) = t.cmd else { panic!() };
            assert!(b.options(None).is_err(), "{args:?}");
        }
        let t = T::try_parse_from(["x", "bench", "--flush", "/a", "--flush", "GET /b"]).unwrap();
        let C::Bench(b) = t.cmd else { panic!() };
        assert_eq!(
            b.options(None).unwrap().flush,
            FlushPlan::Paths(vec!["/a".into(), "GET /b".into()])
        );
    }

    #[test]
    fn plan_parses() {
        let t = T::try_parse_from([
            "x",
            "plan",
            "--series",
            "1000",
            "--interval",
            "15s",
            "--retention",
            "90d",
            "--queries-per-sec",
            "2",
        ])
        .unwrap();
        let C::Plan(p) = t.cmd else { panic!() };
        assert_eq!(p.series, 1000);
        assert_eq!(dur("interval", &p.interval).unwrap(), Duration::from_secs(15));
    }

    #[test]
    fn dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_675), "2023-11-14");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
