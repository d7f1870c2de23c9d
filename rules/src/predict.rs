//! Predictive alerting rules: `forecast:` (fires when a Holt-Winters forecast of each series
//! crosses a threshold within a horizon) and `anomaly:` (fires on the online robust detector's
//! score). Both are alerting rules: the state machine, `for`, `keep_firing_for`, labels,
//! annotations, `ALERTS` and notifications are those of [`crate::AlertingRule`]; this module
//! decodes and checks their block, and turns an evaluation into the samples the state machine
//! sees (with extra template variables) plus the series stored for dashboards.
//!
//! ```yaml
//! - alert: DiskWillFill
//!   forecast:
//!     expr: disk_free_bytes     # any PromQL returning series
//!     history: 7d               # fitted on [ts - history, ts]
//!     horizon: 24h              # looks ahead (ts, ts + horizon]
//!     step: 5m                  # optional grid step (default below)
//!     op: "<"                   # < <= > >=
//!     threshold: 0
//!     recover: 1e9              # optional hysteresis: an active alert resolves only once the line no longer crosses this
//!     bound: lower              # point | lower | upper (default point)
//!     level: 0.95               # interval coverage (default 0.95)
//!     refit: 1h                 # how often each series' model is fitted again (default history/24, at most 6h)
//! - alert: LatencyAnomaly
//!   anomaly:
//!     expr: job:latency:p99
//!     history: 1d
//!     direction: above          # above | below | both (default both)
//!     score: 0.9                # detector score at or above which a point counts (default 0.9)
//!     min_deviation: 0.05       # |value - expected| at least this (default 0)
//!     min_relative_deviation: 0.1  # and at least this times |expected| (default 0)
//! ```
//!
//! The grid step, unless given, is the group's interval, widened to whole seconds so that
//! `history` holds at most 10,000 steps.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use foresight_forecasting::{
    FitOptions, ForecastError, ModelChoice, ModelSpec, RobustConfig, RobustDetector, RobustScore, Seasonality, Trend,
    fit_grid,
};
use foresight_promql::{Engine, Labels, METRIC_NAME, Storage, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize, Serializer};
use serde_saphyr::Spanned;

use crate::error::Pos;
use crate::predict_state::{DetectorEntry, Entry, FitDeadline, Kept, ModelEntry, PredictState};
use crate::template::Value as TmplValue;

/// Most forecast or anomaly series one rule stores per evaluation (per line): the series whose
/// alert condition holds first, then the others in label order.
pub const MAX_STORED_SERIES: usize = 1_000;

/// The longest time between two fits of a series' model unless the rule's `refit` says
/// otherwise; the default is a 24th of `history` up to this.
pub const DEFAULT_REFIT: Duration = Duration::from_secs(6 * 3600);

/// Most grid steps in `history` when the step is derived from the interval.
const DEFAULT_MAX_STEPS: i64 = 10_000;

/// The most steps of `horizon` (as a range query's 11,000 points).
const MAX_HORIZON_STEPS: i64 = 11_000;

/// Metric name of the stored forecast lines.
pub const FORECAST_METRIC: &str = "foresight_rule_forecast";
/// Metric name of the stored time until the crossing.
pub const ETA_METRIC: &str = "foresight_rule_forecast_eta_seconds";
/// Metric name of the stored anomaly score.
pub const SCORE_METRIC: &str = "foresight_rule_anomaly_score";
/// Metric name of the stored expected value and band (`bound="point|lower|upper"`).
pub const EXPECTED_METRIC: &str = "foresight_rule_anomaly_expected";

/// A comparison of a forecast with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => return None,
        })
    }

    /// Whether `v op threshold`.
    pub fn holds(self, v: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => v < threshold,
            Op::Le => v <= threshold,
            Op::Gt => v > threshold,
            Op::Ge => v >= threshold,
        }
    }

    fn downward(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// Which line of the prediction band must cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// The point forecast.
    Point,
    /// The lower end of the interval.
    Lower,
    /// The upper end of the interval.
    Upper,
}

impl Bound {
    /// `point`, `lower` or `upper`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Point => "point",
            Bound::Lower => "lower",
            Bound::Upper => "upper",
        }
    }
}

