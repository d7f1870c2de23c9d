//! Isolation forest (Liu, Ting and Zhou 2008), following scikit-learn's `IsolationForest`.
//!
//! Values are compared in single precision, as scikit-learn does (it converts `X` to float32 and
//! compares `x <= threshold` with a float64 threshold). Storing each threshold as the largest f32
//! not above it keeps that comparison exact for every f32 `x`, and halves the data the scorer reads.

use rayon::prelude::*;

use crate::error::{ForecastError, Result};
use crate::rng::SplitMix64;

/// Options of [`IsolationForest::fit`]; the defaults are scikit-learn's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsolationForestConfig {
    /// Number of trees (default 100).
    pub n_estimators: usize,
    /// Rows drawn without replacement per tree, capped by the number of rows (default 256).
    pub max_samples: usize,
    /// Seed: the same seed gives the same forest whatever the thread count.
    pub seed: u64,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: 256,
            seed: 0,
        }
    }
}

/// A value as the trees see it: single precision, finite values saturating at `±f32::MAX` (a
/// finite row stays finite), and NaN as +inf, which goes right at every split ("NaN is never
/// `<=` a threshold") and left below a leaf of a [`Compact`] tree, where thresholds are +inf.
fn to_f32(x: f64) -> f32 {
    if x.is_nan() {
        f32::INFINITY
    } else if x.is_finite() {
        (x as f32).clamp(-f32::MAX, f32::MAX)
    } else {
        x as f32
    }
}

/// The largest f32 not above `t` (finite `t` within the f32 range): for every f32 `x`,
/// `x <= t` exactly when `x <= lower_f32(t)`.
fn lower_f32(t: f64) -> f32 {
    let r = t as f32;
    if f64::from(r) > t { r.next_down() } else { r }
}

/// Node of a grown tree. A leaf has `feature == LEAF`; an inner node's children sit at `left`
/// and `left + 1`.
#[derive(Debug, Clone, Copy)]
struct Node {
    thr: f32,
    feature: u32,
    left: u32,
}

const LEAF: u32 = u32::MAX;

/// Depth of the [`Compact`] layout: trees of `max_samples <= 256` (scikit-learn's default).
const DEPTH: usize = 8;
const SLOTS: usize = 1 << DEPTH;
const _: () = assert!(SLOTS == 256, "u8 indices");
/// Rows of at most this many features are scored by the lockstep / SIMD kernels.
const W: usize = 8;

/// A tree of depth at most [`DEPTH`] as a complete binary tree in breadth-first (Eytzinger)
/// order from slot 1: node `i` has children `2i` (`x <= thr`) and `2i + 1`, so no child index is
/// stored and every row takes exactly `DEPTH` steps. A leaf above the last level gets a virtual
/// subtree whose thresholds are +inf (every row goes left). Inner nodes take a `u8` index, and
/// the last step's `u8` wraps onto the leaf index: `leaf[i - SLOTS]` holds the path length
/// `depth + c(size)` of the leaf a walk ends in, in single precision too (a relative error below
/// 6e-8, and 16 fit one register). Fixed-size arrays: the kernels index them without bounds
/// checks, and one tree (3 KiB) stays in L1.
#[derive(Debug, Clone)]
struct Compact {
    thr: [f32; SLOTS],
    feat: [u32; SLOTS],
    leaf: [f32; SLOTS],
}

/// A tree of any depth, for `max_samples > 256`, laid out for branch-free walks: a leaf's
/// threshold is NaN (every comparison sends the row "right") and its `left` is its own index
/// minus one, so a leaf loops onto itself and every row can take exactly `depth` steps;
/// `path[leaf]` holds `depth + c(size)`.
#[derive(Debug, Clone)]
struct Deep {
    nodes: Vec<Node>,
    path: Vec<f64>,
    depth: usize,
}

#[derive(Debug, Clone)]
enum Trees {
    Compact(Vec<Compact>),
    Deep(Vec<Deep>),
}

impl Trees {
    /// Path length of a converted row through tree `i` (0 past the last tree).
    fn path_length(&self, i: usize, row: &[f32]) -> f64 {
        match self {
            Self::Compact(t) => t.get(i).map_or(0.0, |t| t.path_length(row)),
            Self::Deep(t) => t.get(i).map_or(0.0, |t| t.path_length(row)),
        }
    }
}

