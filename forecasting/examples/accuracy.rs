//! Forecast accuracy of foresight on the real series and splits written by
//! `benches/forecast_vs_python/accuracy_peers.py`, printed next to statsmodels' figures from that file.
//!
//! ```sh
//! cargo run --release -p foresight-forecasting --example accuracy
//! ```
//!
//! MASE (scaled by the in-sample seasonal-naive MAE of the gap-filled training data) and the
//! coverage of 95% intervals, averaged over the file's forecast origins. foresight runs in `Auto`
//! mode twice: with the period statsmodels was given, and with the period detected. Series with
//! gaps are given to foresight with their gaps (NaN); `FILLED=1` gives it the interpolated series
//! statsmodels gets instead.
//!
//! `EARLIER=1` scores foresight on other origins instead, to check a change without the test
//! windows: every horizon-th point from 40% of each series up to the first of the file's origins
//! (so no forecast reaches into the test windows), and prints the geometric mean of MASE relative
//! to seasonal naive and the mean distance of coverage from 0.95 over the series.

// An example binary: failing loudly on a malformed fixture is what it should do.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use foresight_forecasting::{FitOptions, ModelChoice, Season, fit};
use serde_json::Value;

fn fill(y: &[f64]) -> Vec<f64> {
    let first = y.iter().position(|v| v.is_finite()).unwrap_or(0);
    let mut out = vec![y.get(first).copied().unwrap_or(0.0); y.len()];
    let mut last = first;
    for i in first..y.len() {
        if y[i].is_finite() {
            for (j, o) in out.iter_mut().enumerate().take(i).skip(last + 1) {
                let w = (j - last) as f64 / (i - last) as f64;
                *o = y[last] + w * (y[i] - y[last]);
            }
            out[i] = y[i];
            last = i;
        } else {
            out[i] = y[last];
        }
    }
    out
}

struct Score {
    mase: f64,
    inside: usize,
    total: usize,
    seconds: f64,
    models: Vec<String>,
}

fn evaluate(y: &[f64], origins: &[usize], h: usize, m: usize, season: Season) -> Score {
    let filled = fill(y);
    let mut s = Score {
        mase: 0.0,
        inside: 0,
        total: 0,
        seconds: 0.0,
        models: Vec::new(),
    };
    for &o in origins {
        let lag = m.max(1);
        let train_f = &filled[..o];
        let scale = train_f.windows(lag + 1).map(|w| (w[lag] - w[0]).abs()).sum::<f64>() / (train_f.len() - lag) as f64;
        let start = Instant::now();
        let options = FitOptions {
            model: ModelChoice::Auto,
            season,
            ..FitOptions::default()
        };
        let model = fit(
            if std::env::var("FILLED").is_ok() {
                &filled[..o]
            } else {
                &y[..o]
            },
            &options,
        )
        .unwrap();
        let fc = model.forecast(h, 0.95).unwrap();
        s.seconds += start.elapsed().as_secs_f64();
        s.models.push(format!("{} m={}", model.spec(), model.period()));
        if std::env::var("VERBOSE").is_ok() {
            eprintln!(
                "  origin {o}: {} {:?}",
                model.spec(),
                model.fallback().map(|f| &f.reason)
            );
        }
        let (mut abs, mut n) = (0.0, 0);
        for i in 0..h {
            let v = y[o + i];
            if v.is_finite() {
                abs += (v - fc.mean[i]).abs();
                n += 1;
                s.inside += usize::from(fc.lower[i] <= v && v <= fc.upper[i]);
            }
        }
        s.total += n;
        s.mase += abs / n.max(1) as f64 / scale / origins.len() as f64;
    }
    s
}

/// MASE of the seasonal naive forecast (the value one season earlier), scaled as in `evaluate`.
fn evaluate_snaive(y: &[f64], origins: &[usize], h: usize, m: usize) -> f64 {
    let filled = fill(y);
    let lag = m.max(1);
    let mut mase = 0.0;
    for &o in origins {
        let train = &filled[..o];
        let scale = train.windows(lag + 1).map(|w| (w[lag] - w[0]).abs()).sum::<f64>() / (train.len() - lag) as f64;
        let (mut abs, mut n) = (0.0, 0);
        for i in 0..h {
            if y[o + i].is_finite() {
                abs += (y[o + i] - train[o - lag + i % lag]).abs();
                n += 1;
            }
        }
        mase += abs / n.max(1) as f64 / scale / origins.len() as f64;
    }
    mase
}

fn main() {
    let path = format!(
        "{}/../benches/forecast_vs_python/accuracy_series.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let earlier = std::env::var("EARLIER").is_ok();
    let (mut log_rel, mut cov_gap, mut count) = (0.0, 0.0, 0.0);
    if !earlier {
        println!(
            "{:18} {:>7} | {:>8} {:>6} | {:>8} {:>6} {:>10} | {:>8} {:>6} {:>8} | {:>8} {:>6}  models (given period)",
            "series", "snaive", "sm-aicc", "cov", "sm-best", "cov", "sm time", "ours", "cov", "time", "ours-det", "cov"
        );
    }
    for s in data["series"].as_array().unwrap() {
        let y: Vec<f64> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        let origins: Vec<usize> = s["origins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let m = s["period"].as_u64().unwrap() as usize;
        let h = s["horizon"].as_u64().unwrap() as usize;
        let given = if m >= 2 { Season::Period(m) } else { Season::None };
        if earlier {
            let start = (y.len() * 2 / 5).max(3 * m.max(4) + 10);
            let before: Vec<usize> = (start..=origins[0] - h)
                .rev()
                .step_by(h)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let ours = evaluate(&y, &before, h, m, given);
            let snaive = evaluate_snaive(&y, &before, h, m);
            let coverage = ours.inside as f64 / ours.total as f64;
            println!(
                "{:18} {:>3} origins: MASE {:6.3}, seasonal naive {:6.3}, relative {:5.3}, coverage {:5.3}",
                s["name"].as_str().unwrap(),
                before.len(),
                ours.mase,
                snaive,
                ours.mase / snaive,
                coverage
            );
            log_rel += (ours.mase / snaive).ln();
            cov_gap += (coverage - 0.95).abs();
            count += 1.0;
            continue;
        }
        let ours = evaluate(&y, &origins, h, m, given);
        let detected = evaluate(&y, &origins, h, m, Season::Auto);
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:18} {:7.3} | {:8.3} {:6.3} | {:8.3} {:6.3} {:9.2}s | {:8.3} {:6.3} {:7.3}s | {:8.3} {:6.3}  {:?}",
            s["name"].as_str().unwrap(),
            f("seasonal_naive_mase"),
            f("sm_aicc_mase"),
            f("sm_aicc_coverage"),
            f("sm_best_mase"),
            f("sm_best_coverage"),
            f("sm_seconds"),
            ours.mase,
            ours.inside as f64 / ours.total as f64,
            ours.seconds,
            detected.mase,
            detected.inside as f64 / detected.total as f64,
            ours.models,
        );
    }
    if earlier {
        println!(
            "geometric mean of MASE relative to seasonal naive {:.4}, mean |coverage - 0.95| {:.3}",
            (log_rel / count).exp(),
            cov_gap / count
        );
    }
}
