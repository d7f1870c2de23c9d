//! Alerting end to end: the real server with `--rules` files and a receiver on 127.0.0.1;
//! data written over HTTP takes an alert through pending, firing and resolved; the webhook and
//! a real Alertmanager (Debian's `prometheus-alertmanager`, skipped with a notice when missing)
//! get the notifications; `/api/v1/rules`, `/api/v1/alerts`, `/metrics`; reloads (good and bad,
//! `POST /-/reload` and SIGHUP); and a restart that restores `for` state.

// The receiver, Alertmanager and parsing helpers fail the test on any surprise.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{TestServer, tempdir, tool_missing};

/// An HTTP receiver on 127.0.0.1: answers 200 to every POST and keeps (path, JSON body).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
                        let mut len = 0usize;
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':')
                                && k.eq_ignore_ascii_case("content-length")
                            {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0u8; len];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        if let Ok(v) = serde_json::from_slice(&body) {
                            g.lock().unwrap().push((path, v));
                        }
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    }
                });
            }
        });
        Receiver { port, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for a message matching `f` (at most `secs`).
    fn wait_for(&self, secs: u64, what: &str, f: impl Fn(&str, &Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((_, v)) = self.got.lock().unwrap().iter().find(|(p, v)| f(p, v)) {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what}; got {:?}",
                self.got.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Polls `GET /api/v1/alerts` until `f` holds of the alert list.
fn wait_alerts(s: &TestServer, secs: u64, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, v) = s.get_json("/api/v1/alerts", &[]);
        assert_eq!(status, 200, "{v}");
        let alerts = v["data"]["alerts"].as_array().cloned().unwrap_or_default();
        if f(&alerts) {
            return alerts;
        }
        assert!(Instant::now() < deadline, "{what}: alerts are {alerts:?}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state_of(alerts: &[Value], name: &str) -> Option<String> {
    alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

const RULES: &str = "\
groups:
- name: demo
  interval: 1s
  rules:
  - record: job:temp_celsius:max
    expr: max by (job) (temp_celsius)
  - alert: Hot
    expr: job:temp_celsius:max > 50
    for: 2s
    labels: {severity: page}
    annotations: {summary: '{{ $labels.job }} is at {{ $value }} degrees'}
";

fn write_rules(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn alerts_go_pending_firing_resolved_with_webhook_apis_and_reloads() {
    let dir = tempdir();
    let rules = dir.path().join("rules.yml");
    write_rules(&rules, RULES);
    let hook = Receiver::start();
    let data = dir.path().join("data");
    let rules_arg = rules.display().to_string();
    let s = TestServer::start(
        &data,
        &[
            "--rules",
            &rules_arg,
            "--alert-webhook",
            &hook.url("/hook"),
            "--alert-resend-delay",
            "1s",
        ],
    );
    s.write("s", "temp,job=api celsius=70\n");

    let pending = wait_alerts(&s, 20, "pending", |a| state_of(a, "Hot").as_deref() == Some("pending"));
    let a = &pending[0];
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "Hot", "job": "api", "severity": "page"})
    );
    assert_eq!(a["annotations"]["summary"], "api is at 70 degrees");
    assert_eq!(a["value"], "7e+01");
    assert!(a["activeAt"].as_str().unwrap().ends_with('Z'), "{a}");
    wait_alerts(&s, 20, "firing", |a| state_of(a, "Hot").as_deref() == Some("firing"));

    let firing = hook.wait_for(10, "firing webhook message", |p, v| {
        p == "/hook" && v["status"] == "firing"
    });
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["receiver"], "foresight");
    assert_eq!(firing["groupKey"], "{}:{alertname=\"Hot\"}");
    assert_eq!(firing["groupLabels"], serde_json::json!({"alertname": "Hot"}));
    assert_eq!(firing["commonLabels"]["severity"], "page");
    let fa = &firing["alerts"][0];
    assert_eq!(fa["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(fa["fingerprint"].as_str().unwrap().len(), 16);
    assert!(
        fa["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr=job%3Atemp_celsius%3Amax+%3E+50"),
        "{fa}"
    );

    // The rules API, Prometheus' shape.
    let (status, v) = s.get_json("/api/v1/rules", &[]);
    assert_eq!(status, 200);
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "demo");
    assert_eq!(g["file"], rules_arg.as_str());
    assert_eq!((g["interval"].as_f64(), g["limit"].as_u64()), (Some(1.0), Some(0)));
    let rec = &g["rules"][0];
    assert_eq!(
        (&rec["type"], &rec["health"], &rec["name"]),
        (&"recording".into(), &"ok".into(), &"job:temp_celsius:max".into())
    );
    assert!(rec.get("labels").is_none(), "empty labels are left out: {rec}");
    let al = &g["rules"][1];
    assert_eq!(al["type"], "alerting");
    assert_eq!(al["state"], "firing");
    assert_eq!(al["duration"], 2.0);
    assert_eq!(al["keepFiringFor"], 0.0);
    assert_eq!(al["query"], "job:temp_celsius:max > 50");
    assert_eq!(al["alerts"][0]["state"], "firing");
    for key in ["evaluationTime", "lastEvaluation"] {
        assert!(al.get(key).is_some() && g.get(key).is_some(), "{key}: {g}");
    }
    let (_, only_rec) = s.get_json("/api/v1/rules", &[("type", "record")]);
    assert_eq!(only_rec["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let (_, none) = s.get_json("/api/v1/rules", &[("rule_name[]", "Nope")]);
    assert_eq!(none["data"]["groups"], serde_json::json!([]));
    let (_, by_group) = s.get_json("/api/v1/rules", &[("rule_group[]", "demo"), ("rule_name[]", "Hot")]);
    assert_eq!(by_group["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let (status, bad) = s.get_json("/api/v1/rules", &[("type", "nope")]);
    assert_eq!((status, &bad["errorType"]), (400, &"bad_data".into()));

    // Recording results and ALERTS are series.
    let (_, q) = s.get_json("/api/v1/query", &[("query", "ALERTS")]);
    let r = &q["data"]["result"][0];
    assert_eq!(r["metric"]["alertstate"], "firing", "{q}");
    let (_, q) = s.get_json("/api/v1/query", &[("query", "job:temp_celsius:max")]);
    assert_eq!(q["data"]["result"][0]["value"][1], "70", "{q}");
    let (_, q) = s.get_json("/api/v1/query", &[("query", "ALERTS_FOR_STATE")]);
    assert_eq!(q["data"]["result"].as_array().unwrap().len(), 1, "{q}");

    let metrics = s.get("/metrics").body;
    let group_label = format!("{{rule_group=\"{rules_arg};demo\"}}");
    assert!(
        metrics.contains(&format!("foresight_rule_evaluations_total{group_label}")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("foresight_rule_group_interval_seconds{group_label} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains("foresight_notifications_sent_total{alertmanager=\""),
        "{metrics}"
    );

    // Cool down: resolved, and the webhook hears it.
    s.write("s", "temp,job=api celsius=20\n");
    wait_alerts(&s, 20, "resolved", |a| a.is_empty());
    let resolved = hook.wait_for(10, "resolved webhook message", |_, v| v["status"] == "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let (_, q) = s.get_json("/api/v1/query", &[("query", "ALERTS")]);
    assert_eq!(
        q["data"]["result"],
        serde_json::json!([]),
        "stale markers end ALERTS: {q}"
    );

    // A bad file: the reload fails with the position, the old rules stay.
    write_rules(&rules, &RULES.replace("for: 2s", "for: 2s\n    lables: {}"));
    let r = s.post("/-/reload", b"", &[]);
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("unknown field `lables`") && r.body.contains("rules.yml:"),
        "{}",
        r.body
    );
    let (_, v) = s.get_json("/api/v1/rules", &[]);
    assert_eq!(v["data"]["groups"][0]["rules"].as_array().unwrap().len(), 2);
    assert!(
        s.get("/metrics")
            .body
            .contains("foresight_rules_last_reload_successful 0")
    );

    // A good one, by POST and then by SIGHUP.
    write_rules(&rules, &format!("{RULES}  - record: two\n    expr: vector(2)\n"));
    let r = s.post("/-/reload", b"", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, v) = s.get_json("/api/v1/rules", &[]);
    assert_eq!(v["data"]["groups"][0]["rules"][2]["name"], "two");
    write_rules(&rules, &format!("{RULES}  - record: three\n    expr: vector(3)\n"));
    s.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = s.get_json("/api/v1/rules", &[]);
        if v["data"]["groups"][0]["rules"][2]["name"] == "three" {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.stop();
}

#[test]
fn a_restart_restores_for_state() {
    let dir = tempdir();
    let rules = dir.path().join("rules.yml");
    write_rules(
        &rules,
        "groups:\n- name: slow\n  interval: 1s\n  rules:\n  - alert: Slow\n    expr: lat_value > 1\n    for: 1h\n",
    );
    let data = dir.path().join("data");
    let rules_arg = rules.display().to_string();
    let args = ["--rules", &rules_arg, "--alert-for-grace-period", "1s"];
    let s = TestServer::start(&data, &args);
    s.write("s", "lat value=5\n");
    let pending = wait_alerts(&s, 20, "pending", |a| state_of(a, "Slow").as_deref() == Some("pending"));
    let active_at = pending[0]["activeAt"].as_str().unwrap().to_owned();
    // Let evaluations write ALERTS_FOR_STATE for a while, then restart.
    std::thread::sleep(Duration::from_secs(6));
    s.stop();
    let restarted = std::time::SystemTime::now();
    let s = TestServer::start(&data, &args);
    // Restored: activeAt is the old one moved by the downtime, so seconds before the restart
    // (a fresh alert would be active from the restart on).
    let restart_secs = restarted.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let alerts = wait_alerts(&s, 20, "restored", |a| {
        a.first()
            .and_then(|a| a["activeAt"].as_str())
            .is_some_and(|t| rfc3339_secs(t) < restart_secs - 2.0)
    });
    assert_eq!(alerts[0]["state"], "pending", "{active_at} {alerts:?}");
    assert!(s.log().contains("restored `for` state"), "{}", s.log());
    s.stop();
}

/// Seconds of `2026-12-07T14:37:23.12Z`.
fn rfc3339_secs(s: &str) -> f64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// Alertmanager 0.25 (Debian's `prometheus-alertmanager`) on 127.0.0.1, stopped on drop.
struct Alertmanager {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alertmanager_binary() -> Option<&'static str> {
    ["prometheus-alertmanager", "alertmanager"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn start_alertmanager(bin: &str, webhook: &str) -> Alertmanager {
    let dir = tempdir();
    let config = dir.path().join("am.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: {webhook}\n    send_resolved: true\n"
        ),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let am = Alertmanager { child, port, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = ureq::get(&format!("http://127.0.0.1:{port}/-/ready"))
            .call()
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return am;
        }
        assert!(Instant::now() < deadline, "Alertmanager did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_real_alertmanager_receives_the_alerts() {
    let Some(bin) = alertmanager_binary() else {
        tool_missing("Alertmanager not found (apt-get install prometheus-alertmanager)");
        return;
    };
    let hook = Receiver::start();
    let am = start_alertmanager(bin, &hook.url("/from-am"));
    let dir = tempdir();
    let rules = dir.path().join("rules.yml");
    write_rules(&rules, RULES);
    let rules_arg = rules.display().to_string();
    let am_url = format!("http://127.0.0.1:{}", am.port);
    let s = TestServer::start(
        &dir.path().join("data"),
        &["--rules", &rules_arg, "--alertmanager-url", &am_url],
    );
    s.write("s", "temp,job=api celsius=70\n");
    wait_alerts(&s, 20, "firing", |a| state_of(a, "Hot").as_deref() == Some("firing"));

    // Alertmanager holds it, with our labels, annotations and generator URL.
    let deadline = Instant::now() + Duration::from_secs(15);
    let alert = loop {
        let body = ureq::get(&format!("{am_url}/api/v2/alerts"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        if let Some(a) = v.as_array().and_then(|a| a.first()) {
            break a.clone();
        }
        assert!(Instant::now() < deadline, "Alertmanager has no alert\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["labels"]["alertname"], "Hot");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "api is at 70 degrees");
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["generatorURL"].as_str().unwrap().contains("/graph?g0.expr="),
        "{alert}"
    );
    // endsAt = startsAt-ish + 4 x max(interval 1s, resend delay 1m): about 4 minutes ahead.
    let ends = rfc3339_secs(alert["endsAt"].as_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (ends - now - 240.0).abs() < 30.0,
        "endsAt {} is not now + 4m",
        alert["endsAt"]
    );

    // And it routes it to its receiver, as Alertmanager's own webhook message.
    let msg = hook.wait_for(15, "Alertmanager's webhook", |p, v| {
        p == "/from-am" && v["status"] == "firing"
    });
    assert_eq!(msg["version"], "4");
    assert_eq!(msg["alerts"][0]["labels"]["alertname"], "Hot");

    // Resolved reaches Alertmanager too.
    s.write("s", "temp,job=api celsius=20\n");
    hook.wait_for(20, "resolved via Alertmanager", |p, v| {
        p == "/from-am" && v["status"] == "resolved"
    });
    let metrics = s.get("/metrics").body;
    let sent = format!("foresight_notifications_sent_total{{alertmanager=\"{am_url}/api/v2/alerts\"}} ");
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&sent))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line[sent.len()..].parse::<f64>().unwrap() >= 2.0, "{line}");
    s.stop();
}

/// A forecast rule fires while every stored value is still far from the threshold: the series
/// falls by 1 a second from 1000 and stands at about 400 now, so it would reach 0 in about
/// 400 s, inside the 30 min horizon.
#[test]
fn a_forecast_rule_fires_before_the_threshold_is_crossed() {
    let dir = tempdir();
    let rules = dir.path().join("predict.yml");
    write_rules(
        &rules,
        "groups:\n- name: predict\n  interval: 1s\n  rules:\n  - alert: DiskWillFill\n    forecast:\n      \
         expr: disk_free\n      history: 10m\n      horizon: 30m\n      op: \"<\"\n      threshold: 0\n    \
         for: 2s\n    annotations:\n      summary: 'fills in {{ $eta }} ({{ $value }} predicted)'\n",
    );
    let s = TestServer::start(dir.path(), &["--rules", rules.to_str().unwrap()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body: String = (0..=60)
        .map(|i| {
            let t = now - 600 + i * 10;
            format!("disk,host=a free={} {t}\n", 1000 - i * 10)
        })
        .collect();
    s.write("s", &body);
    let alerts = wait_alerts(&s, 60, "a firing forecast alert", |a| {
        state_of(a, "DiskWillFill").as_deref() == Some("firing")
    });
    let a = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "DiskWillFill")
        .unwrap();
    let summary = a["annotations"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("fills in ") && summary.contains('m'), "{summary}");
    // What the rule saw is stored: the time to the crossing, about 400 s from the last sample.
    let (_, v) = s.get_json("/api/v1/query", &[("query", "foresight_rule_forecast_eta_seconds")]);
    let eta = crate::harness::num(&v["data"]["result"][0]["value"][1]);
    assert!((200.0..=700.0).contains(&eta), "eta {eta}: {v}");
    // Every stored value is far above the threshold.
    let (_, v) = s.get_json("/api/v1/query", &[("query", "min_over_time(disk_free[15m])")]);
    assert!(crate::harness::num(&v["data"]["result"][0]["value"][1]) >= 400.0, "{v}");
    s.stop();
}

/// `lat` of one host at grid step `i` (10 s apart): a 10-minute cycle plus a small
/// deterministic wiggle.
fn seasonal(i: i64, host: u64) -> f64 {
    let phase = std::f64::consts::TAU * (i % 60) as f64 / 60.0;
    let wiggle = ((i as u64 * 7919 + host * 104_729) % 17) as f64 / 8.0 - 1.0;
    100.0 + 20.0 * phase.sin() + wiggle
}

#[test]
fn an_anomaly_rule_fires_on_a_spike_in_a_seasonal_series_not_on_noise() {
    let dir = tempdir();
    let rules = dir.path().join("anomaly.yml");
    write_rules(
        &rules,
        "groups:\n- name: odd\n  interval: 1s\n  rules:\n  - alert: LatencySpike\n    anomaly:\n      \
         expr: lat_v\n      history: 2h\n      step: 10s\n      direction: above\n      min_deviation: 10\n    \
         labels: {severity: page}\n    annotations:\n      \
         summary: '{{ $externalLabels.dc }} {{ $externalURL }}: {{ $value }} expected {{ $expected | printf \"%.0f\" }}'\n",
    );
    let hook = Receiver::start();
    let rules_arg = rules.display().to_string();
    let hook_url = hook.url("/hook");
    let s = TestServer::start(
        dir.path(),
        &[
            "--rules",
            &rules_arg,
            "--alert-webhook",
            &hook_url,
            "--external-url",
            "http://alerts.example:9999/fs/",
            "--external-label",
            "dc=eu-1",
            "--external-label",
            "host=from-the-server",
        ],
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    // Two hours of both hosts, the last point at the last 10 s boundary.
    let last = now() / 10 * 10;
    let body: String = (0..720)
        .flat_map(|i| {
            let t = last - (719 - i) * 10;
            [
                format!("lat,host=spiky v={} {t}\n", seasonal(t / 10, 1)),
                format!("lat,host=calm v={} {t}\n", seasonal(t / 10, 2)),
            ]
        })
        .collect();
    s.write("s", &body);
    // Both series are scored (what the rule saw is stored), and noise alone fires nothing.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = s.get_json("/api/v1/query", &[("query", "foresight_rule_anomaly_score")]);
        if v["data"]["result"].as_array().is_some_and(|r| r.len() == 2) {
            break;
        }
        if Instant::now() >= deadline {
            let (_, rules) = s.get_json("/api/v1/rules", &[]);
            let (_, lat) = s.get_json("/api/v1/query", &[("query", "count_over_time(lat_v[3h])")]);
            panic!("no scores: {v}\nrules: {rules}\nlat: {lat}\n{}", s.log());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (_, v) = s.get_json("/api/v1/alerts", &[]);
    assert_eq!(v["data"]["alerts"], serde_json::json!([]), "noise fired");
    // The next point of `spiky` jumps 80 above its cycle; `calm` goes on as before.
    while now() / 10 * 10 <= last {
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = now() / 10 * 10;
    let spike = seasonal(t / 10, 1) + 80.0;
    s.write(
        "s",
        &format!(
            "lat,host=spiky v={spike} {t}\nlat,host=calm v={} {t}\n",
            seasonal(t / 10, 2)
        ),
    );
    let alerts = wait_alerts(&s, 30, "a firing anomaly alert", |a| {
        state_of(a, "LatencySpike").as_deref() == Some("firing")
    });
    let mine: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "LatencySpike")
        .collect();
    assert_eq!(mine.len(), 1, "{alerts:?}");
    assert_eq!(mine[0]["labels"]["host"], "spiky");
    let summary = mine[0]["annotations"]["summary"].as_str().unwrap();
    let want = format!("eu-1 http://alerts.example:9999/fs: {spike} expected ");
    assert!(summary.starts_with(&want), "{summary} / {want}");
    // The webhook gets the external labels (the alert's own `host` wins) and a generatorURL
    // under the external URL.
    let msg = hook.wait_for(20, "the anomaly alert", |p, v| {
        p == "/hook" && v["groupLabels"]["alertname"] == "LatencySpike"
    });
    let a = &msg["alerts"][0];
    assert_eq!(a["labels"]["dc"], "eu-1");
    assert_eq!(a["labels"]["host"], "spiky");
    assert_eq!(msg["externalURL"], "http://alerts.example:9999/fs");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://alerts.example:9999/fs/graph?g0.expr=lat"),
        "{a}"
    );
    // `calm` never fired: no ALERTS series of it.
    let (_, v) = s.get_json(
        "/api/v1/query",
        &[(
            "query",
            "count_over_time(ALERTS{alertname=\"LatencySpike\",host=\"calm\"}[10m])",
        )],
    );
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");
    s.stop();
}

#[test]
fn rules_backtest_replays_stored_history_and_shows_the_forecast_lead() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let s = TestServer::start(&data, &[]);
    // `free` falls by 10 a minute from 1000 (below 100 from minute 91), then is back at 1000
    // from minute 120; written as history ending two hours ago.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 60
        * 60
        - 4 * 3600;
    let v = |m: i64| if m < 120 { 1000 - 10 * m } else { 1000 };
    let body: String = (0..=150)
        .map(|m| format!("disk,host=a free={} {}\n", v(m), start + m * 60))
        .collect();
    s.write("s", &body);
    s.stop();
    let rules = dir.path().join("b.yml");
    write_rules(
        &rules,
        "groups:\n- name: b\n  interval: 1m\n  rules:\n  - alert: Low\n    expr: disk_free < 100\n  \
         - alert: WillBeLow\n    forecast: {expr: disk_free, history: 1h, horizon: 30m, op: '<', threshold: 100}\n",
    );
    let (from, to) = ((start + 30 * 60).to_string(), (start + 150 * 60).to_string());
    let backtest = |from: &str, to: &str| {
        crate::harness::foresight(&[
            "--data-dir",
            data.to_str().unwrap(),
            "rules",
            "backtest",
            rules.to_str().unwrap(),
            "--from",
            from,
            "--to",
            to,
        ])
    };
    let (code, out, err) = backtest(&from, &to);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    let find = |what: &str, name: &str| {
        lines
            .iter()
            .find(|l| l.contains(what) && l.contains(&format!("  {name}{{")))
            .copied()
    };
    // The threshold rule: pending (and firing, `for` 0) at minute 91, resolved at 120.
    let low = find("firing", "Low").unwrap_or_else(|| panic!("{out}"));
    assert!(low.contains("host=\"a\""), "{low}");
    assert!(find("resolved", "Low").is_some(), "{out}");
    // The forecast rule fires earlier, and says when the crossing came and how much later.
    let will = find("firing", "WillBeLow").unwrap_or_else(|| panic!("{out}"));
    assert!(will.contains("crossed at "), "{will}");
    assert!(will.contains("later)"), "{will}");
    let time = |l: &str| l.split_whitespace().next().unwrap().to_owned();
    assert!(time(will) < time(low), "{will}\n{low}");
    assert!(
        out.lines().last().unwrap().starts_with("121 evaluations from "),
        "{out}"
    );
    // A bad range is a clear error.
    let (code, _, err) = backtest(&to, &from);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("before --from"), "{err}");
}
