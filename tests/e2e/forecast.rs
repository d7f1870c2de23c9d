//! `/api/v1/forecast` and `/api/v1/anomalies` on a seasonal series written as line protocol.

use serde_json::Value;

use crate::harness::{TestServer, Transcript, num, tempdir};

const STEP: i64 = 300; // 5 minutes
const DAY: i64 = 86_400;
const T0: i64 = 1_700_006_400; // a whole day in unix seconds
const SPIKE: i64 = T0 + 3 * DAY + 13 * 3600; // one point on day 4, 13:00 (after the warm-up)

/// A daily cycle on a slow trend with deterministic noise.
fn truth(t: i64) -> f64 {
    let day = (t - T0) as f64 / DAY as f64;
    let noise = (((t / STEP) * 7919) % 13) as f64 / 13.0 - 0.5;
    100.0 + 2.0 * day + 20.0 * (day * std::f64::consts::TAU).sin() + noise
}

/// Five days at 5 minutes of `temp,room=a c=...`, a spike planted on day 4.
fn seasonal_server() -> (tempfile::TempDir, TestServer) {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let mut body = String::new();
    let mut t = T0;
    while t < T0 + 5 * DAY {
        let v = if t == SPIKE { truth(t) + 80.0 } else { truth(t) };
        body.push_str(&format!("temp,room=a c={v} {t}\n"));
        t += STEP;
    }
    s.write("s", &body);
    (dir, s)
}

fn json(s: &TestServer, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    s.get_json(path, params)
}

