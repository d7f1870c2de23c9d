//! Write-ahead log: one directory of numbered segment files per shard.
//!
//! A record is `u32 length | u32 CRC32(payload) | payload`, little-endian. Records are appended by the
//! shard's writer thread only. Durability: a record is on stable storage once [`Wal::sync`] returned
//! after it was appended; the shard acknowledges writes accordingly (see [`crate::Durability`]).
//! Every segment is self-contained (series are defined again in each segment that uses them), so
//! whole segments can be deleted once every partition they touched is in a block.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::column;
use crate::error::{Error, Result};
use crate::format::{
    Reader, WAL_HEADER_LEN, WAL_MAX_RECORD, WAL_SAMPLE_COLUMNS, WAL_SAMPLE_ROWS, WAL_SAMPLES, WAL_SERIES,
};
use crate::latency::LatencyHistogram;
use crate::model::{Labels, labels_from_key};

/// What replay found wrong in one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalDamage {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of the first bad byte; the file was truncated here.
    pub offset: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// Why the record was rejected.
    pub reason: String,
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:010}.wal"))
}

/// Where a segment whose data is all in blocks is kept for a WAL reader instead of being
/// deleted (see `Options::wal_keep_released`). Replay never reads these.
pub(crate) fn released_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:010}.{RELEASED_EXT}"))
}

/// The extension of released segments kept for a WAL reader.
pub(crate) const RELEASED_EXT: &str = "done";

/// Segment sequence numbers present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    list_segments_with(dir, &["wal"])
}

