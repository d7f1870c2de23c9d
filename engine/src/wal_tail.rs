//! Reading a shard's WAL while it is written: the source of the server's forwarding to remote
//! write, as Prometheus's remote write follows its own WAL instead of keeping a second queue.
//!
//! A [`WalTail`] follows one shard's segments from a [`WalPosition`] (a segment and a byte offset
//! after a whole record), hands out the samples of the records it passes, and can be reopened at
//! a saved position after a restart. Because a segment holds the definitions of the series it
//! uses, a reader opened in the middle of a segment first reads the definitions before its
//! offset. Segments whose data is already in blocks are kept for the reader when
//! [`crate::Options::wal_keep_released`] is set (renamed `NNNNNNNNNN.done`, which replay never
//! reads); [`remove_released`] deletes them once every reader is past them.
//!
//! What the reader can meet, and what it does:
//! - the end of the newest segment, possibly in the middle of a record being written: it stops
//!   there and reads on at the next call;
//! - a torn or corrupted record at the end of an older segment (a crash, or a damaged file): the
//!   rest of that segment is skipped, counted in [`WalTail::skipped_bytes`];
//! - a segment that is gone (deleted because no reader kept it): the next one is read, counted in
//!   [`WalTail::skipped_segments`].

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::format::{WAL_HEADER_LEN, WAL_MAX_RECORD};
use crate::model::{Labels, Series};
use crate::wal::{self, RELEASED_EXT, RecordVisitor};

/// Bytes read from a segment file at a time.
const READ_BYTES: usize = 4 << 20;

/// A place in one shard's WAL: just after a whole record (offset 0 is a segment's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

impl fmt::Display for WalPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

impl FromStr for WalPosition {
    type Err = String;

    /// Parses the `segment:offset` form [`WalPosition`]'s `Display` writes.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (seg, off) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("expected segment:offset, found {s:?}"))?;
        Ok(WalPosition {
            segment: seg.parse().map_err(|_| format!("bad segment number {seg:?}"))?,
            offset: off.parse().map_err(|_| format!("bad offset {off:?}"))?,
        })
    }
}

/// The WAL directory of shard `shard` in the data directory `data_dir`.
pub fn shard_dir(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir.join("wal").join(format!("shard-{shard:03}"))
}

/// The number of WAL shards of a data directory (0 before the database was first opened).
pub fn shard_count(data_dir: &Path) -> Result<usize> {
    let mut n = 0;
    while shard_dir(data_dir, n).is_dir() {
        n += 1;
    }
    Ok(n)
}

/// Segment numbers present in `dir`, live (`.wal`) and kept (`.done`) alike, ascending.
fn all_segments(dir: &Path) -> Result<Vec<u64>> {
    wal::list_segments_with(dir, &["wal", RELEASED_EXT])
}

/// Deletes shard `shard`'s kept segments numbered below `before` (every reader is past them).
/// Returns how many files and bytes were deleted.
pub fn remove_released(data_dir: &Path, shard: usize, before: u64) -> Result<(usize, u64)> {
    let dir = shard_dir(data_dir, shard);
    let (mut files, mut bytes) = (0, 0);
    for seq in all_segments(&dir)? {
        if seq >= before {
            break;
        }
        let p = wal::released_path(&dir, seq);
        let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&p) {
            Ok(()) => {
                files += 1;
                bytes += len;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Ok((files, bytes))
}

/// The file whose presence says released segments are kept (see `Options::wal_keep_released`).
const KEEP_MARKER: &str = "KEEP_RELEASED";

/// Resolves `Options::wal_keep_released` against the directory's record, updating the record.
pub(crate) fn keep_released(data_dir: &Path, choice: Option<bool>) -> Result<bool> {
    let marker = data_dir.join("wal").join(KEEP_MARKER);
    match choice {
        None => Ok(marker.exists()),
        Some(true) => {
            if !marker.exists() {
                fs::write(
                    &marker,
                    b"released WAL segments are kept for a WAL reader (forwarding)\n",
                )
                .map_err(|e| Error::io(&marker, e))?;
                wal::sync_dir(&data_dir.join("wal"))?;
            }
            Ok(true)
        }
        Some(false) => {
            match fs::remove_file(&marker) {
                Ok(()) => wal::sync_dir(&data_dir.join("wal"))?,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&marker, e)),
            }
            Ok(false)
        }
    }
}

