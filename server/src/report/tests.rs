//! The report on a known dataset, figures computed by hand.

use foresight_engine::promql::{
    Engine, LabelMatcher, Labels, MemStorage, RollupSeries, RollupWindow, Series, Storage, StorageError,
};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const MIN: i64 = 60_000;
const DAY: i64 = 1440 * MIN;
/// The period is day 2, the previous period day 1.
const START: i64 = DAY;
const END: i64 = 2 * DAY;
/// The api spike: minute 1000 of the period, in series b.
const SPIKE: i64 = START + 1000 * MIN;

/// One sample a minute over two days:
/// - `lat{service="api",instance="a"}`: `10 + k % 10` in the period (k = minute 1..=1440 of
///   the period), `5 + k % 10` in the previous one; `instance="b"` 10 more, except 500 at the
///   spike;
/// - `lat{service="db"}`: `100 + 2k/1440` in the period, `98 + 2k/1440` before: 2 a day.
fn dataset() -> MemStorage {
    let mut db = MemStorage::new();
    let series = |service: &str, instance: &str| {
        Labels::new([("__name__", "lat"), ("service", service), ("instance", instance)])
    };
    let minutes = |f: fn(i64, bool) -> f64| -> Vec<(i64, f64)> {
        (1..=1440)
            .flat_map(|k| [(k * MIN, f(k, false)), (START + k * MIN, f(k, true))])
            .collect()
    };
    let mut a = minutes(|k, cur| (k % 10) as f64 + if cur { 10.0 } else { 5.0 });
    a.sort_by_key(|p| p.0);
    let mut b = minutes(|k, cur| (k % 10) as f64 + if cur { 20.0 } else { 15.0 });
    b.sort_by_key(|p| p.0);
    for p in &mut b {
        if p.0 == SPIKE {
            p.1 = 500.0;
        }
    }
    let mut d = minutes(|k, cur| if cur { 100.0 } else { 98.0 } + 2.0 * k as f64 / 1440.0);
    d.sort_by_key(|p| p.0);
    db.add(series("api", "a"), a);
    db.add(series("api", "b"), b);
    db.add(series("db", "x"), d);
    db
}

fn req(query: &str, by: &[&str], threshold: Option<f64>) -> ReportRequest {
    ReportRequest {
        query: query.into(),
        start: START,
        end: END,
        step: MIN,
        by: by.iter().map(|s| (*s).to_owned()).collect(),
        threshold,
        comparison: Comparison::Le,
        level: 0.95,
        max_groups: 100,
    }
}

