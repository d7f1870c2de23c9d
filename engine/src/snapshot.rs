//! Backups: an online, consistent snapshot of an open database ([`crate::Db::snapshot`]), copying a
//! snapshot elsewhere ([`copy`], incremental), checking a snapshot or a data directory ([`verify`])
//! and restoring a snapshot into a data directory ([`restore`]).
//!
//! A snapshot is a directory laid out as a data directory (`blocks/`, `wal/shard-NNN/`) plus a
//! `MANIFEST` (every file's size and CRC32, see `docs/format.md`) and a `COMPLETE` marker holding
//! the manifest's CRC32, written last (temporary file, rename, directory fsync): a directory
//! without it is an unfinished snapshot and is refused.
//!
//! Consistency: the snapshot holds the flush and compaction locks, so no block is written, merged
//! or deleted and no WAL segment is released meanwhile; it asks every shard's writer for the end of
//! its WAL after the writes queued before it (a record boundary: every write acknowledged before
//! the snapshot started is before it), hard-links the blocks (immutable; copied across file
//! systems) and copies the WAL segments up to that end. The result is exactly what a crash at that
//! moment would have left on disk, cut at a record boundary; writers are never blocked.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::block::Block;
use crate::error::{Error, Result};
use crate::shard::Cmd;
use crate::state::{DbState, now_ms};
use crate::wal::{self, REPLAY_MARKER, list_segments, segment_path, sync_dir};

/// The file listing a snapshot's files with their sizes and checksums.
pub const MANIFEST: &str = "MANIFEST";
/// The completion marker, written last; holds the manifest's CRC32.
pub const COMPLETE: &str = "COMPLETE";
/// Version of the manifest layout written by this build.
pub const MANIFEST_VERSION: u32 = 1;
/// At most this many problems are reported by [`verify`].
pub const MAX_PROBLEMS: usize = 100;

const MANIFEST_MAGIC: &str = "foresight-snapshot";

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Path relative to the snapshot, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC32 (IEEE) of the whole file.
    pub crc32: u32,
}

/// A snapshot's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Layout version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// When the snapshot was taken (ms since the epoch).
    pub created_ms: i64,
    /// Newest sample timestamp accepted by the database when the snapshot was taken (an upper
    /// bound of the newest one in the snapshot), if any.
    pub max_time: Option<i64>,
    /// Every file, sorted by path.
    pub files: Vec<ManifestEntry>,
}

impl Manifest {
    fn encode(&self) -> String {
        let mut out = format!("{MANIFEST_MAGIC} {}\ncreated_ms {}\n", self.version, self.created_ms);
        match self.max_time {
            Some(t) => out.push_str(&format!("max_time {t}\n")),
            None => out.push_str("max_time none\n"),
        }
        for f in &self.files {
            out.push_str(&format!("file {} {:08x} {}\n", f.size, f.crc32, f.path));
        }
        out
    }

    /// Parses a manifest; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest> {
        let mut offset = 0u64;
        let all: Vec<(u64, &str)> = text
            .split_inclusive('\n')
            .map(|l| {
                let at = offset;
                offset += l.len() as u64;
                (at, l.trim_end_matches('\n'))
            })
            .collect();
        let mut lines = all.into_iter();
        let bad = |at: u64, why: String| Error::corrupted(path, at, why);
        let mut field = |name: &str| -> Result<(u64, String)> {
            let (at, line) = lines
                .next()
                .ok_or_else(|| bad(offset, format!("missing {name:?} line")))?;
            let rest = line
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(|| bad(at, format!("expected {name:?}, found {line:?}")))?;
            Ok((at, rest.to_owned()))
        };
        let (at, v) = field(MANIFEST_MAGIC)?;
        let version: u32 = v.parse().map_err(|_| bad(at, format!("bad version {v:?}")))?;
        if version != MANIFEST_VERSION {
            return Err(bad(at, format!("unsupported manifest version {version}")));
        }
        let (at, v) = field("created_ms")?;
        let created_ms: i64 = v.parse().map_err(|_| bad(at, format!("bad created_ms {v:?}")))?;
        let (at, v) = field("max_time")?;
        let max_time = match v.as_str() {
            "none" => None,
            t => Some(t.parse().map_err(|_| bad(at, format!("bad max_time {t:?}")))?),
        };
        let mut files = Vec::new();
        for (at, line) in lines {
            if line.is_empty() {
                continue;
            }
            let mut parts = line.splitn(4, ' ');
            let (Some("file"), Some(size), Some(crc), Some(rel)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(at, format!("expected \"file SIZE CRC PATH\", found {line:?}")));
            };
            let size = size.parse().map_err(|_| bad(at, format!("bad size {size:?}")))?;
            let crc32 = u32::from_str_radix(crc, 16).map_err(|_| bad(at, format!("bad checksum {crc:?}")))?;
            check_relative(rel).map_err(|why| bad(at, why))?;
            files.push(ManifestEntry {
                path: rel.to_owned(),
                size,
                crc32,
            });
        }
        Ok(Manifest {
            version,
            created_ms,
            max_time,
            files,
        })
    }
}

