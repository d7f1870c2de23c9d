//! `/api/v1/report`: a period report of a PromQL query, per group of series.
//!
//! For the period `(start, end]` and the previous period of the same length, `(start - (end -
//! start), start]`, each group (the series sharing the values of the `by` labels; one group
//! without `by`) gets:
//!
//! - **p50 / p95 / p99 / mean / min / max** of the group's values, the same for the previous
//!   period and the change (absolute and relative). *The group's values* are, for a plain
//!   selector, every raw sample of every series of the group in the period (so the group's p99 is
//!   the p99 of all those samples together, not a mean or a maximum of per-series p99s); for any
//!   other expression, the value of each series of the group at each step. A selector's figures
//!   are read from the rollups where whole windows cover the period: the windows' sketches are
//!   merged across the group's series (sketches merge exactly, so this is the sketch of all the
//!   samples) with the raw samples at the edges, each percentile within
//!   [`foresight_sketch::RELATIVE_ERROR`] of the exact one, count, sum, min and max exact. Without
//!   rollups (recent data, `raw=true`) the samples are read and the percentiles are exact (cost:
//!   every sample of both periods is decoded and sorted per group).
//! - **The group's series**: the mean over its series at each step (for a selector, of each
//!   series' samples in `(t - step, t]`, as `avg_over_time(sel[step])`, so each step is the mean
//!   of its samples, not one picked sample; from the rollup windows when the steps are whole
//!   windows ending on a window boundary, e.g. the default 1 h step of a 30-day period ending
//!   on the hour; from the samples the percentiles read when they are raw and the periods whole
//!   steps; read once more, raw, otherwise),
//!   on a grid ending at `end`, over both periods; shown in the HTML charts and in the JSON.
//! - **Trend**: the least-squares slope of that series over the period (per day) and its value
//!   at the end of the next period, and a forecast to the end of the next period with its
//!   interval at `level`: Holt-Winters (ETS(A,A,A)) with the seasonal period detected in the
//!   period's series, Holt (ETS(A,A,N)) when it shows none.
//! - **Availability** for a `threshold`: steps of the group's series meeting it (`comparison`,
//!   `<=` by default: a value at or below the threshold is good) over steps with data.
//! - **Anomalies** in the period: the default detector of `/api/v1/anomalies`
//!   (`RobustDetector`) run over both periods' series (the previous period teaches it the series),
//!   points of the period scored at or above its threshold.
//!
//! `format=html` renders the same report as a printable page (`html.rs`).

mod html;
mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use foresight_engine::promql::{Engine, MAX_POINTS_PER_SERIES, Storage, Value};
use foresight_engine::{LabelMatcher, Labels, parse_selector};
use foresight_forecasting::{
    FitOptions, ModelChoice, ModelSpec, RobustConfig, Season, Seasonality, Trend, fit_and_forecast, score_grid,
};
use rayon::prelude::*;
use serde::{Serialize, Serializer};

use crate::config::valid_label_name;
use crate::error::{JsonBody, PromError};
use crate::forecast::{Anomaly, AnomalyInterval, Scored, Success, flagged, number_param};
use crate::json::{PromLabels, PromTime, PromValue};
use crate::query::{Params, evaluate, raw_param, timeout, with_raw};
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::time::{parse_duration_ms, parse_time};

use stats::{Availability, Collector, Comparison, Summary};

/// Default coverage of the forecast interval.
const DEFAULT_LEVEL: f64 = 0.95;

/// Steps per period the default `step` aims at.
const TARGET_STEPS: i64 = 1000;

/// Step lengths the default `step` is rounded up to (ms).
const NICE_STEPS: [i64; 21] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    14_400_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
];

/// The smallest nice duration at least `period / TARGET_STEPS` (whole days beyond a week).
fn default_step(period: i64) -> i64 {
    let want = (period / TARGET_STEPS).max(1);
    NICE_STEPS
        .iter()
        .copied()
        .find(|&s| s >= want)
        .unwrap_or_else(|| ceil_div(want, 86_400_000) * 86_400_000)
}

