//! The data model: label sets, series keys and label matchers.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::Reader;
#[cfg(test)]
use crate::format::put_bytes;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// A series' identity: label pairs sorted by name, `__name__` included. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<[(String, String)]>);

impl Labels {
    /// Builds a label set from pairs in any order. Empty values are dropped (as in Prometheus, an
    /// empty label value means the label is absent); for repeated names the last one wins.
    pub fn new(mut pairs: Vec<(String, String)>) -> Labels {
        pairs.retain(|(_, v)| !v.is_empty());
        // Stable sort keeps input order among equal names, so dedup keeps the last one.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for p in pairs {
            match out.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => out.push(p),
            }
        }
        Labels(out.into())
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The sorted pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical byte key of this label set (what the WAL and the series maps use).
    #[cfg(test)]
    pub(crate) fn key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in self.iter() {
            put_bytes(&mut out, n.as_bytes());
            put_bytes(&mut out, v.as_bytes());
        }
        out
    }

    /// Parses a canonical key written by [`Labels::key`] or by the write path.
    pub(crate) fn from_key(key: &[u8]) -> Result<Labels, &'static str> {
        let mut r = Reader::new(key);
        let mut pairs = Vec::new();
        while !r.is_empty() {
            let n = r.str()?.to_owned();
            let v = r.str()?.to_owned();
            pairs.push((n, v));
        }
        Ok(Labels::new(pairs))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// How a [`Matcher`] compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored regular expression)
    RegexMatch,
    /// `!~` (fully anchored regular expression)
    RegexNoMatch,
}

/// One label matcher of a selector, e.g. `host=~"web-.*"`. A missing label matches as the empty string,
/// as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<regex::Regex>,
}

impl Matcher {
    /// Builds a matcher; regular expressions are anchored at both ends and compiled here.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                regex::Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| Error::InvalidArgument(format!("bad regex {value:?} for label {name}: {e}")))?,
            ),
            _ => None,
        };
        Ok(Matcher { name, op, value, regex })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// The label name matched.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or pattern.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (empty when the label is absent) satisfies this matcher.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(v),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }

    /// Whether the empty string (an absent label) satisfies this matcher.
    pub(crate) fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// One series and its samples in the requested range, ascending by time, one sample per timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// `(timestamp in ms, value)` pairs.
    pub samples: Vec<(i64, f64)>,
}

/// Hash of a series key: routes series to shards and finds them in a shard. Eight bytes per step,
/// then a final avalanche; stable across runs and platforms.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // splitmix64 finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_dedup_and_key_round_trip() {
        let l = Labels::new(vec![
            ("b".into(), "2".into()),
            (METRIC_NAME.into(), "m".into()),
            ("a".into(), "1".into()),
            ("a".into(), "3".into()),
            ("e".into(), String::new()),
        ]);
        assert_eq!(l.len(), 3);
        assert_eq!(l.get("a"), Some("3"));
        assert_eq!(l.to_string(), "m{a=\"3\", b=\"2\"}");
        assert_eq!(Labels::from_key(&l.key()).unwrap(), l);
    }

    #[test]
    fn matchers_follow_prometheus() {
        let m = Matcher::new(MatchOp::RegexMatch, "host", "web-.*").unwrap();
        assert!(m.matches("web-1"));
        assert!(!m.matches("xweb-1"));
        assert!(!m.matches_empty());
        let m = Matcher::new(MatchOp::RegexNoMatch, "host", "a|b").unwrap();
        assert!(m.matches("c"));
        assert!(m.matches_empty());
        assert!(Matcher::new(MatchOp::RegexMatch, "x", "(").is_err());
        assert!(Matcher::new(MatchOp::NotEqual, "x", "").unwrap().matches("y"));
    }
}

/// Parses a series selector such as `cpu_usage{host="a", dc=~"eu-.*"}` or `{__name__=~"cpu_.+"}`
/// into matchers (the same syntax as a PromQL vector selector, without range or offset).
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>> {
    let err = |pos: usize, what: &str| Error::InvalidArgument(format!("bad selector at char {pos}: {what}"));
    let b = s.trim();
    let mut out = Vec::new();
    let name_end = b.find('{').unwrap_or(b.len());
    let name = b[..name_end].trim();
    if !name.is_empty() {
        if !name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
        {
            return Err(err(0, &format!("invalid metric name {name:?}")));
        }
        out.push(Matcher::equal(METRIC_NAME, name));
    }
    if name_end < b.len() {
        let body = b[name_end + 1..]
            .strip_suffix('}')
            .ok_or_else(|| err(b.len(), "missing closing }"))?;
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
                *i += 1;
            }
        };
        loop {
            skip_ws(&mut i);
            if i >= chars.len() {
                break;
            }
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let label: String = chars[start..i].iter().collect();
            if label.is_empty() {
                return Err(err(name_end + 1 + i, "expected a label name"));
            }
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let op = match (chars.get(i), chars.get(i + 1)) {
                (Some('='), Some('~')) => (MatchOp::RegexMatch, 2),
                (Some('!'), Some('~')) => (MatchOp::RegexNoMatch, 2),
                (Some('!'), Some('=')) => (MatchOp::NotEqual, 2),
                (Some('='), _) => (MatchOp::Equal, 1),
                _ => return Err(err(name_end + 1 + i, "expected =, !=, =~ or !~")),
            };
            i += op.1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let quote = match chars.get(i) {
                Some(q @ ('"' | '\'')) => *q,
                _ => return Err(err(name_end + 1 + i, "expected a quoted value")),
            };
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(name_end + 1 + i, "unterminated string")),
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(c) => value.push(*c),
                            None => return Err(err(name_end + 1 + i, "unterminated escape")),
                        }
                        i += 2;
                    }
                    Some(c) if *c == quote => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            out.push(Matcher::new(op.0, label, value)?);
        }
    }
    if out.is_empty() {
        return Err(err(0, "a selector needs a metric name or at least one matcher"));
    }
    Ok(out)
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn parses_selectors() {
        let m = parse_selector(r#"cpu_usage{host="a", dc=~"eu-.*",x!="q\"t"}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].name(), m[0].value()), (METRIC_NAME, "cpu_usage"));
        assert_eq!((m[2].op(), m[2].value()), (MatchOp::RegexMatch, "eu-.*"));
        assert_eq!(m[3].value(), "q\"t");
        assert_eq!(parse_selector("up").unwrap().len(), 1);
        assert!(parse_selector("{}").is_err());
        assert!(parse_selector("a{b=c}").is_err());
        assert!(parse_selector("a{b=\"c\"").is_err());
        assert!(parse_selector("a{b=~\"(\"}").is_err());
    }
}