/// Only plain relative paths under `blocks/` or `wal/` may be listed: a manifest must not make a
/// restore write anywhere else.
fn check_relative(rel: &str) -> std::result::Result<(), String> {
    let p = Path::new(rel);
    let plain = p.components().all(|c| matches!(c, Component::Normal(_)));
    let top = p.components().next().and_then(|c| c.as_os_str().to_str());
    if !plain || !matches!(top, Some("blocks" | "wal")) || p.components().count() < 2 {
        return Err(format!("file path {rel:?} is not a plain path under blocks/ or wal/"));
    }
    Ok(())
}

/// What a snapshot or a copy wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The snapshot's directory.
    pub dir: PathBuf,
    /// Files in the snapshot (manifest and marker excluded).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Files hard-linked to the source (no bytes copied).
    pub linked: usize,
    /// Files hard-linked to an identical file of an earlier snapshot (incremental backup).
    pub reused: usize,
    /// Files copied.
    pub copied: usize,
    /// See [`Manifest::max_time`].
    pub max_time: Option<i64>,
}

/// A fresh snapshot name, `YYYYMMDDTHHMMSSZ-<16 hex digits>` (as Prometheus names its snapshots).
pub fn new_name() -> String {
    let ms = now_ms();
    let secs = ms.div_euclid(1000);
    let (y, m, d) = foresight_units::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let salt = crc32fast::hash(&[nanos.to_le_bytes(), std::process::id().to_le_bytes()].concat());
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{:08x}{salt:08x}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        nanos
    )
}

/// Places files into a new snapshot directory: hard links for immutable files, falling back to
/// an identical file of an earlier snapshot, then to a copy.
struct Placer {
    dest: PathBuf,
    /// Files of earlier complete snapshots, by relative path.
    earlier: HashMap<String, Vec<(PathBuf, ManifestEntry)>>,
    placed: Vec<String>,
    info: SnapshotInfo,
    /// Try hard links to the source first (tests turn it off to act as across file systems).
    link_source: bool,
}

