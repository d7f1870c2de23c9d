//! The write path in the caller's thread: parse a line-protocol body (or take a [`SampleBatch`] of
//! samples parsed elsewhere), check each sample's time, resolve each distinct series once, route
//! samples by series hash into one batch per shard, hand the batches to the shards' writer threads
//! and wait for their acknowledgements. Both entry points share the [`Router`] that does all but
//! the parsing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::bounded;

use crate::admission::{Admission, TENANT_LABEL, TENANT_LABEL_RESERVED};
use crate::error::{Error, Result};
use crate::format::put_bytes;
use crate::lineproto::{self, FieldValue, LineError, Precision};
use crate::model::{Labels, METRIC_NAME, hash_key};
use crate::shard::{Cmd, Entry, KeyRef, ShardBatch};
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

/// Lines parsed and routed per batch sent to the shards. A body is written in pieces of this many
/// lines, each handed to the shards as soon as it is routed, so the transient memory of a write
/// (tag sets, key arena, routed samples: ~1 KB a line) is freed piece by piece as the shards store
/// them, whatever the body's size. Not smaller: the WAL encodes each batch's columns per series, and
/// 1,024-line pieces cost 50 % more server CPU on `foresight bench` (0.30 -> 0.45 s per million). The write is acknowledged once every piece is stored (and, in
/// `fsync` mode, synced: the shards' group commit syncs the pieces queued together once).
pub(crate) const PIECE_LINES: usize = 8192;

/// Parses `body`, stores its good lines and reports the bad ones (see [`crate::Db::write_lines_at`]).
/// Every series is `tenant`'s (`None`: the default tenant's, without [`TENANT_LABEL`]).
pub(crate) fn write_lines(
    inner: &DbState,
    tenant: Option<&str>,
    admission: Option<&dyn Admission>,
    body: &[u8],
    precision: Precision,
    default_ms: i64,
) -> Result<WriteReport> {
    let mut report = WriteReport::default();
    let mut key = Vec::with_capacity(256);
    let mut lines = lineproto::lines(body);
    let mut in_flight: Vec<Sent> = Vec::new();
    loop {
        let mut router = Router::new(inner);
        let mut piece = Piece {
            report: &mut report,
            precision,
            default_ms,
            key: &mut key,
            tenant,
            admission,
        };
        let more = route_piece(&mut lines, &mut router, &mut piece);
        // Not waited for here: waiting piece by piece would cost one WAL sync per piece.
        in_flight.push(router.dispatch()?);
        if !more {
            break;
        }
    }
    for sent in in_flight {
        sent.wait(inner)?;
    }
    count_write(inner, &report);
    Ok(report)
}

/// What [`route_piece`] needs besides the lines and the router.
struct Piece<'r, 't> {
    report: &'r mut WriteReport,
    precision: Precision,
    default_ms: i64,
    key: &'r mut Vec<u8>,
    tenant: Option<&'t str>,
    admission: Option<&'t dyn Admission>,
}

