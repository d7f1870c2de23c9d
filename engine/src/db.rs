//! The database: opening and recovery, the write path, the read path, flushing and compaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use crate::block::{self, Block, BlockInfo};
use crate::error::{Error, Result};
use crate::format::put_bytes;
use crate::head::{Frozen, merge_override};
use crate::latency::{LatencyHistogram, LatencySnapshot};
use crate::lineproto::{self, FieldValue, LineError, Precision};
use crate::model::{LabelMatcher, Labels, METRIC_NAME, Series, hash_key};
use crate::options::Options;
use crate::shard::{Cmd, Entry, FreezeOut, Run, ShardBatch, ShardHead, Writer, partition_of};
use crate::wal::{WalDamage, sync_dir};

/// What a write did: how much was stored and why the rest was not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteReport {
    /// Lines whose samples were all stored.
    pub lines_accepted: u64,
    /// Samples stored (one per numeric field of an accepted line).
    pub samples_accepted: u64,
    /// String fields seen and skipped (foresight stores numbers only).
    pub string_fields_skipped: u64,
    /// Every rejected line with its 1-based line number and the reason.
    pub rejected: Vec<LineError>,
}

/// What opening the database found and repaired.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Blocks loaded.
    pub blocks_loaded: usize,
    /// Blocks that failed verification, moved to `quarantine/`, with the reason.
    pub quarantined: Vec<(PathBuf, String)>,
    /// Samples replayed from the WAL into the head.
    pub wal_samples_replayed: u64,
    /// WAL damage found and truncated.
    pub wal_damage: Vec<WalDamage>,
}

/// Counters and sizes, for monitoring.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Samples accepted since open.
    pub samples_ingested: u64,
    /// Lines rejected since open.
    pub lines_rejected: u64,
    /// Series in the head.
    pub head_series: u64,
    /// Approximate heap bytes of the head.
    pub head_bytes: u64,
    /// Blocks on disk.
    pub blocks: u64,
    /// Bytes of block files.
    pub block_bytes: u64,
    /// Bytes of WAL segments.
    pub wal_bytes: u64,
    /// Newest sample timestamp (ms), if any.
    pub max_time: Option<i64>,
    /// Time taken by each WAL fsync since open (replay and every shard included).
    pub wal_fsync: LatencySnapshot,
}

type BlockSet = Arc<Vec<Arc<Block>>>;

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    opts: Options,
    senders: Vec<Sender<Cmd>>,
    heads: Vec<Arc<ShardHead>>,
    blocks: RwLock<BlockSet>,
    /// Newest timestamp accepted (i64::MIN when empty).
    max_ts: AtomicI64,
    next_seq: AtomicU64,
    flush_lock: Mutex<()>,
    samples_ingested: AtomicU64,
    lines_rejected: AtomicU64,
    /// Time of each WAL fsync, all shards.
    wal_fsync: Arc<LatencyHistogram>,
}

