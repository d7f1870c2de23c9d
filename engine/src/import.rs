//! Bulk import: a stream of text (a file, standard input) written into a [`Db`] by several
//! threads, with every rejected line reported by its line number in the stream.
//!
//! The reader thread cuts the stream into chunks of whole physical lines (about
//! [`ImportOptions::chunk_bytes`] each; a longer line makes a longer chunk) and numbers them; worker
//! threads decode each chunk in the [`Format`] given and write it with [`Db::write_lines_at`]. A
//! chunk's line numbers are offset by the lines before it, so a reported line number is the line's
//! number in the whole stream whatever the chunking. Chunks are written in no particular order:
//! where two lines give a sample of the same series at the same timestamp, which one wins is not
//! defined (within one chunk the later line wins, as for [`Db::write_lines`]).
//!
//! Durability is the database's: the import returns once every chunk was acknowledged according
//! to [`crate::Durability`]. The first write error stops the import; what was acknowledged stays.
//!
//! A new format plugs in as a [`Format`] variant with an arm in `write_chunk`, which turns one chunk
//! of whole lines into samples; compression belongs in the reader handed to [`import`] (e.g. a
//! gzip decoder wrapping the file), not here.
//!
//! ```
//! use foresight_engine::import::{ImportOptions, import};
//! use foresight_engine::{Db, Options, lineproto::Precision};
//!
//! # fn main() -> Result<(), foresight_engine::Error> {
//! # let dir = tempfile::tempdir().map_err(|e| foresight_engine::Error::InvalidArgument(e.to_string()))?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let body: &[u8] = b"cpu,host=a usage=1 1700000000\ncpu,host=a usage=oops 1700000010\n";
//! let opts = ImportOptions::new(Precision::Seconds);
//! let report = import(&db, body, &opts, |bad| eprintln!("stdin:{}: {}", bad.line, bad.reason))?;
//! assert_eq!((report.samples, report.lines, report.rejected), (1, 2, 1));
//! # Ok(())
//! # }
//! ```

use std::io::{BufRead, BufReader, Read};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::lineproto::Precision;
use crate::state::now_ms;
use crate::write::WriteReport;

/// The text format of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// InfluxDB line protocol (see [`crate::lineproto`]).
    #[default]
    LineProtocol,
}

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The text format.
    pub format: Format,
    /// Timestamp precision of the lines.
    pub precision: Precision,
    /// Worker threads writing chunks; 0 means the number of cores (at least 2).
    pub workers: usize,
    /// Target size of a chunk of whole lines handed to a worker.
    pub chunk_bytes: usize,
    /// Name of the stream in errors about reading it (e.g. the file's path, or `-`).
    pub source_name: String,
}

impl ImportOptions {
    /// Line protocol in `precision`, one worker per core, 4 MiB chunks.
    pub fn new(precision: Precision) -> Self {
        ImportOptions {
            format: Format::LineProtocol,
            precision,
            workers: 0,
            chunk_bytes: 4 << 20,
            source_name: "-".to_owned(),
        }
    }
}

/// A line the import rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// 1-based physical line number in the whole stream where the bad line starts.
    pub line: u64,
    /// What is wrong, and where in the line.
    pub reason: String,
}

/// What an import stored and rejected. Rejected lines are reported one by one to the callback of
/// [`import`] as they are found, not kept here (a large bad file would fill the memory).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Samples stored.
    pub samples: u64,
    /// Lines read: the accepted ones and the rejected ones (blank and comment lines not counted).
    pub lines: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// String fields seen and skipped (foresight stores numbers only).
    pub string_fields_skipped: u64,
}

/// Sums reports, e.g. of several files.
impl std::ops::AddAssign for ImportReport {
    fn add_assign(&mut self, other: ImportReport) {
        self.samples += other.samples;
        self.lines += other.lines;
        self.rejected += other.rejected;
        self.string_fields_skipped += other.string_fields_skipped;
    }
}

