//! Integration tests of the storage engine through its public API: round trips through the head
//! and blocks, recovery from torn WALs and corrupted blocks, and crashes at random moments.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use foresight_engine::lineproto::Precision;
use foresight_engine::{Db, Durability, Error, LabelMatcher, MatchOp, Options, Series, matcher};

const HOUR: i64 = 3_600_000;
/// 2023-11-14T00:00:00Z: a partition boundary for 2 h partitions.
const T0: i64 = 1_699_920_000_000;

fn opts() -> Options {
    Options {
        shards: 2,
        background_flush: false,
        ..Options::default()
    }
}

fn all(db: &Db) -> Vec<Series> {
    db.select(
        &[matcher(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
        i64::MIN,
        i64::MAX,
    )
    .unwrap()
}

/// Samples per series, keyed by the series' labels as text.
type Expected = BTreeMap<String, Vec<(i64, f64)>>;

fn as_map(series: &[Series]) -> BTreeMap<String, Vec<(i64, f64)>> {
    series
        .iter()
        .map(|s| (s.labels.to_string(), s.samples.clone()))
        .collect()
}

/// Line protocol for `hosts` hosts x 3 fields, one row per host every 10 s over `[from, to)` ms.
fn rows(hosts: usize, from: i64, to: i64) -> (String, BTreeMap<String, Vec<(i64, f64)>>) {
    let mut body = String::new();
    let mut expect: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = from;
    while t < to {
        for h in 0..hosts {
            let a = ((t / 10_000) % 1000) as f64 / 100.0 + h as f64;
            let b = (t / 1000 + h as i64) % 97;
            body.push_str(&format!(
                "cpu,host=h{h},dc=eu usage={a},count={b}i,up=true {}\n",
                t * 1_000_000
            ));
            for (f, v) in [("usage", a), ("count", b as f64), ("up", 1.0)] {
                expect
                    .entry(format!("cpu_{f}{{dc=\"eu\", host=\"h{h}\"}}"))
                    .or_default()
                    .push((t, v));
            }
        }
        t += 10_000;
    }
    (body, expect)
}

#[test]
fn write_read_from_head_blocks_and_across_partitions_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    // 5 h of data: three 2 h partitions, the first boundary at T0 + 2 h.
    let (body, expect) = rows(4, T0, T0 + 5 * HOUR);
    {
        let db = Db::open(tmp.path(), opts()).unwrap();
        let r = db.write_lines(body.as_bytes(), Precision::Nanoseconds).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        assert_eq!(r.samples_accepted, 4 * 3 * 1800);
        assert_eq!(as_map(&all(&db)), expect, "read from the head");
        db.close().unwrap();
    }
    {
        let db = Db::open(tmp.path(), opts()).unwrap();
        assert_eq!(db.open_report().wal_samples_replayed, 4 * 3 * 1800);
        assert_eq!(as_map(&all(&db)), expect, "read after WAL replay");
        db.flush().unwrap();
        assert_eq!(db.blocks().len(), 3, "one block per partition");
        assert_eq!(as_map(&all(&db)), expect, "read from blocks");
        db.close().unwrap();
    }
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(
        db.open_report().wal_samples_replayed,
        0,
        "the WAL was released after the flush"
    );
    assert_eq!(as_map(&all(&db)), expect, "read from blocks after reopen");
    // A range crossing the partition boundary, from blocks.
    let m = [
        LabelMatcher::equal("__name__", "cpu_usage"),
        LabelMatcher::equal("host", "h1"),
    ];
    let got = db.select(&m, T0 + 2 * HOUR - 30_000, T0 + 2 * HOUR + 20_000).unwrap();
    assert_eq!(got.len(), 1);
    let ts: Vec<i64> = got[0].samples.iter().map(|s| s.0).collect();
    assert_eq!(ts, (-3..=2).map(|k| T0 + 2 * HOUR + k * 10_000).collect::<Vec<_>>());
}

#[test]
fn blocks_and_head_merge_with_last_write_winning() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let lp = |v: f64, t: i64| format!("m,k=a f={v} {t}\n");
    db.write_lines(
        format!("{}{}", lp(1.0, T0), lp(2.0, T0 + 10_000)).as_bytes(),
        Precision::Milliseconds,
    )
    .unwrap();
    db.flush().unwrap();
    // Same timestamp again (replaces), and one new sample, while the old ones sit in a block.
    db.write_lines(
        format!("{}{}", lp(5.0, T0), lp(3.0, T0 + 20_000)).as_bytes(),
        Precision::Milliseconds,
    )
    .unwrap();
    let want = vec![(T0, 5.0), (T0 + 10_000, 2.0), (T0 + 20_000, 3.0)];
    assert_eq!(all(&db)[0].samples, want);
    db.flush().unwrap();
    assert_eq!(db.blocks().len(), 2, "the open partition got a second block");
    assert_eq!(all(&db)[0].samples, want);
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(all(&db)[0].samples, want);
    // A sample far ahead closes the first partition: the next flush compacts its two blocks
    // into one (this once deadlocked, waiting on the block set the compactor itself held).
    db.write_lines(lp(4.0, T0 + 4 * HOUR).as_bytes(), Precision::Milliseconds)
        .unwrap();
    db.flush().unwrap();
    let first: Vec<_> = db.blocks().into_iter().filter(|b| b.maxt < T0 + HOUR).collect();
    assert_eq!(first.len(), 1, "the closed partition's blocks were merged: {first:?}");
    assert_eq!(first[0].samples, 3);
    let mut with_late = want.clone();
    with_late.push((T0 + 4 * HOUR, 4.0));
    assert_eq!(all(&db)[0].samples, with_late);
}