#[test]
fn forecast_follows_the_daily_cycle() {
    let (_dir, s) = seasonal_server();
    let (start, end) = ((T0 + DAY).to_string(), (T0 + 5 * DAY - STEP).to_string());
    let (status, v) = json(
        &s,
        "/api/v1/forecast",
        &[
            ("query", "temp_c"),
            ("start", &start),
            ("end", &end),
            ("step", "5m"),
            ("horizon", "12h"),
            ("season", "1d"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "forecast");
    let r = &v["data"]["result"][0];
    assert_eq!(r["metric"]["room"], "a");
    assert_eq!(r["model"]["season"], 288);
    assert!(
        r["model"]["aicc"].is_string() && r["model"]["alpha"].is_string(),
        "{}",
        r["model"]
    );
    assert_eq!(r["history"].as_array().unwrap().len(), 4 * 288);
    let fc = r["forecast"].as_array().unwrap();
    assert_eq!(fc.len(), 144, "12 h at 5 min");
    // Each point: time, mean, lower, upper; the continuation of the truth mostly inside.
    let mut inside = 0;
    let mut err = 0.0;
    for (k, p) in fc.iter().enumerate() {
        let t = p[0].as_i64().unwrap();
        assert_eq!(t, T0 + 5 * DAY - STEP + (k as i64 + 1) * STEP);
        let (mean, lo, hi) = (num(&p[1]), num(&p[2]), num(&p[3]));
        assert!(lo <= mean && mean <= hi);
        let want = truth(t);
        inside += usize::from(lo <= want && want <= hi);
        err += (mean - want).abs();
    }
    let mae = err / fc.len() as f64;
    // The cycle's amplitude is 20: a flat forecast would be off by ~13 on average.
    assert!(mae < 3.0, "mean absolute error {mae}");
    assert!(inside >= 130, "{inside} of 144 truth points inside the 95% interval");
    // Asking for an explicit model and level is honoured.
    let (status, v) = json(
        &s,
        "/api/v1/forecast",
        &[
            ("query", "temp_c"),
            ("start", &start),
            ("end", &end),
            ("step", "300"),
            ("horizon", "6"),
            ("model", "AAA"),
            ("season", "288"),
            ("level", "0.8"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    let r = &v["data"]["result"][0];
    assert_eq!(r["model"]["type"], "ETS(A,A,A)");
    assert_eq!(r["level"], "0.8");
    assert_eq!(r["forecast"].as_array().unwrap().len(), 6);
    s.stop();
}

#[test]
fn anomalies_flag_the_spike_only() {
    let (_dir, s) = seasonal_server();
    let (start, end) = (T0.to_string(), (T0 + 5 * DAY - STEP).to_string());
    for method in ["robust", "combined", "residual"] {
        let (status, v) = json(
            &s,
            "/api/v1/anomalies",
            &[
                ("query", "temp_c"),
                ("start", &start),
                ("end", &end),
                ("step", "5m"),
                ("season", "1d"),
                ("method", method),
            ],
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["data"]["resultType"], "anomalies");
        let r = &v["data"]["result"][0];
        let scores = r["scores"].as_array().unwrap();
        // Two (robust) or three seasons learn the series; the last two days are scored.
        assert!(
            scores.len() >= 2 * 288 - 2,
            "scores after the warm-up: {}",
            scores.len()
        );
        let flagged: Vec<i64> = r["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["time"].as_i64().unwrap())
            .collect();
        assert!(flagged.contains(&SPIKE), "{method}: spike not flagged: {flagged:?}");
        // A handful of false alarms at most among ~576 ordinary points.
        assert!(flagged.len() <= 8, "{method}: {} flagged: {flagged:?}", flagged.len());
        let intervals = r["intervals"].as_array().unwrap();
        assert!(
            intervals
                .iter()
                .any(|i| i["start"].as_i64() <= Some(SPIKE) && i["end"].as_i64() >= Some(SPIKE))
        );
        let spike = r["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["time"].as_i64() == Some(SPIKE))
            .unwrap();
        assert!(num(&spike["value"]) > num(&spike["upper"]), "{spike}");
    }
    s.stop();
}

#[test]
fn bad_parameters_and_short_history_are_clear_400s() {
    let (_dir, s) = seasonal_server();
    let expect_400 = |path: &str, query: &str, start: &str, end: &str, extra: &[(&str, &str)], needle: &str| {
        let mut params = vec![("query", query), ("start", start), ("end", end), ("step", "5m")];
        params.extend_from_slice(extra);
        let (status, v) = json(&s, path, &params);
        assert_eq!(status, 400, "{path} {params:?}: {v}");
        assert_eq!((&v["status"], &v["errorType"]), (&"error".into(), &"bad_data".into()));
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{path} {params:?}: {msg:?} lacks {needle:?}");
    };
    let fc = "/api/v1/forecast";
    let an = "/api/v1/anomalies";
    let (a, b) = ("1700092800", "1700178900");
    // Messages name the parameter as Prometheus does: `invalid parameter "horizon": ...`.
    expect_400(fc, "temp_c", a, b, &[("horizon", "abc")], "\"horizon\"");
    expect_400(fc, "temp_c", a, b, &[("horizon", "20000")], "max-forecast-horizon");
    expect_400(fc, "temp_c", a, b, &[("level", "95")], "\"level\"");
    expect_400(fc, "temp_c", a, b, &[("model", "arima")], "unknown model");
    expect_400(fc, "temp_c", a, b, &[("season", "weekly")], "\"season\"");
    expect_400(fc, "temp_c", "x", b, &[], "\"start\"");
    expect_400(fc, "rate(temp_c[5m]", a, b, &[], "parse error");
    expect_400(an, "temp_c", a, b, &[("method", "zscore")], "unknown method");
    expect_400(an, "temp_c", a, b, &[("threshold", "2")], "\"threshold\"");
    // Three points of history: too little to model.
    expect_400(fc, "temp_c", a, "1700093400", &[], "too little history");
    expect_400(an, "temp_c", a, "1700093400", &[], "too little history");
    s.stop();
    series_limit_is_a_400("max-forecast-series", "/api/v1/forecast", &[("query", "m_v")]);
}

/// A plain selector is read as raw samples: far more than the 11,000 steps of a range query,
/// up to `max-forecast-points`; beyond it, a 400 naming the setting.
#[test]
fn long_series_beyond_the_range_query_limit() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--max-forecast-points", "30000"]);
    const N: i64 = 25_000;
    let body: String = (0..N)
        .map(|i| {
            let spike = if i == 20_000 { 50.0 } else { 0.0 };
            let v = 10.0 + ((i * 7919) % 13) as f64 / 13.0 + spike;
            format!("long v={v} {}\n", T0 + 10 * i)
        })
        .collect();
    s.write("s", &body);
    let (start, end) = (T0.to_string(), (T0 + 10 * (N - 1)).to_string());
    let params = [
        ("query", "long_v"),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("step", "10s"),
    ];
    let (status, v) = json(&s, "/api/v1/anomalies", &params);
    assert_eq!(status, 200, "{v}");
    let r = &v["data"]["result"][0];
    assert!(r["scores"].as_array().unwrap().len() > 24_000);
    let flagged: Vec<i64> = r["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["time"].as_i64().unwrap())
        .collect();
    assert!(flagged.contains(&(T0 + 200_000)), "{flagged:?}");
    let (status, v) = json(&s, "/api/v1/forecast", &[&params[..], &[("horizon", "10")]].concat());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["result"][0]["history"].as_array().unwrap().len(), N as usize);
    // An expression is a range query: its own 11,000-step limit applies.
    let expr = [
        ("query", "long_v * 2"),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("step", "10s"),
    ];
    let (status, v) = json(&s, "/api/v1/anomalies", &expr);
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("11,000")), "{v}");
    let far = (T0 + 10 * 40_000).to_string();
    let (status, v) = json(
        &s,
        "/api/v1/anomalies",
        &[("query", "long_v"), ("start", &start), ("end", &far), ("step", "10s")],
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("max-forecast-points")),
        "{v}"
    );
    s.stop();
}

/// With `--<setting> 2`, a request on the three series `m_v{k="0"|"1"|"2"}` (one point each at
/// 1700000000; `params` besides the range) is a 400 that names the setting.
pub(crate) fn series_limit_is_a_400(setting: &str, path: &str, params: &[(&str, &str)]) {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[&format!("--{setting}"), "2"]);
    let body: String = (0..3).map(|i| format!("m,k={i} v={i} 1700000000\n")).collect();
    s.write("s", &body);
    let mut all = vec![("start", "1700000000"), ("end", "1700000000"), ("step", "10s")];
    all.extend_from_slice(params);
    let (status, v) = json(&s, path, &all);
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains(setting)), "{v}");
    s.stop();
}

