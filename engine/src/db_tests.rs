//! Tests of the facade and, through it, of the shards' writer threads (group commit, series ids,
//! garbage collection). Kept apart from `db.rs` so that changes to either do not collide.

use std::collections::BTreeMap;

use super::*;
use crate::model::{METRIC_NAME, MatchOp, hash_key, matcher, series_key};
use crate::options::Durability;
use crate::shard::SeriesLookup;

/// Start of a 2 h partition.
const T0: i64 = 1_699_999_200_000;
const HOUR: i64 = 3_600_000;

fn options(shards: usize, durability: Durability) -> Options {
    Options {
        shards,
        durability,
        background_flush: false,
        ..Options::default()
    }
}

/// Every series as `labels -> samples`.
pub(crate) fn everything(db: &Db) -> BTreeMap<String, Vec<(i64, f64)>> {
    db.select(
        &[matcher(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
        i64::MIN,
        i64::MAX,
    )
    .unwrap()
    .into_iter()
    .map(|s| (s.labels.to_string(), s.samples))
    .collect()
}

fn write(db: &Db, body: &str) -> WriteReport {
    db.write_lines_at(body.as_bytes(), Precision::Milliseconds, 0).unwrap()
}

#[test]
fn concurrent_writers_are_each_acknowledged_after_a_shared_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::Fsync)).unwrap();
    let (threads, writes) = (8u32, 25u32);
    std::thread::scope(|s| {
        for w in 0..threads {
            let db = &db;
            s.spawn(move || {
                for i in 0..writes {
                    let t = T0 + i64::from(i) * 1000;
                    let r = write(db, &format!("m,writer={w} v={i} {t}"));
                    assert_eq!(r.samples_accepted, 1);
                    // Acknowledged means visible (and durable: fsync mode).
                    let got = db
                        .select(&[LabelMatcher::equal("writer", w.to_string())], t, t)
                        .unwrap();
                    assert_eq!(got[0].samples, vec![(t, f64::from(i))]);
                }
            });
        }
    });
    let stats = db.stats();
    let total = u64::from(threads * writes);
    assert_eq!(stats.samples_ingested, total);
    let fsyncs = stats.wal_fsync.counts.iter().sum::<u64>();
    assert!(fsyncs > 0 && fsyncs <= total, "{fsyncs} fsyncs for {total} writes");
    db.close().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::Fsync)).unwrap();
    assert_eq!(db.open_report().wal_samples_replayed, total);
    assert_eq!(everything(&db).values().map(Vec::len).sum::<usize>(), total as usize);
}

#[test]
fn series_lookup_tells_apart_keys_with_the_same_hash() {
    let labels: Vec<Labels> = ["a", "b", "c"]
        .iter()
        .map(|h| Labels::new([("__name__", "m"), ("host", *h)]))
        .collect();
    let keys: Vec<Vec<u8>> = labels.iter().map(series_key).collect();
    let mut lookup = SeriesLookup::default();
    // "a" and "b" collide on purpose; "c" has its real hash.
    lookup.insert(42, labels[0].clone(), 0);
    lookup.insert(42, labels[1].clone(), 1);
    lookup.insert(hash_key(&keys[2]), labels[2].clone(), 2);
    assert_eq!(lookup.get(42, &keys[0]), Some(0));
    assert_eq!(lookup.get(42, &keys[1]), Some(1));
    assert_eq!(lookup.get(hash_key(&keys[2]), &keys[2]), Some(2));
    assert_eq!(lookup.get(42, &keys[2]), None, "a key under another series' hash");
    assert_eq!(lookup.get(7, &keys[0]), None, "an unknown hash");
}

