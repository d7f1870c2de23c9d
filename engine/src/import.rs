//! Bulk import: a stream of text (a file, standard input) written into a [`Db`] by several
//! threads, with every rejected line reported by its line number in the stream.
//!
//! The reader thread cuts the stream into chunks of whole records (about
//! [`ImportOptions::chunk_bytes`] each; a longer record makes a longer chunk) and numbers them;
//! worker threads decode each chunk in the [`Format`] given and write it: line protocol with
//! [`Db::write_lines_at`], OpenMetrics and CSV as a [`SampleBatch`] with [`Db::write_samples`]. A
//! record is a physical line, except in CSV where a quoted field may hold line ends; a CSV chunk
//! also carries its table's header (and annotations), which the reader thread follows. A
//! chunk's line numbers are offset by the lines before it, so a reported line number is the line's
//! number in the whole stream whatever the chunking. Chunks are written in no particular order:
//! where two lines give a sample of the same series at the same timestamp, which one wins is not
//! defined (within one chunk the later line wins, as for [`Db::write_lines`]).
//!
//! Durability is the database's: the import returns once every chunk was acknowledged according
//! to [`crate::Durability`]. The first write error stops the import; what was acknowledged stays.
//!
//! Timestamps are in [`ImportOptions::precision`] for every format; fractions are allowed in
//! OpenMetrics and in CSV's unix times. OpenMetrics files (and `promtool tsdb create-blocks-from
//! openmetrics`) use seconds; the older Prometheus text format used milliseconds.
//!
//! A new format plugs in as a [`Format`] variant with an arm in `write_chunk`, which turns one chunk
//! of whole records into samples; compression belongs in the reader handed to [`import`] (e.g. a
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

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

pub use crate::csv::CsvColumns;
use crate::csv::{self, Tables};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::lineproto::{LineError, Precision, float_to_millis};
use crate::model::{Labels, METRIC_NAME};
use crate::openmetrics;
use crate::state::now_ms;
use crate::write::{SampleBatch, SeriesRef};

/// The text format of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// InfluxDB line protocol (see [`crate::lineproto`]).
    #[default]
    LineProtocol,
    /// OpenMetrics or the Prometheus text exposition format (see [`crate::openmetrics`]).
    OpenMetrics,
    /// CSV: InfluxDB's annotated CSV, or plain CSV with the columns of [`ImportOptions::csv`].
    Csv,
}

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The text format.
    pub format: Format,
    /// Unit of the timestamps (and of CSV's unix times).
    pub precision: Precision,
    /// The columns of a plain CSV file (empty: annotated CSV).
    pub csv: CsvColumns,
    /// Worker threads writing chunks; 0 means the number of cores (at least 2).
    pub workers: usize,
    /// Target size of a chunk of whole lines handed to a worker.
    pub chunk_bytes: usize,
    /// Name of the stream in errors about reading it (e.g. the file's path, or `-`).
    pub source_name: String,
    /// The tenant whose series the import writes (`None`: the default tenant), as a server
    /// stores a tenant token's writes: the engine adds [`crate::TENANT_LABEL`], and a line with
    /// its own `__tenant__` label is rejected.
    pub tenant: Option<String>,
}

impl ImportOptions {
    /// Line protocol in `precision`, one worker per core, 4 MiB chunks.
    pub fn new(precision: Precision) -> Self {
        ImportOptions {
            format: Format::LineProtocol,
            precision,
            csv: CsvColumns::default(),
            workers: 0,
            chunk_bytes: 4 << 20,
            source_name: "-".to_owned(),
            tenant: None,
        }
    }
}

/// Receives what an import finds, from its worker threads.
pub trait ImportObserver: Sync {
    /// A rejected line.
    fn rejected(&self, line: &RejectedLine);
    /// A chunk was written: what it stored and rejected (e.g. for a progress display).
    fn chunk_done(&self, _chunk: &ImportReport) {}
}

/// An observer of the rejected lines only.
struct OnRejected<F>(F);

