//! What the evaluator reads: the [`Storage`] trait, label matchers, and [`MemStorage`], an
//! in-memory implementation for tests, benchmarks and small embedded uses.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

use crate::labels::Labels;

/// How a [`LabelMatcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the value equals the matcher's value.
    Equal,
    /// `!=`: the value differs from the matcher's value.
    NotEqual,
    /// `=~`: the value matches the (fully anchored) regular expression.
    RegexMatch,
    /// `!~`: the value does not match the (fully anchored) regular expression.
    RegexNoMatch,
}

/// One label matcher of a selector, e.g. `host=~"web-.*"`.
///
/// A series without the label is matched as if the label's value were the empty string, as in
/// Prometheus: `{env=""}` selects series that have no `env` label.
#[derive(Clone)]
pub struct LabelMatcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value, or the regular expression's source for the regex kinds.
    pub value: String,
    regex: Option<Arc<Regex>>,
}

/// A regular expression in a matcher that does not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {reason}")]
pub struct InvalidRegex {
    /// The pattern as written.
    pub pattern: String,
    /// What the regex compiler said.
    pub reason: String,
}

/// Compiles a PromQL regex: fully anchored and with `.` matching newlines, as Prometheus does.
pub(crate) fn compile_anchored(pattern: &str) -> Result<Regex, InvalidRegex> {
    Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| InvalidRegex {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

impl LabelMatcher {
    /// Builds a matcher; regexes are compiled here, once.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, InvalidRegex> {
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(Arc::new(compile_anchored(&value)?)),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// An `=` matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (`""` for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::RegexMatch => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::RegexNoMatch => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether a series' label set satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Debug for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// A series: its labels and samples `(timestamp ms, value)` in ascending time order.
///
/// Stale markers (the bit pattern [`STALE_NAN_BITS`]) are passed through as samples; the evaluator
/// interprets them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The label set, including `__name__`.
    pub labels: Labels,
    /// Samples, strictly ascending by timestamp.
    pub samples: Samples,
}

/// A series' samples: either owned (what a backend that decodes chunks produces, via
/// `Vec::into`) or a shared window of a reference-counted buffer (what [`MemStorage`] hands out,
/// so a selection copies nothing). Reads as a slice of `(timestamp ms, value)`.
#[derive(Clone, Default)]
pub struct Samples(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<(i64, f64)>),
    Shared {
        buf: Arc<[(i64, f64)]>,
        start: usize,
        end: usize,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Owned(Vec::new())
    }
}

impl Samples {
    /// A window `range` of a shared buffer (clamped to the buffer).
    pub fn shared(buf: Arc<[(i64, f64)]>, range: std::ops::Range<usize>) -> Self {
        let end = range.end.min(buf.len());
        let start = range.start.min(end);
        Self(Repr::Shared { buf, start, end })
    }

    /// A sub-window, sharing the buffer when there is one.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        match &self.0 {
            Repr::Owned(v) => Self(Repr::Owned(v.get(range).map(<[_]>::to_vec).unwrap_or_default())),
            Repr::Shared { buf, start, end } => {
                let s = start.saturating_add(range.start).min(*end);
                let e = start.saturating_add(range.end).min(*end);
                Self::shared(buf.clone(), s..e)
            }
        }
    }

    /// Keeps the samples for which `keep` is true (copies a shared window).
    pub fn retain(&mut self, keep: impl FnMut(&(i64, f64)) -> bool) {
        let mut v = std::mem::take(self).into_vec();
        v.retain(keep);
        *self = Self(Repr::Owned(v));
    }

    /// The samples as an owned vector.
    pub fn into_vec(self) -> Vec<(i64, f64)> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Shared { buf, start, end } => buf.get(start..end).map(<[_]>::to_vec).unwrap_or_default(),
        }
    }
}

impl std::ops::Deref for Samples {
    type Target = [(i64, f64)];

    fn deref(&self) -> &Self::Target {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Shared { buf, start, end } => buf.get(*start..*end).unwrap_or(&[]),
        }
    }
}

impl<'a> IntoIterator for &'a Samples {
    type Item = &'a (i64, f64);
    type IntoIter = std::slice::Iter<'a, (i64, f64)>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Vec<(i64, f64)>> for Samples {
    fn from(v: Vec<(i64, f64)>) -> Self {
        Self(Repr::Owned(v))
    }
}

impl FromIterator<(i64, f64)> for Samples {
    fn from_iter<I: IntoIterator<Item = (i64, f64)>>(iter: I) -> Self {
        Self(Repr::Owned(iter.into_iter().collect()))
    }
}

