//! `/api/v1/forecast` and `/api/v1/anomalies`: Holt-Winters forecasts with prediction intervals
//! and online anomaly scores of the series a PromQL range query returns.
//!
//! Both put each series of `query` on the step grid `start, start + step, ..., end` (missing
//! steps are gaps) and model the series in parallel on a blocking thread, inside the same query
//! slot and timeout as any query. A plain selector (`metric{job="x"}`) is read as raw samples
//! and put on the grid as PromQL would (the newest sample within the lookback delta), up to
//! `max-forecast-points` steps per series (1,000,000 by default); any other expression is
//! evaluated as `/api/v1/query_range` does, with its 11,000-step limit.

use std::sync::Arc;

use axum::extract::State;
use foresight_engine::promql::Value;
use foresight_engine::{Labels, parse_selector};
use foresight_forecasting::{
    AnomalyScore, Cadence, DetectorConfig, FitOptions, FittedModel, Forecast, ForecastError, IntervalMethod,
    ModelChoice, ModelSpec, RobustConfig, RobustScore, Season, Seasonality, Sequence, Trend, fit_and_forecast,
    score_grid, score_series,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{JsonBody, PromError};
use crate::json::{self, PromLabels, PromTime, PromValue};
use crate::query::{Params, evaluate, timeout};
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::time::{parse_duration_ms, parse_time};

/// Default coverage of the forecast intervals.
const DEFAULT_LEVEL: f64 = 0.95;

/// The step grid of a range query: `start, start + step, ..., end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
}

impl Grid {
    pub(crate) fn len(self) -> usize {
        usize::try_from((self.end - self.start) / self.step).unwrap_or(0) + 1
    }

    fn time(self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// The series' values on the grid, NaN where a step has no sample.
    fn values(self, samples: &[(i64, f64)]) -> Vec<f64> {
        let mut v = vec![f64::NAN; self.len()];
        for &(t, x) in samples {
            if t >= self.start
                && (t - self.start) % self.step == 0
                && let Some(slot) = usize::try_from((t - self.start) / self.step)
                    .ok()
                    .and_then(|i| v.get_mut(i))
            {
                *slot = x;
            }
        }
        v
    }

    /// Raw samples on the grid as PromQL's selector reads them: each step takes the newest
    /// sample in `(t - lookback, t]`, NaN where there is none (a stale marker is NaN too).
    fn values_lookback(self, samples: &[(i64, f64)], lookback: i64) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.len());
        let mut j = 0usize;
        for i in 0..self.len() {
            let t = self.time(i);
            while samples.get(j).is_some_and(|p| p.0 <= t) {
                j += 1;
            }
            let x = j
                .checked_sub(1)
                .and_then(|k| samples.get(k))
                .filter(|p| p.0 > t.saturating_sub(lookback))
                .map_or(f64::NAN, |p| p.1);
            v.push(x);
        }
        v
    }
}

/// How `season` was given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SeasonParam {
    Auto,
    None,
    Steps(usize),
}

/// `season`: `auto` (default), `none`, a number of steps, or a duration (a whole number of steps).
fn season_param(p: &Params, step: i64) -> Result<SeasonParam, PromError> {
    let Some(s) = p.non_empty("season") else {
        return Ok(SeasonParam::Auto);
    };
    let bad = |why: String| PromError::bad_param("season", why);
    match s.trim() {
        "auto" => Ok(SeasonParam::Auto),
        "none" | "0" | "1" => Ok(SeasonParam::None),
        t => {
            let steps = if let Ok(n) = t.parse::<u64>() {
                n
            } else if t.parse::<f64>().is_ok() {
                return Err(bad(format!("{t} is not a whole number of steps")));
            } else {
                let ms = parse_duration_ms(t).map_err(|_| {
                    bad(format!(
                        "{t:?} is neither auto, none, a number of steps nor a duration like 1d"
                    ))
                })?;
                if ms <= 0 || ms % step != 0 {
                    return Err(bad(format!("{t} is not a whole number of steps of {step} ms")));
                }
                u64::try_from(ms / step).unwrap_or(0)
            };
            if steps < 2 {
                return Ok(SeasonParam::None);
            }
            Ok(SeasonParam::Steps(
                usize::try_from(steps).map_err(|_| bad("too large".into()))?,
            ))
        }
    }
}

impl SeasonParam {
    fn season(self) -> Season {
        match self {
            SeasonParam::Auto => Season::Auto,
            SeasonParam::None => Season::None,
            SeasonParam::Steps(n) => Season::Period(n),
        }
    }
}

