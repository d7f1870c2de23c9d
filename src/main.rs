//! The `foresight` command line: argument parsing and wiring only.

mod alloc;
mod backup;
mod report;

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Arg, ArgMatches, Parser, Subcommand};
use foresight_engine::import::{self, CsvColumns, Format, ImportOptions, ImportReport, RejectedLine};
use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Options, parse_selector};
use foresight_server::{SETTINGS, Setting};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// foresight: an embedded time-series database with a forecasting core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    // Settings every command reads: declared here as global flags, described by the table.
    #[arg(long, global = true, env = setting("data-dir").env(), help = setting("data-dir").help_line())]
    data_dir: Option<PathBuf>,
    #[arg(long, global = true, env = setting("durability").env(), help = setting("durability").help_line())]
    durability: Option<Durability>,
    #[arg(long, global = true, env = setting("shards").env(), help = setting("shards").help_line())]
    shards: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the HTTP server: InfluxDB line-protocol writes, the Prometheus query API, /metrics.
    /// Settings: defaults < `--config` file < environment variables < flags.
    Serve(Box<ServeArgs>),
    /// Imports files (or `-` for standard input) of line protocol, OpenMetrics / Prometheus text
    /// or CSV, plain or gzipped.
    Import(ImportArgs),
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
    /// Takes a consistent backup into DIR/<name>: of a running server with `--url`, else of the
    /// stopped server's `--data-dir`. Restore it with `foresight restore`.
    Backup(backup::BackupArgs),
    /// Restores a snapshot or backup into `--data-dir` (a stopped server's): verified first, the
    /// target must be empty unless `--force` (then replaced whole, its snapshots/ kept).
    Restore {
        /// The snapshot directory (made by `backup` or `POST /api/v1/admin/snapshot`).
        snapshot: PathBuf,
        /// Replace a non-empty data directory (never one a running server holds).
        #[arg(long)]
        force: bool,
    },
    /// Checks a data directory or a snapshot (default: `--data-dir`): block checksums and index,
    /// WAL record checksums, the manifest; prints every problem (file, offset, reason) and exits
    /// 1 on an error (a torn WAL tail, which recovery truncates, is a warning).
    Verify {
        /// The directory to check.
        dir: Option<PathBuf>,
    },
    /// Prometheus rule files: `check` validates them, `test` runs rule unit tests (as promtool).
    #[command(subcommand)]
    Rules(RulesCmd),
    /// API tokens in the data directory: `create` prints a new token once, `list`, `revoke`.
    /// A running server picks up changes within a second.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Asks a running server for a period report of a query (`/api/v1/report`): percentiles,
    /// mean and max against the previous period, trend, availability, anomalies; as text, JSON
    /// or a printable HTML page.
    Report(Box<report::ReportArgs>),
}

