//! InfluxDB line protocol: a zero-copy parser and a canonical writer.
//!
//! ```text
//! measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]
//! ```
//!
//! [`lines`] walks a request body and yields one [`Line`] or one [`LineError`] per data line,
//! skipping blank lines and `#` comments. A bad line never hides the good lines around it: the
//! parser reports it with its physical line number and resumes at the next physical line.
//! Names and string values borrow from the body; they are copied only when they contain escapes.
//!
//! The rules are those of InfluxDB's line protocol reference:
//!
//! - A measurement escapes `,` and space; tag keys, tag values and field keys escape `,`, `=` and
//!   space; in all of them `\\` is one backslash and a backslash before any other character is
//!   literal (so `a\b` is `a\b` and `a\\\,b` is `a\,b`). Quotes are ordinary characters there.
//! - Tag values may not be empty, and an unescaped `=` in a tag value is an error. A tag key may
//!   not repeat within a line. Field keys may (the storage's last-write-wins keeps the last).
//! - Field values are floats (`1`, `-1.5`, `.5`, `1.`, `1e-3`, `-1.2E+78`; `inf` and `NaN` are not
//!   line protocol), integers (`1i`, range-checked `i64`), unsigned integers (`1u`, range-checked
//!   `u64`), booleans (`t T true True TRUE f F false False FALSE`) and strings in double quotes
//!   where `\"` is a quote and `\\` a backslash. A newline inside a string belongs to the string
//!   (InfluxDB's parser allows it); line numbers keep counting physical lines.
//! - The timestamp is an optional signed 64-bit integer in the request's [`Precision`]; the whole
//!   `i64` range is accepted here, and range limits after conversion are the caller's
//!   ([`Precision::to_millis`] reports overflow).
//! - Sections are separated by spaces; spaces, tabs and carriage returns may follow the field set
//!   and the timestamp, so `\r\n` line endings work. Whitespace before the measurement is
//!   skipped, and a line that is only whitespace is blank.
//! - Everything must be UTF-8; invalid UTF-8 fails the line it is in, not its neighbours.
//! - Policy is left to the caller: names beginning with `_`, string values longer than
//!   InfluxDB's 64 KiB and reserved label names all parse.
//!
//! A quoted string that runs over a newline is kept only if its line then parses. If the line
//! fails after such a string, the opening quote was most likely never closed (the "string" ran
//! on into the next line and ended at that line's first quote), so the error reported is the
//! unterminated string, and parsing resumes on the physical line after the opening quote.
//!
//! Error reasons name what is wrong and where: `invalid field value for "usage_user" at column 41:
//! "12.3.4"`. Columns count bytes from the start of the line, from 1.
//!
//! ```
//! use foresight_engine::lineproto::{lines, FieldValue};
//!
//! let body = b"# comment\ncpu,host=a usage=1.5,count=3i 1700000000000000000\ncpu usage=oops\n";
//! let mut it = lines(body);
//! let line = it.next().unwrap().unwrap();
//! assert_eq!(line.measurement, "cpu");
//! assert_eq!(line.fields[1].1, FieldValue::Integer(3));
//! let err = it.next().unwrap().unwrap_err();
//! assert_eq!(err.to_string(), r#"line 3: invalid field value for "usage" at column 11: "oops""#);
//! assert!(it.next().is_none());
//! ```

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::iter::FusedIterator;

/// Unit of the timestamps in a write request (the HTTP `precision` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds, the line protocol default.
    #[default]
    Nanoseconds,
    /// Microseconds.
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// Minutes (InfluxDB 1.x API only).
    Minutes,
    /// Hours (InfluxDB 1.x API only).
    Hours,
}

impl Precision {
    /// Parses the HTTP `precision` parameter: "ns" / "n", "us" / "u" / "µ" / "µs", "ms", "s",
    /// "m", "h" (m and h are the 1.x API's). None if unknown, including the empty string: the
    /// caller decides what a missing parameter means (nanoseconds, for InfluxDB).
    pub fn from_param(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" | "µ" | "µs" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// The canonical parameter spelling: "ns", "us", "ms", "s", "m" or "h".
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
            Precision::Minutes => "m",
            Precision::Hours => "h",
        }
    }

    /// Converts a timestamp in this precision to milliseconds (floor division for ns/us, so
    /// negative times are floored too; checked multiplication for s/m/h). None on overflow.
    pub fn to_millis(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(ts.div_euclid(1_000_000)),
            Precision::Microseconds => Some(ts.div_euclid(1_000)),
            Precision::Milliseconds => Some(ts),
            Precision::Seconds => ts.checked_mul(1_000),
            Precision::Minutes => ts.checked_mul(60_000),
            Precision::Hours => ts.checked_mul(3_600_000),
        }
    }
}

/// The value of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// `1`, `-1.5`, `1e3`: always finite.
    Float(f64),
    /// `1i`.
    Integer(i64),
    /// `1u`.
    Unsigned(u64),
    /// `t`, `true`, `F`, ...
    Boolean(bool),
    /// `"text"`, unescaped.
    String(Cow<'a, str>),
}

impl FieldValue<'_> {
    /// The value as a sample: integers, unsigned integers and booleans (1 or 0) convert to f64
    /// (integers beyond 2^53 round); strings are not samples, so None.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            FieldValue::Float(v) => Some(v),
            FieldValue::Integer(v) => Some(v as f64),
            FieldValue::Unsigned(v) => Some(v as f64),
            FieldValue::Boolean(v) => Some(if v { 1.0 } else { 0.0 }),
            FieldValue::String(_) => None,
        }
    }

    /// The type's name as InfluxDB spells it: "float", "integer", "unsigned", "boolean", "string".
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::Unsigned(_) => "unsigned",
            FieldValue::Boolean(_) => "boolean",
            FieldValue::String(_) => "string",
        }
    }

    /// Copies any borrowed string so the value outlives the request body.
    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Float(v) => FieldValue::Float(v),
            FieldValue::Integer(v) => FieldValue::Integer(v),
            FieldValue::Unsigned(v) => FieldValue::Unsigned(v),
            FieldValue::Boolean(v) => FieldValue::Boolean(v),
            FieldValue::String(s) => FieldValue::String(Cow::Owned(s.into_owned())),
        }
    }
}

/// One parsed data line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// The measurement, unescaped.
    pub measurement: Cow<'a, str>,
    /// Tag keys and values, unescaped, in input order; keys are unique.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Field keys and values, in input order, at least one.
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// The timestamp as written, in the request's precision.
    pub timestamp: Option<i64>,
}

impl Line<'_> {
    /// Copies every borrowed name and string so the line outlives the request body.
    pub fn into_owned(self) -> Line<'static> {
        fn own(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        Line {
            measurement: own(self.measurement),
            tags: self.tags.into_iter().map(|(k, v)| (own(k), own(v))).collect(),
            fields: self.fields.into_iter().map(|(k, v)| (own(k), v.into_owned())).collect(),
            timestamp: self.timestamp,
        }
    }
}

/// Formats the line as canonical line protocol, as [`write_line`] does.
impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_line(self, &mut out);
        f.write_str(&out)
    }
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based physical line number where the bad line starts.
    pub line: usize,
    /// What is wrong, and where in the line.
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for LineError {}

/// Iterator over the lines of a body: yields one item per non-blank, non-comment line.
///
/// It never panics and always ends, whatever the bytes; each item costs time linear in the
/// length of its line.
#[derive(Clone)]
pub struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Physical line number of `pos`.
    line: usize,
    /// Physical line number where the last item returned starts.
    item_line: usize,
    /// `buf[valid_base..]` up to its first invalid UTF-8 byte, validated once.
    valid: &'a str,
    valid_base: usize,
    tag_hint: usize,
    field_hint: usize,
}

/// Parses a body of line protocol lazily, line by line.
pub fn lines(body: &[u8]) -> Lines<'_> {
    Lines {
        buf: body,
        pos: 0,
        line: 1,
        item_line: 0,
        valid: valid_prefix(body, 0),
        valid_base: 0,
        tag_hint: 8,
        field_hint: 4,
    }
}

impl<'a> Lines<'a> {
    /// The 1-based physical line number where the item last returned by `next` starts (0
    /// before the first): the line number of a good line, as [`LineError::line`] is of a bad one.
    pub fn line_number(&self) -> usize {
        self.item_line
    }

