//! Starts the real `foresight serve` binary on 127.0.0.1 with an OS-chosen port and talks HTTP
//! to it. The server is stopped (SIGTERM, then SIGKILL if it hangs) when the harness is dropped.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers gathered for one snapshot, each under a title: the status, the headers that are part
/// of the API's contract (`Content-Type`, `Retry-After`) and the body exactly as sent, so a
/// snapshot pins the bytes while reading as a table of cases.
#[derive(Debug, Default)]
pub(crate) struct Transcript(String);

impl Transcript {
    pub(crate) fn add(&mut self, title: &str, r: &Resp) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "## {title}\n{}", r.status);
        for name in ["content-type", "retry-after"] {
            if let Some(v) = r.header(name) {
                let _ = write!(self.0, " {name}: {v}");
            }
        }
        let _ = write!(self.0, "\n{}\n\n", r.body);
    }

    pub(crate) fn text(&self) -> &str {
        &self.0
    }
}

/// A running server process.
#[derive(Debug)]
pub(crate) struct TestServer {
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

impl TestServer {
    /// Starts `foresight --data-dir DIR serve --listen 127.0.0.1:0 ARGS...` and waits until it
    /// is ready (WAL replayed).
    pub(crate) fn start(dir: &Path, args: &[&str]) -> TestServer {
        let s = Self::spawn(dir, args);
        s.wait_ready();
        s
    }

    /// Starts the server without waiting for readiness. `FORESIGHT_SERVER_BIN` names another
    /// binary to start (a release build, for the measurements run by hand).
    pub(crate) fn spawn(dir: &Path, args: &[&str]) -> TestServer {
        let exe = std::env::var_os("FORESIGHT_SERVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_foresight").into());
        let mut child = Command::new(exe)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env_remove("FORESIGHT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the foresight binary");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let after = |scheme: &str| {
                        line.split(&format!("listening on {scheme}://"))
                            .nth(1)
                            .map(str::to_owned)
                    };
                    if let Some(rest) = after("http").or_else(|| after("https")) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                            .collect();
                        if let (Some(tx), Ok(a)) = (tx.take(), addr.parse()) {
                            let _ = tx.send(a);
                        }
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not report its address; log:\n{}", log.lock().unwrap());
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        TestServer {
            child: Some(child),
            addr,
            log,
            agent,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.try_get("/-/ready").is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in time; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read(resp: ureq::http::Response<ureq::Body>) -> Resp {
        Self::read_bytes(resp).0
    }

    /// The answer, and its body as bytes too (binary answers: remote read).
    fn read_bytes(resp: ureq::http::Response<ureq::Body>) -> (Resp, Vec<u8>) {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let bytes = resp
            .into_body()
            .with_config()
            .limit(256 << 20)
            .read_to_vec()
            .expect("read the body");
        let body = String::from_utf8_lossy(&bytes).into_owned();
        (Resp { status, headers, body }, bytes)
    }

    fn try_get(&self, path: &str) -> Result<Resp, ureq::Error> {
        self.agent.get(self.url(path)).call().map(Self::read)
    }

    pub(crate) fn get(&self, path: &str) -> Resp {
        self.try_get(path).expect("GET")
    }

    /// GET with request headers.
    pub(crate) fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.get_full(path, &[], headers)
    }

    pub(crate) fn post(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.post(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send(body).map(Self::read).expect("POST")
    }

    /// POST whose answer body is kept as bytes (binary answers: remote read).
    pub(crate) fn post_bytes(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (Resp, Vec<u8>) {
        let mut req = self.agent.post(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send(body).map(Self::read_bytes).expect("POST")
    }

    pub(crate) fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.agent
            .post(self.url(path))
            .send_form(form.iter().copied())
            .map(Self::read)
            .expect("POST form")
    }

    /// Writes line protocol through `/write` and asserts 204.
    pub(crate) fn write(&self, precision: &str, body: &str) {
        let r = self.post(&format!("/write?precision={precision}"), body.as_bytes(), &[]);
        assert_eq!(r.status, 204, "write failed: {}", r.body);
    }

    /// GET with the query string built from `params` (URL-encoded).
    pub(crate) fn get_params(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.get_full(path, params, &[])
    }

    /// GET with query parameters (URL-encoded) and request headers.
    pub(crate) fn get_full(&self, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        let mut req = self.agent.get(self.url(path));
        for (k, v) in params {
            req = req.query(*k, *v);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.call().map(Self::read).expect("GET")
    }

    /// GET with `params`, the answer parsed as JSON (a body that is not JSON fails the test).
    pub(crate) fn get_json(&self, path: &str, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let r = self.get_params(path, params);
        let v = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
        (r.status, v)
    }

    /// Opens a raw connection to the server.
    pub(crate) fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends `sig` to the server process.
    pub(crate) fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            let pid = i32::try_from(c.id()).unwrap();
            // SAFETY: kill(2) on our own child's pid.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// Stops the server with `sig` and returns its exit status.
    pub(crate) fn stop_with(mut self, sig: i32) -> ExitStatus {
        self.signal(sig);
        let mut child = self.child.take().unwrap();
        wait_timeout(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the server did not stop in time; log:\n{}", self.log());
        })
    }

    /// Waits for the server to exit by itself; returns its status and log.
    pub(crate) fn wait_exit(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let status = wait_timeout(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the server did not exit; log:\n{}", self.log());
        });
        // The log thread ends with the pipe; give it a moment to take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.log())
    }

    /// Stops the server with SIGTERM and asserts a clean exit.
    pub(crate) fn stop(self) {
        let log = self.log.clone();
        let status = self.stop_with(libc::SIGTERM);
        assert!(
            status.success(),
            "exit status {status:?}; log:\n{}",
            log.lock().unwrap()
        );
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on our own child's pid.
                #[allow(unsafe_code)]
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            if wait_timeout(&mut child, Duration::from_secs(20)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Sends raw bytes and reads the whole answer (the request should say `Connection: close`).
pub(crate) fn raw_exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).expect("send");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// gzip-compresses `data`.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A fresh temporary data directory.
/// Runs `foresight ARGS...` to completion: (exit code, stdout, stderr).
pub(crate) fn foresight(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("foresight-e2e").tempdir().unwrap()
}

/// A test whose external tool is missing: skipped with a notice, unless `FORESIGHT_REQUIRE_TOOLS`
/// is set (CI sets it after installing the tools), where a missing tool fails the test.
pub(crate) fn tool_missing(notice: &str) {
    if std::env::var_os("FORESIGHT_REQUIRE_TOOLS").is_some() {
        panic!("FORESIGHT_REQUIRE_TOOLS is set but {notice}");
    }
    eprintln!("NOTICE: {notice}; skipping");
}

/// A number Prometheus writes as a JSON string (`"0.5"`); anything else fails the test.
pub(crate) fn num(v: &serde_json::Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a number string: {v}"))
}
