//! `promtool query instant|range|series|labels` (Prometheus' own client) against foresight.
//! Skipped with a notice when promtool is missing; CI installs Debian's `prometheus` and sets
//! `FORESIGHT_REQUIRE_TOOLS`, which turns the skip into a failure.

use std::process::Command;

use crate::harness::tool_missing;
use crate::with_fixture;

/// Whether `promtool` runs here.
pub(crate) fn promtool_present() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn promtool_queries() {
    if !promtool_present() {
        tool_missing("promtool not found (apt-get install prometheus)");
        return;
    }
    let (_dir, s) = with_fixture(&[]);
    let url = format!("http://{}", s.addr);
    let run = |args: &[&str]| -> String {
        let out = Command::new("promtool").arg("query").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        run(&["instant", "--time=1700000010", &url, "cpu_usage_user"]),
        "cpu_usage_user{dc=\"eu\", host=\"a\"} => 2.5 @[1700000010]\n\
         cpu_usage_user{dc=\"us\", host=\"b\"} => 3 @[1700000010]\n"
    );
    assert_eq!(
        run(&["instant", "--time=1700000010", &url, "sum(cpu_usage_user) / 2"]),
        "{} => 2.75 @[1700000010]\n"
    );
    assert_eq!(
        run(&[
            "range",
            "--start=1700000000",
            "--end=1700000020",
            "--step=10s",
            &url,
            "cpu_usage_user{host=\"b\"}"
        ]),
        "cpu_usage_user{dc=\"us\", host=\"b\"} =>\n2 @[1700000000]\n3 @[1700000010]\n4 @[1700000020]\n"
    );
    assert_eq!(
        run(&[
            "series",
            "--start=1699990000",
            "--end=1700010000",
            "--match=cpu_usage_system",
            &url
        ]),
        "{__name__=\"cpu_usage_system\", dc=\"eu\", host=\"a\"}\n\
         {__name__=\"cpu_usage_system\", dc=\"us\", host=\"b\"}\n"
    );
    assert_eq!(
        run(&["labels", "--start=1699990000", "--end=1700010000", &url, "host"]),
        "a\nb\n"
    );
    // A bad query reaches the user as Prometheus' error.
    let out = Command::new("promtool")
        .args(["query", "instant", &url, "sum("])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad_data") && err.contains("unclosed left parenthesis"),
        "{err}"
    );
    s.stop();
}