/// Routes up to [`PIECE_LINES`] lines of `lines` into `router`, recording rejected lines in
/// `piece.report`; false when the body is exhausted.
fn route_piece<'a>(lines: &mut lineproto::Lines<'a>, router: &mut Router<'_>, piece: &mut Piece<'_, '_>) -> bool {
    let Piece {
        report,
        precision,
        default_ms,
        key,
        tenant,
        admission,
    } = piece;
    let (precision, default_ms, tenant, admission) = (*precision, *default_ms, *tenant, *admission);
    // Each distinct tag set of the piece is resolved once: its labels checked and encoded, and
    // each of its fields mapped to a series slot in its shard's batch.
    let mut tagsets: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut sets: Vec<Tagset<'a>> = Vec::new();
    let mut taken = 0;
    while taken < PIECE_LINES {
        let Some(item) = lines.next() else {
            return false;
        };
        taken += 1;
        let lineno = lines.line_number();
        let mut line = match item {
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
        if let Err(why) = router.check_time(t) {
            report.rejected.push(reject(lineno, &why));
            continue;
        }
        let th = tagset_hash(&line);
        let candidates = tagsets.entry(th).or_default();
        let idx = match candidates.iter().copied().find(|&i| sets[i].is(&line)) {
            Some(i) => i,
            None => {
                sets.push(Tagset::new(&mut line, router, tenant));
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
        let mut refused = None;
        let mut too_old = None;
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
            if let Err(why) = router.check_series_time(t, || set.labels(field, tenant)) {
                too_old = Some(why);
                continue;
            }
            let (shard, slot) = match set.slot(i, field, key, router, admission) {
                Ok(found) => found,
                Err(why) => {
                    refused = Some(why);
                    continue;
                }
            };
            router.push(shard, slot, t, v);
            stored += 1;
        }
        if let Some(why) = too_old {
            // The line's other fields are stored; the line is reported for the old ones.
            report.samples_accepted += stored;
            report.rejected.push(reject(lineno, &why));
            continue;
        }
        if let Some(why) = refused {
            // The line's admitted fields are stored; the line is reported for the others.
            report.samples_accepted += stored;
            report.rejected.push(reject(lineno, &why));
            continue;
        }
        // A line of string fields only stores nothing, but it is not wrong.
        if stored > 0 || !line.fields.is_empty() {
            report.lines_accepted += 1;
            report.samples_accepted += stored;
        }
    }
    true
}

/// Samples of series named by their label sets, for [`crate::Db::write_samples`]: the write path
/// for data parsed elsewhere (an import format, another protocol). Each sample carries the line
/// number it came from, so a rejected sample is reported like a rejected line-protocol line.
///
/// ```
/// use foresight_engine::{Labels, SampleBatch};
///
/// let mut batch = SampleBatch::new();
/// let up = batch.add_series(&Labels::new([("__name__", "up"), ("job", "api")]))?;
/// batch.push(up, 1_700_000_000_000, 1.0, 1);
/// batch.push(up, 1_700_000_015_000, 0.0, 2);
/// assert_eq!((batch.len(), batch.series_count()), (2, 1));
/// # Ok::<(), foresight_engine::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SampleBatch {
    /// Encoded series keys, back to back.
    keys: Vec<u8>,
    /// (hash, offset, length) of each series' key.
    series: Vec<(u64, u32, u32)>,
    samples: Vec<BatchSample>,
    /// The tenant whose series these are (`None`: the default tenant).
    tenant: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy)]
struct BatchSample {
    series: u32,
    t: i64,
    v: f64,
    line: usize,
}

/// A series added to a [`SampleBatch`], valid for that batch until it is cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesRef(u32);

