//! Query parsing: [`parse`] and [`parse_selector`] put promql-parser behind two guards and give
//! its errors a position.
//!
//! One scanner, [`Tokens`], reads the query text for all three jobs that promql-parser does not
//! do for us:
//! - the shape check ([`check_shape`]) refuses queries that would overflow the stack (too deep,
//!   too many operators) or make the parser panic (durations too long), before parsing;
//! - the error locator ([`locate`]) finds the first token after which no simple completion of
//!   the query parses, because the parser reports some syntax errors without a position;
//! - the locator's completions are closed with the brackets and quote left open ([`closers`]).

use promql_parser::label::{MatchOp as ParserMatchOp, Matcher as ParserMatcher};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr, Function, VectorSelector};

use crate::error::Error;
use crate::labels::METRIC_NAME;
use crate::storage::{LabelMatcher, MatchOp};

/// Deepest nesting of parentheses, brackets and braces (function calls included) a query may have.
pub const MAX_QUERY_NESTING: usize = 256;
/// Most operators (binary and unary) a query may hold.
pub const MAX_QUERY_OPERATORS: usize = 1024;
/// Longest duration a query may write (about 317,000 years): the parser panics on durations that do
/// not fit `std::time::Duration`.
const MAX_DURATION_SECS: f64 = 1e13;
/// Queries with more tokens than this get no position for errors the parser gives none for: each
/// token costs the locator up to one parse per completion.
const MAX_LOCATED_TOKENS: usize = 300;
/// Most bytes of query prefixes the locator tries before it gives up (each is parsed once per
/// completion): a long query with a late error costs tens of milliseconds, not a second.
const MAX_LOCATED_BYTES: usize = 1 << 20;

/// Parses a query, turning the parser's message into one that says where the problem is.
///
/// The parser and the evaluator recurse over the query's syntax tree, so a query nested
/// thousands of levels deep (`abs(abs(...))`, `1+1+...`) would overflow the thread's stack and
/// abort the process; such a query is refused before parsing, past [`MAX_QUERY_NESTING`] levels
/// or [`MAX_QUERY_OPERATORS`] operators (no dashboard comes near either).
pub fn parse(query: &str) -> Result<Expr, Error> {
    check_shape(query)?;
    match parse_caught(query) {
        Ok(e) => Ok(e),
        Err(msg) => Err(describe_parse_error(query, msg)),
    }
}

/// What promql-parser says of a selector whose matchers all match the empty string.
const ALL_MATCHERS_EMPTY: &str = "vector selector must contain at least one non-empty matcher";
/// The label of the matcher [`parse_selector`] adds to get such a selector past the parser.
const ANCHOR_LABEL: &str = "__foresight_selector_anchor__";

/// Parses a series selector such as `up`, `cpu{host="a", dc=~"eu-.*"}` or `{__name__=~"cpu_.+"}`
/// into storage matchers (the metric name first, then the matchers as written).
///
/// The syntax is PromQL's, read by the same parser as queries: strings in double, single or
/// back quotes with Go's escapes (`\x41`, `\u00e9`, `\"`), regular expressions fully anchored.
/// As Prometheus' `match[]` parameters, the selector may not have a range, `offset`, `@` or
/// `or`, and it may consist of matchers that all match the empty string (`{env=~".*"}`): callers
/// that must refuse those check for them. A selector with no matcher at all (`{}`) is refused.
pub fn parse_selector(text: &str) -> Result<Vec<LabelMatcher>, Error> {
    let (expr, anchored) = match parse(text) {
        Err(e) if matches!(&e, Error::Parse { message, .. } if message == ALL_MATCHERS_EMPTY) => {
            (parse_anchored(text).ok_or(e)?, true)
        }
        other => (other?, false),
    };
    let not_a_selector = |why: &str| Err(Error::BadQuery(format!("not a series selector: {why}")));
    let Expr::VectorSelector(vs) = expr else {
        return not_a_selector("it is a more general query");
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return not_a_selector("it has an offset or @ modifier");
    }
    let mut groups = selector_matchers(&vs)?;
    let (Some(mut matchers), true) = (groups.pop(), groups.is_empty()) else {
        return not_a_selector("it has `or` between matchers");
    };
    if anchored && !matchers.is_empty() {
        matchers.remove(0);
    }
    if matchers.is_empty() {
        return not_a_selector("it needs a metric name or a label matcher");
    }
    Ok(matchers)
}