/// `foresight tokens ...`.
#[derive(Debug, Subcommand)]
enum TokensCmd {
    /// Creates a token and prints it (only its hash is stored: it cannot be shown again).
    /// Authentication is on from the first token.
    Create {
        /// The tenant whose data the token reads and writes (`default`: data written without a
        /// tenant, as before authentication).
        #[arg(long, default_value = foresight_auth::DEFAULT_TENANT)]
        tenant: String,
        /// read (queries), write (writes only) or admin (everything, including admin endpoints).
        #[arg(long)]
        role: foresight_auth::Role,
        /// A label for `list` and `revoke`.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 90d (default: never expires).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Lists the tokens (never their text).
    List,
    /// Deletes a token by its id or name.
    Revoke {
        /// The id (`tok_...`) or the name.
        id: String,
    },
    /// Sets a tenant's limits (applied by a running server within a second), or lists every
    /// tenant's without `--tenant`. A limit of 0 removes it; limits not named stay as they are.
    Limits {
        /// The tenant, or `*` for every tenant without limits of its own.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        set: LimitFlags,
    },
}

/// The limits `foresight tokens limits --tenant T` sets (0 removes one).
#[derive(Debug, Default, clap::Args)]
struct LimitFlags {
    /// Most active series (written in the last hour); new series beyond get 400.
    #[arg(long)]
    max_series: Option<u64>,
    /// Samples per second; beyond, writes get 429 with Retry-After.
    #[arg(long)]
    max_samples_per_second: Option<u64>,
    /// Queries evaluating at once; beyond, queries get 429.
    #[arg(long)]
    max_concurrent_queries: Option<u32>,
    /// Seconds of query evaluation per second (e.g. 0.25: a quarter of the time one query
    /// running; 1: one query at all times); beyond, queries get 429 with Retry-After.
    #[arg(long, value_name = "SECONDS")]
    max_query_seconds_per_second: Option<f64>,
    /// Most samples one query may hold (the server's --max-samples still applies when lower).
    #[arg(long)]
    max_query_samples: Option<u64>,
    /// Longest time range one read may cover (e.g. 31d), range selectors and lookback included.
    #[arg(long, value_name = "DURATION")]
    max_query_range: Option<String>,
    /// Most labels a new series may have, its name included; beyond, its lines get 400.
    #[arg(long)]
    max_labels_per_series: Option<u32>,
    /// Longest label value (bytes) of a new series; beyond, its lines get 400.
    #[arg(long, value_name = "BYTES")]
    max_label_value_length: Option<u32>,
}

impl LimitFlags {
    fn any(&self) -> bool {
        self.max_series.is_some()
            || self.max_samples_per_second.is_some()
            || self.max_concurrent_queries.is_some()
            || self.max_query_seconds_per_second.is_some()
            || self.max_query_samples.is_some()
            || self.max_query_range.is_some()
            || self.max_labels_per_series.is_some()
            || self.max_label_value_length.is_some()
    }