impl Placer {
    fn new(dest: &Path, reuse_from: &[PathBuf]) -> Placer {
        let mut earlier: HashMap<String, Vec<(PathBuf, ManifestEntry)>> = HashMap::new();
        for dir in reuse_from {
            match read_complete_manifest(dir) {
                Ok(m) => {
                    for e in m.files {
                        earlier.entry(e.path.clone()).or_default().push((dir.join(&e.path), e));
                    }
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "not reusing files of an unreadable snapshot")
                }
            }
        }
        Placer {
            dest: dest.to_path_buf(),
            earlier,
            placed: Vec::new(),
            info: SnapshotInfo {
                dir: dest.to_path_buf(),
                ..SnapshotInfo::default()
            },
            link_source: true,
        }
    }

    fn target(&self, rel: &str) -> Result<PathBuf> {
        let to = self.dest.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        Ok(to)
    }

    /// An immutable file (a block).
    fn link(&mut self, src: &Path, rel: &str) -> Result<()> {
        let to = self.target(rel)?;
        self.placed.push(rel.to_owned());
        if self.link_source && fs::hard_link(src, &to).is_ok() {
            self.info.linked += 1;
            return Ok(());
        }
        if let Some(candidates) = self.earlier.get(rel) {
            let size = fs::metadata(src).map_err(|e| Error::io(src, e))?.len();
            if candidates.iter().any(|(_, e)| e.size == size) {
                let (_, crc) = file_crc(src, None)?;
                if let Some((from, _)) = candidates.iter().find(|(_, e)| e.size == size && e.crc32 == crc)
                    && fs::hard_link(from, &to).is_ok()
                {
                    self.info.reused += 1;
                    return Ok(());
                }
            }
        }
        copy_prefix(src, &to, None)?;
        self.info.copied += 1;
        Ok(())
    }

    /// A file still being appended to (a WAL segment): its first `len` bytes (all if None).
    fn copy(&mut self, src: &Path, rel: &str, len: Option<u64>) -> Result<()> {
        let to = self.target(rel)?;
        copy_prefix(src, &to, len)?;
        self.placed.push(rel.to_owned());
        self.info.copied += 1;
        Ok(())
    }

    /// Checksums and fsyncs every placed file; with `expected`, each must match it. Writes the
    /// manifest and then the completion marker when `seal`.
    fn finish(mut self, max_time: Option<i64>, expected: Option<&Manifest>, seal: bool) -> Result<SnapshotInfo> {
        self.placed.sort();
        let mut files = Vec::with_capacity(self.placed.len());
        let mut dirs: Vec<PathBuf> = vec![self.dest.clone()];
        for rel in &self.placed {
            let path = self.dest.join(rel);
            let (size, crc32) = file_crc(&path, None)?;
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&path, e))?;
            if let Some(parent) = path.parent()
                && !dirs.iter().any(|d| d == parent)
            {
                dirs.push(parent.to_path_buf());
            }
            files.push(ManifestEntry {
                path: rel.clone(),
                size,
                crc32,
            });
        }
        if let Some(m) = expected {
            for (got, want) in files.iter().zip(&m.files) {
                if got != want {
                    return Err(Error::corrupted(
                        self.dest.join(&got.path),
                        0,
                        format!(
                            "copy differs from the source's manifest: {} bytes crc32 {:08x}, expected {} bytes crc32 {:08x}",
                            got.size, got.crc32, want.size, want.crc32
                        ),
                    ));
                }
            }
        }
        // Parents before children do not matter for fsync; deepest first keeps it tidy.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in &dirs {
            sync_dir(d)?;
        }
        self.info.files = files.len();
        self.info.bytes = files.iter().map(|f| f.size).sum();
        self.info.max_time = max_time;
        if seal {
            let manifest = Manifest {
                version: MANIFEST_VERSION,
                created_ms: expected.map_or_else(now_ms, |m| m.created_ms),
                max_time,
                files,
            };
            let text = manifest.encode();
            write_atomic(&self.dest, MANIFEST, text.as_bytes())?;
            write_atomic(
                &self.dest,
                COMPLETE,
                format!("{:08x}\n", crc32fast::hash(text.as_bytes())).as_bytes(),
            )?;
        }
        Ok(self.info)
    }
}

/// Writes `dir/name` through a temporary file, renamed into place, the directory fsynced.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    let to = dir.join(name);
    fs::rename(&tmp, &to).map_err(|e| Error::io(&to, e))?;
    sync_dir(dir)
}

/// Copies the first `len` bytes of `src` (all of it if None) to a new file `to`.
fn copy_prefix(src: &Path, to: &Path, len: Option<u64>) -> Result<()> {
    let from = File::open(src).map_err(|e| Error::io(src, e))?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| Error::io(to, e))?;
    let copied = match len {
        Some(n) => std::io::copy(&mut from.take(n), &mut out),
        None => std::io::copy(&mut { from }, &mut out),
    }
    .map_err(|e| Error::io(src, e))?;
    if let Some(n) = len
        && copied != n
    {
        return Err(Error::corrupted(
            src,
            copied,
            format!("file ends at {copied} bytes, {n} expected"),
        ));
    }
    Ok(())
}

/// Size and CRC32 of the file's first `len` bytes (all of it if None).
fn file_crc(path: &Path, len: Option<u64>) -> Result<(u64, u32)> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = f.take(len.unwrap_or(u64::MAX));
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, h.finalize()))
}

fn shard_dir_name(i: usize) -> String {
    format!("shard-{i:03}")
}

