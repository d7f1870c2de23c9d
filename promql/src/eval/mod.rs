//! The evaluator. Every node is evaluated once over the whole step grid of the query (or of its
//! enclosing subquery): an instant-vector node yields one dense row of optional values per
//! series, so labels, grouping keys and match signatures are computed once per series instead of
//! once per step, and selectors are read from storage once per query.

mod aggregate;
mod binary;
mod functions;
mod histogram;
pub(crate) mod mathx;
mod range_fns;
mod rollup;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use rayon::prelude::*;

use crate::error::Error;
use crate::labels::Labels;
use crate::options::EngineOptions;
use crate::parse::selector_matchers;
use crate::storage::{Series, Storage, is_stale_nan};

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Evaluation times: `start, start+step, ..., <= end`. Empty when `end < start`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
}

impl Grid {
    pub(crate) fn len(&self) -> usize {
        if self.end < self.start || self.step <= 0 {
            0
        } else {
            usize::try_from(self.end.saturating_sub(self.start) / self.step + 1).unwrap_or(0)
        }
    }

    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start.saturating_add((i as i64).saturating_mul(self.step))
    }

    pub(crate) fn times(&self) -> Vec<i64> {
        (0..self.len()).map(|i| self.ts(i)).collect()
    }
}

/// One series of an instant vector over all steps of a grid.
#[derive(Debug, Clone)]
pub(crate) struct StepSeries {
    pub(crate) labels: Labels,
    pub(crate) vals: Vec<Option<f64>>,
}

impl StepSeries {
    fn is_empty(&self) -> bool {
        self.vals.iter().all(Option::is_none)
    }
}

/// The value of a node over a grid.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<StepSeries>),
    /// A range vector: only as the outcome of an instant query.
    Matrix(Vec<Series>),
}

/// A range-vector argument prepared for windowed functions.
pub(crate) struct RangeArg {
    /// Series as selected (stale markers still in: see `without_stale`).
    pub(crate) series: Vec<Series>,
    /// Window length (ms); windows are `(end - range, end]`.
    pub(crate) range: i64,
    /// Window end per step, or a single end used for every step (`@`).
    pub(crate) ends: Vec<i64>,
    /// Number of steps of the enclosing grid.
    pub(crate) steps: usize,
}

impl RangeArg {
    /// True when every step uses the same window (`@` modifier).
    pub(crate) fn broadcast(&self) -> bool {
        self.ends.len() == 1 && self.steps != 1
    }
}

pub(crate) struct Evaluator<'a> {
    storage: &'a dyn Storage,
    pub(crate) opts: &'a EngineOptions,
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    deadline: Option<Instant>,
    samples: AtomicU64,
    series: AtomicU64,
    held: AtomicU64,
    /// Notes for the answer's `infos` (e.g. an approximation was used), each once.
    infos: Mutex<Vec<String>>,
}

pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// Strips redundant parentheses.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(storage: &'a dyn Storage, opts: &'a EngineOptions, query_start: i64, query_end: i64) -> Self {
        Self {
            storage,
            opts,
            query_start,
            query_end,
            deadline: opts.timeout.and_then(|t| Instant::now().checked_add(t)),
            samples: AtomicU64::new(0),
            series: AtomicU64::new(0),
            held: AtomicU64::new(0),
            infos: Mutex::new(Vec::new()),
        }
    }

    /// Adds a note to the answer's `infos` (once).
    pub(crate) fn add_info(&self, info: &str) {
        let mut infos = self.infos.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !infos.iter().any(|i| i == info) {
            infos.push(info.to_owned());
        }
    }

    /// The notes for the answer's `infos`.
    pub(crate) fn infos(&self) -> Vec<String> {
        self.infos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Accounts for what a selection returned: `series`, and `n` samples (or rollup windows).
    fn count_selected(&self, series: u64, n: u64) -> Result<()> {
        self.samples.fetch_add(n, Ordering::Relaxed);
        self.series.fetch_add(series, Ordering::Relaxed);
        self.hold(n)?;
        self.check_deadline()
    }

    pub(crate) fn stats(&self) -> crate::value::QueryStats {
        crate::value::QueryStats {
            series_selected: self.series.load(Ordering::Relaxed),
            samples_scanned: self.samples.load(Ordering::Relaxed),
        }
    }

    /// Whether the query's deadline has passed (cheap enough to ask once per series).
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Fails once the query's deadline has passed.
    pub(crate) fn check_deadline(&self) -> Result<()> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(Error::Timeout),
            _ => Ok(()),
        }
    }

    /// Accounts for `n` more samples held by the query.
    pub(crate) fn hold(&self, n: u64) -> Result<()> {
        let total = self.held.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if total > self.opts.max_samples {
            return Err(Error::TooManySamples {
                limit: self.opts.max_samples,
            });
        }
        Ok(())
    }

    fn hold_vector(&self, v: &[StepSeries]) -> Result<()> {
        let n: usize = v.iter().map(|s| s.vals.iter().filter(|x| x.is_some()).count()).sum();
        self.hold(n as u64)
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    pub(crate) fn eval(&self, e: &Expr, g: &Grid) -> Result<Val> {
        self.check_deadline()?;
        let n = g.len();
        match e {
            Expr::NumberLiteral(l) => Ok(Val::Scalar(vec![l.val; n])),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, g),
            Expr::Unary(u) => match self.eval(&u.expr, g)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(v) => {
                    let out: Vec<StepSeries> = v
                        .into_iter()
                        .map(|s| StepSeries {
                            labels: s.labels.without_metric_name(),
                            vals: s.vals.into_iter().map(|x| x.map(|x| -x)).collect(),
                        })
                        .collect();
                    // As Prometheus: equal label sets after dropping the name are an error.
                    check_unique_labels(&out)?;
                    Ok(Val::Vector(out))
                }
                _ => Err(Error::BadQuery(
                    "unary minus is only allowed on scalars and instant vectors".into(),
                )),
            },
            Expr::VectorSelector(vs) => {
                let v = self.eval_vector_selector(vs, g, false)?;
                self.hold_vector(&v)?;
                Ok(Val::Vector(v))
            }
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                if n != 1 {
                    return Err(Error::BadQuery(
                        "a range vector can only be evaluated at one instant".into(),
                    ));
                }
                let arg = self.eval_range_arg(e, g)?;
                let end = arg.ends.first().copied().unwrap_or(0);
                let lo_t = end.saturating_sub(arg.range);
                let mut out = Vec::new();
                for mut s in arg.series {
                    if let std::borrow::Cow::Owned(v) = without_stale(&s.samples) {
                        s.samples = v.into();
                    }
                    let lo = s.samples.partition_point(|p| p.0 <= lo_t);
                    let hi = s.samples.partition_point(|p| p.0 <= end);
                    let samples = s.samples.slice(lo..hi);
                    if !samples.is_empty() {
                        out.push(Series {
                            labels: s.labels,
                            samples,
                        });
                    }
                }
                Ok(Val::Matrix(out))
            }
            Expr::Call(c) => {
                let v = self.eval_call(c, g)?;
                if let Val::Vector(v) = &v {
                    self.hold_vector(v)?;
                }
                Ok(v)
            }
            Expr::Aggregate(a) => {
                let v = self.eval_aggregate(a, g)?;
                if let Val::Vector(v) = &v {
                    self.hold_vector(v)?;
                }
                Ok(v)
            }
            Expr::Binary(b) => {
                let v = self.eval_binary(b, g)?;
                if let Val::Vector(v) = &v {
                    self.hold_vector(v)?;
                }
                Ok(v)
            }
            Expr::Extension(_) => Err(Error::BadQuery("extension expressions are not supported".into())),
        }
    }

    /// Evaluates an expression that must give a scalar per step.
    pub(crate) fn eval_scalar(&self, e: &Expr, g: &Grid) -> Result<Vec<f64>> {
        match self.eval(e, g)? {
            Val::Scalar(v) => Ok(v),
            other => Err(Error::BadQuery(format!("expected scalar, got {}", val_type(&other)))),
        }
    }

    /// Evaluates an expression that must give an instant vector.
    pub(crate) fn eval_vector(&self, e: &Expr, g: &Grid) -> Result<Vec<StepSeries>> {
        match self.eval(e, g)? {
            Val::Vector(v) => Ok(v),
            other => Err(Error::BadQuery(format!(
                "expected instant vector, got {}",
                val_type(&other)
            ))),
        }
    }

    /// Evaluates an expression that must give a string.
    pub(crate) fn eval_string(&self, e: &Expr, g: &Grid) -> Result<String> {
        match self.eval(e, g)? {
            Val::Str(s) => Ok(s),
            other => Err(Error::BadQuery(format!("expected string, got {}", val_type(&other)))),
        }
    }

    /// Reads the series matching a selector, once, sorted by labels.
    fn select(&self, vs: &VectorSelector, mint: i64, maxt: i64) -> Result<Vec<Series>> {
        let groups = selector_matchers(vs)?;
        let mut out: Vec<Series> = Vec::new();
        for (gi, ms) in groups.iter().enumerate() {
            let mut got = self.storage.select(ms, mint, maxt)?;
            if gi == 0 {
                out = got;
            } else {
                out.append(&mut got);
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        if groups.len() > 1 {
            out.dedup_by(|a, b| a.labels == b.labels);
        }
        let n: usize = out.iter().map(|s| s.samples.len()).sum();
        self.count_selected(out.len() as u64, n as u64)?;
        Ok(out)
    }

    /// Evaluation times of a selector: per step, or one time for `@`.
    fn selector_times(&self, at: &Option<AtModifier>, offset: i64, g: &Grid) -> Vec<i64> {
        match self.at_ms(at) {
            Some(t) => vec![t.saturating_sub(offset)],
            None => (0..g.len()).map(|i| g.ts(i).saturating_sub(offset)).collect(),
        }
    }

    /// An instant vector selector; with `timestamps`, values are the sample times in seconds.
    pub(crate) fn eval_vector_selector(
        &self,
        vs: &VectorSelector,
        g: &Grid,
        timestamps: bool,
    ) -> Result<Vec<StepSeries>> {
        let n = g.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let times = self.selector_times(&vs.at, offset_ms(&vs.offset), g);
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Ok(Vec::new());
        };
        let lookback = self.opts.lookback_delta_ms();
        let series = self.select(vs, first.saturating_sub(lookback) + 1, last)?;
        let out: Vec<StepSeries> = series
            .into_par_iter()
            .filter_map(|s| {
                if self.expired() {
                    return None;
                }
                let mut vals = lookback_sweep(&s.samples, &times, lookback, timestamps);
                if vals.len() == 1 && n != 1 {
                    vals = vec![vals[0]; n];
                }
                let st = StepSeries { labels: s.labels, vals };
                (!st.is_empty()).then_some(st)
            })
            .collect();
        self.check_deadline()?;
        Ok(out)
    }

    /// Prepares a matrix selector or subquery for windowed functions over grid `g`.
    pub(crate) fn eval_range_arg(&self, e: &Expr, g: &Grid) -> Result<RangeArg> {
        let n = g.len();
        match unparen(e) {
            Expr::MatrixSelector(ms) => {
                let range = duration_ms(&ms.range);
                let ends = self.selector_times(&ms.vs.at, offset_ms(&ms.vs.offset), g);
                if n == 0 {
                    return Ok(RangeArg {
                        series: Vec::new(),
                        range,
                        ends,
                        steps: n,
                    });
                }
                let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
                    return Ok(RangeArg {
                        series: Vec::new(),
                        range,
                        ends,
                        steps: n,
                    });
                };
                // Stale markers are dropped by the consumers, series by series (see
                // `without_stale`), so each series is streamed through the cache once.
                let series = self.select(&ms.vs, first.saturating_sub(range) + 1, last)?;
                Ok(RangeArg {
                    series,
                    range,
                    ends,
                    steps: n,
                })
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, g),
            other => Err(Error::BadQuery(format!(
                "expected range vector, got {}",
                expr_type_name(other)
            ))),
        }
    }

    fn eval_subquery(&self, sq: &SubqueryExpr, g: &Grid) -> Result<RangeArg> {
        let n = g.len();
        let offset = offset_ms(&sq.offset);
        let range = duration_ms(&sq.range);
        let step = match &sq.step {
            Some(s) if !s.is_zero() => duration_ms(s),
            _ => duration_ms(&self.opts.default_subquery_step),
        }
        .max(1);
        let at = self.at_ms(&sq.at);
        let (ev_start, ev_end) = match at {
            Some(t) => (t, t),
            None => (g.start, g.end),
        };
        let ends: Vec<i64> = match at {
            Some(t) => vec![t.saturating_sub(offset)],
            None => (0..n).map(|i| g.ts(i).saturating_sub(offset)).collect(),
        };
        if n == 0 {
            return Ok(RangeArg {
                series: Vec::new(),
                range,
                ends,
                steps: n,
            });
        }
        let lower = ev_start.saturating_sub(offset).saturating_sub(range);
        // First step-aligned time strictly after `lower` (Go's truncating division, as Prometheus).
        let mut sub_start = step * (lower / step);
        if sub_start <= lower {
            sub_start = sub_start.saturating_add(step);
        }
        let sub = Grid {
            start: sub_start,
            end: ev_end.saturating_sub(offset),
            step,
        };
        // Refuse before allocating: every inner step holds at least one value.
        self.hold(sub.len() as u64)?;
        let inner = self.eval_vector(&sq.expr, &sub)?;
        let series: Vec<Series> = inner
            .into_iter()
            .filter_map(|s| {
                let samples: Vec<(i64, f64)> = s
                    .vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (sub.ts(i), v)))
                    .collect();
                (!samples.is_empty()).then_some(Series {
                    labels: s.labels,
                    samples: samples.into(),
                })
            })
            .collect();
        Ok(RangeArg {
            series,
            range,
            ends,
            steps: n,
        })
    }
}

