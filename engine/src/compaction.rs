//! Compaction: the blocks of one closed partition (a flush of an open partition, then late
//! samples) are merged into one block, later blocks winning on equal timestamps.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::block::{self, Block};
use crate::error::Result;
use crate::model::Labels;
use crate::read::merge_runs;
use crate::shard::Run;
use crate::state::DbState;
use crate::wal::sync_dir;

/// Merges the blocks of each closed partition that has at least `min_blocks` (two or more) into one.
pub(crate) fn compact(inner: &DbState, min_blocks: usize) -> Result<()> {
    let _guard = inner.flush_lock.lock();
    let cutoff = inner.closed_before();
    // Group the blocks without keeping the set itself: `swap_blocks` waits until nobody holds
    // the old set, and that would include us.
    let mut by_part: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
    for b in inner.blocks.read().iter() {
        by_part.entry(b.info().partition).or_default().push(b.clone());
    }
    let bdir = inner.dir.join("blocks");
    for (p, group) in by_part {
        if group.len() < min_blocks.max(2) || p >= cutoff {
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
        inner.swap_blocks(|v| {
            v.retain(|b| !old.contains(&b.info().seq));
            v.push(merged);
        });
        for b in &group {
            let _ = fs::remove_file(&b.info().path);
        }
        sync_dir(&bdir)?;
        tracing::info!(partition = p, merged = group.len(), "compacted blocks");
    }
    Ok(())
}