impl<F: Fn(&RejectedLine) + Sync> ImportObserver for OnRejected<F> {
    fn rejected(&self, line: &RejectedLine) {
        (self.0)(line)
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
/// for each rejected line; the good lines are stored. See [`import_observed`] to follow progress.
pub fn import<R: Read>(
    db: &Db,
    reader: R,
    opts: &ImportOptions,
    on_rejected: impl Fn(&RejectedLine) + Sync,
) -> Result<ImportReport> {
    import_observed(db, reader, opts, &OnRejected(on_rejected))
}

/// Imports everything `reader` yields into `db`, telling `observer` (from the worker threads)
/// of each rejected line and each chunk written; the good lines are stored. Lines without a timestamp get the time the
/// import started. Errors are reading errors (an [`Error::Io`] naming
/// [`ImportOptions::source_name`]) and write errors; the data acknowledged before stays.
pub fn import_observed<R: Read>(
    db: &Db,
    reader: R,
    opts: &ImportOptions,
    observer: &impl ImportObserver,
) -> Result<ImportReport> {
    let chunk_bytes = opts.chunk_bytes.max(1);
    let workers = match opts.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
        n => n,
    };
    let default_ms = now_ms();
    let mut reader = BufReader::with_capacity(chunk_bytes.min(1 << 20), reader);
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(4);
    // Chunk buffers go back to the reader for reuse (fresh 4 MiB buffers cost page faults).
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    std::thread::scope(|s| -> Result<ImportReport> {
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let rx = rx.clone();
            let free_tx = free_tx.clone();
            handles.push(s.spawn(move || -> Result<ImportReport> {
                let mut total = ImportReport::default();
                let mut batch = SampleBatch::for_tenant(opts.tenant.as_deref());
                for chunk in rx {
                    let r = write_chunk(db, opts, &chunk, default_ms, &mut batch)?;
                    for e in &r.rejected {
                        observer.rejected(&RejectedLine {
                            line: chunk.first_line + e.line as u64 - 1,
                            reason: e.reason.clone(),
                        });
                    }
                    let r = ImportReport {
                        samples: r.samples,
                        lines: r.lines,
                        rejected: r.rejected.len() as u64,
                        string_fields_skipped: r.string_fields_skipped,
                    };
                    observer.chunk_done(&r);
                    total += r;
                    let _ = free_tx.send(chunk.data);
                }
                Ok(total)
            }));
        }
        drop(rx);
        let csv = (opts.format == Format::Csv).then(|| Tables::new(opts.csv.values.is_empty()));
        let read = read_chunks(&mut reader, chunk_bytes, csv, &free_rx, |chunk| {
            // A closed channel means every worker stopped on an error: reported below.
            tx.send(chunk).is_ok()
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

/// A chunk of whole records.
struct Chunk {
    /// The number of its first line in the stream.
    first_line: u64,
    data: Vec<u8>,
    /// CSV: the table structure at the chunk's start.
    tables: Arc<Tables>,
}

/// Cuts the stream into chunks of whole records of about `chunk_bytes`, handing each to `send`
/// until it returns false or the stream ends. With `csv`, a record runs on while a quote is open,
/// and the table structure is followed to give each chunk its preamble.
fn read_chunks(
    reader: &mut impl BufRead,
    chunk_bytes: usize,
    mut csv: Option<Tables>,
    free: &crossbeam_channel::Receiver<Vec<u8>>,
    mut send: impl FnMut(Chunk) -> bool,
) -> std::io::Result<()> {
    let mut line_no = 1u64;
    let mut at = Arc::new(csv.clone().unwrap_or_default());
    loop {
        let mut chunk = free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(chunk_bytes.saturating_add(4096)));
        chunk.clear();
        let mut lines = 0u64;
        let start = Arc::clone(&at);
        while chunk.len() < chunk_bytes {
            let record = chunk.len();
            if reader.read_until(b'\n', &mut chunk)? == 0 {
                break;
            }
            lines += 1;
            let Some(tables) = csv.as_mut() else { continue };
            // Quotes come in pairs ("" is an escaped quote): an odd count leaves a field open.
            let mut quotes = chunk[record..].iter().filter(|&&c| c == b'"').count();
            while !quotes.is_multiple_of(2) {
                let from = chunk.len();
                if reader.read_until(b'\n', &mut chunk)? == 0 {
                    break;
                }
                lines += 1;
                quotes += chunk[from..].iter().filter(|&&c| c == b'"').count();
            }
            if tables.feed(&chunk[record..]) != csv::Kind::Data {
                at = Arc::new(tables.clone());
            }
        }
        if lines == 0 {
            return Ok(());
        }
        let sent = send(Chunk {
            first_line: line_no,
            data: chunk,
            tables: start,
        });
        if !sent {
            return Ok(());
        }
        line_no += lines;
    }
}

/// What a chunk gave; rejected lines are numbered from 1 in the chunk.
struct ChunkReport {
    samples: u64,
    lines: u64,
    string_fields_skipped: u64,
    rejected: Vec<LineError>,
}

/// Decodes and writes one chunk of whole records; `batch` is the worker's, reused.
fn write_chunk(
    db: &Db,
    opts: &ImportOptions,
    chunk: &Chunk,
    default_ms: i64,
    batch: &mut SampleBatch,
) -> Result<ChunkReport> {
    batch.clear();
    let mut rejected = Vec::new();
    let mut lines = 0;
    let mut strings = 0;
    match opts.format {
        Format::LineProtocol => {
            let r = db.write_lines_for(opts.tenant.as_deref(), None, &chunk.data, opts.precision, default_ms)?;
            return Ok(ChunkReport {
                samples: r.samples_accepted,
                lines: r.lines_accepted + r.rejected.len() as u64,
                string_fields_skipped: r.string_fields_skipped,
                rejected: r.rejected,
            });
        }
        Format::OpenMetrics => {
            let mut series: HashMap<&str, SeriesRef> = HashMap::new();
            for (i, line) in chunk.data.split(|&c| c == b'\n').enumerate() {
                let sample = std::str::from_utf8(line)
                    .map_err(|_| "invalid UTF-8".to_owned())
                    .and_then(openmetrics::parse_line);
                let line_no = i + 1;
                match sample {
                    Ok(None) => continue,
                    Ok(Some(s)) => {
                        lines += 1;
                        if let Err(reason) = push_sample(&s, opts.precision, default_ms, line_no, &mut series, batch) {
                            rejected.push(LineError { line: line_no, reason });
                        }
                    }
                    Err(reason) => {
                        lines += 1;
                        rejected.push(LineError { line: line_no, reason });
                    }
                }
            }
        }
        Format::Csv => {
            let mut decoder = csv::Decoder::new(&opts.csv, opts.precision, &chunk.tables);
            csv::for_each_record(&chunk.data, |line_no, record| {
                match record
                    .map_err(|_| "invalid UTF-8".to_owned())
                    .and_then(|r| decoder.record(r, line_no, batch))
                {
                    Ok(csv::Row::Skipped) => {}
                    Ok(csv::Row::Data { strings: n }) => {
                        lines += 1;
                        strings += n;
                    }
                    Err(reason) => {
                        lines += 1;
                        rejected.push(LineError { line: line_no, reason });
                    }
                }
            });
        }
    }
    let r = db.write_samples(batch)?;
    rejected.extend(r.rejected);
    rejected.sort_by_key(|e| e.line);
    Ok(ChunkReport {
        samples: r.samples_accepted,
        lines,
        string_fields_skipped: strings,
        rejected,
    })
}

/// Adds one OpenMetrics sample to `batch`, looking its series up by its text.
fn push_sample<'a>(
    s: &openmetrics::Sample<'a>,
    precision: Precision,
    default_ms: i64,
    line: usize,
    series: &mut HashMap<&'a str, SeriesRef>,
    batch: &mut SampleBatch,
) -> std::result::Result<(), String> {
    let t = match s.timestamp {
        None => default_ms,
        Some(t) => float_to_millis(t, precision).ok_or_else(|| format!("timestamp {t} out of range"))?,
    };
    let id = match series.get(s.series) {
        Some(id) => *id,
        None => {
            let labels = Labels::new(
                std::iter::once((METRIC_NAME, s.name)).chain(s.labels.iter().map(|(k, v)| (*k, v.as_ref()))),
            );
            if s.labels.iter().any(|(k, _)| *k == METRIC_NAME) {
                return Err("label __name__ is reserved for the metric name".to_owned());
            }
            let id = batch.add_series(&labels).map_err(|e| e.to_string())?;
            series.insert(s.series, id);
            id
        }
    };
    batch.push(id, t, s.value, line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::lineproto::unix_to_millis;
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

    /// The report, the rejected lines as `line: reason`, and every series as `labels -> samples`.
    type Imported = (ImportReport, Vec<String>, BTreeMap<String, Vec<(i64, f64)>>);

    /// Imports `body` with `opts` in chunks of `chunk_bytes`: the report, the rejected lines as
    /// `line: reason`, and every series as `labels -> samples`.
    fn import_all(body: &[u8], mut opts: ImportOptions, chunk_bytes: usize) -> Imported {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        opts.chunk_bytes = chunk_bytes;
        opts.workers = 2;
        let rejected = Mutex::new(Vec::new());
        let report = import(&db, body, &opts, |r: &RejectedLine| {
            rejected.lock().unwrap().push((r.line, r.reason.clone()))
        })
        .unwrap();
        let mut lines = rejected.into_inner().unwrap();
        lines.sort();
        let series = db
            .select(
                &[crate::model::matcher(crate::model::MatchOp::RegexMatch, "__name__", ".+").unwrap()],
                i64::MIN,
                i64::MAX,
            )
            .unwrap()
            .into_iter()
            .map(|s| (s.labels.to_string(), s.samples))
            .collect();
        db.close().unwrap();
        (
            report,
            lines.into_iter().map(|(l, r)| format!("{l}: {r}")).collect(),
            series,
        )
    }

    /// Runs `import_all` in one chunk and in one-record chunks, checks both give the same, and
    /// returns it.
    fn import_chunked(body: &[u8], opts: ImportOptions) -> Imported {
        let whole = import_all(body, opts.clone(), 1 << 20);
        let small = import_all(body, opts, 1);
        // The import time of samples without one differs, and NaN is not equal to itself.
        let shape = |r: &Imported| {
            let sizes: Vec<(String, usize)> = r.2.iter().map(|(k, v)| (k.clone(), v.len())).collect();
            (r.0, r.1.clone(), sizes)
        };
        assert_eq!(shape(&whole), shape(&small), "one chunk vs one record a chunk");
        whole
    }

    const OPENMETRICS: &str = r#"# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/a \"q\" \\ \n"} 1027 1700000000
http_requests_total{code="200",path="/a \"q\" \\ \n"} 1.5e3 1700000010.25
rpc_seconds_bucket{le="+Inf"} +Inf 1700000000
rpc_seconds_bucket{le="0.1"} NaN 1700000000
rpc_seconds_sum -Inf 1700000000
rpc_seconds_count 3 1700000000 # {trace_id="x"} 1 1700000000
up 1
bad{a="1",a="2"} 1 1700000000
bad{a="\t"} 1 1700000000
bad 1 1700000000 extra
# TYPE x nonsense
bad{__name__="x"} 1 1700000000
ahead 1 99999999999
# EOF
"#;

    #[test]
    fn openmetrics_samples_are_stored_under_their_names_and_bad_lines_reported() {
        let mut opts = ImportOptions::new(Precision::Seconds);
        opts.format = Format::OpenMetrics;
        let before = now_ms();
        let (report, rejected, series) = import_chunked(OPENMETRICS.as_bytes(), opts);
        assert_eq!(
            rejected,
            [
                "10: duplicate label \"a\" at column 11",
                "11: invalid escape sequence at column 8",
                "12: unexpected text at column 18",
                "13: unknown metric type \"nonsense\"",
                "14: label __name__ is reserved for the metric name",
                "15: sample at 99999999999000 ms is more than 3600000 ms ahead of the server clock",
            ]
            .map(String::from)
        );
        assert_eq!((report.samples, report.lines, report.rejected), (7, 13, 6));
        let path = r#"http_requests_total{code="200", path="/a \"q\" \\ \n"}"#;
        assert_eq!(series[path], [(1_700_000_000_000, 1027.0), (1_700_000_010_250, 1500.0)]);
        assert_eq!(
            series["rpc_seconds_bucket{le=\"+Inf\"}"],
            [(1_700_000_000_000, f64::INFINITY)]
        );
        assert!(series["rpc_seconds_bucket{le=\"0.1\"}"][0].1.is_nan());
        assert_eq!(series["rpc_seconds_sum"], [(1_700_000_000_000, f64::NEG_INFINITY)]);
        assert_eq!(series["rpc_seconds_count"], [(1_700_000_000_000, 3.0)]);
        // Without a timestamp: the time the import started.
        let (t, v) = series["up"][0];
        assert!(t >= before && t <= now_ms() && v == 1.0, "{t}");
        // Milliseconds, as the older text format has them.
        let mut opts = ImportOptions::new(Precision::Milliseconds);
        opts.format = Format::OpenMetrics;
        let (_, _, series) = import_all(b"m 1 1700000000123\n", opts, 1 << 20);
        assert_eq!(series["m"], [(1_700_000_000_123, 1.0)]);
    }

    const ANNOTATED: &str = "\
#group,false,false,true,true,false,false,true,true,true
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string
#default,_result,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,host
,,0,2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,2023-11-14T00:00:00Z,1.5,usage,cpu,a
,,0,2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,2023-11-14T00:00:10.5Z,2.5,usage,cpu,a
,,1,2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,2023-11-14T00:00:00Z,oops,usage,cpu,b
,,1,2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,yesterday,1,usage,cpu,b
,,1,2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,2023-11-14T00:00:00Z,1,usage,cpu

#group,false,false,true,true,false,false,true,true,true
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,string,string
#default,_result,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,host
,,2,2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,2023-11-14T00:00:00Z,hello,msg,log,\"a,b\"

,result,table,_time,_value,_field,_measurement,\"dc\"
,,3,2023-11-14T00:00:00Z,7,free,mem,\"eu \"\"west\"\"\"
";

    #[test]
    fn annotated_csv_tables_become_measurement_field_series() {
        let mut opts = ImportOptions::new(Precision::Seconds);
        opts.format = Format::Csv;
        let (report, rejected, series) = import_chunked(ANNOTATED.as_bytes(), opts);
        assert_eq!(
            rejected,
            [
                "7: invalid value \"oops\" in column 7",
                "8: invalid time \"yesterday\" in column 6",
                "9: 9 fields where the header has 10",
            ]
            .map(String::from)
        );
        assert_eq!(
            (
                report.samples,
                report.lines,
                report.rejected,
                report.string_fields_skipped
            ),
            (3, 7, 3, 1)
        );
        assert_eq!(
            series["cpu_usage{host=\"a\"}"],
            [(1_699_920_000_000, 1.5), (1_699_920_010_500, 2.5)]
        );
        assert_eq!(series["mem_free{dc=\"eu \\\"west\\\"\"}"], [(1_699_920_000_000, 7.0)]);
        assert_eq!(series.len(), 2);
    }

    #[test]
    fn plain_csv_columns_are_named_by_the_options() {
        let body = "\
time,host,\"dc\",cpu,mem
1700000000,a,eu,1.5,10
1700000010,\"b,c\",\"us \"\"east\"\"\",2,
2023-11-14T00:00:00Z,a,eu,3,30
1700000020,a,eu,x,1
1700000030,a,eu,1,2,3
1700000040,a,\"e\"u,1,2
1700000050,\"a
b\",eu,6,

1700000060,a,eu,5,50
";
        let mut opts = ImportOptions::new(Precision::Seconds);
        opts.format = Format::Csv;
        opts.csv = CsvColumns::plain(
            "time",
            vec!["cpu".into(), "mem".into()],
            vec!["host".into(), "dc".into()],
            Some("node".into()),
        );
        let (report, rejected, series) = import_chunked(body.as_bytes(), opts.clone());
        assert_eq!(
            rejected,
            [
                "5: invalid value \"x\" in column 4",
                "6: 6 fields where the header has 5",
                "7: expected ',' after the quoted field at column 17",
            ]
            .map(String::from)
        );
        assert_eq!((report.samples, report.lines, report.rejected), (8, 8, 3));
        assert_eq!(
            series["node_cpu{dc=\"eu\", host=\"a\"}"],
            [
                (1_699_920_000_000, 3.0),
                (1_700_000_000_000, 1.5),
                (1_700_000_060_000, 5.0)
            ]
        );
        assert_eq!(
            series["node_cpu{dc=\"us \\\"east\\\"\", host=\"b,c\"}"],
            [(1_700_000_010_000, 2.0)]
        );
        assert_eq!(series["node_mem{dc=\"eu\", host=\"a\"}"].len(), 3);
        // A quoted field over two lines, numbered by its first (see the rejected line 7 above).
        assert_eq!(
            series["node_cpu{dc=\"eu\", host=\"a\\nb\"}"],
            [(1_700_000_050_000, 6.0)]
        );
        // A missing column makes the header wrong, and every row after it.
        opts.csv.time = "ts".into();
        let (report, rejected, _) = import_all(b"time,cpu\n1,2\n", opts, 1 << 20);
        assert_eq!(
            rejected,
            [
                "1: bad header: no column \"mem\"",
                "2: no usable header row (no column \"mem\")"
            ]
            .map(String::from)
        );
        assert_eq!(report.samples, 0);
    }

    #[test]
    fn unix_times_take_fractions_in_any_precision() {
        assert_eq!(
            unix_to_millis("1700000000", Precision::Seconds),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            unix_to_millis("1700000000.0015", Precision::Seconds),
            Some(1_700_000_000_002)
        );
        assert_eq!(
            unix_to_millis("1700000000123456789", Precision::Nanoseconds),
            Some(1_700_000_000_123)
        );
        assert_eq!(unix_to_millis("1e400", Precision::Seconds), None);
        assert_eq!(unix_to_millis("soon", Precision::Seconds), None);
        assert_eq!(float_to_millis(f64::NAN, Precision::Seconds), None);
    }
}