/// The segments of shard `shard`'s WAL, live and kept, ascending, with their sizes in bytes.
pub fn segment_sizes(data_dir: &Path, shard: usize) -> Result<Vec<(u64, u64)>> {
    let dir = shard_dir(data_dir, shard);
    let mut out = Vec::new();
    for seq in all_segments(&dir)? {
        let mut len = 0;
        for p in [wal::segment_path(&dir, seq), wal::released_path(&dir, seq)] {
            if let Ok(m) = fs::metadata(&p) {
                len += m.len();
            }
        }
        out.push((seq, len));
    }
    Ok(out)
}

/// A reader following one shard's WAL. See the module documentation.
#[derive(Debug)]
pub struct WalTail {
    dir: PathBuf,
    pos: WalPosition,
    /// The open segment; its read position is `pos.offset + buf.len()`.
    file: Option<File>,
    /// Bytes read from the segment and not yet handed out; they start at `pos.offset`.
    buf: Vec<u8>,
    /// Series defined so far in the current segment, by their segment-local id.
    ids: HashMap<u64, Labels>,
    skipped_segments: u64,
    skipped_bytes: u64,
}

impl WalTail {
    /// A reader at the end of shard `shard`'s WAL: it will see what is written from now on.
    pub fn at_end(data_dir: &Path, shard: usize) -> Result<WalTail> {
        let dir = shard_dir(data_dir, shard);
        let segment = all_segments(&dir)?.last().copied().unwrap_or(0);
        WalTail::open(
            data_dir,
            shard,
            WalPosition {
                segment,
                offset: u64::MAX,
            },
        )
    }

    /// A reader at `pos` (as [`WalTail::position`] gave it), or at the first whole record before
    /// it. A segment that is gone is skipped: the reader starts at the next one there is.
    pub fn open(data_dir: &Path, shard: usize, pos: WalPosition) -> Result<WalTail> {
        let mut t = WalTail {
            dir: shard_dir(data_dir, shard),
            pos: WalPosition {
                segment: pos.segment,
                offset: 0,
            },
            file: None,
            buf: Vec::new(),
            ids: HashMap::new(),
            skipped_segments: 0,
            skipped_bytes: 0,
        };
        if !t.open_segment()? {
            // Gone (segment 0 is "no segment yet", not a loss).
            if pos.segment > 0 {
                t.skipped_segments += 1;
            }
            t.next_segment()?;
            return Ok(t);
        }
        // Learn the definitions before the offset; stop at the offset or the last whole record.
        t.fill()?;
        let mut at = 0usize;
        while (at as u64) < pos.offset {
            match record_at(&t.buf, at) {
                Frame::Record { payload, next } => {
                    if next as u64 > pos.offset {
                        break;
                    }
                    // A record that does not decode is skipped here as it is when read.
                    let _ = wal::visit_record(payload, &mut Definitions { ids: &mut t.ids });
                    at = next;
                }
                Frame::Incomplete => {
                    if t.fill()? == 0 {
                        break;
                    }
                }
                Frame::Bad(_) => break,
            }
        }
        t.buf.drain(..at);
        t.pos.offset = at as u64;
        Ok(t)
    }

    /// Where the reader is: everything before it has been handed out.
    pub fn position(&self) -> WalPosition {
        self.pos
    }

    /// Segments found missing and skipped so far (their samples were not read).
    pub fn skipped_segments(&self) -> u64 {
        self.skipped_segments
    }

