//! RAM per active series in the head: writes `foresight bench`'s memory workload (TSBS cpu-only
//! hosts: `cpu` with 7 tags and 10 `usage_*` fields, one row per host every 10 s) into a fresh
//! database and reports the growth of the process' resident set and `Stats::head_bytes`, both per
//! series, the WAL's bytes per sample, and the write throughput (wall clock, and CPU time, which is steadier on a shared
//! machine).
//!
//! ```sh
//! cargo run --release -p foresight-engine --example head_memory [-- HOSTS [TICKS]]
//! ```
//!
//! `CHUNK=N` sets `Options::chunk_samples` (default 120). Defaults: 10,000 hosts x 180 ticks (100,000 series, 30 min at 10 s: one sealed and one open
//! chunk per series). The allocator is mimalloc, as in the `foresight` binary. No background
//! flush, durability `none` (the WAL is written, not fsynced), so only the head is measured.

use std::time::Instant;

use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Options};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const OSES: [&str; 3] = ["Ubuntu16.04LTS", "Ubuntu15.10", "Ubuntu16.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
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

/// Resident set of this process in bytes: now (`VmRSS`) or its peak (`VmHWM`).
fn rss_field(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

fn rss() -> Result<u64> {
    rss_field("VmRSS:")
}

/// CPU seconds (user and system) this process has used so far.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("bad /proc/self/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or("bad /proc/self/stat")
    };
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name; 100 ticks/s.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// A fixed-seed xorshift generator, so every run writes the same values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10_000);
    let ticks: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(180);
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        dir.path(),
        Options {
            durability: Durability::None,
            background_flush: false,
            chunk_samples: std::env::var("CHUNK").ok().and_then(|s| s.parse().ok()).unwrap_or(120),
            ..Options::default()
        },
    )?;
    let tags: Vec<String> = (0..hosts)
        .map(|h| {
            let r = REGIONS[h % REGIONS.len()];
            format!(
                "cpu,hostname=host_{h},region={r},datacenter={r}{},rack={},os={},arch={},service={}",
                ['a', 'b', 'c'][h / 3 % 3],
                h % 100,
                OSES[h / 7 % OSES.len()],
                ARCHES[h / 11 % ARCHES.len()],
                h % 20,
            )
        })
        .collect();
    let mut values = vec![50.0f64; hosts * FIELDS.len()];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Aligned to the partition so that the run stays in one partition, as a 30-minute bench does.
    let start = (now_ms() - ticks * 10_000) / 7_200_000 * 7_200_000;
    let before = rss()?;
    let began = Instant::now();
    let cpu_before = cpu_seconds()?;
    let mut samples = 0u64;
    let mut body = String::new();
    for tick in 0..ticks {
        let t = start + tick * 10_000;
        for chunk in (0..hosts).collect::<Vec<_>>().chunks(1000) {
            body.clear();
            for &h in chunk {
                body.push_str(&tags[h]);
                for (f, name) in FIELDS.iter().enumerate() {
                    let v = &mut values[h * FIELDS.len() + f];
                    let step = (rng.next() % 201) as f64 / 100.0 - 1.0;
                    *v = ((*v + step).clamp(0.0, 100.0) * 100.0).round() / 100.0;
                    body.push(if f == 0 { ' ' } else { ',' });
                    body.push_str(&format!("{name}={v}"));
                }
                body.push_str(&format!(" {t}\n"));
            }
            let r = db.write_lines(body.as_bytes(), Precision::Milliseconds)?;
            if !r.rejected.is_empty() {
                return Err(format!("rejected: {:?}", r.rejected.first()).into());
            }
            samples += r.samples_accepted;
        }
    }
    db.sync()?;
    let secs = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu_before;
    let after = rss()?;
    let stats = db.stats();
    let n = stats.head_series.max(1) as f64;
    println!(
        "series {} samples {} write {:.2} M samples/s ({:.2} CPU-s per M samples, generation included) rss_growth/series {:.0} B (peak {:.0} B) head_bytes/series {:.0} B wal {:.2} B/sample",
        stats.head_series,
        samples,
        samples as f64 / secs / 1e6,
        cpu / (samples as f64 / 1e6),
        after.saturating_sub(before) as f64 / n,
        rss_field("VmHWM:")?.saturating_sub(before) as f64 / n,
        stats.head_bytes as f64 / n,
        stats.wal_bytes as f64 / samples.max(1) as f64,
    );
    db.close()?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