/// `a / b` rounded up, for positive `a` and `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// What a report is asked for.
#[derive(Debug, Clone)]
pub(crate) struct ReportRequest {
    pub(crate) query: String,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
    pub(crate) by: Vec<String>,
    pub(crate) threshold: Option<f64>,
    pub(crate) comparison: Comparison,
    pub(crate) level: f64,
    /// Most groups (each gets a fit and a detector): `max-forecast-series`.
    pub(crate) max_groups: usize,
}

impl ReportRequest {
    fn period(&self) -> i64 {
        self.end - self.start
    }
}

/// The answer's form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
}

/// Reads and checks the parameters; each error names its parameter.
fn request(p: &Params, max_groups: usize) -> Result<(ReportRequest, Format), PromError> {
    let query = p.get("query").unwrap_or("").trim().to_owned();
    if query.is_empty() {
        return Err(PromError::bad_param("query", "missing: give a PromQL expression"));
    }
    let start = parse_time(p.get("start").unwrap_or("")).map_err(|e| PromError::bad_param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or("")).map_err(|e| PromError::bad_param("end", e))?;
    if end <= start {
        return Err(PromError::bad_param("end", "must be after start"));
    }
    let period = end - start;
    let step = match p.non_empty("step") {
        None => default_step(period),
        Some(s) => {
            let ms = parse_duration_ms(s).map_err(|e| PromError::bad_param("step", e))?;
            if ms <= 0 {
                return Err(PromError::bad_param("step", format!("{s} is not positive")));
            }
            ms
        }
    };
    // Both periods are evaluated as one range query.
    if (2 * i128::from(period)) / i128::from(step) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(PromError::bad_param(
            "step",
            format!(
                "two periods of {} s at a step of {} s exceed {MAX_POINTS_PER_SERIES} points; use a larger step",
                period / 1000,
                step as f64 / 1000.0
            ),
        ));
    }
    let by: Vec<String> = p
        .non_empty("by")
        .map(|s| {
            s.split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = by.iter().find(|l| !valid_label_name(l)) {
        return Err(PromError::bad_param("by", format!("{bad:?} is not a label name")));
    }
    let threshold = match p.non_empty("threshold") {
        None => None,
        Some(_) => Some(number_param(p, "threshold", 0.0, |_| true, "the finite numbers")?),
    };
    let comparison = match p.non_empty("comparison") {
        None => Comparison::Le,
        Some(s) => Comparison::parse(s).ok_or_else(|| {
            PromError::bad_param(
                "comparison",
                format!("{s:?}: use <= (the default: at or below the threshold is good), <, >= or >"),
            )
        })?,
    };
    let level = number_param(p, "level", DEFAULT_LEVEL, |v| v > 0.0 && v < 1.0, "(0, 1), e.g. 0.95")?;
    let format = match p.non_empty("format") {
        None | Some("json") => Format::Json,
        Some("html") => Format::Html,
        Some(other) => return Err(PromError::bad_param("format", format!("{other:?}: use json or html"))),
    };
    Ok((
        ReportRequest {
            query,
            start,
            end,
            step,
            by,
            threshold,
            comparison,
            level,
            max_groups,
        },
        format,
    ))
}

/// `GET|POST /api/v1/report?query=&start=&end=[&step=&by=&threshold=&comparison=&level=&format=&raw=]`
pub(crate) async fn report(State(st): State<Arc<AppState>>, tenant: Tenant, p: Params) -> Result<Response, PromError> {
    let (req, format) = request(&p, st.config.limits.max_forecast_series)?;
    let raw = raw_param(&p)?;
    let limit = timeout(&st, &p)?;
    let body = evaluate(&st, &tenant, limit, move |db, engine| {
        let engine = with_raw(engine, raw);
        let (data, warnings) = compute(db, &engine, &req)?;
        match format {
            Format::Json => Success::body(data, warnings),
            Format::Html => Ok(html::page(&data, &warnings)),
        }
    })
    .await?;
    Ok(match format {
        Format::Json => JsonBody(body).into_response(),
        Format::Html => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
    })
}

/// `data` of a report.
#[derive(Debug, Serialize)]
pub(crate) struct ReportData {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    query: String,
    start: PromTime,
    end: PromTime,
    step: PromTime,
    previous: Period,
    by: Vec<String>,
    threshold: Option<PromValue>,
    comparison: &'static str,
    /// Coverage of the forecast intervals.
    level: PromValue,
    /// What the percentiles are over: `samples` (a selector's raw samples) or `steps` (an
    /// expression's values at each step).
    values: &'static str,
    result: Vec<GroupReport>,
}

/// A period `(start, end]`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Period {
    start: PromTime,
    end: PromTime,
}

