//! # foresight-units
//!
//! The small vocabulary every foresight crate shares, in one leaf crate with no foresight
//! dependency (so the load generator can use it without the engine):
//!
//! - **Durations** in Prometheus' grammar ([`parse_prom_duration`]): `0`, or whole numbers with
//!   units from `y w d h m s ms`, largest first, each at most once (`1h30m`, `500ms`, `2d`, `1w`,
//!   `1y` = 365 days). [`parse_duration`] is the grammar of settings and flags: the same, or a plain
//!   non-negative number of seconds (`2.5`), surrounding blanks ignored. [`format_duration`] writes
//!   the shortest whole-unit form, which both parse back.
//! - **Byte sizes** ([`parse_size`]): plain bytes or a number with a unit, binary (`KiB`, `MiB`,
//!   `GiB`, `TiB`; `k`, `m`, `g`, `t` alone are binary too) or decimal (`KB`, `MB`, `GB`, `TB`),
//!   any case. [`format_size`] writes the exact form, which parses back to the same bytes.
//! - **Timestamps** in RFC 3339 ([`parse_rfc3339`]), to milliseconds since the epoch.
//! - **Process statistics** from Linux's `/proc` ([`process_cpu_seconds`], [`process_memory`],
//!   [`machine_busy_seconds`]): `None` where `/proc` cannot be read (not Linux, process gone).
//!
//! ```
//! use std::time::Duration;
//! use foresight_units::{format_duration, format_size, parse_duration, parse_size, Process};
//!
//! assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
//! assert_eq!(parse_duration("2.5")?, Duration::from_millis(2500));
//! assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
//! assert_eq!(parse_size("64MiB")?, 64 << 20);
//! assert_eq!(format_size(64 << 20), "64MiB");
//! assert_eq!(
//!     parse_duration("1x").unwrap_err().to_string(),
//!     "bad duration \"1x\": unknown unit x"
//! );
//! if let Some(mem) = foresight_units::process_memory(Process::Current) {
//!     assert!(mem.peak_rss_bytes >= mem.rss_bytes);
//! }
//! # Ok::<(), foresight_units::ParseError>(())
//! ```

mod duration;
mod procfs;
mod size;
mod timestamp;

pub use duration::{format_duration, parse_duration, parse_prom_duration};
pub use procfs::{Process, ProcessMemory, USER_HZ, machine_busy_seconds, process_cpu_seconds, process_memory};
pub use size::{format_size, parse_size};
pub use timestamp::{civil_from_days, days_from_civil, days_in_month, parse_rfc3339};

/// A duration or size that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not a duration.
    #[error("bad duration {text:?}: {reason}")]
    Duration {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not a byte size.
    #[error("bad size {text:?}: {reason}")]
    Size {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ParseError {
    /// What is wrong, without the text (for callers that name the text themselves).
    pub fn reason(&self) -> &str {
        match self {
            ParseError::Duration { reason, .. } | ParseError::Size { reason, .. } => reason,
        }
    }
}
