//! # foresight-sketch
//!
//! A mergeable quantile sketch with a relative error bound (DDSketch, Masson et al., PVLDB 2019),
//! used by the engine's rollups to answer `quantile_over_time` over months from per-window
//! summaries. A leaf crate, so both the engine (which writes the sketches) and the PromQL evaluator
//! (which merges them) can use it.
//!
//! - **Buckets** are those of Prometheus native histograms at schema [`SCHEMA`] (6): bucket `k`
//!   holds the values `v` with `γ^(k-1) < |v| <= γ^k`, `γ = 2^(2^-6) ≈ 1.0109`. A value is reported
//!   as its bucket's representative `2γ^k / (γ + 1)`, within [`RELATIVE_ERROR`] (0.54 %) of every
//!   value of the bucket. Schema 5 (1.08 %) would miss the 1 % target; schema 6 is the coarsest
//!   that meets it. Positive and negative values have one store each; exact zeros their own count.
//! - **Merging** adds bucket counts: merging sketches built on parts of a data set gives exactly
//!   the sketch of the whole, in any order and grouping.
//! - **Quantiles** follow Prometheus' `quantile_over_time`: rank `φ·(n-1)`, linear interpolation
//!   between the neighbouring ranks, each rank's value within the relative bound (clamped to the
//!   exact minimum and maximum, which the caller keeps), so same-sign data gets a result within
//!   [`RELATIVE_ERROR`] of the exact one.
//! - **Encoding** ([`Sketch::encode`]): sparse, a few bytes per non-empty bucket; see
//!   `docs/format.md`. NaN and infinities are not bucketed but counted ([`Sketch::non_finite`]),
//!   so a reader knows the sketch cannot stand for such data.
//!
//! ```
//! use foresight_sketch::Sketch;
//!
//! let mut a = Sketch::new();
//! let mut b = Sketch::new();
//! for i in 1..=500 { a.add(f64::from(i)); }
//! for i in 501..=1000 { b.add(f64::from(i)); }
//! a.merge(&b);
//! let p99 = a.quantile(0.99);
//! let exact = 990.01; // Prometheus: rank 0.99 * 999, between 990 and 991
//! assert!((p99 - exact).abs() <= exact * foresight_sketch::RELATIVE_ERROR);
//!
//! let mut bytes = Vec::new();
//! a.encode(&mut bytes);
//! let (back, used) = Sketch::decode(&bytes, a.min(), a.max()).unwrap();
//! assert_eq!((back, used), (a, bytes.len()));
//! ```

mod encoding;
mod store;

pub use encoding::DecodeError;

use store::Store;

/// The native-histogram schema of the buckets: growth factor `2^(2^-SCHEMA)`.
pub const SCHEMA: i32 = 6;
/// Largest relative error of a reported value: `(γ - 1) / (γ + 1)` for `γ = 2^(2^-SCHEMA)`.
pub const RELATIVE_ERROR: f64 = 0.005_415_159_415_902_577;
// The issue's bound: 1 % relative error.
const _: () = assert!(RELATIVE_ERROR <= 0.01);

/// Buckets per doubling of the value.
const PER_OCTAVE: f64 = (1u32 << SCHEMA) as f64;

/// A mergeable relative-error quantile sketch; see the crate documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    pos: Store,
    neg: Store,
    zero: u64,
    non_finite: u64,
    min: f64,
    max: f64,
}

