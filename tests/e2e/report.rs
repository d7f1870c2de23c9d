//! `/api/v1/report` and `foresight report` on a known history written through `/write`: the
//! figures, the change from the previous period, availability and a planted anomaly, in JSON,
//! HTML and from the CLI; exact from raw data and within the sketch bound once flushed into
//! blocks with rollups; bad parameters.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::harness::{TestServer, foresight, num, tempdir};

const MIN: i64 = 60;
const DAY: i64 = 1440 * MIN;
/// The previous period is day 1 from T0, the period day 2 (unix seconds, a whole day).
const T0: i64 = 1_700_006_400;
const START: i64 = T0 + DAY;
const END: i64 = T0 + 2 * DAY;
/// Minute 1000 of the period, in series b of the api.
const SPIKE: i64 = START + 1000 * MIN;

/// A sample a minute, k = 1..=1440 in each day: `lat_ms` of service api, instances a and b
/// (`10 + k % 10` and 10 more in the period, 5 less in the previous one; 500 at the spike), and
/// of service db (`100 + 2k/1440`, 2 less the day before: 2 a day).
fn history() -> String {
    let mut body = String::new();
    for (day, cur) in [(T0, false), (START, true)] {
        for k in 1..=1440i64 {
            let t = day + k * MIN;
            let base = (k % 10) as f64 + if cur { 10.0 } else { 5.0 };
            let b = if t == SPIKE { 500.0 } else { base + 10.0 };
            let db = if cur { 100.0 } else { 98.0 } + 2.0 * k as f64 / 1440.0;
            body.push_str(&format!("lat,service=api,instance=a ms={base} {t}\n"));
            body.push_str(&format!("lat,service=api,instance=b ms={b} {t}\n"));
            body.push_str(&format!("lat,service=db,instance=x ms={db} {t}\n"));
        }
    }
    body
}

fn params<'a>(extra: &[(&'a str, &'a str)], start: &'a str, end: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("query", "lat_ms"),
        ("start", start),
        ("end", end),
        ("step", "1m"),
        ("by", "service"),
        ("threshold", "17"),
    ];
    p.extend_from_slice(extra);
    // Exact figures to compare with; the background flusher may put the (old) samples in
    // blocks with rollups at any moment, and the sketch is checked on its own below.
    if !extra.iter().any(|(k, _)| *k == "raw") {
        p.push(("raw", "true"));
    }
    p
}

