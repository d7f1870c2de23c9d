//! A shard: one writer thread owning a WAL and a slice of the head's series.
//!
//! Writes reach the thread through a crossbeam channel; it appends each batch's WAL records, applies
//! the samples to the head and, after one fsync for every batch that queued up meanwhile (group
//! commit), acknowledges them. Readers never take a lock the writer holds for more than a copy.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::RwLock;

use crate::column;
use crate::error::{Error, Result};
use crate::format::{WAL_SAMPLE_COLUMNS, WAL_SERIES, put_bytes, put_uvarint};
use crate::head::{Frozen, MemSeries};
use crate::latency::LatencyHistogram;
use crate::model::{LabelMatcher, Labels, hash_key};
use crate::options::Durability;
use crate::postings::Postings;
use crate::wal::{self, Wal, WalDamage};

/// Samples routed to one shard: the batch's distinct series, then the samples, each naming its
/// series by position in that table.
///
/// Series keys are not copied whole into each batch: a key is the concatenation of up to three
/// pieces of one arena that every shard's batch of a write shares, so a line-protocol tag set's
/// labels are stored once for all its fields (a 5,000-line body of distinct hosts carries ~2 MB
/// of key pieces instead of ~12 MB of whole keys).
#[derive(Debug, Default)]
pub(crate) struct ShardBatch {
    pub(crate) arena: Arc<Vec<u8>>,
    pub(crate) series: Vec<KeyRef>,
    pub(crate) entries: Vec<Entry>,
}

/// A series of a batch: the hash of its key and the key's pieces, as (offset, length) in the arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef {
    pub(crate) hash: u64,
    pub(crate) pieces: [(u32, u32); 3],
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) slot: u32,
    pub(crate) t: i64,
    pub(crate) v: f64,
}

impl ShardBatch {
    /// Adds a distinct series; returns its slot.
    pub(crate) fn add_series(&mut self, key: KeyRef) -> u32 {
        self.series.push(key);
        (self.series.len() - 1) as u32
    }

    /// Writes the key of series `k` into `out` (cleared first). Pieces outside the arena (a bug)
    /// are left out, so the key is wrong and the series is refused rather than the thread panicking.
    pub(crate) fn key_into(&self, k: &KeyRef, out: &mut Vec<u8>) {
        out.clear();
        for &(off, len) in &k.pieces {
            out.extend_from_slice(self.arena.get(off as usize..(off + len) as usize).unwrap_or_default());
        }
    }
}

/// Partitions of one shard being turned into blocks, still served from memory until released.
#[derive(Debug)]
pub(crate) struct Flushing {
    pub(crate) seq: u64,
    pub(crate) series: HashMap<u32, Vec<(i64, Frozen)>>,
}

/// What the shard's readers see.
#[derive(Debug, Default)]
pub(crate) struct ShardHead {
    pub(crate) series: RwLock<Vec<Arc<MemSeries>>>,
    pub(crate) postings: RwLock<Postings>,
    pub(crate) flushing: RwLock<Vec<Arc<Flushing>>>,
}

/// One source of samples for a series, with its precedence (higher wins on equal timestamps).
pub(crate) type Run = (u64, Vec<(i64, f64)>);

impl ShardHead {
    /// The series matching `matchers`, with their ids.
    fn matching(&self, matchers: &[LabelMatcher]) -> Vec<(u32, Arc<MemSeries>)> {
        // Series list, then postings, both held: ids stay consistent if the writer renumbers
        // the series meanwhile (`Writer::collect_garbage` takes the locks in the same order).
        let all = self.series.read();
        let ids = self.postings.read().select(matchers);
        ids.iter()
            .filter_map(|&id| all.get(id as usize).map(|s| (id, s.clone())))
            .collect()
    }