impl PartialEq for Samples {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Vec<(i64, f64)>> for Samples {
    fn eq(&self, other: &Vec<(i64, f64)>) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Samples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The bit pattern Prometheus writes to mark a series as stale.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether a value is the stale marker (compared by bits: other NaNs are ordinary values).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A storage backend failed to answer a selection.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// The read was refused by a limit (not a failure of the storage).
    limit: bool,
}

impl StorageError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
            limit: false,
        }
    }

    /// A read the storage refuses because it goes beyond a limit (such as the longest range a
    /// reader may read); `message` says which and how to raise it.
    pub fn limit(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
            limit: true,
        }
    }

    /// Whether this is a refusal by a limit ([`StorageError::limit`]), not a failure.
    pub fn is_limit(&self) -> bool {
        self.limit
    }

    /// An error with a message and the underlying cause.
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
            limit: false,
        }
    }
}

/// One series' summary of an aligned window `[start, start + length)`: what rollups keep (see
/// [`Storage::select_rollups`]). A window returned by a storage is *whole*: it stands for every
/// sample of the series in its span, and none of them is NaN, infinite or a stale marker.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupWindow {
    /// Window start (ms, a multiple of the window length).
    pub start: i64,
    /// Samples.
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Sum of the squared values.
    pub sumsq: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The first sample.
    pub first: (i64, f64),
    /// The last sample.
    pub last: (i64, f64),
    /// Counter increase from the first to the last sample (each drop counted as a reset).
    pub increase: f64,
    /// Counter resets (a value lower than the one before) inside the window.
    pub resets: u64,
    /// The values' quantile sketch.
    pub sketch: foresight_sketch::Sketch,
}

impl RollupWindow {
    /// The window of length `len` holding `samples` (ascending, unique, all in the aligned window
    /// of the first one); `None` when there are none. `min` and `max` ignore NaNs unless all
    /// are NaN (as `min_over_time`); `increase` is reset-adjusted as Prometheus' `increase`,
    /// without extrapolation. Storages keeping rollups compute them with this.
    pub fn of(len: i64, samples: &[(i64, f64)]) -> Option<Self> {
        let (&first, rest) = samples.split_first()?;
        let mut sketch = foresight_sketch::Sketch::new();
        sketch.add(first.1);
        let mut w = RollupWindow {
            start: first.0.div_euclid(len) * len,
            count: 1,
            sum: first.1,
            sumsq: first.1 * first.1,
            min: first.1,
            max: first.1,
            first,
            last: first,
            increase: 0.0,
            resets: 0,
            sketch,
        };
        for &(t, v) in rest {
            let prev = w.last.1;
            if v < prev {
                w.resets += 1;
                w.increase += v;
            } else {
                w.increase += v - prev;
            }
            w.count += 1;
            w.sum += v;
            w.sumsq += v * v;
            if v < w.min || w.min.is_nan() {
                w.min = v;
            }
            if v > w.max || w.max.is_nan() {
                w.max = v;
            }
            w.last = (t, v);
            w.sketch.add(v);
        }
        Some(w)
    }
}

/// A series as [`Storage::select_rollups`] returns it: whole windows, and raw samples where the
/// windows do not answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSeries {
    /// The label set, including `__name__`.
    pub labels: Labels,
    /// Whole windows, ascending by start.
    pub windows: Vec<RollupWindow>,
    /// Raw samples, ascending: every sample of the requested raw spans and of every time not
    /// inside a returned window; samples inside windows may be present too (they are ignored
    /// where the window is used).
    pub samples: Samples,
}

