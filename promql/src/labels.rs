//! Label sets: sorted `(name, value)` pairs packed into one shared allocation, so cloning,
//! hashing and comparing are cheap, a series' labels are shared by every intermediate result that
//! keeps them, and a database can keep millions of them at a few bytes over their text.
//!
//! The packed form is the set's canonical key: for each label in name order, the name's length
//! as an unsigned LEB128 varint, the name's bytes, then the same for the value. Two sets are equal
//! exactly when their keys are; a storage engine can keep the key as its series key and hand it
//! back as [`Labels`] without copying ([`Labels::from_key`]).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label of a set: a name and its (non-empty) value, borrowed from the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label<'a> {
    /// Label name, e.g. `host`.
    pub name: &'a str,
    /// Label value, never empty (an empty value means "no such label").
    pub value: &'a str,
}

/// A label set, sorted by name, including `__name__` when the series has one.
///
/// Cheap to clone (one `Arc`), ordered the way Prometheus orders label sets (pair by pair).
#[derive(Clone, Default)]
pub struct Labels(Arc<[u8]>);

/// Why bytes are not a label set's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadKey(pub &'static str);

impl fmt::Display for BadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BadKey {}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads one length-prefixed string off the front of `rest`.
fn take_str<'a>(rest: &mut &'a [u8]) -> Result<&'a str, BadKey> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let (&b, tail) = rest.split_first().ok_or(BadKey("truncated length"))?;
        *rest = tail;
        if shift >= 63 && b > 1 {
            return Err(BadKey("length varint overflows"));
        }
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let len = usize::try_from(len).map_err(|_| BadKey("length out of range"))?;
    if len > rest.len() {
        return Err(BadKey("truncated string"));
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    std::str::from_utf8(s).map_err(|_| BadKey("string is not UTF-8"))
}

/// The labels of a set, in name order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // Keys are checked when a set is built, so this only stops at the end.
        let pair = take_str(&mut self.rest).and_then(|name| {
            Ok(Label {
                name,
                value: take_str(&mut self.rest)?,
            })
        });
        match pair {
            Ok(l) => Some(l),
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs in any order. Pairs with an empty value are dropped (as in
    /// Prometheus, an empty value is the same as no label); for a repeated name the last pair wins.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<(N, V)> = pairs.into_iter().collect();
        // Stable sort keeps insertion order among equal names, so "last wins" below is well defined.
        v.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(v.len());
        for (n, val) in &v {
            let l = (n.as_ref(), val.as_ref());
            match out.last_mut() {
                Some(last) if last.0 == l.0 => *last = l,
                _ => out.push(l),
            }
        }
        Self::from_sorted(out.into_iter().filter(|l| !l.1.is_empty()))
    }

    /// Packs pairs already sorted by name, unique, with non-empty values.
    fn from_sorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut key = Vec::new();
        for (n, v) in pairs {
            put_str(&mut key, n);
            put_str(&mut key, v);
        }
        Self(key.into())
    }

    /// The set whose key (see the [module docs](self)) is `key`; checks that the names are
    /// strictly increasing and the values non-empty, so only canonical keys are accepted.
    pub fn from_key(key: &[u8]) -> Result<Self, BadKey> {
        let mut rest = key;
        let mut prev: Option<&str> = None;
        while !rest.is_empty() {
            let name = take_str(&mut rest)?;
            let value = take_str(&mut rest)?;
            if prev.is_some_and(|p| p >= name) {
                return Err(BadKey("label names not in strictly increasing order"));
            }
            if value.is_empty() {
                return Err(BadKey("empty label value"));
            }
            prev = Some(name);
        }
        Ok(Self(key.into()))
    }

    /// The set's key: its canonical packed form (see the [module docs](self)).
    pub fn as_key(&self) -> &[u8] {
        &self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there is no label at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.0 }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        for l in self.iter() {
            match l.name.cmp(name) {
                Ordering::Less => {}
                Ordering::Equal => return Some(l.value),
                Ordering::Greater => return None,
            }
        }
        None
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
        Self::from_sorted(self.iter().filter(|l| keep(l.name)).map(|l| (l.name, l.value)))
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
        let others = self.iter().filter(|l| l.name != name).map(|l| (l.name, l.value));
        let new = (!value.is_empty()).then_some((name, value));
        let mut pairs: Vec<(&str, &str)> = others.chain(new).collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        Self::from_sorted(pairs)
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// Pair by pair, names then values, as Prometheus sorts label sets (not the keys' byte order,
/// which puts shorter names first).
impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
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
        let rest: Vec<Label<'_>> = self.iter().filter(|l| l.name != METRIC_NAME).collect();
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
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn name_display_and_edit() {
        let l = Labels::new([("__name__", "up"), ("job", "x")]);
        assert_eq!(l.to_string(), r#"up{job="x"}"#);
        assert_eq!(l.without_metric_name().to_string(), r#"{job="x"}"#);
        assert_eq!(l.with("job", "").to_string(), "up");
        assert_eq!(l.with("a", "\"q\"").to_string(), r#"up{a="\"q\"", job="x"}"#);
        assert_eq!(l.with("job", "y").to_string(), r#"up{job="y"}"#);
    }

    #[test]
    fn keys_round_trip_and_bad_keys_are_refused() {
        let long = "v".repeat(300);
        let l = Labels::new([("b", "2"), (METRIC_NAME, "m"), ("a", long.as_str()), ("é", "ü")]);
        assert_eq!(Labels::from_key(l.as_key()), Ok(l.clone()));
        assert_eq!(Labels::from_key(&[]), Ok(Labels::empty()));
        assert!(Labels::from_key(&[5, b'a']).is_err());
        assert!(Labels::from_key(&[1, b'a']).is_err(), "a name without a value");
        assert!(Labels::from_key(&[1, b'a', 0]).is_err(), "an empty value");
        assert!(
            Labels::from_key(&[1, b'b', 1, b'1', 1, b'a', 1, b'1']).is_err(),
            "out of order"
        );
        assert!(
            Labels::from_key(&[1, b'a', 1, b'1', 1, b'a', 1, b'2']).is_err(),
            "repeated name"
        );
        assert!(Labels::from_key(&[1, 0xff, 1, b'1']).is_err(), "not UTF-8");
        assert!(Labels::from_key(&[0xff; 12]).is_err(), "overlong varint");
    }

    #[test]
    fn order_is_pair_by_pair() {
        // By key bytes `{b="1"}` (length 1 name) would sort before `{aa="1"}`; by pairs it is after.
        let mut v = [
            Labels::new([("b", "1")]),
            Labels::new([("aa", "1")]),
            Labels::new([("a", "2")]),
            Labels::new([("a", "10")]),
            Labels::empty(),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(s, [r#"{}"#, r#"{a="10"}"#, r#"{a="2"}"#, r#"{aa="1"}"#, r#"{b="1"}"#]);
    }
}