    /// Moves past the line ending at `end` (a `\n` or the end of the body), counting the
    /// newlines crossed since `pos`.
    fn finish_at(&mut self, end: usize, newlines: usize) {
        self.line += newlines;
        if end < self.buf.len() {
            self.pos = end + 1;
            self.line += 1;
        } else {
            self.pos = self.buf.len();
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        loop {
            let line_start = self.pos;
            if line_start >= buf.len() {
                return None;
            }
            let first = skip_while(buf, line_start, W);
            match buf.get(first) {
                None => {
                    self.pos = buf.len();
                    return None;
                }
                Some(b'\n') => {
                    self.finish_at(first, 0);
                    continue;
                }
                Some(b'#') => {
                    self.finish_at(find_newline(buf, first), 0);
                    continue;
                }
                Some(_) => {}
            }
            let line_no = self.line;
            self.item_line = line_no;
            if line_start > self.valid_base + self.valid.len() {
                // Past an invalid byte: validate the rest once more, from this line on.
                self.valid = valid_prefix(buf, line_start);
                self.valid_base = line_start;
            }
            let mut parser = Parser::new(buf, line_start, first, self.tag_hint, self.field_hint);
            parser.valid = self.valid;
            parser.valid_base = self.valid_base;
            return Some(match parser.parse() {
                Ok(line) => {
                    self.tag_hint = line.tags.len().min(MAX_HINT);
                    self.field_hint = line.fields.len().min(MAX_HINT);
                    self.finish_at(parser.pos, parser.newlines);
                    Ok(line)
                }
                Err(fail) => {
                    let end = find_newline(buf, fail.0.resync.clamp(first, buf.len()));
                    let crossed = count_newlines(buf.get(line_start..end).unwrap_or_default());
                    self.finish_at(end, crossed);
                    Err(LineError {
                        line: line_no,
                        reason: fail.0.reason,
                    })
                }
            });
        }
    }
}

impl FusedIterator for Lines<'_> {}

impl fmt::Debug for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("len", &self.buf.len())
            .field("pos", &self.pos)
            .field("line", &self.line)
            .field("item_line", &self.item_line)
            .finish_non_exhaustive()
    }
}

/// Parses exactly one line. A trailing line ending is tolerated; a second line is an error, and
/// so are blank and comment lines, which hold no point.
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, String> {
    let first = skip_while(line, 0, W);
    match line.get(first) {
        None | Some(b'\n') => return Err("blank line".to_owned()),
        Some(b'#') => return Err("comment line".to_owned()),
        Some(_) => {}
    }
    let mut parser = Parser::new(line, 0, first, 8, 4);
    parser.valid = valid_prefix(line, 0);
    let parsed = parser.parse().map_err(|fail| fail.0.reason)?;
    let rest = line.get(parser.pos..).unwrap_or_default();
    if let Some(extra) = rest.iter().position(|b| !matches!(b, b'\n' | b' ' | b'\t' | b'\r')) {
        return Err(format!(
            "more than one line: unexpected text after the newline at column {}",
            parser.col(parser.pos + extra)
        ));
    }
    Ok(parsed)
}

/// Writes a Line back as canonical line protocol (escaping as needed), without a line ending.
///
/// Parsing the output gives the line back for every line the parser can produce. A few lines
/// cannot be written as line protocol at all, and come out as text that does not parse back to
/// them: an empty name, tag value or field set; a newline in a name; a measurement that begins
/// with `#`, a tab or a carriage return; a float that is NaN or infinite (written `NaN`, `inf`).
pub fn write_line(line: &Line<'_>, out: &mut String) {
    write_name(out, &line.measurement, MEASUREMENT_ESCAPES);
    for (key, value) in &line.tags {
        out.push(',');
        write_name(out, key, KEY_ESCAPES);
        out.push('=');
        write_name(out, value, KEY_ESCAPES);
    }
    for (i, (key, value)) in line.fields.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        write_name(out, key, KEY_ESCAPES);
        out.push('=');
        write_value(out, value);
    }
    if let Some(ts) = line.timestamp {
        // Writing to a String cannot fail.
        let _ = write!(out, " {ts}");
    }
}

/// Escapes `escapes` and the backslashes that would otherwise read as escapes: a backslash is
/// doubled only before another backslash, before an escapable character or at the end, so names
/// with a stray backslash (`C:\temp`) stay readable by parsers that know no `\\` escape.
fn write_name(out: &mut String, name: &str, escapes: &[u8]) {
    let bytes = name.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = if b == b'\\' {
            bytes
                .get(i + 1)
                .is_none_or(|next| *next == b'\\' || escapes.contains(next))
        } else {
            escapes.contains(&b)
        };
        if escape {
            // `i` is at an ASCII byte, hence a char boundary; the byte itself goes out with the
            // next run.
            out.push_str(name.get(last..i).unwrap_or_default());
            out.push('\\');
            last = i;
        }
    }
    out.push_str(name.get(last..).unwrap_or_default());
}

fn write_value(out: &mut String, value: &FieldValue<'_>) {
    // Writing to a String cannot fail.
    let _ = match value {
        // Debug is the shortest text that reads back as the same f64, and uses an exponent
        // for very large and very small magnitudes.
        FieldValue::Float(v) => write!(out, "{v:?}"),
        FieldValue::Integer(v) => write!(out, "{v}i"),
        FieldValue::Unsigned(v) => write!(out, "{v}u"),
        FieldValue::Boolean(v) => write!(out, "{v}"),
        FieldValue::String(s) => {
            out.push('"');
            let mut last = 0;
            for (i, b) in s.bytes().enumerate() {
                if b == b'"' || b == b'\\' {
                    out.push_str(s.get(last..i).unwrap_or_default());
                    out.push('\\');
                    last = i;
                }
            }
            out.push_str(s.get(last..).unwrap_or_default());
            out.push('"');
            Ok(())
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Parser internals.

/// Characters a backslash escapes in a measurement (besides the backslash itself).
const MEASUREMENT_ESCAPES: &[u8] = b", ";
/// Characters a backslash escapes in tag keys, tag values and field keys.
const KEY_ESCAPES: &[u8] = b",= ";
/// Characters a backslash escapes in a string field value.
const STRING_ESCAPES: &[u8] = b"\"";

/// Byte classes, as bit sets in [`CLASS`].
/// Ends a measurement, or needs a look (backslash).
const M: u8 = 1;
/// Ends a tag key, tag value or field key, or needs a look (backslash).
const K: u8 = 2;
/// Ends an unquoted field value.
const V: u8 = 4;
/// Ends a timestamp.
const T: u8 = 8;
/// Whitespace inside a line: around the timestamp, and before the measurement.
const W: u8 = 16;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b',' as usize] = M | K | V;
    t[b' ' as usize] = M | K | V | T | W;
    t[b'\n' as usize] = M | K | V | T;
    t[b'\\' as usize] = M | K;
    t[b'=' as usize] = K;
    t[b'\t' as usize] = V | T | W;
    t[b'\r' as usize] = V | T | W;
    t
};

/// Capacity hints come from the previous line; bounded so one odd line costs nothing later.
const MAX_HINT: usize = 64;
/// Up to this many tags, duplicates are found by comparing each new key with the previous ones;
/// beyond it, by sorting once, so that a line with a huge tag set stays linearithmic.
const LINEAR_DUP_CHECK: usize = 32;
/// Longest excerpt of the input quoted in an error reason, in characters.
const MAX_SNIPPET: usize = 48;

fn skip_while(buf: &[u8], mut pos: usize, class: u8) -> usize {
    while let Some(&b) = buf.get(pos) {
        if CLASS[usize::from(b)] & class == 0 {
            break;
        }
        pos += 1;
    }
    pos
}

/// The first byte at or after `pos` of class `class` (one of M, K, V, T), or the end of `buf`.
///
/// Tokens are short, but words are cheaper than bytes even so: eight bytes at a time, a bit
/// trick flags every byte below `!` (space, tab, CR, LF and the other control characters) and
/// each of the few printable delimiters of the class; the table then confirms the first flagged
/// byte, since a control character other than those is an ordinary character.
#[inline(always)]
fn skip_until(buf: &[u8], mut pos: usize, class: u8) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `w` equal to `b`. Only the lowest flagged byte is exact
    // (a borrow can flag a byte above a true match), and the lowest is all we use.
    let eq = |w: u64, b: u8| {
        let x = w ^ (LO * u64::from(b));
        x.wrapping_sub(LO) & !x & HI
    };
    // High bit set in each byte below `!`, with the same caveat.
    let control = |w: u64| w.wrapping_sub(LO * 0x21) & !w & HI;
    while let Some(word) = buf.get(pos..pos + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        let w = u64::from_le_bytes(word);
        let flagged = control(w)
            | match class {
                M => eq(w, b',') | eq(w, b'\\'),
                K => eq(w, b',') | eq(w, b'=') | eq(w, b'\\'),
                V => eq(w, b','),
                _ => 0,
            };
        if flagged == 0 {
            pos += 8;
            continue;
        }
        let at = pos + (flagged.trailing_zeros() / 8) as usize;
        match buf.get(at) {
            Some(&b) if CLASS[usize::from(b)] & class != 0 => return at,
            _ => pos = at + 1,
        }
    }
    while let Some(&b) = buf.get(pos) {
        if CLASS[usize::from(b)] & class != 0 {
            break;
        }
        pos += 1;
    }
    pos
}