/// The samples without stale markers (range functions ignore them); borrows when there are none.
pub(crate) fn without_stale(samples: &[(i64, f64)]) -> std::borrow::Cow<'_, [(i64, f64)]> {
    if samples.iter().any(|p| is_stale_nan(p.1)) {
        std::borrow::Cow::Owned(samples.iter().copied().filter(|p| !is_stale_nan(p.1)).collect())
    } else {
        std::borrow::Cow::Borrowed(samples)
    }
}

/// For each time, the newest sample in `(t - lookback, t]` unless it is a stale marker.
fn lookback_sweep(samples: &[(i64, f64)], times: &[i64], lookback: i64, timestamps: bool) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(times.len());
    let mut j = 0usize;
    for &t in times {
        while j < samples.len() && samples.get(j).is_some_and(|p| p.0 <= t) {
            j += 1;
        }
        let v = j
            .checked_sub(1)
            .and_then(|k| samples.get(k))
            .filter(|p| p.0 > t.saturating_sub(lookback) && !is_stale_nan(p.1))
            .map(|p| if timestamps { p.0 as f64 / 1000.0 } else { p.1 });
        out.push(v);
    }
    out
}

pub(crate) fn val_type(v: &Val) -> &'static str {
    match v {
        Val::Scalar(_) => "scalar",
        Val::Str(_) => "string",
        Val::Vector(_) => "instant vector",
        Val::Matrix(_) => "range vector",
    }
}

fn expr_type_name(e: &Expr) -> &'static str {
    use promql_parser::parser::value::ValueType;
    match e.value_type() {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

/// Merges series that ended up with the same labels (e.g. after dropping `__name__`); two values
/// at the same step is the error Prometheus reports.
pub(crate) fn merge_same_labels(v: Vec<StepSeries>) -> Result<Vec<StepSeries>> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(v.len());
    let mut out: Vec<StepSeries> = Vec::with_capacity(v.len());
    for s in v {
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let Some(dst) = out.get_mut(i) else { continue };
                for (d, x) in dst.vals.iter_mut().zip(s.vals) {
                    if x.is_some() {
                        if d.is_some() {
                            return Err(Error::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *d = x;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Range functions: any two output series with the same labels is an error, as in Prometheus.
pub(crate) fn check_unique_labels(v: &[StepSeries]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}
