//! The write path in the caller's thread: parse a line-protocol body, check each sample's time,
//! resolve each distinct tag set once, route samples by series hash into one batch per shard, hand
//! the batches to the shards' writer threads and wait for their acknowledgements.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crossbeam_channel::bounded;

use crate::error::{Error, Result};
use crate::format::put_bytes;
use crate::lineproto::{self, FieldValue, LineError, Precision};
use crate::model::{METRIC_NAME, hash_key};
use crate::shard::{Cmd, Entry, ShardBatch};
use crate::state::{DbState, now_ms};

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

/// Parses `body`, stores its good lines and reports the bad ones (see [`crate::Db::write_lines_at`]).
pub(crate) fn write_lines(inner: &DbState, body: &[u8], precision: Precision, default_ms: i64) -> Result<WriteReport> {
    let n = inner.senders.len();
    let mut batches: Vec<ShardBatch> = (0..n).map(|_| ShardBatch::default()).collect();
    let mut report = WriteReport::default();
    let max_now = inner.max_ts.load(Ordering::Acquire);
    // Any age inside retention is accepted, in any order: samples of partitions that already went
    // to blocks go to the head again and the flusher writes them to new blocks (see `flush`).
    let oldest = match inner.opts.retention_ms {
        Some(ret) if max_now != i64::MIN => max_now.saturating_sub(ret),
        _ => i64::MIN,
    };
    let closed = inner.closed_before();
    let mut backfilled = 0u64;
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
                    "sample at {} ms is older than the retention period ({} ms) before the newest sample ({} ms)",
                    t,
                    inner.opts.retention_ms.unwrap_or(0),
                    max_now
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
            if t < closed {
                backfilled += stored;
            }
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
    if backfilled > 0 {
        inner.backfill_pending.fetch_add(backfilled, Ordering::AcqRel);
    }
    inner
        .samples_ingested
        .fetch_add(report.samples_accepted, Ordering::Relaxed);
    inner
        .lines_rejected
        .fetch_add(report.rejected.len() as u64, Ordering::Relaxed);
    Ok(report)
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
