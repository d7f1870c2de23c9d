//! # foresight-engine
//!
//! The storage engine of foresight, an embedded time-series database. Usable in-process as a
//! library, like SQLite: open a directory, write InfluxDB line protocol, read series back.
//!
//! - **Data model**: a line `cpu,host=a usage_user=1.5 <ts>` becomes the series
//!   `cpu_usage_user{host="a"}` (Prometheus style), with samples `(milliseconds, f64)`. Integer,
//!   unsigned and boolean fields become floats; string fields are counted and skipped. A second
//!   sample at the same timestamp replaces the first.
//! - **Writes** are parsed in the caller's thread, routed by series hash to one writer thread per
//!   shard, appended to that shard's WAL and applied to the in-memory head. With the default
//!   [`Durability::Fsync`] a write returns only after its WAL records are fsynced (one fsync serves
//!   every batch waiting for it). Bad lines are reported with their line number and reason; the
//!   good lines of the same body are stored.
//! - **Reads** see every write acknowledged before they started and never block a writer.
//! - **Blocks**: time is cut into partitions (2 h by default). Once a partition is older than the
//!   out-of-order window it is written as an immutable, checksummed, columnar block file, read
//!   through `mmap`; then the WAL segments holding it are deleted. Values that are short decimals
//!   are stored as scaled integers (see [`column`]); everything else round-trips bit for bit.
//! - **Backups**: [`Db::snapshot`] takes an online, consistent snapshot (hard links to the blocks,
//!   the WAL up to a record boundary, a checksummed manifest); [`snapshot`] verifies and restores.
//! - **Recovery**: on open, blocks are verified (a bad one is moved to `quarantine/` and reported),
//!   the WAL is replayed, and a torn or corrupted WAL tail is truncated and reported
//!   ([`Db::open_report`]).
//!
//! ```
//! use foresight_engine::{Db, LabelMatcher, Options, lineproto::Precision};
//!
//! # fn main() -> Result<(), foresight_engine::Error> {
//! let dir = tempfile::tempdir().map_err(|e| foresight_engine::Error::InvalidArgument(e.to_string()))?;
//! let db = Db::open(dir.path(), Options::default())?;
//!
//! let body = b"cpu,host=a usage_user=1.5 1700000000000\n\
//!              cpu,host=a usage_user=oops 1700000010000\n\
//!              cpu,host=a usage_user=2.5 1700000010000\n";
//! let report = db.write_lines(body, Precision::Milliseconds)?;
//! assert_eq!(report.samples_accepted, 2);
//! assert_eq!(report.rejected[0].line, 2); // with the reason in report.rejected[0].reason
//!
//! let series = db.select(&[LabelMatcher::equal("__name__", "cpu_usage_user")], i64::MIN, i64::MAX)?;
//! assert_eq!(series[0].labels.get("host"), Some("a"));
//! assert_eq!(series[0].samples, vec![(1_700_000_000_000, 1.5), (1_700_000_010_000, 2.5)]);
//!
//! db.flush()?; // write the head to blocks now (normally done in the background)
//! db.close()?;
//! # Ok(())
//! # }
//! ```

pub mod chunk;
pub mod column;
pub mod gorilla;
pub mod import;
pub mod lineproto;
pub mod openmetrics;
pub mod snapshot;
pub mod wal_tail;

mod admission;
mod block;
#[cfg(test)]
mod codec_testkit;
mod compaction;
mod csv;
mod db;
mod error;
mod flush;
mod format;
mod head;
mod latency;
mod mmap;
mod model;
mod options;
mod postings;
mod query;
mod read;
mod recovery;
mod retention;
mod rollup;
mod shard;
mod state;
mod tenant;
mod wal;
mod write;

/// PromQL evaluation; [`Db`] implements its [`promql::Storage`] trait.
pub use foresight_promql as promql;

pub use block::BlockInfo;
pub use db::{Db, Stats};
pub use error::{Error, Result};
/// The quantile sketch of the rollups.
pub use foresight_sketch as sketch;
pub use latency::{LATENCY_BUCKETS, LatencyHistogram, LatencySnapshot};
pub use model::{Label, LabelMatcher, Labels, METRIC_NAME, MatchOp, Series, matcher, parse_selector};
pub use options::{Durability, Options, RetentionRule};
pub use recovery::OpenReport;
pub use rollup::{RESOLUTIONS as ROLLUP_RESOLUTIONS, RollupSelection, RollupSeries, Window as RollupWindow};
pub use tenant::{Admission, TENANT_LABEL, TENANT_LABEL_RESERVED, TenantView};
pub use wal::WalDamage;
pub use write::{SampleBatch, SeriesRef, WriteReport};