#[test]
fn late_samples_future_and_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t = now - 10 * HOUR;
    db.write_lines(format!("m f=1 {t}\n").as_bytes(), Precision::Milliseconds)
        .unwrap();
    let body = format!(
        "m f=2 {}\nm f=3 {}\nm f= {}\n# comment\n\nm f=4 {}\nm s=\"text\",f=5 {}\nm f=6\n",
        t - 30 * 60_000, // line 1: 30 min late: accepted
        t - 200 * HOUR,  // line 2: far outside the out-of-order window: accepted (backfill)
        t,               // line 3: malformed
        now + 2 * HOUR,  // line 6: too far in the future
        t + 1000,        // line 7: string field skipped, number stored
    );
    let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
    let lines: Vec<usize> = r.rejected.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 6], "{:?}", r.rejected);
    assert!(
        r.rejected[1].reason.contains("ahead of the server clock"),
        "{}",
        r.rejected[1].reason
    );
    assert_eq!(r.string_fields_skipped, 1);
    assert_eq!(r.samples_accepted, 4, "lines 1, 2, 7 and 8");
    assert_eq!(r.lines_accepted, 4);
    let s = db
        .select(&[LabelMatcher::equal("__name__", "m_f")], i64::MIN, i64::MAX)
        .unwrap();
    let vals: Vec<f64> = s[0].samples.iter().map(|x| x.1).collect();
    assert_eq!(&vals[..4], &[3.0, 2.0, 1.0, 5.0]);
    assert_eq!(vals.len(), 5, "the line without timestamp got the server time");
}

#[test]
fn samples_older_than_retention_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        retention_ms: Some(24 * HOUR),
        ..opts()
    };
    let db = Db::open(tmp.path(), o).unwrap();
    db.write_lines(
        format!("m f=1 {}\n", T0 + 48 * HOUR).as_bytes(),
        Precision::Milliseconds,
    )
    .unwrap();
    let body = format!("m f=2 {}\nm f=3 {}\n", T0 + 25 * HOUR, T0 + 23 * HOUR);
    let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
    assert_eq!(r.samples_accepted, 1);
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    assert_eq!(r.rejected[0].line, 2);
    assert!(r.rejected[0].reason.contains("retention"), "{}", r.rejected[0].reason);
}

/// `hosts` series x `n` points at 10 s starting at `from`, one series after another, as an export
/// is ordered; the values encode the series, the time and `round`.
fn history(hosts: usize, from: i64, n: i64, round: i64, reverse: bool) -> (Vec<String>, Expected) {
    let mut bodies = Vec::new();
    let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for h in 0..hosts {
        let mut body = String::new();
        let mut idx: Vec<i64> = (0..n).collect();
        if reverse {
            idx.reverse();
        }
        for i in idx {
            let t = from + i * 10_000;
            let v = (h as i64 * 1000 + i + round * 7) as f64 / 4.0;
            body.push_str(&format!("hist,host=h{h} v={v} {t}\n"));
            want.entry(format!("hist_v{{host=\"h{h}\"}}")).or_default().push((t, v));
            // Many small bodies: each flush of the backfill sees a part of the series.
            if body.len() > 4000 {
                bodies.push(std::mem::take(&mut body));
            }
        }
        bodies.push(body);
    }
    for v in want.values_mut() {
        v.sort_by_key(|s| s.0);
    }
    (bodies, want)
}

fn only(db: &Db, name: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    as_map(
        &db.select(&[LabelMatcher::equal("__name__", name)], i64::MIN, i64::MAX)
            .unwrap(),
    )
}

#[test]
fn backfill_series_by_series_reverse_and_interleaved_with_live() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        background_flush: true,
        backfill_flush_samples: 500,
        ..opts()
    };
    let db = Db::open(tmp.path(), o.clone()).unwrap();
    // Live data first: 6 h ahead of the history, so every history partition is closed.
    let live_from = T0 + 30 * HOUR;
    let (live, mut live_want) = rows(3, live_from, live_from + 2 * HOUR);
    db.write_lines(live.as_bytes(), Precision::Nanoseconds).unwrap();
    // Six hours of history, series by series, then a second pass backwards that overwrites it,
    // each body followed by a live write (interleaved with live traffic).
    let (first, _) = history(4, T0 + 20 * HOUR, 6 * 360, 0, false);
    let (second, want) = history(4, T0 + 20 * HOUR, 6 * 360, 1, true);
    let mut live_t = live_from + 2 * HOUR;
    for body in first.iter().chain(&second) {
        let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        let line = format!("cpu,host=h0 usage=1.5 {live_t}\n");
        db.write_lines(line.as_bytes(), Precision::Milliseconds).unwrap();
        live_want
            .entry("cpu_usage{host=\"h0\"}".into())
            .or_default()
            .push((live_t, 1.5));
        live_t += 1000;
    }
    // Visible at once, from the head or from blocks, whatever the flusher did meanwhile.
    assert_eq!(only(&db, "hist_v"), want);
    // The flusher writes the history to blocks by itself (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_blocks = |db: &Db| -> u64 {
        db.blocks()
            .iter()
            .filter(|b| b.maxt < live_from)
            .map(|b| b.samples)
            .sum()
    };
    while in_blocks(&db) < 4 * 6 * 360 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // One more idle period: the last bodies' flush.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(db.blocks().iter().any(|b| b.maxt < live_from), "history went to blocks");
    assert_eq!(only(&db, "hist_v"), want);
    // A range that was read gives the new answer after one more overwrite.
    let t = T0 + 21 * HOUR;
    db.write_lines(format!("hist,host=h2 v=-1 {t}\n").as_bytes(), Precision::Milliseconds)
        .unwrap();
    let mut want = want;
    for s in want.get_mut("hist_v{host=\"h2\"}").unwrap() {
        if s.0 == t {
            s.1 = -1.0;
        }
    }
    assert_eq!(only(&db, "hist_v"), want);
    db.close().unwrap();
    // Reopen: the same answer, and after a full flush every partition is one block.
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(only(&db, "hist_v"), want);
    db.flush().unwrap();
    let mut parts: Vec<i64> = db.blocks().iter().map(|b| b.partition).collect();
    let n = parts.len();
    parts.dedup();
    assert_eq!(parts.len(), n, "compaction merged each partition's blocks into one");
    assert_eq!(only(&db, "hist_v"), want);
    let cpu = only(&db, "cpu_usage");
    assert_eq!(
        cpu,
        live_want
            .into_iter()
            .filter(|(k, _)| k.starts_with("cpu_usage"))
            .collect()
    );
}