/// `model`: `auto` (lowest AICc) or one variant, by name or ETS code.
fn model_param(p: &Params) -> Result<ModelChoice, PromError> {
    let Some(s) = p.non_empty("model") else {
        return Ok(ModelChoice::Auto);
    };
    use Seasonality as S;
    use Trend as T;
    let spec = match s.trim().to_ascii_lowercase().as_str() {
        "auto" => return Ok(ModelChoice::Auto),
        "simple" | "ses" | "ann" => ModelSpec::new(T::None, S::None),
        "holt" | "aan" => ModelSpec::new(T::Additive, S::None),
        "damped" | "aadn" => ModelSpec::new(T::Damped, S::None),
        "seasonal" | "ana" => ModelSpec::new(T::None, S::Additive),
        "additive" | "holt-winters" | "aaa" => ModelSpec::new(T::Additive, S::Additive),
        "damped-additive" | "aada" => ModelSpec::new(T::Damped, S::Additive),
        "seasonal-multiplicative" | "anm" => ModelSpec::new(T::None, S::Multiplicative),
        "multiplicative" | "aam" => ModelSpec::new(T::Additive, S::Multiplicative),
        "damped-multiplicative" | "aadm" => ModelSpec::new(T::Damped, S::Multiplicative),
        other => {
            return Err(PromError::bad_param(
                "model",
                format!(
                    "unknown model {other:?}; use auto, simple, holt, damped, seasonal, additive, damped-additive, \
                     seasonal-multiplicative, multiplicative, damped-multiplicative or an ETS code like AAdA"
                ),
            ));
        }
    };
    Ok(ModelChoice::Fixed(spec))
}

/// A number parameter in an open or closed range.
pub(crate) fn number_param(
    p: &Params,
    name: &str,
    default: f64,
    ok: impl Fn(f64) -> bool,
    range: &str,
) -> Result<f64, PromError> {
    let Some(s) = p.non_empty(name) else {
        return Ok(default);
    };
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        Ok(_) => Err(PromError::bad_param(name, format!("{s} is outside {range}"))),
        Err(_) => Err(PromError::bad_param(name, format!("cannot parse {s:?} as a number"))),
    }
}

/// A parameter counted in steps: a whole number of steps (`12`), or a duration (`6h`) rounded up
/// to whole steps. `None` when absent.
pub(crate) fn steps_param(p: &Params, name: &str, step: i64) -> Result<Option<usize>, PromError> {
    let Some(s) = p.non_empty(name) else {
        return Ok(None);
    };
    let bad = |why: String| PromError::bad_param(name, why);
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    if s.parse::<f64>().is_ok() {
        return Err(bad(format!(
            "{s} is not a whole number of steps; give steps (12) or a duration with its unit (6h)"
        )));
    }
    let ms =
        parse_duration_ms(s).map_err(|_| bad(format!("{s:?} is neither a number of steps nor a duration like 6h")))?;
    if ms <= 0 {
        return Err(bad(format!("{s} is not positive")));
    }
    Ok(Some(
        usize::try_from(ms / step + i64::from(ms % step != 0)).unwrap_or(usize::MAX),
    ))
}

/// `horizon`: in steps ([`steps_param`]). Default: a quarter of the history's steps (at least
/// one).
fn horizon_param(p: &Params, grid: Grid, max: usize) -> Result<usize, PromError> {
    let bad = |why: String| PromError::bad_param("horizon", why);
    let h = steps_param(p, "horizon", grid.step)?.unwrap_or((grid.len() / 4).max(1));
    if h == 0 {
        return Err(bad("must be at least one step".into()));
    }
    if h > max {
        return Err(bad(format!(
            "{h} steps is more than the limit of {max} (max-forecast-horizon); use a larger step or a shorter horizon"
        )));
    }
    Ok(h)
}

/// The most series one request may take, and the setting that says so (named in the error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesLimit {
    pub(crate) max: usize,
    pub(crate) setting: &'static str,
}

/// The series of `query` over the grid; errors if there are more than the limit.
pub(crate) fn select(
    db: &foresight_engine::TenantView,
    engine: &foresight_engine::promql::Engine,
    query: &str,
    grid: Grid,
    limit: SeriesLimit,
) -> Result<Vec<(Labels, Vec<f64>)>, PromError> {
    let r = engine.range_query(db, query, grid.start, grid.end, grid.step)?;
    let Value::Matrix(m) = r.value else {
        return Err(PromError::bad_data(
            "the query must return a range vector or instant vector",
        ));
    };
    if m.len() > limit.max {
        return Err(PromError::bad_data(format!(
            "the query returned {} series, more than the limit of {} ({}); narrow the selector or aggregate",
            m.len(),
            limit.max,
            limit.setting
        )));
    }
    Ok(m.into_iter().map(|s| (s.labels, grid.values(&s.samples))).collect())
}