    /// Appends, per matching series, its in-memory samples in `[mint, maxt]`.
    pub(crate) fn collect(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64, out: &mut HashMap<Labels, Vec<Run>>) {
        let series = self.matching(matchers);
        if series.is_empty() {
            return;
        }
        // Live data first, then flushing data: a flush copies into `flushing` before it removes
        // from the live series, so this order never misses a sample.
        for (_, s) in &series {
            for f in s.snapshot(mint, maxt) {
                let mut v = Vec::new();
                f.decode_into(mint, maxt, &mut v);
                if !v.is_empty() {
                    out.entry(s.labels.clone()).or_default().push((u64::MAX, v));
                }
            }
        }
        let flushing = self.flushing.read().clone();
        for fl in flushing {
            for (id, s) in &series {
                let Some(parts) = fl.series.get(id) else { continue };
                for (_, f) in parts {
                    let mut v = Vec::new();
                    f.decode_into(mint, maxt, &mut v);
                    if !v.is_empty() {
                        out.entry(s.labels.clone()).or_default().push((fl.seq, v));
                    }
                }
            }
        }
    }

    /// Per matching series, the starts of the partitions it holds in memory: live ones, then
    /// those being flushed (the order of [`ShardHead::collect`], so a concurrent flush's
    /// partitions are seen in one place or the other). The spans of these are not in any block
    /// yet, or not in one the caller's block set necessarily holds.
    pub(crate) fn partitions(&self, matchers: &[LabelMatcher], out: &mut HashMap<Labels, Vec<i64>>) {
        let series = self.matching(matchers);
        for (_, s) in &series {
            out.entry(s.labels.clone()).or_default().extend(s.partitions());
        }
        let flushing = self.flushing.read().clone();
        for fl in flushing {
            for (id, s) in &series {
                if let Some(parts) = fl.series.get(id) {
                    out.entry(s.labels.clone())
                        .or_default()
                        .extend(parts.iter().map(|p| p.0));
                }
            }
        }
    }

    /// Adds the labels of each matching series holding samples in `[mint, maxt]` in memory,
    /// live or being flushed (in [`ShardHead::collect`]'s order, for the same reason).
    pub(crate) fn series_with_data(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64, out: &mut BTreeSet<Labels>) {
        let series = self.matching(matchers);
        let mut rest = Vec::new();
        for (id, s) in series {
            if s.snapshot(mint, maxt).is_empty() {
                rest.push((id, s));
            } else {
                out.insert(s.labels.clone());
            }
        }
        let flushing = self.flushing.read().clone();
        for (id, s) in rest {
            let mut parts = flushing.iter().filter_map(|fl| fl.series.get(&id)).flatten();
            if parts.any(|(_, f)| f.overlaps(mint, maxt)) {
                out.insert(s.labels.clone());
            }
        }
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series.read().len()
    }
}

/// Commands to a shard's writer thread.
#[derive(Debug)]
pub(crate) enum Cmd {
    Write {
        batch: ShardBatch,
        ack: Sender<Result<()>>,
    },
    /// Freeze the partitions selected (all with `start < before`), publish them as flushing
    /// under `seq`, rotate the WAL, and reply with them.
    Freeze {
        before: i64,
        seq: u64,
        reply: Sender<Result<FreezeOut>>,
    },
    /// The flushing set `seq` is in a durable block and no reader needs it: drop it and release WAL.
    Release {
        seq: u64,
        reply: Sender<Result<()>>,
    },
    /// Write and fsync what is buffered; reply with the WAL's end (segment, byte length): every
    /// write acknowledged before this command is in the WAL before that point.
    Sync {
        reply: Sender<Result<(u64, u64)>>,
    },
}

#[derive(Debug)]
pub(crate) struct FreezeOut {
    pub(crate) parts: BTreeMap<i64, Vec<(Labels, Frozen)>>,
}

/// The writer thread's state.
pub(crate) struct Writer {
    head: Arc<ShardHead>,
    wal: Wal,
    lookup: SeriesLookup,
    /// The writer's own handles to its series (the head's list needs a lock to read).
    series: Vec<Arc<MemSeries>>,
    /// WAL segment in which each series was last defined.
    defined_in: Vec<u64>,
    partition_ms: i64,
    chunk_samples: usize,
    durability: Durability,
    rec: Vec<u8>,
    /// The key of the batch series being resolved.
    key: Vec<u8>,
    /// Per batch slot, the timestamps and values being grouped into the samples record.
    cols: Vec<(Vec<i64>, Vec<f64>)>,
    /// Series ids, timestamps and values of a batch of one sample per series.
    rows: (Vec<i64>, Vec<i64>, Vec<f64>),
    /// Flushing sets waiting for release, with the WAL segment current when they were frozen.
    frozen_at: BTreeMap<u64, (u64, BTreeSet<i64>)>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("series", &self.defined_in.len())
            .finish_non_exhaustive()
    }
}

