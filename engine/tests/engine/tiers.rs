//! Retention tiers: raw samples past their raw retention (global, or a rule's, `__tenant__`
//! included) are dropped and their rollups kept; long-range functions answer from the rollup-only
//! blocks as they did from the raw data, across reopens and compactions.

use std::sync::Arc;

use foresight_engine::promql::{Engine, EngineOptions, Value};
use foresight_engine::sketch::RELATIVE_ERROR;
use foresight_engine::{RetentionRule, TenantView, parse_selector};

use super::*;

const DAY: i64 = 24 * HOUR;

/// Days of history written, one sample a minute per series.
const DAYS: i64 = 10;

fn rule(selector: &str, ms: i64) -> RetentionRule {
    RetentionRule {
        matchers: parse_selector(selector).unwrap(),
        retention_ms: ms,
    }
}

/// Raw kept 5 days (debug series 2, tenant acme 1), rollups 30 days.
fn tiered() -> Options {
    Options {
        retention_ms: Some(5 * DAY),
        rollup_retention_ms: Some(30 * DAY),
        retention_rules: vec![
            rule(r#"{__name__=~"debug_.*"}"#, 2 * DAY),
            rule(r#"{__tenant__="acme"}"#, DAY),
        ],
        ..opts()
    }
}

/// A value that climbs with resets (counter-like, so `increase` and `resets` have work) and
/// varies by series.
fn value(series: i64, i: i64) -> f64 {
    ((i * 37 + series * 11) % 1000) as f64 / 10.0 + (i % 500) as f64
}

/// Writes `DAYS` days of history, one body per hour in time order (so each write is within the
/// retention of the newest sample before it): `lat{svc=a|b}` and `debug{svc=a}` of the default
/// tenant, `lat{svc=a}` of tenant acme.
fn fill(db: &Arc<Db>) {
    let acme = TenantView::new(db.clone(), Some("acme".into()));
    for h in 0..DAYS * 24 {
        let (mut body, mut tenant_body) = (String::new(), String::new());
        for m in 0..60 {
            let i = h * 60 + m;
            let t = T0 + i * 60_000;
            for (s, svc) in [(0, "a"), (1, "b")] {
                body.push_str(&format!("lat,svc={svc} v={} {t}\n", value(s, i)));
            }
            body.push_str(&format!("debug,svc=a v={} {t}\n", value(2, i)));
            tenant_body.push_str(&format!("lat,svc=a v={} {t}\n", value(3, i)));
        }
        let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        let r = acme
            .write_lines_at(tenant_body.as_bytes(), Precision::Milliseconds, 0)
            .unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }
}

fn open(dir: &Path, o: Options) -> Arc<Db> {
    Arc::new(Db::open(dir, o).unwrap())
}

fn close(db: Arc<Db>) {
    Arc::try_unwrap(db).unwrap().close().unwrap();
}

const FUNCS: [&str; 11] = [
    "count_over_time(M[R])",
    "sum_over_time(M[R])",
    "avg_over_time(M[R])",
    "min_over_time(M[R])",
    "max_over_time(M[R])",
    "last_over_time(M[R])",
    "resets(M[R])",
    "increase(M[R])",
    "rate(M[R])",
    "quantile_over_time(0.99, M[R])",
    "quantile_over_time(0.5, M[R])",
];

fn points(v: Value) -> Vec<(String, f64)> {
    match v {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

/// Every function of `FUNCS` over `metric`, for ranges of 1 to 3 days ending at hour boundaries
/// (less 1 ms, so the range is whole windows) from day 1 to the end: the tiered storage answers
/// from rollups as the untouched twin answers from raw samples. Returns the queries compared.
fn same_answers(
    tiered: &dyn foresight_engine::promql::Storage,
    twin: &dyn foresight_engine::promql::Storage,
    metric: &str,
) -> usize {
    let rollups = Engine::new(EngineOptions::default());
    let raw = Engine::new(EngineOptions {
        rollups: false,
        ..EngineOptions::default()
    });
    let mut compared = 0;
    for end_h in (24..=DAYS * 24).step_by(29) {
        let at = T0 + end_h * HOUR - 1;
        for range_h in [24, 50, 72] {
            if range_h > end_h {
                continue;
            }
            for f in FUNCS {
                let q = f.replace('M', metric).replace('R', &format!("{range_h}h"));
                let got = points(rollups.instant_query(tiered, &q, at).unwrap().value);
                let want = points(raw.instant_query(twin, &q, at).unwrap().value);
                assert_eq!(got.len(), want.len(), "{q} at {at}: {got:?} vs {want:?}");
                assert!(!want.is_empty(), "{q} at {at}");
                for ((gl, g), (wl, w)) in got.iter().zip(&want) {
                    assert_eq!(gl, wl);
                    let tol = if q.starts_with("quantile") {
                        w.abs() * RELATIVE_ERROR * (1.0 + 1e-9)
                    } else {
                        1e-9 * w.abs().max(1.0)
                    };
                    assert!((g - w).abs() <= tol, "{q} at {at} for {gl}: tiered {g}, raw {w}");
                }
                compared += 1;
            }
        }
    }
    compared
}

/// The oldest raw sample of the series `selector` selects.
fn oldest_raw(db: &dyn foresight_engine::promql::Storage, selector: &str) -> Option<i64> {
    let m = parse_selector(selector).unwrap();
    db.select(&m, i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .filter_map(|s| s.samples.first().map(|p| p.0))
        .min()
}

fn rollup_only_blocks(db: &Db) -> Vec<u64> {
    db.blocks()
        .iter()
        .filter(|b| b.rollup_only_series > 0)
        .map(|b| b.seq)
        .collect()
}

#[test]
fn rollup_only_blocks_answer_as_raw_did_through_reopen_and_compaction() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let twin = open(a.path(), opts());
    fill(&twin);
    twin.flush().unwrap();
    let db = open(b.path(), tiered());
    fill(&db);
    db.flush().unwrap();
    let newest = T0 + (DAYS * 24 * 60 - 1) * 60_000;

    // Raw data is gone past each series' raw retention (a block's data goes once all of it is
    // past: blocks are at most 6 h, a tenth of the raw retention rounded to a compaction level).
    let acme = |d: &Arc<Db>| TenantView::new(d.clone(), Some("acme".into()));
    let default = |d: &Arc<Db>| TenantView::new(d.clone(), None);
    for (view, sel, keep) in [
        (default(&db), r#"lat_v{svc="a"}"#, 5 * DAY),
        (default(&db), "debug_v", 2 * DAY),
        (acme(&db), "lat_v", DAY),
    ] {
        let oldest = oldest_raw(&view, sel).unwrap();
        assert!(
            oldest >= newest - keep - 6 * HOUR && oldest <= newest - keep,
            "{sel}: oldest raw sample {} h before the newest, raw retention {} h",
            (newest - oldest) / HOUR,
            keep / HOUR
        );
    }
    let lat = parse_selector("lat_v").unwrap();
    assert!(
        db.select(&lat, T0, T0 + 4 * DAY).unwrap().is_empty(),
        "raw reads see nothing there"
    );
    let raw = Engine::new(EngineOptions {
        rollups: false,
        ..EngineOptions::default()
    });
    let r = raw.instant_query(&*db, "lat_v", T0 + 2 * DAY).unwrap();
    assert!(points(r.value).is_empty());
    let short = Engine::new(EngineOptions::default())
        .instant_query(&*db, "count_over_time(lat_v[30m])", T0 + 2 * DAY)
        .unwrap();
    assert!(points(short.value).is_empty(), "a short range reads raw samples");
    let before = rollup_only_blocks(&db);
    assert!(!before.is_empty());

    let check = |db: &Arc<Db>| {
        assert!(same_answers(&default(db), &default(&twin), "lat_v") > 100);
        same_answers(&default(db), &default(&twin), "debug_v");
        same_answers(&acme(db), &acme(&twin), "lat_v");
    };
    check(&db);

    // Across a reopen, the rollup-only blocks are read back as written and nothing changes.
    close(db);
    let db = open(b.path(), tiered());
    assert_eq!(rollup_only_blocks(&db), before);
    check(&db);

    // A late write into a range where debug_v is rollup-only but lat_v raw (accepted: within the
    // global raw retention), to both databases, then flushed and compacted: the blocks holding
    // rollup-only series are not merged with it, and lat_v answers as the twin does.
    let late = format!("lat,svc=a v=1.5 {}\n", T0 + 7 * DAY + 30_000);
    for d in [&db, &twin] {
        let r = d.write_lines(late.as_bytes(), Precision::Milliseconds).unwrap();
        assert_eq!(r.samples_accepted, 1, "{:?}", r.rejected);
        d.flush().unwrap();
    }
    let after = rollup_only_blocks(&db);
    assert!(before.iter().all(|s| after.contains(s)), "{before:?} -> {after:?}");
    assert!(same_answers(&default(&db), &default(&twin), "lat_v") > 100);
    // debug_v is rollup-only where the late block overlaps: its windows stay whole (the late
    // block does not hold debug_v).
    same_answers(&default(&db), &default(&twin), "debug_v");
    let m = parse_selector(r#"lat_v{svc="a"}"#).unwrap();
    let (from, to) = (T0 + 6 * DAY, T0 + 8 * DAY);
    let kept = as_map(&default(&db).select(&m, from, to).unwrap());
    let want = as_map(&default(&twin).select(&m, from, to).unwrap());
    assert!(kept == want, "raw data kept differs from the twin's");
    close(db);
}

#[test]
fn blocks_past_the_rollup_retention_go_entirely_and_rollup_only_blocks_are_smaller() {
    let tmp = tempfile::tempdir().unwrap();
    // Written with nothing past retention (compaction ranges up to 18 h, a tenth of 20 days).
    let db = open(
        tmp.path(),
        Options {
            retention_ms: Some(20 * DAY),
            ..opts()
        },
    );
    fill(&db);
    db.flush().unwrap();
    let before: BTreeMap<u64, u64> = db.blocks().iter().map(|b| (b.seq, b.bytes)).collect();
    close(db);
    let o = Options {
        retention_ms: Some(2 * DAY),
        rollup_retention_ms: Some(4 * DAY),
        ..opts()
    };
    let db = open(tmp.path(), o.clone());
    db.flush().unwrap();
    let newest = T0 + (DAYS * 24 * 60 - 1) * 60_000;
    let oldest_block = db.blocks().iter().map(|b| b.mint).min().unwrap();
    assert!(
        oldest_block >= newest - 4 * DAY - 18 * HOUR && oldest_block < newest - 4 * DAY,
        "{}",
        (newest - oldest_block) / HOUR
    );
    // The blocks rewritten rollup-only are smaller (of 1 min data, 1 h windows with their sketches
    // are most of the bytes; of 10 s data about a tenth: see the README's figures).
    let (mut raw, mut rolled) = (0, 0);
    for b in db.blocks().iter().filter(|b| b.rollup_only_series > 0) {
        assert_eq!((b.rollup_only_series, b.samples), (b.series, 0));
        raw += before[&b.seq];
        rolled += b.bytes;
    }
    assert!(rolled > 0 && rolled < raw, "{rolled} vs {raw}");
    let q = "count_over_time(lat_v[24h])";
    let e = Engine::new(EngineOptions::default());
    let gone = e.instant_query(&*db, q, newest - 5 * DAY).unwrap();
    assert!(points(gone.value).is_empty());
    let kept = e.instant_query(&*db, q, T0 + 7 * DAY - 1).unwrap();
    assert_eq!(
        points(kept.value).iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![1440.0; 3],
        "lat_v of both tenants"
    );
    // Without a longer rollup retention, a block past the raw retention goes whole, as before.
    close(db);
    let db = open(
        tmp.path(),
        Options {
            rollup_retention_ms: None,
            ..o
        },
    );
    db.flush().unwrap();
    assert!(rollup_only_blocks(&db).is_empty());
    let oldest_block = db.blocks().iter().map(|b| b.mint).min().unwrap();
    assert!(oldest_block >= newest - 2 * DAY - 18 * HOUR);
    close(db);
}

#[test]
fn contradicting_retentions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (o, why) in [
        (
            Options {
                retention_ms: Some(5 * DAY),
                rollup_retention_ms: Some(DAY),
                ..opts()
            },
            "shorter than the raw retention",
        ),
        (
            Options {
                rollup_retention_ms: Some(DAY),
                ..opts()
            },
            "needs a raw retention",
        ),
        (
            Options {
                retention_ms: Some(DAY),
                retention_rules: vec![rule("{x=\"1\"}", 2 * DAY)],
                ..opts()
            },
            "retention rule 1 ({x=\"1\"}=2d) keeps raw data longer than the rollup retention 1d",
        ),
    ] {
        match Db::open(tmp.path(), o) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{why}: {other:?}"),
        }
    }
}

mod prop {
    use proptest::prelude::*;

    use super::*;

    fn batch() -> impl Strategy<Value = Vec<(i64, i64)>> {
        // (step ms, value in hundredths): ~8 h of irregular samples.
        proptest::collection::vec((5_000i64..60_000, -5_000i64..5_000), 600..1_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

        /// Random history, answered from raw samples; then its raw samples are dropped (a reopen
        /// with a raw retention it is past): every long-range function answers from the
        /// rollup-only blocks as it did from the raw samples.
        #[test]
        fn answers_from_rollup_only_blocks_are_the_answers_before_the_drop(a in batch(), b in batch(), reverse in any::<bool>()) {
            let tmp = tempfile::tempdir().unwrap();
            let db = open(tmp.path(), opts());
            let mut bodies = Vec::new();
            for (steps, svc) in [(&a, "a"), (&b, "b")] {
                let mut body = String::new();
                let mut t = T0;
                for &(d, v) in steps {
                    t += d;
                    body.push_str(&format!("lat,svc={svc} v={} {t}\n", v.max(0) as f64 / 100.0 + (t - T0) as f64 / 1e6));
                }
                bodies.push(body);
            }
            if reverse {
                bodies.reverse();
            }
            for body in bodies {
                db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
            }
            db.write_lines(format!("other v=1 {}\n", T0 + 40 * HOUR).as_bytes(), Precision::Milliseconds).unwrap();
            db.flush().unwrap();
            let raw = Engine::new(EngineOptions { rollups: false, ..EngineOptions::default() });
            let mut queries = Vec::new();
            for end_h in 4..=9i64 {
                for range_h in 4..=end_h {
                    for f in FUNCS {
                        queries.push((f.replace('M', "lat_v").replace('R', &format!("{range_h}h")), T0 + end_h * HOUR - 1));
                    }
                }
            }
            let before: Vec<Vec<(String, f64)>> = queries
                .iter()
                .map(|(q, at)| points(raw.instant_query(&*db, q, *at).unwrap().value))
                .collect();
            close(db);
            let db = open(tmp.path(), Options {
                retention_ms: Some(12 * HOUR),
                rollup_retention_ms: Some(30 * DAY),
                ..opts()
            });
            db.flush().unwrap();
            prop_assert!(db.select(&parse_selector("lat_v").unwrap(), i64::MIN, i64::MAX).unwrap().is_empty());
            prop_assert!(!rollup_only_blocks(&db).is_empty());
            let rollups = Engine::new(EngineOptions::default());
            for ((q, at), want) in queries.iter().zip(&before) {
                let got = points(rollups.instant_query(&*db, q, *at).unwrap().value);
                prop_assert_eq!(got.len(), want.len(), "{} at {}", q, at);
                for ((gl, g), (wl, w)) in got.iter().zip(want) {
                    prop_assert_eq!(gl, wl);
                    let tol = if q.starts_with("quantile") { w.abs() * RELATIVE_ERROR * (1.0 + 1e-9) } else { 1e-9 * w.abs().max(1.0) };
                    prop_assert!((g - w).abs() <= tol, "{} at {} for {}: rollup-only {}, raw before {}", q, at, gl, g, w);
                }
            }
            close(db);
        }
    }
}