#[test]
fn series_without_data_leave_the_head_and_the_rest_are_renumbered() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(1, Durability::None);
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    // a and b only in the first partition; c and d in the first and the second.
    write(
        &db,
        &format!("m,s=a v=1 {T0}\nm,s=b v=2 {T0}\nm,s=c v=3 {T0}\nm,s=d v=4 {T0}"),
    );
    write(
        &db,
        &format!("m,s=c v=5 {}\nm,s=d v=6 {}", T0 + 2 * HOUR, T0 + 2 * HOUR),
    );
    assert_eq!(db.stats().head_series, 4);
    // Freeze and release the first partition only: a and b hold nothing in the head any more.
    crate::flush::flush(&db.inner, T0 + 2 * HOUR).unwrap();
    assert_eq!(db.stats().head_series, 2, "a and b are dropped, c and d kept");
    // Writes to the renumbered series, to a dropped one and to a new one.
    let t = T0 + 2 * HOUR + 1000;
    write(
        &db,
        &format!("m,s=d v=7 {t}\nm,s=c v=8 {t}\nm,s=a v=9 {t}\nm,s=e v=10 {t}"),
    );
    let want: BTreeMap<String, Vec<(i64, f64)>> = [
        ("a", vec![(T0, 1.0), (t, 9.0)]),
        ("b", vec![(T0, 2.0)]),
        ("c", vec![(T0, 3.0), (T0 + 2 * HOUR, 5.0), (t, 8.0)]),
        ("d", vec![(T0, 4.0), (T0 + 2 * HOUR, 6.0), (t, 7.0)]),
        ("e", vec![(t, 10.0)]),
    ]
    .into_iter()
    .map(|(s, v)| (format!("m_v{{s=\"{s}\"}}"), v))
    .collect();
    assert_eq!(everything(&db), want);
    db.close().unwrap();
    // The WAL written after the renumbering replays to the same ids.
    let db = Db::open(dir.path(), opts).unwrap();
    assert!(db.open_report().wal_damage.is_empty());
    assert_eq!(everything(&db), want);
    db.close().unwrap();
}

#[test]
fn stats_count_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::None)).unwrap();
    assert_eq!(
        db.stats(),
        Stats {
            wal_fsync: db.stats().wal_fsync,
            ..Stats::default()
        }
    );
    let r = write(&db, &format!("m,h=a v=1,w=2 {T0}\nbad line\nm,h=b v=3 {}\n", T0 + 5));
    assert_eq!((r.samples_accepted, r.rejected.len()), (3, 1));
    db.sync().unwrap();
    let s = db.stats();
    assert_eq!((s.samples_ingested, s.lines_rejected, s.head_series), (3, 1, 3));
    assert_eq!(s.max_time, Some(T0 + 5));
    assert_eq!((s.blocks, s.block_bytes), (0, 0));
    assert!(s.head_bytes > 0 && s.wal_bytes > 0, "{s:?}");
    db.flush().unwrap();
    let s = db.stats();
    assert_eq!((s.blocks, s.head_series), (1, 0));
    assert_eq!(s.block_bytes, db.blocks()[0].bytes);
    assert_eq!(db.blocks()[0].samples, 3);
    db.close().unwrap();
}

#[test]
fn sync_fsyncs_what_the_durability_mode_left_unsynced() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::None)).unwrap();
    let fsyncs = |db: &Db| db.stats().wal_fsync.counts.iter().sum::<u64>();
    write(&db, &format!("m,h=a v=1 {T0}\nm,h=b v=2 {T0}\nm,h=c v=3 {T0}"));
    let before = fsyncs(&db);
    db.sync().unwrap();
    assert!(fsyncs(&db) > before, "sync did not fsync");
    // Nothing left to sync: a second sync costs nothing.
    let after = fsyncs(&db);
    db.sync().unwrap();
    assert_eq!(fsyncs(&db), after);
    db.close().unwrap();
}