/// Parses `{matchers}` whose matchers all match the empty string, which promql-parser refuses
/// (as Prometheus does in queries, not in `match[]`), with a non-empty matcher added in front,
/// so that its selector's first matcher is that one. `None` where that does not parse either.
fn parse_anchored(text: &str) -> Option<Expr> {
    let (before, after) = text.split_once('{')?;
    if !before.trim().is_empty() {
        return None;
    }
    parse(&format!("{before}{{{ANCHOR_LABEL}=\"1\",{after}")).ok()
}

/// The storage matchers of a selector: one list per `or` alternative, the metric name first.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Vec<LabelMatcher>>, Error> {
    let convert = |m: &ParserMatcher| -> Result<LabelMatcher, Error> {
        let op = match m.op {
            ParserMatchOp::Equal => MatchOp::Equal,
            ParserMatchOp::NotEqual => MatchOp::NotEqual,
            ParserMatchOp::Re(_) => MatchOp::RegexMatch,
            ParserMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        LabelMatcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| Error::BadQuery(e.to_string()))
    };
    let name = vs.name.as_ref().map(|n| LabelMatcher::equal(METRIC_NAME, n.clone()));
    let mut groups = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        let mut g: Vec<LabelMatcher> = name.into_iter().collect();
        for m in &vs.matchers.matchers {
            g.push(convert(m)?);
        }
        groups.push(g);
    } else {
        for alt in &vs.matchers.or_matchers {
            let mut g: Vec<LabelMatcher> = name.iter().cloned().collect();
            for m in vs.matchers.matchers.iter().chain(alt.iter()) {
                g.push(convert(m)?);
            }
            groups.push(g);
        }
    }
    Ok(groups)
}

/// The parser, with its panics turned into errors: promql-parser panics on a few inputs (a
/// duration too long for `std::time::Duration`, `x[99999999999999999999m]`, found by fuzzing),
/// and a request must get an error, not a failed task.
fn parse_caught(query: &str) -> Result<Expr, String> {
    register_missing_functions();
    std::panic::catch_unwind(|| parser::parse(query))
        .unwrap_or_else(|_| Err("a number or duration is out of range".to_string()))
}

/// PromQL functions the pinned promql-parser does not know: Prometheus 2.x's `holt_winters`
/// (3.x renamed it `double_exponential_smoothing`, which the parser knows). Each is declared to
/// the parser through its registry of extra functions, with Prometheus' signature, so its
/// arguments are type-checked like any built-in's; the evaluator implements it.
fn missing_functions() -> Vec<Function> {
    use ValueType::{Matrix, Scalar, Vector};
    vec![Function::new(
        "holt_winters",
        vec![Matrix, Scalar, Scalar],
        0,
        Vector,
        false,
    )]
}

/// Declares [`missing_functions`] to the parser, once per process (the registry is global).
fn register_missing_functions() {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        for f in missing_functions() {
            // An error means a newer parser knows the function itself: nothing to add.
            let _ = parser::register_extra_functions(vec![f]);
        }
    });
}

fn describe_parse_error(query: &str, msg: String) -> Error {
    if let Some(name) = msg
        .strip_prefix("unknown function with name '")
        .and_then(|r| r.strip_suffix('\''))
    {
        return Error::UnknownFunction(name.to_string());
    }
    let (offset, token) = locate(query);
    let (line, column) = line_col(query, offset);
    let message = if msg == "invalid promql query" {
        match token {
            Some(t) => format!("unexpected {t:?}"),
            None => "unexpected end of input".to_string(),
        }
    } else {
        msg
    };
    Error::Parse { message, line, column }
}

