//! The web UI in a real browser: Debian's `chromium` (headless) driven over the DevTools
//! protocol by a small client below (a websocket written out here, no crate). The real server
//! with data and a rule file; the test loads the query page, runs a query and checks the chart
//! drew the right number of series and points (`window.__foresight`, the page's read-only debug
//! hook), toggles the forecast (a band beyond the last sample), opens the table, alerts, rules
//! and status pages, and fails on any console error, uncaught exception or failed request.
//! Screenshots of each page go to `$CARGO_TARGET_TMPDIR/ui-screenshots/` (the path is printed).
//! Skipped with a notice without chromium; failed when `FORESIGHT_REQUIRE_TOOLS` is set (CI).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::harness::{TestServer, tempdir, tool_missing};

/// Chromium, or `None` after the skip notice (a failure when CI requires the tools).
fn chromium_or_skip() -> Option<PathBuf> {
    let exe = chromium();
    if exe.is_none() {
        tool_missing("chromium is not installed (apt-get install chromium)");
    }
    exe
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .ok()?;
            let p = String::from_utf8(out.stdout).ok()?.trim().to_owned();
            (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
        })
}

/// A minimal websocket client (RFC 6455): text frames out (masked), frames in.
struct Ws {
    s: TcpStream,
}

impl Ws {
    fn connect(url: &str) -> Ws {
        let rest = url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut s = TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: Zm9yZXNpZ2h0LXVpLXRlc3Q=\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "websocket handshake refused: {head}");
        Ws { s }
    }

    fn send(&mut self, text: &str) {
        let data = text.as_bytes();
        let mut frame = vec![0x81u8];
        match data.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend(network_order(n as u64, 2));
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend(network_order(n as u64, 8));
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x08];
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&frame).unwrap();
    }

    /// A frame length: `bytes` bytes, most significant first.
    fn read_length(&mut self, bytes: usize) -> u64 {
        let mut l = [0u8; 8];
        self.s.read_exact(&mut l[..bytes]).unwrap();
        l[..bytes].iter().fold(0, |n, &b| n << 8 | u64::from(b))
    }

    /// The next text message (continuation frames joined; pings answered).
    fn recv(&mut self) -> String {
        let mut msg = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).unwrap();
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let len = match h[1] & 0x7f {
                126 => self.read_length(2),
                127 => self.read_length(8),
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).unwrap()];
            self.s.read_exact(&mut payload).unwrap();
            match opcode {
                0x8 => panic!("chromium closed the DevTools connection"),
                0x9 | 0xa => continue, // chromium does not ping its clients
                _ => msg.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(msg).unwrap();
            }
        }
    }
}

/// The `bytes` low bytes of `n`, most significant first (the websocket's network order).
fn network_order(n: u64, bytes: u32) -> impl Iterator<Item = u8> {
    (0..bytes).rev().map(move |i| (n >> (8 * i)) as u8)
}

