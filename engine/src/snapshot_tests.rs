//! Tests of snapshots, copies, verification and restore.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::*;
use crate::db::tests::everything;
use crate::lineproto::Precision;
use crate::options::{Durability, Options};
use crate::{Db, LabelMatcher};

/// Start of a 2 h partition.
const T0: i64 = 1_699_999_200_000;
const HOUR: i64 = 3_600_000;

fn options() -> Options {
    Options {
        shards: 2,
        durability: Durability::Fsync,
        background_flush: false,
        ..Options::default()
    }
}

fn write(db: &Db, body: &str) {
    let r = db.write_lines_at(body.as_bytes(), Precision::Milliseconds, 0).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

/// A database with blocks (two partitions flushed) and samples only in the WAL.
fn populated(dir: &Path) -> Db {
    let db = Db::open(dir, options()).unwrap();
    for i in 0..50i64 {
        write(&db, &format!("cpu,host=h{} v={i} {}", i % 5, T0 + i * 60_000));
    }
    write(&db, &format!("cpu,host=old v=1 {}", T0 - 3 * HOUR));
    db.flush().unwrap();
    assert!(!db.blocks().is_empty());
    for i in 0..30i64 {
        write(&db, &format!("mem,host=h{} v={i} {}", i % 3, T0 + 4 * HOUR + i * 1000));
    }
    db
}

#[test]
fn snapshot_restores_every_sample_of_blocks_and_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated(&tmp.path().join("data"));
    let want = everything(&db);
    let snap = tmp.path().join("snap");
    let info = db.snapshot(&snap, &[]).unwrap();
    assert_eq!(info.linked, db.blocks().len());
    assert!(info.files > info.linked, "WAL segments are in it too: {info:?}");
    // Written after the snapshot: not in it.
    write(&db, &format!("late v=1 {}", T0 + 5 * HOUR));
    drop(db);

    let rep = verify(&snap).unwrap();
    assert!(rep.snapshot && rep.is_ok() && rep.problems.is_empty(), "{rep:?}");
    assert!(rep.blocks > 0 && rep.wal_records > 0, "{rep:?}");

    let target = tmp.path().join("restored");
    let r = restore(&snap, &target, false).unwrap();
    assert_eq!((r.files, r.replaced), (info.files, false));
    assert!(!target.join(MANIFEST).exists() && !target.join(COMPLETE).exists());
    let db = Db::open(&target, options()).unwrap();
    assert_eq!(everything(&db), want);
    assert!(db.open_report().wal_damage.is_empty());
}

#[test]
fn snapshot_under_concurrent_writes_holds_every_acknowledged_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("data"), options()).unwrap();
    let stop = AtomicBool::new(false);
    let acked: Vec<AtomicU32> = (0..4).map(|_| AtomicU32::new(0)).collect();
    let snap = tmp.path().join("snap");
    let before: Vec<u32> = std::thread::scope(|s| {
        for (w, count) in acked.iter().enumerate() {
            let (db, stop) = (&db, &stop);
            s.spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) && i < 20_000 {
                    write(db, &format!("w,writer={w} v={i} {}", T0 + i64::from(i)));
                    i += 1;
                    count.store(i, Ordering::Release);
                }
            });
        }
        while acked.iter().any(|a| a.load(Ordering::Acquire) < 50) {
            std::thread::yield_now();
        }
        let before: Vec<u32> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        db.snapshot(&snap, &[]).unwrap();
        stop.store(true, Ordering::Relaxed);
        before
    });
    drop(db);
    let target = tmp.path().join("restored");
    restore(&snap, &target, false).unwrap();
    let db = Db::open(&target, options()).unwrap();
    for (w, &n) in before.iter().enumerate() {
        let got = db
            .select(&[LabelMatcher::equal("writer", w.to_string())], i64::MIN, i64::MAX)
            .unwrap();
        let samples = &got[0].samples;
        // A prefix of the writer's samples, at least everything acknowledged before the snapshot.
        assert!(samples.len() >= n as usize, "writer {w}: {} < {n}", samples.len());
        for (i, &(t, v)) in samples.iter().enumerate() {
            assert_eq!((t, v), (T0 + i as i64, i as f64));
        }
    }
}

#[test]
fn corrupted_snapshot_is_reported_and_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated(&tmp.path().join("data"));
    let snap = tmp.path().join("snap");
    db.snapshot(&snap, &[]).unwrap();
    drop(db);
    let m = read_complete_manifest(&snap).unwrap();
    let block = m.files.iter().find(|f| f.path.starts_with("blocks/")).unwrap();
    let bpath = snap.join(&block.path);
    // Through a copy: the block is a hard link to the data directory's.
    let mut bytes = fs::read(&bpath).unwrap();
    bytes[20] ^= 0x55;
    fs::remove_file(&bpath).unwrap();
    fs::write(&bpath, bytes).unwrap();

    let rep = verify(&snap).unwrap();
    assert!(!rep.is_ok());
    assert!(rep.problems.iter().all(|p| p.path == bpath), "{rep:?}");
    assert!(rep.problems.iter().any(|p| p.reason.contains("crc32")), "{rep:?}");
    assert!(
        rep.problems
            .iter()
            .any(|p| p.reason.contains("checksum mismatch") && p.offset.is_some()),
        "{rep:?}"
    );

    let target = tmp.path().join("restored");
    let e = restore(&snap, &target, false).unwrap_err().to_string();
    assert!(e.contains(&block.path) && e.contains("refusing"), "{e}");
    assert!(!target.exists());
}