/// Average path length of an unsuccessful search in a binary search tree of `n` points:
/// `c(n) = 2 H(n-1) - 2 (n-1) / n`, with `c(1) = 0` and `c(2) = 1` (scikit-learn's convention).
pub(crate) fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let nf = n as f64;
            2.0 * ((nf - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (nf - 1.0) / nf
        }
    }
}

/// `k` distinct indices below `n`, uniformly: Floyd's algorithm, O(k log k) whatever `n` (so a
/// forest over millions of rows costs no more to grow than one over thousands).
fn sample_without_replacement(rng: &mut SplitMix64, n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    let mut chosen = std::collections::BTreeSet::new();
    for j in n - k..n {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

struct Builder<'a> {
    data: &'a [f32],
    nf: usize,
    max_depth: usize,
    rng: SplitMix64,
    nodes: Vec<Node>,
    path: Vec<f64>,
    features: Vec<usize>,
}

impl Builder<'_> {
    /// Grows the subtree over `idx` at `depth` into the (already allocated) node `me`.
    fn grow(&mut self, me: usize, idx: &mut [usize], depth: usize) {
        self.path[me] = depth as f64 + average_path_length(idx.len());
        if depth >= self.max_depth || idx.len() <= 1 {
            return;
        }
        // Draw features in random order until one is not constant in this node, as
        // scikit-learn's splitter does with max_features = 1.
        let nf = self.nf;
        let mut remaining = nf;
        let mut chosen = None;
        while remaining > 0 {
            let pick = self.rng.below(remaining);
            self.features.swap(pick, remaining - 1);
            let f = self.features[remaining - 1];
            remaining -= 1;
            let (lo, hi) = idx.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &i| {
                let v = self.data[i * nf + f];
                (a.min(v), b.max(v))
            });
            if hi > lo {
                chosen = Some((f, f64::from(lo), f64::from(hi)));
                break;
            }
        }
        let Some((f, lo, hi)) = chosen else {
            return;
        };
        let mut thr = lo + self.rng.next_f64() * (hi - lo);
        if thr >= hi || thr < lo {
            thr = lo + 0.5 * (hi - lo);
        }
        // lo <= thr32 < hi, as lo is an f32.
        let thr = lower_f32(thr);
        // Partition in place: x <= thr to the left (non-empty: holds lo; right holds hi).
        let mut split = 0;
        for j in 0..idx.len() {
            if self.data[idx[j] * nf + f] <= thr {
                idx.swap(j, split);
                split += 1;
            }
        }
        let left = self.nodes.len();
        let leaf = Node {
            thr: f32::NAN,
            feature: LEAF,
            left: 0,
        };
        self.nodes.extend([leaf, leaf]);
        self.path.extend([0.0, 0.0]);
        self.nodes[me] = Node {
            thr,
            feature: f as u32,
            left: left as u32,
        };
        let (l, r) = idx.split_at_mut(split);
        self.grow(left, l, depth + 1);
        self.grow(left + 1, r, depth + 1);
    }
}

impl Compact {
    fn from_grown(nodes: &[Node], path: &[f64]) -> Self {
        let mut t = Self {
            thr: [f32::INFINITY; SLOTS],
            feat: [0; SLOTS],
            leaf: [0.0; SLOTS],
        };
        t.place(nodes, path, 0, 1, 0);
        t
    }

    /// Places grown node `n` at slot `at` of `level`.
    fn place(&mut self, nodes: &[Node], path: &[f64], n: usize, at: usize, level: usize) {
        if level == DEPTH {
            self.leaf[at - SLOTS] = path.get(n).copied().unwrap_or(0.0) as f32;
            return;
        }
        let (left, right) = match nodes.get(n) {
            Some(node) if node.feature != LEAF => {
                self.thr[at] = node.thr;
                self.feat[at] = node.feature;
                (node.left as usize, node.left as usize + 1)
            }
            // A leaf (or a tree deeper than DEPTH, which `fit` never hands over): the threshold
            // stays +inf, rows go left, and both subtrees end in this leaf's path length.
            _ => (n, n),
        };
        self.place(nodes, path, left, 2 * at, level + 1);
        self.place(nodes, path, right, 2 * at + 1, level + 1);
    }