#[test]
fn an_overwrite_of_flushed_history_survives_reopen() {
    // The first value of a timestamp sits in a WAL segment kept for a live partition; the second
    // goes to a later block. Replay must not let the first win again.
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let live = T0 + 10 * HOUR;
    db.write_lines(format!("m f=0 {live}\n").as_bytes(), Precision::Milliseconds)
        .unwrap();
    let old = T0 + HOUR;
    db.write_lines(
        format!("m f=1 {old}\nm f=10 {}\n", live + 1000).as_bytes(),
        Precision::Milliseconds,
    )
    .unwrap();
    db.flush().unwrap();
    db.write_lines(
        format!("m f=2 {old}\nm f=20 {}\n", live + 2000).as_bytes(),
        Precision::Milliseconds,
    )
    .unwrap();
    db.flush().unwrap();
    db.write_lines(format!("m f=30 {}\n", live + 3000).as_bytes(), Precision::Milliseconds)
        .unwrap();
    let want = vec![
        (old, 2.0),
        (live, 0.0),
        (live + 1000, 10.0),
        (live + 2000, 20.0),
        (live + 3000, 30.0),
    ];
    assert_eq!(only(&db, "m_f")["m_f"], want);
    db.close().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(only(&db, "m_f")["m_f"], want);
}

#[test]
fn labels_and_matchers() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let body = "cpu,host=a,dc=x u=1 1000\ncpu,host=b u=2 1000\nmem,host=a free=3 1000\n";
    db.write_lines(body.as_bytes(), Precision::Seconds).unwrap();
    assert_eq!(
        db.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        vec!["__name__", "dc", "host"]
    );
    assert_eq!(
        db.label_values("__name__", &[], i64::MIN, i64::MAX).unwrap(),
        vec!["cpu_u", "mem_free"]
    );
    let m = [LabelMatcher::equal("host", "a")];
    assert_eq!(
        db.label_values("__name__", &m, i64::MIN, i64::MAX).unwrap(),
        vec!["cpu_u", "mem_free"]
    );
    let m = [
        matcher(MatchOp::RegexMatch, "__name__", "cpu.*").unwrap(),
        LabelMatcher::equal("dc", ""),
    ];
    let s = db.select(&m, 0, i64::MAX).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.to_string(), "cpu_u{host=\"b\"}");
    assert_eq!(s[0].samples, vec![(1_000_000, 2.0)]);
    assert!(db.select(&m, 0, 999_999).unwrap().is_empty(), "time range filters");
}

#[test]
fn torn_wal_tail_is_truncated_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options { shards: 1, ..opts() };
    {
        let db = Db::open(tmp.path(), o.clone()).unwrap();
        for i in 0..10 {
            db.write_lines(
                format!("m f={i} {}\n", T0 + i * 1000).as_bytes(),
                Precision::Milliseconds,
            )
            .unwrap();
        }
    }
    let seg_dir = tmp.path().join("wal/shard-000");
    let mut segs: Vec<_> = fs::read_dir(&seg_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segs.sort();
    let last = segs
        .iter()
        .rev()
        .find(|p| fs::metadata(p).unwrap().len() > 0)
        .unwrap()
        .clone();
    let len = fs::metadata(&last).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let db = Db::open(tmp.path(), o).unwrap();
    let rep = db.open_report();
    assert_eq!(rep.wal_damage.len(), 1, "{rep:?}");
    assert_eq!(rep.wal_damage[0].path, last);
    let s = all(&db);
    assert_eq!(s[0].samples.len(), 9, "everything before the torn record survives");
    // The engine keeps going: new writes work and survive a restart.
    db.write_lines(format!("m f=99 {}\n", T0 + 100_000).as_bytes(), Precision::Milliseconds)
        .unwrap();
    drop(db);
    let db = Db::open(tmp.path(), Options { shards: 1, ..opts() }).unwrap();
    assert!(db.open_report().wal_damage.is_empty());
    assert_eq!(all(&db)[0].samples.len(), 10);
}

