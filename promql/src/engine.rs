//! The query entry points: [`Engine::instant_query`] and [`Engine::range_query`].

use std::time::Duration;

use promql_parser::parser::{self, Expr};

use crate::error::Error;
use crate::eval::{Evaluator, Grid, Val, unparen};
use crate::labels::Labels;
use crate::storage::{Series, Storage};
use crate::value::{QueryResult, Sample, Value};

/// Largest number of steps a range query may have (as Prometheus' HTTP API).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (default 5 minutes).
    pub lookback_delta: Duration,
    /// Most samples a query may hold: samples read from storage plus points of intermediate
    /// results, counted over the whole query (default 50 million).
    pub max_samples: u64,
    /// Longest a query may run; `None` for no limit (default 2 minutes).
    pub timeout: Option<Duration>,
    /// Step of subqueries written without one, like `x[1h:]` (default 1 minute, Prometheus'
    /// default evaluation interval).
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

impl EngineOptions {
    pub(crate) fn lookback_delta_ms(&self) -> i64 {
        i64::try_from(self.lookback_delta.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

/// Evaluates PromQL over a [`Storage`]. Cheap to create and to share between threads.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

/// Deepest nesting of parentheses, brackets and braces (function calls included) a query may have.
pub const MAX_QUERY_NESTING: usize = 256;
/// Most operators (binary and unary) a query may hold.
pub const MAX_QUERY_OPERATORS: usize = 1024;
/// Longest duration a query may write (about 317,000 years): the parser panics on durations that do
/// not fit `std::time::Duration`.
const MAX_DURATION_SECS: f64 = 1e13;

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

/// The parser, with its panics turned into errors: promql-parser panics on a few inputs (a
/// duration too long for `std::time::Duration`, `x[99999999999999999999m]`, found by fuzzing),
/// and a request must get an error, not a failed task.
pub(crate) fn parse_caught(query: &str) -> Result<Expr, String> {
    std::panic::catch_unwind(|| parser::parse(query))
        .unwrap_or_else(|_| Err("a number or duration is out of range".to_string()))
}

fn describe_parse_error(query: &str, msg: String) -> Error {
    if let Some(name) = msg
        .strip_prefix("unknown function with name '")
        .and_then(|r| r.strip_suffix('\''))
    {
        return Error::UnknownFunction(name.to_string());
    }
    let (offset, token) = crate::parse_pos::locate(query);
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

/// Refuses queries nested deeper than [`MAX_QUERY_NESTING`] or with more than
/// [`MAX_QUERY_OPERATORS`] operators, from a scan of the text (strings and comments skipped;
/// matchers inside braces are not operators). Over-counting is harmless: an exponent's sign or a
/// metric named `and` counts as an operator.
pub(crate) fn check_shape(query: &str) -> Result<(), Error> {
    let too_deep = |offset: usize, what: String| {
        let (line, column) = line_col(query, offset);
        Err(Error::Parse {
            message: what,
            line,
            column,
        })
    };
    let bytes = query.as_bytes();
    let (mut braces, mut ops) = (0usize, 0usize);
    // Open delimiters, innermost last: a plain number right inside `[` is a duration in seconds.
    let mut open: Vec<u8> = Vec::new();
    // The previous token was `offset` or `@`, which a plain number (seconds) follows.
    let mut after_time_word = false;
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let start = i;
        i += 1;
        if c.is_ascii_whitespace() {
            continue;
        }
        let seconds_follow = std::mem::take(&mut after_time_word);
        match c {
            b'"' | b'\'' | b'`' => {
                // Skip the string; a backslash escapes the next byte except in raw strings.
                while let Some(&d) = bytes.get(i) {
                    i += 1;
                    if d == c {
                        break;
                    }
                    if d == b'\\' && c != b'`' {
                        i += 1;
                    }
                }
                continue;
            }
            b'#' => {
                while bytes.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                open.push(c);
                braces += usize::from(c == b'{');
                if open.len() > MAX_QUERY_NESTING {
                    return too_deep(
                        start,
                        format!(
                            "query nested more than {MAX_QUERY_NESTING} levels deep (parentheses, brackets and function calls)"
                        ),
                    );
                }
                continue;
            }
            b')' | b']' | b'}' => {
                open.pop();
                if c == b'}' {
                    braces = braces.saturating_sub(1);
                }
                continue;
            }
            _ => {}
        }
        // A name (metric, label, function, keyword), taken whole so its digits are not a number.
        let mut word_at = None;
        if c.is_ascii_alphabetic() || c == b'_' {
            while bytes
                .get(i)
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == b'_' || *d == b':')
            {
                i += 1;
            }
            word_at = Some(start);
            after_time_word = query.get(start..i).is_some_and(|w| w.eq_ignore_ascii_case("offset"));
        } else if c.is_ascii_digit() || c == b'.' {
            // A number, or a duration like `5m` (the parts of `1h30m` come one at a time).
            while bytes.get(i).is_some_and(|d| d.is_ascii_digit() || *d == b'.') {
                i += 1;
            }
            // An exponent belongs to the number (`1e20`).
            if matches!(bytes.get(i), Some(b'e' | b'E')) {
                let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
                if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
                    i += 1 + sign;
                    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
            }
            let digits = query.get(start..i).unwrap_or("");
            let unit_at = i;
            while bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
                i += 1;
            }
            let secs_per_unit = match query.get(unit_at..i).unwrap_or("") {
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
                let text = query.get(start..i).unwrap_or("");
                return too_deep(
                    start,
                    format!("duration {text} is out of range (at most 10^13 seconds)"),
                );
            }
            continue;
        }
        if braces > 0 {
            continue;
        }
        if c == b'@' {
            after_time_word = true;
            continue;
        }
        let is_op = match c {
            b'+' | b'-' => {
                // `offset -5m`, `@ -1e9`: the sign does not end what comes after offset or @.
                after_time_word = seconds_follow;
                true
            }
            b'*' | b'/' | b'%' | b'^' => true,
            b'=' | b'!' | b'<' | b'>' => {
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                }
                true
            }
            _ if word_at.is_some() => {
                let word = word_at.and_then(|w| query.get(w..i)).unwrap_or("");
                ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
            }
            _ => false,
        };
        if is_op {
            ops += 1;
            if ops > MAX_QUERY_OPERATORS {
                return too_deep(start, format!("query has more than {MAX_QUERY_OPERATORS} operators"));
            }
        }
    }
    Ok(())
}

