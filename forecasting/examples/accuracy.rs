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

fn main() {
    let path = format!(
        "{}/../benches/forecast_vs_python/accuracy_series.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    println!(
        "{:18} {:>7} | {:>8} {:>6} | {:>8} {:>6} {:>10} | {:>8} {:>6} {:>8} | {:>8} {:>6}  models (given period)",
        "series", "snaive", "sm-aicc", "cov", "sm-best", "cov", "sm time", "ours", "cov", "time", "ours-det", "cov"
    );
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
}