/// Takes a snapshot of the open database into `dest` (which must not exist). See the module docs.
pub(crate) fn take(inner: &DbState, dest: &Path, reuse_from: &[PathBuf]) -> Result<SnapshotInfo> {
    if dest.exists() {
        return Err(Error::InvalidArgument(format!(
            "snapshot target {} already exists",
            dest.display()
        )));
    }
    fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let result = (|| {
        let mut placer = Placer::new(dest, reuse_from);
        let max_time = {
            // Same order as compaction and retention: no block changes and no WAL is released.
            let _compacting = inner.compact_lock.lock();
            let _flushes = inner.flush_lock.lock();
            let blocks = inner.blocks.read().clone();
            let ends = inner.send_all(|reply| Cmd::Sync { reply })?;
            let max = inner.max_ts.load(std::sync::atomic::Ordering::Acquire);
            for b in blocks.iter() {
                let path = &b.info().path;
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| Error::InvalidArgument(format!("block path {} has no name", path.display())))?;
                placer.link(path, &format!("blocks/{name}"))?;
            }
            for (i, (end_seq, end_len)) in ends.into_iter().enumerate() {
                let shard = shard_dir_name(i);
                let wdir = inner.dir.join("wal").join(&shard);
                fs::create_dir_all(dest.join("wal").join(&shard)).map_err(|e| Error::io(dest, e))?;
                for seq in list_segments(&wdir)?.into_iter().filter(|&s| s <= end_seq) {
                    let src = segment_path(&wdir, seq);
                    let rel = format!("wal/{shard}/{seq:010}.wal");
                    placer.copy(&src, &rel, (seq == end_seq).then_some(end_len))?;
                }
                let marker = wdir.join(REPLAY_MARKER);
                if marker.exists() {
                    placer.copy(&marker, &format!("wal/{shard}/{REPLAY_MARKER}"), None)?;
                }
            }
            fs::create_dir_all(dest.join("blocks")).map_err(|e| Error::io(dest, e))?;
            (max != i64::MIN).then_some(max)
        };
        placer.finish(max_time, None, true)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

/// Reads the manifest of a complete snapshot: the marker must exist and hold the manifest's CRC32.
pub fn read_complete_manifest(dir: &Path) -> Result<Manifest> {
    let marker = dir.join(COMPLETE);
    let mpath = dir.join(MANIFEST);
    let want = match fs::read_to_string(&marker) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::corrupted(
                &marker,
                0,
                "no completion marker: the snapshot did not finish (or this is not a snapshot)",
            ));
        }
        Err(e) => return Err(Error::io(&marker, e)),
    };
    let bytes = fs::read(&mpath).map_err(|e| Error::io(&mpath, e))?;
    let got = format!("{:08x}", crc32fast::hash(&bytes));
    if want.trim() != got {
        return Err(Error::corrupted(
            &mpath,
            0,
            format!(
                "manifest checksum {got} does not match the completion marker's {}",
                want.trim()
            ),
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::corrupted(&mpath, 0, "manifest is not UTF-8"))?;
    Manifest::parse(&mpath, text)
}

/// The complete snapshots directly under `dir` (for [`copy`]'s and `Db::snapshot`'s reuse).
pub fn complete_snapshots(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(COMPLETE).is_file())
        .collect();
    out.sort();
    out
}

/// Copies the complete snapshot `src` to `dest` (which must not exist), checking every file
/// against the manifest: blocks are hard-linked when possible, else linked to an identical file of
/// a snapshot in `reuse_from`, else copied.
pub fn copy(src: &Path, dest: &Path, reuse_from: &[PathBuf]) -> Result<SnapshotInfo> {
    copy_files(src, dest, reuse_from, true)
}

fn copy_files(src: &Path, dest: &Path, reuse_from: &[PathBuf], seal: bool) -> Result<SnapshotInfo> {
    let manifest = read_complete_manifest(src)?;
    if dest.exists() {
        return Err(Error::InvalidArgument(format!(
            "copy target {} already exists",
            dest.display()
        )));
    }
    fs::create_dir_all(dest.join("blocks")).map_err(|e| Error::io(dest, e))?;
    let result = (|| {
        let mut placer = Placer::new(dest, reuse_from);
        for f in &manifest.files {
            let from = src.join(&f.path);
            if f.path.starts_with("blocks/") {
                placer.link(&from, &f.path)?;
            } else {
                // WAL segments are copied: recovery truncates a damaged tail in place.
                placer.copy(&from, &f.path, None)?;
            }
        }
        placer.finish(manifest.max_time, Some(&manifest), seal)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

/// How bad a problem found by [`verify`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Data is missing or wrong.
    Error,
    /// Expected after a crash and repaired by recovery (a torn WAL tail, an unfinished block).
    Warning,
}

/// One problem found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// The file concerned.
    pub path: PathBuf,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.offset {
            Some(o) => write!(f, "{level}: {} at offset {o}: {}", self.path.display(), self.reason),
            None => write!(f, "{level}: {}: {}", self.path.display(), self.reason),
        }
    }
}