/// `start`, `end`, `step` of a forecast or anomalies request: as `/api/v1/query_range`'s, but up
/// to `max_points` steps.
fn long_range_params(p: &Params, max_points: usize) -> Result<Grid, PromError> {
    let start = parse_time(p.get("start").unwrap_or("")).map_err(|e| PromError::bad_param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or("")).map_err(|e| PromError::bad_param("end", e))?;
    if end < start {
        return Err(PromError::bad_data("end timestamp must not be before start time"));
    }
    let step = parse_duration_ms(p.get("step").unwrap_or("")).map_err(|e| PromError::bad_param("step", e))?;
    if step <= 0 {
        return Err(PromError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let steps = (i128::from(end) - i128::from(start)) / i128::from(step) + 1;
    if steps > i128::try_from(max_points).unwrap_or(i128::MAX) {
        return Err(PromError::bad_data(format!(
            "{steps} points per series is more than the limit of {max_points} (max-forecast-points); \
             use a larger step or a shorter range"
        )));
    }
    Ok(Grid { start, end, step })
}

/// The series of `query` on the grid. A plain selector is read as raw samples (any number of
/// steps); anything else goes through a range query (11,000 steps at most, as
/// `/api/v1/query_range`).
fn select_long(
    db: &foresight_engine::TenantView,
    engine: &foresight_engine::promql::Engine,
    query: &str,
    grid: Grid,
    limit: SeriesLimit,
) -> Result<Vec<(Labels, Vec<f64>)>, PromError> {
    let Ok(matchers) = parse_selector(query) else {
        return select(db, engine, query, grid, limit);
    };
    let lookback = i64::try_from(engine.options().lookback_delta.as_millis()).unwrap_or(i64::MAX);
    let mint = grid.start.saturating_sub(lookback) + 1;
    let series = raw_series(db, &matchers, mint, grid.end, limit)?;
    Ok(series
        .into_par_iter()
        .map(|s| {
            let values = grid.values_lookback(&s.samples, lookback);
            (s.labels, values)
        })
        .collect())
}

/// The raw samples in `mint..=maxt` of the series matching `matchers` that have any, within the
/// series limit.
fn raw_series(
    db: &foresight_engine::TenantView,
    matchers: &[foresight_engine::LabelMatcher],
    mint: i64,
    maxt: i64,
    limit: SeriesLimit,
) -> Result<Vec<foresight_engine::Series>, PromError> {
    let series = db.select(matchers, mint, maxt).map_err(|e| match e {
        foresight_engine::Error::LimitExceeded(_) => PromError::from(e),
        e => PromError::internal(format!("reading the series: {e}")),
    })?;
    let series: Vec<_> = series.into_iter().filter(|s| !s.samples.is_empty()).collect();
    if series.len() > limit.max {
        return Err(PromError::bad_data(format!(
            "the query returned {} series, more than the limit of {} ({}); narrow the selector or aggregate",
            series.len(),
            limit.max,
            limit.setting
        )));
    }
    Ok(series)
}

/// The per-series errors of `results`, or the 400 of [`all_failed`].
fn series_errors<T>(results: &[(Labels, Result<T, String>)], total: usize) -> Result<Vec<(Labels, String)>, PromError> {
    let errors: Vec<(Labels, String)> = results
        .iter()
        .filter_map(|(l, r)| r.as_ref().err().map(|e| (l.clone(), e.clone())))
        .collect();
    match all_failed(&errors, total) {
        Some(e) => Err(e),
        None => Ok(errors),
    }
}

/// Per-series errors become a 400 when no series could be modelled at all (the history is too
/// short for every one of them); otherwise they are reported beside the results as warnings.
fn all_failed(errors: &[(Labels, String)], total: usize) -> Option<PromError> {
    (total > 0 && errors.len() == total).then(|| {
        let (labels, why) = &errors[0];
        PromError::bad_data(format!(
            "no series could be modelled: {labels}: {why}{}",
            if total > 1 {
                format!(" (and {} more)", total - 1)
            } else {
                String::new()
            }
        ))
    })
}

fn explain(e: &ForecastError, grid: Grid) -> String {
    match e {
        ForecastError::NotEnoughData { needed, got } => format!(
            "too little history: {got} points in range at step {} s, at least {needed} needed; widen start..end or use a smaller step",
            grid.step as f64 / 1000.0
        ),
        other => other.to_string(),
    }
}

/// The per-series errors as the envelope's `warnings`: `<labels>: <why>`.
fn warnings(errors: &[(Labels, String)]) -> Vec<String> {
    errors.iter().map(|(labels, why)| format!("{labels}: {why}")).collect()
}

/// Prometheus' success envelope around foresight's own `data`, with the per-series errors as
/// `warnings` (left out when there are none).
#[derive(Debug, Serialize)]
pub(crate) struct Success<D> {
    status: &'static str,
    data: D,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl<D: Serialize> Success<D> {
    pub(crate) fn body(data: D, warnings: Vec<String>) -> Result<String, PromError> {
        let envelope = Success {
            status: "success",
            data,
            warnings,
        };
        json::to_string(&envelope).map_err(|e| PromError::internal(format!("encoding the answer: {e}")))
    }
}

/// `data` of a forecast answer.
#[derive(Debug, Serialize)]
struct ForecastData<'a> {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    result: Vec<ForecastSeries<'a>>,
}

/// One series' model, history and forecast.
#[derive(Debug, Serialize)]
struct ForecastSeries<'a> {
    metric: PromLabels<'a>,
    model: ModelInfo<'a>,
    /// The series' own step (only when `step` was left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    cadence: Option<CadenceInfo>,
    /// Coverage of the intervals.
    level: PromValue,
    interval: IntervalKind,
    /// `[t, "v"]` of each observed step.
    history: Vec<(PromTime, PromValue)>,
    /// `[t, "mean", "lower", "upper"]` of each step ahead.
    forecast: Vec<(PromTime, PromValue, PromValue, PromValue)>,
}

/// How the prediction intervals were computed.
#[derive(Debug, Clone, Copy, Serialize)]
enum IntervalKind {
    #[serde(rename = "analytical")]
    Analytical,
    #[serde(rename = "simulated")]
    Simulated,
    /// From the quantiles of the model's own rolling-origin forecast errors.
    #[serde(rename = "calibrated")]
    Calibrated,
}

impl From<&IntervalMethod> for IntervalKind {
    fn from(m: &IntervalMethod) -> Self {
        match m {
            IntervalMethod::Analytical => IntervalKind::Analytical,
            IntervalMethod::Simulated { .. } => IntervalKind::Simulated,
            IntervalMethod::Calibrated { .. } => IntervalKind::Calibrated,
        }
    }
}

/// The fitted model: its variant, smoothing parameters and fit statistics. Parameters a variant
/// lacks (`beta` without trend, ...) are `null`.
#[derive(Debug, Serialize)]
struct ModelInfo<'a> {
    /// The ETS code, e.g. `ETS(A,Ad,A)`.
    #[serde(rename = "type")]
    kind: String,
    trend: &'static str,
    seasonality: &'static str,
    /// Seasonal period in steps (1 without a season).
    season: usize,
    /// The second, longer seasonal period in steps (a week of a daily season), when a weekly
    /// profile is removed before the ETS fit and added back to the forecast; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    long_season: Option<usize>,
    alpha: PromValue,
    beta: Option<PromValue>,
    gamma: Option<PromValue>,
    phi: Option<PromValue>,
    aicc: PromValue,
    sigma: PromValue,
    observations: usize,
    /// Set when the requested variant could not be fitted and a simpler one was.
    fallback: Option<Fallback<'a>>,
}