/// What a shard's replay found.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    pub(crate) samples: u64,
    pub(crate) max_ts: Option<i64>,
    pub(crate) damage: Vec<WalDamage>,
}

pub(crate) fn partition_of(t: i64, partition_ms: i64) -> i64 {
    t.div_euclid(partition_ms) * partition_ms
}

impl Writer {
    /// Replays the shard's WAL into a fresh head and opens a new segment. Segments written before
    /// this version (see [`wal::legacy_until`]) skip samples of partitions in `sealed` (already in
    /// a closed block); later segments are replayed whole.
    pub(crate) fn open(
        dir: &Path,
        partition_ms: i64,
        chunk_samples: usize,
        durability: Durability,
        segment_bytes: u64,
        sealed: &BTreeSet<i64>,
        fsync: Arc<LatencyHistogram>,
    ) -> Result<(Writer, Replayed)> {
        let head = Arc::new(ShardHead::default());
        let mut lookup = SeriesLookup::default();
        let mut seg_ids: HashMap<(u64, u64), u32> = HashMap::new();
        let mut seg_parts: BTreeMap<u64, BTreeSet<i64>> = BTreeMap::new();
        let mut rep = Replayed::default();
        let mut bad_records = 0u64;
        let legacy_until = wal::legacy_until(dir)?;
        let damage = wal::replay(dir, |seq, payload| {
            seg_parts.entry(seq).or_default();
            let r = replay_record(payload, seq, &head, &mut lookup, &mut seg_ids, |t| {
                let p = partition_of(t, partition_ms);
                if seq <= legacy_until && sealed.contains(&p) {
                    return None;
                }
                seg_parts.entry(seq).or_default().insert(p);
                Some((p, chunk_samples))
            });
            match r {
                Ok((n, max)) => {
                    rep.samples += n;
                    rep.max_ts = rep.max_ts.max(max);
                }
                Err(e) => {
                    bad_records += 1;
                    tracing::warn!(segment = seq, error = e, "skipping an unreadable WAL record");
                }
            }
        })?;
        rep.damage = damage;
        if bad_records > 0 {
            rep.damage.push(WalDamage {
                path: dir.to_path_buf(),
                offset: 0,
                dropped_bytes: 0,
                reason: format!("{bad_records} records had a valid checksum but could not be decoded"),
            });
        }
        let wal = Wal::open(dir, segment_bytes, seg_parts, fsync)?;
        let n = head.series_count();
        let series = head.series.read().clone();
        let mut writer = Writer {
            head,
            wal,
            lookup,
            series,
            defined_in: vec![0; n],
            partition_ms,
            chunk_samples,
            durability,
            rec: Vec::new(),
            key: Vec::new(),
            cols: Vec::new(),
            rows: Default::default(),
            frozen_at: BTreeMap::new(),
        };
        // Series defined in the WAL whose samples are all in blocks already.
        writer.collect_garbage();
        Ok((writer, rep))
    }

    pub(crate) fn head(&self) -> Arc<ShardHead> {
        self.head.clone()
    }

