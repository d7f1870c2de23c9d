//! Line protocol parser throughput, in bytes and in lines per second.
//!
//! Input: the first 50,000 lines of the peers' TSBS-like data set
//! (`/tmp/peers/data/cpu-100x24h.lp`, from `shared/peers/gen.py`) when that file exists, otherwise
//! lines of the same shape generated here with a fixed seed, so the bench never depends on /tmp.
//!
//! ```text
//! cargo bench --bench parser
//! LP_CPU=3 cargo bench --bench parser   # CPU-time figures, see `cpu_time`
//! ```

// `criterion_main!` writes a `main` without a doc comment.
#![allow(missing_docs)]

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use foresight_engine::lineproto::lines;
use foresight_loadgen::{Generator, WorkloadSpec};

const LINES: usize = 50_000;
const DATA: &str = "/tmp/peers/data/cpu-100x24h.lp";

/// The first `LINES` lines of the data file, or None if it is missing or shorter.
fn read_data() -> Option<Vec<u8>> {
    let mut reader = BufReader::new(File::open(DATA).ok()?);
    let mut body = Vec::with_capacity(LINES * 360);
    for _ in 0..LINES {
        if reader.read_until(b'\n', &mut body).ok()? == 0 {
            return None;
        }
    }
    Some(body)
}

/// The first `LINES` lines of `foresight bench`'s default workload (gen.py's shape: 100 hosts
/// with 7 tags, 10 two-decimal fields, seed 42).
fn generate() -> Vec<u8> {
    let mut generator = Generator::new(&WorkloadSpec::default()).expect("the default workload is valid");
    let mut body = Vec::with_capacity(LINES * 360);
    generator.fill(&mut body, LINES);
    body
}

fn parse_all(body: &[u8]) -> usize {
    let mut good = 0;
    for line in lines(body) {
        if let Ok(line) = black_box(line) {
            good += line.fields.len();
        }
    }
    good
}

fn bench_parser(c: &mut Criterion) {
    let (body, source) = match read_data() {
        Some(body) => (body, DATA),
        None => (generate(), "generated"),
    };
    let count = lines(&body).filter(Result::is_ok).count();
    assert_eq!(count, LINES, "every bench line parses");
    eprintln!("parser bench: {LINES} lines, {} bytes, from {source}", body.len());

    if let Some(rounds) = std::env::var("LP_CPU").ok().and_then(|v| v.parse::<u32>().ok()) {
        cpu_time(&body, rounds);
        return;
    }
    let mut group = c.benchmark_group("lineproto");
    group.sample_size(20).measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse/bytes", |b| b.iter(|| parse_all(black_box(&body))));
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("parse/lines", |b| b.iter(|| parse_all(black_box(&body))));
    group.finish();
}

/// `LP_CPU=<rounds>`: instead of criterion's wall-clock figures, which swing on a busy shared
/// machine, print the parser's throughput per second of this thread's CPU time (Linux), ten
/// passes per round. `LP_CPU=0` parses once, for a profiler such as callgrind.
fn cpu_time(body: &[u8], rounds: u32) {
    let cpu_ns = || -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|t| t.parse().ok()))
            .unwrap_or(0)
    };
    if rounds == 0 {
        black_box(parse_all(black_box(body)));
    }
    for _ in 0..rounds {
        let start = cpu_ns();
        for _ in 0..10 {
            black_box(parse_all(black_box(body)));
        }
        let ns = cpu_ns().saturating_sub(start).max(1) as f64 / 10.0;
        eprintln!(
            "CPU time per pass: {:.1} ms = {:.0} MB/s, {:.0} lines/s",
            ns / 1e6,
            body.len() as f64 / ns * 1e3,
            LINES as f64 / ns * 1e9
        );
    }
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);