/// Whole answers, byte for byte: a short series whose labels need escaping, one too short to
/// model (a warning), a fractional step (timestamps with decimals) and the 400 when no series
/// can be modelled.
#[test]
fn answers_byte_for_byte() {
    const T: i64 = 1_700_000_000;
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let mut body = String::new();
    for i in 0..24i64 {
        let wiggle = [0.0, 2.0, 0.0, -2.0][(i % 4) as usize];
        let spike = if i == 18 { 20.0 } else { 0.0 };
        let v = 10.0 + 0.5 * i as f64 + wiggle + ((i * 7) % 5) as f64 * 0.1 + spike;
        body.push_str(&format!("temp,room=a&b<1> c={v} {}\n", T + 60 * i));
    }
    for i in 0..3i64 {
        body.push_str(&format!("temp,room=short c={i} {}\n", T + 60 * (i + 20)));
    }
    s.write("s", &body);
    let (start, end) = (T.to_string(), (T + 23 * 60).to_string());
    let range = |path: &str, extra: &[(&str, &str)]| {
        let mut params = vec![
            ("query", "temp_c"),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", "1m"),
        ];
        params.extend_from_slice(extra);
        s.get_params(path, &params)
    };
    let mut t = Transcript::default();
    t.add(
        "forecast holt, horizon 3",
        &range(
            "/api/v1/forecast",
            &[("model", "holt"), ("season", "none"), ("horizon", "3")],
        ),
    );
    t.add(
        "forecast AAA, season 4, level 0.8, horizon 2",
        &range(
            "/api/v1/forecast",
            &[("model", "AAA"), ("season", "4"), ("level", "0.8"), ("horizon", "2")],
        ),
    );
    let (a, b) = ((T + 600).to_string(), (T + 615).to_string());
    t.add(
        "forecast at a 1.5 s step",
        &s.get_params(
            "/api/v1/forecast",
            &[
                ("query", "temp_c{room!=\"short\"}"),
                ("start", &a),
                ("end", &b),
                ("step", "1.5"),
                ("model", "simple"),
                ("horizon", "2"),
            ],
        ),
    );
    for method in ["residual", "iforest", "combined"] {
        t.add(
            &format!("anomalies {method}, season 4"),
            &range("/api/v1/anomalies", &[("method", method), ("season", "4")]),
        );
    }
    t.add(
        "forecast of the short series only",
        &s.get_params(
            "/api/v1/forecast",
            &[
                ("query", "temp_c{room=\"short\"}"),
                ("start", &start),
                ("end", &end),
                ("step", "1m"),
            ],
        ),
    );
    insta::assert_snapshot!("answers", t.text());
    s.stop();
}

