//! The InfluxDB write endpoints: plain and gzip bodies, precisions, bad lines, size limits,
//! back-pressure and the `db` label.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, Transcript, gzip, raw_exchange, tempdir};

fn instant(s: &TestServer, q: &str, t: &str) -> String {
    let r = s.get_params("/api/v1/query", &[("query", q), ("time", t)]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[test]
fn plain_gzip_v1_and_v2_writes() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    // 1.x, seconds, plain.
    let r = s.post("/write?db=ignored&precision=s", b"m,src=v1s value=1 1700000000\n", &[]);
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    // 1.x, minutes and hours.
    s.write("m", "m,src=v1m value=2 28333333\n");
    s.write("h", "m,src=v1h value=3 472222\n");
    // 1.x default precision is nanoseconds; gzip.
    let body = gzip(b"m,src=v1gz value=4 1700000000000000000\n");
    let r = s.post("/write", &body, &[("Content-Encoding", "gzip")]);
    assert_eq!(r.status, 204, "{}", r.body);
    // 2.x with org/bucket, milliseconds, gzip.
    let body = gzip(b"m,src=v2ms value=5 1700000000000\n");
    let r = s.post(
        "/api/v2/write?org=o&bucket=b&precision=ms",
        &body,
        &[("Content-Encoding", "gzip"), ("Authorization", "Token x")],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    // 2.x microseconds.
    let r = s.post(
        "/api/v2/write?bucket=b&precision=us",
        b"m,src=v2us value=6 1700000000000000\n",
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.body);

    assert_eq!(
        instant(&s, "m_value{src!~\"v1m|v1h\"}", "1700000000"),
        concat!(
            r#"{"status":"success","data":{"resultType":"vector","result":["#,
            r#"{"metric":{"__name__":"m_value","src":"v1gz"},"value":[1700000000,"4"]},"#,
            r#"{"metric":{"__name__":"m_value","src":"v1s"},"value":[1700000000,"1"]},"#,
            r#"{"metric":{"__name__":"m_value","src":"v2ms"},"value":[1700000000,"5"]},"#,
            r#"{"metric":{"__name__":"m_value","src":"v2us"},"value":[1700000000,"6"]}]}}"#
        )
    );
    // 28333333 min = 1699999980 s; 472222 h = 1699999200 s (outside the 5 min lookback at 1700000000).
    assert_eq!(
        instant(&s, "m_value{src=~\"v1m|v1h\"}", "1699999980"),
        concat!(
            r#"{"status":"success","data":{"resultType":"vector","result":["#,
            r#"{"metric":{"__name__":"m_value","src":"v1m"},"value":[1699999980,"2"]}]}}"#
        )
    );
    assert!(instant(&s, "m_value{src=\"v1h\"}", "1699999200").contains(r#"[1699999200,"3"]"#));

    // Bad parameters and encodings.
    let r = s.post("/api/v2/write?precision=m", b"m value=1 1\n", &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("invalid precision"), "{}", r.body);
    let r = s.post("/write?precision=fortnights", b"m value=1 1\n", &[]);
    assert_eq!(r.status, 400);
    let r = s.post("/write", b"m value=1 1\n", &[("Content-Encoding", "br")]);
    assert_eq!(r.status, 415, "{}", r.body);
    let r = s.post("/write", b"not gzip at all", &[("Content-Encoding", "gzip")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("bad gzip body"), "{}", r.body);
    s.stop();
}

#[test]
fn bad_lines_are_listed_and_good_lines_stored() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let body = "\
good,host=a v=1 1700000000
this is not line protocol
good,host=b v=2 1700000000

good,host=c v=oops 1700000000
good,host=d v=4 1700000000
";
    for (path, encoding) in [
        ("/write?precision=s", None),
        ("/api/v2/write?precision=s", Some("gzip")),
    ] {
        let r = match encoding {
            Some(e) => s.post(path, &gzip(body.as_bytes()), &[("Content-Encoding", e)]),
            None => s.post(path, body.as_bytes(), &[]),
        };
        assert_eq!(r.status, 400, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["code"], "invalid");
        assert_eq!(v["rejected"], 2);
        let lines: Vec<u64> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [2, 5]);
        for e in v["errors"].as_array().unwrap() {
            assert!(!e["reason"].as_str().unwrap().is_empty());
        }
        let message = v["message"].as_str().unwrap();
        assert!(
            message.starts_with("partial write: 2 of 5 lines rejected, the other lines were written; line 2: "),
            "{message}"
        );
        assert!(message.contains("; line 5: "), "{message}");
        assert_eq!(v["error"], v["message"]);
    }
    assert_eq!(
        instant(&s, "count(good_v)", "1700000000"),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"3"]}]}}"#
    );
    s.stop();
}