#[test]
fn unfinished_snapshot_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated(&tmp.path().join("data"));
    let snap = tmp.path().join("snap");
    db.snapshot(&snap, &[]).unwrap();
    drop(db);
    fs::remove_file(snap.join(COMPLETE)).unwrap();
    let rep = verify(&snap).unwrap();
    assert!(
        rep.problems.iter().any(|p| p.reason.contains("completion marker")),
        "{rep:?}"
    );
    let e = restore(&snap, &tmp.path().join("r"), false).unwrap_err().to_string();
    assert!(e.contains(COMPLETE), "{e}");

    // A manifest edited after the marker was written.
    let snap2 = tmp.path().join("snap2");
    let db = Db::open(tmp.path().join("data"), options()).unwrap();
    db.snapshot(&snap2, &[]).unwrap();
    drop(db);
    let text = fs::read_to_string(snap2.join(MANIFEST)).unwrap();
    fs::write(snap2.join(MANIFEST), text.replace("created_ms 1", "created_ms 2")).unwrap();
    let e = restore(&snap2, &tmp.path().join("r"), false).unwrap_err().to_string();
    assert!(e.contains("manifest checksum"), "{e}");
}

#[test]
fn restore_refuses_a_non_empty_or_locked_target() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let db = populated(&data);
    let want = everything(&db);
    let snap = data.join("snapshots").join("s1");
    db.snapshot(&snap, &[]).unwrap();
    write(&db, &format!("extra v=1 {}", T0 + 5 * HOUR));
    // The server runs: refused even with force.
    assert!(matches!(restore(&snap, &data, true), Err(Error::Locked(_))));
    drop(db);
    let e = restore(&snap, &data, false).unwrap_err().to_string();
    assert!(e.contains("--force"), "{e}");
    let r = restore(&snap, &data, true).unwrap();
    assert!(r.replaced);
    // The snapshots of the replaced directory are kept.
    assert!(snap.join(COMPLETE).exists());
    let db = Db::open(&data, options()).unwrap();
    assert_eq!(everything(&db), want);
}

#[test]
fn copy_reuses_identical_blocks_of_earlier_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let db = populated(&tmp.path().join("data"));
    let first = tmp.path().join("snap1");
    db.snapshot(&first, &[]).unwrap();
    let backups = tmp.path().join("backups");
    let a = copy(&first, &backups.join("a"), &[]).unwrap();
    assert_eq!((a.linked, a.copied + a.linked), (db.blocks().len(), a.files));
    let manifest = read_complete_manifest(&first).unwrap();
    // As across file systems: the source cannot be linked, the earlier backup's identical blocks
    // are; a block unknown to the earlier backup is copied.
    let mut p = Placer::new(&backups.join("b"), &complete_snapshots(&backups));
    p.link_source = false;
    let blocks: Vec<&ManifestEntry> = manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("blocks/"))
        .collect();
    for f in &blocks {
        p.link(&first.join(&f.path), &f.path).unwrap();
    }
    p.link(&first.join(&blocks[0].path), "blocks/9999999999.block").unwrap();
    assert_eq!((p.info.reused, p.info.copied), (blocks.len(), 1));
    let b = p.finish(None, None, true).unwrap();
    assert_eq!(b.files, blocks.len() + 1);
    assert!(verify(&backups.join("b")).unwrap().is_ok());
}

#[test]
fn verify_tells_a_torn_wal_tail_from_damage_in_the_middle() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let db = Db::open(&data, Options { shards: 1, ..options() }).unwrap();
    for i in 0..20i64 {
        write(&db, &format!("m v={i} {}", T0 + i));
    }
    drop(db);
    let shard = data.join("wal").join("shard-000");
    let seg = list_segments(&shard)
        .unwrap()
        .into_iter()
        .map(|s| segment_path(&shard, s))
        .find(|p| fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let bytes = fs::read(&seg).unwrap();
    fs::write(&seg, &bytes[..bytes.len() - 3]).unwrap();
    let rep = verify(&data).unwrap();
    assert!(rep.is_ok(), "{rep:?}");
    assert_eq!(rep.problems.len(), 1);
    assert_eq!(rep.problems[0].severity, Severity::Warning);
    assert!(rep.problems[0].reason.contains("torn"), "{rep:?}");

    let mut bytes = bytes.clone();
    bytes[12] ^= 0xff; // inside the first record's payload, more records follow
    fs::write(&seg, &bytes).unwrap();
    let rep = verify(&data).unwrap();
    assert!(!rep.is_ok());
    let p = &rep.problems[0];
    assert_eq!((p.path.as_path(), p.offset), (seg.as_path(), Some(0)));
    assert!(p.reason.contains("followed by more data"), "{p}");
}

#[test]
fn manifest_round_trips_and_rejects_escaping_paths() {
    let m = Manifest {
        version: MANIFEST_VERSION,
        created_ms: 7,
        max_time: Some(-3),
        files: vec![ManifestEntry {
            path: "blocks/0000000001.block".into(),
            size: 10,
            crc32: 0xdead_beef,
        }],
    };
    let p = Path::new("MANIFEST");
    assert_eq!(Manifest::parse(p, &m.encode()).unwrap(), m);
    for bad in ["../x", "/etc/passwd", "blocks/../../x", "other/file", "blocks"] {
        let text = m.encode().replace("blocks/0000000001.block", bad);
        let e = Manifest::parse(p, &text).unwrap_err().to_string();
        assert!(e.contains("not a plain path"), "{bad}: {e}");
    }
    let e = Manifest::parse(p, "foresight-snapshot 9\n").unwrap_err().to_string();
    assert!(e.contains("unsupported manifest version 9"), "{e}");
}