impl SampleBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `series` series, `samples` samples and `key_bytes` bytes of
    /// series keys (about the label bytes), so that filling it does not grow and copy it.
    pub fn with_capacity(series: usize, samples: usize, key_bytes: usize) -> Self {
        SampleBatch {
            keys: Vec::with_capacity(key_bytes),
            series: Vec::with_capacity(series),
            samples: Vec::with_capacity(samples),
            tenant: None,
        }
    }

    /// An empty batch of `tenant`'s series (`None`: the default tenant's): every series added gets
    /// its [`TENANT_LABEL`].
    pub fn for_tenant(tenant: Option<&str>) -> Self {
        SampleBatch::new().with_tenant(tenant)
    }

    /// This batch, emptied, for `tenant`'s series (see [`SampleBatch::for_tenant`]).
    pub fn with_tenant(mut self, tenant: Option<&str>) -> Self {
        self.clear();
        self.tenant = tenant.map(Arc::from);
        self
    }

    /// The tenant of the batch's series (`None`: the default tenant).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Adds a series; the label set must name its metric (`__name__`). Adding the same labels
    /// twice is allowed (both references name the same series).
    /// A label named [`TENANT_LABEL`] is refused (the batch's tenant sets it).
    pub fn add_series(&mut self, labels: &Labels) -> Result<SeriesRef> {
        if labels.get(METRIC_NAME).is_none() {
            return Err(Error::InvalidArgument(format!("series {labels} has no metric name")));
        }
        if labels.get(TENANT_LABEL).is_some() {
            return Err(Error::InvalidArgument(format!(
                "series {labels}: {TENANT_LABEL_RESERVED}"
            )));
        }
        let off = self.keys.len();
        match &self.tenant {
            None => self.keys.extend_from_slice(labels.as_key()),
            Some(t) => {
                let with = labels.with(TENANT_LABEL, t);
                self.keys.extend_from_slice(with.as_key());
            }
        }
        let hash = hash_key(&self.keys[off..]);
        self.series.push((hash, off as u32, (self.keys.len() - off) as u32));
        Ok(SeriesRef((self.series.len() - 1) as u32))
    }

    /// Adds a series from label pairs already sorted by name, with unique names and non-empty
    /// values (what a protocol decoder that checked them hands over), writing its key directly
    /// instead of building a [`Labels`] first. The pairs are checked; `__name__` must be present.
    pub fn add_series_sorted(&mut self, pairs: &[(&str, &str)]) -> Result<SeriesRef> {
        let sorted = pairs.windows(2).all(|w| w[0].0 < w[1].0);
        if !sorted || pairs.iter().any(|(n, v)| n.is_empty() || v.is_empty()) {
            return Err(Error::InvalidArgument(
                "label pairs must be sorted by name, unique and non-empty".into(),
            ));
        }
        if !pairs.iter().any(|(n, _)| *n == METRIC_NAME) {
            return Err(Error::InvalidArgument("the series has no metric name".into()));
        }
        // Sorted: a binary search finds where the tenant's label goes, or a client's own.
        let at = pairs.partition_point(|(n, _)| *n < TENANT_LABEL);
        if pairs.get(at).is_some_and(|(n, _)| *n == TENANT_LABEL) {
            return Err(Error::InvalidArgument(TENANT_LABEL_RESERVED.into()));
        }
        let off = self.keys.len();
        let tenant = self.tenant.as_deref();
        for (i, (n, v)) in pairs.iter().enumerate() {
            if i == at
                && let Some(t) = tenant
            {
                put_bytes(&mut self.keys, TENANT_LABEL.as_bytes());
                put_bytes(&mut self.keys, t.as_bytes());
            }
            put_bytes(&mut self.keys, n.as_bytes());
            put_bytes(&mut self.keys, v.as_bytes());
        }
        if at == pairs.len()
            && let Some(t) = tenant
        {
            put_bytes(&mut self.keys, TENANT_LABEL.as_bytes());
            put_bytes(&mut self.keys, t.as_bytes());
        }
        let hash = hash_key(&self.keys[off..]);
        self.series.push((hash, off as u32, (self.keys.len() - off) as u32));
        Ok(SeriesRef((self.series.len() - 1) as u32))
    }

    /// Adds a sample of `series` at `t` (milliseconds), from line `line` of the caller's input.
    pub fn push(&mut self, series: SeriesRef, t: i64, v: f64, line: usize) {
        self.samples.push(BatchSample {
            series: series.0,
            t,
            v,
            line,
        });
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Number of series added.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Empties the batch, keeping its memory; the [`SeriesRef`]s given before are invalid.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.series.clear();
        self.samples.clear();
    }
}