    /// Bytes of torn or corrupted segment ends skipped so far.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// Reads whole records until at least `max_samples` samples were read or the end of the WAL
    /// is reached, appending them to `out` (one entry per series and record group, in WAL order).
    /// Returns the number of samples read; 0 means the reader is at the end for now.
    pub fn read(&mut self, max_samples: usize, out: &mut Vec<Series>) -> Result<usize> {
        let mut read = 0usize;
        let mut last_grow_was_empty = false;
        loop {
            if read >= max_samples {
                return Ok(read);
            }
            let mut at = 0usize;
            let mut damaged: Option<&'static str> = None;
            {
                let mut v = Collect {
                    ids: &mut self.ids,
                    out,
                    read,
                };
                while v.read < max_samples {
                    match record_at(&self.buf, at) {
                        Frame::Record { payload, next } => {
                            if let Err(reason) = wal::visit_record(payload, &mut v) {
                                tracing::warn!(dir = %self.dir.display(), segment = self.pos.segment,
                                    offset = self.pos.offset + at as u64, reason, "skipping an unreadable WAL record");
                            }
                            at = next;
                        }
                        Frame::Incomplete => break,
                        Frame::Bad(reason) => {
                            damaged = Some(reason);
                            break;
                        }
                    }
                }
                read = v.read;
            }
            self.buf.drain(..at);
            self.pos.offset += at as u64;
            if read >= max_samples {
                return Ok(read);
            }
            if damaged.is_none() {
                // Need more bytes (or the segment is done).
                if self.file.is_some() && self.fill()? > 0 {
                    last_grow_was_empty = false;
                    continue;
                }
                if !self.later_segment_exists()? {
                    return Ok(read);
                }
                // A later segment exists, so this one is complete; read once more in case the
                // last bytes arrived between the read above and the rotation.
                if !last_grow_was_empty && self.file.is_some() {
                    last_grow_was_empty = true;
                    continue;
                }
            } else if !self.later_segment_exists()? {
                // A bad record in the newest segment may be one still being written: wait.
                return Ok(read);
            }
            if !self.buf.is_empty() {
                let reason = damaged.unwrap_or("torn record at the end of the segment");
                self.skipped_bytes += self.buf.len() as u64;
                tracing::warn!(dir = %self.dir.display(), segment = self.pos.segment, offset = self.pos.offset,
                    bytes = self.buf.len(), reason, "skipping the rest of a WAL segment");
            }
            last_grow_was_empty = false;
            if !self.next_segment()? {
                return Ok(read);
            }
        }
    }

    /// Opens the current segment's file (live or kept); false when it is gone.
    fn open_segment(&mut self) -> Result<bool> {
        self.buf.clear();
        self.ids.clear();
        self.file = None;
        for p in [
            wal::segment_path(&self.dir, self.pos.segment),
            wal::released_path(&self.dir, self.pos.segment),
        ] {
            match File::open(&p) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(self.pos.offset)).map_err(|e| Error::io(&p, e))?;
                    self.file = Some(f);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        Ok(false)
    }

    /// Moves to the next segment there is; false when there is none yet (the reader stays put).
    fn next_segment(&mut self) -> Result<bool> {
        loop {
            let Some(next) = all_segments(&self.dir)?.into_iter().find(|&s| s > self.pos.segment) else {
                return Ok(false);
            };
            self.pos = WalPosition {
                segment: next,
                offset: 0,
            };
            if self.open_segment()? {
                return Ok(true);
            }
            // Deleted between the listing and the open: count it and look again.
            self.skipped_segments += 1;
        }
    }

    fn later_segment_exists(&self) -> Result<bool> {
        Ok(all_segments(&self.dir)?.last().is_some_and(|&s| s > self.pos.segment))
    }

    /// Appends what the segment file has beyond what was read; returns the bytes added.
    fn fill(&mut self) -> Result<usize> {
        let Some(f) = self.file.as_mut() else {
            return Ok(0);
        };
        let before = self.buf.len();
        let path = &self.dir;
        f.by_ref()
            .take(READ_BYTES as u64)
            .read_to_end(&mut self.buf)
            .map_err(|e| Error::io(path, e))?;
        Ok(self.buf.len() - before)
    }
}

