//! OpenMetrics and the Prometheus text exposition format: a line parser for imports.
//!
//! ```text
//! # HELP http_requests_total Requests served.
//! # TYPE http_requests_total counter
//! http_requests_total{method="post",path="/a \"b\""} 1027 1700000000.5
//! rpc_duration_seconds_bucket{le="+Inf"} 3.4e3
//! # EOF
//! ```
//!
//! A sample line is `name[{label="value",...}] value [timestamp] [# exemplar]`:
//!
//! - The name matches `[a-zA-Z_:][a-zA-Z0-9_:]*` and each label name `[a-zA-Z_][a-zA-Z0-9_]*`; a
//!   label name may not repeat, and a trailing comma after the last label is allowed (the text
//!   format allows it). Label values are in double quotes, where `\\` is a backslash, `\"` a quote
//!   and `\n` a newline; any other backslash sequence is an error.
//! - The value is a float: `1`, `-1.5`, `1e-3`, `NaN`, `+Inf`, `-Inf` (and Rust's other spellings
//!   of them, such as `inf`).
//! - The timestamp is a number, fractions and exponents allowed. Its unit is the caller's: this
//!   parser returns it as written (OpenMetrics and `promtool tsdb create-blocks-from openmetrics`
//!   use seconds; the older Prometheus text format used milliseconds).
//! - Tokens are separated by spaces or tabs (OpenMetrics asks for exactly one space; the text
//!   format allows runs of blanks, so both are read). A trailing `\r` is ignored.
//! - An exemplar (`# {trace_id="x"} 1 1700000000`) after the timestamp is skipped.
//! - Lines starting with `#` are metadata (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`) or comments and
//!   yield no sample; a `# TYPE` line with an unknown type is an error. Blank lines yield nothing.
//!
//! Names are taken as written: counters' `_total`, histograms' `_bucket` (with `le`), `_sum` and
//! `_count` are plain series of those names. The newer quoted-name syntax
//! (`{"my.metric", a="b"} 1`) is not read.
//!
//! ```
//! use foresight_engine::openmetrics::parse_line;
//!
//! let s = parse_line(r#"http_requests_total{code="200",path="a\"b"} 7 1700000000.25"#)?.unwrap();
//! assert_eq!(s.name, "http_requests_total");
//! assert_eq!(s.labels[1].1, "a\"b");
//! assert_eq!((s.value, s.timestamp), (7.0, Some(1_700_000_000.25)));
//! assert!(parse_line("# TYPE http_requests_total counter")?.is_none());
//! assert_eq!(
//!     parse_line("up{job=\"a\"} one").unwrap_err(),
//!     "invalid value at column 13: \"one\""
//! );
//! # Ok::<(), String>(())
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name, e.g. `http_requests_total`.
    pub name: &'a str,
    /// Label pairs in the order written; values unescaped.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The name and label set as written (`name{...}`): equal texts are the same series, so a
    /// caller can look a series up by it without building its labels.
    pub series: &'a str,
    /// The value.
    pub value: f64,
    /// The timestamp as written, in the caller's unit.
    pub timestamp: Option<f64>,
}

/// The metric types a `# TYPE` line may name (OpenMetrics' and the text format's `untyped`).
const TYPES: [&str; 9] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
    "untyped",
];

