//! The data model: label sets, series keys and label matchers.

use crate::error::{Error, Result};
use crate::format::Reader;

pub use foresight_promql::{Label, LabelMatcher, Labels, METRIC_NAME, MatchOp};

/// The canonical byte key of a label set: its pairs in name order, each as length-prefixed name
/// and value. What the WAL and the shards' series maps hold; the write path builds the same bytes.
/// It is the packed form of [`Labels`] ([`Labels::as_key`]).
#[cfg(test)]
pub(crate) fn series_key(labels: &Labels) -> Vec<u8> {
    labels.as_key().to_vec()
}

/// The labels of a key read from a file: a canonical key is taken as it is; a key that is not
/// canonical (pairs out of order, empty values) is read pair by pair and canonicalised.
pub(crate) fn labels_from_key(key: &[u8]) -> Result<Labels, &'static str> {
    if let Ok(l) = Labels::from_key(key) {
        return Ok(l);
    }
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
/// into matchers: a PromQL vector selector without range, offset or `@`, read by the query
/// parser ([`foresight_promql::parse_selector`]), so a selector is written as in a query (any of
/// the three quotes, Go escapes). Matchers that all match the empty string are accepted.
pub fn parse_selector(s: &str) -> Result<Vec<LabelMatcher>> {
    foresight_promql::parse_selector(s).map_err(|e| Error::InvalidArgument(format!("bad selector {s:?}: {e}")))
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

    /// The matchers of `s` as `(name, op, value)`.
    fn parsed(s: &str) -> Vec<(String, MatchOp, String)> {
        parse_selector(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .into_iter()
            .map(|m| (m.name, m.op, m.value))
            .collect()
    }

    fn one_value(s: &str) -> String {
        match parsed(s).as_slice() {
            [_, (_, MatchOp::Equal, v)] => v.clone(),
            other => panic!("{s}: {other:?}"),
        }
    }

    fn error(s: &str) -> String {
        match parse_selector(s) {
            Ok(m) => panic!("{s} parsed as {m:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_selectors() {
        let m = parse_selector(r#"cpu_usage{host="a", dc=~"eu-.*",x!="q\"t"}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].name.as_str(), m[0].value.as_str()), (METRIC_NAME, "cpu_usage"));
        assert_eq!((m[2].op, m[2].value.as_str()), (MatchOp::RegexMatch, "eu-.*"));
        assert_eq!(m[3].value, "q\"t");
        assert_eq!(
            parsed(" up\n"),
            [(METRIC_NAME.to_string(), MatchOp::Equal, "up".to_string())]
        );
        assert_eq!(parsed("ns:rule_1:rate5m").len(), 1);
    }

    #[test]
    fn strings_take_go_escapes_and_three_quotes() {
        assert_eq!(one_value(r#"x{a="\x41"}"#), "A");
        assert_eq!(one_value(r#"x{a="\u00e9\U0001F600"}"#), "é😀");
        assert_eq!(one_value(r#"x{a="\101\n\t\\"}"#), "A\n\t\\");
        assert_eq!(one_value(r#"x{a="say \"hi\""}"#), r#"say "hi""#);
        assert_eq!(one_value(r#"x{a='it\'s "so"'}"#), r#"it's "so""#);
        // Back quotes are raw: no escapes at all. (promql-parser still refuses a backslash
        // before a letter that is no escape, like `\d`, which Prometheus takes.)
        assert_eq!(one_value(r#"x{a=`C:\x41\n"'`}"#), r#"C:\x41\n"'"#);
        assert_eq!(one_value("x{a=\"é ü\"}"), "é ü");
    }

    #[test]
    fn metric_name_as_a_matcher() {
        let name = |op, v: &str| (METRIC_NAME.to_string(), op, v.to_string());
        assert_eq!(parsed(r#"{__name__="x"}"#), [name(MatchOp::Equal, "x")]);
        assert_eq!(
            parsed(r#"{__name__=~"cpu_.+", host!=""}"#),
            [
                name(MatchOp::RegexMatch, "cpu_.+"),
                ("host".to_string(), MatchOp::NotEqual, String::new())
            ]
        );
        assert!(error(r#"x{__name__="y"}"#).contains("metric name must not be set twice"));
    }

    #[test]
    fn regex_matchers_are_anchored() {
        let m = parse_selector(r#"{job=~"api|web", env!~"dev.*"}"#).unwrap();
        assert_eq!((m[0].op, m[1].op), (MatchOp::RegexMatch, MatchOp::RegexNoMatch));
        assert!(m[0].matches("web") && !m[0].matches("webx") && !m[0].matches("xapi"));
        assert!(m[1].matches("prod") && !m[1].matches("dev1"));
        // Matchers that all match "" are the caller's to refuse (the server does, as Prometheus).
        let all_empty = parse_selector(r#"{host=~".*"}"#).unwrap();
        assert!(all_empty.iter().all(|m| m.matches("")));
    }

    #[test]
    fn bad_selectors_say_what_is_wrong() {
        assert_eq!(
            error("a{b=c}"),
            "invalid argument: bad selector \"a{b=c}\": 1:5: parse error: unexpected identifier 'c' in label matching, expected string"
        );
        for (bad, says) in [
            ("", "parse error"),
            ("{}", "not a series selector: it needs a metric name or a label matcher"),
            ("a{b=\"c\"", "1:8: parse error: unexpected end of input inside braces"),
            ("a{b=~\"(\"}", "1:6: parse error: illegal regex for ("),
            ("a{b=\"\\q\"}", "parse error"),
            ("1a", "parse error"),
            ("x[5m]", "not a series selector: it is a more general query"),
            ("rate(x[5m])", "not a series selector"),
            ("x offset 5m", "not a series selector: it has an offset or @ modifier"),
            ("x @ 100", "not a series selector: it has an offset or @ modifier"),
            (
                "x{a=\"1\" or a=\"2\"}",
                "not a series selector: it has `or` between matchers",
            ),
        ] {
            let e = error(bad);
            assert!(
                e.starts_with(&format!("invalid argument: bad selector {bad:?}: ")),
                "{e}"
            );
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