#[test]
fn corrupted_block_is_quarantined_and_the_rest_served() {
    let tmp = tempfile::tempdir().unwrap();
    let (body, expect) = rows(2, T0, T0 + 4 * HOUR);
    {
        let db = Db::open(tmp.path(), opts()).unwrap();
        db.write_lines(body.as_bytes(), Precision::Nanoseconds).unwrap();
        db.flush().unwrap();
        assert_eq!(db.blocks().len(), 2);
    }
    let mut blocks: Vec<_> = fs::read_dir(tmp.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blocks.sort();
    let mut bytes = fs::read(&blocks[0]).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x01;
    fs::write(&blocks[0], bytes).unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let rep = db.open_report();
    assert_eq!(rep.quarantined.len(), 1, "{rep:?}");
    assert!(rep.quarantined[0].1.contains("checksum"), "{:?}", rep.quarantined[0]);
    assert!(
        tmp.path()
            .join("quarantine")
            .join(blocks[0].file_name().unwrap())
            .exists()
    );
    // The second partition is intact.
    let got = as_map(&all(&db));
    let want: BTreeMap<_, _> = expect
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().filter(|s| s.0 >= T0 + 2 * HOUR).collect::<Vec<_>>()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn series_that_stopped_leave_the_head_after_a_flush() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let lp = |k: &str, v: i64, t: i64| format!("m,k={k} f={v} {t}\n");
    // 40 series in the first partition; later only 10 of them (and 5 new ones) go on.
    let early: String = (0..40).map(|i| lp(&format!("s{i}"), i, T0)).collect();
    db.write_lines(early.as_bytes(), Precision::Milliseconds).unwrap();
    let late: String = (30..45).map(|i| lp(&format!("s{i}"), i, T0 + 3 * HOUR)).collect();
    db.write_lines(late.as_bytes(), Precision::Milliseconds).unwrap();
    assert_eq!(db.stats().head_series, 45);
    let mut want = as_map(&all(&db));
    assert_eq!(want.len(), 45);
    // Flushing everything empties the head: every series goes (their data is in blocks).
    db.flush().unwrap();
    assert_eq!(db.stats().head_series, 0, "the head forgets series without data");
    assert_eq!(as_map(&all(&db)), want);
    // A forgotten series can be written again; new and old samples read back together.
    let again: String = [lp("s0", 100, T0 + 3 * HOUR), lp("s44", 144, T0 + 3 * HOUR + 10)].concat();
    db.write_lines(again.as_bytes(), Precision::Milliseconds).unwrap();
    want.get_mut("m_f{k=\"s0\"}").unwrap().push((T0 + 3 * HOUR, 100.0));
    want.get_mut("m_f{k=\"s44\"}")
        .unwrap()
        .push((T0 + 3 * HOUR + 10, 144.0));
    assert_eq!(db.stats().head_series, 2);
    assert_eq!(as_map(&all(&db)), want);
    let sel = db
        .series(&[matcher(MatchOp::Equal, "k", "s0").unwrap()], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(sel.len(), 1);
    // The renumbered series are defined again in the WAL: replay maps each sample right.
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(db.stats().head_series, 2);
    assert_eq!(as_map(&all(&db)), want);
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _db = Db::open(tmp.path(), opts()).unwrap();
    assert!(matches!(Db::open(tmp.path(), opts()), Err(Error::Locked(_))));
}

#[test]
fn background_flush_turns_closed_partitions_into_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        background_flush: true,
        ..opts()
    };
    let db = Db::open(tmp.path(), o).unwrap();
    let (body, expect) = rows(3, T0, T0 + 6 * HOUR);
    db.write_lines(body.as_bytes(), Precision::Nanoseconds).unwrap();
    // Newest sample at T0+6h, window 1 h: partitions before T0+4h are closed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.blocks().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks.iter().all(|b| b.sealed));
    assert_eq!(as_map(&all(&db)), expect);
    // A closed partition still takes samples (a backfill): they go to a new block by themselves,
    // and compaction merges it with the partition's block once backfill has been quiet.
    let r = db
        .write_lines(
            format!("cpu,host=h0,dc=eu usage=-1 {}\n", T0 + HOUR).as_bytes(),
            Precision::Milliseconds,
        )
        .unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let mut expect = expect;
    for s in expect.get_mut("cpu_usage{dc=\"eu\", host=\"h0\"}").unwrap() {
        if s.0 == T0 + HOUR {
            s.1 = -1.0;
        }
    }
    assert_eq!(as_map(&all(&db)), expect);
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.blocks().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(db.blocks().len(), 3, "the backfilled sample went to a block of its own");
    assert_eq!(as_map(&all(&db)), expect);
}

// ---- crash test -------------------------------------------------------------------------------

const CRASH_DIR: &str = "FORESIGHT_CRASH_DIR";
const CRASH_FROM: &str = "FORESIGHT_CRASH_FROM";
const SERIES: i64 = 20;
const PER_BATCH: i64 = 30;

/// Series written backwards into closed partitions (a backfill) beside the live ones.
const BACKFILL_SERIES: i64 = 4;

/// Batch `b` writes PER_BATCH consecutive 1 s samples for each of SERIES series, and as many
/// samples going back in time, before T0, for each of BACKFILL_SERIES series.
fn crash_batch(b: i64) -> String {
    let mut s = String::new();
    for i in 0..PER_BATCH {
        let t = T0 + (b * PER_BATCH + i) * 1000;
        for k in 0..SERIES {
            s.push_str(&format!("crash,s=s{k} v={} {t}\n", crash_value(k, t)));
        }
        let old = T0 - (b * PER_BATCH + i + 1) * 1000;
        for k in 0..BACKFILL_SERIES {
            s.push_str(&format!("crashbf,s=s{k} v={} {old}\n", crash_value(k, old)));
        }
    }
    s
}

fn crash_value(k: i64, t: i64) -> f64 {
    ((t / 1000) * 7 + k * 13) as f64 / 4.0
}