    /// `l` with the flags given applied (0 removes a limit).
    fn apply(&self, mut l: foresight_auth::TenantLimits) -> Result<foresight_auth::TenantLimits> {
        fn set<T: Copy + PartialEq + Default>(slot: &mut Option<T>, v: Option<T>) {
            if let Some(v) = v {
                *slot = (v != T::default()).then_some(v);
            }
        }
        set(&mut l.max_series, self.max_series);
        set(&mut l.max_samples_per_second, self.max_samples_per_second);
        set(&mut l.max_concurrent_queries, self.max_concurrent_queries);
        set(&mut l.max_query_samples, self.max_query_samples);
        set(&mut l.max_labels_per_series, self.max_labels_per_series);
        set(&mut l.max_label_value_length, self.max_label_value_length);
        if let Some(secs) = self.max_query_seconds_per_second {
            if !(secs.is_finite() && (0.0..=1_000_000.0).contains(&secs)) {
                anyhow::bail!("--max-query-seconds-per-second {secs}: expected 0 (no limit) to 1000000");
            }
            let millis = (secs * 1000.0).round() as u32;
            if secs > 0.0 && millis == 0 {
                anyhow::bail!("--max-query-seconds-per-second {secs}: the smallest limit is 0.001");
            }
            set(&mut l.max_query_millis_per_second, Some(millis));
        }
        if let Some(d) = &self.max_query_range {
            let ms = if d.trim() == "0" {
                0
            } else {
                let d = foresight_units::parse_prom_duration(d)
                    .with_context(|| format!("--max-query-range {d:?}: expected a duration such as 31d or 12h"))?;
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            };
            set(&mut l.max_query_range_ms, Some(ms));
        }
        Ok(l)
    }
}

/// One tenant's limits as `tokens limits` lists them.
fn show_limits(l: &foresight_auth::TenantLimits) -> String {
    let mut parts = Vec::new();
    let mut push = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{name}={v}"));
        }
    };
    push("max-series", l.max_series.map(|v| v.to_string()));
    push(
        "max-samples-per-second",
        l.max_samples_per_second.map(|v| v.to_string()),
    );
    push(
        "max-concurrent-queries",
        l.max_concurrent_queries.map(|v| v.to_string()),
    );
    push(
        "max-query-seconds-per-second",
        l.max_query_millis_per_second
            .map(|v| format!("{}", f64::from(v) / 1000.0)),
    );
    push("max-query-samples", l.max_query_samples.map(|v| v.to_string()));
    push(
        "max-query-range",
        l.max_query_range_ms
            .map(|v| foresight_units::format_duration(std::time::Duration::from_millis(v))),
    );
    push("max-labels-per-series", l.max_labels_per_series.map(|v| v.to_string()));
    push(
        "max-label-value-length",
        l.max_label_value_length.map(|v| v.to_string()),
    );
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// `foresight rules ...`: promtool's `check rules` and `test rules`.
#[derive(Debug, Subcommand)]
enum RulesCmd {
    /// Checks rule files as `promtool check rules` does; exits 1 when any has a problem.
    Check {
        /// Rule files (globs are expanded).
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Runs rule unit-test files in `promtool test rules`' format; exits 1 when any test fails.
    Test {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Replays rule files over the stored history of `--data-dir` (a stopped server's, or a
    /// restored backup) and prints when each alert would have gone pending, fired and resolved;
    /// for forecast rules, when the series actually crossed the threshold and how early the
    /// alert came.
    Backtest {
        /// Rule files (globs are expanded).
        #[arg(required = true)]
        files: Vec<String>,
        /// Start of the replay: RFC 3339 or unix seconds.
        #[arg(long)]
        from: String,
        /// End of the replay: RFC 3339 or unix seconds (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Interval of groups that set none.
        #[arg(long, default_value = "1m")]
        evaluation_interval: String,
    },
}

/// `foresight import`'s flags.
#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Files to import (`-`: standard input); gzip is recognised by its magic bytes.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The format: lp (InfluxDB line protocol), openmetrics (also the Prometheus text format) or
    /// csv. Default: by the name without `.gz` (`.csv`: csv; `.prom`, `.om`, `.openmetrics`:
    /// openmetrics), otherwise lp.
    #[arg(long, value_parser = ["lp", "openmetrics", "csv"])]
    format: Option<String>,
    /// Short for `--format csv`.
    #[arg(long, conflicts_with = "format")]
    csv: bool,
    /// Unit of the timestamps (and CSV unix times): ns, us, ms, s, m, h. Default: ns for line
    /// protocol, s for OpenMetrics (as promtool reads it) and CSV.
    #[arg(long)]
    precision: Option<String>,
    /// Plain CSV: the time column (RFC 3339 or unix time in `--precision`).
    #[arg(long, default_value = "time", requires = "value_columns")]
    time_column: String,
    /// Plain CSV: the value columns, each a series named after it. Without it a CSV file is read
    /// as InfluxDB's annotated CSV (`_time`, `_value`, `_field`, `_measurement`, tag columns).
    #[arg(long, value_delimiter = ',')]
    value_columns: Vec<String>,
    /// Plain CSV: the columns that label the series.
    #[arg(long, value_delimiter = ',', requires = "value_columns")]
    label_columns: Vec<String>,
    /// Plain CSV: prefix of the series names (`<metric>_<column>`).
    #[arg(long, requires = "value_columns")]
    metric: Option<String>,
    /// Write everything to blocks at the end (otherwise recent data stays in the WAL until its
    /// partition closes).
    #[arg(long)]
    flush: bool,
    /// Import as this tenant's data (what a token of the tenant would write); default: the
    /// default tenant, as data written without authentication.
    #[arg(long)]
    tenant: Option<String>,
}

/// The settings that [`Cli`] declares as global flags, because other commands read them too.
const GLOBAL_SETTINGS: [&str; 3] = ["data-dir", "durability", "shards"];

/// The setting with this key. Only called with keys of the table.
fn setting(key: &str) -> &'static Setting {
    Setting::find(key).unwrap_or_else(|| panic!("{key} is not in foresight_server::SETTINGS"))
}

/// `foresight serve`'s own flags: `--config` and one per setting of [`SETTINGS`] that is not
/// global, each with its environment variable and `--help` line from the table.
#[derive(Debug)]
struct ServeArgs {
    /// The `--config` file.
    config: Option<PathBuf>,
    /// (key, value) of the settings given as flags or environment variables.
    given: Vec<(&'static str, String)>,
}

fn serve_setting_args() -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().filter(|s| !GLOBAL_SETTINGS.contains(&s.key))
}

impl clap::Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let config = Arg::new("config")
            .long("config")
            .env("FORESIGHT_CONFIG")
            .value_name("CONFIG")
            .value_parser(clap::value_parser!(PathBuf))
            .help("TOML file with settings (keys as the flags' names, e.g. `listen = \"127.0.0.1:8086\"`)");
        cmd.arg(config).args(serve_setting_args().map(|s| {
            let arg = Arg::new(s.key)
                .long(s.key)
                .env(s.env())
                .value_name(s.key.replace('-', "_").to_ascii_uppercase())
                .help(s.help_line());
            match s.bare_flag {
                Some(v) => arg.num_args(0..=1).default_missing_value(v).require_equals(true),
                None if s.repeatable() => arg.action(clap::ArgAction::Append),
                None => arg,
            }
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(ServeArgs {
            config: matches.get_one::<PathBuf>("config").cloned(),
            given: serve_setting_args()
                .flat_map(|s| {
                    let values: Vec<String> = match matches.get_many::<String>(s.key) {
                        // A repeatable setting's values replace the file's list: empty it first.
                        Some(v) if s.repeatable() => std::iter::once(String::new()).chain(v.cloned()).collect(),
                        Some(mut v) => v.next().cloned().into_iter().collect(),
                        None => Vec::new(),
                    };
                    values.into_iter().map(move |v| (s.key, v))
                })
                .collect(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
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
    for (key, value) in &args.given {
        config.set(key, value)?;
    }
    config.validate()?;
    Ok(config)
}

fn main() {
    alloc::tune();
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
        eprintln!("error: {}", error_text(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, `: `-separated, each cause left out when the text before already says
/// it (many errors print their source in their own message).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

fn tokens(cli: &Cli, cmd: &TokensCmd) -> Result<()> {
    use foresight_auth::{ID_BYTES, NewToken, TOKEN_BYTES, TokenFile};
    let dir = cli.data_dir.clone().unwrap_or_else(|| PathBuf::from("./data"));
    let mut file = TokenFile::load(&dir)?;
    match cmd {
        TokensCmd::Create {
            tenant,
            role,
            name,
            expires,
        } => {
            let expires_in = expires
                .as_deref()
                .map(foresight_units::parse_duration)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--expires: {} (expected a duration like 90d)", e.reason()))?;
            let mut random = [0u8; TOKEN_BYTES + ID_BYTES];
            getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("reading the OS random source: {e}"))?;
            let new = NewToken {
                tenant: tenant.clone(),
                role: *role,
                name: name.clone(),
                expires_in,
            };
            let (text, record) = file.create(new, random, foresight_auth::unix_now())?;
            file.save(&dir)?;
            eprintln!(
                "created {} (tenant {}, role {}); store the token now, it is not shown again:",
                record.id,
                record.tenant,
                record.role.as_str()
            );
            println!("{text}");
        }
        TokensCmd::List => {
            println!(
                "{:<18} {:<16} {:<16} {:<6} {:<20} expires",
                "id", "name", "tenant", "role", "created"
            );
            let now = foresight_auth::unix_now();
            for t in &file.tokens {
                let expires = match t.expires {
                    None => "never".to_owned(),
                    Some(e) if t.expired(now) => format!("{} (expired)", unix_date(e)),
                    Some(e) => unix_date(e),
                };
                println!(
                    "{:<18} {:<16} {:<16} {:<6} {:<20} {expires}",
                    t.id,
                    t.name.as_deref().unwrap_or("-"),
                    t.tenant,
                    t.role.as_str(),
                    unix_date(t.created)
                );
            }
        }
        TokensCmd::Revoke { id } => {
            let gone = file.revoke(id)?;
            file.save(&dir)?;
            println!("revoked {}", gone.id);
        }
        TokensCmd::Limits { tenant: None, set } if !set.any() => {
            println!("{:<16} limits", "tenant");
            for (tenant, l) in &file.limits {
                println!("{tenant:<16} {}", show_limits(l));
            }
        }
        TokensCmd::Limits { tenant: None, .. } => {
            anyhow::bail!("tokens limits: name the tenant with --tenant NAME (or '*' for every tenant)")
        }
        TokensCmd::Limits {
            tenant: Some(tenant),
            set,
        } => {
            let l = set.apply(file.limits.get(tenant).copied().unwrap_or_default())?;
            file.set_limits(tenant, l)?;
            file.save(&dir)?;
            eprintln!("limits of tenant {tenant} saved: {}", show_limits(&l));
        }
    }
    Ok(())
}

/// `foresight rules backtest`: one line per alert transition, then a summary.
fn backtest(cli: &Cli, patterns: &[String], from: &str, to: Option<&str>, interval: &str) -> Result<()> {
    let from = parse_time(from).context("--from")?;
    let to = match to {
        Some(t) => parse_time(t).context("--to")?,
        None => i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(i64::MAX),
    };
    let interval = foresight_units::parse_prom_duration(interval)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--evaluation-interval: not a positive duration: {interval:?}"))?;
    let files = foresight_rules::expand_globs(patterns).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut loaded = Vec::new();
    for f in &files {
        match foresight_rules::load_file(f) {
            Ok(rf) => loaded.push(rf),
            Err(errors) => {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::bail!("{}", text.join("\n"));
            }
        }
    }
    let db = open(cli)?;
    let opts = foresight_rules::GroupOptions {
        default_interval: interval,
        ..foresight_rules::GroupOptions::default()
    };
    let report = foresight_rules::backtest(&loaded, &db, from, to, &opts).map_err(anyhow::Error::msg)?;
    for e in &report.events {
        let labels: Vec<String> = e
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let name = e.labels.get("alertname").map_or("", String::as_str);
        let mut line = format!(
            "{}  {:<8}  {name}{{{}}}  value={}",
            rfc3339_ms(e.at),
            e.transition.as_str(),
            labels.join(", "),
            e.value
        );
        match e.crossed_at {
            Some(Some(t)) => line.push_str(&format!(
                "  crossed at {} ({} later)",
                rfc3339_ms(t),
                foresight_units::format_duration(std::time::Duration::from_millis(
                    u64::try_from(t - e.at).unwrap_or(0)
                ))
            )),
            Some(None) => line.push_str("  not crossed by --to"),
            None => {}
        }
        println!("{line}");
    }
    for (t, group, rule, error) in &report.failures {
        eprintln!("{}  group {group:?}, rule {rule:?} failed: {error}", rfc3339_ms(*t));
    }
    let count = |t: foresight_rules::Transition| report.events.iter().filter(|e| e.transition == t).count();
    println!(
        "{} evaluations from {} to {}: {} pending, {} firing, {} resolved",
        report.evaluations,
        rfc3339_ms(from),
        rfc3339_ms(to),
        count(foresight_rules::Transition::Pending),
        count(foresight_rules::Transition::Firing),
        count(foresight_rules::Transition::Resolved)
    );
    db.close()?;
    Ok(())
}

/// Milliseconds since the epoch as RFC 3339 in UTC, to the second.
fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = foresight_units::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// A unix time as `YYYY-MM-DD HH:MM` (UTC).
fn unix_date(secs: u64) -> String {
    let (y, m, d) = foresight_units::civil_from_days(i64::try_from(secs / 86_400).unwrap_or(i64::MAX));
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, s / 60 % 60)
}

fn open(cli: &Cli) -> Result<Db> {
    open_with(cli, cli.durability.unwrap_or_default())
}

fn open_with(cli: &Cli, durability: Durability) -> Result<Db> {
    let mut opts = Options {
        durability,
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
        Cmd::Import(args) => {
            // An import acknowledges once, at the end: unless told otherwise its writes skip the
            // per-batch fsync and everything is made durable before the summary is printed. An
            // import that is killed is simply run again (last write wins makes it idempotent).
            let db = open_with(&cli, cli.durability.unwrap_or(Durability::None))?;
            let started = Instant::now();
            let mut total = ImportReport::default();
            for f in &args.files {
                total += import_file(&db, f, &import_options(args, f)?)?;
            }
            if args.flush {
                db.flush()?;
            }
            db.sync()?;
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
        Cmd::Backup(args) => backup::backup(args, || open(&cli)),
        Cmd::Report(args) => report::report(args),
        Cmd::Restore { snapshot, force } => {
            let Some(target) = &cli.data_dir else {
                anyhow::bail!("restore needs --data-dir: the stopped server's data directory to restore into");
            };
            backup::restore(snapshot, target, *force)
        }
        Cmd::Verify { dir } => {
            let dir = dir
                .clone()
                .or_else(|| cli.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from("./data"));
            if !backup::verify(&dir)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Rules(RulesCmd::Check { files }) => {
            if !check_rule_files(files)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Rules(RulesCmd::Test { files }) => {
            let mut passed = true;
            // As promtool: the verdict on standard output, the failures on standard error.
            for f in files {
                let report = foresight_rules::run_test_file(f);
                println!("Unit Testing:  {}", f.display());
                if report.passed {
                    println!("  SUCCESS");
                } else {
                    eprintln!("  FAILED:");
                    for e in &report.failures {
                        eprintln!("{e}");
                    }
                    println!();
                }
                println!();
                passed &= report.passed;
            }
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Rules(RulesCmd::Backtest {
            files,
            from,
            to,
            evaluation_interval,
        }) => backtest(&cli, files, from, to.as_deref(), evaluation_interval),
        Cmd::Tokens(cmd) => tokens(&cli, cmd),
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

/// `foresight rules check`: each file's verdict as promtool prints it; whether all passed.
fn check_rule_files(patterns: &[String]) -> Result<bool> {
    let files = foresight_rules::expand_globs(patterns).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ok = true;
    for f in files {
        println!("Checking {}", f.display());
        match foresight_rules::load_file(&f) {
            Ok(rf) => {
                let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found\n");
            }
            Err(errors) => {
                // As promtool: the verdict on standard output, the problems on standard error.
                ok = false;
                println!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                }
                println!();
            }
        }
    }
    Ok(ok)
}

/// The import options for `path` from the flags: its format (given, or by the file name) and
/// the precision that format's timestamps default to.
fn import_options(args: &ImportArgs, path: &Path) -> Result<ImportOptions> {
    let name = path.to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let format = match (args.csv, args.format.as_deref(), ext) {
        (true, ..) | (_, Some("csv"), _) | (_, None, "csv") => Format::Csv,
        (_, Some("openmetrics"), _) | (_, None, "prom" | "om" | "openmetrics") => Format::OpenMetrics,
        _ => Format::LineProtocol,
    };
    let precision = match (&args.precision, format) {
        (Some(p), _) => Precision::from_param(p).with_context(|| format!("unknown precision {p:?}"))?,
        (None, Format::LineProtocol) => Precision::Nanoseconds,
        (None, _) => Precision::Seconds,
    };
    let mut opts = ImportOptions::new(precision);
    opts.format = format;
    if !args.value_columns.is_empty() {
        opts.csv = CsvColumns::plain(
            &args.time_column,
            args.value_columns.clone(),
            args.label_columns.clone(),
            args.metric.clone(),
        );
    }
    opts.source_name = path.display().to_string();
    if let Some(t) = &args.tenant {
        anyhow::ensure!(
            foresight_auth::valid_tenant(t),
            "bad --tenant {t:?}: a tenant name is 1 to 64 of A-Z a-z 0-9 _ . -"
        );
        // The default tenant is the data without a tenant label.
        opts.tenant = (t != foresight_auth::DEFAULT_TENANT).then(|| t.clone());
    }
    Ok(opts)
}

/// Imports one file (`-`: standard input, gzipped or not), reporting each rejected line as
/// `file:line: reason` and, on a terminal, the progress on standard error.
fn import_file(db: &Db, path: &Path, opts: &ImportOptions) -> Result<ImportReport> {
    let name = &opts.source_name;
    let (input, total): (Box<dyn Read + Send>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
        let len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (Box::new(file), len)
    };
    let progress = Progress::new(name, total);
    let mut input = BufReader::new(progress.wrap(input));
    // gzip by its magic bytes, whatever the name; concatenated members (as `cat a.gz b.gz`) too.
    let gzipped = input
        .fill_buf()
        .with_context(|| format!("reading {name}"))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let report = import::import_observed(db, reader, opts, &progress);
    progress.bar.finish_and_clear();
    report.with_context(|| format!("importing {name}"))
}

/// The rejected lines on standard error, and a progress bar there when it is a terminal: bytes
/// read of the file's size (compressed bytes for a gzipped file) and samples per second.
struct Progress {
    name: String,
    bar: ProgressBar,
    samples: AtomicU64,
    started: Instant,
}

impl Progress {
    fn new(name: &str, total: Option<u64>) -> Progress {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = match total {
                Some(_) => "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})",
                None => "{prefix} {bytes} {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(name.to_owned());
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            name: name.to_owned(),
            bar,
            samples: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn wrap<R: Read>(&self, r: R) -> indicatif::ProgressBarIter<R> {
        self.bar.wrap_read(r)
    }
}

impl import::ImportObserver for Progress {
    fn rejected(&self, bad: &RejectedLine) {
        self.bar
            .suspend(|| eprintln!("{}:{}: {}", self.name, bad.line, bad.reason));
    }

    fn chunk_done(&self, chunk: &ImportReport) {
        let samples = self.samples.fetch_add(chunk.samples, Ordering::Relaxed) + chunk.samples;
        let rate = samples as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_message(format!("{samples} samples, {rate:.0}/s"));
    }
}

/// RFC 3339 or unix seconds (fractions allowed), to milliseconds: the same parser as the HTTP API.
fn parse_time(s: &str) -> Result<i64> {
    foresight_server::parse_time(s).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_each_cause_once() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(foresight_server::Error::Io {
            what: "starting the forwarding to remote write",
            source: io,
        });
        assert_eq!(error_text(&e), "starting the forwarding to remote write: disk on fire");
        let e = anyhow::Error::new(std::io::Error::other("inner")).context("outer");
        assert_eq!(error_text(&e), "outer: inner");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1699920000").unwrap(), 1_699_920_000_000);
        assert_eq!(parse_time("1699920000.5").unwrap(), 1_699_920_000_500);
        assert_eq!(parse_time("2023-11-14T00:00:00Z").unwrap(), 1_699_920_000_000);
        assert_eq!(parse_time("2023-11-14T01:00:00.25+01:00").unwrap(), 1_699_920_000_250);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn serve_has_a_flag_and_env_per_setting() {
        use clap::CommandFactory;
        let cli = Cli::command();
        cli.clone().debug_assert();
        let serve = cli.find_subcommand("serve").unwrap();
        for s in SETTINGS {
            // The global settings are the top command's, shared with serve when clap builds it.
            let mut args = serve.get_arguments().chain(cli.get_arguments());
            let arg = args.find(|a| a.get_long() == Some(s.key)).unwrap();
            assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(&s.env())), "{}", s.key);
            let help = arg.get_help().unwrap().to_string();
            assert!(help.ends_with(&format!("[default: {}]", s.default_text())), "{help}");
        }
        let cli = Cli::try_parse_from([
            "foresight",
            "serve",
            "--self-monitor",
            "--max-samples=3",
            "--shards",
            "2",
        ])
        .unwrap();
        let Cmd::Serve(args) = &cli.cmd else {
            panic!("not serve")
        };
        assert_eq!(
            args.given,
            [("self-monitor", "true".to_owned()), ("max-samples", "3".to_owned())]
        );
        let config = serve_config(&cli, args).unwrap();
        assert_eq!((config.limits.max_samples, config.shards), (3, Some(2)));
        assert!(Cli::try_parse_from(["foresight", "serve", "--no-such-setting", "1"]).is_err());
        let cli = Cli::try_parse_from(["foresight", "serve", "--rules", "a.yml", "--rules=b/*.yml"]).unwrap();
        let Cmd::Serve(args) = &cli.cmd else {
            panic!("not serve")
        };
        assert_eq!(serve_config(&cli, args).unwrap().alerting.rules, ["a.yml", "b/*.yml"]);
    }
}
