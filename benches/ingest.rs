//! Ingestion through the library API: line protocol batches of 5,000 lines (100 hosts x 10 fields,
//! the ../shared/peers data shape) written by 2 caller threads into a database with 1 or 2 writer
//! shards, in the default durable mode (acknowledged after fsync) and without fsync.

// `criterion_main!` writes a `main` without a doc comment.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Options};
use foresight_loadgen::{Generator, WorkloadSpec};

/// The first `rows_per_host` rows of every host of `foresight bench`'s default workload (gen.py's
/// shape, seed 42), in 5,000-line batches.
fn batches(rows_per_host: u64) -> (Vec<Vec<u8>>, u64) {
    let spec = WorkloadSpec {
        duration_ms: rows_per_host * 10_000,
        ..WorkloadSpec::default()
    };
    let mut generator = Generator::new(&spec).expect("valid workload");
    let mut out = Vec::new();
    while !generator.is_done() {
        let mut batch = Vec::new();
        generator.fill(&mut batch, 5000);
        out.push(batch);
    }
    (out, generator.summary().samples)
}

fn ingest(c: &mut Criterion) {
    let (data, samples) = batches(360); // 1 h per host: 360,000 samples per iteration
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