/// What [`verify`] checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The directory is a snapshot (it has a manifest or a completion marker).
    pub snapshot: bool,
    /// Blocks verified (checksums and index).
    pub blocks: usize,
    /// WAL segments read.
    pub wal_segments: usize,
    /// WAL records whose checksum matched.
    pub wal_records: u64,
    /// Problems, at most [`MAX_PROBLEMS`].
    pub problems: Vec<Problem>,
    /// More problems were found than reported.
    pub truncated: bool,
}

impl VerifyReport {
    /// No problem of [`Severity::Error`].
    pub fn is_ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    fn push(&mut self, severity: Severity, path: &Path, offset: Option<u64>, reason: impl Into<String>) {
        if self.problems.len() >= MAX_PROBLEMS {
            self.truncated = true;
            return;
        }
        self.problems.push(Problem {
            severity,
            path: path.to_path_buf(),
            offset,
            reason: reason.into(),
        });
    }

    fn push_error(&mut self, e: Error) {
        match e {
            Error::Corrupted { path, offset, reason } => self.push(Severity::Error, &path, Some(offset), reason),
            Error::Io { path, source } => self.push(Severity::Error, &path, None, source.to_string()),
            other => self.push(Severity::Error, Path::new(""), None, other.to_string()),
        }
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(dir, e)),
    };
    out.sort();
    Ok(out)
}

/// Checks a snapshot or a data directory without changing it: the snapshot's marker, manifest and
/// every file's size and checksum; every block's checksums and index; every WAL record's checksum
/// (a torn tail of a data directory's WAL is a warning, as recovery truncates it; in a snapshot,
/// or followed by more records, it is an error). Reads only: safe on a running server's directory.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    if !dir.is_dir() {
        return Err(Error::InvalidArgument(format!("{} is not a directory", dir.display())));
    }
    let mut rep = VerifyReport {
        snapshot: dir.join(MANIFEST).exists() || dir.join(COMPLETE).exists(),
        ..VerifyReport::default()
    };
    if rep.snapshot {
        verify_manifest(dir, &mut rep)?;
    } else if !dir.join("blocks").is_dir() && !dir.join("wal").is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is neither a data directory (no blocks/ or wal/) nor a snapshot (no {MANIFEST})",
            dir.display()
        )));
    }
    for path in sorted_entries(&dir.join("blocks"))? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".tmp") {
            let sev = if rep.snapshot {
                Severity::Error
            } else {
                Severity::Warning
            };
            rep.push(sev, &path, None, "unfinished block write (recovery removes it)");
            continue;
        }
        if !name.ends_with(".block") {
            continue;
        }
        rep.blocks += 1;
        if let Err(e) = Block::open(&path) {
            rep.push_error(e);
        }
    }
    for shard in sorted_entries(&dir.join("wal"))? {
        if !shard.is_dir() {
            continue;
        }
        if let Err(e) = wal::legacy_until(&shard) {
            rep.push_error(e);
        }
        let segs = list_segments(&shard)?;
        for (k, &seq) in segs.iter().enumerate() {
            let path = segment_path(&shard, seq);
            let data = fs::read(&path).map_err(|e| Error::io(&path, e))?;
            rep.wal_segments += 1;
            let mut records = 0u64;
            let stop = wal::scan(&data, |_| records += 1);
            rep.wal_records += records;
            let Some(stop) = stop else { continue };
            let dropped = data.len() - stop.offset;
            let last = k + 1 == segs.len();
            let (severity, reason) = if stop.torn && !rep.snapshot {
                let what = if last {
                    "torn WAL tail"
                } else {
                    "torn end of a closed WAL segment"
                };
                let why = "a write cut short by a crash, recovery truncates it";
                (
                    Severity::Warning,
                    format!("{what} ({}; {dropped} bytes): {why}", stop.reason),
                )
            } else {
                let what = if stop.torn {
                    "torn record"
                } else {
                    "damaged record followed by more data"
                };
                let why = format!("the {dropped} bytes from here are lost to replay");
                (Severity::Error, format!("{what}: {}; {why}", stop.reason))
            };
            rep.push(severity, &path, Some(stop.offset as u64), reason);
        }
    }
    if !rep.snapshot {
        for q in sorted_entries(&dir.join("quarantine"))? {
            rep.push(Severity::Warning, &q, None, "block quarantined by an earlier recovery");
        }
    }
    Ok(rep)
}