/// An open database. Cheap to share across threads (`&Db` is all readers and writers need).
///
/// Writes are acknowledged according to [`crate::Durability`]; a read sees every write acknowledged
/// before it started. Dropping the database closes it; [`Db::close`] reports errors.
#[derive(Debug)]
pub struct Db {
    inner: Arc<Inner>,
    writers: Vec<JoinHandle<()>>,
    flusher: Option<(Sender<()>, JoinHandle<()>)>,
    report: OpenReport,
    _lock: File,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: verifies blocks (quarantining bad ones),
    /// replays the WAL (truncating a torn tail) and starts the writer and flusher threads.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        if opts.partition_ms <= 0 || opts.out_of_order_window_ms < 0 || opts.chunk_samples == 0 {
            return Err(Error::InvalidArgument(
                "partition_ms and chunk_samples must be positive and the out-of-order window not negative".into(),
            ));
        }
        fs::create_dir_all(dir.join("blocks")).map_err(|e| Error::io(&dir, e))?;
        fs::create_dir_all(dir.join("wal")).map_err(|e| Error::io(&dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        // A few short retries: a child process forked by this one (between fork and exec) holds
        // a copy of the lock of a database that was just closed, for a moment.
        let mut tries = 0;
        while lock.try_lock().is_err() {
            tries += 1;
            if tries > 10 {
                return Err(Error::Locked(dir));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut report = OpenReport::default();
        let blocks = load_blocks(&dir, &mut report)?;
        let sealed: BTreeSet<i64> = blocks
            .iter()
            .filter(|b| b.info().sealed)
            .map(|b| b.info().partition)
            .collect();
        let next_seq = blocks.iter().map(|b| b.info().seq).max().unwrap_or(0) + 1;
        let mut max_ts = blocks.iter().map(|b| b.info().maxt).max().unwrap_or(i64::MIN);

        // The number of WAL shards is fixed when the directory is created: a different `shards`
        // option would route series elsewhere than their WAL.
        let existing = count_shard_dirs(&dir.join("wal"))?;
        let shards = if existing > 0 { existing } else { opts.shards.max(1) };
        if existing > 0 && existing != opts.shards {
            tracing::info!(
                existing,
                requested = opts.shards,
                "keeping the data directory's shard count"
            );
        }
        let mut senders = Vec::with_capacity(shards);
        let mut heads = Vec::with_capacity(shards);
        let mut writers = Vec::with_capacity(shards);
        let mut pending = Vec::with_capacity(shards);
        let wal_fsync = Arc::new(LatencyHistogram::default());
        for i in 0..shards {
            let wdir = dir.join("wal").join(format!("shard-{i:03}"));
            let (writer, rep) = Writer::open(
                &wdir,
                opts.partition_ms,
                opts.chunk_samples,
                opts.durability,
                opts.wal_segment_bytes,
                &sealed,
                wal_fsync.clone(),
            )?;
            report.wal_samples_replayed += rep.samples;
            report.wal_damage.extend(rep.damage);
            if let Some(m) = rep.max_ts {
                max_ts = max_ts.max(m);
            }
            heads.push(writer.head());
            pending.push(writer);
        }
        for (i, writer) in pending.into_iter().enumerate() {
            let (tx, rx) = bounded::<Cmd>(64);
            senders.push(tx);
            let h = std::thread::Builder::new()
                .name(format!("foresight-shard-{i}"))
                .spawn(move || writer.run(rx))
                .map_err(|e| Error::io(&dir, e))?;
            writers.push(h);
        }
        let inner = Arc::new(Inner {
            dir: dir.clone(),
            opts: opts.clone(),
            senders,
            heads,
            blocks: RwLock::new(Arc::new(blocks)),
            max_ts: AtomicI64::new(max_ts),
            next_seq: AtomicU64::new(next_seq),
            flush_lock: Mutex::new(()),
            samples_ingested: AtomicU64::new(0),
            lines_rejected: AtomicU64::new(0),
            wal_fsync,
        });
        let flusher = if opts.background_flush {
            let (stop_tx, stop_rx) = bounded::<()>(1);
            let inner2 = inner.clone();
            let h = std::thread::Builder::new()
                .name("foresight-flusher".into())
                .spawn(move || flusher_loop(&inner2, &stop_rx))
                .map_err(|e| Error::io(&dir, e))?;
            Some((stop_tx, h))
        } else {
            None
        };
        tracing::info!(dir = %dir.display(), shards, blocks = report.blocks_loaded,
            replayed = report.wal_samples_replayed, quarantined = report.quarantined.len(), "database open");
        Ok(Db {
            inner,
            writers,
            flusher,
            report,
            _lock: lock,
        })
    }

    /// What opening found: blocks quarantined, WAL damage truncated, samples replayed.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Writes a line-protocol body; lines without a timestamp get the current time.
    /// Bad lines are reported and skipped; the good ones are stored.
    pub fn write_lines(&self, body: &[u8], precision: Precision) -> Result<WriteReport> {
        self.write_lines_at(body, precision, now_ms())
    }

    /// Like [`Db::write_lines`] with an explicit time (ms) for lines without a timestamp.
    pub fn write_lines_at(&self, body: &[u8], precision: Precision, default_ms: i64) -> Result<WriteReport> {
        let inner = &*self.inner;
        let n = inner.senders.len();
        let mut batches: Vec<ShardBatch> = (0..n).map(|_| ShardBatch::default()).collect();
        let mut report = WriteReport::default();
        let max_now = inner.max_ts.load(Ordering::Acquire);
        let oldest = if max_now == i64::MIN {
            i64::MIN
        } else {
            max_now.saturating_sub(inner.opts.out_of_order_window_ms)
        };
        let newest = now_ms().saturating_add(inner.opts.future_window_ms);
        let mut batch_max = i64::MIN;
        // Each distinct tag set of the body is resolved once: its labels checked and encoded, and
        // each of its fields mapped to a series slot in its shard's batch.
        let mut tagsets: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut sets: Vec<Tagset> = Vec::new();
        let mut key = Vec::with_capacity(256);
        let mut lines = lineproto::lines(body);
        while let Some(item) = lines.next() {
            let lineno = lines.line_number();
            let line = match item {
                Ok(l) => l,
                Err(e) => {
                    report.rejected.push(e);
                    continue;
                }
            };
            let t = match line.timestamp {
                None => default_ms,
                Some(ts) => match precision.to_millis(ts) {
                    Some(t) => t,
                    None => {
                        report.rejected.push(reject(lineno, "timestamp out of range"));
                        continue;
                    }
                },
            };
            if t < oldest {
                report.rejected.push(reject(
                    lineno,
                    &format!(
                        "sample at {} ms is older than the out-of-order window ({} ms) before the newest sample ({} ms)",
                        t, inner.opts.out_of_order_window_ms, max_now
                    ),
                ));
                continue;
            }
            if t > newest {
                report.rejected.push(reject(
                    lineno,
                    &format!(
                        "sample at {t} ms is more than {} ms ahead of the server clock",
                        inner.opts.future_window_ms
                    ),
                ));
                continue;
            }
            let th = tagset_hash(&line);
            let candidates = tagsets.entry(th).or_default();
            let idx = match candidates.iter().copied().find(|&i| sets[i].is(&line)) {
                Some(i) => i,
                None => {
                    sets.push(Tagset::new(&line));
                    candidates.push(sets.len() - 1);
                    sets.len() - 1
                }
            };
            let set = &mut sets[idx];
            if let Err(why) = &set.encoded {
                report.rejected.push(reject(lineno, why));
                continue;
            }
            let mut stored = 0u64;
            for (i, (field, value)) in line.fields.iter().enumerate() {
                let v = match value {
                    FieldValue::Float(f) => *f,
                    FieldValue::Integer(i) => *i as f64,
                    FieldValue::Unsigned(u) => *u as f64,
                    FieldValue::Boolean(b) => f64::from(u8::from(*b)),
                    FieldValue::String(_) => {
                        report.string_fields_skipped += 1;
                        continue;
                    }
                };
                let (shard, slot) = set.slot(i, field, &line.measurement, &mut key, &mut batches);
                batches[shard].entries.push(Entry { slot, t, v });
                stored += 1;
            }
            if stored > 0 {
                report.lines_accepted += 1;
                report.samples_accepted += stored;
                batch_max = batch_max.max(t);
            } else if !line.fields.is_empty() {
                // Only string fields: nothing to store, but the line is not wrong.
                report.lines_accepted += 1;
            }
        }
        let (ack_tx, ack_rx) = bounded::<Result<()>>(n);
        let mut sent = 0;
        for (i, batch) in batches.into_iter().enumerate() {
            if batch.entries.is_empty() {
                continue;
            }
            inner.senders[i]
                .send(Cmd::Write {
                    batch,
                    ack: ack_tx.clone(),
                })
                .map_err(|_| Error::Closed)?;
            sent += 1;
        }
        drop(ack_tx);
        for _ in 0..sent {
            ack_rx.recv().map_err(|_| Error::Closed)??;
        }
        if batch_max != i64::MIN {
            inner.max_ts.fetch_max(batch_max, Ordering::AcqRel);
        }
        inner
            .samples_ingested
            .fetch_add(report.samples_accepted, Ordering::Relaxed);
        inner
            .lines_rejected
            .fetch_add(report.rejected.len() as u64, Ordering::Relaxed);
        Ok(report)
    }

    /// Every series matching all `matchers` with its samples in `[mint, maxt]` (ms, inclusive),
    /// sorted by labels. Series without samples in the range are left out.
    pub fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        let inner = &*self.inner;
        // Take the block set before reading the head: a flush publishes its block before it
        // drops the head's copy, and waits for readers of older block sets to finish.
        let blocks = inner.blocks.read().clone();
        // Group the matching block series by labels, then decode each series' blocks (in time
        // order) straight into one buffer, series in parallel.
        let mut groups: HashMap<Labels, Vec<(&Arc<Block>, u32)>> = HashMap::new();
        for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
            for id in b.select(matchers) {
                if let Some(l) = b.labels(id) {
                    groups.entry(l.clone()).or_default().push((b, id));
                }
            }
        }
        let decoded: Vec<(Labels, Vec<Run>)> = groups
            .into_par_iter()
            .map(|(labels, parts)| read_block_series(parts, mint, maxt).map(|runs| (labels, runs)))
            .collect::<Result<_>>()?;
        let mut acc: HashMap<Labels, Vec<Run>> = decoded.into_iter().filter(|(_, r)| !r.is_empty()).collect();
        for h in &inner.heads {
            h.collect(matchers, mint, maxt, &mut acc);
        }
        drop(blocks);
        let mut out: Vec<Series> = acc
            .into_iter()
            .map(|(labels, runs)| Series {
                labels,
                samples: merge_runs(runs),
            })
            .collect();
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Label sets of the series matching `matchers` that have data in `[mint, maxt]`.
    pub fn series(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Labels>> {
        let mut set: BTreeSet<Labels> = BTreeSet::new();
        let blocks = self.inner.blocks.read().clone();
        for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
            set.extend(b.select(matchers).into_iter().filter_map(|id| b.labels(id).cloned()));
        }
        for h in &self.inner.heads {
            // Series list first, then postings (the order the writer renumbers them in).
            let all = h.series.read();
            let ids = h.postings.read().select(matchers);
            for id in ids {
                if let Some(s) = all.get(id as usize)
                    && !s.snapshot(mint, maxt).is_empty()
                {
                    set.insert(s.labels.clone());
                }
            }
        }
        Ok(set.into_iter().collect())
    }

    /// Label names present in `[mint, maxt]` (of the matching series, if `matchers` is not empty), sorted.
    pub fn label_names(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for l in self.series(matchers, mint, maxt)? {
            names.extend(l.iter().map(|l| l.name.clone()));
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` in `[mint, maxt]` (of the matching series, if any), sorted.
    pub fn label_values(&self, name: &str, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut values: BTreeSet<String> = BTreeSet::new();
        for l in self.series(matchers, mint, maxt)? {
            if let Some(v) = l.get(name) {
                values.insert(v.to_owned());
            }
        }
        Ok(values.into_iter().collect())
    }

    /// Makes every acknowledged write durable now, whatever the durability mode.
    pub fn sync(&self) -> Result<()> {
        let (tx, rx) = bounded(self.inner.senders.len());
        for s in &self.inner.senders {
            s.send(Cmd::Sync { reply: tx.clone() }).map_err(|_| Error::Closed)?;
        }
        drop(tx);
        for _ in 0..self.inner.senders.len() {
            rx.recv().map_err(|_| Error::Closed)??;
        }
        Ok(())
    }

    /// Writes everything in the head to blocks now (including partitions still open to late
    /// samples; later samples for them go to a new block, merged by compaction), then releases the
    /// WAL. Afterwards the data directory holds blocks only, plus an empty WAL segment per shard.
    pub fn flush(&self) -> Result<()> {
        flush(&self.inner, i64::MAX)?;
        compact_and_expire(&self.inner)
    }

    /// The blocks on disk.
    pub fn blocks(&self) -> Vec<BlockInfo> {
        self.inner.blocks.read().iter().map(|b| b.info().clone()).collect()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let blocks = inner.blocks.read().clone();
        let mut head_series = 0u64;
        let mut head_bytes = 0u64;
        for h in &inner.heads {
            let all = h.series.read().clone();
            head_series += all.len() as u64;
            head_bytes += all.iter().map(|s| s.heap_bytes() as u64).sum::<u64>();
        }
        let max = inner.max_ts.load(Ordering::Acquire);
        Stats {
            samples_ingested: inner.samples_ingested.load(Ordering::Relaxed),
            lines_rejected: inner.lines_rejected.load(Ordering::Relaxed),
            head_series,
            head_bytes,
            blocks: blocks.len() as u64,
            block_bytes: blocks.iter().map(|b| b.info().bytes).sum(),
            wal_bytes: dir_bytes(&inner.dir.join("wal")),
            max_time: (max != i64::MIN).then_some(max),
            wal_fsync: inner.wal_fsync.snapshot(),
        }
    }

    /// Stops the threads, making every write durable; reports the first error.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some((stop, h)) = self.flusher.take() {
            drop(stop);
            if h.join().is_err() {
                tracing::error!("flusher thread panicked");
            }
        }
        let r = self.sync();
        // Dropping the last senders ends the writer threads; Inner holds them, so replace them.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.senders.clear();
        } else {
            tracing::warn!("database closed while references remain; writer threads stop with them");
        }
        for h in self.writers.drain(..) {
            if h.join().is_err() {
                return Err(Error::Closed);
            }
        }
        match r {
            Err(Error::Closed) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "closing the database failed");
        }
    }
}

/// One distinct tag set (measurement + tags) of a write body, with its fields' series slots.
struct Tagset {
    measurement: String,
    tags: Vec<(String, String)>,
    /// The encoded label pairs before and after `__name__`, or why the tag set is unacceptable.
    encoded: std::result::Result<(Vec<u8>, Vec<u8>), &'static str>,
    /// Field name -> (shard, slot in that shard's batch).
    fields: Vec<(String, usize, u32)>,
}

fn tagset_hash(line: &lineproto::Line<'_>) -> u64 {
    let mut h = hash_key(line.measurement.as_bytes());
    for (k, v) in &line.tags {
        h = (h ^ hash_key(k.as_bytes()))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(17)
            ^ hash_key(v.as_bytes());
    }
    h
}

impl Tagset {
    fn new(line: &lineproto::Line<'_>) -> Tagset {
        let mut tags: Vec<(&str, &str)> = line
            .tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        tags.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let encoded = if tags.iter().any(|(k, _)| *k == METRIC_NAME) {
            Err("tag key __name__ is reserved for the metric name")
        } else if tags.windows(2).any(|w| w[0].0 == w[1].0) {
            Err("duplicate tag key")
        } else {
            let pos = tags.partition_point(|(k, _)| *k < METRIC_NAME);
            let (mut prefix, mut suffix) = (Vec::new(), Vec::new());
            for (k, v) in &tags[..pos] {
                put_bytes(&mut prefix, k.as_bytes());
                put_bytes(&mut prefix, v.as_bytes());
            }
            for (k, v) in &tags[pos..] {
                put_bytes(&mut suffix, k.as_bytes());
                put_bytes(&mut suffix, v.as_bytes());
            }
            Ok((prefix, suffix))
        };
        Tagset {
            measurement: line.measurement.to_string(),
            tags: line.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            encoded,
            fields: Vec::new(),
        }
    }

    /// Whether `line` has exactly this measurement and tags (in the same order).
    fn is(&self, line: &lineproto::Line<'_>) -> bool {
        self.measurement == line.measurement
            && self.tags.len() == line.tags.len()
            && self.tags.iter().zip(&line.tags).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
    }

    /// The (shard, slot) of field `field` (the `i`-th of its line), adding the series to its
    /// shard's batch the first time.
    fn slot(
        &mut self,
        i: usize,
        field: &str,
        measurement: &str,
        key: &mut Vec<u8>,
        batches: &mut [ShardBatch],
    ) -> (usize, u32) {
        if let Some(f) = self.fields.get(i).filter(|f| f.0 == field) {
            return (f.1, f.2);
        }
        if let Some(f) = self.fields.iter().find(|f| f.0 == field) {
            return (f.1, f.2);
        }
        let Ok((prefix, suffix)) = &self.encoded else {
            return (0, 0);
        };
        let name = format!("{measurement}_{field}");
        key.clear();
        key.extend_from_slice(prefix);
        put_bytes(key, METRIC_NAME.as_bytes());
        put_bytes(key, name.as_bytes());
        key.extend_from_slice(suffix);
        let hash = hash_key(key);
        let shard = (hash % batches.len() as u64) as usize;
        let slot = batches[shard].add_series(hash, key);
        self.fields.push((field.to_owned(), shard, slot));
        (shard, slot)
    }
}

fn reject(line: usize, reason: &str) -> LineError {
    LineError {
        line,
        reason: reason.to_owned(),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn count_shard_dirs(wal: &Path) -> Result<usize> {
    let rd = fs::read_dir(wal).map_err(|e| Error::io(wal, e))?;
    Ok(rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("shard-")))
        .count())
}

/// Loads every block, quarantining the ones that fail verification and removing unfinished writes.
fn load_blocks(dir: &Path, report: &mut OpenReport) -> Result<Vec<Arc<Block>>> {
    let bdir = dir.join("blocks");
    let mut blocks = Vec::new();
    let rd = fs::read_dir(&bdir).map_err(|e| Error::io(&bdir, e))?;
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".tmp") {
            // A block write that never finished; its data is still in the WAL.
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            continue;
        }
        if !name.ends_with(".block") {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(Error::Corrupted { reason, offset, .. }) => {
                let qdir = dir.join("quarantine");
                fs::create_dir_all(&qdir).map_err(|e| Error::io(&qdir, e))?;
                let dest = qdir.join(name);
                fs::rename(&path, &dest).map_err(|e| Error::io(&path, e))?;
                let why = format!("{reason} (offset {offset})");
                tracing::error!(block = %path.display(), moved_to = %dest.display(), reason = %why,
                    "block failed verification and was quarantined");
                report.quarantined.push((path, why));
            }
            Err(e) => return Err(e),
        }
    }
    blocks.sort_by_key(|b| (b.info().partition, b.info().seq));
    report.blocks_loaded = blocks.len();
    Ok(blocks)
}

/// Decodes one series from its blocks (sorted by partition, then sequence). Blocks of distinct
/// partitions cannot overlap, so they are decoded into one run; blocks sharing a partition keep
/// their own runs, merged later by precedence.
fn read_block_series(mut parts: Vec<(&Arc<Block>, u32)>, mint: i64, maxt: i64) -> Result<Vec<Run>> {
    parts.sort_by_key(|(b, _)| (b.partition(), b.seq()));
    let disjoint = parts.windows(2).all(|w| w[0].0.partition() != w[1].0.partition());
    SCRATCH_RUN.with_borrow_mut(|(ts, vs)| {
        if disjoint {
            let mut out = Vec::new();
            let prec = parts.iter().map(|(b, _)| b.seq()).min().unwrap_or(0);
            for (i, (b, id)) in parts.iter().enumerate() {
                b.read_append(*id, mint, maxt, &mut out, ts, vs)?;
                if i == 0 {
                    // Blocks of one series hold similar counts: size the buffer once.
                    out.reserve(ts.len() * (parts.len() - 1) + 16);
                }
            }
            return Ok(if out.is_empty() { Vec::new() } else { vec![(prec, out)] });
        }
        let mut runs = Vec::with_capacity(parts.len());
        for (b, id) in &parts {
            let mut out = Vec::new();
            b.read_append(*id, mint, maxt, &mut out, ts, vs)?;
            if !out.is_empty() {
                runs.push((b.seq(), out));
            }
        }
        Ok(runs)
    })
}

thread_local! {
    static SCRATCH_RUN: std::cell::RefCell<(Vec<i64>, Vec<f64>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Merges the runs of one series: ascending, unique timestamps, the higher precedence winning.
fn merge_runs(mut runs: Vec<Run>) -> Vec<(i64, f64)> {
    if runs.len() == 1 {
        return runs.pop().map(|r| r.1).unwrap_or_default();
    }
    // Fast path: runs that do not overlap in time just concatenate.
    runs.sort_by_key(|r| r.1.first().map(|s| s.0).unwrap_or(i64::MAX));
    if runs.windows(2).all(|w| match (w[0].1.last(), w[1].1.first()) {
        (Some(a), Some(b)) => a.0 < b.0,
        _ => true,
    }) {
        let total = runs.iter().map(|r| r.1.len()).sum();
        let mut out = Vec::with_capacity(total);
        for r in runs {
            out.extend_from_slice(&r.1);
        }
        return out;
    }
    runs.sort_by_key(|r| r.0);
    let mut out: Vec<(i64, f64)> = Vec::new();
    for (_, r) in runs {
        out = merge_override(out, &r);
    }
    out
}

fn send_all<T>(inner: &Inner, make: impl Fn(Sender<Result<T>>) -> Cmd) -> Result<Vec<T>> {
    let (tx, rx) = bounded(inner.senders.len());
    for s in &inner.senders {
        s.send(make(tx.clone())).map_err(|_| Error::Closed)?;
    }
    drop(tx);
    let mut out = Vec::with_capacity(inner.senders.len());
    for _ in 0..inner.senders.len() {
        out.push(rx.recv().map_err(|_| Error::Closed)??);
    }
    Ok(out)
}

/// Publishes a new block set and waits until no reader uses the old one.
fn swap_blocks(inner: &Inner, f: impl FnOnce(&mut Vec<Arc<Block>>)) {
    let old = {
        let mut guard = inner.blocks.write();
        let mut next: Vec<Arc<Block>> = guard.as_ref().clone();
        f(&mut next);
        next.sort_by_key(|b| (b.info().partition, b.info().seq));
        std::mem::replace(&mut *guard, Arc::new(next))
    };
    let mut waited = 0u32;
    while Arc::strong_count(&old) > 1 {
        std::thread::sleep(Duration::from_micros(200));
        waited += 1;
        if waited.is_multiple_of(50_000) {
            tracing::warn!("a reader has held an old block set for over 10 s");
        }
    }
}

/// Turns every head partition starting before `before` into blocks.
fn flush(inner: &Inner, before: i64) -> Result<Vec<BlockInfo>> {
    let _guard = inner.flush_lock.lock();
    let seq = inner.next_seq.load(Ordering::Acquire);
    let frozen: Vec<FreezeOut> = send_all(inner, |reply| Cmd::Freeze { before, seq, reply })?;
    // Partitions stay compressed until their turn: only one is decoded at a time, so a flush of
    // many partitions (a backfill, a shutdown) needs memory for one, not for all.
    let mut parts: BTreeMap<i64, Vec<(Labels, Frozen)>> = BTreeMap::new();
    for out in frozen {
        for (p, list) in out.parts {
            parts.entry(p).or_default().extend(list);
        }
    }
    let cutoff = closed_before(inner);
    let bdir = inner.dir.join("blocks");
    let mut written = Vec::new();
    let mut opened = Vec::new();
    let mut next = seq;
    let result: Result<()> = (|| {
        for (p, frozen) in parts {
            let mut series: HashMap<Labels, Vec<Run>> = HashMap::with_capacity(frozen.len());
            for (labels, f) in frozen {
                let mut v = Vec::new();
                f.decode_into(i64::MIN, i64::MAX, &mut v);
                if !v.is_empty() {
                    series.entry(labels).or_default().push((0, v));
                }
            }
            let mut list: Vec<(Labels, Vec<(i64, f64)>)> =
                series.into_iter().map(|(l, runs)| (l, merge_runs(runs))).collect();
            list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let info = block::write(&bdir, next, p, p < cutoff, &list)?;
            next += 1;
            opened.push(Arc::new(Block::open(&info.path)?));
            written.push(info);
        }
        Ok(())
    })();
    inner.next_seq.store(next.max(seq + 1), Ordering::Release);
    if let Err(e) = result {
        // Keep serving the frozen data from memory; the WAL still holds it. Release would drop it.
        tracing::error!(error = %e, "block write failed; data stays in the WAL and the head");
        for b in &written {
            let _ = fs::remove_file(&b.path);
        }
        return Err(e);
    }
    if !opened.is_empty() {
        swap_blocks(inner, |v| v.extend(opened));
    }
    send_all(inner, |reply| Cmd::Release { seq, reply })?;
    if !written.is_empty() {
        tracing::info!(
            blocks = written.len(),
            samples = written.iter().map(|b| b.samples).sum::<u64>(),
            "flushed head partitions"
        );
    }
    Ok(written)
}

/// Partitions starting before this are closed: no sample for them can be accepted any more.
fn closed_before(inner: &Inner) -> i64 {
    let max = inner.max_ts.load(Ordering::Acquire);
    if max == i64::MIN {
        return i64::MIN;
    }
    partition_of(
        max.saturating_sub(inner.opts.out_of_order_window_ms),
        inner.opts.partition_ms,
    )
}

/// Merges the blocks of each closed partition into one, and deletes blocks past retention.
fn compact_and_expire(inner: &Inner) -> Result<()> {
    let _guard = inner.flush_lock.lock();
    let cutoff = closed_before(inner);
    // Group the blocks without keeping the set itself: `swap_blocks` waits until nobody holds
    // the old set, and that would include us.
    let mut by_part: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
    for b in inner.blocks.read().iter() {
        by_part.entry(b.info().partition).or_default().push(b.clone());
    }
    let bdir = inner.dir.join("blocks");
    for (p, group) in by_part {
        if group.len() < 2 || p >= cutoff {
            continue;
        }
        let mut acc: HashMap<Labels, Vec<Run>> = HashMap::new();
        for b in &group {
            for (l, s) in b.read_all()? {
                acc.entry(l).or_default().push((b.info().seq, s));
            }
        }
        let mut list: Vec<(Labels, Vec<(i64, f64)>)> = acc.into_iter().map(|(l, r)| (l, merge_runs(r))).collect();
        list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let seq = inner.next_seq.fetch_add(1, Ordering::AcqRel);
        let info = block::write(&bdir, seq, p, true, &list)?;
        let merged = Arc::new(Block::open(&info.path)?);
        let old: Vec<u64> = group.iter().map(|b| b.info().seq).collect();
        swap_blocks(inner, |v| {
            v.retain(|b| !old.contains(&b.info().seq));
            v.push(merged);
        });
        for b in &group {
            let _ = fs::remove_file(&b.info().path);
        }
        sync_dir(&bdir)?;
        tracing::info!(partition = p, merged = group.len(), "compacted blocks");
    }
    if let Some(ret) = inner.opts.retention_ms {
        let max = inner.max_ts.load(Ordering::Acquire);
        if max != i64::MIN {
            let limit = max.saturating_sub(ret);
            let expired: Vec<Arc<Block>> = inner
                .blocks
                .read()
                .iter()
                .filter(|b| b.info().maxt < limit)
                .cloned()
                .collect();
            if !expired.is_empty() {
                let seqs: Vec<u64> = expired.iter().map(|b| b.info().seq).collect();
                swap_blocks(inner, |v| v.retain(|b| !seqs.contains(&b.info().seq)));
                for b in &expired {
                    let _ = fs::remove_file(&b.info().path);
                }
                tracing::info!(blocks = expired.len(), "deleted blocks past retention");
            }
        }
    }
    Ok(())
}

/// Flushes each partition as soon as it leaves the out-of-order window. It checks every 50 ms (one
/// atomic load when nothing closed): a backfill closes partitions faster than real time, and every
/// partition waiting in the head holds memory (24 h backfill of 1,000 series, 6 runs each: median
/// peak RSS 251 MiB at a 500 ms period, 212 MiB at 50 ms).
fn flusher_loop(inner: &Inner, stop: &Receiver<()>) {
    let mut last_cutoff = i64::MIN;
    loop {
        match stop.recv_timeout(Duration::from_millis(50)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let cutoff = closed_before(inner);
        if cutoff > last_cutoff {
            match flush(inner, cutoff).and_then(|_| compact_and_expire(inner)) {
                Ok(()) => last_cutoff = cutoff,
                Err(e) => tracing::error!(error = %e, "background flush failed; will retry"),
            }
        }
    }
}
