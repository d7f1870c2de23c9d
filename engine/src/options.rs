//! Options of a database.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::{LabelMatcher, Labels};

/// When a write is acknowledged relative to its WAL record reaching stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledged only after the WAL record is fsynced (one fsync serves every batch waiting).
    #[default]
    Fsync,
    /// Acknowledged after the WAL write; the WAL is fsynced at least this often. A crash can lose
    /// up to one interval of acknowledged writes.
    Interval(Duration),
    /// Acknowledged after the WAL write; fsync only on segment rotation and close. A machine crash
    /// can lose acknowledged writes; a process crash cannot.
    None,
}

impl std::str::FromStr for Durability {
    type Err = String;

    /// `fsync`, `none`, or `interval` / `interval:<ms>` (default 1000 ms).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "none" => Ok(Durability::None),
            "interval" => Ok(Durability::Interval(Duration::from_secs(1))),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(Durability::Interval(Duration::from_millis(ms))),
                _ => Err(format!(
                    "unknown durability {s:?}: expected fsync, interval, interval:<ms> or none"
                )),
            },
        }
    }
}

/// Options for [`crate::Db::open`]. `Options::default()` is the embedded default.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of writer shards (threads). Default: the number of cores.
    pub shards: usize,
    /// WAL durability. Default: fsync before acknowledging.
    pub durability: Durability,
    /// Length of a time partition (one block each), in ms. Default 2 h.
    pub partition_ms: i64,
    /// How long a partition stays in the head after it ends, in ms, counted back from the newest
    /// sample: late samples within this window join their partition in memory before it is written
    /// as one block. Older samples are accepted too (history of any age, see `retention_ms`); they
    /// go to new blocks in batches that compaction merges. Default 1 h.
    pub out_of_order_window_ms: i64,
    /// How far ahead of the wall clock a sample may be, in ms. Default 1 h. Protects the
    /// out-of-order window and retention from one wrong clock.
    pub future_window_ms: i64,
    /// Raw retention: a block's raw samples are dropped once its data ends longer than this before
    /// the newest sample (its rollups are kept until `rollup_retention_ms`; with no longer rollup
    /// retention the block is deleted), and samples older than the longest raw retention (this or
    /// a rule's) before the newest sample are refused. Default: keep all, accept any age.
    pub retention_ms: Option<i64>,
    /// Rollup retention: blocks whose data ends longer than this before the newest sample are
    /// deleted; until then, a block past the raw retention keeps its series' rollups (a rollup-only
    /// block, see `retention.rs`). `None`: the same as `retention_ms` (no rollup tier, the
    /// behaviour before tiers). Must not be shorter than `retention_ms` nor than any rule.
    pub rollup_retention_ms: Option<i64>,
    /// Raw retention by series selector: the first rule whose matchers all match a series gives
    /// its raw retention instead of `retention_ms` (its rollups still follow
    /// `rollup_retention_ms`). Labels include `__tenant__`, so a rule can set a tenant's retention.
    pub retention_rules: Vec<RetentionRule>,
    /// Samples written into partitions already closed (a backfill) are flushed to blocks once this
    /// many wait in the head, or after a second without more. Default 2,000,000.
    pub backfill_flush_samples: u64,
    /// WAL segment size after which a new segment is started. Default 64 MiB.
    pub wal_segment_bytes: u64,
    /// Run the background thread that turns old partitions into blocks. Default true.
    pub background_flush: bool,
    /// Samples in a sealed head chunk. Default 120.
    pub chunk_samples: usize,
    /// Keep WAL segments whose data is all in blocks (renamed `NNNNNNNNNN.done`) for a reader of
    /// the WAL ([`crate::wal_tail::WalTail`], e.g. the server's forwarding to remote write),
    /// which deletes them with [`crate::wal_tail::remove_released`] once read. `Some(true)` keeps
    /// them and records the choice in the data directory (`wal/KEEP_RELEASED`); `Some(false)`
    /// deletes them, the kept ones left and the record; `None` (the default) follows the record, so
    /// that a command opening the directory between two runs of the server (`foresight import`,
    /// `flush`) keeps what the server's readers still need.
    pub wal_keep_released: Option<bool>,
    /// Window lengths (ms) of the rollups written into every block, each one of
    /// [`crate::ROLLUP_RESOLUTIONS`] (5 min, 1 h). Default: 1 h only. 5 min windows of 10 s data
    /// cost about 75 % of the compressed samples (measured: `engine/benches/rollup.rs`), 1 h
    /// windows about 10 %; see `docs/format.md`.
    pub rollup_windows_ms: Vec<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shards: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            durability: Durability::Fsync,
            partition_ms: 2 * 3600 * 1000,
            out_of_order_window_ms: 3600 * 1000,
            future_window_ms: 3600 * 1000,
            retention_ms: None,
            rollup_retention_ms: None,
            retention_rules: Vec::new(),
            backfill_flush_samples: 2_000_000,
            wal_segment_bytes: 64 << 20,
            background_flush: true,
            chunk_samples: 120,
            wal_keep_released: None,
            rollup_windows_ms: vec![3_600_000],
        }
    }
}

