//! Isolation forest (Liu, Ting and Zhou 2008), following scikit-learn's `IsolationForest`.

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

/// Node of a flattened tree (16 bytes: a whole tree of 256 samples fits in L1). A leaf has
/// `feature == LEAF` and stores its path-length contribution `depth + c(size)` in `value`; an
/// inner node stores its threshold there, and its children sit at `left` and `left + 1`.
#[derive(Debug, Clone, Copy)]
struct Node {
    value: f64,
    feature: u32,
    left: u32,
}

const LEAF: u32 = u32::MAX;

/// Trees with at most this many nodes (max_samples <= 256) and rows with at most
/// `FAST_FEATURES` features take the bounds-check-free scoring path.
const FAST_NODES: usize = 512;
const FAST_FEATURES: usize = 8;

#[derive(Debug, Clone)]
/// A tree laid out for branch-free scoring: a leaf's threshold is NaN (every comparison sends
/// the row "right") and its `left` is its own index minus one, so a leaf loops onto itself and
/// every row can take exactly `depth` steps; `path[leaf]` holds `depth + c(size)`.
struct Tree {
    nodes: Vec<Node>,
    path: Vec<f64>,
    depth: usize,
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
    data: &'a [f64],
    nf: usize,
    max_depth: usize,
    rng: SplitMix64,
    nodes: Vec<Node>,
    features: Vec<usize>,
}

impl Builder<'_> {
    /// Grows the subtree over `idx` at `depth` into the (already allocated) node `me`.
    fn grow(&mut self, me: usize, idx: &mut [usize], depth: usize) {
        self.nodes[me] = Node {
            value: depth as f64 + average_path_length(idx.len()),
            feature: LEAF,
            left: 0,
        };
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
            let (lo, hi) = idx.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &i| {
                let v = self.data[i * nf + f];
                (a.min(v), b.max(v))
            });
            if hi > lo && (hi - lo).is_finite() {
                chosen = Some((f, lo, hi));
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
        // Partition in place: x <= thr to the left (non-empty: holds lo; right holds hi).
        let mut split = 0;
        for j in 0..idx.len() {
            if self.data[idx[j] * nf + f] <= thr {
                idx.swap(j, split);
                split += 1;
            }
        }
        let left = self.nodes.len();
        let placeholder = Node {
            value: 0.0,
            feature: LEAF,
            left: 0,
        };
        self.nodes.push(placeholder);
        self.nodes.push(placeholder);
        self.nodes[me] = Node {
            value: thr,
            feature: f as u32,
            left: left as u32,
        };
        let (l, r) = idx.split_at_mut(split);
        self.grow(left, l, depth + 1);
        self.grow(left + 1, r, depth + 1);
    }
}

impl Tree {
    fn from_grown(mut nodes: Vec<Node>, depth: usize) -> Self {
        let mut path = vec![0.0; nodes.len()];
        for (i, (n, p)) in nodes.iter_mut().zip(path.iter_mut()).enumerate() {
            if n.feature == LEAF {
                *p = n.value;
                *n = Node {
                    value: f64::NAN,
                    feature: 0,
                    left: (i as u32).wrapping_sub(1),
                };
            }
        }
        // Pad small trees to a fixed size so the hot loop can index without bounds checks.
        if nodes.len() <= FAST_NODES {
            for i in nodes.len()..FAST_NODES {
                nodes.push(Node {
                    value: f64::NAN,
                    feature: 0,
                    left: (i as u32).wrapping_sub(1),
                });
                path.push(0.0);
            }
        }
        Self { nodes, path, depth }
    }

    /// Lockstep walk of `L` rows padded to `FAST_FEATURES` columns through a padded tree: every
    /// index is masked into a fixed-size array, so there is no bounds check in the loop.
    #[inline(always)]
    fn add_path_lengths_fast<const L: usize>(
        nodes: &[Node; FAST_NODES],
        path: &[f64; FAST_NODES],
        depth: usize,
        rows: &[[f64; FAST_FEATURES]; L],
        out: &mut [f64],
    ) {
        let mut idx = [0u32; L];
        for _ in 0..depth {
            for (i, row) in idx.iter_mut().zip(rows) {
                let n = nodes[*i as usize & (FAST_NODES - 1)];
                let x = row[n.feature as usize & (FAST_FEATURES - 1)];
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                let right = !(x <= n.value);
                *i = n.left.wrapping_add(u32::from(right));
            }
        }
        for (o, i) in out.iter_mut().zip(idx) {
            *o += path[i as usize & (FAST_NODES - 1)];
        }
    }

    #[inline(always)]
    fn step(&self, i: u32, row: &[f64]) -> u32 {
        match self.nodes.get(i as usize) {
            Some(n) => {
                let x = row.get(n.feature as usize).copied().unwrap_or(f64::NAN);
                // NaN compares false and goes right, deterministically (hence the negated `<=`).
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                let right = !(x <= n.value);
                n.left.wrapping_add(u32::from(right))
            }
            None => i,
        }
    }

    fn path_length(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        for _ in 0..self.depth {
            i = self.step(i, row);
        }
        self.path.get(i as usize).copied().unwrap_or(0.0)
    }

    /// Adds the path lengths of `L` rows walked in lockstep: their dependency chains (load node,
    /// load feature, compare) overlap, which is where the time goes.
    #[inline(always)]
    fn add_path_lengths<const L: usize>(&self, rows: &[&[f64]; L], out: &mut [f64]) {
        let mut idx = [0u32; L];
        for _ in 0..self.depth {
            for (i, row) in idx.iter_mut().zip(rows) {
                *i = self.step(*i, row);
            }
        }
        for (o, i) in out.iter_mut().zip(idx) {
            *o += self.path.get(i as usize).copied().unwrap_or(0.0);
        }
    }
}