/// The child side: runs only when spawned by `crash_kill_loop` with the env vars set.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else { return };
    let from: i64 = std::env::var(CRASH_FROM).unwrap().parse().unwrap();
    let o = Options {
        shards: 2,
        durability: Durability::Fsync,
        // Small partitions and window so blocks are cut and the WAL released while we are killed.
        partition_ms: 60_000,
        out_of_order_window_ms: 30_000,
        background_flush: true,
        wal_segment_bytes: 64 << 10,
        // Backfilled samples go to blocks several times a second while we are killed.
        backfill_flush_samples: 200,
        ..Options::default()
    };
    let db = Db::open(&dir, o).unwrap();
    for b in from.. {
        let r = db
            .write_lines(crash_batch(b).as_bytes(), Precision::Milliseconds)
            .unwrap();
        assert!(r.rejected.is_empty());
        println!("ack {b}");
    }
}

fn check_crash_dir(dir: &Path, acked: i64, max_started: i64) {
    let o = Options {
        shards: 2,
        partition_ms: 60_000,
        out_of_order_window_ms: 30_000,
        background_flush: false,
        ..opts()
    };
    let db = Db::open(dir, o).unwrap();
    let series = db
        .select(&[LabelMatcher::equal("__name__", "crash_v")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(series.len() as i64, SERIES);
    for s in &series {
        let k: i64 = s.labels.get("s").unwrap()[1..].parse().unwrap();
        let n = s.samples.len() as i64;
        assert!(
            n >= acked * PER_BATCH,
            "series s{k}: {n} samples, {acked} batches acknowledged"
        );
        assert!(
            n <= max_started * PER_BATCH,
            "series s{k}: {n} samples, only {max_started} batches started"
        );
        for (i, (t, v)) in s.samples.iter().enumerate() {
            assert_eq!(*t, T0 + i as i64 * 1000, "series s{k}: gap or duplicate at index {i}");
            assert_eq!(*v, crash_value(k, *t));
        }
    }
    let backfilled = db
        .select(&[LabelMatcher::equal("__name__", "crashbf_v")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(backfilled.len() as i64, BACKFILL_SERIES);
    for s in &backfilled {
        let k: i64 = s.labels.get("s").unwrap()[1..].parse().unwrap();
        let n = s.samples.len() as i64;
        assert!(
            n >= acked * PER_BATCH && n <= max_started * PER_BATCH,
            "backfilled series s{k}: {n} samples, {acked} batches acknowledged, {max_started} started"
        );
        for (i, (t, v)) in s.samples.iter().enumerate() {
            assert_eq!(
                *t,
                T0 - (n - i as i64) * 1000,
                "backfilled series s{k}: gap or duplicate at index {i}"
            );
            assert_eq!(*v, crash_value(k, *t));
        }
    }
    db.close().unwrap();
}

#[test]
fn crash_kill_loop() {
    if std::env::var(CRASH_DIR).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut next_batch = 0i64;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..24 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let run_ms = 30 + rng % 400;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CRASH_DIR, tmp.path())
            .env(CRASH_FROM, next_batch.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Not a prefix: the harness prints `test crash_child ... ` without a line end
                // before the test's own output, so the first ack shares its line (missing it
                // let a kill right after that ack pass for a kill before it).
                if let Some((_, b)) = line.split_once("ack ") {
                    let _ = tx.send(b.trim().parse::<i64>().unwrap());
                }
            }
        });
        std::thread::sleep(Duration::from_millis(run_ms));
        // SIGKILL: no destructor, no final fsync.
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let acks: Vec<i64> = rx.try_iter().collect();
        let last_acked = acks.last().copied().map_or(next_batch, |b| b + 1);
        // The batch in flight when killed may or may not have landed, in part.
        check_crash_dir(tmp.path(), last_acked, last_acked + 1);
        // Continue after whatever landed: rewrite the in-flight batch (same values: idempotent).
        next_batch = last_acked;
        eprintln!(
            "round {round}: ran {run_ms} ms, {} batches acknowledged in total",
            next_batch
        );
    }
    assert!(next_batch > 24, "the child made progress");
}

#[test]
fn write_path_maps_lines_to_series_consistently() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    let body = concat!(
        "m,a=1,b=2 x=1,y=2 1000\n",
        "m,b=2,a=1 y=3,x=4 2000\n",    // tags and fields in another order: same series
        "m,a=1,b=2 z=5 3000\n",        // a new field of a known tag set
        "m\\ x,a=1 x=1 4000\n",        // escaped measurement
        "m,a=1,__name__=q x=1 5000\n", // reserved tag
        "m,a=1,a=2 x=1 6000\n",        // duplicate tag key
        "m,a=1,b= x=7 7000\n",         // empty tag value: the label is absent
        "m,a=1,b=2 x=9 1000\n",        // same timestamp again: replaces
    );
    let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
    let bad: Vec<usize> = r.rejected.iter().map(|e| e.line).collect();
    assert!(
        bad.contains(&5) && !bad.contains(&1) && !bad.contains(&2),
        "{:?}",
        r.rejected
    );
    let got = as_map(&all(&db));
    let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    want.insert("m_x{a=\"1\", b=\"2\"}".into(), vec![(1_000, 9.0), (2_000, 4.0)]);
    want.insert("m_y{a=\"1\", b=\"2\"}".into(), vec![(1_000, 2.0), (2_000, 3.0)]);
    want.insert("m_z{a=\"1\", b=\"2\"}".into(), vec![(3_000, 5.0)]);
    want.insert("m x_x{a=\"1\"}".into(), vec![(4_000, 1.0)]);
    if !bad.contains(&7) {
        want.insert("m_x{a=\"1\"}".into(), vec![(7_000, 7.0)]);
    }
    assert_eq!(got, want);
}

