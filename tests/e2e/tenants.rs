//! Tenants end to end: the canary. Tenant `acme` writes series whose label values and metric
//! names are unique strings, through line protocol and remote write (with metadata); then every
//! read endpoint is tried with tenant `beta`'s token (and the default tenant's), including regex
//! selectors, label listings, `count by (__tenant__)`, `__tenant__` matchers and an
//! `X-Scope-OrgID` header, and no byte of any answer may hold a canary. `acme` sees its series,
//! never the `__tenant__` label; an admin sees them only when it names `acme` in `X-Scope-OrgID`.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foresight_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use foresight_remote::snappy;
use prost::Message;

use crate::auth::tokens;
use crate::harness::{Resp, TestServer, tempdir};
use crate::remote::text_labels;

/// A metric name and label values nobody but `acme` writes.
const CANARY: &str = "zcanary7f3e";
const CANARY_LP: &str = "zcanary7f3e_lp";
const CANARY_RW: &str = "zcanary7f3e_rw";
const CANARY_VALUE: &str = "zcanary7f3e_secret";

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub(crate) fn remote_write(
    s: &TestServer,
    auth: &str,
    labels: &[(&str, &str)],
    t: i64,
    metadata: Option<&str>,
) -> Resp {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).to_owned().into(),
                    value: (*v).to_owned().into(),
                })
                .collect(),
            samples: vec![Sample {
                value: 1.0,
                timestamp: t,
            }],
            ..Default::default()
        }],
        metadata: metadata
            .map(|family| proto::MetricMetadata {
                r#type: proto::MetricType::Gauge as i32,
                metric_family_name: family.to_owned(),
                help: format!("help of {CANARY}"),
                unit: String::new(),
            })
            .into_iter()
            .collect(),
    };
    s.post(
        "/api/v1/write",
        &snappy::compress(&req.encode_to_vec()),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ("Authorization", auth),
        ],
    )
}

