//! A [`Storage`] layered over another: the samples a group wrote in this evaluation, visible to
//! its later rules before the caller stores them (Prometheus commits each rule's output before
//! the next rule runs).

use std::collections::BTreeMap;

use foresight_promql::{LabelMatcher, Labels, Series, Storage, StorageError};

/// The base storage plus samples added on top; an added sample wins over a base sample at the
/// same timestamp of the same series.
pub(crate) struct Overlay<'a> {
    base: &'a dyn Storage,
    added: BTreeMap<Labels, Vec<(i64, f64)>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a dyn Storage) -> Self {
        Self {
            base,
            added: BTreeMap::new(),
        }
    }

    pub(crate) fn add(&mut self, labels: &Labels, t: i64, v: f64) {
        let samples = self.added.entry(labels.clone()).or_default();
        match samples.binary_search_by_key(&t, |s| s.0) {
            Ok(i) => samples[i].1 = v,
            Err(i) => samples.insert(i, (t, v)),
        }
    }
}

impl Storage for Overlay<'_> {
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StorageError> {
        let mut out = self.base.select(matchers, mint, maxt)?;
        for (labels, samples) in &self.added {
            if !matchers.iter().all(|m| m.matches_labels(labels)) {
                continue;
            }
            let mine: Vec<(i64, f64)> = samples.iter().copied().filter(|s| s.0 >= mint && s.0 <= maxt).collect();
            if mine.is_empty() {
                continue;
            }
            match out.iter_mut().find(|s| &s.labels == labels) {
                Some(s) => {
                    let mut merged: BTreeMap<i64, f64> = s.samples.iter().copied().collect();
                    merged.extend(mine);
                    s.samples = merged.into_iter().collect();
                }
                None => out.push(Series {
                    labels: labels.clone(),
                    samples: mine.into(),
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use foresight_promql::MemStorage;

    use super::*;

    #[test]
    fn added_samples_join_and_override_the_base() {
        let mut base = MemStorage::new();
        let a = Labels::new([("__name__", "a")]);
        base.add(a.clone(), [(0, 1.0), (10, 2.0)]);
        let mut o = Overlay::new(&base);
        o.add(&a, 10, 5.0);
        o.add(&a, 20, 6.0);
        let b = Labels::new([("__name__", "b")]);
        o.add(&b, 20, 7.0);
        let got = o.select(&[LabelMatcher::equal("__name__", "a")], 0, 15).unwrap();
        assert_eq!(got[0].samples, vec![(0, 1.0), (10, 5.0)]);
        let all = o
            .select(
                &[LabelMatcher::new(foresight_promql::MatchOp::RegexMatch, "__name__", ".+").unwrap()],
                0,
                100,
            )
            .unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            o.select(&[LabelMatcher::equal("__name__", "b")], 0, 10)
                .unwrap()
                .is_empty()
        );
    }
}