fn line_col(s: &str, byte_offset: usize) -> (usize, usize) {
    let before = s.get(..byte_offset).unwrap_or(s);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A `#` comment, up to the end of the line.
    Comment,
    /// A string in any of the three quotes; `closed` is false when the query ends inside it.
    Str { closed: bool },
    /// `(`, `[` or `{`.
    Open(u8),
    /// `)`, `]` or `}`.
    Close(u8),
    /// A metric, label or function name or a keyword: `[A-Za-z_][A-Za-z0-9_:]*`.
    Name,
    /// A number or a duration part: digits and dots, an exponent (its sign, if any, at
    /// `sign_at`), then a unit of letters from `unit_at` (`5m`; the parts of `1h30m` come one at
    /// a time, so do not fold them into one).
    Number { unit_at: usize, sign_at: Option<usize> },
    /// Anything else: an operator (`==`, `!=`, `<=`, `>=`, `=~`, `!~` taken whole), `,`, `:`,
    /// `@`, or one character.
    Punct,
}

/// A token of the query: its kind and byte range (`end` never past the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// The tokens of a query, white space left out. Unlike promql-parser's lexer it never fails,
/// so it can read a prefix or a broken query; strings skip a backslash's next byte, except in
/// back quotes.
struct Tokens<'a> {
    text: &'a str,
    at: usize,
}

fn tokens(text: &str) -> Tokens<'_> {
    Tokens { text, at: 0 }
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let b = self.text.as_bytes();
        let is_name_byte = |d: &u8| d.is_ascii_alphanumeric() || *d == b'_' || *d == b':';
        let mut i = self.at;
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let start = i;
        let c = *b.get(i)?;
        i += 1;
        let kind = match c {
            b'#' => {
                while b.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
                Kind::Comment
            }
            b'"' | b'\'' | b'`' => {
                let mut closed = false;
                while let Some(&d) = b.get(i) {
                    i += 1;
                    if d == c {
                        closed = true;
                        break;
                    }
                    if d == b'\\' && c != b'`' {
                        i += 1;
                    }
                }
                Kind::Str { closed }
            }
            b'(' | b'[' | b'{' => Kind::Open(c),
            b')' | b']' | b'}' => Kind::Close(c),
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                while b.get(i).is_some_and(is_name_byte) {
                    i += 1;
                }
                Kind::Name
            }
            _ if c.is_ascii_digit() || c == b'.' => {
                while b.get(i).is_some_and(|d| d.is_ascii_digit() || *d == b'.') {
                    i += 1;
                }
                // An exponent belongs to the number (`1e20`, `1e+20`).
                let mut sign_at = None;
                if matches!(b.get(i), Some(b'e' | b'E')) {
                    let sign = matches!(b.get(i + 1), Some(b'+' | b'-'));
                    let digits_at = i + 1 + usize::from(sign);
                    if b.get(digits_at).is_some_and(u8::is_ascii_digit) {
                        sign_at = sign.then_some(i + 1);
                        i = digits_at;
                        while b.get(i).is_some_and(u8::is_ascii_digit) {
                            i += 1;
                        }
                    }
                }
                let unit_at = i;
                while b.get(i).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                }
                Kind::Number { unit_at, sign_at }
            }
            b'=' | b'!' | b'<' | b'>' => {
                let second = b.get(i).copied();
                if second == Some(b'=') || (matches!(c, b'=' | b'!') && second == Some(b'~')) {
                    i += 1;
                }
                Kind::Punct
            }
            _ => {
                // Keep whole UTF-8 characters together.
                while !self.text.is_char_boundary(i) {
                    i += 1;
                }
                Kind::Punct
            }
        };
        self.at = i;
        Some(Token {
            kind,
            start,
            end: i.min(b.len()),
        })
    }
}

