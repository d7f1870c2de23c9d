//! The Prometheus query API, checked byte for byte against the JSON Prometheus writes.

use crate::harness::Transcript;
use crate::with_fixture;

const VECTOR_AT_10: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"cpu_usage_user","dc":"eu","host":"a"},"value":[1700000010,"2.5"]},{"metric":{"__name__":"cpu_usage_user","dc":"us","host":"b"},"value":[1700000010,"3"]}]}}"#;

#[test]
fn instant_queries_byte_for_byte() {
    let (_dir, s) = with_fixture(&[]);

    let r = s.get_params("/api/v1/query", &[("query", "cpu_usage_user"), ("time", "1700000010")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, VECTOR_AT_10);

    // RFC 3339 time; fractional seconds in the answer.
    let r = s.get_params(
        "/api/v1/query",
        &[
            ("query", "cpu_usage_user{host=\"a\"}"),
            ("time", "2023-11-14T22:13:30.5Z"),
        ],
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"cpu_usage_user","dc":"eu","host":"a"},"value":[1700000010.5,"2.5"]}]}}"#
    );

    // Aggregation drops the name; special values are strings.
    let r = s.get_params(
        "/api/v1/query",
        &[("query", "sum by (dc) (cpu_usage_system) / 0"), ("time", "1700000020")],
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"dc":"eu"},"value":[1700000020,"+Inf"]},{"metric":{"dc":"us"},"value":[1700000020,"+Inf"]}]}}"#
    );

    let scalar = |q: &str| {
        s.get_params("/api/v1/query", &[("query", q), ("time", "1700000000")])
            .body
    };
    assert_eq!(
        scalar("1 + 1"),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"2"]}}"#
    );
    assert_eq!(
        scalar("0 / 0"),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}"#
    );
    assert_eq!(
        scalar("-1 / 0"),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"-Inf"]}}"#
    );
    assert_eq!(
        scalar("0.1 * 3"),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.30000000000000004"]}}"#
    );
    assert_eq!(
        scalar("\"hello <world>\""),
        r#"{"status":"success","data":{"resultType":"string","result":[1700000000,"hello \u003cworld\u003e"]}}"#
    );

    // A range vector from an instant query is a matrix of the raw samples.
    let r = s.get_params(
        "/api/v1/query",
        &[("query", "cpu_usage_user{host=\"b\"}[20s]"), ("time", "1700000020")],
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"cpu_usage_user","dc":"us","host":"b"},"values":[[1700000010,"3"],[1700000020,"4"]]}]}}"#
    );

    // Nothing matches: an empty result, not an error.
    let r = s.get_params("/api/v1/query", &[("query", "nope"), ("time", "1700000010")]);
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );

    // Form POST, as promtool and Grafana send it.
    let r = s.post_form("/api/v1/query", &[("query", "cpu_usage_user"), ("time", "1700000010")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, VECTOR_AT_10);
    s.stop();
}

#[test]
fn range_queries_byte_for_byte() {
    let (_dir, s) = with_fixture(&[]);
    let r = s.get_params(
        "/api/v1/query_range",
        &[
            ("query", "cpu_usage_user{host=\"a\"}"),
            ("start", "1700000000"),
            ("end", "1700000020"),
            ("step", "10"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"cpu_usage_user","dc":"eu","host":"a"},"values":[[1700000000,"1.5"],[1700000010,"2.5"],[1700000020,"3.5"]]}]}}"#
    );

    let expected_sum = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"3.5"],[1700000005,"3.5"],[1700000010,"5.5"],[1700000015,"5.5"],[1700000020,"7.5"]]}]}}"#;
    let params = [
        ("query", "sum(cpu_usage_user)"),
        ("start", "2023-11-14T22:13:20Z"),
        ("end", "1700000020"),
        ("step", "5s"),
    ];
    assert_eq!(s.get_params("/api/v1/query_range", &params).body, expected_sum);
    assert_eq!(s.post_form("/api/v1/query_range", &params).body, expected_sum);

    // A scalar over a range.
    let r = s.get_params(
        "/api/v1/query_range",
        &[
            ("query", "2"),
            ("start", "1700000000"),
            ("end", "1700000001"),
            ("step", "0.5"),
        ],
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"2"],[1700000000.5,"2"],[1700000001,"2"]]}]}}"#
    );

    // The columns form (the UI's): one number or null per step from `start`.
    let mut cols = params.to_vec();
    cols.push(("format", "columns"));
    cols[0] = ("query", "cpu_usage_user{host=\"a\"}");
    cols[2] = ("end", "1700000025");
    assert_eq!(
        s.post_form("/api/v1/query_range", &cols).body,
        r#"{"status":"success","data":{"resultType":"matrix","format":"columns","start":1700000000,"step":5,"result":[{"metric":{"__name__":"cpu_usage_user","dc":"eu","host":"a"},"values":[1.5,1.5,2.5,2.5,3.5,3.5]}]}}"#
    );
    cols[4] = ("format", "csv");
    let r = s.post_form("/api/v1/query_range", &cols);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("format") && r.body.contains("columns"), "{}", r.body);
    s.stop();
}

