//! Prediction-interval calibration on held-out data.

use foresight_forecasting::{FitOptions, ForecastOptions, ModelChoice, ModelSpec, Season, Seasonality, Trend, fit};

use crate::common::Rng;

/// Coverage of `level` intervals over the held-out last `horizon` points of many series.
fn coverage(spec: ModelSpec, level: f64, seeds: u64, gen_fn: impl Fn(u64) -> (Vec<f64>, usize)) -> f64 {
    let (mut inside, mut total) = (0usize, 0usize);
    for seed in 0..seeds {
        let (y, m) = gen_fn(seed);
        let horizon = m.max(12);
        let (train, test) = y.split_at(y.len() - horizon);
        let options = FitOptions {
            model: ModelChoice::Fixed(spec),
            season: Season::Period(m),
            ..FitOptions::default()
        };
        let model = fit(train, &options).unwrap();
        let fc = model
            .forecast_with(
                horizon,
                &ForecastOptions {
                    level,
                    seed,
                    ..Default::default()
                },
            )
            .unwrap();
        for (i, v) in test.iter().enumerate() {
            total += 1;
            inside += usize::from(fc.lower[i] <= *v && *v <= fc.upper[i]);
        }
    }
    inside as f64 / total as f64
}

/// ETS(A,A,A) data generated from its own state-space model (so the true interval is known).
fn aaa(seed: u64) -> (Vec<f64>, usize) {
    let m = 24;
    let mut g = Rng::new(seed);
    let (mut l, mut b) = (100.0, 0.1);
    let mut s: Vec<f64> = (0..m)
        .map(|j| 10.0 * (std::f64::consts::TAU * j as f64 / m as f64).sin())
        .collect();
    let (alpha, beta, gamma) = (0.2, 0.01, 0.1);
    let y = (0..m * 12)
        .map(|t| {
            let e = 2.0 * g.normal();
            let y = l + b + s[t % m] + e;
            l = l + b + alpha * e;
            b += beta * e;
            s[t % m] += gamma * e;
            y
        })
        .collect();
    (y, m)
}

/// Deterministic seasonal shape, trend and white noise (the common "sine + noise" test case).
fn sine_noise(seed: u64) -> (Vec<f64>, usize) {
    let m = 24;
    let mut g = Rng::new(seed + 1000);
    let y = (0..m * 10)
        .map(|t| {
            let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
            50.0 + 0.02 * t as f64 + 8.0 * ph.sin() + 3.0 * (2.0 * ph).cos() + 1.5 * g.normal()
        })
        .collect();
    (y, m)
}

fn mult(seed: u64) -> (Vec<f64>, usize) {
    let m = 12;
    let mut g = Rng::new(seed + 2000);
    let y = (0..m * 12)
        .map(|t| {
            let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
            (100.0 + 0.5 * t as f64) * (1.0 + 0.2 * ph.sin()) + 2.0 * g.normal()
        })
        .collect();
    (y, m)
}

#[test]
fn intervals_are_calibrated() {
    let aaa_spec = ModelSpec::new(Trend::Additive, Seasonality::Additive);
    let damped = ModelSpec::new(Trend::Damped, Seasonality::Additive);
    let mult_spec = ModelSpec::new(Trend::Additive, Seasonality::Multiplicative);
    let results = [
        ("ETS(A,A,A) data, AAA model, 95%", coverage(aaa_spec, 0.95, 20, aaa)),
        (
            "sine+trend+noise, AAA model, 95%",
            coverage(aaa_spec, 0.95, 20, sine_noise),
        ),
        (
            "sine+trend+noise, AAdA model, 95%",
            coverage(damped, 0.95, 20, sine_noise),
        ),
        (
            "sine+trend+noise, AAA model, 80%",
            coverage(aaa_spec, 0.80, 20, sine_noise),
        ),
        (
            "multiplicative, AAM model (simulated), 95%",
            coverage(mult_spec, 0.95, 20, mult),
        ),
    ];
    for (name, c) in &results {
        println!("{name}: coverage {c:.3}");
    }
    for (name, c) in &results[..3] {
        assert!((0.90..=0.99).contains(c), "{name}: {c}");
    }
    assert!((0.72..=0.88).contains(&results[3].1), "{}", results[3].1);
    assert!((0.90..=0.99).contains(&results[4].1), "{}", results[4].1);
}