/// Refuses queries nested deeper than [`MAX_QUERY_NESTING`] or with more than
/// [`MAX_QUERY_OPERATORS`] operators, and durations past [`MAX_DURATION_SECS`], from the
/// query's [`Tokens`] (strings and comments skipped; matchers inside braces are not operators).
/// Over-counting is harmless: an exponent's sign or a metric named `and` counts as an operator.
fn check_shape(query: &str) -> Result<(), Error> {
    let refuse = |offset: usize, message: String| {
        let (line, column) = line_col(query, offset);
        Err(Error::Parse { message, line, column })
    };
    let (mut braces, mut ops) = (0usize, 0usize);
    // Open delimiters, innermost last: a plain number right inside `[` is a duration in seconds.
    let mut open: Vec<u8> = Vec::new();
    // The previous token was `offset` or `@`, which a plain number (seconds) follows.
    let mut after_time_word = false;
    for t in tokens(query) {
        let text = query.get(t.start..t.end).unwrap_or("");
        let seconds_follow = std::mem::take(&mut after_time_word);
        match t.kind {
            Kind::Comment | Kind::Str { .. } => continue,
            Kind::Open(c) => {
                open.push(c);
                braces += usize::from(c == b'{');
                if open.len() > MAX_QUERY_NESTING {
                    return refuse(
                        t.start,
                        format!(
                            "query nested more than {MAX_QUERY_NESTING} levels deep (parentheses, brackets and function calls)"
                        ),
                    );
                }
                continue;
            }
            Kind::Close(c) => {
                open.pop();
                if c == b'}' {
                    braces = braces.saturating_sub(1);
                }
                continue;
            }
            Kind::Number { unit_at, .. } => {
                let digits = query.get(t.start..unit_at).unwrap_or("");
                let secs_per_unit = match query.get(unit_at..t.end).unwrap_or("") {
                    "ms" => 0.001,
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3_600.0,
                    "d" => 86_400.0,
                    "w" => 604_800.0,
                    "y" => 31_536_000.0,
                    "" if seconds_follow || open.last() == Some(&b'[') => 1.0,
                    _ => continue,
                };
                if digits
                    .parse::<f64>()
                    .map_or(true, |v| v * secs_per_unit > MAX_DURATION_SECS)
                {
                    return refuse(
                        t.start,
                        format!("duration {text} is out of range (at most 10^13 seconds)"),
                    );
                }
                continue;
            }
            Kind::Name => after_time_word = text.eq_ignore_ascii_case("offset"),
            Kind::Punct => {}
        }
        if braces > 0 {
            continue;
        }
        let is_op = match (t.kind, text.as_bytes().first()) {
            (Kind::Name, _) => ["and", "or", "unless", "atan2"]
                .iter()
                .any(|k| text.eq_ignore_ascii_case(k)),
            (_, Some(b'@')) => {
                after_time_word = true;
                false
            }
            (_, Some(b'+' | b'-')) => {
                // `offset -5m`, `@ -1e9`: the sign does not end what comes after offset or @.
                after_time_word = seconds_follow;
                true
            }
            (_, Some(b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>')) => true,
            _ => false,
        };
        if is_op {
            ops += 1;
            if ops > MAX_QUERY_OPERATORS {
                return refuse(t.start, format!("query has more than {MAX_QUERY_OPERATORS} operators"));
            }
        }
    }
    Ok(())
}

/// Closing brackets and quote for those left open in `s`, or `None` when a bracket closes one
/// of another kind (nothing can complete `s` then).
fn closers(s: &str) -> Option<String> {
    let mut stack = Vec::new();
    let mut quote = None;
    for t in tokens(s) {
        match t.kind {
            Kind::Open(b'(') => stack.push(')'),
            Kind::Open(b'[') => stack.push(']'),
            Kind::Open(_) => stack.push('}'),
            Kind::Close(c) if stack.pop() != Some(char::from(c)) => return None,
            Kind::Str { closed: false } => quote = s.get(t.start..=t.start),
            _ => {}
        }
    }
    let mut out = String::from(quote.unwrap_or(""));
    out.extend(stack.iter().rev());
    Some(out)
}

/// The pieces [`locate`] tries prefixes at: the [`Tokens`], except that touching names, numbers
/// and `:` form one piece, split at an exponent's sign (`x[5m:1m]` is `x`, `[`, `5m:1m`, `]`).
fn located_pieces(query: &str) -> Vec<(usize, usize)> {
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    // Whether the last piece may grow: it is a run of name, number and `:` characters.
    let mut last_is_word = false;
    let mut push = |pieces: &mut Vec<(usize, usize)>, (start, end): (usize, usize), word: bool| {
        match pieces.last_mut() {
            Some(last) if word && last_is_word && last.1 == start => last.1 = end,
            _ => pieces.push((start, end)),
        }
        last_is_word = word;
    };
    for t in tokens(query) {
        match t.kind {
            Kind::Comment => {}
            Kind::Name => push(&mut pieces, (t.start, t.end), true),
            Kind::Number { sign_at: Some(s), .. } => {
                push(&mut pieces, (t.start, s), true);
                push(&mut pieces, (s, s + 1), false);
                push(&mut pieces, (s + 1, t.end), true);
            }
            Kind::Number { sign_at: None, .. } => push(&mut pieces, (t.start, t.end), true),
            Kind::Punct => {
                let colon = query.get(t.start..t.end) == Some(":");
                push(&mut pieces, (t.start, t.end), colon);
            }
            Kind::Str { .. } | Kind::Open(_) | Kind::Close(_) => push(&mut pieces, (t.start, t.end), false),
        }
    }
    pieces
}

/// What the locator appends to a prefix (then closes what is open) to see if it can still parse.
const COMPLETIONS: &[&str] = &[
    "", " x", " 1", " x[1m]", "[1m]", "\"a\"", "=\"a\"", " 5m", "m", ":1m", "1m", " (a) x", "(x)", " x)", " bool x",
];

fn completable(prefix: &str) -> bool {
    COMPLETIONS.iter().any(|c| {
        let mut q = format!("{prefix}{c}");
        let Some(close) = closers(&q) else {
            return false;
        };
        q.push_str(&close);
        // The completion may itself make an out-of-range duration (`[99999999999` + `m`).
        check_shape(&q).is_ok() && parse_caught(&q).is_ok()
    })
}

/// Byte offset of the first offending piece of the query and its text, or the end of input
/// (`None`), also where finding it would cost more than [`MAX_LOCATED_TOKENS`] pieces or
/// [`MAX_LOCATED_BYTES`] of prefixes.
fn locate(query: &str) -> (usize, Option<String>) {
    let pieces = located_pieces(query);
    if pieces.len() > MAX_LOCATED_TOKENS {
        return (query.len(), None);
    }
    let mut tried = 0;
    for &(start, end) in &pieces {
        tried += end;
        if tried > MAX_LOCATED_BYTES {
            break;
        }
        let prefix = query.get(..end).unwrap_or(query);
        if !completable(prefix) {
            let text = query.get(start..end).unwrap_or("").to_string();
            return (start, Some(text));
        }
    }
    (query.len(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(query: &str) -> String {
        match parse(query) {
            Ok(e) => panic!("{query:?} parsed as {e}"),
            Err(e) => e.to_string(),
        }
    }

    fn kinds(query: &str) -> Vec<(Kind, &str)> {
        tokens(query).map(|t| (t.kind, &query[t.start..t.end])).collect()
    }

    #[test]
    fn tokens_take_strings_numbers_and_operators_whole() {
        let number = |unit_at, sign_at| Kind::Number { unit_at, sign_at };
        assert_eq!(
            kinds("a:b{c=~\"d\\\"}\"} # (x\n!= 1e+3ms 1h30m `\\`"),
            vec![
                (Kind::Name, "a:b"),
                (Kind::Open(b'{'), "{"),
                (Kind::Name, "c"),
                (Kind::Punct, "=~"),
                (Kind::Str { closed: true }, "\"d\\\"}\""),
                (Kind::Close(b'}'), "}"),
                (Kind::Comment, "# (x"),
                (Kind::Punct, "!="),
                (number(27, Some(25)), "1e+3ms"),
                (number(31, None), "1h"),
                (number(34, None), "30m"),
                (Kind::Str { closed: true }, "`\\`"),
            ]
        );
        // A query may end inside a string, even right after a backslash.
        assert_eq!(kinds("'a\\"), vec![(Kind::Str { closed: false }, "'a\\")]);
        assert_eq!(kinds("é+"), vec![(Kind::Punct, "é"), (Kind::Punct, "+")]);
        assert_eq!(kinds(" \n\t"), vec![]);
    }

    #[test]
    fn located_pieces_are_runs_of_name_characters() {
        let pieces =
            |q: &'static str| -> Vec<&'static str> { located_pieces(q).into_iter().map(|(s, e)| &q[s..e]).collect() };
        assert_eq!(pieces("x[5m:1m] # c"), ["x", "[", "5m:1m", "]"]);
        assert_eq!(pieces("a.1e+5x>=b"), ["a.1e", "+", "5x", ">=", "b"]);
        assert_eq!(pieces("f(\"s\",1h30m)"), ["f", "(", "\"s\"", ",", "1h30m", ")"]);
    }

    #[test]
    fn closers_close_what_is_open() {
        assert_eq!(closers("sum(rate(x{a=\"(").as_deref(), Some("\"}))"));
        assert_eq!(closers("x[5m] # ([").as_deref(), Some(""));
        assert_eq!(closers("f(x]"), None);
        assert_eq!(closers("`a\\").as_deref(), Some("`"));
    }

    #[test]
    fn nesting_limit_is_exact_and_points_at_the_bracket() {
        let nested = |n: usize| "(".repeat(n) + "1" + &")".repeat(n);
        assert!(check_shape(&nested(MAX_QUERY_NESTING)).is_ok());
        assert!(matches!(
            check_shape(&nested(MAX_QUERY_NESTING + 1)),
            Err(Error::Parse { line: 1, column: 257, ref message }) if message.contains("256 levels")
        ));
        // Braces and brackets count; parentheses in strings and comments do not.
        assert!(check_shape(&format!("x{{a=\"{}\"}} # {}", "(".repeat(300), "[".repeat(300))).is_ok());
        assert!(check_shape(&("{".repeat(200) + &"[".repeat(57))).is_err());
    }

    #[test]
    fn operator_limit_is_exact_and_skips_matchers() {
        let sum = |n: usize| vec!["1"; n + 1].join("+");
        assert!(check_shape(&sum(MAX_QUERY_OPERATORS)).is_ok());
        assert!(matches!(
            check_shape(&sum(MAX_QUERY_OPERATORS + 1)),
            Err(Error::Parse { line: 1, column: 2050, ref message }) if message.contains("1024 operators")
        ));
        assert!(check_shape(&format!("x{{{}}}", vec!["a!=\"1\""; 2000].join(","))).is_ok());
        // Keyword operators count whatever their case; `1e+5` is one number.
        assert!(check_shape(&vec!["x"; 1026].join(" OR ")).is_err());
        assert!(check_shape(&vec!["1e+5"; 1025].join("*")).is_ok());
    }

    #[test]
    fn durations_past_the_limit_are_refused_before_parsing() {
        assert!(check_shape("x[10000000000000s]").is_ok());
        assert!(matches!(
            check_shape("x[10000000000001s]"),
            Err(Error::Parse { column: 3, ref message, .. }) if message == "duration 10000000000001s is out of range (at most 10^13 seconds)"
        ));
        // A plain number is seconds right inside `[` and after offset or @ (signed or not).
        assert!(check_shape("x[99999999999999]").is_err());
        assert!(check_shape("x offset -99999999999999").is_err());
        assert!(check_shape("x @ 1e20").is_err());
        assert!(check_shape("x + 99999999999999").is_ok());
        // Each part of `1h30m` on its own; a malformed number with a unit is refused.
        assert!(check_shape("x[1h99999999999999y]").is_err());
        assert!(check_shape("x[1.2.3m]").is_err());
    }

    #[test]
    fn parse_errors_name_the_token_and_its_place() {
        assert_eq!(err("foo + )"), "1:7: parse error: unexpected right parenthesis ')'");
        assert_eq!(err("sum(rate(x[5m])"), "1:16: parse error: unclosed left parenthesis");
        assert_eq!(err("a b"), "1:3: parse error: unexpected \"b\"");
        assert_eq!(
            err("x +\n  ) + 1"),
            "2:3: parse error: unexpected right parenthesis ')'"
        );
        // Brackets and quotes in comments are not open (the locator once stopped at `+` here).
        assert_eq!(err("x # (\"\n +"), "2:3: parse error: unexpected end of input");
        assert_eq!(err("rte(x[5m])"), "unknown function with name \"rte\"");
        assert!(err("x[99999999999999999999m]").starts_with("1:3: parse error: duration 99999999999999999999m"));
        assert_eq!(locate("foo + )").0, 6);
        assert_eq!(locate("foo +").0, 5);
        // Past the locator's budget, errors the parser gives no position for are at the end.
        let long = vec!["x"; MAX_LOCATED_TOKENS].join("+") + " )";
        assert_eq!(locate(&long), (long.len(), None));
        let big = format!("x{{l=\"{}\"}}", "a".repeat(60_000));
        let late = format!("{big}{} )", " + x".repeat(20));
        assert_eq!(locate(&late), (late.len(), None));
        assert_eq!(locate(&format!(") + {big}")), (0, Some(")".to_string())));
    }

    #[test]
    fn holt_winters_is_known_with_its_signature() {
        for name in ["holt_winters", "double_exponential_smoothing"] {
            assert!(parse(&format!("{name}(x[5m], 0.5, 0.1)")).is_ok(), "{name}");
            let wrong_type = err(&format!("{name}(x, 0.5, 0.1)"));
            assert!(wrong_type.contains("expected type matrix"), "{name}: {wrong_type}");
            let too_few = err(&format!("{name}(x[5m], 0.5)"));
            assert!(too_few.contains("expected 3 argument(s)"), "{name}: {too_few}");
        }
    }

    #[test]
    fn selectors_take_prometheus_match_syntax() {
        let show = |s: &str| -> Vec<String> {
            parse_selector(s)
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(show("up"), ["__name__=\"up\""]);
        assert_eq!(show("{__name__=\"up\"}"), ["__name__=\"up\""]);
        assert_eq!(
            show("x{a=~\"b.*\", c!~'d'}"),
            ["__name__=\"x\"", "a=~\"b.*\"", "c!~\"d\""]
        );
        // Matchers that all match "" are the caller's to refuse, as in Prometheus' match[].
        assert_eq!(show(" {host=~\".*\"}"), ["host=~\".*\""]);
        assert_eq!(show("{__name__=~\".*\", a=\"\"}"), ["__name__=~\".*\"", "a=\"\""]);
        for bad in [
            "{}",
            "x[5m]",
            "x offset 1m",
            "rate(x[5m])",
            "x{a=\"1\" or b=\"2\"}",
            "x{a=~\"(\"}",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
        assert!(
            parse_selector("{host=~\".*\"")
                .unwrap_err()
                .to_string()
                .contains("parse error")
        );
        // The parser still words the refusal this way (or selectors above would fail).
        assert!(matches!(parse("{a=\"\"}"), Err(Error::Parse { ref message, .. }) if message == ALL_MATCHERS_EMPTY));
    }

    /// Query-like text: PromQL's punctuation, names, numbers, quotes, comments, non-ASCII.
    const QUERYISH: &str = r#"([a-z0-9_:.{}()\[\]"'`\\#=!~<>+*/%^@,\- \n]|é|😀){0,40}"#;

    proptest::proptest! {
        #[test]
        fn tokens_cover_the_text_in_order(q in QUERYISH) {
            let mut at = 0;
            for t in tokens(&q) {
                proptest::prop_assert!(at <= t.start && t.start < t.end && t.end <= q.len(), "{t:?}");
                proptest::prop_assert!(q.is_char_boundary(t.start) && q.is_char_boundary(t.end), "{t:?}");
                proptest::prop_assert!(q[at..t.start].trim().is_empty(), "{t:?} skips text");
                at = t.end;
            }
            proptest::prop_assert!(q[at..].trim().is_empty());
        }

        #[test]
        fn errors_point_into_the_query(q in QUERYISH) {
            if let Err(Error::Parse { line, column, .. }) = parse(&q) {
                let text = q.split('\n').nth(line - 1);
                proptest::prop_assert!(text.is_some_and(|l| column <= l.chars().count() + 1), "{line}:{column}");
            }
        }
    }
}