    /// The thread's main loop; returns when every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Cmd>) {
        let interval = match self.durability {
            Durability::Interval(d) => Some(d),
            _ => None,
        };
        let mut last_sync = Instant::now();
        let mut acks: Vec<Sender<Result<()>>> = Vec::new();
        let mut others: Vec<Cmd> = Vec::new();
        loop {
            let first = match interval {
                Some(d) => match rx.recv_timeout(d.saturating_sub(last_sync.elapsed()).max(Duration::from_millis(1))) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(c) => Some(c),
                    Err(_) => break,
                },
            };
            // Group commit: take everything already queued, up to a bound.
            let mut result: Result<()> = Ok(());
            let mut cmds: Vec<Cmd> = first.into_iter().collect();
            while cmds.len() < 256 {
                match rx.try_recv() {
                    Ok(c) => cmds.push(c),
                    Err(_) => break,
                }
            }
            for cmd in cmds {
                match cmd {
                    Cmd::Write { batch, ack } => {
                        if result.is_ok() {
                            result = self.apply(&batch);
                        }
                        acks.push(ack);
                    }
                    other => others.push(other),
                }
            }
            if result.is_ok() {
                result = self.wal.write().map(|_| ());
            }
            let sync_now = match self.durability {
                Durability::Fsync => true,
                Durability::Interval(d) => last_sync.elapsed() >= d,
                Durability::None => false,
            };
            if result.is_ok() && sync_now && self.wal.needs_sync() {
                result = self.wal.sync();
                last_sync = Instant::now();
            }
            if let Err(e) = &result {
                tracing::error!(error = %e, "WAL write failed; failing the batches waiting on it");
            }
            for ack in acks.drain(..) {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(Error::Io {
                        path: PathBuf::from("wal"),
                        source: std::io::Error::other(e.to_string()),
                    }),
                };
                let _ = ack.send(r);
            }
            for cmd in others.drain(..) {
                self.control(cmd);
            }
        }
        if let Err(e) = self.wal.sync() {
            tracing::error!(error = %e, "final WAL sync failed");
        }
    }

    fn control(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Write { .. } => {}
            Cmd::Freeze { before, seq, reply } => {
                let _ = reply.send(self.freeze(before, seq));
            }
            Cmd::Release { seq, reply } => {
                let _ = reply.send(self.release(seq));
            }
            Cmd::Sync { reply } => {
                let r = self.wal.write().and_then(|_| self.wal.sync());
                let _ = reply.send(r.map(|()| self.wal.end()));
            }
        }
    }

    fn series_id(&mut self, hash: u64, key: &[u8]) -> std::result::Result<u32, &'static str> {
        if let Some(id) = self.lookup.get(hash, key) {
            return Ok(id);
        }
        // The write path builds canonical keys; the labels share the key's bytes with the lookup.
        let labels = Labels::from_key(key).map_err(|e| e.0)?;
        let id = create_series(&self.head, labels, hash, &mut self.lookup);
        if let Some(s) = self.head.series.read().get(id as usize) {
            self.series.push(s.clone());
        }
        self.defined_in.push(0);
        Ok(id)
    }

    /// Appends one batch's WAL records and applies it to the head.
    fn apply(&mut self, batch: &ShardBatch) -> Result<()> {
        let seg = self.wal.seq();
        let mut ids = Vec::with_capacity(batch.series.len());
        let mut key = std::mem::take(&mut self.key);
        for k in &batch.series {
            batch.key_into(k, &mut key);
            let id = self
                .series_id(k.hash, &key)
                .map_err(|why| Error::InvalidArgument(format!("bad series key in batch: {why}")))?;
            if self.defined_in[id as usize] != seg {
                let mut def = Vec::with_capacity(key.len() + 8);
                def.push(WAL_SERIES);
                put_uvarint(&mut def, u64::from(id));
                put_bytes(&mut def, &key);
                self.wal.add_record(&def);
                self.defined_in[id as usize] = seg;
            }
            ids.push(id);
        }
        self.key = key;
        // One record for the batch, its samples grouped by series (in batch order within each)
        // and encoded as block columns: ~1-2 bytes a sample instead of ~12 one entry at a time.
        let cols = &mut self.cols;
        if cols.len() < ids.len() {
            cols.resize_with(ids.len(), Default::default);
        }
        for c in cols.iter_mut().take(ids.len()) {
            c.0.clear();
            c.1.clear();
        }
        let mut last_part = None;
        for e in &batch.entries {
            let Some(&id) = ids.get(e.slot as usize) else { continue };
            let Some(c) = cols.get_mut(e.slot as usize) else {
                continue;
            };
            c.0.push(e.t);
            c.1.push(e.v);
            let part = partition_of(e.t, self.partition_ms);
            if last_part != Some(part) {
                self.wal.note_partition(part);
                last_part = Some(part);
            }
            if let Some(s) = self.series.get(id as usize) {
                s.append(part, e.t, e.v, self.chunk_samples);
            }
        }
        let mut rec = std::mem::take(&mut self.rec);
        rec.clear();
        let groups = cols.iter().take(ids.len()).filter(|c| !c.0.is_empty()).count();
        if groups > 1 && groups == batch.entries.len() {
            // One sample per series (one scrape of many series): a group each would cost ~19
            // bytes a sample; three columns across the series cost a few.
            let (wal_ids, ts_col, vs_col) = &mut self.rows;
            wal_ids.clear();
            ts_col.clear();
            vs_col.clear();
            for (slot, (ts, vs)) in cols.iter().take(ids.len()).enumerate() {
                if let (Some(&t), Some(&v), Some(&id)) = (ts.first(), vs.first(), ids.get(slot)) {
                    wal_ids.push(i64::from(id));
                    ts_col.push(t);
                    vs_col.push(v);
                }
            }
            wal::encode_rows(wal_ids, ts_col, vs_col, &mut rec);
        } else {
            rec.push(WAL_SAMPLE_COLUMNS);
            put_uvarint(&mut rec, groups as u64);
            for (slot, (ts, vs)) in cols.iter().take(ids.len()).enumerate() {
                if ts.is_empty() {
                    continue;
                }
                put_uvarint(&mut rec, u64::from(ids[slot]));
                column::encode_timestamps(ts, &mut rec);
                column::encode_values(vs, &mut rec);
            }
        }
        self.wal.add_record(&rec);
        self.rec = rec;
        Ok(())
    }

    fn freeze(&mut self, before: i64, seq: u64) -> Result<FreezeOut> {
        self.wal.write()?;
        let series = &self.series;
        let select = |p: i64| p < before;
        let mut by_id: HashMap<u32, Vec<(i64, Frozen)>> = HashMap::new();
        let mut parts: BTreeMap<i64, Vec<(Labels, Frozen)>> = BTreeMap::new();
        for (id, s) in series.iter().enumerate() {
            let frozen = s.freeze(&select);
            if frozen.is_empty() {
                continue;
            }
            for (p, f) in &frozen {
                parts.entry(*p).or_default().push((s.labels.clone(), f.clone()));
            }
            by_id.insert(id as u32, frozen);
        }
        let part_set: BTreeSet<i64> = parts.keys().copied().collect();
        // Publish as flushing before removing from the live series (see ShardHead::collect).
        self.head
            .flushing
            .write()
            .push(Arc::new(Flushing { seq, series: by_id }));
        for s in series {
            s.drop_parts(&select);
        }
        // Everything written so far for these partitions is in segments before the new one.
        let cut = self.wal.rotate()?;
        for d in &mut self.defined_in {
            *d = 0;
        }
        self.frozen_at.insert(seq, (cut, part_set));
        Ok(FreezeOut { parts })
    }

    /// Keeps released WAL segments for a WAL reader (see `Options::wal_keep_released`).
    pub(crate) fn keep_released_wal(&mut self, keep: bool) {
        self.wal.keep_released(keep);
    }

    fn release(&mut self, seq: u64) -> Result<()> {
        let idle = {
            let mut flushing = self.head.flushing.write();
            flushing.retain(|f| f.seq != seq);
            flushing.is_empty()
        };
        if let Some((cut, parts)) = self.frozen_at.remove(&seq) {
            self.wal.release(cut, &parts)?;
        }
        // Flushing sets name series by id: renumber only when none is left.
        if idle {
            self.collect_garbage();
        }
        Ok(())
    }

    /// Forgets the series that hold no data any more (all their partitions are in blocks), once
    /// they are a quarter of the shard's series, so the head does not grow with series churn.
    /// The live series are renumbered; each is defined again in the WAL before its next sample
    /// (replay maps ids per segment and a later definition of an id replaces the earlier one).
    fn collect_garbage(&mut self) {
        let dead = self.series.iter().filter(|s| s.is_empty()).count();
        if dead == 0 || dead * 4 < self.series.len() {
            return;
        }
        let mut all = self.head.series.write();
        let mut postings = self.head.postings.write();
        let mut live: Vec<Arc<MemSeries>> = Vec::with_capacity(self.series.len() - dead);
        let mut index = Postings::new();
        let mut lookup = SeriesLookup::default();
        for s in &self.series {
            if s.is_empty() {
                continue;
            }
            let id = live.len() as u32;
            index.add(id, &s.labels);
            lookup.insert(hash_key(s.labels.as_key()), s.labels.clone(), id);
            live.push(s.clone());
        }
        tracing::debug!(
            dropped = dead,
            kept = live.len(),
            "dropped series without data from the head"
        );
        index.set_len(live.len() as u32);
        *all = live.clone();
        *postings = index;
        drop(postings);
        drop(all);
        self.defined_in = vec![0; live.len()];
        self.series = live;
        self.lookup = lookup;
    }
}

