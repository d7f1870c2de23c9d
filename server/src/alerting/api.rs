//! `GET /api/v1/rules`, `GET /api/v1/alerts` (Prometheus' JSON, field for field) and
//! `POST /-/reload`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use foresight_rules::{Alert, AlertState, AnomalySpec, ForecastSpec, Health, Predictor, Rule};
use serde::Serialize;

use super::{Alerting, rfc3339};
use crate::error::{JsonBody, PromError};
use crate::json;
use crate::tenant::Tenant;

/// The routes, with their own state (the server adds its request tracking).
pub(crate) fn router(al: Arc<Alerting>) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .with_state(al)
}

#[derive(Serialize)]
struct ApiAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    state: &'static str,
    #[serde(rename = "activeAt")]
    active_at: String,
    #[serde(rename = "keepFiringSince", skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

impl<'a> ApiAlert<'a> {
    fn new(a: &'a Alert) -> Self {
        ApiAlert {
            labels: &a.labels,
            annotations: &a.annotations,
            state: a.state.as_str(),
            active_at: rfc3339::nano(a.active_at),
            keep_firing_since: a.keep_firing_since.map(rfc3339::nano),
            value: format_e(a.value),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ApiRule<'a> {
    Alerting {
        state: &'static str,
        name: &'a str,
        query: &'a str,
        duration: f64,
        #[serde(rename = "keepFiringFor")]
        keep_firing_for: f64,
        labels: &'a BTreeMap<String, String>,
        annotations: &'a BTreeMap<String, String>,
        alerts: Vec<ApiAlert<'a>>,
        health: &'static str,
        #[serde(rename = "lastError", skip_serializing_if = "Option::is_none")]
        last_error: Option<&'a str>,
        #[serde(rename = "evaluationTime")]
        evaluation_time: f64,
        #[serde(rename = "lastEvaluation")]
        last_evaluation: String,
        #[serde(rename = "type")]
        kind: &'static str,
        /// A forecast rule's `forecast:` block (foresight extension).
        #[serde(skip_serializing_if = "Option::is_none")]
        forecast: Option<&'a ForecastSpec>,
        /// An anomaly rule's `anomaly:` block (foresight extension).
        #[serde(skip_serializing_if = "Option::is_none")]
        anomaly: Option<&'a AnomalySpec>,
    },
    Recording {
        name: &'a str,
        query: &'a str,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        labels: &'a BTreeMap<String, String>,
        health: &'static str,
        #[serde(rename = "lastError", skip_serializing_if = "Option::is_none")]
        last_error: Option<&'a str>,
        #[serde(rename = "evaluationTime")]
        evaluation_time: f64,
        #[serde(rename = "lastEvaluation")]
        last_evaluation: String,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct ApiGroup<'a> {
    name: &'a str,
    file: String,
    rules: Vec<ApiRule<'a>>,
    interval: f64,
    limit: usize,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as the API writes an alert's value (`1e+00`).
fn format_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let Some((mantissa, exp)) = s.split_once('e') else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

fn health(h: &Health) -> (&'static str, Option<&str>) {
    match h {
        Health::Unknown => ("unknown", None),
        Health::Ok => ("ok", None),
        Health::Err(e) => ("err", Some(e.as_str())),
    }
}

fn last_eval(ms: Option<i64>) -> String {
    ms.map_or_else(|| rfc3339::ZERO.to_owned(), rfc3339::nano)
}

fn params(q: Option<String>) -> Vec<(String, String)> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn success(data: &impl Serialize) -> Result<JsonBody, PromError> {
    let data = json::to_string(data).map_err(|e| PromError::internal(e.to_string()))?;
    Ok(JsonBody(format!("{{\"status\":\"success\",\"data\":{data}}}")))
}

/// `GET /api/v1/rules?type=alert|record&rule_name[]=..&rule_group[]=..&file[]=..&exclude_alerts=true`
/// Rules are the default tenant's (they read and write its series): other tenants see none.
async fn rules(State(al): State<Arc<Alerting>>, tenant: Tenant, RawQuery(q): RawQuery) -> Result<JsonBody, PromError> {
    let p = params(q);
    let set = |name: &str| -> HashSet<&str> { p.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect() };
    let (names, groups_f, files) = (set("rule_name[]"), set("rule_group[]"), set("file[]"));
    let kind = p
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let (want_alerts, want_records) = match kind.to_ascii_lowercase().as_str() {
        "" => (true, true),
        "alert" => (true, false),
        "record" => (false, true),
        other => return Err(PromError::bad_param("type", format!("not supported value {other:?}"))),
    };
    let exclude_alerts = match p.iter().find(|(k, _)| k == "exclude_alerts").map(|(_, v)| v.as_str()) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(PromError::bad_param(
                "exclude_alerts",
                format!("invalid boolean {other:?}"),
            ));
        }
    };
    let filtered = !names.is_empty() || !groups_f.is_empty() || !files.is_empty();
    let slots = if tenant.is_default() { al.slots() } else { Vec::new() };
    let states: Vec<_> = slots.iter().map(|s| s.state.lock()).collect();
    let mut out = Vec::new();
    for st in &states {
        let g = &st.group;
        let file = g.file().display().to_string();
        if (!groups_f.is_empty() && !groups_f.contains(g.name()))
            || (!files.is_empty() && !files.contains(file.as_str()))
        {
            continue;
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules().iter().enumerate() {
            if !names.is_empty() && !names.contains(r.name()) {
                continue;
            }
            let (health, last_error) = health(&g.health()[i]);
            let evaluation_time = st.rule_durations.get(i).map_or(0.0, |d| d.as_secs_f64());
            let last_evaluation = last_eval(st.last_eval_wall);
            match r {
                Rule::Alerting(a) if want_alerts => rules.push(ApiRule::Alerting {
                    state: a.state().as_str(),
                    name: a.name(),
                    query: a.expr(),
                    duration: a.for_ms() as f64 / 1000.0,
                    keep_firing_for: a.keep_firing_for_ms() as f64 / 1000.0,
                    labels: a.labels(),
                    annotations: a.annotations(),
                    alerts: if exclude_alerts {
                        Vec::new()
                    } else {
                        a.alerts()
                            .filter(|x| x.state != AlertState::Inactive)
                            .map(ApiAlert::new)
                            .collect()
                    },
                    health,
                    last_error,
                    evaluation_time,
                    last_evaluation,
                    kind: "alerting",
                    forecast: match a.predictor() {
                        Some(Predictor::Forecast(f)) => Some(f),
                        _ => None,
                    },
                    anomaly: match a.predictor() {
                        Some(Predictor::Anomaly(x)) => Some(x),
                        _ => None,
                    },
                }),
                Rule::Recording(rr) if want_records => rules.push(ApiRule::Recording {
                    name: rr.name(),
                    query: rr.expr(),
                    labels: rr.labels(),
                    health,
                    last_error,
                    evaluation_time,
                    last_evaluation,
                    kind: "recording",
                }),
                _ => {}
            }
        }
        if filtered && rules.is_empty() {
            continue;
        }
        out.push(ApiGroup {
            name: g.name(),
            file,
            rules,
            interval: g.interval().as_secs_f64(),
            limit: g.limit(),
            evaluation_time: st.last_duration.as_secs_f64(),
            last_evaluation: last_eval(st.last_eval_wall),
        });
    }
    #[derive(Serialize)]
    struct Data<'a> {
        groups: Vec<ApiGroup<'a>>,
    }
    success(&Data { groups: out })
}

/// `GET /api/v1/alerts`: every pending and firing alert.
async fn alerts(State(al): State<Arc<Alerting>>, tenant: Tenant) -> Result<JsonBody, PromError> {
    let slots = if tenant.is_default() { al.slots() } else { Vec::new() };
    let states: Vec<_> = slots.iter().map(|s| s.state.lock()).collect();
    let alerts: Vec<ApiAlert<'_>> = states
        .iter()
        .flat_map(|st| st.group.alerts().map(|(_, a)| a))
        .filter(|a| a.state != AlertState::Inactive)
        .map(ApiAlert::new)
        .collect();
    #[derive(Serialize)]
    struct Data<'a> {
        alerts: Vec<ApiAlert<'a>>,
    }
    success(&Data { alerts })
}

/// `POST /-/reload`: 200 once the rule files are read again; 500 with the reason (the old
/// rules stay) when one is bad.
async fn reload(State(al): State<Arc<Alerting>>) -> Response {
    match al.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload rules: {e}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_go_e_format() {
        assert_eq!(format_e(1.0), "1e+00");
        assert_eq!(format_e(1234.5), "1.2345e+03");
        assert_eq!(format_e(-0.00025), "-2.5e-04");
        assert_eq!(format_e(1e100), "1e+100");
        assert_eq!(format_e(f64::NAN), "NaN");
    }
}
