//! `/api/v1/correlate` on series written as line protocol, one of which leads the target by a
//! known number of steps and one of which follows it.

use serde_json::Value;

use crate::harness::{TestServer, num, tempdir};

const T0: i64 = 1_700_000_000;
const STEP: i64 = 10;
const POINTS: i64 = 400;
const LEAD: i64 = 3;
const FOLLOW: i64 = 2;

/// A deterministic random walk (a 64-bit LCG's high bits as steps in [-1, 1)), indexed from
/// `-10`, so that shifted copies of it exist at both ends of the range.
fn walk(seed: u64, len: usize) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut level = 0.0;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            level += (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            level
        })
        .collect()
}

/// `latency_ms` (the target), and candidates `m_v{k=...}`: `leader` (the target 3 steps early),
/// `follower` (2 steps late, upside down, scaled and noisier), six unrelated walks and a
/// constant.
fn incident_server() -> (tempfile::TempDir, TestServer) {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let base = walk(1, (POINTS + 20) as usize);
    let at = |i: i64| base[usize::try_from(i + 10).unwrap_or(usize::MAX)];
    let noise: Vec<Vec<f64>> = (0..7).map(|i| walk(100 + i, POINTS as usize)).collect();
    let mut body = String::new();
    for i in 0..POINTS {
        let t = T0 + i * STEP;
        body.push_str(&format!("latency,service=api ms={} {t}\n", 50.0 + at(i)));
        body.push_str(&format!("m,k=leader v={} {t}\n", at(i + LEAD)));
        let follower = 7.0 - 2.0 * at(i - FOLLOW) + 0.5 * noise[6][i as usize];
        body.push_str(&format!("m,k=follower v={follower} {t}\n"));
        for (n, w) in noise[..6].iter().enumerate() {
            body.push_str(&format!("m,k=noise{n} v={} {t}\n", w[i as usize]));
        }
        body.push_str(&format!("m,k=flat v=1 {t}\n"));
    }
    s.write("s", &body);
    (dir, s)
}

fn range() -> (String, String) {
    (T0.to_string(), (T0 + (POINTS - 1) * STEP).to_string())
}

fn json(s: &TestServer, params: &[(&str, &str)]) -> (u16, Value) {
    s.get_json("/api/v1/correlate", params)
}

#[test]
fn the_leader_ranks_first_at_its_lag() {
    let (_dir, s) = incident_server();
    let (start, end) = range();
    let started = std::time::Instant::now();
    let (status, v) = json(
        &s,
        &[
            ("target", "latency_ms"),
            ("candidates", "m_v"),
            ("start", &start),
            ("end", &end),
            ("step", "10s"),
            ("max_lag", "1m"),
        ],
    );
    eprintln!("correlate of 9 candidates x {POINTS} points: {:?}", started.elapsed());
    assert_eq!(status, 200, "{v}");
    let data = &v["data"];
    assert_eq!(data["resultType"], "correlation");
    assert_eq!(data["target"]["service"], "api");
    assert_eq!(
        (&data["method"], &data["transform"]),
        (&"pearson".into(), &"diff".into())
    );
    assert_eq!(data["max_lag"], 6, "1m at 10s steps");
    assert_eq!(
        (data["candidates"].as_u64(), data["ranked"].as_u64()),
        (Some(9), Some(8))
    );
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 8);
    let (first, second) = (&result[0], &result[1]);
    assert_eq!(first["metric"]["k"], "leader", "{first}");
    assert_eq!(first["lag"], LEAD);
    assert_eq!(first["lag_seconds"], LEAD * STEP);
    assert!(num(&first["coefficient"]) > 0.999, "{first}");
    assert!(num(&first["p_value"]) < 1e-12, "{first}");
    assert_eq!(first["overlap"], POINTS - 1 - LEAD);
    assert_eq!(second["metric"]["k"], "follower", "{second}");
    assert_eq!(second["lag"], -FOLLOW);
    // -2 / sqrt(4 + 0.5^2) of the differences.
    let follower = num(&second["coefficient"]);
    assert!((-0.99..-0.9).contains(&follower), "{second}");
    // The unrelated walks trail far behind and are not significant.
    for r in &result[2..] {
        assert!(r["metric"]["k"].as_str().unwrap().starts_with("noise"), "{r}");
        assert!(num(&r["coefficient"]).abs() < 0.3, "{r}");
        assert!(num(&r["p_value"]) > 1e-3, "{r}");
    }
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].as_str().unwrap().contains("k=\"flat\""), "{warnings:?}");

    // Spearman, detrended, a limit, a form POST, and the target among the candidates (left out).
    let form = [
        ("target", "latency_ms"),
        ("candidates", "{__name__=~\"m_v|latency_ms\"}"),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("step", "10"),
        ("max_lag", "10"),
        ("method", "spearman"),
        ("limit", "2"),
    ];
    let r = s.post_form("/api/v1/correlate", &form);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(
        (v["data"]["method"].as_str(), v["data"]["candidates"].as_u64()),
        (Some("spearman"), Some(9))
    );
    let result = v["data"]["result"].as_array().unwrap();
    let found: Vec<(&str, i64)> = result
        .iter()
        .map(|r| (r["metric"]["k"].as_str().unwrap(), r["lag"].as_i64().unwrap()))
        .collect();
    assert_eq!(found, [("leader", LEAD), ("follower", -FOLLOW)]);
    s.stop();
}

#[test]
fn bad_parameters_are_clear_400s() {
    let (_dir, s) = incident_server();
    let (start, end) = range();
    let expect_400 = |extra: &[(&str, &str)], needle: &str| {
        let mut params = vec![
            ("target", "latency_ms"),
            ("candidates", "m_v"),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", "10s"),
        ];
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            params.push((k, v));
        }
        let (status, v) = json(&s, &params);
        assert_eq!(status, 400, "{params:?}: {v}");
        assert_eq!((&v["status"], &v["errorType"]), (&"error".into(), &"bad_data".into()));
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(needle), "{params:?}: {msg:?} lacks {needle:?}");
    };
    expect_400(&[("target", "")], "invalid parameter \"target\": missing");
    expect_400(&[("candidates", "")], "invalid parameter \"candidates\": missing");
    expect_400(&[("target", "m_v")], "returned 9 series; it must return exactly one");
    expect_400(&[("target", "nothing_here")], "returned 0 series");
    expect_400(&[("target", "m_v{k=\"flat\"}")], "the target is constant");
    expect_400(
        &[("method", "kendall")],
        "unknown method \"kendall\"; use pearson or spearman",
    );
    expect_400(&[("transform", "log")], "\"transform\"");
    expect_400(&[("max_lag", "1.5")], "\"max_lag\"");
    expect_400(
        &[("max_lag", "395")],
        "invalid parameter \"max_lag\": 395 steps leaves fewer than",
    );
    expect_400(&[("limit", "all")], "\"limit\"");
    expect_400(&[("step", "0")], "zero or negative");
    expect_400(&[("candidates", "m_v{k=\"flat\"}")], "no candidate could be correlated");
    expect_400(&[("candidates", "rate(m_v[1m]")], "parse error");
    s.stop();
    crate::forecast::series_limit_is_a_400(
        "max-correlate-series",
        "/api/v1/correlate",
        &[("target", "m_v{k=\"0\"}"), ("candidates", "m_v")],
    );
}