#[test]
fn close_releases_the_directory_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(1, Durability::None)).unwrap();
    write(&db, &format!("m v=1 {T0}"));
    let second = Db::open(dir.path(), options(1, Durability::None));
    assert!(matches!(second, Err(Error::Locked(_))), "{second:?}");
    assert!(db.close().is_ok());
    let db = Db::open(dir.path(), options(1, Durability::None)).unwrap();
    assert_eq!(everything(&db).get("m_v"), Some(&vec![(T0, 1.0)]));
    // Dropping closes too.
    drop(db);
    let db = Db::open(dir.path(), options(1, Durability::None)).unwrap();
    assert_eq!(db.stats().samples_ingested, 0, "counters start at open");
    assert_eq!(db.open_report().wal_samples_replayed, 1);
    db.close().unwrap();
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for opts in [
        Options {
            partition_ms: 0,
            ..Options::default()
        },
        Options {
            chunk_samples: 0,
            ..Options::default()
        },
        Options {
            out_of_order_window_ms: -1,
            ..Options::default()
        },
    ] {
        let r = Db::open(dir.path(), opts);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    }
}

#[test]
fn label_names_and_values_follow_the_matchers_and_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(1, Durability::None)).unwrap();
    write(
        &db,
        &format!("m,h=a,dc=x v=1 {T0}\nm,h=b v=2 {}\nn,h=c v=3 {T0}", T0 + 10),
    );
    let m = [LabelMatcher::equal("__name__", "m_v")];
    assert_eq!(
        db.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        ["__name__", "dc", "h"]
    );
    assert_eq!(db.label_values("h", &m, i64::MIN, i64::MAX).unwrap(), ["a", "b"]);
    assert_eq!(db.label_values("h", &[], T0 + 1, i64::MAX).unwrap(), ["b"]);
    assert_eq!(db.label_names(&m, T0 + 1, i64::MAX).unwrap(), ["__name__", "h"]);
    db.close().unwrap();
}

