//! Backups under write load: writers post over HTTP while `POST /api/v1/admin/snapshot` and
//! `foresight backup --url` run; the snapshot is verified, restored into a new directory and
//! served, and every sample acknowledged before the snapshot started is there, once.

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::harness::{TestServer, foresight, num, tempdir};

const T0_MS: i64 = 1_700_000_000_000;
const WRITERS: usize = 3;

/// `count_over_time` and `max_over_time` of one writer's series, over all its samples.
fn count_and_max(s: &TestServer, writer: usize) -> (f64, f64) {
    let at = (T0_MS / 1000 + 3600).to_string();
    let one = |f: &str| {
        let q = format!("{f}(bk_seq{{writer=\"{writer}\"}}[2h])");
        let (code, v) = s.get_json("/api/v1/query", &[("query", &q), ("time", &at)]);
        assert_eq!(code, 200, "{v}");
        num(&v["data"]["result"][0]["value"][1])
    };
    (one("count_over_time"), one("max_over_time"))
}

#[test]
fn snapshot_under_write_load_restores_every_acknowledged_sample() {
    let data = tempdir();
    let s = TestServer::start(data.path(), &[]);
    let stop = AtomicBool::new(false);
    let acked: Vec<AtomicU32> = (0..WRITERS).map(|_| AtomicU32::new(0)).collect();
    let backups = tempdir();
    let url = s.url("");
    let (before, snap_path) = std::thread::scope(|scope| {
        for (w, count) in acked.iter().enumerate() {
            let (s, stop) = (&s, &stop);
            scope.spawn(move || {
                let mut i = 0u32;
                // Bounded: stops when told, or after 20,000 batches.
                while !stop.load(Ordering::Relaxed) && i < 20_000 {
                    let body: String = (i..i + 10)
                        .map(|k| format!("bk,writer={w} seq={k} {}\n", T0_MS + i64::from(k)))
                        .collect();
                    s.write("ms", &body);
                    i += 10;
                    count.store(i, Ordering::Release);
                }
            });
        }
        while acked.iter().any(|a| a.load(Ordering::Acquire) < 200) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let before: Vec<u32> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let r = s.post("/api/v1/admin/snapshot", b"", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        let name = v["data"]["name"].as_str().unwrap().to_owned();
        let path = v["data"]["path"].as_str().unwrap().to_owned();
        assert!(path.ends_with(&format!("snapshots/{name}")), "{path}");

        // The CLI against the running server, writes still going on.
        let (code, out, err) = foresight(&["backup", backups.path().to_str().unwrap(), "--url", &url]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("backup "), "{out}");
        stop.store(true, Ordering::Relaxed);
        (before, path)
    });
    // The CLI's backup is complete and verified; the server's copy of it was removed.
    let copies = std::fs::read_dir(backups.path()).unwrap().count();
    assert_eq!(copies, 1);
    let backup = std::fs::read_dir(backups.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (code, out, err) = foresight(&["verify", backup.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("0 errors"), "{out}");
    let server_snaps = std::fs::read_dir(data.path().join("snapshots")).unwrap().count();
    assert_eq!(server_snaps, 1, "only the API's snapshot is left");
    s.stop();

    for (snap, label) in [(Path::new(&snap_path), "api"), (backup.as_path(), "cli")] {
        let target = tempdir();
        let restored = target.path().join("data");
        let (code, out, err) = foresight(&[
            "--data-dir",
            restored.to_str().unwrap(),
            "restore",
            snap.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "{label}: {out}{err}");
        let r = TestServer::start(&restored, &[]);
        for (w, &n) in before.iter().enumerate() {
            let (count, max) = count_and_max(&r, w);
            // Every acknowledged sample before the snapshot (more may follow), each once:
            // samples 0..count, so the largest is count - 1.
            assert!(
                count >= f64::from(n),
                "{label} writer {w}: {count} samples < {n} acknowledged"
            );
            assert_eq!(max, count - 1.0, "{label} writer {w}: a gap or a duplicate");
        }
        r.stop();
    }
}

#[test]
fn restore_refuses_a_damaged_snapshot_and_a_non_empty_target() {
    let data = tempdir();
    let s = TestServer::start(data.path(), &[]);
    s.write("ms", &format!("bk,writer=0 seq=1 {T0_MS}\n"));
    let r = s.post("/api/v1/admin/flush", b"", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post("/api/v1/admin/snapshot", b"", &[]);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let snap = std::path::PathBuf::from(v["data"]["path"].as_str().unwrap());
    s.stop();

    // Restoring into the (stopped) source directory: not empty.
    let (code, _, err) = foresight(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "restore",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--force"), "{err}");

    // A damaged block, rewritten (not through the hard link).
    let block = std::fs::read_dir(snap.join("blocks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&block).unwrap();
    bytes[10] ^= 1;
    std::fs::remove_file(&block).unwrap();
    std::fs::write(&block, bytes).unwrap();
    let (code, out, _) = foresight(&["verify", snap.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(out.contains(block.file_name().unwrap().to_str().unwrap()), "{out}");
    let target = tempdir();
    let restored = target.path().join("data");
    let (code, _, err) = foresight(&[
        "--data-dir",
        restored.to_str().unwrap(),
        "restore",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("refusing to restore") && err.contains("blocks/"), "{err}");
    assert!(!restored.exists());
}