impl Default for Sketch {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket of a finite, non-zero magnitude: `ceil(log_γ |v|)`.
pub fn bucket_key(v: f64) -> i32 {
    // |v| >= 2^-1074 gives log2 >= -1074, so the key fits an i32 with room to spare.
    (v.abs().log2() * PER_OCTAVE).ceil() as i32
}

/// The representative magnitude of bucket `key`, `2γ^k / (γ + 1)`: within [`RELATIVE_ERROR`] of
/// every value the bucket holds.
pub fn bucket_value(key: i32) -> f64 {
    let upper = (f64::from(key) / PER_OCTAVE).exp2();
    let gamma = (1.0 / PER_OCTAVE).exp2();
    2.0 * upper / (gamma + 1.0)
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Self {
        Sketch {
            pos: Store::default(),
            neg: Store::default(),
            zero: 0,
            non_finite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds one value. NaN and infinities are only counted ([`Sketch::non_finite`]).
    pub fn add(&mut self, v: f64) {
        add_value(
            v,
            (&mut self.pos, &mut self.neg),
            (&mut self.zero, &mut self.non_finite),
            (&mut self.min, &mut self.max),
        );
    }

    /// Adds every bucket of `other` to this sketch.
    pub fn merge(&mut self, other: &Sketch) {
        self.pos.merge(&other.pos);
        self.neg.merge(&other.neg);
        self.zero += other.zero;
        self.non_finite += other.non_finite;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Finite values added.
    pub fn count(&self) -> u64 {
        self.pos.total() + self.neg.total() + self.zero
    }

    /// NaNs and infinities seen (not bucketed).
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Smallest finite value added (+Inf when none).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest finite value added (-Inf when none).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Non-empty buckets (both signs; zeros not counted).
    pub fn buckets(&self) -> usize {
        self.pos.len() + self.neg.len()
    }

    /// The value of rank `r` (0-based, ascending) among the finite values, within the relative
    /// bound and clamped to `[min, max]`; NaN when the sketch is empty.
    pub fn value_at_rank(&self, r: u64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let r = r.min(n - 1);
        let neg = self.neg.total();
        let v = if r < neg {
            // Negative values ascend as their magnitudes descend: rank r is the (neg - 1 - r)-th
            // smallest magnitude.
            -bucket_value(self.neg.key_at_rank(neg - 1 - r))
        } else if r < neg + self.zero {
            0.0
        } else {
            bucket_value(self.pos.key_at_rank(r - neg - self.zero))
        };
        v.clamp(self.min, self.max)
    }

    /// The `q`-quantile as Prometheus' `quantile_over_time` computes it (rank `q·(n-1)`, linear
    /// interpolation), from the buckets: NaN when empty or `q` is NaN, -Inf below 0, +Inf above 1.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 || q.is_nan() {
            return f64::NAN;
        }
        if q < 0.0 {
            return f64::NEG_INFINITY;
        }
        if q > 1.0 {
            return f64::INFINITY;
        }
        let rank = q * (n - 1) as f64;
        let lo = rank.floor();
        let hi = (lo + 1.0).min((n - 1) as f64);
        let w = rank - lo;
        let a = self.value_at_rank(lo as u64);
        if w == 0.0 {
            return a;
        }
        a * (1.0 - w) + self.value_at_rank(hi as u64) * w
    }
}

/// Bucket counts by key, sparse ([`Store`]) or dense ([`Dense`]).
trait Buckets {
    fn add(&mut self, key: i32, count: u64);
}

impl Buckets for Store {
    fn add(&mut self, key: i32, count: u64) {
        Store::add(self, key, count);
    }
}

impl Buckets for Dense {
    fn add(&mut self, key: i32, count: u64) {
        Dense::add(self, key, count);
    }
}

/// Counts one value: NaN and infinities only counted, zeros apart, others in their sign's
/// bucket; `(min, max)` follow the finite values.
fn add_value<B: Buckets>(
    v: f64,
    (pos, neg): (&mut B, &mut B),
    (zero, non_finite): (&mut u64, &mut u64),
    (min, max): (&mut f64, &mut f64),
) {
    if !v.is_finite() {
        *non_finite += 1;
        return;
    }
    *min = min.min(v);
    *max = max.max(v);
    if v == 0.0 {
        *zero += 1;
    } else if v > 0.0 {
        pos.add(bucket_key(v), 1);
    } else {
        neg.add(bucket_key(v), 1);
    }
}

/// Merges many sketches (and single values) into one faster than repeated [`Sketch::merge`]:
/// bucket counts go into dense arrays indexed by key, turned back into a sparse sketch once at the
/// end. What a long-range quantile over thousands of windows uses.
#[derive(Debug, Clone)]
pub struct Merger {
    pos: Dense,
    neg: Dense,
    zero: u64,
    non_finite: u64,
    min: f64,
    max: f64,
}

impl Default for Merger {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts of consecutive keys from `base`.
#[derive(Debug, Clone, Default)]
struct Dense {
    base: i32,
    counts: Vec<u64>,
    total: u64,
}

impl Dense {
    fn add(&mut self, key: i32, count: u64) {
        if self.counts.is_empty() {
            self.base = key;
            self.counts.push(0);
        } else if key < self.base {
            let grow = (self.base - key) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.base = key;
        }
        let at = (key - self.base) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        if let Some(c) = self.counts.get_mut(at) {
            *c += count;
        }
        self.total += count;
    }

    fn add_store(&mut self, s: &Store) {
        let bins = s.bins();
        if let (Some(first), Some(last)) = (bins.first(), bins.last()) {
            // Size once for the whole store, then add in place.
            self.add(first.0, 0);
            self.add(last.0, 0);
            for &(k, c) in bins {
                if let Some(x) = self.counts.get_mut((k - self.base) as usize) {
                    *x += c;
                }
            }
            self.total += s.total();
        }
    }

    fn into_store(self) -> Store {
        let base = self.base;
        let bins: Vec<(i32, u64)> = self
            .counts
            .into_iter()
            .enumerate()
            .filter(|&(_, c)| c > 0)
            .map(|(i, c)| (base + i as i32, c))
            .collect();
        Store::from_bins(bins, self.total)
    }
}

impl Merger {
    /// An empty merger.
    pub fn new() -> Self {
        Merger {
            pos: Dense::default(),
            neg: Dense::default(),
            zero: 0,
            non_finite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds every bucket of `s`.
    pub fn merge(&mut self, s: &Sketch) {
        self.pos.add_store(&s.pos);
        self.neg.add_store(&s.neg);
        self.zero += s.zero;
        self.non_finite += s.non_finite;
        self.min = self.min.min(s.min);
        self.max = self.max.max(s.max);
    }

    /// Adds one value, as [`Sketch::add`].
    pub fn add(&mut self, v: f64) {
        add_value(
            v,
            (&mut self.pos, &mut self.neg),
            (&mut self.zero, &mut self.non_finite),
            (&mut self.min, &mut self.max),
        );
    }

    /// The merged sketch: equal to merging every sketch and adding every value one by one.
    pub fn finish(self) -> Sketch {
        Sketch {
            pos: self.pos.into_store(),
            neg: self.neg.into_store(),
            zero: self.zero,
            non_finite: self.non_finite,
            min: self.min,
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests;