/// A fitted isolation forest. Scores are in (0, 1]: around 0.5 or below is ordinary, close to 1
/// is isolated quickly, i.e. anomalous (scikit-learn's `-score_samples`; its default
/// `contamination="auto"` threshold is 0.5).
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Vec<Tree>,
    n_features: usize,
    max_samples: usize,
}

impl IsolationForest {
    /// Fits a forest on `rows`, a row-major matrix with `n_features` columns.
    ///
    /// Rows holding a non-finite value are left out of the fit. Each tree draws
    /// `min(max_samples, n)` rows without replacement and grows to depth
    /// `ceil(log2(max_samples))`, splitting on a random non-constant feature at a uniform random
    /// threshold. Trees are built in parallel (rayon); tree `i` uses its own stream of `seed`,
    /// so the result does not depend on the number of threads.
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
        let data: Vec<f64> = rows
            .chunks_exact(n_features)
            .filter(|r| r.iter().all(|v| v.is_finite()))
            .flatten()
            .copied()
            .collect();
        let n = data.len() / n_features;
        if n == 0 {
            return Err(ForecastError::NotEnoughData { needed: 1, got: 0 });
        }
        let max_samples = config.max_samples.min(n);
        let max_depth = (max_samples.max(2) as f64).log2().ceil() as usize;
        let trees = (0..config.n_estimators)
            .into_par_iter()
            .map(|i| {
                let mut rng = SplitMix64::stream(config.seed, i as u64);
                let mut sample = sample_without_replacement(&mut rng, n, max_samples);
                let mut b = Builder {
                    data: &data,
                    nf: n_features,
                    max_depth,
                    rng,
                    nodes: vec![Node {
                        value: 0.0,
                        feature: LEAF,
                        left: 0,
                    }],
                    features: (0..n_features).collect(),
                };
                b.nodes.reserve(2 * max_samples);
                b.grow(0, &mut sample, 0);
                Tree::from_grown(b.nodes, max_depth)
            })
            .collect();
        Ok(Self {
            trees,
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

    /// Anomaly score `2^(-E[h(x)] / c(max_samples))` of one row (NaN if the row is too short).
    pub fn score(&self, row: &[f64]) -> f64 {
        if row.len() < self.n_features || self.trees.is_empty() {
            return f64::NAN;
        }
        let total: f64 = self.trees.iter().map(|t| t.path_length(row)).sum();
        let mean = total / self.trees.len() as f64;
        let c = average_path_length(self.max_samples);
        if c > 0.0 { (-mean / c).exp2() } else { 0.5 }
    }

    /// Scores every row of a row-major matrix (in parallel; a trailing partial row is ignored).
    pub fn score_rows(&self, rows: &[f64]) -> Vec<f64> {
        if self.n_features == 0 {
            return Vec::new();
        }
        // Tree-major over blocks of rows (one tree stays in L1 while the block walks through it),
        // sixteen rows in lockstep.
        const BLOCK: usize = 512;
        const LANES: usize = 16;
        let nf = self.n_features;
        let c = average_path_length(self.max_samples);
        let n_trees = self.trees.len().max(1) as f64;
        let mut out: Vec<f64> = rows
            .par_chunks(BLOCK * nf)
            .flat_map_iter(|block| {
                let rows: Vec<&[f64]> = block.chunks_exact(nf).collect();
                let mut sums = vec![0.0; rows.len()];
                let fast_rows: Option<Vec<[f64; FAST_FEATURES]>> = (nf <= FAST_FEATURES).then(|| {
                    rows.iter()
                        .map(|r| {
                            let mut a = [f64::NAN; FAST_FEATURES];
                            a[..nf].copy_from_slice(r);
                            a
                        })
                        .collect()
                });
                for tree in &self.trees {
                    let fast = (
                        <&[Node; FAST_NODES]>::try_from(tree.nodes.as_slice()),
                        <&[f64; FAST_NODES]>::try_from(tree.path.as_slice()),
                        &fast_rows,
                    );
                    if let (Ok(nodes), Ok(path), Some(fr)) = fast {
                        let mut lanes = fr.chunks_exact(LANES);
                        let mut at = 0;
                        for group in &mut lanes {
                            if let Ok(group) = <&[[f64; FAST_FEATURES]; LANES]>::try_from(group) {
                                Tree::add_path_lengths_fast(nodes, path, tree.depth, group, &mut sums[at..at + LANES]);
                            }
                            at += LANES;
                        }
                        for (s, r) in sums[at..].iter_mut().zip(lanes.remainder()) {
                            *s += tree.path_length(r);
                        }
                        continue;
                    }
                    let mut lanes = rows.chunks_exact(LANES);
                    let mut at = 0;
                    for group in &mut lanes {
                        if let Ok(group) = <&[&[f64]; LANES]>::try_from(group) {
                            tree.add_path_lengths(group, &mut sums[at..at + LANES]);
                        }
                        at += LANES;
                    }
                    for (s, r) in sums[at..].iter_mut().zip(lanes.remainder()) {
                        *s += tree.path_length(r);
                    }
                }
                sums.into_iter()
            })
            .collect();
        for v in &mut out {
            *v = if c > 0.0 { (-*v / n_trees / c).exp2() } else { 0.5 };
        }
        out
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