/// Series key -> shard-local id, keyed by the hash the write path already computed. The keys are
/// the series' own [`Labels`] (their packed form is the key), shared with the head, not copies.
#[derive(Debug, Default)]
pub(crate) struct SeriesLookup {
    by_hash: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    keys: Vec<Labels>,
    /// Keys whose hash collided with an earlier series' (practically never used).
    collided: HashMap<Box<[u8]>, u32>,
}

impl SeriesLookup {
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let id = *self.by_hash.get(&hash)?;
        if self.keys.get(id as usize).is_some_and(|k| k.as_key() == key) {
            Some(id)
        } else {
            self.collided.get(key).copied()
        }
    }

    pub(crate) fn insert(&mut self, hash: u64, labels: Labels, id: u32) {
        debug_assert_eq!(self.keys.len(), id as usize);
        let key = labels.as_key().into();
        self.keys.push(labels);
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(key, id);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
    }
}

/// The keys are already well-mixed 64-bit hashes.
#[derive(Debug, Default)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn create_series(head: &ShardHead, labels: Labels, hash: u64, lookup: &mut SeriesLookup) -> u32 {
    let mut all = head.series.write();
    let id = all.len() as u32;
    head.postings.write().add(id, &labels);
    lookup.insert(hash, labels.clone(), id);
    all.push(Arc::new(MemSeries::new(labels)));
    id
}

