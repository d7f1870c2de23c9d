//! The engine's API: limits, timeouts, error values, statistics and how it calls the storage.

use std::sync::Mutex;
use std::time::Duration;

use foresight_promql::{
    Engine, EngineOptions, Error, LabelMatcher, Labels, MemStorage, Series, Storage, StorageError, Value,
};

fn db() -> MemStorage {
    let mut db = MemStorage::new();
    for h in 0..3 {
        db.add(
            Labels::new([("__name__", "x".to_string()), ("host", format!("h{h}"))]),
            (0..100).map(|i| (i * 10_000, i as f64)),
        );
    }
    db
}

#[test]
fn too_many_samples_is_a_clear_error() {
    let engine = Engine::new(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let err = engine
        .range_query(&db(), "sum(rate(x[5m]))", 0, 990_000, 10_000)
        .unwrap_err();
    assert!(matches!(err, Error::TooManySamples { limit: 100 }));
    assert!(
        err.to_string()
            .contains("query processing would load too many samples into memory")
    );
    // A small query still works under the same limit.
    let ok = engine.instant_query(&db(), "x{host=\"h0\"}", 500_000).unwrap();
    assert!(matches!(ok.value, Value::Vector(ref v) if v.len() == 1));
}

#[test]
fn resolution_limit_is_prometheus_one() {
    let engine = Engine::default();
    // (end - start) / step = 11,000 is allowed (11,001 points), one step more is not.
    let ok = engine.range_query(&db(), "x", 0, 11_000 * 10, 10).unwrap();
    assert!(matches!(ok.value, Value::Matrix(ref m) if m.len() == 3));
    let err = engine.range_query(&db(), "x", 0, 11_001 * 10, 10).unwrap_err();
    assert!(
        err.to_string().contains("exceeded maximum resolution of 11,000 points"),
        "{err}"
    );
    // Extreme bounds do not overflow.
    assert!(engine.range_query(&db(), "x", i64::MIN, i64::MAX, 1).is_err());
}

#[test]
fn timeout_is_a_clear_error() {
    let engine = Engine::new(EngineOptions {
        timeout: Some(Duration::ZERO),
        ..EngineOptions::default()
    });
    let err = engine.instant_query(&db(), "x", 500_000).unwrap_err();
    assert!(matches!(err, Error::Timeout));
    assert_eq!(err.to_string(), "query timed out in query execution");
}

#[test]
fn parse_errors_say_where() {
    let engine = Engine::default();
    let err = engine.instant_query(&db(), "sum(x) by (host", 0).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 1, .. }), "{err}");
    let err = engine.instant_query(&db(), "x +\n  ) + 1", 0).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 2, column: 3, .. }), "{err}");
    let err = engine.instant_query(&db(), "rte(x[5m])", 0).unwrap_err();
    assert!(matches!(err, Error::UnknownFunction(ref f) if f == "rte"));
    assert_eq!(err.to_string(), "unknown function with name \"rte\"");
}

#[test]
fn deeply_nested_queries_are_refused_before_they_overflow_the_stack() {
    let engine = Engine::default();
    let refused = |q: &str, what: &str| {
        let err = engine.instant_query(&db(), q, 0).unwrap_err();
        assert!(
            matches!(err, Error::Parse { line: 1, ref message, .. } if message.contains(what)),
            "{err}"
        );
    };
    let nested = |open: &str, inner: &str, close: &str, n: usize| open.repeat(n) + inner + &close.repeat(n);
    refused(&nested("abs(", "x", ")", 100_000), "nested more than 256 levels");
    refused(&nested("(", "1", ")", 300), "nested more than 256 levels");
    refused(&(["1"; 5000].join("+")), "more than 1024 operators");
    refused(&(["1"; 2000].join(" or ")), "more than 1024 operators");
    refused(&("-".repeat(2000) + "1"), "more than 1024 operators");
    // Durations that do not fit a `Duration` made the parser panic.
    refused(
        "x[99999999999999999999m]",
        "duration 99999999999999999999m is out of range",
    );
    refused(
        "x offset 1h99999999999999999y",
        "duration 99999999999999999y is out of range",
    );
    let err = engine
        .instant_query(&db(), &nested("abs(", "x", ")", 300), 0)
        .unwrap_err();
    // The 257th opening parenthesis: column 257 * 4.
    assert!(
        matches!(
            err,
            Error::Parse {
                line: 1,
                column: 1028,
                ..
            }
        ),
        "{err}"
    );

    // Within the limits, and what only looks deep (strings, matchers, comments) is not counted.
    let ok = |q: &str| {
        engine
            .instant_query(&db(), q, 990_000)
            .unwrap_or_else(|e| panic!("{q:.60}: {e}"));
    };
    ok(&nested("abs(", "x", ")", 64));
    ok(&nested("(", "1", ")", 256));
    ok(&(["1"; 1000].join("+")));
    ok(&format!("x{{host=\"{}\"}}", "(".repeat(1000)));
    ok(&format!(
        "label_replace(x, \"a\", \"{}\", \"host\", \".*\")",
        "+".repeat(5000)
    ));
    ok(&format!("x # {}\n+ 1", "(-".repeat(5000)));
    ok("x offset 1000000w");
    ok("x{a99999999999999999999y=\"1\"} or max_over_time(x[1h30m:1m])");
}

