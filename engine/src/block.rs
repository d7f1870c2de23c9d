//! Immutable block files: one time range (a partition, or a compaction range of several) of every
//! series, columnar, cut into chunks of up to 1,024 samples, checksummed.
//!
//! Layout (all integers little-endian or LEB128; see `docs/format.md`):
//! ```text
//! magic "FSBLOCK1"
//! data:   per series, per chunk, its timestamps column then its values column (crate::column)
//! index:  zstd( series table + postings )
//! footer: fixed 84 bytes (offsets, time range, counts, CRC32s, magic)
//! ```
//! A block is written to `<name>.tmp`, fsynced, renamed into place and the directory fsynced; only
//! then is it published and the WAL released. At open every checksum is verified; a block that fails
//! is moved to `quarantine/` by the caller and reported.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::column;
use crate::error::{Error, Result};
use crate::format::{BLOCK_FOOTER_LEN, BLOCK_MAGIC, BLOCK_VERSION, Reader, put_bytes, put_ivarint, put_uvarint};
use crate::mmap::{Mmap, map_readonly};
use crate::model::{LabelMatcher, Labels};
use crate::postings::Postings;
use crate::rollup::{self, Window};
use crate::wal::sync_dir;

/// Facts about a block, as listed by [`crate::Db::blocks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// The file.
    pub path: PathBuf,
    /// Write sequence: among overlapping blocks the higher one wins on equal timestamps.
    pub seq: u64,
    /// Start of the time range covered: a partition, or the start of a compaction range of several
    /// (see `compaction.rs`); every sample lies in `[mint, maxt]`.
    pub partition: i64,
    /// Oldest sample.
    pub mint: i64,
    /// Newest sample.
    pub maxt: i64,
    /// Series held.
    pub series: u64,
    /// Samples held.
    pub samples: u64,
    /// File size.
    pub bytes: u64,
    /// Bytes of the rollups inside the file (0 before block version 3).
    pub rollup_bytes: u64,
    /// Series whose raw samples were dropped by retention, kept as rollups only (block version 4).
    pub rollup_only_series: u64,
    /// Whether the partition was closed (out of the out-of-order window) when written.
    pub sealed: bool,
}

thread_local! {
    /// Per-thread column decode buffers.
    static SCRATCH: std::cell::RefCell<(Vec<i64>, Vec<f64>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

#[derive(Debug)]
struct BlockSeries {
    labels: Labels,
    offset: usize,
    len: usize,
    /// Each chunk's (byte offset within the series' data, first timestamp); one chunk for a
    /// version 1 block.
    chunks: Vec<(usize, i64)>,
    /// Bytes of the series' rollups, right after its chunks (0 before version 3).
    rollup_len: usize,
    mint: i64,
    maxt: i64,
}

/// An open, verified block.
#[derive(Debug)]
pub(crate) struct Block {
    info: BlockInfo,
    map: Mmap,
    data_start: usize,
    series: Vec<BlockSeries>,
    postings: Postings,
}

pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:010}.block")
}

/// One series' labels and samples, as blocks are written from and read back into.
#[cfg(test)]
pub(crate) type SeriesData = (Labels, Vec<(i64, f64)>);

/// Writes a block. `series` must be sorted by labels, with samples ascending and unique.
#[cfg(test)]
pub(crate) fn write(
    dir: &Path,
    seq: u64,
    partition: i64,
    sealed: bool,
    series: &[(Labels, Vec<(i64, f64)>)],
) -> Result<BlockInfo> {
    let mut w = BlockWriter::create(dir, seq, partition, sealed)?.rollups(&rollup::RESOLUTIONS);
    for (labels, s) in series {
        w.add(labels, s)?;
    }
    w.finish()
}