fn group<'a>(data: &'a ReportData, service: &str) -> &'a GroupReport {
    data.result
        .iter()
        .find(|g| g.metric.get("service") == Some(service))
        .expect("the group")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn figures_change_trend_availability_and_anomaly_by_hand() {
    let db = dataset();
    let (data, warnings) = compute(&db, &Engine::default(), &req("lat", &["service"], Some(17.0))).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(data.values, "samples");
    assert_eq!(data.result.len(), 2);

    let api = group(&data, "api");
    assert_eq!(api.series, 2);
    let cur = api.current.unwrap();
    // 2,880 samples: 144 of each of 10..=29, one 20 replaced by 500. Ranks q·2879: p50 between
    // the 1440th and 1441st (19 and 20), p95 and p99 both among the 29s.
    assert_eq!(cur.count, 2880);
    assert_eq!(cur.percentiles, "exact");
    assert!(close(cur.p50.0, 19.5), "{}", cur.p50.0);
    assert!(close(cur.p95.0, 29.0), "{}", cur.p95.0);
    assert!(close(cur.p99.0, 29.0), "{}", cur.p99.0);
    assert!(close(cur.mean.0, 19.5 + 480.0 / 2880.0), "{}", cur.mean.0);
    assert_eq!((cur.min.0, cur.max.0), (10.0, 500.0));
    // The previous day is 5 lower everywhere: 144 each of 5..=24; p95 between 23 and 24.
    let prev = api.previous.unwrap();
    assert!(close(prev.mean.0, 14.5) && close(prev.p50.0, 14.5) && close(prev.p95.0, 23.05));
    let change = api.change.unwrap();
    assert!(close(change.p50.absolute.0, 5.0));
    assert!(close(change.p50.relative.unwrap().0, 5.0 / 14.5));
    assert!(close(change.max.absolute.0, 500.0 - 24.0));

    // The group's series is the mean of a and b at each minute: 15 + k % 10 (255 at the
    // spike, at k % 10 = 0); good (<= 17) when k % 10 <= 2: 432 of 1440 steps but the spike's.
    // Before: 10 + k % 10, all but k % 10 = 8, 9 good.
    let a = api.availability.unwrap();
    assert_eq!((a.good, a.steps), (431, 1440));
    let p = api.previous_availability.unwrap();
    assert_eq!((p.good, p.steps), (1152, 1440));
    assert!(
        api.anomalies.iter().any(|x| x.time.0 == SPIKE && x.value.0 == 255.0),
        "{:?}",
        api.anomalies
    );
    assert!(api.anomalies.iter().all(|x| x.time.0 > START));
    assert_eq!(api.values.len(), 1440);
    assert_eq!(api.previous_values.len(), 1440);
    assert_eq!(api.values[0].0.0, START + MIN);

    let dbg = group(&data, "db");
    let trend = dbg.trend.clone().unwrap();
    assert!(close(trend.slope_per_day.0, 2.0), "{}", trend.slope_per_day.0);
    assert!(close(trend.line_at_end.0, 102.0), "{}", trend.line_at_end.0);
    assert!(close(trend.line_at_next_end.0, 104.0));
    let f = trend.forecast.unwrap();
    assert_eq!(f.time.0, END + DAY);
    assert!((f.mean.0 - 104.0).abs() < 0.05, "{}", f.mean.0);
    assert!(f.lower.0 <= f.mean.0 && f.mean.0 <= f.upper.0);
    assert!(dbg.anomalies.is_empty(), "{:?}", dbg.anomalies);
    let c = dbg.current.unwrap();
    assert!(close(c.mean.0, 101.0 + 1.0 / 1440.0) && close(c.max.0, 102.0));
}

#[test]
fn an_expression_is_reported_over_its_steps_and_one_group_without_by() {
    let db = dataset();
    let (data, _) = compute(&db, &Engine::default(), &req("lat{service=\"api\"} * 2", &[], None)).unwrap();
    assert_eq!(data.values, "steps");
    assert_eq!(data.result.len(), 1);
    let g = &data.result[0];
    assert!(g.metric.is_empty());
    assert_eq!(g.series, 2);
    let cur = g.current.unwrap();
    assert_eq!(cur.count, 2880);
    assert!(close(cur.p50.0, 39.0) && close(cur.max.0, 1000.0));
    assert!(g.availability.is_none());
}

/// A storage whose rollups are computed from its samples: windows of `LEN`, whole when inside
/// the range. Counts the raw reads (`select`).
struct Windowed(MemStorage, AtomicUsize);

fn windowed() -> Windowed {
    Windowed(dataset(), AtomicUsize::new(0))
}

const LEN: i64 = 60 * MIN;

impl Storage for Windowed {
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StorageError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.select(matchers, mint, maxt)
    }

    fn rollup_lengths(&self) -> Vec<i64> {
        vec![LEN]
    }

    fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        _raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSeries>, StorageError> {
        Ok(self
            .0
            .select(matchers, mint, maxt)?
            .into_iter()
            .map(|s| {
                let mut windows: Vec<RollupWindow> = Vec::new();
                let first = mint.div_euclid(len) * len + if mint.rem_euclid(len) == 0 { 0 } else { len };
                let mut a = first;
                while a + len - 1 <= maxt {
                    let vals: Vec<(i64, f64)> = s
                        .samples
                        .iter()
                        .copied()
                        .filter(|p| p.0 >= a && p.0 < a + len)
                        .collect();
                    windows.extend(RollupWindow::of(len, &vals));
                    a += len;
                }
                RollupSeries {
                    labels: s.labels,
                    windows,
                    samples: s.samples,
                }
            })
            .collect())
    }
}

