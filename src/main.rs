//! The `foresight` command line: argument parsing and wiring only.

// mimalloc keeps freed memory for reuse instead of returning big blocks to the OS after every
// query (glibc's mmap threshold made page faults a fifth of query time). Built with `no_thp`: where
// transparent huge pages are set to `always` (as on the development machine), its arenas were backed by
// 2 MiB pages, which cost resident memory and the CPU of zeroing them (24 h backfill of 1,000
// series, 3 runs each: peak RSS 285 -> 230 MiB median, server CPU 0.246 -> 0.191 s per million
// samples).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use foresight_engine::import::{self, ImportOptions, ImportReport, RejectedLine};
use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Options, parse_selector};

/// foresight: an embedded time-series database with a forecasting core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Data directory [default: ./data].
    #[arg(long, global = true, env = "FORESIGHT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// WAL durability: fsync (acknowledge after fsync), interval[:ms], or none [default: fsync].
    #[arg(long, global = true, env = "FORESIGHT_DURABILITY")]
    durability: Option<Durability>,
    /// Writer shards (threads); default: number of cores. Fixed when the data directory is created.
    #[arg(long, global = true, env = "FORESIGHT_SHARDS")]
    shards: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the HTTP server: InfluxDB line-protocol writes, the Prometheus query API, /metrics.
    /// Settings: defaults < `--config` file < environment variables < flags.
    Serve(Box<ServeArgs>),
    /// Imports line-protocol files (or `-` for standard input).
    Import {
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Timestamp precision of the lines: ns, us, ms, s, m, h.
        #[arg(long, default_value = "ns")]
        precision: String,
        /// Write everything to blocks at the end (otherwise recent data stays in the WAL until its
        /// partition closes).
        #[arg(long)]
        flush: bool,
    },
    /// Prints the samples of the series matching a selector, e.g. `cpu_usage{host="a"}`.
    Query {
        /// Series selector.
        selector: String,
        /// Start: RFC 3339 or unix seconds (default: everything).
        #[arg(long)]
        start: Option<String>,
        /// End: RFC 3339 or unix seconds (default: everything).
        #[arg(long)]
        end: Option<String>,
        /// Print only the label sets and sample counts.
        #[arg(long)]
        summary: bool,
    },
    /// Writes every head partition to blocks and releases the WAL.
    Flush,
    /// Prints sizes and counts of the data directory.
    Stats,
    /// Drives a server with a seeded line-protocol workload and reports what it cost
    /// (the global `--data-dir` names the server's data directory to measure).
    Bench(Box<foresight_loadgen::BenchArgs>),
    /// Estimates disk, memory and cores for a workload from the constants `bench` measured.
    Plan(foresight_loadgen::PlanArgs),
}