/// Headless chromium and one page, with the DevTools events seen so far.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: Ws,
    next_id: u64,
    events: Vec<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch(exe: &Path) -> Browser {
        let profile = tempdir();
        let child = Command::new(exe)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes its DevTools port to this file once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
            {
                break p;
            }
            assert!(Instant::now() < deadline, "chromium did not open its DevTools port");
            std::thread::sleep(Duration::from_millis(100));
        };
        let list = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let list: Value = serde_json::from_str(&list).unwrap();
        let page = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let ws = Ws::connect(page["webSocketDebuggerUrl"].as_str().unwrap());
        let mut b = Browser {
            child,
            _profile: profile,
            ws,
            next_id: 0,
            events: Vec::new(),
        };
        for domain in ["Page", "Runtime", "Log", "Network"] {
            b.call(&format!("{domain}.enable"), json!({}));
        }
        b
    }

    /// Sends a command and waits for its answer (events meanwhile are kept).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let msg: Value = serde_json::from_str(&self.ws.recv()).unwrap();
            if msg["id"] == id {
                assert!(msg.get("error").is_none(), "{method}: {}", msg["error"]);
                return msg["result"].clone();
            }
            self.events.push(msg);
        }
    }

    /// Evaluates an expression in the page (promises awaited) and returns its JSON value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Polls `expr` until it is truthy; its value.
    fn wait_for(&mut self, expr: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.eval(&format!(
                "(() => {{ try {{ return {expr}; }} catch (e) {{ return null; }} }})()"
            ));
            if !(v.is_null() || v == false) {
                return v;
            }
            if Instant::now() > deadline {
                let dbg = self.eval("JSON.stringify(window.__foresight || null)");
                panic!(
                    "timed out waiting for {what}; page state {dbg}; problems {:?}",
                    self.problems()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Console errors, uncaught exceptions, failed and >= 400 requests seen so far.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str().unwrap_or("") {
                "Runtime.consoleAPICalled" if p["type"] == "error" => out.push(format!("console.error {}", p["args"])),
                "Runtime.exceptionThrown" => out.push(format!("exception {}", p["exceptionDetails"])),
                "Log.entryAdded" if p["entry"]["level"] == "error" => out.push(format!("log {}", p["entry"]["text"])),
                "Network.loadingFailed" if p["canceled"] != true => out.push(format!("request failed {p}")),
                "Network.responseReceived" if p["response"]["status"].as_u64().unwrap_or(0) >= 400 => {
                    out.push(format!("HTTP {} {}", p["response"]["status"], p["response"]["url"]))
                }
                _ => {}
            }
        }
        out
    }

    fn screenshot(&mut self, dir: &Path, name: &str) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64_decode(r["data"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &v)| n | u32::from(v) << (18 - 6 * i));
        out.extend(network_order(u64::from(n), 3).take(chunk.len() - 1));
    }
    out
}

const SERIES: usize = 5;
const STEP: i64 = 30;

/// `ui_load{host=h0..h4}` every 30 s for 4 h up to `end` (a daily-ish wave, a slope, and one
/// spike in h1 for the anomaly detector), and a rule file whose alert fires on it.
fn seed(s: &TestServer, end: i64) {
    let mut body = String::new();
    let points = 4 * 3600 / STEP;
    for h in 0..SERIES {
        for k in 0..=points {
            let t = end - (points - k) * STEP;
            let x = k as f64;
            let mut v = 10.0 * (h as f64 + 1.0) + 3.0 * (x / 40.0).sin() + x * 0.01;
            if h == 1 && k == points - 30 {
                v += 60.0;
            }
            body.push_str(&format!("ui_load,host=h{h} value={v} {t}\n"));
        }
    }
    // A disk filling at a steady rate: 58 now, 70 (the forecast rule's threshold) in about 1 h.
    for k in 0..=points {
        let t = end - (points - k) * STEP;
        body.push_str(&format!("ui_disk,host=d used={} {t}\n", 10.0 + k as f64 * 0.1));
    }
    s.write("s", &body);
}

const RULES: &str = "\
groups:
- name: ui
  interval: 1s
  rules:
  - record: host:ui_load:sum
    expr: sum(ui_load_value)
  - alert: UiLoadHigh
    expr: ui_load_value > 40
    for: 0s
    labels: {severity: page}
    annotations: {summary: '{{ $labels.host }} load is {{ $value }}'}
  - alert: UiDiskWillFill
    forecast: {expr: ui_disk_used, history: 4h, horizon: 2h, step: 30s, op: '>', threshold: 70}
";