    /// Path length of one row (already converted by [`to_f32`]).
    fn path_length(&self, row: &[f32]) -> f64 {
        let mut i = 1u8;
        for _ in 0..DEPTH {
            let n = usize::from(i);
            let x = row.get(self.feat[n] as usize).copied().unwrap_or(f32::INFINITY);
            i = (i << 1) | u8::from(x > self.thr[n]);
        }
        f64::from(self.leaf[usize::from(i)])
    }

    /// Adds the path lengths of `L` rows walked in lockstep (their dependency chains overlap);
    /// `u8` indices into 256-entry arrays need no bounds check.
    #[inline(always)]
    fn add_path_lengths<const L: usize>(&self, rows: &[[f32; W]; L], out: &mut [f64; L]) {
        let mut idx = [1u8; L];
        for _ in 0..DEPTH {
            for (i, row) in idx.iter_mut().zip(rows) {
                let n = usize::from(*i);
                let x = row[self.feat[n] as usize & (W - 1)];
                *i = (*i << 1) | u8::from(x > self.thr[n]);
            }
        }
        for (o, i) in out.iter_mut().zip(idx) {
            *o += f64::from(self.leaf[usize::from(i)]);
        }
    }
}

impl Deep {
    fn from_grown(mut nodes: Vec<Node>, path: Vec<f64>, depth: usize) -> Self {
        for (i, n) in nodes.iter_mut().enumerate() {
            if n.feature == LEAF {
                *n = Node {
                    thr: f32::NAN,
                    feature: 0,
                    left: (i as u32).wrapping_sub(1),
                };
            }
        }
        Self { nodes, path, depth }
    }

    fn path_length(&self, row: &[f32]) -> f64 {
        let mut i = 0u32;
        for _ in 0..self.depth {
            i = match self.nodes.get(i as usize) {
                Some(n) => {
                    let x = row.get(n.feature as usize).copied().unwrap_or(f32::INFINITY);
                    // NaN thresholds (leaves) compare false and loop back (hence the negation).
                    #[allow(clippy::neg_cmp_op_on_partial_ord)]
                    let right = !(x <= n.thr);
                    n.left.wrapping_add(u32::from(right))
                }
                None => i,
            };
        }
        self.path.get(i as usize).copied().unwrap_or(0.0)
    }
}

/// A fitted isolation forest. Scores are in (0, 1]: around 0.5 or below is ordinary, close to 1
/// is isolated quickly, i.e. anomalous (scikit-learn's `-score_samples`; its default
/// `contamination="auto"` threshold is 0.5).
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Trees,
    n_trees: usize,
    n_features: usize,
    max_samples: usize,
}