#[test]
fn bad_range_parameters() {
    let engine = Engine::default();
    assert!(matches!(
        engine.range_query(&db(), "x", 0, 10, 0),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        engine.range_query(&db(), "x", 10, 0, 1),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        engine.range_query(&db(), "x", 0, 20_000_000, 1_000),
        Err(Error::BadQuery(ref m)) if m.contains("11,000 points")
    ));
}

#[test]
fn stats_count_scanned_samples() {
    let engine = Engine::default();
    let r = engine
        .range_query(&db(), "rate(x[1m])", 300_000, 900_000, 60_000)
        .unwrap();
    // mint = 300s - 60s + 1ms .. 900s: samples 250s..900s at 10 s = 66 per series.
    assert_eq!(r.stats.series_selected, 3);
    assert_eq!(r.stats.samples_scanned, 3 * 66);
}

/// Records every select call.
#[derive(Default)]
struct Recording {
    inner: MemStorage,
    calls: Mutex<Vec<(String, i64, i64)>>,
}

impl Storage for Recording {
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StorageError> {
        let desc: Vec<String> = matchers.iter().map(ToString::to_string).collect();
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((desc.join(","), mint, maxt));
        self.inner.select(matchers, mint, maxt)
    }
}

#[test]
fn each_selector_is_selected_once_with_the_whole_range() {
    let s = Recording {
        inner: db(),
        ..Recording::default()
    };
    let engine = Engine::default();
    engine
        .range_query(
            &s,
            "sum by (host) (rate(x[5m])) / on(host) max_over_time(x{host=~\"h.\"}[1h] offset 1m)",
            3_600_000,
            7_200_000,
            300_000,
        )
        .unwrap();
    let calls = s.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.contains(&("__name__=\"x\"".to_string(), 3_300_001, 7_200_000)));
    assert!(calls.contains(&(
        "__name__=\"x\",host=~\"h.\"".to_string(),
        3_600_000 - 60_000 - 3_600_000 + 1,
        7_200_000 - 60_000
    )));
}

struct Failing;

impl Storage for Failing {
    fn select(&self, _: &[LabelMatcher], _: i64, _: i64) -> Result<Vec<Series>, StorageError> {
        Err(StorageError::new("disk on fire"))
    }
}

#[test]
fn storage_errors_propagate() {
    let err = Engine::default().instant_query(&Failing, "x", 0).unwrap_err();
    assert!(matches!(err, Error::Storage(_)));
    assert!(err.to_string().contains("disk on fire"));
}

#[test]
fn odd_inputs_do_not_panic() {
    // The engine catches a panic inside the parser, so record any panic at all: a caught one still
    // aborts the fuzzer (and fails a request on a panic=abort build).
    static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| PANICKED.store(true, std::sync::atomic::Ordering::SeqCst)));
    let engine = Engine::default();
    let d = db();
    for q in [
        "x[1ms]",
        "rate(x[1ms])",
        "x offset 1000000w",
        "x @ -1000000000",
        "topk(1e300, x)",
        "topk(NaN, x)",
        "quantile(NaN, x)",
        "histogram_quantile(0.5, x)",
        "round(x, 0)",
        "year(vector(1e300))",
        "max_over_time(x[1h:1ms])",
        "label_replace(x, \"a\", \"$99\", \"host\", \"(.*)\")",
        "count_values(\"host\", x)",
        "x / on() group_left sum(x)",
        "-(-(-x))",
        "sum_over_time(x[5m:7s] offset -1h)",
        // Panicked inside promql-parser (found by the promql fuzz target).
        "delta(temp[59999999999999999999999999999999999999999999999999999999999]9999999999m])",
        "x[99999999999999999999m]",
        "x offset 99999999999999999999y",
        "suma[5555555555555555555555555555555555%5555555oi!or< b)imi!o-- b!)",
        "x offset 1e20",
        "x offset -99999999999999999999",
        "x @ 99999999999999999999",
        "x[5m] @ -1e300",
        "max_over_time(x[1e20:1e20])",
    ] {
        let _ = engine.instant_query(&d, q, 500_000);
        let _ = engine.range_query(&d, q, 0, 1_000_000, 100_000);
    }
    std::panic::set_hook(previous);
    assert!(!PANICKED.load(std::sync::atomic::Ordering::SeqCst), "a query panicked");
}

#[test]
fn topk_range_keeps_each_steps_winner() {
    let mut d = MemStorage::new();
    d.add(Labels::new([("__name__", "y"), ("s", "a")]), [(0, 1.0), (60_000, 5.0)]);
    d.add(Labels::new([("__name__", "y"), ("s", "b")]), [(0, 2.0), (60_000, 3.0)]);
    let r = Engine::default()
        .range_query(&d, "topk(1, y)", 0, 60_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].samples, vec![(60_000, 5.0)]);
    assert_eq!(m[1].samples, vec![(0, 2.0)]);
}
