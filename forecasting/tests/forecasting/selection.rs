//! `ModelChoice::Auto` checked out of sample: the backtested choice and its calibrated intervals.

use foresight_forecasting::{FitOptions, ModelChoice, ModelSpec, Season, Seasonality, Trend, fit};

use crate::common::Rng;

fn auto(m: usize) -> FitOptions {
    FitOptions {
        model: ModelChoice::Auto,
        season: Season::Period(m),
        ..FitOptions::default()
    }
}

fn fixed(spec: ModelSpec, m: usize) -> FitOptions {
    FitOptions {
        model: ModelChoice::Fixed(spec),
        season: Season::Period(m),
        ..FitOptions::default()
    }
}

/// Held-out coverage of 95% intervals and mean absolute error over the last `horizon` points.
fn held_out(y: &[f64], horizon: usize, options: &FitOptions) -> (usize, usize, f64) {
    let (train, test) = y.split_at(y.len() - horizon);
    let model = fit(train, options).unwrap();
    let fc = model.forecast(horizon, 0.95).unwrap();
    let mut inside = 0;
    let mut abs = 0.0;
    for (i, v) in test.iter().enumerate() {
        inside += usize::from(fc.lower[i] <= *v && *v <= fc.upper[i]);
        abs += (v - fc.mean[i]).abs();
    }
    (inside, test.len(), abs / test.len() as f64)
}

/// Each phase of the season is its own random walk: the value one season earlier is the best
/// forecast there is. Over 20 series the automatic choice must forecast no worse than it (2%
/// slack for the noise of 240 held-out errors), which holds only if the seasonal naive model
/// competes.
#[test]
fn seasonal_random_walk_is_forecast_no_worse_than_seasonal_naive() {
    let m = 12;
    let (mut ours, mut naive) = (0.0, 0.0);
    for seed in 0..20 {
        let mut g = Rng::new(seed + 500);
        let mut y: Vec<f64> = (0..m).map(|i| 10.0 * (i as f64 * 0.5).sin()).collect();
        for t in m..m * 25 {
            y.push(y[t - m] + g.normal());
        }
        let (train, test) = y.split_at(y.len() - m);
        let model = fit(train, &auto(m)).unwrap();
        let fc = model.forecast(m, 0.95).unwrap();
        for (k, v) in test.iter().enumerate() {
            ours += (v - fc.mean[k]).abs();
            naive += (v - train[train.len() - m + k]).abs();
        }
    }
    println!("seasonal random walks: MAE ours {ours:.2}, seasonal naive {naive:.2}");
    assert!(ours <= 1.02 * naive, "ours {ours} vs seasonal naive {naive}");
}

/// ETS(A,A,A) data from its own state-space model, fitted with `Auto`: the fixed AAA model's own
/// intervals under-cover there (0.885: the seasonal smoothing is estimated at its boundary, see
/// `intervals_are_calibrated`). The calibration is built (and reported) from the tail of each
/// series; it lifts the coverage to 0.930 measured (0.892 when it reached back over half the
/// history instead of two thirds: the held-out season drifts more than a short backtest shows),
/// and the bound is the target band, [0.88, 0.99].
#[test]
fn auto_intervals_are_calibrated_on_a_simulated_ets_process() {
    let m = 24;
    let (mut inside, mut total) = (0, 0);
    for seed in 0..40 {
        let mut g = Rng::new(seed);
        let (mut l, mut b) = (100.0, 0.1);
        let mut s: Vec<f64> = (0..m)
            .map(|j| 10.0 * (std::f64::consts::TAU * j as f64 / m as f64).sin())
            .collect();
        let y: Vec<f64> = (0..m * 12)
            .map(|t| {
                let e = 2.0 * g.normal();
                let y = l + b + s[t % m] + e;
                l = l + b + 0.2 * e;
                b += 0.01 * e;
                s[t % m] += 0.1 * e;
                y
            })
            .collect();
        let options = auto(m);
        let model = fit(&y[..y.len() - m], &options).unwrap();
        let cal = model.interval_calibration().unwrap();
        assert!(cal.origins >= 50 && cal.horizon == m, "{cal:?}");
        let (i, n, _) = held_out(&y, m, &options);
        inside += i;
        total += n;
    }
    let c = inside as f64 / total as f64;
    println!("simulated ETS(A,A,A), Auto: coverage {c:.3}");
    assert!((0.88..=0.99).contains(&c), "{c}");
}

/// A misspecified model: a slow cycle (period 150) under a daily season that the model does not
/// have, plus noise. ETS(A,N,A) follows the cycle with its level, so its one-step errors are small
/// and its model intervals (built from them) are too narrow a day ahead; the calibrated
/// intervals of `Auto` must cover 95% intervals in [0.88, 0.99] where the model's own cover less.
#[test]
fn intervals_are_calibrated_on_a_misspecified_model() {
    let m = 24;
    let (mut ours, mut model_only, mut total) = (0, 0, 0);
    for seed in 0..30 {
        let mut g = Rng::new(seed + 7000);
        let phase = g.uniform() * std::f64::consts::TAU;
        let y: Vec<f64> = (0..m * 14)
            .map(|t| {
                let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
                let slow = 8.0 * (std::f64::consts::TAU * t as f64 / 150.0 + phase).sin();
                50.0 + 10.0 * ph.sin() + slow + 1.0 * g.normal()
            })
            .collect();
        let (i, n, _) = held_out(&y, m, &auto(m));
        ours += i;
        total += n;
        let spec = ModelSpec::new(Trend::None, Seasonality::Additive);
        model_only += held_out(&y, m, &fixed(spec, m)).0;
    }
    let c = ours as f64 / total as f64;
    let c0 = model_only as f64 / total as f64;
    println!("slow unmodelled cycle: coverage Auto {c:.3}, ETS(A,N,A) model intervals {c0:.3}");
    assert!((0.88..=0.99).contains(&c), "{c}");
    assert!(c > c0, "calibrated {c} vs model {c0}");
}

/// A period the data do not have (a random walk with drift, as a seasonally adjusted series is,
/// fitted with `Season::Period(4)`): the non-seasonal variants compete and the AICc prefers them
/// on most series (18 of 20 measured; before, only seasonal variants could be chosen).
#[test]
fn a_period_the_data_do_not_have_lets_non_seasonal_variants_compete() {
    let m = 4;
    let mut seasonal = 0;
    for seed in 0..20 {
        let mut g = Rng::new(seed + 900);
        let mut y = vec![100.0];
        for t in 1..200 {
            y.push(y[t - 1] + 0.5 + g.normal());
        }
        let model = fit(&y, &auto(m)).unwrap();
        seasonal += usize::from(model.spec().seasonality != Seasonality::None);
    }
    println!("random walks with drift, Period(4): {seasonal} of 20 fitted with a season");
    assert!(seasonal <= 4, "{seasonal}");
}