// ---- model-based test -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Lines (series, time offset, value) written in one call.
    Write(Vec<(u8, i64, i32)>),
    Flush,
    Reopen,
}

fn op_strategy() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        6 => proptest::collection::vec((0u8..3, 0i64..400, -50i32..50), 1..12).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Random writes (overwrites, late samples and samples of partitions already flushed),
    /// flushes (with compaction) and reopens, checked after every step against a BTreeMap that
    /// applies "last write wins".
    #[test]
    fn database_matches_a_btreemap(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let o = Options {
            shards: 2,
            partition_ms: 1_000,
            out_of_order_window_ms: 2_500,
            background_flush: false,
            chunk_samples: 4,
            ..Options::default()
        };
        let mut db = Db::open(tmp.path(), o.clone()).unwrap();
        let mut model: BTreeMap<(u8, i64), f64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Write(lines) => {
                    let body: String = lines
                        .iter()
                        .map(|(s, off, v)| format!("m,s=s{s} v={v} {}\n", T0 + off * 10))
                        .collect();
                    let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
                    // Any age is accepted: no retention is set.
                    for (s, off, v) in &lines {
                        model.insert((*s, T0 + off * 10), f64::from(*v));
                    }
                    proptest::prop_assert!(r.rejected.is_empty(), "{:?}", r.rejected);
                }
                Op::Flush => db.flush().unwrap(),
                Op::Reopen => {
                    db.close().unwrap();
                    db = Db::open(tmp.path(), o.clone()).unwrap();
                }
            }
            let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            for ((s, t), v) in &model {
                want.entry(format!("m_v{{s=\"s{s}\"}}")).or_default().push((*t, *v));
            }
            proptest::prop_assert_eq!(as_map(&all(&db)), want);
        }
    }
}

#[test]
fn history_lands_in_few_long_blocks_and_compaction_merges_overlaps() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    // Live data far ahead, so three days of history are all closed.
    let (live, _) = rows(1, T0 + 400 * HOUR, T0 + 401 * HOUR);
    db.write_lines(live.as_bytes(), Precision::Nanoseconds).unwrap();
    // Three passes over 72 h of history at 60 s, each flushed: every pass writes a few long blocks
    // over the same ranges; the last pass overwrites one value in three.
    let mut want: BTreeMap<i64, f64> = BTreeMap::new();
    for pass in 0..3 {
        let mut body = String::new();
        for i in 0..72 * 60 {
            if pass > 0 && i % 3 != pass {
                continue;
            }
            let t = T0 + i * 60_000;
            let v = (i * 10 + pass) as f64;
            body.push_str(&format!("old v={v} {t}\n"));
            want.insert(t, v);
        }
        let r = db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
        assert!(r.rejected.is_empty());
        db.flush().unwrap();
        let history: Vec<_> = db.blocks().into_iter().filter(|b| b.maxt < T0 + 400 * HOUR).collect();
        assert!(
            history.len() <= 4,
            "72 h of closed history in a few long blocks, not 36 partitions: {history:?}"
        );
        let got = only(&db, "old_v");
        assert_eq!(got["old_v"], want.iter().map(|(t, v)| (*t, *v)).collect::<Vec<_>>());
    }
    // Overlapping passes were merged: no two history blocks share a time range.
    let mut history: Vec<_> = db.blocks().into_iter().filter(|b| b.maxt < T0 + 400 * HOUR).collect();
    history.sort_by_key(|b| b.mint);
    assert!(history.windows(2).all(|w| w[0].maxt < w[1].mint), "{history:?}");
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(only(&db, "old_v")["old_v"].len(), 72 * 60);
}

#[path = "engine/tiers.rs"]
mod tiers;

mod rollups {
    use super::*;
    use foresight_engine::{ROLLUP_RESOLUTIONS, RollupWindow};
    use proptest::prelude::*;

    fn close(a: f64, b: f64, scale: f64) -> bool {
        (a - b).abs() <= 1e-9 * scale.max(1.0)
    }

    /// Checks a window against the raw samples of its span.
    fn check_window(w: &RollupWindow, raw: &[(i64, f64)]) -> Result<(), TestCaseError> {
        prop_assert_eq!(w.count, raw.len() as u64, "window at {}", w.start);
        let scale: f64 = raw.iter().map(|s| s.1.abs()).sum();
        let sum: f64 = raw.iter().map(|s| s.1).sum();
        let sumsq: f64 = raw.iter().map(|s| s.1 * s.1).sum();
        prop_assert!(close(w.sum, sum, scale), "sum {} vs {}", w.sum, sum);
        prop_assert!(close(w.sumsq, sumsq, scale * scale), "sumsq {} vs {}", w.sumsq, sumsq);
        let min = raw.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        let max = raw.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
        prop_assert_eq!((w.min, w.max), (min, max));
        prop_assert_eq!(w.first, raw[0]);
        prop_assert_eq!(w.last, raw[raw.len() - 1]);
        let (mut inc, mut resets) = (0.0, 0);
        for p in raw.windows(2) {
            if p[1].1 < p[0].1 {
                resets += 1;
                inc += p[1].1;
            } else {
                inc += p[1].1 - p[0].1;
            }
        }
        prop_assert!(close(w.increase, inc, scale), "increase {} vs {}", w.increase, inc);
        prop_assert_eq!(w.resets, resets);
        let mut sorted: Vec<f64> = raw.iter().map(|s| s.1).collect();
        sorted.sort_by(f64::total_cmp);
        for (r, &exact) in sorted.iter().enumerate() {
            let got = w.sketch.value_at_rank(r as u64);
            prop_assert!(
                (got - exact).abs() <= exact.abs() * foresight_engine::sketch::RELATIVE_ERROR * (1.0 + 1e-9),
                "rank {} of window {}: {} vs {}",
                r,
                w.start,
                got,
                exact
            );
        }
        Ok(())
    }

