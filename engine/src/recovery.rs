//! Opening a data directory: take its lock, load and verify the blocks (quarantining bad ones and
//! removing unfinished writes), and replay each shard's WAL into a fresh head.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::block::Block;
use crate::error::{Error, Result};
use crate::latency::LatencyHistogram;
use crate::options::Options;
use crate::shard::{Writer, partition_of};
use crate::wal::WalDamage;

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

/// A recovered data directory, ready for its threads to start.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) blocks: Vec<Arc<Block>>,
    /// One writer per shard, its head already replayed.
    pub(crate) writers: Vec<Writer>,
    pub(crate) max_ts: i64,
    pub(crate) next_seq: u64,
    pub(crate) wal_fsync: Arc<LatencyHistogram>,
    pub(crate) report: OpenReport,
}

/// Creates the directory layout if needed and takes the `LOCK` file (held while the file lives).
pub(crate) fn lock(dir: &Path) -> Result<File> {
    fs::create_dir_all(dir.join("blocks")).map_err(|e| Error::io(dir, e))?;
    fs::create_dir_all(dir.join("wal")).map_err(|e| Error::io(dir, e))?;
    let lock_path = dir.join("LOCK");
    let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    // A few short retries: a child process forked by this one (between fork and exec) holds
    // a copy of the lock of a database that was just closed, for a moment.
    let mut tries = 0;
    while lock.try_lock().is_err() {
        tries += 1;
        if tries > 10 {
            return Err(Error::Locked(dir.to_path_buf()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(lock)
}

/// Loads the blocks and replays every shard's WAL (the directory must be locked).
pub(crate) fn recover(dir: &Path, opts: &Options) -> Result<Recovered> {
    let mut report = OpenReport::default();
    let blocks = load_blocks(dir, &mut report)?;
    // Every partition a sealed block holds data of (a compacted block spans several).
    let mut sealed: BTreeSet<i64> = BTreeSet::new();
    for b in blocks.iter().filter(|b| b.info().sealed) {
        let mut p = partition_of(b.info().mint, opts.partition_ms);
        while p <= b.info().maxt {
            sealed.insert(p);
            p = p.saturating_add(opts.partition_ms);
        }
    }
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
    let keep_released = crate::wal_tail::keep_released(dir, opts.wal_keep_released)?;
    let wal_fsync = Arc::new(LatencyHistogram::default());
    let mut writers = Vec::with_capacity(shards);
    for i in 0..shards {
        let wdir = dir.join("wal").join(format!("shard-{i:03}"));
        let (mut writer, rep) = Writer::open(
            &wdir,
            opts.partition_ms,
            opts.chunk_samples,
            opts.durability,
            opts.wal_segment_bytes,
            &sealed,
            wal_fsync.clone(),
        )?;
        writer.keep_released_wal(keep_released);
        if !keep_released {
            crate::wal_tail::remove_released(dir, i, u64::MAX)?;
        }
        report.wal_samples_replayed += rep.samples;
        report.wal_damage.extend(rep.damage);
        if let Some(m) = rep.max_ts {
            max_ts = max_ts.max(m);
        }
        writers.push(writer);
    }
    Ok(Recovered {
        blocks,
        writers,
        max_ts,
        next_seq,
        wal_fsync,
        report,
    })
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