#[test]
fn the_ui_queries_forecasts_and_shows_alerts_and_status_in_chromium() {
    let Some(exe) = chromium_or_skip() else { return };
    let dir = tempdir();
    let rules = dir.path().join("ui.yml");
    std::fs::write(&rules, RULES).unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(&data, &["--rules", rules.to_str().unwrap()]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let end = now - now % STEP;
    seed(&server, end);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let mut b = Browser::launch(&exe);
    // The graph in Prometheus' URL form: 1 h ending at `end`, 30 s steps.
    let graph = |extra: &str| {
        let end_input = end.to_string();
        format!(
            "/graph?g0.expr={}&g0.tab=0&g0.range_input=1h&g0.end_input={end_input}&g0.step_input=30{extra}",
            "ui_load_value"
        )
    };
    b.navigate(&server.url(&graph("")));
    let chart = b.wait_for(
        "window.__foresight.state === 'done' && window.__foresight.chart",
        "the chart",
    );
    let per_series = (3600 / STEP + 1) as u64;
    assert_eq!(chart["series"], SERIES as u64, "{chart}");
    assert_eq!(chart["points"], SERIES as u64 * per_series, "{chart}");
    assert_eq!(chart["bands"], 0, "{chart}");
    assert_eq!(b.eval("document.querySelectorAll('.legend-row').length"), SERIES as u64);
    // The editor highlights PromQL (codemirror-promql's tokens).
    assert!(b.eval("document.querySelector('.cm-content').textContent") == "ui_load_value");
    // Clicking a legend row isolates that series.
    b.eval("document.querySelectorAll('.legend-row')[2].click()");
    assert_eq!(b.eval("window.__foresight.chart.visible"), 1);
    b.screenshot(&shots, "graph");

    // The forecast toggle: a band per series beyond the last sample, and the model on demand.
    b.eval("document.querySelector('input[name=forecast]').click()");
    let chart = b.wait_for(
        "window.__foresight.state === 'done' && window.__foresight.chart.bands > 0 && window.__foresight.chart",
        "the forecast",
    );
    assert_eq!(chart["bands"], SERIES as u64, "{chart}");
    assert!(
        chart["bandMaxX"].as_f64().unwrap() > chart["lastSampleX"].as_f64().unwrap(),
        "{chart}"
    );
    assert_eq!(chart["lastSampleX"], end, "{chart}");
    assert!(b.eval("location.search").as_str().unwrap().contains("g0.forecast=1"));
    b.eval("document.querySelector('details.models').open = true");
    assert!(
        b.eval("document.querySelectorAll('details.models tbody tr').length")
            .as_u64()
            .unwrap()
            == SERIES as u64
    );
    b.screenshot(&shots, "forecast");

    // The table tab: an instant query at the end time.
    b.navigate(&server.url(&graph("&g0.tab=1").replace("g0.tab=0&", "")));
    let table = b.wait_for(
        "window.__foresight.state === 'done' && window.__foresight.table",
        "the table",
    );
    assert_eq!(table["rows"], SERIES as u64, "{table}");

    // A parse error is shown, not thrown.
    b.navigate(&server.url("/graph?g0.expr=sum(ui_load_value&g0.range_input=1h"));
    let err = b.wait_for(
        "window.__foresight.state === 'error' && window.__foresight.error",
        "the error",
    );
    assert!(b.eval("document.querySelector('.error').hidden") == false, "{err}");
    // The server's 400 for the bad query is expected: let its log entry arrive, then forget it.
    std::thread::sleep(Duration::from_millis(500));
    b.eval("1");
    b.events.clear();

    // Alerts: wait for the rule to fire, then the page lists it with its expression linked.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get_json("/api/v1/alerts", &[]).1["data"]["alerts"]
        .as_array()
        .map_or(0, Vec::len)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the alert never fired; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.navigate(&server.url("/alerts"));
    let page = b.wait_for(
        "window.__foresight.page && window.__foresight.page.name === 'alerts' && window.__foresight.page",
        "the alerts page",
    );
    assert_eq!(page["rules"], 2, "{page}");
    assert!(page["alerts"].as_u64().unwrap() >= 1, "{page}");
    // The forecast rule's chart: its series, the forecast band, the threshold, and the predicted
    // crossing about an hour ahead (58 now, rising 12 an hour, threshold 70).
    let fc = b.wait_for(
        "window.__foresight.forecastCharts && window.__foresight.forecastCharts.UiDiskWillFill && \
         window.__foresight.forecastCharts.UiDiskWillFill.state !== 'loading' && window.__foresight.forecastCharts.UiDiskWillFill",
        "the forecast rule's chart",
    );
    assert_eq!(fc["state"], "done", "{fc}");
    assert_eq!(
        (fc["series"].as_u64(), fc["bands"].as_u64(), fc["thresholds"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{fc}"
    );
    let crossing = fc["markers"][0].as_f64().unwrap() - fc["now"].as_f64().unwrap();
    assert!((1800.0..=5400.0).contains(&crossing), "crossing in {crossing} s: {fc}");
    assert!(
        b.eval("document.querySelector('.forecast-rule .crossings').textContent")
            .as_str()
            .unwrap()
            .contains("70 crossed at")
    );
    let href = b.eval("document.querySelector('a.expr').getAttribute('href')");
    assert!(
        href.as_str().unwrap().starts_with("/graph?g0.expr=ui_load_value"),
        "{href}"
    );
    b.screenshot(&shots, "alerts");

    b.navigate(&server.url("/rules"));
    let page = b.wait_for(
        "window.__foresight.page && window.__foresight.page.name === 'rules' && window.__foresight.page",
        "the rules page",
    );
    assert_eq!(
        (page["groups"].as_u64(), page["rules"].as_u64()),
        (Some(1), Some(3)),
        "{page}"
    );
    b.screenshot(&shots, "rules");

    b.navigate(&server.url("/status"));
    let page = b.wait_for(
        "window.__foresight.page && window.__foresight.page.rates && window.__foresight.page",
        "the status page with rates",
    );
    assert!(page["topMetrics"].as_u64().unwrap() >= 2, "{page}");
    assert!(page["series"].as_u64().unwrap() > SERIES as u64, "{page}");
    b.screenshot(&shots, "status");

    // Follow mode: values arrive over /api/v1/stream.
    b.navigate(&server.url("/graph?g0.expr=ui_load_value&g0.range_input=5m&g0.step_input=1&g0.follow=1"));
    b.wait_for(
        "window.__foresight.follow && window.__foresight.follow.events >= 1",
        "a streamed value",
    );

    let problems = b.problems();
    assert!(problems.is_empty(), "the browser saw problems: {problems:#?}");
    eprintln!("UI screenshots: {}", shots.display());
}

/// With auth on, the page asks for a token once (on the first 401), keeps it for the tab, and
/// then loads; the editor completes metric names from the server (through the same token).
#[test]
fn the_ui_asks_for_a_token_once_and_completes_metric_names() {
    let Some(exe) = chromium_or_skip() else { return };
    let dir = tempdir();
    let server = TestServer::start(dir.path(), &[]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let end = now - now % STEP;
    seed(&server, end);
    // The first token turns auth on (the token file is reloaded within a second).
    let token = crate::auth::tokens(dir.path(), &["create", "--role", "read"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/api/v1/labels").status != 401 {
        assert!(Instant::now() < deadline, "auth did not turn on");
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut b = Browser::launch(&exe);
    b.navigate(&server.url(&format!(
        "/graph?g0.expr=ui_load_value&g0.range_input=1h&g0.end_input={end}&g0.step_input=30"
    )));
    b.wait_for("document.getElementById('token-dialog').open", "the token dialog");
    // Signing in retries the request that got the 401.
    b.eval(&format!(
        "document.getElementById('token-input').value = '{token}'; \
         document.querySelector('#token-dialog button').click(); true"
    ));
    let chart = b.wait_for(
        "window.__foresight.state === 'done' && window.__foresight.chart",
        "the chart after signing in",
    );
    assert_eq!(chart["series"], SERIES as u64, "{chart}");
    assert_eq!(b.eval("sessionStorage.getItem('foresight.token')"), token.as_str());
    // Another page in the same tab: no dialog, the kept token is used.
    b.navigate(&server.url("/status"));
    b.wait_for(
        "window.__foresight.page && window.__foresight.page.name === 'status'",
        "the status page",
    );
    assert_eq!(b.eval("document.getElementById('token-dialog').open"), false);

    // Autocomplete: typing the start of a metric name offers the names the server has.
    b.navigate(&server.url("/graph"));
    b.wait_for("!!document.querySelector('.cm-content')", "the editor");
    b.eval("document.querySelector('.cm-content').focus(); true");
    b.call("Input.insertText", json!({"text": "ui_lo"}));
    let offered = b.wait_for(
        "(document.querySelector('.cm-tooltip-autocomplete') || {}).textContent",
        "the completion list",
    );
    assert!(offered.as_str().unwrap().contains("ui_load_value"), "{offered}");
    // Functions are offered too.
    b.eval("document.querySelector('.cm-content').focus(); true");
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27}),
    );
    b.eval("window.getSelection().selectAllChildren(document.querySelector('.cm-content')); true");
    b.call("Input.insertText", json!({"text": "histogram_q"}));
    let offered = b.wait_for(
        "((document.querySelector('.cm-tooltip-autocomplete') || {}).textContent || '').includes('histogram_quantile') && \
         document.querySelector('.cm-tooltip-autocomplete').textContent",
        "function completion",
    );
    assert!(offered.as_str().unwrap().contains("histogram_quantile"), "{offered}");

    // The only problems are the 401s that asked for the token.
    let problems: Vec<String> = b
        .problems()
        .into_iter()
        .filter(|p| !p.starts_with("HTTP 401") && !p.contains("status of 401"))
        .collect();
    assert!(problems.is_empty(), "the browser saw problems: {problems:#?}");
}

/// The UI's figures (not a check: run by hand, `cargo test -p foresight --test e2e ui_measure --
/// --ignored --nocapture`): first contentful paint of `/`, the gzipped size of every asset, and
/// the time from fetch to drawn chart of a 24 h range of 100 series x 8,640 points (median of
/// five loads, from the page's own performance.now() stamps).
#[test]
#[ignore = "a measurement, run by hand"]
fn ui_measure() {
    let Some(exe) = chromium_or_skip() else { return };
    let dir = tempdir();
    let server = TestServer::start(dir.path(), &[]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let end = now - now % 10;
    for chunk in 0..10 {
        let mut body = String::new();
        for h in chunk * 10..chunk * 10 + 10 {
            for k in 0..8640i64 {
                let v = 100.0 + h as f64 + 20.0 * (k as f64 / 500.0 + h as f64).sin();
                body.push_str(&format!("perf,host=h{h} load={v:.3} {}\n", end - (8639 - k) * 10));
            }
        }
        server.write("s", &body);
    }

    let mut gz_total = 0usize;
    let index = server.get("/").body;
    let mut files = vec!["/".to_owned()];
    for part in index.split('"').filter(|p| p.starts_with("/assets/")) {
        files.push(part.to_owned());
    }
    for f in &files {
        let mut r = ureq::get(&server.url(f))
            .header("Accept-Encoding", "gzip")
            .call()
            .unwrap();
        assert_eq!(r.headers().get("content-encoding").unwrap(), "gzip");
        gz_total += r.body_mut().read_to_vec().unwrap().len();
    }
    eprintln!("assets gzipped: {gz_total} bytes over {} files", files.len());

    let mut b = Browser::launch(&exe);
    let mut paints = Vec::new();
    for _ in 0..5 {
        b.navigate(&server.url("/"));
        let fcp = b.wait_for(
            "performance.getEntriesByName('first-contentful-paint')[0]?.startTime",
            "the first paint",
        );
        paints.push(fcp.as_f64().unwrap());
    }
    let url = server.url(&format!(
        "/graph?g0.expr=perf_load&g0.range_input=1d&g0.end_input={end}&g0.step_input=10"
    ));
    let mut renders = Vec::new();
    let mut fetches = Vec::new();
    for _ in 0..5 {
        b.navigate(&url);
        let c = b.wait_for(
            "window.__foresight.state === 'done' && window.__foresight.chart",
            "the chart",
        );
        assert_eq!(
            (c["series"].as_u64(), c["points"].as_u64()),
            (Some(100), Some(100 * 8640)),
            "{c}"
        );
        renders.push(c["renderMs"].as_f64().unwrap());
        fetches.push(c["fetchMs"].as_f64().unwrap());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    eprintln!(
        "first contentful paint of / (ms): {paints:?}, median {:.0}",
        median(&mut paints)
    );
    eprintln!(
        "100 series x 8,640 points, fetch to drawn (ms): {renders:?}, median {:.0}; of which fetch + JSON: median {:.0}",
        median(&mut renders),
        median(&mut fetches)
    );
    assert!(b.problems().is_empty(), "{:#?}", b.problems());
}