#[test]
fn errors_use_prometheus_envelopes_and_codes() {
    let (_dir, s) = with_fixture(&["--max-samples", "3"]);
    let mut t = Transcript::default();
    let query = |params: &[(&str, &str)]| s.get_params("/api/v1/query", params);
    let range = |q: &str, start: &str, end: &str, step: &str| {
        s.get_params(
            "/api/v1/query_range",
            &[("query", q), ("start", start), ("end", end), ("step", step)],
        )
    };
    t.add("query sum(", &query(&[("query", "sum(")]));
    // 2,000 nested calls overflowed the stack of the thread parsing them and aborted the server.
    let deep = "abs(".repeat(2000) + "up" + &")".repeat(2000);
    t.add("query abs(abs(... 2,000 deep", &query(&[("query", &deep)]));
    t.add(
        "query time=yesterday",
        &query(&[("query", "up"), ("time", "yesterday")]),
    );
    t.add("range step 0", &range("up", "1700000000", "1700000010", "0"));
    t.add("range end before start", &range("up", "1700000010", "1700000000", "10"));
    t.add("range 11,001 points", &range("up", "1700000000", "1700011001", "1"));
    t.add("range step 5x", &range("up", "1700000000", "1700000010", "5x"));
    t.add("range no start", &range("up", "", "1700000010", "5"));
    t.add(
        "range of a range vector",
        &range("up[5m]", "1700000000", "1700000010", "5"),
    );
    t.add(
        "range over --max-samples 3",
        &range("cpu_usage_user", "1700000000", "1700000020", "10"),
    );
    t.add("series without match[]", &s.get("/api/v1/series"));
    t.add(
        "series matching everything",
        &s.get_params("/api/v1/series", &[("match[]", "{host=~\".*\"}")]),
    );
    t.add("values of label bad-name", &s.get("/api/v1/label/bad-name/values"));
    insta::assert_snapshot!("errors", t.text());
    s.stop();
}

#[test]
fn metadata_endpoints() {
    let (_dir, s) = with_fixture(&[]);
    let mut t = Transcript::default();
    t.add(
        "series cpu_usage_user{host=\"a\"} or cpu_usage_system",
        &s.get_params(
            "/api/v1/series",
            &[
                ("match[]", "cpu_usage_user{host=\"a\"}"),
                ("match[]", "cpu_usage_system"),
            ],
        ),
    );
    t.add(
        "series {dc=\"us\"} (form POST)",
        &s.post_form(
            "/api/v1/series",
            &[
                ("match[]", "{dc=\"us\"}"),
                ("start", "1700000000"),
                ("end", "1700000020"),
            ],
        ),
    );
    t.add(
        "series in a time range without data",
        &s.get_params(
            "/api/v1/series",
            &[("match[]", "cpu_usage_user"), ("start", "1800000000")],
        ),
    );
    t.add("labels", &s.get("/api/v1/labels"));
    t.add("values of __name__", &s.get("/api/v1/label/__name__/values"));
    t.add(
        "values of host in {dc=\"eu\"}",
        &s.get_params("/api/v1/label/host/values", &[("match[]", "{dc=\"eu\"}")]),
    );
    t.add("metadata", &s.get("/api/v1/metadata"));
    insta::assert_snapshot!("metadata", t.text());
    let r = s.get("/api/v1/status/buildinfo");
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with(r#"{"status":"success","data":{"version":""#),
        "{}",
        r.body
    );
    s.stop();
}