/// Which side of the expected value an anomaly must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Above the expected value.
    Above,
    /// Below it.
    Below,
    /// Either.
    Both,
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&foresight_units::format_duration(*d))
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// A `forecast:` block, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastSpec {
    /// The PromQL expression whose series are forecast.
    pub expr: String,
    /// What the model is fitted on.
    #[serde(serialize_with = "ser_duration")]
    pub history: Duration,
    /// How far ahead to look.
    #[serde(serialize_with = "ser_duration")]
    pub horizon: Duration,
    /// The grid step (`None`: derived from the group's interval).
    #[serde(serialize_with = "ser_opt_duration")]
    pub step: Option<Duration>,
    /// The comparison.
    pub op: Op,
    /// The threshold the line must cross.
    pub threshold: f64,
    /// Hysteresis: an active alert stays active while the line crosses this.
    pub recover: Option<f64>,
    /// The line that must cross.
    pub bound: Bound,
    /// Interval coverage.
    pub level: f64,
    /// How often each series' model is fitted again on the whole history (`None`: a 24th of
    /// `history`, at most [`DEFAULT_REFIT`]); between fits it is only carried over the new points.
    #[serde(serialize_with = "ser_opt_duration")]
    pub refit: Option<Duration>,
}

/// An `anomaly:` block, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalySpec {
    /// The PromQL expression whose series are scored.
    pub expr: String,
    /// What the detector learns from before the newest point.
    #[serde(serialize_with = "ser_duration")]
    pub history: Duration,
    /// The grid step (`None`: derived from the group's interval).
    #[serde(serialize_with = "ser_opt_duration")]
    pub step: Option<Duration>,
    /// The side(s) that count.
    pub direction: Direction,
    /// The score at or above which the newest point counts.
    pub score: f64,
    /// Least `|value - expected|`.
    pub min_deviation: f64,
    /// Least `|value - expected| / |expected|`.
    pub min_relative_deviation: f64,
}

/// What makes an alerting rule predictive.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictor {
    /// `forecast:`
    Forecast(ForecastSpec),
    /// `anomaly:`
    Anomaly(AnomalySpec),
}

