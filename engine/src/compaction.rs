//! Compaction: blocks are merged over aligned time ranges that grow by threes, as Prometheus does:
//! the partition (2 h), then 6 h, 18 h, 54 h, 162 h and 486 h (20 d), up to a bound (31 d, or a tenth
//! of retention). A range is compacted once it is closed (it ends before the out-of-order window)
//! and every block with data in it lies inside it; its blocks become one, later blocks winning on
//! equal timestamps. So the blocks of one partition (a flush of an open partition, then late
//! samples, then backfill) become one, and long histories are held by few blocks, which long queries
//! open and decode fewer of. Merging goes series by series through a streaming block writer, so a
//! range larger than memory can be compacted. Blocks holding rollup-only series (raw samples dropped
//! by retention) are never merged.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::block::{Block, BlockWriter};
use crate::error::Result;
use crate::model::Labels;
use crate::options::Options;
use crate::read::merge_runs;
use crate::shard::Run;
use crate::state::DbState;
use crate::wal::sync_dir;

/// Longest compaction range when retention does not bound it lower.
const MAX_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;

/// The spans of the compaction ranges, shortest (the partition) first.
pub(crate) fn levels(opts: &Options) -> Vec<i64> {
    let cap = match opts.retention_ms {
        Some(r) => (r / 10).min(MAX_RANGE_MS),
        None => MAX_RANGE_MS,
    };
    let mut v = vec![opts.partition_ms];
    while let Some(next) = v.last().and_then(|l| l.checked_mul(3)) {
        if next > cap {
            break;
        }
        v.push(next);
    }
    v
}

fn range_start(t: i64, span: i64) -> i64 {
    t.div_euclid(span) * span
}

/// The start of the largest compaction range holding partition `p` that is closed (ends by
/// `cutoff`): where a flush writes a closed partition, so a backfill lands in few, long blocks.
pub(crate) fn closed_range(p: i64, cutoff: i64, levels: &[i64]) -> i64 {
    let mut best = p;
    for &span in levels {
        let s = range_start(p, span);
        if s.saturating_add(span) <= cutoff {
            best = s;
        } else {
            break;
        }
    }
    best
}

/// Compacts every closed range holding at least `min_blocks` (two or more) blocks, shortest ranges
/// first.
///
/// Flushes go on while blocks merge (a long merge used to stop them, and the head grew by every
/// sample written meanwhile: a 30-day import peaked at 1.2 GB). The blocks of each level's merges
/// are picked and the merged blocks numbered under the flush lock, so a block flushed later has a
/// higher sequence number than the merged block covering its range, and its newer samples win;
/// the merged block replaces exactly the blocks it read.
pub(crate) fn compact(inner: &DbState, min_blocks: usize) -> Result<()> {
    let _compacting = inner.compact_lock.lock();
    for span in levels(&inner.opts) {
        let merges: Vec<(i64, Vec<Arc<Block>>, u64)> = {
            let _flushes = inner.flush_lock.lock();
            plan_level(inner, span, min_blocks)
                .into_iter()
                .map(|(start, group)| (start, group, inner.next_seq.fetch_add(1, Ordering::AcqRel)))
                .collect()
        };
        for (start, group, seq) in merges {
            merge(inner, start, &group, seq)?;
        }
    }
    Ok(())
}