/// Stores the samples of `batch` (see [`crate::Db::write_samples`]). A rejected sample is reported
/// by its line; the samples of one line are expected next to each other, so a line is reported once
/// and counted once in [`WriteReport::lines_accepted`].
/// A series `admission` refuses is reported on each line it is written on.
pub(crate) fn write_samples(
    inner: &DbState,
    batch: &SampleBatch,
    admission: Option<&dyn Admission>,
) -> Result<WriteReport> {
    let mut router = Router::new(inner);
    let mut report = WriteReport::default();
    let mut slots: Vec<Option<(usize, u32)>> = vec![None; batch.series.len()];
    let mut last_accepted = None;
    for s in &batch.samples {
        if let Err(why) = router.check_time(s.t) {
            if report.rejected.last().map(|e| e.line) != Some(s.line) {
                report.rejected.push(reject(s.line, &why));
            }
            continue;
        }
        let Some(&(hash, off, len)) = batch.series.get(s.series as usize) else {
            return Err(Error::InvalidArgument(format!("no series {} in the batch", s.series)));
        };
        let key = || batch.keys.get(off as usize..(off + len) as usize).unwrap_or_default();
        if let Err(why) = router.check_series_time(s.t, || Labels::from_key(key()).unwrap_or_default()) {
            if report.rejected.last().map(|e| e.line) != Some(s.line) {
                report.rejected.push(reject(s.line, &why));
            }
            continue;
        }
        let (shard, slot) = match slots[s.series as usize] {
            Some(known) => known,
            None => {
                if let Some(a) = admission
                    && let Err(why) = a.admit(hash, key())
                {
                    if report.rejected.last().map(|e| e.line) != Some(s.line) {
                        report.rejected.push(reject(s.line, &why));
                    }
                    continue;
                }
                let key = router.piece(key());
                *slots[s.series as usize].insert(router.add_series(hash, [key, (0, 0), (0, 0)]))
            }
        };
        router.push(shard, slot, s.t, s.v);
        report.samples_accepted += 1;
        if last_accepted != Some(s.line) {
            report.lines_accepted += 1;
            last_accepted = Some(s.line);
        }
    }
    router.send(&report)?;
    Ok(report)
}

/// What every write does with its samples: checks their times against retention and the clock,
/// routes them by series hash into one batch per shard, then hands the batches to the shards'
/// writer threads and waits for their acknowledgements.
struct Router<'a> {
    inner: &'a DbState,
    /// Pieces of the series keys, shared by every shard's batch when sent.
    arena: Vec<u8>,
    batches: Vec<ShardBatch>,
    max_now: i64,
    oldest: i64,
    /// Samples older than this are checked against their series' own raw retention (a
    /// retention rule shorter than the longest): `i64::MIN` when no rule is shorter.
    rule_oldest: i64,
    newest: i64,
    closed: i64,
    backfilled: u64,
    batch_max: i64,
}

impl<'a> Router<'a> {
    fn new(inner: &'a DbState) -> Self {
        let max_now = inner.max_ts.load(Ordering::Acquire);
        // Any age inside retention is accepted, in any order: samples of partitions that already went
        // to blocks go to the head again and the flusher writes them to new blocks (see `flush`).
        let oldest = match inner.opts.write_horizon() {
            Some(ret) if max_now != i64::MIN => max_now.saturating_sub(ret),
            _ => i64::MIN,
        };
        let rule_oldest = match inner.opts.shortest_raw_retention() {
            Some(ret) if max_now != i64::MIN => max_now.saturating_sub(ret),
            _ => i64::MIN,
        };
        Router {
            inner,
            arena: Vec::new(),
            batches: (0..inner.senders.len()).map(|_| ShardBatch::default()).collect(),
            max_now,
            oldest,
            rule_oldest,
            newest: now_ms().saturating_add(inner.opts.future_window_ms),
            closed: inner.closed_before(),
            backfilled: 0,
            batch_max: i64::MIN,
        }
    }

    /// Why a sample at `t` (ms) may not be stored, if it may not.
    fn check_time(&self, t: i64) -> std::result::Result<(), String> {
        if t < self.oldest {
            return Err(format!(
                "sample at {} ms is older than the retention period ({} ms) before the newest sample ({} ms)",
                t,
                self.inner.opts.write_horizon().unwrap_or(0),
                self.max_now
            ));
        }
        if t > self.newest {
            return Err(format!(
                "sample at {t} ms is more than {} ms ahead of the server clock",
                self.inner.opts.future_window_ms
            ));
        }
        Ok(())
    }

    /// Why a sample at `t` (ms) of the series `labels()` gives may not be stored for its own raw
    /// retention (a rule shorter than the longest retention, which [`Router::check_time`]
    /// applies): its raw samples there are dropped, and a late write would leave that hour out
    /// of the rollup answers. The labels are only built for samples old enough to matter.
    fn check_series_time(&self, t: i64, labels: impl FnOnce() -> Labels) -> std::result::Result<(), String> {
        if t >= self.rule_oldest {
            return Ok(());
        }
        let labels = labels();
        match self.inner.opts.raw_retention(&labels) {
            Some(r) if t < self.max_now.saturating_sub(r) => Err(format!(
                "sample at {t} ms is older than the raw retention ({r} ms) of series {labels} before the newest sample ({} ms)",
                self.max_now
            )),
            _ => Ok(()),
        }
    }

