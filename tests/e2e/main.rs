//! End-to-end tests: the real `foresight serve` binary on 127.0.0.1 (OS-chosen port), driven
//! over HTTP, by promtool and by the InfluxDB Python clients; `foresight import` before it.

mod alerting;
mod auth;
mod backup;
mod clients;
mod correlate;
mod forecast;
mod forward;
mod harness;
mod import;
mod ops;
mod promtool;
mod query;
mod remote;
mod report;
mod restart;
mod rules;
mod tenant_limits;
mod tenants;
mod tiers;
mod tls;
mod ui;
mod write;

use harness::TestServer;

/// Two hosts, two fields, three timestamps 10 s apart from 1700000000 s.
pub(crate) const FIXTURE: &str = "\
cpu,host=a,dc=eu usage_user=1.5,usage_system=0.5 1700000000
cpu,host=b,dc=us usage_user=2,usage_system=1 1700000000
cpu,host=a,dc=eu usage_user=2.5,usage_system=0.25 1700000010
cpu,host=b,dc=us usage_user=3,usage_system=1.5 1700000010
cpu,host=a,dc=eu usage_user=3.5,usage_system=0.125 1700000020
cpu,host=b,dc=us usage_user=4,usage_system=2 1700000020
";

/// A server on a fresh directory holding [`FIXTURE`].
pub(crate) fn with_fixture(args: &[&str]) -> (tempfile::TempDir, TestServer) {
    let dir = harness::tempdir();
    let s = TestServer::start(dir.path(), args);
    s.write("s", FIXTURE);
    (dir, s)
}
