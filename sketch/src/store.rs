//! The sparse bucket store of one sign: bucket keys ascending, with their counts.

/// Buckets as `(key, count)` ascending by key, counts non-zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Store {
    bins: Vec<(i32, u64)>,
    total: u64,
}

impl Store {
    pub(crate) fn add(&mut self, key: i32, count: u64) {
        if count == 0 {
            return;
        }
        self.total += count;
        // Data arrives mostly in nearby buckets; the last one is checked first.
        if let Some(last) = self.bins.last_mut() {
            if last.0 == key {
                last.1 += count;
                return;
            }
            if last.0 < key {
                self.bins.push((key, count));
                return;
            }
        }
        match self.bins.binary_search_by_key(&key, |b| b.0) {
            Ok(i) => self.bins[i].1 += count,
            Err(i) => self.bins.insert(i, (key, count)),
        }
    }

    pub(crate) fn merge(&mut self, other: &Store) {
        if other.bins.is_empty() {
            return;
        }
        if self.bins.is_empty() {
            self.clone_from(other);
            return;
        }
        // Merging many windows into one sketch: once the running sketch spans the data, most
        // merges only add to buckets it has, in place.
        if other
            .bins
            .iter()
            .all(|b| self.bins.binary_search_by_key(&b.0, |x| x.0).is_ok())
        {
            let mut at = 0;
            for &(k, c) in &other.bins {
                at += self.bins[at..].partition_point(|x| x.0 < k);
                self.bins[at].1 += c;
            }
            self.total += other.total;
            return;
        }
        let (x, y) = (&self.bins, &other.bins);
        let mut out = Vec::with_capacity(x.len() + y.len());
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            let (a, b) = (x[i], y[j]);
            if a.0 == b.0 {
                out.push((a.0, a.1 + b.1));
                i += 1;
                j += 1;
            } else if a.0 < b.0 {
                out.push(a);
                i += 1;
            } else {
                out.push(b);
                j += 1;
            }
        }
        out.extend_from_slice(&x[i..]);
        out.extend_from_slice(&y[j..]);
        self.bins = out;
        self.total += other.total;
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn len(&self) -> usize {
        self.bins.len()
    }

    pub(crate) fn bins(&self) -> &[(i32, u64)] {
        &self.bins
    }

    /// Builds a store from buckets ascending by key with non-zero counts (checked by the caller).
    pub(crate) fn from_bins(bins: Vec<(i32, u64)>, total: u64) -> Store {
        Store { bins, total }
    }

    /// The key of the bucket holding rank `r` (0-based, ascending keys); `r < total`.
    pub(crate) fn key_at_rank(&self, r: u64) -> i32 {
        let mut seen = 0u64;
        for &(k, c) in &self.bins {
            seen += c;
            if r < seen {
                return k;
            }
        }
        self.bins.last().map_or(0, |b| b.0)
    }
}