fn line_col(s: &str, byte_offset: usize) -> (usize, usize) {
    let before = s.get(..byte_offset).unwrap_or(s);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at time `t` (milliseconds since the epoch).
    pub fn instant_query(&self, storage: &dyn Storage, query: &str, t: i64) -> Result<QueryResult, Error> {
        let expr = parse(query)?;
        let ev = Evaluator::new(storage, &self.opts, t, t);
        let grid = Grid {
            start: t,
            end: t,
            step: 1,
        };
        let val = ev.eval(&expr, &grid)?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                t,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::Str(s) => Value::String { t, v: s },
            Val::Matrix(mut m) => {
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(m)
            }
            Val::Vector(v) => {
                let mut out: Vec<Sample> = v
                    .into_iter()
                    .filter_map(|s| {
                        let x = s.vals.first().copied().flatten()?;
                        Some(Sample {
                            labels: s.labels,
                            t,
                            v: x,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                order_instant_vector(&expr, &mut out);
                Value::Vector(out)
            }
        };
        Ok(QueryResult {
            value,
            stats: ev.stats(),
        })
    }

    /// Evaluates `query` at `start, start + step, ..., end` (milliseconds), giving a matrix.
    pub fn range_query(
        &self,
        storage: &dyn Storage,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, Error> {
        if step <= 0 {
            return Err(Error::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(Error::BadQuery("end timestamp must not be before start time".into()));
        }
        // As Prometheus: (end - start) / step may be 11,000 (11,001 points), not more.
        if (i128::from(end) - i128::from(start)) / i128::from(step) > i128::from(MAX_POINTS_PER_SERIES) {
            return Err(Error::BadQuery(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let expr = parse(query)?;
        {
            use promql_parser::parser::value::ValueType;
            let kind = match expr.value_type() {
                ValueType::Matrix => Some("range vector"),
                ValueType::String => Some("string"),
                _ => None,
            };
            if let Some(kind) = kind {
                return Err(Error::BadQuery(format!(
                    "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let ev = Evaluator::new(storage, &self.opts, start, end);
        let grid = Grid { start, end, step };
        let val = ev.eval(&expr, &grid)?;
        let series: Vec<Series> = match val {
            Val::Scalar(v) => vec![Series {
                labels: Labels::empty(),
                samples: v.into_iter().enumerate().map(|(i, x)| (grid.ts(i), x)).collect(),
            }],
            Val::Vector(v) => {
                let mut out: Vec<Series> = v
                    .into_iter()
                    .filter_map(|s| {
                        let samples: crate::storage::Samples = s
                            .vals
                            .iter()
                            .enumerate()
                            .filter_map(|(i, x)| x.map(|x| (grid.ts(i), x)))
                            .collect();
                        (!samples.is_empty()).then_some(Series {
                            labels: s.labels,
                            samples,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                out
            }
            Val::Str(_) => {
                return Err(Error::BadQuery(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
            Val::Matrix(_) => {
                return Err(Error::BadQuery(
                    "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
        };
        Ok(QueryResult {
            value: Value::Matrix(series),
            stats: ev.stats(),
        })
    }
}

/// Instant vectors come sorted by labels, except where the outermost operation orders them.
fn order_instant_vector(expr: &Expr, out: &mut [Sample]) {
    use promql_parser::parser::token::{T_BOTTOMK, T_TOPK};
    let nan_last = |a: f64, b: f64, desc: bool| {
        use std::cmp::Ordering;
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => {
                let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if desc { o.reverse() } else { o }
            }
        }
    };
    match unparen(expr) {
        Expr::Call(c) if c.func.name == "sort" => out.sort_by(|a, b| nan_last(a.v, b.v, false)),
        Expr::Call(c) if c.func.name == "sort_desc" => {
            out.sort_by(|a, b| nan_last(a.v, b.v, true));
        }
        Expr::Aggregate(a) if a.op.id() == T_TOPK => out.sort_by(|a, b| nan_last(a.v, b.v, true)),
        Expr::Aggregate(a) if a.op.id() == T_BOTTOMK => {
            out.sort_by(|a, b| nan_last(a.v, b.v, false));
        }
        _ => {}
    }
}