/// Sequence numbers of the files `NNNNNNNNNN.<ext>` in `dir` for any of `exts`, ascending, once each.
pub(crate) fn list_segments_with(dir: &Path, exts: &[&str]) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some((stem, ext)) = name.to_str().and_then(|n| n.split_once('.')) else {
            continue;
        };
        if exts.contains(&ext)
            && let Ok(seq) = stem.parse::<u64>()
        {
            out.push(seq);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Name of the file that marks a shard's WAL directory as written by a version that replays every
/// sample: it holds the number of the last segment written before (0 for none), whose samples of
/// partitions already in a sealed block must still be skipped on replay (see [`legacy_until`]).
pub(crate) const REPLAY_MARKER: &str = "REPLAY_ALL_AFTER";

/// The last segment written by a version that deleted WAL segments out of order; segments up to it
/// skip, on replay, samples of partitions already in a sealed block (their newer values may live
/// in a block whose segments are gone). Later segments are replayed whole: they are only ever
/// deleted oldest first, so a replayed value is never older than a block's for the same time.
pub(crate) fn legacy_until(dir: &Path) -> Result<u64> {
    let path = dir.join(REPLAY_MARKER);
    match fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::corrupted(&path, 0, format!("expected a segment number, found {:?}", text.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(list_segments(dir)?.last().copied().unwrap_or(0)),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Where and why a segment's records stop before the end of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    /// Offset of the first bad byte (the end of the last good record).
    pub(crate) offset: usize,
    pub(crate) reason: String,
    /// The bad record reaches the end of the bytes (or only zeros follow): a write cut short by a
    /// crash, which recovery truncates. Otherwise good-looking bytes follow a bad record: damage.
    pub(crate) torn: bool,
}

/// Walks the records of one segment's bytes, calling `f(payload)` for each good one; says where
/// and why they stop early, if they do. Reads only.
pub(crate) fn scan(data: &[u8], mut f: impl FnMut(&[u8])) -> Option<Stop> {
    let mut pos = 0usize;
    while pos < data.len() {
        let stop = |reason: String, record_end: usize| Stop {
            offset: pos,
            reason,
            torn: record_end >= data.len() || data[pos..].iter().all(|&b| b == 0),
        };
        let Some(hdr) = data.get(pos..pos + WAL_HEADER_LEN) else {
            return Some(stop("torn record header".into(), data.len()));
        };
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len == 0 || len > WAL_MAX_RECORD {
            return Some(stop(format!("impossible record length {len}"), pos + WAL_HEADER_LEN));
        }
        let end = pos + WAL_HEADER_LEN + len;
        let Some(payload) = data.get(pos + WAL_HEADER_LEN..end) else {
            let present = data.len() - pos - WAL_HEADER_LEN;
            return Some(stop(
                format!("torn record: {len} bytes announced, {present} present"),
                end,
            ));
        };
        if crc32fast::hash(payload) != crc {
            return Some(stop("record checksum mismatch".into(), end));
        }
        f(payload);
        pos = end;
    }
    None
}

/// Reads every record of every segment in order, calling `f(seq, payload)`. A torn or corrupted
/// record ends its segment: the file is truncated there (so the damage is reported once) and replay
/// goes on with the next segment.
pub(crate) fn replay(dir: &Path, mut f: impl FnMut(u64, &[u8])) -> Result<Vec<WalDamage>> {
    let mut damage = Vec::new();
    for seq in list_segments(dir)? {
        let path = segment_path(dir, seq);
        let data = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if let Some(stop) = scan(&data, |payload| f(seq, payload)) {
            let pos = stop.offset;
            let d = WalDamage {
                path: path.clone(),
                offset: pos as u64,
                dropped_bytes: (data.len() - pos) as u64,
                reason: stop.reason,
            };
            tracing::warn!(path = %d.path.display(), offset = d.offset, dropped = d.dropped_bytes, reason = %d.reason,
                "WAL segment damaged; truncated at the last good record");
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            file.set_len(pos as u64).map_err(|e| Error::io(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))?;
            damage.push(d);
        }
    }
    Ok(damage)
}

/// What a WAL record holds, as [`visit_record`] hands it over.
pub(crate) trait RecordVisitor {
    /// A series definition: the segment-local id and the series. A later definition of the same
    /// id in the segment replaces the earlier one.
    fn series(&mut self, wal_id: u64, labels: Labels) -> std::result::Result<(), &'static str>;
    /// Samples of the series defined as `wal_id` (`ts` and `vs` have equal lengths).
    fn samples(&mut self, wal_id: u64, ts: &[i64], vs: &[f64]) -> std::result::Result<(), &'static str>;
}

/// Decodes one record's payload (its checksum already verified) into `v`; the error says what
/// was wrong with a record that was written but cannot be read.
pub(crate) fn visit_record(payload: &[u8], v: &mut impl RecordVisitor) -> std::result::Result<(), &'static str> {
    let mut r = Reader::new(payload);
    match r.u8()? {
        WAL_SERIES => {
            let wal_id = r.uvarint()?;
            let labels = labels_from_key(r.len_bytes()?)?;
            v.series(wal_id, labels)
        }
        WAL_SAMPLES => {
            let n = r.usize()?;
            let mut prev_t = 0i64;
            for _ in 0..n {
                let wal_id = r.uvarint()?;
                let t = prev_t.wrapping_add(r.ivarint()?);
                prev_t = t;
                let value = r.f64_le()?;
                v.samples(wal_id, &[t], &[value])?;
            }
            Ok(())
        }
        WAL_SAMPLE_COLUMNS => {
            let groups = r.usize()?;
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            for _ in 0..groups {
                let wal_id = r.uvarint()?;
                ts.clear();
                vs.clear();
                let rest = r.rest();
                let used = column::decode_timestamps(rest, &mut ts).map_err(|_| "bad timestamps column")?;
                let used2 = column::decode_values(rest.get(used..).unwrap_or_default(), &mut vs)
                    .map_err(|_| "bad values column")?;
                r.bytes(used + used2)?;
                if ts.len() != vs.len() {
                    return Err("timestamp and value columns differ in length");
                }
                v.samples(wal_id, &ts, &vs)?;
            }
            Ok(())
        }
        WAL_SAMPLE_ROWS => {
            let rest = r.rest();
            let (mut ids, mut ts, mut vs) = (Vec::new(), Vec::new(), Vec::new());
            let a = column::decode_timestamps(rest, &mut ids).map_err(|_| "bad series ids column")?;
            let rest = rest.get(a..).unwrap_or_default();
            let b = column::decode_timestamps(rest, &mut ts).map_err(|_| "bad timestamps column")?;
            column::decode_values(rest.get(b..).unwrap_or_default(), &mut vs).map_err(|_| "bad values column")?;
            if ids.len() != ts.len() || ts.len() != vs.len() {
                return Err("series, timestamp and value columns differ in length");
            }
            for ((id, t), x) in ids.into_iter().zip(ts).zip(vs) {
                let id = u64::try_from(id).map_err(|_| "negative series id")?;
                v.samples(id, &[t], &[x])?;
            }
            Ok(())
        }
        _ => Err("unknown record type"),
    }
}

/// Encodes a batch of one sample per series (series ids, timestamps, values; equal lengths) as a
/// [`WAL_SAMPLE_ROWS`] payload into `rec` (cleared first).
pub(crate) fn encode_rows(ids: &[i64], ts: &[i64], vs: &[f64], rec: &mut Vec<u8>) {
    rec.clear();
    rec.push(WAL_SAMPLE_ROWS);
    column::encode_timestamps(ids, rec);
    column::encode_timestamps(ts, rec);
    column::encode_values(vs, rec);
}

/// The appending side of one shard's WAL.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    seq: u64,
    file: File,
    size: u64,
    segment_bytes: u64,
    unsynced: bool,
    buf: Vec<u8>,
    /// Partitions touched by each segment, closed segments and the current one.
    parts: BTreeMap<u64, BTreeSet<i64>>,
    /// Time of each fsync of a segment.
    fsync: Arc<LatencyHistogram>,
    /// Released segments are renamed to [`released_path`] instead of deleted.
    keep_released: bool,
}

impl Wal {
    /// Starts a fresh segment after the existing ones. `existing` maps each existing segment to the
    /// partitions its records touch (from replay), so they can be deleted once flushed.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes: u64,
        existing: BTreeMap<u64, BTreeSet<i64>>,
        fsync: Arc<LatencyHistogram>,
    ) -> Result<Wal> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let marker = dir.join(REPLAY_MARKER);
        if !marker.exists() {
            let until = legacy_until(dir)?;
            let tmp = dir.join(format!("{REPLAY_MARKER}.tmp"));
            fs::write(&tmp, format!("{until}\n")).map_err(|e| Error::io(&tmp, e))?;
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&tmp, e))?;
            fs::rename(&tmp, &marker).map_err(|e| Error::io(&marker, e))?;
        }
        let last = list_segments(dir)?.last().copied().unwrap_or(0);
        let seq = last + 1;
        let path = segment_path(dir, seq);
        let file = create_segment(&path)?;
        sync_dir(dir)?;
        let mut parts = existing;
        // Segments without records (emptied by truncation) can go at once.
        for s in list_segments(dir)? {
            if s != seq && parts.get(&s).is_none_or(|p| p.is_empty()) {
                let p = segment_path(dir, s);
                fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                parts.remove(&s);
            }
        }
        parts.insert(seq, BTreeSet::new());
        Ok(Wal {
            dir: dir.to_path_buf(),
            seq,
            file,
            size: 0,
            segment_bytes,
            unsynced: false,
            buf: Vec::new(),
            parts,
            fsync,
            keep_released: false,
        })
    }

    /// Keeps released segments (renamed to [`released_path`]) for a WAL reader, which deletes
    /// them once it has read them.
    pub(crate) fn keep_released(&mut self, keep: bool) {
        self.keep_released = keep;
    }

    /// Buffers one record; [`Wal::write`] sends the buffered records to the file.
    pub(crate) fn add_record(&mut self, payload: &[u8]) {
        self.buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        self.buf.extend_from_slice(payload);
    }

    /// Records that the current segment holds samples of partition `p`.
    pub(crate) fn note_partition(&mut self, p: i64) {
        if let Some(set) = self.parts.get_mut(&self.seq) {
            set.insert(p);
        }
    }

    /// The current segment's sequence number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Writes the buffered records (one write call). Rotates to a new segment when the current one
    /// is full; the returned flag says a rotation happened (new series definitions are then needed).
    pub(crate) fn write(&mut self) -> Result<bool> {
        if self.buf.is_empty() {
            return Ok(false);
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::io(segment_path(&self.dir, self.seq), e))?;
        self.size += self.buf.len() as u64;
        self.buf.clear();
        self.unsynced = true;
        if self.size >= self.segment_bytes {
            self.rotate()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Makes everything written so far durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            let started = Instant::now();
            self.file
                .sync_data()
                .map_err(|e| Error::io(segment_path(&self.dir, self.seq), e))?;
            self.fsync.observe(started.elapsed());
            self.unsynced = false;
        }
        Ok(())
    }

    /// The current segment and its length: a record boundary, everything before it written.
    pub(crate) fn end(&self) -> (u64, u64) {
        (self.seq, self.size)
    }

    pub(crate) fn needs_sync(&self) -> bool {
        self.unsynced
    }

    /// Closes the current segment (synced) and starts the next one.
    pub(crate) fn rotate(&mut self) -> Result<u64> {
        self.sync()?;
        self.seq += 1;
        let path = segment_path(&self.dir, self.seq);
        self.file = create_segment(&path)?;
        sync_dir(&self.dir)?;
        self.size = 0;
        self.parts.insert(self.seq, BTreeSet::new());
        Ok(self.seq)
    }

    /// Partitions `flushed` are now in durable blocks, holding everything that segments before
    /// `before_seq` wrote for them. Deletes the oldest segments left with no unflushed partition,
    /// stopping at the first one still needed: segments go oldest first, so whatever replay
    /// finds is newer than everything deleted (and than the blocks made of it).
    pub(crate) fn release(&mut self, before_seq: u64, flushed: &BTreeSet<i64>) -> Result<usize> {
        for (_, set) in self.parts.range_mut(..before_seq) {
            set.retain(|p| !flushed.contains(p));
        }
        let mut removed = 0;
        while let Some((&s, set)) = self.parts.first_key_value() {
            if s == self.seq || !set.is_empty() {
                break;
            }
            let p = segment_path(&self.dir, s);
            let done = if self.keep_released {
                fs::rename(&p, released_path(&self.dir, s))
            } else {
                fs::remove_file(&p)
            };
            match done {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
            self.parts.remove(&s);
        }
        Ok(removed)
    }
}

