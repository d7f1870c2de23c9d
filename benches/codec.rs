//! Encode/decode throughput (samples/s) of the Gorilla chunk codec and the block column codec on
//! dataset-shaped data generated here with a fixed seed: like `../shared/peers/gen.py`, each series
//! is a Gaussian random walk (sigma 1) clamped to [0, 100] and rounded to 2 decimals, sampled every
//! 10 s, cut into 2 h partitions of 720 samples.
//!
//! `cargo bench --bench codec`

// `criterion_main!` writes a `main` without a doc comment.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use foresight_engine::column::{decode_timestamps, decode_values, encode_timestamps, encode_values};
use foresight_engine::gorilla::{GorillaDecoder, GorillaEncoder};

mod common;
use common::Rng;

const SEED: u64 = 42;
const SERIES: usize = 20;
const PARTITION: usize = 720;

/// Partitions of (timestamps in ms, values) shaped like the peers' dataset.
fn dataset() -> Vec<(Vec<i64>, Vec<f64>)> {
    let mut rng = Rng(SEED);
    let mut parts = Vec::new();
    for _ in 0..SERIES {
        let mut v = (rng.unit() * 10_000.0).round() / 100.0;
        for p in 0..12 {
            let start = 1_699_920_000_000 + p * PARTITION as i64 * 10_000;
            let ts: Vec<i64> = (0..PARTITION as i64).map(|i| start + i * 10_000).collect();
            let values: Vec<f64> = (0..PARTITION)
                .map(|_| {
                    let m = ((v + rng.gauss()).clamp(0.0, 100.0) * 100.0).round();
                    // What parsing "%.2f" text gives: the f64 nearest to m / 100.
                    v = m / 100.0;
                    v
                })
                .collect();
            parts.push((ts, values));
        }
    }
    parts
}

fn gorilla(c: &mut Criterion) {
    let parts = dataset();
    let samples: usize = parts.iter().map(|p| p.0.len()).sum();
    let chunks: Vec<GorillaEncoder> = parts
        .iter()
        .map(|(ts, values)| {
            let mut enc = GorillaEncoder::new();
            for (&t, &v) in ts.iter().zip(values) {
                enc.push(t, v);
            }
            enc
        })
        .collect();
    let mut g = c.benchmark_group("gorilla");
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for (ts, values) in &parts {
                let mut enc = GorillaEncoder::new();
                for (&t, &v) in ts.iter().zip(values) {
                    enc.push(t, v);
                }
                bytes += enc.as_bytes().len();
            }
            black_box(bytes)
        })
    });
    g.bench_function("decode_into", |b| {
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        b.iter(|| {
            for enc in &chunks {
                ts.clear();
                values.clear();
                black_box(
                    GorillaDecoder::new(enc.as_bytes(), enc.len())
                        .decode_into(&mut ts, &mut values)
                        .ok(),
                );
            }
            black_box(ts.len())
        })
    });
    g.bench_function("decode_iter", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for enc in &chunks {
                for (t, v) in GorillaDecoder::new(enc.as_bytes(), enc.len()).flatten() {
                    sum = sum.wrapping_add(t as u64 ^ v.to_bits());
                }
            }
            black_box(sum)
        })
    });
    g.finish();
}

fn columns(c: &mut Criterion) {
    let parts = dataset();
    let samples: usize = parts.iter().map(|p| p.0.len()).sum();
    let encoded: Vec<(Vec<u8>, Vec<u8>)> = parts
        .iter()
        .map(|(ts, values)| {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode_timestamps(ts, &mut a);
            encode_values(values, &mut b);
            (a, b)
        })
        .collect();
    let mut g = c.benchmark_group("column");
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("encode_timestamps", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for (ts, _) in &parts {
                out.clear();
                encode_timestamps(ts, &mut out);
            }
            black_box(out.len())
        })
    });
    g.bench_function("encode_values", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for (_, values) in &parts {
                out.clear();
                encode_values(values, &mut out);
            }
            black_box(out.len())
        })
    });
    g.bench_function("decode_timestamps", |b| {
        let mut out = Vec::with_capacity(PARTITION);
        b.iter(|| {
            for (ts, _) in &encoded {
                out.clear();
                black_box(decode_timestamps(ts, &mut out).ok());
            }
            black_box(out.len())
        })
    });
    g.bench_function("decode_values", |b| {
        let mut out = Vec::with_capacity(PARTITION);
        b.iter(|| {
            for (_, values) in &encoded {
                out.clear();
                black_box(decode_values(values, &mut out).ok());
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    // The machine is shared: keep runs short.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = gorilla, columns
}
criterion_main!(benches);