/// Imports everything `reader` yields into `db`, calling `on_rejected` (from the worker threads)
/// for each rejected line; the good lines are stored. Lines without a timestamp get the time the
/// import started. Errors are reading errors (an [`Error::Io`] naming
/// [`ImportOptions::source_name`]) and write errors; the data acknowledged before stays.
pub fn import<R: Read>(
    db: &Db,
    reader: R,
    opts: &ImportOptions,
    on_rejected: impl Fn(&RejectedLine) + Sync,
) -> Result<ImportReport> {
    let chunk_bytes = opts.chunk_bytes.max(1);
    let workers = match opts.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
        n => n,
    };
    let default_ms = now_ms();
    let mut reader = BufReader::with_capacity(chunk_bytes.min(1 << 20), reader);
    let (tx, rx) = crossbeam_channel::bounded::<(u64, Vec<u8>)>(4);
    // Chunk buffers go back to the reader for reuse (fresh 4 MiB buffers cost page faults).
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let on_rejected = &on_rejected;
    std::thread::scope(|s| -> Result<ImportReport> {
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let rx = rx.clone();
            let free_tx = free_tx.clone();
            handles.push(s.spawn(move || -> Result<ImportReport> {
                let mut total = ImportReport::default();
                for (first_line, chunk) in rx {
                    let r = write_chunk(db, opts, &chunk, default_ms)?;
                    for e in &r.rejected {
                        on_rejected(&RejectedLine {
                            line: first_line + e.line as u64 - 1,
                            reason: e.reason.clone(),
                        });
                    }
                    total += ImportReport {
                        samples: r.samples_accepted,
                        lines: r.lines_accepted + r.rejected.len() as u64,
                        rejected: r.rejected.len() as u64,
                        string_fields_skipped: r.string_fields_skipped,
                    };
                    let _ = free_tx.send(chunk);
                }
                Ok(total)
            }));
        }
        drop(rx);
        let read = read_chunks(&mut reader, chunk_bytes, &free_rx, |first_line, chunk| {
            // A closed channel means every worker stopped on an error: reported below.
            tx.send((first_line, chunk)).is_ok()
        });
        drop(tx);
        let mut total = ImportReport::default();
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(r)) => total += r,
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                // A worker's panic is a bug: pass it on.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        read.map_err(|e| Error::io(&opts.source_name, e))?;
        Ok(total)
    })
}

/// Cuts the stream into chunks of whole lines of about `chunk_bytes`, handing each with the number of
/// its first line to `send` until it returns false or the stream ends.
fn read_chunks(
    reader: &mut impl BufRead,
    chunk_bytes: usize,
    free: &crossbeam_channel::Receiver<Vec<u8>>,
    mut send: impl FnMut(u64, Vec<u8>) -> bool,
) -> std::io::Result<()> {
    let mut line_no = 1u64;
    loop {
        let mut chunk = free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(chunk_bytes.saturating_add(4096)));
        chunk.clear();
        let mut lines = 0u64;
        while chunk.len() < chunk_bytes {
            if reader.read_until(b'\n', &mut chunk)? == 0 {
                break;
            }
            lines += 1;
        }
        if lines == 0 || !send(line_no, chunk) {
            return Ok(());
        }
        line_no += lines;
    }
}