    fn batch() -> impl Strategy<Value = Vec<(i64, i64)>> {
        // (step ms, value in hundredths): ~7 h of irregular samples.
        proptest::collection::vec((1_000i64..40_000, -5_000i64..5_000), 600..1_200)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

        /// Written in two overlapping batches (flushed, then compacted together), reopened: every
        /// window the database returns summarises exactly the raw samples of its span, and every
        /// sample is in a whole window once the history is closed and compacted.
        #[test]
        fn rollups_answer_as_the_raw_samples(a in batch(), b in batch()) {
            let tmp = tempfile::tempdir().unwrap();
            let write = |db: &Db, steps: &[(i64, i64)], offset: i64| {
                let mut body = String::new();
                let mut t = T0 + offset;
                for &(d, v) in steps {
                    t += d;
                    body.push_str(&format!("lat,svc=s{} v={} {}\n", v.rem_euclid(2), v as f64 / 100.0, t));
                }
                db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
            };
            let opts = || Options {
                rollup_windows_ms: ROLLUP_RESOLUTIONS.to_vec(),
                ..opts()
            };
            let db = Db::open(tmp.path(), opts()).unwrap();
            write(&db, &a, 0);
            db.flush().unwrap();
            write(&db, &b, 7);
            // A sample a day later closes every partition of the batches, so they compact.
            db.write_lines(format!("other v=1 {}\n", T0 + 40 * HOUR).as_bytes(), Precision::Milliseconds).unwrap();
            db.flush().unwrap();
            db.close().unwrap();
            let db = Db::open(tmp.path(), opts()).unwrap();
            let sel = [LabelMatcher::equal("__name__", "lat_v")];
            let raw = db.select(&sel, i64::MIN, i64::MAX).unwrap();
            for len in ROLLUP_RESOLUTIONS {
                let got = db.rollups(&sel, len, i64::MIN, i64::MAX).unwrap();
                prop_assert_eq!(got.len(), raw.len());
                for (g, r) in got.iter().zip(&raw) {
                    prop_assert_eq!(&g.labels, &r.labels);
                    let mut n = 0;
                    for w in &g.windows {
                        let lo = r.samples.partition_point(|s| s.0 < w.start);
                        let hi = r.samples.partition_point(|s| s.0 < w.start + len);
                        check_window(w, &r.samples[lo..hi])?;
                        n += w.count;
                    }
                    prop_assert_eq!(n, r.samples.len() as u64, "every sample in a whole window");
                }
            }
            // A range cut inside windows returns only the windows it holds entirely.
            let got = db.rollups(&sel, HOUR, T0 + 1, T0 + 3 * HOUR - 1).unwrap();
            for g in &got {
                let starts: Vec<i64> = g.windows.iter().map(|w| w.start).collect();
                prop_assert!(starts.iter().all(|&s| s == T0 + HOUR || s == T0 + 2 * HOUR), "{:?}", starts);
            }
            prop_assert!(db.rollups(&sel, 60_000, i64::MIN, i64::MAX).is_err());
        }
    }

    /// PromQL's range functions over a database whose history sits in flushed (sometimes
    /// compacted, sometimes overlapping) blocks, with head data at the recent edge: the answers
    /// from rollups are the raw answers (up to float rounding of sums; within the sketch's bound
    /// for quantiles).
    mod promql {
        use foresight_engine::promql::{Engine, EngineOptions, Value};
        use foresight_engine::sketch::RELATIVE_ERROR;

        use super::*;

        const FUNCS: [&str; 12] = [
            "count_over_time(lat_v[R])",
            "sum_over_time(lat_v[R])",
            "avg_over_time(lat_v[R])",
            "min_over_time(lat_v[R])",
            "max_over_time(lat_v[R])",
            "last_over_time(lat_v[R])",
            "resets(lat_v[R])",
            "delta(lat_v[R])",
            "increase(lat_v[R])",
            "rate(lat_v[R])",
            "quantile_over_time(0.99, lat_v[R])",
            "quantile_over_time(0.5, lat_v[R])",
        ];