fn group<'a>(v: &'a Value, service: &str) -> &'a Value {
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metric"]["service"] == service)
        .unwrap_or_else(|| panic!("no group {service}: {v}"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

#[test]
fn report_of_a_known_history() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    s.write("s", &history());
    let (start, end) = (START.to_string(), END.to_string());

    let (status, v) = s.get_json("/api/v1/report", &params(&[], &start, &end));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "success");
    let d = &v["data"];
    assert_eq!(d["resultType"], "report");
    assert_eq!(
        (d["previous"]["start"].as_i64(), d["previous"]["end"].as_i64()),
        (Some(T0), Some(START))
    );
    assert_eq!(d["values"], "samples");
    let api = group(&v, "api");
    let cur = &api["current"];
    // 144 samples of each of 10..=29 but one 20 replaced by 500: Prometheus' ranks q·2879.
    assert_eq!(cur["count"], 2880);
    assert_eq!(cur["percentiles"], "exact");
    assert_eq!(
        (num(&cur["p50"]), num(&cur["p95"]), num(&cur["p99"])),
        (19.5, 29.0, 29.0)
    );
    assert!(close(num(&cur["mean"]), 19.5 + 480.0 / 2880.0, 1e-12));
    assert_eq!((num(&cur["min"]), num(&cur["max"])), (10.0, 500.0));
    let prev = &api["previous"];
    assert_eq!(
        (num(&prev["p50"]), num(&prev["mean"]), num(&prev["max"])),
        (14.5, 14.5, 24.0)
    );
    assert!(close(num(&prev["p95"]), 23.05, 1e-12));
    assert_eq!(num(&api["change"]["p50"]["absolute"]), 5.0);
    assert!(close(num(&api["change"]["p50"]["relative"]), 5.0 / 14.5, 1e-12));
    // Steps of the group's mean (15 + k % 10) at or below 17: 3 in 10, but the spike's.
    assert_eq!(
        (
            api["availability"]["good"].as_u64(),
            api["availability"]["steps"].as_u64()
        ),
        (Some(431), Some(1440))
    );
    assert_eq!(api["previous_availability"]["good"], 1152);
    let anomalies = api["anomalies"].as_array().unwrap();
    assert!(
        anomalies
            .iter()
            .any(|a| a["time"].as_i64() == Some(SPIKE) && num(&a["value"]) == 255.0),
        "{anomalies:?}"
    );
    let db = group(&v, "db");
    assert!(close(num(&db["trend"]["slope_per_day"]), 2.0, 1e-6), "{}", db["trend"]);
    assert!(
        (num(&db["trend"]["forecast"]["mean"]) - 104.0).abs() < 0.05,
        "{}",
        db["trend"]
    );
    assert_eq!(db["trend"]["forecast"]["time"].as_i64(), Some(END + DAY));
    assert!(db["anomalies"].as_array().unwrap().is_empty(), "{}", db["anomalies"]);

    // The same as a form POST.
    let r = s.post_form("/api/v1/report", &params(&[], &start, &end));
    assert_eq!(r.status, 200, "{}", r.body);
    let posted: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(posted["data"]["result"], v["data"]["result"]);

    // HTML: one self-contained page with a chart per group.
    let r = s.get_params("/api/v1/report", &params(&[("format", "html")], &start, &end));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    assert!(r.body.starts_with("<!DOCTYPE html>"));
    assert_eq!(r.body.matches("<svg").count(), 2);
    assert!(r.body.contains("service=&quot;api&quot;"), "labels escaped");
    assert!(r.body.contains("<td>p99</td><td>29</td>"), "{}", r.body);
    assert!(!r.body.contains("<script") && !r.body.contains("src=") && !r.body.contains("href="));

    // The CLI asks the running server.
    let url = s.url("");
    let cli = |extra: &[&str]| {
        let mut args = vec!["report", "lat_ms", "--url", &url, "--start", &start, "--end", &end];
        args.extend_from_slice(extra);
        foresight(&args)
    };
    let (code, out, err) = cli(&["--step", "1m", "--by", "service", "--threshold", "17", "--raw"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("service=api: 2 series, 2880 values, percentiles exact"),
        "{out}"
    );
    assert!(out.contains("availability (<= 17): 0.2993"), "{out}");
    let html = dir.path().join("report.html");
    let (code, _, err) = cli(&["--format", "html", "-o", html.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    let (code, _, err) = foresight(&["report", "lat_ms", "--url", &url, "--start", &start, "--end", "x"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("400") && err.contains("\"end\""), "{err}");

    // Flushed into blocks, a selector's percentiles come from the rollups' sketches, within
    // their bound; counts, means and extremes stay exact.
    let r = s.post("/api/v1/admin/flush", b"", &[]);
    assert!(r.status < 300, "{}", r.body);
    // Windows are whole once no head partition or overlapping block holds the series' samples
    // (compaction merges overlapping flushes): bounded wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let w = loop {
        let (status, w) = s.get_json("/api/v1/report", &params(&[("raw", "false")], &start, &end));
        assert_eq!(status, 200, "{w}");
        if group(&w, "api")["current"]["percentiles"] == "sketch" || std::time::Instant::now() > deadline {
            break w;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let (exact, sketched) = (&group(&v, "api")["current"], &group(&w, "api")["current"]);
    assert_eq!(sketched["percentiles"], "sketch", "{w}");
    assert_eq!(sketched["count"], exact["count"]);
    assert_eq!(
        (sketched["max"].clone(), sketched["min"].clone()),
        (exact["max"].clone(), exact["min"].clone())
    );
    assert!(close(num(&sketched["mean"]), num(&exact["mean"]), 1e-12));
    for q in ["p50", "p95", "p99"] {
        assert!(
            close(num(&sketched[q]), num(&exact[q]), 0.0055),
            "{q}: {} vs {}",
            sketched[q],
            exact[q]
        );
    }
    // raw=true reads the samples: exact again.
    let (_, raw) = s.get_json("/api/v1/report", &params(&[], &start, &end));
    assert_eq!(group(&raw, "api")["current"], *exact);
}

#[test]
fn bad_parameters_are_named() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let (start, end) = (START.to_string(), END.to_string());
    for (extra, param) in [
        (("query", ""), "query"),
        (("end", "1"), "end"),
        (("step", "1s"), "step"),
        (("by", "not-a-label"), "by"),
        (("threshold", "high"), "threshold"),
        (("comparison", "=="), "comparison"),
        (("format", "pdf"), "format"),
        (("raw", "maybe"), "raw"),
    ] {
        let mut p = vec![extra];
        p.extend(params(&[], &start, &end));
        let (status, v) = s.get_json("/api/v1/report", &p);
        assert_eq!(status, 400, "{param}: {v}");
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "bad_data");
        assert!(
            v["error"].as_str().unwrap().contains(&format!("\"{param}\"")),
            "{param}: {v}"
        );
    }
    let (status, v) = s.get_json(
        "/api/v1/report",
        &[("query", "lat_ms["), ("start", &start), ("end", &end)],
    );
    assert_eq!(status, 400, "{v}");
}