/// Applies one WAL record during replay. `place(t)` gives the partition and chunk size, or None
/// to skip the sample. Returns the samples applied and the newest timestamp.
fn replay_record(
    payload: &[u8],
    seq: u64,
    head: &ShardHead,
    lookup: &mut SeriesLookup,
    seg_ids: &mut HashMap<(u64, u64), u32>,
    place: impl FnMut(i64) -> Option<(i64, usize)>,
) -> std::result::Result<(u64, Option<i64>), &'static str> {
    let mut v = ReplayVisitor {
        seq,
        head,
        lookup,
        seg_ids,
        place,
        series: None,
        applied: 0,
        max: None,
    };
    wal::visit_record(payload, &mut v)?;
    Ok((v.applied, v.max))
}

/// Replay's side of [`wal::visit_record`]: definitions create (or find) head series, samples
/// are appended to them.
struct ReplayVisitor<'a, F> {
    seq: u64,
    head: &'a ShardHead,
    lookup: &'a mut SeriesLookup,
    seg_ids: &'a mut HashMap<(u64, u64), u32>,
    place: F,
    /// The head's series, read once per record.
    series: Option<Vec<Arc<MemSeries>>>,
    applied: u64,
    max: Option<i64>,
}

impl<F: FnMut(i64) -> Option<(i64, usize)>> wal::RecordVisitor for ReplayVisitor<'_, F> {
    fn series(&mut self, wal_id: u64, labels: Labels) -> std::result::Result<(), &'static str> {
        let hash = hash_key(labels.as_key());
        let id = match self.lookup.get(hash, labels.as_key()) {
            Some(id) => id,
            None => create_series(self.head, labels, hash, self.lookup),
        };
        self.seg_ids.insert((self.seq, wal_id), id);
        Ok(())
    }

    fn samples(&mut self, wal_id: u64, ts: &[i64], vs: &[f64]) -> std::result::Result<(), &'static str> {
        let id = *self
            .seg_ids
            .get(&(self.seq, wal_id))
            .ok_or("samples for an undefined series")?;
        let series = self.series.get_or_insert_with(|| self.head.series.read().clone());
        let s = series.get(id as usize).ok_or("series id out of range")?;
        for (&t, &v) in ts.iter().zip(vs) {
            if let Some((p, cs)) = (self.place)(t) {
                s.append(p, t, v, cs);
                self.applied += 1;
                self.max = self.max.max(Some(t));
            }
        }
        Ok(())
    }
}