#[test]
fn write_samples_stores_the_same_series_as_write_lines_and_reports_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(3, Durability::None)).unwrap();
    write(&db, "cpu,host=a usage=1 1000\n");
    let mut batch = SampleBatch::new();
    let cpu = batch
        .add_series(&Labels::new([("host", "a"), (METRIC_NAME, "cpu_usage")]))
        .unwrap();
    let up = batch.add_series(&Labels::new([(METRIC_NAME, "up")])).unwrap();
    batch.push(cpu, 2000, 2.0, 1);
    batch.push(up, 2000, 1.0, 1);
    // Too far in the future: one rejection for the line, whatever its number of samples.
    batch.push(cpu, i64::MAX, 3.0, 2);
    batch.push(up, i64::MAX, 3.0, 2);
    batch.push(up, 3000, 0.0, 3);
    let report = db.write_samples(&batch).unwrap();
    assert_eq!((report.lines_accepted, report.samples_accepted), (2, 3));
    assert_eq!(report.rejected.iter().map(|e| e.line).collect::<Vec<_>>(), [2]);
    let all = everything(&db);
    assert_eq!(all[r#"cpu_usage{host="a"}"#], [(1000, 1.0), (2000, 2.0)]);
    assert_eq!(all["up"], [(2000, 1.0), (3000, 0.0)]);
    assert!(batch.add_series(&Labels::new([("host", "a")])).is_err());
    db.close().unwrap();
}

#[test]
fn sorted_pairs_name_the_same_series_as_labels() {
    let mut batch = SampleBatch::new();
    let a = batch
        .add_series(&Labels::new([("job", "x"), (METRIC_NAME, "up")]))
        .unwrap();
    let b = batch.add_series_sorted(&[(METRIC_NAME, "up"), ("job", "x")]).unwrap();
    assert_ne!(a, b);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::None)).unwrap();
    batch.push(a, 1000, 1.0, 1);
    batch.push(b, 2000, 2.0, 2);
    db.write_samples(&batch).unwrap();
    assert_eq!(everything(&db)[r#"up{job="x"}"#], [(1000, 1.0), (2000, 2.0)]);
    assert!(batch.add_series_sorted(&[("job", "x"), (METRIC_NAME, "up")]).is_err());
    assert!(batch.add_series_sorted(&[(METRIC_NAME, "up"), ("job", "")]).is_err());
    assert!(batch.add_series_sorted(&[("job", "x")]).is_err());
    db.close().unwrap();
}

#[test]
fn a_long_body_is_written_in_pieces_with_its_line_numbers_and_last_write_wins() {
    // Spans several pieces (`write::PIECE_LINES`), with bad lines on both sides of the boundaries
    // and one series/timestamp written in the first piece and again in the last.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::None)).unwrap();
    let n = 3 * crate::write::PIECE_LINES + 17;
    let mut body = String::new();
    let mut bad = Vec::new();
    for i in 1..=n {
        if i % 1000 == 0 || i == crate::write::PIECE_LINES + 1 {
            body.push_str("m,host=h v=oops 1\n");
            bad.push(i);
        } else if i == n {
            body.push_str(&format!("m,host=h0 v=99 {T0}\n"));
        } else {
            body.push_str(&format!("m,host=h{} v={i} {}\n", i % 7, T0 + i as i64));
        }
    }
    body.insert_str(0, &format!("m,host=h0 v=-1 {T0}\n"));
    let bad: Vec<usize> = bad.iter().map(|l| l + 1).collect();
    let r = write(&db, &body);
    assert_eq!(r.rejected.iter().map(|e| e.line).collect::<Vec<_>>(), bad);
    assert_eq!(r.lines_accepted as usize, n + 1 - bad.len());
    let all = everything(&db);
    let total: usize = all.values().map(Vec::len).sum();
    // The first line and the last name the same sample: stored once, and the last one wins.
    assert_eq!(total, r.samples_accepted as usize - 1);
    assert_eq!(all["m_v{host=\"h0\"}"].first(), Some(&(T0, 99.0)));
    assert_eq!(db.stats().samples_ingested, r.samples_accepted);
}

#[test]
fn a_block_swap_waits_for_readers_of_every_older_set() {
    // A reader holds set 0; a compaction swaps 0 -> 1 and waits for it; a flush then swaps
    // 1 -> 2. The flush must not return (and drop the head's copy of what it wrote) while the
    // reader of set 0, which lacks the flushed block, is still reading.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(2, Durability::None)).unwrap();
    let inner = db.inner.clone();
    let reader = inner.blocks.read().clone();
    let second_done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let first = s.spawn(|| inner.swap_blocks(|_| {}));
        while Arc::ptr_eq(&*inner.blocks.read(), &reader) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let second = s.spawn(|| {
            inner.swap_blocks(|_| {});
            second_done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !second_done.load(std::sync::atomic::Ordering::SeqCst),
            "a later swap returned while a reader still held an older set"
        );
        drop(reader);
        first.join().unwrap();
        second.join().unwrap();
        assert!(second_done.load(std::sync::atomic::Ordering::SeqCst));
    });
}

