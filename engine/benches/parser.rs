//! Line protocol parser throughput, in bytes and in lines per second.
//!
//! Input: the first 50,000 lines of the peers' TSBS-like data set
//! (`/tmp/peers/data/cpu-100x24h.lp`, from `shared/peers/gen.py`) when that file exists, otherwise
//! lines of the same shape generated here with a fixed seed, so the bench never depends on /tmp.
//!
//! ```text
//! cargo bench -p foresight-engine --bench parser
//! LP_CPU=3 cargo bench -p foresight-engine --bench parser   # CPU-time figures, see `cpu_time`
//! ```

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use foresight_engine::lineproto::lines;

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

/// splitmix64: a fixed-seed source of numbers for the generated lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Lines shaped like gen.py's: 100 hosts with 7 tags, 10 two-decimal float fields, timestamps
/// in seconds every 10 s.
fn generate() -> Vec<u8> {
    use std::fmt::Write as _;
    const FIELDS: [&str; 10] = [
        "usage_user",
        "usage_system",
        "usage_idle",
        "usage_nice",
        "usage_iowait",
        "usage_irq",
        "usage_softirq",
        "usage_steal",
        "usage_guest",
        "usage_guest_nice",
    ];
    const REGIONS: [(&str, &[&str]); 4] = [
        ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
        ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
        ("us-east-1", &["us-east-1a", "us-east-1b", "us-east-1c"]),
        ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ];
    const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
    const HOSTS: usize = 100;
    let mut rng = Rng(42);
    let prefixes: Vec<String> = (0..HOSTS)
        .map(|h| {
            let (region, dcs) = REGIONS[rng.below(4) as usize];
            let dc = dcs[rng.below(dcs.len() as u64) as usize];
            format!(
                "cpu,hostname=host_{h},region={region},datacenter={dc},rack={},os={},arch={},service={} ",
                rng.below(10),
                OSES[rng.below(3) as usize],
                if rng.below(2) == 0 { "x64" } else { "x86" },
                rng.below(20),
            )
        })
        .collect();
    let mut walks: Vec<[i64; 10]> = (0..HOSTS).map(|_| [0; 10].map(|_| rng.below(10_001) as i64)).collect();
    let mut text = String::with_capacity(LINES * 360);
    for i in 0..LINES {
        let h = i % HOSTS;
        text.push_str(&prefixes[h]);
        for (j, field) in FIELDS.iter().enumerate() {
            // A clamped random walk in hundredths, printed with two decimals.
            let v = &mut walks[h][j];
            *v = (*v + rng.below(201) as i64 - 100).clamp(0, 10_000);
            let sep = if j == 0 { "" } else { "," };
            let _ = write!(text, "{sep}{field}={}.{:02}", *v / 100, *v % 100);
        }
        let _ = writeln!(text, " {}", 1_699_920_000 + (i / HOSTS) * 10);
    }
    text.into_bytes()
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
