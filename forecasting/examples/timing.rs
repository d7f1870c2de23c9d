//! Single-thread CPU time per operation of the benchmark workloads, robust to a busy machine:
//! thread CPU time (from `/proc/thread-self/schedstat`, Linux) counts only while the thread runs,
//! unlike criterion's wall clock. `benches/forecast_vs_python/bench_peers.py` reports statsmodels' and
//! scikit-learn's CPU time (`time.process_time`) on the same inputs.
//!
//! ```sh
//! cargo run --release -p foresight-forecasting --example timing
//! ```

// An example binary: failing loudly is what it should do.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use foresight_forecasting::{
    FitOptions, IsolationForest, IsolationForestConfig, ModelChoice, ModelSpec, N_FEATURES, Season, Seasonality, Trend,
    build_features, fit,
};

fn noise(t: usize) -> f64 {
    let x = (t as f64 * 12.9898).sin() * 43_758.545_3;
    x - x.floor() - 0.5
}

fn series(n: usize, m: usize) -> Vec<f64> {
    (0..n)
        .map(|t| {
            let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
            100.0 + 0.001 * t as f64 + 10.0 * ph.sin() + 4.0 * (2.0 * ph).cos() + 4.0 * noise(t)
        })
        .collect()
}

/// CPU time of the calling thread in nanoseconds (0 where unavailable).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Runs `f` `reps` times; prints the minimum CPU and wall milliseconds per run.
fn measure(name: &str, reps: usize, mut f: impl FnMut()) {
    f(); // warm-up
    let (mut cpu, mut wall) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let (c0, w0) = (cpu_ns(), Instant::now());
        f();
        wall = wall.min(w0.elapsed().as_secs_f64() * 1e3);
        cpu = cpu.min((cpu_ns() - c0) as f64 / 1e6);
    }
    println!("foresight {name}: cpu {cpu:.2} ms  wall {wall:.2} ms  (min of {reps})");
}

fn aaa(m: usize) -> FitOptions {
    FitOptions {
        model: ModelChoice::Fixed(ModelSpec::new(Trend::Additive, Seasonality::Additive)),
        season: Season::Period(m),
        ..FitOptions::default()
    }
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        let y = series(2016, 288);
        measure("hw/fit_forecast/n2016_m288", 10, || {
            let m = fit(black_box(&y), &aaa(288)).unwrap();
            black_box(m.forecast(288, 0.95).unwrap());
        });
        for m in [24, 288] {
            let y = series(10_000, m);
            measure(&format!("hw/fit/n10000_m{m}"), 5, || {
                black_box(fit(black_box(&y), &aaa(m)).unwrap());
            });
        }
        let y = series(10_000, 288);
        let rows: Vec<f64> = build_features(&y, 12, None).as_flattened().to_vec();
        let cfg = IsolationForestConfig {
            seed: 7,
            ..IsolationForestConfig::default()
        };
        measure("iforest/fit_score/n10000", 10, || {
            let f = IsolationForest::fit(black_box(&rows), N_FEATURES, &cfg).unwrap();
            black_box(f.score_rows(&rows));
        });
        let forest = IsolationForest::fit(&rows, N_FEATURES, &cfg).unwrap();
        measure("iforest/score/n10000", 10, || {
            black_box(forest.score_rows(black_box(&rows)));
        });
    });
}