#[test]
fn reads_during_a_flush_see_the_frozen_head_data() {
    // A block holds the first writes of a partition; rewrites of the same samples sit in the
    // head. While a flush has frozen the rewrites (not yet in a published block), the block's
    // windows no longer stand for the series: they must be left to raw reads. Before the fix,
    // only live head partitions were consulted and a query during a flush used stale windows.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(1, Durability::None)).unwrap();
    let lines = |v: f64| -> String { (0..720).map(|i| format!("r,s=a v={v} {}\n", T0 + i * 10_000)).collect() };
    write(&db, &lines(1.0));
    db.flush().unwrap();
    let all = [matcher(MatchOp::Equal, "__name__", "r_v").unwrap()];
    let whole = |db: &Db| -> usize {
        db.rollups(&all, HOUR, T0, T0 + 2 * HOUR - 1)
            .unwrap()
            .iter()
            .map(|s| s.windows.len())
            .sum()
    };
    assert_eq!(whole(&db), 2, "the block's two 1 h windows stand for the series");
    write(&db, &lines(2.0));
    assert_eq!(whole(&db), 0, "live head data overrides the block");
    // The first half of a flush: the rewrites are frozen, and no block holds them yet.
    let seq = db.inner.next_seq.load(std::sync::atomic::Ordering::Acquire);
    db.inner
        .send_all(|reply| crate::shard::Cmd::Freeze {
            before: i64::MAX,
            seq,
            reply,
        })
        .unwrap();
    assert_eq!(whole(&db), 0, "frozen head data overrides the block too");
    let sel = db.select_rollups(&all, HOUR, T0, T0 + 2 * HOUR - 1, &[]).unwrap();
    let sum: f64 = sel
        .iter()
        .map(|s| s.samples.iter().map(|p| p.1).sum::<f64>() + s.windows.iter().map(|w| w.sum).sum::<f64>())
        .sum();
    assert_eq!(sum, 1440.0, "the rewritten values, read raw");
    // A series whose only samples are being flushed is still listed.
    write(&db, &format!("fresh,s=b v=1 {}\n", T0 + HOUR));
    let seq2 = seq + 1;
    db.inner
        .send_all(|reply| crate::shard::Cmd::Freeze {
            before: i64::MAX,
            seq: seq2,
            reply,
        })
        .unwrap();
    let fresh = [matcher(MatchOp::Equal, "__name__", "fresh_v").unwrap()];
    assert_eq!(db.series(&fresh, T0, T0 + 2 * HOUR).unwrap().len(), 1);
    assert!(db.series(&fresh, T0 + 2 * HOUR, T0 + 3 * HOUR).unwrap().is_empty());
    db.inner
        .send_all(|reply| crate::shard::Cmd::Release { seq: seq2, reply })
        .unwrap();
    db.inner
        .send_all(|reply| crate::shard::Cmd::Release { seq, reply })
        .unwrap();
}

#[test]
fn writes_older_than_their_series_own_raw_retention_are_refused() {
    // Raw data kept 10 days, but `debug_*` only 1 day: a late write of a debug series two days
    // back would land where its raw samples are dropped (and spoil that hour's rollups).
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        retention_ms: Some(10 * 24 * HOUR),
        rollup_retention_ms: Some(30 * 24 * HOUR),
        retention_rules: vec![crate::options::RetentionRule {
            matchers: vec![matcher(MatchOp::RegexMatch, "__name__", "debug_.*").unwrap()],
            retention_ms: 24 * HOUR,
        }],
        ..options(2, Durability::None)
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let now = T0 + 20 * 24 * HOUR;
    write(&db, &format!("debug,h=a v=1 {now}\nkeep,h=a v=1 {now}\n"));
    let old = now - 2 * 24 * HOUR;
    let r = write(
        &db,
        &format!("debug,h=a v=2 {old}\nkeep,h=a v=2 {old}\nmixed,h=a v=3 {old}\n"),
    );
    assert_eq!((r.lines_accepted, r.samples_accepted), (2, 2), "{r:?}");
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    assert_eq!(r.rejected[0].line, 1);
    assert!(
        r.rejected[0]
            .reason
            .contains("older than the raw retention (86400000 ms) of series"),
        "{}",
        r.rejected[0].reason
    );
    // Any series the rule matches, new ones too.
    let r = write(&db, &format!("debug,h=b v=2 {old}\n"));
    assert_eq!(r.samples_accepted, 0);
    // Samples written as a batch are judged the same way.
    let mut batch = SampleBatch::new();
    let dbg = batch
        .add_series(&Labels::new([("__name__", "debug_x"), ("h", "c")]))
        .unwrap();
    let kept = batch
        .add_series(&Labels::new([("__name__", "other_x"), ("h", "c")]))
        .unwrap();
    batch.push(dbg, old, 1.0, 1);
    batch.push(kept, old, 1.0, 2);
    batch.push(dbg, now - HOUR, 1.0, 3);
    let r = db.write_samples(&batch).unwrap();
    assert_eq!(r.samples_accepted, 2, "{r:?}");
    assert_eq!(r.rejected.iter().map(|e| e.line).collect::<Vec<_>>(), [1]);
    // Older than the longest retention: refused for every series, as before.
    let r = write(&db, &format!("keep,h=a v=1 {}\n", now - 11 * 24 * HOUR));
    assert_eq!(r.samples_accepted, 0);
}
