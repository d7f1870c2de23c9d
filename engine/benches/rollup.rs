//! Long-range percentiles from rollups against raw samples, and what rollups cost on disk.
//!
//! ```sh
//! cargo bench -p foresight-engine --bench rollup [-- SERIES DAYS [5m]]   # default 100 x 7 d
//! ```
//!
//! Writes SERIES gauge series (Gaussian random walks rounded to 2 decimals, the peers' dataset
//! shape, fixed seed) of DAYS days at 10 s into a fresh database, flushing (and so compacting) day
//! by day, then evaluates `quantile_over_time(0.99, lat_ms[DAYS d])` through PromQL at the last
//! sample, two ways: with `EngineOptions::rollups` off (every raw sample decoded, Prometheus'
//! quantile by selection) and on (1 h windows' sketches merged, the last, unaligned hour read raw).
//!
//! It prints both times (best of 3), what each read, the speed-up, the largest relative error of
//! the rollup answers against the raw ones (bound: 0.54 %), and the bytes on disk with the share
//! taken by rollups. Then it reopens the database with a raw retention of one day (rollups kept a
//! year): every block older than that is rewritten rollup-only (retention tiers), and it prints
//! the bytes of those blocks before and after, and the same query answered again (its windows
//! now from the rollup-only blocks) with its largest error against the raw answers. With `5m`, blocks hold 5 min rollups besides the 1 h ones (the default holds
//! 1 h only). A bench program, not criterion: one measurement of a large dataset is the point.

// A bench binary: `main` has no doc comment to carry.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use foresight_engine::lineproto::Precision;
use foresight_engine::promql::{self as foresight_promql, Engine, EngineOptions, Value};
use foresight_engine::{Db, Options};

/// SplitMix64 (fixed seed, as `benches/common`), with a Box-Muller normal.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