    /// Copies a piece of a series key into the arena: its (offset, length) there.
    fn piece(&mut self, bytes: &[u8]) -> (u32, u32) {
        let off = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        (off, bytes.len() as u32)
    }

    /// Adds the series whose key (hashed to `hash`) is the concatenation of these arena pieces to
    /// its shard's batch: its (shard, slot).
    fn add_series(&mut self, hash: u64, pieces: [(u32, u32); 3]) -> (usize, u32) {
        let shard = (hash % self.batches.len() as u64) as usize;
        (shard, self.batches[shard].add_series(KeyRef { hash, pieces }))
    }

    /// Adds a sample whose time passed [`Router::check_time`].
    fn push(&mut self, shard: usize, slot: u32, t: i64, v: f64) {
        self.batches[shard].entries.push(Entry { slot, t, v });
        if t < self.closed {
            self.backfilled += 1;
        }
        self.batch_max = self.batch_max.max(t);
    }

    /// Sends the batches to their shards without waiting: the acknowledgements to wait for.
    fn dispatch(self) -> Result<Sent> {
        let inner = self.inner;
        let (ack_tx, acks) = bounded::<Result<()>>(self.batches.len());
        let mut expected = 0;
        let arena = Arc::new(self.arena);
        for (i, mut batch) in self.batches.into_iter().enumerate() {
            if batch.entries.is_empty() {
                continue;
            }
            batch.arena = arena.clone();
            inner.senders[i]
                .send(Cmd::Write {
                    batch,
                    ack: ack_tx.clone(),
                })
                .map_err(|_| Error::Closed)?;
            expected += 1;
        }
        Ok(Sent {
            acks,
            expected,
            batch_max: self.batch_max,
            backfilled: self.backfilled,
        })
    }

    /// Sends the batches, waits for every shard's acknowledgement and counts the write.
    fn send(self, report: &WriteReport) -> Result<()> {
        let inner = self.inner;
        self.dispatch()?.wait(inner)?;
        count_write(inner, report);
        Ok(())
    }
}

/// Batches handed to the shards, not yet acknowledged.
struct Sent {
    acks: crossbeam_channel::Receiver<Result<()>>,
    expected: usize,
    batch_max: i64,
    backfilled: u64,
}

impl Sent {
    /// Waits until every shard stored its batch, then publishes what the batches changed.
    fn wait(self, inner: &DbState) -> Result<()> {
        for _ in 0..self.expected {
            self.acks.recv().map_err(|_| Error::Closed)??;
        }
        if self.batch_max != i64::MIN {
            inner.max_ts.fetch_max(self.batch_max, Ordering::AcqRel);
        }
        if self.backfilled > 0 {
            inner.backfill_pending.fetch_add(self.backfilled, Ordering::AcqRel);
        }
        Ok(())
    }
}

/// Counts a finished write in the database's totals.
fn count_write(inner: &DbState, report: &WriteReport) {
    inner
        .samples_ingested
        .fetch_add(report.samples_accepted, Ordering::Relaxed);
    inner
        .lines_rejected
        .fetch_add(report.rejected.len() as u64, Ordering::Relaxed);
}

