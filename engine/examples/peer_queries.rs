//! Times the ../shared/peers query set (q1-q7) in-process against a data directory holding the
//! peers' dataset (import it first: `foresight --data-dir DIR import --precision s cpu-100x24h.lp`).
//!
//! `cargo run --release -p foresight-engine --example peer_queries -- DIR [REPS]`

use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use foresight_engine::promql::{Engine, EngineOptions, Value};
use foresight_engine::{Db, Options};

/// (start, end, step) of a range query, in ms.
type Range = (i64, i64, i64);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("usage: peer_queries DATA_DIR [REPS]")?;
    let reps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let db = Db::open(
        dir,
        Options {
            background_flush: false,
            ..Options::default()
        },
    )?;
    let t0: i64 = 1_699_920_000_000;
    let t1: i64 = t0 + 86_400_000; // last sample + 10 s
    let h = 3_600_000;
    let hosts8 = (1..=8).map(|i| format!("host_{i}")).collect::<Vec<_>>().join("|");
    // Range queries are evaluated 5 s after the 10 s grid, as bench.py does.
    let queries: Vec<(&str, String, Option<Range>)> = vec![
        (
            "q1-max-1host-1h",
            r#"max_over_time(cpu_usage_user{hostname="host_7"}[1m])"#.into(),
            Some((t1 - h + 5000, t1 + 5000, 60_000)),
        ),
        (
            "q2-max-8hosts-12h",
            format!(r#"max_over_time(cpu_usage_user{{hostname=~"{hosts8}"}}[5m])"#),
            Some((t1 - 12 * h + 5000, t1 + 5000, 300_000)),
        ),
        (
            "q3-avg-by-host-24h",
            "avg by (hostname) (avg_over_time(cpu_usage_user[1h]))".into(),
            Some((t0 + 5000, t1 + 5000, 3_600_000)),
        ),
        (
            "q4-p99-1h-24h",
            "quantile_over_time(0.99, cpu_usage_user[1h])".into(),
            Some((t0 + 5000, t1 + 5000, 3_600_000)),
        ),
        (
            "q5-sum-rate-5m-24h",
            "sum(rate(cpu_usage_user[5m]))".into(),
            Some((t0 + 5000, t1 + 5000, 300_000)),
        ),
        (
            "q6-high-cpu-12h",
            "cpu_usage_user > 90".into(),
            Some((t1 - 12 * h + 5000, t1 + 5000, 60_000)),
        ),
        ("q7-lastpoint", r#"{__name__=~"cpu_usage_.+"}"#.into(), None),
    ];
    let engine = Engine::new(EngineOptions::default());
    for (name, q, range) in &queries {
        let mut times = Vec::new();
        let mut points = 0usize;
        let mut series = 0usize;
        for _ in 0..=reps {
            let start = Instant::now();
            let r = match range {
                Some((s, e, step)) => engine.range_query(&db, q, *s, *e, *step)?,
                None => engine.instant_query(&db, q, t1)?,
            };
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            (series, points) = match &r.value {
                Value::Matrix(m) => (m.len(), m.iter().map(|s| s.samples.len()).sum()),
                Value::Vector(v) => (v.len(), v.len()),
                _ => (0, 0),
            };
        }
        let first = times.remove(0);
        times.sort_by(f64::total_cmp);
        println!(
            "{name:22} series {series:5} points {points:6}  first {first:8.2} ms  median {:8.2} ms",
            times[times.len() / 2]
        );
    }
    db.close()?;
    Ok(())
}
