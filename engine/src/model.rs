//! The data model: label sets, series keys and label matchers.

use crate::error::{Error, Result};
use crate::format::Reader;
#[cfg(test)]
use crate::format::put_bytes;

pub use foresight_promql::{Label, LabelMatcher, Labels, METRIC_NAME, MatchOp};

/// The canonical byte key of a label set: its pairs in name order, each as length-prefixed name
/// and value. What the WAL and the shards' series maps hold; the write path builds the same bytes.
#[cfg(test)]
pub(crate) fn series_key(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels.iter() {
        put_bytes(&mut out, l.name.as_bytes());
        put_bytes(&mut out, l.value.as_bytes());
    }
    out
}

/// Parses a key written by the write path (see [`series_key`]).
pub(crate) fn labels_from_key(key: &[u8]) -> Result<Labels, &'static str> {
    let mut r = Reader::new(key);
    let mut pairs = Vec::new();
    while !r.is_empty() {
        let n = r.str()?;
        let v = r.str()?;
        pairs.push((n, v));
    }
    Ok(Labels::new(pairs))
}

/// Builds a matcher, compiling (anchored) regular expressions once.
pub fn matcher(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<LabelMatcher> {
    LabelMatcher::new(op, name, value).map_err(|e| Error::InvalidArgument(e.to_string()))
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

/// Parses a series selector such as `cpu_usage{host="a", dc=~"eu-.*"}` or `{__name__=~"cpu_.+"}`
/// into matchers (the same syntax as a PromQL vector selector, without range or offset).
pub fn parse_selector(s: &str) -> Result<Vec<LabelMatcher>> {
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
        out.push(LabelMatcher::equal(METRIC_NAME, name));
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
            out.push(matcher(op.0, label, value)?);
        }
    }
    if out.is_empty() {
        return Err(err(0, "a selector needs a metric name or at least one matcher"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let l = Labels::new([("b", "2"), (METRIC_NAME, "m"), ("a", "1"), ("e", "")]);
        assert_eq!(labels_from_key(&series_key(&l)).unwrap(), l);
        assert!(labels_from_key(&[5, b'a']).is_err());
    }
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn parses_selectors() {
        let m = parse_selector(r#"cpu_usage{host="a", dc=~"eu-.*",x!="q\"t"}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].name.as_str(), m[0].value.as_str()), (METRIC_NAME, "cpu_usage"));
        assert_eq!((m[2].op, m[2].value.as_str()), (MatchOp::RegexMatch, "eu-.*"));
        assert_eq!(m[3].value, "q\"t");
        assert_eq!(parse_selector("up").unwrap().len(), 1);
        assert!(parse_selector("{}").is_err());
        assert!(parse_selector("a{b=c}").is_err());
        assert!(parse_selector("a{b=\"c\"").is_err());
        assert!(parse_selector("a{b=~\"(\"}").is_err());
    }
}
