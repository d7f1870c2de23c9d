//! What a forecast rule and an anomaly rule cost per evaluation over many series with a long
//! history: `SERIES` series (default 1,000) of `DAYS` days (default 7) at one sample a minute
//! in memory, one group at a 1 m interval evaluated `EVALS` times (default 6) one interval
//! apart; prints each evaluation's wall seconds per rule, the process's CPU seconds, and the
//! rules' running totals of fits, quick first fits, updates and fits put off by the time budget.
//!
//! ```sh
//! cargo run --release -p foresight-rules --example predict_cost
//! SERIES=200 DAYS=7 EVALS=10 cargo run --release -p foresight-rules --example predict_cost
//! ```

use std::path::Path;

use foresight_promql::{Labels, MemStorage};
use foresight_rules::{Group, GroupOptions, Health, Rule, parse_rule_file};

const MIN: i64 = 60_000;

const RULES: &str = r#"
groups:
- name: cost
  interval: 1m
  rules:
  - alert: WillFill
    forecast: {expr: disk_free, history: 7d, horizon: 1d, op: "<", threshold: 0, bound: lower}
  - alert: Odd
    anomaly: {expr: disk_free, history: 7d, direction: both, min_relative_deviation: 0.05}
"#;

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User plus system CPU seconds of this process (Linux: /proc/self/stat, clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let series = env("SERIES", 1_000);
    let days = env("DAYS", 7);
    let evals = env("EVALS", 6);
    let points = days * 1440;
    let mut db = MemStorage::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 10_000) as f64 / 10_000.0 - 0.5
    };
    // Daily cycle plus noise; every tenth series falls steadily (a disk filling up).
    for s in 0..series {
        let base = 1_000.0 + (s % 97) as f64 * 10.0;
        let fall = if s % 10 == 0 {
            base / (points as f64 * 1.05)
        } else {
            0.0
        };
        let samples: Vec<(i64, f64)> = (0..points + evals)
            .map(|m| {
                let day = std::f64::consts::TAU * (m % 1440) as f64 / 1440.0;
                (m * MIN, base + 100.0 * day.sin() - fall * m as f64 + 5.0 * noise())
            })
            .collect();
        db.add(
            Labels::new([("__name__", "disk_free"), ("host", &format!("h{s}"))]),
            samples,
        );
    }
    let file = match parse_rule_file(Path::new("cost.yml"), RULES) {
        Ok(f) => f,
        Err(e) => panic!("{e:?}"),
    };
    let mut group = Group::new(&file.groups[0], &GroupOptions::default());
    println!("{series} series x {days} d at 1 min, {evals} evaluations 1 min apart");
    println!("eval  forecast_s  anomaly_s  cpu_s  fits  quick  updates  deferred");
    for e in 0..evals {
        let ts = (points - 1 + e) * MIN;
        let cpu = cpu_seconds();
        let out = group.eval(ts, &db);
        for r in &out.rules {
            if let Health::Err(msg) = &r.health {
                println!("{} failed: {msg}", r.name);
            }
        }
        let secs: Vec<f64> = out.rules.iter().map(|r| r.duration.as_secs_f64()).collect();
        let cpu = cpu_seconds() - cpu;
        let mut counts = (0, 0, 0, 0);
        for r in group.rules() {
            if let Rule::Alerting(a) = r
                && let Some(c) = a.predict_counts()
            {
                counts = (
                    counts.0 + c.fits,
                    counts.1 + c.quick_fits,
                    counts.2 + c.updates,
                    counts.3 + c.deferred,
                );
            }
        }
        println!(
            "{e:>4}  {:>10.2}  {:>9.2}  {cpu:>5.1}  {:>4}  {:>5}  {:>7}  {:>8}",
            secs.first().copied().unwrap_or(0.0),
            secs.get(1).copied().unwrap_or(0.0),
            counts.0,
            counts.1,
            counts.2,
            counts.3
        );
    }
}