/// One step of framing: a whole record, too few bytes yet, or a record that cannot be right.
enum Frame<'a> {
    Record { payload: &'a [u8], next: usize },
    Incomplete,
    Bad(&'static str),
}

fn record_at(buf: &[u8], at: usize) -> Frame<'_> {
    let Some(hdr) = buf.get(at..at + WAL_HEADER_LEN) else {
        return Frame::Incomplete;
    };
    let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
    let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    if len == 0 || len > WAL_MAX_RECORD {
        return Frame::Bad("impossible record length");
    }
    let next = at + WAL_HEADER_LEN + len;
    let Some(payload) = buf.get(at + WAL_HEADER_LEN..next) else {
        return Frame::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Bad("record checksum mismatch");
    }
    Frame::Record { payload, next }
}

/// Learns series definitions only (reopening in the middle of a segment).
struct Definitions<'a> {
    ids: &'a mut HashMap<u64, Labels>,
}

impl RecordVisitor for Definitions<'_> {
    fn series(&mut self, wal_id: u64, labels: Labels) -> std::result::Result<(), &'static str> {
        self.ids.insert(wal_id, labels);
        Ok(())
    }
    fn samples(&mut self, _: u64, _: &[i64], _: &[f64]) -> std::result::Result<(), &'static str> {
        Ok(())
    }
}

/// Hands samples out as [`Series`].
struct Collect<'a> {
    ids: &'a mut HashMap<u64, Labels>,
    out: &'a mut Vec<Series>,
    read: usize,
}

