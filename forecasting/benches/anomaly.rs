//! The default anomaly detector's cost per point (fixed, seeded inputs).
//!
//! - `robust/series/n8640`: [`score_robust`] over a day of 10 s data (8,640 points: daily-shaped
//!   level, noise, a few spikes), warm-up and refits included; divide by 8,640 for the cost per
//!   point (issue 16's budget: 5 us).
//! - `robust/push/warm_1000`: 1,000 further points pushed into a detector that has seen the
//!   day (a live series between refits: O(1) per point).
//!
//! `benches/anomaly_eval/bench_sklearn.py` times scikit-learn's isolation forest on the same
//! series' features.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use foresight_forecasting::{RobustConfig, RobustDetector, score_robust};

/// Deterministic hash noise in [-0.5, 0.5), reproduced exactly by `bench_sklearn.py`.
fn noise(t: usize) -> f64 {
    let x = (t as f64 * 12.9898).sin() * 43_758.545_3;
    x - x.floor() - 0.5
}

/// A day of 10 s samples: a daily shape, noise, a spike every 1,000 points.
fn day(n: usize) -> Vec<f64> {
    (0..n)
        .map(|t| {
            let ph = std::f64::consts::TAU * t as f64 / 8640.0;
            let spike = if t % 1000 == 999 { 25.0 } else { 0.0 };
            50.0 + 10.0 * ph.sin() + 4.0 * noise(t) + spike
        })
        .collect()
}

fn robust(c: &mut Criterion) {
    let y = day(8640);
    let ts: Vec<i64> = (0..y.len() as i64).map(|i| i * 10_000).collect();
    let config = RobustConfig::default();
    let mut g = c.benchmark_group("robust");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("series/n8640", |b| {
        b.iter(|| score_robust(&ts, black_box(&y), &config).ok())
    });
    let mut warm = RobustDetector::new(config).ok();
    if let Some(d) = &mut warm {
        for (&t, &v) in ts.iter().zip(&y) {
            d.push(t, v);
        }
    }
    let more = day(9640);
    g.bench_function("push/warm_1000", |b| {
        b.iter_batched(
            || warm.clone(),
            |mut d| {
                if let Some(d) = &mut d {
                    for (i, &v) in more[8640..].iter().enumerate() {
                        black_box(d.push((8640 + i as i64) * 10_000, v));
                    }
                }
                d
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, robust);
criterion_main!(benches);