/// The ranges of span `span` to merge now, with their blocks: closed, holding at least
/// `min_blocks` (two or more) blocks, none of which reaches outside the range.
fn plan_level(inner: &DbState, span: i64, min_blocks: usize) -> Vec<(i64, Vec<Arc<Block>>)> {
    let cutoff = inner.closed_before();
    // Snapshot the set without keeping it: `swap_blocks` waits until nobody holds the old set,
    // and that would include us.
    // Blocks holding rollup-only series stay as they are: a merge reads raw samples only, and
    // would lose those series' rollups (see `retention.rs`).
    let mut blocks: Vec<Arc<Block>> = inner
        .blocks
        .read()
        .iter()
        .filter(|b| b.info().rollup_only_series == 0)
        .cloned()
        .collect();
    blocks.sort_by_key(|b| b.info().mint);
    // reach[i]: the latest end among the first i blocks by start, to tell whether a block that
    // starts before a range reaches into it.
    let mut reach = Vec::with_capacity(blocks.len() + 1);
    reach.push(i64::MIN);
    for b in &blocks {
        let last = reach.last().copied().unwrap_or(i64::MIN);
        reach.push(last.max(b.info().maxt));
    }
    let mut groups: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
    for b in &blocks {
        groups
            .entry(range_start(b.info().mint, span))
            .or_default()
            .push(b.clone());
    }
    let mut out = Vec::new();
    for (start, group) in groups {
        let end = start.saturating_add(span);
        if group.len() < min_blocks.max(2) || end > cutoff {
            continue;
        }
        let before = blocks.partition_point(|b| b.info().mint < start);
        if group.iter().any(|b| b.info().maxt >= end) || reach[before] >= start {
            // A longer block overlaps the range: a longer range will take them together.
            continue;
        }
        out.push((start, group));
    }
    out
}

/// Merges `group` (every block with data in the range starting at `start`) into one block.
fn merge(inner: &DbState, start: i64, group: &[Arc<Block>], seq: u64) -> Result<()> {
    let mut by_labels: BTreeMap<&Labels, Vec<(usize, u32)>> = BTreeMap::new();
    for (i, b) in group.iter().enumerate() {
        for id in 0..b.series_count() {
            if let Some(l) = b.labels(id) {
                by_labels.entry(l).or_default().push((i, id));
            }
        }
    }
    let bdir = inner.dir.join("blocks");
    let mut w = BlockWriter::create(&bdir, seq, start, true)?.rollups(&inner.opts.rollup_windows_ms);
    for (labels, parts) in by_labels {
        let mut runs: Vec<Run> = Vec::with_capacity(parts.len());
        for (i, id) in parts {
            let mut v = Vec::new();
            group[i].read(id, i64::MIN, i64::MAX, &mut v)?;
            if !v.is_empty() {
                runs.push((group[i].info().seq, v));
            }
        }
        w.add(labels, &merge_runs(runs))?;
    }
    let info = w.finish()?;
    let merged = Arc::new(Block::open(&info.path)?);
    let old: Vec<u64> = group.iter().map(|b| b.info().seq).collect();
    inner.swap_blocks(|v| {
        v.retain(|b| !old.contains(&b.info().seq));
        v.push(merged);
    });
    for b in group {
        let _ = fs::remove_file(&b.info().path);
    }
    sync_dir(&bdir)?;
    tracing::info!(
        range_start = start,
        merged = group.len(),
        samples = info.samples,
        "compacted blocks"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn levels_grow_by_threes_up_to_the_bound() {
        let o = Options::default();
        assert_eq!(levels(&o), vec![2 * H, 6 * H, 18 * H, 54 * H, 162 * H, 486 * H]);
        let o = Options {
            retention_ms: Some(30 * 24 * H),
            ..Options::default()
        };
        assert_eq!(
            levels(&o),
            vec![2 * H, 6 * H, 18 * H, 54 * H],
            "a tenth of retention: 72 h"
        );
    }

    #[test]
    fn closed_range_is_the_longest_range_ending_by_the_cutoff() {
        let l = [2 * H, 6 * H, 18 * H];
        assert_eq!(closed_range(0, 100 * H, &l), 0);
        assert_eq!(closed_range(20 * H, 100 * H, &l), 18 * H);
        assert_eq!(closed_range(20 * H, 24 * H, &l), 18 * H, "18..24 h is closed at 24 h");
        assert_eq!(closed_range(20 * H, 23 * H, &l), 20 * H, "only the partition is closed");
        assert_eq!(closed_range(-2 * H, 0, &l), -18 * H);
    }
}