impl RecordVisitor for Collect<'_> {
    fn series(&mut self, wal_id: u64, labels: Labels) -> std::result::Result<(), &'static str> {
        self.ids.insert(wal_id, labels);
        Ok(())
    }
    fn samples(&mut self, wal_id: u64, ts: &[i64], vs: &[f64]) -> std::result::Result<(), &'static str> {
        let labels = self.ids.get(&wal_id).ok_or("samples for an undefined series")?;
        // Consecutive single-sample groups of one series (the version 1 record type) join one entry.
        match self.out.last_mut() {
            Some(last) if ts.len() == 1 && last.labels == *labels => {}
            _ => self.out.push(Series {
                labels: labels.clone(),
                samples: Vec::with_capacity(ts.len()),
            }),
        }
        if let Some(last) = self.out.last_mut() {
            last.samples.extend(ts.iter().copied().zip(vs.iter().copied()));
        }
        self.read += ts.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::Precision;
    use crate::{Db, Durability, Options};

    fn opts(keep: bool) -> Options {
        Options {
            wal_keep_released: Some(keep),
            shards: 1,
            durability: Durability::Fsync,
            background_flush: false,
            wal_segment_bytes: 256,
            ..Options::default()
        }
    }

    fn drain(t: &mut WalTail) -> Vec<(String, i64, f64)> {
        let mut out = Vec::new();
        let mut all = Vec::new();
        while t.read(100, &mut out).unwrap() > 0 {}
        for s in out {
            for (ts, v) in s.samples {
                all.push((s.labels.to_string(), ts, v));
            }
        }
        // Within a record samples are grouped by series: compare in time order.
        all.sort_by_key(|s| s.1);
        all
    }

    fn write(db: &Db, from: i64, n: i64) {
        let mut body = String::new();
        for i in from..from + n {
            body.push_str(&format!("m,host=h{} v={} {}\n", i % 3, i, 1_000_000 + i * 1000));
        }
        db.write_lines(body.as_bytes(), Precision::Milliseconds).unwrap();
    }

    #[test]
    fn follows_writes_across_segments_and_reopens_at_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts(true)).unwrap();
        let mut t = WalTail::at_end(dir.path(), 0).unwrap();
        assert!(drain(&mut t).is_empty());
        write(&db, 0, 200);
        let first = drain(&mut t);
        assert_eq!(first.len(), 200);
        assert_eq!(first[5].1, 1_005_000);
        let pos = t.position();
        for from in (200..500).step_by(50) {
            write(&db, from, 50);
        }
        // Small segments: these writes rotate several times.
        let mut again = WalTail::open(dir.path(), 0, pos).unwrap();
        let rest = drain(&mut again);
        assert_eq!(rest.len(), 300);
        assert_eq!(rest[0].2, 200.0);
        assert!(again.position().segment > pos.segment);
        assert_eq!(drain(&mut t).len(), 300);
        assert_eq!(t.position(), again.position());
        assert_eq!(t.skipped_segments(), 0);
        db.close().unwrap();
    }

    #[test]
    fn kept_segments_are_read_after_a_flush_and_removed_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts(true)).unwrap();
        let mut t = WalTail::at_end(dir.path(), 0).unwrap();
        write(&db, 0, 500);
        db.flush().unwrap();
        let wal = shard_dir(dir.path(), 0);
        let kept = all_segments(&wal)
            .unwrap()
            .into_iter()
            .filter(|&s| wal::released_path(&wal, s).exists())
            .count();
        assert!(kept > 0, "flushed segments are kept for the reader");
        assert_eq!(drain(&mut t).len(), 500);
        let (files, _) = remove_released(dir.path(), 0, t.position().segment).unwrap();
        assert_eq!(files, kept);
        db.close().unwrap();
        // Opened without a choice (as `foresight import` does), the directory's record holds:
        // released segments are still kept.
        {
            let db = Db::open(
                dir.path(),
                Options {
                    wal_keep_released: None,
                    ..opts(true)
                },
            )
            .unwrap();
            write(&db, 600, 300);
            db.flush().unwrap();
            assert!(
                all_segments(&wal)
                    .unwrap()
                    .iter()
                    .any(|&s| wal::released_path(&wal, s).exists())
            );
            db.close().unwrap();
        }
        // Turned off, kept segments left over are deleted at open.
        let db = Db::open(dir.path(), opts(false)).unwrap();
        assert!(
            all_segments(&wal)
                .unwrap()
                .iter()
                .all(|&s| !wal::released_path(&wal, s).exists())
        );
        db.close().unwrap();
    }

    #[test]
    fn a_torn_tail_of_an_older_segment_is_skipped_and_a_missing_segment_counted() {
        let dir = tempfile::tempdir().unwrap();
        let wal = shard_dir(dir.path(), 0);
        for from in [0, 10] {
            let db = Db::open(dir.path(), opts(true)).unwrap();
            write(&db, from, 10);
            db.close().unwrap();
        }
        let segs = all_segments(&wal).unwrap();
        assert!(segs.len() >= 2, "{segs:?}");
        let first = segs[0];
        let path = |s: u64| {
            let live = wal::segment_path(&wal, s);
            if live.exists() {
                live
            } else {
                wal::released_path(&wal, s)
            }
        };
        // Tear the first segment's last record (its samples); a later segment exists.
        let p = path(first);
        let len = fs::metadata(&p).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut t = WalTail::open(
            dir.path(),
            0,
            WalPosition {
                segment: first,
                offset: 0,
            },
        )
        .unwrap();
        let got = drain(&mut t);
        assert_eq!(
            got.iter().filter(|s| s.2 >= 10.0).count(),
            10,
            "the later segment is read whole"
        );
        assert_eq!(
            got.iter().filter(|s| s.2 < 10.0).count(),
            0,
            "the torn record is not read"
        );
        assert!(t.skipped_bytes() > 0);
        // A reader at a segment that is gone starts at the next one and counts the loss.
        fs::remove_file(&p).unwrap();
        let mut u = WalTail::open(
            dir.path(),
            0,
            WalPosition {
                segment: first,
                offset: 0,
            },
        )
        .unwrap();
        assert_eq!(u.skipped_segments(), 1);
        assert_eq!(drain(&mut u).len(), 10);
        assert!(
            "3:17"
                .parse::<WalPosition>()
                .is_ok_and(|p| p == WalPosition { segment: 3, offset: 17 })
        );
        assert!("x".parse::<WalPosition>().is_err());
    }
}
