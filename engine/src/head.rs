//! The head: recent samples in memory, per series and per time partition.
//!
//! Each series keeps, for every partition it has samples in, chunks: sealed ones (immutable, shared
//! with readers through `Arc`) and one open chunk appended in place (`chunk.rs`: Gorilla timestamps,
//! values as decimal mantissa deltas or Gorilla XOR). Samples that arrive out of
//! order (not after the newest sample of the partition) go to a small sorted overlay that overrides
//! chunk values at the same timestamp, so the last write wins. Only the shard's writer thread
//! mutates a series; readers hold its mutex just long enough to copy the open chunk's bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chunk::{ChunkDecoder, ChunkEncoder};
use crate::column;
use crate::gorilla::CodecError;
use crate::model::Labels;

/// How a chunk's bytes are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    /// The open chunk's bit stream (`chunk.rs`), as it is appended to: a reader's copy of the open
    /// chunk, or a sealed chunk whose columns came out larger.
    Open,
    /// A timestamps column then a values column, as blocks store them: sealed chunks are
    /// re-coded so when that is smaller (columns pick their codes per chunk, the open chunk adapts
    /// sample by sample).
    Columns,
}

/// An immutable chunk.
#[derive(Debug)]
pub(crate) struct SealedChunk {
    mint: i64,
    maxt: i64,
    count: u32,
    codec: Codec,
    bytes: Box<[u8]>,
}

impl SealedChunk {
    /// A copy of the open chunk as it is (cheap: a byte copy).
    fn from_encoder(enc: &ChunkEncoder) -> Option<SealedChunk> {
        Some(SealedChunk {
            mint: enc.first_ts()?,
            maxt: enc.last_ts()?,
            count: u32::try_from(enc.len()).ok()?,
            codec: Codec::Open,
            bytes: enc.as_bytes().into(),
        })
    }

    /// The open chunk re-coded as block columns, or its own bytes when those are not larger.
    fn seal(enc: &ChunkEncoder, scratch: &mut SealScratch) -> Option<SealedChunk> {
        scratch.ts.clear();
        scratch.vs.clear();
        if enc.iter().decode_into(&mut scratch.ts, &mut scratch.vs).is_err() {
            return Self::from_encoder(enc);
        }
        scratch.bytes.clear();
        column::encode_timestamps(&scratch.ts, &mut scratch.bytes);
        column::encode_values(&scratch.vs, &mut scratch.bytes);
        if scratch.bytes.len() >= enc.as_bytes().len() {
            return Self::from_encoder(enc);
        }
        Some(SealedChunk {
            mint: enc.first_ts()?,
            maxt: enc.last_ts()?,
            count: u32::try_from(enc.len()).ok()?,
            codec: Codec::Columns,
            bytes: scratch.bytes.as_slice().into(),
        })
    }

    /// Appends the samples in `[mint, maxt]` to `out`, in chunk order.
    fn decode_into(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Result<(), CodecError> {
        match self.codec {
            Codec::Open => {
                for s in ChunkDecoder::new(&self.bytes, self.count as usize) {
                    let (t, v) = s?;
                    if t >= mint && t <= maxt {
                        out.push((t, v));
                    }
                }
            }
            Codec::Columns => {
                let (mut ts, mut vs) = (Vec::new(), Vec::new());
                let used = column::decode_timestamps(&self.bytes, &mut ts)?;
                column::decode_values(self.bytes.get(used..).unwrap_or_default(), &mut vs)?;
                out.extend(ts.into_iter().zip(vs).filter(|(t, _)| *t >= mint && *t <= maxt));
            }
        }
        Ok(())
    }
}

/// Buffers reused by every seal in a thread (the shard writers and replay).
#[derive(Debug, Default)]
struct SealScratch {
    ts: Vec<i64>,
    vs: Vec<f64>,
    bytes: Vec<u8>,
}

/// One series' samples within one partition.
#[derive(Debug)]
pub(crate) struct PartHead {
    pub(crate) start: i64,
    chunks: Vec<Arc<SealedChunk>>,
    open: ChunkEncoder,
    /// Out-of-order samples; boxed and absent until the first one, as most series never get any
    /// (8 bytes in every partition of every series instead of an empty map's 24).
    #[allow(clippy::box_collection)]
    ooo: Option<Box<BTreeMap<i64, f64>>>,
}

impl PartHead {
    fn new(start: i64) -> Self {
        PartHead {
            start,
            chunks: Vec::new(),
            open: ChunkEncoder::new(),
            ooo: None,
        }
    }

