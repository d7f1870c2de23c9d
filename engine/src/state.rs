//! The state an open database shares between its facade ([`crate::Db`]), its writer threads' senders,
//! the background flusher and readers: a leaf module, so the write, read, flush and compaction
//! modules depend on it and not on each other.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Sender, bounded};
use parking_lot::{Mutex, RwLock};

use crate::block::Block;
use crate::error::{Error, Result};
use crate::latency::LatencyHistogram;
use crate::options::Options;
use crate::shard::{Cmd, ShardHead, partition_of};

/// The published set of blocks; readers clone the `Arc` and read without locks.
pub(crate) type BlockSet = Arc<Vec<Arc<Block>>>;

/// Everything the threads of one open database share.
#[derive(Debug)]
pub(crate) struct DbState {
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    /// One sender per shard's writer thread.
    pub(crate) senders: Vec<Sender<Cmd>>,
    /// What readers see of each shard's head.
    pub(crate) heads: Vec<Arc<ShardHead>>,
    pub(crate) blocks: RwLock<BlockSet>,
    /// Newest timestamp accepted (i64::MIN when empty).
    pub(crate) max_ts: AtomicI64,
    /// Sequence number of the next block written.
    pub(crate) next_seq: AtomicU64,
    /// Held by a flush for its whole length, by retention, and by compaction only while it picks
    /// the blocks of its merges and numbers the merged blocks (not while it merges: flushes go on).
    pub(crate) flush_lock: Mutex<()>,
    /// Held by a compaction pass and by retention, so that only one of them changes blocks at a
    /// time. Taken before `flush_lock` when both are.
    pub(crate) compact_lock: Mutex<()>,
    /// Serialises [`DbState::swap_blocks`] (swap and wait together).
    pub(crate) swap_lock: Mutex<()>,
    /// Samples accepted into partitions that were already closed (a backfill), not yet flushed.
    pub(crate) backfill_pending: AtomicU64,
    pub(crate) samples_ingested: AtomicU64,
    pub(crate) lines_rejected: AtomicU64,
    /// Time of each WAL fsync, all shards.
    pub(crate) wal_fsync: Arc<LatencyHistogram>,
}

/// Wall-clock time in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl DbState {
    /// Sends one command to every shard and collects the replies, in shard order.
    pub(crate) fn send_all<T>(&self, make: impl Fn(Sender<Result<T>>) -> Cmd) -> Result<Vec<T>> {
        // A channel per shard: the replies arrive in any order, the snapshot needs them by shard.
        let mut pending = Vec::with_capacity(self.senders.len());
        for s in &self.senders {
            let (tx, rx) = bounded(1);
            s.send(make(tx)).map_err(|_| Error::Closed)?;
            pending.push(rx);
        }
        let mut out = Vec::with_capacity(self.senders.len());
        for rx in pending {
            out.push(rx.recv().map_err(|_| Error::Closed)??);
        }
        Ok(out)
    }

    /// Publishes a new block set and waits until no reader uses the old one, nor any older one.
    ///
    /// Swaps are serialised, each waiting before the next may swap: a flush drops the head's
    /// copy of what it wrote once its swap returns, and a reader that took a set from before a
    /// concurrent compaction's swap (so without the flushed block) must be done by then. Without
    /// this, a flush waited only for its own predecessor set, and a query during a 30-day ingest
    /// saw 2 hours of 100 series vanish for a moment.
    pub(crate) fn swap_blocks(&self, f: impl FnOnce(&mut Vec<Arc<Block>>)) {
        let _serial = self.swap_lock.lock();
        let old = {
            let mut guard = self.blocks.write();
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

    /// Partitions starting before this are closed: the flusher writes them to blocks, and samples
    /// that arrive for them later (a backfill) go to new blocks at the next flush.
    pub(crate) fn closed_before(&self) -> i64 {
        let max = self.max_ts.load(Ordering::Acquire);
        if max == i64::MIN {
            return i64::MIN;
        }
        partition_of(
            max.saturating_sub(self.opts.out_of_order_window_ms),
            self.opts.partition_ms,
        )
    }
}