const SEED: u64 = 42;
const STEP_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// 2023-11-14T00:00:00Z, a day boundary.
const T0: i64 = 1_699_920_000_000;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap_or_else(f))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; take the numbers only.
    let nums: Vec<i64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let series = *nums.first().unwrap_or(&100) as usize;
    let days = *nums.get(1).unwrap_or(&7);
    let dir = tempfile::tempdir()?;
    let opts = Options {
        background_flush: false,
        rollup_windows_ms: if std::env::args().any(|a| a == "5m") {
            vec![300_000, HOUR_MS]
        } else {
            vec![HOUR_MS]
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone())?;
    let mut rng = Rng(SEED);
    let mut level: Vec<f64> = (0..series).map(|_| 20.0 + 60.0 * rng.unit()).collect();
    let started = Instant::now();
    let per_day = DAY_MS / STEP_MS;
    for d in 0..days {
        let mut body = String::with_capacity(series * per_day as usize * 40);
        for i in 0..per_day {
            let t = T0 + d * DAY_MS + i * STEP_MS;
            for (s, v) in level.iter_mut().enumerate() {
                *v = (*v + 0.3 * rng.gauss()).clamp(1.0, 100.0);
                body.push_str(&format!("lat,svc=s{s} ms={:.2} {t}\n", *v));
            }
        }
        db.write_lines(body.as_bytes(), Precision::Milliseconds)?;
        db.flush()?;
    }
    let samples = series as u64 * (days * per_day) as u64;
    eprintln!(
        "wrote {samples} samples ({series} series x {days} d at 10 s) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // At the last sample, as "now" would be: the last hour is raw (head side), the rest windows.
    let at = T0 + days * DAY_MS - STEP_MS;
    let query = format!("quantile_over_time(0.99, lat_ms[{days}d])");
    let engine = |rollups: bool| {
        Engine::new(EngineOptions {
            max_samples: u64::MAX,
            timeout: None,
            rollups,
            ..EngineOptions::default()
        })
    };
    let run = |rollups: bool| -> Result<(Vec<f64>, u64, usize), foresight_promql::Error> {
        let r = engine(rollups).instant_query(&db, &query, at)?;
        let Value::Vector(v) = r.value else {
            return Err(foresight_promql::Error::BadQuery("not a vector".into()));
        };
        Ok((v.iter().map(|s| s.v).collect(), r.stats.samples_scanned, r.infos.len()))
    };
    let (raw_time, raw) = best_of(3, || run(false));
    let (raw, raw_read, _) = raw?;
    let (rollup_time, rolled) = best_of(3, || run(true));
    let (rolled, rollup_read, infos) = rolled?;
    if rolled.len() != raw.len() || raw.len() != series || infos != 1 {
        return Err(format!(
            "{} answers from rollups, {} raw, {infos} infos",
            rolled.len(),
            raw.len()
        )
        .into());
    }
    // For profiling: `ROLLUP_BENCH_REPEAT=N` repeats the rollup query N more times.
    let repeat: usize = std::env::var("ROLLUP_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for _ in 0..repeat {
        run(true)?;
    }
    // Where the rollup time goes: the storage's read alone (windows decoded, edge samples read).
    let sel = [foresight_engine::LabelMatcher::equal("__name__", "lat_ms")];
    let last_hour = (at.div_euclid(HOUR_MS) * HOUR_MS, at);
    let (read_time, read) = best_of(3, || {
        db.select_rollups(&sel, HOUR_MS, at - days * DAY_MS + 1, at, &[last_hour])
    });
    let windows: usize = read?.iter().map(|s| s.windows.len()).sum();
    println!(
        "of which the storage read ({windows} windows and the last hour raw): {:.1} ms",
        read_time.as_secs_f64() * 1e3
    );
    let worst = raw
        .iter()
        .zip(&rolled)
        .map(|(r, q)| ((q - r) / r).abs())
        .fold(0.0f64, f64::max);
    let blocks = db.blocks();
    let bytes: u64 = blocks.iter().map(|b| b.bytes).sum();
    let rollup_bytes: u64 = blocks.iter().map(|b| b.rollup_bytes).sum();
    println!(
        "series {series}, days {days}, samples {samples}, blocks {}",
        blocks.len()
    );
    println!(
        "{query} through PromQL: raw {:.1} ms ({raw_read} samples read), rollups {:.1} ms ({rollup_read} windows and edge samples read), speed-up {:.1}x",
        raw_time.as_secs_f64() * 1e3,
        rollup_time.as_secs_f64() * 1e3,
        raw_time.as_secs_f64() / rollup_time.as_secs_f64()
    );
    println!(
        "largest relative error of the rollup answers: {:.4} % (bound {:.2} %)",
        worst * 100.0,
        foresight_engine::sketch::RELATIVE_ERROR * 100.0
    );
    println!(
        "bytes on disk: {bytes} with rollups, {} without; rollups add {:.1} % ({:.3} bytes/sample raw, {:.3} rollups)",
        bytes - rollup_bytes,
        rollup_bytes as f64 * 100.0 / (bytes - rollup_bytes) as f64,
        (bytes - rollup_bytes) as f64 / samples as f64,
        rollup_bytes as f64 / samples as f64
    );
    db.close()?;

    // Retention tiers: raw kept one day, rollups a year.
    let before: std::collections::HashMap<u64, u64> = blocks.iter().map(|b| (b.seq, b.bytes)).collect();
    let db = Db::open(
        dir.path(),
        Options {
            retention_ms: Some(DAY_MS),
            rollup_retention_ms: Some(365 * DAY_MS),
            ..opts
        },
    )?;
    let started = Instant::now();
    db.flush()?;
    let rewrite = started.elapsed();
    let after = db.blocks();
    let (mut was, mut now, mut n) = (0u64, 0u64, 0usize);
    for b in after.iter().filter(|b| b.rollup_only_series > 0) {
        was += before.get(&b.seq).copied().unwrap_or(0);
        now += b.bytes;
        n += 1;
    }
    let total: u64 = after.iter().map(|b| b.bytes).sum();
    println!(
        "tiers (raw 1 d, rollups 1 y): {n} blocks rewritten rollup-only in {:.1} s: {was} bytes -> {now} ({:.1} %); all blocks {bytes} -> {total} bytes",
        rewrite.as_secs_f64(),
        now as f64 * 100.0 / was.max(1) as f64
    );
    let (tier_time, tiered) = best_of(3, || {
        engine(true).instant_query(&db, &query, at).map(|r| match r.value {
            Value::Vector(v) => v.iter().map(|s| s.v).collect::<Vec<f64>>(),
            _ => Vec::new(),
        })
    });
    let tiered = tiered?;
    if tiered.len() != raw.len() {
        return Err(format!(
            "{} answers from the rollup-only blocks, {} raw",
            tiered.len(),
            raw.len()
        )
        .into());
    }
    let worst = raw
        .iter()
        .zip(&tiered)
        .map(|(r, q)| ((q - r) / r).abs())
        .fold(0.0f64, f64::max);
    println!(
        "{query} from the rollup-only blocks: {:.1} ms, largest relative error against the raw answers {:.4} %",
        tier_time.as_secs_f64() * 1e3,
        worst * 100.0
    );
    db.close()?;
    Ok(())
}