impl IsolationForest {
    /// Fits a forest on `rows`, a row-major matrix with `n_features` columns.
    ///
    /// Rows holding a non-finite value are left out of the fit. Each tree draws
    /// `min(max_samples, n)` rows without replacement and grows to depth
    /// `ceil(log2(max_samples))`, splitting on a random non-constant feature at a uniform random
    /// threshold (values compared in single precision, as scikit-learn does). Trees are built
    /// in parallel (rayon); tree `i` uses its own stream of `seed`, so the result does not
    /// depend on the number of threads.
    ///
    /// # Errors
    /// [`ForecastError::InvalidParameter`] for zero features/trees/samples or a length that is
    /// not a multiple of `n_features`; [`ForecastError::NotEnoughData`] without a finite row.
    pub fn fit(rows: &[f64], n_features: usize, config: &IsolationForestConfig) -> Result<Self> {
        if n_features == 0 || n_features > u32::MAX as usize / 2 || !rows.len().is_multiple_of(n_features) {
            return Err(ForecastError::InvalidParameter {
                name: "n_features",
                reason: format!("must be positive and divide the data length {}", rows.len()),
            });
        }
        if config.n_estimators == 0 || config.max_samples == 0 {
            return Err(ForecastError::InvalidParameter {
                name: "config",
                reason: "n_estimators and max_samples must be positive".into(),
            });
        }
        let data: Vec<f32> = rows
            .chunks_exact(n_features)
            .filter(|r| r.iter().all(|v| v.is_finite()))
            .flatten()
            .map(|&v| to_f32(v))
            .collect();
        let n = data.len() / n_features;
        if n == 0 {
            return Err(ForecastError::NotEnoughData { needed: 1, got: 0 });
        }
        let max_samples = config.max_samples.min(n);
        let max_depth = (max_samples.max(2) as f64).log2().ceil() as usize;
        let grown: Vec<(Vec<Node>, Vec<f64>)> = (0..config.n_estimators)
            .into_par_iter()
            .map(|i| {
                let mut rng = SplitMix64::stream(config.seed, i as u64);
                let mut sample = sample_without_replacement(&mut rng, n, max_samples);
                let root = Node {
                    thr: f32::NAN,
                    feature: LEAF,
                    left: 0,
                };
                let mut b = Builder {
                    data: &data,
                    nf: n_features,
                    max_depth,
                    rng,
                    nodes: Vec::with_capacity(2 * max_samples),
                    path: Vec::with_capacity(2 * max_samples),
                    features: (0..n_features).collect(),
                };
                b.nodes.push(root);
                b.path.push(0.0);
                b.grow(0, &mut sample, 0);
                (b.nodes, b.path)
            })
            .collect();
        let trees = if max_depth <= DEPTH {
            Trees::Compact(grown.iter().map(|(n, p)| Compact::from_grown(n, p)).collect())
        } else {
            Trees::Deep(
                grown
                    .into_iter()
                    .map(|(n, p)| Deep::from_grown(n, p, max_depth))
                    .collect(),
            )
        };
        Ok(Self {
            trees,
            n_trees: config.n_estimators,
            n_features,
            max_samples,
        })
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Rows drawn per tree (`min(max_samples, n)`).
    pub fn max_samples(&self) -> usize {
        self.max_samples
    }

    /// Score from the sum of a row's path lengths over all trees.
    fn finish(&self, total: f64) -> f64 {
        let c = average_path_length(self.max_samples);
        if c > 0.0 {
            (-(total / self.n_trees as f64) / c).exp2()
        } else {
            0.5
        }
    }

    /// Anomaly score `2^(-E[h(x)] / c(max_samples))` of one row (NaN if the row is too short;
    /// extra values are ignored). Values are compared in single precision; a NaN value goes
    /// right at every split on its feature, as +inf does.
    /// The same value as [`IsolationForest::score_rows`] gives for that row.
    pub fn score(&self, row: &[f64]) -> f64 {
        let Some(row) = row.get(..self.n_features) else {
            return f64::NAN;
        };
        let row: Vec<f32> = row.iter().map(|&v| to_f32(v)).collect();
        let total = (0..self.n_trees).fold(0.0, |s, i| s + self.trees.path_length(i, &row));
        self.finish(total)
    }

    /// Scores every row of a row-major matrix (in parallel; a trailing partial row is ignored).
    /// Uses AVX-512 when the CPU has it (checked at run time); the values are the same either
    /// way, and the same as [`IsolationForest::score`] row by row.
    pub fn score_rows(&self, rows: &[f64]) -> Vec<f64> {
        // Tree-major over blocks of rows: one tree stays in L1 while the block walks through it.
        const BLOCK: usize = 512;
        let nf = self.n_features;
        let kernel = kernel::Kernel::detect();
        let mut out: Vec<f64> = rows
            .par_chunks(BLOCK * nf)
            .flat_map_iter(|block| {
                let n = block.len() / nf;
                let mut sums = vec![0.0; n];
                match &self.trees {
                    Trees::Compact(trees) if nf <= W => {
                        let padded: Vec<[f32; W]> = block
                            .chunks_exact(nf)
                            .map(|r| {
                                let mut a = [f32::INFINITY; W];
                                for (d, &s) in a.iter_mut().zip(r) {
                                    *d = to_f32(s);
                                }
                                a
                            })
                            .collect();
                        let groups = kernel.groups(&padded);
                        for tree in trees {
                            kernel.add_path_lengths(tree, nf, &padded, &groups, &mut sums);
                        }
                    }
                    trees => {
                        let converted: Vec<f32> = block[..n * nf].iter().map(|&v| to_f32(v)).collect();
                        for i in 0..self.n_trees {
                            for (s, r) in sums.iter_mut().zip(converted.chunks_exact(nf)) {
                                *s += trees.path_length(i, r);
                            }
                        }
                    }
                }
                sums.into_iter()
            })
            .collect();
        for v in &mut out {
            *v = self.finish(*v);
        }
        out
    }
}

/// The scoring kernels for [`Compact`] trees and rows of at most [`W`] features: with AVX-512
/// (checked at run time), sixteen rows per vector and no gathers; else a portable lockstep walk.
/// Both find the same leaves and add the same path lengths in the same order: the same bits.
#[allow(unsafe_code)]
mod kernel {
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    use super::{Compact, DEPTH, W};