/// `/api/v1/status/tsdb` counts the series of the last 3 h before the newest sample, as
/// Prometheus counts its head: old history does not weigh on it.
#[test]
fn tsdb_status_counts_recent_series() {
    let dir = crate::harness::tempdir();
    let s = crate::harness::TestServer::start(dir.path(), &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let week_ago = now - 7 * 86_400;
    s.write(
        "s",
        &format!("old_metric,host=a v=1 {week_ago}\nold_metric,host=b v=1 {week_ago}\nnew_metric,host=a v=2 {now}\n"),
    );
    let (code, v) = s.get_json("/api/v1/status/tsdb", &[]);
    assert_eq!(code, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["headStats"]["numSeries"], 1, "{v}");
    let names: Vec<&str> = d["seriesCountByMetricName"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new_metric_v"], "{v}");
    // The old series are still there for queries.
    let (_, r) = s.get_json("/api/v1/series", &[("match[]", "old_metric_v")]);
    assert_eq!(r["data"].as_array().unwrap().len(), 2, "{r}");
}

/// `quantile_over_time` over hours of flushed data comes from rollup sketches and says so in
/// `infos`; `raw=true` (per query) and `--query-rollups=false` (per server) read raw samples.
#[test]
fn long_range_quantiles_come_from_rollups_with_infos() {
    use crate::harness::{TestServer, num, tempdir};
    // 12 h of 10 s samples from 2023-11-14T00:00:00Z (hour-aligned).
    const T0: i64 = 1_699_920_000;
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let mut body = String::new();
    for i in 0..12 * 360 {
        body.push_str(&format!("lat,svc=api v={} {}\n", 1 + (i * 7919) % 1000, T0 + i * 10));
    }
    s.write("s", &body);
    let r = s.post("/api/v1/admin/flush", b"", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let at = (T0 + 12 * 3600 - 10).to_string();
    let query = |s: &TestServer, extra: &[(&str, &str)]| {
        let mut p = vec![("query", "quantile_over_time(0.99, lat_v[10h])"), ("time", at.as_str())];
        p.extend_from_slice(extra);
        s.get_json("/api/v1/query", &p)
    };
    let (code, sketched) = query(&s, &[]);
    assert_eq!(code, 200, "{sketched}");
    let infos = sketched["infos"].as_array().expect("infos");
    assert!(infos[0].as_str().unwrap().contains("rollup sketches"), "{sketched}");
    let (code, raw) = query(&s, &[("raw", "true")]);
    assert_eq!(code, 200);
    assert!(raw.get("infos").is_none(), "{raw}");
    let (got, exact) = (
        num(&sketched["data"]["result"][0]["value"][1]),
        num(&raw["data"]["result"][0]["value"][1]),
    );
    assert!((got - exact).abs() <= exact * 0.0055, "{got} vs {exact}");
    // Exact functions carry no infos; range queries take `raw` too.
    let (_, count) = s.get_json(
        "/api/v1/query",
        &[("query", "count_over_time(lat_v[10h])"), ("time", at.as_str())],
    );
    assert!(count.get("infos").is_none());
    assert_eq!(num(&count["data"]["result"][0]["value"][1]), 3600.0);
    let range = [
        ("query", "quantile_over_time(0.5, lat_v[6h])"),
        ("start", "1699950000"),
        ("end", "1699960800"),
        ("step", "3600"),
    ];
    let (_, r) = s.get_json("/api/v1/query_range", &range);
    assert!(r["infos"].is_array(), "{r}");
    let mut raw_range = range.to_vec();
    raw_range.push(("raw", "1"));
    let (_, r) = s.get_json("/api/v1/query_range", &raw_range);
    assert!(r.get("infos").is_none(), "{r}");
    let (code, bad) = query(&s, &[("raw", "maybe")]);
    assert_eq!(code, 400);
    assert!(bad["error"].as_str().unwrap().contains("raw"), "{bad}");
    s.stop();
    let s = TestServer::start(dir.path(), &["--query-rollups=false"]);
    let (_, r) = query(&s, &[]);
    assert!(r.get("infos").is_none(), "{r}");
    assert_eq!(num(&r["data"]["result"][0]["value"][1]), exact);
    s.stop();
}
