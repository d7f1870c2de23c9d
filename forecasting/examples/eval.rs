//! The wide forecast evaluation, foresight's side: forecasts every series and origin of
//! `benches/forecast_vs_python/eval_series.json` (written by `eval_peers.py`) with 80% and 95%
//! intervals and writes `eval_foresight.json` beside it; `eval_score.py` scores both sides.
//!
//! ```sh
//! cargo run --release -p foresight-forecasting --example eval
//! ```
//!
//! `foresight` is the library's defaults, exactly what `/api/v1/forecast` fits when given no
//! `model` or `season` (`FitOptions::default()`: automatic model choice, detected period);
//! `foresight_given` is the same automatic choice given the series' period, as the peers are.
//! Also timed, per origin: a fit of ETS(A,Ad,A) (ETS(A,Ad,N) without a season) with the series'
//! period, the configuration statsmodels is fitted in, for the speed comparison (thread CPU time).
//! Series with gaps are given to foresight with their gaps (NaN).

// An example binary: failing loudly on a malformed fixture is what it should do.
#![allow(clippy::unwrap_used)]

use foresight_forecasting::{FitOptions, ModelChoice, ModelSpec, Season, Seasonality, Trend, fit};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;
use common::cpu_seconds;

fn run(train: &[f64], h: usize, options: &FitOptions) -> Value {
    let start = cpu_seconds();
    let model = fit(train, options).unwrap();
    let f80 = model.forecast(h, 0.8).unwrap();
    let f95 = model.forecast(h, 0.95).unwrap();
    let seconds = cpu_seconds() - start;
    json!({
        "mean": f95.mean, "lo80": f80.lower, "hi80": f80.upper, "lo95": f95.lower, "hi95": f95.upper,
        "seconds": seconds,
        "model": format!("{} m={}", model.spec(), model.period()),
        "fallback": model.fallback().map(|f| f.reason.clone()),
        "calibrated": model.interval_calibration().map(|c| c.origins),
    })
}

fn main() {
    let dir = format!("{}/../benches/forecast_vs_python", env!("CARGO_MANIFEST_DIR"));
    // EVAL_SERIES: another splits file (eval_peers.py --no-peers writes eval_splits.json).
    let input = std::env::var("EVAL_SERIES").unwrap_or_else(|_| format!("{dir}/eval_series.json"));
    let data: Value = serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
    let only: Vec<String> = std::env::args().skip(1).collect();
    let mut out = Vec::new();
    for s in data["series"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        let y: Vec<f64> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        let m = s["period"].as_u64().unwrap() as usize;
        let h = s["horizon"].as_u64().unwrap() as usize;
        let given = if m >= 2 { Season::Period(m) } else { Season::None };
        let fixed = FitOptions {
            model: ModelChoice::Fixed(ModelSpec::new(
                Trend::Damped,
                if m >= 2 {
                    Seasonality::Additive
                } else {
                    Seasonality::None
                },
            )),
            season: given,
            ..FitOptions::default()
        };
        let (mut defaults, mut with_period, mut fixed_fit) = (Vec::new(), Vec::new(), Vec::new());
        for o in s["origins"].as_array().unwrap() {
            let train = &y[..o.as_u64().unwrap() as usize];
            defaults.push(run(train, h, &FitOptions::default()));
            with_period.push(run(
                train,
                h,
                &FitOptions {
                    season: given,
                    ..FitOptions::default()
                },
            ));
            let start = cpu_seconds();
            let model = fit(train, &fixed).unwrap();
            fixed_fit.push(cpu_seconds() - start);
            std::hint::black_box(model);
        }
        eprintln!(
            "{name:34} {:?}",
            defaults
                .iter()
                .map(|d| d["model"].as_str().unwrap_or(""))
                .collect::<Vec<_>>()
        );
        out.push(json!({
            "name": name,
            "foresight": defaults,
            "foresight_given": with_period,
            "fixed_fit_seconds": fixed_fit,
        }));
    }
    let path = std::env::var("EVAL_OUT").unwrap_or_else(|_| format!("{dir}/eval_foresight.json"));
    std::fs::write(&path, serde_json::to_string(&json!({ "series": out })).unwrap()).unwrap();
    eprintln!("wrote {path}");
}