    fn newest(&self) -> Option<i64> {
        self.open.last_ts().or_else(|| self.chunks.last().map(|c| c.maxt))
    }

    fn append(&mut self, t: i64, v: f64, chunk_samples: usize) {
        if self.newest().is_some_and(|n| t <= n) {
            self.ooo.get_or_insert_default().insert(t, v);
            return;
        }
        self.open.push(t, v);
        if self.open.len() >= chunk_samples {
            self.seal();
        }
    }

    fn seal(&mut self) {
        thread_local! {
            static SCRATCH: std::cell::RefCell<SealScratch> = std::cell::RefCell::default();
        }
        let sealed = SCRATCH.with(|s| SealedChunk::seal(&self.open, &mut s.borrow_mut()));
        if let Some(c) = sealed {
            // A partition holds few chunks: grow one at a time rather than to four at once.
            self.chunks.reserve_exact(1);
            self.chunks.push(Arc::new(c));
        }
        self.open = ChunkEncoder::new();
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let lo = self.chunks.first().map(|c| c.mint).or(self.open.first_ts());
        let ooo = self.ooo.as_deref();
        let lo = match (lo, ooo.and_then(|o| o.keys().next())) {
            (Some(a), Some(&b)) => a.min(b),
            (a, b) => a.or(b.copied()).unwrap_or(i64::MAX),
        };
        let hi = self
            .newest()
            .unwrap_or(i64::MIN)
            .max(ooo.and_then(|o| o.keys().next_back()).copied().unwrap_or(i64::MIN));
        lo <= maxt && hi >= mint
    }

    /// A consistent copy of the samples in `[mint, maxt]`, cheap to take under the series lock.
    fn snapshot(&self, mint: i64, maxt: i64) -> Frozen {
        let chunks = self
            .chunks
            .iter()
            .filter(|c| c.mint <= maxt && c.maxt >= mint)
            .cloned()
            .collect();
        let open = match (self.open.first_ts(), self.open.last_ts()) {
            (Some(a), Some(b)) if a <= maxt && b >= mint => SealedChunk::from_encoder(&self.open).map(Arc::new),
            _ => None,
        };
        let ooo = self
            .ooo
            .as_deref()
            .map(|o| o.range(mint..=maxt).map(|(t, v)| (*t, *v)).collect())
            .unwrap_or_default();
        Frozen { chunks, open, ooo }
    }

    fn heap_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.bytes.len() + std::mem::size_of::<SealedChunk>() + 16)
            .sum::<usize>()
            + self.chunks.capacity() * 8
            + self.open.heap_bytes()
            + self.ooo.as_ref().map_or(0, |o| o.len() * 40 + 24)
    }
}

/// An immutable copy of (part of) a partition's samples: what readers decode and what the flusher
/// turns into a block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frozen {
    chunks: Vec<Arc<SealedChunk>>,
    open: Option<Arc<SealedChunk>>,
    ooo: Vec<(i64, f64)>,
}

impl Frozen {
    /// Whether any sample lies in `[mint, maxt]` (by chunk bounds: no decoding).
    pub(crate) fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.chunks
            .iter()
            .chain(self.open.iter())
            .any(|c| c.mint <= maxt && c.maxt >= mint)
            || self.ooo.iter().any(|&(t, _)| t >= mint && t <= maxt)
    }

    /// Appends the samples in `[mint, maxt]`, ascending and unique, to `out` (which must be empty).
    pub(crate) fn decode_into(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        for c in self.chunks.iter().chain(self.open.iter()) {
            if c.maxt < mint || c.mint > maxt {
                continue;
            }
            if let Err(e) = c.decode_into(mint, maxt, out) {
                // Our own in-memory bytes: this is a bug, not bad input. Keep what decoded.
                tracing::error!(error = %e, "head chunk failed to decode");
            }
        }
        if !self.ooo.is_empty() {
            let ooo: Vec<(i64, f64)> = self
                .ooo
                .iter()
                .copied()
                .filter(|(t, _)| *t >= mint && *t <= maxt)
                .collect();
            let base = std::mem::take(out);
            *out = merge_override(base, &ooo);
        }
    }
}