    /// Rows per AVX-512 vector, and the column-major layout of such a group of rows
    /// (`cols[k][l]`: feature `k` of row `l`).
    const LANES: usize = 16;
    type Group = [[f32; LANES]; W];

    #[derive(Debug, Clone, Copy)]
    pub(super) enum Kernel {
        Portable,
        #[cfg(target_arch = "x86_64")]
        Avx512,
    }

    impl Kernel {
        pub(super) fn detect() -> Self {
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            Self::Portable
        }

        /// The groups of sixteen rows the AVX-512 kernel reads (none for the portable one).
        pub(super) fn groups(self, rows: &[[f32; W]]) -> Vec<Group> {
            match self {
                Self::Portable => Vec::new(),
                #[cfg(target_arch = "x86_64")]
                Self::Avx512 => rows
                    .chunks_exact(LANES)
                    .map(|g| std::array::from_fn(|k| std::array::from_fn(|l| g[l][k])))
                    .collect(),
            }
        }

        /// Adds the path length through `tree` of each of `rows` (with `nf` features; `groups`
        /// from [`Kernel::groups`]) to `sums`.
        pub(super) fn add_path_lengths(
            self,
            tree: &Compact,
            nf: usize,
            rows: &[[f32; W]],
            groups: &[Group],
            sums: &mut [f64],
        ) {
            let done = match self {
                Self::Portable => portable(tree, rows, sums),
                // Checked again here (a cached flag) so that no value of `self` can reach the
                // AVX-512 code on a CPU without it.
                #[cfg(target_arch = "x86_64")]
                Self::Avx512 if is_x86_feature_detected!("avx512f") => {
                    macro_rules! by_nf {
                        ($($n:literal)*) => {
                            match nf {
                                // SAFETY: this CPU has AVX-512F (checked just above).
                                $($n => unsafe { avx512::<$n>(tree, groups, sums) },)*
                                _ => portable(tree, rows, sums),
                            }
                        };
                    }
                    by_nf!(1 2 3 4 5 6 7 8)
                }
                #[cfg(target_arch = "x86_64")]
                Self::Avx512 => portable(tree, rows, sums),
            };
            for (r, s) in rows.iter().zip(sums.iter_mut()).skip(done) {
                *s += tree.path_length(r);
            }
        }
    }

    /// Sixteen rows at a time in lockstep; returns how many rows it scored.
    fn portable(tree: &Compact, rows: &[[f32; W]], sums: &mut [f64]) -> usize {
        let mut done = 0;
        for (r, s) in rows.chunks_exact(LANES).zip(sums.chunks_exact_mut(LANES)) {
            if let (Ok(r), Ok(s)) = (r.try_into(), s.try_into()) {
                tree.add_path_lengths::<LANES>(r, s);
                done += LANES;
            }
        }
        done
    }

