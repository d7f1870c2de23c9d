//! Authentication end to end: tokens made by `foresight tokens create` while the server runs,
//! every route against every credential, live revocation, the failure limit, and the real clients
//! (curl, the InfluxDB Python clients, promtool) with tokens.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, tempdir, tool_missing};
use crate::promtool::promtool_present;

/// `foresight --data-dir DIR tokens ARGS...`: its standard output, trimmed.
pub(crate) fn tokens(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .arg("--data-dir")
        .arg(dir)
        .arg("tokens")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tokens {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Waits (bounded) until `GET path` with `auth` answers `status`: the server reloads the token
/// file within a second.
fn wait_for_status(s: &TestServer, path: &str, auth: Option<&str>, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = get(s, path, auth).status;
        if got == status {
            return;
        }
        assert!(Instant::now() < deadline, "{path} still answers {got}, not {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get(s: &TestServer, path: &str, auth: Option<&str>) -> crate::harness::Resp {
    request(s, "GET", path, b"", auth)
}

fn request(s: &TestServer, method: &str, path: &str, body: &[u8], auth: Option<&str>) -> crate::harness::Resp {
    let mut headers = Vec::new();
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    if method == "GET" {
        s.get_with_headers(path, &headers)
    } else {
        s.post(path, body, &headers)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Nothing,
    Read,
    Write,
    Admin,
}

/// Every route: method, path and query, body, what it needs.
const ROUTES: &[(&str, &str, &str, Needs)] = &[
    ("GET", "/-/healthy", "", Needs::Nothing),
    ("GET", "/-/ready", "", Needs::Nothing),
    ("GET", "/ping", "", Needs::Nothing),
    ("GET", "/health", "", Needs::Nothing),
    ("GET", "/", "", Needs::Nothing),
    (
        "GET",
        "/api/v1/query?query=cpu_usage_user&time=1700000020",
        "",
        Needs::Read,
    ),
    (
        "GET",
        "/api/v1/query_range?query=cpu_usage_user&start=1700000000&end=1700000020&step=10",
        "",
        Needs::Read,
    ),
    ("GET", "/api/v1/series?match[]=cpu_usage_user", "", Needs::Read),
    ("GET", "/api/v1/labels", "", Needs::Read),
    ("GET", "/api/v1/label/host/values", "", Needs::Read),
    ("GET", "/api/v1/metadata", "", Needs::Read),
    ("GET", "/api/v1/query_exemplars", "", Needs::Read),
    ("GET", "/api/v1/status/buildinfo", "", Needs::Read),
    (
        "GET",
        "/api/v1/forecast?query=cpu_usage_user&start=1700000000&end=1700000020&step=10&horizon=2",
        "",
        Needs::Read,
    ),
    (
        "GET",
        "/api/v1/anomalies?query=cpu_usage_user&start=1700000000&end=1700000020&step=10",
        "",
        Needs::Read,
    ),
    (
        "GET",
        "/api/v1/correlate?target=cpu_usage_user%7Bhost%3D%22a%22%7D&candidates=cpu_usage_system&start=1700000000&end=1700000020&step=10",
        "",
        Needs::Read,
    ),
    ("GET", "/api/v1/rules", "", Needs::Read),
    ("GET", "/api/v1/alerts", "", Needs::Read),
    ("POST", "/api/v1/read", "", Needs::Read),
    ("GET", "/metrics", "", Needs::Read),
    ("POST", "/write?precision=s", "authm v=1 1700000000", Needs::Write),
    (
        "POST",
        "/api/v2/write?org=o&bucket=b&precision=s",
        "authm v=2 1700000000",
        Needs::Write,
    ),
    ("POST", "/api/v1/write", "", Needs::Write),
    ("POST", "/api/v1/admin/flush", "", Needs::Admin),
    ("POST", "/-/reload", "", Needs::Admin),
];

/// Every route x {no token, bad token, read, write, admin}: public routes answer everyone;
/// otherwise no or a bad credential is 401 with `WWW-Authenticate`, a token without the role 403,
/// and a token with it reaches the handler (whatever that answers of the request itself).
#[test]
fn every_route_against_every_credential() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &["--max-auth-failures", "1000"]);
    s.write("s", crate::FIXTURE);
    assert_eq!(get(&s, "/api/v1/labels", None).status, 200, "no token file: open");
    let read = tokens(dir.path(), &["create", "--role", "read", "--name", "r"]);
    let write = tokens(dir.path(), &["create", "--role", "write"]);
    let admin = tokens(dir.path(), &["create", "--role", "admin", "--expires", "1d"]);
    assert!(read.starts_with("fst_") && read.len() == 68, "{read}");
    wait_for_status(&s, "/api/v1/labels", None, 401);

    let bearer = |t: &str| format!("Bearer {t}");
    let creds: [(&str, Option<String>, Option<Needs>); 5] = [
        ("none", None, None),
        ("bad", Some(bearer("fst_0000")), None),
        ("read", Some(bearer(&read)), Some(Needs::Read)),
        ("write", Some(format!("Token {write}")), Some(Needs::Write)),
        ("admin", Some(bearer(&admin)), Some(Needs::Admin)),
    ];
    let mut failures = Vec::new();
    for (method, path, body, needs) in ROUTES {
        for (who, auth, role) in &creds {
            let r = request(&s, method, path, body.as_bytes(), auth.as_deref());
            let allowed = *needs == Needs::Nothing || *role == Some(Needs::Admin) || *role == Some(*needs);
            let ok = match (allowed, role) {
                (true, _) => r.status != 401 && r.status != 403 && r.status < 500,
                (false, None) => {
                    r.status == 401
                        && r.header("www-authenticate")
                            .is_some_and(|h| h.contains("Bearer") && h.contains("Basic"))
                }
                (false, Some(_)) => r.status == 403,
            };
            if !ok {
                failures.push(format!("{method} {path} as {who}: {} {}", r.status, r.body));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The envelopes: Prometheus' on the query API, InfluxDB's on its write API.
    let r = get(&s, "/api/v1/labels", Some(&bearer(&write)));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["errorType"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let r = request(&s, "POST", "/api/v2/write?bucket=b", b"m v=1", Some(&bearer(&read)));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!((r.status, v["code"].as_str()), (403, Some("forbidden")));

    // The failures are counted.
    let m = get(&s, "/metrics", Some(&bearer(&admin))).body;
    let invalid = m
        .lines()
        .find_map(|l| l.strip_prefix("foresight_auth_failures_total{reason=\"invalid\"} "))
        .unwrap();
    assert_eq!(
        invalid.parse::<usize>().unwrap(),
        ROUTES.iter().filter(|r| r.3 != Needs::Nothing).count()
    );

    // Revoked: refused within a second or so, without a restart.
    assert!(tokens(dir.path(), &["list"]).contains(" r "));
    tokens(dir.path(), &["revoke", "r"]);
    wait_for_status(&s, "/api/v1/labels", Some(&bearer(&read)), 401);
    assert_eq!(get(&s, "/api/v1/labels", Some(&bearer(&admin))).status, 200);
    s.stop();
}

/// Past `max-auth-failures` wrong tokens, a client IP gets 429 with `Retry-After`, even with a
/// right token, until its bucket refills.
#[test]
fn repeated_failures_are_limited() {
    let dir = tempdir();
    let admin = tokens(dir.path(), &["create", "--role", "admin"]);
    let s = TestServer::start(dir.path(), &["--max-auth-failures", "3"]);
    for _ in 0..3 {
        assert_eq!(get(&s, "/api/v1/labels", Some("Bearer fst_guess")).status, 401);
    }
    let r = get(&s, "/api/v1/labels", Some("Bearer fst_guess"));
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().unwrap() >= 1));
    assert_eq!(get(&s, "/api/v1/labels", Some(&format!("Bearer {admin}"))).status, 429);
    // A missing token is no guess: it is not limited beyond the 401.
    wait_for_status(&s, "/api/v1/labels", Some(&format!("Bearer {admin}")), 200);
    s.stop();
}

/// `--auth off` is refused on a non-loopback address; `--auth required` refuses requests before
/// any token exists.
#[test]
fn auth_modes() {
    let dir = tempdir();
    let out = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0", "--auth", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let s = TestServer::start(dir.path(), &["--auth", "required"]);
    assert_eq!(get(&s, "/api/v1/labels", None).status, 401);
    assert_eq!(get(&s, "/-/healthy", None).status, 200);
    s.stop();
    let admin = tokens(dir.path(), &["create", "--role", "admin"]);
    let s = TestServer::start(dir.path(), &["--auth", "off"]);
    assert_eq!(get(&s, "/api/v1/labels", None).status, 200, "off: open despite {admin}");
    s.stop();
}

/// The clients people use, unchanged, with tokens: curl (Bearer), the InfluxDB 2.x Python client
/// (`Token`), the 1.x one (username and password: Basic and `?u=&p=`), promtool with an http
/// config file (Bearer and Basic).
#[test]
fn real_clients_with_tokens() {
    let dir = tempdir();
    let read = tokens(dir.path(), &["create", "--role", "read"]);
    let write = tokens(dir.path(), &["create", "--role", "write"]);
    let s = TestServer::start(dir.path(), &[]);
    let url = format!("http://{}", s.addr);

    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if let Ok(code) = curl(&[
        "-H",
        &format!("Authorization: Bearer {write}"),
        "--data-binary",
        "curl_m v=1 1700000000",
        &format!("{url}/write?precision=s"),
    ]) {
        assert_eq!(code, "204");
        assert_eq!(curl(&[&format!("{url}/api/v1/labels")]).unwrap(), "401");
        let code = curl(&["-u", &format!("me:{read}"), &format!("{url}/api/v1/labels")]).unwrap();
        assert_eq!(code, "200");
    } else {
        tool_missing("curl not found");
    }

    let python = Command::new("python3")
        .args(["-c", "import influxdb_client, influxdb"])
        .status();
    if python.is_ok_and(|st| st.success()) {
        let script = r#"
import sys
from influxdb import InfluxDBClient as V1
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
url, host, port, write, read = sys.argv[1:6]
with InfluxDBClient(url=url, token=write, org="o") as c:
    c.write_api(write_options=SYNCHRONOUS).write(bucket="b", record="py_tok,src=v2 v=1 1700000000", write_precision="s")
try:
    with InfluxDBClient(url=url, token=read, org="o") as c:
        c.write_api(write_options=SYNCHRONOUS).write(bucket="b", record="py_tok,src=ro v=1 1700000000", write_precision="s")
    raise SystemExit("a read token wrote")
except ApiException as e:
    assert e.status == 403, e.status
V1(host=host, port=int(port), username="telegraf", password=write, database="db").write_points(
    ["py_tok,src=v1 v=2 1700000000"], time_precision="s", protocol="line")
print("python clients ok")
"#;
        let out = Command::new("python3")
            .args([
                "-c",
                script,
                &url,
                &s.addr.ip().to_string(),
                &s.addr.port().to_string(),
                &write,
                &read,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // `?u=&p=` as 1.x clients without Basic send it.
        let r = s.post(
            &format!("/write?precision=s&u=x&p={write}"),
            b"py_tok,src=up v=3 1700000000",
            &[],
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let r = s.get_with_headers(
            "/api/v1/series?match[]=py_tok_v",
            &[("Authorization", &format!("Bearer {read}"))],
        );
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 3, "{v}");
    } else {
        tool_missing("python3 with influxdb-client and influxdb not found (pip install influxdb-client influxdb)");
    }

    if promtool_present() {
        // promtool >= 2.43 reads an http config file; older ones (Debian 12's 2.42) take Basic
        // credentials in the URL, which Go's HTTP client sends as `Authorization: Basic`.
        let help = Command::new("promtool")
            .args(["query", "instant", "--help"])
            .output()
            .unwrap();
        let has_config = String::from_utf8_lossy(&help.stdout).contains("http.config.file")
            || String::from_utf8_lossy(&help.stderr).contains("http.config.file");
        let mut runs: Vec<Vec<String>> = Vec::new();
        if has_config {
            for (i, cfg) in [
                format!("authorization:\n  credentials: {read}\n"),
                format!("basic_auth:\n  username: grafana\n  password: {read}\n"),
            ]
            .iter()
            .enumerate()
            {
                let file = dir.path().join(format!("http{i}.yml"));
                std::fs::write(&file, cfg).unwrap();
                runs.push(vec![format!("--http.config.file={}", file.display()), url.clone()]);
            }
        }
        runs.push(vec![format!("http://grafana:{read}@{}", s.addr)]);
        for run in runs {
            let out = Command::new("promtool")
                .args(["query", "instant", "--time", "1700000000"])
                .args(&run)
                .arg("py_tok_v")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("py_tok_v") && stdout.contains("src=\"v1\""),
                "promtool {run:?}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = Command::new("promtool")
            .args(["query", "instant", &url, "up"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "promtool without credentials must fail");
    } else {
        tool_missing("promtool not found (apt-get install prometheus)");
    }
    s.stop();
}

/// `foresight bench --token` drives a server with authentication on: with an admin token the
/// load, the queries and the read-back all pass; without one the first write fails with the
/// server's 401 and the bench exits 1.
#[test]
fn bench_with_a_token_loads_a_server_with_authentication_on() {
    let dir = tempdir();
    let out = tempdir();
    let admin = tokens(dir.path(), &["create", "--role", "admin"]);
    let s = TestServer::start(dir.path(), &[]);
    let bench = |token: Option<&str>| {
        let report = out.path().join("bench-report.json");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_foresight"));
        cmd.args(["bench", "--target", &s.url(""), "--hosts", "3", "--fields", "2"])
            .args([
                "--duration",
                "30m",
                "--writers",
                "1",
                "--query-reps",
                "1",
                "--stop-on-error",
            ])
            .arg("--report")
            .arg(&report);
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        let o = cmd.output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, stdout) = bench(Some(&admin));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("stored cpu samples 1080 of 1080: ok"), "{stdout}");
    assert!(stdout.contains("q1-max-1host-1h"), "{stdout}");
    let (code, stdout) = bench(None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("HTTP 401"), "{stdout}");
    // Still recognised as foresight (by `/ping`, which needs no token), not as InfluxDB.
    assert!(
        stdout.contains("foresight") && !stdout.contains("(influxdb)"),
        "{stdout}"
    );
    s.stop();
}