/// The snapshot part of [`verify`]: marker, manifest, and every file against it.
fn verify_manifest(dir: &Path, rep: &mut VerifyReport) -> Result<()> {
    let manifest = match read_complete_manifest(dir) {
        Ok(m) => m,
        Err(e) => {
            rep.push_error(e);
            return Ok(());
        }
    };
    let mut listed: HashMap<PathBuf, ()> = HashMap::new();
    for f in &manifest.files {
        let path = dir.join(&f.path);
        listed.insert(path.clone(), ());
        match file_crc(&path, None) {
            Ok((size, _)) if size != f.size => rep.push(
                Severity::Error,
                &path,
                None,
                format!("size {size} bytes, the manifest says {}", f.size),
            ),
            Ok((_, crc)) if crc != f.crc32 => rep.push(
                Severity::Error,
                &path,
                None,
                format!("crc32 {crc:08x}, the manifest says {:08x}", f.crc32),
            ),
            Ok(_) => {}
            Err(e) => rep.push_error(e),
        }
    }
    let mut present = sorted_entries(&dir.join("blocks"))?;
    for shard in sorted_entries(&dir.join("wal"))? {
        present.extend(sorted_entries(&shard)?);
    }
    for p in present {
        if p.is_file() && !listed.contains_key(&p) {
            rep.push(Severity::Error, &p, None, "file not listed in the manifest");
        }
    }
    Ok(())
}

/// What [`restore`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// The data directory written.
    pub target: PathBuf,
    /// Files restored.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// A non-empty directory was replaced (with `force`).
    pub replaced: bool,
}

/// Restores the snapshot `src` into the data directory `target` of a stopped server.
///
/// The snapshot is verified first ([`verify`]; any error refuses it, naming the file). The target
/// must be missing or empty, unless `force` (then it is replaced whole, its `snapshots/` kept); a
/// locked target (a running server) is always refused. Files are placed in a hidden sibling
/// directory, fsynced, then renamed into place: a failed restore leaves the target as it was.
pub fn restore(src: &Path, target: &Path, force: bool) -> Result<RestoreReport> {
    let rep = verify(src)?;
    if !rep.snapshot {
        return Err(Error::InvalidArgument(format!(
            "{} is not a snapshot (no {MANIFEST}); restore takes a directory made by a snapshot or a backup",
            src.display()
        )));
    }
    if let Some(p) = rep.problems.iter().find(|p| p.severity == Severity::Error) {
        let more = rep.problems.iter().filter(|p| p.severity == Severity::Error).count() - 1;
        let also = if more > 0 {
            format!(" (and {more} more problems; run verify)")
        } else {
            String::new()
        };
        return Err(Error::corrupted(
            &p.path,
            p.offset.unwrap_or(0),
            format!("refusing to restore: {}{also}", p.reason),
        ));
    }
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::InvalidArgument(format!("bad target directory {}", target.display())))?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let _lock = lock_if_present(target)?;
    let non_empty = fs::read_dir(target).map(|mut rd| rd.next().is_some()).unwrap_or(false);
    if non_empty && !force {
        return Err(Error::InvalidArgument(format!(
            "target {} is not empty; stop the server and pass --force to replace it",
            target.display()
        )));
    }
    let pid = std::process::id();
    let staging = parent.join(format!(".{name}.restore-{pid}"));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let info = copy_files(src, &staging, &[], false)?;
    let swap = || -> Result<()> {
        if target.exists() {
            let aside = parent.join(format!(".{name}.replaced-{pid}"));
            fs::rename(target, &aside).map_err(|e| Error::io(target, e))?;
            fs::rename(&staging, target).map_err(|e| Error::io(target, e))?;
            // Snapshots taken of the old data stay with the directory.
            let snaps = aside.join("snapshots");
            if snaps.is_dir() {
                fs::rename(&snaps, target.join("snapshots")).map_err(|e| Error::io(&snaps, e))?;
            }
            sync_dir(&parent)?;
            fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
        } else {
            fs::rename(&staging, target).map_err(|e| Error::io(target, e))?;
        }
        sync_dir(&parent)
    };
    if let Err(e) = swap() {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(RestoreReport {
        target: target.to_path_buf(),
        files: info.files,
        bytes: info.bytes,
        replaced: non_empty,
    })
}

/// Takes the target's lock if it has one, refusing a directory a running server holds.
fn lock_if_present(target: &Path) -> Result<Option<File>> {
    let path = target.join("LOCK");
    if !path.exists() {
        return Ok(None);
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    if f.try_lock().is_err() {
        return Err(Error::Locked(target.to_path_buf()));
    }
    Ok(Some(f))
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