/// Ten years of a seasonal monthly series: `month` 0 is January 2015.
fn monthly_truth(month: i64) -> f64 {
    let noise = (((month * 7919) % 17) as f64 / 17.0 - 0.5) * 4.0;
    200.0 + 1.5 * month as f64 + 30.0 * (month as f64 * std::f64::consts::TAU / 12.0).sin() + noise
}

/// Unix seconds of the first of month `month` counted from January 2015, 00:00 UTC.
fn month_start(month: i64) -> i64 {
    let (y, m) = (2015 + month / 12, (month % 12 + 1) as u32);
    foresight_units::days_from_civil(y, m, 1) * DAY
}

/// MASE of `fc` (`[t, mean, ..]` points) against `truth` at the same times, scaled by the
/// in-sample seasonal naive (season 12) error of `history`.
fn mase(fc: &[Value], truth: impl Fn(usize) -> f64, history: &[f64]) -> f64 {
    let scale = history.windows(13).map(|w| (w[12] - w[0]).abs()).sum::<f64>() / (history.len() - 12) as f64;
    let err: f64 = fc.iter().enumerate().map(|(k, p)| (num(&p[1]) - truth(k)).abs()).sum();
    err / fc.len() as f64 / scale
}

/// Monthly data stamped on the 1st of each month (steps of 28-31 days), `step` left out: modelled
/// as a sequence of months with the calendar's season of 12, forecast on the next month starts,
/// as accurately as the same values at an exact 30-day step. Quarter ends with a missing quarter
/// get a season of 4; what cannot be placed is a clear 400.
#[test]
fn calendar_monthly_and_quarterly_series_at_their_own_step() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    const MONTH30: i64 = 30 * DAY;
    let r0 = month_start(0);
    let mut body = String::new();
    for i in 0..96 {
        body.push_str(&format!("cal v={} {}\n", monthly_truth(i), month_start(i)));
        body.push_str(&format!("reg v={} {}\n", monthly_truth(i), r0 + i * MONTH30));
    }
    // Quarter ends (Mar 31, Jun 30, ...) with one quarter missing.
    for q in (0..40).filter(|&q| q != 17) {
        let t = month_start(q * 3 + 3) - DAY;
        body.push_str(&format!("qtr v={} {t}\n", monthly_truth(q * 3)));
    }
    // Irregular timestamps: no step of their own.
    for i in 0..40i64 {
        body.push_str(&format!("odd v=1 {}\n", r0 + i * i * 3600));
    }
    s.write("s", &body);
    let history: Vec<f64> = (0..96).map(monthly_truth).collect();
    let future = |k: usize| monthly_truth(96 + k as i64);
    let (start, end) = (r0.to_string(), month_start(95).to_string());
    let cal = |query: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("query", query), ("start", start.as_str()), ("end", end.as_str())];
        params.extend_from_slice(extra);
        json(&s, "/api/v1/forecast", &params)
    };

    let (status, v) = cal("cal_v", &[("horizon", "24")]);
    assert_eq!(status, 200, "{v}");
    let r = &v["data"]["result"][0];
    assert_eq!(r["cadence"], serde_json::json!({"months": 1, "gaps": 0}));
    assert_eq!(r["model"]["season"], 12, "{}", r["model"]);
    assert_eq!(r["history"].as_array().unwrap().len(), 96);
    let fc = r["forecast"].as_array().unwrap();
    let times: Vec<i64> = fc.iter().map(|p| p[0].as_i64().unwrap()).collect();
    assert_eq!(times, (96..120).map(month_start).collect::<Vec<_>>());
    let calendar = mase(fc, future, &history);

    // The same values at an exact 30-day step, on a grid as before.
    let reg_end = (r0 + 95 * MONTH30).to_string();
    let (status, v) = json(
        &s,
        "/api/v1/forecast",
        &[
            ("query", "reg_v"),
            ("start", &start),
            ("end", &reg_end),
            ("step", "30d"),
            ("horizon", "24"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    let regular = mase(v["data"]["result"][0]["forecast"].as_array().unwrap(), future, &history);
    // A whole year ahead as a duration: the next 12 month starts (365 days reach 12 of them).
    let (_, v) = cal("cal_v", &[("horizon", "365d")]);
    assert_eq!(v["data"]["result"][0]["forecast"].as_array().unwrap().len(), 12, "{v}");
    // The same calendar data on a 30-day grid: 5 of the 96 samples fall within the lookback.
    let (status, before) = cal("cal_v", &[("step", "30d"), ("horizon", "24")]);
    assert_eq!(status, 400, "{before}");
    let msg = before["error"].as_str().unwrap();
    assert!(msg.contains("5 points") && msg.contains("leave step out"), "{msg}");
    eprintln!("MASE over 24 months: calendar samples {calendar:.3}, regular 30-day step {regular:.3}");
    assert!(calendar < 0.8, "MASE {calendar}");
    assert!(
        calendar <= regular * 1.05 + 0.01,
        "calendar {calendar} vs regular {regular}"
    );

    let qtr_end = (month_start(120) - DAY).to_string();
    let (status, v) = json(
        &s,
        "/api/v1/forecast",
        &[
            ("query", "qtr_v"),
            ("start", &start),
            ("end", &qtr_end),
            ("horizon", "4"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    let r = &v["data"]["result"][0];
    assert_eq!(r["cadence"], serde_json::json!({"months": 3, "gaps": 1}));
    assert_eq!(r["model"]["season"], 4, "{}", r["model"]);
    assert_eq!(r["history"].as_array().unwrap().len(), 39);
    let times: Vec<i64> = r["forecast"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(
        times,
        (40..44).map(|q| month_start(q * 3 + 3) - DAY).collect::<Vec<_>>()
    );

    for (query, extra, needle) in [
        ("odd_v", &[][..], "no regular step"),
        ("cal_v * 2", &[][..], "plain selector"),
        ("cal_v", &[("season", "1y")][..], "give it in steps"),
        ("cal_v", &[("horizon", "soon")][..], "\"horizon\""),
    ] {
        let (status, v) = cal(query, extra);
        assert_eq!(status, 400, "{query} {extra:?}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{query}: {msg:?} lacks {needle:?}");
    }
    s.stop();
}

/// Hourly data with a daily cycle and quieter weekends, ten weeks of it: the forecast's model
/// reports the weekly profile it modelled on top of the daily season, and the next weekend's
/// forecast is below the weekdays'.
#[test]
fn a_weekly_profile_on_a_daily_season_is_reported() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let hours = 24 * 7 * 10;
    // T0 is a Wednesday: day 3 and 4 after it are the weekend.
    let value = |h: i64| {
        let day = std::f64::consts::TAU * (h % 24) as f64 / 24.0;
        let weekend = if (h / 24) % 7 == 3 || (h / 24) % 7 == 4 {
            -6.0
        } else {
            2.4
        };
        let noise = ((h * 7919) % 13) as f64 / 13.0 - 0.5;
        100.0 + 20.0 * day.sin() + weekend + noise
    };
    let body: String = (0..hours)
        .map(|h| format!("load,site=a v={} {}\n", value(h), T0 + h * 3600))
        .collect();
    s.write("s", &body);
    let end = (T0 + (hours - 1) * 3600).to_string();
    let start = T0.to_string();
    let (status, v) = json(
        &s,
        "/api/v1/forecast",
        &[
            ("query", "load_v"),
            ("start", &start),
            ("end", &end),
            ("step", "1h"),
            ("horizon", "168"),
        ],
    );
    assert_eq!(status, 200, "{v}");
    let r = &v["data"]["result"][0];
    assert_eq!(r["model"]["season"], 24, "{}", r["model"]);
    assert_eq!(r["model"]["long_season"], 168, "{}", r["model"]);
    let mean: Vec<f64> = r["forecast"].as_array().unwrap().iter().map(|p| num(&p[1])).collect();
    // The forecast starts at hour `hours`, a Wednesday again: days 3 and 4 ahead are the weekend.
    let avg = |days: std::ops::Range<usize>| {
        let xs = &mean[days.start * 24..days.end * 24];
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    assert!(
        avg(3..5) < avg(0..3) - 5.0,
        "weekend {} vs weekdays {}",
        avg(3..5),
        avg(0..3)
    );
    s.stop();
}