#[derive(Debug, Serialize)]
struct Fallback<'a> {
    requested: String,
    reason: &'a str,
}

fn trend_name(t: Trend) -> &'static str {
    match t {
        Trend::None => "none",
        Trend::Additive => "additive",
        Trend::Damped => "damped",
    }
}

fn season_name(s: Seasonality) -> &'static str {
    match s {
        Seasonality::None => "none",
        Seasonality::Additive => "additive",
        Seasonality::Multiplicative => "multiplicative",
    }
}

impl<'a> ModelInfo<'a> {
    fn new(m: &'a FittedModel) -> Self {
        let spec = m.spec();
        let params = m.params();
        ModelInfo {
            kind: spec.to_string(),
            trend: trend_name(spec.trend),
            seasonality: season_name(spec.seasonality),
            season: m.period(),
            long_season: m.long_season(),
            alpha: PromValue(params.alpha),
            beta: params.beta.map(PromValue),
            gamma: params.gamma.map(PromValue),
            phi: params.phi.map(PromValue),
            aicc: PromValue(m.aicc()),
            sigma: PromValue(m.sigma()),
            observations: m.n_obs(),
            fallback: m.fallback().map(|f| Fallback {
                requested: f.requested.to_string(),
                reason: &f.reason,
            }),
        }
    }
}

impl<'a> ForecastSeries<'a> {
    /// `values` one per step, step `i` at `time(i)`; the forecast continues the steps.
    fn new(
        labels: &'a Labels,
        values: &[f64],
        time: impl Fn(usize) -> i64,
        model: &'a FittedModel,
        fc: &Forecast,
        cadence: Option<CadenceInfo>,
    ) -> Self {
        ForecastSeries {
            metric: PromLabels(labels),
            model: ModelInfo::new(model),
            cadence,
            level: PromValue(fc.level),
            interval: IntervalKind::from(&fc.method),
            history: values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (PromTime(time(i)), PromValue(*v)))
                .collect(),
            forecast: (0..fc.mean.len())
                .map(|k| {
                    (
                        PromTime(time(values.len() + k)),
                        PromValue(fc.mean[k]),
                        PromValue(fc.lower[k]),
                        PromValue(fc.upper[k]),
                    )
                })
                .collect(),
        }
    }
}

/// The series' own step, when the request left `step` out: `{"months": 1}` for calendar months,
/// `{"step": 10}` (seconds) for a fixed step; `gaps` is the number of steps without a sample.
#[derive(Debug, Serialize)]
struct CadenceInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    months: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<PromTime>,
    gaps: usize,
}

impl CadenceInfo {
    fn new(seq: &Sequence) -> Self {
        let (months, step) = match seq.cadence {
            Cadence::Months { months, .. } => (Some(months), None),
            Cadence::Fixed { step } => (None, Some(PromTime(step))),
        };
        CadenceInfo {
            months,
            step,
            gaps: seq.values.iter().filter(|v| !v.is_finite()).count(),
        }
    }
}

/// The series limit of `/api/v1/forecast` and `/api/v1/anomalies`.
fn forecast_limit(st: &AppState) -> SeriesLimit {
    SeriesLimit {
        max: st.config.limits.max_forecast_series,
        setting: "max-forecast-series",
    }
}