/// A remote read of every series (`__name__=~".+"`) over the last hour: the labels answered.
fn remote_read_all(s: &TestServer, auth: &str, extra: &[(&str, &str)]) -> (u16, Vec<String>) {
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: now_ms() - 3_600_000,
            end_timestamp_ms: now_ms() + 60_000,
            matchers: vec![proto::LabelMatcher {
                r#type: proto::MatchType::Re as i32,
                name: "__name__".into(),
                value: ".+".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![0], // samples
    };
    let mut headers = vec![
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("Authorization", auth),
    ];
    headers.extend_from_slice(extra);
    let (r, bytes) = s.post_bytes("/api/v1/read", &snappy::compress(&req.encode_to_vec()), &headers);
    if r.status != 200 {
        return (r.status, vec![r.body]);
    }
    let resp = proto::ReadResponse::decode(snappy::decompress(&bytes, 64 << 20).unwrap().as_slice()).unwrap();
    let labels = resp
        .results
        .iter()
        .flat_map(|q| &q.timeseries)
        .map(|ts| text_labels(&ts.labels))
        .collect();
    (200, labels)
}

/// The first event of `/api/v1/stream?query=..` (raw HTTP: the stream does not end by itself).
fn first_stream_event(s: &TestServer, auth: &str, query: &str) -> String {
    let mut conn = s.connect();
    let q: String = query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    write!(
        conn,
        "GET /api/v1/stream?query={q}&interval=1 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: {auth}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut seen = String::new();
    // Headers, then lines until the first event's data (bounded by the read timeout).
    for _ in 0..200 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("data:") {
            break;
        }
    }
    seen
}

/// Every read request tried for each token: (what, status, body).
fn read_everything(s: &TestServer, auth: &str, extra: &[(&str, &str)]) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    let mut headers = vec![("Authorization", auth)];
    headers.extend_from_slice(extra);
    let (start, end) = ((now_ms() - 600_000) / 1000, now_ms() / 1000 + 60);
    let (start, end) = (start.to_string(), end.to_string());
    let now = (now_ms() / 1000 + 1).to_string();
    let queries = [
        r#"{__name__=~".+"}"#.to_owned(),
        r#"{__name__=~".*canary.*"}"#.to_owned(),
        format!("{CANARY_LP}_v"),
        format!(r#"{{secret="{CANARY_VALUE}"}}"#),
        r#"count by (__tenant__) ({__name__=~".+"})"#.to_owned(),
        r#"count by (__name__, secret, __tenant__) ({__name__=~".+"})"#.to_owned(),
        r#"{__tenant__="acme"}"#.to_owned(),
        r#"{__tenant__=~".+"}"#.to_owned(),
        r#"{__name__=~".+", __tenant__!=""}"#.to_owned(),
        r#"group by (secret) ({__name__=~".+"})"#.to_owned(),
        r#"label_replace({__name__=~".+"}, "t", "$1", "__tenant__", "(.*)")"#.to_owned(),
        format!("absent({CANARY_RW})"),
    ];
    for q in &queries {
        let r = s.get_full("/api/v1/query", &[("query", q), ("time", &now)], &headers);
        out.push((format!("query {q}"), r.status, r.body));
        let r = s.get_full(
            "/api/v1/query_range",
            &[("query", q), ("start", &start), ("end", &end), ("step", "15")],
            &headers,
        );
        out.push((format!("query_range {q}"), r.status, r.body));
    }
    for m in [
        r#"{__name__=~".+"}"#,
        r#"{__tenant__="acme"}"#,
        r#"{__tenant__=~".+"}"#,
        r#"{secret=~".+"}"#,
    ] {
        let r = s.get_full("/api/v1/series", &[("match[]", m)], &headers);
        out.push((format!("series {m}"), r.status, r.body));
        let r = s.get_full("/api/v1/labels", &[("match[]", m)], &headers);
        out.push((format!("labels {m}"), r.status, r.body));
    }
    for path in [
        "/api/v1/labels",
        "/api/v1/label/__name__/values",
        "/api/v1/label/secret/values",
        "/api/v1/label/__tenant__/values",
        "/api/v1/metadata",
        "/api/v1/status/tsdb",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v1/query_exemplars",
        "/api/v1/status/flags",
    ] {
        let r = s.get_full(path, &[], &headers);
        out.push((path.to_owned(), r.status, r.body));
    }
    let r = s.get_full("/api/v1/metadata", &[("metric", CANARY_RW)], &headers);
    out.push(("metadata ?metric".into(), r.status, r.body));
    for path in ["/api/v1/forecast", "/api/v1/anomalies"] {
        let r = s.get_full(
            path,
            &[
                ("query", r#"{__name__=~".+"}"#),
                ("start", &start),
                ("end", &end),
                ("step", "15"),
            ],
            &headers,
        );
        out.push((path.to_owned(), r.status, r.body));
    }
    let r = s.get_full(
        "/api/v1/correlate",
        &[
            ("target", "vector(1)"),
            ("candidates", r#"{__name__=~".+"}"#),
            ("start", &start),
            ("end", &end),
            ("step", "15"),
        ],
        &headers,
    );
    out.push(("correlate".into(), r.status, r.body));
    let r = s.get_full(
        "/api/v1/report",
        &[
            ("query", r#"{__name__=~".+"}"#),
            ("start", &start),
            ("end", &end),
            ("by", "__name__"),
        ],
        &headers,
    );
    out.push(("report".into(), r.status, r.body));
    let (status, labels) = remote_read_all(s, auth, extra);
    out.push(("remote read".into(), status, labels.join("\n")));
    if extra.is_empty() {
        out.push(("stream".into(), 200, first_stream_event(s, auth, r#"{__name__=~".+"}"#)));
    }
    out
}

#[test]
fn a_tenant_never_sees_another_tenants_canary() {
    let dir = tempdir();
    let d = dir.path();
    let admin = tokens(d, &["create", "--role", "admin"]);
    let acme_w = tokens(d, &["create", "--tenant", "acme", "--role", "write"]);
    let acme_r = tokens(d, &["create", "--tenant", "acme", "--role", "read"]);
    let beta_w = tokens(d, &["create", "--tenant", "beta", "--role", "write"]);
    let beta_r = tokens(d, &["create", "--tenant", "beta", "--role", "read"]);
    let default_r = tokens(d, &["create", "--role", "read"]);
    let s = TestServer::start(d, &["--stream-min-interval", "1s"]);
    let t = now_ms();

    // acme writes its canaries: line protocol (v1 and v2) and remote write with metadata.
    let lp = format!("{CANARY_LP},secret={CANARY_VALUE} v=1 {t}\n");
    let r = s.post(
        "/write?precision=ms",
        lp.as_bytes(),
        &[("Authorization", &bearer(&acme_w))],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.post(
        "/api/v2/write?precision=ms&org=x&bucket=y",
        format!("{CANARY_LP}2,secret={CANARY_VALUE} v=1 {t}\n").as_bytes(),
        &[("Authorization", &format!("Token {acme_w}"))],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = remote_write(
        &s,
        &bearer(&acme_w),
        &[("__name__", CANARY_RW), ("secret", CANARY_VALUE)],
        t,
        Some(CANARY_RW),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    // beta and the default tenant write their own series.
    let r = s.post(
        "/write?precision=ms",
        format!("beta_metric,host=b v=2 {t}\n").as_bytes(),
        &[("Authorization", &bearer(&beta_w))],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.post(
        "/write?precision=ms",
        format!("default_metric,host=d v=3 {t}\n").as_bytes(),
        &[("Authorization", &bearer(&admin))],
    );
    assert_eq!(r.status, 204, "{}", r.body);

    // Nobody may set the tenant label themselves: line protocol and remote write.
    for token in [&beta_w, &acme_w, &admin] {
        let r = s.post(
            "/write?precision=ms",
            format!("m,__tenant__=acme v=1 {t}\n").as_bytes(),
            &[("Authorization", &bearer(token))],
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("__tenant__ is reserved"), "{}", r.body);
        let r = remote_write(
            &s,
            &bearer(token),
            &[("__name__", "m"), ("__tenant__", "acme")],
            t,
            None,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("__tenant__ is reserved"), "{}", r.body);
    }
    // A token may not name another tenant in X-Scope-OrgID.
    let r = s.get_full(
        "/api/v1/query",
        &[("query", "up")],
        &[("Authorization", &bearer(&beta_r)), ("X-Scope-OrgID", "acme")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("only an admin token"), "{}", r.body);
    // Server metrics name every tenant: the operator's only.
    let r = s.get_with_headers("/metrics", &[("Authorization", &bearer(&beta_r))]);
    assert_eq!(r.status, 403, "{}", r.body);

    // beta, the default tenant and the admin (acting as itself or as beta) never see a canary.
    let others = [
        ("beta", &beta_r, Vec::<(&str, &str)>::new()),
        ("default", &default_r, vec![]),
        ("admin", &admin, vec![]),
        ("admin as beta", &admin, vec![("X-Scope-OrgID", "beta")]),
    ];
    for (who, token, extra) in &others {
        let answers = read_everything(&s, &bearer(token), extra);
        assert!(answers.len() > 40, "{}", answers.len());
        for (what, status, body) in &answers {
            assert!(
                !body.contains(CANARY) && !body.contains("acme"),
                "{who}: {what} ({status}) shows acme's data: {body}"
            );
            assert!(
                !body.contains("\"__tenant__\""),
                "{who}: {what} shows the tenant label: {body}"
            );
            assert!(*status < 500, "{who}: {what}: {status} {body}");
        }
        // Their own data is there (the narrowing is not "nothing at all").
        let own = answers
            .iter()
            .find(|(w, _, _)| w == "/api/v1/label/__name__/values")
            .unwrap();
        let expected = match *who {
            "beta" | "admin as beta" => "beta_metric_v",
            _ => "default_metric_v",
        };
        assert!(own.2.contains(expected), "{who}: {}", own.2);
    }
    let r = s.get_with_headers("/metrics", &[("Authorization", &bearer(&default_r))]);
    assert_eq!(r.status, 200);

    // acme sees its canaries everywhere, and never the tenant label; so does an admin acting
    // as acme.
    for (who, token, extra) in [
        ("acme", &acme_r, vec![]),
        ("admin as acme", &admin, vec![("X-Scope-OrgID", "acme")]),
    ] {
        let answers = read_everything(&s, &bearer(token), &extra);
        let body_of = |what: &str| {
            &answers
                .iter()
                .find(|(w, _, _)| w == what)
                .unwrap_or_else(|| panic!("no {what}"))
                .2
        };
        for what in [
            r#"query {__name__=~".+"}"#,
            r#"series {__name__=~".+"}"#,
            "/api/v1/label/__name__/values",
            "/api/v1/label/secret/values",
            "metadata ?metric",
            "/api/v1/status/tsdb",
            "remote read",
            "report",
        ] {
            assert!(body_of(what).contains(CANARY), "{who}: {what}: {}", body_of(what));
        }
        if extra.is_empty() {
            assert!(body_of("stream").contains(CANARY), "{who}: {}", body_of("stream"));
        }
        assert!(body_of("/api/v1/label/__name__/values").contains(&format!("{CANARY_LP}2_v")));
        assert!(!body_of("/api/v1/label/__name__/values").contains("beta_metric"));
        // count by (__tenant__): one group, without the label.
        let count = body_of(r#"query count by (__tenant__) ({__name__=~".+"})"#);
        assert!(
            count.contains(r#""metric":{}"#) && count.contains(r#","3"]"#),
            "{count}"
        );
        assert_eq!(body_of(r#"query {__tenant__="acme"}"#).matches(CANARY).count(), 0);
        for (what, status, body) in &answers {
            assert!(
                !body.contains("__tenant__\":"),
                "{who}: {what} shows the tenant label: {body}"
            );
            assert!(!body.contains("beta_metric"), "{who}: {what}: {body}");
            assert!(*status < 500, "{who}: {what}: {status} {body}");
        }
    }
    // A remote-read response is compressed: also read the raw bytes for the canary's absence.
    let mut conn = s.connect();
    write!(conn, "GET /api/v1/label/secret/values HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {beta_r}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = conn.read_to_string(&mut raw);
    assert!(raw.contains("200 OK") && !raw.contains(CANARY), "{raw}");
    s.stop();
}

#[test]
fn tenant_limits_refuse_with_clear_reasons_and_spare_the_others() {
    let dir = tempdir();
    let d = dir.path();
    let admin = tokens(d, &["create", "--role", "admin"]);
    let acme = tokens(d, &["create", "--tenant", "acme", "--role", "write"]);
    let beta = tokens(d, &["create", "--tenant", "beta", "--role", "write"]);
    tokens(
        d,
        &[
            "limits",
            "--tenant",
            "acme",
            "--max-series",
            "3",
            "--max-samples-per-second",
            "1000",
        ],
    );
    assert!(tokens(d, &["limits"]).contains("acme"));
    let s = TestServer::start(d, &[]);
    let t = now_ms();
    let five: String = (0..5).map(|i| format!("m,h=h{i} v=1 {t}\n")).collect();
    let write = |token: &str, body: &str| {
        s.post(
            "/write?precision=ms",
            body.as_bytes(),
            &[("Authorization", &bearer(token))],
        )
    };
    // Series: the first three are stored, the two new ones refused on their lines (400).
    let r = write(&acme, &five);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("at its limit of 3 active series"), "{}", r.body);
    assert!(
        r.body.contains("\"line\":4") && r.body.contains("\"line\":5"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("\"line\":3"), "{}", r.body);
    assert_eq!(write(&acme, &format!("m,h=h0 v=2 {}\n", t + 1)).status, 204);
    // Remote write: the same limit.
    let r = remote_write(&s, &bearer(&acme), &[("__name__", "new_series")], t, None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("active series"), "{}", r.body);
    // Another tenant is not limited.
    assert_eq!(write(&beta, &five).status, 204);

    // Samples/s: a write over the bucket is let in and charged; the next one gets 429.
    let big: String = (0..1500).map(|i| format!("m,h=h1 v={i} {}\n", t + 10 + i)).collect();
    assert_eq!(write(&acme, &big).status, 204);
    let r = write(&acme, &format!("m,h=h1 v=1 {}\n", t + 5000));
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("limit of 1000 samples/s"), "{}", r.body);
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u32>().unwrap() >= 1));
    assert_eq!(write(&beta, &big).status, 204, "beta is not slowed");

    // Counted per tenant and limit.
    let m = s
        .get_with_headers("/metrics", &[("Authorization", &bearer(&admin))])
        .body;
    for want in [
        r#"foresight_tenant_limit_refusals_total{tenant="acme",limit="max_series"}"#,
        r#"foresight_tenant_limit_refusals_total{tenant="acme",limit="max_samples_per_second"} 1"#,
        r#"foresight_tenant_active_series{tenant="acme"} 3"#,
        r#"foresight_tenant_samples_written_total{tenant="beta"} 1505"#,
    ] {
        assert!(m.contains(want), "no {want} in /metrics");
    }
    assert!(!m.contains(r#"refusals_total{tenant="acme",limit="max_series"} 0"#));

    // Limits change live: lifted, the series go in.
    tokens(
        d,
        &[
            "limits",
            "--tenant",
            "acme",
            "--max-series",
            "0",
            "--max-samples-per-second",
            "0",
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = write(&acme, &five);
        if r.status == 204 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {}: {}", r.status, r.body);
        std::thread::sleep(Duration::from_millis(200));
    }
    s.stop();
}
