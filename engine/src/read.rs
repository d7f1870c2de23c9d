//! The read path: the blocks overlapping a range and the shards' heads, merged per series by
//! precedence (a later block over an earlier one, the head over every block; last write wins).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;

use crate::block::Block;
use crate::error::Result;
use crate::head::merge_override;
use crate::model::{LabelMatcher, Labels, Series};
use crate::rollup::{RollupSelection, RollupSeries, Span, Window};
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
/// overlaps the span (for a rollup-only series, no other block holds the series there), and the
/// series has no head partition there.
pub(crate) fn rollups(
    inner: &DbState,
    matchers: &[LabelMatcher],
    len: i64,
    mint: i64,
    maxt: i64,
) -> Result<Vec<RollupSeries>> {
    Ok(whole_windows(inner, matchers, len, mint, maxt, false)?.0)
}

/// The whole windows of [`rollups`] (without those holding NaN or infinities when `finite_only`),
/// and the spans inside `[mint, maxt]`, over all the series, where samples exist that no returned
/// window stands for (sorted, merged): windows left out, head partitions, and blocks without
/// rollups of length `len`.
fn whole_windows(
    inner: &DbState,
    matchers: &[LabelMatcher],
    len: i64,
    mint: i64,
    maxt: i64,
    finite_only: bool,
) -> Result<(Vec<RollupSeries>, Vec<Span>)> {
    let blocks = inner.blocks.read().clone();
    let part = inner.opts.partition_ms;
    let mut gaps: Vec<(i64, i64)> = Vec::new();
    let gap = |lo: i64, hi: i64, gaps: &mut Vec<(i64, i64)>| {
        let (lo, hi) = (lo.max(mint), hi.min(maxt));
        if lo <= hi {
            gaps.push((lo, hi));
        }
    };
    // The series' head partitions, flushing ones included: their spans are not whole in any
    // block of this set (a flush publishes its block after freezing the partitions).
    let mut in_head: HashMap<Labels, Vec<i64>> = HashMap::new();
    for h in &inner.heads {
        h.partitions(matchers, &mut in_head);
    }
    for parts in in_head.values() {
        for &p in parts {
            gap(p, p.saturating_add(part - 1), &mut gaps);
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
    // Decoded in parallel, as raw reads are. Each task also gives the spans it left out.
    type Decoded<'a> = (&'a Labels, Vec<Window>, Vec<(i64, i64)>);
    let decoded: Vec<Decoded<'_>> = tasks
        .par_iter()
        .filter_map(|&(i, id)| {
            let b = &blocks[i];
            let labels = b.labels(id)?;
            let head = in_head.get(labels).map_or(&[][..], Vec::as_slice);
            // A rollup-only series has no raw samples a raw read could take over: its windows
            // are whole unless another block holds the series in their span (a backfill), not
            // merely when another block's range overlaps.
            let others: Option<Vec<(i64, i64)>> = (!b.has_raw(id)).then(|| {
                near[i]
                    .iter()
                    .filter_map(|x| x.find(labels).and_then(|xid| x.series_range(xid)))
                    .collect()
            });
            Some(b.rollups(id, len, mint, maxt).map(|mut ws| {
                let mut left_out = Vec::new();
                if ws.is_empty() {
                    // No rollups of this length (or no samples in the range): raw.
                    if let Some((lo, hi)) = b.series_range(id) {
                        left_out.push((lo, hi));
                    }
                }
                ws.retain(|w| {
                    let end = w.start.saturating_add(len - 1);
                    let whole = w.start >= mint
                        && end <= maxt
                        && !(finite_only && crate::rollup::has_non_finite(w))
                        && match &others {
                            Some(o) => o.iter().all(|&(lo, hi)| hi < w.start || lo > end),
                            None => near[i].iter().all(|x| !x.overlaps(w.start, end)),
                        }
                        && head.iter().all(|&p| p > end || p.saturating_add(part) <= w.start);
                    if !whole {
                        left_out.push((w.start, end));
                    }
                    whole
                });
                (labels, ws, left_out)
            }))
        })
        .collect::<Result<_>>()?;
    let mut acc: HashMap<Labels, Vec<Window>> = HashMap::new();
    for (labels, ws, left_out) in decoded {
        for (lo, hi) in left_out {
            gap(lo, hi, &mut gaps);
        }
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
    Ok((out, foresight_promql::merge_spans(gaps)))
}

/// Most raw reads one [`select_rollups`] makes: beyond that, the closest spans are read as one.
const MAX_RAW_READS: usize = 16;

/// Joins the spans separated by the smallest distances until at most `max` remain.
fn coalesce_spans(spans: Vec<Span>, max: usize) -> Vec<Span> {
    if spans.len() <= max || max == 0 {
        return spans;
    }
    let mut dists: Vec<i64> = spans.windows(2).map(|w| w[1].0.saturating_sub(w[0].1)).collect();
    dists.sort_unstable();
    // Keep the `max - 1` largest distances as separations; join across the rest.
    let keep_from = dists.get(dists.len() + 1 - max).copied().unwrap_or(i64::MAX);
    let mut separations = max - 1;
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(max);
    for (lo, hi) in spans {
        match out.last_mut() {
            Some(last) if lo.saturating_sub(last.1) < keep_from || separations == 0 => last.1 = hi,
            _ => {
                if !out.is_empty() {
                    separations -= 1;
                }
                out.push((lo, hi));
            }
        }
    }
    out
}

/// Every series matching `matchers` with its whole, finite rollup windows of length `len` inside
/// `[mint, maxt]` and its raw samples in `raw` (inclusive spans) and wherever no returned window
/// stands for its samples (see `foresight_promql::Storage::select_rollups`).
pub(crate) fn select_rollups(
    inner: &DbState,
    matchers: &[LabelMatcher],
    len: i64,
    mint: i64,
    maxt: i64,
    raw: &[(i64, i64)],
) -> Result<Vec<RollupSelection>> {
    let (series, mut gaps) = whole_windows(inner, matchers, len, mint, maxt, true)?;
    gaps.extend(
        raw.iter()
            .map(|&(lo, hi)| (lo.max(mint), hi.min(maxt)))
            .filter(|s| s.0 <= s.1),
    );
    let spans = coalesce_spans(foresight_promql::merge_spans(gaps), MAX_RAW_READS);
    let mut acc: HashMap<Labels, RollupSelection> = series
        .into_iter()
        .map(|s| {
            let sel = RollupSelection {
                labels: s.labels.clone(),
                windows: s.windows,
                samples: Vec::new(),
            };
            (s.labels, sel)
        })
        .collect();
    // Spans ascend and are disjoint, so each series' samples are appended in order.
    for (lo, hi) in spans {
        for s in select(inner, matchers, lo, hi)? {
            match acc.get_mut(&s.labels) {
                Some(e) if !e.samples.is_empty() => e.samples.extend(s.samples),
                Some(e) => e.samples = s.samples,
                None => {
                    let sel = RollupSelection {
                        labels: s.labels.clone(),
                        windows: Vec::new(),
                        samples: s.samples,
                    };
                    acc.insert(s.labels, sel);
                }
            }
        }
    }
    Ok(acc.into_values().collect())
}

/// Label sets of the series matching `matchers` that have data in `[mint, maxt]`.
pub(crate) fn series(inner: &DbState, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Labels>> {
    let mut set: BTreeSet<Labels> = BTreeSet::new();
    let blocks = inner.blocks.read().clone();
    for b in blocks.iter().filter(|b| b.overlaps(mint, maxt)) {
        set.extend(b.select(matchers).into_iter().filter_map(|id| b.labels(id).cloned()));
    }
    for h in &inner.heads {
        h.series_with_data(matchers, mint, maxt, &mut set);
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

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn spans_merge_and_coalesce_to_the_largest_separations() {
        assert_eq!(
            foresight_promql::merge_spans(vec![(5, 9), (0, 3), (4, 4), (20, 30)]),
            vec![(0, 9), (20, 30)]
        );
        let spans = vec![(0, 1), (10, 11), (100, 101), (103, 104), (1_000, 1_001)];
        assert_eq!(coalesce_spans(spans.clone(), 5), spans);
        assert_eq!(
            coalesce_spans(spans.clone(), 3),
            vec![(0, 11), (100, 104), (1_000, 1_001)]
        );
        assert_eq!(coalesce_spans(spans, 1), vec![(0, 1_001)]);
    }
}