    /// Up to 32 groups of sixteen rows walked level by level: a level's thresholds and features
    /// are loaded into registers once, and the groups, independent of each other, overlap in the
    /// pipeline. Gathers are slow on some CPUs (AMD Zen 4), so there are none: a level's
    /// threshold and feature are picked with permutes (levels of up to 16 nodes fit one
    /// register, deeper ones take one two-register permute per 32 nodes and blends), the value of
    /// that feature with a blend tree over the `NF` columns, and the path length likewise from
    /// the 256 of the last level. Returns how many rows it scored.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn avx512<const NF: usize>(tree: &Compact, groups: &[Group], sums: &mut [f64]) -> usize {
        const MAX_GROUPS: usize = 32;
        let mut js = [_mm512_setzero_si512(); MAX_GROUPS];
        let n = groups.len().min(MAX_GROUPS).min(sums.len() / LANES);
        let (groups, js) = (&groups[..n], &mut js[..n]);
        level::<0, NF>(tree, groups, js);
        level::<1, NF>(tree, groups, js);
        level::<2, NF>(tree, groups, js);
        level::<3, NF>(tree, groups, js);
        level::<4, NF>(tree, groups, js);
        level::<5, NF>(tree, groups, js);
        level::<6, NF>(tree, groups, js);
        level::<7, NF>(tree, groups, js);
        const { assert!(DEPTH == 8) };
        let lt: [__m512; 16] = std::array::from_fn(|c| load16(&tree.leaf, 16 * c));
        for (j, s) in js.iter().zip(sums.chunks_exact_mut(LANES)) {
            let p = pick(&lt, *j);
            let (lo, hi) = s.split_at_mut(LANES / 2);
            let halves = [
                (_mm512_cvtps_pd(_mm512_castps512_ps256(p)), lo),
                (
                    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(p)))),
                    hi,
                ),
            ];
            for (p, s) in halves {
                if s.len() == 8 {
                    // SAFETY: `s` holds 8 f64s.
                    unsafe { _mm512_storeu_pd(s.as_mut_ptr(), _mm512_add_pd(_mm512_loadu_pd(s.as_ptr()), p)) };
                }
            }
        }
        n * LANES
    }

    /// Level `D` of [`avx512`] for every group: `js` holds each row's index within the level.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn level<const D: usize, const NF: usize>(tree: &Compact, groups: &[Group], js: &mut [__m512i]) {
        let start = 1 << D;
        let regs = if D <= 4 { 1 } else { 1 << (D - 4) };
        let tt: [__m512; 8] = std::array::from_fn(|c| {
            if c < regs {
                load16(&tree.thr, start + 16 * c)
            } else {
                inf()
            }
        });
        let ft: [__m512; 8] = std::array::from_fn(|c| {
            if c < regs {
                _mm512_castsi512_ps(load16i(&tree.feat, start + 16 * c))
            } else {
                inf()
            }
        });
        let one = _mm512_set1_epi32(1);
        for (j, g) in js.iter_mut().zip(groups) {
            let t = pick(&tt[..regs], *j);
            let f = _mm512_castps_si512(pick(&ft[..regs], *j));
            // Feature f of each row: blends on bit 0 of f pair the columns up, then bit 1, 2.
            let mut v: [__m512; W] = std::array::from_fn(|k| if k < NF { load16(&g[k], 0) } else { inf() });
            let (mut n, mut bit) = (NF, 1);
            while n > 1 {
                let m = _mm512_test_epi32_mask(f, _mm512_set1_epi32(bit));
                for i in 0..n / 2 {
                    v[i] = _mm512_mask_blend_ps(m, v[2 * i], v[2 * i + 1]);
                }
                if n % 2 == 1 {
                    v[n / 2] = v[n - 1];
                }
                (n, bit) = (n.div_ceil(2), bit * 2);
            }
            let right = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v[0], t);
            let jj = _mm512_add_epi32(*j, *j);
            *j = _mm512_mask_add_epi32(jj, right, jj, one);
        }
    }

    /// Entry `j` (per lane) of a table of 16, 32, 64, 128 or 256 values held 16 per register:
    /// one permute per register pair, then blends on bits 5, 6 and 7 of `j`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn pick(table: &[__m512], j: __m512i) -> __m512 {
        if let [t] = table {
            return _mm512_permutexvar_ps(j, *t);
        }
        let mut p: [__m512; 8] = std::array::from_fn(|c| match table.get(2 * c..2 * c + 2) {
            Some([a, b]) => _mm512_permutex2var_ps(*a, j, *b),
            _ => inf(),
        });
        let (mut n, mut bit) = (table.len() / 2, 32);
        while n > 1 {
            let m = _mm512_test_epi32_mask(j, _mm512_set1_epi32(bit));
            for i in 0..n / 2 {
                p[i] = _mm512_mask_blend_ps(m, p[2 * i], p[2 * i + 1]);
            }
            (n, bit) = (n / 2, bit * 2);
        }
        p[0]
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn inf() -> __m512 {
        _mm512_set1_ps(f32::INFINITY)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn zero() -> __m512i {
        _mm512_setzero_si512()
    }

    /// Sixteen f32s of `a` from `at` (+inf past the end).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load16(a: &[f32], at: usize) -> __m512 {
        match a.get(at..at + 16) {
            // SAFETY: the slice holds 16 f32s.
            Some(s) => unsafe { _mm512_loadu_ps(s.as_ptr()) },
            None => inf(),
        }
    }

    /// Sixteen u32s of `a` from `at` (0 past the end).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load16i(a: &[u32], at: usize) -> __m512i {
        match a.get(at..at + 16) {
            // SAFETY: the slice holds 16 u32s.
            Some(s) => unsafe { _mm512_loadu_si512(s.as_ptr().cast()) },
            None => zero(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(n: usize, seed: u64) -> Vec<f64> {
        let mut g = SplitMix64::new(seed);
        (0..n * 2).map(|_| g.normal()).collect()
    }

    #[test]
    fn sampling_is_uniform_and_distinct() {
        let mut g = SplitMix64::new(5);
        let mut counts = [0usize; 10];
        for _ in 0..20_000 {
            let s = sample_without_replacement(&mut g, 10, 3);
            assert_eq!(s.len(), 3);
            assert!(s.windows(2).all(|w| w[0] < w[1]));
            for i in s {
                counts[i] += 1;
            }
        }
        // Each index is drawn with probability 3/10: 6,000 expected.
        assert!(counts.iter().all(|&c| (5_700..6_300).contains(&c)), "{counts:?}");
        assert_eq!(sample_without_replacement(&mut g, 4, 10), vec![0, 1, 2, 3]);
    }

    #[test]
    fn c_values() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        assert!((average_path_length(256) - 10.244_770_920_116_851).abs() < 1e-9);
    }

    #[test]
    fn outlier_scores_high_and_deterministic() {
        let mut data = blob(1000, 1);
        data.extend_from_slice(&[8.0, 8.0]);
        let cfg = IsolationForestConfig {
            seed: 42,
            ..Default::default()
        };
        let f = IsolationForest::fit(&data, 2, &cfg).unwrap();
        let s_out = f.score(&[8.0, 8.0]);
        let s_in = f.score(&[0.0, 0.0]);
        assert!(s_out > 0.7 && s_in < 0.5, "{s_out} {s_in}");
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let g = single.install(|| IsolationForest::fit(&data, 2, &cfg).unwrap());
        assert_eq!(f.score_rows(&data), g.score_rows(&data));
    }

    /// `score` and `score_rows` agree bit for bit, through every kernel: whatever the number
    /// of features (each width of the AVX-512 kernel, and the generic path past `W`), block
    /// remainders, NaN and infinite values, and deep trees (`max_samples > 256`).
    #[test]
    fn score_matches_score_rows_bitwise() {
        for (nf, n, max_samples) in [
            (1, 37, 256),
            (2, 700, 256),
            (3, 16, 64),
            (5, 1000, 256),
            (8, 530, 256),
            (9, 300, 256),
            (5, 1500, 1000),
        ] {
            let mut data = blob(n * nf / 2 + 1, nf as u64);
            data.truncate(n * nf);
            data[3 % (n * nf)] = f64::NAN;
            data[(7 * nf + 1) % (n * nf)] = f64::INFINITY;
            data[(11 * nf) % (n * nf)] = -1e300;
            let cfg = IsolationForestConfig {
                seed: nf as u64,
                max_samples,
                n_estimators: 20,
            };
            let f = IsolationForest::fit(&data, nf, &cfg).unwrap();
            assert_eq!(matches!(f.trees, Trees::Deep(_)), max_samples > SLOTS);
            let all = f.score_rows(&data);
            assert_eq!(all.len(), n);
            for (r, s) in data.chunks_exact(nf).zip(&all) {
                assert_eq!(f.score(r).to_bits(), s.to_bits(), "nf {nf}: {r:?}");
                assert!(*s > 0.0 && *s <= 1.0);
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..Default::default() })]

        /// Any values (NaN, infinities, -0.0, huge), widths and sample sizes: `score` and
        /// `score_rows` agree bit for bit, and finite scores lie in (0, 1].
        #[test]
        fn score_rows_is_score_per_row(
            nf in 1usize..11,
            values in prop::collection::vec(
                prop_oneof![
                    6 => -10.0..10.0f64,
                    1 => Just(f64::NAN),
                    1 => Just(f64::NEG_INFINITY),
                    1 => Just(-0.0),
                    1 => Just(0.0),
                    1 => Just(1e300),
                    3 => (0i32..4).prop_map(f64::from),
                ],
                1..700,
            ),
            max_samples in prop_oneof![2usize..40, Just(256usize), 257usize..400],
            seed in 0u64..1000,
        ) {
            let cfg = IsolationForestConfig { n_estimators: 7, max_samples, seed };
            let Ok(f) = IsolationForest::fit(&values[..values.len() / nf * nf], nf, &cfg) else {
                return Ok(());
            };
            let all = f.score_rows(&values);
            prop_assert_eq!(all.len(), values.len() / nf);
            for (r, s) in values.chunks_exact(nf).zip(&all) {
                prop_assert_eq!(f.score(r).to_bits(), s.to_bits());
                prop_assert!(*s > 0.0 && *s <= 1.0, "{}", s);
            }
        }
    }

    /// The portable kernel and the one this CPU runs find the same path lengths.
    #[test]
    fn kernels_agree() {
        let data = blob(3000, 9);
        let f = IsolationForest::fit(&data, 2, &Default::default()).unwrap();
        let Trees::Compact(trees) = &f.trees else {
            panic!("expected compact trees");
        };
        let mut rows: Vec<[f32; W]> = data
            .chunks_exact(2)
            .take(300)
            .map(|r| {
                let mut a = [f32::INFINITY; W];
                a[0] = to_f32(r[0]);
                a[1] = to_f32(r[1]);
                a
            })
            .collect();
        // Rows on the thresholds themselves: ties must go left in every kernel.
        for tree in &trees[..5] {
            for (&t, &f) in tree.thr.iter().zip(&tree.feat).filter(|(t, _)| t.is_finite()) {
                let mut a = rows[rows.len() % 300];
                a[f as usize] = t;
                rows.push(a);
            }
        }
        assert!(rows.len() > 400);
        let run = |k: kernel::Kernel| {
            let groups = k.groups(&rows);
            let mut sums = vec![0.0; rows.len()];
            for t in trees {
                k.add_path_lengths(t, 2, &rows, &groups, &mut sums);
            }
            sums
        };
        let expected: Vec<f64> = rows
            .iter()
            .map(|r| trees.iter().map(|t| t.path_length(r)).sum())
            .collect();
        assert_eq!(run(kernel::Kernel::Portable), expected);
        assert_eq!(run(kernel::Kernel::detect()), expected);
    }

    #[test]
    fn thresholds_round_down_to_f32() {
        for t in [0.1, -0.1, 1.0, 1e-40, -3.4e38, 12_345.678_9] {
            let r = lower_f32(t);
            assert!(f64::from(r) <= t && f64::from(r.next_up()) > t, "{t}");
        }
        assert_eq!(to_f32(f64::NAN), f32::INFINITY);
        assert_eq!(to_f32(1e300), f32::MAX);
        assert_eq!(to_f32(f64::NEG_INFINITY), f32::NEG_INFINITY);
    }

    #[test]
    fn odd_inputs() {
        assert!(IsolationForest::fit(&[], 2, &Default::default()).is_err());
        assert!(IsolationForest::fit(&[1.0, 2.0, 3.0], 2, &Default::default()).is_err());
        assert!(IsolationForest::fit(&[f64::NAN, 1.0], 2, &Default::default()).is_err());
        let f = IsolationForest::fit(&[1.0; 20], 2, &Default::default()).unwrap();
        assert!(f.score(&[1.0, 1.0]).is_finite());
        assert!(f.score(&[f64::NAN, 1.0]).is_finite());
        assert!(f.score(&[1.0]).is_nan());
        let f = IsolationForest::fit(&[1.0, 1e308, -1e308, 0.0], 2, &Default::default()).unwrap();
        assert!(f.score(&[0.0, 0.0]).is_finite());
    }
}