/// Merges two ascending, unique runs; on equal timestamps `top` wins.
pub(crate) fn merge_override(base: Vec<(i64, f64)>, top: &[(i64, f64)]) -> Vec<(i64, f64)> {
    if top.is_empty() {
        return base;
    }
    if base.last().is_none_or(|l| l.0 < top[0].0) {
        let mut base = base;
        base.extend_from_slice(top);
        return base;
    }
    let mut out = Vec::with_capacity(base.len() + top.len());
    let (mut i, mut j) = (0, 0);
    while i < base.len() && j < top.len() {
        if base[i].0 < top[j].0 {
            out.push(base[i]);
            i += 1;
        } else {
            if base[i].0 == top[j].0 {
                i += 1;
            }
            out.push(top[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&base[i..]);
    out.extend_from_slice(&top[j..]);
    out
}

/// A series in the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) labels: Labels,
    parts: Mutex<Vec<PartHead>>,
}

impl MemSeries {
    pub(crate) fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            parts: Mutex::new(Vec::new()),
        }
    }

    /// Appends a sample (writer thread only).
    pub(crate) fn append(&self, part: i64, t: i64, v: f64, chunk_samples: usize) {
        let mut parts = self.parts.lock();
        let idx = match parts.iter().rposition(|p| p.start == part) {
            Some(i) => i,
            None => {
                let pos = parts.partition_point(|p| p.start < part);
                // Usually one or two partitions: no room for four (a `Vec`'s first growth).
                parts.reserve_exact(1);
                parts.insert(pos, PartHead::new(part));
                pos
            }
        };
        parts[idx].append(t, v, chunk_samples);
    }

    /// Snapshots of the partitions overlapping `[mint, maxt]`.
    pub(crate) fn snapshot(&self, mint: i64, maxt: i64) -> Vec<Frozen> {
        let parts = self.parts.lock();
        parts
            .iter()
            .filter(|p| p.overlaps(mint, maxt))
            .map(|p| p.snapshot(mint, maxt))
            .collect()
    }

    /// Freezes the whole content of the selected partitions (for a flush), leaving them in place.
    pub(crate) fn freeze(&self, select: &dyn Fn(i64) -> bool) -> Vec<(i64, Frozen)> {
        let mut parts = self.parts.lock();
        let mut out = Vec::new();
        for p in parts.iter_mut().filter(|p| select(p.start)) {
            p.seal();
            out.push((p.start, p.snapshot(i64::MIN, i64::MAX)));
        }
        out
    }

    /// Drops the selected partitions (after they were frozen and are served from elsewhere).
    /// Returns whether the series still holds data.
    pub(crate) fn drop_parts(&self, select: &dyn Fn(i64) -> bool) -> bool {
        let mut parts = self.parts.lock();
        parts.retain(|p| !select(p.start));
        !parts.is_empty()
    }

    /// Whether the series holds no samples.
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.lock().is_empty()
    }

    /// Starts of the partitions held.
    pub(crate) fn partitions(&self) -> Vec<i64> {
        self.parts.lock().iter().map(|p| p.start).collect()
    }

    /// Approximate heap bytes (for RAM-per-series accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        let parts = self.parts.lock();
        // One allocation: the packed key behind an `Arc` (two counters).
        let labels = self.labels.as_key().len() + 16;
        labels
            + parts.iter().map(PartHead::heap_bytes).sum::<usize>()
            + parts.capacity() * std::mem::size_of::<PartHead>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &MemSeries, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
        let mut all = Vec::new();
        for f in s.snapshot(mint, maxt) {
            let mut out = Vec::new();
            f.decode_into(mint, maxt, &mut out);
            all.extend(out);
        }
        all
    }

    #[test]
    fn in_order_out_of_order_and_overwrite() {
        let s = MemSeries::new(Labels::new([("__name__", "x")]));
        for t in 0..300 {
            s.append(0, t * 10, t as f64, 120);
        }
        s.append(0, 55, -1.0, 120); // new timestamp in the past
        s.append(0, 100, -2.0, 120); // overwrite
        s.append(0, 2990, -3.0, 120); // overwrite the newest
        let got = read(&s, 0, 10_000);
        assert_eq!(got.len(), 301);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(got.contains(&(55, -1.0)));
        assert!(got.contains(&(100, -2.0)));
        assert_eq!(got.last(), Some(&(2990, -3.0)));
        assert_eq!(read(&s, 95, 115), vec![(100, -2.0), (110, 11.0)]);
    }

    #[test]
    fn sealed_chunks_take_the_smaller_codec_and_round_trip() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // Short decimals: whichever codec, several times smaller than Gorilla, and the smaller one.
        let mut enc = ChunkEncoder::new();
        let mut gorilla = crate::gorilla::GorillaEncoder::new();
        let mut v = 50.0f64;
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for i in 0..120 {
            v = ((v + (next() % 201) as f64 / 100.0 - 1.0) * 100.0).round() / 100.0;
            enc.push(1_700_000_000_000 + i * 10_000, v);
            gorilla.push(1_700_000_000_000 + i * 10_000, v);
            ts.push(1_700_000_000_000 + i * 10_000);
            vs.push(v);
        }
        let mut scratch = SealScratch::default();
        let c = SealedChunk::seal(&enc, &mut scratch).unwrap();
        let mut columns = Vec::new();
        column::encode_timestamps(&ts, &mut columns);
        column::encode_values(&vs, &mut columns);
        assert_eq!(c.bytes.len(), columns.len().min(enc.as_bytes().len()));
        assert!(
            c.bytes.len() * 4 < gorilla.as_bytes().len(),
            "{} vs {}",
            c.bytes.len(),
            gorilla.as_bytes().len()
        );
        let mut out = Vec::new();
        c.decode_into(i64::MIN, i64::MAX, &mut out).unwrap();
        assert_eq!(out, ts.iter().copied().zip(vs.iter().copied()).collect::<Vec<_>>());
        // Arbitrary bit patterns with irregular times: whichever is smaller, every bit back.
        let mut enc = ChunkEncoder::new();
        let mut want = Vec::new();
        for i in 0..120i64 {
            let (t, v) = (i * 1000 + (next() % 999) as i64, f64::from_bits(next()));
            enc.push(t, v);
            want.push((t, v.to_bits()));
        }
        let c = SealedChunk::seal(&enc, &mut scratch).unwrap();
        let mut out = Vec::new();
        c.decode_into(i64::MIN, i64::MAX, &mut out).unwrap();
        let got: Vec<(i64, u64)> = out.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
        assert!(SealedChunk::seal(&ChunkEncoder::new(), &mut scratch).is_none());
    }

    #[test]
    fn freeze_and_drop() {
        let s = MemSeries::new(Labels::new([("__name__", "x")]));
        s.append(0, 1, 1.0, 120);
        s.append(100, 101, 2.0, 120);
        let frozen = s.freeze(&|p| p == 0);
        assert_eq!(frozen.len(), 1);
        let mut out = Vec::new();
        frozen[0].1.decode_into(i64::MIN, i64::MAX, &mut out);
        assert_eq!(out, vec![(1, 1.0)]);
        assert!(s.drop_parts(&|p| p == 0));
        assert_eq!(s.partitions(), vec![100]);
    }

    #[test]
    fn merge_override_prefers_top() {
        let m = merge_override(vec![(1, 1.0), (3, 3.0), (5, 5.0)], &[(0, 0.5), (3, 30.0), (6, 6.0)]);
        assert_eq!(m, vec![(0, 0.5), (1, 1.0), (3, 30.0), (5, 5.0), (6, 6.0)]);
    }
}
