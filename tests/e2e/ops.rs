//! Operations: health and readiness, /metrics, self-monitoring, Server-Sent Events, the
//! configuration file, and shutdown with a stream open.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use crate::harness::{TestServer, tempdir};
use crate::with_fixture;

#[test]
fn health_readiness_and_metrics() {
    let (_dir, s) = with_fixture(&[]);
    let r = s.get("/-/healthy");
    assert_eq!((r.status, r.body.as_str()), (200, "foresight is Healthy.\n"));
    let r = s.get("/-/ready");
    assert_eq!((r.status, r.body.as_str()), (200, "foresight is Ready.\n"));
    let r = s.get("/ping");
    assert_eq!(r.status, 204);
    assert!(r.header("x-influxdb-version").is_some());
    assert_eq!(s.get("/health").status, 200);

    s.get_params("/api/v1/query", &[("query", "cpu_usage_user"), ("time", "1700000010")]);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = r.body;
    for needle in [
        "foresight_samples_ingested_total 12\n",
        "foresight_head_series 4\n",
        "foresight_lines_rejected_total 0\n",
        "# TYPE foresight_http_request_duration_seconds histogram\n",
        "foresight_http_request_duration_seconds_count{handler=\"/api/v1/query\"} 1\n",
        "foresight_http_request_duration_seconds_count{handler=\"/write\"} 1\n",
        "foresight_http_requests_total{code=\"204\",handler=\"/write\"} 1\n",
        "# TYPE foresight_block_bytes gauge\n",
        "foresight_blocks 0\n",
        "foresight_ready 1\n",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in\n{m}");
    }
    assert!(m.lines().any(|l| l.starts_with("process_resident_memory_bytes ")));
    // The fixture's write was fsynced (durable mode) at least once; CPU time is reported.
    let value = |name: &str| -> f64 {
        let line = m
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{m}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(m.contains("# TYPE foresight_wal_fsync_duration_seconds histogram\n"));
    assert!(value("foresight_wal_fsync_duration_seconds_count ") >= 1.0);
    assert!(value("foresight_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} ") >= 1.0);
    // Clock ticks of 10 ms: a young, idle server may still read 0.
    assert!(value("process_cpu_seconds_total ") >= 0.0);
    s.stop();
}

#[test]
fn self_monitoring_stores_own_metrics() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--self-monitor=200ms"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.get_params(
            "/api/v1/query",
            &[("query", "max_over_time(foresight_ready{job=\"foresight\"}[1m])")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body.contains(r#""1"]"#) {
            let instance = format!(r#""instance":"{}""#, s.addr);
            assert!(r.body.contains(&instance), "{}", r.body);
            break;
        }
        assert!(Instant::now() < deadline, "no self-monitoring sample: {}", r.body);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Histograms are stored too, so their quantiles can be computed with PromQL.
    let r = s.get_params(
        "/api/v1/query",
        &[(
            "query",
            "histogram_quantile(0.5, sum by (le) (foresight_http_request_duration_seconds_bucket{handler=\"/api/v1/query\"}))",
        )],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop();
}

/// Reads SSE events (event name, data) from a raw connection.
fn read_events(reader: &mut BufReader<std::net::TcpStream>, n: usize) -> Vec<(String, String)> {
    let mut events = Vec::new();
    let mut name = String::from("message");
    let mut data = String::new();
    let mut line = String::new();
    while events.len() < n {
        line.clear();
        let got = reader.read_line(&mut line).expect("read the stream");
        assert!(got > 0, "the stream ended early");
        let l = line.trim_end_matches(['\r', '\n']);
        if let Some(d) = l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")) {
            data.push_str(d);
        } else if let Some(e) = l.strip_prefix("event: ").or_else(|| l.strip_prefix("event:")) {
            name = e.to_owned();
        } else if l.is_empty() && !data.is_empty() {
            events.push((
                std::mem::replace(&mut name, "message".into()),
                std::mem::take(&mut data),
            ));
        }
    }
    events
}

#[test]
fn stream_pushes_query_values_and_ends_at_shutdown() {
    let (_dir, s) = with_fixture(&["--stream-min-interval", "100ms"]);
    let r = s.get_params("/api/v1/stream", &[("query", "sum(")]);
    assert_eq!(r.status, 400);
    let r = s.get_params("/api/v1/stream", &[("query", "up"), ("interval", "10ms")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("stream-min-interval"), "{}", r.body);

    let mut conn = s.connect();
    conn.write_all(
        b"GET /api/v1/stream?query=count(cpu_usage_user%20%40%201700000010)&interval=0.2 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut saw_type = false;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h.to_ascii_lowercase().starts_with("content-type: text/event-stream") {
            saw_type = true;
        }
        if h == "\r\n" {
            break;
        }
    }
    assert!(saw_type);
    let started = Instant::now();
    let events = read_events(&mut reader, 3);
    for (name, data) in &events {
        assert_eq!(name, "message");
        assert!(
            data.starts_with(r#"{"resultType":"vector","result":[{"metric":{},"value":["#)
                && data.ends_with(r#","2"]}]}"#),
            "{data}"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Shutdown is not held up by the open stream.
    let stopping = Instant::now();
    s.stop();
    assert!(stopping.elapsed() < Duration::from_secs(10));
}

#[test]
fn settings_from_a_toml_file_and_flags() {
    let dir = tempdir();
    let cfg = dir.path().join("foresight.toml");
    std::fs::write(
        &cfg,
        "max-body-bytes = \"1KiB\"\ndb-label = \"db\"\nquery_timeout = \"30s\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = TestServer::start(&data, &["--config", cfg.to_str().unwrap(), "--db-label", "dbx"]);
    let r = s.post(
        "/write?db=d&precision=s",
        "x v=1 1700000000\n".repeat(100).as_bytes(),
        &[],
    );
    assert_eq!(r.status, 413, "{}", r.body);
    s.post("/write?db=d&precision=s", b"x v=1 1700000000\n", &[]);
    let r = s.get_params("/api/v1/series", &[("match[]", "x_v")]);
    assert_eq!(r.body, r#"{"status":"success","data":[{"__name__":"x_v","dbx":"d"}]}"#);
    s.stop();

    std::fs::write(&cfg, "no-such-setting = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_foresight"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting \"no-such-setting\""));
}