/// The longest valid UTF-8 prefix of `buf[from..]`.
fn valid_prefix(buf: &[u8], from: usize) -> &str {
    let rest = buf.get(from..).unwrap_or_default();
    match std::str::from_utf8(rest) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(rest.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default(),
    }
}

/// Index of the first `\n` at or after `from`, or the length of `buf`.
fn find_newline(buf: &[u8], from: usize) -> usize {
    buf.get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(buf.len(), |i| from + i)
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// A short, quoted, printable excerpt of input bytes for an error reason.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars();
    let mut short: String = chars.by_ref().take(MAX_SNIPPET).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    format!("{short:?}")
}

/// A name quoted for an error reason, shortened if long.
fn quoted(name: &str) -> String {
    snippet(name.as_bytes())
}

/// Replaces each escape sequence (a backslash before a backslash or one of `escapes`) with the
/// character it stands for; other backslashes are literal.
fn unescape(s: &str, escapes: &[u8]) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\'
            && let Some(&next) = bytes.get(i + 1)
            && (next == b'\\' || escapes.contains(&next))
        {
            // Both are ASCII: `i` and `i + 1` are char boundaries.
            out.push_str(s.get(last..i).unwrap_or_default());
            last = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(s.get(last..).unwrap_or_default());
    out
}

/// Why a line failed, and where to look for the next line from. Boxed, so that the results
/// passed around on the hot path stay small.
#[derive(Debug)]
struct Fail(Box<Failure>);

#[derive(Debug)]
struct Failure {
    reason: String,
    /// The next line starts after the first newline at or after this offset.
    resync: usize,
}

/// Parses one data line of `buf`, starting at `pos`.
struct Parser<'a> {
    buf: &'a [u8],
    /// Offset of the start of the physical line, for columns.
    line_start: usize,
    pos: usize,
    /// Newlines crossed inside quoted strings.
    newlines: usize,
    /// The first string of this line that crossed a newline: its opening quote and field key.
    multiline: Option<(usize, String)>,
    /// `buf[valid_base..]` as far as it is known to be UTF-8: names and strings inside it are
    /// sliced from it without checking again.
    valid: &'a str,
    valid_base: usize,
    tag_hint: usize,
    field_hint: usize,
}

impl<'a> Parser<'a> {
    fn new(buf: &'a [u8], line_start: usize, pos: usize, tag_hint: usize, field_hint: usize) -> Self {
        Parser {
            buf,
            line_start,
            pos,
            newlines: 0,
            multiline: None,
            valid: "",
            valid_base: 0,
            tag_hint,
            field_hint,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
    }

    fn col(&self, pos: usize) -> usize {
        pos.saturating_sub(self.line_start) + 1
    }

    fn bytes(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    #[cold]
    fn fail(&self, at: usize, reason: String) -> Fail {
        Fail(Box::new(Failure { reason, resync: at }))
    }

    /// Parses the line; on success `pos` is at the line's `\n` or at the end of the buffer.
    fn parse(&mut self) -> Result<Line<'a>, Fail> {
        let result = self.parse_line();
        match (result, self.multiline.take()) {
            (Err(_), Some((quote, key))) => Err(self.fail(
                quote,
                format!(
                    "unterminated string value for field {} at column {}",
                    quoted(&key),
                    self.col(quote)
                ),
            )),
            (result, _) => result,
        }
    }

    fn parse_line(&mut self) -> Result<Line<'a>, Fail> {
        let start = self.pos;
        let (end, escaped) = self.scan_name(M, MEASUREMENT_ESCAPES);
        if end == start {
            return Err(self.fail(start, "missing measurement".to_owned()));
        }
        let measurement = self.text(start, end, escaped, MEASUREMENT_ESCAPES, "measurement")?;

        let mut tags = Vec::with_capacity(self.tag_hint);
        if self.peek() == Some(b',') {
            self.parse_tags(&mut tags)?;
        }

        // Here we are at the space before the fields, or at the end of the line.
        self.skip_spaces();
        if matches!(self.buf.get(skip_while(self.buf, self.pos, W)), None | Some(b'\n')) {
            return Err(self.fail(self.pos, "missing fields".to_owned()));
        }

        let mut fields = Vec::with_capacity(self.field_hint);
        loop {
            let key_start = self.pos;
            let (key_end, escaped) = self.scan_name(K, KEY_ESCAPES);
            if key_end == key_start {
                return Err(self.fail(
                    key_start,
                    format!("missing field key at column {}", self.col(key_start)),
                ));
            }
            if self.peek() != Some(b'=') {
                return Err(self.fail(
                    key_end,
                    format!(
                        "field key {} without value at column {}",
                        snippet(self.bytes(key_start, key_end)),
                        self.col(key_start)
                    ),
                ));
            }
            let key = self.text(key_start, key_end, escaped, KEY_ESCAPES, "field key")?;
            self.pos += 1;
            let value = self.field_value(&key)?;
            fields.push((key, value));
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                // A field value always ends at a comma, whitespace or the end of the line.
                break;
            }
        }

        self.pos = skip_while(self.buf, self.pos, W);
        let timestamp = if self.at_eol() { None } else { Some(self.timestamp()?) };
        Ok(Line {
            measurement,
            tags,
            fields,
            timestamp,
        })
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Parses `,key=value` pairs; `pos` is at the first comma. Stops at the space before the
    /// fields or at the end of the line.
    fn parse_tags(&mut self, tags: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Result<(), Fail> {
        while self.peek() == Some(b',') {
            self.pos += 1;
            let key_start = self.pos;
            let (key_end, escaped) = self.scan_name(K, KEY_ESCAPES);
            if key_end == key_start {
                return Err(self.fail(key_start, format!("missing tag key at column {}", self.col(key_start))));
            }
            if self.peek() != Some(b'=') {
                return Err(self.fail(
                    key_end,
                    format!(
                        "tag key {} without value at column {}",
                        snippet(self.bytes(key_start, key_end)),
                        self.col(key_start)
                    ),
                ));
            }
            let key = self.text(key_start, key_end, escaped, KEY_ESCAPES, "tag key")?;
            self.pos += 1;
            let value_start = self.pos;
            let (value_end, escaped) = self.scan_name(K, KEY_ESCAPES);
            if self.peek() == Some(b'=') {
                return Err(self.fail(
                    value_end,
                    format!(
                        "unescaped '=' in the value of tag {} at column {}",
                        quoted(&key),
                        self.col(value_end)
                    ),
                ));
            }
            if value_end == value_start {
                return Err(self.fail(
                    value_start,
                    format!(
                        "missing value for tag {} at column {}",
                        quoted(&key),
                        self.col(value_start)
                    ),
                ));
            }
            let value = self.text(value_start, value_end, escaped, KEY_ESCAPES, "tag value")?;
            if tags.len() < LINEAR_DUP_CHECK && tags.iter().any(|(k, _)| *k == key) {
                return Err(self.fail(
                    value_end,
                    format!("duplicate tag key {} at column {}", quoted(&key), self.col(key_start)),
                ));
            }
            tags.push((key, value));
        }
        if tags.len() > LINEAR_DUP_CHECK {
            let mut keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_ref()).collect();
            keys.sort_unstable();
            if let Some(pair) = keys.windows(2).find(|pair| pair.first() == pair.get(1)) {
                let key = pair.first().copied().unwrap_or_default();
                return Err(self.fail(self.pos, format!("duplicate tag key {}", quoted(key))));
            }
        }
        Ok(())
    }

    /// Advances `pos` to the first unescaped byte of class `stop` (or the end of the buffer).
    /// Returns that position and whether an escape sequence was seen.
    #[inline(always)]
    fn scan_name(&mut self, stop: u8, escapes: &[u8]) -> (usize, bool) {
        let buf = self.buf;
        let mut pos = self.pos;
        let mut escaped = false;
        loop {
            pos = skip_until(buf, pos, stop);
            if buf.get(pos) != Some(&b'\\') {
                break;
            }
            match buf.get(pos + 1) {
                Some(next) if *next == b'\\' || escapes.contains(next) => {
                    escaped = true;
                    pos += 2;
                }
                // A backslash before anything else is a literal backslash.
                _ => pos += 1,
            }
        }
        self.pos = pos;
        (pos, escaped)
    }

