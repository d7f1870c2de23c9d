//! Arbitrary query text through the PromQL parser and evaluator, as an HTTP request would send it.
//!
//! Parsing and evaluating must never panic, overflow the stack or run away: every query either
//! answers or returns an error. The data are small (three series with a counter reset, a gap and
//! a NaN), and the engine runs with a low sample limit and a short timeout, so the fuzzer spends
//! its time on query shapes rather than on volume.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use foresight_promql::{Engine, EngineOptions, Labels, MemStorage};

fn storage() -> &'static MemStorage {
    static DB: OnceLock<MemStorage> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = MemStorage::new();
        for (i, job) in ["api", "db", "web"].iter().enumerate() {
            let labels = Labels::new([
                ("__name__", "http_requests_total".to_string()),
                ("job", (*job).to_string()),
                ("le", format!("{}", i + 1)),
            ]);
            // 10 s apart for an hour, a counter reset half way, a gap, one NaN.
            let samples = (0..360_i64).filter(|k| !(100..120).contains(k)).map(|k| {
                let v = if k == 200 { f64::NAN } else { ((k % 180) * (i as i64 + 1)) as f64 };
                (k * 10_000, v)
            });
            db.add(labels, samples);
        }
        db
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let engine = Engine::new(EngineOptions {
        max_samples: 200_000,
        timeout: Some(Duration::from_secs(2)),
        ..EngineOptions::default()
    });
    let db = storage();
    let _ = engine.instant_query(db, query, 1_800_000);
    let _ = engine.range_query(db, query, 0, 3_600_000, 60_000);
});