/// A raw retention for the series a selector matches (see [`Options::retention_rules`]).
#[derive(Debug, Clone)]
pub struct RetentionRule {
    /// The selector's matchers (all must match), e.g. from [`crate::parse_selector`].
    pub matchers: Vec<LabelMatcher>,
    /// How long the matching series keep raw samples before the newest sample, in ms.
    pub retention_ms: i64,
}

impl Options {
    /// The rollup retention in force: `rollup_retention_ms`, else `retention_ms`.
    pub(crate) fn rollup_retention(&self) -> Option<i64> {
        self.rollup_retention_ms.or(self.retention_ms)
    }

    /// The raw retention of a series with `labels`: the first matching rule's, else
    /// `retention_ms` (`None`: kept).
    pub(crate) fn raw_retention(&self, labels: &Labels) -> Option<i64> {
        self.retention_rules
            .iter()
            .find(|r| r.matchers.iter().all(|m| m.matches_labels(labels)))
            .map_or(self.retention_ms, |r| Some(r.retention_ms))
    }

    /// How far before the newest sample a write may go: the longest raw retention, the rules'
    /// included (`None`: any age).
    pub(crate) fn write_horizon(&self) -> Option<i64> {
        let rules = self.retention_rules.iter().map(|r| r.retention_ms).max();
        match (self.retention_ms, rules) {
            (Some(r), Some(l)) => Some(r.max(l)),
            (Some(r), None) => Some(r),
            // No global raw retention: series without a rule keep everything.
            (None, _) => None,
        }
    }

    /// The shortest raw retention of any series (`None`: no rule, or nothing shorter than
    /// [`Options::write_horizon`]): samples older than this before the newest one are checked
    /// against their own series' retention.
    pub(crate) fn shortest_raw_retention(&self) -> Option<i64> {
        let shortest = self
            .retention_rules
            .iter()
            .map(|r| r.retention_ms)
            .chain(self.retention_ms)
            .min()?;
        (Some(shortest) != self.write_horizon()).then_some(shortest)
    }

    /// Refuses retentions that contradict each other: a rollup retention shorter than the raw
    /// retention or than a rule (rollups would go before the raw data they summarise), or a
    /// retention that is not positive.
    pub fn check_retention(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        let text = |ms: i64| foresight_units::format_duration(Duration::from_millis(ms.max(0) as u64));
        for (what, v) in [
            ("retention", self.retention_ms),
            ("rollup retention", self.rollup_retention_ms),
        ] {
            if v.is_some_and(|v| v <= 0) {
                return bad(format!("{what} must be positive"));
            }
        }
        if self.rollup_retention_ms.is_some() && self.retention_ms.is_none() {
            return bad("a rollup retention needs a raw retention: without one, raw data is kept forever".into());
        }
        if let (Some(r), Some(raw)) = (self.rollup_retention_ms, self.retention_ms)
            && r < raw
        {
            return bad(format!(
                "rollup retention {} is shorter than the raw retention {}: rollups are kept at least as long as raw data",
                text(r),
                text(raw)
            ));
        }
        for (i, rule) in self.retention_rules.iter().enumerate() {
            let selector = rule
                .matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            if rule.retention_ms <= 0 {
                return bad(format!(
                    "retention rule {} ({{{selector}}}) must keep data a positive time",
                    i + 1
                ));
            }
            if let Some(r) = self.rollup_retention()
                && rule.retention_ms > r
            {
                return bad(format!(
                    "retention rule {} ({{{selector}}}={}) keeps raw data longer than the rollup retention {}",
                    i + 1,
                    text(rule.retention_ms),
                    text(r)
                ));
            }
        }
        Ok(())
    }
}
