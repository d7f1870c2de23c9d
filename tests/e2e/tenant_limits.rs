//! A tenant's query and label limits end to end, and queries of two tenants running at once:
//! each gets its own answers, a tenant at its concurrency or query-time limit gets 429 with
//! `Retry-After`, and the other tenant is never refused.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::auth::tokens;
use crate::harness::{Resp, TestServer, num, tempdir};
use crate::tenants::{bearer, now_ms, remote_write};

fn query(s: &TestServer, token: &str, path: &str, params: &[(&str, &str)]) -> Resp {
    s.get_full(path, params, &[("Authorization", &bearer(token))])
}

/// The value of a one-sample instant vector answer.
fn scalar_of(r: &Resp) -> f64 {
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    num(&v["data"]["result"][0]["value"][1])
}

/// Sets limits of `tenant` and waits until the running server applies them (it rereads the
/// token file within a second): `probe` says whether they are in force.
fn set_limits(dir: &std::path::Path, tenant: &str, flags: &[&str], probe: impl Fn() -> bool) {
    let mut args = vec!["limits", "--tenant", tenant];
    args.extend_from_slice(flags);
    tokens(dir, &args);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe() {
        assert!(Instant::now() < deadline, "limits {flags:?} of {tenant} not applied");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tenant_query_and_label_limits() {
    let dir = tempdir();
    let d = dir.path();
    let admin = tokens(d, &["create", "--role", "admin"]);
    let acme_w = tokens(d, &["create", "--tenant", "acme", "--role", "write"]);
    let acme_r = tokens(d, &["create", "--tenant", "acme", "--role", "read"]);
    let beta_w = tokens(d, &["create", "--tenant", "beta", "--role", "write"]);
    let beta_r = tokens(d, &["create", "--tenant", "beta", "--role", "read"]);
    tokens(
        d,
        &[
            "limits",
            "--tenant",
            "acme",
            "--max-query-range",
            "1h",
            "--max-query-samples",
            "100",
            "--max-labels-per-series",
            "3",
            "--max-label-value-length",
            "16",
        ],
    );
    let listed = tokens(d, &["limits"]);
    assert!(
        listed.contains("max-query-range=1h") && listed.contains("max-labels-per-series=3"),
        "{listed}"
    );
    let s = TestServer::start(d, &[]);
    let t = now_ms() - 3_000_000;
    // 300 samples of one series over 50 minutes, 10 s apart, for both tenants.
    let body: String = (0..300).map(|i| format!("m,h=a v={i} {}\n", t + i * 10_000)).collect();
    for w in [&acme_w, &beta_w] {
        let r = s.post("/write?precision=ms", body.as_bytes(), &[("Authorization", &bearer(w))]);
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let end = format!("{:.3}", (t + 299 * 10_000) as f64 / 1000.0);

    // Labels: the series over a limit is refused on its line, the good line lands (both tenants
    // see their own data only; beta has no label limit).
    let lines = format!("m,h=ok v=1 {t}\nm,a=1,b=2,c=3 v=1 {t}\nm,h=this-value-is-too-long v=1 {t}\n");
    let r = s.post(
        "/write?precision=ms",
        lines.as_bytes(),
        &[("Authorization", &bearer(&acme_w))],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("\"line\":2") && r.body.contains("4 labels"),
        "{}",
        r.body
    );
    assert!(r.body.contains("max_labels_per_series"), "{}", r.body);
    assert!(
        r.body.contains("\"line\":3") && r.body.contains("label h has a value of 22 bytes"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("\"line\":1"), "{}", r.body);
    let r = s.post(
        "/write?precision=ms",
        lines.as_bytes(),
        &[("Authorization", &bearer(&beta_w))],
    );
    assert_eq!(r.status, 204, "beta has no label limits: {}", r.body);
    let at_t = format!("{:.3}", t as f64 / 1000.0);
    let count = |token: &str| {
        scalar_of(&query(
            &s,
            token,
            "/api/v1/query",
            &[("query", "count(m_v)"), ("time", &at_t)],
        ))
    };
    assert_eq!(count(&acme_r), 2.0, "acme: h=a and h=ok");
    assert_eq!(count(&beta_r), 4.0);
    // Remote write: the same limits.
    let r = remote_write(
        &s,
        &bearer(&acme_w),
        &[("__name__", "rw"), ("a", "1"), ("b", "2"), ("c", "3")],
        t,
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("max_labels_per_series"), "{}", r.body);

    // Range: reads of more than an hour are refused (422, naming the limit), shorter ones pass.
    let r = query(
        &s,
        &acme_r,
        "/api/v1/query",
        &[("query", "sum_over_time(m_v{h=\"a\"}[2h])"), ("time", &end)],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("reads 2h of data, more than the limit of 1h") && r.body.contains("--max-query-range"),
        "{}",
        r.body
    );
    assert_eq!(
        scalar_of(&query(
            &s,
            &beta_r,
            "/api/v1/query",
            &[("query", "count_over_time(m_v{h=\"a\"}[2h])"), ("time", &end)],
        )),
        300.0
    );
    let start = format!("{:.3}", (t + 299 * 10_000 - 3 * 3_600_000) as f64 / 1000.0);
    let range = [
        ("query", "max(m_v)"),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("step", "60"),
    ];
    let r = query(&s, &acme_r, "/api/v1/query_range", &range);
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(query(&s, &beta_r, "/api/v1/query_range", &range).status, 200);
    // Forecasts read history through the same limit.
    let r = query(
        &s,
        &acme_r,
        "/api/v1/forecast",
        &[
            ("query", "m_v{h=\"a\"}"),
            ("start", &start),
            ("end", &end),
            ("step", "60"),
            ("horizon", "10m"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("max_query_range"), "{}", r.body);

    // Samples: 300 samples in 50 minutes are over acme's 100 (within its range limit).
    let r = query(
        &s,
        &acme_r,
        "/api/v1/query",
        &[("query", "count_over_time(m_v{h=\"a\"}[50m])"), ("time", &end)],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("too many samples") && r.body.contains("--max-query-samples"),
        "{}",
        r.body
    );
    let small = [("query", "count_over_time(m_v{h=\"a\"}[5m])"), ("time", end.as_str())];
    assert_eq!(scalar_of(&query(&s, &acme_r, "/api/v1/query", &small)), 30.0);

    // Query time: at 1 ms of evaluation per second, one query uses it all; the next gets 429
    // with Retry-After, beta is not affected.
    set_limits(d, "acme", &["--max-query-seconds-per-second", "0.001"], || {
        (0..3).any(|_| query(&s, &acme_r, "/api/v1/query", &small).status == 429)
    });
    let r = query(&s, &acme_r, "/api/v1/query", &small);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("max_query_seconds_per_second"), "{}", r.body);
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u32>().unwrap() >= 1));
    assert_eq!(query(&s, &beta_r, "/api/v1/query", &small).status, 200);
    let m = s
        .get_with_headers("/metrics", &[("Authorization", &bearer(&admin))])
        .body;
    assert!(m.contains(r#"limit="max_query_seconds_per_second"}"#), "{m}");
    assert!(
        m.contains(r#"foresight_tenant_query_seconds_total{tenant="beta"}"#),
        "{m}"
    );
    s.stop();
}

/// Two tenants with the same series names query at once from several threads: every answer is
/// the asking tenant's own; the tenant limited to one query at a time gets 429s (with
/// `Retry-After`) and right answers, never another's; the other tenant is never refused.
#[test]
fn concurrent_queries_of_two_tenants() {
    let dir = tempdir();
    let d = dir.path();
    let admin = tokens(d, &["create", "--role", "admin"]);
    let mut toks = Vec::new();
    for tenant in ["acme", "beta"] {
        let w = tokens(d, &["create", "--tenant", tenant, "--role", "write"]);
        let r = tokens(d, &["create", "--tenant", tenant, "--role", "read"]);
        toks.push((w, r));
    }
    tokens(d, &["limits", "--tenant", "acme", "--max-concurrent-queries", "1"]);
    let s = TestServer::start(d, &["--max-concurrent-queries", "4"]);
    let t = now_ms() - 3_600_000;
    // acme's values are 1 everywhere, beta's 2; 200 series x 360 samples each.
    for (i, (w, _)) in toks.iter().enumerate() {
        let body: String = (0..360)
            .flat_map(|k| (0..200).map(move |h| format!("load,h=h{h} v={} {}\n", i + 1, t + k * 10_000)))
            .collect();
        let r = s.post("/write?precision=ms", body.as_bytes(), &[("Authorization", &bearer(w))]);
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let at = format!("{:.3}", (t + 359 * 10_000) as f64 / 1000.0);
    let from = format!("{:.3}", t as f64 / 1000.0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for thread in 0..6 {
            let (tenant, want) = if thread % 2 == 0 { (0, 1.0) } else { (1, 2.0) };
            let token = &toks[tenant].1;
            let (s, results, at, from) = (&s, &results, &at, &from);
            scope.spawn(move || {
                let mut seen = (0u32, 0u32);
                for k in 0..25 {
                    let r = if k % 2 == 0 {
                        query(
                            s,
                            token,
                            "/api/v1/query",
                            &[("query", "avg(avg_over_time(load_v[1h]))"), ("time", at)],
                        )
                    } else {
                        query(
                            s,
                            token,
                            "/api/v1/query_range",
                            &[("query", "avg(load_v)"), ("start", from), ("end", at), ("step", "30")],
                        )
                    };
                    match r.status {
                        200 => {
                            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                            let result = &v["data"]["result"][0];
                            assert!(result.is_object(), "{}", r.body);
                            let values: Vec<f64> = if k % 2 == 0 {
                                vec![num(&result["value"][1])]
                            } else {
                                result["values"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|p| num(&p[1]))
                                    .collect()
                            };
                            assert!(!values.is_empty() && values.iter().all(|x| *x == want), "{}", r.body);
                            seen.0 += 1;
                        }
                        429 => {
                            assert_eq!(tenant, 0, "beta has no limit: {}", r.body);
                            assert!(r.body.contains("max_concurrent_queries"), "{}", r.body);
                            assert_eq!(r.header("retry-after"), Some("1"));
                            seen.1 += 1;
                        }
                        other => panic!("{other}: {}", r.body),
                    }
                }
                results.lock().unwrap().push((tenant, seen));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let total = |tenant: usize| {
        results
            .iter()
            .filter(|r| r.0 == tenant)
            .fold((0, 0), |a, r| (a.0 + r.1.0, a.1 + r.1.1))
    };
    let (acme_ok, _acme_refused) = total(0);
    let (beta_ok, beta_refused) = total(1);
    assert_eq!((beta_ok, beta_refused), (75, 0));
    assert!(acme_ok > 0, "acme answered sometimes: {results:?}");
    // Nothing is left running.
    let m = s
        .get_with_headers("/metrics", &[("Authorization", &bearer(&admin))])
        .body;
    for tenant in ["acme", "beta"] {
        let want = format!("foresight_tenant_queries_running{{tenant=\"{tenant}\"}} 0");
        assert!(m.contains(&want), "{want} not in /metrics");
    }
    s.stop();
}
