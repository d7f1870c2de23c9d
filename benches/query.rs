//! PromQL range queries over 24 h of 10 s data in [`MemStorage`], fixed seed.
//!
//! - `rate(x[5m])`, `sum by (host) (rate(x[5m]))`: 1,000 counter series, step 300 s.
//! - `quantile_over_time(0.99, g[1h])`: 1,000 gauge series, step 3600 s (adjacent windows, like the
//!   peers' q4) and step 300 s (overlapping windows: the incremental sorted window).
//! - `histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))`: 100 histograms x 12 buckets.
//!
//! Throughput is samples read from storage per second (criterion's "elements").

// `criterion_main!` writes a `main` without a doc comment.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use foresight_promql::{Engine, Labels, MemStorage};

mod common;
use common::Rng;

const SEED: u64 = 42;
const DAY_MS: i64 = 86_400_000;
const INTERVAL_MS: i64 = 10_000;

fn build(seed: u64) -> MemStorage {
    let mut rng = Rng(seed);
    let mut db = MemStorage::new();
    let n = DAY_MS / INTERVAL_MS;
    // 100 hosts x 10 counters.
    for host in 0..100 {
        for field in 0..10 {
            let mut v = 0.0;
            let samples: Vec<(i64, f64)> = (0..n)
                .map(|i| {
                    v += (rng.unit() * 100.0).round() / 10.0;
                    (i * INTERVAL_MS, v)
                })
                .collect();
            db.add(
                Labels::new([
                    ("__name__", "x".to_string()),
                    ("host", format!("host_{host}")),
                    ("field", format!("f{field}")),
                ]),
                samples,
            );
        }
    }
    // 100 hosts x 10 gauges: random walks clamped to [0, 100] with 2 decimals (like the peers'
    // cpu_usage_* data).
    for host in 0..100 {
        for field in 0..10 {
            let mut v: f64 = 50.0;
            let samples: Vec<(i64, f64)> = (0..n)
                .map(|i| {
                    v = (v + (rng.unit() - 0.5) * 4.0).clamp(0.0, 100.0);
                    (i * INTERVAL_MS, (v * 100.0).round() / 100.0)
                })
                .collect();
            db.add(
                Labels::new([
                    ("__name__", "g".to_string()),
                    ("host", format!("host_{host}")),
                    ("field", format!("f{field}")),
                ]),
                samples,
            );
        }
    }
    // 100 histograms with 12 cumulative buckets each.
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    for h in 0..100 {
        let mut counts = [0.0f64; 12];
        let mut series: Vec<Vec<(i64, f64)>> = (0..12).map(|_| Vec::with_capacity(n as usize)).collect();
        for i in 0..n {
            // A few observations per interval, spread over the buckets.
            let obs = (rng.unit() * 20.0) as usize;
            for _ in 0..obs {
                let b = (rng.unit() * rng.unit() * 12.0) as usize;
                for c in counts.iter_mut().skip(b.min(11)) {
                    *c += 1.0;
                }
            }
            for (s, c) in series.iter_mut().zip(counts) {
                s.push((i * INTERVAL_MS, c));
            }
        }
        for (le, s) in bounds.iter().zip(series) {
            db.add(
                Labels::new([
                    ("__name__", "x_bucket".to_string()),
                    ("hist", format!("h{h}")),
                    ("le", (*le).to_string()),
                ]),
                s,
            );
        }
    }
    db
}

fn queries(c: &mut Criterion) {
    let db = build(SEED);
    let engine = Engine::default();
    let cases: &[(&str, &str, i64)] = &[
        ("rate_1000x24h_step300", "rate(x[5m])", 300_000),
        ("sum_by_host_rate_step300", "sum by (host) (rate(x[5m]))", 300_000),
        (
            "quantile_over_time_1h_step3600",
            "quantile_over_time(0.99, g[1h])",
            3_600_000,
        ),
        (
            "quantile_over_time_1h_step300",
            "quantile_over_time(0.99, g[1h])",
            300_000,
        ),
        (
            "avg_by_host_avg_over_time_1h_step3600",
            "avg by (host) (avg_over_time(g[1h]))",
            3_600_000,
        ),
        (
            "histogram_quantile_100x12_step300",
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
            300_000,
        ),
        (
            "histogram_quantile_by_hist_step300",
            "histogram_quantile(0.99, sum by (hist, le) (rate(x_bucket[5m])))",
            300_000,
        ),
    ];
    let mut g = c.benchmark_group("promql_range_24h");
    g.sample_size(10);
    for (name, q, step) in cases {
        let probe = engine
            .range_query(&db, q, 0, DAY_MS, *step)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        eprintln!(
            "{name}: {q} step {}s -> {} series selected, {} samples scanned",
            step / 1000,
            probe.stats.series_selected,
            probe.stats.samples_scanned
        );
        g.throughput(Throughput::Elements(probe.stats.samples_scanned));
        g.bench_function(*name, |b| b.iter(|| engine.range_query(&db, q, 0, DAY_MS, *step)));
    }
    g.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