/// One group's report.
#[derive(Debug, Serialize)]
pub(crate) struct GroupReport {
    /// The `by` labels' values (empty without `by`).
    #[serde(serialize_with = "labels")]
    metric: Labels,
    /// Series in the group.
    series: usize,
    current: Option<Figures>,
    previous: Option<Figures>,
    change: Option<Changes>,
    trend: Option<TrendReport>,
    availability: Option<AvailabilityReport>,
    previous_availability: Option<AvailabilityReport>,
    anomalies: Vec<Anomaly>,
    anomaly_intervals: Vec<AnomalyInterval>,
    /// `[t, "v"]`: the group's series in the period.
    values: Vec<(PromTime, PromValue)>,
    /// `[t, "v"]`: the group's series in the previous period, at its own times.
    previous_values: Vec<(PromTime, PromValue)>,
}

fn labels<S: Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
    PromLabels(l).serialize(s)
}

/// A period's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Figures {
    /// Values counted (samples or steps).
    count: u64,
    p50: PromValue,
    p95: PromValue,
    p99: PromValue,
    mean: PromValue,
    min: PromValue,
    max: PromValue,
    /// `exact`, or `sketch` (from rollups, within `relative_error`).
    percentiles: &'static str,
    relative_error: PromValue,
}

impl Figures {
    fn new(s: &Summary, approximate: bool) -> Self {
        Figures {
            count: s.values,
            p50: PromValue(s.p50),
            p95: PromValue(s.p95),
            p99: PromValue(s.p99),
            mean: PromValue(s.mean),
            min: PromValue(s.min),
            max: PromValue(s.max),
            percentiles: if approximate { "sketch" } else { "exact" },
            relative_error: PromValue(if approximate {
                foresight_sketch::RELATIVE_ERROR
            } else {
                0.0
            }),
        }
    }
}

/// Current minus previous, per figure.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Changes {
    p50: ChangeReport,
    p95: ChangeReport,
    p99: ChangeReport,
    mean: ChangeReport,
    max: ChangeReport,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ChangeReport {
    absolute: PromValue,
    /// `absolute / |previous|`; null when the previous figure is 0.
    relative: Option<PromValue>,
}

impl ChangeReport {
    fn new(cur: PromValue, prev: PromValue) -> Self {
        let c = stats::change(cur.0, prev.0);
        ChangeReport {
            absolute: PromValue(c.absolute),
            relative: c.relative.map(PromValue),
        }
    }
}

impl Changes {
    fn new(c: &Figures, p: &Figures) -> Self {
        Changes {
            p50: ChangeReport::new(c.p50, p.p50),
            p95: ChangeReport::new(c.p95, p.p95),
            p99: ChangeReport::new(c.p99, p.p99),
            mean: ChangeReport::new(c.mean, p.mean),
            max: ChangeReport::new(c.max, p.max),
        }
    }
}