/// `GET|POST /api/v1/forecast?query=&start=&end=&step=&horizon=&level=&model=&season=`
pub(crate) async fn forecast(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    p: Params,
) -> Result<JsonBody, PromError> {
    if p.non_empty("step").is_none_or(|s| s.trim() == "auto") {
        return forecast_own_cadence(st, tenant, p).await;
    }
    let limits = &st.config.limits;
    let grid = long_range_params(&p, limits.max_forecast_points)?;
    let step = grid.step;
    let horizon = horizon_param(&p, grid, limits.max_forecast_horizon)?;
    let level = number_param(&p, "level", DEFAULT_LEVEL, |v| v > 0.0 && v < 1.0, "(0, 1), e.g. 0.95")?;
    let options = FitOptions {
        model: model_param(&p)?,
        season: season_param(&p, step)?.season(),
        ..FitOptions::default()
    };
    let max_series = forecast_limit(&st);
    let limit = timeout(&st, &p)?;
    let query = p.get("query").unwrap_or("").to_owned();
    let plain = parse_selector(&query).is_ok();
    evaluate(&st, &tenant, limit, move |db, engine| {
        let series = select_long(db, engine, &query, grid, max_series)?;
        let total = series.len();
        let fitted: Vec<(Labels, Vec<f64>, Result<_, String>)> = series
            .into_par_iter()
            .map(|(labels, values)| {
                let r = fit_and_forecast(&values, &options, horizon, level).map_err(|e| {
                    let why = explain(&e, grid);
                    if plain && grid.step >= 86_400_000 && matches!(e, ForecastError::NotEnoughData { .. }) {
                        // Samples at day-or-longer steps that miss the grid (monthly data at
                        // month starts against a 30-day step): at their own step they all count.
                        format!("{why}; or leave step out to model the samples at their own step (e.g. monthly)")
                    } else {
                        why
                    }
                });
                (labels, values, r)
            })
            .collect();
        let errors: Vec<(Labels, String)> = fitted
            .iter()
            .filter_map(|(l, _, r)| r.as_ref().err().map(|e| (l.clone(), e.clone())))
            .collect();
        if let Some(e) = all_failed(&errors, total) {
            return Err(e);
        }
        let data = ForecastData {
            result_type: "forecast",
            result: fitted
                .iter()
                .filter_map(|(labels, values, r)| {
                    let (model, fc) = r.as_ref().ok()?;
                    Some(ForecastSeries::new(labels, values, |i| grid.time(i), model, fc, None))
                })
                .collect(),
        };
        Success::body(data, warnings(&errors))
    })
    .await
    .map(JsonBody)
}

/// `/api/v1/forecast` without `step`: each series of a plain selector is modelled at its own
/// cadence ([`Sequence`]: calendar months or a fixed step, with gaps), and forecast on it.
async fn forecast_own_cadence(st: Arc<AppState>, tenant: Tenant, p: Params) -> Result<JsonBody, PromError> {
    let limits = &st.config.limits;
    let (max_points, max_horizon) = (limits.max_forecast_points, limits.max_forecast_horizon);
    let start = parse_time(p.get("start").unwrap_or("")).map_err(|e| PromError::bad_param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or("")).map_err(|e| PromError::bad_param("end", e))?;
    if end < start {
        return Err(PromError::bad_data("end timestamp must not be before start time"));
    }
    let query = p.get("query").unwrap_or("").to_owned();
    let matchers = parse_selector(&query).map_err(|_| {
        PromError::bad_param(
            "step",
            "left out, which models each series at its own step; that needs a plain selector like \
             metric{job=\"x\"} (only raw samples have a step of their own); give step= for an expression",
        )
    })?;
    let horizon = Ahead::param(&p, "horizon")?;
    let season = Ahead::param(&p, "season")?;
    let level = number_param(&p, "level", DEFAULT_LEVEL, |v| v > 0.0 && v < 1.0, "(0, 1), e.g. 0.95")?;
    let model = model_param(&p)?;
    let max_series = forecast_limit(&st);
    let limit = timeout(&st, &p)?;
    evaluate(&st, &tenant, limit, move |db, _engine| {
        let series = raw_series(db, &matchers, start, end, max_series)?;
        let total = series.len();
        let fitted: Vec<(Labels, Result<SeriesFit, String>)> = series
            .into_par_iter()
            .map(|s| {
                let r = (|| {
                    // Stale markers (NaN) end a series; they are not observations.
                    let (ts, vs): (Vec<i64>, Vec<f64>) = s.samples.iter().filter(|p| p.1.is_finite()).copied().unzip();
                    let seq = Sequence::from_samples(&ts, &vs, max_points).map_err(|e| match e {
                        ForecastError::InvalidParameter { reason, .. } => {
                            format!("{reason}; give step= to read the series on a grid")
                        }
                        e => e.to_string(),
                    })?;
                    let h = horizon.horizon(&seq, (seq.values.len() / 4).max(1), max_horizon);
                    if h == 0 || h > max_horizon {
                        return Err(format!(
                            "horizon: {h} steps, outside 1..={max_horizon} (max-forecast-horizon)"
                        ));
                    }
                    let season = season.season(&seq)?;
                    let options = FitOptions {
                        model,
                        season,
                        ..FitOptions::default()
                    };
                    let (m, fc) = fit_and_forecast(&seq.values, &options, h, level).map_err(|e| match e {
                        ForecastError::NotEnoughData { needed, got } => format!(
                            "too little history: {got} samples in range, at least {needed} needed; widen start..end"
                        ),
                        e => e.to_string(),
                    })?;
                    Ok((seq, m, fc))
                })();
                (s.labels, r)
            })
            .collect();
        let errors = series_errors(&fitted, total)?;
        let data = ForecastData {
            result_type: "forecast",
            result: fitted
                .iter()
                .filter_map(|(labels, r)| {
                    let (seq, model, fc) = r.as_ref().ok()?;
                    Some(ForecastSeries::new(
                        labels,
                        &seq.values,
                        |i| seq.time(i),
                        model,
                        fc,
                        Some(CadenceInfo::new(seq)),
                    ))
                })
                .collect(),
        };
        Success::body(data, warnings(&errors))
    })
    .await
    .map(JsonBody)
}

/// One series modelled at its own step.
type SeriesFit = (Sequence, FittedModel, Forecast);