#[test]
fn rollup_windows_give_sketch_percentiles_within_the_bound_and_exact_moments() {
    let exact = compute(&dataset(), &Engine::default(), &req("lat", &["service"], None))
        .unwrap()
        .0;
    // A period that does not start on a window boundary: raw edges plus windows.
    let db = windowed();
    let (data, _) = compute(&db, &Engine::default(), &req("lat", &["service"], None)).unwrap();
    for service in ["api", "db"] {
        let (e, s) = (group(&exact, service), group(&data, service));
        for (e, s) in [
            (e.current.unwrap(), s.current.unwrap()),
            (e.previous.unwrap(), s.previous.unwrap()),
        ] {
            assert_eq!(s.percentiles, "sketch");
            assert_eq!(s.count, e.count);
            assert!(close(s.mean.0, e.mean.0) && s.max.0 == e.max.0 && s.min.0 == e.min.0);
            for (a, b) in [(s.p50, e.p50), (s.p95, e.p95), (s.p99, e.p99)] {
                assert!(
                    (a.0 - b.0).abs() <= b.0.abs() * foresight_sketch::RELATIVE_ERROR,
                    "{service}: {} vs {}",
                    a.0,
                    b.0
                );
            }
        }
    }
    // Forcing raw data reads no window.
    let mut opts = Engine::default().options().clone();
    opts.rollups = false;
    let (raw, _) = compute(&db, &Engine::new(opts), &req("lat", &["service"], None)).unwrap();
    assert_eq!(group(&raw, "api").current.unwrap().percentiles, "exact");
}

#[test]
fn whole_window_steps_come_from_the_windows_with_the_raw_series() {
    // Steps of one window ending on a window boundary: no raw read of the series.
    let mut r = req("lat", &["service"], Some(17.0));
    r.step = LEN;
    let (exact, _) = compute(&dataset(), &Engine::default(), &r).unwrap();
    let db = windowed();
    let (data, _) = compute(&db, &Engine::default(), &r).unwrap();
    assert_eq!(db.1.load(Ordering::Relaxed), 0, "read raw");
    for service in ["api", "db"] {
        let (e, w) = (group(&exact, service), group(&data, service));
        assert_eq!(e.values.len(), 24);
        for (a, b) in e
            .values
            .iter()
            .chain(&e.previous_values)
            .zip(w.values.iter().chain(&w.previous_values))
        {
            assert_eq!(a.0, b.0);
            assert!(close(a.1.0, b.1.0), "{service} at {}: {} vs {}", a.0.0, a.1.0, b.1.0);
        }
        assert_eq!(e.availability.unwrap().good, w.availability.unwrap().good);
        let (te, tw) = (e.trend.clone().unwrap(), w.trend.clone().unwrap());
        assert!(close(te.slope_per_day.0, tw.slope_per_day.0));
    }
    // Unaligned steps read the series raw.
    r.end -= MIN;
    compute(&db, &Engine::default(), &r).unwrap();
    assert_eq!(db.1.load(Ordering::Relaxed), 1);
}

#[test]
fn parameters_are_checked_by_name() {
    let p = |pairs: &[(&str, &str)]| {
        Params::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    };
    let base = [("query", "lat"), ("start", "86400"), ("end", "172800")];
    let (r, f) = request_of(&p(&base));
    assert_eq!(
        (r.step, f),
        (120_000, Format::Json),
        "1 day / 1000 rounds up to 2 minutes"
    );
    for (extra, param) in [
        (("step", "1s"), "step"),
        (("step", "-5m"), "step"),
        (("by", "a,b-c"), "by"),
        (("threshold", "x"), "threshold"),
        (("comparison", "=="), "comparison"),
        (("level", "2"), "level"),
        (("format", "pdf"), "format"),
        (("end", "1"), "end"),
        (("query", ""), "query"),
    ] {
        let mut pairs = vec![extra];
        pairs.extend(base);
        let e = super::request(&p(&pairs), 10).unwrap_err();
        assert!(e.message.contains(&format!("\"{param}\"")), "{param}: {}", e.message);
    }
    assert_eq!(default_step(30 * DAY), 3_600_000);
    assert_eq!(default_step(7 * DAY), 900_000);
    assert_eq!(default_step(1000), 1_000);
    assert_eq!(default_step(5000 * DAY), 7 * DAY);
    assert_eq!(default_step(10_000 * DAY), 10 * DAY);
}

fn request_of(p: &Params) -> (ReportRequest, Format) {
    super::request(p, 10).unwrap()
}