    /// The text of `start..end`, unescaped if `escaped`.
    #[inline(always)]
    fn text(&self, start: usize, end: usize, escaped: bool, escapes: &[u8], what: &str) -> Result<Cow<'a, str>, Fail> {
        let text = match self.str_of(start, end) {
            Some(text) => text,
            None => return Err(self.utf8_error(start, end, what)),
        };
        Ok(if escaped {
            Cow::Owned(unescape(text, escapes))
        } else {
            Cow::Borrowed(text)
        })
    }

    /// `buf[start..end]` as a str, if it is UTF-8.
    #[inline]
    fn str_of(&self, start: usize, end: usize) -> Option<&'a str> {
        // Tokens end at ASCII delimiters, so they begin and end on char boundaries of `valid`.
        if let Some(from) = start.checked_sub(self.valid_base)
            && let Some(text) = self.valid.get(from..end.saturating_sub(self.valid_base))
        {
            return Some(text);
        }
        std::str::from_utf8(self.bytes(start, end)).ok()
    }

    #[cold]
    fn utf8_error(&self, start: usize, end: usize, what: &str) -> Fail {
        let bytes = self.bytes(start, end);
        let at = start + std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
        self.fail(end, format!("invalid UTF-8 in {what} at column {}", self.col(at)))
    }

    /// Parses a field value; `pos` is just after the `=`.
    fn field_value(&mut self, key: &str) -> Result<FieldValue<'a>, Fail> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => return self.string_value(key),
            None | Some(b',' | b' ' | b'\t' | b'\r' | b'\n') => {
                return Err(self.fail(
                    start,
                    format!("missing value for field {} at column {}", quoted(key), self.col(start)),
                ));
            }
            Some(_) => {}
        }
        let end = skip_until(self.buf, start, V);
        self.pos = end;
        let token = self.bytes(start, end);
        scalar(token).map_err(|problem| {
            let what = match problem {
                Problem::Invalid => "invalid field value",
                Problem::IntegerRange => "integer field value out of range",
                Problem::UnsignedRange => "unsigned field value out of range",
                Problem::FloatRange => "float field value out of range",
            };
            self.fail(
                end,
                format!(
                    "{what} for {} at column {}: {}",
                    quoted(key),
                    self.col(start),
                    snippet(token)
                ),
            )
        })
    }

    /// Parses a quoted string value; `pos` is at the opening quote.
    fn string_value(&mut self, key: &str) -> Result<FieldValue<'a>, Fail> {
        let quote = self.pos;
        let start = quote + 1;
        let mut pos = start;
        let mut escaped = false;
        let mut newlines = 0;
        let end = loop {
            match self.buf.get(pos) {
                None => {
                    return Err(self.fail(
                        quote,
                        format!(
                            "unterminated string value for field {} at column {}",
                            quoted(key),
                            self.col(quote)
                        ),
                    ));
                }
                Some(b'"') => break pos,
                Some(b'\\') => {
                    if matches!(self.buf.get(pos + 1), Some(b'"' | b'\\')) {
                        escaped = true;
                        pos += 2;
                    } else {
                        pos += 1;
                    }
                }
                Some(b'\n') => {
                    newlines += 1;
                    pos += 1;
                }
                Some(_) => pos += 1,
            }
        };
        self.pos = end + 1;
        if newlines > 0 {
            self.newlines += newlines;
            if self.multiline.is_none() {
                self.multiline = Some((quote, key.to_owned()));
            }
        }
        if let Some(b) = self.peek()
            && CLASS[usize::from(b)] & V == 0
        {
            let rest = skip_until(self.buf, self.pos, V);
            return Err(self.fail(
                self.pos,
                format!(
                    "unexpected text after the string value of field {} at column {}: {}",
                    quoted(key),
                    self.col(self.pos),
                    snippet(self.bytes(self.pos, rest))
                ),
            ));
        }
        let text = self.text(start, end, escaped, STRING_ESCAPES, "string value")?;
        Ok(FieldValue::String(text))
    }

    /// Parses the timestamp; `pos` is at its first byte.
    fn timestamp(&mut self) -> Result<i64, Fail> {
        let start = self.pos;
        let end = skip_until(self.buf, start, T);
        let token = self.bytes(start, end);
        let ts = match integer(token) {
            Ok(ts) => ts,
            Err(problem) => {
                let what = match problem {
                    Problem::IntegerRange => "timestamp out of range",
                    _ => "invalid timestamp",
                };
                return Err(self.fail(end, format!("{what} {} at column {}", snippet(token), self.col(start))));
            }
        };
        self.pos = skip_while(self.buf, end, W);
        if !self.at_eol() {
            let rest = skip_until(self.buf, self.pos, T);
            return Err(self.fail(
                self.pos,
                format!(
                    "unexpected text after the timestamp at column {}: {}",
                    self.col(self.pos),
                    snippet(self.bytes(self.pos, rest))
                ),
            ));
        }
        Ok(ts)
    }
}

/// What is wrong with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    Invalid,
    IntegerRange,
    UnsignedRange,
    FloatRange,
}

/// Parses an unquoted field value: a boolean or a number.
fn scalar(token: &[u8]) -> Result<FieldValue<'static>, Problem> {
    match token {
        [b't' | b'T' | b'f' | b'F', ..] => match token {
            b"t" | b"T" | b"true" | b"True" | b"TRUE" => Ok(FieldValue::Boolean(true)),
            b"f" | b"F" | b"false" | b"False" | b"FALSE" => Ok(FieldValue::Boolean(false)),
            _ => Err(Problem::Invalid),
        },
        [body @ .., b'i'] => integer(body).map(FieldValue::Integer),
        [body @ .., b'u'] => unsigned(body).map(FieldValue::Unsigned),
        _ => float(token).map(FieldValue::Float),
    }
}

/// `[0-9]+` to u64, range-checked.
fn digits_u64(digits: &[u8]) -> Result<u64, Problem> {
    if digits.is_empty() {
        return Err(Problem::Invalid);
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(Problem::Invalid);
        }
        match value.checked_mul(10).and_then(|v| v.checked_add(u64::from(b - b'0'))) {
            Some(v) => value = v,
            // Keep checking the syntax: "99999999999999999999x" is invalid, not out of range.
            None => overflow = true,
        }
    }
    if overflow {
        Err(Problem::UnsignedRange)
    } else {
        Ok(value)
    }
}

/// `-?[0-9]+` to i64, range-checked.
fn integer(token: &[u8]) -> Result<i64, Problem> {
    let (negative, digits) = match token {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, token),
    };
    let magnitude = digits_u64(digits).map_err(|p| match p {
        Problem::UnsignedRange => Problem::IntegerRange,
        p => p,
    })?;
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value.ok_or(Problem::IntegerRange)
}

/// `[0-9]+` to u64, range-checked; any minus sign is out of range, as in InfluxDB.
fn unsigned(token: &[u8]) -> Result<u64, Problem> {
    match token {
        [b'-', rest @ ..] => match digits_u64(rest) {
            Ok(_) | Err(Problem::UnsignedRange) => Err(Problem::UnsignedRange),
            Err(p) => Err(p),
        },
        _ => digits_u64(token),
    }
}

/// Powers of ten that f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// `-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?` to a finite f64.
fn float(token: &[u8]) -> Result<f64, Problem> {
    let (negative, body) = match token {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, token),
    };
    let mut i = 0;
    // Significant digits as an integer while they fit, for the exact fast path below.
    let mut mantissa: u64 = 0;
    let mut exact = true;
    let mut digits = 0usize;
    let mut fraction_digits = 0i64;
    let mut in_fraction = false;
    while let Some(&b) = body.get(i) {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if in_fraction {
                    fraction_digits += 1;
                }
                // 19 digits always fit in a u64; beyond that the slow path takes over.
                if digits <= 19 {
                    mantissa = mantissa * 10 + u64::from(b - b'0');
                } else {
                    exact = false;
                }
            }
            b'.' if !in_fraction => in_fraction = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(Problem::Invalid);
    }
    let mut exponent = 0i64;
    if let Some(b'e' | b'E') = body.get(i) {
        i += 1;
        let negative_exponent = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exponent_start = i;
        while let Some(&b) = body.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            // Saturate: such exponents go to the slow path, which gets them right.
            exponent = (exponent * 10 + i64::from(b - b'0')).min(1 << 40);
            i += 1;
        }
        if i == exponent_start {
            return Err(Problem::Invalid);
        }
        if negative_exponent {
            exponent = -exponent;
        }
    }
    if i != body.len() {
        return Err(Problem::Invalid);
    }

    // Clinger's fast path: both operands are exact, so one IEEE operation rounds correctly.
    let power = exponent - fraction_digits;
    if exact && mantissa <= 1 << 53 && power.abs() <= 22 {
        let m = mantissa as f64;
        let scale = POW10.get(power.unsigned_abs() as usize).copied().unwrap_or(1.0);
        let value = if power >= 0 { m * scale } else { m / scale };
        return Ok(if negative { -value } else { value });
    }
    // The syntax is checked above, and is a subset of what Rust's parser accepts.
    let text = std::str::from_utf8(token).map_err(|_| Problem::Invalid)?;
    let value: f64 = text.parse().map_err(|_| Problem::Invalid)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Problem::FloatRange)
    }
}

/// Milliseconds of a unit of `precision`.
fn unit_ms(precision: Precision) -> f64 {
    match precision {
        Precision::Nanoseconds => 1e-6,
        Precision::Microseconds => 1e-3,
        Precision::Milliseconds => 1.0,
        Precision::Seconds => 1e3,
        Precision::Minutes => 6e4,
        Precision::Hours => 3.6e6,
    }
}