#[test]
fn huge_bodies_get_413() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--max-body-bytes", "64KiB"]);
    let mut big = String::new();
    let mut i = 0;
    while big.len() <= 64 * 1024 {
        big.push_str(&format!("big,i={i} v=1 1700000000\n"));
        i += 1;
    }
    let r = s.post("/write?precision=s", big.as_bytes(), &[]);
    assert_eq!(r.status, 413, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["code"], "request too large");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("limit of 65536 bytes (max-body-bytes)"),
        "{}",
        r.body
    );

    // A gzip bomb: small on the wire, over the limit once decompressed.
    let bomb = gzip(&vec![b'#'; 4 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let r = s.post("/api/v2/write", &bomb, &[("Content-Encoding", "gzip")]);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("decompressed request body"), "{}", r.body);

    // Chunked, without Content-Length: the limit applies while reading.
    let mut conn = s.connect();
    let mut req =
        b"POST /write?precision=s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for chunk in big.as_bytes().chunks(16 * 1024) {
        write!(req, "{:x}\r\n", chunk.len()).unwrap();
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&mut conn, &req);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Nothing of the refused bodies was stored; a body at the limit is fine.
    assert_eq!(
        instant(&s, "count(big_v)", "1700000000"),
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );
    let ok: String = big.lines().take(100).map(|l| format!("{l}\n")).collect();
    s.write("s", &ok);
    assert!(instant(&s, "count(big_v)", "1700000000").contains(r#""100""#));
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("foresight_write_requests_refused_total{reason=\"too_large\"} 3\n"),
        "{metrics}"
    );
    s.stop();
}

