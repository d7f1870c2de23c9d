//! `foresight import` of a gzipped OpenMetrics file and a plain CSV file into a data directory,
//! then read back by `foresight serve` on that directory.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::harness::{TestServer, foresight, gzip, tempdir};

const OPENMETRICS: &str = r#"# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a \"b\""} 10 1700000000
http_requests_total{code="200",path="/a \"b\""} 25 1700000010
http_requests_total{code="200",path="/a \"b\""} 45.5 1700000020
http_requests_total{code="200" 1 1700000020
# EOF
"#;

const CSV: &str = "\
time,host,cpu,mem
2023-11-14T22:13:20Z,a,1.5,100
1700000010,\"a\",2.5,
1700000020,a,x,300
";

/// Runs `foresight --data-dir DIR import ARGS...`: (exit code, stdout, stderr).
fn import(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = dir.to_str().unwrap();
    foresight(&[&["--data-dir", dir, "import"], args].concat())
}

/// The `[t, "v"]` pairs of the first series of a query_range answer.
fn values(s: &TestServer, query: &str) -> Vec<(i64, String)> {
    let r = s.get_params(
        "/api/v1/query_range",
        &[
            ("query", query),
            ("start", "1700000000"),
            ("end", "1700000020"),
            ("step", "10"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    body["data"]["result"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {}", r.body))
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn gzipped_openmetrics_and_plain_csv_are_served_after_import() {
    let dir = tempdir();
    let files = tempdir();
    // The name says nothing of gzip: the magic bytes do.
    let om = files.path().join("requests.prom");
    std::fs::write(&om, gzip(OPENMETRICS.as_bytes())).unwrap();
    let csv = files.path().join("hosts.csv");
    std::fs::write(&csv, CSV).unwrap();

    let (code, stdout, stderr) = import(dir.path(), &[om.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.starts_with("imported 3 samples from 4 lines"), "{stdout}");
    assert!(
        stderr.contains(&format!("{}:6: expected ',' or '}}' at column 32", om.display())),
        "{stderr}"
    );
    let args = [
        "--value-columns",
        "cpu,mem",
        "--label-columns",
        "host",
        "--metric",
        "node",
    ];
    let (code, stdout, stderr) = import(dir.path(), &[&args[..], &[csv.to_str().unwrap(), "--flush"]].concat());
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.starts_with("imported 3 samples from 3 lines"), "{stdout}");
    assert!(stderr.contains(":4: invalid value \"x\" in column 3"), "{stderr}");

    let s = TestServer::start(dir.path(), &[]);
    let v = |t: i64, x: &str| (t, x.to_owned());
    assert_eq!(
        values(&s, r#"http_requests_total{path="/a \"b\""}"#),
        [v(1700000000, "10"), v(1700000010, "25"), v(1700000020, "45.5")]
    );
    assert_eq!(
        values(&s, r#"node_cpu{host="a"}"#),
        [v(1700000000, "1.5"), v(1700000010, "2.5"), v(1700000020, "2.5")]
    );
    assert_eq!(
        values(&s, "node_mem"),
        [v(1700000000, "100"), v(1700000010, "100"), v(1700000020, "100")]
    );
    s.stop();
}

/// An import killed part way (SIGKILL while it reads standard input) leaves a directory that opens
/// cleanly with a subset of the data; running the import again gives exactly the file's data (last
/// write wins makes it idempotent).
#[test]
fn a_killed_import_is_run_again() {
    use std::io::Write;
    let dir = tempdir();
    let files = tempdir();
    // 100 series x 3,000 points at 10 s, series after series (an export's order): ~16 MB.
    let (series, points, t0) = (100i64, 3000i64, 1_700_000_000i64);
    let mut body = String::new();
    for s in 0..series {
        for i in 0..points {
            body.push_str(&format!(
                "imp,series=s{s:02},pad=abcdefghij v={} {}\n",
                s * 10_000 + i,
                t0 + i * 10
            ));
        }
    }
    let path = files.path().join("history.lp");
    std::fs::write(&path, &body).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_foresight"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["import", "--precision", "s", "-"])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // More than two 4 MiB chunks, then kill it while it waits for the rest.
    let mut stdin = child.stdin.take().unwrap();
    assert!(body.len() > 12 << 20, "{} bytes", body.len());
    stdin.write_all(&body.as_bytes()[..10 << 20]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);

    let end = (t0 + points * 10).to_string();
    let count = |s: &TestServer, q: &str| -> f64 {
        let r = s.get_params("/api/v1/query", &[("query", q), ("time", &end)]);
        assert_eq!(r.status, 200, "{}", r.body);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        body["data"]["result"][0]["value"][1]
            .as_str()
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let s = TestServer::start(dir.path(), &[]);
    let partial = count(&s, "sum(count_over_time(imp_v[9h]))");
    assert!(
        partial < (series * points) as f64,
        "the kill came before the end: {partial}"
    );
    eprintln!("{partial} of {} samples landed before the kill", series * points);
    s.stop();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no partial block stays visible: {leftovers:?}");

    let (code, stdout, stderr) = import(dir.path(), &["--precision", "s", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let s = TestServer::start(dir.path(), &[]);
    assert_eq!(count(&s, "sum(count_over_time(imp_v[9h]))"), (series * points) as f64);
    let want: i64 = (0..series)
        .map(|s| s * 10_000 * points + points * (points - 1) / 2)
        .sum();
    assert_eq!(count(&s, "sum(sum_over_time(imp_v[9h]))"), want as f64);
    s.stop();
}

/// `foresight import --tenant` stores the data as the tenant's: its read token sees it (without
/// the tenant label), another tenant's and the default tenant's do not; a bad name is refused.
#[test]
fn import_as_a_tenant_is_seen_by_that_tenant_only() {
    let dir = tempdir();
    let files = tempdir();
    let lp = files.path().join("acme.lp");
    std::fs::write(&lp, "cpu,host=a usage=1 1700000000\ncpu,host=a usage=2 1700000010\n").unwrap();
    let om = files.path().join("acme.prom");
    std::fs::write(&om, "mem_bytes{host=\"a\"} 42 1700000010\n# EOF\n").unwrap();
    let (code, stdout, stderr) = import(
        dir.path(),
        &["--tenant", "acme", "--precision", "s", lp.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, stdout, stderr) = import(dir.path(), &["--tenant", "acme", om.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, _, stderr) = import(dir.path(), &["--tenant", "no such", lp.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("bad --tenant"), "{stderr}");

    let acme = crate::auth::tokens(dir.path(), &["create", "--tenant", "acme", "--role", "read"]);
    let beta = crate::auth::tokens(dir.path(), &["create", "--tenant", "beta", "--role", "read"]);
    let default = crate::auth::tokens(dir.path(), &["create", "--role", "read"]);
    let s = TestServer::start(dir.path(), &[]);
    let query = |token: &str| -> serde_json::Value {
        let r = s.get_full(
            "/api/v1/query",
            &[
                ("query", r#"{__name__=~"cpu_usage|mem_bytes"}"#),
                ("time", "1700000010"),
            ],
            &[("Authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["data"]["result"].clone()
    };
    let seen = query(&acme);
    let mut got: Vec<(String, String)> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["metric"].get("__tenant__").is_none(), "{r}");
            (
                r["metric"]["__name__"].as_str().unwrap().to_owned(),
                r["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("cpu_usage".to_owned(), "2".to_owned()),
            ("mem_bytes".to_owned(), "42".to_owned())
        ]
    );
    assert_eq!(query(&beta), serde_json::json!([]));
    assert_eq!(query(&default), serde_json::json!([]));
    s.stop();
}
