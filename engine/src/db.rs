//! The database facade: [`Db`] opens a data directory, starts its threads and hands each call to
//! the module that does the work (`write`, `read`, `flush`, `compaction`, `retention`, `recovery`).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, bounded};
use parking_lot::{Mutex, RwLock};

use crate::block::BlockInfo;
use crate::compaction::compact;
use crate::error::{Error, Result};
use crate::flush::{flush, flusher_loop};
use crate::latency::LatencySnapshot;
use crate::lineproto::Precision;
use crate::model::{LabelMatcher, Labels, Series};
use crate::options::Options;
use crate::read;
use crate::recovery::{self, OpenReport};
use crate::retention::expire;
use crate::rollup::{RollupSelection, RollupSeries};
use crate::shard::Cmd;
use crate::snapshot::{self, SnapshotInfo};
use crate::state::{DbState, now_ms};
use crate::write::{self, SampleBatch, WriteReport};

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

/// An open database. Cheap to share across threads (`&Db` is all readers and writers need).
///
/// Writes are acknowledged according to [`crate::Durability`]; a read sees every write acknowledged
/// before it started. Dropping the database closes it; [`Db::close`] reports errors.
#[derive(Debug)]
pub struct Db {
    inner: Arc<DbState>,
    writers: Vec<JoinHandle<()>>,
    flusher: Option<(Sender<()>, JoinHandle<()>)>,
    report: OpenReport,
    _lock: File,
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
        if let Some(w) = opts
            .rollup_windows_ms
            .iter()
            .find(|w| !crate::ROLLUP_RESOLUTIONS.contains(w))
        {
            return Err(Error::InvalidArgument(format!(
                "no rollup of {w} ms windows: rollups are kept for {:?} ms windows",
                crate::ROLLUP_RESOLUTIONS
            )));
        }
        opts.check_retention()?;
        let lock = recovery::lock(&dir)?;
        let rec = recovery::recover(&dir, &opts)?;
        let shards = rec.writers.len();
        let mut senders = Vec::with_capacity(shards);
        let mut heads = Vec::with_capacity(shards);
        let mut writers = Vec::with_capacity(shards);
        for (i, writer) in rec.writers.into_iter().enumerate() {
            heads.push(writer.head());
            let (tx, rx) = bounded::<Cmd>(64);
            senders.push(tx);
            let h = std::thread::Builder::new()
                .name(format!("foresight-shard-{i}"))
                .spawn(move || writer.run(rx))
                .map_err(|e| Error::io(&dir, e))?;
            writers.push(h);
        }
        let report = rec.report;
        let inner = Arc::new(DbState {
            dir: dir.clone(),
            opts: opts.clone(),
            senders,
            heads,
            blocks: RwLock::new(Arc::new(rec.blocks)),
            max_ts: AtomicI64::new(rec.max_ts),
            next_seq: AtomicU64::new(rec.next_seq),
            flush_lock: Mutex::new(()),
            compact_lock: Mutex::new(()),
            swap_lock: Mutex::new(()),
            // Replayed samples may belong to closed partitions: let the flusher look.
            backfill_pending: AtomicU64::new(report.wal_samples_replayed),
            samples_ingested: AtomicU64::new(0),
            lines_rejected: AtomicU64::new(0),
            wal_fsync: rec.wal_fsync,
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

    /// Like [`Db::write_lines`], with `default_ms` (ms) as the time of lines without a timestamp.
    pub fn write_lines_at(&self, body: &[u8], precision: Precision, default_ms: i64) -> Result<WriteReport> {
        write::write_lines(&self.inner, None, None, body, precision, default_ms)
    }

    /// Like [`Db::write_lines_at`], every series being `tenant`'s (`None`: the default tenant's):
    /// the engine adds its [`crate::TENANT_LABEL`]; a line with its own `__tenant__` tag is
    /// rejected, whatever the tenant. Reached through [`crate::TenantView`].
    pub(crate) fn write_lines_for(
        &self,
        tenant: Option<&str>,
        admission: Option<&dyn crate::Admission>,
        body: &[u8],
        precision: Precision,
        default_ms: i64,
    ) -> Result<WriteReport> {
        write::write_lines(&self.inner, tenant, admission, body, precision, default_ms)
    }

    /// [`Db::write_samples`] with `admission` deciding which new series may be stored.
    pub(crate) fn write_samples_admitted(
        &self,
        batch: &SampleBatch,
        admission: Option<&dyn crate::Admission>,
    ) -> Result<WriteReport> {
        write::write_samples(&self.inner, batch, admission)
    }

    /// Stores already-parsed samples (see [`SampleBatch`]), with the same checks, durability and
    /// report as [`Db::write_lines`]: a rejected sample is reported by the line number it was
    /// pushed with, and the other samples are stored.
    pub fn write_samples(&self, batch: &SampleBatch) -> Result<WriteReport> {
        write::write_samples(&self.inner, batch, None)
    }

    /// Every series matching all `matchers` with its samples in `[mint, maxt]` (ms, inclusive),
    /// sorted by labels. Series without samples in the range are left out.
    pub fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        read::select(&self.inner, matchers, mint, maxt)
    }

    /// Every series matching `matchers` with its rollup windows of length `len` (one of
    /// [`crate::ROLLUP_RESOLUTIONS`]: 5 min or 1 h) lying inside `[mint, maxt]`, sorted by labels.
    ///
    /// Only whole windows are returned: those summarising every sample of the series in their span
    /// (the block holding the window is the only one with data there, and the head holds none).
    /// The spans left out (recent data, overlapping late writes, blocks written before rollups)
    /// are to be read raw with [`Db::select`].
    pub fn rollups(&self, matchers: &[LabelMatcher], len: i64, mint: i64, maxt: i64) -> Result<Vec<RollupSeries>> {
        if !crate::ROLLUP_RESOLUTIONS.contains(&len) {
            return Err(Error::InvalidArgument(format!(
                "no rollup of {len} ms; rollups are kept for {:?} ms windows",
                crate::ROLLUP_RESOLUTIONS
            )));
        }
        read::rollups(&self.inner, matchers, len, mint, maxt)
    }

    /// Window lengths (ms) of the rollups written into new blocks (`Options::rollup_windows_ms`).
    pub fn rollup_windows_ms(&self) -> &[i64] {
        &self.inner.opts.rollup_windows_ms
    }

    /// For PromQL (`foresight_promql::Storage::select_rollups`): every series matching
    /// `matchers` with its whole rollup windows of length `len` inside `[mint, maxt]` that hold
    /// no NaN or infinity, and its raw samples in the `raw` spans (inclusive) and wherever no
    /// returned window stands for its samples (late writes, head data, older blocks).
    pub fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSelection>> {
        if !crate::ROLLUP_RESOLUTIONS.contains(&len) {
            return Err(Error::InvalidArgument(format!(
                "no rollup of {len} ms; rollups are kept for {:?} ms windows",
                crate::ROLLUP_RESOLUTIONS
            )));
        }
        read::select_rollups(&self.inner, matchers, len, mint, maxt, raw)
    }

    /// Label sets of the series matching `matchers` that have data in `[mint, maxt]`.
    pub fn series(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Labels>> {
        read::series(&self.inner, matchers, mint, maxt)
    }

    /// Label names present in `[mint, maxt]` (of the matching series, if `matchers` is not empty), sorted.
    pub fn label_names(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for l in self.series(matchers, mint, maxt)? {
            names.extend(l.iter().map(|l| l.name.to_owned()));
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
        self.inner.send_all(|reply| Cmd::Sync { reply }).map(|_| ())
    }

    /// Writes everything in the head to blocks now (including partitions still open to late
    /// samples; later samples for them go to a new block, merged by compaction), then releases the
    /// WAL. Afterwards the data directory holds blocks only, plus an empty WAL segment per shard.
    pub fn flush(&self) -> Result<()> {
        flush(&self.inner, i64::MAX)?;
        compact(&self.inner, 2)?;
        expire(&self.inner)
    }

    /// Takes an online, consistent snapshot into `dest` (which must not exist): every write
    /// acknowledged before the call is in it, writers are not blocked. Blocks are hard-linked (or,
    /// across file systems, linked to an identical file of a snapshot in `reuse_from`, else
    /// copied). See [`crate::snapshot`].
    pub fn snapshot(&self, dest: &Path, reuse_from: &[PathBuf]) -> Result<SnapshotInfo> {
        snapshot::take(&self.inner, dest, reuse_from)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
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
            wal_bytes: segment_bytes(&inner.dir.join("wal")),
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

/// Bytes of the WAL segment files under `dir` (each shard's directory).
fn segment_bytes(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => segment_bytes(&e.path()),
            Ok(m) if e.path().extension().is_some_and(|x| x == "wal") => m.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
#[path = "db_tests.rs"]
pub(crate) mod tests;
