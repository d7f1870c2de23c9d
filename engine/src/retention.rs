//! Retention in two tiers, counted back from the newest sample:
//!
//! - raw: once a block's data ends longer than a series' raw retention before the newest sample
//!   (`Options::retention_ms`, or the first matching `Options::retention_rules`), the block is
//!   rewritten without that series' raw samples, keeping its rollups: a rollup-only series (block
//!   version 4). Long-range functions answer from its rollup windows; raw reads see nothing there.
//! - rollups: blocks whose data ends longer than the rollup retention before the newest sample
//!   are deleted. With no rollup retention longer than the raw one (the default), a block past the
//!   raw retention is deleted whole, as before tiers.
//!
//! A rewrite keeps the block's sequence number and replaces the file by a rename, so the block
//! keeps its precedence among overlapping blocks and a crash leaves the old file or the new one.
//! Compaction leaves blocks holding rollup-only series alone (`compaction::plan_level`): merging
//! reads raw samples only, and would lose their rollups.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::block::{Block, BlockWriter};
use crate::error::Result;
use crate::state::DbState;
use crate::wal::sync_dir;

/// Applies retention: deletes the blocks past the rollup retention and drops the raw samples of
/// the series past their raw retention (nothing when no retention or rule is set).
pub(crate) fn expire(inner: &DbState) -> Result<()> {
    let _compacting = inner.compact_lock.lock();
    let max = inner.max_ts.load(Ordering::Acquire);
    if max == i64::MIN {
        return Ok(());
    }
    let opts = &inner.opts;
    let drop_limit = opts.rollup_retention().map(|r| max.saturating_sub(r));
    let blocks: Vec<Arc<Block>> = inner.blocks.read().iter().cloned().collect();
    let expired: Vec<&Arc<Block>> = blocks
        .iter()
        .filter(|b| drop_limit.is_some_and(|l| b.info().maxt < l))
        .collect();
    if !expired.is_empty() {
        let _flushes = inner.flush_lock.lock();
        let seqs: Vec<u64> = expired.iter().map(|b| b.seq()).collect();
        inner.swap_blocks(|v| v.retain(|b| !seqs.contains(&b.seq())));
        for b in &expired {
            let _ = fs::remove_file(&b.info().path);
        }
        tracing::info!(blocks = expired.len(), "deleted blocks past retention");
    }
    if opts.retention_ms.is_none() && opts.retention_rules.is_empty() {
        return Ok(());
    }
    // Flushes go on while blocks are rewritten: they only add blocks, and a rewritten block keeps
    // its sequence number. Compaction and snapshots wait on the compaction lock.
    for b in blocks.iter().filter(|b| drop_limit.is_none_or(|l| b.info().maxt >= l)) {
        let maxt = b.info().maxt;
        let drop: Vec<bool> = (0..b.series_count())
            .map(|id| {
                b.has_raw(id)
                    && b.labels(id)
                        .and_then(|l| opts.raw_retention(l))
                        .is_some_and(|r| maxt < max.saturating_sub(r))
            })
            .collect();
        if drop.contains(&true) {
            rewrite(inner, b, &drop)?;
        }
    }
    Ok(())
}

/// Rewrites block `b` without the raw samples of the series flagged in `drop` (their rollups
/// kept), and publishes it in place of `b`; a block left empty (no rollups to keep) is deleted.
fn rewrite(inner: &DbState, b: &Arc<Block>, drop: &[bool]) -> Result<()> {
    let bdir = inner.dir.join("blocks");
    let info = b.info();
    let mut w = BlockWriter::create(&bdir, info.seq, info.partition, info.sealed)?;
    let mut samples = Vec::new();
    for (id, &gone) in (0..b.series_count()).zip(drop) {
        let (Some(labels), Some(range)) = (b.labels(id), b.series_range(id)) else {
            continue;
        };
        if gone {
            samples.clear();
        } else {
            b.read(id, i64::MIN, i64::MAX, &mut samples)?;
        }
        if let Err(e) = w.add_kept(labels, range, &samples, b.rollup_bytes(id)) {
            w.abandon();
            return Err(e);
        }
    }
    let seq = info.seq;
    if w.is_empty() {
        w.abandon();
        let _flushes = inner.flush_lock.lock();
        inner.swap_blocks(|v| v.retain(|x| x.seq() != seq));
        let _ = fs::remove_file(&info.path);
        sync_dir(&bdir)?;
        tracing::info!(seq, "deleted a block past raw retention without rollups");
        return Ok(());
    }
    // The rename in `finish` replaces the file: readers of the old set keep the old mapping.
    let new = w.finish()?;
    let block = Arc::new(Block::open(&new.path)?);
    inner.swap_blocks(|v| {
        v.retain(|x| x.seq() != seq);
        v.push(block);
    });
    tracing::info!(
        seq,
        bytes_before = info.bytes,
        bytes_after = new.bytes,
        rollup_only_series = new.rollup_only_series,
        "dropped raw samples past retention, kept rollups"
    );
    Ok(())
}