/// `horizon` or `season` when the series sets the step: left out, `auto` (season only), a
/// number of steps, or a duration (steps ahead of the last sample within it; for a season, a
/// whole number of a fixed step).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ahead {
    Default,
    Auto,
    Steps(usize),
    Duration(i64),
}

impl Ahead {
    fn param(p: &Params, name: &'static str) -> Result<Ahead, PromError> {
        let Some(s) = p.non_empty(name).map(str::trim) else {
            return Ok(Ahead::Default);
        };
        if name == "season" {
            match s {
                "auto" => return Ok(Ahead::Auto),
                "none" => return Ok(Ahead::Steps(0)),
                _ => {}
            }
        }
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Ahead::Steps(usize::try_from(n).unwrap_or(usize::MAX)));
        }
        match parse_duration_ms(s) {
            Ok(ms) if ms > 0 => Ok(Ahead::Duration(ms)),
            _ => Err(PromError::bad_param(
                name,
                format!("{s:?} is neither a whole number of steps nor a positive duration like 1y"),
            )),
        }
    }

    /// A horizon in steps of `seq`: `default` when left out, at most `max + 1` (beyond the
    /// limit; a duration is not counted further).
    fn horizon(self, seq: &Sequence, default: usize, max: usize) -> usize {
        match self {
            Ahead::Default | Ahead::Auto => default,
            Ahead::Steps(n) => n,
            Ahead::Duration(ms) => {
                // Steps ahead of the last one whose time is within the duration.
                let last = seq.values.len() - 1;
                let until = seq.time(last).saturating_add(ms);
                (1..=max.saturating_add(1))
                    .take_while(|&k| seq.time(last + k) <= until)
                    .count()
            }
        }
    }

    /// The season: left out, the calendar's (12 for monthly data, 4 for quarterly), else detected.
    fn season(self, seq: &Sequence) -> Result<Season, String> {
        let steps = match (self, seq.cadence) {
            (Ahead::Default, c) => return Ok(c.season().map_or(Season::Auto, Season::Period)),
            (Ahead::Auto, _) => return Ok(Season::Auto),
            (Ahead::Steps(n), _) => n,
            (Ahead::Duration(ms), Cadence::Fixed { step }) if ms % step == 0 => {
                usize::try_from(ms / step).unwrap_or(usize::MAX)
            }
            (Ahead::Duration(ms), Cadence::Fixed { step }) => {
                return Err(format!("season: {ms} ms is not a whole number of steps of {step} ms"));
            }
            (Ahead::Duration(_), Cadence::Months { .. }) => {
                return Err(
                    "season: give it in steps for calendar data (12 for a yearly season of monthly data)".into(),
                );
            }
        };
        Ok(if steps < 2 { Season::None } else { Season::Period(steps) })
    }
}

/// Which detector `/api/v1/anomalies` runs; written back under the name the `method` parameter
/// takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
enum Method {
    /// The default: [`foresight_forecasting::RobustDetector`]'s calibrated score.
    #[serde(rename = "robust")]
    Robust,
    #[serde(rename = "residual")]
    Residual,
    #[serde(rename = "iforest")]
    Iforest,
    #[serde(rename = "combined")]
    Combined,
}

impl Method {
    /// The score of a point under the Holt-Winters methods, in [0, 1].
    fn score(self, s: &AnomalyScore) -> f64 {
        match self {
            // r / (1 + r): 0.5 on the edge of the interval.
            Method::Residual => s.residual_score / (1.0 + s.residual_score),
            Method::Iforest => s.iforest_score.unwrap_or(0.0),
            Method::Combined | Method::Robust => s.score,
        }
    }

    /// Default threshold: the robust detector's (0.9: new evidence ten times stronger than the
    /// recent points'), outside the
    /// interval (residual), the combined detector's own (0.6), and for the forest alone the usual
    /// 0.6 (scores near 0.5 are ordinary points).
    fn default_threshold(self) -> f64 {
        match self {
            Method::Robust => RobustConfig::default().threshold,
            Method::Residual => 0.5,
            Method::Iforest | Method::Combined => DetectorConfig::default().threshold,
        }
    }
}

fn method_param(p: &Params) -> Result<Method, PromError> {
    match p.non_empty("method").map(str::trim) {
        None | Some("robust") => Ok(Method::Robust),
        Some("combined") => Ok(Method::Combined),
        Some("residual") => Ok(Method::Residual),
        Some("iforest") => Ok(Method::Iforest),
        Some(other) => Err(PromError::bad_param(
            "method",
            format!("unknown method {other:?}; use robust, residual, iforest or combined"),
        )),
    }
}

/// One scored point, whichever detector scored it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scored {
    pub(crate) timestamp: i64,
    value: f64,
    score: f64,
    expected: f64,
    lower: f64,
    upper: f64,
}

impl Scored {
    fn from_hw(s: &AnomalyScore, method: Method) -> Self {
        Scored {
            timestamp: s.timestamp,
            value: s.value,
            score: method.score(s),
            expected: s.expected,
            lower: s.lower,
            upper: s.upper,
        }
    }

    pub(crate) fn from_robust(s: &RobustScore) -> Self {
        Scored {
            timestamp: s.timestamp,
            value: s.value,
            score: s.score,
            expected: s.expected,
            lower: s.lower,
            upper: s.upper,
        }
    }
}

