//! Forecasting benchmarks (fixed inputs, no randomness outside seeded generators).
//!
//! - `hw/fit_forecast/n2016_m288`: Holt-Winters ETS(A,A,A) fit + 288-step forecast with 95%
//!   intervals on 7 days of 5-minute data.
//! - `hw/fit/n10000_m24`, `hw/fit/n10000_m288`: ETS(A,A,A) fit on 10,000 points (issue 5's
//!   statsmodels comparison; single thread: the fit does not use rayon).
//! - `hw/auto/n2016_m288`: automatic period detection and AICc model selection.
//! - `iforest/fit_score/n10000`: isolation forest (100 trees, 256 samples) fit + score of 10,000
//!   five-feature rows (rayon, all cores), and `iforest/score_1thread/n10000`: scoring alone
//!   in a one-thread pool (per-point cost vs scikit-learn).
//! - `detector/stream/n2016_m288`: the online detector over 7 days of 5-minute data.
//! - `correlate/all/c10000_n1000`: lagged correlation (first differences, Pearson, lags -100..=100)
//!   of 10,000 candidate random walks of 1,000 points with a target, every candidate's best lag
//!   (rayon, all cores; issue 16's target is under a second). `correlate/all_gaps/c10000_n1000`:
//!   the same with a gap in every candidate, which takes the slower path (six FFTs a candidate).
//!
//! `benches/forecast_vs_python/bench_peers.py` times statsmodels and scikit-learn on the same inputs, and
//! `benches/forecast_vs_python/compare_timings.sh` runs both sides in one go.

// `criterion_main!` writes a `main` without a doc comment.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use foresight_forecasting::{
    CorrelateOptions, Correlator, DetectorConfig, FitOptions, IsolationForest, IsolationForestConfig, ModelChoice,
    ModelSpec, N_FEATURES, Season, Seasonality, Trend, build_features, fit, score_series,
};

/// Deterministic hash noise in [-0.5, 0.5), reproduced exactly by `bench_peers.py`.
fn noise(t: usize) -> f64 {
    let x = (t as f64 * 12.9898).sin() * 43_758.545_3;
    x - x.floor() - 0.5
}

/// The benchmark series, shared with `bench_peers.py`: level 100, slow trend, a daily cycle of
/// period `m` with a harmonic, and noise.
fn series(n: usize, m: usize) -> Vec<f64> {
    (0..n)
        .map(|t| {
            let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
            100.0 + 0.001 * t as f64 + 10.0 * ph.sin() + 4.0 * (2.0 * ph).cos() + 4.0 * noise(t)
        })
        .collect()
}

fn aaa(m: usize) -> FitOptions {
    FitOptions {
        model: ModelChoice::Fixed(ModelSpec::new(Trend::Additive, Seasonality::Additive)),
        season: Season::Period(m),
        ..FitOptions::default()
    }
}

fn report_fit(name: &str, y: &[f64], options: &FitOptions) {
    if let Ok(model) = fit(y, options) {
        eprintln!(
            "{name}: {} period {} sse {:.6e} aicc {:.1} params {:?}",
            model.spec(),
            model.period(),
            model.sse(),
            model.aicc(),
            model.params()
        );
    }
}

fn holt_winters(c: &mut Criterion) {
    let mut g = c.benchmark_group("hw");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let y = series(2016, 288);
    report_fit("n2016_m288 AAA", &y, &aaa(288));
    g.bench_function("fit_forecast/n2016_m288", |b| {
        b.iter(|| {
            let model = fit(black_box(&y), &aaa(288)).ok();
            model.and_then(|m| m.forecast(288, 0.95).ok())
        })
    });
    report_fit("n2016_m288 auto", &y, &FitOptions::default());
    g.bench_function("auto/n2016_m288", |b| {
        b.iter(|| {
            let model = fit(black_box(&y), &FitOptions::default()).ok();
            model.and_then(|m| m.forecast(288, 0.95).ok())
        })
    });
    for m in [24, 288] {
        let y = series(10_000, m);
        report_fit(&format!("n10000_m{m} AAA"), &y, &aaa(m));
        g.bench_function(format!("fit/n10000_m{m}"), |b| {
            b.iter(|| fit(black_box(&y), &aaa(m)).ok())
        });
    }
    g.finish();
}

fn iforest(c: &mut Criterion) {
    let y = series(10_000, 288);
    let rows: Vec<f64> = build_features(&y, 12, None).as_flattened().to_vec();
    let cfg = IsolationForestConfig {
        seed: 7,
        ..IsolationForestConfig::default()
    };
    let mut g = c.benchmark_group("iforest");
    g.sample_size(20);
    g.bench_function("fit_score/n10000", |b| {
        b.iter(|| {
            IsolationForest::fit(black_box(&rows), N_FEATURES, &cfg)
                .map(|f| f.score_rows(&rows))
                .ok()
        })
    });
    if let (Ok(pool), Ok(forest)) = (
        rayon::ThreadPoolBuilder::new().num_threads(1).build(),
        IsolationForest::fit(&rows, N_FEATURES, &cfg),
    ) {
        g.bench_function("fit_score_1thread/n10000", |b| {
            b.iter(|| {
                pool.install(|| {
                    IsolationForest::fit(black_box(&rows), N_FEATURES, &cfg)
                        .map(|f| f.score_rows(&rows))
                        .ok()
                })
            })
        });
        g.bench_function("score_1thread/n10000", |b| {
            b.iter(|| pool.install(|| forest.score_rows(black_box(&rows))))
        });
    }
    g.finish();
}

fn detector(c: &mut Criterion) {
    let y = series(2016, 288);
    let ts: Vec<i64> = (0..y.len() as i64).map(|i| i * 300_000).collect();
    let config = DetectorConfig {
        season: Season::Period(288),
        ..DetectorConfig::default()
    };
    let mut g = c.benchmark_group("detector");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("stream/n2016_m288", |b| {
        b.iter(|| score_series(&ts, black_box(&y), &config).ok())
    });
    g.finish();
}

fn correlate(c: &mut Criterion) {
    const POINTS: usize = 1000;
    let mut rng = common::Rng(16);
    let walk = |rng: &mut common::Rng| {
        let mut level = 0.0;
        (0..POINTS)
            .map(|_| {
                level += rng.gauss();
                level
            })
            .collect::<Vec<f64>>()
    };
    let target = walk(&mut rng);
    let candidates: Vec<Vec<f64>> = (0..10_000).map(|_| walk(&mut rng)).collect();
    let options = CorrelateOptions {
        max_lag: POINTS / 10,
        ..CorrelateOptions::default()
    };
    let Ok(correlator) = Correlator::new(&target, &options) else {
        return;
    };
    let mut gappy = candidates.clone();
    for (i, c) in gappy.iter_mut().enumerate() {
        c[i % POINTS] = f64::NAN;
    }
    let mut g = c.benchmark_group("correlate");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("all/c10000_n1000", |b| {
        b.iter(|| correlator.correlate_all(black_box(&candidates)))
    });
    g.bench_function("all_gaps/c10000_n1000", |b| {
        b.iter(|| correlator.correlate_all(black_box(&gappy)))
    });
    g.finish();
}

criterion_group!(benches, holt_winters, iforest, detector, correlate);
criterion_main!(benches);
