//! Restarts on the same data directory: after a clean stop (SIGTERM, SIGINT), after a flush to
//! blocks, and after SIGKILL (acknowledged writes are in the fsynced WAL).

use crate::harness::{TestServer, tempdir};
use crate::{FIXTURE, with_fixture};

fn answers(s: &TestServer) -> Vec<String> {
    let instant = s.get_params("/api/v1/query", &[("query", "cpu_usage_user"), ("time", "1700000010")]);
    let range = s.get_params(
        "/api/v1/query_range",
        &[
            ("query", "sum by (dc) (cpu_usage_system)"),
            ("start", "1700000000"),
            ("end", "1700000020"),
            ("step", "10"),
        ],
    );
    let series = s.get_params("/api/v1/series", &[("match[]", "{__name__=~\"cpu_.*\"}")]);
    vec![instant.body, range.body, series.body]
}

#[test]
fn clean_restarts_keep_everything() {
    let (dir, s) = with_fixture(&[]);
    let before = answers(&s);
    assert!(before[0].contains(r#""value":[1700000010,"3"]"#), "{}", before[0]);
    s.stop();

    let s = TestServer::start(dir.path(), &[]);
    assert_eq!(answers(&s), before);
    // More data, then SIGINT instead of SIGTERM.
    s.write("s", "cpu,host=c,dc=eu usage_user=9 1700000010\n");
    let with_c = answers(&s);
    assert!(with_c[0].contains(r#""host":"c""#));
    let status = s.stop_with(libc::SIGINT);
    assert!(status.success(), "{status:?}");

    // Flush to blocks, restart, same answers from blocks.
    let s = TestServer::start(dir.path(), &[]);
    assert_eq!(answers(&s), with_c);
    let r = s.post("/api/v1/admin/flush", b"", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.starts_with(r#"{"status":"success","data":{"blocks":"#),
        "{}",
        r.body
    );
    s.stop();
    let s = TestServer::start(dir.path(), &[]);
    assert_eq!(answers(&s), with_c);
    assert!(s.log().contains("database open; ready"));
    s.stop();
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    s.write("s", FIXTURE);
    let before = answers(&s);
    // No clean shutdown: the process dies at once.
    let status = s.stop_with(libc::SIGKILL);
    assert!(!status.success());
    let s = TestServer::start(dir.path(), &[]);
    assert_eq!(answers(&s), before);
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains("foresight_wal_replayed_samples 12\n"), "{metrics}");
    s.stop();
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let (dir, s) = with_fixture(&[]);
    let other = TestServer::spawn(dir.path(), &[]);
    let (status, log) = other.wait_exit();
    assert!(!status.success());
    assert!(log.contains("locked by another process"), "{log}");
    s.stop();
}