/// `data` of an anomalies answer.
#[derive(Debug, Serialize)]
struct AnomaliesData<'a> {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    method: Method,
    threshold: PromValue,
    result: Vec<AnomalySeries<'a>>,
}

/// One series: every scored step, the anomalous points, and runs of them merged into intervals
/// (points at most one step apart).
#[derive(Debug, Serialize)]
struct AnomalySeries<'a> {
    metric: PromLabels<'a>,
    /// `[t, "score"]` of every scored step.
    scores: Vec<(PromTime, PromValue)>,
    anomalies: Vec<Anomaly>,
    intervals: Vec<AnomalyInterval>,
}

/// A point whose score is at or above the threshold.
#[derive(Debug, Serialize)]
pub(crate) struct Anomaly {
    pub(crate) time: PromTime,
    pub(crate) value: PromValue,
    pub(crate) score: PromValue,
    pub(crate) expected: PromValue,
    lower: PromValue,
    upper: PromValue,
}

/// A run of anomalous points.
#[derive(Debug, Serialize)]
pub(crate) struct AnomalyInterval {
    pub(crate) start: PromTime,
    pub(crate) end: PromTime,
    pub(crate) max_score: PromValue,
    pub(crate) points: usize,
}

impl<'a> AnomalySeries<'a> {
    fn new(labels: &'a Labels, scores: &[Scored], threshold: f64, step: i64) -> Self {
        let (anomalies, intervals) = flagged(scores.iter(), threshold, step);
        AnomalySeries {
            metric: PromLabels(labels),
            scores: scores
                .iter()
                .map(|s| (PromTime(s.timestamp), PromValue(s.score)))
                .collect(),
            anomalies,
            intervals,
        }
    }
}

/// The points scored at or above `threshold`, and their runs merged into intervals (points at
/// most one `step` apart); shared with the period report.
pub(crate) fn flagged<'s>(
    scores: impl Iterator<Item = &'s Scored>,
    threshold: f64,
    step: i64,
) -> (Vec<Anomaly>, Vec<AnomalyInterval>) {
    let flagged: Vec<&Scored> = scores.filter(|s| s.score >= threshold).collect();
    let mut intervals: Vec<AnomalyInterval> = Vec::new();
    for s in &flagged {
        match intervals.last_mut() {
            Some(run) if s.timestamp - run.end.0 <= step => {
                run.end = PromTime(s.timestamp);
                run.max_score = PromValue(run.max_score.0.max(s.score));
                run.points += 1;
            }
            _ => intervals.push(AnomalyInterval {
                start: PromTime(s.timestamp),
                end: PromTime(s.timestamp),
                max_score: PromValue(s.score),
                points: 1,
            }),
        }
    }
    let anomalies = flagged
        .iter()
        .map(|s| Anomaly {
            time: PromTime(s.timestamp),
            value: PromValue(s.value),
            score: PromValue(s.score),
            expected: PromValue(s.expected),
            lower: PromValue(s.lower),
            upper: PromValue(s.upper),
        })
        .collect();
    (anomalies, intervals)
}

