//! Retention tiers through the real server: 40 days of history written with old timestamps to a
//! server run with `--retention 7d --rollup-retention 1y`; after the raw retention passed, a
//! 30-day `sum_over_time` / `quantile_over_time` still answers (from the rollup-only blocks, also
//! after a restart), while raw reads of that range are empty.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{TestServer, num, tempdir};

const DAY: i64 = 86_400;
const DAYS: i64 = 40;
const FLAGS: [&str; 4] = ["--retention", "7d", "--rollup-retention", "1y"];

/// The value of series `s` at minute `i` (positive, two decimals).
fn value(s: i64, i: i64) -> f64 {
    ((i * 37 + s * 101) % 1000) as f64 / 10.0 + 10.0 + s as f64 * 50.0
}

/// Per series, the answer to `query` at `time` (instant query; the time as text, seconds).
fn answer(s: &TestServer, query: &str, time: &str) -> (Vec<(String, f64)>, serde_json::Value) {
    let (status, body) = s.get_json("/api/v1/query", &[("query", query), ("time", time)]);
    assert_eq!(status, 200, "{query}: {body}");
    let mut out: Vec<(String, f64)> = body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {body}"))
        .iter()
        .map(|r| {
            (
                r["metric"]["svc"].as_str().unwrap_or("").to_owned(),
                num(&r["value"][1]),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (out, body)
}

/// Prometheus' `quantile_over_time`: linear interpolation between the ranks around `q (n - 1)`.
fn quantile(q: f64, mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

#[test]
fn thirty_day_functions_answer_from_rollups_after_the_raw_retention() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    // The newest sample: two hours ago, on an hour.
    let end = (now / 3600 - 2) * 3600;
    let n = DAYS * 1440;
    let first = end - (n - 1) * 60;
    let mut body = String::new();
    for i in 0..n {
        for (s, svc) in [(0, "a"), (1, "b")] {
            body.push_str(&format!("lat,svc={svc} v={} {}\n", value(s, i), first + i * 60));
        }
    }
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &FLAGS);
    // One body in time order: each piece is within the raw retention of the newest before it.
    s.write("s", &body);
    // Flushes, compacts and applies retention now (the background threads would, later).
    let r = s.post("/api/v1/admin/flush", b"", &[]);
    assert!(r.status / 100 == 2, "{}", r.body);

    // A 30-day range ending 8 days before the newest sample (1 ms before an hour, so the range
    // is whole hourly windows): all of it is past the 7-day raw retention.
    let q_end = end - 8 * DAY;
    let time = format!("{}.999", q_end - 1);
    let inside = |t: i64| t >= q_end - 30 * DAY && t < q_end;
    let expected: Vec<(String, f64, f64)> = [(0, "a"), (1, "b")]
        .iter()
        .map(|&(sn, svc)| {
            let vals: Vec<f64> = (0..n)
                .filter(|i| inside(first + i * 60))
                .map(|i| value(sn, i))
                .collect();
            assert_eq!(vals.len(), 30 * 1440);
            (svc.to_owned(), vals.iter().sum(), quantile(0.99, vals))
        })
        .collect();
    let check = |s: &TestServer| {
        let (sum, _) = answer(s, "sum_over_time(lat_v[30d])", &time);
        let (q99, body) = answer(s, "quantile_over_time(0.99, lat_v[30d])", &time);
        assert_eq!(sum.len(), 2, "{sum:?}");
        assert_eq!(q99.len(), 2, "{q99:?}");
        for ((svc, want_sum, want_q), ((s1, got_sum), (s2, got_q))) in expected.iter().zip(sum.iter().zip(&q99)) {
            assert_eq!((svc, svc), (s1, s2));
            assert!(
                (got_sum - want_sum).abs() <= 1e-9 * want_sum,
                "sum {svc}: {got_sum} vs {want_sum}"
            );
            assert!(
                (got_q - want_q).abs() <= want_q * 0.0054 * (1.0 + 1e-9),
                "p99 {svc}: {got_q} vs {want_q}"
            );
        }
        assert!(body["infos"].to_string().contains("sketches"), "{body}");
        // The raw samples of that range are gone: raw reads see nothing there.
        let mid = (q_end - 15 * DAY).to_string();
        assert!(answer(s, "lat_v", &mid).0.is_empty());
        assert!(answer(s, "count_over_time(lat_v[1h])", &mid).0.is_empty());
        let (status, raw) = s.get_json(
            "/api/v1/query_range",
            &[
                ("query", "lat_v"),
                ("start", &(q_end - 20 * DAY).to_string()),
                ("end", &(q_end - 19 * DAY).to_string()),
                ("step", "600"),
            ],
        );
        assert_eq!(status, 200, "{raw}");
        assert_eq!(raw["data"]["result"], serde_json::json!([]), "{raw}");
        // Within the raw retention, raw reads answer.
        let (recent, _) = answer(s, "count_over_time(lat_v[1h])", &(end - DAY).to_string());
        assert_eq!(recent, vec![("a".to_owned(), 60.0), ("b".to_owned(), 60.0)]);
    };
    check(&s);
    s.stop();
    let s = TestServer::start(dir.path(), &FLAGS);
    check(&s);
    s.stop();
}