/// Decodes and writes one chunk of whole lines; the rejected lines are numbered from 1 in the chunk.
fn write_chunk(db: &Db, opts: &ImportOptions, chunk: &[u8], default_ms: i64) -> Result<WriteReport> {
    match opts.format {
        Format::LineProtocol => db.write_lines_at(chunk, opts.precision, default_ms),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::model::LabelMatcher;
    use crate::options::{Durability, Options};

    /// A reader that returns at most `step` bytes a call, like a pipe.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// 500 lines: every 7th is bad, every 50th blank, the rest good with distinct timestamps.
    fn body() -> (Vec<u8>, Vec<u64>, usize) {
        let mut body = Vec::new();
        let mut bad = Vec::new();
        let mut good = 0;
        for i in 1..=500u64 {
            if i % 50 == 0 {
                body.extend_from_slice(b"\n");
            } else if i % 7 == 0 {
                body.extend_from_slice(format!("cpu,host=a usage=nope{i} {i}\n").as_bytes());
                bad.push(i);
            } else {
                let host = if i % 2 == 0 { "a" } else { "bb" };
                body.extend_from_slice(format!("cpu,host={host} usage={i},note=\"x\" {i}\n").as_bytes());
                good += 1;
            }
        }
        // The last line has no newline, as a file may end.
        body.extend_from_slice(b"cpu,host=a usage=9 501");
        (body, bad, good + 1)
    }

    fn open(dir: &tempfile::TempDir) -> Db {
        // No fsync: the one-line chunks below would cost an fsync each.
        let opts = Options {
            durability: Durability::None,
            ..Options::default()
        };
        Db::open(dir.path(), opts).unwrap()
    }

    fn run(reader: impl Read, chunk_bytes: usize, workers: usize) -> (ImportReport, Vec<u64>, BTreeMap<i64, f64>) {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut opts = ImportOptions::new(Precision::Milliseconds);
        opts.chunk_bytes = chunk_bytes;
        opts.workers = workers;
        let rejected = Mutex::new(Vec::new());
        let report = import(&db, reader, &opts, |r| rejected.lock().unwrap().push(r.line)).unwrap();
        let mut lines = rejected.into_inner().unwrap();
        lines.sort_unstable();
        let mut samples = BTreeMap::new();
        for s in db
            .select(&[LabelMatcher::equal("__name__", "cpu_usage")], i64::MIN, i64::MAX)
            .unwrap()
        {
            samples.extend(s.samples);
        }
        db.close().unwrap();
        (report, lines, samples)
    }

    #[test]
    fn line_numbers_are_the_streams_whatever_the_chunking() {
        let (body, bad, good) = body();
        // One chunk; chunks of a few lines (boundaries fall inside lines: a chunk is completed to the
        // end of its line); one line a chunk; each through a reader that returns 3 bytes at a time.
        for chunk_bytes in [1 << 20, 100, 1] {
            for (name, (report, lines, samples)) in [
                ("slice", run(&body[..], chunk_bytes, 3)),
                ("trickle", run(Trickle { data: &body, step: 3 }, chunk_bytes, 2)),
            ] {
                let ctx = format!("{name}, chunks of {chunk_bytes} bytes");
                assert_eq!(lines, bad, "{ctx}");
                assert_eq!(
                    report,
                    ImportReport {
                        samples: good as u64,
                        lines: (good + bad.len()) as u64,
                        rejected: bad.len() as u64,
                        string_fields_skipped: good as u64 - 1,
                    },
                    "{ctx}"
                );
                assert_eq!(samples.len(), good, "{ctx}");
                assert_eq!(samples.get(&1), Some(&1.0), "{ctx}");
                assert_eq!(samples.get(&499), Some(&499.0), "{ctx}");
                assert_eq!(samples.get(&501), Some(&9.0), "{ctx}");
            }
        }
    }

    #[test]
    fn read_errors_name_the_source() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut opts = ImportOptions::new(Precision::Seconds);
        opts.source_name = "metrics.lp".into();
        let err = import(&db, Broken, &opts, |_| {}).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path, .. } if path.as_os_str() == "metrics.lp"),
            "{err}"
        );
        db.close().unwrap();
    }

    #[test]
    fn an_empty_stream_imports_nothing() {
        let (report, lines, samples) = run(&b""[..], 16, 0);
        assert_eq!(report, ImportReport::default());
        assert!(lines.is_empty() && samples.is_empty());
    }
}