/// Writes a block one series at a time, so a block larger than memory can be made (compaction of
/// long ranges): the data section goes to the temporary file as it is encoded; only the index is
/// kept until [`BlockWriter::finish`].
pub(crate) struct BlockWriter {
    dir: PathBuf,
    tmp: PathBuf,
    file: std::io::BufWriter<File>,
    data_crc: crc32fast::Hasher,
    data_len: usize,
    seq: u64,
    partition: i64,
    sealed: bool,
    index: Vec<u8>,
    postings: Postings,
    mint: i64,
    maxt: i64,
    samples: u64,
    rollup_windows: Vec<i64>,
    rollup_bytes: u64,
    rollup_only: u64,
    n: u32,
    buf: Vec<u8>,
    /// The current series' chunks: (bytes, first timestamp).
    chunk_index: Vec<(usize, i64)>,
    ts: Vec<i64>,
    vs: Vec<f64>,
}

/// Samples in one chunk of a series inside a block (version 2).
const CHUNK_SAMPLES: usize = 1024;

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("tmp", &self.tmp)
            .field("series", &self.n)
            .finish_non_exhaustive()
    }
}

impl BlockWriter {
    /// Starts block `seq` (of the time range starting at `partition`) in `dir`, as `<name>.tmp`.
    pub(crate) fn create(dir: &Path, seq: u64, partition: i64, sealed: bool) -> Result<BlockWriter> {
        let tmp = dir.join(format!("{}.tmp", file_name(seq)));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
        file.write_all(&BLOCK_MAGIC).map_err(|e| Error::io(&tmp, e))?;
        Ok(BlockWriter {
            dir: dir.to_path_buf(),
            tmp,
            file,
            data_crc: crc32fast::Hasher::new(),
            data_len: 0,
            seq,
            partition,
            sealed,
            index: Vec::new(),
            postings: Postings::new(),
            mint: i64::MAX,
            maxt: i64::MIN,
            samples: 0,
            rollup_windows: Vec::new(),
            rollup_bytes: 0,
            rollup_only: 0,
            n: 0,
            buf: Vec::new(),
            chunk_index: Vec::new(),
            ts: Vec::new(),
            vs: Vec::new(),
        })
    }

    /// Sets the window lengths (ms) of the rollups written with each series (none by default).
    pub(crate) fn rollups(mut self, windows: &[i64]) -> Self {
        self.rollup_windows = windows.to_vec();
        self
    }

    /// Adds one series; series must come sorted by labels, samples ascending and unique. A series
    /// without samples is left out.
    pub(crate) fn add(&mut self, labels: &Labels, s: &[(i64, f64)]) -> Result<()> {
        let (Some(first), Some(last)) = (s.first(), s.last()) else {
            return Ok(());
        };
        self.put(labels, (first.0, last.0), s, None)
    }

    /// Adds one series with its already encoded rollups (`rollups`, as [`Block::rollup_bytes`]
    /// gives them) instead of computing them from `s`: a retention rewrite keeps a series as it
    /// was. An empty `s` keeps only the rollups: the series' raw samples, which lay in
    /// `[range.0, range.1]`, are gone (a rollup-only series). Nothing is added when both are empty.
    pub(crate) fn add_kept(
        &mut self,
        labels: &Labels,
        range: (i64, i64),
        s: &[(i64, f64)],
        rollups: &[u8],
    ) -> Result<()> {
        if s.is_empty() && rollups.is_empty() {
            return Ok(());
        }
        let range = match (s.first(), s.last()) {
            (Some(f), Some(l)) => (f.0, l.0),
            _ => range,
        };
        self.put(labels, range, s, Some(rollups))
    }