#[test]
fn backpressure_answers_503_with_retry_after() {
    let dir = tempdir();
    let s = TestServer::start(
        dir.path(),
        &["--max-body-bytes", "64KiB", "--max-inflight-write-bytes", "64KiB"],
    );
    // A chunked write that sends 60 KiB and then stalls holds 60 KiB of the budget.
    let mut slow = s.connect();
    slow.write_all(
        b"POST /write?precision=s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let mut first = String::new();
    let mut i = 0;
    while first.len() < 60 * 1024 {
        first.push_str(&format!("slow,i={i} v=1 1700000000\n"));
        i += 1;
    }
    write!(slow, "{:x}\r\n{first}\r\n", first.len()).unwrap();
    slow.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = s.get("/metrics").body;
        let held = m
            .lines()
            .find_map(|l| l.strip_prefix("foresight_inflight_write_bytes "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if held >= first.len() as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "the stalled write never reserved its bytes");
        std::thread::sleep(Duration::from_millis(10));
    }
    let other = "fast v=1 1700000000\n".repeat(500);
    let r = s.post("/write?precision=s", other.as_bytes(), &[]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.body.contains("max-inflight-write-bytes"), "{}", r.body);

    // The stalled write completes; then there is room again.
    slow.write_all(b"0\r\n\r\n").unwrap();
    let answer = raw_exchange(&mut slow, b"");
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    s.write("s", &other);
    assert!(instant(&s, "count(slow_v)", "1700000000").contains(&format!("\"{i}\"")));
    s.stop();
}

#[test]
fn db_label_from_db_and_bucket() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--db-label", "db"]);
    let r = s.post("/write?db=bench&precision=s", b"x,h=a v=1 1700000000\nbad\n", &[]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains(r#""errors":[{"line":2,"#), "{}", r.body);
    let r = s.post(
        "/api/v2/write?org=o&bucket=other&precision=s",
        b"x,h=a v=2 1700000000\n",
        &[],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    s.write("s", "x,h=a v=3 1700000000\n");
    assert_eq!(
        instant(&s, "x_v", "1700000000"),
        concat!(
            r#"{"status":"success","data":{"resultType":"vector","result":["#,
            r#"{"metric":{"__name__":"x_v","db":"bench","h":"a"},"value":[1700000000,"1"]},"#,
            r#"{"metric":{"__name__":"x_v","db":"other","h":"a"},"value":[1700000000,"2"]},"#,
            r#"{"metric":{"__name__":"x_v","h":"a"},"value":[1700000000,"3"]}]}}"#
        )
    );
    s.stop();
}

/// The InfluxDB error bodies, byte for byte.
#[test]
fn error_bodies_byte_for_byte() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--max-body-bytes", "1KiB"]);
    let mut t = Transcript::default();
    let partial = b"ok v=1 1700000000\nnot line protocol\nok v=\"text\" 1700000000\nok,t=\"<q>\" v= 1700000000\n";
    t.add("partial write", &s.post("/write?precision=s", partial, &[]));
    t.add(
        "partial write, v2, gzip",
        &s.post(
            "/api/v2/write?precision=s",
            &gzip(partial),
            &[("Content-Encoding", "gzip")],
        ),
    );
    t.add("v1 precision x", &s.post("/write?precision=x", b"ok v=1\n", &[]));
    t.add("v2 precision h", &s.post("/api/v2/write?precision=h", b"ok v=1\n", &[]));
    t.add(
        "Content-Encoding br",
        &s.post("/write", b"ok v=1\n", &[("Content-Encoding", "br")]),
    );
    t.add(
        "bad gzip",
        &s.post("/write", b"not gzip", &[("Content-Encoding", "gzip")]),
    );
    t.add("2 KiB body", &s.post("/write", &[b'x'; 2048], &[]));
    t.add(
        "gzip body of 2 KiB decompressed",
        &s.post("/write", &gzip(&[b'x'; 2048]), &[("Content-Encoding", "gzip")]),
    );
    insta::assert_snapshot!("errors", t.text());
    s.stop();
}

/// History written as an export orders it (one series, all its points, then the next), after live
/// data and interleaved with it, lands whole and reads back at once; it survives a restart.
#[test]
fn history_series_by_series_after_live_data() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let now = now - now % 60;
    s.write("s", &format!("live,host=a v=1 {now}\n"));
    // Six hours of history at 60 s for three hosts, host after host, oldest first.
    let from = now - 6 * 3600;
    for h in 0..3 {
        let mut body = String::new();
        for i in 0..360 {
            body.push_str(&format!("hist,host=h{h} v={} {}\n", h * 1000 + i, from + i * 60));
        }
        let r = s.post("/write?precision=s", body.as_bytes(), &[]);
        assert_eq!(r.status, 204, "{}", r.body);
        s.write("s", &format!("live,host=a v={} {}\n", h + 2, now + h + 1));
    }
    let check = |s: &TestServer| {
        let r = s.get_params(
            "/api/v1/query",
            &[("query", "count_over_time(hist_v[7h])"), ("time", &now.to_string())],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body.matches("\"360\"").count(), 3, "{}", r.body);
        let r = s.get_params(
            "/api/v1/query",
            &[
                ("query", "hist_v{host=\"h2\"}"),
                ("time", &(from + 100 * 60).to_string()),
            ],
        );
        assert!(r.body.contains("\"2100\""), "{}", r.body);
    };
    check(&s);
    s.stop();
    let s = TestServer::start(dir.path(), &[]);
    check(&s);
}
