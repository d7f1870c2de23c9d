//! Wall and CPU time per query for the bench's query set, for busy machines where criterion's
//! wall-clock numbers mostly measure other processes. Run with
//! `cargo run --release -p foresight-promql --example query_cpu`.

use std::time::Instant;

use foresight_promql::{Engine, Labels, MemStorage};

const DAY_MS: i64 = 86_400_000;

/// Process CPU time (user + system) in seconds, from /proc/self/stat (Linux; 0 elsewhere).
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|x| x.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

fn main() {
    let mut db = MemStorage::new();
    let mut seed = 42u64;
    let mut unit = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = DAY_MS / 10_000;
    for host in 0..100 {
        for field in 0..10 {
            let (mut c, mut g) = (0.0, 50.0f64);
            let (mut cs, mut gs) = (Vec::new(), Vec::new());
            for i in 0..n {
                c += (unit() * 100.0).round() / 10.0;
                g = (g + (unit() - 0.5) * 4.0).clamp(0.0, 100.0);
                cs.push((i * 10_000, c));
                gs.push((i * 10_000, (g * 100.0).round() / 100.0));
            }
            let l = |name: &str| {
                Labels::new([
                    ("__name__", name.to_string()),
                    ("host", format!("host_{host}")),
                    ("field", format!("f{field}")),
                ])
            };
            db.add(l("x"), cs);
            db.add(l("g"), gs);
        }
    }
    let engine = Engine::default();
    let filter = std::env::args().nth(1).unwrap_or_default();
    let reps = 10;
    for (q, step) in [
        ("rate(x[5m])", 300_000),
        ("sum by (host) (rate(x[5m]))", 300_000),
        ("quantile_over_time(0.99, g[1h])", 3_600_000),
        ("quantile_over_time(0.99, g[1h])", 300_000),
        ("avg by (host) (avg_over_time(g[1h]))", 3_600_000),
        ("g > 90", 60_000),
    ] {
        if !q.contains(filter.as_str()) {
            continue;
        }
        let mut scanned = 0;
        let (w0, c0) = (Instant::now(), cpu_secs());
        for _ in 0..reps {
            match engine.range_query(&db, q, 0, DAY_MS, step) {
                Ok(r) => scanned = r.stats.samples_scanned,
                Err(e) => eprintln!("{q}: {e}"),
            }
        }
        let wall = w0.elapsed().as_secs_f64() / f64::from(reps);
        let cpu = (cpu_secs() - c0) / f64::from(reps);
        println!(
            "{q:<42} step {:>4}s  wall {:>7.1} ms  cpu {:>7.1} ms  {:>6.1} M samples/cpu-s",
            step / 1000,
            wall * 1e3,
            cpu * 1e3,
            scanned as f64 / cpu.max(1e-9) / 1e6
        );
    }
}
