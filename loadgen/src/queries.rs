//! The standard query set, relative to the generated data's time window, and how to run one query.
//!
//! q1-q7 are the peers harness's queries (`../shared/peers/bench.py`), with the same windows and
//! steps; q8 is a long-range aggregation; q9 and q10 need the devops workload (counters and
//! histograms). Range queries are evaluated half an interval off the sample grid, so that no sample
//! sits on a window boundary and servers that close range windows differently still agree.

use serde::{Deserialize, Serialize};

use crate::http::{Client, snippet};
use crate::stats::ErrorTally;
use crate::target::Target;
use crate::workload::{CPU_FIELDS, WorkloadKind, WorkloadSpec};

/// Which query language and endpoint a target answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryApi {
    /// Prometheus HTTP API: `/api/v1/query_range` and `/api/v1/query` with PromQL.
    Prom,
    /// InfluxDB 1.x `/query` with the closest InfluxQL (q1-q7 only; not like-for-like).
    Influxql,
    /// No queries.
    None,
}

/// When the query is evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum QueryTime {
    /// Range query from `start` to `end` (unix seconds) every `step` seconds.
    Range {
        /// First evaluation time.
        start: f64,
        /// Last evaluation time.
        end: f64,
        /// Seconds between evaluations.
        step: f64,
    },
    /// Instant query at `time` (unix seconds).
    Instant {
        /// Evaluation time.
        time: f64,
    },
}

/// One query of the standard set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StdQuery {
    /// Short stable name, e.g. `q1-max-1host-1h`.
    pub id: String,
    /// PromQL expression.
    pub promql: String,
    /// When it is evaluated.
    pub time: QueryTime,
    /// The closest InfluxQL, where there is one.
    pub influxql: Option<String>,
}

/// The standard set for a workload (q9 and q10 only for the devops workload).
pub fn standard_queries(spec: &WorkloadSpec) -> Vec<StdQuery> {
    let s = spec.summary();
    let interval = spec.interval_ms as f64 / 1000.0;
    let t0 = s.first_ms as f64 / 1000.0;
    let t1 = s.last_ms as f64 / 1000.0 + interval; // exclusive end of the data
    let o = interval / 2.0;
    let h = 3600.0;
    let since = |secs: f64| (t1 - secs).max(t0);
    let hosts = spec.hosts.max(1);
    let h1 = format!("host_{}", host_at_end(spec, 7.min(hosts - 1)));
    let mut hosts8: Vec<String> = (1..=8)
        .filter(|i| *i < hosts)
        .map(|i| format!("host_{}", host_at_end(spec, i)))
        .collect();
    if hosts8.is_empty() {
        hosts8.push("host_0".into());
    }
    let tw = |a: f64, b: f64| format!("time >= {}s AND time < {}s", a as i64, b as i64);
    let or8 = hosts8
        .iter()
        .map(|x| format!("hostname='{x}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let range = |start: f64, step: f64| QueryTime::Range {
        start: start + o,
        end: t1 + o,
        step,
    };
    let span = (t1 - t0).round() as i64;
    let mut q = vec![
        StdQuery {
            id: "q1-max-1host-1h".into(),
            promql: format!("max_over_time(cpu_usage_user{{hostname=\"{h1}\"}}[1m])"),
            time: range(since(h), 60.0),
            influxql: Some(format!(
                "SELECT max(usage_user) FROM cpu WHERE hostname='{h1}' AND {} GROUP BY time(1m)",
                tw(since(h), t1)
            )),
        },
        StdQuery {
            id: "q2-max-8hosts-12h".into(),
            promql: format!(
                "max_over_time(cpu_usage_user{{hostname=~\"{}\"}}[5m])",
                hosts8.join("|")
            ),
            time: range(since(12.0 * h), 300.0),
            influxql: Some(format!(
                "SELECT max(usage_user) FROM cpu WHERE ({or8}) AND {} GROUP BY time(5m), hostname",
                tw(since(12.0 * h), t1)
            )),
        },
        StdQuery {
            id: "q3-avg-by-host-24h".into(),
            promql: "avg by (hostname) (avg_over_time(cpu_usage_user[1h]))".into(),
            time: range(t0, 3600.0),
            influxql: Some(format!(
                "SELECT mean(usage_user) FROM cpu WHERE {} GROUP BY time(1h), hostname",
                tw(t0, t1)
            )),
        },
        StdQuery {
            id: "q4-p99-1h-24h".into(),
            promql: "quantile_over_time(0.99, cpu_usage_user[1h])".into(),
            time: range(t0, 3600.0),
            influxql: Some(format!(
                "SELECT percentile(usage_user, 99) FROM cpu WHERE {} GROUP BY time(1h), hostname",
                tw(t0, t1)
            )),
        },
        StdQuery {
            id: "q5-sum-rate-5m-24h".into(),
            promql: "sum(rate(cpu_usage_user[5m]))".into(),
            time: range(t0, 300.0),
            influxql: Some(format!(
                "SELECT sum(r) FROM (SELECT non_negative_derivative(last(usage_user), 1s) AS r FROM cpu \
                 WHERE {w} GROUP BY time(5m), hostname) WHERE {w} GROUP BY time(5m)",
                w = tw(t0, t1)
            )),
        },
        StdQuery {
            id: "q6-high-cpu-12h".into(),
            promql: "cpu_usage_user > 90".into(),
            time: range(since(12.0 * h), 60.0),
            influxql: Some(format!(
                "SELECT usage_user FROM cpu WHERE usage_user > 90 AND {} GROUP BY hostname",
                tw(since(12.0 * h), t1)
            )),
        },
        StdQuery {
            id: "q7-lastpoint".into(),
            promql: "{__name__=~\"cpu_usage_.+\"}".into(),
            time: QueryTime::Instant { time: t1 },
            influxql: Some("SELECT * FROM cpu GROUP BY \"hostname\" ORDER BY time DESC LIMIT 1".into()),
        },
        StdQuery {
            id: "q8-avg-by-region-all".into(),
            promql: format!("avg by (region) (avg_over_time(cpu_usage_idle[{span}s]))"),
            time: QueryTime::Instant { time: t1 - interval },
            influxql: None,
        },
    ];
    if spec.kind == WorkloadKind::Devops {
        q.push(StdQuery {
            id: "q9-rate-counters-24h".into(),
            promql: "sum by (region) (rate(net_bytes_recv[5m]))".into(),
            time: range(t0, 300.0),
            influxql: None,
        });
        q.push(StdQuery {
            id: "q10-histogram-p99-24h".into(),
            promql: "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))".into(),
            time: range(t0, 300.0),
            influxql: None,
        });
    }
    q
}

/// The host id writing in host slot `slot` at the end of the workload: with churn, slots are
/// handed to new hosts round robin, the n-th replacement getting id `hosts + n`.
fn host_at_end(spec: &WorkloadSpec, slot: u32) -> u64 {
    let hosts = u64::from(spec.hosts.max(1));
    let slot = u64::from(slot);
    let replacements = spec.summary().total_hosts.saturating_sub(hosts);
    if replacements <= slot {
        return slot;
    }
    let times = (replacements - slot - 1) / hosts + 1;
    hosts + slot + hosts * (times - 1)
}

/// PromQL instant queries whose answers sum to the number of stored `cpu_usage_*` samples (one per
/// field: a single `count_over_time` over all of them would collide once names are dropped).
pub(crate) fn count_queries(spec: &WorkloadSpec) -> Vec<(String, f64)> {
    let s = spec.summary();
    let span_s = (s.ticks * spec.interval_ms).div_ceil(1000);
    let at = s.last_ms as f64 / 1000.0;
    CPU_FIELDS[..spec.fields as usize]
        .iter()
        .map(|f| (format!("sum(count_over_time(cpu_{f}[{span_s}s]))"), at))
        .collect()
}

/// Size of an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) series: u64,
    pub(crate) points: u64,
}