impl Predictor {
    /// The expression it models.
    pub fn expr(&self) -> &str {
        match self {
            Predictor::Forecast(f) => &f.expr,
            Predictor::Anomaly(a) => &a.expr,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForecast {
    expr: Option<Spanned<String>>,
    history: Option<Spanned<String>>,
    horizon: Option<Spanned<String>>,
    step: Option<Spanned<String>>,
    op: Option<Spanned<String>>,
    threshold: Option<Spanned<f64>>,
    recover: Option<Spanned<f64>>,
    bound: Option<Spanned<String>>,
    level: Option<Spanned<f64>>,
    refit: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnomaly {
    expr: Option<Spanned<String>>,
    history: Option<Spanned<String>>,
    step: Option<Spanned<String>>,
    direction: Option<Spanned<String>>,
    score: Option<Spanned<f64>>,
    min_deviation: Option<Spanned<f64>>,
    min_relative_deviation: Option<Spanned<f64>>,
}

type Problems = Vec<(Pos, String)>;

fn required<'a, T>(v: &'a Option<Spanned<T>>, block: &str, field: &str, at: Pos, errs: &mut Problems) -> Option<&'a T> {
    match v {
        Some(s) => Some(&s.value),
        None => {
            errs.push((at, format!("{block}: field '{field}' must be set")));
            None
        }
    }
}

fn check_expr(v: &Option<Spanned<String>>, block: &str, at: Pos, errs: &mut Problems) -> String {
    let Some(e) = v else {
        errs.push((at, format!("{block}: field 'expr' must be set")));
        return String::new();
    };
    if e.value.trim().is_empty() {
        errs.push((Pos::of(e.referenced), format!("{block}: field 'expr' must be set")));
    } else if let Err(err) = foresight_promql::parse(&e.value) {
        errs.push((
            Pos::of(e.referenced),
            format!("{block}: could not parse expression: {err}"),
        ));
    }
    e.value.clone()
}

fn check_duration(v: &Option<Spanned<String>>, block: &str, field: &str, errs: &mut Problems) -> Option<Duration> {
    let s = v.as_ref()?;
    match foresight_units::parse_prom_duration(&s.value) {
        Ok(d) if d > Duration::ZERO => Some(d),
        _ => {
            errs.push((
                Pos::of(s.referenced),
                format!("{block}: {field}: not a positive duration: {:?}", s.value),
            ));
            None
        }
    }
}

fn check_number(
    v: &Option<Spanned<f64>>,
    block: &str,
    field: &str,
    ok: impl Fn(f64) -> bool,
    range: &str,
    errs: &mut Problems,
) -> Option<f64> {
    let s = v.as_ref()?;
    if ok(s.value) {
        Some(s.value)
    } else {
        errs.push((
            Pos::of(s.referenced),
            format!("{block}: {field} must be {range}, got {}", s.value),
        ));
        None
    }
}

/// One of `choices` by name, `default` when absent; otherwise `what` and the value go to `errs`.
fn choice<T: Copy>(
    v: &Option<Spanned<String>>,
    default: T,
    choices: &[(&str, T)],
    what: &str,
    errs: &mut Problems,
) -> Option<T> {
    let Some(s) = v else { return Some(default) };
    let found = choices.iter().find(|(name, _)| *name == s.value).map(|(_, t)| *t);
    if found.is_none() {
        errs.push((Pos::of(s.referenced), format!("{what}, got {:?}", s.value)));
    }
    found
}

/// Checks a `forecast:` block at `at`.
pub(crate) fn check_forecast(at: Pos, r: &RawForecast) -> Result<ForecastSpec, Problems> {
    let b = "forecast";
    let mut errs = Problems::new();
    let expr = check_expr(&r.expr, b, at, &mut errs);
    required(&r.history, b, "history", at, &mut errs);
    required(&r.horizon, b, "horizon", at, &mut errs);
    required(&r.op, b, "op", at, &mut errs);
    let threshold = required(&r.threshold, b, "threshold", at, &mut errs).copied();
    let history = check_duration(&r.history, b, "history", &mut errs);
    let horizon = check_duration(&r.horizon, b, "horizon", &mut errs);
    let step = check_duration(&r.step, b, "step", &mut errs);
    let refit = check_duration(&r.refit, b, "refit", &mut errs);
    let op = r.op.as_ref().and_then(|s| {
        let op = Op::parse(&s.value);
        if op.is_none() {
            errs.push((
                Pos::of(s.referenced),
                format!("forecast: op must be one of < <= > >=, got {:?}", s.value),
            ));
        }
        op
    });
    let bound = choice(
        &r.bound,
        Bound::Point,
        &[
            ("point", Bound::Point),
            ("lower", Bound::Lower),
            ("upper", Bound::Upper),
        ],
        "forecast: bound must be point, lower or upper",
        &mut errs,
    );
    let finite = |v: f64| v.is_finite();
    if let Some(t) = &r.threshold
        && !t.value.is_finite()
    {
        errs.push((
            Pos::of(t.referenced),
            "forecast: threshold must be a finite number".into(),
        ));
    }
    let recover = check_number(&r.recover, b, "recover", finite, "a finite number", &mut errs);
    let level = check_number(&r.level, b, "level", |v| v > 0.0 && v < 1.0, "in (0, 1)", &mut errs).unwrap_or(0.95);
    if let (Some(op), Some(t), Some(rec), Some(s)) = (op, threshold, recover, &r.recover) {
        let wrong_side = if op.downward() { rec < t } else { rec > t };
        if wrong_side {
            let side = if op.downward() { "at or above" } else { "at or below" };
            errs.push((
                Pos::of(s.referenced),
                format!(
                    "forecast: recover ({rec}) must be {side} the threshold ({t}) for op {:?}",
                    op_str(op)
                ),
            ));
        }
    }
    if let (Some(h), Some(s), Some(raw)) = (horizon, step, &r.horizon)
        && h.as_millis() / s.as_millis().max(1) > MAX_HORIZON_STEPS as u128
    {
        errs.push((
            Pos::of(raw.referenced),
            format!("forecast: horizon is more than {MAX_HORIZON_STEPS} steps; use a larger step"),
        ));
    }
    match (history, horizon, op, threshold, bound) {
        (Some(history), Some(horizon), Some(op), Some(threshold), Some(bound)) if errs.is_empty() => Ok(ForecastSpec {
            expr,
            history,
            horizon,
            step,
            op,
            threshold,
            recover,
            bound,
            level,
            refit,
        }),
        _ => Err(errs),
    }
}

fn op_str(op: Op) -> &'static str {
    match op {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

/// Checks an `anomaly:` block at `at`.
pub(crate) fn check_anomaly(at: Pos, r: &RawAnomaly) -> Result<AnomalySpec, Problems> {
    let b = "anomaly";
    let mut errs = Problems::new();
    let expr = check_expr(&r.expr, b, at, &mut errs);
    required(&r.history, b, "history", at, &mut errs);
    let history = check_duration(&r.history, b, "history", &mut errs);
    let step = check_duration(&r.step, b, "step", &mut errs);
    let direction = choice(
        &r.direction,
        Direction::Both,
        &[
            ("above", Direction::Above),
            ("below", Direction::Below),
            ("both", Direction::Both),
        ],
        "anomaly: direction must be above, below or both",
        &mut errs,
    );
    let score = check_number(&r.score, b, "score", |v| v > 0.0 && v <= 1.0, "in (0, 1]", &mut errs).unwrap_or(0.9);
    let non_negative = |v: f64| v.is_finite() && v >= 0.0;
    let min_deviation = check_number(
        &r.min_deviation,
        b,
        "min_deviation",
        non_negative,
        "a number >= 0",
        &mut errs,
    );
    let min_relative = check_number(
        &r.min_relative_deviation,
        b,
        "min_relative_deviation",
        non_negative,
        "a number >= 0",
        &mut errs,
    );
    match (history, direction) {
        (Some(history), Some(direction)) if errs.is_empty() => Ok(AnomalySpec {
            expr,
            history,
            step,
            direction,
            score,
            min_deviation: min_deviation.unwrap_or(0.0),
            min_relative_deviation: min_relative.unwrap_or(0.0),
        }),
        _ => Err(errs),
    }
}

/// One series for which the rule's condition holds: what the state machine sees.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    /// The series' labels.
    pub labels: Labels,
    /// `$value`.
    pub value: f64,
    /// The extra template variables (`$var`, `.Field`, value).
    pub vars: Vec<(&'static str, &'static str, TmplValue)>,
}

/// What a predictive evaluation gives: the hits, and the series to store at the evaluation time.
#[derive(Debug, Default)]
pub(crate) struct Prediction {
    pub hits: Vec<Hit>,
    pub stored: Vec<(Labels, f64)>,
}

/// The grid step: given, or the interval widened to whole seconds so that `history` holds at
/// most [`DEFAULT_MAX_STEPS`].
fn grid_step(step: Option<Duration>, history: Duration, interval_ms: i64) -> i64 {
    if let Some(s) = step {
        return duration_ms(s).max(1);
    }
    let min = ceil_div(duration_ms(history), DEFAULT_MAX_STEPS);
    let s = interval_ms.max(min).max(1);
    if s >= 1000 { ceil_div(s, 1000) * 1000 } else { s }
}

/// `a / b` rounded up, for `a >= 0`, `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The grid of an evaluation: the step, the last point (the evaluation time rounded down to the
/// step, so that successive evaluations share grid points) and the first, `history` before it.
#[derive(Debug, Clone, Copy)]
struct Grid {
    step: i64,
    start: i64,
    end: i64,
}

impl Grid {
    fn new(step: Option<Duration>, history: Duration, interval_ms: i64, ts: i64) -> Self {
        let step = grid_step(step, history, interval_ms);
        let end = ts - ts.rem_euclid(step);
        Self {
            step,
            start: end - duration_ms(history) / step * step,
            end,
        }
    }

    /// The values of `series` (read from `from` on) at the grid points after `after`.
    fn points_after(&self, series: Option<&Vec<f64>>, from: i64, after: i64) -> Vec<f64> {
        let first = after.saturating_add(self.step).max(self.start);
        let n = usize::try_from((self.end - first) / self.step + 1).unwrap_or(0);
        (0..n)
            .map(|i| {
                let t = first + i as i64 * self.step;
                let at = usize::try_from((t - from) / self.step).ok();
                at.and_then(|i| series.and_then(|s| s.get(i)))
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect()
    }
}

/// Each series of `expr` on the grid points `from, from + step, ..., end` (NaN where missing).
fn grid_series(
    engine: &Engine,
    storage: &dyn Storage,
    expr: &str,
    from: i64,
    end: i64,
    step: i64,
) -> Result<HashMap<Labels, Vec<f64>>, String> {
    let res = engine
        .range_query(storage, expr, from, end, step)
        .map_err(|e| e.to_string())?;
    let matrix = match res.value {
        Value::Matrix(m) => m,
        other => return Err(format!("expression gives a {}, not series", other.type_name())),
    };
    let len = usize::try_from((end - from) / step).unwrap_or(0) + 1;
    Ok(matrix
        .into_iter()
        .map(|s| {
            let mut v = vec![f64::NAN; len];
            for &(t, x) in s.samples.iter() {
                if let Some(slot) = usize::try_from((t - from) / step).ok().and_then(|i| v.get_mut(i)) {
                    *slot = x;
                }
            }
            (s.labels, v)
        })
        .collect())
}

/// The series of an evaluation with their kept state carried over the new grid points: the
/// series to fit on the whole history (new, or due), the whole history read when there are any.
struct Prepared {
    /// Per series: its kept state (carried to the grid's end) and whether it needs a fit.
    series: Vec<(Labels, Option<Entry>, bool)>,
    /// The whole history, when some series needs a fit.
    full: HashMap<Labels, Vec<f64>>,
}

/// Reads the new grid points of `expr` (the whole history when nothing is kept), carries each
/// kept series over them with `carry` (which says whether the series now needs a fit), and reads
/// the whole history too when some series needs a fit.
fn prepare(
    state: &mut PredictState,
    predictor: &Predictor,
    grid: Grid,
    engine: &Engine,
    storage: &dyn Storage,
    carry: impl Fn(&mut Entry, &[f64], &Grid) -> bool,
) -> Result<Prepared, String> {
    let since = state.begin(&format!("{predictor:?}"), grid.step, grid.start, grid.end);
    let from = since.map_or(grid.start, |s| s.saturating_add(grid.step).min(grid.end));
    let recent = grid_series(engine, storage, predictor.expr(), from, grid.end, grid.step)?;
    let mut names: Vec<Labels> = recent.keys().cloned().collect();
    names.extend(state.series.keys().filter(|l| !recent.contains_key(*l)).cloned());
    let mut series = Vec::with_capacity(names.len());
    for labels in names {
        let mut kept = state.series.remove(&labels);
        let needs_fit = match &mut kept {
            Some(e) => {
                let new = grid.points_after(recent.get(&labels), from, e.until);
                let first = e.until.saturating_add(grid.step).max(grid.start);
                if let Some(k) = new.iter().rposition(|v| v.is_finite()) {
                    e.last_seen = first + k as i64 * grid.step;
                }
                let due = carry(e, &new, &grid);
                e.until = grid.end;
                state.counts.updates += 1;
                due
            }
            None => true,
        };
        series.push((labels, kept, needs_fit));
    }
    let full = if series.iter().any(|s| s.2) && since.is_some() {
        grid_series(engine, storage, predictor.expr(), grid.start, grid.end, grid.step)?
    } else if series.iter().any(|s| s.2) {
        recent
    } else {
        HashMap::new()
    };
    Ok(Prepared { series, full })
}

/// The labels of a stored series: the series' (without `__name__`), `alertname`, and `extra`.
fn stored_labels(series: &Labels, metric: &str, alertname: &str, extra: Option<(&str, &str)>) -> Labels {
    let mut l = series
        .without_metric_name()
        .with(METRIC_NAME, metric)
        .with("alertname", alertname);
    if let Some((k, v)) = extra {
        l = l.with(k, v);
    }
    l
}

/// When every series failed, the rule fails with the first series' reason.
fn all_failed(errors: &[(Labels, String)], total: usize) -> Result<(), String> {
    match errors.first() {
        Some((labels, e)) if errors.len() == total => Err(format!("all {total} series failed; {labels}: {e}")),
        _ => Ok(()),
    }
}

fn explain(e: &ForecastError) -> String {
    match e {
        ForecastError::NotEnoughData { needed, got } => {
            format!("{got} points in history, {needed} needed; widen history or use a smaller step")
        }
        other => other.to_string(),
    }
}

/// The grid time of the last finite value of `values` (step `i` at `start + i * step`).
fn last_seen(values: &[f64], grid: &Grid) -> i64 {
    values
        .iter()
        .rposition(|v| v.is_finite())
        .map_or(grid.start, |i| grid.start + i as i64 * grid.step)
}

/// More series than this without a model in one evaluation get quick models first (see
/// `predict_state`): one fixed variant, ETS(A,A,A) (or (A,A,N) without a season), about six
/// times cheaper than the automatic choice with its backtests.
const QUICK_FITS_ABOVE: usize = 16;

/// What one forecast gives for a series: the step of the first crossing, and the three lines.
struct SeriesForecast {
    labels: Labels,
    crossing: Option<usize>,
    lines: [Vec<f64>; 3],
}

/// What the per-series work of an evaluation gives back: the series, its state to keep, and
/// its result (`Ok(None)`: nothing yet, its fit put off by the time budget).
type Worked<T> = (Labels, Option<Entry>, Result<Option<T>, String>);

/// Splits the per-series results: the state back into `state`, the errors (the rule fails when
/// every series failed), the results.
fn collect<T>(state: &mut PredictState, worked: Vec<Worked<T>>) -> Result<Vec<T>, String> {
    let total = worked.len();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (labels, entry, result) in worked {
        match result {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) => errors.push((labels.clone(), e)),
        }
        if let Some(e) = entry {
            state.keep(labels, e);
        }
    }
    all_failed(&errors, total)?;
    Ok(out)
}

impl ForecastSpec {
    /// Forecasts every series of the expression at `ts` and finds the first crossing of each;
    /// `was_active(labels)` says whether a series' alert is active (then `recover` applies).
    /// Models are kept in `state` and fitted again as it says (see `predict_state`); fits
    /// starting after `deadline` wait for the next evaluation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate(
        &self,
        alertname: &str,
        engine: &Engine,
        storage: &dyn Storage,
        ts: i64,
        interval_ms: i64,
        was_active: &(dyn Fn(&Labels) -> bool + Sync),
        state: &mut PredictState,
        deadline: FitDeadline,
    ) -> Result<Prediction, String> {
        let grid = Grid::new(self.step, self.history, interval_ms, ts);
        let step = grid.step;
        let horizon = usize::try_from(ceil_div(duration_ms(self.horizon), step).max(1)).unwrap_or(1);
        if horizon as i64 > MAX_HORIZON_STEPS {
            return Err(format!(
                "horizon is {horizon} steps of {step} ms, more than {MAX_HORIZON_STEPS}; set a larger step"
            ));
        }
        let refit_ms = duration_ms(self.refit.unwrap_or_else(|| (self.history / 24).min(DEFAULT_REFIT)));
        let predictor = Predictor::Forecast(self.clone());
        let carry = |e: &mut Entry, new: &[f64], g: &Grid| match &mut e.kept {
            Kept::Model(m) => {
                m.update(new);
                m.due(g.end)
            }
            Kept::Detector(_) => true,
        };
        let Prepared { series, full } = prepare(state, &predictor, grid, engine, storage, carry)?;
        let options = FitOptions::default();
        let quick_options = FitOptions {
            model: ModelChoice::Fixed(ModelSpec::new(Trend::Additive, Seasonality::Additive)),
            ..options
        };
        // A few new series are fitted fully at once; a cold start over many gets quick models.
        let quick_first = series.iter().filter(|s| s.1.is_none() && s.2).count() > QUICK_FITS_ABOVE;
        let work = |(labels, kept, needs_fit): (Labels, Option<Entry>, bool)| -> Worked<(SeriesForecast, bool, bool)> {
            let mut kept = kept;
            let mut fitted = false;
            let mut quick = false;
            if needs_fit && deadline.open(kept.is_some()) {
                let Some(values) = full.get(&labels) else {
                    // Gone from the history window: forget it.
                    return (labels, None, Ok(None));
                };
                // When many series have no model (a restart, a new rule over many series),
                // each first gets a quick one, so the rule predicts from its first
                // evaluation; the full automatic fit replaces it as the time budget allows.
                quick = quick_first && kept.is_none();
                match fit_grid(values, if quick { &quick_options } else { &options }) {
                    Ok(model) => {
                        let entry = if quick {
                            ModelEntry::provisional(model, grid.end)
                        } else {
                            ModelEntry::new(model, &labels, grid.end, refit_ms)
                        };
                        kept = Some(Entry {
                            until: grid.end,
                            last_seen: last_seen(values, &grid),
                            kept: Kept::Model(Box::new(entry)),
                        });
                        fitted = true;
                    }
                    Err(e) => return (labels, None, Err(explain(&e))),
                }
            }
            let Some(Entry {
                kept: Kept::Model(m), ..
            }) = &kept
            else {
                return (labels, kept, Ok(None));
            };
            let fc = match m.model.forecast(horizon, self.level) {
                Ok(fc) => fc,
                Err(e) => return (labels, kept, Err(explain(&e))),
            };
            let line = match self.bound {
                Bound::Point => &fc.mean,
                Bound::Lower => &fc.lower,
                Bound::Upper => &fc.upper,
            };
            let threshold = match self.recover {
                Some(r) if was_active(&labels) => r,
                _ => self.threshold,
            };
            let crossing = line.iter().position(|&v| self.op.holds(v, threshold));
            let f = SeriesForecast {
                labels: labels.clone(),
                crossing,
                lines: [fc.mean, fc.lower, fc.upper],
            };
            (labels, kept, Ok(Some((f, fitted, quick))))
        };
        // Series without a model first: their quick fits go before the full refits.
        let (fresh, known): (Vec<_>, Vec<_>) = series.into_iter().partition(|s| s.1.is_none());
        let mut worked: Vec<Worked<(SeriesForecast, bool, bool)>> = fresh.into_par_iter().map(work).collect();
        worked.extend(known.into_par_iter().map(work).collect::<Vec<_>>());
        let wanted = worked
            .iter()
            .filter(|w| w.2.as_ref().is_ok_and(Option::is_none))
            .count();
        let done = collect(state, worked)?;
        state.counts.fits += done.iter().filter(|d| d.1 && !d.2).count() as u64;
        state.counts.quick_fits += done.iter().filter(|d| d.1 && d.2).count() as u64;
        state.counts.deferred += wanted as u64;
        let mut forecasts: Vec<SeriesForecast> = done.into_iter().map(|d| d.0).collect();
        // Crossing series first (for the stored-series cap), each part in label order.
        forecasts.sort_by(|a, b| {
            a.crossing
                .is_none()
                .cmp(&b.crossing.is_none())
                .then_with(|| a.labels.cmp(&b.labels))
        });
        let mut out = Prediction::default();
        let line_index = match self.bound {
            Bound::Point => 0,
            Bound::Lower => 1,
            Bound::Upper => 2,
        };
        for (n, f) in forecasts.iter().enumerate() {
            let at = f.crossing.unwrap_or(horizon - 1);
            if let Some(k) = f.crossing {
                // The grid ends at or before `ts`: the crossing is that much nearer.
                let eta_ms = (grid.end + (k as i64 + 1) * step - ts).max(0);
                let eta_s = eta_ms as f64 / 1000.0;
                out.hits.push(Hit {
                    labels: f.labels.clone(),
                    value: f.lines[line_index].get(k).copied().unwrap_or(f64::NAN),
                    vars: vec![
                        (
                            "eta",
                            "Eta",
                            TmplValue::Str(crate::template::humanize_duration_text(eta_s)),
                        ),
                        ("eta_seconds", "EtaSeconds", TmplValue::Float(eta_s)),
                    ],
                });
                if n < MAX_STORED_SERIES {
                    out.stored
                        .push((stored_labels(&f.labels, ETA_METRIC, alertname, None), eta_s));
                }
            }
            if n < MAX_STORED_SERIES {
                for (bound, line) in [Bound::Point, Bound::Lower, Bound::Upper].iter().zip(&f.lines) {
                    let v = line.get(at).copied().unwrap_or(f64::NAN);
                    out.stored.push((
                        stored_labels(&f.labels, FORECAST_METRIC, alertname, Some(("bound", bound.as_str()))),
                        v,
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The newest point's verdict for one series.
struct SeriesScore {
    labels: Labels,
    value: f64,
    score: f64,
    expected: f64,
    lower: f64,
    upper: f64,
    hit: bool,
}

/// Pushes the finite points of `values` (grid times from `first`) into `d`; returns the score of
/// the point at `end`, if it has one.
fn push_points(d: &mut RobustDetector, values: &[f64], first: i64, step: i64, end: i64) -> Option<RobustScore> {
    let mut last = None;
    for (i, v) in values.iter().enumerate() {
        if v.is_finite() {
            let t = first + i as i64 * step;
            last = d.push(t, *v).filter(|s| s.timestamp == end);
        }
    }
    last
}

impl AnomalySpec {
    fn counts(&self, value: f64, expected: f64, score: f64) -> bool {
        let dev = value - expected;
        let side = match self.direction {
            Direction::Above => dev > 0.0,
            Direction::Below => dev < 0.0,
            Direction::Both => dev != 0.0,
        };
        score >= self.score
            && side
            && dev.abs() >= self.min_deviation
            && dev.abs() >= self.min_relative_deviation * expected.abs()
    }

    /// Scores every series of the expression and judges its point at `ts` (rounded down to the
    /// grid); each series' detector is kept in `state` and fed the new points only. Detectors
    /// starting after `deadline` wait for the next evaluation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate(
        &self,
        alertname: &str,
        engine: &Engine,
        storage: &dyn Storage,
        ts: i64,
        interval_ms: i64,
        state: &mut PredictState,
        deadline: FitDeadline,
    ) -> Result<Prediction, String> {
        let grid = Grid::new(self.step, self.history, interval_ms, ts);
        let config = RobustConfig {
            step: Some(grid.step),
            threshold: self.score,
            ..RobustConfig::default()
        };
        let predictor = Predictor::Anomaly(self.clone());
        let carry = |e: &mut Entry, new: &[f64], g: &Grid| match &mut e.kept {
            Kept::Detector(d) => {
                let first = e.until.saturating_add(g.step).max(g.start);
                if !new.is_empty() {
                    d.last = push_points(&mut d.detector, new, first, g.step, g.end);
                }
                false
            }
            Kept::Model(_) => true,
        };
        let Prepared { series, full } = prepare(state, &predictor, grid, engine, storage, carry)?;
        let worked: Vec<Worked<(SeriesScore, bool)>> = series
            .into_par_iter()
            .map(|(labels, kept, needs_fit)| {
                let mut kept = kept;
                let mut started = false;
                if needs_fit && deadline.open(kept.is_some()) {
                    let Some(values) = full.get(&labels) else {
                        return (labels, None, Ok(None));
                    };
                    let mut detector = match RobustDetector::new(config) {
                        Ok(d) => d,
                        Err(e) => return (labels, None, Err(explain(&e))),
                    };
                    let last = push_points(&mut detector, values, grid.start, grid.step, grid.end);
                    kept = Some(Entry {
                        until: grid.end,
                        last_seen: last_seen(values, &grid),
                        kept: Kept::Detector(Box::new(DetectorEntry { detector, last })),
                    });
                    started = true;
                }
                // Only a score of the point at the grid's end counts; a series without one is quiet.
                let Some(Entry {
                    kept: Kept::Detector(d),
                    ..
                }) = &kept
                else {
                    return (labels, kept, Ok(None));
                };
                let Some(last) = d.last.filter(|s| s.timestamp == grid.end) else {
                    return (labels, kept, Ok(None));
                };
                let s = SeriesScore {
                    hit: self.counts(last.value, last.expected, last.score),
                    labels: labels.clone(),
                    value: last.value,
                    score: last.score,
                    expected: last.expected,
                    lower: last.lower,
                    upper: last.upper,
                };
                (labels, kept, Ok(Some((s, started))))
            })
            .collect();
        let wanted = worked
            .iter()
            .filter(|w| w.2.as_ref().is_ok_and(Option::is_none) && w.1.is_none())
            .count();
        let done = collect(state, worked)?;
        state.counts.fits += done.iter().filter(|d| d.1).count() as u64;
        state.counts.deferred += wanted as u64;
        let mut scored: Vec<SeriesScore> = done.into_iter().map(|d| d.0).collect();
        scored.sort_by(|a, b| b.hit.cmp(&a.hit).then_with(|| a.labels.cmp(&b.labels)));
        let mut out = Prediction::default();
        for (n, s) in scored.iter().enumerate() {
            if s.hit {
                out.hits.push(Hit {
                    labels: s.labels.clone(),
                    value: s.value,
                    vars: vec![
                        ("expected", "Expected", TmplValue::Float(s.expected)),
                        ("lower", "Lower", TmplValue::Float(s.lower)),
                        ("upper", "Upper", TmplValue::Float(s.upper)),
                        ("score", "Score", TmplValue::Float(s.score)),
                    ],
                });
            }
            if n < MAX_STORED_SERIES {
                out.stored
                    .push((stored_labels(&s.labels, SCORE_METRIC, alertname, None), s.score));
                for (bound, v) in [("point", s.expected), ("lower", s.lower), ("upper", s.upper)] {
                    out.stored.push((
                        stored_labels(&s.labels, EXPECTED_METRIC, alertname, Some(("bound", bound))),
                        v,
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Whether an active alert of the rule belongs to `series`: its labels hold each of the series'
/// (the rule's own labels may add more).
pub(crate) fn alert_of_series(alert: &BTreeMap<String, String>, series: &Labels) -> bool {
    series
        .iter()
        .filter(|l| l.name != METRIC_NAME)
        .all(|l| alert.get(l.name).is_some_and(|v| *v == *l.value))
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