/// `foresight serve` settings; each is also a key of the `--config` TOML file.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML file with settings (keys as the flags' names, e.g. `listen = "127.0.0.1:8086"`).
    #[arg(long, env = "FORESIGHT_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8086].
    #[arg(long, env = "FORESIGHT_LISTEN")]
    listen: Option<String>,
    /// Delete data older than this before the newest sample, e.g. 30d [default: keep all].
    #[arg(long, env = "FORESIGHT_RETENTION")]
    retention: Option<String>,
    /// How far behind the newest sample late samples are accepted [default: 1h].
    #[arg(long, env = "FORESIGHT_OUT_OF_ORDER_WINDOW")]
    out_of_order_window: Option<String>,
    /// Store the `db` (1.x) / `bucket` (2.x) write parameter as this label [default: ignore it].
    #[arg(long, env = "FORESIGHT_DB_LABEL")]
    db_label: Option<String>,
    /// Store foresight's own /metrics every interval, queryable with PromQL [default interval: 15s].
    #[arg(long, env = "FORESIGHT_SELF_MONITOR", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    self_monitor: Option<String>,
    /// Largest write body, compressed and decompressed; larger gets 413 [default: 32MiB].
    #[arg(long, env = "FORESIGHT_MAX_BODY_BYTES")]
    max_body_bytes: Option<String>,
    /// Write bytes in memory at once before writes get 503 + Retry-After [default: 256MiB].
    #[arg(long, env = "FORESIGHT_MAX_INFLIGHT_WRITE_BYTES")]
    max_inflight_write_bytes: Option<String>,
    /// Longest a query may run [default: 2m].
    #[arg(long, env = "FORESIGHT_QUERY_TIMEOUT")]
    query_timeout: Option<String>,
    /// Most samples one query may hold in memory [default: 50000000].
    #[arg(long, env = "FORESIGHT_MAX_SAMPLES")]
    max_samples: Option<String>,
    /// Queries evaluated at once; more wait [default: number of cores].
    #[arg(long, env = "FORESIGHT_MAX_CONCURRENT_QUERIES")]
    max_concurrent_queries: Option<String>,
    /// Shortest interval of /api/v1/stream [default: 1s].
    #[arg(long, env = "FORESIGHT_STREAM_MIN_INTERVAL")]
    stream_min_interval: Option<String>,
    /// Longest life of one /api/v1/stream connection [default: 1h].
    #[arg(long, env = "FORESIGHT_STREAM_MAX_LIFETIME")]
    stream_max_lifetime: Option<String>,
    /// How long shutdown waits for requests in flight [default: 30s].
    #[arg(long, env = "FORESIGHT_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Option<String>,
    /// Most points /api/v1/forecast forecasts per series [default: 10000].
    #[arg(long, env = "FORESIGHT_MAX_FORECAST_HORIZON")]
    max_forecast_horizon: Option<String>,
    /// Most series one /api/v1/forecast or /api/v1/anomalies request models [default: 1000].
    #[arg(long, env = "FORESIGHT_MAX_FORECAST_SERIES")]
    max_forecast_series: Option<String>,
}