/// Runs one query; on success returns the answer's size, else records the failure in `errors`.
pub(crate) fn run_query(
    client: &Client,
    target: &Target,
    api: QueryApi,
    db: &str,
    q: &StdQuery,
    errors: &mut ErrorTally,
) -> Option<Answer> {
    let fmt = |x: f64| format!("{x}");
    let reply = match (api, &q.time) {
        (QueryApi::Prom, QueryTime::Range { start, end, step }) => client.get(
            &target.url("/api/v1/query_range"),
            &[
                ("query", &q.promql),
                ("start", &fmt(*start)),
                ("end", &fmt(*end)),
                ("step", &fmt(*step)),
            ],
        ),
        (QueryApi::Prom, QueryTime::Instant { time }) => client.get(
            &target.url("/api/v1/query"),
            &[("query", &q.promql), ("time", &fmt(*time))],
        ),
        (QueryApi::Influxql, _) => {
            let text = q.influxql.as_deref()?;
            client.get(&target.url("/query"), &[("db", db), ("q", text), ("epoch", "ms")])
        }
        (QueryApi::None, _) => return None,
    };
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            errors.transport(&e);
            return None;
        }
    };
    errors.status(reply.status, &reply.body);
    if !(200..300).contains(&reply.status) {
        return None;
    }
    match summarize(api, &reply.body) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.bad_answer(format!("{}: {e}: {}", q.id, snippet(&reply.body, 200)));
            None
        }
    }
}

/// Counts series and points of a Prometheus or InfluxDB answer.
pub(crate) fn summarize(api: QueryApi, body: &[u8]) -> Result<Answer, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let mut a = Answer::default();
    match api {
        QueryApi::Prom => {
            if v["status"] != "success" {
                return Err(format!("status {}: {}", v["status"], v["error"]));
            }
            let data = &v["data"];
            let result = data["result"].as_array().ok_or("no data.result array")?;
            a.series = result.len() as u64;
            a.points = match data["resultType"].as_str() {
                Some("matrix") => result
                    .iter()
                    .map(|r| r["values"].as_array().map_or(0, |x| x.len() as u64))
                    .sum(),
                Some("vector") => a.series,
                Some("scalar") | Some("string") => 1,
                other => return Err(format!("unknown resultType {other:?}")),
            };
        }
        QueryApi::Influxql => {
            if let Some(e) = v["error"].as_str() {
                return Err(e.to_owned());
            }
            for r in v["results"].as_array().ok_or("no results array")? {
                if let Some(e) = r["error"].as_str() {
                    return Err(e.to_owned());
                }
                for s in r["series"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    a.series += 1;
                    a.points += s["values"].as_array().map_or(0, |x| x.len() as u64);
                }
            }
        }
        QueryApi::None => {}
    }
    Ok(a)
}