/// Parses one line (without its `\n`): a sample, `None` for metadata, comments and blank lines,
/// or why the line is wrong and at which column (bytes from 1).
pub fn parse_line(line: &str) -> Result<Option<Sample<'_>>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let b = line.as_bytes();
    let mut i = skip_blanks(b, 0);
    if i == b.len() {
        return Ok(None);
    }
    if b[i] == b'#' {
        return metadata(&line[i..]).map(|()| None);
    }
    let start = i;
    i = name_end(b, i, true);
    if i == start {
        return Err(format!("invalid metric name at column {}", start + 1));
    }
    let name = &line[start..i];
    let mut labels: Vec<(&str, Cow<'_, str>)> = Vec::new();
    if b.get(i) == Some(&b'{') {
        i = skip_blanks(b, i + 1);
        while b.get(i) != Some(&b'}') {
            let ls = i;
            i = name_end(b, i, false);
            if i == ls {
                return Err(format!("invalid label name at column {}", ls + 1));
            }
            let lname = &line[ls..i];
            i = skip_blanks(b, i);
            if b.get(i) != Some(&b'=') {
                return Err(format!("expected '=' after label {lname:?} at column {}", i + 1));
            }
            i = skip_blanks(b, i + 1);
            let (value, end) = label_value(line, i)?;
            if labels.iter().any(|(n, _)| *n == lname) {
                return Err(format!("duplicate label {lname:?} at column {}", ls + 1));
            }
            labels.push((lname, value));
            i = skip_blanks(b, end);
            match b.get(i) {
                Some(b',') => i = skip_blanks(b, i + 1),
                Some(b'}') => {}
                _ => return Err(format!("expected ',' or '}}' at column {}", i + 1)),
            }
        }
        i += 1;
    }
    let series = &line[start..i];
    let vs = skip_blanks(b, i);
    if vs == i || vs == b.len() {
        return Err(format!("missing value at column {}", vs + 1));
    }
    let ve = token_end(b, vs);
    let text = &line[vs..ve];
    let value: f64 = text
        .parse()
        .map_err(|_| format!("invalid value at column {}: {text:?}", vs + 1))?;
    let ts = skip_blanks(b, ve);
    let mut timestamp = None;
    let mut rest = ts;
    if ts < b.len() && b[ts] != b'#' {
        let te = token_end(b, ts);
        let text = &line[ts..te];
        let t: f64 = text
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| format!("invalid timestamp at column {}: {text:?}", ts + 1))?;
        timestamp = Some(t);
        rest = skip_blanks(b, te);
    }
    // An exemplar is skipped; anything else after the sample is an error.
    if rest < b.len() && b[rest] != b'#' {
        return Err(format!("unexpected text at column {}", rest + 1));
    }
    Ok(Some(Sample {
        name,
        labels,
        series,
        value,
        timestamp,
    }))
}