/// The period's trend.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TrendReport {
    /// Least-squares slope of the group's series, per day.
    slope_per_day: PromValue,
    /// The least-squares line at the end of the period and at the end of the next one.
    line_at_end: PromValue,
    line_at_next_end: PromValue,
    /// The Holt-Winters (or Holt) forecast to the end of the next period; null when it could
    /// not be fitted (the reason is in `warnings`).
    forecast: Option<ForecastPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ForecastPoint {
    time: PromTime,
    mean: PromValue,
    lower: PromValue,
    upper: PromValue,
    model: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct AvailabilityReport {
    good: usize,
    steps: usize,
    ratio: PromValue,
}

impl From<Availability> for AvailabilityReport {
    fn from(a: Availability) -> Self {
        AvailabilityReport {
            good: a.good,
            steps: a.steps,
            ratio: PromValue(a.ratio()),
        }
    }
}

/// The step grid of both periods: `first + i·step` for `i < total`, ending at `end`; the last
/// `current` steps are in the period, the others in the previous one.
#[derive(Debug, Clone, Copy)]
struct Grid {
    first: i64,
    step: i64,
    total: usize,
    current: usize,
}

impl Grid {
    fn new(req: &ReportRequest) -> Self {
        let period = req.period();
        // Steps t = end - k·step in (start, end] and in (start - period, start].
        let current = usize::try_from(ceil_div(period, req.step)).unwrap_or(1);
        let total = usize::try_from(ceil_div(2 * period, req.step)).unwrap_or(current);
        Grid {
            first: req.end - (total as i64 - 1) * req.step,
            step: req.step,
            total,
            current,
        }
    }

    fn time(self, i: usize) -> i64 {
        self.first + i as i64 * self.step
    }

    fn previous(self) -> usize {
        self.total - self.current
    }

    /// The step whose window `(t - step, t]` holds time `t`.
    fn bucket(self, t: i64) -> Option<usize> {
        let d = t - self.first;
        if d <= -self.step {
            return None;
        }
        usize::try_from(ceil_div(d.max(0), self.step))
            .ok()
            .filter(|&i| i < self.total)
    }

    fn index(self, t: i64) -> Option<usize> {
        let d = t - self.first;
        (d >= 0 && d % self.step == 0)
            .then(|| usize::try_from(d / self.step).ok())
            .flatten()
            .filter(|&i| i < self.total)
    }
}

/// One series' sums and counts per step, for the mean of its samples in each step's window
/// `(t - step, t]` (as `avg_over_time(sel[step])` at each step).
#[derive(Debug, Clone)]
struct StepSums {
    sum: Vec<f64>,
    n: Vec<u64>,
}

impl StepSums {
    fn new(steps: usize) -> Self {
        StepSums {
            sum: vec![0.0; steps],
            n: vec![0; steps],
        }
    }

    fn add(&mut self, i: usize, sum: f64, n: u64) {
        if let (Some(s), Some(c)) = (self.sum.get_mut(i), self.n.get_mut(i)) {
            *s += sum;
            *c += n;
        }
    }

    /// Adds the finite samples.
    fn samples(&mut self, grid: Grid, samples: &[(i64, f64)]) {
        for &(t, v) in samples {
            if let Some(i) = grid.bucket(t).filter(|_| v.is_finite()) {
                self.add(i, v, 1);
            }
        }
    }

    /// The mean per step, NaN where a step has no sample.
    fn means(&self) -> Vec<f64> {
        self.sum
            .iter()
            .zip(&self.n)
            .map(|(s, &c)| if c == 0 { f64::NAN } else { s / c as f64 })
            .collect()
    }
}

/// A group while it is gathered.
#[derive(Debug, Default)]
struct Gathered {
    /// Each series' values on the grid.
    series: Vec<Vec<f64>>,
    /// Current and previous period.
    collectors: [Collector; 2],
}

/// The group key of `labels`: the `by` labels' values.
fn key(labels: &Labels, by: &[String]) -> Vec<String> {
    by.iter().map(|n| labels.get(n).unwrap_or("").to_owned()).collect()
}

/// Computes the report over `db`; per-group problems (a trend that cannot be fitted, ...) are
/// returned as warnings.
pub(crate) fn compute(
    db: &dyn Storage,
    engine: &Engine,
    req: &ReportRequest,
) -> Result<(ReportData, Vec<String>), PromError> {
    let grid = Grid::new(req);
    let selector = parse_selector(&req.query).ok();
    let mut groups: BTreeMap<Vec<String>, Gathered> = BTreeMap::new();
    match &selector {
        // Read here rather than through `avg_over_time(sel[step])`, which drops the metric
        // name (series of several names would collide, and `by=__name__` could not group).
        Some(matchers) => {
            let len = engine
                .options()
                .rollups
                .then(|| db.rollup_lengths().into_iter().max())
                .flatten();
            // The steps are whole windows when the step is a whole number of windows, the grid
            // ends on a window boundary and the periods are whole steps: the steps' means then
            // come from the windows too, and no sample is read raw but at the edges.
            // Without rollups the periods' raw samples serve the steps as well, if the periods
            // are whole steps (then they cover the grid exactly).
            let windowed =
                req.period() % req.step == 0 && len.is_none_or(|len| req.step % len == 0 && req.end % len == 0);
            let mut g = Gatherer {
                db,
                len,
                by: &req.by,
                groups: &mut groups,
                chart: windowed.then(|| (grid, BTreeMap::new())),
            };
            let periods = [(req.start, req.end), (req.start - req.period(), req.start)];
            for (which, &(from, to)) in periods.iter().enumerate() {
                g.gather(matchers, (from + 1, to), which)?;
            }
            if let Some((_, sums)) = g.chart.take() {
                for (labels, sums) in sums {
                    groups
                        .entry(key(&labels, &req.by))
                        .or_default()
                        .series
                        .push(sums.means());
                }
            } else {
                let series = db
                    .select(matchers, grid.first - grid.step + 1, req.end)
                    .map_err(storage_err)?;
                for s in series {
                    let mut sums = StepSums::new(grid.total);
                    sums.samples(grid, &s.samples);
                    groups
                        .entry(key(&s.labels, &req.by))
                        .or_default()
                        .series
                        .push(sums.means());
                }
            }
        }
        None => {
            let r = engine.range_query(db, &req.query, grid.first, req.end, req.step)?;
            let Value::Matrix(m) = r.value else {
                return Err(PromError::bad_param(
                    "query",
                    "must return an instant vector or a scalar (a range vector cannot be reported)",
                ));
            };
            for s in m {
                let mut values = vec![f64::NAN; grid.total];
                for &(t, v) in s.samples.iter() {
                    if let Some(i) = grid.index(t) {
                        values[i] = v;
                    }
                }
                let g = groups.entry(key(&s.labels, &req.by)).or_default();
                let (prev, cur) = values.split_at(grid.previous());
                cur.iter().for_each(|&v| g.collectors[0].value(v));
                prev.iter().for_each(|&v| g.collectors[1].value(v));
                g.series.push(values);
            }
        }
    }
    if groups.len() > req.max_groups {
        return Err(PromError::bad_param(
            "by",
            format!(
                "{} groups, more than the limit of {} (max-forecast-series); group by fewer labels or narrow the query",
                groups.len(),
                req.max_groups
            ),
        ));
    }
    let reports: Vec<(GroupReport, Vec<String>)> = groups
        .into_par_iter()
        .map(|(key, g)| group_report(req, grid, &key, g))
        .collect();
    let mut warnings = Vec::new();
    let mut result = Vec::with_capacity(reports.len());
    for (g, w) in reports {
        result.push(g);
        warnings.extend(w);
    }
    let period = req.period();
    Ok((
        ReportData {
            result_type: "report",
            query: req.query.clone(),
            start: PromTime(req.start),
            end: PromTime(req.end),
            step: PromTime(req.step),
            previous: Period {
                start: PromTime(req.start - period),
                end: PromTime(req.start),
            },
            by: req.by.clone(),
            threshold: req.threshold.map(PromValue),
            comparison: req.comparison.symbol(),
            level: PromValue(req.level),
            values: if selector.is_some() { "samples" } else { "steps" },
            result,
        },
        warnings,
    ))
}

fn storage_err(e: foresight_engine::promql::StorageError) -> PromError {
    if e.is_limit() {
        return PromError::from(foresight_engine::promql::Error::Storage(e));
    }
    PromError::internal(format!("reading the series: {e}"))
}

/// Reads a selector's samples into the groups' collectors, and with `chart` into each series'
/// step sums.
struct Gatherer<'a> {
    db: &'a dyn Storage,
    /// The coarsest rollup window, when the engine may read rollups and the storage has some.
    len: Option<i64>,
    by: &'a [String],
    groups: &'a mut BTreeMap<Vec<String>, Gathered>,
    /// The grid (aligned to the windows) and the series' step sums.
    chart: Option<(Grid, BTreeMap<Labels, StepSums>)>,
}