    fn put(&mut self, labels: &Labels, range: (i64, i64), s: &[(i64, f64)], rollups: Option<&[u8]>) -> Result<()> {
        // Chunks of CHUNK_SAMPLES, each a timestamps column then a values column: a read of a
        // short range in a long block decodes the chunks it overlaps, not the whole series.
        self.buf.clear();
        self.chunk_index.clear();
        for part in s.chunks(CHUNK_SAMPLES) {
            self.ts.clear();
            self.vs.clear();
            self.ts.extend(part.iter().map(|p| p.0));
            self.vs.extend(part.iter().map(|p| p.1));
            let at = self.buf.len();
            column::encode_timestamps(&self.ts, &mut self.buf);
            column::encode_values(&self.vs, &mut self.buf);
            self.chunk_index.push((self.buf.len() - at, self.ts[0]));
        }
        let chunks_len = self.buf.len();
        match rollups {
            Some(r) => self.buf.extend_from_slice(r),
            None => rollup::encode_series(s, &self.rollup_windows, &mut self.buf),
        }
        self.rollup_bytes += (self.buf.len() - chunks_len) as u64;
        if s.is_empty() {
            self.rollup_only += 1;
        }
        self.file.write_all(&self.buf).map_err(|e| Error::io(&self.tmp, e))?;
        self.data_crc.update(&self.buf);
        let off = self.data_len;
        self.data_len += self.buf.len();
        let (first, last) = range;
        put_uvarint(&mut self.index, labels.len() as u64);
        for l in labels.iter() {
            put_bytes(&mut self.index, l.name.as_bytes());
            put_bytes(&mut self.index, l.value.as_bytes());
        }
        put_uvarint(&mut self.index, off as u64);
        put_uvarint(&mut self.index, chunks_len as u64);
        put_ivarint(&mut self.index, first);
        put_uvarint(&mut self.index, last.saturating_sub(first) as u64);
        put_uvarint(&mut self.index, self.chunk_index.len() as u64);
        for &(len, t) in &self.chunk_index {
            put_uvarint(&mut self.index, len as u64);
            put_uvarint(&mut self.index, (t - first) as u64);
        }
        put_uvarint(&mut self.index, (self.buf.len() - chunks_len) as u64);
        self.postings.add(self.n, labels);
        self.n += 1;
        self.mint = self.mint.min(first);
        self.maxt = self.maxt.max(last);
        self.samples += s.len() as u64;
        Ok(())
    }

    /// Whether no series was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Gives up the block: removes the temporary file.
    pub(crate) fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = fs::remove_file(tmp);
    }

    /// Writes the index and footer, fsyncs, renames the file into place and fsyncs the directory.
    pub(crate) fn finish(mut self) -> Result<BlockInfo> {
        let mut index = Vec::with_capacity(self.index.len() + 16);
        put_uvarint(&mut index, u64::from(self.n));
        index.extend_from_slice(&self.index);
        let mut entries: Vec<(&str, &str, &[u32])> = self.postings.entries().collect();
        entries.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        put_uvarint(&mut index, entries.len() as u64);
        for (name, value, ids) in entries {
            put_bytes(&mut index, name.as_bytes());
            put_bytes(&mut index, value.as_bytes());
            put_uvarint(&mut index, ids.len() as u64);
            let mut prev = 0u32;
            for &id in ids {
                put_uvarint(&mut index, u64::from(id - prev));
                prev = id;
            }
        }
        let index = zstd::bulk::compress(&index, 9).map_err(|e| Error::io(&self.dir, e))?;
        let index_off = (BLOCK_MAGIC.len() + self.data_len) as u64;
        let mut footer = Vec::with_capacity(BLOCK_FOOTER_LEN);
        footer.extend_from_slice(&index_off.to_le_bytes());
        footer.extend_from_slice(&(index.len() as u64).to_le_bytes());
        footer.extend_from_slice(&self.mint.to_le_bytes());
        footer.extend_from_slice(&self.maxt.to_le_bytes());
        footer.extend_from_slice(&self.partition.to_le_bytes());
        footer.extend_from_slice(&self.samples.to_le_bytes());
        footer.extend_from_slice(&self.seq.to_le_bytes());
        footer.extend_from_slice(&self.n.to_le_bytes());
        footer.extend_from_slice(&u32::from(self.sealed).to_le_bytes());
        footer.extend_from_slice(&self.data_crc.clone().finalize().to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
        footer.extend_from_slice(&BLOCK_VERSION.to_le_bytes());
        let fcrc = crc32fast::hash(&footer);
        footer.extend_from_slice(&fcrc.to_le_bytes());
        footer.extend_from_slice(&BLOCK_MAGIC[..4]);
        debug_assert_eq!(footer.len(), BLOCK_FOOTER_LEN);
        let tmp = self.tmp.clone();
        self.file.write_all(&index).map_err(|e| Error::io(&tmp, e))?;
        self.file.write_all(&footer).map_err(|e| Error::io(&tmp, e))?;
        let file = self.file.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        let path = self.dir.join(file_name(self.seq));
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(&self.dir)?;
        Ok(BlockInfo {
            path,
            seq: self.seq,
            partition: self.partition,
            mint: self.mint,
            maxt: self.maxt,
            series: u64::from(self.n),
            samples: self.samples,
            bytes: index_off + index.len() as u64 + BLOCK_FOOTER_LEN as u64,
            rollup_bytes: self.rollup_bytes,
            rollup_only_series: self.rollup_only,
            sealed: self.sealed,
        })
    }
}

