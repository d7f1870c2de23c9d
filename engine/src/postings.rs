//! Inverted index: label name -> label value -> postings (sorted series ordinals).
//!
//! The head keeps one per shard, each block one for its series. Matchers resolve to set operations
//! on sorted `u32` lists.

use std::collections::HashMap;

use crate::model::{LabelMatcher, Labels, MatchOp};

/// Label name -> value -> sorted ordinals of the series carrying that pair.
#[derive(Debug, Default, Clone)]
pub(crate) struct Postings {
    map: HashMap<String, HashMap<String, Vec<u32>>>,
    len: u32,
}

impl Postings {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds series `id`; ids must be added in increasing order (lists stay sorted by appending).
    pub(crate) fn add(&mut self, id: u32, labels: &Labels) {
        for l in labels.iter() {
            let (n, v) = (l.name, l.value);
            let values = match self.map.get_mut(n) {
                Some(values) => values,
                None => self.map.entry(n.to_owned()).or_default(),
            };
            match values.get_mut(v) {
                Some(list) => list.push(id),
                None => {
                    values.insert(v.to_owned(), vec![id]);
                }
            }
        }
        self.len = self.len.max(id + 1);
    }

    /// Adds a whole posting list (used when loading a block's stored index).
    pub(crate) fn insert_list(&mut self, name: &str, value: &str, ids: Vec<u32>) {
        if let Some(&max) = ids.last() {
            self.len = self.len.max(max + 1);
        }
        self.map
            .entry(name.to_owned())
            .or_default()
            .insert(value.to_owned(), ids);
    }

    /// Sets the number of series (ordinals are `0..len`).
    pub(crate) fn set_len(&mut self, len: u32) {
        self.len = self.len.max(len);
    }

    /// Ordinals of the series matching every matcher, ascending.
    pub(crate) fn select(&self, matchers: &[LabelMatcher]) -> Vec<u32> {
        let mut result: Option<Vec<u32>> = None;
        // Positive matchers first: they shrink the set fastest.
        let mut ordered: Vec<&LabelMatcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| (m.matches(""), m.op != MatchOp::Equal));
        for m in ordered {
            if result.as_ref().is_some_and(|r| r.is_empty()) {
                break;
            }
            let values = self.map.get(&m.name);
            if m.matches("") {
                // Series without the label match; remove those whose value does not match.
                let mut excluded: Vec<u32> = Vec::new();
                if let Some(values) = values {
                    for (v, ids) in values {
                        if !m.matches(v) {
                            excluded = union(&excluded, ids);
                        }
                    }
                }
                let base = result.take().unwrap_or_else(|| (0..self.len).collect());
                result = Some(difference(&base, &excluded));
            } else {
                let mut matched: Vec<u32> = Vec::new();
                if let Some(values) = values {
                    if m.op == MatchOp::Equal {
                        if let Some(ids) = values.get(&m.value) {
                            matched = ids.clone();
                        }
                    } else {
                        for (v, ids) in values {
                            if m.matches(v) {
                                matched = union(&matched, ids);
                            }
                        }
                    }
                }
                result = Some(match result.take() {
                    Some(r) => intersect(&r, &matched),
                    None => matched,
                });
            }
        }
        result.unwrap_or_else(|| (0..self.len).collect())
    }

    /// Every (name, value, postings) triple, for serialisation.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &str, &[u32])> {
        self.map.iter().flat_map(|(n, vals)| {
            vals.iter()
                .map(move |(v, ids)| (n.as_str(), v.as_str(), ids.as_slice()))
        })
    }
}

pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

pub(crate) fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

pub(crate) fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied())
    }

    #[test]
    fn matchers_resolve_like_prometheus() {
        let mut p = Postings::new();
        let series = [
            labels(&[("__name__", "cpu"), ("host", "a"), ("dc", "x")]),
            labels(&[("__name__", "cpu"), ("host", "b")]),
            labels(&[("__name__", "mem"), ("host", "a"), ("dc", "y")]),
        ];
        for (i, l) in series.iter().enumerate() {
            p.add(i as u32, l);
        }
        let sel = |ms: Vec<LabelMatcher>| p.select(&ms);
        assert_eq!(sel(vec![LabelMatcher::equal("__name__", "cpu")]), vec![0, 1]);
        assert_eq!(
            sel(vec![
                LabelMatcher::equal("__name__", "cpu"),
                LabelMatcher::equal("host", "a")
            ]),
            vec![0]
        );
        assert_eq!(
            sel(vec![LabelMatcher::new(MatchOp::NotEqual, "dc", "x").unwrap()]),
            vec![1, 2]
        );
        assert_eq!(sel(vec![LabelMatcher::equal("dc", "")]), vec![1]);
        assert_eq!(
            sel(vec![LabelMatcher::new(MatchOp::RegexMatch, "dc", ".+").unwrap()]),
            vec![0, 2]
        );
        assert_eq!(
            sel(vec![LabelMatcher::new(MatchOp::RegexNoMatch, "host", "a|b").unwrap()]),
            Vec::<u32>::new()
        );
        assert_eq!(sel(vec![LabelMatcher::equal("nope", "1")]), Vec::<u32>::new());
        assert_eq!(sel(vec![]), vec![0, 1, 2]);
    }

    proptest! {
        #[test]
        fn set_ops_match_btreeset(a in proptest::collection::btree_set(0u32..200, 0..50),
                                  b in proptest::collection::btree_set(0u32..200, 0..50)) {
            let va: Vec<u32> = a.iter().copied().collect();
            let vb: Vec<u32> = b.iter().copied().collect();
            prop_assert_eq!(intersect(&va, &vb), a.intersection(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(union(&va, &vb), a.union(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(difference(&va, &vb), a.difference(&b).copied().collect::<Vec<_>>());
        }
    }
}