impl Gatherer<'_> {
    /// Feeds the samples in `[mint, maxt]` to the collectors of period `which`: whole rollup
    /// windows inside the span where the storage has them, raw samples elsewhere.
    fn gather(&mut self, matchers: &[LabelMatcher], (mint, maxt): (i64, i64), which: usize) -> Result<(), PromError> {
        let Some(len) = self.len else {
            for s in self.db.select(matchers, mint, maxt).map_err(storage_err)? {
                let c = &mut self.groups.entry(key(&s.labels, self.by)).or_default().collectors[which];
                s.samples.iter().for_each(|&(_, v)| c.value(v));
                if let Some((grid, sums)) = &mut self.chart {
                    sums.entry(s.labels)
                        .or_insert_with(|| StepSums::new(grid.total))
                        .samples(*grid, &s.samples);
                }
            }
            return Ok(());
        };
        for s in self
            .db
            .select_rollups(matchers, len, mint, maxt, &[])
            .map_err(storage_err)?
        {
            let c = &mut self.groups.entry(key(&s.labels, self.by)).or_default().collectors[which];
            let mut chart = self.chart.as_mut().map(|(grid, sums)| {
                let sums = sums
                    .entry(s.labels.clone())
                    .or_insert_with(|| StepSums::new(grid.total));
                (*grid, sums)
            });
            let windows: Vec<_> = s
                .windows
                .iter()
                .filter(|w| w.start >= mint && w.start + len - 1 <= maxt)
                .collect();
            for w in &windows {
                c.window(w);
                if let Some((grid, sums)) = &mut chart {
                    // Aligned: all of the window is in one step but a sample on its first
                    // millisecond, which closes the step before.
                    let (Some(i), Some(first)) = (grid.bucket(w.start + len - 1), grid.bucket(w.first.0)) else {
                        continue;
                    };
                    if first == i {
                        sums.add(i, w.sum, w.count);
                    } else {
                        sums.add(first, w.first.1, 1);
                        sums.add(i, w.sum - w.first.1, w.count - 1);
                    }
                }
            }
            // Raw samples outside every used window (both are ascending).
            let mut next = windows.iter().peekable();
            for &(t, v) in s.samples.iter() {
                if t < mint || t > maxt {
                    continue;
                }
                while next.peek().is_some_and(|w| w.start + len <= t) {
                    next.next();
                }
                if next.peek().is_none_or(|w| w.start > t) {
                    c.value(v);
                    if let Some((grid, sums)) = &mut chart
                        && let Some(i) = grid.bucket(t).filter(|_| v.is_finite())
                    {
                        sums.add(i, v, 1);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The finite values of `vals` (grid steps from `offset` on) with their times.
fn points(grid: Grid, vals: &[f64], offset: usize) -> impl Iterator<Item = (i64, f64)> + Clone + '_ {
    vals.iter()
        .enumerate()
        .map(move |(i, &v)| (grid.time(offset + i), v))
        .filter(|p| p.1.is_finite())
}

/// One group's figures, trend, availability and anomalies.
fn group_report(req: &ReportRequest, grid: Grid, key: &[String], g: Gathered) -> (GroupReport, Vec<String>) {
    let labels = Labels::new(req.by.iter().zip(key).filter(|(_, v)| !v.is_empty()));
    let mut warnings = Vec::new();
    let series = stats::mean_per_step(g.series.iter().map(Vec::as_slice), grid.total);
    let (prev_values, cur_values) = series.split_at(grid.previous());
    let [cur, prev] = g.collectors;
    let figures = |c: Collector| {
        let approximate = c.approximate();
        c.finish().map(|s| Figures::new(&s, approximate))
    };
    let (current, previous) = (figures(cur), figures(prev));
    let change = current.as_ref().zip(previous.as_ref()).map(|(c, p)| Changes::new(c, p));

    let trend = stats::least_squares(points(grid, cur_values, grid.previous())).map(|line| {
        let next_end = req.end + req.period();
        // Holt-Winters with the season the series shows (Holt's linear trend without one): a
        // trend-only model extrapolates the slope of the last cycle's phase over the horizon.
        // Fitted on both periods: one period of a daily cycle is too short to show its season.
        let options = FitOptions {
            model: ModelChoice::Fixed(ModelSpec::new(Trend::Additive, Seasonality::Additive)),
            season: Season::Auto,
            ..FitOptions::default()
        };
        let forecast = match fit_and_forecast(&series, &options, grid.current, req.level) {
            Ok((model, fc)) => fc.mean.len().checked_sub(1).map(|k| ForecastPoint {
                time: PromTime(req.end + (k as i64 + 1) * req.step),
                mean: PromValue(fc.mean[k]),
                lower: PromValue(fc.lower[k]),
                upper: PromValue(fc.upper[k]),
                model: model.spec().to_string(),
            }),
            Err(e) => {
                warnings.push(format!("{labels}: trend forecast: {e}"));
                None
            }
        };
        TrendReport {
            slope_per_day: PromValue(line.per_day()),
            line_at_end: PromValue(line.at(req.end)),
            line_at_next_end: PromValue(line.at(next_end)),
            forecast,
        }
    });
    let availability = |v: &[f64]| {
        req.threshold
            .map(|th| AvailabilityReport::from(stats::availability(v, th, req.comparison)))
    };

    let robust = RobustConfig {
        step: Some(grid.step),
        ..RobustConfig::default()
    };
    let (anomalies, anomaly_intervals) = match score_grid(grid.first, grid.step, &series, &robust) {
        Ok(scores) => {
            let scored: Vec<Scored> = scores
                .iter()
                .filter(|s| s.timestamp > req.start)
                .map(Scored::from_robust)
                .collect();
            flagged(scored.iter(), robust.threshold, grid.step)
        }
        Err(e) => {
            warnings.push(format!("{labels}: anomalies: {e}"));
            (Vec::new(), Vec::new())
        }
    };
    let report = GroupReport {
        series: g.series.len(),
        current,
        previous,
        change,
        trend,
        availability: availability(cur_values),
        previous_availability: availability(prev_values),
        anomalies,
        anomaly_intervals,
        values: points(grid, cur_values, grid.previous())
            .map(|(t, v)| (PromTime(t), PromValue(v)))
            .collect(),
        previous_values: points(grid, prev_values, 0)
            .map(|(t, v)| (PromTime(t), PromValue(v)))
            .collect(),
        metric: labels,
    };
    (report, warnings)
}

#[cfg(test)]
mod tests;