/// CRC32 of the bytes `[from, to)` of `file`, read in 1 MiB pieces.
fn file_crc(file: &File, from: u64, to: u64) -> std::io::Result<u32> {
    use std::os::unix::fs::FileExt;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; (1 << 20).min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(buf.len());
        let piece = &mut buf[..n];
        file.read_exact_at(piece, at)?;
        h.update(piece);
        at += n as u64;
    }
    Ok(h.finalize())
}

impl Block {
    /// Opens and verifies a block file. Any inconsistency is `Error::Corrupted`.
    pub(crate) fn open(path: &Path) -> Result<Block> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < (BLOCK_MAGIC.len() + BLOCK_FOOTER_LEN) as u64 {
            return Err(Error::corrupted(
                path,
                0,
                format!("file of {len} bytes is too short for a block"),
            ));
        }
        let map = map_readonly(&file).map_err(|e| Error::io(path, e))?;
        let bad = |offset: usize, reason: &str| Error::corrupted(path, offset as u64, reason.to_owned());
        if map[..8] != BLOCK_MAGIC {
            return Err(bad(0, "bad magic"));
        }
        let foot_at = map.len() - BLOCK_FOOTER_LEN;
        let footer = &map[foot_at..];
        if footer[80..84] != BLOCK_MAGIC[..4] {
            return Err(bad(foot_at + 80, "bad footer magic"));
        }
        let mut r = Reader::new(footer);
        let field = |e: &'static str| bad(foot_at, e);
        let index_off = r.u64_le().map_err(field)? as usize;
        let index_len = r.u64_le().map_err(field)? as usize;
        let mint = r.i64_le().map_err(field)?;
        let maxt = r.i64_le().map_err(field)?;
        let partition = r.i64_le().map_err(field)?;
        let samples = r.u64_le().map_err(field)?;
        let seq = r.u64_le().map_err(field)?;
        let n_series = r.u32_le().map_err(field)?;
        let sealed = r.u32_le().map_err(field)? != 0;
        let data_crc = r.u32_le().map_err(field)?;
        let index_crc = r.u32_le().map_err(field)?;
        let version = r.u32_le().map_err(field)?;
        let footer_crc = r.u32_le().map_err(field)?;
        if crc32fast::hash(&footer[..76]) != footer_crc {
            return Err(bad(foot_at, "footer checksum mismatch"));
        }
        if !(1..=BLOCK_VERSION).contains(&version) {
            return Err(bad(foot_at + 72, &format!("unsupported block version {version}")));
        }
        if index_off < 8 || index_off.checked_add(index_len) != Some(foot_at) {
            return Err(bad(foot_at, "index offset/length inconsistent with file size"));
        }
        // The data section is checked with reads, not through the map: touching every mapped page
        // would count the whole file in the process' resident set until the kernel reclaims it
        // (a 30-day import peaked at 1.27 GB, most of it block pages verified at open). Queries
        // then fault in only the pages they read.
        if file_crc(&file, 8, index_off as u64).map_err(|e| Error::io(path, e))? != data_crc {
            return Err(bad(8, "data checksum mismatch"));
        }
        let zindex = &map[index_off..foot_at];
        if crc32fast::hash(zindex) != index_crc {
            return Err(bad(index_off, "index checksum mismatch"));
        }
        // The index is bounded by what the writer could produce; refuse absurd sizes. The frame
        // says its decompressed size (the writer records it): allocate that, not the bound
        // (`bulk::decompress` allocates its whole capacity up front: 64 MiB per block opened).
        let limit = (64usize << 20).max(zindex.len().saturating_mul(64));
        let capacity = match zstd::zstd_safe::get_frame_content_size(zindex) {
            Ok(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX).min(limit),
            _ => limit,
        };
        let index = zstd::bulk::decompress(zindex, capacity)
            .map_err(|e| bad(index_off, &format!("index does not decompress: {e}")))?;
        let mut r = Reader::new(&index);
        let ierr = |e: &'static str| bad(index_off, &format!("index: {e}"));
        let n = r.usize().map_err(ierr)?;
        if n != n_series as usize || n > index.len() {
            return Err(bad(index_off, "series count disagrees with footer"));
        }
        let mut series = Vec::with_capacity(n);
        for _ in 0..n {
            let nl = r.usize().map_err(ierr)?;
            let mut pairs = Vec::with_capacity(nl.min(64));
            for _ in 0..nl {
                let k = r.str().map_err(ierr)?.to_owned();
                let v = r.str().map_err(ierr)?.to_owned();
                pairs.push((k, v));
            }
            let offset = r.usize().map_err(ierr)?;
            let len = r.usize().map_err(ierr)?;
            let smin = r.ivarint().map_err(ierr)?;
            let span = r.uvarint().map_err(ierr)?;
            let chunks = if version == 1 {
                vec![(0, smin)]
            } else {
                let k = r.usize().map_err(ierr)?;
                // Version 4: a series without chunks kept its rollups only (raw data dropped).
                if (k == 0 && (version < 4 || len != 0)) || k > len {
                    return Err(bad(index_off, "impossible chunk count"));
                }
                let mut chunks = Vec::with_capacity(k);
                let mut at = 0usize;
                for _ in 0..k {
                    let clen = r.usize().map_err(ierr)?;
                    let t = r.uvarint().map_err(ierr)?;
                    if t > span
                        || chunks
                            .last()
                            .is_some_and(|&(_, prev)| smin.saturating_add(t as i64) < prev)
                    {
                        return Err(bad(index_off, "chunk times out of order"));
                    }
                    chunks.push((at, smin.saturating_add(t as i64)));
                    at = at
                        .checked_add(clen)
                        .ok_or_else(|| bad(index_off, "chunk length overflow"))?;
                }
                if at != len {
                    return Err(bad(index_off, "chunk lengths disagree with the series length"));
                }
                chunks
            };
            let rollup_len = if version >= 3 { r.usize().map_err(ierr)? } else { 0 };
            if offset
                .checked_add(len)
                .and_then(|end| end.checked_add(rollup_len))
                .is_none_or(|end| end > index_off - 8)
            {
                return Err(bad(index_off, "series data range outside the data section"));
            }
            series.push(BlockSeries {
                labels: Labels::new(pairs),
                offset,
                len,
                chunks,
                rollup_len,
                mint: smin,
                maxt: smin.saturating_add(span as i64),
            });
        }
        let mut postings = Postings::new();
        let np = r.usize().map_err(ierr)?;
        for _ in 0..np {
            let name = r.str().map_err(ierr)?;
            let value = r.str().map_err(ierr)?;
            let k = r.usize().map_err(ierr)?;
            if k > n {
                return Err(bad(index_off, "posting list longer than the series table"));
            }
            let mut ids = Vec::with_capacity(k);
            let mut prev = 0u64;
            for i in 0..k {
                let d = r.uvarint().map_err(ierr)?;
                prev = prev.checked_add(d).ok_or_else(|| bad(index_off, "posting overflow"))?;
                if prev >= n as u64 || (i > 0 && d == 0) {
                    return Err(bad(index_off, "posting out of range or unsorted"));
                }
                ids.push(prev as u32);
            }
            postings.insert_list(name, value, ids);
        }
        postings.set_len(n as u32);
        let info = BlockInfo {
            path: path.to_path_buf(),
            seq,
            partition,
            mint,
            maxt,
            series: n as u64,
            samples,
            bytes: len,
            rollup_bytes: series.iter().map(|s| s.rollup_len as u64).sum(),
            rollup_only_series: series.iter().filter(|s| s.chunks.is_empty()).count() as u64,
            sealed,
        };
        Ok(Block {
            info,
            map,
            data_start: 8,
            series,
            postings,
        })
    }

    pub(crate) fn info(&self) -> &BlockInfo {
        &self.info
    }

    pub(crate) fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.info.mint <= maxt && self.info.maxt >= mint
    }

    /// Ordinals of the series matching all matchers.
    pub(crate) fn select(&self, matchers: &[LabelMatcher]) -> Vec<u32> {
        self.postings.select(matchers)
    }

    pub(crate) fn labels(&self, id: u32) -> Option<&Labels> {
        self.series.get(id as usize).map(|s| &s.labels)
    }

    /// Decodes series `id`'s samples in `[mint, maxt]` into `out` (cleared first).
    pub(crate) fn read(&self, id: u32, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Result<()> {
        out.clear();
        SCRATCH.with_borrow_mut(|(ts, vs)| self.read_append(id, mint, maxt, out, ts, vs))
    }

    /// Appends series `id`'s samples in `[mint, maxt]` to `out`, decoding through the scratch
    /// buffers `ts` and `vs` (reused across calls to avoid allocation).
    pub(crate) fn read_append(
        &self,
        id: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<(i64, f64)>,
        ts: &mut Vec<i64>,
        vs: &mut Vec<f64>,
    ) -> Result<()> {
        let Some(s) = self.series.get(id as usize) else {
            return Ok(());
        };
        if s.maxt < mint || s.mint > maxt {
            return Ok(());
        }
        // The chunks that may hold [mint, maxt]: from the last one starting at or before mint
        // to the last one starting at or before maxt.
        let first = s.chunks.partition_point(|c| c.1 <= mint).saturating_sub(1);
        let last = s.chunks.partition_point(|c| c.1 <= maxt);
        for (i, &(at, _)) in s.chunks.iter().enumerate().take(last).skip(first) {
            let end = s.chunks.get(i + 1).map_or(s.len, |c| c.0);
            let start = self.data_start + s.offset + at;
            let bytes = self
                .map
                .get(start..self.data_start + s.offset + end)
                .unwrap_or_default();
            let corrupt =
                |e: crate::gorilla::CodecError| Error::corrupted(&self.info.path, start as u64, e.to_string());
            ts.clear();
            vs.clear();
            let used = column::decode_timestamps(bytes, ts).map_err(corrupt)?;
            column::decode_values(bytes.get(used..).unwrap_or_default(), vs).map_err(corrupt)?;
            if ts.len() != vs.len() {
                return Err(Error::corrupted(
                    &self.info.path,
                    start as u64,
                    "timestamp and value columns differ in length",
                ));
            }
            let lo = ts.partition_point(|&t| t < mint);
            let hi = ts.partition_point(|&t| t <= maxt);
            out.extend(ts[lo..hi].iter().copied().zip(vs[lo..hi].iter().copied()));
        }
        Ok(())
    }

    /// Series `id`'s rollup windows of length `len` (one of `rollup::RESOLUTIONS`) overlapping
    /// `[mint, maxt]`; empty when the block has none (written before version 3).
    pub(crate) fn rollups(&self, id: u32, len: i64, mint: i64, maxt: i64) -> Result<Vec<Window>> {
        let Some(s) = self.series.get(id as usize) else {
            return Ok(Vec::new());
        };
        if s.rollup_len == 0 || s.maxt < mint || s.mint > maxt {
            return Ok(Vec::new());
        }
        let start = self.data_start + s.offset + s.len;
        let bytes = self.map.get(start..start + s.rollup_len).unwrap_or_default();
        let mut w =
            rollup::decode_series(bytes, len).map_err(|e| Error::corrupted(&self.info.path, start as u64, e))?;
        w.retain(|w| w.start <= maxt && w.start.saturating_add(len) > mint);
        Ok(w)
    }

    /// Series `id`'s encoded rollups, as [`BlockWriter::add_kept`] takes them.
    pub(crate) fn rollup_bytes(&self, id: u32) -> &[u8] {
        self.series
            .get(id as usize)
            .and_then(|s| {
                let start = self.data_start + s.offset + s.len;
                self.map.get(start..start + s.rollup_len)
            })
            .unwrap_or_default()
    }

    /// Whether series `id` still has raw samples here (not a rollup-only series).
    pub(crate) fn has_raw(&self, id: u32) -> bool {
        self.series.get(id as usize).is_some_and(|s| !s.chunks.is_empty())
    }

    /// The id of the series with exactly `labels`, if held.
    pub(crate) fn find(&self, labels: &Labels) -> Option<u32> {
        let matchers: Vec<LabelMatcher> = labels.iter().map(|l| LabelMatcher::equal(l.name, l.value)).collect();
        self.select(&matchers)
            .into_iter()
            .find(|&id| self.labels(id) == Some(labels))
    }

    /// Oldest and newest timestamp of series `id` in this block.
    pub(crate) fn series_range(&self, id: u32) -> Option<(i64, i64)> {
        self.series.get(id as usize).map(|s| (s.mint, s.maxt))
    }

    pub(crate) fn seq(&self) -> u64 {
        self.info.seq
    }

    /// Series held (ids are `0..series_count()`).
    pub(crate) fn series_count(&self) -> u32 {
        self.series.len() as u32
    }

    /// Every series with all its samples.
    #[cfg(test)]
    pub(crate) fn read_all(&self) -> Result<Vec<SeriesData>> {
        let mut out = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            let mut v = Vec::new();
            self.read(i as u32, i64::MIN, i64::MAX, &mut v)?;
            out.push((s.labels.clone(), v));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_series() -> Vec<(Labels, Vec<(i64, f64)>)> {
        (0..20)
            .map(|h| {
                let l = Labels::new(vec![
                    ("__name__".to_string(), "cpu".to_string()),
                    ("host".to_string(), format!("h{h:02}")),
                ]);
                (
                    l,
                    (0..100).map(|i| (i * 10_000, (h * 100 + i) as f64 / 100.0)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn write_open_read() {
        let tmp = tempfile::tempdir().unwrap();
        let series = sample_series();
        let info = write(tmp.path(), 7, 0, true, &series).unwrap();
        assert_eq!((info.series, info.samples), (20, 2000));
        let b = Block::open(&info.path).unwrap();
        assert_eq!(b.info(), &info);
        let ids = b.select(&[LabelMatcher::equal("host", "h03")]);
        assert_eq!(ids, vec![3]);
        let mut out = Vec::new();
        b.read(3, 50_000, 100_000, &mut out).unwrap();
        assert_eq!(out, series[3].1[5..=10].to_vec());
        assert_eq!(b.read_all().unwrap(), series);
    }

    #[test]
    fn ranges_across_chunks_read_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Labels::new(vec![("__name__".to_string(), "x".to_string())]);
        // 3,000 samples: three chunks, irregular steps.
        let samples: Vec<(i64, f64)> = (0..3000i64).map(|i| (i * 10 + (i % 7), i as f64 * 0.5)).collect();
        let info = write(tmp.path(), 1, 0, true, &[(l, samples.clone())]).unwrap();
        let b = Block::open(&info.path).unwrap();
        assert_eq!(b.series[0].chunks.len(), 3);
        let mut out = Vec::new();
        for (lo, hi) in [
            (-5, 5),
            (0, 29_999),
            (10_230, 10_250),
            (10_239, 20_490),
            (29_990, 40_000),
            (5, 4),
            (-10, -1),
        ] {
            b.read(0, lo, hi, &mut out).unwrap();
            let want: Vec<(i64, f64)> = samples.iter().copied().filter(|s| s.0 >= lo && s.0 <= hi).collect();
            assert_eq!(out, want, "range {lo}..={hi}");
        }
        assert_eq!(b.read_all().unwrap()[0].1, samples);
    }

    #[test]
    fn rollups_are_written_with_every_series() {
        let tmp = tempfile::tempdir().unwrap();
        let series = sample_series();
        let info = write(tmp.path(), 1, 0, true, &series).unwrap();
        let b = Block::open(&info.path).unwrap();
        for (id, (_, samples)) in series.iter().enumerate() {
            for len in rollup::RESOLUTIONS {
                let got = b.rollups(id as u32, len, i64::MIN, i64::MAX).unwrap();
                assert_eq!(got, rollup::windows(samples, len));
            }
        }
        // 100 samples at 10 s: windows of 5 min start at 0, 300 s, 600 s, 900 s.
        let w = b.rollups(3, 300_000, 300_000, 600_000).unwrap();
        assert_eq!(w.iter().map(|w| w.start).collect::<Vec<_>>(), vec![300_000, 600_000]);
        assert_eq!(w[0].count, 30);
    }

    #[test]
    fn a_series_kept_as_rollups_only_reads_no_samples_and_the_same_windows() {
        let tmp = tempfile::tempdir().unwrap();
        let series = sample_series();
        let info = write(tmp.path(), 1, 0, true, &series[..2]).unwrap();
        let b = Block::open(&info.path).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::create(out.path(), 1, 0, true).unwrap();
        let mut kept = Vec::new();
        b.read(1, i64::MIN, i64::MAX, &mut kept).unwrap();
        w.add_kept(&series[0].0, b.series_range(0).unwrap(), &[], b.rollup_bytes(0))
            .unwrap();
        w.add_kept(&series[1].0, b.series_range(1).unwrap(), &kept, b.rollup_bytes(1))
            .unwrap();
        let info2 = w.finish().unwrap();
        assert_eq!((info2.series, info2.samples, info2.rollup_only_series), (2, 100, 1));
        assert_eq!((info2.mint, info2.maxt), (info.mint, info.maxt));
        let b2 = Block::open(&info2.path).unwrap();
        assert_eq!(b2.info(), &info2);
        assert!(!b2.has_raw(0) && b2.has_raw(1));
        assert_eq!(b2.read_all().unwrap()[0].1, Vec::new());
        assert_eq!(b2.read_all().unwrap()[1], series[1]);
        assert_eq!(b2.find(&series[1].0), Some(1));
        for id in 0..2 {
            assert_eq!(b2.series_range(id), b.series_range(id));
            for len in rollup::RESOLUTIONS {
                assert_eq!(
                    b2.rollups(id, len, i64::MIN, i64::MAX).unwrap(),
                    b.rollups(id, len, i64::MIN, i64::MAX).unwrap()
                );
            }
        }
        // A version 3 block has no rollup-only series: a series without chunks there is damage.
        let mut bytes = fs::read(&info2.path).unwrap();
        let foot_at = bytes.len() - BLOCK_FOOTER_LEN;
        bytes[foot_at + 72..foot_at + 76].copy_from_slice(&3u32.to_le_bytes());
        let crc = crc32fast::hash(&bytes[foot_at..foot_at + 76]);
        bytes[foot_at + 76..foot_at + 80].copy_from_slice(&crc.to_le_bytes());
        fs::write(&info2.path, &bytes).unwrap();
        let e = Block::open(&info2.path).unwrap_err();
        assert!(e.to_string().contains("impossible chunk count"), "{e}");
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let info = write(tmp.path(), 1, 0, true, &sample_series()[..3]).unwrap();
        let good = fs::read(&info.path).unwrap();
        for pos in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[pos] ^= 0x5a;
            fs::write(&info.path, &bad).unwrap();
            let e = Block::open(&info.path).expect_err(&format!("flip at {pos} not detected"));
            assert!(matches!(e, Error::Corrupted { .. }), "{e}");
        }
        // Truncations too.
        for len in [0, 10, good.len() / 2, good.len() - 1] {
            fs::write(&info.path, &good[..len]).unwrap();
            assert!(matches!(Block::open(&info.path), Err(Error::Corrupted { .. })));
        }
    }
}