/// The value of a one-element Prometheus vector answer (`sum(...)`), or 0 for an empty one.
pub(crate) fn scalar_value(body: &[u8]) -> Result<f64, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    if v["status"] != "success" {
        return Err(format!("status {}: {}", v["status"], v["error"]));
    }
    let result = v["data"]["result"].as_array().ok_or("no data.result array")?;
    match result.first() {
        None => Ok(0.0),
        Some(r) => r["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "no value".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_set_matches_the_peers_harness() {
        let spec = WorkloadSpec::default();
        let q = standard_queries(&spec);
        assert_eq!(q.len(), 8);
        assert_eq!(q[0].id, "q1-max-1host-1h");
        assert_eq!(q[0].promql, "max_over_time(cpu_usage_user{hostname=\"host_7\"}[1m])");
        // bench.py: t1 = end + 10 = 1699920000 + 86400; range queries 5 s off the grid.
        let t1 = 1_699_920_000.0 + 86_400.0;
        assert_eq!(
            q[0].time,
            QueryTime::Range {
                start: t1 - 3600.0 + 5.0,
                end: t1 + 5.0,
                step: 60.0
            }
        );
        assert!(
            q[1].promql
                .contains("host_1|host_2|host_3|host_4|host_5|host_6|host_7|host_8")
        );
        assert_eq!(q[6].time, QueryTime::Instant { time: t1 });
        assert_eq!(
            q[2].influxql.as_deref(),
            Some(
                "SELECT mean(usage_user) FROM cpu WHERE time >= 1699920000s AND time < 1700006400s \
                 GROUP BY time(1h), hostname"
            )
        );
        let devops = standard_queries(&WorkloadSpec {
            kind: WorkloadKind::Devops,
            ..spec
        });
        assert_eq!(devops.len(), 10);
        assert!(devops[9].promql.starts_with("histogram_quantile(0.99,"));
    }

    #[test]
    fn host_queries_name_hosts_that_still_write_at_the_end() {
        use crate::workload::Generator;
        let spec = WorkloadSpec {
            hosts: 10,
            churn: 0.3,
            duration_ms: 5 * 3_600_000,
            ..WorkloadSpec::default()
        };
        // 3 hosts replaced at each of 4 boundaries: 12 replacements, slots 0 and 1 twice.
        assert_eq!((host_at_end(&spec, 0), host_at_end(&spec, 1)), (20, 21));
        assert_eq!((host_at_end(&spec, 2), host_at_end(&spec, 7)), (12, 17));
        let mut g = Generator::new(&spec).unwrap();
        let mut body = Vec::new();
        while g.fill(&mut body, 100_000).lines > 0 {}
        let text = String::from_utf8(body).unwrap();
        let last_ts = format!(" {}\n", spec.summary().last_ms / 1000);
        let q = standard_queries(&spec);
        for host in ["host_17", "host_21", "host_12"] {
            assert!(
                q[0].promql.contains("host_17") && q[1].promql.contains(host),
                "{}",
                q[1].promql
            );
            let line = format!("cpu,hostname={host},");
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&line) && format!(" {}\n", l.rsplit(' ').next().unwrap()) == last_ts)
            );
        }
    }

    #[test]
    fn count_queries_cover_the_whole_window() {
        let q = count_queries(&WorkloadSpec::default());
        assert_eq!(q.len(), 10);
        assert_eq!(q[0].0, "sum(count_over_time(cpu_usage_user[86400s]))");
        assert_eq!(q[0].1, 1_699_920_000.0 + 86_400.0 - 10.0);
    }

    #[test]
    fn answers_are_summarized() {
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"2"]]},{"metric":{},"values":[[1,"3"]]}]}}"#;
        assert_eq!(
            summarize(QueryApi::Prom, matrix).unwrap(),
            Answer { series: 2, points: 3 }
        );
        let err = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(summarize(QueryApi::Prom, err).unwrap_err().contains("parse error"));
        assert!(summarize(QueryApi::Prom, b"<html>").is_err());
        assert!(summarize(QueryApi::Prom, br#"{"status":"success","data":{}}"#).is_err());
        let influx = br#"{"results":[{"statement_id":0,"series":[{"values":[[1,2],[3,4]]},{"values":[[1,2]]}]}]}"#;
        assert_eq!(
            summarize(QueryApi::Influxql, influx).unwrap(),
            Answer { series: 2, points: 3 }
        );
        let vector =
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"864000"]}]}}"#;
        assert_eq!(scalar_value(vector).unwrap(), 864000.0);
    }
}