/// One distinct tag set (measurement + tags) of a write body, with its fields' series slots. It
/// keeps the line's own (mostly borrowed) names and values, and its encoded labels are pieces of
/// the router's key arena, shared by the keys of all its fields.
struct Tagset<'a> {
    measurement: Cow<'a, str>,
    tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The arena pieces of the encoded label pairs before and after `__name__`, or why the tag set
    /// is unacceptable.
    encoded: std::result::Result<[(u32, u32); 2], &'static str>,
    /// Field name -> (shard, slot in that shard's batch).
    fields: Vec<(Cow<'a, str>, usize, u32)>,
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

impl<'a> Tagset<'a> {
    /// The tag set of `line`, taking its measurement and tags (the line keeps its fields).
    /// `tenant`'s label is added (a line's own `__tenant__` tag is refused).
    fn new(line: &mut lineproto::Line<'a>, router: &mut Router<'_>, tenant: Option<&str>) -> Tagset<'a> {
        let measurement = std::mem::take(&mut line.measurement);
        let tags = std::mem::take(&mut line.tags);
        let mut sorted: Vec<(&str, &str)> = tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        let client_tenant = sorted.iter().any(|(k, _)| *k == TENANT_LABEL);
        if let Some(t) = tenant {
            sorted.push((TENANT_LABEL, t));
        }
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let encoded = if sorted.iter().any(|(k, _)| *k == METRIC_NAME) {
            Err("tag key __name__ is reserved for the metric name")
        } else if client_tenant {
            Err(TENANT_LABEL_RESERVED)
        } else if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
            Err("duplicate tag key")
        } else {
            let pos = sorted.partition_point(|(k, _)| *k < METRIC_NAME);
            let mut piece = |pairs: &[(&str, &str)]| {
                let off = router.arena.len();
                for (k, v) in pairs {
                    put_bytes(&mut router.arena, k.as_bytes());
                    put_bytes(&mut router.arena, v.as_bytes());
                }
                (off as u32, (router.arena.len() - off) as u32)
            };
            Ok([piece(&sorted[..pos]), piece(&sorted[pos..])])
        };
        Tagset {
            measurement,
            tags,
            encoded,
            fields: Vec::new(),
        }
    }

    /// The labels of field `field`'s series (tags with a value, the metric name, the tenant).
    fn labels(&self, field: &str, tenant: Option<&str>) -> Labels {
        let name = format!("{}_{field}", self.measurement);
        let tags = self
            .tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_ref(), v.as_ref()));
        let tenant = tenant.map(|t| (TENANT_LABEL, t));
        Labels::new(tags.chain(tenant).chain([(METRIC_NAME, name.as_str())]))
    }

    /// Whether `line` has exactly this measurement and tags (in the same order).
    fn is(&self, line: &lineproto::Line<'_>) -> bool {
        self.measurement == line.measurement
            && self.tags.len() == line.tags.len()
            && self.tags.iter().zip(&line.tags).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
    }

    /// The (shard, slot) of field `field` (the `i`-th of its line), adding the series to its
    /// shard's batch the first time.
    // The field name stays a `Cow` so a name borrowed from the request body is kept borrowed.
    #[allow(clippy::ptr_arg)]
    /// Why not when `admission` refuses a new series.
    fn slot(
        &mut self,
        i: usize,
        field: &Cow<'a, str>,
        key: &mut Vec<u8>,
        router: &mut Router<'_>,
        admission: Option<&dyn Admission>,
    ) -> Result<(usize, u32), String> {
        if let Some(f) = self.fields.get(i).filter(|f| f.0 == *field) {
            return Ok((f.1, f.2));
        }
        if let Some(f) = self.fields.iter().find(|f| f.0 == *field) {
            return Ok((f.1, f.2));
        }
        let Ok([prefix, suffix]) = self.encoded else {
            return Ok((0, 0));
        };
        let name = format!("{}_{field}", self.measurement);
        let name_off = router.arena.len();
        put_bytes(&mut router.arena, METRIC_NAME.as_bytes());
        put_bytes(&mut router.arena, name.as_bytes());
        let name_piece = (name_off as u32, (router.arena.len() - name_off) as u32);
        key.clear();
        for (off, len) in [prefix, name_piece, suffix] {
            key.extend_from_slice(router.arena.get(off as usize..(off + len) as usize).unwrap_or_default());
        }
        let hash = hash_key(key);
        if let Some(a) = admission {
            a.admit(hash, key)?;
        }
        let (shard, slot) = router.add_series(hash, [prefix, name_piece, suffix]);
        self.fields.push((field.clone(), shard, slot));
        Ok((shard, slot))
    }
}

fn reject(line: usize, reason: &str) -> LineError {
    LineError {
        line,
        reason: reason.to_owned(),
    }
}
