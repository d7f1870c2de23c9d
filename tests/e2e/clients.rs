//! The InfluxDB Python clients (`influxdb-client` for the 2.x API, `influxdb` for 1.x) write to
//! foresight unchanged; `clients.py` beside this file drives them. Skipped with a notice when
//! python3 or the packages are missing, failed when `FORESIGHT_REQUIRE_TOOLS` is set (CI).

use std::process::Command;

use crate::harness::{TestServer, tempdir, tool_missing};

fn packages_present() -> bool {
    Command::new("python3")
        .args(["-c", "import influxdb_client, influxdb"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn influxdb_python_clients() {
    if !packages_present() {
        tool_missing("python3 with influxdb-client and influxdb not found (pip install influxdb-client influxdb)");
        return;
    }
    let dir = tempdir();
    let s = TestServer::start(dir.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/clients.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("http://{}", s.addr))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "clients.py failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        s.log()
    );
    assert!(stdout.contains("all client checks passed"), "{stdout}");
    s.stop();
}