/// The server's settings: defaults, then the TOML file, then environment variables and flags.
fn serve_config(cli: &Cli, args: &ServeArgs) -> Result<foresight_server::Config> {
    let mut config = match &args.config {
        Some(path) => foresight_server::Config::from_toml_file(path)?,
        None => foresight_server::Config::default(),
    };
    if let Some(d) = &cli.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(d) = cli.durability {
        config.durability = d;
    }
    if let Some(n) = cli.shards {
        config.shards = Some(n);
    }
    let given = [
        ("listen", &args.listen),
        ("retention", &args.retention),
        ("out-of-order-window", &args.out_of_order_window),
        ("db-label", &args.db_label),
        ("self-monitor", &args.self_monitor),
        ("max-body-bytes", &args.max_body_bytes),
        ("max-inflight-write-bytes", &args.max_inflight_write_bytes),
        ("query-timeout", &args.query_timeout),
        ("max-samples", &args.max_samples),
        ("max-concurrent-queries", &args.max_concurrent_queries),
        ("stream-min-interval", &args.stream_min_interval),
        ("stream-max-lifetime", &args.stream_max_lifetime),
        ("shutdown-timeout", &args.shutdown_timeout),
        ("max-forecast-horizon", &args.max_forecast_horizon),
        ("max-forecast-series", &args.max_forecast_series),
    ];
    for (key, value) in given {
        if let Some(v) = value {
            config.set(key, v)?;
        }
    }
    config.validate()?;
    Ok(config)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log redirected to a file or a journal stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn open(cli: &Cli) -> Result<Db> {
    let mut opts = Options {
        durability: cli.durability.unwrap_or_default(),
        ..Options::default()
    };
    if let Some(n) = cli.shards {
        opts.shards = n;
    }
    let dir = cli.data_dir.clone().unwrap_or_else(|| PathBuf::from("./data"));
    Db::open(&dir, opts).with_context(|| format!("opening {}", dir.display()))
}

fn run(cli: Cli) -> Result<()> {
    match &cli.cmd {
        Cmd::Serve(args) => {
            let config = serve_config(&cli, args)?;
            foresight_server::run(config)?;
            Ok(())
        }
        Cmd::Import {
            files,
            precision,
            flush,
        } => {
            let precision =
                Precision::from_param(precision).with_context(|| format!("unknown precision {precision:?}"))?;
            let db = open(&cli)?;
            let started = Instant::now();
            let mut total = ImportReport::default();
            for f in files {
                total += import_file(&db, f, precision)?;
            }
            if *flush {
                db.flush()?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {} samples from {} lines in {:.2} s ({:.0} samples/s); {} lines rejected, {} string fields skipped",
                total.samples,
                total.lines,
                secs,
                total.samples as f64 / secs.max(1e-9),
                total.rejected,
                total.string_fields_skipped
            );
            db.close()?;
            if total.rejected > 0 {
                std::process::exit(2);
            }
            Ok(())
        }
        Cmd::Query {
            selector,
            start,
            end,
            summary,
        } => {
            let matchers = parse_selector(selector)?;
            let mint = start.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MIN);
            let maxt = end.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MAX);
            let db = open(&cli)?;
            let series = db.select(&matchers, mint, maxt)?;
            for s in &series {
                if *summary {
                    let first = s.samples.first().map(|x| x.0).unwrap_or(0);
                    let last = s.samples.last().map(|x| x.0).unwrap_or(0);
                    println!("{} {} samples [{} .. {}]", s.labels, s.samples.len(), first, last);
                } else {
                    println!("{}", s.labels);
                    for (t, v) in &s.samples {
                        println!("  {t} {v}");
                    }
                }
            }
            eprintln!("{} series", series.len());
            db.close()?;
            Ok(())
        }
        Cmd::Bench(args) => {
            if !foresight_loadgen::bench_command(args, cli.data_dir.clone())? {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Plan(args) => Ok(foresight_loadgen::plan_command(args)?),
        Cmd::Flush => {
            let db = open(&cli)?;
            db.flush()?;
            println!("{} blocks", db.blocks().len());
            db.close()?;
            Ok(())
        }
        Cmd::Stats => {
            let db = open(&cli)?;
            println!("{:#?}", db.stats());
            for b in db.blocks() {
                println!(
                    "block {} partition {} [{} .. {}] {} series {} samples {} bytes{}",
                    b.path.display(),
                    b.partition,
                    b.mint,
                    b.maxt,
                    b.series,
                    b.samples,
                    b.bytes,
                    if b.sealed { " sealed" } else { "" }
                );
            }
            db.close()?;
            Ok(())
        }
    }
}

/// Imports one file (`-`: standard input), reporting each rejected line as `file:line: reason`.
fn import_file(db: &Db, path: &Path, precision: Precision) -> Result<ImportReport> {
    let name = path.display().to_string();
    let mut opts = ImportOptions::new(precision);
    opts.source_name = name.clone();
    let reject = |bad: &RejectedLine| eprintln!("{name}:{}: {}", bad.line, bad.reason);
    let report = if path.as_os_str() == "-" {
        import::import(db, std::io::stdin(), &opts, reject)
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
        import::import(db, file, &opts, reject)
    };
    report.with_context(|| format!("importing {name}"))
}

/// RFC 3339 or unix seconds (fractions allowed), to milliseconds: the same parser as the HTTP API.
fn parse_time(s: &str) -> Result<i64> {
    foresight_server::parse_time(s).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1699920000").unwrap(), 1_699_920_000_000);
        assert_eq!(parse_time("1699920000.5").unwrap(), 1_699_920_000_500);
        assert_eq!(parse_time("2023-11-14T00:00:00Z").unwrap(), 1_699_920_000_000);
        assert_eq!(parse_time("2023-11-14T01:00:00.25+01:00").unwrap(), 1_699_920_000_250);
        assert!(parse_time("yesterday").is_err());
    }
}