/// `GET|POST /api/v1/anomalies?query=&start=&end=&step=&method=&threshold=&level=&season=`
pub(crate) async fn anomalies(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    p: Params,
) -> Result<JsonBody, PromError> {
    let grid = long_range_params(&p, st.config.limits.max_forecast_points)?;
    let step = grid.step;
    let method = method_param(&p)?;
    let threshold = number_param(
        &p,
        "threshold",
        method.default_threshold(),
        |v| (0.0..=1.0).contains(&v),
        "[0, 1]",
    )?;
    let season = season_param(&p, step)?.season();
    let defaults = DetectorConfig::default();
    let config = DetectorConfig {
        season,
        model: model_param(&p)?,
        level: number_param(&p, "level", defaults.level, |v| v > 0.0 && v < 1.0, "(0, 1), e.g. 0.99")?,
        iforest: if method == Method::Residual {
            None
        } else {
            defaults.iforest
        },
        step: Some(step),
        ..defaults
    };
    let robust = RobustConfig {
        season,
        step: Some(step),
        threshold,
        ..RobustConfig::default()
    };
    let max_series = forecast_limit(&st);
    let limit = timeout(&st, &p)?;
    let query = p.get("query").unwrap_or("").to_owned();
    evaluate(&st, &tenant, limit, move |db, engine| {
        let series = select_long(db, engine, &query, grid, max_series)?;
        let total = series.len();
        let scored: Vec<(Labels, Result<Vec<Scored>, String>)> = series
            .into_par_iter()
            .map(|(labels, values)| {
                let (ts, vs): (Vec<i64>, Vec<f64>) = values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, v)| (grid.time(i), *v))
                    .unzip();
                let scores = if method == Method::Robust {
                    score_grid(grid.start, grid.step, &values, &robust)
                        .map(|s| s.iter().map(Scored::from_robust).collect::<Vec<_>>())
                } else {
                    score_series(&ts, &vs, &config).map(|s| {
                        s.iter()
                            .flatten()
                            .map(|s| Scored::from_hw(s, method))
                            .collect::<Vec<_>>()
                    })
                };
                let r = scores.map_err(|e| explain(&e, grid)).and_then(|scores| {
                    if scores.is_empty() {
                        Err(format!(
                            "too little history: {} points in range, all used to learn the series before the first score; \
                             widen start..end or use a smaller step",
                            ts.len()
                        ))
                    } else {
                        Ok(scores)
                    }
                });
                (labels, r)
            })
            .collect();
        let errors = series_errors(&scored, total)?;
        let data = AnomaliesData {
            result_type: "anomalies",
            method,
            threshold: PromValue(threshold),
            result: scored
                .iter()
                .filter_map(|(labels, r)| {
                    let scores = r.as_ref().ok()?;
                    Some(AnomalySeries::new(labels, scores, threshold, grid.step))
                })
                .collect(),
        };
        Success::body(data, warnings(&errors))
    })
    .await
    .map(JsonBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    const GRID: Grid = Grid {
        start: 0,
        end: 99 * 60_000,
        step: 60_000,
    };

    #[test]
    fn horizon_in_steps_or_duration_within_the_limit() {
        assert_eq!(horizon_param(&params(&[]), GRID, 1000).unwrap(), 25);
        assert_eq!(horizon_param(&params(&[("horizon", "12")]), GRID, 1000).unwrap(), 12);
        assert_eq!(horizon_param(&params(&[("horizon", "1h")]), GRID, 1000).unwrap(), 60);
        assert_eq!(horizon_param(&params(&[("horizon", "90s")]), GRID, 1000).unwrap(), 2);
        for bad in ["0", "-3", "abc", "1.5"] {
            let e = horizon_param(&params(&[("horizon", bad)]), GRID, 1000).unwrap_err();
            assert!(e.message.contains("horizon"), "{bad}: {}", e.message);
        }
        let e = horizon_param(&params(&[("horizon", "2000")]), GRID, 1000).unwrap_err();
        assert!(e.message.contains("max-forecast-horizon"), "{}", e.message);
    }

    #[test]
    fn season_model_level_and_method() {
        let season = |s: &str| season_param(&params(&[("season", s)]), 60_000);
        assert_eq!(season("auto").unwrap(), SeasonParam::Auto);
        assert_eq!(season("none").unwrap(), SeasonParam::None);
        assert_eq!(season("24").unwrap(), SeasonParam::Steps(24));
        assert_eq!(season("1d").unwrap(), SeasonParam::Steps(1440));
        assert!(season("90s").is_err(), "not a whole number of steps");
        assert!(season("weekly").is_err());
        let model = |s: &str| model_param(&params(&[("model", s)]));
        assert_eq!(model("auto").unwrap(), ModelChoice::Auto);
        assert_eq!(
            model("AAdA").unwrap(),
            ModelChoice::Fixed(ModelSpec::new(Trend::Damped, Seasonality::Additive))
        );
        assert_eq!(
            model("additive").unwrap(),
            ModelChoice::Fixed(ModelSpec::new(Trend::Additive, Seasonality::Additive))
        );
        assert!(model("arima").unwrap_err().message.contains("unknown model"));
        let level = |s: &str| {
            number_param(
                &params(&[("level", s)]),
                "level",
                0.95,
                |v| v > 0.0 && v < 1.0,
                "(0, 1)",
            )
        };
        assert_eq!(level("0.8").unwrap(), 0.8);
        for bad in ["95", "0", "1", "NaN", "x"] {
            assert!(level(bad).is_err(), "{bad}");
        }
        assert_eq!(method_param(&params(&[])).unwrap(), Method::Robust);
        assert_eq!(
            method_param(&params(&[("method", "iforest")])).unwrap(),
            Method::Iforest
        );
        assert!(method_param(&params(&[("method", "zscore")])).is_err());
        for m in [Method::Robust, Method::Residual, Method::Iforest, Method::Combined] {
            let name = serde_json::to_value(m).unwrap();
            let name = name.as_str().unwrap();
            assert_eq!(method_param(&params(&[("method", name)])).unwrap(), m, "{name}");
        }
    }

    #[test]
    fn grid_places_samples_and_leaves_gaps() {
        let g = Grid {
            start: 1000,
            end: 5000,
            step: 1000,
        };
        let v = g.values(&[(1000, 1.0), (3000, 3.0), (3500, 9.0), (5000, 5.0), (9000, 7.0)]);
        assert_eq!(v.len(), 5);
        assert_eq!((v[0], v[2], v[4]), (1.0, 3.0, 5.0));
        assert!(v[1].is_nan() && v[3].is_nan());
    }

    #[test]
    fn raw_samples_are_read_as_promql_reads_a_selector() {
        let g = Grid {
            start: 1000,
            end: 5000,
            step: 1000,
        };
        let samples = [(500, 0.5), (1000, 1.0), (2200, 2.2), (2900, 2.9), (5001, 9.0)];
        let v = g.values_lookback(&samples, 1500);
        assert_eq!((v[0], v[1], v[2], v[3]), (1.0, 1.0, 2.9, 2.9));
        assert!(v[4].is_nan(), "2900 is more than the lookback before 5000");
    }

    #[test]
    fn long_ranges_up_to_the_configured_limit() {
        let p = params(&[("start", "0"), ("end", "999999"), ("step", "1s")]);
        assert_eq!(long_range_params(&p, 1_000_000).unwrap().len(), 1_000_000);
        let e = long_range_params(&p, 999_999).unwrap_err();
        assert!(e.message.contains("max-forecast-points"), "{}", e.message);
        let bad = params(&[("start", "10"), ("end", "0"), ("step", "1s")]);
        assert!(long_range_params(&bad, 10).is_err());
    }
}
