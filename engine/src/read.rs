//! The read path: the blocks overlapping a range and the shards' heads, merged per series by
//! precedence (a later block over an earlier one, the head over every block; last write wins).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;

use crate::block::Block;
use crate::error::Result;
use crate::head::merge_override;
use crate::model::{LabelMatcher, Labels, Series};
use crate::rollup::{RollupSeries, Window};
use crate::shard::Run;
use crate::state::DbState;

/// Every series matching all `matchers` with its samples in `[mint, maxt]`, sorted by labels.
pub(crate) fn select(inner: &DbState, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
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

/// Every series matching `matchers` with its whole rollup windows of length `len` lying inside
/// `[mint, maxt]`, sorted by labels (see [`crate::Db::rollups`]). A window is whole when the block
/// it comes from is the only place holding the series' samples of its span: no other block
/// overlaps the span, and the series has no head partition there.
pub(crate) fn rollups(
    inner: &DbState,
    matchers: &[LabelMatcher],
    len: i64,
    mint: i64,
    maxt: i64,
) -> Result<Vec<RollupSeries>> {
    let blocks = inner.blocks.read().clone();
    let part = inner.opts.partition_ms;
    // The series' head partitions: their spans are not whole in any block.
    let mut in_head: HashMap<Labels, Vec<i64>> = HashMap::new();
    for h in &inner.heads {
        let all = h.series.read();
        for id in h.postings.read().select(matchers) {
            if let Some(s) = all.get(id as usize) {
                in_head.entry(s.labels.clone()).or_default().extend(s.partitions());
            }
        }
    }
    // Per block, the blocks near it in time: only they can hold samples of its windows' spans.
    let near: Vec<Vec<&Arc<Block>>> = blocks
        .iter()
        .map(|b| {
            let (lo, hi) = (b.info().mint.saturating_sub(len), b.info().maxt.saturating_add(len));
            blocks
                .iter()
                .filter(|x| x.seq() != b.seq() && x.overlaps(lo, hi))
                .collect()
        })
        .collect();
    let tasks: Vec<(usize, u32)> = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.overlaps(mint, maxt))
        .flat_map(|(i, b)| b.select(matchers).into_iter().map(move |id| (i, id)))
        .collect();
    // Decoded in parallel, as raw reads are.
    let decoded: Vec<(&Labels, Vec<Window>)> = tasks
        .par_iter()
        .filter_map(|&(i, id)| {
            let b = &blocks[i];
            let labels = b.labels(id)?;
            let head = in_head.get(labels).map_or(&[][..], Vec::as_slice);
            Some(b.rollups(id, len, mint, maxt).map(|mut ws| {
                ws.retain(|w| {
                    let end = w.start.saturating_add(len - 1);
                    w.start >= mint
                        && end <= maxt
                        && near[i].iter().all(|x| !x.overlaps(w.start, end))
                        && head.iter().all(|&p| p > end || p.saturating_add(part) <= w.start)
                });
                (labels, ws)
            }))
        })
        .collect::<Result<_>>()?;
    let mut acc: HashMap<Labels, Vec<Window>> = HashMap::new();
    for (labels, ws) in decoded {
        if !ws.is_empty() {
            acc.entry(labels.clone()).or_default().extend(ws);
        }
    }
    let mut out: Vec<RollupSeries> = acc
        .into_iter()
        .map(|(labels, mut windows)| {
            windows.sort_by_key(|w| w.start);
            RollupSeries { labels, windows }
        })
        .collect();
    out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

/// Label sets of the series matching `matchers` that have data in `[mint, maxt]`.
pub(crate) fn series(inner: &DbState, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Labels>> {
    let mut set: BTreeSet<Labels> = BTreeSet::new();
    let blocks = inner.blocks.read().clone();
    for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
        set.extend(b.select(matchers).into_iter().filter_map(|id| b.labels(id).cloned()));
    }
    for h in &inner.heads {
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

/// Decodes one series from its blocks. When the series' time ranges in them do not overlap, they
/// are decoded into one run; otherwise each block keeps its own run, merged later by precedence.
fn read_block_series(mut parts: Vec<(&Arc<Block>, u32)>, mint: i64, maxt: i64) -> Result<Vec<Run>> {
    // By the series' own time range in each block: blocks of distinct ranges hold disjoint data,
    // and so, most of the time, do a long block and the short ones after it.
    let span = |p: &(&Arc<Block>, u32)| p.0.series_range(p.1).unwrap_or((i64::MAX, i64::MAX));
    parts.sort_by_key(|p| (span(p).0, p.0.seq()));
    let disjoint = parts.windows(2).all(|w| span(&w[0]).1 < span(&w[1]).0);
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
pub(crate) fn merge_runs(mut runs: Vec<Run>) -> Vec<(i64, f64)> {
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
