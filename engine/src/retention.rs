//! Retention: whole blocks whose data ends more than `retention` before the newest sample are
//! deleted.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::block::Block;
use crate::error::Result;
use crate::state::DbState;

/// Deletes the blocks past retention (nothing when no retention is set).
pub(crate) fn expire(inner: &DbState) -> Result<()> {
    let _compacting = inner.compact_lock.lock();
    let _guard = inner.flush_lock.lock();
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
                inner.swap_blocks(|v| v.retain(|b| !seqs.contains(&b.info().seq)));
                for b in &expired {
                    let _ = fs::remove_file(&b.info().path);
                }
                tracing::info!(blocks = expired.len(), "deleted blocks past retention");
            }
        }
    }
    Ok(())
}