fn create_segment(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// fsyncs a directory so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(dir: &Path) -> (Vec<Vec<u8>>, Vec<WalDamage>) {
        let mut out = Vec::new();
        let dmg = replay(dir, |_, p| out.push(p.to_vec())).unwrap();
        (out, dmg)
    }

    #[test]
    fn append_replay_and_torn_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut w = Wal::open(&dir, 1 << 20, BTreeMap::new(), Arc::default()).unwrap();
        for i in 0..10u8 {
            w.add_record(&[i; 100]);
        }
        w.write().unwrap();
        w.sync().unwrap();
        let seg = segment_path(&dir, w.seq());
        drop(w);
        let (recs, dmg) = records(&dir);
        assert_eq!(recs.len(), 10);
        assert!(dmg.is_empty());

        // Tear the last record in half.
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 50)
            .unwrap();
        let (recs, dmg) = records(&dir);
        assert_eq!(recs.len(), 9);
        assert_eq!(dmg.len(), 1);
        assert_eq!(dmg[0].offset, 9 * 108);
        // The tail was cut off: a second replay is clean.
        let (recs, dmg) = records(&dir);
        assert_eq!((recs.len(), dmg.len()), (9, 0));
    }

    #[test]
    fn corrupted_byte_stops_segment_but_not_the_next() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut w = Wal::open(&dir, 1 << 20, BTreeMap::new(), Arc::default()).unwrap();
        w.note_partition(0);
        w.add_record(b"first");
        w.add_record(b"second");
        w.write().unwrap();
        let first = w.seq();
        w.rotate().unwrap();
        w.note_partition(0);
        w.add_record(b"third");
        w.write().unwrap();
        w.sync().unwrap();
        drop(w);
        let seg = segment_path(&dir, first);
        let mut bytes = fs::read(&seg).unwrap();
        bytes[8 + 5 + 8 + 2] ^= 0xff; // inside "second"
        fs::write(&seg, bytes).unwrap();
        let (recs, dmg) = records(&dir);
        assert_eq!(recs, vec![b"first".to_vec(), b"third".to_vec()]);
        assert_eq!(dmg.len(), 1);
        assert!(dmg[0].reason.contains("checksum"), "{:?}", dmg[0]);
    }

    #[test]
    fn release_deletes_only_fully_flushed_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut w = Wal::open(&dir, 1 << 20, BTreeMap::new(), Arc::default()).unwrap();
        w.note_partition(0);
        w.note_partition(7200);
        w.add_record(b"a");
        w.write().unwrap();
        let first = w.seq();
        let cut = w.rotate().unwrap();
        assert_eq!(w.release(cut, &BTreeSet::from([0])).unwrap(), 0);
        assert!(segment_path(&dir, first).exists());
        assert_eq!(w.release(cut, &BTreeSet::from([7200])).unwrap(), 1);
        assert!(!segment_path(&dir, first).exists());
    }

    #[test]
    fn release_deletes_oldest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut w = Wal::open(&dir, 1 << 20, BTreeMap::new(), Arc::default()).unwrap();
        let first = w.seq();
        w.note_partition(0);
        w.add_record(b"a");
        w.write().unwrap();
        let second = w.rotate().unwrap();
        w.note_partition(7200);
        w.add_record(b"b");
        w.write().unwrap();
        let cut = w.rotate().unwrap();
        // The second segment is fully flushed, but the first still holds partition 0: replay must
        // not find the first segment's older values without the second's newer ones.
        assert_eq!(w.release(cut, &BTreeSet::from([7200])).unwrap(), 0);
        assert!(segment_path(&dir, second).exists());
        assert_eq!(w.release(cut, &BTreeSet::from([0])).unwrap(), 2);
        assert!(!segment_path(&dir, first).exists() && !segment_path(&dir, second).exists());
    }

    #[test]
    fn replay_marker_names_the_last_legacy_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        fs::create_dir_all(&dir).unwrap();
        fs::write(segment_path(&dir, 3), b"").unwrap();
        fs::write(segment_path(&dir, 4), b"").unwrap();
        // A directory from before the marker: every existing segment is legacy.
        assert_eq!(legacy_until(&dir).unwrap(), 4);
        let w = Wal::open(
            &dir,
            1 << 20,
            BTreeMap::from([(3, BTreeSet::from([0])), (4, BTreeSet::from([0]))]),
            Arc::default(),
        )
        .unwrap();
        assert_eq!(w.seq(), 5);
        drop(w);
        // Segments written afterwards are not.
        assert_eq!(legacy_until(&dir).unwrap(), 4);
        fs::write(dir.join(REPLAY_MARKER), b"x").unwrap();
        assert!(matches!(legacy_until(&dir), Err(Error::Corrupted { .. })));
    }
}
