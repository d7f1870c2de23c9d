//! Prometheus remote write and remote read: the answers to good and bad bodies, driven by hand,
//! and a real Prometheus (Debian's 2.42) that scrapes foresight's `/metrics`, remote-writes what
//! it scrapes into foresight and reads foresight's data back through remote read. The Prometheus
//! test is skipped with a notice when the binary is missing (CI installs it and sets
//! `FORESIGHT_REQUIRE_TOOLS`).

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use foresight_remote::proto::{self, Histogram, Label, Sample, TimeSeries, WriteRequest};
use foresight_remote::{decode_xor, read_frames, snappy};
use prost::Message;

use crate::harness::{Resp, TestServer, tempdir, tool_missing};
use crate::with_fixture;

const V1: &str = "application/x-protobuf";
const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.to_owned().into(),
        value: v.to_owned().into(),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(t, v)| Sample { value: v, timestamp: t })
            .collect(),
        ..Default::default()
    }
}

fn body(ts: Vec<TimeSeries>) -> Vec<u8> {
    snappy::compress(
        &WriteRequest {
            timeseries: ts,
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

fn post(s: &TestServer, body: &[u8], content_type: &str) -> Resp {
    s.post(
        "/api/v1/write",
        body,
        &[
            ("Content-Type", content_type),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
    )
}

fn written(r: &Resp) -> (u64, u64, u64) {
    let h = |n: &str| -> u64 {
        r.header(&format!("x-prometheus-remote-write-{n}-written"))
            .unwrap_or_else(|| panic!("no {n}-written header: {r:?}"))
            .parse()
            .unwrap()
    };
    (h("samples"), h("histograms"), h("exemplars"))
}

/// The instant query's result as (labels as text, value) pairs.
fn query(s: &TestServer, q: &str, t_ms: i64) -> Vec<(String, f64)> {
    let time = format!("{}.{:03}", t_ms / 1000, t_ms % 1000);
    let (status, v) = s.get_json("/api/v1/query", &[("query", q), ("time", &time)]);
    assert_eq!(status, 200, "{v}");
    let mut out: Vec<(String, f64)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].to_string(), crate::harness::num(&r["value"][1])))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A bad body: what it is, the body, its headers, the status it must get.
type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, u16);

#[test]
fn remote_write_stores_sorts_and_answers_like_prometheus() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let t = now_ms() - 60_000;

    // Unsorted labels, a stale marker, two series: 204 with the counts.
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let r = post(
        &s,
        &body(vec![
            series(
                &[("job", "api"), ("__name__", "rw_up")],
                &[(t, 1.0), (t + 10_000, stale)],
            ),
            series(&[("__name__", "rw_up"), ("job", "db")], &[(t, 2.0), (t + 10_000, 3.0)]),
        ]),
        V1,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(written(&r), (4, 0, 0));
    assert_eq!(
        query(&s, "rw_up", t + 5_000),
        vec![
            (r#"{"__name__":"rw_up","job":"api"}"#.into(), 1.0),
            (r#"{"__name__":"rw_up","job":"db"}"#.into(), 2.0)
        ]
    );
    // The stale marker ends the api series at t + 10 s.
    assert_eq!(
        query(&s, "rw_up", t + 11_000),
        vec![(r#"{"__name__":"rw_up","job":"db"}"#.into(), 3.0)]
    );

    // Remote write 2.0, with metadata.
    let symbols: Vec<prost::bytes::Bytes> = [
        "",
        "__name__",
        "rw2_temp",
        "room",
        "kitchen",
        "Room temperature.",
        "celsius",
    ]
    .iter()
    .map(|s| s.to_string().into())
    .collect();
    let v2 = proto::RequestV2 {
        symbols,
        timeseries: vec![proto::TimeSeriesV2 {
            labels_refs: vec![3, 4, 1, 2],
            samples: vec![proto::SampleV2 {
                value: 21.5,
                timestamp: t,
                start_timestamp: 0,
            }],
            metadata: Some(proto::MetadataV2 {
                r#type: proto::MetricType::Gauge as i32,
                help_ref: 5,
                unit_ref: 6,
            }),
            ..Default::default()
        }],
    };
    let r = post(&s, &snappy::compress(&v2.encode_to_vec()), V2);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(written(&r), (1, 0, 0));
    assert_eq!(
        query(&s, "rw2_temp", t),
        vec![(r#"{"__name__":"rw2_temp","room":"kitchen"}"#.into(), 21.5)]
    );
    let (status, md) = s.get_json("/api/v1/metadata", &[("metric", "rw2_temp")]);
    assert_eq!(status, 200);
    assert_eq!(
        md["data"]["rw2_temp"][0],
        serde_json::json!({"type": "gauge", "help": "Room temperature.", "unit": "celsius"})
    );

    // A request with one bad series among good ones: the good ones are stored, 400 names the bad.
    let mut hist = series(&[("__name__", "rw_hist")], &[]);
    hist.histograms = vec![Histogram::default()];
    let r = post(
        &s,
        &body(vec![
            series(&[("__name__", "rw_ok")], &[(t, 5.0)]),
            series(&[("job", "nameless")], &[(t, 1.0)]),
            series(&[("__name__", "rw_dup"), ("a", "1"), ("a", "2")], &[(t, 1.0)]),
            hist,
            series(&[("__name__", "rw_future")], &[(now_ms() + 7_200_000, 1.0)]),
        ]),
        V1,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(written(&r), (1, 0, 0));
    for part in [
        "4 of 5 series refused",
        "series 1 {job=\"nameless\"}: the series has no metric name",
        "series 2",
        "label \"a\" appears more than once",
        "1 native histogram sample(s) refused",
        "series 4: sample at",
        "ahead of the server clock",
    ] {
        assert!(r.body.contains(part), "{part:?} not in {}", r.body);
    }
    assert_eq!(query(&s, "rw_ok", t), vec![(r#"{"__name__":"rw_ok"}"#.into(), 5.0)]);

    // Bodies that can never be accepted, each with its code; the server stays healthy.
    let good = body(vec![series(&[("__name__", "rw_after")], &[(t, 7.0)])]);
    let cases: Vec<Case<'_>> = vec![
        (
            "json content type",
            good.clone(),
            vec![("Content-Type", "application/json")],
            415,
        ),
        (
            "unknown proto",
            good.clone(),
            vec![("Content-Type", "application/x-protobuf;proto=foo.Bar")],
            415,
        ),
        (
            "gzip encoding",
            good.clone(),
            vec![("Content-Type", V1), ("Content-Encoding", "gzip")],
            415,
        ),
        (
            "zstd encoding",
            good.clone(),
            vec![("Content-Type", V1), ("Content-Encoding", "zstd")],
            415,
        ),
        (
            "not snappy",
            b"\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
            vec![("Content-Type", V1), ("Content-Encoding", "snappy")],
            400,
        ),
        (
            "snappy of garbage",
            snappy::compress(b"\x0a\xff\xff\xff\x0f"),
            vec![("Content-Type", V1), ("Content-Encoding", "snappy")],
            400,
        ),
        (
            "a 2.0 symbol table not starting empty",
            snappy::compress(
                &proto::RequestV2 {
                    symbols: vec!["x".to_string().into()],
                    timeseries: vec![],
                }
                .encode_to_vec(),
            ),
            vec![("Content-Type", V2), ("Content-Encoding", "snappy")],
            400,
        ),
    ];
    for (what, b, headers, code) in cases {
        let r = s.post("/api/v1/write", &b, &headers);
        assert_eq!(r.status, code, "{what}: {}", r.body);
        assert_eq!(written(&r), (0, 0, 0), "{what}");
    }
    assert_eq!(s.get("/-/healthy").status, 200);
    let r = post(&s, &good, V1);
    assert_eq!(r.status, 204, "{}", r.body);
    s.stop();
}

#[test]
fn remote_write_bodies_over_the_limit_get_413() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--max-body-bytes", "64KiB"]);
    let t = now_ms() - 60_000;
    // Compressed over the limit (random-ish label values do not compress).
    let big: Vec<TimeSeries> = (0..20_000)
        .map(|i| {
            let v = format!("{:x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            series(&[("__name__", "rw_big"), ("id", &v)], &[(t, 1.0)])
        })
        .collect();
    let b = body(big);
    assert!(b.len() > 64 << 10);
    let r = post(&s, &b, V1);
    assert_eq!(r.status, 413, "{}", r.body);
    // Small compressed, over the limit decompressed: a snappy bomb.
    let bomb = snappy::compress(&vec![0u8; 1 << 20]);
    assert!(bomb.len() < 64 << 10);
    let r = post(&s, &bomb, V1);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("max-body-bytes"), "{}", r.body);
    assert_eq!(s.get("/-/healthy").status, 200);
    let r = post(&s, &body(vec![series(&[("__name__", "rw_small")], &[(t, 1.0)])]), V1);
    assert_eq!(r.status, 204, "{}", r.body);
    s.stop();
}

fn read_request(accepted: Vec<i32>) -> Vec<u8> {
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: 1_700_000_000_000,
            end_timestamp_ms: 1_700_000_010_000,
            matchers: vec![
                proto::LabelMatcher {
                    r#type: proto::MatchType::Eq as i32,
                    name: "__name__".into(),
                    value: "cpu_usage_user".into(),
                },
                proto::LabelMatcher {
                    r#type: proto::MatchType::Re as i32,
                    name: "host".into(),
                    value: "a|b".into(),
                },
            ],
            hints: None,
        }],
        accepted_response_types: accepted,
    };
    snappy::compress(&req.encode_to_vec())
}

pub(crate) fn text_labels(labels: &[Label]) -> String {
    labels
        .iter()
        .map(|l| {
            format!(
                "{}={}",
                String::from_utf8_lossy(&l.name),
                String::from_utf8_lossy(&l.value)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn remote_read_answers_samples_and_streamed_chunks() {
    let (_dir, s) = with_fixture(&[]);
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Read-Version", "0.1.0"),
    ];
    let want = vec![
        (
            "__name__=cpu_usage_user,dc=eu,host=a".to_string(),
            vec![(1_700_000_000_000, 1.5), (1_700_000_010_000, 2.5)],
        ),
        (
            "__name__=cpu_usage_user,dc=us,host=b".to_string(),
            vec![(1_700_000_000_000, 2.0), (1_700_000_010_000, 3.0)],
        ),
    ];

    let (r, bytes) = s.post_bytes("/api/v1/read", &read_request(vec![0]), &headers);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), Some("snappy"));
    let resp = proto::ReadResponse::decode(snappy::decompress(&bytes, 1 << 20).unwrap().as_slice()).unwrap();
    let got: Vec<_> = resp.results[0]
        .timeseries
        .iter()
        .map(|ts| {
            (
                text_labels(&ts.labels),
                ts.samples.iter().map(|s| (s.timestamp, s.value)).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(got, want);

    let (r, bytes) = s.post_bytes("/api/v1/read", &read_request(vec![1, 0]), &headers);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
    );
    let frames = read_frames(&bytes).unwrap();
    let got: Vec<_> = frames
        .iter()
        .flat_map(|f| f.chunked_series.iter())
        .map(|cs| {
            let samples: Vec<(i64, f64)> = cs.chunks.iter().flat_map(|c| decode_xor(&c.data).unwrap()).collect();
            (text_labels(&cs.labels), samples)
        })
        .collect();
    assert_eq!(got, want);

    let (r, _) = s.post_bytes("/api/v1/read", b"garbage", &headers);
    assert_eq!(r.status, 400, "{}", r.body);
    s.stop();
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn prometheus_present() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn prometheus_remote_writes_into_foresight_and_reads_it_back() {
    if !prometheus_present() {
        tool_missing("prometheus not found (apt-get install prometheus)");
        return;
    }
    let (_dir, s) = with_fixture(&[]);
    let work = tempdir();
    let port = free_port();
    let url = format!("http://{}", s.addr);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: foresight\n    static_configs:\n      - targets: ['{addr}']\n\
         remote_write:\n  - url: {url}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      \
         min_backoff: 100ms\n    metadata_config:\n      send_interval: 1s\n\
         remote_read:\n  - url: {url}/api/v1/read\n    read_recent: true\n",
        addr = s.addr
    );
    let cfg = work.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let log = std::fs::File::create(work.path().join("prometheus.log")).unwrap();
    let prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", work.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let prom_log = || std::fs::read_to_string(work.path().join("prometheus.log")).unwrap_or_default();

    // Scraped by Prometheus, remote-written into foresight: `up` and foresight's own metrics.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let up = query(&s, "up{job=\"foresight\"}", now_ms());
        let own = query(&s, "count(foresight_http_requests_total)", now_ms());
        if up.len() == 1 && up[0].1 == 1.0 && !own.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scraped data reached foresight; Prometheus log:\n{}\nforesight log:\n{}",
            prom_log(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Metadata too (Prometheus sends it every second here).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, md) = s.get_json("/api/v1/metadata", &[("metric", "foresight_http_requests_total")]);
        if md["data"]["foresight_http_requests_total"][0]["type"] == "counter" {
            break;
        }
        assert!(Instant::now() < deadline, "no metadata: {md}\n{}", prom_log());
        std::thread::sleep(Duration::from_millis(250));
    }

    // Prometheus reads the fixture, which only foresight holds, through remote read.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let r = agent
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query("query", "cpu_usage_user")
            .query("time", "1700000010")
            .call();
        if let Ok(r) = r
            && r.status() == 200
        {
            break r.into_body().read_to_string().unwrap();
        }
        assert!(Instant::now() < deadline, "Prometheus does not answer: {}", prom_log());
        std::thread::sleep(Duration::from_millis(250));
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut got: Vec<(String, f64)> = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| {
            (
                r["metric"]["host"].as_str().unwrap_or("").to_owned(),
                crate::harness::num(&r["value"][1]),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, vec![("a".into(), 2.5), ("b".into(), 3.0)], "{v}");
    drop(prom);
    s.stop();
}
