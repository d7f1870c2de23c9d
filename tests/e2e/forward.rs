//! Forwarding to a remote-write receiver (`--remote-write-url`): everything acknowledged reaches
//! the receiver across its outages and a SIGKILL of foresight; 5xx answers are retried and 4xx
//! answers skipped, as Prometheus does. The receiver is a small HTTP server in the test that
//! decodes the remote-write bodies and answers as told; a second test forwards into another
//! foresight.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, tempdir};

/// What the fake receiver saw and will answer.
#[derive(Default)]
struct Seen {
    /// Distinct (series, timestamp, value) samples accepted.
    samples: BTreeSet<(String, i64, u64)>,
    /// Statuses to answer next (204 when empty).
    script: VecDeque<u16>,
    requests: usize,
    headers: Vec<String>,
    /// The content type of every request, in order.
    content_types: Vec<String>,
    /// Answer 415 to remote write 2.0, as a receiver that takes only 1.0.
    refuse_v2: bool,
    /// Read every body as 1.0 and answer without the written-samples headers, as a 1.0 receiver
    /// that does not look at the content type (Prometheus 2.42) does.
    v1_only_and_blind: bool,
}

/// A remote-write receiver on a fixed port, which can be stopped and started again.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Receiver {
    fn new() -> Receiver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = Receiver {
            port,
            seen: Arc::default(),
            running: None,
        };
        r.start();
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/push", self.port)
    }

    fn start(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stop2) = (self.seen.clone(), stop.clone());
        let h = std::thread::spawn(move || {
            // Bounded: the test stops it, and it gives up after two minutes in any case.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => handle(conn, &seen),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.running = Some((stop, h));
    }

    fn stop(&mut self) {
        if let Some((stop, h)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            h.join().unwrap();
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().samples.len()
    }

    fn wait_for(&self, n: usize, what: &str, log: impl Fn() -> String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "{what}: the receiver has {} samples, expected {n}; foresight log:\n{}",
                self.count(),
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one HTTP request, decodes it, answers the next scripted status, closes.
fn handle(conn: TcpStream, seen: &Mutex<Seen>) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(conn);
    let mut len = 0usize;
    let mut headers = Vec::new();
    let mut content_type = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if let Some((name, v)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-type")
        {
            content_type = Some(v.trim().to_owned());
        }
        headers.push(line);
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let mut s = seen.lock().unwrap();
    s.requests += 1;
    s.headers = headers;
    s.content_types.push(content_type.clone().unwrap_or_default());
    let v2 = content_type.as_deref().is_some_and(|c| c.contains("write.v2"));
    let mut accepted = 0;
    let status = if s.refuse_v2 && v2 {
        415
    } else {
        s.script.pop_front().unwrap_or(204)
    };
    if status == 204 {
        let protocol = if s.v1_only_and_blind {
            foresight_remote::Protocol::V1
        } else {
            foresight_remote::negotiate(content_type.as_deref(), Some("snappy")).unwrap()
        };
        let decoded = foresight_remote::decode_write(&body, protocol, 64 << 20).unwrap();
        let mut got = Vec::new();
        decoded.visit(|_, labels, samples| {
            let key = format!("{labels:?}");
            for &(t, v) in samples {
                got.push((key.clone(), t, v.to_bits()));
            }
        });
        accepted = got.len();
        s.samples.extend(got);
    }
    let blind = s.v1_only_and_blind;
    drop(s);
    let mut conn = r.into_inner();
    let reason = if status == 204 { "No Content" } else { "Scripted" };
    let written = if status == 204 && v2 && !blind {
        format!("X-Prometheus-Remote-Write-Samples-Written: {accepted}\r\n")
    } else {
        String::new()
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\n{written}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// `n` samples of `m{host=...}` from time index `from` (10 s apart, recent enough for any
/// receiver), as line protocol.
fn lines(from: i64, n: i64) -> String {
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 86_400;
    (from..from + n)
        .map(|i| format!("fwd,host=h{} v={i} {}\n", i % 4, base + i * 10))
        .collect()
}

fn metric(s: &TestServer, name: &str) -> f64 {
    let text = s.get("/metrics").body;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn forwarded_samples_survive_receiver_outages_and_a_sigkill() {
    let dir = tempdir();
    let mut rx = Receiver::new();
    let url = rx.url();
    let args = [
        "--remote-write-url",
        url.as_str(),
        "--remote-write-header",
        "X-Scope-OrgID: edge-1",
    ];
    let s = TestServer::start(dir.path(), &args);
    s.write("s", &lines(0, 100));
    rx.wait_for(100, "live forwarding", || s.log());
    assert!(
        rx.seen
            .lock()
            .unwrap()
            .headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("X-Scope-OrgID: edge-1")),
        "the configured header is sent"
    );

    // The receiver goes away; writes are still acknowledged, then foresight is killed.
    rx.stop();
    s.write("s", &lines(100, 100));
    std::thread::sleep(Duration::from_millis(500));
    assert!(metric(&s, "foresight_remote_write_request_failures_total") >= 1.0);
    s.stop_with(libc::SIGKILL);

    // After the restart, the backlog and new writes reach the receiver once it is back.
    let s = TestServer::start(dir.path(), &args);
    s.write("s", &lines(200, 100));
    rx.start();
    rx.wait_for(300, "after the outage and the SIGKILL", || s.log());

    // A 5xx is retried (nothing lost); a 4xx batch is skipped and counted, later ones go on.
    rx.seen.lock().unwrap().script.extend([503]);
    s.write("s", &lines(300, 10));
    rx.wait_for(310, "after a 503", || s.log());
    rx.seen.lock().unwrap().script.extend([400]);
    s.write("s", &lines(310, 10));
    let deadline = Instant::now() + Duration::from_secs(30);
    // One batch per shard: the first to arrive is refused, the others land.
    let rejected = loop {
        let r = metric(&s, "foresight_remote_write_samples_rejected_total");
        if r > 0.0 {
            break r as usize;
        }
        assert!(Instant::now() < deadline, "the 400 was not counted; log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(rejected <= 10, "{rejected}");
    s.write("s", &lines(320, 10));
    rx.wait_for(330 - rejected, "after a 400", || s.log());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 330 - rejected, "the refused batch is not sent again");
    // Everything sent: nothing is left behind the readers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&s, "foresight_remote_write_backlog_bytes") != 0.0 {
        assert!(Instant::now() < deadline, "{}", s.get("/metrics").body);
        std::thread::sleep(Duration::from_millis(50));
    }
    s.stop();
}

#[test]
fn one_foresight_forwards_to_another_with_flushes_in_between() {
    let dir_b = tempdir();
    let b = TestServer::start(dir_b.path(), &[]);
    let url = b.url("/api/v1/write");
    let dir_a = tempdir();
    let a = TestServer::start(dir_a.path(), &["--remote-write-url", &url]);
    a.write("s", &lines(0, 400));
    // Blocks made in between: the segments are kept until forwarded.
    let flushed = a.post("/api/v1/admin/flush", b"", &[]);
    assert_eq!(flushed.status, 200, "{}", flushed.body);
    a.write("s", &lines(400, 400));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = b.get_json("/api/v1/query", &[("query", "count_over_time(fwd_v[3d])")]);
        let total: f64 = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| crate::harness::num(&r["value"][1]))
            .sum();
        if total == 800.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B has {total} of 800 samples; A's log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    a.stop();
    b.stop();
}

/// VictoriaMetrics (Debian's package), stopped and started again in the middle.
struct Vm {
    child: Option<std::process::Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl Vm {
    fn start(port: u16, dir: &std::path::Path) -> Vm {
        let child = std::process::Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            // Samples sent twice after a crash are one sample.
            .arg("-dedup.minScrapeInterval=1ms")
            .arg("-search.disableCache")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let vm = Vm {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while vm.get("/health").is_none() {
            assert!(Instant::now() < deadline, "VictoriaMetrics did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        vm
    }

    fn get(&self, path_and_query: &str) -> Option<String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut r = agent
            .get(format!("http://127.0.0.1:{}{path_and_query}", self.port))
            .call()
            .ok()?;
        r.body_mut().read_to_string().ok()
    }

    /// The distinct samples of `fwd_v` VictoriaMetrics holds (after a flush).
    fn count(&self) -> usize {
        let _ = self.get("/internal/force_flush");
        let q = "sum(count_over_time(fwd_v[3d]))";
        let url = format!(
            "/api/v1/query?query={}",
            q.replace(' ', "%20").replace('[', "%5B").replace(']', "%5D")
        );
        self.get(&url)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map_or(0, |v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0) as usize
            })
    }

    /// Stops it with SIGTERM (a SIGKILL would lose what VictoriaMetrics itself acknowledged but
    /// had not yet written: its own durability, not what this test is about).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = i32::try_from(c.id()).unwrap();
            // SAFETY: kill(2) on our own child's pid.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn forwarding_to_victoriametrics_survives_its_downtime_and_our_sigkill() {
    if std::process::Command::new("victoria-metrics")
        .arg("-version")
        .output()
        .is_err()
    {
        crate::harness::tool_missing("victoria-metrics not found (apt-get install victoria-metrics)");
        return;
    }
    let vm_dir = tempdir();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut vm = Vm::start(port, vm_dir.path());
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = tempdir();
    let args = ["--remote-write-url", url.as_str()];
    let wait = |vm: &Vm, n: usize, what: &str, log: &dyn Fn() -> String| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = vm.count();
            if got == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: VictoriaMetrics has {got} of {n}; foresight log:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let s = TestServer::start(dir.path(), &args);
    s.write("s", &lines(0, 100));
    wait(&vm, 100, "live", &|| s.log());
    // The receiver goes down, then foresight is killed with acknowledged samples not yet sent.
    vm.stop();
    s.write("s", &lines(100, 100));
    s.stop_with(libc::SIGKILL);
    let s = TestServer::start(dir.path(), &args);
    s.write("s", &lines(200, 100));
    let vm = Vm::start(port, &vm.dir.clone());
    wait(&vm, 300, "after both were killed", &|| s.log());
    s.stop();
}

/// `--remote-write-config`: a Prometheus `remote_write:` file gives each destination its own
/// credentials, headers, relabeling, TLS trust and protocol. One destination is the test's
/// receiver (basic auth, a tenant header, remote write 2.0 refused with 415 so 1.0 is used by each
/// sender after its first request, and
/// relabel rules keeping half the hosts under a new label); the other is a second foresight
/// over HTTPS with a self-signed certificate (`tls_config.ca_file`), sent remote write 2.0.
#[test]
fn a_remote_write_file_sets_credentials_relabeling_tls_and_protocol_per_destination() {
    let rx = Receiver::new();
    rx.seen.lock().unwrap().refuse_v2 = true;
    // The HTTPS receiver.
    let certs = tempdir();
    let (cert, key) = crate::tls::self_signed();
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    crate::tls::replace(&cert_path, &cert);
    crate::tls::replace(&key_path, &key);
    let dir_b = tempdir();
    let (_b, base_b, client) = crate::tls::spawn_https(dir_b.path(), &cert_path, &key_path, &cert);

    let dir = tempdir();
    std::fs::write(dir.path().join("pass"), "p\n").unwrap();
    let config = dir.path().join("rw.yml");
    std::fs::write(
        &config,
        format!(
            r#"global: {{scrape_interval: 15s}}
remote_write:
  - url: {}
    name: fake
    headers: {{X-Scope-OrgID: t1}}
    basic_auth: {{username: u, password_file: pass}}
    protobuf_message: io.prometheus.write.v2.Request
    queue_config: {{max_samples_per_send: 7, capacity: 100}}
    write_relabel_configs:
      - source_labels: [host]
        regex: 'h[01]'
        action: keep
      - source_labels: [host]
        regex: 'h(.*)'
        target_label: node
        replacement: 'n$1'
      - regex: host
        action: labeldrop
  - url: {base_b}/api/v1/write
    name: tls
    tls_config: {{ca_file: {}}}
    protobuf_message: io.prometheus.write.v2.Request
"#,
            rx.url(),
            cert_path.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = TestServer::start(&data, &["--remote-write-config", config.to_str().unwrap()]);
    s.write("s", &lines(0, 100));

    // The plain receiver gets hosts h0 and h1 only, as node n0/n1 without host.
    rx.wait_for(50, "relabeled forwarding", || s.log());
    std::thread::sleep(Duration::from_millis(300));
    {
        let seen = rx.seen.lock().unwrap();
        assert_eq!(seen.samples.len(), 50, "only h0 and h1 are forwarded");
        for (series, _, _) in &seen.samples {
            assert!(!series.contains("host"), "{series}");
            assert!(series.contains("\"n0\"") || series.contains("\"n1\""), "{series}");
        }
        // Batches of at most 7 samples: 50 samples are at least 8 accepted requests.
        let v1 = seen
            .content_types
            .iter()
            .filter(|c| *c == "application/x-protobuf")
            .count();
        assert!(v1 >= 8, "{:?}", seen.content_types);
        // 2.0 was tried first, and once refused by each sender (one per WAL shard) no more.
        let v2: Vec<usize> = (0..seen.content_types.len())
            .filter(|&i| seen.content_types[i].contains("io.prometheus.write.v2.Request"))
            .collect();
        assert!(
            !v2.is_empty() && v2.len() <= 8 && v2[0] == 0,
            "{:?}",
            seen.content_types
        );
        let has = |h: &str| seen.headers.iter().any(|x| x.eq_ignore_ascii_case(h));
        assert!(has("Authorization: Basic dTpw"), "{:?}", seen.headers);
        assert!(has("X-Scope-OrgID: t1"), "{:?}", seen.headers);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&s, "foresight_remote_write_samples_filtered_total{remote_name=\"fake\"") < 50.0 {
        assert!(
            Instant::now() < deadline,
            "filtered samples are counted; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The HTTPS foresight has every sample, with its labels unchanged.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = crate::tls::get(
            &client,
            &format!("{base_b}/api/v1/query?query=count(count_over_time(fwd_v[2d]))"),
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        if body.contains("\"4\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the https receiver has {body}; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, body) = crate::tls::get(
        &client,
        &format!("{base_b}/api/v1/query?query=sum(count_over_time(fwd_v[2d]))"),
    )
    .unwrap();
    assert!(body.contains("\"100\""), "{body}");
    assert!(metric(&s, "foresight_remote_write_samples_sent_total{remote_name=\"tls\"") >= 100.0);
}

#[test]
fn a_bad_remote_write_file_stops_the_server_with_the_reason() {
    let dir = tempdir();
    let config = dir.path().join("rw.yml");
    std::fs::write(
        &config,
        "remote_write:\n  - url: http://127.0.0.1:1/api/v1/push\n    write_relabel_configs:\n      - source_labels: [a]\n        regex: '('\n        action: keep\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_foresight"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--remote-write-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rw.yml")
            && err.contains("remote_write[0]")
            && err.contains("write_relabel_configs[0]")
            && err.contains("does not compile"),
        "{err}"
    );
}

/// A 1.0 receiver that ignores the content type (Prometheus 2.42's) reads a 2.0 body as an empty
/// request and answers 204 having stored nothing; without the written-samples header that a 2.0
/// receiver must send, foresight falls back to 1.0 and resends, so nothing is lost.
#[test]
fn remote_write_2_0_to_a_receiver_that_reads_only_1_0_loses_nothing() {
    let rx = Receiver::new();
    rx.seen.lock().unwrap().v1_only_and_blind = true;
    let dir = tempdir();
    let config = dir.path().join("rw.yml");
    std::fs::write(
        &config,
        format!(
            "remote_write:\n  - url: {}\n    protobuf_message: io.prometheus.write.v2.Request\n",
            rx.url()
        ),
    )
    .unwrap();
    let s = TestServer::start(
        &dir.path().join("data"),
        &["--remote-write-config", config.to_str().unwrap()],
    );
    s.write("s", &lines(0, 60));
    rx.wait_for(60, "the fallback to 1.0", || s.log());
    s.write("s", &lines(60, 40));
    rx.wait_for(100, "later batches in 1.0", || s.log());
    let seen = rx.seen.lock().unwrap();
    let v1 = seen
        .content_types
        .iter()
        .filter(|c| *c == "application/x-protobuf")
        .count();
    assert!(
        v1 >= 2 && seen.content_types[0].contains("write.v2"),
        "{:?}",
        seen.content_types
    );
    assert!(s.log().contains("sending 1.0 from now on"), "{}", s.log());
}

/// Tenants are forwarded under `X-Scope-OrgID`: each tenant's series in their own requests,
/// without the `__tenant__` label, so a receiving foresight (or Mimir) files them under the same
/// tenant; the default tenant's series go without the header.
#[test]
fn each_tenant_is_forwarded_under_its_org_id() {
    let dir_b = tempdir();
    let b = TestServer::start(dir_b.path(), &[]);
    let dir = tempdir();
    let acme = crate::auth::tokens(dir.path(), &["create", "--tenant", "acme", "--role", "write"]);
    let default = crate::auth::tokens(dir.path(), &["create", "--role", "write"]);
    let url = b.url("/api/v1/write");
    let a = TestServer::start(dir.path(), &["--remote-write-url", &url]);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (token, line) in [(&acme, "fwd_t,host=x v=1"), (&default, "fwd_d,host=y v=2")] {
        let r = a.post(
            "/write?precision=s",
            format!("{line} {t}\n").as_bytes(),
            &[("Authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let names = |org: Option<&str>| -> String {
        let headers: Vec<(&str, &str)> = org.map(|o| ("X-Scope-OrgID", o)).into_iter().collect();
        let time = t.to_string();
        ["fwd_t_v", "fwd_d_v"]
            .map(|q| {
                b.get_full("/api/v1/query", &[("query", q), ("time", time.as_str())], &headers)
                    .body
            })
            .join("\n")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(names(Some("acme")).contains("fwd_t_v") && names(None).contains("fwd_d_v")) {
        assert!(
            Instant::now() < deadline,
            "not forwarded: {} / {}; log:\n{}",
            names(Some("acme")),
            names(None),
            a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (acme_sees, default_sees) = (names(Some("acme")), names(None));
    assert!(
        !acme_sees.contains("fwd_d_v") && !acme_sees.contains("__tenant__"),
        "{acme_sees}"
    );
    assert!(!default_sees.contains("fwd_t_v"), "{default_sees}");
}