/// Checks a `#` line: a `# TYPE` must name a known type; others are free text.
fn metadata(line: &str) -> Result<(), String> {
    let mut words = line[1..].split_ascii_whitespace();
    if words.next() == Some("TYPE") {
        let (Some(_name), Some(kind)) = (words.next(), words.next()) else {
            return Err("# TYPE needs a metric name and a type".to_owned());
        };
        if !TYPES.contains(&kind) {
            return Err(format!("unknown metric type {kind:?}"));
        }
    }
    Ok(())
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// End of the metric name (`colons`) or label name starting at `i` (`i` itself when there is none).
fn name_end(b: &[u8], mut i: usize, colons: bool) -> usize {
    let start = i;
    while let Some(&c) = b.get(i) {
        let ok = c.is_ascii_alphabetic() || c == b'_' || (colons && c == b':') || (i > start && c.is_ascii_digit());
        if !ok {
            break;
        }
        i += 1;
    }
    i
}

/// The quoted label value starting at `i`, unescaped, and the index after its closing quote.
fn label_value(line: &str, i: usize) -> Result<(Cow<'_, str>, usize), String> {
    let b = line.as_bytes();
    if b.get(i) != Some(&b'"') {
        return Err(format!("expected '\"' at column {}", i + 1));
    }
    let start = i + 1;
    let mut j = start;
    let mut owned: Option<String> = None;
    loop {
        match b.get(j) {
            None => return Err(format!("unterminated label value at column {}", i + 1)),
            Some(b'"') => break,
            Some(b'\\') => {
                let c = match b.get(j + 1) {
                    Some(b'\\') => '\\',
                    Some(b'"') => '"',
                    Some(b'n') => '\n',
                    _ => return Err(format!("invalid escape sequence at column {}", j + 1)),
                };
                owned.get_or_insert_with(|| line[start..j].to_owned()).push(c);
                j += 2;
            }
            Some(_) => {
                // Whole characters: the line is UTF-8 and a quote or backslash is never inside one.
                let ch_len = line[j..].chars().next().map_or(1, char::len_utf8);
                if let Some(o) = owned.as_mut() {
                    o.push_str(&line[j..j + ch_len]);
                }
                j += ch_len;
            }
        }
    }
    let value = match owned {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(&line[start..j]),
    };
    Ok((value, j + 1))
}

/// Writes a sample line in the canonical form [`parse_line`] reads back (no newline): values
/// escaped, the value and timestamp in Rust's shortest round-trip form (`NaN`, `+Inf`, `-Inf`).
pub fn write_line(name: &str, labels: &[(&str, &str)], value: f64, timestamp: Option<f64>, out: &mut String) {
    out.push_str(name);
    write_labels(labels, out);
    out.push(' ');
    push_float(value, out);
    if let Some(t) = timestamp {
        out.push(' ');
        push_float(t, out);
    }
}

/// Writes a label set as `{a="1",b="x\"y"}` with its values escaped, or nothing when it is empty.
pub fn write_labels<K: AsRef<str>, V: AsRef<str>>(labels: &[(K, V)], out: &mut String) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (k, (n, v)) in labels.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(n.as_ref());
        out.push_str("=\"");
        for c in v.as_ref().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn push_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn err(line: &str) -> String {
        match parse_line(line) {
            Ok(s) => panic!("{line:?} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn samples() {
        let s = parse_line("a_bucket{le=\"+Inf\",x=\"1\",} +Inf\r").unwrap().unwrap();
        assert_eq!(
            (s.name, s.series, s.value),
            ("a_bucket", "a_bucket{le=\"+Inf\",x=\"1\",}", f64::INFINITY)
        );
        assert_eq!(s.labels, [("le", Cow::Borrowed("+Inf")), ("x", Cow::Borrowed("1"))]);
        assert_eq!(s.timestamp, None);
        let s = parse_line(r#"m:x{ a = "\\\"\n é" }  -1.5e3	1.7e9 # {t="x"} 1 2"#)
            .unwrap()
            .unwrap();
        assert_eq!(s.labels[0].1, "\\\"\n é");
        assert_eq!((s.value, s.timestamp), (-1500.0, Some(1.7e9)));
        assert!(parse_line("nan NaN").unwrap().unwrap().value.is_nan());
        assert_eq!(parse_line("x{} -Inf 5").unwrap().unwrap().value, f64::NEG_INFINITY);
        for meta in [
            "",
            "  ",
            "# HELP x some text",
            "# TYPE x histogram",
            "# UNIT x seconds",
            "# EOF",
            "# hi",
        ] {
            assert_eq!(parse_line(meta), Ok(None), "{meta:?}");
        }
    }

    #[test]
    fn errors_name_the_column() {
        assert_eq!(err("1x 1"), "invalid metric name at column 1");
        assert_eq!(err("x{1=\"a\"} 1"), "invalid label name at column 3");
        assert_eq!(err("x{a:b=\"1\"} 1"), "expected '=' after label \"a\" at column 4");
        assert_eq!(err("x{a=1} 1"), "expected '\"' at column 5");
        assert_eq!(err("x{a=\"1} 1"), "unterminated label value at column 5");
        assert_eq!(err(r#"x{a="\t"} 1"#), "invalid escape sequence at column 6");
        assert_eq!(err(r#"x{a="1",a="2"} 1"#), "duplicate label \"a\" at column 9");
        assert_eq!(err(r#"x{a="1" b="2"} 1"#), "expected ',' or '}' at column 9");
        assert_eq!(err("x"), "missing value at column 2");
        assert_eq!(err("x{a=\"1\"}1"), "missing value at column 9");
        assert_eq!(err("x 1.2.3"), "invalid value at column 3: \"1.2.3\"");
        assert_eq!(err("x 1 soon"), "invalid timestamp at column 5: \"soon\"");
        assert_eq!(err("x 1 NaN"), "invalid timestamp at column 5: \"NaN\"");
        assert_eq!(err("x 1 2 3"), "unexpected text at column 7");
        assert_eq!(err("# TYPE x countr"), "unknown metric type \"countr\"");
        assert_eq!(err("# TYPE x"), "# TYPE needs a metric name and a type");
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-1e6f64..1e6),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(line in ".{0,80}") {
            let _ = parse_line(&line);
        }

        #[test]
        fn never_panics_on_near_misses(line in r#"[a-z_:]{0,4}(\{([a-z]{1,3}=("([a-z\\"n]|\\\\|\\"){0,4}"?)?,?){0,3}\}?)?[ \t]{0,2}[-+0-9.eInfa#]{0,6}[ \t]?[0-9.#]{0,5}"#) {
            let _ = parse_line(&line);
        }

        #[test]
        fn written_lines_parse_back(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
            labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "(\\PC|[\\\\\"\n]){0,8}", 0..4),
            value in float(),
            timestamp in proptest::option::of(-1e12f64..1e12),
        ) {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut line = String::new();
            write_line(&name, &labels, value, timestamp, &mut line);
            let s = parse_line(&line).map_err(|e| TestCaseError::fail(format!("{line:?}: {e}")))?;
            let s = s.ok_or_else(|| TestCaseError::fail(format!("{line:?}: no sample")))?;
            prop_assert_eq!(s.name, name.as_str());
            let got: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (*k, v.as_ref())).collect();
            prop_assert_eq!(got, labels);
            // NaN is written as `NaN`, whatever its payload.
            prop_assert!(s.value.to_bits() == value.to_bits() || (s.value.is_nan() && value.is_nan()), "{}", line);
            prop_assert_eq!(s.timestamp, timestamp);
        }
    }
}