/// A time in `precision` with fractions, to milliseconds (rounded); None out of range.
pub(crate) fn float_to_millis(t: f64, precision: Precision) -> Option<i64> {
    let ms = (t * unit_ms(precision)).round();
    // 2^63 as f64: larger values do not fit an i64.
    (ms.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64)
}

/// A unix time in `precision`: an integer exactly, or a number with fractions; None if neither.
pub(crate) fn unix_to_millis(text: &str, precision: Precision) -> Option<i64> {
    match text.parse::<i64>() {
        Ok(t) => precision.to_millis(t),
        Err(_) => float_to_millis(text.parse().ok()?, precision),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn ok(text: &str) -> Line<'_> {
        parse_line(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn err(text: &[u8]) -> String {
        match parse_line(text) {
            Ok(line) => panic!("{:?} should fail, parsed {line:?}", String::from_utf8_lossy(text)),
            Err(reason) => reason,
        }
    }

    fn value(text: &str) -> FieldValue<'static> {
        let mut line = ok(text);
        assert_eq!(line.fields.len(), 1, "{text:?}");
        line.fields.remove(0).1.into_owned()
    }

    /// Every item of `body` as (line number, line or reason).
    fn items(body: &[u8]) -> Vec<(usize, Result<Line<'_>, String>)> {
        let mut it = lines(body);
        let mut out = Vec::new();
        while let Some(item) = it.next() {
            match item {
                Ok(line) => out.push((it.line_number(), Ok(line))),
                Err(e) => {
                    assert_eq!(e.line, it.line_number());
                    out.push((e.line, Err(e.reason)));
                }
            }
        }
        out
    }

    fn line<'a>(
        measurement: &'a str,
        tags: &[(&'a str, &'a str)],
        fields: Vec<(&'a str, FieldValue<'a>)>,
        timestamp: Option<i64>,
    ) -> Line<'a> {
        Line {
            measurement: measurement.into(),
            tags: tags.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            timestamp,
        }
    }

    /// The one round-trip checker behind the example tests, the proptests and the fuzz target's
    /// property: writing a line and parsing the text gives the line back, alone and inside a
    /// body between other lines, with the right line numbers.
    fn assert_round_trip(line: &Line<'_>) {
        let mut text = String::new();
        write_line(line, &mut text);
        let parsed = parse_line(text.as_bytes())
            .unwrap_or_else(|e| panic!("{text:?} (written from {line:?}) does not parse: {e}"));
        assert_eq!(&parsed, line, "written as {text:?}");

        let newlines = count_newlines(text.as_bytes());
        let body = format!("# before\r\n{text}\r\n\nm v=1\n");
        let got = items(body.as_bytes());
        assert_eq!(got.len(), 2, "{body:?}");
        assert_eq!(got[0], (2, Ok(line.clone())), "{body:?}");
        assert_eq!(got[1].0, 4 + newlines, "{body:?}");
    }

    #[test]
    fn precision_from_param() {
        use Precision::*;
        for (param, want) in [
            ("ns", Nanoseconds),
            ("n", Nanoseconds),
            ("us", Microseconds),
            ("u", Microseconds),
            ("µ", Microseconds),
            ("µs", Microseconds),
            ("ms", Milliseconds),
            ("s", Seconds),
            ("m", Minutes),
            ("h", Hours),
        ] {
            assert_eq!(Precision::from_param(param), Some(want), "{param}");
            assert_eq!(Precision::from_param(want.as_str()), Some(want));
        }
        for bad in ["", "NS", "sec", "d", "mn", "µµ"] {
            assert_eq!(Precision::from_param(bad), None, "{bad}");
        }
        assert_eq!(Precision::default(), Nanoseconds);
    }

    #[test]
    fn precision_to_millis_floors_and_checks_overflow() {
        use Precision::*;
        assert_eq!(
            Nanoseconds.to_millis(1_700_000_000_123_456_789),
            Some(1_700_000_000_123)
        );
        assert_eq!(Nanoseconds.to_millis(-1), Some(-1));
        assert_eq!(Nanoseconds.to_millis(-1_000_000), Some(-1));
        assert_eq!(Nanoseconds.to_millis(-1_000_001), Some(-2));
        assert_eq!(Nanoseconds.to_millis(i64::MIN), Some(i64::MIN.div_euclid(1_000_000)));
        assert_eq!(Microseconds.to_millis(1_999), Some(1));
        assert_eq!(Microseconds.to_millis(-1), Some(-1));
        assert_eq!(Milliseconds.to_millis(-5), Some(-5));
        assert_eq!(Milliseconds.to_millis(i64::MAX), Some(i64::MAX));
        assert_eq!(Seconds.to_millis(-2), Some(-2_000));
        assert_eq!(Seconds.to_millis(i64::MAX / 1000), Some(i64::MAX / 1000 * 1000));
        assert_eq!(Seconds.to_millis(i64::MAX / 1000 + 1), None);
        assert_eq!(Seconds.to_millis(i64::MIN), None);
        assert_eq!(Minutes.to_millis(2), Some(120_000));
        assert_eq!(Minutes.to_millis(i64::MAX / 60_000 + 1), None);
        assert_eq!(Hours.to_millis(-1), Some(-3_600_000));
        assert_eq!(Hours.to_millis(i64::MAX / 3_600_000 + 1), None);
    }

    #[test]
    fn parses_a_full_line_borrowing_from_the_input() {
        let got = ok("cpu,host=a,region=eu usage=1.5,count=3i,up=t,n=7u,s=\"x y\" 1700000000000000000");
        let want = line(
            "cpu",
            &[("host", "a"), ("region", "eu")],
            vec![
                ("usage", FieldValue::Float(1.5)),
                ("count", FieldValue::Integer(3)),
                ("up", FieldValue::Boolean(true)),
                ("n", FieldValue::Unsigned(7)),
                ("s", FieldValue::String("x y".into())),
            ],
            Some(1_700_000_000_000_000_000),
        );
        assert_eq!(got, want);
        assert!(matches!(got.measurement, Cow::Borrowed(_)));
        assert!(
            got.tags
                .iter()
                .all(|(k, v)| matches!((k, v), (Cow::Borrowed(_), Cow::Borrowed(_))))
        );
        assert!(matches!(
            got.fields[4],
            (Cow::Borrowed(_), FieldValue::String(Cow::Borrowed(_)))
        ));
        assert_round_trip(&got);
    }

    #[test]
    fn tags_and_timestamp_are_optional() {
        assert_eq!(ok("m v=1"), line("m", &[], vec![("v", FieldValue::Float(1.0))], None));
        assert_eq!(ok("m,a=b v=1").timestamp, None);
        assert_eq!(ok("m v=1 -5").timestamp, Some(-5));
        assert_eq!(ok("m v=1 0").timestamp, Some(0));
        assert_eq!(ok("m v=1 9223372036854775807").timestamp, Some(i64::MAX));
        assert_eq!(ok("m v=1 -9223372036854775808").timestamp, Some(i64::MIN));
        // Duplicate field keys are kept in order; the storage keeps the last.
        assert_eq!(ok("m v=1,v=2").fields.len(), 2);
    }

    #[test]
    fn whitespace_around_sections() {
        let want = line("m", &[("a", "b")], vec![("v", FieldValue::Float(1.0))], Some(5));
        for text in [
            "m,a=b v=1 5",
            "  m,a=b v=1 5",
            "\tm,a=b v=1 5",
            "m,a=b   v=1 5",
            "m,a=b v=1   5",
            "m,a=b v=1\t5",
            "m,a=b v=1 5  ",
            "m,a=b v=1 5\t\r",
            "m,a=b v=1 5\r",
            "m,a=b v=1 5\n",
            "m,a=b v=1 5\r\n",
        ] {
            assert_eq!(ok(text), want, "{text:?}");
        }
        let want = line("m", &[], vec![("v", FieldValue::Integer(1))], None);
        for text in ["m v=1i", "m v=1i ", "m v=1i\r", "m v=1i\t \r\n"] {
            assert_eq!(ok(text), want, "{text:?}");
        }
        // A tab is part of a name; only spaces separate the measurement from the fields.
        assert_eq!(ok("m\tx v=1").measurement, "m\tx");
        assert_eq!(ok("m \tk=1").fields[0].0, "\tk");
    }

    #[test]
    fn measurement_escapes() {
        assert_eq!(ok(r"my\ m\,x v=1").measurement, "my m,x");
        assert!(matches!(ok(r"my\ m v=1").measurement, Cow::Owned(_)));
        // `=` needs no escape in a measurement, and `\=` is not an escape there.
        assert_eq!(ok(r"a=b v=1").measurement, "a=b");
        assert_eq!(ok(r"a\=b v=1").measurement, r"a\=b");
        // Quotes and other characters are ordinary.
        assert_eq!(ok(r#""m"'s v=1"#).measurement, r#""m"'s"#);
        assert_eq!(ok("🍭,t=🚀 v=1").measurement, "🍭");
        assert_eq!(ok(r"\ lead v=1").measurement, " lead");
    }

    #[test]
    fn key_and_tag_value_escapes() {
        let got = ok(r"m,tag\ key\,\==tag\ value\,\= field\ key\,\==1");
        assert_eq!(got.tags, vec![(Cow::from("tag key,="), Cow::from("tag value,="))]);
        assert_eq!(got.fields[0].0, "field key,=");
        assert_round_trip(&got);
        // Quotes are ordinary in keys and tag values.
        let got = ok(r#"m,"k"="v" "f"=1"#);
        assert_eq!(got.tags[0], ("\"k\"".into(), "\"v\"".into()));
        assert_eq!(got.fields[0].0, "\"f\"");
    }

    /// The reference's "escaping backslashes" table, in every kind of name.
    #[test]
    fn backslash_table_from_the_reference() {
        let table = [
            (r"a\b", r"a\b"),
            (r"a\\b", r"a\b"),
            (r"a\\\b", r"a\\b"),
            (r"a\\\\b", r"a\\b"),
            (r"a\\\\\b", r"a\\\b"),
            (r"a\\\\\\b", r"a\\\b"),
        ];
        for (written, meant) in table {
            let text = format!("{written},{written}={written} {written}=1");
            let got = ok(&text);
            assert_eq!(got.measurement, meant, "{written}");
            assert_eq!(got.tags[0], (meant.into(), meant.into()), "{written}");
            assert_eq!(got.fields[0].0, meant, "{written}");
            assert_round_trip(&got);
        }
        // A literal backslash alone needs no copy.
        assert!(matches!(ok(r"C:\temp v=1").measurement, Cow::Borrowed(r"C:\temp")));
        // A backslash before the end of a name escapes the delimiter.
        assert_eq!(err(br"m\ v=1"), "missing fields");
        assert_eq!(ok(r"m\\ v=1").measurement, "m\\");
    }

    #[test]
    fn string_values_and_their_escapes() {
        let s = |text: &str| match value(text) {
            FieldValue::String(s) => s.into_owned(),
            other => panic!("{text:?} gave {other:?}"),
        };
        assert_eq!(s(r#"m s="""#), "");
        assert_eq!(s(r#"m s="a \"quoted\" word""#), r#"a "quoted" word"#);
        assert_eq!(s(r#"m s="back\\slash""#), r"back\slash");
        assert_eq!(s(r#"m s="\\""#), "\\");
        assert_eq!(s(r#"m s="\\\\\\""#), r"\\\");
        // Any other backslash is literal: no \n or \t escapes.
        assert_eq!(s(r#"m s="a\nb\tc\d""#), r"a\nb\tc\d");
        assert_eq!(s(r#"m s="x,y=z w""#), "x,y=z w");
        assert_eq!(s("m s=\"Launch 🚀\""), "Launch 🚀");
        assert_eq!(s("m s=\"two\nlines\""), "two\nlines");
        assert_eq!(s("m s=\"crlf\r\nline\""), "crlf\r\nline");
        assert_eq!(s(r#"m s="t""#), "t");
        assert!(matches!(
            ok(r#"m s="plain""#).fields[0].1,
            FieldValue::String(Cow::Borrowed("plain"))
        ));
        assert!(matches!(
            ok(r#"m s="a\"b""#).fields[0].1,
            FieldValue::String(Cow::Owned(_))
        ));
        let got = ok(r#"m a="x",b=1,c="y" 5"#);
        assert_eq!(got.fields.len(), 3);
        assert_eq!(got.timestamp, Some(5));
    }

    #[test]
    fn newlines_in_strings_keep_line_numbers_right() {
        let body = b"m s=\"one\ntwo\nthree\" 1\nm v=1\nbad\nm s=\"\n\" 2\nm v=2\n";
        let got = items(body);
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].0, 1);
        assert!(matches!(&got[0].1, Ok(l) if l.fields[0].1 == FieldValue::String("one\ntwo\nthree".into())));
        assert_eq!((got[1].0, got[2].0, got[3].0, got[4].0), (4, 5, 6, 8));
        assert_eq!(got[2].1, Err("missing fields".to_owned()));
        assert!(matches!(&got[4].1, Ok(l) if l.fields[0].1 == FieldValue::Float(2.0)));
    }

    #[test]
    fn floats() {
        for (text, want) in [
            ("1", 1.0),
            ("1.0", 1.0),
            ("-1", -1.0),
            ("1.5", 1.5),
            ("-1.5", -1.5),
            (".5", 0.5),
            ("-.5", -0.5),
            ("1.", 1.0),
            ("-1.", -1.0),
            ("0", 0.0),
            ("007", 7.0),
            ("1e5", 1e5),
            ("1E5", 1e5),
            ("1e+5", 1e5),
            ("1.5e-3", 1.5e-3),
            ("-1.234456e+78", -1.234456e78),
            ("0.1", 0.1),
            ("15.59", 15.59),
            ("123456789012345678901234567890", 123456789012345678901234567890.0),
            ("0.000000000000000000000000000001", 1e-30),
            ("9007199254740993", 9007199254740993.0),
            ("1.7976931348623157e308", f64::MAX),
            ("5e-324", 5e-324),
            ("1e-400", 0.0),
            ("0e999999999999999999999", 0.0),
        ] {
            let got = value(&format!("m v={text}"));
            assert_eq!(got, FieldValue::Float(want), "{text}");
            assert_eq!(Ok(want), text.parse::<f64>(), "{text}");
        }
        let FieldValue::Float(zero) = value("m v=-0") else {
            panic!("not a float")
        };
        assert!(zero == 0.0 && zero.is_sign_negative());
    }

    #[test]
    fn invalid_floats() {
        for text in [
            "inf", "-inf", "Infinity", "nan", "NaN", "+1", "1.2.3", "1e", "1e+", "e5", "-", ".", "-.", "..5", "1..",
            "0x10", "1_000", "1f", "1.5.", "1e5.5", "--1", "1-", "١",
        ] {
            let reason = err(format!("m v={text}").as_bytes());
            let token = text.split(',').next().unwrap_or(text);
            assert_eq!(reason, format!("invalid field value for \"v\" at column 5: {token:?}"));
        }
        assert_eq!(
            err(b"m v=1e309"),
            r#"float field value out of range for "v" at column 5: "1e309""#
        );
        assert_eq!(
            err(b"m v=-1e99999999999999999999"),
            r#"float field value out of range for "v" at column 5: "-1e99999999999999999999""#
        );
    }

    #[test]
    fn integers() {
        for (text, want) in [
            ("1i", 1),
            ("-1i", -1),
            ("0i", 0),
            ("-0i", 0),
            ("007i", 7),
            ("9223372036854775807i", i64::MAX),
            ("-9223372036854775808i", i64::MIN),
        ] {
            assert_eq!(value(&format!("m v={text}")), FieldValue::Integer(want), "{text}");
        }
        for text in [
            "9223372036854775808i",
            "-9223372036854775809i",
            "99999999999999999999999i",
        ] {
            assert_eq!(
                err(format!("m v={text}").as_bytes()),
                format!("integer field value out of range for \"v\" at column 5: {text:?}")
            );
        }
        for text in [
            "i",
            "-i",
            "1.0i",
            "1e3i",
            "+1i",
            "1ii",
            "0x1i",
            "9999999999999999999999x",
        ] {
            let reason = err(format!("m v={text} ").as_bytes());
            assert!(
                reason.starts_with("invalid field value for \"v\" at column 5"),
                "{text}: {reason}"
            );
        }
    }

    #[test]
    fn unsigned_integers() {
        for (text, want) in [("0u", 0), ("1u", 1), ("18446744073709551615u", u64::MAX)] {
            assert_eq!(value(&format!("m v={text}")), FieldValue::Unsigned(want), "{text}");
        }
        for text in ["18446744073709551616u", "-1u", "-0u"] {
            assert_eq!(
                err(format!("m v={text}").as_bytes()),
                format!("unsigned field value out of range for \"v\" at column 5: {text:?}")
            );
        }
        for text in ["u", "-u", "1.5u", "1e3u", "+1u", "1uu"] {
            assert_eq!(
                err(format!("m v={text}").as_bytes()),
                format!("invalid field value for \"v\" at column 5: {text:?}")
            );
        }
    }

    #[test]
    fn booleans() {
        for text in ["t", "T", "true", "True", "TRUE"] {
            assert_eq!(value(&format!("m v={text}")), FieldValue::Boolean(true), "{text}");
        }
        for text in ["f", "F", "false", "False", "FALSE"] {
            assert_eq!(value(&format!("m v={text}")), FieldValue::Boolean(false), "{text}");
        }
        for text in ["tru", "TRue", "yes", "on", "1b", "falsey", "tt"] {
            assert_eq!(
                err(format!("m v={text}").as_bytes()),
                format!("invalid field value for \"v\" at column 5: {text:?}")
            );
        }
        assert_eq!(value(r#"m v="true""#), FieldValue::String("true".into()));
    }

    #[test]
    fn field_value_helpers() {
        assert_eq!(FieldValue::Float(1.5).as_f64(), Some(1.5));
        assert_eq!(FieldValue::Integer(-3).as_f64(), Some(-3.0));
        assert_eq!(FieldValue::Unsigned(3).as_f64(), Some(3.0));
        assert_eq!(FieldValue::Boolean(true).as_f64(), Some(1.0));
        assert_eq!(FieldValue::Boolean(false).as_f64(), Some(0.0));
        assert_eq!(FieldValue::String("1".into()).as_f64(), None);
        assert_eq!(FieldValue::Unsigned(3).type_name(), "unsigned");
        let body = String::from("m,a=b s=\"x\" 1");
        let owned: Line<'static> = ok(&body).into_owned();
        drop(body);
        assert_eq!(owned.tags[0].1, "b");
        assert_eq!(owned.to_string(), "m,a=b s=\"x\" 1");
    }

    #[test]
    fn structural_errors() {
        for (text, want) in [
            (&b",a=b v=1"[..], "missing measurement"),
            (b"cpu", "missing fields"),
            (b"cpu ", "missing fields"),
            (b"cpu \r", "missing fields"),
            (b"cpu\r", "missing fields"),
            (b"cpu,a=b", "missing fields"),
            (b"cpu,a=b  ", "missing fields"),
            (b"cpu,host v=1", r#"tag key "host" without value at column 5"#),
            (b"cpu,host,a=b v=1", r#"tag key "host" without value at column 5"#),
            (b"cpu,=b v=1", "missing tag key at column 5"),
            (b"cpu, v=1", "missing tag key at column 5"),
            (b"cpu,a=b,,c=d v=1", "missing tag key at column 9"),
            (b"cpu,a= v=1", r#"missing value for tag "a" at column 7"#),
            (b"cpu,a=,b=c v=1", r#"missing value for tag "a" at column 7"#),
            (b"cpu,a=b=c v=1", r#"unescaped '=' in the value of tag "a" at column 8"#),
            (b"cpu,host=a,host=b v=1", r#"duplicate tag key "host" at column 12"#),
            (b"cpu =1", "missing field key at column 5"),
            (b"cpu ,v=1", "missing field key at column 5"),
            (b"cpu v=1,", "missing field key at column 9"),
            (b"cpu v=1,,w=2", "missing field key at column 9"),
            (b"cpu value", r#"field key "value" without value at column 5"#),
            (b"cpu v=1,w 5", r#"field key "w" without value at column 9"#),
            (b"cpu v=", r#"missing value for field "v" at column 7"#),
            (b"cpu v= 5", r#"missing value for field "v" at column 7"#),
            (b"cpu v=,w=1", r#"missing value for field "v" at column 7"#),
            (
                b"cpu v=\"x\"y",
                r#"unexpected text after the string value of field "v" at column 10: "y""#,
            ),
            (
                b"cpu v=\"x\"\"y\"",
                r#"unexpected text after the string value of field "v" at column 10: "\"y\"""#,
            ),
            (b"cpu v=1 abc", r#"invalid timestamp "abc" at column 9"#),
            (b"cpu v=1 1.5", r#"invalid timestamp "1.5" at column 9"#),
            (b"cpu v=1 +5", r#"invalid timestamp "+5" at column 9"#),
            (b"cpu v=1 -", r#"invalid timestamp "-" at column 9"#),
            (b"cpu v=1 5,6", r#"invalid timestamp "5,6" at column 9"#),
            (
                b"cpu v=1 9223372036854775808",
                r#"timestamp out of range "9223372036854775808" at column 9"#,
            ),
            (
                b"cpu v=1 -9223372036854775809",
                r#"timestamp out of range "-9223372036854775809" at column 9"#,
            ),
            (
                b"cpu v=1 5 6",
                r#"unexpected text after the timestamp at column 11: "6""#,
            ),
            (
                b"cpu v=1 5 x y",
                r#"unexpected text after the timestamp at column 11: "x""#,
            ),
            (b"cpu v=1\tw=2", r#"invalid timestamp "w=2" at column 9"#),
            (
                b"cpu v=\"open",
                r#"unterminated string value for field "v" at column 7"#,
            ),
            (
                b"cpu v=\"open\\\"",
                r#"unterminated string value for field "v" at column 7"#,
            ),
        ] {
            assert_eq!(err(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn duplicate_tags_in_a_large_tag_set() {
        let mut text = String::from("m");
        for i in 0..100 {
            text.push_str(&format!(",k{i}=v"));
        }
        text.push_str(" v=1");
        assert_eq!(ok(&text).tags.len(), 100);
        let dup = text.replace(",k99=v", ",k7=v");
        assert_eq!(err(dup.as_bytes()), r#"duplicate tag key "k7""#);
    }

    #[test]
    fn invalid_utf8_fails_only_its_line() {
        for (text, want) in [
            (&b"m\xff v=1"[..], "invalid UTF-8 in measurement at column 2"),
            (b"m,\xc3=b v=1", "invalid UTF-8 in tag key at column 3"),
            (b"m,a=\xe2\x82 v=1", "invalid UTF-8 in tag value at column 5"),
            (b"m a\xf0=1", "invalid UTF-8 in field key at column 4"),
            (b"m s=\"ok \xed\xa0\x80\"", "invalid UTF-8 in string value at column 9"),
        ] {
            assert_eq!(err(text), want);
            let mut body = b"m v=1\n".to_vec();
            body.extend_from_slice(text);
            body.extend_from_slice(b"\nm v=2");
            let got = items(&body);
            assert_eq!(got.len(), 3);
            assert_eq!((got[0].0, got[1].0, got[2].0), (1, 2, 3));
            assert_eq!(got[1].1, Err(want.to_owned()));
            assert!(got[0].1.is_ok() && got[2].1.is_ok());
        }
        // Non-UTF-8 bytes in a comment are nobody's business.
        assert_eq!(items(b"# \xff\xfe\nm v=1").len(), 1);
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_skipped() {
        let body = b"# header\n\n   \n\t\r\n  # indented comment\r\nm v=1\r\n\r\n#m v=2\nm v=3";
        let got = items(body);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (6, Ok(line("m", &[], vec![("v", FieldValue::Float(1.0))], None)))
        );
        assert_eq!(
            got[1],
            (9, Ok(line("m", &[], vec![("v", FieldValue::Float(3.0))], None)))
        );
        assert!(items(b"").is_empty());
        assert!(items(b"\n\n# only\n   ").is_empty());
        assert_eq!(parse_line(b"   "), Err("blank line".to_owned()));
        assert_eq!(parse_line(b"# m v=1"), Err("comment line".to_owned()));
    }

    #[test]
    fn bad_lines_do_not_hide_good_ones() {
        let body = "cpu v=1 1\n\
                    cpu,host=a v=2 2\n\
                    cpu v=oops 3\n\
                    # a comment\n\
                    cpu,host=a,host=b v=4 4\n\
                    \n\
                    cpu,hostname=host_1,region=e usage_user=12.3.4\n\
                    cpu v=5 5\n\
                    cpu\n\
                    cpu v=6 6";
        let got = items(body.as_bytes());
        let numbers: Vec<usize> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 5, 7, 8, 9, 10]);
        let oks: Vec<Option<i64>> = got
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .map(|l| l.timestamp)
            .collect();
        assert_eq!(oks, [Some(1), Some(2), Some(5), Some(6)]);
        let errors: Vec<String> = lines(body.as_bytes())
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            [
                r#"line 3: invalid field value for "v" at column 7: "oops""#,
                r#"line 5: duplicate tag key "host" at column 12"#,
                r#"line 7: invalid field value for "usage_user" at column 41: "12.3.4""#,
                "line 9: missing fields",
            ]
        );
    }

    #[test]
    fn unterminated_string_resumes_on_the_next_line() {
        // Runs to the end of the body.
        let got = items(b"m v=1\nm s=\"never closed\nm v=2\nm v=3\n");
        let numbers: Vec<usize> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert_eq!(
            got[1].1,
            Err(r#"unterminated string value for field "s" at column 5"#.to_owned())
        );
        // Ends at the next line's opening quote, which is followed by text: the first quote was
        // never closed.
        let got = items(b"m s=\"never closed\nm s=\"fine\" 2\nm v=3\n");
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            (
                1,
                Err(r#"unterminated string value for field "s" at column 5"#.to_owned())
            )
        );
        assert!(matches!(&got[1], (2, Ok(l)) if l.timestamp == Some(2)));
        assert!(matches!(&got[2], (3, Ok(_))));
        // Same when the line fails further on.
        let got = items(b"m s=\"never closed\nm s=\" x\" 2\nm v=3\n");
        assert_eq!(
            got[0],
            (
                1,
                Err(r#"unterminated string value for field "s" at column 5"#.to_owned())
            )
        );
        assert!(matches!(&got[1], (2, Ok(l)) if l.fields[0].1 == FieldValue::String(" x".into())));
        assert!(matches!(&got[2], (3, Ok(_))));
        // Several in a row.
        let got = items(b"a s=\"1\nb s=\"2\nc s=\"3\nd v=1");
        let numbers: Vec<usize> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert!(got[..3].iter().all(|(_, r)| r.is_err()) && got[3].1.is_ok());
    }

    #[test]
    fn parse_line_takes_exactly_one_line() {
        assert!(parse_line(b"m v=1\n").is_ok());
        assert!(parse_line(b"m v=1\r\n").is_ok());
        assert!(parse_line(b"m s=\"a\nb\"").is_ok());
        assert_eq!(
            parse_line(b"m v=1\nm v=2"),
            Err("more than one line: unexpected text after the newline at column 7".to_owned())
        );
    }

    #[test]
    fn write_line_escapes_minimally() {
        let cases = [
            (
                line("cpu", &[("host", "a")], vec![("v", FieldValue::Float(1.5))], Some(7)),
                "cpu,host=a v=1.5 7",
            ),
            (
                line(
                    "my m,x=y",
                    &[("k ,=", "v ,=")],
                    vec![("f ,=", FieldValue::Integer(-2))],
                    None,
                ),
                r"my\ m\,x=y,k\ \,\==v\ \,\= f\ \,\==-2i",
            ),
            (
                line(r"C:\temp", &[], vec![("v", FieldValue::Unsigned(3))], None),
                r"C:\temp v=3u",
            ),
            (
                line(
                    r"ends\",
                    &[(r"a\,", r"\\")],
                    vec![("v", FieldValue::Boolean(false))],
                    None,
                ),
                r"ends\\,a\\\,=\\\\ v=false",
            ),
            (
                line(
                    "m",
                    &[],
                    vec![("s", FieldValue::String("say \"hi\" \\ bye\nnow".into()))],
                    None,
                ),
                "m s=\"say \\\"hi\\\" \\\\ bye\nnow\"",
            ),
            (
                line(
                    "m",
                    &[],
                    vec![("v", FieldValue::Float(1e300)), ("w", FieldValue::Float(-0.0))],
                    None,
                ),
                "m v=1e300,w=-0.0",
            ),
        ];
        for (line, want) in cases {
            let mut out = String::new();
            write_line(&line, &mut out);
            assert_eq!(out, want);
            assert_round_trip(&line);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Properties.

    fn name_char() -> impl Strategy<Value = char> {
        prop_oneof![
            8 => prop::char::range('a', 'z'),
            3 => prop::sample::select(vec![' ', ',', '=', '\\', '"', '#', '\t', '\r', '\'', '.', '-', '_', '0', 'é', 'µ', '🚀']),
            1 => any::<char>().prop_filter("names cannot hold a newline", |c| *c != '\n'),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(name_char(), 1..8).prop_map(|chars| chars.into_iter().collect())
    }

    fn measurement() -> impl Strategy<Value = String> {
        // A line starting with `#` is a comment, and leading tabs are skipped.
        name().prop_filter("not representable", |m| !m.starts_with(['#', '\t', '\r']))
    }

    fn string_value() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            4 => prop::char::range(' ', '~'),
            2 => prop::sample::select(vec!['"', '\\', '\n', '\r', ',', '=', ' ', '🚀']),
            1 => any::<char>(),
        ];
        prop::collection::vec(c, 0..12).prop_map(|chars| chars.into_iter().collect())
    }

    fn field_value() -> impl Strategy<Value = FieldValue<'static>> {
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(FieldValue::Float),
            (-1000i32..1000).prop_map(|v| FieldValue::Float(f64::from(v) / 100.0)),
            any::<i64>().prop_map(FieldValue::Integer),
            any::<u64>().prop_map(FieldValue::Unsigned),
            any::<bool>().prop_map(FieldValue::Boolean),
            string_value().prop_map(|s| FieldValue::String(Cow::Owned(s))),
        ]
    }

    fn any_line() -> impl Strategy<Value = Line<'static>> {
        (
            measurement(),
            prop::collection::vec((name(), name()), 0..5),
            prop::collection::vec((name(), field_value()), 1..5),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(measurement, tags, fields, timestamp)| {
                let mut seen = HashSet::new();
                Line {
                    measurement: Cow::Owned(measurement),
                    tags: tags
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                        .collect(),
                    fields: fields.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect(),
                    timestamp,
                }
            })
    }

    /// One piece of a generated body.
    #[derive(Debug, Clone)]
    enum Chunk {
        Good(Line<'static>),
        Bad(&'static [u8]),
        Blank(&'static str),
        Comment(String),
    }

    /// Bad lines that stay on their own line (an unterminated string may swallow good lines
    /// whose strings start with a newline, so it goes last; see the unit test above).
    const BAD: &[&[u8]] = &[
        b"cpu",
        b"cpu,host v=1",
        b"cpu,a=b,a=c v=1",
        b"cpu v=1.2.3",
        b"cpu v=1 abc",
        b"cpu v=1i 1 2",
        b"cpu v=\"x\"y",
        b"\xff v=1",
        b"cpu v=\"\xff\"",
        b",a=b v=1",
        b"cpu v=nan",
    ];

    fn chunk() -> impl Strategy<Value = Chunk> {
        prop_oneof![
            4 => any_line().prop_map(Chunk::Good),
            2 => prop::sample::select(BAD).prop_map(Chunk::Bad),
            1 => prop::sample::select(vec!["", "  ", "\t", " \t "]).prop_map(Chunk::Blank),
            1 => "[^\n]{0,10}".prop_map(|s| Chunk::Comment(format!("#{s}"))),
        ]
    }

    proptest! {
        #[test]
        fn prop_write_then_parse_round_trips(line in any_line()) {
            assert_round_trip(&line);
        }

        #[test]
        fn prop_float_parse_agrees_with_std(
            int in "[0-9]{0,25}",
            frac in prop::option::of("[0-9]{0,25}"),
            exp in prop::option::of(-350i32..350),
            negative in any::<bool>(),
        ) {
            let mut text = String::new();
            if negative { text.push('-'); }
            text.push_str(&int);
            if let Some(frac) = &frac { text.push('.'); text.push_str(frac); }
            if let Some(exp) = exp { text.push_str(&format!("e{exp}")); }
            let got = float(text.as_bytes());
            match text.parse::<f64>() {
                Ok(want) if want.is_finite() && (int.len() + frac.as_ref().map_or(0, String::len)) > 0 => {
                    prop_assert_eq!(got.map(f64::to_bits), Ok(want.to_bits()), "{}", text);
                }
                Ok(want) if want.is_infinite() => prop_assert_eq!(got, Err(Problem::FloatRange), "{}", text),
                _ => prop_assert_eq!(got, Err(Problem::Invalid), "{}", text),
            }
        }

        #[test]
        fn prop_bodies_keep_line_numbers(
            chunks in prop::collection::vec(chunk(), 0..12),
            crlf in any::<bool>(),
            unterminated_last in any::<bool>(),
        ) {
            let ending: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut body = Vec::new();
            let mut want = Vec::new();
            for chunk in &chunks {
                let line_no = count_newlines(&body) + 1;
                match chunk {
                    Chunk::Good(line) => {
                        let mut text = String::new();
                        write_line(line, &mut text);
                        body.extend_from_slice(text.as_bytes());
                        want.push((line_no, Some(line.clone())));
                    }
                    Chunk::Bad(text) => {
                        body.extend_from_slice(text);
                        want.push((line_no, None));
                    }
                    Chunk::Blank(text) => body.extend_from_slice(text.as_bytes()),
                    Chunk::Comment(text) => body.extend_from_slice(text.as_bytes()),
                }
                body.extend_from_slice(ending);
            }
            if unterminated_last {
                want.push((count_newlines(&body) + 1, None));
                body.extend_from_slice(b"m s=\"never closed");
                body.extend_from_slice(ending);
            }
            let got: Vec<(usize, Option<Line<'_>>)> =
                items(&body).into_iter().map(|(n, r)| (n, r.ok())).collect();
            prop_assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&body));
        }

        #[test]
        fn prop_any_bytes_parse_without_panic_and_round_trip(
            body in prop::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(b"m,=\\\" \n\r\t#.-01e9iutTfF".to_vec()),
                    1 => any::<u8>(),
                ],
                0..120,
            )
        ) {
            let physical_lines = count_newlines(&body) + 1;
            let mut last = 0;
            let mut it = lines(&body);
            while let Some(item) = it.next() {
                let n = it.line_number();
                prop_assert!(n > last && n <= physical_lines, "line {} after {} of {}", n, last, physical_lines);
                last = n;
                match item {
                    Ok(line) => assert_round_trip(&line),
                    Err(e) => prop_assert_eq!(e.line, n),
                }
            }
            prop_assert!(it.next().is_none());
        }
    }
}
