//! Label sets: sorted `(name, value)` pairs behind an `Arc`, so cloning, hashing and comparing
//! are cheap and a series' labels are shared by every intermediate result that keeps them.

use std::fmt;
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label: a name and its (non-empty) value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name, e.g. `host`.
    pub name: String,
    /// Label value, never empty (an empty value means "no such label").
    pub value: String,
}

/// A label set, sorted by name, including `__name__` when the series has one.
///
/// Cheap to clone (one `Arc`), ordered the way Prometheus orders label sets (pair by pair).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs in any order. Pairs with an empty value are dropped (as in
    /// Prometheus, an empty value is the same as no label); for a repeated name the last pair wins.
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect();
        // Stable sort keeps insertion order among equal names, so "last wins" below is well defined.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v {
            match out.last_mut() {
                Some(last) if last.name == l.name => *last = l,
                _ => out.push(l),
            }
        }
        out.retain(|l| !l.value.is_empty());
        Self(out.into())
    }

    fn from_sorted(v: Vec<Label>) -> Self {
        Self(v.into())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no label at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|l| l.value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The same labels without `__name__` (shares storage when there is none).
    pub fn without_metric_name(&self) -> Self {
        if self.get(METRIC_NAME).is_none() {
            return self.clone();
        }
        self.filter(|n| n != METRIC_NAME)
    }

    /// Keeps only the labels whose name satisfies `keep`.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Self {
        Self::from_sorted(self.0.iter().filter(|l| keep(&l.name)).cloned().collect())
    }

    /// Keeps only the labels named in `names`.
    pub fn keep_only(&self, names: &[String]) -> Self {
        self.filter(|n| names.iter().any(|k| k == n))
    }

    /// Drops the labels named in `names`.
    pub fn drop_names(&self, names: &[String]) -> Self {
        self.filter(|n| !names.iter().any(|k| k == n))
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut v: Vec<Label> = self.0.to_vec();
        match v.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => {
                if value.is_empty() {
                    v.remove(i);
                } else if let Some(l) = v.get_mut(i) {
                    l.value = value.to_string();
                }
            }
            Err(i) => {
                if !value.is_empty() {
                    v.insert(
                        i,
                        Label {
                            name: name.to_string(),
                            value: value.to_string(),
                        },
                    );
                }
            }
        }
        Self::from_sorted(v)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prometheus' text form: `name{a="1", b="2"}`, `{a="1"}` without a name, `{}` when empty.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        let rest: Vec<&Label> = self.0.iter().filter(|l| l.name != METRIC_NAME).collect();
        if rest.is_empty() && self.metric_name().is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn name_display_and_edit() {
        let l = Labels::new([("__name__", "up"), ("job", "x")]);
        assert_eq!(l.to_string(), r#"up{job="x"}"#);
        assert_eq!(l.without_metric_name().to_string(), r#"{job="x"}"#);
        assert_eq!(l.with("job", "").to_string(), "up");
        assert_eq!(l.with("a", "\"q\"").to_string(), r#"up{a="\"q\"", job="x"}"#);
    }
}