        fn points(v: Value) -> Vec<(String, Vec<(i64, f64)>)> {
            match v {
                Value::Vector(v) => v
                    .into_iter()
                    .map(|s| (s.labels.to_string(), vec![(s.t, s.v)]))
                    .collect(),
                Value::Matrix(m) => m
                    .into_iter()
                    .map(|s| (s.labels.to_string(), s.samples.to_vec()))
                    .collect(),
                other => panic!("unexpected {other:?}"),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

            #[test]
            fn rollup_answers_are_the_raw_answers(
                a in batch(),
                b in batch(),
                flush_b in any::<bool>(),
                close in any::<bool>(),
                reopen in any::<bool>(),
                at in 0i64..10 * HOUR,
                range_h in 4i64..9,
                range_extra in 0i64..HOUR,
                steps in 0i64..4,
            ) {
                let tmp = tempfile::tempdir().unwrap();
                let write = |db: &Db, steps: &[(i64, i64)], offset: i64| {
                    let mut body = String::new();
                    let mut t = T0 + offset;
                    for &(d, v) in steps {
                        t += d;
                        // A counter-like climb with resets where the value is negative.
                        body.push_str(&format!("lat,svc=s{} v={} {}\n", v.rem_euclid(2), v.max(0) as f64 / 100.0 + (t - T0) as f64 / 1e6, t));
                    }
                    db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
                };
                let opts = || Options {
                    rollup_windows_ms: ROLLUP_RESOLUTIONS.to_vec(),
                    ..opts()
                };
                let mut db = Db::open(tmp.path(), opts()).unwrap();
                write(&db, &a, 0);
                db.flush().unwrap();
                // The second batch overlaps the first: late writes, in the head or in a block.
                write(&db, &b, 7 + HOUR);
                if flush_b {
                    db.flush().unwrap();
                }
                if close {
                    // Closes the partitions, so the overlapping blocks compact.
                    db.write_lines(format!("other v=1 {}\n", T0 + 40 * HOUR).as_bytes(), Precision::Milliseconds).unwrap();
                    db.flush().unwrap();
                }
                if reopen {
                    db.close().unwrap();
                    db = Db::open(tmp.path(), opts()).unwrap();
                }
                let rollups = Engine::new(EngineOptions::default());
                let raw = Engine::new(EngineOptions { rollups: false, ..EngineOptions::default() });
                let range = range_h * HOUR + range_extra / 1000 * 1000;
                let at = T0 + at / 1000 * 1000;
                for f in FUNCS {
                    let q = f.replace('R', &format!("{}s", range / 1000));
                    let (got, want) = if steps == 0 {
                        (rollups.instant_query(&db, &q, at).unwrap(), raw.instant_query(&db, &q, at).unwrap())
                    } else {
                        let end = at + steps * HOUR;
                        (rollups.range_query(&db, &q, at, end, HOUR).unwrap(), raw.range_query(&db, &q, at, end, HOUR).unwrap())
                    };
                    let (got, want) = (points(got.value), points(want.value));
                    prop_assert_eq!(got.len(), want.len(), "{}", q);
                    for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
                        prop_assert_eq!(gl, wl);
                        prop_assert_eq!(gs.len(), ws.len());
                        for (&(gt, g), &(wt, w)) in gs.iter().zip(ws) {
                            prop_assert_eq!(gt, wt);
                            // Values here are positive (quantiles within the relative bound).
                            let tol = if q.starts_with("quantile") { w.abs() * RELATIVE_ERROR * (1.0 + 1e-9) } else { 1e-9 * w.abs().max(1.0) };
                            prop_assert!((g - w).abs() <= tol || g == w, "{} at {} for {}: rollups {} raw {}", q, gt, gl, g, w);
                        }
                    }
                }
                // The raw reads were the edges, not the history.
                let q = format!("count_over_time(lat_v[{}s])", 8 * HOUR / 1000);
                let r = rollups.instant_query(&db, &q, T0 + 9 * HOUR).unwrap();
                let n = raw.instant_query(&db, &q, T0 + 9 * HOUR).unwrap();
                prop_assert!(r.stats.samples_scanned <= n.stats.samples_scanned);
                if close {
                    // The first hour of the range is raw (the window starting at the range's
                    // open start is not inside it); the next three are windows.
                    prop_assert!(r.stats.samples_scanned * 2 < n.stats.samples_scanned, "{:?} vs {:?}", r.stats, n.stats);
                }
            }
        }
    }

    #[test]
    fn windows_with_head_data_or_overlapping_blocks_are_left_out() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = Options {
            rollup_windows_ms: vec![60_000],
            ..opts()
        };
        assert!(matches!(Db::open(tmp.path(), bad), Err(Error::InvalidArgument(_))));
        let db = Db::open(tmp.path(), opts()).unwrap();
        let (body, _) = rows(1, T0, T0 + 2 * HOUR);
        db.write_lines(body.as_bytes(), Precision::Nanoseconds).unwrap();
        let sel = [LabelMatcher::equal("__name__", "cpu_usage")];
        assert!(
            db.rollups(&sel, HOUR, i64::MIN, i64::MAX).unwrap().is_empty(),
            "head only"
        );
        db.flush().unwrap();
        let got = db.rollups(&sel, HOUR, i64::MIN, i64::MAX).unwrap();
        assert_eq!(got[0].windows.len(), 2);
        // A late sample in the first hour: its block overlaps the first window until compaction.
        db.write_lines(
            format!("cpu,host=h0,dc=eu usage=5 {}\n", T0 + 5).as_bytes(),
            Precision::Milliseconds,
        )
        .unwrap();
        // The head's partition (2 h) spans both windows.
        assert!(
            db.rollups(&sel, HOUR, i64::MIN, i64::MAX).unwrap().is_empty(),
            "head over both hours"
        );
        db.flush().unwrap();
        let got = db.rollups(&sel, HOUR, i64::MIN, i64::MAX).unwrap();
        let starts: Vec<i64> = got[0].windows.iter().map(|w| w.start).collect();
        assert_eq!(
            starts,
            vec![T0 + HOUR],
            "the late sample's block overlaps the first hour"
        );
        // Later data closes the partition: its two blocks compact into one.
        db.write_lines(
            format!("other v=1 {}\n", T0 + 40 * HOUR).as_bytes(),
            Precision::Milliseconds,
        )
        .unwrap();
        db.flush().unwrap();
        let got = db.rollups(&sel, HOUR, i64::MIN, i64::MAX).unwrap();
        assert_eq!(got[0].windows.len(), 2, "compacted");
        assert_eq!(got[0].windows[0].count, 361);
    }
}
