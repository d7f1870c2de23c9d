//! # foresight-loadgen
//!
//! The capacity-planning tools of foresight: `foresight bench` and `foresight plan`.
//!
//! - **Workload** ([`WorkloadSpec`], [`Generator`]): a seeded, deterministic stream of InfluxDB line
//!   protocol shaped like TSBS "cpu-only" (the same shape as the peers harness's `gen.py`), with
//!   optional "devops" counters and classic histograms, host churn and out-of-order rows. Batches
//!   are generated on the fly, fast enough not to be the bottleneck.
//! - **Driver** ([`ingest`]): N writer threads POSTing batches to `/write` or `/api/v2/write`, with
//!   optional concurrent queries from the standard set ([`standard_queries`]), bounded by the data,
//!   a time limit and a batch count. Targets must be on loopback unless explicitly allowed
//!   ([`Target::parse`]).
//! - **Report** ([`Report`]): samples/s, write latency percentiles, per-query latencies, errors, and
//!   for a server we can see (`--pid`, `--data-dir`, its `/metrics`) bytes per sample on disk,
//!   memory per active series and CPU seconds per million samples.
//! - **Plan** ([`plan()`]): disk, memory and cores for a workload from [`Constants`] measured by a
//!   bench run.
//!
//! ```
//! use foresight_loadgen::{Generator, WorkloadSpec};
//!
//! let spec = WorkloadSpec { hosts: 2, duration_ms: 60_000, ..WorkloadSpec::default() };
//! let mut generator = Generator::new(&spec).unwrap();
//! let mut body = Vec::new();
//! let batch = generator.fill(&mut body, 5000);
//! assert_eq!(batch.lines, 2 * 6); // 2 hosts x 6 ticks of 10 s
//! assert_eq!(batch.samples, 2 * 6 * 10);
//! assert!(body.starts_with(b"cpu,hostname=host_0,region="));
//! ```

mod bench;
mod cli;
mod driver;
mod http;
mod plan;
mod probe;
mod promwrite;
mod queries;
mod report;
mod rng;
mod stats;
mod target;
mod units;
mod workload;

pub use bench::{BenchOptions, FlushPlan, run as run_bench};
pub use cli::{BenchArgs, DEFAULT_CONSTANTS_PATH, PlanArgs, bench_command, plan_command};
pub use driver::{
    ConcurrentQueries, Flavor, IngestOutcome, LoadSettings, QueryRun, StopReason, WriteSettings, ingest, query_phase,
};
pub use plan::{Constants, MIN_MEMORY_SERIES, Margins, Plan, PlanInput, plan};
pub use probe::{DirUsage, ProcSample, dir_usage, metric_sum, proc_sample};
pub use queries::{QueryApi, QueryTime, StdQuery, standard_queries};
pub use report::{
    DiskReport, IngestReport, MachineReport, QueryReport, REPORT_FORMAT, Report, ServerReport, VerifyReport, compare,
};
pub use stats::{ErrorTally, LatencySummary, percentile};
pub use target::Target;
pub use units::{format_bytes, format_count, format_duration, parse_duration};
pub use workload::{
    BatchInfo, CPU_FIELDS, Generator, HISTOGRAM_BUCKETS, Precision, WorkloadKind, WorkloadSpec, WorkloadSummary,
};

/// Errors of the bench and plan tools.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range or malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The target is not on loopback and remote targets were not allowed.
    #[error("refusing non-loopback target {0}")]
    NotLoopback(String),
    /// The target did not answer in time.
    #[error("target not ready: {0}")]
    NotReady(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}
