//! The `foresight` command line: argument parsing and wiring only.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Options, parse_selector};

/// foresight: an embedded time-series database with a forecasting core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Data directory.
    #[arg(long, global = true, env = "FORESIGHT_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// WAL durability: fsync (acknowledge after fsync), interval[:ms], or none.
    #[arg(long, global = true, env = "FORESIGHT_DURABILITY", default_value = "fsync")]
    durability: Durability,
    /// Writer shards (threads); default: number of cores. Fixed when the data directory is created.
    #[arg(long, global = true, env = "FORESIGHT_SHARDS")]
    shards: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
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
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn open(cli: &Cli) -> Result<Db> {
    let mut opts = Options {
        durability: cli.durability,
        ..Options::default()
    };
    if let Some(n) = cli.shards {
        opts.shards = n;
    }
    Db::open(&cli.data_dir, opts).with_context(|| format!("opening {}", cli.data_dir.display()))
}

fn run(cli: Cli) -> Result<()> {
    match &cli.cmd {
        Cmd::Import {
            files,
            precision,
            flush,
        } => {
            let precision =
                Precision::from_param(precision).with_context(|| format!("unknown precision {precision:?}"))?;
            let db = open(&cli)?;
            let started = Instant::now();
            let mut total = (0u64, 0u64, 0u64, 0u64);
            for f in files {
                let r = import(&db, f, precision)?;
                total = (total.0 + r.0, total.1 + r.1, total.2 + r.2, total.3 + r.3);
            }
            if *flush {
                db.flush()?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {} samples from {} lines in {:.2} s ({:.0} samples/s); {} lines rejected, {} string fields skipped",
                total.0,
                total.1,
                secs,
                total.0 as f64 / secs.max(1e-9),
                total.2,
                total.3
            );
            db.close()?;
            if total.2 > 0 {
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

/// Imports one file in chunks of whole lines, with as many writer threads as the database has
/// cores. Returns (samples, lines, rejected, string fields).
fn import(db: &Db, path: &PathBuf, precision: Precision) -> Result<(u64, u64, u64, u64)> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let (tx, rx) = crossbeam_channel::bounded::<(usize, Vec<u8>)>(4);
    // Chunk buffers go back to the reader for reuse (fresh 4 MiB buffers cost page faults).
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    let name = path.display().to_string();
    std::thread::scope(|s| -> Result<(u64, u64, u64, u64)> {
        let mut handles = Vec::new();
        for _ in 0..workers {
            let rx = rx.clone();
            let free_tx = free_tx.clone();
            let name = name.clone();
            handles.push(s.spawn(move || -> Result<(u64, u64, u64, u64)> {
                let mut t = (0, 0, 0, 0);
                for (first_line, chunk) in rx {
                    let r = db.write_lines(&chunk, precision)?;
                    for e in &r.rejected {
                        eprintln!("{name}:{}: {}", first_line + e.line - 1, e.reason);
                    }
                    t.0 += r.samples_accepted;
                    t.1 += r.lines_accepted + r.rejected.len() as u64;
                    t.2 += r.rejected.len() as u64;
                    t.3 += r.string_fields_skipped;
                    let _ = free_tx.send(chunk);
                }
                Ok(t)
            }));
        }
        drop(rx);
        let mut line_no = 1usize;
        loop {
            let mut chunk = free_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(4 << 20));
            chunk.clear();
            let mut lines = 0usize;
            while chunk.len() < (4 << 20) - 4096 {
                let n = reader
                    .read_until(b'\n', &mut chunk)
                    .with_context(|| format!("reading {name}"))?;
                if n == 0 {
                    break;
                }
                lines += 1;
            }
            if lines == 0 {
                break;
            }
            if tx.send((line_no, chunk)).is_err() {
                break;
            }
            line_no += lines;
        }
        drop(tx);
        let mut total = (0, 0, 0, 0);
        for h in handles {
            let Ok(r) = h.join() else {
                bail!("an import thread panicked")
            };
            let r = r?;
            total = (total.0 + r.0, total.1 + r.1, total.2 + r.2, total.3 + r.3);
        }
        Ok(total)
    })
}

/// RFC 3339 (`2023-11-14T00:00:00Z`) or unix seconds (fractions allowed), to milliseconds.
fn parse_time(s: &str) -> Result<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            bail!("invalid time {s:?}");
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    parse_rfc3339(s).with_context(|| format!("invalid time {s:?}: expected RFC 3339 or unix seconds"))
}

fn parse_rfc3339(s: &str) -> Result<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b'T' && b[10] != b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        bail!("not RFC 3339");
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64> { Ok(s.get(r).context("short")?.parse::<i64>()?) };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &s[start..i];
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse()?;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') => 0,
        Some(c @ (b'+' | b'-')) => {
            let sign = if *c == b'+' { 1 } else { -1 };
            sign * (num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?)
        }
        _ => bail!("missing time zone"),
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        bail!("field out of range");
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000) + ms)
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
