//! Ingestion through the library API: line protocol batches of 5,000 lines (100 hosts x 10 fields,
//! the ../shared/peers data shape) written by 2 caller threads into a database with 1 or 2 writer
//! shards, in the default durable mode (acknowledged after fsync) and without fsync.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Options};

const HOSTS: usize = 100;
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// `rows_per_host` rows per host at 10 s, in 5,000-line batches, as gen.py writes them.
fn batches(rows_per_host: usize) -> Vec<Vec<u8>> {
    let mut seed = 42u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut vals: Vec<f64> = (0..HOSTS * FIELDS.len())
        .map(|_| (rnd() * 10000.0).round() / 100.0)
        .collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut lines = 0;
    for i in 0..rows_per_host {
        let ts = 1_699_920_000 + i as i64 * 10;
        for h in 0..HOSTS {
            cur.push_str(&format!(
                "cpu,hostname=host_{h},region=eu-central-1,datacenter=eu-central-1a,rack={},os=Ubuntu16.04LTS,arch=x64,service={} ",
                h % 10,
                h % 20
            ));
            for (f, name) in FIELDS.iter().enumerate() {
                let v = &mut vals[h * FIELDS.len() + f];
                // A clamped random walk with 2 decimals (sum of uniforms approximates the Gaussian).
                let step = (rnd() + rnd() + rnd() - 1.5) * 2.0;
                *v = ((*v + step).clamp(0.0, 100.0) * 100.0).round() / 100.0;
                if f > 0 {
                    cur.push(',');
                }
                cur.push_str(&format!("{name}={v:.2}"));
            }
            cur.push_str(&format!(" {ts}\n"));
            lines += 1;
            if lines == 5000 {
                out.push(std::mem::take(&mut cur).into_bytes());
                lines = 0;
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur.into_bytes());
    }
    out
}

fn ingest(c: &mut Criterion) {
    let rows = 360; // 1 h per host: 360,000 samples per iteration
    let data = batches(rows);
    let samples = (rows * HOSTS * FIELDS.len()) as u64;
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(samples));
    for (mode, durability) in [("fsync", Durability::Fsync), ("none", Durability::None)] {
        for shards in [1usize, 2] {
            g.bench_with_input(
                BenchmarkId::new(mode, format!("{shards}-shards")),
                &shards,
                |b, &shards| {
                    b.iter_with_setup(
                        || tempfile::tempdir().expect("tempdir"),
                        |dir| {
                            let opts = Options {
                                shards,
                                durability,
                                background_flush: false,
                                ..Options::default()
                            };
                            let db = Db::open(dir.path(), opts).expect("open");
                            std::thread::scope(|s| {
                                for part in data.chunks(data.len().div_ceil(2)) {
                                    let db = &db;
                                    s.spawn(move || {
                                        for batch in part {
                                            let r = db.write_lines(batch, Precision::Seconds).expect("write");
                                            assert!(r.rejected.is_empty());
                                        }
                                    });
                                }
                            });
                            db.close().expect("close");
                            dir
                        },
                    );
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