/// Sorts inclusive time spans and merges those that overlap or touch (a helper for storages
/// implementing [`Storage::select_rollups`], whose `raw` spans come in this form).
pub fn merge_spans(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (lo, hi) in spans {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// What the evaluator reads.
///
/// Threads: implementations must be `Sync`; the evaluator calls `select` from the query's thread
/// and then reads the returned series from rayon workers. A query never holds a lock of the
/// storage across calls, so a backend that snapshots its state per call never blocks writers.
///
/// Speed: the evaluator calls `select` once per selector in the query, with `[mint, maxt]`
/// already covering every step, lookback window, range, offset and `@` of that selector, so a
/// backend can skip blocks and chunks by their min/max time and decode each chunk once.
pub trait Storage: Sync {
    /// Every series matching all matchers, with its samples in `[mint, maxt]` (milliseconds,
    /// inclusive), ascending by time. Series with no sample in the range may be left out.
    /// The order of the returned series does not matter.
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StorageError>;

    /// Window lengths (ms) of the rollups [`Storage::select_rollups`] can return; none by
    /// default, and the evaluator then reads raw samples only.
    fn rollup_lengths(&self) -> Vec<i64> {
        Vec::new()
    }

    /// Every series matching all matchers with its whole rollup windows of length `len` inside
    /// `[mint, maxt]`, and raw samples: all of those in `raw` (sorted, disjoint, inclusive spans)
    /// and all of those in `[mint, maxt]` outside every returned window. A storage may leave out
    /// any window (e.g. one that a late write made incomplete): its samples are then raw. The
    /// default returns no windows and every sample.
    fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSeries>, StorageError> {
        let _ = (len, raw);
        Ok(self
            .select(matchers, mint, maxt)?
            .into_iter()
            .map(|s| RollupSeries {
                labels: s.labels,
                windows: Vec::new(),
                samples: s.samples,
            })
            .collect())
    }

    /// Sorted, distinct label names of the series matching `matchers` (all series when empty)
    /// with samples in `[mint, maxt]`. The default derives them from [`Storage::select`];
    /// a backend with an index should answer from it.
    fn label_names(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .select(matchers, mint, maxt)?
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.to_owned()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Sorted, distinct values of label `name` over the series matching `matchers` (all series
    /// when empty) with samples in `[mint, maxt]`. The default derives them from
    /// [`Storage::select`]; a backend with an index should answer from it.
    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut values: Vec<String> = self
            .select(matchers, mint, maxt)?
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

impl<S: Storage + ?Sized> Storage for &S {
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StorageError> {
        (**self).select(matchers, mint, maxt)
    }

    fn label_names(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>, StorageError> {
        (**self).label_names(matchers, mint, maxt)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        (**self).label_values(name, matchers, mint, maxt)
    }

    fn rollup_lengths(&self) -> Vec<i64> {
        (**self).rollup_lengths()
    }

    fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSeries>, StorageError> {
        (**self).select_rollups(matchers, len, mint, maxt, raw)
    }
}

/// An in-memory [`Storage`]: series kept sorted by labels, samples sorted by time.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    series: Vec<Series>,
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series with these labels (creating it). Samples may come in any
    /// order; a sample with an existing timestamp replaces the old one (last write wins).
    pub fn add(&mut self, labels: Labels, samples: impl IntoIterator<Item = (i64, f64)>) {
        let idx = match self.series.binary_search_by(|s| s.labels.cmp(&labels)) {
            Ok(i) => i,
            Err(i) => {
                self.series.insert(
                    i,
                    Series {
                        labels,
                        samples: Samples::default(),
                    },
                );
                i
            }
        };
        if let Some(s) = self.series.get_mut(idx) {
            let mut v = std::mem::take(&mut s.samples).into_vec();
            let mut last = v.last().map(|l| l.0);
            let mut needs_fix = false;
            for (t, x) in samples {
                if last.is_some_and(|l| t <= l) {
                    needs_fix = true;
                }
                last = Some(t);
                v.push((t, x));
            }
            if needs_fix {
                // Stable sort then keep the last of equal timestamps.
                v.sort_by_key(|p| p.0);
                let mut out: Vec<(i64, f64)> = Vec::with_capacity(v.len());
                for p in v {
                    match out.last_mut() {
                        Some(l) if l.0 == p.0 => *l = p,
                        _ => out.push(p),
                    }
                }
                v = out;
            }
            let n = v.len();
            s.samples = Samples::shared(Arc::from(v), 0..n);
        }
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Total number of samples over all series.
    pub fn num_samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// All series, sorted by labels.
    pub fn series(&self) -> &[Series] {
        &self.series
    }
}

impl Storage for MemStorage {
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StorageError> {
        let mut out = Vec::new();
        for s in &self.series {
            if !matchers.iter().all(|m| m.matches_labels(&s.labels)) {
                continue;
            }
            let lo = s.samples.partition_point(|p| p.0 < mint);
            let hi = s.samples.partition_point(|p| p.0 <= maxt);
            if lo >= hi {
                continue;
            }
            out.push(Series {
                labels: s.labels.clone(),
                samples: s.samples.slice(lo..hi),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_dot_matches_newline() {
        let m = LabelMatcher::new(MatchOp::RegexMatch, "a", "fo.").unwrap();
        assert!(m.matches("foo"));
        assert!(m.matches("fo\n"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
        let n = LabelMatcher::new(MatchOp::RegexNoMatch, "a", "").unwrap();
        assert!(!n.matches(""));
        assert!(n.matches("x"));
        assert!(LabelMatcher::new(MatchOp::RegexMatch, "a", "(").is_err());
    }

    #[test]
    fn mem_storage_last_write_wins_and_range() {
        let mut s = MemStorage::new();
        let l = Labels::new([("__name__", "x")]);
        s.add(l.clone(), [(10, 1.0), (30, 3.0)]);
        s.add(l.clone(), [(20, 2.0), (30, 4.0)]);
        let got = s.select(&[LabelMatcher::equal("__name__", "x")], 15, 30).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, vec![(20, 2.0), (30, 4.0)]);
        assert_eq!(s.label_names(&[], 0, 100).unwrap(), vec!["__name__".to_string()]);
        assert_eq!(s.label_values("__name__", &[], 0, 100).unwrap(), vec!["x".to_string()]);
        let none = s.select(&[LabelMatcher::equal("job", "y")], 0, 100).unwrap();
        assert!(none.is_empty());
        let missing_is_empty = s.select(&[LabelMatcher::equal("job", "")], 0, 100).unwrap();
        assert_eq!(missing_is_empty.len(), 1);
    }
}
